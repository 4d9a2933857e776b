// Round trips of every packet kind in both versions with rich properties, shortest-form encoding,
// version mapping (what 3.1.1 cannot carry), and encode_publish_head.

#include <set>

#include <doctest/doctest.h>

#include "codec_test_support.hpp"

namespace thinggate::mqtt::test {
namespace {

constexpr auto v311 = protocol_version::v311;
constexpr auto v5 = protocol_version::v5;

std::vector<user_property> users() {
    return {{"k1", "v1"}, {"k1", "v2"}, {"ключ", "值"}, {"", ""}};
}

connect rich_connect(protocol_version v) {
    connect c;
    c.version = v;
    c.clean_start = false;
    c.keep_alive = 0xFFFF;
    c.client_id = "device-42";
    c.username = "user";
    c.password = std::string("p\0ss", 4);
    will_message w;
    w.topic = "things/42/lwt";
    w.payload = std::string("\x00\xFFgone", 6);
    w.qos = qos::exactly_once;
    w.retain = true;
    if (v == v5) {
        c.props.session_expiry_interval = 0xFFFFFFFF;
        c.props.receive_maximum = 100;
        c.props.maximum_packet_size = 1 << 20;
        c.props.topic_alias_maximum = 16;
        c.props.request_response_information = 1;
        c.props.request_problem_information = 0;
        c.props.authentication_method = "SCRAM-SHA-1";
        c.props.authentication_data = std::string("\x01\x00\x02", 3);
        c.props.user_properties = users();
        w.props.will_delay_interval = 30;
        w.props.payload_format_indicator = 0;
        w.props.message_expiry_interval = 3600;
        w.props.content_type = "application/octet-stream";
        w.props.response_topic = "things/42/reply";
        w.props.correlation_data = std::string("\x00\x01", 2);
        w.props.user_properties = users();
    }
    c.will = w;
    return c;
}

std::vector<packet> rich_packets(protocol_version v) {
    const bool is_v5 = v == v5;
    std::vector<packet> out;
    out.emplace_back(rich_connect(v));
    {
        connect minimal;
        minimal.version = v;
        out.emplace_back(minimal);
    }
    {
        connack c{true, reason_code::success, {}};
        if (is_v5) {
            c.props.session_expiry_interval = 60;
            c.props.receive_maximum = 10;
            c.props.maximum_qos = 1;
            c.props.retain_available = 0;
            c.props.maximum_packet_size = 65536;
            c.props.assigned_client_identifier = "auto-1";
            c.props.topic_alias_maximum = 5;
            c.props.reason_string = "welcome";
            c.props.user_properties = users();
            c.props.wildcard_subscription_available = 1;
            c.props.subscription_identifier_available = 0;
            c.props.shared_subscription_available = 1;
            c.props.server_keep_alive = 120;
            c.props.response_information = "resp/";
            c.props.server_reference = "other:1883";
            c.props.authentication_method = "SCRAM-SHA-1";
            c.props.authentication_data = "srv";
        }
        out.emplace_back(c);
        out.emplace_back(connack{false, reason_code::bad_user_name_or_password, {}});
    }
    {
        publish p;
        p.topic = "a/b/c";
        p.payload = std::string(300, 'x'); // two-byte remaining length
        p.qos = qos::at_least_once;
        p.retain = true;
        p.dup = true;
        p.packet_id = 65535;
        if (is_v5) {
            p.props.payload_format_indicator = 1;
            p.props.message_expiry_interval = 10;
            p.props.topic_alias = 7;
            p.props.response_topic = "reply/to";
            p.props.correlation_data = std::string("\x00\x01\x02", 3);
            p.props.user_properties = users();
            p.props.subscription_identifiers = {1, 127, 128, 16383, 16384, 268435455};
            p.props.content_type = "text/plain";
        }
        out.emplace_back(p);
        publish q0;
        q0.topic = "$SYS/x";
        out.emplace_back(q0);
        publish q2;
        q2.topic = "t";
        q2.qos = qos::exactly_once;
        q2.packet_id = 1;
        q2.payload = std::string(70000, '\0'); // three-byte remaining length
        out.emplace_back(q2);
    }
    const auto ack_props = [&] {
        properties p;
        if (is_v5) {
            p.reason_string = "because";
            p.user_properties = users();
        }
        return p;
    };
    out.emplace_back(
            puback{1, is_v5 ? reason_code::quota_exceeded : reason_code::success, ack_props()});
    out.emplace_back(pubrec{
            2, is_v5 ? reason_code::no_matching_subscribers : reason_code::success, ack_props()});
    out.emplace_back(
            pubrel{3,
                   is_v5 ? reason_code::packet_identifier_not_found : reason_code::success,
                   ack_props()});
    out.emplace_back(pubcomp{4, reason_code::success, ack_props()});
    {
        subscribe s;
        s.packet_id = 10;
        s.entries.push_back({"a/+/c", {qos::at_most_once}});
        s.entries.push_back({"#", {qos::at_least_once}});
        s.entries.push_back({"$share/grp/x/#", {qos::exactly_once}});
        if (is_v5) {
            s.entries.push_back({"n/l", {qos::at_least_once, true, true, 2}});
            s.entries.push_back({"$share/g/y", {qos::at_most_once, false, true, 1}});
            s.props.subscription_identifiers = {268435455};
            s.props.user_properties = users();
        }
        out.emplace_back(s);
    }
    {
        suback s;
        s.packet_id = 10;
        s.reasons = {
                reason_code::granted_qos0,
                reason_code::granted_qos1,
                reason_code::granted_qos2,
                reason_code::unspecified_error};
        if (is_v5) {
            s.reasons.push_back(reason_code::shared_subscriptions_not_supported);
            s.reasons.push_back(reason_code::topic_filter_invalid);
            s.props = ack_props();
        }
        out.emplace_back(s);
    }
    {
        unsubscribe u;
        u.packet_id = 11;
        u.filters = {"a/+/c", "#", "$share/g/z"};
        if (is_v5) {
            u.props.user_properties = users();
        }
        out.emplace_back(u);
    }
    {
        unsuback u;
        u.packet_id = 11;
        if (is_v5) {
            u.reasons = {
                    reason_code::success,
                    reason_code::no_subscription_existed,
                    reason_code::not_authorized};
            u.props = ack_props();
        }
        out.emplace_back(u);
    }
    out.emplace_back(pingreq{});
    out.emplace_back(pingresp{});
    {
        disconnect d;
        if (is_v5) {
            d.reason = reason_code::server_moved;
            d.props.session_expiry_interval = 5;
            d.props.server_reference = "b:1883";
            d.props.reason_string = "moved";
            d.props.user_properties = users();
        }
        out.emplace_back(d);
    }
    if (is_v5) {
        auth a{reason_code::reauthenticate, {}};
        a.props.authentication_method = "SCRAM-SHA-1";
        a.props.authentication_data = std::string(1000, '\x7F');
        a.props.reason_string = "again";
        a.props.user_properties = users();
        out.emplace_back(a);
    }
    return out;
}

TEST_CASE("round trip: every packet kind with rich properties, both versions") {
    for (auto v : {v311, v5}) {
        const auto packets = rich_packets(v);
        std::set<packet_type> kinds;
        for (const auto& p : packets) {
            const std::string label = std::string(to_string(type_of(p))) + " " + name(v);
            INFO(label);
            check_round_trip(p, v);
            kinds.insert(type_of(p));
        }
        CHECK(kinds.size() == (v == v5 ? 15U : 14U)); // AUTH exists only in 5.0
    }
}

TEST_CASE("round trip: several packets in one buffer are framed one by one") {
    const auto packets = rich_packets(v5);
    std::string stream;
    for (const auto& p : packets) {
        encode(p, v5, stream);
    }
    std::span<const std::uint8_t> rest = as_bytes(stream);
    std::size_t i = 0;
    while (!rest.empty()) {
        frame_header h;
        auto st = parse_frame(rest, max_remaining_length, h);
        REQUIRE(st.has_value());
        REQUIRE(*st == frame_status::complete);
        auto p = decode(h, rest.subspan(h.header_size, h.remaining_length), v5);
        REQUIRE(p.has_value());
        REQUIRE(i < packets.size());
        CHECK(*p == packets[i]);
        ++i;
        rest = rest.subspan(h.total_size());
    }
    CHECK(i == packets.size());
}

TEST_CASE("encode writes the shortest form of v5 acknowledgements [§3.4.2.1, §3.14.2.1]") {
    CHECK(to_hex(encode_to_string(puback{9, reason_code::success, {}}, v5)) == "40 02 00 09");
    CHECK(to_hex(encode_to_string(pubrec{9, reason_code::success, {}}, v5)) == "50 02 00 09");
    CHECK(to_hex(encode_to_string(pubrel{9, reason_code::success, {}}, v5)) == "62 02 00 09");
    CHECK(to_hex(encode_to_string(pubcomp{9, reason_code::success, {}}, v5)) == "70 02 00 09");
    CHECK(to_hex(encode_to_string(puback{9, reason_code::not_authorized, {}}, v5)) ==
          "40 03 00 09 87");
    CHECK(to_hex(encode_to_string(disconnect{}, v5)) == "E0 00");
    CHECK(to_hex(encode_to_string(disconnect{reason_code::server_shutting_down, {}}, v5)) ==
          "E0 01 8B");
    CHECK(to_hex(encode_to_string(auth{}, v5)) == "F0 00");
}

TEST_CASE("3.1.1 encoding drops what 3.1.1 cannot carry") {
    SUBCASE("properties are not written") {
        publish p;
        p.topic = "t";
        p.props.message_expiry_interval = 5;
        p.props.user_properties = users();
        CHECK(to_hex(encode_to_string(p, v311)) == "30 03 00 01 74");
        puback a{1, reason_code::quota_exceeded, {}};
        a.props.reason_string = "x";
        CHECK(to_hex(encode_to_string(a, v311)) == "40 02 00 01");
        CHECK(to_hex(encode_to_string(disconnect{reason_code::server_busy, {}}, v311)) == "E0 00");
    }
    SUBCASE("CONNACK reason codes map to 3.1.1 return codes") {
        CHECK(to_hex(encode_to_string(connack{false, reason_code::banned, {}}, v311)) ==
              "20 02 00 05");
        CHECK(to_hex(encode_to_string(connack{false, reason_code::server_busy, {}}, v311)) ==
              "20 02 00 03");
        CHECK(to_hex(encode_to_string(connack{false, reason_code::quota_exceeded, {}}, v311)) ==
              "20 02 00 03");
        CHECK(to_hex(encode_to_string(
                      connack{false, reason_code::client_identifier_not_valid, {}}, v311)) ==
              "20 02 00 02");
    }
    SUBCASE("[MQTT-3.2.2-4] session present is cleared on a refusal") {
        CHECK(to_hex(encode_to_string(connack{true, reason_code::not_authorized, {}}, v311)) ==
              "20 02 00 05");
    }
    SUBCASE("SUBACK failures become 0x80") {
        suback s{
                1,
                {reason_code::granted_qos2,
                 reason_code::quota_exceeded,
                 reason_code::topic_filter_invalid},
                {}};
        CHECK(to_hex(encode_to_string(s, v311)) == "90 05 00 01 02 80 80");
    }
    SUBCASE("UNSUBACK has no payload") {
        unsuback u{1, {reason_code::success, reason_code::no_subscription_existed}, {}};
        CHECK(to_hex(encode_to_string(u, v311)) == "B0 02 00 01");
    }
    SUBCASE("subscribe options keep only the QoS") {
        subscribe s;
        s.packet_id = 1;
        s.entries.push_back({"a", {qos::at_least_once, true, true, 2}});
        CHECK(to_hex(encode_to_string(s, v311)) == "82 06 00 01 00 01 61 01");
    }
    SUBCASE("[MQTT-3.1.2-22] a password without user name is dropped") {
        connect c;
        c.version = v311;
        c.client_id = "a";
        c.password = "p";
        CHECK(to_hex(encode_to_string(c, v311)) == "10 0D 00 04 4D 51 54 54 04 02 00 00 00 01 61");
    }
    SUBCASE("[MQTT-3.3.1-2] DUP is never set on QoS 0") {
        publish p;
        p.topic = "t";
        p.dup = true;
        CHECK(to_hex(encode_to_string(p, v311)) == "30 03 00 01 74");
    }
}

TEST_CASE("v5 encoding drops properties the packet kind does not allow [MQTT-2.2.2-2]") {
    publish p;
    p.topic = "t";
    p.props.session_expiry_interval = 1; // CONNECT/CONNACK/DISCONNECT only
    p.props.maximum_qos = 1;             // CONNACK only
    CHECK(to_hex(encode_to_string(p, v5)) == "30 04 00 01 74 00");
    subscribe s;
    s.packet_id = 1;
    s.props.topic_alias = 1;
    s.entries.push_back({"a", {}});
    CHECK(to_hex(encode_to_string(s, v5)) == "82 07 00 01 00 00 01 61 00");
}

TEST_CASE("CONNECT encodes with its own version and decodes whatever the connection says") {
    const auto c5 = rich_connect(v5);
    const std::string bytes = encode_to_string(c5, v311); // the packet says 5
    auto back = decode_bytes(bytes, v311);
    REQUIRE(back.has_value());
    CHECK(*back == packet{c5});
}

TEST_CASE("encode_publish_head + payload == encode(publish)") {
    for (auto v : {v311, v5}) {
        for (std::size_t size : {0UL, 1UL, 100UL, 127UL, 128UL, 16383UL, 16384UL, 70000UL}) {
            for (auto q : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
                publish p;
                p.topic = "things/x/data";
                p.payload = std::string(size, 'p');
                p.qos = q;
                p.packet_id = q == qos::at_most_once ? 0 : 77;
                p.retain = size % 2 == 0;
                if (v == v5) {
                    p.props.user_properties = users();
                    p.props.subscription_identifiers = {3};
                }
                std::string whole;
                encode(p, v, whole);
                std::string head = "prefix";
                encode_publish_head(p, p.payload.size(), v, head);
                CHECK(head.starts_with("prefix"));
                CHECK(head.substr(6) + p.payload == whole);
            }
        }
    }
}

TEST_CASE("encode appends to what the buffer already holds") {
    std::string out = "xyz";
    encode(pingreq{}, v5, out);
    CHECK(to_hex(out) == "78 79 7A C0 00");
}

} // namespace
} // namespace thinggate::mqtt::test
