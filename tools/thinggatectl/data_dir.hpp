#pragma once
// thinggatectl: what the offline command groups (data, registry, policy) share: opening a data
// dir through persist's RocksDB store, logging that keeps standard output for the command's own
// output, ISO times and indented JSON.

#include <filesystem>
#include <memory>
#include <ostream>
#include <string>

#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>

#include "persist/records.hpp"
#include "persist/rocksdb/rocksdb_store.hpp"

namespace thinggate::ctl {

/// Opens a data dir for a command. Without `create` it must exist and hold a database (it is
/// never created by mistake). Throws std::runtime_error with the store's report (which names
/// the dir and the reason), saying "is thinggate running?" when the dir is locked.
std::unique_ptr<persist::rocksdb_store>
open_data_dir(const std::filesystem::path& dir, bool create);

/// Throws std::runtime_error("<what>: <the store's sentence>") when ec is set.
void check(const persist::store& store, boost::system::error_code ec, const char* what);

/// RocksDB's store logs through spdlog: only warnings and errors, on standard error.
void quiet_logging();

/// ISO 8601 UTC with milliseconds: 2024-05-01T12:00:00.250Z.
std::string format_time(persist::wall_time t);

/// Indented JSON with object keys in insertion order.
void pretty(std::ostream& out, const boost::json::value& v, int indent = 0);

} // namespace thinggate::ctl
