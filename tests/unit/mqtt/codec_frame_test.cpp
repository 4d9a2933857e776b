// parse_frame, Variable Byte Integers, valid_utf8, reason codes and packet-type names.

#include <doctest/doctest.h>

#include "codec_test_support.hpp"

namespace thinggate::mqtt::test {
namespace {

boost::system::result<frame_status>
frame(std::string_view hex, frame_header& h, std::uint32_t max = max_remaining_length + 5) {
    static std::string storage;
    storage = from_hex(hex);
    return parse_frame(as_bytes(storage), max, h);
}

TEST_CASE("parse_frame: incomplete until the whole packet is there") {
    frame_header h;
    auto r = parse_frame({}, 100, h);
    REQUIRE(r.has_value());
    CHECK(*r == frame_status::incomplete);
    r = frame("30", h);
    REQUIRE(r.has_value());
    CHECK(*r == frame_status::incomplete);
    r = frame("30 80", h);
    REQUIRE(r.has_value());
    CHECK(*r == frame_status::incomplete);
    r = frame("30 05 00 01", h);
    REQUIRE(r.has_value());
    CHECK(*r == frame_status::incomplete);
    CHECK(h.remaining_length == 5); // known before the body arrives
    CHECK(h.header_size == 2);
}

TEST_CASE("parse_frame: complete, with the next packet's bytes after it") {
    frame_header h;
    auto r = frame("32 05 00 01 61 00 07 C0 00", h);
    REQUIRE(r.has_value());
    CHECK(*r == frame_status::complete);
    CHECK(h.type() == packet_type::publish);
    CHECK(h.flags() == 0x02);
    CHECK(h.remaining_length == 5);
    CHECK(h.header_size == 2);
    CHECK(h.total_size() == 7);
    r = frame("C0 00", h);
    REQUIRE(r.has_value());
    CHECK(*r == frame_status::complete);
    CHECK(h.total_size() == 2);
}

TEST_CASE("parse_frame: remaining length boundaries [MQTT-1.5.5-1]") {
    frame_header h;
    auto r = frame("30 FF FF FF 7F", h);
    REQUIRE(r.has_value());
    CHECK(*r == frame_status::incomplete);
    CHECK(h.remaining_length == max_remaining_length);
    CHECK(h.header_size == 5);
    r = frame("30 80 01", h);
    REQUIRE(r.has_value());
    CHECK(h.remaining_length == 128);
    CHECK(h.header_size == 3);
}

TEST_CASE("parse_frame: a fifth length byte is malformed [MQTT-1.5.5-1]") {
    frame_header h;
    auto r = frame("30 FF FF FF FF 7F", h);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == make_error_code(reason_code::malformed_packet));
    // Detected as soon as the fourth byte says "more follows".
    r = frame("30 80 80 80 80", h);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == make_error_code(reason_code::malformed_packet));
}

TEST_CASE("parse_frame: non-minimal remaining length is malformed [MQTT-1.5.5-1]") {
    frame_header h;
    for (const char* hex : {"30 80 00", "30 81 00", "30 80 80 00", "30 FF 80 80 00"}) {
        INFO(std::string(hex));
        auto r = frame(hex, h);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error() == make_error_code(reason_code::malformed_packet));
    }
}

TEST_CASE("parse_frame: too large is reported before the body arrives") {
    frame_header h;
    auto r = frame("30 0A", h, 11);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == make_error_code(reason_code::packet_too_large));
    r = frame("30 0A", h, 12); // total size 12 is within the limit
    REQUIRE(r.has_value());
    CHECK(*r == frame_status::incomplete);
    r = frame("30 FF FF FF 7F", h, 1 << 20);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == make_error_code(reason_code::packet_too_large));
}

TEST_CASE("decode: body size must match the header") {
    frame_header h;
    h.first_byte = 0xC0;
    h.remaining_length = 1;
    h.header_size = 2;
    auto r = decode(h, {}, protocol_version::v5);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error() == make_error_code(reason_code::malformed_packet));
}

