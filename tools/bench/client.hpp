#pragma once
// tools/bench/client: the load tool's MQTT connections (plain TCP or mutual TLS over Boost.Asio,
// packets through mqtt/codec) and the per-thread worker that owns them.
// Owns: sockets, the publish / subscribe / connect-storm / idle loops, per-thread counters.
// Thread safety: a worker and its sessions live on the worker's thread (its own io_context);
// other threads only post to it and read the atomic counters in worker_stats.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>

#include "tools/bench/histogram.hpp"
#include "tools/bench/options.hpp"
#include "tools/bench/plan.hpp"
#include "tools/bench/stamp.hpp"

namespace thinggate::bench {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

/// Nanoseconds on the steady clock (the time base of payload stamps).
std::uint64_t now_ns() noexcept;

/// A client TLS context for --tls: mutual TLS, the broker verified against --cafile, session
/// caching and tickets off (every connection makes a full handshake). Throws on bad files.
std::unique_ptr<asio::ssl::context> make_tls_context(const options& o);

/// Counters of one worker. The worker's thread is the only writer; the main thread reads them
/// (relaxed) for progress and for the phase conditions.
struct worker_stats {
    std::atomic<std::uint64_t> sent{0};
    std::atomic<std::uint64_t> sent_qos{0}; ///< of which QoS 1/2
    std::atomic<std::uint64_t> acked{0};
    std::atomic<std::uint64_t> expected{0}; ///< deliveries owed for what was sent
    std::atomic<std::uint64_t> delivered{0};
    std::atomic<std::uint64_t> errors{0};
    std::atomic<std::uint64_t> connects{0};
    std::atomic<std::uint64_t> ready{0};  ///< sessions connected (and subscribed)
    std::atomic<std::uint64_t> failed{0}; ///< sessions that ended with an error
    std::atomic<std::uint64_t> open{0};   ///< sessions still running
    std::atomic<std::uint64_t> publishers_done{0};
    std::atomic<std::uint64_t> last_delivery_ns{0};
    std::atomic<std::uint64_t> last_ack_ns{0};
    std::atomic<std::uint64_t> offline{0};      ///< backlog: persistent sessions gone offline
    std::atomic<std::uint64_t> reconnected{0};  ///< backlog: ... and back (CONNACK received)
    std::atomic<std::uint64_t> reconnect_ns{0}; ///< backlog: when the last CONNACK came back
    /// Most bytes seen waiting in a subscriber's socket when its reader got a turn.
    std::atomic<std::uint64_t> rx_queue_max{0};
    // Worker-thread only (read after the thread has joined):
    histogram latency;
    std::uint64_t duplicates = 0;
    std::uint64_t out_of_order = 0;
    std::vector<std::string> error_samples;
};

/// What every connection shares (read-only during the run, except the atomics).
struct run_shared {
    const options* opts = nullptr;
    const run_plan* plan = nullptr;
    const target* tgt = nullptr;
    asio::ssl::context* tls = nullptr; ///< null for plain TCP
    std::atomic<bool> stop{false};     ///< publishers and connectors stop at once
};

class session_base;

/// One thread with its own io_context and the sessions placed on it.
class worker {
public:
    explicit worker(run_shared& shared);
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    /// Runs the io_context on a new thread.
    void start_thread();
    /// Creates the sessions for these plan entries and opens them, at most 32 opens at a time.
    void post_open(std::vector<const connection_plan*> entries);
    /// Publishers and connectors start at `at` (steady clock) and stop at `deadline`.
    void post_start(steady::time_point at, steady::time_point deadline);
    /// Wakes every waiting publisher and connector so that it sees run_shared::stop.
    void post_stop();
    /// Sends DISCONNECT on every session and closes it.
    void post_close();
    /// Backlog: persistent sessions send DISCONNECT (keeping their session) and close.
    void post_offline();
    /// Backlog: persistent sessions that went offline connect again (Clean Start 0).
    void post_reconnect();
    /// Stops the io_context and joins the thread.
    void join();

    worker_stats& stats() noexcept { return stats_; }

    asio::io_context& context() noexcept { return ctx_; }

    const std::vector<std::shared_ptr<session_base>>& sessions() const noexcept {
        return sessions_;
    }

    run_shared& shared() noexcept { return shared_; }

    /// Records an error (count, and the first few messages).
    void error(std::string message);

    /// A session finished its open (successfully or not): start the next one.
    void release_open();

    /// Sessions opening at once per worker (keeps the broker's listen backlog from overflowing).
    static constexpr unsigned max_parallel_opens = 32;

private:
    run_shared& shared_;
    asio::io_context ctx_{1};
    asio::executor_work_guard<asio::io_context::executor_type> guard_;
    std::thread thread_;
    worker_stats stats_;
    std::vector<std::shared_ptr<session_base>> sessions_;
    void start_more();

    unsigned opening_ = 0;
    std::size_t next_to_start_ = 0;
};

/// One connection (or, for the storm, one connector that reconnects in a loop).
class session_base {
public:
    explicit session_base(worker& w, const connection_plan& plan)
        : worker_(w)
        , plan_(plan) {}

    virtual ~session_base() = default;
    session_base(const session_base&) = delete;
    session_base& operator=(const session_base&) = delete;

    virtual void start() = 0;
    virtual void start_publishing(steady::time_point at, steady::time_point deadline) = 0;
    virtual void wake() = 0;
    virtual void close() = 0;
    /// Persistent sessions only (others ignore it): DISCONNECT keeping the session, then close.
    virtual void go_offline() = 0;
    /// Persistent sessions only: after go_offline, connect again with Clean Start 0.
    virtual void reconnect() = 0;

    const connection_plan& plan() const noexcept { return plan_; }

    /// Publisher: PUBLISH written. Subscriber: the trackers of the publishers it hears.
    std::uint64_t sent() const noexcept { return sent_; }

    const std::vector<sequence_tracker>& trackers() const noexcept { return trackers_; }

protected:
    worker& worker_;
    const connection_plan& plan_;
    std::uint64_t sent_ = 0;
    std::vector<sequence_tracker> trackers_;
};

/// A session for `plan` on `w`, plain or TLS as the run says.
std::shared_ptr<session_base> make_session(worker& w, const connection_plan& plan);

} // namespace thinggate::bench
