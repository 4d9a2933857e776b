#pragma once
// app/config: the daemon's configuration file (TOML) as a typed, validated value.
// Owns: the file format (docs/configuration.md), its defaults and its validation. Only app/ reads
// TOML; every other module receives the typed values (broker::options, transport::listener_config).
// Thread safety: plain values and pure functions; load_config reads one file.

#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "broker/options.hpp"
#include "transport/listener_config.hpp"

namespace thinggate::app {

/// A configuration that cannot be used. what() holds one line per problem, each
/// "<file>:<line>:<column>: <key path>: <what is wrong>" (the position is left out where the
/// problem has none, e.g. a file that cannot be read).
class config_error : public std::runtime_error {
public:
    explicit config_error(std::vector<std::string> problems);

    /// The problems, one per entry, in file order.
    const std::vector<std::string>& problems() const noexcept { return problems_; }

private:
    std::vector<std::string> problems_;
};

/// Where the broker's state lives (docs/persistence.md).
enum class persistence_backend {
    rocksdb, ///< data_dir/db: survives restarts and crashes — the default
    memory,  ///< nothing survives the process (tests, throw-away brokers)
};

struct config {
    std::string log_level = "info"; ///< core::parse_log_level names
    unsigned shards = 0;            ///< threads with their own io_context; 0 = one per core
    std::filesystem::path data_dir = "./var";
    persistence_backend persistence = persistence_backend::rocksdb; ///< the database is data_dir/db
    /// Below this much free space on the data dir's file system, persistent writes are refused.
    std::uint64_t min_free_disk_bytes = 64ull << 20;
    broker::options broker; ///< compat profile, limits, assigned client id prefix, ARN names
    /// The registry file (JSON, docs/security.md) applied at start-up and on SIGHUP; empty =
    /// none.
    std::filesystem::path registry_file;
    std::vector<transport::listener_config> listeners;
    /// Generate a development CA, server certificate and a device certificate for dev_thing in
    /// dev_pki_dir() on first start; TLS listeners without files use them.
    bool dev_pki = true;
    std::string dev_thing = "demo-thing"; ///< thing that the dev PKI's device certificate is for
    /// Accepted but noteworthy settings (a plain TCP listener on a public address, the dev PKI
    /// served on a public address); the caller logs each at warn level.
    std::vector<std::string> warnings;
};

/// Where the dev PKI lives: data_dir/pki.
std::filesystem::path dev_pki_dir(const std::filesystem::path& data_dir);
std::filesystem::path dev_pki_ca_file(const std::filesystem::path& data_dir);   ///< ca.pem
std::filesystem::path dev_pki_cert_file(const std::filesystem::path& data_dir); ///< server.pem
std::filesystem::path dev_pki_key_file(const std::filesystem::path& data_dir);  ///< server.key

/// The configuration used when no file is given: data in ./var, dev PKI on, one mutual-TLS
/// listener "mtls" on 127.0.0.1:8883 using the dev PKI's server certificate and the identity
/// registry for clients. Equal to parsing an empty file.
config default_config();

/// Parses and validates TOML text. source_name names the text in error messages. Relative paths
/// written in the text (data_dir, registry_file, ca_file, cert_file, key_file) are resolved against base_dir;
/// with an empty base_dir they stay relative to the working directory.
/// Throws config_error listing every problem found.
config parse_config(
        std::string_view toml_text,
        std::string_view source_name,
        const std::filesystem::path& base_dir = {});

/// Reads and parses a file; relative paths in it are resolved against the file's directory, and
/// error messages name the file as given. Throws config_error.
config load_config(const std::filesystem::path& file);

} // namespace thinggate::app
