// Policies on every packet, through the protocol machine: a registry over a memory store with a
// CA and device certificates minted by auth/pki; peers that carry a registry-verified certificate
// the way transport/ hands it over (connection_info::certificate).
#include <doctest/doctest.h>

#include <boost/json.hpp>

#include "auth/certificate_fields.hpp"
#include "auth/pki.hpp"
#include "auth/registry.hpp"
#include "harness.hpp"
#include "persist/memory_store.hpp"

using namespace thinggate;
using test::manual_runtime;
using test::peer;
using test::publishes;
using mqtt::qos;
using mqtt::reason_code;

namespace {

auth::credential make_ca() {
    auth::cert_request r;
    r.subject.common_name = "authz test CA";
    r.profile = auth::cert_profile::ca;
    r.path_len = 0;
    r.days = 30;
    return auth::issue_credential(r, auth::key_spec::ec_p256, nullptr);
}

auth::credential make_device(const std::string& cn, const auth::credential& ca) {
    auth::cert_request r;
    r.subject.common_name = cn;
    r.profile = auth::cert_profile::client;
    r.days = 30;
    return auth::issue_credential(r, auth::key_spec::ec_p256, &ca);
}

/// Allows a thing its own client id and topics things/<thing>/..., nothing else.
constexpr std::string_view own_topics_policy = R"({
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:local:000000000000:client/${iot:Connection.Thing.ThingName}"},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
     "Resource": "arn:aws:iot:local:000000000000:topic/things/${iot:Connection.Thing.ThingName}/*"},
    {"Effect": "Allow", "Action": "iot:Subscribe",
     "Resource": "arn:aws:iot:local:000000000000:topicfilter/things/${iot:Connection.Thing.ThingName}/*"},
    {"Effect": "Deny", "Action": "iot:Receive",
     "Resource": "arn:aws:iot:local:000000000000:topic/things/*/secret"},
    {"Effect": "Allow", "Action": "iot:Subscribe",
     "Resource": "arn:aws:iot:local:000000000000:topicfilter/$share/*"},
    {"Effect": "Deny", "Action": "iot:Subscribe",
     "Resource": "arn:aws:iot:local:000000000000:topicfilter/things/*/private/*"},
    {"Effect": "Deny", "Action": "iot:RetainPublish",
     "Resource": "arn:aws:iot:local:000000000000:topic/things/*/noretain"}
  ]})";

struct world {
    explicit world(broker::options o = {})
        : rt(2)
        , b(std::move(o), rt) {
        reg = auth::registry::open(store).value();
        ca = make_ca();
        auto done = reg->update([&](auth::registry_txn& t) -> auth::registry_result<void> {
            auto ca_id = t.register_ca(auth::certificate_to_pem(*ca.cert), auth::ca_status::active, false, "");
            REQUIRE(ca_id.has_value());
            REQUIRE(t.create_policy("own-topics", own_topics_policy).has_value());
            return {};
        });
        REQUIRE(done.has_value());
        b.use_registry(*reg);
    }

    /// A registered ACTIVE device certificate attached to thing `thing` with the policy.
    broker::connection_info device(const std::string& thing) {
        auto cred = make_device(thing, ca);
        auto fields = std::make_shared<policy::certificate_info>(auth::certificate_fields(*cred.cert));
        auto done = reg->update([&](auth::registry_txn& t) -> auth::registry_result<void> {
            auto id = t.register_certificate(auth::certificate_to_pem(*cred.cert), auth::certificate_status::active);
            REQUIRE(id.has_value());
            REQUIRE(*id == fields->id);
            REQUIRE(t.create_thing(thing, "", {}).has_value());
            REQUIRE(t.attach_thing_principal(thing, *id, false).has_value());
            REQUIRE(t.attach_policy_to_certificate("own-topics", *id).has_value());
            return {};
        });
        REQUIRE(done.has_value());
        creds.push_back(std::move(cred));
        broker::connection_info info{"tls", "10.0.0.7:4242", true, thing, fields->id, fields, {}};
        return info;
    }

