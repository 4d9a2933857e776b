// The broker writing through a store, crashed and restarted: a "crash" is a copy of what the
// store had committed at that instant, and the restarted broker recovers from that copy.
#include <doctest/doctest.h>

#include "harness.hpp"
#include "persist/memory_store.hpp"
#include "persist/recovery.hpp"

using namespace thinggate;
using namespace std::chrono_literals;
using test::manual_runtime;
using test::peer;
using test::publishes;
using mqtt::qos;
using mqtt::reason_code;

namespace {

using data_ptr = std::shared_ptr<persist::memory_store::data>;

/// What the store had committed at this instant (the process dies here).
data_ptr crash_copy(const data_ptr& d) {
    auto copy = std::make_shared<persist::memory_store::data>();
    std::lock_guard lock(d->mutex);
    copy->families = d->families;
    return copy;
}

/// One broker process over a store's data.
struct node {
    explicit node(data_ptr d, broker::options o = {})
        : rt(2)
        , store(std::move(d))
        , b(std::move(o), rt, &store) {
        auto purged = persist::purge_expired(store, persist::wall_now(), persist::durability::wal);
        REQUIRE(purged.has_value());
        auto loaded = b.recover();
        REQUIRE(loaded.has_value());
        recovered = *loaded;
        b.start();
        rt.run();
    }

    manual_runtime rt;
    persist::memory_store store;
    broker::broker b;
    broker::recovery_stats recovered;
};

data_ptr fresh() { return std::make_shared<persist::memory_store::data>(); }

std::size_t keys(const data_ptr& d, persist::family f) {
    std::lock_guard lock(d->mutex);
    return d->families[static_cast<std::size_t>(f)].size();
}

/// A persistent session "sub" subscribed to `filter`, then offline (its connection dropped).
void offline_subscriber(node& n, const std::string& filter, qos q) {
    peer sub(n.b, n.rt, 0);
    sub.connect("sub", true, 3600);
    sub.subscribe(filter, q);
    sub.drop();
}

/// Connects "sub" again (session present) and returns what it receives.
std::vector<mqtt::publish> resume_subscriber(node& n) {
    peer sub(n.b, n.rt, 0);
    REQUIRE(sub.connect("sub", false, 3600).session_present);
    return publishes(sub.received());
}

mqtt::connect connect_packet(std::string id, bool clean, std::uint32_t expiry) {
    mqtt::connect c;
    c.client_id = std::move(id);
    c.clean_start = clean;
    c.keep_alive = 60;
    if (expiry != 0) {
        c.props.session_expiry_interval = expiry;
    }
    return c;
}

} // namespace

TEST_CASE("acknowledged QoS 1 and QoS 2 messages to an offline persistent session survive a crash, in order") {
    auto disk = fresh();
    data_ptr after;
    {
        node n(disk);
        offline_subscriber(n, "t/#", qos::exactly_once);
        peer pub(n.b, n.rt, 1);
        pub.connect("pub");
        for (int i = 0; i < 10; ++i) {
            pub.publish("t/x", "m" + std::to_string(i), i % 2 == 0 ? qos::at_least_once : qos::exactly_once);
        }
        auto acks = pub.received();
        REQUIRE(acks.size() == 10); // every PUBACK/PUBREC arrived: each was committed first
        after = crash_copy(disk);
    }
    node n(after);
    CHECK(n.recovered.sessions == 1);
    CHECK(n.recovered.queued == 10);
    peer sub(n.b, n.rt, 1);
    auto ack = sub.connect("sub", false, 3600);
    CHECK(ack.session_present);
    auto got = publishes(sub.received());
    REQUIRE(got.size() == 10);
    for (int i = 0; i < 10; ++i) {
        CHECK(got[i].payload == "m" + std::to_string(i));
        CHECK(got[i].qos == (i % 2 == 0 ? qos::at_least_once : qos::exactly_once));
    }
}

