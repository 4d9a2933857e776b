// Fan-out through the whole broker: one PUBLISH (QoS 0, 64 B) routed to 1, 100 or 10 000 online
// subscribers of the same topic, each delivery encoded and handed to its connection's writer
// (scatter-gather frames taken as the transport takes them). One shard driven inline; items =
// deliveries. BM_Route_FanIn: 100 publishers -> 1 subscriber.
// Release build only: ninja -C build/release route_bench && ./build/release/bench/route_bench

#include <memory>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_runtime.hpp"
#include "broker/broker.hpp"
#include "mqtt/codec.hpp"

namespace {

using namespace thinggate;
using thinggate::bench::encoded;
using thinggate::bench::feed;
using thinggate::bench::inline_runtime;
using thinggate::bench::sink;

struct connection {
    connection(broker::broker& b, const std::string& id)
        : client(b, 0, io, broker::connection_info{"bench", "127.0.0.1:1", false, {}, {}, {}, {}}) {
        mqtt::connect c;
        c.client_id = id;
        c.clean_start = true;
        c.keep_alive = 60;
        feed(client, encoded(c));
    }
    /// Takes and "writes" everything queued; returns the number of frames.
    std::size_t drain() { return thinggate::bench::take(client); }
    sink io;
    broker::client client;
};

void BM_Route_FanOut(benchmark::State& state) {
    const auto subscribers = static_cast<int>(state.range(0));
    inline_runtime rt;
    broker::options opts;
    opts.lifecycle_events = false;
    broker::broker b(opts, rt);
    std::vector<std::unique_ptr<connection>> subs;
    for (int i = 0; i < subscribers; ++i) {
        subs.push_back(std::make_unique<connection>(b, "sub-" + std::to_string(i)));
        mqtt::subscribe s;
        s.packet_id = 1;
        s.entries.push_back({"fleet/telemetry", {mqtt::qos::at_most_once, false, false, 0}});
        feed(subs.back()->client, encoded(s));
    }
    connection pub(b, "publisher");
    rt.drain();
    for (auto& s : subs) {
        s->drain();
    }
    mqtt::publish p;
    p.topic = "fleet/telemetry";
    p.payload = std::string(64, 'x');
    const std::string bytes = encoded(p);
    std::size_t delivered = 0;
    for (auto _ : state) {
        feed(pub.client, bytes);
        rt.drain();
        for (auto& s : subs) {
            delivered += s->drain();
        }
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(delivered));
    state.SetBytesProcessed(static_cast<std::int64_t>(delivered * p.payload.size()));
}

void BM_Route_FanIn(benchmark::State& state) {
    inline_runtime rt;
    broker::options opts;
    opts.lifecycle_events = false;
    broker::broker b(opts, rt);
    connection sub(b, "subscriber");
    mqtt::subscribe s;
    s.packet_id = 1;
    s.entries.push_back({"fleet/+/telemetry", {mqtt::qos::at_most_once, false, false, 0}});
    feed(sub.client, encoded(s));
    std::vector<std::unique_ptr<connection>> pubs;
    std::vector<std::string> packets;
    for (int i = 0; i < 100; ++i) {
        pubs.push_back(std::make_unique<connection>(b, "pub-" + std::to_string(i)));
        mqtt::publish p;
        p.topic = "fleet/dev" + std::to_string(i) + "/telemetry";
        p.payload = std::string(64, 'x');
        std::string burst;
        for (int k = 0; k < 16; ++k) {
            burst += encoded(p); // what one read of a busy publisher brings
        }
        packets.push_back(std::move(burst));
    }
    rt.drain();
    sub.drain();
    for (auto& c : pubs) {
        c->drain();
    }
    std::size_t delivered = 0;
    for (auto _ : state) {
        for (std::size_t i = 0; i < pubs.size(); ++i) {
            feed(pubs[i]->client, packets[i]);
        }
        rt.drain();
        delivered += sub.drain();
    }
    state.SetItemsProcessed(static_cast<std::int64_t>(delivered));
}

} // namespace

BENCHMARK(BM_Route_FanOut)->ArgName("subscribers")->Arg(1)->Arg(100)->Arg(10000);
BENCHMARK(BM_Route_FanIn);
