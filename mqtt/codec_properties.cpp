// MQTT 5.0 properties (§2.2.2): the allowed-per-packet table, decoding with repetition and range
// checks, and encoding in identifier order.

#include "mqtt/detail/wire.hpp"

namespace thinggate::mqtt::detail {

namespace {

enum property_id : std::uint8_t {
    payload_format_indicator = 0x01,
    message_expiry_interval = 0x02,
    content_type = 0x03,
    response_topic = 0x08,
    correlation_data = 0x09,
    subscription_identifier = 0x0B,
    session_expiry_interval = 0x11,
    assigned_client_identifier = 0x12,
    server_keep_alive = 0x13,
    authentication_method = 0x15,
    authentication_data = 0x16,
    request_problem_information = 0x17,
    will_delay_interval = 0x18,
    request_response_information = 0x19,
    response_information = 0x1A,
    server_reference = 0x1C,
    reason_string = 0x1F,
    receive_maximum = 0x21,
    topic_alias_maximum = 0x22,
    topic_alias = 0x23,
    maximum_qos = 0x24,
    retain_available = 0x25,
    user_property = 0x26,
    maximum_packet_size = 0x27,
    wildcard_subscription_available = 0x28,
    subscription_identifier_available = 0x29,
    shared_subscription_available = 0x2A,
};

constexpr std::uint64_t bit(unsigned id) noexcept {
    return std::uint64_t{1} << id;
}

template <typename... Ids>
constexpr std::uint64_t mask(Ids... ids) noexcept {
    return (bit(ids) | ...);
}

constexpr std::uint64_t defined_ids =
        mask(payload_format_indicator,
             message_expiry_interval,
             content_type,
             response_topic,
             correlation_data,
             subscription_identifier,
             session_expiry_interval,
             assigned_client_identifier,
             server_keep_alive,
             authentication_method,
             authentication_data,
             request_problem_information,
             will_delay_interval,
             request_response_information,
             response_information,
             server_reference,
             reason_string,
             receive_maximum,
             topic_alias_maximum,
             topic_alias,
             maximum_qos,
             retain_available,
             user_property,
             maximum_packet_size,
             wildcard_subscription_available,
             subscription_identifier_available,
             shared_subscription_available);

// MQTT 5.0 §2.2.2.2, indexed by prop_scope.
constexpr std::uint64_t allowed_ids[] = {
        // connect
        mask(session_expiry_interval,
             authentication_method,
             authentication_data,
             request_problem_information,
             request_response_information,
             receive_maximum,
             topic_alias_maximum,
             user_property,
             maximum_packet_size),
        // connack
        mask(session_expiry_interval,
             assigned_client_identifier,
             server_keep_alive,
             authentication_method,
             authentication_data,
             response_information,
             server_reference,
             reason_string,
             receive_maximum,
             topic_alias_maximum,
             maximum_qos,
             retain_available,
             user_property,
             maximum_packet_size,
             wildcard_subscription_available,
             subscription_identifier_available,
             shared_subscription_available),
        // publish
        mask(payload_format_indicator,
             message_expiry_interval,
             content_type,
             response_topic,
             correlation_data,
             subscription_identifier,
             topic_alias,
             user_property),
        // will
        mask(payload_format_indicator,
             message_expiry_interval,
             content_type,
             response_topic,
             correlation_data,
             will_delay_interval,
             user_property),
        // ack
        mask(reason_string, user_property),
        // subscribe
        mask(subscription_identifier, user_property),
        // suback
        mask(reason_string, user_property),
        // unsubscribe
        mask(user_property),
        // unsuback
        mask(reason_string, user_property),
        // disconnect
        mask(session_expiry_interval, server_reference, reason_string, user_property),
        // auth
        mask(authentication_method, authentication_data, reason_string, user_property),
};

constexpr std::uint64_t allowed_for(prop_scope scope) noexcept {
    return allowed_ids[static_cast<std::size_t>(scope)];
}

// Byte properties whose only values are 0 and 1; anything else is a Protocol Error (§3.1.2.11,
// §3.2.2.3, §3.3.2.3.2).
constexpr std::uint64_t boolean_ids =
        mask(payload_format_indicator,
             request_problem_information,
             request_response_information,
             maximum_qos,
             retain_available,
             wildcard_subscription_available,
             subscription_identifier_available,
             shared_subscription_available);

reason_code read_byte(reader& r, std::uint8_t id, std::optional<std::uint8_t>& out) {
    std::uint8_t v = 0;
    if (!r.u8(v)) {
        return reason_code::malformed_packet;
    }
    if ((boolean_ids & bit(id)) != 0 && v > 1) {
        return reason_code::protocol_error;
    }
    out = v;
    return reason_code::success;
}

/// A two- or four-byte integer property; 0 is a Protocol Error where the property forbids it.
template <class UInt>
reason_code read_uint(reader& r, std::optional<UInt>& out, bool zero_allowed) {
    UInt v = 0;
    bool ok = false;
    if constexpr (sizeof(UInt) == 2) {
        ok = r.u16(v);
    } else {
        ok = r.u32(v);
    }
    if (!ok) {
        return reason_code::malformed_packet;
    }
    if (v == 0 && !zero_allowed) {
        return reason_code::protocol_error;
    }
    out = v;
    return reason_code::success;
}

reason_code read_string(reader& r, std::optional<std::string>& out) {
    std::string v;
    if (!r.utf8(v)) {
        return reason_code::malformed_packet;
    }
    out = std::move(v);
    return reason_code::success;
}

reason_code read_binary(reader& r, std::optional<binary>& out) {
    binary v;
    if (!r.binary(v)) {
        return reason_code::malformed_packet;
    }
    out = std::move(v);
    return reason_code::success;
}

reason_code read_one(reader& r, std::uint8_t id, properties& out) {
    switch (id) {
    case payload_format_indicator:
        return read_byte(r, id, out.payload_format_indicator);
    case message_expiry_interval:
        return read_uint(r, out.message_expiry_interval, true);
    case content_type:
        return read_string(r, out.content_type);
    case response_topic: {
        const reason_code rc = read_string(r, out.response_topic);
        if (rc != reason_code::success) {
            return rc;
        }
        // A Response Topic is a Topic Name: no wildcards, not empty [MQTT-3.3.2-13..14].
        if (out.response_topic->empty() || !topic_name_syntax_ok(*out.response_topic)) {
            return reason_code::protocol_error;
        }
        return reason_code::success;
    }
    case correlation_data:
        return read_binary(r, out.correlation_data);
    case subscription_identifier: {
        std::uint32_t v = 0;
        if (!r.varint(v)) {
            return reason_code::malformed_packet;
        }
        if (v == 0) {
            return reason_code::protocol_error; // §3.3.2.3.8, §3.8.2.1.2
        }
        out.subscription_identifiers.push_back(v);
        return reason_code::success;
    }
    case session_expiry_interval:
        return read_uint(r, out.session_expiry_interval, true);
    case assigned_client_identifier:
        return read_string(r, out.assigned_client_identifier);
    case server_keep_alive:
        return read_uint(r, out.server_keep_alive, true);
    case authentication_method:
        return read_string(r, out.authentication_method);
    case authentication_data:
        return read_binary(r, out.authentication_data);
    case request_problem_information:
        return read_byte(r, id, out.request_problem_information);
    case will_delay_interval:
        return read_uint(r, out.will_delay_interval, true);
    case request_response_information:
        return read_byte(r, id, out.request_response_information);
    case response_information:
        return read_string(r, out.response_information);
    case server_reference:
        return read_string(r, out.server_reference);
    case reason_string:
        return read_string(r, out.reason_string);
    case receive_maximum:
        return read_uint(r, out.receive_maximum, false); // §3.1.2.11.3
    case topic_alias_maximum:
        return read_uint(r, out.topic_alias_maximum, true);
    // Alias 0 and aliases above the maximum are the session's topic_alias_invalid decision.
    case topic_alias:
        return read_uint(r, out.topic_alias, true);
    case maximum_qos:
        return read_byte(r, id, out.maximum_qos);
    case retain_available:
        return read_byte(r, id, out.retain_available);
    case user_property: {
        mqtt::user_property up;
        if (!r.utf8(up.key) || !r.utf8(up.value)) {
            return reason_code::malformed_packet;
        }
        out.user_properties.push_back(std::move(up));
        return reason_code::success;
    }
    case maximum_packet_size:
        return read_uint(r, out.maximum_packet_size, false); // §3.1.2.11.4
    case wildcard_subscription_available:
        return read_byte(r, id, out.wildcard_subscription_available);
    case subscription_identifier_available:
        return read_byte(r, id, out.subscription_identifier_available);
    case shared_subscription_available:
        return read_byte(r, id, out.shared_subscription_available);
    default:
        return reason_code::malformed_packet;
    }
}

void put_value(writer& w, std::uint8_t v) {
    w.u8(v);
}

void put_value(writer& w, std::uint16_t v) {
    w.u16(v);
}

void put_value(writer& w, std::uint32_t v) {
    w.u32(v);
}

void put_value(writer& w, const std::string& v) {
    w.str(v);
}

// `Allowed` is a template argument so that properties the scope does not allow cost nothing: an
// ack's list looks at two fields, not 27.
template <std::uint64_t Allowed, std::uint8_t Id, typename T>
void put(writer& w, const std::optional<T>& v) {
    if constexpr ((Allowed & bit(Id)) != 0) {
        if (v) {
            w.u8(Id);
            put_value(w, *v);
        }
    }
}

template <prop_scope Scope>
void write_list_for(const properties& p, writer& w) {
    constexpr std::uint64_t a = allowed_for(Scope);
    put<a, payload_format_indicator>(w, p.payload_format_indicator);
    put<a, message_expiry_interval>(w, p.message_expiry_interval);
    put<a, content_type>(w, p.content_type);
    put<a, response_topic>(w, p.response_topic);
    put<a, correlation_data>(w, p.correlation_data);
    if constexpr ((a & bit(subscription_identifier)) != 0) {
        for (const std::uint32_t id : p.subscription_identifiers) {
            w.u8(subscription_identifier);
            w.varint(id);
        }
    }
    put<a, session_expiry_interval>(w, p.session_expiry_interval);
    put<a, assigned_client_identifier>(w, p.assigned_client_identifier);
    put<a, server_keep_alive>(w, p.server_keep_alive);
    put<a, authentication_method>(w, p.authentication_method);
    put<a, authentication_data>(w, p.authentication_data);
    put<a, request_problem_information>(w, p.request_problem_information);
    put<a, will_delay_interval>(w, p.will_delay_interval);
    put<a, request_response_information>(w, p.request_response_information);
    put<a, response_information>(w, p.response_information);
    put<a, server_reference>(w, p.server_reference);
    put<a, reason_string>(w, p.reason_string);
    put<a, receive_maximum>(w, p.receive_maximum);
    put<a, topic_alias_maximum>(w, p.topic_alias_maximum);
    put<a, topic_alias>(w, p.topic_alias);
    put<a, maximum_qos>(w, p.maximum_qos);
    put<a, retain_available>(w, p.retain_available);
    if constexpr ((a & bit(user_property)) != 0) {
        for (const auto& up : p.user_properties) {
            w.u8(user_property);
            w.str(up.key);
            w.str(up.value);
        }
    }
    put<a, maximum_packet_size>(w, p.maximum_packet_size);
    put<a, wildcard_subscription_available>(w, p.wildcard_subscription_available);
    put<a, subscription_identifier_available>(w, p.subscription_identifier_available);
    put<a, shared_subscription_available>(w, p.shared_subscription_available);
}

void write_list(const properties& p, prop_scope scope, writer& w) {
    switch (scope) {
    case prop_scope::connect:
        return write_list_for<prop_scope::connect>(p, w);
    case prop_scope::connack:
        return write_list_for<prop_scope::connack>(p, w);
    case prop_scope::publish:
        return write_list_for<prop_scope::publish>(p, w);
    case prop_scope::will:
        return write_list_for<prop_scope::will>(p, w);
    case prop_scope::ack:
        return write_list_for<prop_scope::ack>(p, w);
    case prop_scope::subscribe:
        return write_list_for<prop_scope::subscribe>(p, w);
    case prop_scope::suback:
        return write_list_for<prop_scope::suback>(p, w);
    case prop_scope::unsubscribe:
        return write_list_for<prop_scope::unsubscribe>(p, w);
    case prop_scope::unsuback:
        return write_list_for<prop_scope::unsuback>(p, w);
    case prop_scope::disconnect:
        return write_list_for<prop_scope::disconnect>(p, w);
    case prop_scope::auth:
        return write_list_for<prop_scope::auth>(p, w);
    }
}

} // namespace

reason_code read_properties(reader& r, prop_scope scope, properties& out) {
    std::uint32_t length = 0;
    reader pr;
    if (!r.varint(length) || !r.sub(length, pr)) {
        return reason_code::malformed_packet;
    }
    const std::uint64_t allowed = allowed_for(scope);
    std::uint64_t seen = 0;
    while (!pr.empty()) {
        std::uint8_t id = 0;
        pr.u8(id);
        // Identifiers are Variable Byte Integers, but every defined one fits in the first byte;
        // anything else is undefined and the rest of the packet cannot be parsed.
        if (id >= 64 || (defined_ids & bit(id)) == 0) {
            return reason_code::malformed_packet;
        }
        if ((allowed & bit(id)) == 0) {
            // §2.2.2.2: an identifier not valid for the packet kind makes it a Malformed Packet.
            return reason_code::malformed_packet;
        }
        const bool repeatable = id == user_property ||
                                (id == subscription_identifier && scope == prop_scope::publish);
        if ((seen & bit(id)) != 0 && !repeatable) {
            return reason_code::protocol_error; // [MQTT-2.2.2-2]: at most once
        }
        seen |= bit(id);
        const reason_code rc = read_one(pr, id, out);
        if (rc != reason_code::success) {
            return rc;
        }
    }
    // Authentication Data without Authentication Method (§3.1.2.11.10, §3.2.2.3.18).
    if (out.authentication_data && !out.authentication_method) {
        return reason_code::protocol_error;
    }
    return reason_code::success;
}

std::size_t property_list_size(const properties& p, prop_scope scope) {
    writer counter;
    write_list(p, scope, counter);
    return counter.size();
}

void write_properties(const properties& p, prop_scope scope, std::size_t list_size, writer& w) {
    w.varint(static_cast<std::uint32_t>(list_size));
    if (w.counting()) {
        w.skip(list_size);
    } else if (list_size != 0) {
        write_list(p, scope, w);
    }
}

void write_properties(const properties& p, prop_scope scope, writer& w) {
    write_properties(p, scope, property_list_size(p, scope), w);
}

} // namespace thinggate::mqtt::detail
