#pragma once
// broker/session: one MQTT session's state (subscriptions, queued and in-flight messages, the
// QoS 2 packet ids it has received). Internal to broker/.
// Thread safety: `shard` and `online` are atomic and may be read anywhere; every other member is
// touched only on the thread of the shard named by `shard`. A session moves to another shard only
// by the handover in broker.cpp (the old shard sets `shard`, then posts to the new one).

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include <boost/container/deque.hpp>

#include "broker/inflight_table.hpp"
#include "broker/message.hpp"
#include "broker/session_types.hpp"
#include "broker/runtime.hpp"
#include "mqtt/packet.hpp"
#include "persist/records.hpp"

namespace thinggate::broker {

class client_machine;

/// A subscription as the session holds it (the index mirrors these).
struct session_subscription {
    mqtt::subscribe_options options;
    std::uint32_t subscription_id = 0;
};

class session {
public:
    session(std::string id, std::uint64_t key, shard_id home)
        : client_id(std::move(id))
        , key(key)
        , shard(home) {}

    const std::string client_id;
    const std::uint64_t key; ///< unique per session instance (No Local, index identity)
    std::atomic<shard_id> shard;
    std::atomic<bool> online{false};
    /// Its state is written to the store (expiry > 0 and the broker has a store). Read by routing
    /// on any shard to decide whether a delivery is stored before it is forwarded.
    std::atomic<bool> durable{false};
    /// Next record key; taken by routing on any shard (fetch_add), so atomic.
    std::atomic<std::uint64_t> next_seq{1};
    /// Queue length and bytes, readable anywhere for the overflow check at routing time (the
    /// shard that owns the session changes them).
    std::atomic<std::uint32_t> queued_count{0};
    std::atomic<std::uint64_t> queued_bytes{0};
    /// Connected and its queue, or its connection's unwritten output, over the high-water mark:
    /// publishers routing to it are held back — QoS 1/2 acknowledgements withheld, QoS 0
    /// publishers' input paused — for at most limits::max_ack_delay_ms per episode.
    std::atomic<bool> congested{false};
    /// When the current congestion episode began (runtime clock, ns since its epoch; 0 = none).
    /// Past max_ack_delay_ms the session counts as a slow consumer: publishers are no longer held
    /// back for it (its queue and outbound limits apply instead) until it drains.
    std::atomic<std::int64_t> congested_since{0};
    /// QoS 1/2 deliveries routed to it and not yet arrived on its shard: a loop turn can route
    /// thousands before the first is queued, so congestion counts them too.
    std::atomic<std::uint32_t> in_transit{0};
    /// The same for QoS 0 deliveries, in bytes (payload + topic): with the connection's unwritten
    /// output it is what QoS 0 congestion is measured by (only while max_ack_delay_ms != 0).
    std::atomic<std::uint64_t> in_transit_bytes{0};

    // --- shard-owned state ---
    client_machine* client = nullptr; ///< attached connection (same shard), or nullptr
    mqtt::protocol_version version = mqtt::protocol_version::v5;
    std::uint32_t expiry_interval = 0; ///< seconds; applied when the connection ends
    /// Full filter as subscribed ("$share/g/f" included) -> options.
    std::map<std::string, session_subscription, std::less<>> subscriptions;
    /// No heap block while empty and never used (std::deque allocates 576 bytes when made).
    boost::container::deque<queued_delivery> queue;
    inflight_table inflight; ///< by packet id
    std::uint16_t last_packet_id = 0;
    /// A session record exists in the store (so ending the session erases it).
    bool stored = false;
    std::unordered_set<std::uint16_t> incoming_qos2; ///< PUBREC sent, PUBREL not yet received
    /// Increased on every attach and detach; timers (will delay, expiry) compare it to know
    /// whether the session was resumed in the meantime.
    std::uint64_t generation = 0;
    bool ended = false; ///< destroyed: removed from the map and the index
    /// Will waiting for its delay (v5 Will Delay Interval), published if the session is not
    /// resumed in time, or when the session ends, whichever comes first.
    std::unique_ptr<mqtt::will_message> pending_will; ///< on the heap: 560 bytes, rarely set
    /// When its last connection ended (written to the store with the session record).
    std::optional<persist::wall_time> disconnected_at;
};

using session_ptr = std::shared_ptr<session>;

} // namespace thinggate::broker
