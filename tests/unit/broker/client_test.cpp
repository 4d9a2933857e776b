// The broker's protocol machine driven without sockets: two shards, a manual clock, scripted peers.
#include "broker/client.hpp"

#include <doctest/doctest.h>

#include <cstdlib>

#include "harness.hpp"
#include "persist/memory_store.hpp"

using namespace thinggate;
using namespace std::chrono_literals;
using test::manual_runtime;
using test::peer;
using test::publishes;
using mqtt::qos;
using mqtt::reason_code;

namespace {

/// With THINGGATE_TEST_STORE=memory (ctest unit_broker_with_store) every case runs against a
/// broker that writes through a memory store: the protocol must look the same, only later.
persist::store* test_store() {
    static const bool on = [] {
        const char* v = std::getenv("THINGGATE_TEST_STORE");
        return v != nullptr && std::string_view(v) == "memory";
    }();
    if (!on) {
        return nullptr;
    }
    thread_local persist::memory_store store;
    return &store;
}

struct fixture {
    explicit fixture(broker::options o = {}, std::uint32_t shards = 2)
        : rt(shards)
        , b(std::move(o), rt, test_store()) {}
    manual_runtime rt;
    broker::broker b;
};

mqtt::will_message make_will(std::string topic, std::string payload, std::uint32_t delay = 0) {
    mqtt::will_message w;
    w.topic = std::move(topic);
    w.payload = std::move(payload);
    w.qos = qos::at_least_once;
    if (delay != 0) {
        w.props.will_delay_interval = delay;
    }
    return w;
}

} // namespace

TEST_CASE("CONNECT v5 gets CONNACK with the server's limits; v3.1.1 gets return code 0") {
    fixture f;
    peer a(f.b, f.rt, 0);
    auto ack = a.connect("a");
    CHECK_FALSE(ack.session_present);
    CHECK(ack.props.maximum_packet_size == f.b.opts().lim.max_packet_size);
    CHECK(ack.props.receive_maximum == f.b.opts().lim.receive_maximum);
    CHECK(ack.props.topic_alias_maximum == f.b.opts().lim.topic_alias_maximum);

    peer c(f.b, f.rt, 1, mqtt::protocol_version::v311);
    auto ack3 = c.connect("c");
    CHECK(ack3.reason == reason_code::success);
    CHECK(f.b.stats().sessions == 2);
}

TEST_CASE("[MQTT-3.1.0-1] a first packet other than CONNECT closes the connection") {
    fixture f;
    peer a(f.b, f.rt, 0);
    a.send(mqtt::pingreq{});
    CHECK(a.closed);
    CHECK(a.received().empty());
}

TEST_CASE("[MQTT-3.1.0-2] a second CONNECT is a protocol error (DISCONNECT 0x82)") {
    fixture f;
    peer a(f.b, f.rt, 0);
    a.connect("a");
    mqtt::connect again;
    again.client_id = "a";
    a.send(again);
    auto d = a.expect_one<mqtt::disconnect>();
    CHECK(d.reason == reason_code::protocol_error);
    CHECK(a.closed);
}

TEST_CASE("[MQTT-3.1.3-8] v3.1.1 empty client id with clean session 0 is refused with 0x02; v5 gets an assigned id") {
    fixture f;
    peer a(f.b, f.rt, 0, mqtt::protocol_version::v311);
    mqtt::connect c;
    c.version = mqtt::protocol_version::v311;
    c.clean_start = false;
    a.send(c);
    auto ack = a.expect_one<mqtt::connack>();
    CHECK(ack.reason == reason_code::client_identifier_not_valid);
    CHECK(a.closed);

    peer b(f.b, f.rt, 1);
    mqtt::connect c5;
    c5.client_id = "";
    b.send(c5);
    auto ack5 = b.expect_one<mqtt::connack>();
    REQUIRE(ack5.props.assigned_client_identifier);
    CHECK(ack5.props.assigned_client_identifier->starts_with("auto-"));
}

