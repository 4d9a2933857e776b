#include "mqtt/reason_code.hpp"

#include <string>

namespace thinggate::mqtt {

std::string_view to_string(reason_code rc) noexcept {
    switch (rc) {
    // 0x00 is success, normal_disconnection and granted_qos0 at once; one name for all three.
    case reason_code::success:
        return "success";
    case reason_code::granted_qos1:
        return "granted_qos1";
    case reason_code::granted_qos2:
        return "granted_qos2";
    case reason_code::disconnect_with_will:
        return "disconnect_with_will";
    case reason_code::no_matching_subscribers:
        return "no_matching_subscribers";
    case reason_code::no_subscription_existed:
        return "no_subscription_existed";
    case reason_code::continue_authentication:
        return "continue_authentication";
    case reason_code::reauthenticate:
        return "reauthenticate";
    case reason_code::unspecified_error:
        return "unspecified_error";
    case reason_code::malformed_packet:
        return "malformed_packet";
    case reason_code::protocol_error:
        return "protocol_error";
    case reason_code::implementation_specific_error:
        return "implementation_specific_error";
    case reason_code::unsupported_protocol_version:
        return "unsupported_protocol_version";
    case reason_code::client_identifier_not_valid:
        return "client_identifier_not_valid";
    case reason_code::bad_user_name_or_password:
        return "bad_user_name_or_password";
    case reason_code::not_authorized:
        return "not_authorized";
    case reason_code::server_unavailable:
        return "server_unavailable";
    case reason_code::server_busy:
        return "server_busy";
    case reason_code::banned:
        return "banned";
    case reason_code::server_shutting_down:
        return "server_shutting_down";
    case reason_code::bad_authentication_method:
        return "bad_authentication_method";
    case reason_code::keep_alive_timeout:
        return "keep_alive_timeout";
    case reason_code::session_taken_over:
        return "session_taken_over";
    case reason_code::topic_filter_invalid:
        return "topic_filter_invalid";
    case reason_code::topic_name_invalid:
        return "topic_name_invalid";
    case reason_code::packet_identifier_in_use:
        return "packet_identifier_in_use";
    case reason_code::packet_identifier_not_found:
        return "packet_identifier_not_found";
    case reason_code::receive_maximum_exceeded:
        return "receive_maximum_exceeded";
    case reason_code::topic_alias_invalid:
        return "topic_alias_invalid";
    case reason_code::packet_too_large:
        return "packet_too_large";
    case reason_code::message_rate_too_high:
        return "message_rate_too_high";
    case reason_code::quota_exceeded:
        return "quota_exceeded";
    case reason_code::administrative_action:
        return "administrative_action";
    case reason_code::payload_format_invalid:
        return "payload_format_invalid";
    case reason_code::retain_not_supported:
        return "retain_not_supported";
    case reason_code::qos_not_supported:
        return "qos_not_supported";
    case reason_code::use_another_server:
        return "use_another_server";
    case reason_code::server_moved:
        return "server_moved";
    case reason_code::shared_subscriptions_not_supported:
        return "shared_subscriptions_not_supported";
    case reason_code::connection_rate_exceeded:
        return "connection_rate_exceeded";
    case reason_code::maximum_connect_time:
        return "maximum_connect_time";
    case reason_code::subscription_identifiers_not_supported:
        return "subscription_identifiers_not_supported";
    case reason_code::wildcard_subscriptions_not_supported:
        return "wildcard_subscriptions_not_supported";
    }
    return "unknown_reason_code";
}

namespace {

class mqtt_error_category final : public boost::system::error_category {
public:
    // A fixed identifier makes the category compare equal across shared-library boundaries.
    constexpr mqtt_error_category() noexcept
        : boost::system::error_category(0x7467'6d71'7474'0001ULL) {}

    const char* name() const noexcept override { return "mqtt"; }

    std::string message(int ev) const override {
        if (ev < 0 || ev > 0xFF) {
            return "unknown_reason_code";
        }
        return std::string(to_string(static_cast<reason_code>(ev)));
    }
};

constexpr mqtt_error_category category_instance;

} // namespace

const boost::system::error_category& mqtt_category() noexcept {
    return category_instance;
}

std::uint8_t to_v311_connack(reason_code rc) noexcept {
    if (!is_failure(rc)) {
        return 0x00;
    }
    switch (rc) {
    case reason_code::unsupported_protocol_version:
        return 0x01;
    case reason_code::client_identifier_not_valid:
        return 0x02;
    case reason_code::server_unavailable:
    case reason_code::server_busy:
        return 0x03;
    case reason_code::bad_user_name_or_password:
    case reason_code::bad_authentication_method:
        return 0x04;
    case reason_code::not_authorized:
    case reason_code::banned:
        return 0x05;
    default:
        return 0x03;
    }
}

reason_code from_v311_connack(std::uint8_t code) noexcept {
    switch (code) {
    case 0x00:
        return reason_code::success;
    case 0x01:
        return reason_code::unsupported_protocol_version;
    case 0x02:
        return reason_code::client_identifier_not_valid;
    case 0x03:
        return reason_code::server_unavailable;
    case 0x04:
        return reason_code::bad_user_name_or_password;
    case 0x05:
        return reason_code::not_authorized;
    default:
        return reason_code::unspecified_error;
    }
}

} // namespace thinggate::mqtt
