// QoS 0 flow control through the real transport: a publisher whose QoS 0 messages go to a
// subscriber with a congested output is no longer read (TCP slows it) instead of the messages
// being dropped or the subscriber being cut off — for at most max_ack_delay_ms per congestion
// episode; a subscriber that stays stuck longer is a slow consumer (slow_consumer applies).

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include <doctest/doctest.h>

#include "daemon.hpp"
#include "raw_client.hpp"

using namespace thinggate::integration;

namespace {

constexpr int messages = 20'000;
const std::string filler(1000, 'f'); // 20 MB in all: far more than the kernel buffers hold

std::string flood(const std::string& topic) {
    std::string burst;
    burst.reserve(static_cast<std::size_t>(messages) * (filler.size() + 40));
    for (int i = 0; i < messages; ++i) {
        burst += publish_packet(5, topic, std::to_string(i) + ":" + filler, 0);
    }
    return burst;
}

// Joins the publishing thread; when the test fails first (the thread may be blocked writing to
// a gateway that stopped reading), the gateway is killed so that its write fails and returns.
struct writer_guard {
    std::thread& t;
    gateway& d;
    ~writer_guard() {
        if (t.joinable()) {
            d.kill();
            t.join();
        }
    }
};

// Reads `messages` PUBLISH packets and checks that they are 0, 1, 2, ... in order.
void expect_all_in_order(raw_client& sub, gateway& d) {
    for (int i = 0; i < messages; ++i) {
        auto p = sub.read_packet(std::chrono::seconds(30));
        if (!p) {
            const auto log = d.log();
            FAIL("message ", i, " of ", messages, " did not arrive; the gateway's log ends:\n",
                 log.substr(log.size() > 4000 ? log.size() - 4000 : 0));
        }
        REQUIRE_MESSAGE(p->type() == 3, "packet type " << p->type() << " instead of PUBLISH " << i);
        const auto payload = publish_payload(*p, 5);
        REQUIRE(payload == std::to_string(i) + ":" + filler);
    }
}

} // namespace

TEST_CASE("a QoS 0 flood into a slow subscriber slows the publisher: nothing is dropped, nobody is cut off") {
    gateway_options go;
    go.shards = 2;
    // A 64 KiB outbound budget (slow_consumer = "disconnect", the default): without flow control
    // the flood would exceed it at once and the subscriber would be disconnected.
    go.limits = "max_packet_size = 65536\noutbound_budget_bytes = 65536\nmax_ack_delay_ms = 60000\n";
    gateway d(go);

    raw_client sub(d.tcp_port(), 4096);
    sub.send(connect_packet(5, "flow-sub"));
    REQUIRE(sub.read_packet());
    sub.send(subscribe_packet(5, 1, "flow/t", 0));
    REQUIRE(sub.read_packet());

    raw_client pub(d.tcp_port());
    pub.send(connect_packet(5, "flow-pub"));
    REQUIRE(pub.read_packet());

    const std::string burst = flood("flow/t");
    std::atomic<bool> sent{false};
    std::thread writer([&] {
        sent = pub.try_send(burst); // blocks while the gateway does not read it
    });
    writer_guard guard{writer, d};
    expect_all_in_order(sub, d);
    writer.join();
    CHECK(sent);
    d.stop();
    CHECK(d.log().find("disconnecting slow consumer") == std::string::npos);
}

TEST_CASE("a subscriber stuck longer than max_ack_delay_ms no longer holds publishers back") {
    gateway_options go;
    go.shards = 2;
    go.limits = "max_packet_size = 65536\noutbound_budget_bytes = 65536\nmax_ack_delay_ms = 1000\n";
    gateway d(go);

    raw_client stuck(d.tcp_port(), 4096);
    stuck.send(connect_packet(5, "flow-stuck"));
    REQUIRE(stuck.read_packet());
    stuck.send(subscribe_packet(5, 1, "flow/s", 0));
    REQUIRE(stuck.read_packet());

    raw_client reader(d.tcp_port(), 4096);
    reader.send(connect_packet(5, "flow-reader"));
    REQUIRE(reader.read_packet());
    reader.send(subscribe_packet(5, 1, "flow/s", 0));
    REQUIRE(reader.read_packet());

    raw_client pub(d.tcp_port());
    pub.send(connect_packet(5, "flow-pub2"));
    REQUIRE(pub.read_packet());

    const std::string burst = flood("flow/s");
    std::thread writer([&] { (void)pub.try_send(burst); });
    writer_guard guard{writer, d};
    // The subscriber that reads gets everything even though the other one never reads: the
    // stuck one holds the publisher back for 1 s, then it is a slow consumer and is cut off.
    expect_all_in_order(reader, d);
    writer.join();
    CHECK(d.wait_for_log("client flow-stuck: outbound budget of 65536 bytes exceeded, disconnecting slow consumer"));
    CHECK(stuck.wait_closed());
}