TEST_CASE("an unsupported protocol level gets a 3.1.1 CONNACK 0x01") {
    fixture f;
    peer a(f.b, f.rt, 0, mqtt::protocol_version::v311);
    // CONNECT with protocol level 3 ("MQIsdp" is 3.1; level 3 under "MQTT" is unknown).
    const unsigned char bytes[] = {0x10, 0x0d, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x03, 0x02, 0x00, 0x3c, 0x00, 0x01, 'x'};
    a.send_bytes(std::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
    auto ack = a.expect_one<mqtt::connack>();
    CHECK(ack.reason == reason_code::unsupported_protocol_version);
    CHECK(a.closed);
}

TEST_CASE("QoS 0, 1 and 2 are delivered across shards at min(published, granted) QoS") {
    fixture f;
    peer sub(f.b, f.rt, 1);
    peer pub(f.b, f.rt, 0);
    sub.connect("sub");
    pub.connect("pub");
    auto sa = sub.subscribe("t/#", qos::exactly_once);
    CHECK(sa.reasons == std::vector{reason_code::granted_qos2});

    pub.publish("t/0", "zero", qos::at_most_once);
    pub.publish("t/1", "one", qos::at_least_once, false, 7);
    CHECK(pub.expect_one<mqtt::puback>().packet_id == 7);
    pub.publish("t/2", "two", qos::exactly_once, false, 8);
    CHECK(pub.expect_one<mqtt::pubrec>().packet_id == 8);
    pub.send(mqtt::pubrel{8, reason_code::success, {}});
    CHECK(pub.expect_one<mqtt::pubcomp>().reason == reason_code::success);

    auto got = publishes(sub.received());
    REQUIRE(got.size() == 3);
    CHECK(got[0].payload == "zero");
    CHECK(got[0].qos == qos::at_most_once);
    CHECK(got[1].qos == qos::at_least_once);
    CHECK(got[2].qos == qos::exactly_once);
    sub.send(mqtt::puback{got[1].packet_id, reason_code::success, {}});
    sub.send(mqtt::pubrec{got[2].packet_id, reason_code::success, {}});
    CHECK(sub.expect_one<mqtt::pubrel>().packet_id == got[2].packet_id);
    sub.send(mqtt::pubcomp{got[2].packet_id, reason_code::success, {}});
    CHECK(sub.received().empty());
}

TEST_CASE("[MQTT-4.3.3-...] a duplicate QoS 2 PUBLISH before PUBREL is not routed twice") {
    fixture f;
    peer sub(f.b, f.rt, 0);
    peer pub(f.b, f.rt, 1);
    sub.connect("sub");
    pub.connect("pub");
    sub.subscribe("x", qos::at_most_once);
    pub.publish("x", "once", qos::exactly_once, false, 5);
    pub.expect_one<mqtt::pubrec>();
    pub.publish("x", "once", qos::exactly_once, false, 5);
    pub.expect_one<mqtt::pubrec>();
    CHECK(publishes(sub.received()).size() == 1);
}

TEST_CASE("[MQTT-3.3.1-5] retained messages: stored, sent on subscribe with RETAIN, replaced, deleted by empty payload") {
    fixture f;
    peer pub(f.b, f.rt, 0);
    pub.connect("pub");
    pub.publish("r/a", "v1", qos::at_most_once, true);
    pub.publish("r/a", "v2", qos::at_most_once, true);
    pub.publish("r/b", "b", qos::at_most_once, true);
    CHECK(f.b.stats().retained == 2);

    peer sub(f.b, f.rt, 1);
    sub.connect("sub");
    sub.subscribe("r/+", qos::at_least_once);
    auto got = publishes(sub.received());
    REQUIRE(got.size() == 2);
    CHECK(got[0].retain);
    CHECK(got[0].payload == "v2");
    CHECK(got[0].qos == qos::at_most_once);

    pub.publish("r/a", "", qos::at_most_once, true); // delete [MQTT-3.3.1-6]
    CHECK(f.b.stats().retained == 1);
    auto live = publishes(sub.received());
    REQUIRE(live.size() == 1);
    CHECK_FALSE(live[0].retain); // live delivery clears RETAIN unless Retain As Published [MQTT-3.3.1-12]
}

TEST_CASE("[MQTT-3.3.1-9] retain handling 2 sends no retained messages; 1 only for a new subscription") {
    fixture f;
    peer pub(f.b, f.rt, 0);
    pub.connect("pub");
    pub.publish("r", "kept", qos::at_most_once, true);
    peer sub(f.b, f.rt, 0);
    sub.connect("sub");
    for (std::uint8_t rh : {2, 1, 1}) {
        mqtt::subscribe s;
        s.packet_id = 3;
        s.entries.push_back({"r", {qos::at_most_once, false, false, rh}});
        sub.send(s);
        auto got = sub.received();
        const auto n = publishes(got).size();
        if (rh == 2) {
            CHECK(n == 0);
        } else {
            // First rh=1 subscribe replaced the rh=2 one (not new) — so also nothing; the check is that
            // neither resubscription re-sends.
            CHECK(n == 0);
        }
    }
    peer other(f.b, f.rt, 1);
    other.connect("other");
    mqtt::subscribe s;
    s.packet_id = 4;
    s.entries.push_back({"r", {qos::at_most_once, false, false, 1}});
    other.send(s);
    CHECK(publishes(other.received()).size() == 1);
}

TEST_CASE("[MQTT-3.8.3-3] No Local: a client does not receive its own publications") {
    fixture f;
    peer a(f.b, f.rt, 0);
    a.connect("a");
    mqtt::subscribe s;
    s.packet_id = 1;
    s.entries.push_back({"n", {qos::at_most_once, true, false, 0}});
    a.send(s);
    a.received();
    a.publish("n", "mine");
    CHECK(publishes(a.received()).empty());
}

TEST_CASE("[MQTT-3.3.4-2] overlapping subscriptions: one delivery at the highest QoS with every subscription identifier") {
    fixture f;
    peer a(f.b, f.rt, 0);
    a.connect("a");
    a.subscribe("o/#", qos::at_most_once, 1, 11);
    a.subscribe("o/+", qos::at_least_once, 2, 22);
    peer p(f.b, f.rt, 1);
    p.connect("p");
    p.publish("o/x", "m", qos::at_least_once);
    auto got = publishes(a.received());
    REQUIRE(got.size() == 1);
    CHECK(got[0].qos == qos::at_least_once);
    auto ids = got[0].props.subscription_identifiers;
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::uint32_t>{11, 22});
}

TEST_CASE("[MQTT-4.8.2-...] shared subscriptions deliver each message to one member, round robin") {
    fixture f;
    peer m1(f.b, f.rt, 0);
    peer m2(f.b, f.rt, 1);
    m1.connect("m1");
    m2.connect("m2");
    m1.subscribe("$share/g/s/#", qos::at_most_once);
    m2.subscribe("$share/g/s/#", qos::at_most_once);
    peer p(f.b, f.rt, 0);
    p.connect("p");
    for (int i = 0; i < 10; ++i) {
        p.publish("s/x", std::to_string(i));
    }
    const auto n1 = publishes(m1.received()).size();
    const auto n2 = publishes(m2.received()).size();
    CHECK(n1 + n2 == 10);
    CHECK(n1 == 5);
}

TEST_CASE("[MQTT-4.7.2-1] '#' and '+' do not match topics starting with '$'") {
    fixture f;
    peer a(f.b, f.rt, 0);
    a.connect("a");
    a.subscribe("#", qos::at_most_once);
    a.subscribe("+/x", qos::at_most_once, 2);
    peer p(f.b, f.rt, 1);
    p.connect("p");
    p.publish("$SYS/x", "no");
    CHECK(publishes(a.received()).empty());
    p.publish("$SYS/x", "no");
    a.subscribe("$SYS/#", qos::at_most_once, 3);
    p.publish("$SYS/x", "yes");
    CHECK(publishes(a.received()).size() == 1);
}

TEST_CASE("[MQTT-3.1.2-8] the will is published when the connection is lost, not after DISCONNECT") {
    fixture f;
    peer watcher(f.b, f.rt, 1);
    watcher.connect("w");
    watcher.subscribe("will/#", qos::at_least_once);
    {
        peer a(f.b, f.rt, 0);
        a.connect("a", true, 0, make_will("will/a", "gone"));
        a.drop();
    }
    auto got = publishes(watcher.received());
    REQUIRE(got.size() == 1);
    CHECK(got[0].topic == "will/a");
    CHECK(got[0].payload == "gone");
    watcher.send(mqtt::puback{got[0].packet_id, reason_code::success, {}});

    peer b(f.b, f.rt, 0);
    b.connect("b", true, 0, make_will("will/b", "x"));
    b.send(mqtt::disconnect{});
    CHECK(b.closed);
    b.drop();
    CHECK(publishes(watcher.received()).empty());

    peer c(f.b, f.rt, 0);
    c.connect("c", true, 0, make_will("will/c", "asked"));
    c.send(mqtt::disconnect{reason_code::disconnect_with_will, {}});
    c.drop();
    auto got_c = publishes(watcher.received());
    REQUIRE(got_c.size() == 1);
    CHECK(got_c[0].topic == "will/c");
}

