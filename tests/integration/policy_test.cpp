// Per-thing policies enforced on real clients over mutual TLS (Paho MQTT C++ 3.1.1 and 5): the
// registry file gives thing-1 a least-privilege policy (its own topics), thing-2 a permissive
// one (the watcher). Both compat profiles; revocation cutting a live session through SIGHUP.
#include <doctest/doctest.h>

#include <csignal>

#include <boost/json.hpp>

#include "daemon.hpp"
#include "paho_client.hpp"

using namespace thinggate::integration;
namespace json = boost::json;

namespace {

constexpr const char* own_topics = R"({
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "iot:Connect",
     "Resource": "arn:aws:iot:local:000000000000:client/${iot:Connection.Thing.ThingName}"},
    {"Effect": "Allow", "Action": ["iot:Publish", "iot:Receive"],
     "Resource": "arn:aws:iot:local:000000000000:topic/things/${iot:Connection.Thing.ThingName}/*"},
    {"Effect": "Allow", "Action": "iot:Subscribe",
     "Resource": "arn:aws:iot:local:000000000000:topicfilter/things/${iot:Connection.Thing.ThingName}/*"},
    {"Effect": "Deny", "Action": "iot:Receive",
     "Resource": "arn:aws:iot:local:000000000000:topic/things/*/secret"}
  ]})";

/// The default test registry, with thing-1's certificate moved to the "own-topics" policy.
json::object registry(const char* thing1_status = "ACTIVE") {
    auto reg = default_registry(test_pki::shared());
    reg["policies"].as_array().push_back(json::object{{"name", "own-topics"}, {"document", json::parse(own_topics)}});
    auto& first = reg["certificates"].as_array().at(0).as_object();
    first["policies"] = json::array{"own-topics"};
    first["status"] = thing1_status;
    return reg;
}

gateway_options options(std::string compat = "mqtt") {
    gateway_options o;
    o.registry = json::serialize(registry());
    o.server_extra = "compat = \"" + compat + "\"\n";
    o.limits = "min_connect_interval_ms = 0\n"; // the tests reconnect one thing at once
    return o;
}

/// The reason code of a failed token (MQTT 5 reason code, or the 3.1.1 return code).
int failure_code(const ::mqtt::exception& e) {
    return e.get_reason_code() != 0 ? e.get_reason_code() : e.get_return_code();
}

/// The SUBACK's reason code for one filter (Paho throws for a failure code; 3.1.1: 0x80).
int subscribe_reason(paho_client& c, const std::string& filter, int qos) {
    auto tok = c.paho().subscribe(filter, qos);
    bool done = false;
    int rc = -1;
    try {
        done = tok->wait_for(step_timeout);
        if (done) {
            rc = static_cast<int>(tok->get_subscribe_response().get_reason_codes().at(0));
        }
    } catch (const ::mqtt::exception& e) {
        done = true;
        rc = failure_code(e);
    }
    REQUIRE_MESSAGE(done, "no SUBACK for ", filter);
    return rc;
}

client_options tls(std::string id, int version, std::size_t cert) {
    client_options o;
    o.client_id = std::move(id);
    o.ep = endpoint{version, transport_kind::tls};
    o.cert_index = cert;
    return o;
}

/// Publishes and returns the PUBACK's reason code (v5), 0 when acknowledged without one.
int publish_reason(paho_client& c, const std::string& topic, int qos) {
    auto tok = c.paho().publish(topic, std::string("x"), qos, false);
    bool done = false;
    int rc = -1;
    try {
        done = tok->wait_for(step_timeout);
        if (done) {
            rc = tok->get_reason_code();
        }
    } catch (const ::mqtt::exception& e) {
        done = true;
        rc = failure_code(e);
    }
    REQUIRE_MESSAGE(done, "no PUBACK for ", topic);
    return rc;
}

} // namespace