TEST_CASE("a PUBACK is never sent for a message whose write has not committed") {
    auto disk = fresh();
    node n(disk);
    offline_subscriber(n, "t", qos::at_least_once);
    peer pub(n.b, n.rt, 1);
    pub.connect("pub");
    // Publish without letting the shard finish its loop turn: the batch is not committed yet.
    mqtt::publish p;
    p.topic = "t";
    p.payload = "x";
    p.qos = qos::at_least_once;
    p.packet_id = 7;
    std::string bytes;
    mqtt::encode(p, mqtt::protocol_version::v5, bytes);
    std::vector<broker::out_frame> frames;
    n.rt.on(1, [&] {
        auto buf = pub.client().prepare_input(bytes.size());
        std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(buf.data()));
        pub.client().commit_input(bytes.size());
        pub.client().take_output(frames);
    });
    CHECK(frames.empty()); // nothing yet: the queued record is only in the shard's batch
    CHECK(keys(disk, persist::family::queued) == 0);
    auto ack = pub.expect_one<mqtt::puback>(); // runs the loop: commit, then the PUBACK
    CHECK(ack.packet_id == 7);
    CHECK(ack.reason == reason_code::success);
    CHECK(keys(disk, persist::family::queued) == 1);
}

TEST_CASE("disk full: the publish is refused with 0x97 and nothing of it is kept or delivered") {
    auto disk = fresh();
    node n(disk);
    offline_subscriber(n, "t", qos::at_least_once);
    peer pub(n.b, n.rt, 1);
    pub.connect("pub");
    n.store.fail_next_commit(persist::make_error_code(persist::errc::disk_full));
    pub.publish("t", "lost", qos::at_least_once);
    auto ack = pub.expect_one<mqtt::puback>();
    CHECK(ack.reason == reason_code::quota_exceeded);
    CHECK(n.b.stats().commit_failures == 1);
    // Space is back: the next one goes through.
    pub.publish("t", "kept", qos::at_least_once);
    CHECK(pub.expect_one<mqtt::puback>().reason == reason_code::success);
    auto got = resume_subscriber(n);
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "kept");
}

TEST_CASE("disk full on a QoS 2 PUBLISH: PUBREC 0x97 and the packet id is forgotten, so a retry is routed") {
    auto disk = fresh();
    node n(disk);
    offline_subscriber(n, "t", qos::exactly_once);
    peer pub(n.b, n.rt, 1);
    pub.connect("pub", true, 3600);
    n.store.fail_next_commit(persist::make_error_code(persist::errc::disk_full));
    pub.publish("t", "one", qos::exactly_once, false, 5);
    CHECK(pub.expect_one<mqtt::pubrec>().reason == reason_code::quota_exceeded);
    pub.publish("t", "one", qos::exactly_once, false, 5);
    CHECK(pub.expect_one<mqtt::pubrec>().reason == reason_code::success);
    CHECK(resume_subscriber(n).size() == 1);
}

TEST_CASE("[MQTT-4.3.3] QoS 2 exactly once across a crash: the retried PUBLISH is not routed again") {
    auto disk = fresh();
    data_ptr after;
    {
        node n(disk);
        offline_subscriber(n, "t", qos::exactly_once);
        peer pub(n.b, n.rt, 1);
        pub.connect("pub", true, 3600);
        pub.publish("t", "once", qos::exactly_once, false, 9);
        CHECK(pub.expect_one<mqtt::pubrec>().reason == reason_code::success);
        after = crash_copy(disk); // before the PUBREL
    }
    node n(after);
    CHECK(n.recovered.qos2_in == 1);
    peer pub(n.b, n.rt, 1);
    CHECK(pub.connect("pub", false, 3600).session_present);
    mqtt::publish retry;
    retry.topic = "t";
    retry.payload = "once";
    retry.qos = qos::exactly_once;
    retry.dup = true;
    retry.packet_id = 9;
    pub.send(retry);
    CHECK(pub.expect_one<mqtt::pubrec>().reason == reason_code::success);
    pub.send(mqtt::pubrel{9, reason_code::success, {}});
    CHECK(pub.expect_one<mqtt::pubcomp>().reason == reason_code::success);
    CHECK(keys(after, persist::family::qos2_in) == 0);
    CHECK(resume_subscriber(n).size() == 1);
}

