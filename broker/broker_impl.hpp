#pragma once
// broker/broker_impl: the broker's internals, shared by broker.cpp and client.cpp. Not a public API.
// Thread safety: see broker.hpp. sessions_mutex guards `sessions` and session::claim; subs_mutex
// guards `index`; retained_mutex guards `retained`; shard_states[i] is touched only on shard i.

#include <atomic>
#include <cstdint>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/broker.hpp"
#include "broker/retained_store.hpp"
#include "broker/session.hpp"
#include "broker/subscription_index.hpp"

namespace thinggate::broker {

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// One delivery decided by routing: which session, at which QoS, with which flags.
struct route_target {
    session_ptr s;
    mqtt::qos qos = mqtt::qos::at_most_once;
    bool retain = false;
    std::vector<std::uint32_t> subscription_ids;
};

/// State a shard keeps for itself (touched only on that shard's thread).
struct shard_state {
    /// Connections waiting for their session to be handed over from another shard, by claim.
    std::unordered_map<std::uint64_t, client_machine*> pending_connects;
};

struct broker::impl {
    impl(options o, runtime& r);

    options opts;
    runtime& rt;
    mqtt::match_options match_opts;

    std::atomic<std::uint64_t> connections{0};
    std::atomic<std::uint64_t> messages_in{0};
    std::atomic<std::uint64_t> messages_out{0};
    std::atomic<std::uint64_t> dropped{0};
    std::atomic<std::uint64_t> next_key{0};
    std::atomic<std::uint64_t> next_claim{0};
    std::atomic<std::uint64_t> subscription_count{0};
    std::atomic<bool> shutting_down{false};

    std::mutex sessions_mutex;
    std::unordered_map<std::string, session_ptr, string_hash, std::equal_to<>> sessions;
    std::unordered_map<const session*, std::uint64_t> claims; ///< latest claim per session (sessions_mutex)
    /// Last CONNECT time per client id, for min_connect_interval_ms (sessions_mutex).
    std::unordered_map<std::string, clock::time_point, string_hash, std::equal_to<>> last_connect;

    mutable std::shared_mutex subs_mutex;
    subscription_index<session_ptr> index;

    mutable std::shared_mutex retained_mutex;
    retained_store retained;

    std::vector<shard_state> shard_states;

    // --- sessions ---
    /// False when the same client id connected less than min_connect_interval_ms ago. Records now.
    bool connect_allowed(const std::string& client_id);
    /// Finds or creates the session for a CONNECT on the calling shard. Completes by calling
    /// c.on_session_ready(...) now (session local or new) or later on this shard (handover).
    void open_session(client_machine& c, const std::string& client_id, bool clean_start);
    /// On the old session's shard: kick its connection, move it to `target`, hand it to the claimant.
    void hand_over(session_ptr s, std::uint64_t claim, shard_id target);
    void finish_hand_over(session_ptr s, std::uint64_t claim);
    /// A connection left its session (on the session's shard): wills, expiry.
    void on_detached(const session_ptr& s);
    /// Removes the session everywhere and publishes a pending will. On the session's shard.
    void end_session(const session_ptr& s);

    // --- subscriptions ---
    /// Returns true when new.
    bool subscribe(const session_ptr& s, const std::string& full_filter, const session_subscription& sub);
    bool unsubscribe(const session_ptr& s, std::string_view full_filter);

    // --- routing ---
    /// Routes one PUBLISH (any shard): retained store, matching, one post per target shard.
    void route(const message_ptr& m);
    /// Delivers on the session's shard (re-posts if the session moved).
    void deliver(route_target t, const message_ptr& m);
    void enqueue(session& s, queued_delivery d);
    /// Publishes a will (or a delayed will) as a normal message.
    void publish_will(const mqtt::will_message& w, std::uint64_t origin);
};

} // namespace thinggate::broker
