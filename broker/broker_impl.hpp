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
#include <unordered_set>
#include <vector>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "broker/broker.hpp"
#include "broker/retained_store.hpp"
#include "broker/session.hpp"
#include "broker/subscription_index.hpp"
#include "broker/target_set.hpp"
#include "auth/registry.hpp"
#include "persist/store.hpp"

namespace thinggate::broker {

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// What routing decided about a PUBLISH, for the publisher's acknowledgement.
struct route_result {
    bool stored = false;  ///< something was written to the shard's batch (ack after its commit)
    bool refused = false; ///< queue_overflow::refuse hit: nothing was delivered (0x97)
    /// A target is congested (its queue or its connection's output over the high-water mark,
    /// for less than max_ack_delay_ms): hold the publisher back.
    bool congested = false;
    /// broker::impl::congestion_epoch when routing began (for wait_congestion).
    std::uint64_t congestion_epoch = 0;
};

using commit_callback = std::function<void(boost::system::error_code)>;

/// Deliveries routed to one shard and not yet delivered there. Any shard appends (under the
/// mutex); the first append after a drain posts one drain task to the shard, so a burst of
/// PUBLISH packets costs one post per target shard, not one std::function per PUBLISH.
struct alignas(64) delivery_inbox {
    std::mutex mutex;
    std::vector<route_target> targets;
    /// (index in `targets` of the first delivery of a message, the message), in order.
    std::vector<std::pair<std::size_t, message_ptr>> messages;
    bool posted = false; ///< a drain task is queued on the shard
};

/// State a shard keeps for itself (touched only on that shard's thread).
struct shard_state {
    /// Connections waiting for their session to be handed over from another shard, by claim.
    std::unordered_map<std::uint64_t, client_machine*> pending_connects;

    // --- persistence (see durable.cpp): one write batch per event-loop turn (group commit) ---
    persist::write_batch batch;                 ///< writes of the open batch
    std::vector<commit_callback> on_commit;     ///< run on this shard, in order, once it commits
    std::uint64_t open_ticket = 1;              ///< number of the open batch
    bool flush_posted = false;                  ///< a flush task for the open batch is queued
    std::uint64_t backlog_bytes = 0;            ///< handed to the store, not yet completed
    std::vector<std::weak_ptr<client_machine*>> backlog_waiters; ///< publishers paused on backlog
    std::unordered_set<client_machine*> clients; ///< every connection of this shard
    std::chrono::steady_clock::time_point last_error_log{};
};

struct broker::impl {
    impl(options o, runtime& r, persist::store* st);

    options opts;
    runtime& rt;
    persist::store* store; ///< nullptr: nothing is persisted (every session lives in memory only)
    auth::registry* registry = nullptr; ///< nullptr: no policy checks (set before start())
    mqtt::match_options match_opts;

    std::atomic<std::uint64_t> connections{0};
    std::atomic<std::uint64_t> messages_in{0};
    std::atomic<std::uint64_t> messages_out{0};
    std::atomic<std::uint64_t> dropped{0};
    std::atomic<std::uint64_t> next_key{0};
    std::atomic<std::uint64_t> next_claim{0};
    std::atomic<std::uint64_t> subscription_count{0};
    std::atomic<std::uint64_t> total_queued_messages{0};
    std::atomic<std::uint64_t> total_queued_bytes{0};
    std::atomic<std::uint64_t> refused{0};
    std::atomic<std::uint64_t> commit_failures{0};
    std::atomic<std::uint64_t> denied{0}; ///< requests refused by policy (deliveries skipped included)
    std::atomic<std::uint64_t> event_version{0};
    std::uint64_t registry_listener = 0;

    /// Publishers whose acknowledgements wait for congested queues to drain (any shard).
    std::mutex congestion_mutex;
    std::atomic<std::uint64_t> congestion_epoch{0}; ///< +1 per release_congestion (under the mutex)
    std::vector<std::pair<shard_id, std::weak_ptr<client_machine*>>> congestion_waiters;
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
    std::unique_ptr<delivery_inbox[]> inboxes; ///< one per shard
    /// rt.shard_count() == 1 (fixed for the runtime's life): everything runs on one thread.
    const bool one_shard;

    // --- sessions ---
    /// False when the same client id connected less than min_connect_interval_ms ago. Records now.
    bool connect_allowed(const std::string& client_id);
    /// Finds or creates the session for a CONNECT on the calling shard. Completes by calling
    /// c.on_session_ready(...) now (session local or new) or later on this shard (handover).
    void open_session(client_machine& c, const std::string& client_id, bool clean_start);
    /// On the old session's shard: kick its connection, move it to `target`, hand it to the claimant.
    void hand_over(session_ptr s, std::uint64_t claim, shard_id target, bool clean_start);
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
    /// Routes one PUBLISH (on a shard): retained store, matching, one post per target shard.
    /// QoS 1/2 deliveries to durable sessions are first written as queued records in this shard's
    /// batch (with the retained update) and forwarded once it commits.
    route_result route(const message_ptr& m) {
        std::int64_t now_ns = 0;
        return route(m, now_ns);
    }