    template <class F>
    void change(F&& f) {
        auto done = reg->update([&](auth::registry_txn& t) -> auth::registry_result<void> { return f(t); });
        REQUIRE(done.has_value());
        rt.run(); // the broker's listener posted to every shard
    }

    manual_runtime rt;
    persist::memory_store store;
    std::unique_ptr<auth::registry> reg;
    broker::broker b;
    auth::credential ca;
    std::vector<auth::credential> creds;
};

broker::options aws_profile() {
    broker::options o;
    o.compat = broker::compat_profile::aws_iot;
    o.lim = broker::aws_iot_limits();
    return o;
}

mqtt::connect connect_packet(std::string id, mqtt::protocol_version v = mqtt::protocol_version::v5) {
    mqtt::connect c;
    c.version = v;
    c.client_id = std::move(id);
    c.clean_start = true;
    c.keep_alive = 60;
    return c;
}

} // namespace

TEST_CASE("policies: a thing may use its own topics; other topics are denied with 0x87 (v5)") {
    world w;
    peer dev(w.b, w.rt, 0, mqtt::protocol_version::v5, w.device("sensor-1"));
    dev.connect("sensor-1");
    CHECK(dev.subscribe("things/sensor-1/cmd", qos::at_least_once).reasons.at(0) == reason_code::granted_qos1);
    CHECK(dev.subscribe("things/other/cmd", qos::at_least_once, 2).reasons.at(0) == reason_code::not_authorized);
    dev.publish("things/sensor-1/cmd", "to myself", qos::at_least_once);
    auto got = dev.received();
    REQUIRE(publishes(got).size() == 1);
    dev.publish("things/other/data", "nope", qos::at_least_once);
    CHECK(dev.expect_one<mqtt::puback>().reason == reason_code::not_authorized);
    dev.publish("things/other/data", "nope", qos::exactly_once);
    CHECK(dev.expect_one<mqtt::pubrec>().reason == reason_code::not_authorized);
    dev.publish("things/other/data", "dropped", qos::at_most_once);
    CHECK(dev.received().empty()); // mqtt profile: QoS 0 dropped, connection kept
    CHECK_FALSE(dev.closed);
    CHECK(w.b.stats().denied == 4);
}

TEST_CASE("policies: iot:Connect is checked for the client id; a certificate cannot take another thing's id") {
    world w;
    auto info = w.device("sensor-1");
    peer other(w.b, w.rt, 0, mqtt::protocol_version::v5, info);
    other.send(connect_packet("sensor-2"));
    CHECK(other.first<mqtt::connack>().reason == reason_code::not_authorized);
    CHECK(other.closed);
    peer v3(w.b, w.rt, 1, mqtt::protocol_version::v311, info);
    v3.send(connect_packet("sensor-2", mqtt::protocol_version::v311));
    auto ack = v3.first<mqtt::connack>();
    CHECK(mqtt::to_v311_connack(ack.reason) == 5); // not authorized
}

TEST_CASE("policies: a will to a forbidden topic is refused at CONNECT, and a retained will needs iot:RetainPublish") {
    world w;
    auto info = w.device("sensor-1");
    {
        peer dev(w.b, w.rt, 0, mqtt::protocol_version::v5, info);
        auto c = connect_packet("sensor-1");
        c.will = mqtt::will_message{};
        c.will->topic = "things/other/will";
        c.will->payload = "x";
        dev.send(c);
        CHECK(dev.first<mqtt::connack>().reason == reason_code::not_authorized);
    }
    {
        peer dev(w.b, w.rt, 0, mqtt::protocol_version::v5, info);
        auto c = connect_packet("sensor-1");
        c.will = mqtt::will_message{};
        c.will->topic = "things/sensor-1/noretain";
        c.will->retain = true;
        dev.send(c);
        CHECK(dev.first<mqtt::connack>().reason == reason_code::not_authorized);
    }
    peer ok(w.b, w.rt, 0, mqtt::protocol_version::v5, info);
    auto c = connect_packet("sensor-1");
    c.will = mqtt::will_message{};
    c.will->topic = "things/sensor-1/will";
    ok.send(c);
    CHECK(ok.first<mqtt::connack>().reason == reason_code::success);
}

