// Golden bytes written by hand from the MQTT 3.1.1 and 5.0 specifications: each vector must decode
// to the expected packet and the packet must encode to exactly these bytes.

#include <doctest/doctest.h>

#include "codec_test_support.hpp"

namespace thinggate::mqtt::test {
namespace {

void check_golden(std::string_view hex, const packet& expected, protocol_version v) {
    const std::string bytes = from_hex(hex);
    auto decoded = decode_bytes(bytes, v);
    REQUIRE_MESSAGE(decoded.has_value(), "decode failed: " << decoded.error().message());
    CHECK(*decoded == expected);
    std::string encoded;
    encode(expected, v, encoded);
    CHECK(to_hex(encoded) == to_hex(bytes));
    CHECK(encoded_size(expected, v) == bytes.size());
}

constexpr auto v311 = protocol_version::v311;
constexpr auto v5 = protocol_version::v5;

TEST_CASE("golden: CONNECT 3.1.1 minimal [MQTT-3.1.2-1]") {
    connect c;
    c.version = v311;
    c.clean_start = true;
    c.keep_alive = 60;
    c.client_id = "abc";
    check_golden("10 0F 00 04 4D 51 54 54 04 02 00 3C 00 03 61 62 63", c, v311);
}

TEST_CASE("golden: CONNECT 3.1.1 with will, user name and password") {
    connect c;
    c.version = v311;
    c.clean_start = true;
    c.keep_alive = 10;
    c.client_id = "c1";
    c.will = will_message{"w/t", "bye", qos::at_least_once, true, {}};
    c.username = "u";
    c.password = "p";
    check_golden(
            "10 1E 00 04 4D 51 54 54 04 EE 00 0A 00 02 63 31 00 03 77 2F 74 00 03 62 79 65"
            " 00 01 75 00 01 70",
            c,
            v311);
}

TEST_CASE("golden: CONNECT 5 with properties and will properties") {
    connect c;
    c.version = v5;
    c.clean_start = true;
    c.keep_alive = 30;
    c.client_id = "c";
    c.props.session_expiry_interval = 3600;
    c.props.receive_maximum = 20;
    will_message w;
    w.topic = "t";
    w.payload = "x";
    w.props.payload_format_indicator = 1;
    w.props.will_delay_interval = 5;
    c.will = w;
    c.username = "u";
    check_golden(
            "10 27 00 04 4D 51 54 54 05 86 00 1E 08 11 00 00 0E 10 21 00 14 00 01 63"
            " 07 01 01 18 00 00 00 05 00 01 74 00 01 78 00 01 75",
            c,
            v5);
}

TEST_CASE("golden: CONNACK 3.1.1 session present, and refused not authorized") {
    check_golden("20 02 01 00", connack{true, reason_code::success, {}}, v311);
    check_golden("20 02 00 05", connack{false, reason_code::not_authorized, {}}, v311);
    check_golden(
            "20 02 00 01", connack{false, reason_code::unsupported_protocol_version, {}}, v311);
}

TEST_CASE("golden: CONNACK 5 with properties") {
    connack c;
    c.props.assigned_client_identifier = "ab";
    c.props.topic_alias_maximum = 10;
    check_golden("20 0B 00 00 08 12 00 02 61 62 22 00 0A", c, v5);
    check_golden("20 03 00 87 00", connack{false, reason_code::not_authorized, {}}, v5);
}

TEST_CASE("golden: PUBLISH QoS 0 (3.1.1 and 5)") {
    publish p;
    p.topic = "a/b";
    p.payload = "hi";
    check_golden("30 07 00 03 61 2F 62 68 69", p, v311);
    check_golden("30 08 00 03 61 2F 62 00 68 69", p, v5);
}

TEST_CASE("golden: PUBLISH QoS 1 retained (3.1.1)") {
    publish p;
    p.topic = "a/b";
    p.payload = "hi";
    p.qos = qos::at_least_once;
    p.retain = true;
    p.packet_id = 10;
    check_golden("33 09 00 03 61 2F 62 00 0A 68 69", p, v311);
}

TEST_CASE("golden: PUBLISH QoS 2 DUP with properties (5)") {
    publish p;
    p.topic = "t";
    p.payload = "x";
    p.qos = qos::exactly_once;
    p.dup = true;
    p.packet_id = 0x1234;
    p.props.message_expiry_interval = 60;
    p.props.content_type = "j";
    check_golden("3C 10 00 01 74 12 34 09 02 00 00 00 3C 03 00 01 6A 78", p, v5);
}

TEST_CASE("golden: PUBLISH 5 empty topic with topic alias (§3.3.2.3.4)") {
    publish p;
    p.props.topic_alias = 3;
    p.payload = "z";
    check_golden("30 07 00 00 03 23 00 03 7A", p, v5);
}

TEST_CASE("golden: PUBACK short and long forms") {
    check_golden("40 02 00 01", puback{1, reason_code::success, {}}, v311);
    check_golden("40 02 00 01", puback{1, reason_code::success, {}}, v5);
    check_golden("40 03 00 01 10", puback{1, reason_code::no_matching_subscribers, {}}, v5);
    puback with_string{1, reason_code::no_matching_subscribers, {}};
    with_string.props.reason_string = "no";
    check_golden("40 09 00 01 10 05 1F 00 02 6E 6F", with_string, v5);
    puback ok_with_user{7, reason_code::success, {}};
    ok_with_user.props.user_properties.push_back({"k", "v"});
    check_golden("40 0B 00 07 00 07 26 00 01 6B 00 01 76", ok_with_user, v5);
}

TEST_CASE("golden: PUBREC, PUBREL, PUBCOMP") {
    check_golden("50 02 00 05", pubrec{5, reason_code::success, {}}, v311);
    check_golden("62 02 00 05", pubrel{5, reason_code::success, {}}, v311);
    check_golden("70 02 00 05", pubcomp{5, reason_code::success, {}}, v311);
    check_golden("62 03 00 05 92", pubrel{5, reason_code::packet_identifier_not_found, {}}, v5);
    check_golden("50 03 00 05 80", pubrec{5, reason_code::unspecified_error, {}}, v5);
}

TEST_CASE("golden: SUBSCRIBE and SUBACK 3.1.1") {
    subscribe s;
    s.packet_id = 1;
    s.entries.push_back({"a/+", {qos::at_least_once}});
    s.entries.push_back({"b/#", {qos::at_most_once}});
    check_golden("82 0E 00 01 00 03 61 2F 2B 01 00 03 62 2F 23 00", s, v311);
    check_golden(
            "90 04 00 01 01 80",
            suback{1, {reason_code::granted_qos1, reason_code::unspecified_error}, {}},
            v311);
}

TEST_CASE("golden: SUBSCRIBE and SUBACK 5 with options and subscription identifier") {
    subscribe s;
    s.packet_id = 2;
    s.props.subscription_identifiers = {5};
    subscribe_options o;
    o.max_qos = qos::exactly_once;
    o.no_local = true;
    o.retain_as_published = true;
    o.retain_handling = 1;
    s.entries.push_back({"x", o});
    check_golden("82 09 00 02 02 0B 05 00 01 78 1E", s, v5);
    check_golden(
            "90 05 00 02 00 02 A2",
            suback{2,
                   {reason_code::granted_qos2, reason_code::wildcard_subscriptions_not_supported},
                   {}},
            v5);
}

TEST_CASE("golden: UNSUBSCRIBE and UNSUBACK") {
    unsubscribe u{3, {"a/b"}, {}};
    check_golden("A2 07 00 03 00 03 61 2F 62", u, v311);
    check_golden("A2 08 00 03 00 00 03 61 2F 62", u, v5);
    check_golden("B0 02 00 03", unsuback{3, {}, {}}, v311);
    check_golden(
            "B0 05 00 03 00 00 11",
            unsuback{3, {reason_code::success, reason_code::no_subscription_existed}, {}},
            v5);
}

TEST_CASE("golden: PINGREQ and PINGRESP") {
    for (auto v : {v311, v5}) {
        check_golden("C0 00", pingreq{}, v);
        check_golden("D0 00", pingresp{}, v);
    }
}

TEST_CASE("golden: DISCONNECT") {
    check_golden("E0 00", disconnect{}, v311);
    check_golden("E0 00", disconnect{}, v5);
    check_golden("E0 01 04", disconnect{reason_code::disconnect_with_will, {}}, v5);
    disconnect d{reason_code::normal_disconnection, {}};
    d.props.session_expiry_interval = 0;
    check_golden("E0 07 00 05 11 00 00 00 00", d, v5);
}

TEST_CASE("golden: AUTH") {
    check_golden("F0 00", auth{}, v5);
    auth a{reason_code::continue_authentication, {}};
    a.props.authentication_method = "SCRAM";
    a.props.authentication_data = "d";
    check_golden("F0 0E 18 0C 15 00 05 53 43 52 41 4D 16 00 01 64", a, v5);
}

} // namespace
} // namespace thinggate::mqtt::test
