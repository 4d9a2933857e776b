// The client's output as the transport takes it: small packets appended back to back into runs
// (frames without a body), large payloads borrowed from the shared message, every packet byte for
// byte what the encoder makes for that subscriber, in order.
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "broker/client.hpp"
#include "harness.hpp"

using namespace thinggate;
using test::manual_runtime;
using test::peer;
using mqtt::protocol_version;
using mqtt::qos;

namespace {

struct fixture {
    explicit fixture(broker::options o = {})
        : rt(1)
        , b(std::move(o), rt) {}
    manual_runtime rt;
    broker::broker b;
};

/// What the transport would take from `p` now, and the bytes it would write.
struct taken {
    std::vector<broker::out_frame> frames;
    std::string bytes;
};

taken take(fixture& f, peer& p) {
    f.rt.run();
    taken t;
    f.rt.on(0, [&] { p.client().take_output(t.frames); });
    for (const auto& fr : t.frames) {
        t.bytes += fr.head;
        t.bytes.append(fr.body);
    }
    f.rt.on(0, [&] { p.client().output_written(t.bytes.size()); });
    return t;
}

std::string encoded(const mqtt::packet& p, protocol_version v) {
    std::string out;
    mqtt::encode(p, v, out);
    return out;
}

/// The PUBLISH a subscriber without anything of its own gets.
mqtt::publish plain(std::string topic, std::string payload, qos q = qos::at_most_once, std::uint16_t pid = 0) {
    mqtt::publish p;
    p.topic = std::move(topic);
    p.payload = std::move(payload);
    p.qos = q;
    p.packet_id = pid;
    return p;
}

std::string payload_of(int i, std::size_t size = 64) {
    std::string s = "m" + std::to_string(i) + ":";
    s.resize(size, static_cast<char>('a' + i % 26));
    return s;
}

} // namespace

TEST_CASE("output runs: QoS 0 deliveries to v5 and v3.1.1 subscribers are one run, byte-exact, in order") {
    fixture f;
    peer v5(f.b, f.rt, 0);
    peer v3(f.b, f.rt, 0, protocol_version::v311);
    peer pub(f.b, f.rt, 0);
    v5.connect("v5");
    v3.connect("v3");
    pub.connect("pub");
    v5.subscribe("fleet/+/telemetry", qos::at_most_once);
    v3.subscribe("fleet/+/telemetry", qos::at_most_once);
    constexpr int n = 50;
    for (int i = 0; i < n; ++i) {
        pub.publish("fleet/" + std::to_string(i % 3) + "/telemetry", payload_of(i));
    }
    for (peer* p : {&v5, &v3}) {
        auto t = take(f, *p);
        std::string expected;
        for (int i = 0; i < n; ++i) {
            expected += encoded(plain("fleet/" + std::to_string(i % 3) + "/telemetry", payload_of(i)), p->version());
        }
        CHECK(t.bytes == expected);
        REQUIRE(t.frames.size() == 1); // one run: one buffer for the transport to write
        CHECK(t.frames[0].body.empty());
        CHECK(t.frames[0].keep == nullptr); // the run holds no reference to the messages
    }
    // Taken: nothing left until the next delivery.
    CHECK(take(f, v5).frames.empty());
}

TEST_CASE("output runs: a large payload is borrowed from the message between runs, order kept") {
    fixture f;
    peer sub(f.b, f.rt, 0);
    peer pub(f.b, f.rt, 0);
    sub.connect("sub");
    pub.connect("pub");
    sub.subscribe("t", qos::at_most_once);
    const std::string big(4096, 'B');
    pub.publish("t", "small-1");
    pub.publish("t", big);
    pub.publish("t", "small-2");
    pub.publish("t", "small-3");
    auto t = take(f, sub);
    const auto v = protocol_version::v5;
    CHECK(t.bytes == encoded(plain("t", "small-1"), v) + encoded(plain("t", big), v) + encoded(plain("t", "small-2"), v) +
                             encoded(plain("t", "small-3"), v));
    REQUIRE(t.frames.size() == 3);
    CHECK(t.frames[0].body.empty());
    CHECK(t.frames[1].body.size() == big.size()); // written from the shared message, not copied
    CHECK(t.frames[1].keep != nullptr);
    CHECK(t.frames[1].body.data() == t.frames[1].keep->payload.data());
    CHECK(t.frames[2].body.empty()); // small-2 and small-3 in one run
}

