#pragma once
// mqtt/detail/wire: the codec's internal byte reader and writer, property and topic checks, and the
// per-packet decoders and body writers. Internal to mqtt/codec*.cpp; not a public interface.
// Thread safety: plain values over caller-owned buffers.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "mqtt/codec.hpp"
#include "mqtt/packet.hpp"
#include "mqtt/reason_code.hpp"

namespace thinggate::mqtt::detail {

/// Bounds-checked reader. Every accessor returns false when the input is too short or malformed;
/// the caller turns that into malformed_packet.
class reader {
public:
    reader() noexcept = default;

    explicit reader(std::span<const std::uint8_t> data) noexcept
        : p_(data.data())
        , end_(data.data() + data.size()) {}

    std::size_t remaining() const noexcept { return static_cast<std::size_t>(end_ - p_); }

    bool empty() const noexcept { return p_ == end_; }

    bool u8(std::uint8_t& v) noexcept {
        if (p_ == end_) {
            return false;
        }
        v = *p_++;
        return true;
    }

    bool u16(std::uint16_t& v) noexcept {
        if (remaining() < 2) {
            return false;
        }
        v = static_cast<std::uint16_t>((p_[0] << 8) | p_[1]);
        p_ += 2;
        return true;
    }

    bool u32(std::uint32_t& v) noexcept {
        if (remaining() < 4) {
            return false;
        }
        v = (std::uint32_t{p_[0]} << 24) | (std::uint32_t{p_[1]} << 16) |
            (std::uint32_t{p_[2]} << 8) | std::uint32_t{p_[3]};
        p_ += 4;
        return true;
    }

    /// Variable Byte Integer: at most 4 bytes, minimal encoding [MQTT-1.5.5-1].
    bool varint(std::uint32_t& v) noexcept;

    /// Two-byte length followed by that many bytes, as a view into the input.
    bool length_prefixed(std::string_view& v) noexcept {
        std::uint16_t n = 0;
        if (!u16(n) || remaining() < n) {
            return false;
        }
        v = std::string_view(reinterpret_cast<const char*>(p_), n);
        p_ += n;
        return true;
    }

    /// Binary Data (§1.5.6).
    bool binary(std::string& v) {
        std::string_view s;
        if (!length_prefixed(s)) {
            return false;
        }
        v.assign(s.data(), s.size());
        return true;
    }

    /// UTF-8 Encoded String (§1.5.4), validated with valid_utf8.
    bool utf8(std::string& v) {
        std::string_view s;
        if (!length_prefixed(s) || !valid_utf8(s)) {
            return false;
        }
        v.assign(s.data(), s.size());
        return true;
    }

    /// Splits the next `n` bytes off into `out`.
    bool sub(std::size_t n, reader& out) noexcept {
        if (remaining() < n) {
            return false;
        }
        out.p_ = p_;
        out.end_ = p_ + n;
        p_ += n;
        return true;
    }

    /// Everything that is left, consumed.
    std::string_view rest() noexcept {
        std::string_view s(reinterpret_cast<const char*>(p_), remaining());
        p_ = end_;
        return s;
    }

private:
    const std::uint8_t* p_ = nullptr;
    const std::uint8_t* end_ = nullptr;
};

/// Appends to a string, or (default-constructed) only counts the bytes it would append. One writer
/// type serves both encode and encoded_size, so the two cannot disagree.
class writer {
public:
    writer() noexcept = default;

    explicit writer(std::string& out) noexcept
        : out_(&out) {}

    bool counting() const noexcept { return out_ == nullptr; }

    std::size_t size() const noexcept { return size_; }

    void u8(std::uint8_t v) {
        size_ += 1;
        if (out_ != nullptr) {
            out_->push_back(static_cast<char>(v));
        }
    }

    void u16(std::uint16_t v) {
        size_ += 2;
        if (out_ != nullptr) {
            const char b[2] = {static_cast<char>(v >> 8), static_cast<char>(v)};
            out_->append(b, 2);
        }
    }

    void u32(std::uint32_t v) {
        size_ += 4;
        if (out_ != nullptr) {
            const char b[4] = {
                    static_cast<char>(v >> 24),
                    static_cast<char>(v >> 16),
                    static_cast<char>(v >> 8),
                    static_cast<char>(v)};
            out_->append(b, 4);
        }
    }

