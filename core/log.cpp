#include "core/log.hpp"

#include <memory>
#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace thinggate::core {

bool parse_log_level(std::string_view text, spdlog::level::level_enum& out) noexcept {
    static constexpr std::pair<std::string_view, spdlog::level::level_enum> names[] = {
            {"trace", spdlog::level::trace},
            {"debug", spdlog::level::debug},
            {"info", spdlog::level::info},
            {"warn", spdlog::level::warn},
            {"error", spdlog::level::err},
            {"critical", spdlog::level::critical},
            {"off", spdlog::level::off},
    };
    for (const auto& [name, level] : names) {
        if (name == text) {
            out = level;
            return true;
        }
    }
    return false;
}

void init_logging(std::string_view level) {
    static std::once_flag once;
    std::call_once(once, [] {
        auto logger = spdlog::stderr_color_mt("thinggate");
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ [%t] %v");
        spdlog::set_default_logger(std::move(logger));
    });
    spdlog::level::level_enum lvl = spdlog::level::info;
    parse_log_level(level, lvl);
    spdlog::set_level(lvl);
}

} // namespace thinggate::core