TEST_CASE("[MQTT-3.1.3-9] a delayed will is not sent when the session resumes in time, and sent when it does not") {
    fixture f;
    peer watcher(f.b, f.rt, 1);
    watcher.connect("w");
    watcher.subscribe("will/#", qos::at_most_once);
    {
        peer a(f.b, f.rt, 0);
        a.connect("a", true, 300, make_will("will/a", "late", 30));
        a.drop();
    }
    f.rt.advance(10s);
    CHECK(publishes(watcher.received()).empty());
    {
        peer a2(f.b, f.rt, 1);
        auto ack = a2.connect("a", false, 300, make_will("will/a", "late2", 30));
        CHECK(ack.session_present);
        f.rt.advance(40s);
        CHECK(publishes(watcher.received()).empty()); // resumed: first will dropped
        a2.drop();
    }
    f.rt.advance(29s);
    CHECK(publishes(watcher.received()).empty());
    f.rt.advance(2s);
    auto got = publishes(watcher.received());
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "late2");
}

TEST_CASE("[MQTT-3.1.4-3] takeover: the old connection gets DISCONNECT 0x8E and its will fires") {
    fixture f;
    peer watcher(f.b, f.rt, 0);
    watcher.connect("w");
    watcher.subscribe("will/#", qos::at_most_once);
    peer old(f.b, f.rt, 0);
    old.connect("dev", false, 600, make_will("will/dev", "taken"));
    old.subscribe("cmd", qos::at_least_once);

    peer fresh(f.b, f.rt, 1); // other shard: the session is handed over
    auto ack = fresh.connect("dev", false, 600);
    CHECK(ack.session_present);
    auto d = old.expect_one<mqtt::disconnect>();
    CHECK(d.reason == reason_code::session_taken_over);
    CHECK(old.closed);
    auto will = publishes(watcher.received());
    REQUIRE(will.size() == 1);
    CHECK(will[0].payload == "taken");

    // The subscription moved with the session.
    watcher.publish("cmd", "hello", qos::at_least_once);
    auto got = publishes(fresh.received());
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "hello");
    CHECK(f.b.stats().sessions == 2);
}

TEST_CASE("[MQTT-3.1.2-4] clean start discards the old session: no session present, old subscriptions gone") {
    fixture f;
    {
        peer a(f.b, f.rt, 0);
        a.connect("a", false, 600);
        a.subscribe("k", qos::at_least_once);
        a.drop();
    }
    CHECK(f.b.stats().subscriptions == 1);
    peer a2(f.b, f.rt, 1);
    auto ack = a2.connect("a", true, 600);
    CHECK_FALSE(ack.session_present);
    f.rt.run();
    CHECK(f.b.stats().subscriptions == 0);
}

TEST_CASE("session resume: messages queued while offline arrive in order; in-flight ones again with DUP [MQTT-4.4.0-1]") {
    fixture f;
    peer pub(f.b, f.rt, 0);
    pub.connect("pub");
    {
        peer s(f.b, f.rt, 1);
        s.connect("s", true, 600);
        s.subscribe("q", qos::exactly_once);
        pub.publish("q", "m0", qos::at_least_once);
        auto first = publishes(s.received());
        REQUIRE(first.size() == 1); // not acknowledged
        s.drop();
    }
    for (int i = 1; i <= 3; ++i) {
        pub.publish("q", "m" + std::to_string(i), qos::exactly_once);
    }
    pub.received();
    peer s2(f.b, f.rt, 0);
    auto ack = s2.connect("s", false, 600);
    CHECK(ack.session_present);
    auto got = publishes(s2.received());
    REQUIRE(got.size() == 4);
    CHECK(got[0].payload == "m0");
    CHECK(got[0].dup);
    CHECK(got[0].qos == qos::at_least_once);
    for (int i = 1; i <= 3; ++i) {
        CHECK(got[i].payload == "m" + std::to_string(i));
        CHECK_FALSE(got[i].dup);
        CHECK(got[i].qos == qos::exactly_once);
    }
}

TEST_CASE("v3.1.1 persistent session (clean session 0) keeps QoS 1 messages while offline") {
    fixture f;
    peer pub(f.b, f.rt, 0);
    pub.connect("pub");
    {
        peer s(f.b, f.rt, 1, mqtt::protocol_version::v311);
        s.connect("s311", false);
        s.subscribe("q", qos::at_least_once);
        s.drop();
    }
    pub.publish("q", "kept", qos::at_least_once);
    pub.publish("q", "lost", qos::at_most_once); // QoS 0 is not queued for offline sessions
    peer s2(f.b, f.rt, 1, mqtt::protocol_version::v311);
    auto ack = s2.connect("s311", false);
    CHECK(ack.session_present);
    auto got = publishes(s2.received());
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "kept");
}

TEST_CASE("[MQTT-3.3.4-7] the client's Receive Maximum bounds our in-flight window") {
    fixture f;
    peer s(f.b, f.rt, 0);
    mqtt::connect c;
    c.client_id = "s";
    c.props.receive_maximum = 2;
    s.send(c);
    s.expect_one<mqtt::connack>();
    s.subscribe("w", qos::at_least_once);
    peer p(f.b, f.rt, 1);
    p.connect("p");
    for (int i = 0; i < 5; ++i) {
        p.publish("w", std::to_string(i), qos::at_least_once);
    }
    auto got = publishes(s.received());
    REQUIRE(got.size() == 2);
    s.send(mqtt::puback{got[0].packet_id, reason_code::success, {}});
    auto next = publishes(s.received());
    REQUIRE(next.size() == 1);
    CHECK(next[0].payload == "2");
}

TEST_CASE("[MQTT-3.3.4-9] exceeding our Receive Maximum with QoS 2 is DISCONNECT 0x93") {
    broker::options o;
    o.lim.receive_maximum = 2;
    fixture f(o);
    peer p(f.b, f.rt, 0);
    p.connect("p");
    p.publish("a", "1", qos::exactly_once, false, 1);
    p.publish("a", "2", qos::exactly_once, false, 2);
    p.received();
    p.publish("a", "3", qos::exactly_once, false, 3);
    auto d = p.expect_one<mqtt::disconnect>();
    CHECK(d.reason == reason_code::receive_maximum_exceeded);
}

TEST_CASE("[MQTT-3.3.2-12] topic aliases from the client are resolved; an unknown alias is a protocol error") {
    fixture f;
    peer s(f.b, f.rt, 0);
    s.connect("s");
    s.subscribe("alias/topic", qos::at_most_once);
    peer p(f.b, f.rt, 1);
    p.connect("p");
    mqtt::publish first;
    first.topic = "alias/topic";
    first.payload = "1";
    first.props.topic_alias = 3;
    p.send(first);
    mqtt::publish second;
    second.payload = "2";
    second.props.topic_alias = 3;
    p.send(second);
    auto got = publishes(s.received());
    REQUIRE(got.size() == 2);
    CHECK(got[1].topic == "alias/topic");
    CHECK(got[1].payload == "2");

    mqtt::publish unknown;
    unknown.payload = "x";
    unknown.props.topic_alias = 9;
    p.send(unknown);
    CHECK(p.expect_one<mqtt::disconnect>().reason == reason_code::protocol_error);
}

