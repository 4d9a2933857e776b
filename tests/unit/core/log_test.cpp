#include "core/log.hpp"

#include <doctest/doctest.h>

using thinggate::core::parse_log_level;

TEST_CASE("parse_log_level accepts the documented names and refuses others") {
    spdlog::level::level_enum lvl{};
    CHECK(parse_log_level("debug", lvl));
    CHECK(lvl == spdlog::level::debug);
    CHECK(parse_log_level("error", lvl));
    CHECK(lvl == spdlog::level::err);
    CHECK_FALSE(parse_log_level("verbose", lvl));
    CHECK_FALSE(parse_log_level("", lvl));
}
