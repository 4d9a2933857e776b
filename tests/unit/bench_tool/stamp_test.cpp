// Payload stamps and per-publisher sequence accounting (loss, duplicates, reordering).

#include "tools/bench/stamp.hpp"

#include <cstdint>
#include <vector>

#include <doctest/doctest.h>

namespace thinggate::bench {
namespace {

TEST_CASE("stamp: round trip, little-endian layout, short payloads refused") {
    std::vector<std::uint8_t> p(64, 0);
    const stamp s{0x0102030405060708ull, 0xA1B2C3D4u, 0x11223344u};
    write_stamp(p, s);
    CHECK(p[0] == 0x08);
    CHECK(p[7] == 0x01);
    CHECK(p[8] == 0xD4);
    CHECK(p[12] == 0x44);
    const auto back = read_stamp(p);
    REQUIRE(back.has_value());
    CHECK(*back == s);
    CHECK_FALSE(read_stamp(std::span<const std::uint8_t>(p.data(), 15)).has_value());
    CHECK(read_stamp(std::span<const std::uint8_t>(p.data(), 16)).has_value());
}

TEST_CASE("stamp: fill_payload leaves the stamp alone and is deterministic") {
    std::vector<std::uint8_t> a(1024, 0);
    std::vector<std::uint8_t> b(1024, 0);
    write_stamp(a, {5, 6, 7});
    fill_payload(a);
    fill_payload(b);
    CHECK(read_stamp(a)->seq == 7);
    CHECK(std::equal(a.begin() + 16, a.end(), b.begin() + 16));
    std::size_t zeros = 0;
    for (std::size_t i = 16; i < a.size(); ++i) {
        zeros += a[i] == 0 ? 1 : 0;
    }
    CHECK(zeros < 64); // not a run of one byte
}

TEST_CASE("sequence_tracker: in order, no loss") {
    sequence_tracker t;
    for (std::uint32_t i = 0; i < 1000; ++i) {
        REQUIRE(t.on_receive(i) == arrival::in_order);
    }
    CHECK(t.unique() == 1000);
    CHECK(t.missing(1000) == 0);
    CHECK(t.missing(1010) == 10); // sent but never arrived
    CHECK(t.duplicates() == 0);
    CHECK(t.late() == 0);
}

TEST_CASE("sequence_tracker: gaps, late arrivals and duplicates") {
    sequence_tracker t;
    CHECK(t.on_receive(0) == arrival::in_order);
    CHECK(t.on_receive(1) == arrival::in_order);
    CHECK(t.on_receive(5) == arrival::gap); // 2, 3, 4 missing
    CHECK(t.missing(6) == 3);
    CHECK(t.on_receive(3) == arrival::late);
    CHECK(t.on_receive(3) == arrival::duplicate);
    CHECK(t.on_receive(1) == arrival::duplicate);
    CHECK(t.on_receive(5) == arrival::duplicate);
    CHECK(t.on_receive(2) == arrival::late); // joins 0..1 and 3
    CHECK(t.on_receive(4) == arrival::late); // closes the gap: one range again
    CHECK(t.on_receive(6) == arrival::in_order);
    CHECK(t.unique() == 7);
    CHECK(t.duplicates() == 3);
    CHECK(t.late() == 3);
    CHECK(t.missing(7) == 0);
}

TEST_CASE("sequence_tracker: the first message is not 0, and arrivals below the first range") {
    sequence_tracker t;
    CHECK(t.on_receive(10) == arrival::gap);
    CHECK(t.on_receive(0) == arrival::late);
    CHECK(t.on_receive(9) == arrival::late); // joins the next range
    CHECK(t.on_receive(5) == arrival::late); // alone between two ranges
    CHECK(t.on_receive(5) == arrival::duplicate);
    CHECK(t.unique() == 4);
    CHECK(t.missing(11) == 7); // 1..4, 6..8
    CHECK(t.missing(3) == 2);  // only 0 of 0..2 arrived
}

TEST_CASE("sequence_tracker: many losses cost one range per gap") {
    sequence_tracker t;
    for (std::uint32_t i = 0; i < 10000; i += 2) {
        t.on_receive(i);
    }
    CHECK(t.unique() == 5000);
    CHECK(t.missing(10000) == 5000);
    for (std::uint32_t i = 1; i < 9999; i += 2) {
        REQUIRE(t.on_receive(i) == arrival::late);
    }
    CHECK(t.on_receive(9999) == arrival::in_order); // right after the highest range
    CHECK(t.missing(10000) == 0);
    CHECK(t.late() == 4999);
}

} // namespace
} // namespace thinggate::bench