TEST_CASE("outbound topic aliases are used when the client allows them") {
    fixture f;
    peer s(f.b, f.rt, 0);
    mqtt::connect c;
    c.client_id = "s";
    c.props.topic_alias_maximum = 4;
    s.send(c);
    s.expect_one<mqtt::connack>();
    s.subscribe("long/topic/name", qos::at_most_once);
    peer p(f.b, f.rt, 1);
    p.connect("p");
    p.publish("long/topic/name", "1");
    p.publish("long/topic/name", "2");
    auto got = publishes(s.received());
    REQUIRE(got.size() == 2);
    CHECK(got[0].topic == "long/topic/name");
    CHECK(got[0].props.topic_alias == 1);
    CHECK(got[1].topic.empty());
    CHECK(got[1].props.topic_alias == 1);
}

TEST_CASE("[MQTT-3.1.2-24] keep-alive: 1.5 x the interval, then DISCONNECT 0x8D and the will") {
    fixture f;
    peer watcher(f.b, f.rt, 1);
    watcher.connect("w");
    watcher.subscribe("will", qos::at_most_once);
    peer a(f.b, f.rt, 0);
    a.connect("a", true, 0, make_will("will", "timeout"), 10);
    CHECK(a.client().read_timeout() == 15s);
    f.rt.on(0, [&] { a.client().on_read_timeout(); });
    CHECK(a.expect_one<mqtt::disconnect>().reason == reason_code::keep_alive_timeout);
    CHECK(a.closed);
    CHECK(publishes(watcher.received()).size() == 1);
}

TEST_CASE("[MQTT-3.3.2-5] an expired message is not delivered to a resuming session") {
    fixture f;
    {
        peer s(f.b, f.rt, 0);
        s.connect("s", true, 600);
        s.subscribe("e", qos::at_least_once);
        s.drop();
    }
    peer p(f.b, f.rt, 1);
    p.connect("p");
    mqtt::publish m;
    m.topic = "e";
    m.payload = "short-lived";
    m.qos = qos::at_least_once;
    m.packet_id = 1;
    m.props.message_expiry_interval = 5;
    p.send(m);
    p.publish("e", "durable", qos::at_least_once);
    f.rt.advance(6s);
    peer s2(f.b, f.rt, 0);
    s2.connect("s", false, 600);
    auto got = publishes(s2.received());
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "durable");
}

TEST_CASE("[MQTT-3.1.2-23] a session ends after its expiry interval") {
    fixture f;
    {
        peer s(f.b, f.rt, 0);
        s.connect("s", true, 30);
        s.subscribe("x", qos::at_least_once);
        s.drop();
    }
    CHECK(f.b.stats().sessions == 1);
    f.rt.advance(29s);
    CHECK(f.b.stats().sessions == 1);
    f.rt.advance(2s);
    CHECK(f.b.stats().sessions == 0);
    CHECK(f.b.stats().subscriptions == 0);
}

TEST_CASE("graceful shutdown: v5 clients get DISCONNECT 0x8B") {
    fixture f;
    peer a(f.b, f.rt, 0);
    a.connect("a");
    f.rt.on(0, [&] { a.client().on_server_shutdown(); });
    CHECK(a.expect_one<mqtt::disconnect>().reason == reason_code::server_shutting_down);
    CHECK(a.closed);
    CHECK(a.flushed);
}

TEST_CASE("malformed input after CONNECT is DISCONNECT 0x81 and the connection closes") {
    fixture f;
    peer a(f.b, f.rt, 0);
    a.connect("a");
    const unsigned char bad[] = {0x30, 0x03, 0x00, 0x05, 'x'}; // topic length past the packet
    a.send_bytes(std::string_view(reinterpret_cast<const char*>(bad), sizeof bad));
    CHECK(a.expect_one<mqtt::disconnect>().reason == reason_code::malformed_packet);
    CHECK(a.closed);
}

TEST_CASE("[MQTT-3.1.2-25] a message larger than the client's Maximum Packet Size is not sent") {
    fixture f;
    peer s(f.b, f.rt, 0);
    mqtt::connect c;
    c.client_id = "s";
    c.props.maximum_packet_size = 64;
    s.send(c);
    s.expect_one<mqtt::connack>();
    s.subscribe("big", qos::at_least_once);
    peer p(f.b, f.rt, 1);
    p.connect("p");
    p.publish("big", std::string(100, 'x'), qos::at_least_once);
    p.publish("big", "small", qos::at_least_once);
    auto got = publishes(s.received());
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "small");
}

TEST_CASE("slow consumer: past the outbound budget a QoS 0 subscriber is disconnected with 0x97") {
    broker::options o;
    o.lim.outbound_budget_bytes = 1000;
    fixture f(o);
    peer s(f.b, f.rt, 0);
    s.connect("s");
    s.subscribe("flood", qos::at_most_once);
    peer p(f.b, f.rt, 1);
    p.connect("p");
    for (int i = 0; i < 20; ++i) {
        p.publish("flood", std::string(100, 'x')); // the subscriber never reads
    }
    // First the publisher is held back (QoS 0 flow control), for at most max_ack_delay_ms;
    // then the subscriber counts as a slow consumer and its budget applies.
    CHECK_FALSE(s.closed);
    f.rt.on(1, [&] { CHECK(p.client().input_paused()); });
    f.rt.advance(std::chrono::milliseconds(o.lim.max_ack_delay_ms + 1));
    CHECK(s.closed);
}

TEST_CASE("QoS 0 flow control: a publisher is paused while its subscriber's output is congested, nothing is dropped") {
    broker::options o;
    o.lim.outbound_budget_bytes = 4000; // high water 1000 bytes, low 500
    o.lim.slow_consumer = broker::slow_consumer_policy::drop_qos0;
    fixture f(o);
    peer s(f.b, f.rt, 0);
    s.connect("s");
    s.subscribe("flood", qos::at_most_once);
    peer p(f.b, f.rt, 1); // another shard: congestion is seen through the session's flag
    p.connect("p");
    // Like the transport: the publisher's bytes are read only while its input is not paused;
    // the subscriber reads only when the publisher cannot go on.
    std::vector<mqtt::publish> got;
    int sent = 0;
    int pauses = 0;
    for (int step = 0; step < 1000 && got.size() < 200; ++step) {
        bool paused = false;
        f.rt.on(1, [&] { paused = p.client().input_paused(); });
        if (sent < 200 && !paused) {
            p.publish("flood", std::to_string(sent) + std::string(100, 'x'));
            ++sent;
            continue;
        }
        pauses += paused ? 1 : 0;
        auto more = publishes(s.received());
        got.insert(got.end(), more.begin(), more.end());
    }
    CHECK(pauses > 5);
    REQUIRE(got.size() == 200);
    for (int i = 0; i < 200; ++i) {
        CHECK(got[static_cast<std::size_t>(i)].payload == std::to_string(i) + std::string(100, 'x'));
    }
    CHECK_FALSE(s.closed);
    f.rt.on(1, [&] { CHECK_FALSE(p.client().input_paused()); });
    CHECK(f.b.stats().dropped == 0);
}

