// libFuzzer target for the codec and the broker's protocol machine together: arbitrary bytes fed
// in chunks into one or two broker::client instances on a single-threaded manual runtime (two
// shards), with the clock moved, output drained and connections lost and re-opened as the input
// says. Must never crash, leak, assert or trip UBSan.
//
// Input layout:
//   byte 0: bit 0 = prepend a valid CONNECT to every connection (half the runs reach the
//           connected state without having to discover CONNECT), bit 1 = that CONNECT is v3.1.1,
//           bit 2 = a second client (connected and subscribed to "#" at QoS 2 when bit 0 is set),
//           bits 3..7 = the largest chunk (1..32 bytes).
//   then operations: a control byte c, op = c & 3, n = 1 + (c >> 2) % chunk:
//     0: the next n bytes go to client 0;  1: the next n bytes go to client 1 (else client 0);
//     2: the clock moves n * 250 ms, with keep-alive timeouts as the transport fires them;
//     3: n odd: drain the output of both clients; n even: client n/2 % 2 loses its connection and
//        a new one takes its place.
//
// Run: ./build/fuzz/tests/fuzz/client_fuzz -max_total_time=120 tests/fuzz/corpus/client
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "broker/broker.hpp"
#include "broker/client.hpp"
#include "mqtt/codec.hpp"

namespace {

using namespace thinggate;

/// The manual runtime of tests/unit/broker/harness.hpp without doctest: shards are queues run on
/// the calling thread, the clock moves only when told.
class fuzz_runtime final : public broker::runtime {
public:
    std::uint32_t shard_count() const noexcept override { return 2; }
    broker::shard_id current_shard() const noexcept override { return current_; }
    void post(broker::shard_id shard, std::function<void()> task) override {
        queue_.emplace_back(shard % 2, std::move(task));
    }
    void post_after(broker::shard_id shard, std::chrono::milliseconds delay, std::function<void()> task) override {
        timers_.emplace(now_ + delay, std::make_pair(shard % 2, std::move(task)));
    }
    broker::clock::time_point now() const noexcept override { return now_; }

    void run() {
        while (!queue_.empty()) {
            auto [shard, task] = std::move(queue_.front());
            queue_.pop_front();
            on(shard, task);
        }
    }

    void advance_to(broker::clock::time_point until) {
        run();
        while (!timers_.empty() && timers_.begin()->first <= until) {
            auto node = timers_.extract(timers_.begin());
            now_ = node.key();
            post(node.mapped().first, std::move(node.mapped().second));
            run();
        }
        if (until > now_) {
            now_ = until;
        }
    }

    template <class Fn>
    void on(broker::shard_id shard, Fn&& fn) {
        const auto saved = current_;
        current_ = shard;
        fn();
        current_ = saved;
    }

private:
    broker::shard_id current_ = 0;
    broker::clock::time_point now_{std::chrono::hours(1)};
    std::deque<std::pair<broker::shard_id, std::function<void()>>> queue_;
    std::multimap<broker::clock::time_point, std::pair<broker::shard_id, std::function<void()>>> timers_;
};

struct conn final : broker::connection_io {
    void wake_writer() override {}
    void close(bool) override { closed = true; }
    void read_timeout_changed() override {}

    std::unique_ptr<broker::client> client;
    broker::shard_id shard = 0;
    bool closed = false;
    bool lost = false;
    broker::clock::time_point last_input{};
};

class session_run {
public:
    session_run(bool prepend, mqtt::protocol_version v, bool two)
        : b_(options(), rt_)
        , prepend_(prepend)
        , version_(v) {
        b_.start();
        conns_.resize(two ? 2 : 1);
        for (std::size_t i = 0; i < conns_.size(); ++i) {
            open(i);
        }
    }

    ~session_run() {
        for (std::size_t i = 0; i < conns_.size(); ++i) {
            close(i);
        }
        rt_.run();
    }

    std::size_t clients() const noexcept { return conns_.size(); }

    void feed(std::size_t i, const std::uint8_t* data, std::size_t n) {
        auto& c = *conns_[i];
        if (c.closed) {
            return; // the transport stops reading once the client asked to close
        }
        c.last_input = rt_.now();
        rt_.on(c.shard, [&] {
            auto buf = c.client->prepare_input(n);
            std::memcpy(buf.data(), data, n);
            c.client->commit_input(n);
        });
        rt_.run();
        if (c.closed) {
            lose(c);
        }
    }

