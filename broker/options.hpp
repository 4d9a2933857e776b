#pragma once
// broker/options: the broker's behaviour switches and limits, as typed values.
// Owns: defaults of every broker limit. Must not use: TOML (app/ maps the config file onto this).
// Thread safety: plain value; copied into the broker at start-up.

#include <cstdint>
#include <string>

#include "mqtt/packet.hpp"
#include "persist/records.hpp"
#include "policy/resource.hpp"

namespace thinggate::broker {

/// GATEWAY-SEMANTICS.md §3: standard MQTT or AWS IoT Core's documented deviations.
enum class compat_profile {
    mqtt,
    aws_iot,
};

/// What happens to a connection whose unwritten output exceeds its outbound budget.
enum class slow_consumer_policy {
    disconnect, ///< close it (v5: DISCONNECT 0x97 quota exceeded) — the default
    drop_qos0,  ///< drop new QoS 0 deliveries (counted); QoS 1/2 wait in the session queue
};

/// What happens to a QoS 1/2 message for a session whose queue is full (max_queued_messages /
/// max_queued_bytes per session, or the totals over all sessions).
enum class queue_overflow {
    drop_new,    ///< the new message is not queued for that session (counted, logged) — the default
    drop_oldest, ///< the oldest queued message of that session makes room (counted, logged)
    refuse,      ///< the publish is refused for every subscriber: v5 PUBACK/PUBREC 0x97 quota exceeded
};

/// Every limit is configurable (docs/configuration.md, [limits]); 0 means "no limit" only where said.
struct limits {
    std::uint32_t max_packet_size = 1024 * 1024;      ///< both ways; advertised in CONNACK (v5)
    std::uint16_t receive_maximum = 1024;             ///< inbound QoS 1/2 window we grant clients
    std::uint16_t max_inflight_out = 1024;            ///< cap on outbound window (client's Receive Maximum)
    std::uint32_t max_queued_messages = 10'000;       ///< per session, offline or over the window
    std::uint64_t max_queued_bytes = 64ull << 20;     ///< per session
    std::uint64_t max_total_queued_messages = 0;      ///< over all sessions (0 = unlimited)
    std::uint64_t max_total_queued_bytes = 0;         ///< over all sessions (0 = unlimited)
    queue_overflow overflow = queue_overflow::drop_new;
    /// Backpressure on publishers: while a connected subscriber's queue is over a quarter of its
    /// limits, the PUBACK/PUBREC of a QoS 1/2 PUBLISH routed to it is held back (until the queue is
    /// down to an eighth, at most this long), so the publisher's own Receive Maximum slows it
    /// instead of the queue overflowing. 0 = off.
    std::uint32_t max_ack_delay_ms = 5000;
    std::uint32_t max_subscriptions = 10'000;         ///< per session (0 = unlimited)
    std::uint32_t max_filters_per_subscribe = 0;      ///< 0 = unlimited (aws-iot: 8)
    std::uint32_t max_topic_length = 65535;           ///< bytes, names and filters
    std::uint32_t max_topic_levels = 128;             ///< number of '/'-separated levels
    std::uint32_t max_client_id_length = 256;         ///< bytes (aws-iot: 128)
    std::uint32_t max_connections = 100'000;          ///< per process (0 = unlimited)
    std::uint64_t outbound_budget_bytes = 4ull << 20; ///< unwritten bytes per connection
    slow_consumer_policy slow_consumer = slow_consumer_policy::disconnect;
    std::uint16_t max_keep_alive = 65535;             ///< seconds; larger requests are lowered (v5 Server Keep Alive)
    std::uint16_t min_keep_alive = 0;                 ///< seconds; 0 requests are raised when > 0 (aws-iot: 30)
    std::uint16_t topic_alias_maximum = 64;           ///< aliases a client may set towards us (v5)
    std::uint32_t max_session_expiry = 7 * 24 * 3600; ///< seconds
    std::uint32_t max_message_expiry = 0;             ///< seconds, 0 = as the publisher says
    /// PUBLISH packets per second per connection (0 = unlimited; aws-iot: 100). Over the rate the
    /// connection's input is paused until the budget refills: the publisher is slowed, nothing lost.
    std::uint32_t max_publish_rate = 0;
    /// PUBLISH payload bytes per second per connection (0 = unlimited; aws-iot: 512 KiB), as above.
    std::uint32_t max_publish_bytes_rate = 0;
    /// Minimum time between two CONNECTs with the same client id (0 = none; aws-iot: 1000 ms); a
    /// CONNECT sooner is refused with 0x9F (3.1.1: return code 3).
    std::uint32_t min_connect_interval_ms = 0;
    mqtt::qos maximum_qos = mqtt::qos::exactly_once;  ///< aws-iot: at_least_once
    bool retain_available = true;
    bool wildcard_subscriptions = true;
    bool shared_subscriptions = true;
    bool subscription_identifiers = true;             ///< aws-iot: false
};

/// How the broker writes through its persist::store (when it has one).
struct persistence_options {
    /// What a commit waits for before the PUBACK/PUBREC/SUBACK/CONNACK that depends on it is sent.
    persist::durability durability = persist::durability::wal;
    /// Bytes of commits handed to the store and not yet completed, per shard; above it the shard's
    /// publishers stop being read (TCP backpressure) until the store catches up to half of it.
    std::uint64_t max_commit_backlog_bytes = 64ull << 20;
    /// How often the liveness mark is written (session expiry across a crash is measured from it).
    std::uint32_t heartbeat_interval_ms = 5000;
};

struct options {
    compat_profile compat = compat_profile::mqtt;
    limits lim;
    persistence_options persistence;
    /// Prefix of client identifiers the broker assigns to clients that send an empty one.
    std::string assigned_id_prefix = "auto-";
    /// Region and account of the ARNs policies are evaluated against (config `region`, `account`).
    policy::resource_names names;
    /// Refuse client ids containing '+' or '#' (they would turn ${iot:ClientId} in a policy into a
    /// wildcard grant; GATEWAY-SEMANTICS §1). Config `allow_wildcard_client_ids` turns it off.
    bool refuse_wildcard_client_ids = true;
    /// Publish lifecycle events ($aws/events/presence/..., $aws/events/subscriptions/...).
    bool lifecycle_events = true;
};

/// The limits the aws-iot profile starts from (GATEWAY-SEMANTICS.md §3); config may override each.
limits aws_iot_limits() noexcept;

} // namespace thinggate::broker
