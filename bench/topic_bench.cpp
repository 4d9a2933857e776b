// Topic matching, subscription index and retained store micro-benchmarks.
// Run: build/release/bench/topic_bench --benchmark_min_time=0.05
// Counters: allocs_per_op counts operator new calls inside the timed loop; bytes_per_sub is the
// heap the index holds per subscription (mallinfo2 before/after building it).

#include "mqtt/topic.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <new>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include <malloc.h>

#include "broker/retained_store.hpp"
#include "broker/subscription_index.hpp"

namespace {
std::atomic<std::uint64_t> g_allocs{0};
} // namespace

// Counting replacement of the global allocation functions. g++ 12 warns that free() does not
// match `new` even though this very file defines `new` with malloc.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

void* operator new(std::size_t n) {
    g_allocs.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}

void operator delete(void* p) noexcept {
    std::free(p);
}

void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

#pragma GCC diagnostic pop

namespace {

using thinggate::broker::clock;
using thinggate::broker::message;
using thinggate::broker::message_ptr;
using thinggate::broker::make_message;
using thinggate::broker::retained_store;
using thinggate::broker::shared_group;
using thinggate::broker::subscription_data;
using thinggate::broker::subscription_index;
using thinggate::mqtt::match_options;

using session = std::shared_ptr<int>; // stands in for shared_ptr<session>
constexpr int fleets = 100;
constexpr int subs_per_device = 5;

std::string device_topic(const char* fmt, int fleet, int thing) {
    char buf[96];
    std::snprintf(buf, sizeof buf, fmt, fleet, thing);
    return buf;
}

std::string thing_topic(const char* fmt, int thing) {
    char buf[96];
    std::snprintf(buf, sizeof buf, fmt, thing);
    return buf;
}

/// A fleet of devices with 5 subscriptions each (exact, '+' and '#'), plus back-end services:
/// per fleet one "dt/fleetF/+/telemetry", one shared "$share/ingest/dt/+/+/telemetry" group with 4
/// members and a "dt/#" monitor.
struct fleet_index {
    explicit fleet_index(int subscriptions) {
        const int devices = subscriptions / subs_per_device;
        for (int d = 0; d < devices; ++d) {
            sessions.push_back(std::make_shared<int>(d));
        }
        for (int i = 0; i < fleets + 5; ++i) {
            services.push_back(std::make_shared<int>(-i));
        }
        const std::size_t before = mallinfo2().uordblks;
        for (int d = 0; d < devices; ++d) {
            const int f = d % fleets;
            const auto& s = sessions[static_cast<std::size_t>(d)];
            index.insert(device_topic("dt/fleet%d/thing%d/cmd", f, d), "", s, {});
            index.insert(device_topic("cmd/fleet%d/thing%d/+", f, d), "", s, {});
            index.insert(thing_topic("$aws/things/thing%d/shadow/#", d), "", s, {});
            index.insert(thing_topic("$aws/things/thing%d/jobs/notify", d), "", s, {});
            index.insert(device_topic("dt/fleet%d/thing%d/config", f, d), "", s, {});
        }
        for (int f = 0; f < fleets; ++f) {
            index.insert(
                    device_topic("dt/fleet%d/+/telemetry", f, 0),
                    "",
                    services[static_cast<std::size_t>(f)],
                    {});
        }
        for (int i = 0; i < 4; ++i) {
            index.insert("dt/+/+/telemetry", "ingest", services[fleets + i], {});
        }
        index.insert("dt/#", "", services[fleets + 4], {});
        bytes = mallinfo2().uordblks - before;

        std::mt19937 rng(42);
        for (auto& t : topics) {
            const int d = static_cast<int>(rng() % static_cast<unsigned>(devices));
            const int f = d % fleets;
            switch (rng() % 4) {
            case 0:
            case 1:
                t = device_topic("dt/fleet%d/thing%d/telemetry", f, d);
                break;
            case 2:
                t = device_topic("cmd/fleet%d/thing%d/reboot", f, d);
                break;
            default:
                t = thing_topic("$aws/things/thing%d/shadow/update/delta", d);
                break;
            }
        }
    }