TEST_CASE("output runs: QoS 1 deliveries carry each subscriber's own packet ids [MQTT-2.2.1-3]") {
    fixture f;
    peer sub(f.b, f.rt, 0);
    peer ahead(f.b, f.rt, 0);
    peer v3(f.b, f.rt, 0, protocol_version::v311);
    peer pub(f.b, f.rt, 0);
    sub.connect("sub");
    ahead.connect("ahead");
    v3.connect("v3");
    pub.connect("pub");
    sub.subscribe("q1", qos::at_least_once);
    ahead.subscribe("q1", qos::at_least_once);
    ahead.subscribe("extra", qos::at_least_once, 2);
    v3.subscribe("q1", qos::at_least_once);
    // `ahead` holds packet id 1 unacknowledged: its ids run one ahead of sub's, so a head shared
    // between the two would carry the wrong id.
    pub.publish("extra", "first", qos::at_least_once);
    take(f, ahead);
    constexpr int n = 20;
    for (int i = 0; i < n; ++i) {
        pub.publish("q1", payload_of(i), qos::at_least_once);
    }
    pub.received(); // the publisher's PUBACKs
    std::string expect_sub;
    std::string expect_ahead;
    std::string expect_v3;
    for (int i = 0; i < n; ++i) {
        const auto id = static_cast<std::uint16_t>(i + 1);
        expect_sub += encoded(plain("q1", payload_of(i), qos::at_least_once, id), protocol_version::v5);
        expect_ahead += encoded(plain("q1", payload_of(i), qos::at_least_once, id + 1), protocol_version::v5);
        expect_v3 += encoded(plain("q1", payload_of(i), qos::at_least_once, id), protocol_version::v311);
    }
    CHECK(take(f, sub).bytes == expect_sub);
    CHECK(take(f, ahead).bytes == expect_ahead);
    CHECK(take(f, v3).bytes == expect_v3);
}

TEST_CASE("output runs: topic aliases and subscription identifiers stay per subscriber [MQTT-3.3.2-17]") {
    fixture f;
    peer aliased(f.b, f.rt, 0);
    peer with_id(f.b, f.rt, 0);
    peer plain_sub(f.b, f.rt, 0);
    peer pub(f.b, f.rt, 0);
    {
        mqtt::connect c;
        c.client_id = "aliased";
        c.clean_start = true;
        c.keep_alive = 60;
        c.props.topic_alias_maximum = 4;
        aliased.send(c);
        aliased.first<mqtt::connack>();
    }
    with_id.connect("with-id");
    plain_sub.connect("plain");
    pub.connect("pub");
    aliased.subscribe("a/#", qos::at_most_once);
    with_id.subscribe("a/#", qos::at_most_once, 1, 7);
    plain_sub.subscribe("a/#", qos::at_most_once);
    for (int i = 0; i < 6; ++i) {
        pub.publish("a/b", payload_of(i));
    }
    const auto v = protocol_version::v5;
    std::string expect_aliased;
    std::string expect_id;
    std::string expect_plain;
    for (int i = 0; i < 6; ++i) {
        auto p = plain("a/b", payload_of(i));
        expect_plain += encoded(p, v);
        auto a = p;
        a.props.topic_alias = 1;
        if (i > 0) {
            a.topic.clear(); // known alias: empty topic [MQTT-3.3.2-12]
        }
        expect_aliased += encoded(a, v);
        auto s = p;
        s.props.subscription_identifiers.push_back(7);
        expect_id += encoded(s, v);
    }
    CHECK(take(f, aliased).bytes == expect_aliased);
    CHECK(take(f, with_id).bytes == expect_id);
    CHECK(take(f, plain_sub).bytes == expect_plain);
}