TEST_CASE("in-flight messages caught mid-handshake are resumed after a crash") {
    auto disk = fresh();
    data_ptr after;
    {
        node n(disk);
        peer sub(n.b, n.rt, 0);
        sub.connect("sub", true, 3600);
        sub.subscribe("q1", qos::at_least_once, 1);
        sub.subscribe("q2", qos::exactly_once, 2);
        peer pub(n.b, n.rt, 1);
        pub.connect("pub");
        pub.publish("q1", "one", qos::at_least_once);
        pub.publish("q2", "two", qos::exactly_once);
        pub.received();
        auto got = publishes(sub.received());
        REQUIRE(got.size() == 2);
        const auto pid2 = got[0].topic == "q2" ? got[0].packet_id : got[1].packet_id;
        sub.send(mqtt::pubrec{pid2, reason_code::success, {}}); // q1 not acknowledged
        auto rel = sub.expect_one<mqtt::pubrel>();
        CHECK(rel.packet_id == pid2);
        n.rt.run();
        after = crash_copy(disk); // before PUBCOMP and before the PUBACK of q1
    }
    node n(after);
    CHECK(n.recovered.inflight == 2);
    peer sub(n.b, n.rt, 0);
    CHECK(sub.connect("sub", false, 3600).session_present);
    auto got = sub.received();
    int publish_count = 0;
    int pubrel_count = 0;
    for (const auto& p : got) {
        if (const auto* pub = std::get_if<mqtt::publish>(&p)) {
            CHECK(pub->topic == "q1");
            CHECK(pub->dup); // [MQTT-3.3.1-1]
            ++publish_count;
        } else if (std::holds_alternative<mqtt::pubrel>(p)) {
            ++pubrel_count;
        }
    }
    CHECK(publish_count == 1);
    CHECK(pubrel_count == 1);
}

TEST_CASE("retained messages, set and cleared, survive a crash") {
    auto disk = fresh();
    data_ptr after;
    {
        node n(disk);
        peer pub(n.b, n.rt, 1);
        pub.connect("pub");
        pub.publish("r/a", "A", qos::at_least_once, true);
        pub.publish("r/b", "B", qos::at_least_once, true);
        pub.publish("r/b", "", qos::at_least_once, true); // clears r/b
        pub.publish("r/c", "C", qos::at_most_once, true);
        CHECK(pub.received().size() == 3);
        n.rt.run();
        after = crash_copy(disk);
    }
    node n(after);
    CHECK(n.recovered.retained == 2);
    peer sub(n.b, n.rt, 0);
    sub.connect("s");
    sub.subscribe("r/#", qos::at_least_once);
    auto got = publishes(sub.received());
    REQUIRE(got.size() == 2);
    CHECK(got[0].payload == "A");
    CHECK(got[1].payload == "C");
    CHECK(got[0].retain);
}

TEST_CASE("[MQTT-3.1.3-9] a delayed will survives a crash and is published when its delay ends") {
    auto disk = fresh();
    data_ptr after;
    {
        node n(disk);
        peer dev(n.b, n.rt, 0);
        mqtt::will_message w;
        w.topic = "will/dev";
        w.payload = "gone";
        w.qos = qos::at_least_once;
        w.props.will_delay_interval = 30;
        dev.connect("dev", true, 3600, w);
        dev.drop(); // abnormal: the will waits 30 s
        after = crash_copy(disk);
    }
    node n(after);
    CHECK(n.recovered.wills == 1);
    peer watcher(n.b, n.rt, 1);
    watcher.connect("w");
    watcher.subscribe("will/#", qos::at_least_once);
    n.rt.advance(20s);
    CHECK(publishes(watcher.received()).empty());
    n.rt.advance(11s);
    auto got = publishes(watcher.received());
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "gone");
}

TEST_CASE("a persistent session connected at a crash restarts offline, with its will published") {
    auto disk = fresh();
    data_ptr after;
    std::optional<peer> dev;
    {
        node n(disk);
        dev.emplace(n.b, n.rt, 0);
        mqtt::will_message w;
        w.topic = "will/dev";
        w.payload = "lost";
        w.retain = true; // so that a subscriber after the restart can see it was published
        dev->connect("dev", true, 3600, w);
        dev->subscribe("cmd", qos::at_least_once);
        after = crash_copy(disk); // dev is still connected
        dev.reset();
    }
    node n(after);
    CHECK(n.recovered.wills == 1);
    // The will of the connection the crash cut was due at once (its timer fires right away).
    n.rt.advance(1ms);
    peer watcher(n.b, n.rt, 1);
    watcher.connect("w");
    watcher.subscribe("will/#", qos::at_most_once);
    auto wills = publishes(watcher.received());
    REQUIRE(wills.size() == 1);
    CHECK(wills[0].payload == "lost");
    peer again(n.b, n.rt, 0);
    CHECK(again.connect("dev", false, 3600).session_present);
    peer pub(n.b, n.rt, 1);
    pub.connect("pub");
    pub.publish("cmd", "c1", qos::at_least_once);
    CHECK(publishes(again.received()).size() == 1); // the subscription came back
}

