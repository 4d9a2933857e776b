// Wire primitives shared by all packet kinds: Variable Byte Integers, UTF-8 validation, the fixed
// header, topic syntax and the reason-code tables.

#include <array>
#include <cstring>
#include <initializer_list>

#include "mqtt/codec.hpp"
#include "mqtt/detail/wire.hpp"

namespace thinggate::mqtt {

namespace detail {

bool reader::varint(std::uint32_t& v) noexcept {
    std::uint32_t value = 0;
    for (int i = 0; i < 4; ++i) {
        if (p_ == end_) {
            return false;
        }
        const std::uint8_t b = *p_++;
        value |= static_cast<std::uint32_t>(b & 0x7F) << (7 * i);
        if ((b & 0x80) == 0) {
            // A trailing zero group means a shorter encoding existed [MQTT-1.5.5-1].
            if (i > 0 && b == 0) {
                return false;
            }
            v = value;
            return true;
        }
    }
    return false;
}

void writer::varint(std::uint32_t v) {
    if (out_ == nullptr) {
        size_ += varint_size(v);
        return;
    }
    do {
        auto b = static_cast<std::uint8_t>(v & 0x7F);
        v >>= 7;
        if (v != 0) {
            b |= 0x80;
        }
        u8(b);
    } while (v != 0);
}

std::size_t varint_size(std::uint32_t v) noexcept {
    if (v < 128) {
        return 1;
    }
    if (v < 16'384) {
        return 2;
    }
    if (v < 2'097'152) {
        return 3;
    }
    return 4;
}

bool topic_name_syntax_ok(std::string_view topic) noexcept {
    // Eight bytes at a time (find_first_of("+#") called memchr over the set once per byte): a
    // byte equal to c is a zero byte of w ^ (c repeated), and (x - lo) & ~x & hi is non-zero
    // exactly when x has a zero byte.
    constexpr std::uint64_t lo = 0x0101010101010101ULL;
    constexpr std::uint64_t hi = 0x8080808080808080ULL;
    const auto has_zero_byte = [](std::uint64_t x) noexcept { return ((x - lo) & ~x & hi) != 0; };
    const char* p = topic.data();
    std::size_t n = topic.size();
    for (; n >= 8; p += 8, n -= 8) {
        std::uint64_t w = 0;
        std::memcpy(&w, p, 8);
        if (has_zero_byte(w ^ (lo * '+')) || has_zero_byte(w ^ (lo * '#'))) {
            return false;
        }
    }
    for (; n > 0; ++p, --n) {
        if (*p == '+' || *p == '#') {
            return false;
        }
    }
    return true;
}

namespace {

bool filter_syntax_ok(std::string_view filter) noexcept {
    if (filter.empty()) {
        return false;
    }
    std::size_t start = 0;
    for (;;) {
        const std::size_t end = filter.find('/', start);
        const std::string_view level =
                filter.substr(start, end == std::string_view::npos ? end : end - start);
        if (level.find_first_of("+#") != std::string_view::npos) {
            // A wildcard occupies a whole level [MQTT-4.7.1-2]; '#' is the last one [MQTT-4.7.1-1].
            if (level.size() != 1) {
                return false;
            }
            if (level[0] == '#' && end != std::string_view::npos) {
                return false;
            }
        }
        if (end == std::string_view::npos) {
            return true;
        }
        start = end + 1;
    }
}

} // namespace

reason_code check_filter(std::string_view filter, bool& shared) noexcept {
    constexpr std::string_view share_prefix = "$share/";
    shared = false;
    if (filter.starts_with(share_prefix)) {
        shared = true;
        const std::string_view rest = filter.substr(share_prefix.size());
        const std::size_t slash = rest.find('/');
        // ShareName: at least one character, no wildcards, followed by '/' and a filter
        // [MQTT-4.8.2-1..2].
        if (slash == std::string_view::npos || slash == 0) {
            return reason_code::malformed_packet;
        }
        if (rest.substr(0, slash).find_first_of("+#") != std::string_view::npos) {
            return reason_code::malformed_packet;
        }
        filter = rest.substr(slash + 1);
    }
    // Broken syntax is a Malformed Packet; 0x8F is for filters that are well formed but refused.
    return filter_syntax_ok(filter) ? reason_code::success : reason_code::malformed_packet;
}

namespace {

using reason_set = std::array<std::uint64_t, 4>;

constexpr reason_set make_set(std::initializer_list<std::uint8_t> codes) {
    reason_set s{};
    for (const std::uint8_t c : codes) {
        s[c / 64] |= std::uint64_t{1} << (c % 64);
    }
    return s;
}

// MQTT 5.0 §3.4.2.1, §3.5.2.1, §3.6.2.1, §3.7.2.1, §3.2.2.2, §3.9.3, §3.11.3, §3.14.2.1, §3.15.2.1.
constexpr reason_set connack_reasons =
        make_set({0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                  0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F});
constexpr reason_set puback_reasons =
        make_set({0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
constexpr reason_set pubrel_reasons = make_set({0x00, 0x92});
constexpr reason_set suback_reasons =
        make_set({0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2});
constexpr reason_set unsuback_reasons = make_set({0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91});
constexpr reason_set disconnect_reasons = make_set(
        {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
         0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2});
constexpr reason_set auth_reasons = make_set({0x00, 0x18, 0x19});

constexpr bool contains(const reason_set& s, std::uint8_t c) noexcept {
    return (s[c / 64] >> (c % 64)) & 1U;
}

} // namespace

bool valid_reason(packet_type type, std::uint8_t code) noexcept {
    switch (type) {
    case packet_type::connack:
        return contains(connack_reasons, code);
    case packet_type::puback:
    case packet_type::pubrec:
        return contains(puback_reasons, code);
    case packet_type::pubrel:
    case packet_type::pubcomp:
        return contains(pubrel_reasons, code);
    case packet_type::suback:
        return contains(suback_reasons, code);
    case packet_type::unsuback:
        return contains(unsuback_reasons, code);
    case packet_type::disconnect:
        return contains(disconnect_reasons, code);
    case packet_type::auth:
        return contains(auth_reasons, code);
    default:
        return false;
    }
}

} // namespace detail

void encode_varint(std::uint32_t value, std::string& out) {
    detail::writer w(out);
    w.varint(value);
}

bool valid_utf8(std::string_view s) noexcept {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    std::size_t i = 0;
    while (i < n) {
        // Fast path: eight ASCII bytes, none of them NUL. A byte that is 0 borrows in (w - lo) and
        // sets its top bit; a byte >= 0x80 has its top bit set in w.
        if (n - i >= 8) {
            std::uint64_t w = 0;
            std::memcpy(&w, p + i, 8);
            constexpr std::uint64_t lo = 0x0101010101010101ULL;
            constexpr std::uint64_t hi = 0x8080808080808080ULL;
            if (((w | (w - lo)) & hi) == 0) {
                i += 8;
                continue;
            }
        }
        const unsigned c = p[i];
        if (c < 0x80) {
            if (c == 0) {
                return false; // U+0000 [MQTT-1.5.4-2]
            }
            ++i;
            continue;
        }
        if (c < 0xC2) {
            return false; // stray continuation byte or overlong 2-byte form
        }
        if (c < 0xE0) {
            if (n - i < 2 || (p[i + 1] & 0xC0) != 0x80) {
                return false;
            }
            i += 2;
            continue;
        }
        if (c < 0xF0) {
            if (n - i < 3) {
                return false;
            }
            const unsigned c1 = p[i + 1];
            if ((c1 & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80) {
                return false;
            }
            if (c == 0xE0 && c1 < 0xA0) {
                return false; // overlong
            }
            if (c == 0xED && c1 >= 0xA0) {
                return false; // U+D800..U+DFFF [MQTT-1.5.4-1]
            }
            i += 3;
            continue;
        }
        if (c < 0xF5) {
            if (n - i < 4) {
                return false;
            }
            const unsigned c1 = p[i + 1];
            if ((c1 & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80 || (p[i + 3] & 0xC0) != 0x80) {
                return false;
            }
            if (c == 0xF0 && c1 < 0x90) {
                return false; // overlong
            }
            if (c == 0xF4 && c1 >= 0x90) {
                return false; // above U+10FFFF
            }
            i += 4;
            continue;
        }
        return false;
    }
    return true;
}

boost::system::result<frame_status> parse_frame(
        std::span<const std::uint8_t> data,
        std::uint32_t max_packet_size,
        frame_header& out) noexcept {
    if (data.empty()) {
        return frame_status::incomplete;
    }
    std::uint32_t length = 0;
    std::size_t i = 1;
    for (;; ++i) {
        if (i > 4) {
            return make_error_code(reason_code::malformed_packet); // over 4 bytes [MQTT-1.5.5-1]
        }
        if (i >= data.size()) {
            return frame_status::incomplete;
        }
        const std::uint8_t b = data[i];
        length |= static_cast<std::uint32_t>(b & 0x7F) << (7 * (i - 1));
        if ((b & 0x80) == 0) {
            if (i > 1 && b == 0) {
                return make_error_code(reason_code::malformed_packet); // not minimal
            }
            break;
        }
    }
    out.first_byte = data[0];
    out.remaining_length = length;
    out.header_size = static_cast<std::uint8_t>(i + 1);
    if (out.total_size() > max_packet_size) {
        return make_error_code(reason_code::packet_too_large);
    }
    if (data.size() < out.total_size()) {
        return frame_status::incomplete;
    }
    return frame_status::complete;
}

} // namespace thinggate::mqtt
