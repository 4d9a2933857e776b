// PUBLISH (§3.3) and its acknowledgements PUBACK, PUBREC, PUBREL, PUBCOMP (§3.4–3.7).

#include <cstring>

#include "mqtt/detail/wire.hpp"

namespace thinggate::mqtt {

namespace detail {

namespace {

/// valid_utf8(t) && topic_name_syntax_ok(t), in one pass over a topic of ASCII without NUL and
/// without '+' or '#' (nearly every topic); anything else gets the two full checks.
bool topic_name_ok(std::string_view t) noexcept {
    constexpr std::uint64_t lo = 0x0101010101010101ULL;
    constexpr std::uint64_t hi = 0x8080808080808080ULL;
    const auto has_zero_byte = [](std::uint64_t x) noexcept { return ((x - lo) & ~x & hi) != 0; };
    const char* p = t.data();
    std::size_t n = t.size();
    for (; n >= 8; p += 8, n -= 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, p, 8);
        // A byte >= 0x80 or 0 sets a top bit in w | (w - lo) (valid_utf8's fast test).
        if (((w | (w - lo)) & hi) != 0 || has_zero_byte(w ^ (lo * '+')) ||
            has_zero_byte(w ^ (lo * '#'))) {
            return valid_utf8(t) && topic_name_syntax_ok(t);
        }
    }
    for (; n > 0; ++p, --n) {
        const auto c = static_cast<unsigned char>(*p);
        if (c == 0 || c >= 0x80 || c == '+' || c == '#') {
            return valid_utf8(t) && topic_name_syntax_ok(t);
        }
    }
    return true;
}

/// The topic, well-formed UTF-8 and without a wildcard [MQTT-3.3.2-2]: false = malformed (a
/// wildcard is not "correctly formed"; 0x90 is for names that are but are refused).
bool read_topic(reader& r, std::string& out) { return r.utf8(out) && topic_name_syntax_ok(out); }

bool read_topic(reader& r, std::string_view& out) {
    return r.length_prefixed(out) && topic_name_ok(out);
}

void set_payload(std::string& out, std::string_view payload) { out.assign(payload.data(), payload.size()); }

void set_payload(std::string_view& out, std::string_view payload) { out = payload; }

/// One decoder for both shapes: `publish` (owns its topic and payload) and `publish_view`.
template <typename P>
reason_code decode_publish_into(std::uint8_t flags, reader& r, bool v5, P& out) {
    const auto q = static_cast<std::uint8_t>((flags >> 1) & 0x03);
    if (q == 3) {
        return reason_code::malformed_packet; // [MQTT-3.3.1-4]
    }
    out.qos = static_cast<qos>(q);
    out.dup = (flags & 0x08) != 0;
    out.retain = (flags & 0x01) != 0;
    if (q == 0 && out.dup) {
        return reason_code::malformed_packet; // [MQTT-3.3.1-2]
    }
    if (!read_topic(r, out.topic)) {
        return reason_code::malformed_packet; // [MQTT-1.5.4-1..2] [MQTT-3.3.2-2]
    }
    if (q > 0) {
        if (!r.u16(out.packet_id)) {
            return reason_code::malformed_packet;
        }
        if (out.packet_id == 0) {
            return reason_code::malformed_packet; // [MQTT-2.2.1-3]
        }
    }
    if (v5) {
        const reason_code rc = read_properties(r, prop_scope::publish, out.props);
        if (rc != reason_code::success) {
            return rc;
        }
    }
    if (out.topic.empty()) {
        if (!v5) {
            return reason_code::malformed_packet; // at least one character [MQTT-4.7.3-1]
        }
        if (!out.props.topic_alias) {
            return reason_code::protocol_error; // §3.3.2.1: empty name needs a Topic Alias
        }
    }
    set_payload(out.payload, r.rest());
    return reason_code::success;
}

} // namespace

reason_code decode_publish(std::uint8_t flags, reader& r, bool v5, publish& out) {
    return decode_publish_into(flags, r, v5, out);
}

std::uint8_t publish_first_byte(qos qs, bool dup, bool retain) noexcept {
    const auto q = static_cast<std::uint8_t>(static_cast<std::uint8_t>(qs) & 0x03);
    std::uint8_t b = static_cast<std::uint8_t>(
            (static_cast<std::uint8_t>(packet_type::publish) << 4) | (q << 1));
    if (dup && q != 0) {
        b |= 0x08; // never DUP on QoS 0 [MQTT-3.3.1-2]
    }
    if (retain) {
        b |= 0x01;
    }
    return b;
}

std::uint8_t publish_first_byte(const publish& p) noexcept {
    return publish_first_byte(p.qos, p.dup, p.retain);
}

void write_publish_head_body(const publish& p, bool v5, writer& w) {
    w.str(p.topic);
    if (p.qos != qos::at_most_once) {
        w.u16(p.packet_id);
    }
    if (v5) {
        write_properties(p.props, prop_scope::publish, w);
    }
}

void write_body(const publish& p, bool v5, writer& w) {
    write_publish_head_body(p, v5, w);
    w.raw(p.payload);
}

reason_code decode_ack(
        packet_type type,
        reader& r,
        bool v5,
        std::uint16_t& packet_id,
        reason_code& reason,
        properties& props) {
    if (!r.u16(packet_id)) {
        return reason_code::malformed_packet;
    }
    if (packet_id == 0) {
        return reason_code::malformed_packet; // [MQTT-2.2.1-3]: no packet can be acknowledged
    }
    if (!v5 || r.empty()) {
        // 3.1.1: exactly the packet id. 5.0: Remaining Length 2 means success, no properties.
        return r.empty() ? reason_code::success : reason_code::malformed_packet;
    }
    std::uint8_t code = 0;
    r.u8(code);
    if (!valid_reason(type, code)) {
        return reason_code::malformed_packet;
    }
    reason = static_cast<reason_code>(code);
    if (r.empty()) {
        return reason_code::success; // Remaining Length 3: no properties (§3.4.2.2.1)
    }
    const reason_code rc = read_properties(r, prop_scope::ack, props);
    if (rc != reason_code::success) {
        return rc;
    }
    return r.empty() ? reason_code::success : reason_code::malformed_packet;
}

void write_ack_body(
        std::uint16_t packet_id, reason_code reason, const properties& props, bool v5, writer& w) {
    w.u16(packet_id);
    if (!v5) {
        return;
    }
    // The shortest form: the reason code only when it is not success or properties follow, the
    // property length only when there are properties (§3.4.2.1).
    const std::size_t props_size = property_list_size(props, prop_scope::ack);
    if (reason != reason_code::success || props_size != 0) {
        w.u8(static_cast<std::uint8_t>(reason));
    }
    if (props_size != 0) {
        write_properties(props, prop_scope::ack, props_size, w);
    }
}

} // namespace detail

