#pragma once
// persist/write_batch: puts and deletes of any kinds, committed all or nothing.
// Records are encoded when they are added (on the caller's thread, typically a shard), so the
// store's writer only does I/O.
// Thread safety: a plain value; one thread at a time.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "persist/records.hpp"

namespace thinggate::persist {

class write_batch {
public:
    enum class op_kind : std::uint8_t {
        put,
        erase,
        erase_range, ///< every key in [key, value)
    };

    struct op {
        family fam = family::meta;
        op_kind kind = op_kind::put;
        std::string key;
        std::string value; ///< put: the value; erase_range: the end key
    };

    void put(const session_record& r);
    void put(const subscription_record& r);
    void put(const queued_record& r);
    void put(const inflight_record& r);
    void put(const qos2_in_record& r);
    void put_retained(const message_record& r);
    void put(const blob_record& r);

    void erase_session(std::string_view client_id);
    void erase_subscription(std::string_view client_id, std::string_view filter);
    void erase_queued(std::string_view client_id, std::uint64_t seq);
    void erase_inflight(std::string_view client_id, std::uint64_t seq);
    void erase_qos2_in(std::string_view client_id, std::uint16_t packet_id);
    void erase_retained(std::string_view topic);
    void erase_blob(blob_kind kind, std::string_view name);

    /// Everything of one client: its session, subscriptions, queued and in-flight messages and
    /// incoming QoS 2 ids (a range delete per family).
    void erase_client(std::string_view client_id);

    /// The broker's liveness mark (meta "heartbeat"), written every few seconds: at recovery,
    /// a session that was connected when the process died counts as disconnected at this time.
    void put_heartbeat(wall_time t);

    /// Raw access for tools and the stores; `fam` meta is reserved for the store itself.
    void put_raw(family fam, std::string key, std::string value);
    void erase_raw(family fam, std::string key);

    /// Appends the operations of `other` (applied after this batch's own).
    void append(write_batch&& other);

    const std::vector<op>& ops() const noexcept { return ops_; }

    std::size_t size() const noexcept { return ops_.size(); }

    bool empty() const noexcept { return ops_.empty(); }

    /// Bytes of keys and values (a measure for batching limits and stats).
    std::size_t bytes() const noexcept { return bytes_; }

    void clear() noexcept {
        ops_.clear();
        bytes_ = 0;
    }

private:
    void add(family fam, op_kind kind, std::string key, std::string value);

    std::vector<op> ops_;
    std::size_t bytes_ = 0;
};

} // namespace thinggate::persist
