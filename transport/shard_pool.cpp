#include "transport/shard_pool.hpp"

#include <cassert>
#include <exception>
#include <thread>
#include <utility>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <spdlog/spdlog.h>

namespace thinggate::transport {

namespace asio = boost::asio;

namespace {

struct shard_identity {
    const shard_pool* pool = nullptr;
    broker::shard_id id = 0;
};

thread_local shard_identity this_shard;

} // namespace

// Cache-line aligned: each shard's scheduler state is hammered by its own thread.
struct alignas(64) shard_pool::shard {
    asio::io_context io{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::thread thread;
};

shard_pool::shard_pool(std::uint32_t shards) {
    if (shards == 0) {
        shards = std::max(1u, std::thread::hardware_concurrency());
    }
    shards_.reserve(shards);
    for (std::uint32_t i = 0; i < shards; ++i) {
        shards_.push_back(std::make_unique<shard>());
        shards_.back()->work.emplace(shards_.back()->io.get_executor());
    }
}

shard_pool::~shard_pool() {
    stop();
    join();
}

std::uint32_t shard_pool::shard_count() const noexcept {
    return static_cast<std::uint32_t>(shards_.size());
}

broker::shard_id shard_pool::current_shard() const noexcept {
    return this_shard.pool == this ? this_shard.id : 0;
}

bool shard_pool::on_shard_thread() const noexcept {
    return this_shard.pool == this;
}

asio::io_context& shard_pool::context(broker::shard_id shard) noexcept {
    assert(shard < shards_.size());
    return shards_[shard % shards_.size()]->io;
}

void shard_pool::post(broker::shard_id shard, std::function<void()> task) {
    asio::post(context(shard), std::move(task));
}

void shard_pool::post_after(
        broker::shard_id shard, std::chrono::milliseconds delay, std::function<void()> task) {
    if (delay <= std::chrono::milliseconds::zero()) {
        post(shard, std::move(task));
        return;
    }
    // The timer must be created on its shard's thread (I/O objects are not thread-safe), so the
    // caller's thread only posts; the handler owns the timer until it fires or the loop ends.
    asio::post(context(shard), [this, shard, delay, task = std::move(task)]() mutable {
        auto timer = std::make_unique<asio::steady_timer>(context(shard), delay);
        auto& t = *timer;
        t.async_wait([timer = std::move(timer),
                      task = std::move(task)](const boost::system::error_code& ec) {
            if (!ec) {
                task();
            }
        });
    });
}

broker::clock::time_point shard_pool::now() const noexcept {
    return broker::clock::now();
}

void shard_pool::start() {
    if (running_.exchange(true, std::memory_order_acq_rel)) {
        return;
    }
    for (broker::shard_id i = 0; i < shards_.size(); ++i) {
        shards_[i]->thread = std::thread([this, i] { run_shard(i); });
    }
}

void shard_pool::run_shard(broker::shard_id id) {
    this_shard = {this, id};
    auto& io = shards_[id]->io;
    // A task that throws must not take the shard down: log it and keep running.
    for (;;) {
        try {
            io.run();
            break;
        } catch (const std::exception& e) {
            spdlog::error("shard {}: task threw: {}", id, e.what());
        } catch (...) {
            spdlog::error("shard {}: task threw a non-standard exception", id);
        }
    }
    this_shard = {};
}

void shard_pool::stop() {
    for (auto& s : shards_) {
        // Called from the controlling thread: the work guard is only touched here.
        s->work.reset();
        s->io.stop();
    }
    running_.store(false, std::memory_order_release);
}

void shard_pool::join() {
    for (auto& s : shards_) {
        if (s->thread.joinable()) {
            s->thread.join();
        }
    }
}

} // namespace thinggate::transport
