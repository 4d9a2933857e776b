#pragma once
// mqtt/reason_code: MQTT v5 reason codes and their boost::system error category.
// Owns: the one numbering of protocol errors used across thinggate. Uses: std, Boost.System only.
// Thread safety: everything here is immutable and safe from any thread.

#include <cstdint>
#include <string_view>

#include <boost/system/error_code.hpp>

namespace thinggate::mqtt {

/// MQTT v5 reason codes (MQTT 5.0 §2.4). Errors inside thinggate that concern the protocol carry
/// these values so that exactly one place (mqtt::to_connack / to_disconnect) maps them to wire codes.
enum class reason_code : std::uint8_t {
    success = 0x00,
    normal_disconnection = 0x00,
    granted_qos0 = 0x00,
    granted_qos1 = 0x01,
    granted_qos2 = 0x02,
    disconnect_with_will = 0x04,
    no_matching_subscribers = 0x10,
    no_subscription_existed = 0x11,
    continue_authentication = 0x18,
    reauthenticate = 0x19,
    unspecified_error = 0x80,
    malformed_packet = 0x81,
    protocol_error = 0x82,
    implementation_specific_error = 0x83,
    unsupported_protocol_version = 0x84,
    client_identifier_not_valid = 0x85,
    bad_user_name_or_password = 0x86,
    not_authorized = 0x87,
    server_unavailable = 0x88,
    server_busy = 0x89,
    banned = 0x8A,
    server_shutting_down = 0x8B,
    bad_authentication_method = 0x8C,
    keep_alive_timeout = 0x8D,
    session_taken_over = 0x8E,
    topic_filter_invalid = 0x8F,
    topic_name_invalid = 0x90,
    packet_identifier_in_use = 0x91,
    packet_identifier_not_found = 0x92,
    receive_maximum_exceeded = 0x93,
    topic_alias_invalid = 0x94,
    packet_too_large = 0x95,
    message_rate_too_high = 0x96,
    quota_exceeded = 0x97,
    administrative_action = 0x98,
    payload_format_invalid = 0x99,
    retain_not_supported = 0x9A,
    qos_not_supported = 0x9B,
    use_another_server = 0x9C,
    server_moved = 0x9D,
    shared_subscriptions_not_supported = 0x9E,
    connection_rate_exceeded = 0x9F,
    maximum_connect_time = 0xA0,
    subscription_identifiers_not_supported = 0xA1,
    wildcard_subscriptions_not_supported = 0xA2,
};

/// True for values >= 0x80 (MQTT 5.0 §2.4: failure).
constexpr bool is_failure(reason_code rc) noexcept {
    return static_cast<std::uint8_t>(rc) >= 0x80;
}

/// Human-readable name ("malformed_packet"), for logs and tests.
std::string_view to_string(reason_code rc) noexcept;

/// The boost::system category whose values are reason_code values. Value 0 means success.
const boost::system::error_category& mqtt_category() noexcept;

inline boost::system::error_code make_error_code(reason_code rc) noexcept {
    return {static_cast<int>(rc), mqtt_category()};
}

/// MQTT 3.1.1 CONNACK return code (§3.2.2.3) for a v5 reason code; the one mapping both ways.
std::uint8_t to_v311_connack(reason_code rc) noexcept;
reason_code from_v311_connack(std::uint8_t code) noexcept;

} // namespace thinggate::mqtt

template <>
struct boost::system::is_error_code_enum<thinggate::mqtt::reason_code> : std::true_type {};
