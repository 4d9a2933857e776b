#include "persist/recovery.hpp"

#include <set>

#include "persist/record_codec.hpp"

namespace thinggate::persist {

std::optional<wall_time>
session_end(const session_record& s, std::optional<wall_time> last_heartbeat) noexcept {
    return s.disconnected_at ? s.disconnected_at : last_heartbeat;
}

bool session_expired(
        const session_record& s, std::optional<wall_time> last_heartbeat, wall_time now) noexcept {
    auto end = session_end(s, last_heartbeat).value_or(now);
    return end + std::chrono::seconds(s.expiry_interval) <= now;
}

boost::system::result<std::optional<wall_time>> last_heartbeat(const store& s) {
    auto value = s.get(family::meta, codec::meta_heartbeat_key);
    if (!value) {
        return value.error();
    }
    if (!*value) {
        return std::optional<wall_time>{};
    }
    auto t = codec::decode_time(**value);
    if (!t) {
        return make_error_code(errc::corrupt);
    }
    return std::optional<wall_time>{*t};
}

namespace {

/// Client ids that own records in `fam` (keys are client prefix + rest).
boost::system::error_code
clients_in(const store& s, family fam, std::set<std::string, std::less<>>& out) {
    return s.scan(fam, {}, [&](std::string_view key, std::string_view) {
        if (key.size() < 2) {
            return true; // decoding reports it at load_all
        }
        auto n = (static_cast<std::size_t>(static_cast<std::uint8_t>(key[0])) << 8) |
                 static_cast<std::uint8_t>(key[1]);
        if (key.size() - 2 >= n) {
            out.emplace(key.substr(2, n));
        }
        return true;
    });
}

} // namespace

boost::system::result<purge_stats> purge_expired(store& s, wall_time now, durability d) {
    purge_stats stats;
    write_batch batch;
    auto heartbeat = last_heartbeat(s);
    if (!heartbeat) {
        return heartbeat.error();
    }

    std::set<std::string, std::less<>> live;
    std::set<std::string, std::less<>> expired;
    boost::system::error_code decode_error;
    auto ec = s.scan(family::sessions, {}, [&](std::string_view key, std::string_view value) {
        session_record r;
        if ((decode_error = codec::decode(key, value, r))) {
            return false;
        }
        if (session_expired(r, *heartbeat, now)) {
            batch.erase_client(r.client_id);
            expired.insert(r.client_id);
            ++stats.sessions;
        } else {
            live.insert(r.client_id);
        }
        return true;
    });
    if (ec || decode_error) {
        return ec ? ec : decode_error;
    }

    std::set<std::string, std::less<>> owners;
    for (auto fam : {family::subscriptions, family::queued, family::inflight, family::qos2_in}) {
        if (auto e = clients_in(s, fam, owners)) {
            return e;
        }
    }
    for (const auto& id : owners) {
        if (!live.contains(id) && !expired.contains(id)) {
            batch.erase_client(id);
            ++stats.orphans;
        }
    }

    ec = s.scan(family::queued, {}, [&](std::string_view key, std::string_view value) {
        queued_record r;
        if ((decode_error = codec::decode(key, value, r))) {
            return false;
        }
        if (live.contains(r.client_id) && r.d.msg.expires_at && *r.d.msg.expires_at <= now) {
            batch.erase_queued(r.client_id, r.seq);
            ++stats.queued_messages;
        }
        return true;
    });
    if (ec || decode_error) {
        return ec ? ec : decode_error;
    }

    ec = s.scan(family::retained, {}, [&](std::string_view key, std::string_view value) {
        message_record r;
        if ((decode_error = codec::decode(key, value, r))) {
            return false;
        }
        if (r.expires_at && *r.expires_at <= now) {
            batch.erase_retained(r.topic);
            ++stats.retained_messages;
        }
        return true;
    });
    if (ec || decode_error) {
        return ec ? ec : decode_error;
    }

    if (!batch.empty()) {
        if (auto e = s.commit_sync(std::move(batch), d)) {
            return e;
        }
    }
    return stats;
}

} // namespace thinggate::persist
