#pragma once
// broker/session: one MQTT session's state (subscriptions, queued and in-flight messages, the
// QoS 2 packet ids it has received). Internal to broker/.
// Thread safety: `shard` and `online` are atomic and may be read anywhere; every other member is
// touched only on the thread of the shard named by `shard`. A session moves to another shard only
// by the handover in broker.cpp (the old shard sets `shard`, then posts to the new one).

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "broker/message.hpp"
#include "broker/runtime.hpp"
#include "mqtt/packet.hpp"

namespace thinggate::broker {

class client_machine;

/// A message waiting to be sent (session offline or outbound window full).
struct queued_delivery {
    message_ptr msg;
    mqtt::qos qos = mqtt::qos::at_most_once;   ///< min(published, granted)
    bool retain = false;                        ///< RETAIN flag to send
    std::vector<std::uint32_t> subscription_ids;
};

/// An outbound QoS 1/2 message waiting for its acknowledgement.
struct inflight_delivery {
    enum class state : std::uint8_t {
        wait_puback,
        wait_pubrec,
        wait_pubcomp,
    };
    queued_delivery d;
    state st = state::wait_puback;
    std::uint64_t seq = 0; ///< send order, for in-order redelivery on resume
};

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

    // --- shard-owned state ---
    client_machine* client = nullptr; ///< attached connection (same shard), or nullptr
    mqtt::protocol_version version = mqtt::protocol_version::v5;
    std::uint32_t expiry_interval = 0; ///< seconds; applied when the connection ends
    /// Full filter as subscribed ("$share/g/f" included) -> options.
    std::map<std::string, session_subscription, std::less<>> subscriptions;
    std::deque<queued_delivery> queue;
    std::uint64_t queued_bytes = 0;
    std::map<std::uint16_t, inflight_delivery> inflight;
    std::uint64_t next_seq = 1;
    std::uint16_t last_packet_id = 0;
    std::unordered_set<std::uint16_t> incoming_qos2; ///< PUBREC sent, PUBREL not yet received
    /// Increased on every attach and detach; timers (will delay, expiry) compare it to know
    /// whether the session was resumed in the meantime.
    std::uint64_t generation = 0;
    bool ended = false; ///< destroyed: removed from the map and the index
    /// Will waiting for its delay (v5 Will Delay Interval), published if the session is not
    /// resumed in time, or when the session ends, whichever comes first.
    std::optional<mqtt::will_message> pending_will;
};

using session_ptr = std::shared_ptr<session>;

} // namespace thinggate::broker
