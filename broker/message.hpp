#pragma once
// broker/message: the immutable message that one routed PUBLISH becomes, shared by every delivery.
// Owns: the shape of a routed message. Must not use: I/O.
// Thread safety: immutable after construction; shared between shards by shared_ptr<const message>.
//
// One allocation per message: make_message() puts the message (with its reference counts) and the
// bytes of its topic and payload in one block; `topic` and `payload` are views into it. A message
// is not copyable (a copy would point into another message's block). Forwarded properties, which
// most messages do not carry, are a second allocation when present.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mqtt/packet.hpp"

namespace thinggate::broker {

using clock = std::chrono::steady_clock;

struct message;

/// Read-only bytes owned by the message they belong to (its topic or payload). Reads like a
/// std::string_view.
class message_bytes {
public:
    constexpr message_bytes() noexcept = default;

    const char* data() const noexcept { return data_; }
    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }
    const char* begin() const noexcept { return data_; }
    const char* end() const noexcept { return data_ + size_; }
    char operator[](std::size_t i) const noexcept { return data_[i]; }
    std::string_view view() const noexcept { return {data_, size_}; }
    operator std::string_view() const noexcept { return view(); } // NOLINT: reads like a view
    bool starts_with(std::string_view prefix) const noexcept { return view().starts_with(prefix); }
    /// A copy that owns its bytes.
    std::string str() const { return std::string(data_, size_); }

    friend bool operator==(const message_bytes& a, std::string_view b) noexcept { return a.view() == b; }
    friend bool operator==(const message_bytes& a, const message_bytes& b) noexcept {
        return a.view() == b.view();
    }

private:
    friend std::shared_ptr<message> make_message(std::string_view topic, std::string_view payload);
    constexpr message_bytes(const char* data, std::size_t size) noexcept
        : data_(data)
        , size_(size) {}

    const char* data_ = "";
    std::size_t size_ = 0;
};

struct message {
    message() = default;
    message(const message&) = delete;
    message& operator=(const message&) = delete;

    message_bytes topic;
    message_bytes payload;
    mqtt::qos qos = mqtt::qos::at_most_once; // QoS as published
    bool retain = false;                     // RETAIN flag as published
    /// Absolute expiry from the Message Expiry Interval; nullopt = never expires.
    std::optional<clock::time_point> expires_at;
    /// Publisher's session key (for No Local); 0 for messages made by the broker itself.
    std::uint64_t origin = 0;

    bool expired(clock::time_point now) const noexcept { return expires_at && now >= *expires_at; }

    /// Properties forwarded to subscribers: payload format, content type, response topic,
    /// correlation data, user properties (never expiry, topic alias or subscription
    /// identifiers). Empty properties when the message carries none of them.
    const mqtt::properties& props() const noexcept { return props_ ? *props_ : no_properties; }
    /// True when the message carries at least one forwarded property.
    bool has_props() const noexcept { return props_ != nullptr; }
    /// Takes the forwarded properties of `p` (moved out of it; the others are left in `p`). A
    /// message without any keeps none: no allocation (most PUBLISH packets carry none).
    void set_props(mqtt::properties&& p);
    /// Copies the forwarded properties of `p`, as set_props(properties&&).
    void set_props(const mqtt::properties& p);

    /// The empty properties props() returns for a message without any.
    static const mqtt::properties no_properties;

private:
    // Out of line: most messages carry none, and inline properties (488 bytes) made the message
    // block ~0.7 KiB instead of ~0.2 KiB (cache misses with thousands of messages in flight).
    std::unique_ptr<const mqtt::properties> props_;
};

using message_ptr = std::shared_ptr<const message>;

/// A new message whose topic and payload are copies of `topic` and `payload`, in the same
/// allocation as the message itself. The other fields are set by the caller before sharing it.
/// Blocks of freed messages (up to 2 KiB each, message_cache_bytes per thread) are kept by the
/// thread that freed them for its next make_message.
std::shared_ptr<message> make_message(std::string_view topic, std::string_view payload);

/// Most bytes of freed message blocks one thread keeps for reuse.
inline constexpr std::size_t message_cache_bytes = std::size_t{4} << 20;

/// Bytes of freed message blocks the calling thread keeps for reuse now.
std::size_t cached_message_bytes() noexcept;

} // namespace thinggate::broker