TEST_CASE("policies: a Deny on iot:Receive blocks delivery on an existing wildcard subscription") {
    world w;
    peer dev(w.b, w.rt, 0, mqtt::protocol_version::v5, w.device("sensor-1"));
    dev.connect("sensor-1");
    dev.subscribe("things/sensor-1/#", qos::at_least_once);
    peer pub(w.b, w.rt, 1); // no certificate: not policed (a TCP test listener)
    pub.connect("pub");
    pub.publish("things/sensor-1/secret", "hidden", qos::at_least_once);
    pub.publish("things/sensor-1/open", "shown", qos::at_least_once);
    pub.received();
    auto got = publishes(dev.received());
    REQUIRE(got.size() == 1);
    CHECK(got[0].payload == "shown");
    CHECK_FALSE(dev.closed); // a denied delivery is skipped, never a disconnect
}

TEST_CASE("policies: revoking or deactivating the certificate disconnects the live connection") {
    world w;
    auto info = w.device("sensor-1");
    peer dev(w.b, w.rt, 0, mqtt::protocol_version::v5, info);
    dev.connect("sensor-1");
    w.change([&](auth::registry_txn& t) { return t.update_certificate(info.certificate->id, auth::certificate_status::revoked); });
    auto d = dev.first<mqtt::disconnect>();
    CHECK(d.reason == reason_code::not_authorized);
    CHECK(dev.closed);
}

TEST_CASE("policies: detaching the policy re-evaluates the live connection (cached decisions dropped)") {
    world w;
    auto info = w.device("sensor-1");
    peer dev(w.b, w.rt, 0, mqtt::protocol_version::v5, info);
    dev.connect("sensor-1");
    dev.publish("things/sensor-1/a", "1", qos::at_least_once);
    CHECK(dev.expect_one<mqtt::puback>().reason == reason_code::success);
    w.change([&](auth::registry_txn& t) { return t.detach_policy_from_certificate("own-topics", info.certificate->id); });
    dev.publish("things/sensor-1/a", "2", qos::at_least_once);
    CHECK(dev.expect_one<mqtt::puback>().reason == reason_code::not_authorized);
}

TEST_CASE("policies: the aws-iot profile's answers - 3.1.1 CONNECT and SUBSCRIBE denials close, v5 QoS 0 publish "
          "denial disconnects with 0x87") {
    {
        world w(aws_profile());
        peer v3(w.b, w.rt, 0, mqtt::protocol_version::v311, w.device("sensor-1"));
        v3.send(connect_packet("sensor-9", mqtt::protocol_version::v311));
        CHECK(v3.received().empty()); // no CONNACK
        CHECK(v3.closed);
    }
    {
        world w(aws_profile());
        peer v3(w.b, w.rt, 0, mqtt::protocol_version::v311, w.device("sensor-1"));
        v3.connect("sensor-1");
        mqtt::subscribe s;
        s.packet_id = 1;
        s.entries.push_back({"things/other/#", {qos::at_least_once, false, false, 0}});
        v3.send(s);
        CHECK(v3.closed);
    }
    {
        world w(aws_profile());
        peer v5(w.b, w.rt, 0, mqtt::protocol_version::v5, w.device("sensor-1"));
        v5.connect("sensor-1");
        v5.publish("things/other/x", "no", qos::at_most_once);
        CHECK(v5.first<mqtt::disconnect>().reason == reason_code::not_authorized);
        CHECK(v5.closed);
    }
    {
        world w; // mqtt profile, 3.1.1: SUBACK failure for the filter, PUBACK and drop
        peer v3(w.b, w.rt, 0, mqtt::protocol_version::v311, w.device("sensor-1"));
        v3.connect("sensor-1");
        mqtt::subscribe s;
        s.packet_id = 1;
        s.entries.push_back({"things/other/#", {qos::at_least_once, false, false, 0}});
        v3.send(s);
        auto ack = v3.first<mqtt::suback>();
        CHECK(static_cast<int>(ack.reasons.at(0)) == 0x80);
        v3.publish("things/other/x", "no", qos::at_least_once);
        CHECK(v3.expect_one<mqtt::puback>().reason == reason_code::success);
        CHECK_FALSE(v3.closed);
    }
}

