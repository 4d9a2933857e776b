#pragma once
// tools/bench/stamp: what the load tool writes into every payload (the intended send time, the
// publisher and its sequence number) and what a subscriber learns from it (order, loss,
// duplicates per publisher).
// Owns: the payload layout and the per-publisher sequence bookkeeping. Must not use: I/O, clocks.
// Thread safety: plain values; a sequence_tracker has one writer.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

namespace thinggate::bench {

/// Bytes at the start of every payload: send time (ns, u64), publisher id (u32), sequence
/// number (u32), little-endian. Payloads are at least this long.
inline constexpr std::size_t stamp_size = 16;

struct stamp {
    std::uint64_t send_ns = 0; ///< the intended send time on the steady clock
    std::uint32_t publisher = 0;
    std::uint32_t seq = 0;
    friend bool operator==(const stamp&, const stamp&) = default;
};

/// Writes `s` into the first stamp_size bytes of `payload` (which must be that long).
void write_stamp(std::span<std::uint8_t> payload, const stamp& s) noexcept;

/// The stamp at the start of `payload`; nullopt when the payload is shorter than stamp_size.
std::optional<stamp> read_stamp(std::span<const std::uint8_t> payload) noexcept;

/// Fills a payload's bytes after the stamp with a fixed, incompressible-looking pattern.
void fill_payload(std::span<std::uint8_t> payload) noexcept;

/// What one arrival was, relative to what this subscriber has seen from the same publisher.
enum class arrival {
    in_order,  ///< the next sequence number
    gap,       ///< a higher one than the next: the ones between are missing (so far)
    late,      ///< fills an earlier gap (out of order)
    duplicate, ///< already seen
};

/// The sequence numbers one subscriber received from one publisher, as sorted disjoint ranges.
/// In-order traffic keeps a single range; memory grows only with the number of open gaps.
class sequence_tracker {
public:
    arrival on_receive(std::uint32_t seq);

    /// Distinct sequence numbers received.
    std::uint64_t unique() const noexcept { return unique_; }

    std::uint64_t duplicates() const noexcept { return duplicates_; }

    std::uint64_t late() const noexcept { return late_; }

    /// Of the sequence numbers 0 .. sent-1, how many were never received.
    std::uint64_t missing(std::uint64_t sent) const noexcept;

private:
    std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges_; // [first, last) sorted
    std::uint64_t unique_ = 0;
    std::uint64_t duplicates_ = 0;
    std::uint64_t late_ = 0;
};

} // namespace thinggate::bench