TEST_CASE("output runs: a control packet between deliveries keeps its place") {
    fixture f;
    peer sub(f.b, f.rt, 0);
    peer pub(f.b, f.rt, 0);
    sub.connect("sub");
    pub.connect("pub");
    sub.subscribe("t", qos::at_most_once);
    pub.publish("t", "one");
    sub.send(mqtt::pingreq{});
    pub.publish("t", "two");
    auto t = take(f, sub);
    const auto v = protocol_version::v5;
    CHECK(t.bytes == encoded(plain("t", "one"), v) + encoded(mqtt::pingresp{}, v) + encoded(plain("t", "two"), v));
    CHECK(t.frames.size() == 1);
}

TEST_CASE("output runs: a long burst is cut into runs of at most 16 KiB, every byte in order") {
    fixture f;
    peer sub(f.b, f.rt, 0);
    peer pub(f.b, f.rt, 0);
    sub.connect("sub");
    pub.connect("pub");
    sub.subscribe("burst", qos::at_most_once);
    constexpr int n = 600; // ~45 KB of 75-byte packets
    std::string expected;
    for (int i = 0; i < n; ++i) {
        pub.publish("burst", payload_of(i));
        expected += encoded(plain("burst", payload_of(i)), protocol_version::v5);
    }
    auto t = take(f, sub);
    CHECK(t.bytes == expected);
    CHECK(t.frames.size() >= 3);
    for (const auto& fr : t.frames) {
        CHECK(fr.body.empty());
        CHECK(fr.head.size() <= 16 * 1024);
    }
    // The next burst after a take starts afresh and is as exact.
    pub.publish("burst", "after");
    CHECK(take(f, sub).bytes == encoded(plain("burst", "after"), protocol_version::v5));
}

TEST_CASE("output runs: fan-in from many publishers to one QoS 1 subscriber, byte-exact, own "
          "packet ids "
          "[MQTT-2.2.1-3]") {
    fixture f;
    peer v5(f.b, f.rt, 0);
    peer v3(f.b, f.rt, 0, protocol_version::v311);
    v5.connect("v5");
    v3.connect("v3");
    v5.subscribe("in/#", qos::at_least_once);
    v3.subscribe("in/#", qos::at_least_once);
    std::vector<std::unique_ptr<peer>> pubs;
    for (int k = 0; k < 8; ++k) {
        pubs.push_back(std::make_unique<peer>(
                f.b, f.rt, 0, k % 2 == 0 ? protocol_version::v5 : protocol_version::v311));
        pubs.back()->connect("pub-" + std::to_string(k));
    }
    std::string expect_v5;
    std::string expect_v3;
    std::uint16_t id = 0;
    for (int round = 0; round < 4; ++round) {
        for (int k = 0; k < 8; ++k) {
            const std::string topic = "in/" + std::to_string(k);
            const auto q =
                    k % 3 == 0 ? qos::at_most_once : qos::at_least_once; // min(published, granted)
            const int i = round * 8 + k;
            pubs[k]->publish(topic, payload_of(i, static_cast<std::size_t>(i * 7)), q);
            const auto pid = q == qos::at_most_once ? std::uint16_t{0} : ++id;
            expect_v5 +=
                    encoded(plain(topic, payload_of(i, static_cast<std::size_t>(i * 7)), q, pid),
                            protocol_version::v5);
            expect_v3 +=
                    encoded(plain(topic, payload_of(i, static_cast<std::size_t>(i * 7)), q, pid),
                            protocol_version::v311);
        }
    }
    CHECK(take(f, v5).bytes == expect_v5);
    CHECK(take(f, v3).bytes == expect_v3);
}

