#pragma once
// tools/bench/histogram: a log-linear latency histogram in the style of HdrHistogram.
// Owns: recording and querying nanosecond values. Must not use: I/O, clocks, threads.
// Thread safety: a plain value; one writer at a time. Merge per-thread copies after the run.

#include <cstdint>
#include <vector>

namespace thinggate::bench {

/// Records unsigned 64-bit values (nanoseconds) with a bounded relative error: values below
/// 2^sub_bucket_bits are exact; above, each power of two is split into 2^(sub_bucket_bits-1)
/// equal buckets (sub_bucket_bits = 8: at most 1/128 = 0.78 % wide). Fixed memory (~58 KiB),
/// no allocation after construction.
class histogram {
public:
    static constexpr unsigned sub_bucket_bits = 8;

    histogram();

    void record(std::uint64_t value) noexcept;
    /// Adds every value recorded in `other`.
    void merge(const histogram& other) noexcept;
    void reset() noexcept;

    std::uint64_t count() const noexcept { return count_; }

    /// Smallest / largest value recorded exactly (0 when empty).
    std::uint64_t min() const noexcept { return count_ == 0 ? 0 : min_; }

    std::uint64_t max() const noexcept { return max_; }

    double mean() const noexcept;

    /// The value below or at which a fraction `q` (0..1) of the recorded values lie: the highest
    /// value equivalent to the bucket holding the ceil(q*count)-th value, capped at max().
    /// 0 when empty.
    std::uint64_t percentile(double q) const noexcept;

    /// Bucket index of a value and the range of values that share it (for tests).
    static std::size_t index_of(std::uint64_t value) noexcept;
    static std::uint64_t lowest_equivalent(std::size_t index) noexcept;
    static std::uint64_t highest_equivalent(std::size_t index) noexcept;
    static std::size_t bucket_count() noexcept;

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t count_ = 0;
    std::uint64_t min_ = 0;
    std::uint64_t max_ = 0;
    long double sum_ = 0;
};

} // namespace thinggate::bench
