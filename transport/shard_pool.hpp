#pragma once
// transport/shard_pool: the broker's runtime on Boost.Asio — N shards, each one io_context{1}
// run by one thread.
// Owns: the shard threads and their io_contexts. Must not use: anything of the broker but runtime.
// Thread safety: post/post_after/now from any thread; current_shard from a shard thread;
// start/stop/join from one controlling thread (not a shard thread).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "broker/runtime.hpp"

namespace thinggate::transport {

class shard_pool final : public broker::runtime {
public:
    /// `shards` = 0 picks one shard per hardware thread.
    explicit shard_pool(std::uint32_t shards);
    ~shard_pool() override; ///< stop() and join()
    shard_pool(const shard_pool&) = delete;
    shard_pool& operator=(const shard_pool&) = delete;

    std::uint32_t shard_count() const noexcept override;
    /// The calling shard thread's id; 0 when called from a thread that is not one of ours.
    broker::shard_id current_shard() const noexcept override;
    /// True on one of this pool's shard threads.
    bool on_shard_thread() const noexcept;
    void post(broker::shard_id shard, std::function<void()> task) override;
    void post_after(
            broker::shard_id shard,
            std::chrono::milliseconds delay,
            std::function<void()> task) override;
    broker::clock::time_point now() const noexcept override;

    /// The io_context of `shard`: every I/O object of a connection on that shard is made on it.
    boost::asio::io_context& context(broker::shard_id shard) noexcept;

    /// Starts one thread per shard. Tasks posted before start() run once it is called.
    void start();
    /// Stops every shard's loop; queued tasks that have not run are dropped. Idempotent.
    void stop();
    /// Waits for the shard threads to end (after stop()). Idempotent.
    void join();

    bool running() const noexcept { return running_.load(std::memory_order_acquire); }

private:
    struct shard;
    void run_shard(broker::shard_id id);

    std::vector<std::unique_ptr<shard>> shards_;
    std::atomic<bool> running_{false};
};

} // namespace thinggate::transport