TEST_CASE(
        "output runs: the head shared from a message's second delivery on keeps every subscriber's "
        "packet id, also when messages alternate") {
    fixture f;
    std::vector<std::unique_ptr<peer>> subs;
    for (int k = 0; k < 4; ++k) {
        subs.push_back(std::make_unique<peer>(f.b, f.rt, 0));
        subs.back()->connect("sub-" + std::to_string(k));
        subs.back()->subscribe("shared/#", qos::at_least_once);
    }
    // Subscriber k holds k packet ids unacknowledged, so the four count from different ids.
    peer pub(f.b, f.rt, 0);
    pub.connect("pub");
    for (int k = 1; k < 4; ++k) {
        subs[k]->subscribe("only/" + std::to_string(k), qos::at_least_once, 2);
        for (int j = 0; j < k; ++j) {
            pub.publish("only/" + std::to_string(k), "x", qos::at_least_once);
        }
        take(f, *subs[k]);
    }
    std::vector<std::string> expected(4);
    for (int i = 0; i < 6; ++i) {
        const std::string topic = i % 2 == 0 ? "shared/a" : "shared/bb";
        pub.publish(topic, payload_of(i), qos::at_least_once, i % 3 == 0);
        for (int k = 0; k < 4; ++k) {
            expected[k] +=
                    encoded(plain(topic,
                                  payload_of(i),
                                  qos::at_least_once,
                                  static_cast<std::uint16_t>(k + i + 1)),
                            protocol_version::v5);
        }
    }
    for (int k = 0; k < 4; ++k) {
        CHECK(take(f, *subs[k]).bytes == expected[k]);
    }
}

TEST_CASE("output runs: forwarded properties reach a v5 subscriber, a v3.1.1 one gets the plain "
          "head") {
    fixture f;
    peer v5(f.b, f.rt, 0);
    peer v3(f.b, f.rt, 0, protocol_version::v311);
    peer pub(f.b, f.rt, 0);
    v5.connect("v5");
    v3.connect("v3");
    pub.connect("pub");
    v5.subscribe("p", qos::at_least_once);
    v3.subscribe("p", qos::at_least_once);
    mqtt::publish with = plain("p", "body", qos::at_least_once, 9);
    with.props.content_type = "text/plain";
    with.props.user_properties.emplace_back("k", "v");
    pub.send(with);
    auto expect_v5 = plain("p", "body", qos::at_least_once, 1);
    expect_v5.props.content_type = "text/plain";
    expect_v5.props.user_properties.emplace_back("k", "v");
    CHECK(take(f, v5).bytes == encoded(expect_v5, protocol_version::v5));
    CHECK(take(f, v3).bytes ==
          encoded(plain("p", "body", qos::at_least_once, 1), protocol_version::v311));
}

TEST_CASE("output runs: an in-flight message sent again on resume is byte-exact with DUP set "
          "[MQTT-3.3.1-1]") {
    fixture f;
    auto sub = std::make_unique<peer>(f.b, f.rt, 0);
    peer pub(f.b, f.rt, 0);
    sub->connect("sub", true, 600);
    pub.connect("pub");
    sub->subscribe("d", qos::at_least_once);
    pub.publish("d", payload_of(1), qos::at_least_once);
    pub.publish("d", payload_of(2), qos::at_least_once);
    take(f, *sub); // received, never acknowledged
    sub->drop();
    sub = std::make_unique<peer>(f.b, f.rt, 0);
    mqtt::connect c;
    c.client_id = "sub";
    c.clean_start = false;
    c.keep_alive = 60;
    c.props.session_expiry_interval = 600;
    sub->send(c);
    std::string expected;
    for (int i = 1; i <= 2; ++i) {
        auto p = plain("d", payload_of(i), qos::at_least_once, static_cast<std::uint16_t>(i));
        p.dup = true;
        expected += encoded(p, protocol_version::v5);
    }
    const auto bytes = take(f, *sub).bytes; // the CONNACK, then the two again
    CHECK(bytes.size() > expected.size());
    CHECK(bytes.ends_with(expected));
}