TEST_CASE("QoS 0 flow control: a subscriber congested past max_ack_delay_ms no longer holds publishers back") {
    broker::options o;
    o.lim.outbound_budget_bytes = 4000;
    o.lim.slow_consumer = broker::slow_consumer_policy::drop_qos0;
    o.lim.max_ack_delay_ms = 100;
    fixture f(o);
    peer s(f.b, f.rt, 0);
    s.connect("s");
    s.subscribe("flood", qos::at_most_once);
    peer p(f.b, f.rt, 0);
    p.connect("p");
    for (int i = 0; i < 100; ++i) {
        p.publish("flood", std::string(100, 'x')); // the subscriber never reads
    }
    f.rt.on(0, [&] { CHECK(p.client().input_paused()); });
    f.rt.advance(std::chrono::milliseconds(101));
    // A slow consumer now: the publisher runs at full speed and what exceeds the budget is dropped.
    f.rt.on(0, [&] { CHECK_FALSE(p.client().input_paused()); });
    CHECK(f.b.stats().dropped > 0);
    p.publish("flood", "more");
    f.rt.on(0, [&] { CHECK_FALSE(p.client().input_paused()); });
    // Once it has drained, a new episode holds publishers back again.
    for (int round = 0; round < 10; ++round) {
        (void)s.received();
    }
    for (int i = 0; i < 100; ++i) {
        p.publish("flood", std::string(100, 'y'));
    }
    f.rt.on(0, [&] { CHECK(p.client().input_paused()); });
    CHECK_FALSE(s.closed);
}

TEST_CASE("aws-iot profile: QoS 2 refused (0x9B), SUBSCRIBE QoS 2 granted 1, '#' does not match its parent") {
    broker::options o;
    o.compat = broker::compat_profile::aws_iot;
    o.lim.maximum_qos = qos::at_least_once;
    fixture f(o);
    peer s(f.b, f.rt, 0);
    auto ack = s.connect("s");
    CHECK(ack.props.maximum_qos == 1);
    auto sa = s.subscribe("a/#", qos::exactly_once);
    CHECK(sa.reasons == std::vector{reason_code::granted_qos1});
    peer p(f.b, f.rt, 1);
    p.connect("p");
    p.publish("a", "parent");
    p.publish("a/b", "child");
    auto got = publishes(s.received());
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "child");
    p.publish("a/b", "q2", qos::exactly_once);
    CHECK(p.expect_one<mqtt::disconnect>().reason == reason_code::qos_not_supported);
}

TEST_CASE("UNSUBSCRIBE reports whether a subscription existed (v5) and stops delivery") {
    fixture f;
    peer s(f.b, f.rt, 0);
    s.connect("s");
    s.subscribe("u", qos::at_most_once);
    mqtt::unsubscribe u;
    u.packet_id = 9;
    u.filters = {"u", "never"};
    s.send(u);
    auto ack = s.expect_one<mqtt::unsuback>();
    CHECK(ack.reasons == std::vector{reason_code::success, reason_code::no_subscription_existed});
    peer p(f.b, f.rt, 1);
    p.connect("p");
    p.publish("u", "x");
    CHECK(publishes(s.received()).empty());
}

TEST_CASE("PINGREQ gets PINGRESP") {
    fixture f;
    peer a(f.b, f.rt, 0);
    a.connect("a");
    a.send(mqtt::pingreq{});
    a.expect_one<mqtt::pingresp>();
}

TEST_CASE("packets right after CONNECT are handled in order once the session is handed over") {
    fixture f;
    {
        peer a(f.b, f.rt, 0);
        a.connect("dev", false, 600);
        a.drop();
    }
    peer b(f.b, f.rt, 1);
    mqtt::connect c;
    c.client_id = "dev";
    c.clean_start = false;
    c.props.session_expiry_interval = 600;
    std::string bytes;
    mqtt::encode(c, mqtt::protocol_version::v5, bytes);
    mqtt::subscribe s;
    s.packet_id = 4;
    s.entries.push_back({"after", {qos::at_most_once, false, false, 0}});
    mqtt::encode(s, mqtt::protocol_version::v5, bytes);
    mqtt::encode(mqtt::pingreq{}, mqtt::protocol_version::v5, bytes);
    b.send_bytes(bytes);
    auto got = b.received();
    REQUIRE(got.size() == 3);
    CHECK(std::holds_alternative<mqtt::connack>(got[0]));
    CHECK(std::holds_alternative<mqtt::suback>(got[1]));
    CHECK(std::holds_alternative<mqtt::pingresp>(got[2]));
}

TEST_CASE("cross-version delivery: v5 properties reach v5 subscribers and are dropped for 3.1.1 ones") {
    fixture f;
    peer v3(f.b, f.rt, 0, mqtt::protocol_version::v311);
    peer v5(f.b, f.rt, 1);
    v3.connect("v3");
    v5.connect("v5");
    v3.subscribe("x/#", qos::at_least_once);
    v5.subscribe("x/#", qos::at_least_once);

    peer pub(f.b, f.rt, 0);
    pub.connect("pub");
    mqtt::publish m;
    m.topic = "x/req";
    m.payload = "ping";
    m.qos = qos::at_least_once;
    m.packet_id = 1;
    m.props.response_topic = "x/resp";
    m.props.correlation_data = std::string("\x01\x02", 2);
    m.props.content_type = "text/plain";
    m.props.payload_format_indicator = 1;
    m.props.user_properties = {{"k", "v"}, {"k", "w"}};
    pub.send(m);

    auto got5 = publishes(v5.received());
    REQUIRE(got5.size() == 1);
    CHECK(got5[0].props.response_topic == "x/resp");
    CHECK(got5[0].props.correlation_data == std::string("\x01\x02", 2));
    CHECK(got5[0].props.content_type == "text/plain");
    CHECK(got5[0].props.payload_format_indicator == 1);
    CHECK(got5[0].props.user_properties == std::vector<mqtt::user_property>{{"k", "v"}, {"k", "w"}});

    auto got3 = publishes(v3.received());
    REQUIRE(got3.size() == 1);
    CHECK(got3[0].payload == "ping");
    CHECK(got3[0].qos == qos::at_least_once);
    CHECK(got3[0].props == mqtt::properties{});

    // And back: a 3.1.1 publisher reaches the v5 subscriber.
    v3.publish("x/from3", "hi", qos::at_least_once, false, 9);
    CHECK(v3.first<mqtt::puback>().packet_id == 9);
    auto back = publishes(v5.received());
    REQUIRE(back.size() == 1);
    CHECK(back[0].topic == "x/from3");
}