TEST_CASE("policies over mutual TLS: own topics allowed, others denied with the profile's answers, both versions") {
    gateway d(options());
    for (int version : {MQTTVERSION_5, MQTTVERSION_3_1_1}) {
        CAPTURE(version);
        paho_client watcher(d, tls("watcher", version, 1)); // thing-2: permissive
        paho_client dev(d, tls("thing-1", version, 0));
        connect_all({&watcher, &dev});
        watcher.subscribe("things/#", 1);

        // Subscribe: own filter granted, another thing's refused (v5 0x87, 3.1.1 0x80).
        CHECK(subscribe_reason(dev, "things/thing-1/cmd", 1) == 1);
        CHECK(subscribe_reason(dev, "things/thing-2/cmd", 1) == (version == MQTTVERSION_5 ? 0x87 : 0x80));

        // Publish: to another thing's topic: v5 PUBACK 0x87; 3.1.1 acknowledged and dropped.
        const int rc = publish_reason(dev, "things/thing-2/data", 1);
        CHECK(rc == (version == MQTTVERSION_5 ? 0x87 : 0));
        dev.publish("things/thing-1/data", "mine", 1);
        auto m = watcher.next_message();
        REQUIRE(m);
        CHECK(m->get_topic() == "things/thing-1/data"); // the denied one never arrived first

        // Receive: a Deny on things/*/secret blocks delivery on an existing wildcard subscription.
        dev.subscribe("things/thing-1/#", 1);
        watcher.publish("things/thing-1/secret", "hidden", 1);
        watcher.publish("things/thing-1/open", "shown", 1);
        std::vector<std::string> got;
        while (got.empty() || got.back() != "shown") {
            auto r = dev.next_message();
            REQUIRE(r);
            got.push_back(r->to_string());
        }
        CHECK(std::find(got.begin(), got.end(), "hidden") == got.end());
        CHECK(dev.connected());
        dev.disconnect();
        watcher.disconnect();
    }
}

TEST_CASE("policies over mutual TLS: bypass attempts are refused - another thing's client id, a forbidden will, "
          "a client id with '+', a wildcard filter for another thing, $share") {
    gateway d(options());
    for (int version : {MQTTVERSION_5, MQTTVERSION_3_1_1}) {
        CAPTURE(version);
        {
            paho_client takeover(d, tls("thing-2", version, 0)); // thing-1's certificate, thing-2's id
            CHECK_FALSE(takeover.try_connect().empty());
        }
        {
            auto o = tls("thing-1", version, 0);
            o.will = ::mqtt::will_options("things/thing-2/will", std::string("gone"), 1, false);
            paho_client willful(d, o);
            CHECK_FALSE(willful.try_connect().empty());
        }
        {
            paho_client plus(d, tls("thing+", version, 1)); // even with the permissive policy
            CHECK_FALSE(plus.try_connect().empty());
        }
        paho_client dev(d, tls("thing-1", version, 0));
        dev.connect();
        CHECK(subscribe_reason(dev, "things/+/cmd", 1) >= 0x80);
        CHECK(subscribe_reason(dev, "#", 1) >= 0x80);
        if (version == MQTTVERSION_5) {
            CHECK(subscribe_reason(dev, "$share/g/things/thing-2/#", 1) == 0x87);
        }
        dev.disconnect();
    }
}

TEST_CASE("policies, aws-iot profile: a denied 3.1.1 SUBSCRIBE closes the connection, a denied v5 QoS 0 "
          "PUBLISH gets DISCONNECT 0x87") {
    gateway d(options("aws-iot"));
    {
        paho_client v3(d, tls("thing-1", MQTTVERSION_3_1_1, 0));
        v3.connect();
        auto tok = v3.paho().subscribe("things/thing-2/#", 1);
        try {
            tok->wait_for(step_timeout);
        } catch (const ::mqtt::exception&) {
            // the connection closed instead of a SUBACK
        }
        CHECK(v3.wait_disconnected());
    }
    {
        paho_client v5(d, tls("thing-1", MQTTVERSION_5, 0));
        v5.connect();
        v5.paho().publish("things/thing-2/x", std::string("no"), 0, false);
        CHECK(v5.wait_disconnected());
        CHECK(v5.server_disconnect_reason() == 0x87);
    }
}

TEST_CASE("revoking a certificate in the registry file and SIGHUP cut its live session") {
    gateway d(options());
    paho_client dev(d, tls("thing-1", MQTTVERSION_5, 0));
    dev.connect();
    write_file(d.registry_file(), json::serialize(registry("REVOKED")));
    ::kill(d.pid(), SIGHUP);
    CHECK(dev.wait_disconnected());
    CHECK(dev.server_disconnect_reason() == 0x87);
    paho_client again(d, tls("thing-1", MQTTVERSION_5, 0));
    CHECK_FALSE(again.try_connect().empty()); // refused at the handshake now
}