    /// `now_ns`: the runtime clock (ns since its epoch) as the caller read it, 0 = not read yet.
    /// Routing reads it only when a target is congested, and at most once per `now_ns`: the
    /// PUBLISH packets of one read of a publisher share one reading (a clock read per PUBLISH
    /// routed to a congested session was ~3 % of a fan-in QoS 1 broker's time).
    route_result route(const message_ptr& m, std::int64_t& now_ns);
    /// Hands deliveries to their sessions' shards (their inboxes; a drain is posted when needed).
    void post_deliveries(const message_ptr& m, std::vector<route_target>& targets);
    /// On shard `shard`: delivers what its inbox holds, in order.
    void drain_inbox(shard_id shard);
    /// True when one more message of `bytes` would exceed the session's or the total queue limits.
    bool queue_full(const session& s, std::size_t bytes) const noexcept;
    /// Delivers on the session's shard (re-posts if the session moved). `t` is the caller's
    /// (its subscription identifiers are taken; its session reference is borrowed, not copied).
    /// `scratch` (drain_inbox's): a QoS 0 delivery to a connected client is built in it, taking
    /// a reference to the message once per message instead of once per delivery.
    /// `last`: the caller does not use `m` after this call, so a delivery that keeps the message
    /// takes the caller's reference instead of a new one (fan-in: a message has one delivery).
    void deliver(route_target& t, message_ptr& m, bool last, queued_delivery* scratch = nullptr);
    void enqueue(session& s, queued_delivery d);
    /// A message made by the gateway (events): QoS 1, routed on shard 0.
    void publish_event(std::string topic, std::string payload);
    /// Publishes a will (or a delayed will) as a normal message.
    void publish_will(const mqtt::will_message& w, std::uint64_t origin);
    /// Removes the front of s.queue (bookkeeping and its record).
    queued_delivery pop_queued(session& s);
    /// Sets or clears s.congested from its queue and its connection's unwritten output (high
    /// water: a quarter of the limits; low: an eighth, and half the output high water);
    /// clearing wakes the waiting publishers.
    void update_congestion(session& s);
    /// What a QoS 0 delivery of `m` counts in session::in_transit_bytes.
    static std::uint64_t transit_bytes(const message& m) noexcept { return m.payload.size() + m.topic.size(); }
    /// Marks `s` congested; the episode's start time is kept if one is running.
    void mark_congested(session& s);
    /// A congested `s` holds publishers back: its episode is younger than max_ack_delay_ms
    /// (`now_ns`: the runtime clock, read on first use).
    bool holds_back(const session& s, std::int64_t& now_ns) const;
    /// Unwritten output of a connection over which its session counts as congested (a quarter of
    /// outbound_budget_bytes; 1 MiB without a budget); it clears at half of that.
    std::size_t output_high_water() const noexcept;
    /// Queue (plus `in_transit`) over a quarter of the limits.
    bool over_high_water(const session& s, std::uint64_t in_transit) const noexcept;
    /// deliver() once on the session's shard.
    void deliver_here(
            session& s, route_target& t, message_ptr& m, bool last, queued_delivery* scratch);
    /// session::in_transit_bytes += `add` - `sub`. With one shard, routing and delivery both run
    /// on its thread, the only one that touches the counter: a plain read and write, no locked
    /// instruction (each was a store-buffer drain per delivery, ~15 % of a QoS 0 fan-out).
    void add_in_transit_bytes(session& s, std::uint64_t add, std::uint64_t sub) const noexcept;

    /// `c += d` (an unsigned `d` wraps for a subtraction) for a counter that only shard threads
    /// change: with one shard that is one thread, so a plain read and write; else an atomic add.
    /// A locked add waits for the store buffer to drain: a fan-in QoS 1 delivery made a dozen
    /// (the broker's counters, the session's queue and in-transit counts).
    template <typename T>
    void add_counter(std::atomic<T>& c, T d) const noexcept {
        if (one_shard) {
            c.store(c.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
        } else {
            c.fetch_add(d, std::memory_order_relaxed);
        }
    }

    /// `c += d` for a counter with one writer at a time (session::queued_count and queued_bytes:
    /// the session's shard; a handover to another shard is a post, which orders the writes).
    template <typename T>
    static void add_owned(std::atomic<T>& c, T d) noexcept {
        c.store(c.load(std::memory_order_relaxed) + d, std::memory_order_relaxed);
    }
    /// Registers `c` to be woken (release_withheld on `shard`) when a congested session drains.
    /// `epoch` is route_result::congestion_epoch of the routing that found the congestion: if a
    /// session has drained since, `c` is woken at once (no lost wake-up).
    void wait_congestion(shard_id shard, std::weak_ptr<client_machine*> c, std::uint64_t epoch);
    void release_congestion();
    /// Arms the will-delay and expiry timers of an offline session (times from now).
    void arm_offline_timers(const session_ptr& s, std::chrono::milliseconds expiry_left,
                            std::optional<std::chrono::milliseconds> will_left);

    // --- persistence (durable.cpp); all on the calling shard ---
    /// The calling shard's open batch; schedules its flush at the end of this loop turn.
    persist::write_batch& batch_here();
    /// Runs `cb` on this shard once the open batch has committed; returns the batch's ticket.
    std::uint64_t after_commit(commit_callback cb);
    /// The ticket of the calling shard's open batch.
    std::uint64_t open_ticket_here() const;
    /// Hands the calling shard's batch to the store now (end of a loop turn, or before a session
    /// leaves this shard so that its writes stay ordered before the next shard's).
    void flush_here();
    bool over_backlog_here() const;
    void wait_backlog_here(std::weak_ptr<client_machine*> c);
    /// Writes (or rewrites) the session record.
    void write_session(session& s, std::optional<persist::wall_time> disconnected_at,
                       const mqtt::will_message* will);
    /// Record of a delivery for the store.
    persist::delivery_record to_record(const queued_delivery& d) const;
    persist::message_record to_record(const message& m) const;
    message_ptr from_record(persist::message_record&& r) const;
    /// Commits what the shards still hold (after the shards stopped).
    void flush_all_after_stop();
    /// Start-up: loads the store's state (before the shards run).
    boost::system::result<recovery_stats> recover();
};

} // namespace thinggate::broker