reason_code decode_publish(
        const frame_header& header,
        std::span<const std::uint8_t> body,
        protocol_version version,
        publish_view& out) {
    if (header.type() != packet_type::publish || body.size() != header.remaining_length) {
        return reason_code::malformed_packet;
    }
    detail::reader r(body);
    return detail::decode_publish_into(header.flags(), r, version == protocol_version::v5, out);
}

namespace {

/// No property a PUBLISH can carry is set (the common routed message).
bool no_publish_properties(const properties& pr) noexcept {
    return !pr.payload_format_indicator && !pr.message_expiry_interval && !pr.content_type &&
           !pr.response_topic && !pr.correlation_data && pr.subscription_identifiers.empty() &&
           !pr.topic_alias && pr.user_properties.empty();
}

} // namespace

namespace {

std::size_t
plain_publish_body_size(std::size_t topic_size, qos q, protocol_version version) noexcept {
    return 2 + topic_size + (q != qos::at_most_once ? 2 : 0) +
           (version == protocol_version::v5 ? 1 : 0);
}

} // namespace

std::size_t plain_publish_head_size(
        std::size_t topic_size,
        qos q,
        std::size_t payload_size,
        protocol_version version) noexcept {
    const std::size_t body = plain_publish_body_size(topic_size, q, version);
    return 1 + detail::varint_size(static_cast<std::uint32_t>(body + payload_size)) + body;
}

void write_plain_publish_head(
        std::string_view topic,
        qos q,
        bool retain,
        bool dup,
        std::uint16_t packet_id,
        std::size_t payload_size,
        protocol_version version,
        char* out) noexcept {
    // One pass, sizes known: topic, packet id, and (v5) an empty property list.
    *out++ = static_cast<char>(detail::publish_first_byte(q, dup, retain));
    auto remaining = static_cast<std::uint32_t>(
            plain_publish_body_size(topic.size(), q, version) + payload_size);
    do {
        auto b = static_cast<std::uint8_t>(remaining & 0x7F);
        remaining >>= 7;
        if (remaining != 0) {
            b |= 0x80;
        }
        *out++ = static_cast<char>(b);
    } while (remaining != 0);
    *out++ = static_cast<char>(topic.size() >> 8);
    *out++ = static_cast<char>(topic.size() & 0xFF);
    if (!topic.empty()) {
        std::memcpy(out, topic.data(), topic.size());
        out += topic.size();
    }
    if (q != qos::at_most_once) {
        *out++ = static_cast<char>(packet_id >> 8);
        *out++ = static_cast<char>(packet_id & 0xFF);
    }
    if (version == protocol_version::v5) {
        *out = 0; // property length 0
    }
}

void encode_publish_head(
        const publish& p, std::size_t payload_size, protocol_version version, std::string& out) {
    const bool v5 = version == protocol_version::v5;
    if (no_publish_properties(p.props)) {
        const std::size_t n = plain_publish_head_size(p.topic.size(), p.qos, payload_size, version);
        const std::size_t at = out.size();
        out.resize(at + n);
        write_plain_publish_head(
                p.topic,
                p.qos,
                p.retain,
                p.dup,
                p.packet_id,
                payload_size,
                version,
                out.data() + at);
        return;
    }
    detail::writer counter;
    detail::write_publish_head_body(p, v5, counter);
    const auto remaining = static_cast<std::uint32_t>(counter.size() + payload_size);
    out.reserve(out.size() + 1 + detail::varint_size(remaining) + counter.size());
    detail::writer w(out);
    w.u8(detail::publish_first_byte(p));
    w.varint(remaining);
    detail::write_publish_head_body(p, v5, w);
}

} // namespace thinggate::mqtt
