#pragma once
// core/log: the process logger (spdlog) and its level.
// Owns: logging setup. Must not use: anything but spdlog.
// Thread safety: the logger is thread-safe; init() is called once at start-up before threads run.
//
// Rules (docs/operations.md): no secrets and no payloads at info or above; format only when the
// level is on (use the TG_LOG_* macros or check should_log on hot paths).

#include <string_view>

#include <spdlog/spdlog.h>

namespace thinggate::core {

/// Sets up the default logger: stderr, "[time] [level] [thread] message". Idempotent.
void init_logging(std::string_view level);

/// Parses "trace|debug|info|warn|error|critical|off"; false when unknown.
bool parse_log_level(std::string_view text, spdlog::level::level_enum& out) noexcept;

} // namespace thinggate::core
