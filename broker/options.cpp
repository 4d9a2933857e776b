#include "broker/options.hpp"

namespace thinggate::broker {

// AWS IoT Core's documented quotas (GATEWAY-SEMANTICS.md §3). Quotas that have no field here
// (publishes and bytes per second, CONNECTs per second per client id) are not part of limits.
limits aws_iot_limits() noexcept {
    limits l;
    l.max_client_id_length = 128;
    l.max_topic_length = 256;
    l.max_topic_levels = 8; // at most 7 slashes
    l.max_filters_per_subscribe = 8;
    l.max_subscriptions = 50;
    l.max_packet_size = 128 * 1024;
    l.maximum_qos = mqtt::qos::at_least_once;
    l.min_keep_alive = 30;
    l.max_keep_alive = 1200;
    l.subscription_identifiers = false;
    l.receive_maximum = 100;  // unacknowledged inbound QoS 1
    l.max_inflight_out = 100; // unacknowledged outbound QoS 1
    // AWS expires persistent sessions after 1 h by default; the account may raise it to 7 days,
    // here by setting [limits].max_session_expiry up to 604800.
    l.max_session_expiry = 3600;
    // Per-connection publish throttle and one CONNECT per second per client id.
    l.max_publish_rate = 100;
    l.max_publish_bytes_rate = 512 * 1024;
    l.min_connect_interval_ms = 1000;
    return l;
}

} // namespace thinggate::broker
