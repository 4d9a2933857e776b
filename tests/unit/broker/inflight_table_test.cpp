#include "broker/inflight_table.hpp"

#include <map>
#include <random>
#include <vector>

#include <doctest/doctest.h>

namespace {

using thinggate::broker::inflight_delivery;
using thinggate::broker::inflight_table;

/// The table holds exactly what `ref` holds (id -> seq).
void check_same(inflight_table& t, const std::map<std::uint16_t, std::uint64_t>& ref) {
    REQUIRE(t.size() == ref.size());
    std::size_t n = 0;
    for (const auto& [id, e] : t) {
        auto it = ref.find(id);
        REQUIRE(it != ref.end());
        CHECK(e.seq == it->second);
        ++n;
    }
    CHECK(n == ref.size());
    for (const auto& [id, seq] : ref) {
        REQUIRE(t.contains(id));
        auto it = t.find(id);
        REQUIRE(it != t.end());
        CHECK(it->second.seq == seq);
    }
}

} // namespace

TEST_CASE("inflight_table: insert, find, erase by packet id") {
    inflight_table t;
    CHECK(t.empty());
    CHECK(t.find(1) == t.end());
    CHECK_FALSE(t.contains(1));
    t[5].seq = 50;
    t[7].seq = 70;
    t[5].st = inflight_delivery::state::wait_pubcomp; // the same entry again
    REQUIRE(t.size() == 2);
    CHECK(t.find(5)->second.seq == 50);
    CHECK(t.find(5)->second.st == inflight_delivery::state::wait_pubcomp);
    t.erase(t.find(5));
    CHECK_FALSE(t.contains(5));
    CHECK(t.contains(7));
    CHECK(t.size() == 1);
    t.clear();
    CHECK(t.empty());
    CHECK(t.begin() == t.end());
}

TEST_CASE("inflight_table: an emptied large table gives its memory back; refilling allocates its "
          "last size at once; a small one is kept") {
    inflight_table t;
    for (std::uint16_t id = 1; id <= 100; ++id) {
        t[id].seq = id;
    }
    const std::size_t full = t.capacity();
    CHECK(full >= 200);
    for (std::uint16_t id = 1; id <= 100; ++id) {
        t.erase(t.find(id));
    }
    CHECK(t.empty());
    CHECK(t.capacity() == 0);
    t[7].seq = 7;
    CHECK(t.capacity() == full); // at once, without growing step by step
    CHECK(t.find(7)->second.seq == 7);

    inflight_table small;
    small[1].seq = 1;
    const std::size_t kept = small.capacity();
    CHECK(kept > 0);
    small.erase(small.find(1));
    CHECK(small.empty());
    CHECK(small.capacity() == kept); // one message at a time allocates nothing per message
}

TEST_CASE("inflight_table: matches std::map under random inserts and erases (wrapping ids, "
          "probe runs across the array end, growth and shrinking)") {
    std::mt19937 rng(12345);
    inflight_table t;
    std::map<std::uint16_t, std::uint64_t> ref;
    std::uint16_t next = 65000; // wraps past 65535 to 1, like packet ids
    std::uint64_t seq = 0;
    for (int step = 0; step < 200'000; ++step) {
        const bool insert = ref.size() < 2000 && (ref.empty() || rng() % 100 < 55);
        if (insert) {
            do {
                next = static_cast<std::uint16_t>(next + 1 + rng() % 3);
            } while (next == 0 || ref.contains(next));
            t[next].seq = ++seq;
            ref[next] = seq;
        } else {
            // Erase a random present id (not always the oldest: PUBACKs come in any order).
            auto it = ref.begin();
            std::advance(it, static_cast<long>(rng() % ref.size()));
            auto found = t.find(it->first);
            REQUIRE(found != t.end());
            t.erase(found);
            ref.erase(it);
        }
        if (step % 997 == 0) {
            check_same(t, ref);
        }
    }
    check_same(t, ref);
    while (!ref.empty()) {
        t.erase(t.find(ref.begin()->first));
        ref.erase(ref.begin());
    }
    check_same(t, ref);
}
