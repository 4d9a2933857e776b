// Micro-benchmarks of the MQTT codec: decode and encode of PUBLISH (64 B, 4 KiB, 64 KiB payloads,
// 3.1.1 and 5.0), SUBSCRIBE and PUBACK. Counters: bytes/s and items/s, and heap allocations per
// operation (counted by the global operator new below).

#include "mqtt/codec.hpp"

#include <atomic>
#include <cstdlib>
#include <new>
#include <span>
#include <string>

#include <benchmark/benchmark.h>

namespace {
std::atomic<std::size_t> allocations{0};
} // namespace

// Out of line, so that g++ does not pair the inlined malloc/free with new/delete and warn
// (-Wmismatched-new-delete).
[[gnu::noinline]] void* operator new(std::size_t n) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(n == 0 ? 1 : n)) {
        return p;
    }
    throw std::bad_alloc();
}

[[gnu::noinline]] void operator delete(void* p) noexcept {
    std::free(p);
}

[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

namespace {

using namespace thinggate::mqtt;

protocol_version version_arg(std::int64_t v) {
    return v == 5 ? protocol_version::v5 : protocol_version::v311;
}

std::span<const std::uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

publish make_publish(std::size_t payload_size, protocol_version v) {
    publish p;
    p.topic = "things/device-0042/shadow/update/accepted";
    p.payload = std::string(payload_size, 'x');
    p.qos = qos::at_least_once;
    p.packet_id = 4242;
    if (v == protocol_version::v5) {
        p.props.message_expiry_interval = 3600;
        p.props.content_type = "application/json";
        p.props.user_properties.push_back({"trace", "0af7651916cd43dd8448eb211c80319c"});
    }
    return p;
}

subscribe make_subscribe(protocol_version v) {
    subscribe s;
    s.packet_id = 7;
    s.entries.push_back({"things/device-0042/shadow/+/accepted", {qos::at_least_once}});
    s.entries.push_back({"things/device-0042/jobs/notify-next", {qos::at_least_once}});
    s.entries.push_back({"$share/workers/telemetry/#", {qos::at_most_once}});
    s.entries.push_back({"config/+/device-0042", {qos::exactly_once}});
    if (v == protocol_version::v5) {
        s.props.subscription_identifiers = {17};
    }
    return s;
}

puback make_puback(protocol_version) {
    return puback{4242, reason_code::success, {}};
}

void report(benchmark::State& state, std::size_t bytes_per_op, std::size_t allocs_before) {
    state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes_per_op));
    state.counters["allocs/op"] = benchmark::Counter(
            static_cast<double>(allocations.load() - allocs_before) /
            static_cast<double>(state.iterations()));
}

void bench_decode(benchmark::State& state, const packet& p, protocol_version v) {
    std::string wire;
    encode(p, v, wire);
    frame_header h;
    if (!parse_frame(bytes_of(wire), max_remaining_length, h)) {
        state.SkipWithError("parse_frame failed");
        return;
    }
    const auto before = allocations.load();
    for (auto _ : state) {
        frame_header hh;
        auto st = parse_frame(bytes_of(wire), max_remaining_length, hh);
        auto r = decode(hh, bytes_of(wire).subspan(hh.header_size), v);
        benchmark::DoNotOptimize(st);
        benchmark::DoNotOptimize(r);
    }
    report(state, wire.size(), before);
}

void bench_encode(benchmark::State& state, const packet& p, protocol_version v) {
    std::string out;
    encode(p, v, out); // warm the buffer: steady state reuses its capacity
    const std::size_t size = out.size();
    const auto before = allocations.load();
    for (auto _ : state) {
        out.clear();
        encode(p, v, out);
        benchmark::DoNotOptimize(out.data());
        benchmark::ClobberMemory();
    }
    report(state, size, before);
}

void BM_Codec_DecodePublish(benchmark::State& state) {
    const auto v = version_arg(state.range(1));
    bench_decode(state, make_publish(static_cast<std::size_t>(state.range(0)), v), v);
}

void BM_Codec_EncodePublish(benchmark::State& state) {
    const auto v = version_arg(state.range(1));
    bench_encode(state, make_publish(static_cast<std::size_t>(state.range(0)), v), v);
}

void BM_Codec_EncodePublishHead(benchmark::State& state) {
    const auto v = version_arg(state.range(1));
    const publish p = make_publish(static_cast<std::size_t>(state.range(0)), v);
    std::string head;
    encode_publish_head(p, p.payload.size(), v, head);
    const auto before = allocations.load();
    for (auto _ : state) {
        head.clear();
        encode_publish_head(p, p.payload.size(), v, head);
        benchmark::DoNotOptimize(head.data());
        benchmark::ClobberMemory();
    }
    report(state, head.size() + p.payload.size(), before);
}

void BM_Codec_DecodeSubscribe(benchmark::State& state) {
    const auto v = version_arg(state.range(0));
    bench_decode(state, make_subscribe(v), v);
}

void BM_Codec_EncodeSubscribe(benchmark::State& state) {
    const auto v = version_arg(state.range(0));
    bench_encode(state, make_subscribe(v), v);
}

void BM_Codec_DecodePuback(benchmark::State& state) {
    const auto v = version_arg(state.range(0));
    bench_decode(state, make_puback(v), v);
}

void BM_Codec_EncodePuback(benchmark::State& state) {
    const auto v = version_arg(state.range(0));
    bench_encode(state, make_puback(v), v);
}

void publish_args(benchmark::internal::Benchmark* b) {
    b->ArgNames({"payload", "version"});
    for (const std::int64_t size : {64, 4096, 65536}) {
        for (const std::int64_t version : {4, 5}) {
            b->Args({size, version});
        }
    }
}

} // namespace

BENCHMARK(BM_Codec_DecodePublish)->Apply(publish_args);
BENCHMARK(BM_Codec_EncodePublish)->Apply(publish_args);
BENCHMARK(BM_Codec_EncodePublishHead)->Apply(publish_args);
BENCHMARK(BM_Codec_DecodeSubscribe)->ArgName("version")->Arg(4)->Arg(5);
BENCHMARK(BM_Codec_EncodeSubscribe)->ArgName("version")->Arg(4)->Arg(5);
BENCHMARK(BM_Codec_DecodePuback)->ArgName("version")->Arg(4)->Arg(5);
BENCHMARK(BM_Codec_EncodePuback)->ArgName("version")->Arg(4)->Arg(5);
