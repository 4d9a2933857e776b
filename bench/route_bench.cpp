// Routing through the whole broker: PUBLISH packets decoded, routed and encoded for every
// subscriber through the protocol machine (broker::client), frames taken as the transport takes
// them, subscribers' PUBACKs fed back for QoS 1. One shard driven inline, no sockets; 64 B
// payloads, MQTT 5. Items = deliveries.
//
//   fan-out 1 -> N:  one PUBLISH per iteration to N subscribers of the same topic.
//   fan-in 100 -> 1: 100 publishers, 16 PUBLISH each per iteration (what one read of a busy
//                    publisher brings), one subscriber of "fleet/+/telemetry".
//
// Two ways to run it (release build: ninja -C build/release route_bench):
//   ./build/release/bench/route_bench                 Google Benchmark (wall clock; also reports
//                                                     heap allocations per delivery)
//   valgrind --tool=callgrind --instr-atstart=no ./build/release/bench/route_bench --count
//       a fixed number of iterations per case after a warm-up; prints allocations per delivery
//       and per incoming PUBLISH, and (under callgrind) instructions per delivery. Reproducible
//       on a shared machine, unlike the wall clock.

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>
#include <valgrind/callgrind.h>

#include "bench_runtime.hpp"
#include "broker/broker.hpp"
#include "mqtt/codec.hpp"

// ---------------------------------------------------------------- counting allocator
// Every heap allocation of the process is counted (the benchmark is single-threaded).

namespace {
std::atomic<std::uint64_t> g_allocations{0};

void* counted_alloc(std::size_t n) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}

void* counted_alloc_aligned(std::size_t n, std::align_val_t al) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    const auto a = static_cast<std::size_t>(al);
    if (void* p = std::aligned_alloc(a, (n + a - 1) / a * a)) {
        return p;
    }
    throw std::bad_alloc();
}
} // namespace

