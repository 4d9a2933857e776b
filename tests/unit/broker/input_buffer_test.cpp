// The client's input buffer between reads: given back while the connection waits for its socket
// (release_input), reused by the next connection of the shard that reads, never showing a byte of
// its previous owner; unprocessed bytes (a packet cut by the read) stay with their connection.
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "broker/client.hpp"
#include "harness.hpp"

using namespace thinggate;
using mqtt::qos;
using test::manual_runtime;
using test::peer;

namespace {

struct fixture {
    fixture()
        : rt(1)
        , b(broker::options{}, rt) {}

    manual_runtime rt;
    broker::broker b;
};

std::string encoded(const mqtt::packet& p) {
    std::string out;
    mqtt::encode(p, mqtt::protocol_version::v5, out);
    return out;
}

mqtt::publish make_publish(std::string topic, std::string payload) {
    mqtt::publish p;
    p.topic = std::move(topic);
    p.payload = std::move(payload);
    return p;
}

/// One read of `bytes` as the transport does it: into the span prepare_input gives, then commit.
void read(fixture& f, peer& p, std::string_view bytes, std::size_t ask = 4096) {
    f.rt.on(0, [&] {
        auto buf = p.client().prepare_input(ask);
        REQUIRE(buf.size() >= bytes.size());
        std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(buf.data()));
        p.client().commit_input(bytes.size());
    });
    f.rt.run();
}

void wait_for_socket(fixture& f, peer& p) {
    f.rt.on(0, [&] { p.client().release_input(); });
}

} // namespace

TEST_CASE("input buffers: a buffer given back by one connection serves another, old bytes never "
          "read") {
    fixture f;
    peer sub(f.b, f.rt, 0);
    peer a(f.b, f.rt, 0);
    peer b(f.b, f.rt, 0);
    sub.connect("sub");
    a.connect("a");
    b.connect("b");
    sub.subscribe("t/#", qos::at_most_once);
    // a fills its buffer with a long packet, then waits for its socket: the buffer goes back.
    const auto long_one = encoded(make_publish("t/a", std::string(3000, 'A')));
    read(f, a, long_one);
    wait_for_socket(f, a);
    // b's read is shorter than what the reused buffer held: only b's bytes are handled.
    const auto short_one = encoded(make_publish("t/b", "b1"));
    read(f, b, short_one);
    wait_for_socket(f, b);
    auto got = test::publishes(sub.received());
    REQUIRE(got.size() == 2);
    CHECK(got[0].payload == std::string(3000, 'A'));
    CHECK(got[1].topic == "t/b");
    CHECK(got[1].payload == "b1");
}

TEST_CASE("input buffers: a packet cut by a read stays with its connection while others read") {
    fixture f;
    peer sub(f.b, f.rt, 0);
    peer a(f.b, f.rt, 0);
    peer b(f.b, f.rt, 0);
    sub.connect("sub");
    a.connect("a");
    b.connect("b");
    sub.subscribe("t/#", qos::at_most_once);
    const auto cut = encoded(make_publish("t/a", std::string(200, 'x')));
    read(f, a, std::string_view(cut).substr(0, 50)); // incomplete: kept
    wait_for_socket(f, a);                           // not given back: it holds unprocessed bytes
    for (int i = 0; i < 3; ++i) {
        read(f, b, encoded(make_publish("t/b", "b" + std::to_string(i))));
        wait_for_socket(f, b);
    }
    read(f, a, std::string_view(cut).substr(50), 16);
    wait_for_socket(f, a);
    auto got = test::publishes(sub.received());
    REQUIRE(got.size() == 4);
    CHECK(got[0].payload == "b0");
    CHECK(got[2].payload == "b2");
    CHECK(got[3].topic == "t/a");
    CHECK(got[3].payload == std::string(200, 'x'));
}

TEST_CASE("input buffers: more connections waiting than the shard keeps, each still reads "
          "correctly") {
    fixture f;
    peer sub(f.b, f.rt, 0);
    sub.connect("sub");
    sub.subscribe("t/#", qos::at_most_once);
    std::vector<std::unique_ptr<peer>> pubs;
    for (int k = 0; k < 20; ++k) {
        pubs.push_back(std::make_unique<peer>(f.b, f.rt, 0));
        pubs.back()->connect("p" + std::to_string(k));
        wait_for_socket(f, *pubs.back());
    }
    for (int round = 0; round < 3; ++round) {
        for (int k = 0; k < 20; ++k) {
            read(f,
                 *pubs[k],
                 encoded(make_publish("t/" + std::to_string(k), std::to_string(round))),
                 static_cast<std::size_t>(64 << (k % 4)));
        }
        for (int k = 0; k < 20; ++k) {
            wait_for_socket(f, *pubs[k]);
        }
    }
    auto got = test::publishes(sub.received());
    REQUIRE(got.size() == 60);
    for (int round = 0; round < 3; ++round) {
        for (int k = 0; k < 20; ++k) {
            const auto& p = got[static_cast<std::size_t>(round * 20 + k)];
            CHECK(p.topic == "t/" + std::to_string(k));
            CHECK(p.payload == std::to_string(round));
        }
    }
}
