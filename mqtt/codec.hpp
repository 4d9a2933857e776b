#pragma once
// mqtt/codec: sans-I/O encoding and decoding of MQTT 3.1.1 and 5.0 packets with strict validation.
// Owns: the wire format. Must not use: I/O, clocks, Asio, allocation beyond the decoded values.
// Thread safety: free functions over caller-owned buffers; safe from any thread.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include <boost/system/result.hpp>

#include "mqtt/packet.hpp"

namespace thinggate::mqtt {

/// Largest value the Remaining Length field can encode (§1.5.5).
inline constexpr std::uint32_t max_remaining_length = 268'435'455;

/// Fixed header of one packet found at the start of a byte buffer.
struct frame_header {
    std::uint8_t first_byte = 0;        // packet type (high nibble) and flags (low nibble)
    std::uint32_t remaining_length = 0; // length of variable header + payload
    std::uint8_t header_size = 0;       // 2..5 bytes: first byte + length bytes

    packet_type type() const noexcept { return static_cast<packet_type>(first_byte >> 4); }
    std::uint8_t flags() const noexcept { return first_byte & 0x0F; }
    std::size_t total_size() const noexcept { return header_size + std::size_t{remaining_length}; }
};

enum class frame_status {
    incomplete, // not enough bytes yet for the fixed header or the whole packet
    complete,   // header is valid and data holds total_size() bytes
};

/// Finds the packet at the start of `data`.
/// Errors: malformed_packet (Remaining Length over 4 bytes or non-minimal [MQTT-1.5.5-1]),
/// packet_too_large (total size above `max_packet_size`, checked as soon as the length is known,
/// before the body has arrived). Returns incomplete while more bytes are needed.
boost::system::result<frame_status> parse_frame(
        std::span<const std::uint8_t> data,
        std::uint32_t max_packet_size,
        frame_header& out) noexcept;

/// Decodes one packet's variable header and payload.
/// `version` is the connection's negotiated version; for CONNECT it is ignored (the packet says).
/// Validates everything the specification requires of the receiver: fixed-header flags
/// [MQTT-2.1.3-1], QoS 3 [MQTT-3.3.1-4], packet id non-zero [MQTT-2.2.1-3], UTF-8 well-formed with no
/// U+0000 or surrogates [MQTT-1.5.4-1..2], topic names without wildcards [MQTT-3.3.2-2], filter syntax
/// [MQTT-4.7.1-1..2], shared-subscription syntax, property identifiers allowed for the packet kind and
/// not repeated [MQTT-2.2.2-2], reserved bits zero, lengths consistent with the remaining length.
/// Errors are reason codes: malformed_packet (including topic-name and filter syntax and properties
/// not valid for the packet kind, §2.2.2.2), protocol_error, unsupported_protocol_version (CONNECT
/// only). topic_name_invalid, topic_filter_invalid and qos_not_supported are broker decisions about
/// well-formed input, never the codec's.
boost::system::result<packet> decode(
        const frame_header& header,
        std::span<const std::uint8_t> body,
        protocol_version version);

/// A PUBLISH decoded without copying its topic and payload: both are views into the bytes given
/// to decode_publish (valid while those are). For the broker's hot path: the bytes are copied
/// once, into the routed message.
struct publish_view {
    std::string_view topic; // may be empty in v5 when a topic alias is used
    std::string_view payload;
    mqtt::qos qos = qos::at_most_once;
    bool retain = false;
    bool dup = false;
    std::uint16_t packet_id = 0;
    properties props;
};

/// decode() for a PUBLISH (header.type() must be publish), with the same validation and the
/// same errors, into a view. Returns success or the reason code of the failure.
reason_code decode_publish(
        const frame_header& header,
        std::span<const std::uint8_t> body,
        protocol_version version,
        publish_view& out);

/// Appends the encoded packet to `out`. Properties are written for v5 only; a v3.1.1 encoding maps
/// reason codes (CONNACK return codes, SUBACK 0x80) and drops what 3.1.1 cannot carry.
void encode(const packet& p, protocol_version version, std::string& out);

/// Encodes only the fixed header, topic, packet id and properties of a PUBLISH, for scatter-gather
/// writes where the (shared) payload follows in a second buffer. `out` receives the head only.
void encode_publish_head(const publish& p, std::size_t payload_size, protocol_version version, std::string& out);

/// A PUBLISH head without properties (v5: an empty property list), the shape of most routed
/// deliveries: its size, then the head itself written at `out` (exactly that many bytes,
/// byte for byte what encode_publish_head writes for such a packet). No allocation, for writing
/// straight into an output buffer. `topic.size()` + `payload_size` must fit a packet.
std::size_t plain_publish_head_size(
        std::size_t topic_size, qos q, std::size_t payload_size, protocol_version version) noexcept;
void write_plain_publish_head(
        std::string_view topic,
        qos q,
        bool retain,
        bool dup,
        std::uint16_t packet_id,
        std::size_t payload_size,
        protocol_version version,
        char* out) noexcept;

/// Exact encoded size of `p` (what encode would append).
std::size_t encoded_size(const packet& p, protocol_version version);

/// Appends a Variable Byte Integer (§1.5.5). `value` must be <= max_remaining_length.
void encode_varint(std::uint32_t value, std::string& out);

/// True when `s` is well-formed UTF-8 without U+0000 and without surrogates [MQTT-1.5.4-1..2].
/// (Control characters and non-characters are allowed, per [MQTT-1.5.4-3].)
bool valid_utf8(std::string_view s) noexcept;

} // namespace thinggate::mqtt