void* operator new(std::size_t n) { return counted_alloc(n); }
void* operator new[](std::size_t n) { return counted_alloc(n); }
void* operator new(std::size_t n, std::align_val_t al) { return counted_alloc_aligned(n, al); }
void* operator new[](std::size_t n, std::align_val_t al) { return counted_alloc_aligned(n, al); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(n == 0 ? 1 : n);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

using namespace thinggate;
using thinggate::bench::encoded;
using thinggate::bench::feed;
using thinggate::bench::for_each_packet;
using thinggate::bench::inline_runtime;
using thinggate::bench::sink;

/// Packet ids of the QoS 1/2 PUBLISH packets in `frames` (MQTT 5 heads without topic alias).
void collect_publish_ids(const std::vector<broker::out_frame>& frames, std::string& acks) {
    for_each_packet(frames, [&](std::string_view h) {
        const auto first = static_cast<std::uint8_t>(h[0]);
        if ((first >> 4) != 3 || ((first >> 1) & 3) == 0) {
            return;
        }
        std::size_t i = 1;
        while (static_cast<std::uint8_t>(h[i]) & 0x80) {
            ++i;
        }
        ++i;
        const std::size_t topic_len = (static_cast<std::uint8_t>(h[i]) << 8) | static_cast<std::uint8_t>(h[i + 1]);
        i += 2 + topic_len;
        const char puback[4] = {0x40, 0x02, h[i], h[i + 1]};
        acks.append(puback, 4);
    });
}

struct connection {
    connection(broker::broker& b, const std::string& id)
        : client(b, 0, io, broker::connection_info{"bench", "127.0.0.1:1", false, {}, {}, {}, {}}) {
        mqtt::connect c;
        c.client_id = id;
        c.clean_start = true;
        c.keep_alive = 60;
        feed(client, encoded(c));
    }
    /// Takes and "writes" everything queued; returns the number of PUBLISH frames. When
    /// `ack` is set, answers every QoS 1 PUBLISH with a PUBACK (until nothing more comes).
    std::size_t drain(bool ack = false) {
        std::size_t publishes = 0;
        for (;;) {
            frames.clear();
            client.take_output(frames);
            if (frames.empty()) {
                return publishes;
            }
            std::size_t bytes = 0;
            for (const auto& f : frames) {
                bytes += f.size();
            }
            for_each_packet(frames, [&](std::string_view h) {
                publishes += (static_cast<std::uint8_t>(h[0]) >> 4) == 3 ? 1 : 0;
            });
            client.output_written(bytes);
            if (!ack) {
                frames.clear();
                return publishes;
            }
            acks.clear();
            collect_publish_ids(frames, acks);
            frames.clear();
            if (acks.empty()) {
                return publishes;
            }
            feed(client, acks);
        }
    }
    sink io;
    broker::client client;
    std::vector<broker::out_frame> frames;
    std::string acks;
};

/// One routing case: set up once, then step() runs one iteration and returns its deliveries.
class route_case {
public:
    virtual ~route_case() = default;
    virtual std::size_t step() = 0;
    /// Incoming PUBLISH packets per step.
    virtual std::size_t publishes_per_step() const = 0;
};

broker::options bench_options() {
    broker::options opts;
    opts.lifecycle_events = false;
    return opts;
}

class fan_out_case final : public route_case {
public:
    fan_out_case(int subscribers, mqtt::qos q)
        : b_(bench_options(), rt_)
        , qos_(q) {
        for (int i = 0; i < subscribers; ++i) {
            subs_.push_back(std::make_unique<connection>(b_, "sub-" + std::to_string(i)));
            mqtt::subscribe s;
            s.packet_id = 1;
            s.entries.push_back({"fleet/telemetry", {q, false, false, 0}});
            feed(subs_.back()->client, encoded(s));
        }
        pub_ = std::make_unique<connection>(b_, "publisher");
        rt_.drain();
        for (auto& s : subs_) {
            s->drain();
        }
        mqtt::publish p;
        p.topic = "fleet/telemetry";
        p.payload = std::string(64, 'x');
        p.qos = q;
        p.packet_id = q == mqtt::qos::at_most_once ? 0 : 1;
        bytes_ = encoded(p);
    }
    std::size_t step() override {
        feed(pub_->client, bytes_);
        rt_.drain();
        std::size_t delivered = 0;
        const bool ack = qos_ != mqtt::qos::at_most_once;
        for (auto& s : subs_) {
            delivered += s->drain(ack);
        }
        pub_->drain();
        return delivered;
    }
    std::size_t publishes_per_step() const override { return 1; }

private:
    inline_runtime rt_;
    broker::broker b_;
    mqtt::qos qos_;
    std::vector<std::unique_ptr<connection>> subs_;
    std::unique_ptr<connection> pub_;
    std::string bytes_;
};

class fan_in_case final : public route_case {
public:
    static constexpr int publishers = 100;
    static constexpr int per_read = 16;

    explicit fan_in_case(mqtt::qos q)
        : b_(bench_options(), rt_)
        , qos_(q) {
        sub_ = std::make_unique<connection>(b_, "subscriber");
        mqtt::subscribe s;
        s.packet_id = 1;
        s.entries.push_back({"fleet/+/telemetry", {q, false, false, 0}});
        feed(sub_->client, encoded(s));
        for (int i = 0; i < publishers; ++i) {
            pubs_.push_back(std::make_unique<connection>(b_, "pub-" + std::to_string(i)));
            mqtt::publish p;
            p.topic = "fleet/dev" + std::to_string(i) + "/telemetry";
            p.payload = std::string(64, 'x');
            p.qos = q;
            std::string burst;
            for (int k = 0; k < per_read; ++k) {
                p.packet_id = q == mqtt::qos::at_most_once ? 0 : static_cast<std::uint16_t>(k + 1);
                burst += encoded(p);
            }
            packets_.push_back(std::move(burst));
        }
        rt_.drain();
        sub_->drain();
        for (auto& c : pubs_) {
            c->drain();
        }
    }
    std::size_t step() override {
        for (std::size_t i = 0; i < pubs_.size(); ++i) {
            feed(pubs_[i]->client, packets_[i]);
        }
        rt_.drain();
        const std::size_t delivered = sub_->drain(qos_ != mqtt::qos::at_most_once);
        rt_.drain();
        for (auto& c : pubs_) {
            c->drain();
        }
        return delivered;
    }
    std::size_t publishes_per_step() const override { return publishers * per_read; }

private:
    inline_runtime rt_;
    broker::broker b_;
    mqtt::qos qos_;
    std::unique_ptr<connection> sub_;
    std::vector<std::unique_ptr<connection>> pubs_;
    std::vector<std::string> packets_;
};

void run_case(benchmark::State& state, route_case& c) {
    std::size_t delivered = 0;
    std::size_t steps = 0;
    const auto allocs_before = g_allocations.load(std::memory_order_relaxed);
    for (auto _ : state) {
        delivered += c.step();
        ++steps;
    }
    const auto allocs = g_allocations.load(std::memory_order_relaxed) - allocs_before;
    state.SetItemsProcessed(static_cast<std::int64_t>(delivered));
    state.SetBytesProcessed(static_cast<std::int64_t>(delivered * 64));
    if (delivered != 0) {
        state.counters["allocs/delivery"] = static_cast<double>(allocs) / static_cast<double>(delivered);
        state.counters["allocs/publish"] =
                static_cast<double>(allocs) / static_cast<double>(steps * c.publishes_per_step());
    }
}

void BM_Route_FanOut(benchmark::State& state) {
    fan_out_case c(static_cast<int>(state.range(0)), static_cast<mqtt::qos>(state.range(1)));
    run_case(state, c);
}

void BM_Route_FanIn(benchmark::State& state) {
    fan_in_case c(static_cast<mqtt::qos>(state.range(0)));
    run_case(state, c);
}

/// --count: fixed iterations per case; allocations (and, under callgrind, instructions) per
/// delivery. Each case's measured section is dumped as its own callgrind part.
int count_mode() {
    struct spec {
        const char* name;
        std::unique_ptr<route_case> (*make)();
        int iterations;
    };
    const spec cases[] = {
            {"fan-out 1->1 qos0", [] { return std::unique_ptr<route_case>(new fan_out_case(1, mqtt::qos::at_most_once)); }, 20000},
            {"fan-out 1->100 qos0", [] { return std::unique_ptr<route_case>(new fan_out_case(100, mqtt::qos::at_most_once)); }, 400},
            {"fan-out 1->100 qos1", [] { return std::unique_ptr<route_case>(new fan_out_case(100, mqtt::qos::at_least_once)); }, 400},
            {"fan-in 100->1 qos0", [] { return std::unique_ptr<route_case>(new fan_in_case(mqtt::qos::at_most_once)); }, 25},
            {"fan-in 100->1 qos1", [] { return std::unique_ptr<route_case>(new fan_in_case(mqtt::qos::at_least_once)); }, 25},
    };
    const bool callgrind = RUNNING_ON_VALGRIND != 0;
    std::printf("%-22s %12s %14s %14s\n", "case", "deliveries", "allocs/deliv", "allocs/publish");
    for (const auto& s : cases) {
        auto c = s.make();
        for (int i = 0; i < 20; ++i) {
            c->step(); // warm-up: capacities reached, packet ids cycled
        }
        std::size_t delivered = 0;
        const auto allocs_before = g_allocations.load(std::memory_order_relaxed);
        CALLGRIND_START_INSTRUMENTATION;
        CALLGRIND_ZERO_STATS;
        for (int i = 0; i < s.iterations; ++i) {
            delivered += c->step();
        }
        CALLGRIND_DUMP_STATS_AT(s.name);
        CALLGRIND_STOP_INSTRUMENTATION;
        const auto allocs = g_allocations.load(std::memory_order_relaxed) - allocs_before;
        const auto publishes = static_cast<double>(s.iterations) * static_cast<double>(c->publishes_per_step());
        std::printf("%-22s %12zu %14.3f %14.3f\n", s.name, delivered,
                    static_cast<double>(allocs) / static_cast<double>(delivered),
                    static_cast<double>(allocs) / publishes);
    }
    if (callgrind) {
        std::printf("(instructions per delivery: scripts/route-bench-callgrind.sh divides each dump's "
                    "totals by the deliveries above)\n");
    }
    return 0;
}

} // namespace

BENCHMARK(BM_Route_FanOut)
        ->ArgNames({"subscribers", "qos"})
        ->Args({1, 0})
        ->Args({100, 0})
        ->Args({100, 1})
        ->Args({10000, 0});
BENCHMARK(BM_Route_FanIn)->ArgName("qos")->Arg(0)->Arg(1);

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--count") == 0) {
        return count_mode();
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
