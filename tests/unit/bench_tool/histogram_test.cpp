// The load tool's latency histogram: bucket mapping, bounded error, percentiles, merge.

#include "tools/bench/histogram.hpp"

#include <cstdint>
#include <random>
#include <vector>

#include <doctest/doctest.h>

namespace thinggate::bench {
namespace {

TEST_CASE("histogram: small values are exact and buckets are contiguous") {
    for (std::uint64_t v = 0; v < 256; ++v) {
        CHECK(histogram::index_of(v) == v);
        CHECK(histogram::lowest_equivalent(v) == v);
    }
    // Every bucket's range starts right after the previous one ends, up to the last bucket.
    for (std::size_t i = 1; i < histogram::bucket_count(); ++i) {
        REQUIRE(histogram::lowest_equivalent(i) == histogram::highest_equivalent(i - 1) + 1);
    }
    CHECK(histogram::highest_equivalent(histogram::bucket_count() - 1) == UINT64_MAX);
}

TEST_CASE("histogram: every value maps into a bucket that contains it, within 0.8 %") {
    std::mt19937_64 rng(42);
    for (int i = 0; i < 100000; ++i) {
        const std::uint64_t v = rng() >> (rng() % 64);
        const auto idx = histogram::index_of(v);
        REQUIRE(idx < histogram::bucket_count());
        const auto lo = histogram::lowest_equivalent(idx);
        const auto hi = histogram::highest_equivalent(idx);
        REQUIRE(lo <= v);
        REQUIRE(v <= hi);
        if (v >= 256) {
            REQUIRE(static_cast<double>(hi - lo) <= static_cast<double>(lo) / 128.0 + 1);
        }
    }
}

TEST_CASE("histogram: percentiles of 1..10000 are within the bucket error") {
    histogram h;
    for (std::uint64_t v = 1; v <= 10000; ++v) {
        h.record(v * 1000); // 1 us .. 10 ms in ns
    }
    CHECK(h.count() == 10000);
    CHECK(h.min() == 1000);
    CHECK(h.max() == 10'000'000);
    CHECK(h.mean() == doctest::Approx(5'000'500.0));
    auto near = [](std::uint64_t got, double want) {
        return static_cast<double>(got) >= want && static_cast<double>(got) <= want * 1.008;
    };
    CHECK(near(h.percentile(0.5), 5'000'000.0));
    CHECK(near(h.percentile(0.9), 9'000'000.0));
    CHECK(near(h.percentile(0.99), 9'900'000.0));
    CHECK(near(h.percentile(0.999), 9'990'000.0));
    CHECK(h.percentile(1.0) == 10'000'000); // capped at the exact max
    CHECK(near(h.percentile(0.0), 1000.0)); // the first value's bucket
}

TEST_CASE("histogram: empty, a single value, merge and reset") {
    histogram a;
    CHECK(a.percentile(0.99) == 0);
    CHECK(a.max() == 0);
    CHECK(a.mean() == 0.0);
    a.record(123456);
    CHECK(a.percentile(0.5) == 123456); // capped at the max: one value is exact
    histogram b;
    b.record(7);
    b.record(1'000'000'000);
    a.merge(b);
    CHECK(a.count() == 3);
    CHECK(a.min() == 7);
    CHECK(a.max() == 1'000'000'000);
    CHECK(a.percentile(0.34) >= 123456);
    a.reset();
    CHECK(a.count() == 0);
    CHECK(a.percentile(0.5) == 0);
    histogram empty;
    b.merge(empty);
    CHECK(b.count() == 2);
}

TEST_CASE("histogram: a latency spike shows in p99.9 and max, not p50") {
    histogram h;
    for (int i = 0; i < 999; ++i) {
        h.record(100'000); // 100 us
    }
    h.record(50'000'000); // one 50 ms stall
    CHECK(h.percentile(0.5) <= 101'000);
    CHECK(h.percentile(0.999) <= 101'000);
    CHECK(h.percentile(0.9995) >= 49'000'000);
    CHECK(h.max() == 50'000'000);
}

} // namespace
} // namespace thinggate::bench
