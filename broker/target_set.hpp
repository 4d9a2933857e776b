#pragma once
// broker/target_set: the deliveries one routed PUBLISH becomes, one per session, with
// overlapping subscriptions of a session folded into one delivery (highest QoS, RETAIN if any
// subscription keeps it, every subscription identifier) [MQTT-3.3.4-2..5].
// Owns: the per-publish target list and its dedupe index. Reused per thread: after warm-up,
// adding targets allocates nothing (no node per target, unlike a hash map).
// Thread safety: none; one per routing thread.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "broker/session.hpp"

namespace thinggate::broker {

/// One delivery decided by routing: which session, at which QoS, with which flags.
struct route_target {
    session_ptr s;
    mqtt::qos qos = mqtt::qos::at_most_once;
    bool retain = false;
    std::vector<std::uint32_t> subscription_ids;
    std::uint64_t seq = 0; ///< stored as a queued record under this key (0 = not stored)
};

class target_set {
public:
    /// Up to this many targets, a session is found by a linear scan; beyond it, by an
    /// open-addressing index over the target list (rebuilt only when it grows).
    static constexpr std::size_t linear_limit = 8;

    /// Forgets the targets (capacity is kept).
    void clear() noexcept;

    /// Adds one matching subscription of `s`: a new delivery, or folded into the session's one.
    void add(const session_ptr& s, mqtt::qos q, bool retain, std::uint32_t subscription_id);

    std::vector<route_target>& targets() noexcept { return targets_; }
    std::size_t size() const noexcept { return targets_.size(); }
    bool empty() const noexcept { return targets_.empty(); }

private:
    /// Index of `s` in targets_, or targets_.size() when absent.
    std::size_t find(const session* s) const noexcept;
    void index_insert(std::size_t i) noexcept;
    void rebuild_index(std::size_t capacity);
    std::size_t slot_of(const session* s) const noexcept;

    std::vector<route_target> targets_;
    /// Open addressing, linear probing: target index + 1, 0 = empty. Used only beyond
    /// linear_limit; its size is a power of two at least twice the number of targets.
    std::vector<std::uint32_t> slots_;
    bool indexed_ = false;
};

} // namespace thinggate::broker