TEST_CASE("each forwarded property alone, all of them, and none reach v5 subscribers byte-exact") {
    // The message keeps its forwarded properties out of line and only when it has any: every
    // case must give the same bytes as the publisher's packet (topic, payload, QoS, properties),
    // for the first subscriber (head encoded) and the second (head copied from the cache), live
    // and retained.
    std::vector<std::pair<std::string, mqtt::properties>> cases;
    cases.emplace_back("none", mqtt::properties{});
    {
        mqtt::properties p;
        p.payload_format_indicator = 0; // present though 0: still forwarded
        cases.emplace_back("payload format 0", p);
        p.payload_format_indicator = 1;
        cases.emplace_back("payload format 1", p);
    }
    {
        mqtt::properties p;
        p.content_type = "application/json";
        cases.emplace_back("content type", p);
        p.content_type = "";
        cases.emplace_back("empty content type", p);
    }
    {
        mqtt::properties p;
        p.response_topic = "dev/1/reply";
        cases.emplace_back("response topic", p);
    }
    {
        mqtt::properties p;
        p.correlation_data = std::string("\x00\x7f\xff", 3);
        cases.emplace_back("correlation data", p);
    }
    {
        mqtt::properties p;
        p.user_properties = {{"k1", "v1"}, {"k1", "v2"}, {"", ""}};
        cases.emplace_back("user properties", p);
    }
    {
        mqtt::properties p;
        p.payload_format_indicator = 1;
        p.content_type = "text/plain";
        p.response_topic = "r";
        p.correlation_data = std::string("\x01", 1);
        p.user_properties = {{"a", "b"}};
        cases.emplace_back("all", p);
    }
    for (const qos q : {qos::at_most_once, qos::at_least_once}) {
        for (const auto& [name, props] : cases) {
            CAPTURE(name);
            CAPTURE(static_cast<int>(q));
            fixture f;
            peer s1(f.b, f.rt, 0);
            peer s2(f.b, f.rt, 1);
            s1.connect("s1");
            s2.connect("s2");
            s1.subscribe("p/#", qos::at_least_once);
            s2.subscribe("p/#", qos::at_least_once);
            peer pub(f.b, f.rt, 0);
            pub.connect("pub");
            mqtt::publish m;
            m.topic = "p/t";
            m.payload = "pay\xc3\xa9load"; // valid UTF-8: "payload format 1" declares it
            m.qos = q;
            m.retain = true;
            m.packet_id = q == qos::at_most_once ? 0 : 5;
            m.props = props;
            pub.send(m);

            // What a subscriber must get: the packet as published, RETAIN cleared on a live
            // delivery [MQTT-3.3.1-12], its own packet id.
            const auto expect_bytes = [&](const mqtt::publish& got, bool retained) {
                mqtt::publish want = m;
                want.retain = retained;
                want.packet_id = got.packet_id;
                std::string want_bytes;
                std::string got_bytes;
                mqtt::encode(want, mqtt::protocol_version::v5, want_bytes);
                mqtt::encode(got, mqtt::protocol_version::v5, got_bytes);
                CHECK(got.props == props);
                CHECK(got_bytes == want_bytes);
            };
            for (peer* s : {&s1, &s2}) {
                auto got = publishes(s->received());
                REQUIRE(got.size() == 1);
                expect_bytes(got[0], false);
            }
            peer late(f.b, f.rt, 1);
            late.connect("late");
            late.subscribe("p/#", qos::at_least_once);
            auto kept = publishes(late.received());
            REQUIRE(kept.size() == 1);
            expect_bytes(kept[0], true); // the retained store keeps them too
        }
    }
}

TEST_CASE("[MQTT-3.3.2-4] a v5 PUBLISH whose payload is declared UTF-8 but is not gets PUBACK 0x99") {
    fixture f;
    peer p(f.b, f.rt, 0);
    p.connect("p");
    mqtt::publish m;
    m.topic = "u";
    m.payload = std::string("\xff\xfe", 2);
    m.qos = qos::at_least_once;
    m.packet_id = 3;
    m.props.payload_format_indicator = 1;
    p.send(m);
    auto ack = p.expect_one<mqtt::puback>();
    CHECK(ack.reason == reason_code::payload_format_invalid);
    CHECK_FALSE(p.closed);
}

namespace {

/// The raw bytes of every frame the client has queued, and how many frames there were.
std::pair<std::string, std::size_t> raw_output(fixture& f, peer& p) {
    f.rt.run();
    std::vector<broker::out_frame> frames;
    f.rt.on(0, [&] { p.client().take_output(frames); });
    std::string all;
    for (const auto& fr : frames) {
        all += fr.head;
        all.append(fr.body);
    }
    f.rt.on(0, [&] { p.client().output_written(all.size()); });
    return {all, frames.size()};
}

std::string publish_bytes(mqtt::protocol_version v, qos q, std::uint16_t id) {
    mqtt::publish m;
    m.topic = "acks";
    m.payload = "x";
    m.qos = q;
    m.packet_id = id;
    std::string out;
    mqtt::encode(m, v, out);
    return out;
}

} // namespace

TEST_CASE("[MQTT-4.6.0-2] the PUBACKs of the PUBLISH packets of one read go out in order, "
          "as few frames, byte for byte what the codec writes") {
    for (auto v : {mqtt::protocol_version::v5, mqtt::protocol_version::v311}) {
        CAPTURE(static_cast<int>(v));
        fixture f;
        peer p(f.b, f.rt, 0, v);
        p.connect("acker");
        std::string in;
        std::string expected;
        for (std::uint16_t id = 1; id <= 40; ++id) {
            const qos q = id % 5 == 0 ? qos::exactly_once : qos::at_least_once;
            in += publish_bytes(v, q, id);
            if (q == qos::at_least_once) {
                mqtt::encode(mqtt::puback{id, reason_code::success, {}}, v, expected);
            } else {
                mqtt::encode(mqtt::pubrec{id, reason_code::success, {}}, v, expected);
            }
        }
        p.send_bytes(in); // one read
        auto [bytes, frames] = raw_output(f, p);
        CHECK(bytes == expected);
        CHECK(expected.size() == 160);
        if (test_store() == nullptr) {
            CHECK(frames == 1); // one run of whole small packets (broker/client.cpp, append_run)
        }
    }
}

