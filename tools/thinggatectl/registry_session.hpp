#pragma once
// thinggatectl: a data dir opened with its identity registry loaded (registry and policy test).

#include <filesystem>
#include <memory>

#include "auth/registry.hpp"
#include "persist/rocksdb/rocksdb_store.hpp"

namespace thinggate::ctl {

struct registry_session {
    std::unique_ptr<persist::rocksdb_store> store;
    std::unique_ptr<auth::registry> reg; ///< declared after the store: destroyed before it
};

/// Opens the data dir (see open_data_dir) and loads the registry; std::runtime_error naming the
/// dir or the corrupt record otherwise.
registry_session open_registry_session(const std::filesystem::path& dir, bool create);

} // namespace thinggate::ctl
