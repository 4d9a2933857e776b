// CONNECT (§3.1) and CONNACK (§3.2).

#include "mqtt/detail/wire.hpp"

namespace thinggate::mqtt::detail {

namespace {

constexpr std::uint8_t flag_clean_start = 0x02;
constexpr std::uint8_t flag_will = 0x04;
constexpr std::uint8_t flag_will_retain = 0x20;
constexpr std::uint8_t flag_password = 0x40;
constexpr std::uint8_t flag_username = 0x80;

} // namespace

reason_code decode_connect(reader& r, connect& out) {
    std::string_view name;
    std::uint8_t level = 0;
    if (!r.length_prefixed(name) || !r.u8(level)) {
        return reason_code::malformed_packet;
    }
    if (name == "MQIsdp") {
        return reason_code::unsupported_protocol_version; // MQTT 3.1
    }
    if (name != "MQTT") {
        return reason_code::malformed_packet; // [MQTT-3.1.2-1]
    }
    if (level != 4 && level != 5) {
        return reason_code::unsupported_protocol_version; // [MQTT-3.1.2-2]
    }
    const bool v5 = level == 5;
    out.version = static_cast<protocol_version>(level);

    std::uint8_t flags = 0;
    if (!r.u8(flags) || !r.u16(out.keep_alive)) {
        return reason_code::malformed_packet;
    }
    if ((flags & 0x01) != 0) {
        return reason_code::malformed_packet; // reserved bit [MQTT-3.1.2-3]
    }
    out.clean_start = (flags & flag_clean_start) != 0;
    const bool has_will = (flags & flag_will) != 0;
    const auto will_qos = static_cast<std::uint8_t>((flags >> 3) & 0x03);
    const bool will_retain = (flags & flag_will_retain) != 0;
    const bool has_password = (flags & flag_password) != 0;
    const bool has_username = (flags & flag_username) != 0;
    if (!has_will && (will_qos != 0 || will_retain)) {
        return reason_code::malformed_packet; // [MQTT-3.1.2-11], [MQTT-3.1.2-13], [MQTT-3.1.2-15]
    }
    if (will_qos == 3) {
        return reason_code::malformed_packet; // [MQTT-3.1.2-14]
    }
    if (!v5 && has_password && !has_username) {
        return reason_code::malformed_packet; // 3.1.1 [MQTT-3.1.2-22]
    }
    if (v5) {
        const reason_code rc = read_properties(r, prop_scope::connect, out.props);
        if (rc != reason_code::success) {
            return rc;
        }
    }
    // An empty client id is valid syntax; whether it is acceptable is the broker's decision
    // [MQTT-3.1.3-6..8].
    if (!r.utf8(out.client_id)) {
        return reason_code::malformed_packet;
    }
    if (has_will) {
        will_message& will = out.will.emplace();
        will.qos = static_cast<qos>(will_qos);
        will.retain = will_retain;
        if (v5) {
            const reason_code rc = read_properties(r, prop_scope::will, will.props);
            if (rc != reason_code::success) {
                return rc;
            }
        }
        if (!r.utf8(will.topic)) {
            return reason_code::malformed_packet;
        }
        if (will.topic.empty() || !topic_name_syntax_ok(will.topic)) {
            return reason_code::malformed_packet; // [MQTT-3.1.3-11], [MQTT-3.3.2-2]
        }
        if (!r.binary(will.payload)) {
            return reason_code::malformed_packet;
        }
    }
    if (has_username && !r.utf8(out.username.emplace())) {
        return reason_code::malformed_packet;
    }
    if (has_password && !r.binary(out.password.emplace())) {
        return reason_code::malformed_packet;
    }
    if (!r.empty()) {
        return reason_code::malformed_packet;
    }
    return reason_code::success;
}

void write_body(const connect& p, bool /*v5*/, writer& w) {
    // The CONNECT states its own version; the connection's is not yet known.
    const bool v5 = p.version == protocol_version::v5;
    // 3.1.1 cannot carry a password without a user name [MQTT-3.1.2-22]: it is dropped.
    const bool with_password = p.password && (v5 || p.username);
    std::uint8_t flags = 0;
    if (p.clean_start) {
        flags |= flag_clean_start;
    }
    if (p.will) {
        flags |= flag_will;
        flags |= static_cast<std::uint8_t>((static_cast<std::uint8_t>(p.will->qos) & 0x03) << 3);
        if (p.will->retain) {
            flags |= flag_will_retain;
        }
    }
    if (with_password) {
        flags |= flag_password;
    }
    if (p.username) {
        flags |= flag_username;
    }
    w.str("MQTT");
    w.u8(v5 ? 5 : 4);
    w.u8(flags);
    w.u16(p.keep_alive);
    if (v5) {
        write_properties(p.props, prop_scope::connect, w);
    }
    w.str(p.client_id);
    if (p.will) {
        if (v5) {
            write_properties(p.will->props, prop_scope::will, w);
        }
        w.str(p.will->topic);
        w.str(p.will->payload);
    }
    if (p.username) {
        w.str(*p.username);
    }
    if (with_password) {
        w.str(*p.password);
    }
}

reason_code decode_connack(reader& r, bool v5, connack& out) {
    std::uint8_t flags = 0;
    std::uint8_t code = 0;
    if (!r.u8(flags) || !r.u8(code)) {
        return reason_code::malformed_packet;
    }
    if ((flags & 0xFE) != 0) {
        return reason_code::malformed_packet; // reserved bits [MQTT-3.2.2-1]
    }
    out.session_present = (flags & 0x01) != 0;
    if (v5) {
        if (!valid_reason(packet_type::connack, code)) {
            return reason_code::malformed_packet;
        }
        out.reason = static_cast<reason_code>(code);
        const reason_code rc = read_properties(r, prop_scope::connack, out.props);
        if (rc != reason_code::success) {
            return rc;
        }
    } else {
        if (code > 5) {
            return reason_code::malformed_packet; // reserved return codes (3.1.1 §3.2.2.3)
        }
        out.reason = from_v311_connack(code);
    }
    if (out.session_present && code != 0) {
        // [MQTT-3.2.2-4] (3.1.1), [MQTT-3.2.2-6] (5.0)
        return v5 ? reason_code::protocol_error : reason_code::malformed_packet;
    }
    if (!r.empty()) {
        return reason_code::malformed_packet;
    }
    return reason_code::success;
}

void write_body(const connack& p, bool v5, writer& w) {
    const std::uint8_t code = v5 ? static_cast<std::uint8_t>(p.reason) : to_v311_connack(p.reason);
    // Session Present is 0 with a refusal [MQTT-3.2.2-4], [MQTT-3.2.2-6].
    w.u8(p.session_present && code == 0 ? 1 : 0);
    w.u8(code);
    if (v5) {
        write_properties(p.props, prop_scope::connack, w);
    }
}

} // namespace thinggate::mqtt::detail
