// SUBSCRIBE (§3.8), SUBACK (§3.9), UNSUBSCRIBE (§3.10), UNSUBACK (§3.11).

#include "mqtt/detail/wire.hpp"

namespace thinggate::mqtt::detail {

namespace {

reason_code read_packet_id(reader& r, std::uint16_t& id) {
    if (!r.u16(id)) {
        return reason_code::malformed_packet;
    }
    return id == 0 ? reason_code::malformed_packet // [MQTT-2.2.1-3]
                   : reason_code::success;
}

} // namespace

reason_code decode_subscribe(reader& r, bool v5, subscribe& out) {
    reason_code rc = read_packet_id(r, out.packet_id);
    if (rc != reason_code::success) {
        return rc;
    }
    if (v5) {
        rc = read_properties(r, prop_scope::subscribe, out.props);
        if (rc != reason_code::success) {
            return rc;
        }
    }
    if (r.empty()) {
        return reason_code::protocol_error; // at least one filter [MQTT-3.8.3-3]
    }
    while (!r.empty()) {
        subscribe_entry& e = out.entries.emplace_back();
        std::uint8_t options = 0;
        if (!r.utf8(e.filter) || !r.u8(options)) {
            return reason_code::malformed_packet;
        }
        const auto q = static_cast<std::uint8_t>(options & 0x03);
        if (v5) {
            if ((options & 0xC0) != 0) {
                return reason_code::malformed_packet; // reserved bits [MQTT-3.8.3-5]
            }
            if (q == 3) {
                return reason_code::protocol_error; // §3.8.3.1 Maximum QoS 3
            }
            e.options.no_local = (options & 0x04) != 0;
            e.options.retain_as_published = (options & 0x08) != 0;
            e.options.retain_handling = static_cast<std::uint8_t>((options >> 4) & 0x03);
            if (e.options.retain_handling == 3) {
                return reason_code::protocol_error; // §3.8.3.1 Retain Handling 3
            }
        } else {
            if ((options & 0xFC) != 0 || q == 3) {
                return reason_code::malformed_packet; // 3.1.1 [MQTT-3-8.3-4]
            }
        }
        e.options.max_qos = static_cast<qos>(q);
        bool shared = false;
        rc = check_filter(e.filter, shared);
        if (rc != reason_code::success) {
            return rc;
        }
        if (v5 && shared && e.options.no_local) {
            return reason_code::protocol_error; // [MQTT-3.8.3-4]
        }
    }
    return reason_code::success;
}

void write_body(const subscribe& p, bool v5, writer& w) {
    w.u16(p.packet_id);
    if (v5) {
        write_properties(p.props, prop_scope::subscribe, w);
    }
    for (const auto& e : p.entries) {
        w.str(e.filter);
        auto options = static_cast<std::uint8_t>(static_cast<std::uint8_t>(e.options.max_qos) & 3);
        if (v5) {
            if (e.options.no_local) {
                options |= 0x04;
            }
            if (e.options.retain_as_published) {
                options |= 0x08;
            }
            options |= static_cast<std::uint8_t>((e.options.retain_handling & 0x03) << 4);
        }
        w.u8(options);
    }
}

reason_code decode_suback(reader& r, bool v5, suback& out) {
    reason_code rc = read_packet_id(r, out.packet_id);
    if (rc != reason_code::success) {
        return rc;
    }
    if (v5) {
        rc = read_properties(r, prop_scope::suback, out.props);
        if (rc != reason_code::success) {
            return rc;
        }
    }
    if (r.empty()) {
        return reason_code::protocol_error; // one reason code per filter, and there is >= 1
    }
    out.reasons.reserve(r.remaining());
    while (!r.empty()) {
        std::uint8_t code = 0;
        r.u8(code);
        const bool ok = v5 ? valid_reason(packet_type::suback, code)
                           : (code <= 2 || code == 0x80); // 3.1.1 [MQTT-3.9.3-2]
        if (!ok) {
            return reason_code::malformed_packet;
        }
        out.reasons.push_back(static_cast<reason_code>(code));
    }
    return reason_code::success;
}

void write_body(const suback& p, bool v5, writer& w) {
    w.u16(p.packet_id);
    if (v5) {
        write_properties(p.props, prop_scope::suback, w);
    }
    for (const reason_code rc : p.reasons) {
        auto code = static_cast<std::uint8_t>(rc);
        if (!v5 && code > 2) {
            code = 0x80; // 3.1.1 knows only "Failure"
        }
        w.u8(code);
    }
}

reason_code decode_unsubscribe(reader& r, bool v5, unsubscribe& out) {
    reason_code rc = read_packet_id(r, out.packet_id);
    if (rc != reason_code::success) {
        return rc;
    }
    if (v5) {
        rc = read_properties(r, prop_scope::unsubscribe, out.props);
        if (rc != reason_code::success) {
            return rc;
        }
    }
    if (r.empty()) {
        return reason_code::protocol_error; // at least one filter [MQTT-3.10.3-2]
    }
    while (!r.empty()) {
        std::string& filter = out.filters.emplace_back();
        if (!r.utf8(filter)) {
            return reason_code::malformed_packet;
        }
        bool shared = false;
        rc = check_filter(filter, shared);
        if (rc != reason_code::success) {
            return rc;
        }
    }
    return reason_code::success;
}

void write_body(const unsubscribe& p, bool v5, writer& w) {
    w.u16(p.packet_id);
    if (v5) {
        write_properties(p.props, prop_scope::unsubscribe, w);
    }
    for (const auto& f : p.filters) {
        w.str(f);
    }
}

reason_code decode_unsuback(reader& r, bool v5, unsuback& out) {
    reason_code rc = read_packet_id(r, out.packet_id);
    if (rc != reason_code::success) {
        return rc;
    }
    if (!v5) {
        return r.empty() ? reason_code::success : reason_code::malformed_packet; // no payload
    }
    rc = read_properties(r, prop_scope::unsuback, out.props);
    if (rc != reason_code::success) {
        return rc;
    }
    if (r.empty()) {
        return reason_code::protocol_error; // one reason code per filter, and there is >= 1
    }
    out.reasons.reserve(r.remaining());
    while (!r.empty()) {
        std::uint8_t code = 0;
        r.u8(code);
        if (!valid_reason(packet_type::unsuback, code)) {
            return reason_code::malformed_packet;
        }
        out.reasons.push_back(static_cast<reason_code>(code));
    }
    return reason_code::success;
}

void write_body(const unsuback& p, bool v5, writer& w) {
    w.u16(p.packet_id);
    if (!v5) {
        return; // 3.1.1 UNSUBACK has no payload
    }
    write_properties(p.props, prop_scope::unsuback, w);
    for (const reason_code rc : p.reasons) {
        w.u8(static_cast<std::uint8_t>(rc));
    }
}

} // namespace thinggate::mqtt::detail
