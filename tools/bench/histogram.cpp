#include "tools/bench/histogram.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

namespace thinggate::bench {

namespace {

constexpr unsigned s = histogram::sub_bucket_bits;
constexpr std::uint64_t exact_limit = std::uint64_t{1} << s; // values below are their own bucket
constexpr std::uint64_t half = exact_limit / 2;              // buckets per further octave

} // namespace

std::size_t histogram::bucket_count() noexcept {
    // [0, 2^s) exactly, then 2^(s-1) buckets for each octave 2^e, e = s .. 63.
    return static_cast<std::size_t>(exact_limit + (64 - s) * half);
}

std::size_t histogram::index_of(std::uint64_t value) noexcept {
    if (value < exact_limit) {
        return static_cast<std::size_t>(value);
    }
    const unsigned e = 63 - static_cast<unsigned>(std::countl_zero(value)); // floor(log2 value)
    const unsigned shift = e - s + 1;
    const std::uint64_t m = value >> shift; // in [half, exact_limit)
    return static_cast<std::size_t>(exact_limit + (e - s) * half + (m - half));
}

std::uint64_t histogram::lowest_equivalent(std::size_t index) noexcept {
    if (index < exact_limit) {
        return index;
    }
    const std::uint64_t i = index - exact_limit;
    const unsigned e = static_cast<unsigned>(i / half) + s;
    const std::uint64_t m = half + i % half;
    return m << (e - s + 1);
}

std::uint64_t histogram::highest_equivalent(std::size_t index) noexcept {
    if (index < exact_limit) {
        return index;
    }
    const std::uint64_t i = index - exact_limit;
    const unsigned e = static_cast<unsigned>(i / half) + s;
    const unsigned shift = e - s + 1;
    return lowest_equivalent(index) + ((std::uint64_t{1} << shift) - 1);
}

histogram::histogram()
    : counts_(bucket_count(), 0) {}

void histogram::record(std::uint64_t value) noexcept {
    ++counts_[index_of(value)];
    if (count_ == 0 || value < min_) {
        min_ = value;
    }
    max_ = std::max(max_, value);
    ++count_;
    sum_ += static_cast<long double>(value);
}

void histogram::merge(const histogram& other) noexcept {
    if (other.count_ == 0) {
        return;
    }
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        counts_[i] += other.counts_[i];
    }
    min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
    max_ = std::max(max_, other.max_);
    count_ += other.count_;
    sum_ += other.sum_;
}

void histogram::reset() noexcept {
    std::fill(counts_.begin(), counts_.end(), 0);
    count_ = 0;
    min_ = 0;
    max_ = 0;
    sum_ = 0;
}

double histogram::mean() const noexcept {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_ / static_cast<long double>(count_));
}

std::uint64_t histogram::percentile(double q) const noexcept {
    if (count_ == 0) {
        return 0;
    }
    q = std::clamp(q, 0.0, 1.0);
    auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
        seen += counts_[i];
        if (seen >= rank) {
            return std::clamp(highest_equivalent(i), min_, max_);
        }
    }
    return max_;
}

} // namespace thinggate::bench
