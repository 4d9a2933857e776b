// The publish-rate throttle through the real transport: over the limit the gateway stops reading
// the publisher's socket (TCP backpressure) and every message still arrives, in order.
#include <chrono>
#include <string>

#include <doctest/doctest.h>

#include "daemon.hpp"
#include "raw_client.hpp"

using namespace thinggate::integration;

TEST_CASE("max_publish_rate slows a publisher that bursts 250 QoS 1 messages; none is lost") {
    gateway_options go;
    go.limits = "max_publish_rate = 100\n";
    gateway d(go);

    raw_client sub(d.tcp_port());
    sub.send(connect_packet(5, "thr-sub"));
    REQUIRE(sub.read_packet());
    sub.send(subscribe_packet(5, 1, "thr/t", 0));
    REQUIRE(sub.read_packet());

    raw_client pub(d.tcp_port());
    pub.send(connect_packet(5, "thr-pub"));
    REQUIRE(pub.read_packet());

    constexpr int n = 250;
    std::string burst;
    for (int i = 0; i < n; ++i) {
        burst += publish_packet(5, "thr/t", std::to_string(i), 1, static_cast<std::uint16_t>(i + 1));
    }
    const auto start = std::chrono::steady_clock::now();
    pub.send(burst);

    for (int i = 0; i < n; ++i) {
        auto p = sub.read_packet(std::chrono::seconds(10));
        REQUIRE_MESSAGE(p, "message " << i << " did not arrive");
        REQUIRE(p->type() == 3);
        CHECK(publish_payload(*p, 5) == std::to_string(i));
    }
    // 100 of burst, then 100 per second: the last one cannot arrive before ~1.5 s.
    const auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed >= std::chrono::milliseconds(1200));

    int acks = 0;
    while (acks < n) {
        auto a = pub.read_packet(std::chrono::seconds(10));
        REQUIRE_MESSAGE(a, "PUBACK " << acks << " missing");
        if (a->type() == 4) {
            ++acks;
        }
    }
    CHECK(acks == n);
}