TEST_CASE("encode_varint: boundaries of each length (§1.5.5)") {
    const struct {
        std::uint32_t value;
        const char* hex;
    } table[] = {
            {0, "00"},
            {127, "7F"},
            {128, "80 01"},
            {16'383, "FF 7F"},
            {16'384, "80 80 01"},
            {2'097'151, "FF FF 7F"},
            {2'097'152, "80 80 80 01"},
            {268'435'455, "FF FF FF 7F"},
    };

    for (const auto& t : table) {
        std::string out;
        encode_varint(t.value, out);
        CHECK(to_hex(out) == t.hex);
        // The same bytes as a remaining length parse back to the value.
        frame_header h;
        const std::string bytes = "\x30" + out;
        auto r = parse_frame(as_bytes(bytes), max_remaining_length + 5, h);
        REQUIRE(r.has_value());
        CHECK(h.remaining_length == t.value);
    }
}

TEST_CASE("valid_utf8 [MQTT-1.5.4-1] [MQTT-1.5.4-2] [MQTT-1.5.4-3]") {
    const struct {
        const char* hex;
        bool valid;
        const char* why;
    } table[] = {
            {"", true, "empty"},
            {"61 62 63", true, "ASCII"},
            {"61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61 61", true, "long ASCII"},
            {"61 61 61 61 61 61 61 61 61 61 00 61", false, "U+0000 after the fast path"},
            {"61 61 61 61 61 61 61 00", false, "U+0000 inside an 8-byte block"},
            {"00", false, "U+0000"},
            {"01 1F 7F", true, "control characters are allowed"},
            {"C3 A9", true, "2-byte"},
            {"61 61 61 61 61 61 61 61 C3 A9", true, "2-byte after 8 ASCII"},
            {"E2 82 AC", true, "3-byte"},
            {"F0 9D 84 9E", true, "4-byte"},
            {"EF BF BF", true, "U+FFFF non-character is allowed"},
            {"EE 80 80", true, "U+E000 after the surrogates"},
            {"ED 9F BF", true, "U+D7FF before the surrogates"},
            {"F4 8F BF BF", true, "U+10FFFF"},
            {"C0 80", false, "overlong U+0000"},
            {"C1 BF", false, "overlong 2-byte"},
            {"E0 80 80", false, "overlong 3-byte"},
            {"E0 9F BF", false, "overlong 3-byte upper bound"},
            {"ED A0 80", false, "surrogate U+D800"},
            {"ED BF BF", false, "surrogate U+DFFF"},
            {"F0 80 80 80", false, "overlong 4-byte"},
            {"F0 8F BF BF", false, "overlong 4-byte upper bound"},
            {"F4 90 80 80", false, "above U+10FFFF"},
            {"F5 80 80 80", false, "lead byte F5"},
            {"FF", false, "byte FF"},
            {"80", false, "lone continuation"},
            {"C3", false, "truncated 2-byte"},
            {"E2 82", false, "truncated 3-byte"},
            {"F0 9D 84", false, "truncated 4-byte"},
            {"C3 28", false, "bad continuation"},
            {"E2 28 AC", false, "bad 3-byte continuation"},
            {"F0 9D 28 9E", false, "bad 4-byte continuation"},
    };

    for (const auto& t : table) {
        const std::string label = std::string(t.why) + ": " + t.hex;
        INFO(label);
        CHECK(valid_utf8(from_hex(t.hex)) == t.valid);
    }
}

TEST_CASE("reason codes: names, category, error_code") {
    CHECK(to_string(reason_code::success) == "success");
    CHECK(to_string(reason_code::malformed_packet) == "malformed_packet");
    CHECK(to_string(reason_code::wildcard_subscriptions_not_supported) ==
          "wildcard_subscriptions_not_supported");
    CHECK(to_string(static_cast<reason_code>(0x42)) == "unknown_reason_code");
    CHECK(std::string_view(mqtt_category().name()) == "mqtt");
    const boost::system::error_code ec = reason_code::protocol_error; // is_error_code_enum
    CHECK(ec.value() == 0x82);
    CHECK(ec.category() == mqtt_category());
    CHECK(ec.message() == "protocol_error");
    CHECK(ec.failed());
    CHECK_FALSE(make_error_code(reason_code::success).failed());
    CHECK(is_failure(reason_code::unspecified_error));
    CHECK_FALSE(is_failure(reason_code::granted_qos2));
}

TEST_CASE("reason codes: 3.1.1 CONNACK return codes (§3.2.2.3)") {
    for (std::uint8_t code = 0; code <= 5; ++code) {
        CHECK(to_v311_connack(from_v311_connack(code)) == code);
    }
    CHECK(to_v311_connack(reason_code::success) == 0);
    CHECK(to_v311_connack(reason_code::unsupported_protocol_version) == 1);
    CHECK(to_v311_connack(reason_code::client_identifier_not_valid) == 2);
    CHECK(to_v311_connack(reason_code::server_unavailable) == 3);
    CHECK(to_v311_connack(reason_code::server_busy) == 3);
    CHECK(to_v311_connack(reason_code::bad_user_name_or_password) == 4);
    CHECK(to_v311_connack(reason_code::bad_authentication_method) == 4);
    CHECK(to_v311_connack(reason_code::not_authorized) == 5);
    CHECK(to_v311_connack(reason_code::banned) == 5);
    CHECK(to_v311_connack(reason_code::malformed_packet) == 3);
    CHECK(to_v311_connack(reason_code::quota_exceeded) == 3);
    CHECK(from_v311_connack(0) == reason_code::success);
    CHECK(from_v311_connack(5) == reason_code::not_authorized);
    CHECK(from_v311_connack(6) == reason_code::unspecified_error);
}

TEST_CASE("packet types: type_of and names") {
    CHECK(type_of(connect{}) == packet_type::connect);
    CHECK(type_of(pubrel{}) == packet_type::pubrel);
    CHECK(type_of(auth{}) == packet_type::auth);
    CHECK(to_string(packet_type::unsubscribe) == "UNSUBSCRIBE");
    CHECK(to_string(packet_type::pingresp) == "PINGRESP");
    CHECK(to_string(static_cast<packet_type>(0)) == "RESERVED");
}

} // namespace
} // namespace thinggate::mqtt::test
