#pragma once
// broker/runtime: what the broker needs from the threads it runs on, as an interface.
// Owns: nothing. transport/ implements it with one Asio io_context per shard; tests implement it
// with a manual, single-threaded queue. Must not use: Asio.
// Thread safety: post/post_after may be called from any thread; current_shard from a shard thread.

#include <chrono>
#include <cstdint>
#include <functional>

#include "broker/message.hpp"

namespace thinggate::broker {

using shard_id = std::uint32_t;

class runtime {
public:
    virtual ~runtime() = default;

    virtual std::uint32_t shard_count() const noexcept = 0;

    /// The shard whose thread is calling; only meaningful on a shard thread.
    virtual shard_id current_shard() const noexcept = 0;

    /// Runs `task` on `shard`'s thread, after what is already queued there (FIFO per pair of shards).
    virtual void post(shard_id shard, std::function<void()> task) = 0;

    /// Runs `task` on `shard` once `delay` has passed. Returns nothing: to cancel, the task checks
    /// its own state when it runs (timers here are for wills, expiry and sweeps, never per packet).
    virtual void post_after(shard_id shard, std::chrono::milliseconds delay, std::function<void()> task) = 0;

    virtual clock::time_point now() const noexcept = 0;
};

} // namespace thinggate::broker
