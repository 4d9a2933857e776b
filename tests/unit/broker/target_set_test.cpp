#include "broker/target_set.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace {

using thinggate::broker::session;
using thinggate::broker::session_ptr;
using thinggate::broker::target_set;
using thinggate::mqtt::qos;

std::vector<session_ptr> make_sessions(std::size_t n) {
    std::vector<session_ptr> out;
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(std::make_shared<session>("s" + std::to_string(i), i + 1, 0));
    }
    return out;
}

const thinggate::broker::route_target* find(target_set& t, const session_ptr& s) {
    for (const auto& x : t.targets()) {
        if (x.s == s) {
            return &x;
        }
    }
    return nullptr;
}

} // namespace

TEST_CASE("target_set: one delivery per session, in first-match order") {
    auto s = make_sessions(3);
    target_set t;
    t.add(s[0], qos::at_most_once, false, 0);
    t.add(s[1], qos::at_least_once, false, 0);
    t.add(s[2], qos::at_most_once, false, 0);
    REQUIRE(t.size() == 3);
    CHECK(t.targets()[0].s == s[0]);
    CHECK(t.targets()[1].s == s[1]);
    CHECK(t.targets()[2].s == s[2]);
    CHECK(t.targets()[1].qos == qos::at_least_once);
    CHECK(t.targets()[0].subscription_ids.empty());
}

TEST_CASE("target_set: overlapping subscriptions fold into one delivery with the highest QoS "
          "and every subscription identifier [MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.3.4-5]") {
    auto s = make_sessions(2);
    target_set t;
    t.add(s[0], qos::at_most_once, false, 7);
    t.add(s[1], qos::at_least_once, false, 0);
    t.add(s[0], qos::exactly_once, false, 0);
    t.add(s[0], qos::at_least_once, true, 9);
    REQUIRE(t.size() == 2);
    const auto* a = find(t, s[0]);
    REQUIRE(a != nullptr);
    CHECK(a->qos == qos::exactly_once);
    CHECK(a->retain); // one subscription with Retain As Published keeps RETAIN
    CHECK(a->subscription_ids == std::vector<std::uint32_t>{7, 9});
    const auto* b = find(t, s[1]);
    REQUIRE(b != nullptr);
    CHECK(b->qos == qos::at_least_once);
    CHECK_FALSE(b->retain);
}

TEST_CASE("target_set: dedupe stays correct past the linear limit (indexed), across clears") {
    const std::size_t n = 1000;
    auto s = make_sessions(n);
    target_set t;
    for (int round = 0; round < 3; ++round) {
        t.clear();
        CHECK(t.empty());
        // Every session matched by three overlapping subscriptions, interleaved.
        for (std::uint32_t k = 0; k < 3; ++k) {
            for (std::size_t i = 0; i < n; ++i) {
                const auto q = static_cast<qos>((i + k) % 3);
                t.add(s[i], q, k == 2 && i % 2 == 0, static_cast<std::uint32_t>(i * 10 + k + 1));
            }
        }
        REQUIRE(t.size() == n);
        for (std::size_t i = 0; i < n; ++i) {
            const auto& x = t.targets()[i];
            REQUIRE(x.s == s[i]);
            CHECK(x.qos == qos::exactly_once); // (i+0, i+1, i+2) % 3 covers 2
            CHECK(x.retain == (i % 2 == 0));
            const std::vector<std::uint32_t> ids{static_cast<std::uint32_t>(i * 10 + 1),
                                                 static_cast<std::uint32_t>(i * 10 + 2),
                                                 static_cast<std::uint32_t>(i * 10 + 3)};
            CHECK(x.subscription_ids == ids);
        }
    }
}

TEST_CASE("target_set: growing from a few to many sessions and back to a few") {
    auto s = make_sessions(target_set::linear_limit * 5);
    target_set t;
    for (const auto& x : s) {
        t.add(x, qos::at_most_once, false, 0);
        t.add(x, qos::at_least_once, false, 0);
    }
    CHECK(t.size() == s.size());
    t.clear();
    // After an indexed round, a small set (linear again) still dedupes.
    t.add(s[3], qos::at_most_once, false, 1);
    t.add(s[4], qos::at_most_once, false, 0);
    t.add(s[3], qos::at_least_once, false, 2);
    REQUIRE(t.size() == 2);
    CHECK(t.targets()[0].qos == qos::at_least_once);
    CHECK(t.targets()[0].subscription_ids == std::vector<std::uint32_t>{1, 2});
}
