#pragma once
// mqtt/packet: value types for every MQTT 3.1.1 and 5.0 control packet.
// Owns: the in-memory shape of packets. Must not use: I/O, clocks, Asio.
// Thread safety: plain values; no shared state.
//
// One type per packet kind serves both protocol versions (rather than one per version, as
// async_mqtt does): the broker routes between versions, and a v3.1.1 packet is a v5 packet
// without properties and with reason codes mapped. The codec enforces what each version allows.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mqtt/reason_code.hpp"

namespace thinggate::mqtt {

/// Protocol level byte of CONNECT.
enum class protocol_version : std::uint8_t {
    v311 = 4,
    v5 = 5,
};

enum class packet_type : std::uint8_t {
    connect = 1,
    connack = 2,
    publish = 3,
    puback = 4,
    pubrec = 5,
    pubrel = 6,
    pubcomp = 7,
    subscribe = 8,
    suback = 9,
    unsubscribe = 10,
    unsuback = 11,
    pingreq = 12,
    pingresp = 13,
    disconnect = 14,
    auth = 15,
};

enum class qos : std::uint8_t {
    at_most_once = 0,
    at_least_once = 1,
    exactly_once = 2,
};

/// Binary data (payloads, correlation data, passwords). std::string is used as a byte container.
using binary = std::string;

struct user_property {
    std::string key;
    std::string value;
    friend bool operator==(const user_property&, const user_property&) = default;
};

/// MQTT 5 properties (§2.2.2). One struct for all packet kinds; the codec rejects a property that
/// the packet kind does not allow with protocol_error [MQTT-2.2.2-2]. Empty for MQTT 3.1.1.
struct properties {
    std::optional<std::uint8_t> payload_format_indicator;       // 0x01
    std::optional<std::uint32_t> message_expiry_interval;       // 0x02
    std::optional<std::string> content_type;                    // 0x03
    std::optional<std::string> response_topic;                  // 0x08
    std::optional<binary> correlation_data;                     // 0x09
    std::vector<std::uint32_t> subscription_identifiers;        // 0x0B (several on PUBLISH)
    std::optional<std::uint32_t> session_expiry_interval;       // 0x11
    std::optional<std::string> assigned_client_identifier;      // 0x12
    std::optional<std::uint16_t> server_keep_alive;             // 0x13
    std::optional<std::string> authentication_method;           // 0x15
    std::optional<binary> authentication_data;                  // 0x16
    std::optional<std::uint8_t> request_problem_information;    // 0x17
    std::optional<std::uint32_t> will_delay_interval;           // 0x18
    std::optional<std::uint8_t> request_response_information;   // 0x19
    std::optional<std::string> response_information;            // 0x1A
    std::optional<std::string> server_reference;                // 0x1C
    std::optional<std::string> reason_string;                   // 0x1F
    std::optional<std::uint16_t> receive_maximum;               // 0x21
    std::optional<std::uint16_t> topic_alias_maximum;           // 0x22
    std::optional<std::uint16_t> topic_alias;                   // 0x23
    std::optional<std::uint8_t> maximum_qos;                    // 0x24
    std::optional<std::uint8_t> retain_available;               // 0x25
    std::vector<user_property> user_properties;                 // 0x26 (order kept)
    std::optional<std::uint32_t> maximum_packet_size;           // 0x27
    std::optional<std::uint8_t> wildcard_subscription_available;     // 0x28
    std::optional<std::uint8_t> subscription_identifier_available;   // 0x29
    std::optional<std::uint8_t> shared_subscription_available;       // 0x2A

    friend bool operator==(const properties&, const properties&) = default;
};

struct will_message {
    std::string topic;
    binary payload;
    mqtt::qos qos = qos::at_most_once;
    bool retain = false;
    properties props; // will properties (v5)
    friend bool operator==(const will_message&, const will_message&) = default;
};

struct connect {
    protocol_version version = protocol_version::v5;
    bool clean_start = true; // "clean session" in 3.1.1
    std::uint16_t keep_alive = 0;
    std::string client_id;
    std::optional<will_message> will;
    std::optional<std::string> username;
    std::optional<binary> password;
    properties props;
    friend bool operator==(const connect&, const connect&) = default;
};

struct connack {
    bool session_present = false;
    reason_code reason = reason_code::success; // mapped to a v3.1.1 return code by the codec
    properties props;
    friend bool operator==(const connack&, const connack&) = default;
};

struct publish {
    std::string topic; // may be empty in v5 when a topic alias is used
    binary payload;
    mqtt::qos qos = qos::at_most_once;
    bool retain = false;
    bool dup = false;
    std::uint16_t packet_id = 0; // 0 for QoS 0
    properties props;
    friend bool operator==(const publish&, const publish&) = default;
};

/// PUBACK, PUBREC, PUBREL, PUBCOMP share one shape (§3.4–3.7).
template <packet_type Type>
struct basic_ack {
    static constexpr packet_type type = Type;
    std::uint16_t packet_id = 0;
    reason_code reason = reason_code::success;
    properties props;
    friend bool operator==(const basic_ack&, const basic_ack&) = default;
};

using puback = basic_ack<packet_type::puback>;
using pubrec = basic_ack<packet_type::pubrec>;
using pubrel = basic_ack<packet_type::pubrel>;
using pubcomp = basic_ack<packet_type::pubcomp>;

struct subscribe_options {
    mqtt::qos max_qos = qos::at_most_once;
    bool no_local = false;            // v5
    bool retain_as_published = false; // v5
    std::uint8_t retain_handling = 0; // v5: 0 send, 1 send if new, 2 do not send
    friend bool operator==(const subscribe_options&, const subscribe_options&) = default;
};

struct subscribe_entry {
    std::string filter;
    subscribe_options options;
    friend bool operator==(const subscribe_entry&, const subscribe_entry&) = default;
};

struct subscribe {
    std::uint16_t packet_id = 0;
    std::vector<subscribe_entry> entries;
    properties props; // subscription identifier (at most one), user properties
    friend bool operator==(const subscribe&, const subscribe&) = default;
};

struct suback {
    std::uint16_t packet_id = 0;
    std::vector<reason_code> reasons; // v3.1.1: 0x00..0x02 or 0x80
    properties props;
    friend bool operator==(const suback&, const suback&) = default;
};

struct unsubscribe {
    std::uint16_t packet_id = 0;
    std::vector<std::string> filters;
    properties props;
    friend bool operator==(const unsubscribe&, const unsubscribe&) = default;
};

struct unsuback {
    std::uint16_t packet_id = 0;
    std::vector<reason_code> reasons; // v5 only; empty (and not encoded) in 3.1.1
    properties props;
    friend bool operator==(const unsuback&, const unsuback&) = default;
};

struct pingreq {
    friend bool operator==(const pingreq&, const pingreq&) = default;
};

struct pingresp {
    friend bool operator==(const pingresp&, const pingresp&) = default;
};

struct disconnect {
    reason_code reason = reason_code::normal_disconnection;
    properties props;
    friend bool operator==(const disconnect&, const disconnect&) = default;
};

struct auth {
    reason_code reason = reason_code::success;
    properties props;
    friend bool operator==(const auth&, const auth&) = default;
};

using packet = std::variant<
        connect,
        connack,
        publish,
        puback,
        pubrec,
        pubrel,
        pubcomp,
        subscribe,
        suback,
        unsubscribe,
        unsuback,
        pingreq,
        pingresp,
        disconnect,
        auth>;

/// The packet type of a variant alternative.
packet_type type_of(const packet& p) noexcept;

std::string_view to_string(packet_type t) noexcept;

} // namespace thinggate::mqtt
