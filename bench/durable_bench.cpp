// QoS 1 publishes to an offline persistent session through the whole broker (protocol machine,
// routing, store-then-forward, acknowledgement after commit) on the RocksDB store in a temp dir.
// One shard driven inline; items = acknowledged PUBLISH packets (PUBACKs received).
// Arguments: durability (0 none, 1 wal, 2 fsync) and the PUBLISH packets read in one loop turn —
// 1 = every message its own commit, 64 = what a busy connection's read brings (group commit).
// BM_Durable_NoStore is the same path with nothing written (persistence off / clean sessions).
// Release build only: ninja -C build/release durable_bench && ./build/release/bench/durable_bench

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include <benchmark/benchmark.h>

#include "bench_dir.hpp"
#include "bench_runtime.hpp"

#include "broker/broker.hpp"
#include "broker/client.hpp"
#include "mqtt/codec.hpp"
#include "persist/rocksdb/rocksdb_store.hpp"

namespace {

using namespace thinggate;

using thinggate::bench::bench_dir;
using thinggate::bench::encoded;
using thinggate::bench::take;
using thinggate::bench::feed;
using thinggate::bench::inline_runtime;
using thinggate::bench::sink;

void run(benchmark::State& state, bool with_store) {
    const auto durability = static_cast<persist::durability>(state.range(0));
    const auto per_turn = static_cast<int>(state.range(1));
    bench_dir dir;
    std::unique_ptr<persist::rocksdb_store> store;
    if (with_store) {
        persist::rocksdb_options o;
        o.dir = dir.path / "db";
        o.verify_checksums_on_open = false;
        auto opened = persist::rocksdb_store::open(o);
        if (!opened) {
            state.SkipWithError(opened.error().message.c_str());
            return;
        }
        store = std::move(*opened);
    }
    inline_runtime rt;
    broker::options opts;
    opts.persistence.durability = durability;
    opts.lim.max_queued_messages = 0xFFFFFFFFu;
    opts.lim.max_queued_bytes = 1ull << 40;
    broker::broker b(opts, rt, store.get());

    // The persistent subscriber: subscribes, then goes offline.
    {
        sink io;
        broker::client sub(b, 0, io, broker::connection_info{"bench", "127.0.0.1:1", false, {}, {}});
        mqtt::connect c;
        c.client_id = "subscriber";
        c.clean_start = true;
        c.keep_alive = 60;
        c.props.session_expiry_interval = 3600;
        feed(sub, encoded(c));
        rt.run_until([&] { return take(sub) >= 1; });
        mqtt::subscribe s;
        s.packet_id = 1;
        s.entries.push_back({"bench/t", {mqtt::qos::at_least_once, false, false, 0}});
        feed(sub, encoded(s));
        rt.run_until([&] { return take(sub) >= 1; });
        sub.on_connection_lost();
        rt.drain();
    }

    sink io;
    broker::client pub(b, 0, io, broker::connection_info{"bench", "127.0.0.1:2", false, {}, {}});
    mqtt::connect c;
    c.client_id = "publisher";
    c.clean_start = true;
    c.keep_alive = 60;
    feed(pub, encoded(c));
    rt.run_until([&] { return take(pub) >= 1; });

    std::string turn;
    std::uint16_t pid = 0;
    for (int i = 0; i < per_turn; ++i) {
        mqtt::publish p;
        p.topic = "bench/t";
        p.payload = std::string(64, 'x');
        p.qos = mqtt::qos::at_least_once;
        p.packet_id = ++pid;
        turn += encoded(p);
    }
    std::size_t acked = 0;
    for (auto _ : state) {
        feed(pub, turn);
        std::size_t got = 0;
        rt.run_until([&] {
            got += take(pub);
            return got >= static_cast<std::size_t>(per_turn);
        });
        acked += got;
        rt.drain(); // the deliveries into the offline session's queue belong to the cost
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(acked));
    state.counters["queued"] = static_cast<double>(b.stats().queued);
    pub.on_connection_lost();
    rt.drain();
    if (store) {
        store->close();
    }
}

void BM_Durable_QoS1_Offline(benchmark::State& state) { run(state, true); }
void BM_Durable_NoStore(benchmark::State& state) { run(state, false); }

} // namespace

BENCHMARK(BM_Durable_QoS1_Offline)
        ->ArgNames({"durability", "per_turn"})
        ->ArgsProduct({{0, 1, 2}, {1, 64}})
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Durable_NoStore)->ArgNames({"durability", "per_turn"})->Args({1, 64})->UseRealTime()->Unit(benchmark::kMicrosecond);
