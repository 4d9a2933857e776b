#pragma once
// bench/bench_runtime: drive the broker without sockets in a benchmark - one shard run on the
// benchmark's thread (other threads, such as the store's writer, post into it), a connection_io
// that only counts, and feeding bytes to a client.

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "broker/client.hpp"
#include "broker/runtime.hpp"
#include "mqtt/codec.hpp"

namespace thinggate::bench {

/// One shard run on the benchmark's thread; the store's writer thread posts completions into it.
class inline_runtime final : public broker::runtime {
public:
    std::uint32_t shard_count() const noexcept override { return 1; }
    broker::shard_id current_shard() const noexcept override { return 0; }
    void post(broker::shard_id, std::function<void()> task) override {
        std::lock_guard lock(mutex_);
        tasks_.push_back(std::move(task));
        cv_.notify_one();
    }
    void post_after(broker::shard_id, std::chrono::milliseconds, std::function<void()>) override {
        // Timers (heartbeat, expiry, wills) play no part in the benchmarks.
    }
    broker::clock::time_point now() const noexcept override { return broker::clock::now(); }

    /// Runs tasks (waiting for posted ones) until done() is true.
    void run_until(const std::function<bool()>& done) {
        while (!done()) {
            std::function<void()> task;
            {
                std::unique_lock lock(mutex_);
                cv_.wait(lock, [&] { return !tasks_.empty(); });
                task = std::move(tasks_.front());
                tasks_.pop_front();
            }
            task();
        }
    }

    /// Runs what is queued now.
    void drain() {
        for (;;) {
            std::function<void()> task;
            {
                std::lock_guard lock(mutex_);
                if (tasks_.empty()) {
                    return;
                }
                task = std::move(tasks_.front());
                tasks_.pop_front();
            }
            task();
        }
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> tasks_;
};

class sink final : public broker::connection_io {
public:
    void wake_writer() override {}
    void close(bool) override { closed = true; }
    void read_timeout_changed() override {}
    bool closed = false;
};

inline void feed(broker::client& c, const std::string& bytes) {
    auto buf = c.prepare_input(bytes.size());
    std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(buf.data()));
    c.commit_input(bytes.size());
}

/// `p` encoded as MQTT 5.
inline std::string encoded(const mqtt::packet& p) {
    std::string out;
    mqtt::encode(p, mqtt::protocol_version::v5, out);
    return out;
}

/// Calls `fn` with the bytes of each packet start in `frames`: a frame with a body is one
/// packet (head + borrowed payload); a frame without one may be a run of whole packets.
template <class Fn>
void for_each_packet(const std::vector<broker::out_frame>& frames, Fn&& fn) {
    for (const auto& f : frames) {
        const std::string_view h(f.head.data(), f.head.size());
        if (!f.body.empty()) {
            fn(h);
            continue;
        }
        std::size_t at = 0;
        while (at < h.size()) {
            std::size_t i = at + 1;
            std::size_t len = 0;
            for (int shift = 0;; shift += 7) {
                const auto b = static_cast<std::uint8_t>(h[i++]);
                len |= static_cast<std::size_t>(b & 0x7F) << shift;
                if ((b & 0x80) == 0) {
                    break;
                }
            }
            fn(h.substr(at, i + len - at));
            at = i + len;
        }
    }
}

/// Takes what `c` queued and "writes" it; returns the number of packets.
inline std::size_t take(broker::client& c) {
    thread_local std::vector<broker::out_frame> frames;
    frames.clear();
    c.take_output(frames);
    std::size_t bytes = 0;
    for (const auto& f : frames) {
        bytes += f.size();
    }
    c.output_written(bytes);
    std::size_t n = 0;
    for_each_packet(frames, [&](std::string_view) { ++n; });
    frames.clear();
    return n;
}

} // namespace thinggate::bench