    std::vector<session> sessions;
    std::vector<session> services;
    subscription_index<session> index;
    std::size_t bytes = 0;
    std::array<std::string, 1024> topics;
};

fleet_index& fleet(int subscriptions) {
    static std::map<int, std::unique_ptr<fleet_index>> cache;
    auto& slot = cache[subscriptions];
    if (!slot) {
        slot = std::make_unique<fleet_index>(subscriptions);
    }
    return *slot;
}

void BM_Topic_Matches(benchmark::State& state) {
    static const std::pair<std::string_view, std::string_view> cases[] = {
            {"dt/fleet42/thing1234/telemetry", "dt/fleet42/thing1234/telemetry"},
            {"dt/+/+/telemetry", "dt/fleet42/thing1234/telemetry"},
            {"dt/fleet42/#", "dt/fleet42/thing1234/telemetry"},
            {"dt/fleet42/+/status", "dt/fleet42/thing1234/telemetry"},
            {"#", "$aws/things/thing1234/shadow/update"},
            {"$aws/things/+/shadow/#", "$aws/things/thing1234/shadow/update/delta"},
    };
    std::size_t i = 0;
    std::size_t matched = 0;
    for (auto _ : state) {
        const auto& [f, t] = cases[i++ % std::size(cases)];
        matched += thinggate::mqtt::topic_matches(f, t) ? 1 : 0;
    }
    benchmark::DoNotOptimize(matched);
    state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Topic_Matches);

void BM_Topic_IndexMatch(benchmark::State& state) {
    auto& fx = fleet(static_cast<int>(state.range(0)));
    std::size_t i = 0;
    std::size_t delivered = 0;
    const auto allocs_before = g_allocs.load();
    for (auto _ : state) {
        fx.index.match(
                fx.topics[i++ % fx.topics.size()],
                match_options{},
                [&](const session&, const subscription_data&) { ++delivered; },
                [&](const shared_group<session>& g) { delivered += g.members.empty() ? 0 : 1; });
    }
    const auto allocs = g_allocs.load() - allocs_before;
    benchmark::DoNotOptimize(delivered);
    state.SetItemsProcessed(state.iterations());
    state.counters["allocs_per_op"] =
            static_cast<double>(allocs) / static_cast<double>(state.iterations());
    state.counters["deliveries_per_op"] =
            static_cast<double>(delivered) / static_cast<double>(state.iterations());
    state.counters["bytes_per_sub"] =
            static_cast<double>(fx.bytes) / static_cast<double>(fx.index.size());
    state.counters["subs"] = static_cast<double>(fx.index.size());
}

BENCHMARK(BM_Topic_IndexMatch)->Arg(10'000)->Arg(1'000'000);

/// Subscribe and unsubscribe 1000 device filters on top of an index that already holds N.
void BM_Topic_IndexInsertErase(benchmark::State& state) {
    auto& fx = fleet(static_cast<int>(state.range(0)));
    std::vector<std::string> filters;
    for (int d = 0; d < 1000; ++d) {
        filters.push_back(device_topic("dt/fleet%d/newthing%d/cmd/+", d % fleets, d));
    }
    const auto s = std::make_shared<int>(7);
    for (auto _ : state) {
        for (const auto& f : filters) {
            fx.index.insert(f, "", s, {});
        }
        for (const auto& f : filters) {
            fx.index.erase(f, "", s);
        }
    }
    state.SetItemsProcessed(state.iterations() * 2 * static_cast<std::int64_t>(filters.size()));
}

BENCHMARK(BM_Topic_IndexInsertErase)->Arg(10'000)->Arg(1'000'000);

/// 100 k retained messages: 25 k devices × {telemetry, status, config, shadow}.
retained_store& retained() {
    static retained_store store = [] {
        retained_store s;
        for (int d = 0; d < 25'000; ++d) {
            const int f = d % fleets;
            for (const char* leaf : {"telemetry", "status", "config", "shadow"}) {
                auto m = make_message(device_topic("dt/fleet%d/thing%d/", f, d) + leaf, "{\"v\":1}");
                m->retain = true;
                s.set(std::move(m));
            }
        }
        return s;
    }();
    return store;
}

void BM_Topic_RetainedLookup(benchmark::State& state) {
    static const std::string_view filters[] = {
            "dt/fleet42/thing4242/status", // exact
            "dt/fleet42/thing4242/#",      // one device: 4
            "dt/fleet42/+/status",         // one fleet, one leaf: 250
            "dt/fleet42/#",                // one fleet: 1000
            "dt/+/thing4242/+",            // one device under any fleet: 4
            "dt/+/+/status",               // every device, one leaf: 25 000
    };
    const auto filter = filters[static_cast<std::size_t>(state.range(0))];
    auto& store = retained();
    const auto now = clock::now();
    std::size_t found = 0;
    for (auto _ : state) {
        store.match(filter, match_options{}, now, [&](const message_ptr&) { ++found; });
    }
    state.SetLabel(std::string(filter));
    state.SetItemsProcessed(static_cast<std::int64_t>(found));
    state.counters["matches_per_op"] =
            static_cast<double>(found) / static_cast<double>(state.iterations());
}

BENCHMARK(BM_Topic_RetainedLookup)->DenseRange(0, 5);

} // namespace
