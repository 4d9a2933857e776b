#pragma once
// tools/bench/publish_view: a non-owning look at an incoming PUBLISH (topic, packet id, payload)
// for the load tool's receive path, where mqtt::decode's copies of topic and payload would make
// the tool, not the broker, the bottleneck. Everything else is decoded with mqtt::decode.
// Owns: nothing. Must not use: I/O.
// Thread safety: free functions over caller-owned buffers.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "mqtt/codec.hpp"
#include "mqtt/packet.hpp"

namespace thinggate::bench {

struct publish_view {
    std::string_view topic;
    std::span<const std::uint8_t> payload;
    mqtt::qos qos = mqtt::qos::at_most_once;
    bool dup = false;
    bool retain = false;
    std::uint16_t packet_id = 0;
};

/// Views the PUBLISH whose fixed header is `header` and whose variable header and payload are
/// `body`. Checks lengths and QoS (not UTF-8 or properties beyond their length); nullopt when the
/// packet is not a PUBLISH or is malformed.
std::optional<publish_view> view_publish(
        const mqtt::frame_header& header,
        std::span<const std::uint8_t> body,
        mqtt::protocol_version version) noexcept;

} // namespace thinggate::bench