    void drain() {
        for (auto& c : conns_) {
            std::vector<broker::out_frame> frames;
            rt_.on(c->shard, [&] { c->client->take_output(frames); });
            std::size_t n = 0;
            std::string out;
            for (const auto& f : frames) {
                n += f.size();
                out.append(f.head.data(), f.head.size());
                out.append(f.body.data(), f.body.size());
            }
            // The broker must only ever write whole, well-framed packets: a frame may hold
            // several (a run of small packets), and the output ends on a packet boundary.
            std::span<const std::uint8_t> rest(reinterpret_cast<const std::uint8_t*>(out.data()), out.size());
            while (!rest.empty()) {
                mqtt::frame_header h;
                auto st = mqtt::parse_frame(rest, mqtt::max_remaining_length + 5, h);
                if (!st || *st != mqtt::frame_status::complete) {
                    __builtin_trap();
                }
                rest = rest.subspan(h.total_size());
            }
            rt_.on(c->shard, [&] { c->client->output_written(n); });
        }
        rt_.run();
    }

    void advance(std::chrono::milliseconds d) {
        const auto until = rt_.now() + d;
        for (;;) {
            conn* due = nullptr;
            auto when = until;
            for (auto& c : conns_) {
                if (c->closed) {
                    continue;
                }
                const auto t = c->client->read_timeout();
                if (t.count() != 0 && c->last_input + t <= when) {
                    when = c->last_input + t;
                    due = c.get();
                }
            }
            if (due == nullptr) {
                break;
            }
            rt_.advance_to(when);
            rt_.on(due->shard, [&] { due->client->on_read_timeout(); });
            rt_.run();
            due->last_input = rt_.now();
            if (due->closed) {
                lose(*due);
            }
        }
        rt_.advance_to(until);
    }

    void reopen(std::size_t i) {
        close(i);
        open(i);
    }

private:
    static broker::options options() {
        broker::options o;
        o.lim.receive_maximum = 4;     // small windows reach the 0x93 and queueing paths
        o.lim.max_inflight_out = 4;
        o.lim.topic_alias_maximum = 4;
        o.lim.max_packet_size = 64 * 1024;
        o.lim.max_queued_messages = 16;
        o.lim.outbound_budget_bytes = 16 * 1024;
        return o;
    }

    void open(std::size_t i) {
        auto c = std::make_unique<conn>();
        c->shard = static_cast<broker::shard_id>(i % 2);
        c->last_input = rt_.now();
        rt_.on(c->shard, [&] {
            c->client = std::make_unique<broker::client>(b_, c->shard, *c,
                                                         broker::connection_info{"fuzz", "127.0.0.1:1", false, {}, {}});
        });
        conns_[i] = std::move(c);
        if (prepend_) {
            std::string bytes;
            mqtt::connect hello;
            hello.version = version_;
            hello.client_id = i == 0 ? "fz0" : "fz1";
            hello.clean_start = i == 0;
            hello.keep_alive = 10;
            if (version_ == mqtt::protocol_version::v5) {
                hello.props.session_expiry_interval = 30;
                hello.props.receive_maximum = 2;
                hello.props.topic_alias_maximum = 2;
            }
            mqtt::will_message w;
            w.topic = "will/fz";
            w.payload = "bye";
            w.qos = mqtt::qos::at_least_once;
            w.retain = true;
            hello.will = std::move(w);
            mqtt::encode(hello, version_, bytes);
            if (i == 1) {
                mqtt::subscribe s;
                s.packet_id = 1;
                s.entries.push_back({"#", {mqtt::qos::exactly_once, false, false, 0}});
                mqtt::encode(s, version_, bytes);
            }
            feed(i, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
        }
    }

    void lose(conn& c) {
        if (!c.lost) {
            c.lost = true;
            rt_.on(c.shard, [&] { c.client->on_connection_lost(); });
            rt_.run();
        }
    }

    void close(std::size_t i) {
        auto& c = conns_[i];
        if (!c) {
            return;
        }
        lose(*c);
        rt_.on(c->shard, [&] { c->client.reset(); });
        rt_.run();
        c.reset();
    }

    fuzz_runtime rt_; // outlives the broker, which holds a reference to it
    broker::broker b_;
    bool prepend_;
    mqtt::protocol_version version_;
    std::vector<std::unique_ptr<conn>> conns_;
};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const std::uint8_t setup = data[0];
    const bool prepend = (setup & 1) != 0;
    const auto version = (setup & 2) != 0 ? mqtt::protocol_version::v311 : mqtt::protocol_version::v5;
    const bool two = (setup & 4) != 0;
    const std::size_t chunk = 1 + (setup >> 3);

    session_run run(prepend, version, two);
    std::size_t i = 1;
    while (i < size) {
        const std::uint8_t c = data[i++];
        const std::size_t n = 1 + (c >> 2) % chunk;
        switch (c & 3) {
        case 0:
        case 1: {
            const std::size_t take = std::min(n, size - i);
            const std::size_t target = (c & 1) != 0 && run.clients() == 2 ? 1 : 0;
            if (take != 0) {
                run.feed(target, data + i, take);
            }
            i += take;
            break;
        }
        case 2: run.advance(std::chrono::milliseconds(250 * n)); break;
        case 3:
            if (n % 2 == 1) {
                run.drain();
            } else {
                run.reopen((n / 2) % run.clients());
            }
            break;
        }
    }
    run.drain();
    return 0;
}
