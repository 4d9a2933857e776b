// Entry points of the codec: decode dispatch by packet type, encode and encoded_size, and the
// packets without a file of their own (PINGREQ, PINGRESP, DISCONNECT, AUTH).

#include "mqtt/codec.hpp"

#include <type_traits>

#include "mqtt/detail/wire.hpp"

namespace thinggate::mqtt {

namespace {

using detail::reader;
using detail::writer;

/// Fixed-header flags every packet but PUBLISH must carry [MQTT-2.1.3-1].
constexpr std::uint8_t required_flags(packet_type t) noexcept {
    switch (t) {
    case packet_type::pubrel:
    case packet_type::subscribe:
    case packet_type::unsubscribe:
        return 0x02;
    default:
        return 0x00;
    }
}

reason_code decode_disconnect(reader& r, bool v5, disconnect& out) {
    if (!v5 || r.empty()) {
        // 5.0: Remaining Length 0 means normal disconnection without properties (§3.14.2.1).
        return r.empty() ? reason_code::success : reason_code::malformed_packet;
    }
    std::uint8_t code = 0;
    r.u8(code);
    if (!detail::valid_reason(packet_type::disconnect, code)) {
        return reason_code::malformed_packet;
    }
    out.reason = static_cast<reason_code>(code);
    if (r.empty()) {
        return reason_code::success; // Remaining Length 1: property length 0 (§3.14.2.2.1)
    }
    const reason_code rc = detail::read_properties(r, detail::prop_scope::disconnect, out.props);
    if (rc != reason_code::success) {
        return rc;
    }
    return r.empty() ? reason_code::success : reason_code::malformed_packet;
}

reason_code decode_auth(reader& r, auth& out) {
    if (r.empty()) {
        return reason_code::success; // Remaining Length 0: success, no properties (§3.15.2.1)
    }
    std::uint8_t code = 0;
    r.u8(code);
    if (!detail::valid_reason(packet_type::auth, code)) {
        return reason_code::malformed_packet;
    }
    out.reason = static_cast<reason_code>(code);
    const reason_code rc = detail::read_properties(r, detail::prop_scope::auth, out.props);
    if (rc != reason_code::success) {
        return rc;
    }
    return r.empty() ? reason_code::success : reason_code::malformed_packet;
}

template <typename P, typename F>
boost::system::result<packet> run(F&& f) {
    packet p{std::in_place_type<P>};
    const reason_code rc = f(std::get<P>(p));
    if (rc != reason_code::success) {
        return make_error_code(rc);
    }
    return p;
}

// Body writers for the packets defined here and the thin wrappers over the shared ack shape.
void write_body(const pingreq&, bool, writer&) {}

void write_body(const pingresp&, bool, writer&) {}

void write_body(const disconnect& p, bool v5, writer& w) {
    if (!v5) {
        return;
    }
    const std::size_t props_size =
            detail::property_list_size(p.props, detail::prop_scope::disconnect);
    if (p.reason == reason_code::normal_disconnection && props_size == 0) {
        return; // Remaining Length 0
    }
    w.u8(static_cast<std::uint8_t>(p.reason));
    if (props_size != 0) {
        detail::write_properties(p.props, detail::prop_scope::disconnect, props_size, w);
    }
}

void write_body(const auth& p, bool v5, writer& w) {
    // AUTH does not exist in 3.1.1; there it is only a fixed header.
    if (!v5) {
        return;
    }
    const std::size_t props_size = detail::property_list_size(p.props, detail::prop_scope::auth);
    if (p.reason == reason_code::success && props_size == 0) {
        return; // Remaining Length 0
    }
    w.u8(static_cast<std::uint8_t>(p.reason));
    detail::write_properties(p.props, detail::prop_scope::auth, props_size, w);
}

template <packet_type T>
void write_body(const basic_ack<T>& p, bool v5, writer& w) {
    detail::write_ack_body(p.packet_id, p.reason, p.props, v5, w);
}

/// Index of alternative P in `packet`; the packet type is index + 1.
template <typename P, std::size_t I = 0>
constexpr std::size_t index_of() noexcept {
    if constexpr (std::is_same_v<std::variant_alternative_t<I, packet>, P>) {
        return I;
    } else {
        return index_of<P, I + 1>();
    }
}

template <typename P>
std::uint8_t first_byte(const P& p) noexcept {
    if constexpr (std::is_same_v<P, publish>) {
        return detail::publish_first_byte(p);
    } else {
        constexpr auto type = static_cast<packet_type>(index_of<P>() + 1);
        return static_cast<std::uint8_t>(
                (static_cast<std::uint8_t>(type) << 4) | required_flags(type));
    }
}

std::size_t body_size(const packet& p, bool v5) {
    return std::visit(
            [v5](const auto& x) {
                writer counter;
                write_body(x, v5, counter);
                return counter.size();
            },
            p);
}

} // namespace

boost::system::result<packet>
decode(const frame_header& header, std::span<const std::uint8_t> body, protocol_version version) {
    if (body.size() != header.remaining_length) {
        return make_error_code(reason_code::malformed_packet);
    }
    const packet_type type = header.type();
    const std::uint8_t flags = header.flags();
    if (type != packet_type::publish && flags != required_flags(type)) {
        return make_error_code(reason_code::malformed_packet); // [MQTT-2.1.3-1]
    }
    const bool v5 = version == protocol_version::v5;
    reader r(body);
    switch (type) {
    case packet_type::connect:
        return run<connect>([&](connect& p) { return detail::decode_connect(r, p); });
    case packet_type::connack:
        return run<connack>([&](connack& p) { return detail::decode_connack(r, v5, p); });
    case packet_type::publish:
        return run<publish>([&](publish& p) { return detail::decode_publish(flags, r, v5, p); });
    case packet_type::puback:
        return run<puback>([&](puback& p) {
            return detail::decode_ack(type, r, v5, p.packet_id, p.reason, p.props);
        });
    case packet_type::pubrec:
        return run<pubrec>([&](pubrec& p) {
            return detail::decode_ack(type, r, v5, p.packet_id, p.reason, p.props);
        });
    case packet_type::pubrel:
        return run<pubrel>([&](pubrel& p) {
            return detail::decode_ack(type, r, v5, p.packet_id, p.reason, p.props);
        });
    case packet_type::pubcomp:
        return run<pubcomp>([&](pubcomp& p) {
            return detail::decode_ack(type, r, v5, p.packet_id, p.reason, p.props);
        });
    case packet_type::subscribe:
        return run<subscribe>([&](subscribe& p) { return detail::decode_subscribe(r, v5, p); });
    case packet_type::suback:
        return run<suback>([&](suback& p) { return detail::decode_suback(r, v5, p); });
    case packet_type::unsubscribe:
        return run<unsubscribe>(
                [&](unsubscribe& p) { return detail::decode_unsubscribe(r, v5, p); });
    case packet_type::unsuback:
        return run<unsuback>([&](unsuback& p) { return detail::decode_unsuback(r, v5, p); });
    case packet_type::pingreq:
        return run<pingreq>([&](pingreq&) {
            return r.empty() ? reason_code::success : reason_code::malformed_packet;
        });
    case packet_type::pingresp:
        return run<pingresp>([&](pingresp&) {
            return r.empty() ? reason_code::success : reason_code::malformed_packet;
        });
    case packet_type::disconnect:
        return run<disconnect>([&](disconnect& p) { return decode_disconnect(r, v5, p); });
    case packet_type::auth:
        if (!v5) {
            return make_error_code(reason_code::malformed_packet); // type 15 is reserved in 3.1.1
        }
        return run<auth>([&](auth& p) { return decode_auth(r, p); });
    }
    return make_error_code(reason_code::malformed_packet); // type 0 is reserved
}

void encode(const packet& p, protocol_version version, std::string& out) {
    const bool v5 = version == protocol_version::v5;
    std::visit(
            [v5, &out](const auto& x) {
                writer counter;
                write_body(x, v5, counter);
                const auto remaining = static_cast<std::uint32_t>(counter.size());
                out.reserve(out.size() + 1 + detail::varint_size(remaining) + remaining);
                writer w(out);
                w.u8(first_byte(x));
                w.varint(remaining);
                write_body(x, v5, w);
            },
            p);
}

std::size_t encoded_size(const packet& p, protocol_version version) {
    const std::size_t body = body_size(p, version == protocol_version::v5);
    return 1 + detail::varint_size(static_cast<std::uint32_t>(body)) + body;
}

} // namespace thinggate::mqtt