    void varint(std::uint32_t v);

    void raw(std::string_view s) {
        size_ += s.size();
        if (out_ != nullptr) {
            out_->append(s.data(), s.size());
        }
    }

    /// Two-byte length and the bytes. Precondition: s.size() <= 65535.
    void str(std::string_view s) {
        u16(static_cast<std::uint16_t>(s.size()));
        raw(s);
    }

    /// Counts `n` bytes without writing them (counting writers only).
    void skip(std::size_t n) noexcept { size_ += n; }

private:
    std::string* out_ = nullptr;
    std::size_t size_ = 0;
};

std::size_t varint_size(std::uint32_t v) noexcept;

/// Which packet (or the will) a property list belongs to: selects the allowed properties
/// (MQTT 5.0 §2.2.2.2).
enum class prop_scope : std::uint8_t {
    connect,
    connack,
    publish,
    will,
    ack, // PUBACK, PUBREC, PUBREL, PUBCOMP
    subscribe,
    suback,
    unsubscribe,
    unsuback,
    disconnect,
    auth,
};

/// Reads Property Length and the properties. malformed_packet for short or undefined properties,
/// protocol_error for a property not allowed in `scope`, a repeated one, or a value out of range.
reason_code read_properties(reader& r, prop_scope scope, properties& out);

/// Writes Property Length and the properties `scope` allows; others are dropped.
void write_properties(const properties& p, prop_scope scope, writer& w);

/// The same with the list size already known (from property_list_size).
void write_properties(const properties& p, prop_scope scope, std::size_t list_size, writer& w);

/// Size of the property list (without the Property Length field) for `scope`.
std::size_t property_list_size(const properties& p, prop_scope scope);

/// Reason codes a v5 packet kind may carry (MQTT 5.0 §3.x.2.1 tables).
bool valid_reason(packet_type type, std::uint8_t code) noexcept;

/// No '+' or '#' [MQTT-3.3.2-2]. Emptiness is checked by the caller (it depends on the version).
bool topic_name_syntax_ok(std::string_view topic) noexcept;

/// Topic filter syntax [MQTT-4.7.1-1..2] including "$share/{group}/{filter}" [MQTT-4.8.2-1..2].
/// Returns success or malformed_packet; `shared` tells whether it is a shared subscription.
reason_code check_filter(std::string_view filter, bool& shared) noexcept;

// Per-packet decoders: `r` holds exactly the packet's body; fixed-header flags are checked by the
// caller except for PUBLISH. Each returns success or the reason code of the failure.
reason_code decode_connect(reader& r, connect& out);
reason_code decode_connack(reader& r, bool v5, connack& out);
reason_code decode_publish(std::uint8_t flags, reader& r, bool v5, publish& out);
reason_code decode_ack(
        packet_type type,
        reader& r,
        bool v5,
        std::uint16_t& packet_id,
        reason_code& reason,
        properties& props);
reason_code decode_subscribe(reader& r, bool v5, subscribe& out);
reason_code decode_suback(reader& r, bool v5, suback& out);
reason_code decode_unsubscribe(reader& r, bool v5, unsubscribe& out);
reason_code decode_unsuback(reader& r, bool v5, unsuback& out);

// Per-packet body writers (everything after the fixed header) and fixed-header first bytes.
void write_body(const connect& p, bool v5, writer& w);
void write_body(const connack& p, bool v5, writer& w);
void write_publish_head_body(const publish& p, bool v5, writer& w);
void write_body(const publish& p, bool v5, writer& w);
void write_ack_body(
        std::uint16_t packet_id, reason_code reason, const properties& props, bool v5, writer& w);
void write_body(const subscribe& p, bool v5, writer& w);
void write_body(const suback& p, bool v5, writer& w);
void write_body(const unsubscribe& p, bool v5, writer& w);
void write_body(const unsuback& p, bool v5, writer& w);

std::uint8_t publish_first_byte(const publish& p) noexcept;
std::uint8_t publish_first_byte(qos q, bool dup, bool retain) noexcept;

} // namespace thinggate::mqtt::detail
