#pragma once
// auth/registry_file: the declarative registry file (JSON; docs/security.md "Registry file") and
// its idempotent reconcile into the registry: what the file declares is created or updated,
// entries the file does not mention are left alone, an entry marked "state": "absent" is
// removed (detached first). The whole file is one transaction: all of it or nothing.
// JSON rather than TOML: policy documents are JSON and sit inline unchanged, Boost.JSON is what
// auth/ already uses, and only app/ reads TOML (docs/architecture.md).
// Owns: the file format. Must not use: Asio, TOML.
// Thread safety: as registry::update (not from a shard).

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "auth/registry.hpp"
#include "auth/registry_error.hpp"

namespace thinggate::auth {

/// What an apply changed, one line per change ("created thing \"sensor-7\"", ...); empty when
/// the registry already matched the file.
struct registry_file_report {
    std::vector<std::string> changes;
};

/// Reads `path` and applies it. Relative paths in the file (pem_file, crl_file, document_file)
/// are resolved against the file's directory; crl_file is stored absolute. Errors name the file,
/// the entry (e.g. `certificates[2] ("devices/s7.pem")`) and the field; invalid_request for a
/// bad file, otherwise the registry's error for the refused change.
registry_result<registry_file_report>
apply_registry_file(registry& reg, const std::filesystem::path& path);

/// The same for text already read; `origin` names it in messages and its directory is the base
/// of relative paths.
registry_result<registry_file_report>
apply_registry_text(registry& reg, std::string_view text, const std::filesystem::path& origin);

} // namespace thinggate::auth
