#pragma once
// broker/session_types: the deliveries a session holds (queued, in flight). Internal to broker/.
// Thread safety: plain values, touched on the session's shard.

#include <cstdint>
#include <vector>

#include "broker/message.hpp"
#include "mqtt/packet.hpp"

namespace thinggate::broker {

/// A message waiting to be sent (session offline or outbound window full).
struct queued_delivery {
    message_ptr msg;
    mqtt::qos qos = mqtt::qos::at_most_once;   ///< min(published, granted)
    bool retain = false;                        ///< RETAIN flag to send
    std::vector<std::uint32_t> subscription_ids;
    /// Key of its record in the store (queued or in flight), 0 = not stored. Given out from
    /// session::next_seq, so per session it follows the order in which messages were stored.
    std::uint64_t seq = 0;
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
    std::uint64_t seq = 0; ///< send order, for in-order redelivery on resume; the record's key
};

} // namespace thinggate::broker
