// Run plans: roles, topics that match their filters, thread spread, quotas and pacing.

#include "tools/bench/plan.hpp"

#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "mqtt/topic.hpp"

namespace thinggate::bench {
namespace {

options make(std::vector<std::string> args) {
    return parse_options(args, 2);
}

// Which publishers reach which subscribers, by matching the planned topics against the filters.
std::vector<std::uint32_t> reach(const run_plan& plan) {
    std::vector<std::uint32_t> per_pub(plan.publishers, 0);
    for (const auto& s : plan.connections) {
        if (s.role != role::subscriber) {
            continue;
        }
        for (const auto& p : plan.connections) {
            if (p.role == role::publisher && mqtt::topic_matches(s.topic, p.topic)) {
                ++per_pub[p.index];
                CHECK(p.index >= s.first_publisher);
                CHECK(p.index < s.first_publisher + s.publisher_count);
            }
        }
    }
    return per_pub;
}

TEST_CASE("plan: fan-in, fan-out and pairs route as their fanout says") {
    for (const char* kind : {"fan-in", "fan-out", "pairs"}) {
        CAPTURE(kind);
        const auto o = make({"--scenario", kind});
        const auto plan = make_plan(o, "ab12cd34");
        CHECK(plan.connections.size() == o.total_connections());
        CHECK(plan.publishers == o.publishers);
        CHECK(plan.subscribers == o.subscribers);
        CHECK(reach(plan) == plan.fanout);
        // Subscribers come first (they subscribe before anyone publishes).
        CHECK(plan.connections.front().role == role::subscriber);
        CHECK(plan.connections.back().role == role::publisher);
        std::set<std::string> ids;
        for (const auto& c : plan.connections) {
            CHECK(c.client_id.size() <= 23); // [MQTT-3.1.3-5]
            CHECK(c.topic.starts_with("tgbench/ab12cd34/"));
            ids.insert(c.client_id);
        }
        CHECK(ids.size() == plan.connections.size());
    }
}

TEST_CASE("plan: expected deliveries follow the fanout") {
    const auto plan = make_plan(make({"--scenario", "fan-out", "--subscribers", "7"}), "r");
    CHECK(expected_deliveries(plan, {10}) == 70);
    const auto in = make_plan(make({"--scenario", "fan-in", "--publishers", "3"}), "r");
    CHECK(expected_deliveries(in, {1, 2, 3}) == 6);
}

TEST_CASE("plan: connections spread round-robin over the threads") {
    const auto o = make({"--scenario", "pairs", "--pairs", "5", "--threads", "3"});
    const auto plan = make_plan(o, "r");
    std::vector<int> per_thread(3, 0);
    for (const auto& c : plan.connections) {
        REQUIRE(c.thread < 3);
        ++per_thread[c.thread];
    }
    CHECK(per_thread == std::vector<int>{4, 3, 3});
}

TEST_CASE("plan: message quotas add up to --max-messages; the rate is split evenly") {
    const auto o = make(
            {"--scenario", "fan-in", "--publishers", "3", "--max-messages", "10", "--rate", "300"});
    const auto plan = make_plan(o, "r");
    std::uint64_t total = 0;
    for (const auto& c : plan.connections) {
        if (c.role == role::publisher) {
            total += c.quota;
            CHECK(c.interval_s == doctest::Approx(0.01)); // 100 msgs/s each
        }
    }
    CHECK(total == 10);
    const auto unbounded = make_plan(make({"--scenario", "fan-in"}), "r");
    CHECK(unbounded.connections.back().quota == unlimited);
    CHECK(unbounded.connections.back().interval_s == 0);
}

TEST_CASE("plan: storm and idle are connections without topics") {
    auto plan = make_plan(make({"--scenario", "storm", "--connections", "4"}), "r");
    CHECK(plan.connections.size() == 4);
    CHECK(plan.connections[0].role == role::connector);
    CHECK(plan.publishers == 0);
    plan = make_plan(make({"--scenario", "idle", "--connections", "5"}), "r");
    CHECK(plan.connections.size() == 5);
    CHECK(plan.connections[4].role == role::idler);
}

TEST_CASE("plan: fan-in with two threads or more gives the subscriber a thread of its own") {
    const auto o = make({"--scenario", "fan-in", "--publishers", "7", "--threads", "3"});
    const auto plan = make_plan(o, "r");
    std::vector<int> per_thread(3, 0);
    for (const auto& c : plan.connections) {
        REQUIRE(c.thread < 3);
        if (c.role == role::subscriber) {
            CHECK(c.thread == 0);
        } else {
            CHECK(c.thread != 0);
            ++per_thread[c.thread];
        }
    }
    CHECK(per_thread == std::vector<int>{0, 4, 3});
    // One thread: everyone shares it (the reader drains its socket eagerly instead).
    for (const auto& c :
         make_plan(make({"--scenario", "fan-in", "--publishers", "3", "--threads", "1"}), "r")
                 .connections) {
        CHECK(c.thread == 0);
    }
}

TEST_CASE("plan: backlog has one persistent subscriber that hears every publisher's quota") {
    const auto o =
            make({"--scenario",
                  "backlog",
                  "--publishers",
                  "4",
                  "--max-messages",
                  "10",
                  "--threads",
                  "2"});
    const auto plan = make_plan(o, "ab12cd34");
    REQUIRE(plan.connections.size() == 5);
    const auto& sub = plan.connections.front();
    CHECK(sub.role == role::subscriber);
    CHECK(sub.persistent);
    CHECK(sub.thread == 0);
    CHECK(sub.first_publisher == 0);
    CHECK(sub.publisher_count == 4);
    CHECK(reach(plan) == std::vector<std::uint32_t>{1, 1, 1, 1});
    std::uint64_t quota = 0;
    for (const auto& c : plan.connections) {
        CHECK(c.client_id.size() <= 23); // [MQTT-3.1.3-5]
        if (c.role == role::publisher) {
            CHECK_FALSE(c.persistent);
            CHECK(c.thread == 1);
            CHECK(c.topic.starts_with("tgbench/ab12cd34/backlog/"));
            quota += c.quota;
        }
    }
    CHECK(quota == 10);
    CHECK(expected_deliveries(plan, {3, 3, 2, 2}) == 10);
}

} // namespace
} // namespace thinggate::bench
