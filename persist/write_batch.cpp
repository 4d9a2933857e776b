#include "persist/write_batch.hpp"

#include <iterator>

#include "persist/record_codec.hpp"

namespace thinggate::persist {

void write_batch::add(family fam, op_kind kind, std::string key, std::string value) {
    bytes_ += key.size() + value.size();
    ops_.push_back(op{fam, kind, std::move(key), std::move(value)});
}

void write_batch::put(const session_record& r) {
    add(family::sessions, op_kind::put, codec::session_key(r.client_id), codec::encode(r));
}

void write_batch::put(const subscription_record& r) {
    add(family::subscriptions,
        op_kind::put,
        codec::subscription_key(r.client_id, r.filter),
        codec::encode(r));
}

void write_batch::put(const queued_record& r) {
    add(family::queued, op_kind::put, codec::sequence_key(r.client_id, r.seq), codec::encode(r));
}

void write_batch::put(const inflight_record& r) {
    add(family::inflight, op_kind::put, codec::sequence_key(r.client_id, r.seq), codec::encode(r));
}

void write_batch::put(const qos2_in_record& r) {
    add(family::qos2_in,
        op_kind::put,
        codec::qos2_in_key(r.client_id, r.packet_id),
        codec::encode(r));
}

void write_batch::put_retained(const message_record& r) {
    add(family::retained, op_kind::put, codec::retained_key(r.topic), codec::encode(r));
}

void write_batch::put(const blob_record& r) {
    auto fam = kind_family(r.kind);
    if (!fam) {
        return; // not a blob kind of this schema: nothing a caller can mean
    }
    add(*fam, op_kind::put, codec::blob_key(r.kind, r.name), r.value);
}

void write_batch::erase_session(std::string_view client_id) {
    add(family::sessions, op_kind::erase, codec::session_key(client_id), {});
}

void write_batch::erase_subscription(std::string_view client_id, std::string_view filter) {
    add(family::subscriptions, op_kind::erase, codec::subscription_key(client_id, filter), {});
}

void write_batch::erase_queued(std::string_view client_id, std::uint64_t seq) {
    add(family::queued, op_kind::erase, codec::sequence_key(client_id, seq), {});
}

void write_batch::erase_inflight(std::string_view client_id, std::uint64_t seq) {
    add(family::inflight, op_kind::erase, codec::sequence_key(client_id, seq), {});
}

void write_batch::erase_qos2_in(std::string_view client_id, std::uint16_t packet_id) {
    add(family::qos2_in, op_kind::erase, codec::qos2_in_key(client_id, packet_id), {});
}

void write_batch::erase_retained(std::string_view topic) {
    add(family::retained, op_kind::erase, codec::retained_key(topic), {});
}

void write_batch::erase_blob(blob_kind kind, std::string_view name) {
    auto fam = kind_family(kind);
    if (!fam) {
        return;
    }
    add(*fam, op_kind::erase, codec::blob_key(kind, name), {});
}

void write_batch::erase_client(std::string_view client_id) {
    auto prefix = codec::client_prefix(client_id);
    // The session key is the prefix itself; a range delete covers it too.
    auto end = codec::prefix_end(prefix);
    for (auto fam :
         {family::sessions,
          family::subscriptions,
          family::queued,
          family::inflight,
          family::qos2_in}) {
        add(fam, op_kind::erase_range, prefix, end);
    }
}

void write_batch::put_heartbeat(wall_time t) {
    add(family::meta, op_kind::put, std::string(codec::meta_heartbeat_key), codec::encode_time(t));
}

void write_batch::put_raw(family fam, std::string key, std::string value) {
    add(fam, op_kind::put, std::move(key), std::move(value));
}

void write_batch::erase_raw(family fam, std::string key) {
    add(fam, op_kind::erase, std::move(key), {});
}

void write_batch::append(write_batch&& other) {
    if (ops_.empty()) {
        ops_ = std::move(other.ops_);
    } else {
        ops_.insert(
                ops_.end(),
                std::make_move_iterator(other.ops_.begin()),
                std::make_move_iterator(other.ops_.end()));
    }
    bytes_ += other.bytes_;
    other.clear();
}

} // namespace thinggate::persist
