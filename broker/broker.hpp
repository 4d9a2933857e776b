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

#include "broker/options.hpp"
#include "broker/runtime.hpp"

namespace thinggate::broker {

struct broker_stats {
    std::uint64_t connections = 0;       ///< open network connections
    std::uint64_t sessions = 0;          ///< sessions, connected or not
    std::uint64_t subscriptions = 0;
    std::uint64_t retained = 0;
    std::uint64_t messages_in = 0;       ///< PUBLISH received
    std::uint64_t messages_out = 0;      ///< PUBLISH sent
    std::uint64_t dropped = 0;           ///< deliveries dropped (queue full, slow consumer QoS 0, expired)
};

class broker {
public:
    broker(options opts, runtime& rt);
    ~broker();
    broker(const broker&) = delete;
    broker& operator=(const broker&) = delete;

    const options& opts() const noexcept;
    runtime& rt() noexcept;

    /// Connection admission against limits.max_connections; call release_connection when it ends.
    bool try_admit_connection() noexcept;
    void release_connection() noexcept;

    broker_stats stats() const;

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
