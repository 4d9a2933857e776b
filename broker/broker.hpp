#pragma once
// broker/broker: the process-wide broker state — sessions by client id, the subscription index,
// retained messages — and routing of PUBLISH between shards.
// Owns: sessions, subscriptions, retained messages, wills, routing decisions. Must not use: Asio, TOML.
// Thread safety: the public functions are safe from any shard thread. Internally: the session map
// and the subscription index/retained store are guarded by their own mutexes, held for short
// sections only, never across a post. A session's mutable state is touched only on its shard.

#include <atomic>
#include <cstdint>
#include <memory>

#include <boost/system/result.hpp>

#include "broker/options.hpp"
#include "broker/runtime.hpp"

namespace thinggate::persist {
class store;
}
namespace thinggate::auth {
class registry;
}

namespace thinggate::broker {

struct broker_stats {
    std::uint64_t connections = 0;       ///< open network connections
    std::uint64_t sessions = 0;          ///< sessions, connected or not
    std::uint64_t subscriptions = 0;
    std::uint64_t retained = 0;
    std::uint64_t messages_in = 0;       ///< PUBLISH received
    std::uint64_t messages_out = 0;      ///< PUBLISH sent
    std::uint64_t dropped = 0;           ///< deliveries dropped (queue full, slow consumer QoS 0, expired)
    std::uint64_t refused = 0;           ///< publishes refused with 0x97 (queue_overflow = refuse)
    std::uint64_t queued = 0;            ///< messages queued over all sessions
    std::uint64_t commit_failures = 0;   ///< store commits that failed (disk full, I/O error)
    std::uint64_t denied = 0;            ///< requests refused by policy, deliveries skipped by iot:Receive
};

/// What recover() restored.
struct recovery_stats {
    std::uint64_t sessions = 0;
    std::uint64_t subscriptions = 0;
    std::uint64_t queued = 0;
    std::uint64_t inflight = 0;
    std::uint64_t qos2_in = 0;
    std::uint64_t retained = 0;
    std::uint64_t wills = 0; ///< wills pending (published when their delay ends or at once)
};

class broker {
public:
    /// `store`: where sessions, queues and retained messages are written (outlives the broker);
    /// nullptr = nothing is persisted.
    broker(options opts, runtime& rt, persist::store* store = nullptr);
    ~broker();
    broker(const broker&) = delete;
    broker& operator=(const broker&) = delete;

    const options& opts() const noexcept;
    runtime& rt() noexcept;

    /// Connection admission against limits.max_connections; call release_connection when it ends.
    bool try_admit_connection() noexcept;
    void release_connection() noexcept;

    broker_stats stats() const;

    /// Authorises connections with certificates by the registry's policies (CONNECT, PUBLISH,
    /// SUBSCRIBE, each delivery), and follows its changes (revocation disconnects, policy changes
    /// re-evaluate). Call before start(); `r` outlives the broker. Without it nothing is checked.
    void use_registry(auth::registry& r);

    /// Publishes a message made by the gateway itself (lifecycle and registration events):
    /// QoS 1, not retained, delivered subject to each subscriber's iot:Receive. Any thread.
    void publish_event(std::string topic, std::string payload);

    /// Restores sessions, subscriptions, queued and in-flight messages and retained messages from
    /// the store, re-arming expiry and will-delay timers. Call once, before the shards run and
    /// before start(); the store should have been purged (persist::purge_expired) first.
    boost::system::result<recovery_stats> recover();

    /// After the shards stopped: commits the writes they still held (the last loop turn).
    void flush_after_stop();

    /// Starts the periodic sweeps (expired sessions and retained messages). Call once, after the
    /// runtime's shards are running.
    void start();

    /// Stops routing new work; already-posted tasks still run.
    void begin_shutdown() noexcept;

    struct impl;
    impl& internals() noexcept { return *impl_; }

private:
    std::unique_ptr<impl> impl_;
};

} // namespace thinggate::broker