TEST_CASE("session expiry is measured across the downtime") {
    auto disk = fresh();
    {
        node n(disk);
        peer a(n.b, n.rt, 0);
        a.connect("short", true, 60);
        a.subscribe("x", qos::at_least_once);
        a.drop();
        peer b(n.b, n.rt, 1);
        b.connect("long", true, 3600);
        b.drop();
    }
    persist::memory_store st(disk);
    // Two minutes later (wall clock), the 60 s session is gone, the one-hour one is not.
    auto purged = persist::purge_expired(st, persist::wall_now() + 120s, persist::durability::wal);
    REQUIRE(purged.has_value());
    CHECK(purged->sessions == 1);
    node n(disk);
    CHECK(n.recovered.sessions == 1);
    peer a(n.b, n.rt, 0);
    CHECK_FALSE(a.connect("short", false, 60).session_present);
    peer b(n.b, n.rt, 1);
    CHECK(b.connect("long", false, 3600).session_present);
}

TEST_CASE("a session that ends (expiry 0 on resume, clean start, DISCONNECT with expiry 0) leaves no record") {
    auto disk = fresh();
    node n(disk);
    {
        peer a(n.b, n.rt, 0);
        a.connect("a", true, 3600);
        a.subscribe("x", qos::at_least_once);
    }
    CHECK(keys(disk, persist::family::sessions) == 1);
    CHECK(keys(disk, persist::family::subscriptions) == 1);
    {
        peer a(n.b, n.rt, 1);
        a.connect("a", true, 3600); // clean start: the old session ends
        CHECK(keys(disk, persist::family::subscriptions) == 0);
        mqtt::disconnect d;
        d.props.session_expiry_interval = 0;
        a.send(d);
    }
    n.rt.run();
    CHECK(keys(disk, persist::family::sessions) == 0);
    {
        peer c(n.b, n.rt, 0);
        c.connect("c"); // expiry 0: nothing written
    }
    n.rt.run();
    CHECK(keys(disk, persist::family::sessions) == 0);
}

TEST_CASE("queue overflow rules: drop-new, drop-oldest, refuse (0x97, delivered to nobody)") {
    auto run = [](broker::queue_overflow rule) {
        broker::options o;
        o.lim.max_queued_messages = 2;
        o.lim.overflow = rule;
        auto disk = fresh();
        node n(disk, o);
        offline_subscriber(n, "t", qos::at_least_once);
        peer other(n.b, n.rt, 0);
        other.connect("other");
        other.subscribe("t", qos::at_least_once);
        peer pub(n.b, n.rt, 1);
        pub.connect("pub");
        std::vector<reason_code> reasons;
        for (int i = 1; i <= 3; ++i) {
            pub.publish("t", std::to_string(i), qos::at_least_once);
            reasons.push_back(pub.expect_one<mqtt::puback>().reason);
        }
        const auto other_got = publishes(other.received()).size();
        peer again(n.b, n.rt, 0);
        again.connect("sub", false, 3600);
        std::string got;
        for (const auto& p : publishes(again.received())) {
            got += p.payload;
        }
        CHECK(keys(disk, persist::family::queued) + keys(disk, persist::family::inflight) == got.size());
        return std::tuple{reasons, other_got, got};
    };
    {
        auto [reasons, other, got] = run(broker::queue_overflow::drop_new);
        CHECK(reasons.back() == reason_code::success);
        CHECK(other == 3);
        CHECK(got == "12");
    }
    {
        auto [reasons, other, got] = run(broker::queue_overflow::drop_oldest);
        CHECK(reasons.back() == reason_code::success);
        CHECK(other == 3);
        CHECK(got == "23");
    }
    {
        auto [reasons, other, got] = run(broker::queue_overflow::refuse);
        CHECK(reasons.back() == reason_code::quota_exceeded);
        CHECK(other == 2); // all or nothing
        CHECK(got == "12");
    }
}

TEST_CASE("CONNACK waits for the session write; when it fails the client gets 0x88 and no session") {
    auto disk = fresh();
    node n(disk);
    n.store.fail_next_commit(persist::make_error_code(persist::errc::io_error));
    peer a(n.b, n.rt, 0);
    a.send(connect_packet("a", true, 3600));
    auto ack = a.first<mqtt::connack>();
    CHECK(ack.reason == reason_code::server_unavailable);
    CHECK(a.closed);
}