TEST_CASE("[MQTT-3.3.2-4] a PUBACK with a reason code is encoded as the codec does (v5: 5 bytes)") {
    fixture f;
    peer p(f.b, f.rt, 0);
    p.connect("p");
    mqtt::publish ok;
    ok.topic = "u";
    ok.payload = "fine";
    ok.qos = qos::at_least_once;
    ok.packet_id = 0x1234;
    mqtt::publish bad = ok;
    bad.payload = std::string("\xff\xfe", 2);
    bad.packet_id = 0x0102;
    bad.props.payload_format_indicator = 1;
    std::string in;
    mqtt::encode(ok, mqtt::protocol_version::v5, in);
    mqtt::encode(bad, mqtt::protocol_version::v5, in);
    p.send_bytes(in);
    auto [bytes, frames] = raw_output(f, p);
    std::string expected;
    mqtt::encode(mqtt::puback{0x1234, reason_code::success, {}}, mqtt::protocol_version::v5, expected);
    mqtt::encode(mqtt::puback{0x0102, reason_code::payload_format_invalid, {}}, mqtt::protocol_version::v5, expected);
    CHECK(bytes == expected);
    CHECK(bytes == std::string("\x40\x02\x12\x34\x40\x03\x01\x02\x99", 9));
}

TEST_CASE("a topic alias is not kept for a message dropped as too large for the client") {
    fixture f;
    peer s(f.b, f.rt, 0);
    mqtt::connect c;
    c.client_id = "s";
    c.props.topic_alias_maximum = 4;
    c.props.maximum_packet_size = 64;
    s.send(c);
    s.first<mqtt::connack>();
    s.subscribe("al", qos::at_most_once);
    peer p(f.b, f.rt, 1);
    p.connect("p");
    p.publish("al", std::string(100, 'x')); // dropped
    p.publish("al", "small");
    auto got = publishes(s.received());
    REQUIRE(got.size() == 1);
    CHECK(got[0].topic == "al"); // the full topic, since the client never learnt an alias
    CHECK(got[0].props.topic_alias == 1);
}

TEST_CASE("publish rate limit: over it the client takes no input until the budget refills; nothing is lost") {
    broker::options o;
    o.lim.max_publish_rate = 10;
    fixture f(o);
    peer s(f.b, f.rt, 0);
    s.connect("s");
    s.subscribe("r", qos::at_most_once);
    peer p(f.b, f.rt, 1);
    p.connect("p");
    std::string burst;
    for (int i = 0; i < 25; ++i) {
        mqtt::publish m;
        m.topic = "r";
        m.payload = std::to_string(i);
        mqtt::encode(m, mqtt::protocol_version::v5, burst);
    }
    p.send_bytes(burst);
    auto first = publishes(s.received());
    CHECK(first.size() == 11); // one second of burst, then the packet that went over
    f.rt.on(1, [&] { CHECK(p.client().input_paused()); });
    f.rt.advance(500ms);
    auto more = publishes(s.received());
    CHECK(more.size() >= 4);
    CHECK(more.size() <= 6);
    f.rt.advance(2s);
    auto rest = publishes(s.received());
    REQUIRE(first.size() + more.size() + rest.size() == 25);
    std::vector<mqtt::publish> all = first;
    all.insert(all.end(), more.begin(), more.end());
    all.insert(all.end(), rest.begin(), rest.end());
    for (int i = 0; i < 25; ++i) {
        CHECK(all[i].payload == std::to_string(i)); // in order
    }
    f.rt.on(1, [&] { CHECK_FALSE(p.client().input_paused()); });
}

TEST_CASE("publish byte-rate limit pauses input the same way") {
    broker::options o;
    o.lim.max_publish_bytes_rate = 1000;
    fixture f(o);
    peer s(f.b, f.rt, 0);
    s.connect("s");
    s.subscribe("b", qos::at_most_once);
    peer p(f.b, f.rt, 1);
    p.connect("p");
    std::string burst;
    for (int i = 0; i < 4; ++i) {
        mqtt::publish m;
        m.topic = "b";
        m.payload = std::string(600, 'x');
        mqtt::encode(m, mqtt::protocol_version::v5, burst);
    }
    p.send_bytes(burst);
    CHECK(publishes(s.received()).size() == 2); // 1200 bytes > 1000: paused after the second
    f.rt.advance(3s);
    CHECK(publishes(s.received()).size() == 2);
}

TEST_CASE("min_connect_interval_ms: a CONNECT with the same client id too soon gets 0x9F") {
    broker::options o;
    o.lim.min_connect_interval_ms = 1000;
    fixture f(o);
    {
        peer a(f.b, f.rt, 0);
        a.connect("dev");
        a.drop();
    }
    peer b(f.b, f.rt, 1);
    mqtt::connect c;
    c.client_id = "dev";
    b.send(c);
    CHECK(b.expect_one<mqtt::connack>().reason == reason_code::connection_rate_exceeded);
    CHECK(b.closed);

    peer v3(f.b, f.rt, 1, mqtt::protocol_version::v311);
    mqtt::connect c3;
    c3.version = mqtt::protocol_version::v311;
    c3.client_id = "dev";
    v3.send(c3);
    // 3.1.1 has no 0x9F: return code 3 (server unavailable).
    CHECK(v3.expect_one<mqtt::connack>().reason == reason_code::server_unavailable);

    f.rt.advance(1s);
    peer later(f.b, f.rt, 0);
    later.connect("dev");
    peer other(f.b, f.rt, 0);
    other.connect("other-id"); // other ids are not affected
}

namespace {

/// A v5 CONNECT with a Receive Maximum (the subscriber's window).
mqtt::connect connect_with_window(std::string id, std::uint16_t window) {
    mqtt::connect c;
    c.client_id = std::move(id);
    c.clean_start = true;
    c.keep_alive = 60;
    c.props.receive_maximum = window;
    return c;
}

/// `sub` connects with a window of 1 and subscribes to "t" at QoS 1; `pub` connects.
void slow_subscriber_and_publisher(peer& sub, peer& pub) {
    sub.send(connect_with_window("sub", 1));
    sub.first<mqtt::connack>();
    sub.subscribe("t", qos::at_least_once);
    pub.connect("pub");
}

std::vector<std::uint16_t> puback_ids(const std::vector<mqtt::packet>& got) {
    std::vector<std::uint16_t> ids;
    for (const auto& p : got) {
        if (const auto* a = std::get_if<mqtt::puback>(&p)) {
            ids.push_back(a->packet_id);
        }
    }
    return ids;
}

} // namespace

