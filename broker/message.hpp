#pragma once
// broker/message: the immutable message that one routed PUBLISH becomes, shared by every delivery.
// Owns: the shape of a routed message. Must not use: I/O.
// Thread safety: immutable after construction; shared between shards by shared_ptr<const message>.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mqtt/packet.hpp"

namespace thinggate::broker {

using clock = std::chrono::steady_clock;

struct message {
    std::string topic;
    mqtt::binary payload;
    mqtt::qos qos = mqtt::qos::at_most_once; // QoS as published
    bool retain = false;                     // RETAIN flag as published
    /// Properties forwarded to subscribers: payload format, content type, response topic,
    /// correlation data, user properties. Never topic alias or subscription identifiers.
    mqtt::properties props;
    /// Absolute expiry from the Message Expiry Interval; nullopt = never expires.
    std::optional<clock::time_point> expires_at;
    /// Publisher's session key (for No Local); 0 for messages made by the broker itself.
    std::uint64_t origin = 0;

    bool expired(clock::time_point now) const noexcept { return expires_at && now >= *expires_at; }
};

using message_ptr = std::shared_ptr<const message>;

} // namespace thinggate::broker