TEST_CASE("client ids with '+' or '#' are refused (0x85); the topicfilter/filter confusion does not grant wildcards") {
    world w;
    peer p(w.b, w.rt, 0);
    p.send(connect_packet("dev+"));
    CHECK(p.first<mqtt::connack>().reason == reason_code::client_identifier_not_valid);
    // topicfilter/things/sensor-1/* allows "things/sensor-1/#" but never "things/+/cmd".
    peer dev(w.b, w.rt, 1, mqtt::protocol_version::v5, w.device("sensor-1"));
    dev.connect("sensor-1");
    CHECK(dev.subscribe("things/+/cmd", qos::at_least_once).reasons.at(0) == reason_code::not_authorized);
    // A Deny on a filter cannot be got round by subscribing to it as a shared subscription.
    CHECK(dev.subscribe("$share/g/things/sensor-1/private/#", qos::at_least_once, 2).reasons.at(0) ==
          reason_code::not_authorized);
    CHECK(dev.subscribe("$share/g/things/sensor-1/open", qos::at_least_once, 3).reasons.at(0) ==
          reason_code::granted_qos1);
}

TEST_CASE("lifecycle events: connected, subscribed, disconnected with AWS's payloads") {
    world w;
    peer watcher(w.b, w.rt, 1);
    watcher.connect("watcher");
    watcher.subscribe("$aws/events/#", qos::at_least_once);
    watcher.received();
    auto info = w.device("sensor-1");
    {
        peer dev(w.b, w.rt, 0, mqtt::protocol_version::v5, info);
        dev.connect("sensor-1");
        dev.subscribe("things/sensor-1/cmd", qos::at_least_once);
        dev.send(mqtt::disconnect{});
    }
    auto got = publishes(watcher.received());
    REQUIRE(got.size() == 3);
    CHECK(got[0].topic == "$aws/events/presence/connected/sensor-1");
    auto c = boost::json::parse(got[0].payload).as_object();
    CHECK(c.at("clientId").as_string() == "sensor-1");
    CHECK(c.at("eventType").as_string() == "connected");
    CHECK(c.at("principalIdentifier").as_string() == info.certificate->id);
    CHECK(c.at("ipAddress").as_string() == "10.0.0.7");
    CHECK(c.at("thingName").as_string() == "sensor-1");
    CHECK(got[1].topic == "$aws/events/subscriptions/subscribed/sensor-1");
    CHECK(boost::json::parse(got[1].payload).at("topics").as_array().at(0).as_string() == "things/sensor-1/cmd");
    CHECK(got[2].topic == "$aws/events/presence/disconnected/sensor-1");
    auto d = boost::json::parse(got[2].payload).as_object();
    CHECK(d.at("disconnectReason").as_string() == "CLIENT_INITIATED_DISCONNECT");
    CHECK(d.at("clientInitiatedDisconnect").as_bool());
    CHECK(d.at("sessionIdentifier").as_string() == c.at("sessionIdentifier").as_string());
    CHECK(d.at("versionNumber").as_int64() > c.at("versionNumber").as_int64());
}
