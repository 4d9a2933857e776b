#pragma once
// Helpers shared by the codec tests: hex conversion and whole-packet decode/encode.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

#include "mqtt/codec.hpp"

namespace thinggate::mqtt::test {

/// "10 0F 00" -> bytes; whitespace is ignored.
inline std::string from_hex(std::string_view hex) {
    std::string out;
    int high = -1;
    for (const char c : hex) {
        int v = -1;
        if (c >= '0' && c <= '9') {
            v = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v = c - 'A' + 10;
        } else {
            continue;
        }
        if (high < 0) {
            high = v;
        } else {
            out.push_back(static_cast<char>((high << 4) | v));
            high = -1;
        }
    }
    REQUIRE(high < 0);
    return out;
}

inline std::string to_hex(std::string_view bytes) {
    static constexpr char digits[] = "0123456789ABCDEF";
    std::string out;
    for (const char c : bytes) {
        const auto b = static_cast<unsigned char>(c);
        if (!out.empty()) {
            out.push_back(' ');
        }
        out.push_back(digits[b >> 4]);
        out.push_back(digits[b & 0x0F]);
    }
    return out;
}

inline std::span<const std::uint8_t> as_bytes(std::string_view s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

/// parse_frame + decode of a buffer that must hold exactly one whole packet.
inline boost::system::result<packet> decode_bytes(std::string_view bytes, protocol_version v) {
    frame_header h;
    auto status = parse_frame(as_bytes(bytes), max_remaining_length + 5, h);
    if (!status) {
        return status.error();
    }
    REQUIRE_MESSAGE(*status == frame_status::complete, "incomplete frame: " << to_hex(bytes));
    REQUIRE_MESSAGE(
            h.total_size() == bytes.size(), "trailing bytes after frame: " << to_hex(bytes));
    return decode(h, as_bytes(bytes).subspan(h.header_size), v);
}

inline boost::system::result<packet> decode_hex(std::string_view hex, protocol_version v) {
    return decode_bytes(from_hex(hex), v);
}

inline std::string encode_to_string(const packet& p, protocol_version v) {
    std::string out;
    encode(p, v, out);
    CHECK(out.size() == encoded_size(p, v));
    return out;
}

/// encode, then decode: must give `p` back; returns the bytes.
inline std::string check_round_trip(const packet& p, protocol_version v) {
    const std::string bytes = encode_to_string(p, v);
    auto back = decode_bytes(bytes, v);
    REQUIRE_MESSAGE(
            back.has_value(),
            "decode failed: " << back.error().message() << " for " << to_hex(bytes));
    CHECK_MESSAGE(*back == p, "round trip changed the packet: " << to_hex(bytes));
    return bytes;
}

inline const char* name(protocol_version v) {
    return v == protocol_version::v5 ? "v5" : "v3.1.1";
}

} // namespace thinggate::mqtt::test
