// Commit throughput of the RocksDB store: QoS 1 message records (256-byte payload), batches of 1
// or 64 records, durability none / wal / fsync, in a temp dir. Items = records.
// BM_Persist_Commit waits for each commit (one committer, latency-bound); BM_Persist_Pipelined
// keeps up to 256 single-record commits outstanding, as several shards do, so that the writer
// merges them (group commit).
// Release build only: ninja -C build/release persist_bench && ./build/release/bench/persist_bench

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>

#include <benchmark/benchmark.h>

#include "bench_dir.hpp"

#include "persist/rocksdb/rocksdb_store.hpp"

namespace {

using namespace thinggate::persist;

using thinggate::bench::bench_dir;

std::unique_ptr<rocksdb_store> open_store(const std::filesystem::path& dir) {
    rocksdb_options o;
    o.dir = dir / "data";
    auto r = rocksdb_store::open(o);
    if (!r) {
        throw std::runtime_error(r.error().message);
    }
    return std::move(*r);
}

queued_record sample(std::uint64_t seq) {
    queued_record q;
    q.client_id = "bench-client-0001";
    q.seq = seq;
    q.d.qos = thinggate::mqtt::qos::at_least_once;
    q.d.msg.topic = "devices/bench-client-0001/telemetry";
    q.d.msg.payload.assign(256, 'p');
    q.d.msg.qos = thinggate::mqtt::qos::at_least_once;
    return q;
}

void BM_Persist_Commit(benchmark::State& state) {
    auto batch_size = static_cast<int>(state.range(0));
    auto dur = static_cast<durability>(state.range(1));
    bench_dir dir;
    auto db = open_store(dir.path);
    auto record = sample(0);
    std::uint64_t seq = 0;
    for (auto _ : state) {
        write_batch b;
        for (int i = 0; i < batch_size; ++i) {
            record.seq = ++seq;
            b.put(record);
        }
        if (auto ec = db->commit_sync(std::move(b), dur)) {
            state.SkipWithError(ec.message().c_str());
            break;
        }
    }
    state.SetItemsProcessed(state.iterations() * batch_size);
    state.SetLabel(std::string(to_string(dur)));
}

void BM_Persist_Pipelined(benchmark::State& state) {
    auto dur = static_cast<durability>(state.range(0));
    constexpr int max_outstanding = 256;
    bench_dir dir;
    auto db = open_store(dir.path);
    auto record = sample(0);
    std::uint64_t seq = 0;
    std::mutex m;
    std::condition_variable cv;
    int outstanding = 0;
    std::atomic<bool> failed{false};
    for (auto _ : state) {
        {
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return outstanding < max_outstanding; });
            ++outstanding;
        }
        write_batch b;
        record.seq = ++seq;
        b.put(record);
        db->commit(std::move(b), dur, [&](boost::system::error_code ec) {
            if (ec) {
                failed = true;
            }
            std::lock_guard lock(m);
            --outstanding;
            cv.notify_all();
        });
    }
    std::unique_lock lock(m);
    cv.wait(lock, [&] { return outstanding == 0; });
    if (failed) {
        state.SkipWithError("a commit failed");
    }
    state.SetItemsProcessed(state.iterations());
    state.SetLabel(std::string(to_string(dur)));
}

} // namespace

BENCHMARK(BM_Persist_Commit)
        ->ArgsProduct({{1, 64}, {0, 1, 2}})
        ->ArgNames({"batch", "durability"})
        ->UseRealTime();
BENCHMARK(BM_Persist_Pipelined)->Arg(0)->Arg(1)->Arg(2)->ArgName("durability")->UseRealTime();
