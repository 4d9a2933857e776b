// mqtt::decode_publish into a publish_view: the same validation and values as decode(), with the
// topic and payload left in the input bytes.

#include <span>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "mqtt/codec.hpp"

namespace {

using namespace thinggate::mqtt;

std::span<const std::uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

/// Frames `wire` and decodes it both ways; returns the view's reason code.
reason_code both_ways(const std::string& wire, protocol_version v, publish_view& view,
                      boost::system::result<packet>& owned) {
    frame_header h;
    auto st = parse_frame(bytes_of(wire), max_remaining_length + 5, h);
    REQUIRE(st.has_value());
    REQUIRE(*st == frame_status::complete);
    const auto body = bytes_of(wire).subspan(h.header_size, h.remaining_length);
    owned = decode(h, body, v);
    return decode_publish(h, body, v, view);
}

} // namespace

TEST_CASE("decode_publish(view): same values as decode, topic and payload point into the input") {
    for (auto v : {protocol_version::v311, protocol_version::v5}) {
        publish p;
        p.topic = "fleet/dev42/telemetry";
        p.payload = std::string(100, 'p');
        p.qos = qos::at_least_once;
        p.retain = true;
        p.dup = true;
        p.packet_id = 513;
        if (v == protocol_version::v5) {
            p.props.content_type = "application/json";
            p.props.user_properties.push_back({"k", "v"});
            p.props.message_expiry_interval = 30;
        }
        std::string wire;
        encode(p, v, wire);
        publish_view view;
        boost::system::result<packet> owned = make_error_code(reason_code::unspecified_error);
        REQUIRE(both_ways(wire, v, view, owned) == reason_code::success);
        REQUIRE(owned.has_value());
        const auto& o = std::get<publish>(*owned);
        CHECK(view.topic == o.topic);
        CHECK(view.payload == o.payload);
        CHECK(view.qos == o.qos);
        CHECK(view.retain == o.retain);
        CHECK(view.dup == o.dup);
        CHECK(view.packet_id == o.packet_id);
        CHECK(view.props == o.props);
        // Views, not copies.
        CHECK(view.topic.data() >= wire.data());
        CHECK(view.payload.data() + view.payload.size() == wire.data() + wire.size());
    }
}

TEST_CASE("decode_publish(view): rejects what decode rejects [MQTT-3.3.2-2] [MQTT-2.2.1-3] "
          "[MQTT-3.3.1-4]") {
    const auto v = protocol_version::v5;
    publish p;
    p.topic = "a/b";
    p.payload = "x";
    std::string good;
    encode(p, v, good);

    std::vector<std::string> bad;
    {
        std::string w = good; // wildcard in the topic name
        w[4 + 2] = '+';
        bad.push_back(w);
    }
    {
        std::string w = good; // QoS 3
        w[0] = static_cast<char>(w[0] | 0x06);
        bad.push_back(w);
    }
    {
        publish q = p; // QoS 1 with packet id 0
        q.qos = qos::at_least_once;
        q.packet_id = 1;
        std::string w;
        encode(q, v, w);
        w[2 + 2 + 3] = 0;
        w[2 + 2 + 3 + 1] = 0;
        bad.push_back(w);
    }
    for (const auto& w : bad) {
        publish_view view;
        boost::system::result<packet> owned = make_error_code(reason_code::unspecified_error);
        const reason_code rc = both_ways(w, v, view, owned);
        REQUIRE_FALSE(owned.has_value());
        CHECK(rc == static_cast<reason_code>(owned.error().value()));
        CHECK(rc != reason_code::success);
    }
}

TEST_CASE("PUBLISH topic names: a '+' or '#' at any position is malformed, both decoders "
          "[MQTT-3.3.2-2]") {
    const auto v = protocol_version::v311;
    for (std::size_t len = 1; len <= 40; ++len) {
        for (std::size_t pos = 0; pos <= len; ++pos) {
            for (const char wildcard : {'+', '#', 'x'}) {
                publish p;
                p.topic = std::string(len, 'a');
                if (pos < len) {
                    p.topic[pos] = wildcard;
                }
                p.payload = "x";
                std::string w;
                encode(p, v, w);
                publish_view view;
                boost::system::result<packet> owned = make_error_code(reason_code::unspecified_error);
                const reason_code rc = both_ways(w, v, view, owned);
                const bool ok = pos == len || wildcard == 'x';
                CHECK(owned.has_value() == ok);
                CHECK((rc == reason_code::success) == ok);
            }
        }
    }
}

TEST_CASE("PUBLISH topic names: UTF-8, U+0000 and wildcards at any position, both decoders agree "
          "[MQTT-1.5.4-1] [MQTT-1.5.4-2] [MQTT-3.3.2-2]") {
    const auto v = protocol_version::v5;
    struct insert {
        std::string bytes;
        bool ok;
    };
    const std::vector<insert> inserts{
            {"\xC3\xA9", true},          // é
            {"\xE2\x82\xAC", true},      // €
            {"\xF0\x9F\x98\x80", true},  // U+1F600
            {std::string(1, '\0'), false},
            {"\x80", false},             // stray continuation byte
            {"\xC0\x80", false},         // overlong NUL
            {"\xED\xA0\x80", false},     // surrogate
            {"\xC3", false},             // cut short
            {"\xC3\xA9+", false},        // a wildcard after a multi-byte character
            {"#", false},
    };
    for (std::size_t len = 0; len <= 20; ++len) {
        for (std::size_t pos = 0; pos <= len; ++pos) {
            for (const auto& ins : inserts) {
                publish p;
                p.topic = std::string(len, 'a');
                p.topic.insert(pos, ins.bytes);
                p.payload = "x";
                std::string w;
                encode(p, v, w);
                publish_view view;
                boost::system::result<packet> owned = make_error_code(reason_code::unspecified_error);
                const reason_code rc = both_ways(w, v, view, owned);
                CAPTURE(len);
                CAPTURE(pos);
                CHECK(owned.has_value() == ins.ok);
                CHECK((rc == reason_code::success) == ins.ok);
                if (!ins.ok) {
                    CHECK(rc == reason_code::malformed_packet);
                } else {
                    CHECK(view.topic == p.topic);
                }
            }
        }
    }
}
