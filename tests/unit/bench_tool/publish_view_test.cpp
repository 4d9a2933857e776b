// view_publish against packets encoded by mqtt::encode, for both versions and every QoS.

#include "tools/bench/publish_view.hpp"

#include <cstdint>
#include <span>
#include <string>

#include <doctest/doctest.h>

#include "mqtt/codec.hpp"

namespace thinggate::bench {
namespace {

std::span<const std::uint8_t> bytes(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

TEST_CASE("view_publish: agrees with the codec for 3.1.1 and 5, QoS 0..2") {
    for (auto version : {mqtt::protocol_version::v311, mqtt::protocol_version::v5}) {
        for (auto q :
             {mqtt::qos::at_most_once, mqtt::qos::at_least_once, mqtt::qos::exactly_once}) {
            CAPTURE(static_cast<int>(version));
            CAPTURE(static_cast<int>(q));
            mqtt::publish p;
            p.topic = "tgbench/run/in/7";
            p.payload = std::string(300, 'x');
            p.qos = q;
            p.retain = true;
            p.dup = q != mqtt::qos::at_most_once;
            p.packet_id = q == mqtt::qos::at_most_once ? 0 : 4242;
            if (version == mqtt::protocol_version::v5) {
                p.props.message_expiry_interval = 60;
                p.props.user_properties.push_back({"k", "v"});
            }
            std::string wire;
            mqtt::encode(p, version, wire);
            mqtt::frame_header h;
            auto st = mqtt::parse_frame(bytes(wire), 1 << 20, h);
            REQUIRE(st.has_value());
            REQUIRE(*st == mqtt::frame_status::complete);
            auto v = view_publish(h, bytes(wire).subspan(h.header_size), version);
            REQUIRE(v.has_value());
            CHECK(v->topic == p.topic);
            CHECK(v->qos == q);
            CHECK(v->retain);
            CHECK(v->dup == p.dup);
            CHECK(v->packet_id == p.packet_id);
            CHECK(std::string(v->payload.begin(), v->payload.end()) == p.payload);
        }
    }
}

TEST_CASE("view_publish: truncated or malformed input is refused, never read past the end") {
    mqtt::publish p;
    p.topic = "a/b";
    p.payload = "0123456789abcdef";
    p.qos = mqtt::qos::at_least_once;
    p.packet_id = 1;
    std::string wire;
    mqtt::encode(p, mqtt::protocol_version::v5, wire);
    mqtt::frame_header h;
    REQUIRE(mqtt::parse_frame(bytes(wire), 1 << 20, h).has_value());
    const auto body = bytes(wire).subspan(h.header_size);
    // Every prefix shorter than topic + packet id + property length fails cleanly.
    for (std::size_t n = 0; n < 2 + 3 + 2 + 1; ++n) {
        CHECK_FALSE(view_publish(h, body.first(n), mqtt::protocol_version::v5).has_value());
    }
    mqtt::frame_header q3 = h;
    q3.first_byte = 0x36; // QoS 3
    CHECK_FALSE(view_publish(q3, body, mqtt::protocol_version::v5).has_value());
    mqtt::frame_header ack = h;
    ack.first_byte = 0x40; // PUBACK
    CHECK_FALSE(view_publish(ack, body, mqtt::protocol_version::v5).has_value());
    std::string zero_id = wire;
    zero_id[h.header_size + 2 + 3] = 0;
    zero_id[h.header_size + 2 + 3 + 1] = 0;
    CHECK_FALSE(view_publish(h, bytes(zero_id).subspan(h.header_size), mqtt::protocol_version::v5)
                        .has_value());
    std::string long_props = wire;
    long_props[h.header_size + 2 + 3 + 2] = 0x7F; // property length beyond the body
    CHECK_FALSE(
            view_publish(h, bytes(long_props).subspan(h.header_size), mqtt::protocol_version::v5)
                    .has_value());
}

} // namespace
} // namespace thinggate::bench
