#include "tools/bench/stamp.hpp"

#include <algorithm>

namespace thinggate::bench {

namespace {

template <typename T>
void put_le(std::uint8_t* p, T v) noexcept {
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        p[i] = static_cast<std::uint8_t>(v >> (8 * i));
    }
}

template <typename T>
T get_le(const std::uint8_t* p) noexcept {
    T v = 0;
    for (std::size_t i = 0; i < sizeof(T); ++i) {
        v |= static_cast<T>(static_cast<T>(p[i]) << (8 * i));
    }
    return v;
}

} // namespace

void write_stamp(std::span<std::uint8_t> payload, const stamp& s) noexcept {
    if (payload.size() < stamp_size) {
        return;
    }
    put_le(payload.data(), s.send_ns);
    put_le(payload.data() + 8, s.publisher);
    put_le(payload.data() + 12, s.seq);
}

std::optional<stamp> read_stamp(std::span<const std::uint8_t> payload) noexcept {
    if (payload.size() < stamp_size) {
        return std::nullopt;
    }
    return stamp{
            get_le<std::uint64_t>(payload.data()),
            get_le<std::uint32_t>(payload.data() + 8),
            get_le<std::uint32_t>(payload.data() + 12)};
}

void fill_payload(std::span<std::uint8_t> payload) noexcept {
    // xorshift32: cheap, deterministic, and not a run of one byte (which TLS would not mind, but
    // a compressing link would).
    std::uint32_t x = 0x9E3779B9u;
    for (std::size_t i = stamp_size; i < payload.size(); ++i) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        payload[i] = static_cast<std::uint8_t>(x);
    }
}

arrival sequence_tracker::on_receive(std::uint32_t seq32) {
    const std::uint64_t seq = seq32;
    if (ranges_.empty()) {
        ranges_.emplace_back(seq, seq + 1);
        ++unique_;
        return seq == 0 ? arrival::in_order : arrival::gap;
    }
    auto& back = ranges_.back();
    if (seq == back.second) {
        ++back.second;
        ++unique_;
        return arrival::in_order;
    }
    if (seq > back.second) {
        ranges_.emplace_back(seq, seq + 1);
        ++unique_;
        return arrival::gap;
    }
    // Below the highest seen: either a duplicate or a late arrival that fills (part of) a gap.
    auto next = std::upper_bound(
            ranges_.begin(), ranges_.end(), seq, [](std::uint64_t v, const auto& r) {
                return v < r.first;
            });
    if (next != ranges_.begin()) {
        auto prev = std::prev(next);
        if (seq < prev->second) {
            ++duplicates_;
            return arrival::duplicate;
        }
    }
    ++unique_;
    ++late_;
    const bool joins_prev = next != ranges_.begin() && std::prev(next)->second == seq;
    const bool joins_next = next != ranges_.end() && next->first == seq + 1;
    if (joins_prev && joins_next) {
        std::prev(next)->second = next->second;
        ranges_.erase(next);
    } else if (joins_prev) {
        std::prev(next)->second = seq + 1;
    } else if (joins_next) {
        next->first = seq;
    } else {
        ranges_.insert(next, {seq, seq + 1});
    }
    return arrival::late;
}

std::uint64_t sequence_tracker::missing(std::uint64_t sent) const noexcept {
    std::uint64_t got = 0;
    for (const auto& [first, last] : ranges_) {
        if (first >= sent) {
            break;
        }
        got += std::min(last, sent) - first;
    }
    return sent - got;
}

} // namespace thinggate::bench