TEST_CASE("backpressure: while a connected subscriber's queue is over a quarter of its limit, PUBACKs wait; "
          "released in order when it drains, nothing dropped") {
    broker::options o;
    o.lim.max_queued_messages = 8; // high water 2, low water 1
    fixture f(o);
    peer sub(f.b, f.rt, 0);
    peer pub(f.b, f.rt, 1);
    slow_subscriber_and_publisher(sub, pub);
    for (int i = 1; i <= 5; ++i) {
        pub.publish("t", std::to_string(i), qos::at_least_once, false, static_cast<std::uint16_t>(i));
    }
    // 1 in flight, 2 queued; 3 would bring the queue to its high-water mark (2, counting what is
    // routed and not yet queued): the acknowledgements of 3, 4 and 5 wait.
    CHECK(puback_ids(pub.received()) == std::vector<std::uint16_t>{1, 2});
    std::vector<std::string> delivered;
    for (int round = 0; round < 5; ++round) {
        auto got = publishes(sub.received());
        REQUIRE(got.size() == 1); // window 1
        delivered.push_back(got[0].payload);
        sub.send(mqtt::puback{got[0].packet_id, reason_code::success, {}});
        // Queued after each acknowledgement: 3, 2, 1 ... the held acknowledgements go out when the
        // queue is down to its low-water mark (1), not before.
        const auto acks = puback_ids(pub.received());
        if (round < 2) {
            CHECK(acks.empty());
        } else if (round == 2) {
            CHECK(acks == std::vector<std::uint16_t>{3, 4, 5});
        }
    }
    CHECK(delivered == std::vector<std::string>{"1", "2", "3", "4", "5"});
    CHECK(f.b.stats().dropped == 0);
}

TEST_CASE("backpressure: the held PUBACKs of several publishers, on one shard or two, all go out "
          "in order "
          "once the subscriber drains") {
    for (const std::uint32_t shards : {1u, 2u}) {
        CAPTURE(shards);
        broker::options o;
        o.lim.max_queued_messages = 8; // high water 2, low water 1
        fixture f(o, shards);
        peer sub(f.b, f.rt, 0);
        sub.send(connect_with_window("sub", 1));
        sub.first<mqtt::connack>();
        sub.subscribe("t", qos::at_least_once);
        constexpr int n = 4;
        std::vector<std::unique_ptr<peer>> pubs;
        for (int k = 0; k < n; ++k) {
            pubs.push_back(
                    std::make_unique<peer>(f.b, f.rt, static_cast<broker::shard_id>(k % shards)));
            pubs.back()->connect("pub-" + std::to_string(k));
        }
        std::vector<std::string> expected;
        for (int k = 0; k < n; ++k) {
            for (std::uint16_t i = 1; i <= 2; ++i) {
                expected.push_back(std::to_string(k) + "/" + std::to_string(i));
                pubs[k]->publish("t", expected.back(), qos::at_least_once, false, i);
            }
        }
        std::vector<std::vector<std::uint16_t>> acks(n);
        std::size_t held = 0;
        for (int k = 0; k < n; ++k) {
            acks[k] = puback_ids(pubs[k]->received());
            held += 2 - acks[k].size();
        }
        CHECK(held >= 4); // several publishers wait for the same subscriber
        std::vector<std::string> delivered;
        for (std::size_t round = 0; round < expected.size(); ++round) {
            auto got = publishes(sub.received());
            REQUIRE(got.size() == 1); // window 1
            delivered.push_back(got[0].payload);
            sub.send(mqtt::puback{got[0].packet_id, reason_code::success, {}});
            for (int k = 0; k < n; ++k) {
                const auto more = puback_ids(pubs[k]->received());
                acks[k].insert(acks[k].end(), more.begin(), more.end());
            }
        }
        CHECK(delivered == expected);
        for (int k = 0; k < n; ++k) {
            CHECK(acks[k] == std::vector<std::uint16_t>{1, 2});
        }
        CHECK(f.b.stats().dropped == 0);
    }
}

TEST_CASE("backpressure: a subscriber that stops acknowledging holds PUBACKs at most max_ack_delay_ms") {
    broker::options o;
    o.lim.max_queued_messages = 8;
    o.lim.max_ack_delay_ms = 2000;
    fixture f(o);
    peer sub(f.b, f.rt, 0);
    peer pub(f.b, f.rt, 1);
    slow_subscriber_and_publisher(sub, pub);
    for (int i = 1; i <= 4; ++i) {
        pub.publish("t", std::to_string(i), qos::at_least_once, false, static_cast<std::uint16_t>(i));
    }
    CHECK(puback_ids(pub.received()) == std::vector<std::uint16_t>{1, 2});
    f.rt.advance(std::chrono::milliseconds(1999));
    CHECK(pub.received().empty());
    f.rt.advance(std::chrono::milliseconds(1));
    CHECK(puback_ids(pub.received()) == std::vector<std::uint16_t>{3, 4});
    // An offline session is not a slow consumer: its queue follows the overflow rule instead.
    sub.drop();
    pub.publish("t", "5", qos::at_least_once, false, 5);
    CHECK(puback_ids(pub.received()) == std::vector<std::uint16_t>{5});
}

TEST_CASE("max_topic_levels: a PUBLISH with more levels is refused, at or under the limit it is "
          "routed, "
          "short topics included (empty levels count)") {
    broker::options o;
    o.lim.max_topic_levels = 4;
    fixture f(o, 1);
    peer sub(f.b, f.rt, 0);
    peer pub(f.b, f.rt, 0);
    sub.connect("sub");
    pub.connect("pub");
    sub.subscribe("#", qos::at_most_once);

    struct row {
        std::string topic;
        bool routed;
    };

    const std::vector<row> rows{
            {"a/b", true},        // 2 levels, shorter than the limit
            {"///", true},        // 4 empty levels: 3 bytes, at the limit
            {"a/b/c/d", true},    // 4 levels
            {"////", false},      // 5 empty levels in 4 bytes
            {"a/b/c/d/e", false}, // 5 levels
            {"abcdefgh/x", true}, // long, 2 levels
    };
    std::uint16_t pid = 0;
    for (const auto& r : rows) {
        CAPTURE(r.topic);
        pub.publish(r.topic, "x", qos::at_least_once, false, ++pid);
        const auto got = pub.received();
        REQUIRE(got.size() == 1);
        const auto& ack = std::get<mqtt::puback>(got[0]);
        CHECK(ack.packet_id == pid);
        CHECK(ack.reason == (r.routed ? reason_code::success : reason_code::topic_name_invalid));
        CHECK(test::publishes(sub.received()).size() == (r.routed ? 1u : 0u));
    }
}
