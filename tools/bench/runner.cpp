#include "tools/bench/runner.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <random>
#include <sstream>
#include <thread>

#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include "tools/bench/client.hpp"

namespace thinggate::bench {

namespace {

using namespace std::chrono_literals;

constexpr auto poll_period = 20ms; // how often the main thread looks at the counters
constexpr auto quiet_drain = 1s;   // the drain ends early when nothing moves for this long
constexpr auto close_timeout = 5s;

std::string make_run_id() {
    std::random_device rd;
    return fmt::format("{:08x}", rd());
}

// The text of /proc/<pid>/<name>; nullopt without a pid or when it cannot be read.
std::optional<std::string> read_proc(std::optional<int> pid, const char* name) {
    if (!pid) {
        return std::nullopt;
    }
    std::ifstream in(fmt::format("/proc/{}/{}", *pid, name));
    if (!in) {
        return std::nullopt;
    }
    return std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::optional<std::uint64_t> read_rss_kib(std::optional<int> pid) {
    const auto text = read_proc(pid, "status");
    if (!text) {
        return std::nullopt;
    }
    return parse_vm_rss_kib(*text);
}

std::optional<double> read_cpu_s(std::optional<int> pid) {
    const auto text = read_proc(pid, "stat");
    if (!text) {
        return std::nullopt;
    }
    const auto ticks = parse_proc_stat_cpu_ticks(*text);
    const long hz = ::sysconf(_SC_CLK_TCK);
    if (!ticks || hz <= 0) {
        return std::nullopt;
    }
    return static_cast<double>(*ticks) / static_cast<double>(hz);
}

double own_cpu_s() {
    rusage u{};
    if (::getrusage(RUSAGE_SELF, &u) != 0) {
        return 0;
    }
    auto s = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return s(u.ru_utime) + s(u.ru_stime);
}

// CPU time of the broker and of this process at one instant; two of them bracket the measured
// phase of a run.
struct cpu_mark {
    steady::time_point at = steady::now();
    std::optional<double> broker;
    double tool = 0;

    static cpu_mark take(std::optional<int> pid) {
        cpu_mark m;
        m.at = steady::now();
        m.broker = read_cpu_s(pid);
        m.tool = own_cpu_s();
        return m;
    }
};

void account_cpu(const cpu_mark& from, const cpu_mark& to, run_result& r) {
    r.measured_s = std::chrono::duration<double>(to.at - from.at).count();
    if (from.broker && to.broker) {
        r.broker_cpu_s = *to.broker - *from.broker;
    }
    r.tool_cpu_s = to.tool - from.tool;
}

double seconds(steady::duration d) {
    return std::chrono::duration<double>(d).count();
}

std::string si(double v) {
    if (v >= 1e6) {
        return fmt::format("{:.2f}M", v / 1e6);
    }
    if (v >= 1e4) {
        return fmt::format("{:.1f}k", v / 1e3);
    }
    return fmt::format("{:.0f}", v);
}

// The worker threads of one run, and the sums of their counters.
class run_state {
public:
    run_state(const options& o, const target& t, asio::ssl::context* tls, const run_plan& plan)
        : o_(o) {
        shared_.opts = &o;
        shared_.plan = &plan;
        shared_.tgt = &t;
        shared_.tls = tls;
        const auto n = static_cast<unsigned>(std::min<std::uint64_t>(
                o.threads, std::max<std::size_t>(1, plan.connections.size())));
        for (unsigned i = 0; i < n; ++i) {
            workers_.push_back(std::make_unique<worker>(shared_));
        }
        for (auto& w : workers_) {
            w->start_thread();
        }
    }

    ~run_state() {
        for (auto& w : workers_) {
            w->join();
        }
    }

    run_state(const run_state&) = delete;
    run_state& operator=(const run_state&) = delete;

    std::uint64_t sum(std::atomic<std::uint64_t> worker_stats::*field) const {
        std::uint64_t n = 0;
        for (const auto& w : workers_) {
            n += (w->stats().*field).load(std::memory_order_relaxed);
        }
        return n;
    }

    std::uint64_t max(std::atomic<std::uint64_t> worker_stats::*field) const {
        std::uint64_t n = 0;
        for (const auto& w : workers_) {
            n = std::max(n, (w->stats().*field).load(std::memory_order_relaxed));
        }
        return n;
    }

    void open(const run_plan& plan, role which) {
        std::vector<std::vector<const connection_plan*>> per(workers_.size());
        for (const auto& c : plan.connections) {
            if (c.role == which) {
                per[c.thread % workers_.size()].push_back(&c);
            }
        }
        for (std::size_t i = 0; i < workers_.size(); ++i) {
            if (!per[i].empty()) {
                workers_[i]->post_open(std::move(per[i]));
            }
        }
    }

    void start(steady::time_point at, steady::time_point deadline) {
        for (auto& w : workers_) {
            w->post_start(at, deadline);
        }
    }

    void stop() {
        shared_.stop.store(true);
        for (auto& w : workers_) {
            w->post_stop();
        }
    }

    void close() {
        for (auto& w : workers_) {
            w->post_close();
        }
    }

    void offline() {
        for (auto& w : workers_) {
            w->post_offline();
        }
    }

    void reconnect() {
        for (auto& w : workers_) {
            w->post_reconnect();
        }
    }

    /// Polls `done` until it holds or `deadline`; prints progress once per second meanwhile.
    bool wait(const std::function<bool()>& done, steady::time_point deadline, const char* phase) {
        for (;;) {
            if (done()) {
                return true;
            }
            const auto now = steady::now();
            if (now >= deadline) {
                return false;
            }
            if (now >= next_progress_) {
                progress(phase, now);
            }
            std::this_thread::sleep_for(std::min<steady::duration>(poll_period, deadline - now));
        }
    }

    void set_progress_origin(steady::time_point t) {
        origin_ = t;
        next_progress_ = t + 1s;
        last_sent_ = sum(&worker_stats::sent);
        last_delivered_ = sum(&worker_stats::delivered);
        last_connects_ = sum(&worker_stats::connects);
    }

    const std::vector<std::unique_ptr<worker>>& workers() const { return workers_; }

private:
    void progress(const char* phase, steady::time_point now) {
        next_progress_ += 1s;
        if (next_progress_ <= now) {
            next_progress_ = now + 1s;
        }
        const auto sent = sum(&worker_stats::sent);
        const auto delivered = sum(&worker_stats::delivered);
        const auto connects = sum(&worker_stats::connects);
        if (!o_.quiet) {
            std::string line = fmt::format("[{:6.1f}s] {:<9}", seconds(now - origin_), phase);
            if (o_.publishes()) {
                line += fmt::format(
                        " sent {} ({}/s)  delivered {} ({}/s)  acked {}",
                        si(static_cast<double>(sent)),
                        si(static_cast<double>(sent - last_sent_)),
                        si(static_cast<double>(delivered)),
                        si(static_cast<double>(delivered - last_delivered_)),
                        si(static_cast<double>(sum(&worker_stats::acked))));
            } else {
                line += fmt::format(
                        " connects {} ({}/s)",
                        si(static_cast<double>(connects)),
                        si(static_cast<double>(connects - last_connects_)));
            }
            line += fmt::format(
                    "  open {}  errors {}\n", sum(&worker_stats::open), sum(&worker_stats::errors));
            std::cerr << line << std::flush;
        }
        last_sent_ = sent;
        last_delivered_ = delivered;
        last_connects_ = connects;
    }

    const options& o_;
    run_shared shared_;
    std::vector<std::unique_ptr<worker>> workers_;
    steady::time_point origin_ = steady::now();
    steady::time_point next_progress_ = steady::now() + 1s;
    std::uint64_t last_sent_ = 0;
    std::uint64_t last_delivered_ = 0;
    std::uint64_t last_connects_ = 0;
};

steady::time_point connect_deadline(std::uint64_t connections) {
    return steady::now() + 30s +
           std::chrono::milliseconds(std::min<std::uint64_t>(connections, 90'000));
}

std::chrono::nanoseconds as_duration(double s) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(s));
}

std::uint64_t ns_of(steady::time_point t) {
    return static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count());
}

// Waits for what is still owed (deliveries, QoS 1/2 acks), until done, `limit`, or nothing has
// moved for quiet_drain since `since` (QoS 0 losses never arrive).
void drain(run_state& st, steady::time_point since, steady::time_point limit) {
    auto moved = st.sum(&worker_stats::delivered) + st.sum(&worker_stats::acked);
    auto last_move = since;
    st.wait(
            [&] {
                const auto delivered = st.sum(&worker_stats::delivered);
                const auto acked = st.sum(&worker_stats::acked);
                if (delivered >= st.sum(&worker_stats::expected) &&
                    acked >= st.sum(&worker_stats::sent_qos)) {
                    return true;
                }
                const auto now = steady::now();
                if (delivered + acked != moved) {
                    moved = delivered + acked;
                    last_move = now;
                }
                return now - last_move >= quiet_drain;
            },
            limit,
            "drain");
}

// Publishing scenarios: subscribers, then publishers, then the timed run and the drain.
void run_messages(
        const options& o,
        const run_plan& plan,
        run_state& st,
        run_result& r,
        std::optional<int> broker_pid) {
    const std::uint64_t subs = plan.subscribers;
    const std::uint64_t all = subs + plan.publishers;
    auto ready_or_failed = [&](std::uint64_t n) {
        return [&st, n] {
            return st.sum(&worker_stats::ready) + st.sum(&worker_stats::failed) >= n;
        };
    };
    st.open(plan, role::subscriber);
    if (!st.wait(ready_or_failed(subs), connect_deadline(all), "subscribe") ||
        st.sum(&worker_stats::failed) > 0) {
        return;
    }
    st.open(plan, role::publisher);
    if (!st.wait(ready_or_failed(all), connect_deadline(all), "connect") ||
        st.sum(&worker_stats::failed) > 0) {
        return;
    }
    const auto start = steady::now() + 20ms;
    const auto deadline = start + as_duration(o.duration_s);
    st.set_progress_origin(start);
    const auto cpu_from = cpu_mark::take(broker_pid);
    st.start(start, deadline);
    const std::uint64_t publishers = plan.publishers;
    st.wait([&] { return st.sum(&worker_stats::publishers_done) >= publishers; },
            deadline,
            "publish");
    const auto published = std::min(steady::now(), deadline);
    st.stop();
    r.publish_s = seconds(published - start);

    drain(st, steady::now(), steady::now() + as_duration(o.drain_s));
    account_cpu(cpu_from, cpu_mark::take(broker_pid), r);
    const auto last = st.max(&worker_stats::last_delivery_ns);
    const auto start_ns = ns_of(start);
    r.deliver_s = last > start_ns ? static_cast<double>(last - start_ns) / 1e9 : r.publish_s;
}

// Backlog: the persistent subscriber subscribes and goes offline; the publishers send their
// quota (QoS 1/2: the broker stores every message before it acknowledges it); the subscriber
// reconnects and drains what was stored for it.
void run_backlog(
        const options& o,
        const run_plan& plan,
        run_state& st,
        run_result& r,
        std::optional<int> broker_pid) {
    const std::uint64_t subs = plan.subscribers;
    const std::uint64_t all = subs + plan.publishers;
    auto failed = [&] {
        return st.sum(&worker_stats::failed) > 0;
    };
    auto at_least = [&](std::atomic<std::uint64_t> worker_stats::*field, std::uint64_t n) {
        return [&st, field, n] {
            return st.sum(field) >= n || st.sum(&worker_stats::failed) > 0;
        };
    };
    st.open(plan, role::subscriber);
    if (!st.wait(at_least(&worker_stats::ready, subs), connect_deadline(all), "subscribe") ||
        failed()) {
        return;
    }
    st.offline();
    if (!st.wait(
                at_least(&worker_stats::offline, subs), steady::now() + close_timeout, "offline") ||
        failed()) {
        return;
    }
    st.open(plan, role::publisher);
    if (!st.wait(at_least(&worker_stats::ready, all), connect_deadline(all), "connect") ||
        failed()) {
        return;
    }
    const auto start = steady::now() + 20ms;
    const auto deadline = start + as_duration(o.duration_s);
    st.set_progress_origin(start);
    const auto cpu_from = cpu_mark::take(broker_pid);
    st.start(start, deadline);
    st.wait(at_least(&worker_stats::publishers_done, plan.publishers), deadline, "publish");
    const auto published = std::min(steady::now(), deadline);
    st.stop();
    r.publish_s = seconds(published - start);
    // Every message acknowledged = stored by the broker for the offline session.
    st.wait([&] { return st.sum(&worker_stats::acked) >= st.sum(&worker_stats::sent_qos); },
            steady::now() + as_duration(o.drain_s),
            "store");
    backlog_result b;
    b.stored = st.sum(&worker_stats::acked);
    const auto start_ns = ns_of(start);
    const auto last_ack = st.max(&worker_stats::last_ack_ns);
    b.store_s = last_ack > start_ns ? static_cast<double>(last_ack - start_ns) / 1e9 : r.publish_s;

    const auto asked = steady::now();
    st.reconnect();
    const bool back = st.wait(
            at_least(&worker_stats::reconnected, subs), connect_deadline(subs), "reconnect");
    const auto back_ns = st.max(&worker_stats::reconnect_ns);
    if (back && !failed()) {
        b.reconnect_s =
                back_ns > ns_of(asked) ? static_cast<double>(back_ns - ns_of(asked)) / 1e9 : 0.0;
        drain(st, steady::now(), steady::now() + as_duration(o.drain_s));
    }
    account_cpu(cpu_from, cpu_mark::take(broker_pid), r);
    b.drained = st.sum(&worker_stats::delivered);
    const auto last = st.max(&worker_stats::last_delivery_ns);
    b.drain_s = last > back_ns && back_ns > 0 ? static_cast<double>(last - back_ns) / 1e9 : 0.0;
    r.deliver_s = last > start_ns ? static_cast<double>(last - start_ns) / 1e9 : r.publish_s;
    r.backlog = b;
}

void run_storm(
        const options& o,
        const run_plan& plan,
        run_state& st,
        run_result& r,
        std::optional<int> broker_pid) {
    st.open(plan, role::connector);
    const auto start = steady::now() + 20ms;
    const auto deadline = start + as_duration(o.duration_s);
    st.set_progress_origin(start);
    const auto cpu_from = cpu_mark::take(broker_pid);
    st.start(start, deadline);
    st.wait([] { return false; }, deadline, "storm");
    st.stop();
    account_cpu(cpu_from, cpu_mark::take(broker_pid), r);
    r.connect_s = seconds(deadline - start);
}

void run_idle(
        const options& o,
        const run_plan& plan,
        run_state& st,
        run_result& r,
        std::optional<int> broker_pid) {
    const auto cpu_from = cpu_mark::take(broker_pid);
    const auto t0 = steady::now();
    st.set_progress_origin(t0);
    const std::uint64_t n = plan.connections.size();
    st.open(plan, role::idler);
    st.wait([&] { return st.sum(&worker_stats::ready) + st.sum(&worker_stats::failed) >= n; },
            connect_deadline(n),
            "connect");
    const auto connected = steady::now();
    r.connect_s = seconds(connected - t0);
    st.wait([] { return false; }, connected + as_duration(o.duration_s), "hold");
    account_cpu(cpu_from, cpu_mark::take(broker_pid), r);
}

} // namespace

run_result run_once(
        const options& o,
        const target& t,
        std::optional<int> broker_pid,
        unsigned round,
        asio::ssl::context* tls) {
    run_result r;
    r.target = t.text;
    r.round = round;
    r.payload = o.payload;
    const auto plan = make_plan(o, make_run_id());
    r.rss_before_kib = read_rss_kib(broker_pid);
    {
        run_state st(o, t, tls, plan);
        switch (o.kind) {
        case scenario::storm:
            run_storm(o, plan, st, r, broker_pid);
            break;
        case scenario::idle:
            run_idle(o, plan, st, r, broker_pid);
            break;
        case scenario::backlog:
            run_backlog(o, plan, st, r, broker_pid);
            break;
        default:
            run_messages(o, plan, st, r, broker_pid);
            break;
        }
        r.rss_after_kib = read_rss_kib(broker_pid);
        if (broker_pid) {
            r.connections_held = static_cast<std::uint32_t>(
                    o.kind == scenario::storm ? 0 : st.sum(&worker_stats::ready));
        }
        st.stop();
        st.close();
        st.wait([&] { return st.sum(&worker_stats::open) == 0; },
                steady::now() + close_timeout,
                "close");
        for (const auto& w : st.workers()) {
            w->join();
        }

        // Every thread has joined: its non-atomic state is ours to read.
        r.sent = st.sum(&worker_stats::sent);
        r.acked = st.sum(&worker_stats::acked);
        r.delivered = st.sum(&worker_stats::delivered);
        r.expected = st.sum(&worker_stats::expected);
        r.errors = st.sum(&worker_stats::errors);
        r.connects = st.sum(&worker_stats::connects);
        r.rx_queue_max = st.max(&worker_stats::rx_queue_max);
        histogram latency;
        std::vector<std::uint64_t> sent_by(plan.publishers, 0);
        for (const auto& w : st.workers()) {
            const auto& s = w->stats();
            latency.merge(s.latency);
            r.duplicates += s.duplicates;
            r.out_of_order += s.out_of_order;
            for (const auto& e : s.error_samples) {
                if (r.error_samples.size() < 5) {
                    r.error_samples.push_back(e);
                }
            }
            for (const auto& session : w->sessions()) {
                if (session->plan().role == role::publisher) {
                    sent_by[session->plan().index] = session->sent();
                }
            }
        }
        for (const auto& w : st.workers()) {
            for (const auto& session : w->sessions()) {
                const auto& p = session->plan();
                if (p.role != role::subscriber) {
                    continue;
                }
                const auto& trackers = session->trackers();
                for (std::size_t k = 0; k < trackers.size(); ++k) {
                    r.lost += trackers[k].missing(sent_by[p.first_publisher + k]);
                }
            }
        }
        // A subscriber that never connected lost everything it was owed.
        if (r.delivered + r.lost < r.expected) {
            r.lost = r.expected - r.delivered;
        }
        r.latency = summarize(latency);
    }
    return r;
}

int run(const options& o, std::ostream& out) {
    std::unique_ptr<asio::ssl::context> tls;
    if (o.tls) {
        tls = make_tls_context(o);
    }
    auto pid_of = [&](std::size_t i) -> std::optional<int> {
        if (i < o.broker_pids.size()) {
            return o.broker_pids[i];
        }
        return std::nullopt;
    };
    bool errors = false;
    if (!o.compare) {
        const auto r = run_once(o, o.targets[0], pid_of(0), 0, tls.get());
        out << to_json(o, r) << std::endl;
        return r.errors > 0 ? 1 : 0;
    }
    std::vector<run_result> a;
    std::vector<run_result> b;
    for (unsigned round = 1; round <= o.rounds; ++round) {
        for (std::size_t i = 0; i < 2; ++i) {
            if (!o.quiet) {
                std::cerr << fmt::format(
                        "round {}/{}: {} ({})\n",
                        round,
                        o.rounds,
                        i == 0 ? 'A' : 'B',
                        o.targets[i].text);
            }
            auto r = run_once(o, o.targets[i], pid_of(i), round, tls.get());
            out << to_json(o, r) << std::endl;
            errors = errors || r.errors > 0;
            (i == 0 ? a : b).push_back(std::move(r));
        }
    }
    std::cerr << compare_text(o, a, b);
    out << compare_json(o, a, b) << std::endl;
    return errors ? 1 : 0;
}

} // namespace thinggate::bench
