#pragma once
// persist/records: the values thinggate keeps across restarts, one struct per kind, and the
// families (RocksDB column families) they live in. docs/persistence.md has the schema.
// Owns: the shape of stored state. Must not use: I/O, RocksDB, Asio.
// Thread safety: plain values.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/packet.hpp"

namespace thinggate::persist {

/// The schema this build reads and writes (key layout + record formats + families). A data dir
/// with another value is refused at open (errc::schema_mismatch).
inline constexpr std::uint32_t current_schema_version = 1;

/// Wall-clock time, stored as milliseconds since the Unix epoch: expiries are measured across
/// downtime, which a steady clock cannot do.
using wall_time = std::chrono::sys_time<std::chrono::milliseconds>;

inline wall_time wall_now() noexcept {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
            std::chrono::system_clock::now());
}

/// What a commit waits for before its completion runs.
enum class durability : std::uint8_t {
    none,  ///< memtable only: lost on a crash of the process (disableWAL)
    wal,   ///< in the WAL (written to the OS): survives a process crash, not a power loss
    fsync, ///< WAL fsync'ed: survives a power loss
};

std::string_view to_string(durability d) noexcept;
/// "none" | "wal" | "fsync"; false when unknown.
bool parse_durability(std::string_view text, durability& out) noexcept;

/// One per kind of stored data; each is a RocksDB column family (the name is to_string()).
enum class family : std::uint8_t {
    sessions,
    subscriptions,
    queued,   ///< column family "messages": outgoing messages not yet sent
    inflight, ///< outgoing QoS 1/2 messages sent and not yet acknowledged
    qos2_in,  ///< incoming QoS 2 packet ids (PUBREC sent, PUBREL not yet received)
    retained,
    registry, ///< things, groups, certificates, CAs, policies (+ versions), attachments, operators
    jobs,     ///< jobs and job executions
    streams,  ///< OTA streams
    blobs,    ///< firmware files and other large values
    meta,     ///< magic, schema version, creation time
};

inline constexpr std::size_t family_count = static_cast<std::size_t>(family::meta) + 1;

/// Column family name ("sessions", "messages", ...).
std::string_view to_string(family f) noexcept;

/// Kind of an opaque registry/OTA value. The owning module (admin/, ota/) defines and versions the
/// bytes; persist stores them under (kind, name) in the family that kind_family() names.
/// Values are part of the schema: never renumber, only add.
enum class blob_kind : std::uint8_t {
    thing = 1,
    thing_group = 2,
    certificate = 3,
    ca_certificate = 4,
    policy = 5,
    policy_version = 6,
    attachment = 7,
    thing_type = 8,
    operator_account = 9,
    job = 32,
    job_execution = 33,
    stream = 48,
    firmware_file = 64,
};

/// The family a blob kind lives in; nullopt for a value that is not a known kind.
std::optional<family> kind_family(blob_kind k) noexcept;

/// A message as stored (queued, in flight, retained, or a will's content). `props` keeps only the
/// properties forwarded to subscribers (payload format indicator, content type, response topic,
/// correlation data, user properties); others are not stored.
struct message_record {
    std::string topic;
    mqtt::binary payload;
    mqtt::qos qos = mqtt::qos::at_most_once; ///< as published
    bool retain = false;                     ///< as published
    mqtt::properties props;
    /// Absolute expiry (from the Message Expiry Interval); nullopt = never expires.
    std::optional<wall_time> expires_at;

    friend bool operator==(const message_record&, const message_record&) = default;
};

/// A session that outlives its connection (session expiry > 0, or 3.1.1 clean session 0).
struct session_record {
    std::string client_id; ///< key
    mqtt::protocol_version version = mqtt::protocol_version::v5;
    std::uint32_t expiry_interval = 0; ///< seconds
    /// When its connection ended; nullopt while connected (then the broker's last heartbeat in
    /// meta is the end, see docs/persistence.md). Expiry = disconnected_at + expiry_interval.
    std::optional<wall_time> disconnected_at;
    /// The will still to be published (its delay not yet over, or session ends first). Stored:
    /// topic, payload, qos, retain and the will properties of [MQTT-3.1.3] (payload format,
    /// message expiry interval, content type, response topic, correlation data, user properties,
    /// will delay interval).
    std::optional<mqtt::will_message> will;
    std::uint64_t next_seq = 1;       ///< next sequence for queued/in-flight entries
    std::uint16_t last_packet_id = 0; ///< last packet id given out

    friend bool operator==(const session_record&, const session_record&) = default;
};

struct subscription_record {
    std::string client_id; ///< key, part 1
    std::string filter;    ///< key, part 2; full filter, "$share/g/f" included
    mqtt::subscribe_options options;
    std::uint32_t subscription_id = 0; ///< 0 = none; else 1..268435455

    friend bool operator==(const subscription_record&, const subscription_record&) = default;
};

/// What is sent to one subscriber (mirrors broker::queued_delivery).
struct delivery_record {
    mqtt::qos qos = mqtt::qos::at_most_once; ///< min(published, granted)
    bool retain = false;                     ///< RETAIN flag to send
    std::vector<std::uint32_t> subscription_ids;
    message_record msg;

    friend bool operator==(const delivery_record&, const delivery_record&) = default;
};

/// An outgoing message waiting to be sent; iterated per client in `seq` order.
struct queued_record {
    std::string client_id; ///< key, part 1
    std::uint64_t seq = 0; ///< key, part 2
    delivery_record d;

    friend bool operator==(const queued_record&, const queued_record&) = default;
};

enum class inflight_state : std::uint8_t {
    wait_puback = 1,
    wait_pubrec = 2,
    wait_pubcomp = 3, ///< PUBREL sent; the message body may be left empty
};

/// An outgoing QoS 1/2 message sent and not yet acknowledged; iterated per client in `seq` order.
struct inflight_record {
    std::string client_id; ///< key, part 1
    std::uint64_t seq = 0; ///< key, part 2 (send order: in-order redelivery on resume)
    std::uint16_t packet_id = 0;
    inflight_state state = inflight_state::wait_puback;
    delivery_record d;

    friend bool operator==(const inflight_record&, const inflight_record&) = default;
};

/// An incoming QoS 2 packet id: PUBREC sent, PUBREL not yet received [MQTT-4.3.3].
struct qos2_in_record {
    std::string client_id;       ///< key, part 1
    std::uint16_t packet_id = 0; ///< key, part 2

    friend bool operator==(const qos2_in_record&, const qos2_in_record&) = default;
};

/// An opaque value of the registry, jobs, streams or firmware files.
struct blob_record {
    blob_kind kind = blob_kind::thing; ///< key, part 1 (and the family)
    std::string name;                  ///< key, part 2
    std::string value;                 ///< owned and versioned by the module that writes it

    friend bool operator==(const blob_record&, const blob_record&) = default;
};

} // namespace thinggate::persist
