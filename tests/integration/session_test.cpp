// Connection lifecycle through the real daemon: wills, client id takeover, persistent sessions
// with queued messages, and graceful shutdown - for MQTT 3.1.1 and 5, over TCP and mutual TLS.
#include <csignal>

#include <doctest/doctest.h>

#include "daemon.hpp"
#include "paho_client.hpp"
#include "raw_client.hpp"

using namespace thinggate::integration;

namespace {

client_options opts(std::string id, endpoint ep, std::size_t cert = 0) {
    client_options o;
    o.client_id = std::move(id);
    o.ep = ep;
    o.cert_index = cert;
    return o;
}

int raw_version(const endpoint& ep) {
    return ep.version == MQTTVERSION_5 ? 5 : 4;
}

} // namespace

TEST_CASE("a Will is published when the client vanishes without DISCONNECT [MQTT-3.1.2-8]") {
    for (const auto& ep : all_endpoints()) {
        SUBCASE(ep.name().c_str()) {
            gateway d;
            paho_client watcher(d, opts("watcher", ep, 0));
            watcher.connect();
            watcher.subscribe("will/#", 1);

            // The dying client speaks raw MQTT over TCP in the watcher's protocol version, so
            // that it can close its socket without a DISCONNECT.
            raw_client dying(d.tcp_port());
            dying.send(connect_packet(
                    raw_version(ep),
                    "dying",
                    true,
                    60,
                    raw_will{"will/dying", "it died", 1, false}));
            auto connack = dying.read_packet();
            REQUIRE(connack);
            REQUIRE(connack->type() == 2);
            dying.close();

            auto will = watcher.next_message();
            REQUIRE(will);
            CHECK(will->get_topic() == "will/dying");
            CHECK(will->to_string() == "it died");
            CHECK(will->get_qos() == 1);
        }
    }
}

TEST_CASE("no Will after a normal DISCONNECT [MQTT-3.1.2-10] [MQTT-3.14.4-3]") {
    for (const auto& ep : all_endpoints()) {
        SUBCASE(ep.name().c_str()) {
            gateway d;
            paho_client watcher(d, opts("watcher", ep, 0));
            auto o = opts("polite", ep, 1);
            o.will = mqtt::will_options("will/polite", std::string("should not be sent"), 1, false);
            paho_client polite(d, o);
            paho_client marker(d, opts("marker", ep, 2));
            connect_all({&watcher, &polite, &marker});
            watcher.subscribe("will/#", 1);
            polite.disconnect();

            // Published after the DISCONNECT, to the same topic: had the Will been sent, it
            // would be the first message here.
            marker.publish("will/polite", "marker", 1);
            auto first = watcher.next_message();
            REQUIRE(first);
            CHECK(first->to_string() == "marker");
        }
    }
}

TEST_CASE("takeover: a second connection with the same client id closes the first, whose Will "
          "is published [MQTT-3.1.4-3]") {
    for (const auto& ep : all_endpoints()) {
        SUBCASE(ep.name().c_str()) {
            gateway d;
            paho_client watcher(d, opts("watcher", ep, 0));
            auto first_opts = opts("device", ep, 1);
            first_opts.will =
                    mqtt::will_options("will/device", std::string("taken over"), 1, false);
            paho_client first(d, first_opts);
            connect_all({&watcher, &first});
            watcher.subscribe("will/#", 1);

            paho_client second(d, opts("device", ep, 1));
            second.connect();

            REQUIRE(first.wait_disconnected());
            if (ep.version == MQTTVERSION_5) {
                // Session taken over [MQTT-3.14.2-1]: DISCONNECT 0x8E before the close.
                CHECK(first.server_disconnect_reason() == std::optional<int>(0x8E));
            }
            auto will = watcher.next_message();
            REQUIRE(will);
            CHECK(will->get_topic() == "will/device");
            CHECK(will->to_string() == "taken over");

            // The new connection is the one that works.
            second.subscribe("after/takeover", 1);
            watcher.publish("after/takeover", "to the new connection", 1);
            auto m = second.next_message();
            REQUIRE(m);
            CHECK(m->to_string() == "to the new connection");
        }
    }
}

TEST_CASE("session resume: QoS 1 messages published while offline arrive after reconnect, all, "
          "in order, with session present [MQTT-3.2.2-2] [MQTT-4.6.0-6]") {
    for (const auto& ep : all_endpoints()) {
        SUBCASE(ep.name().c_str()) {
            gateway d;
            auto o = opts("persistent", ep, 0);
            if (ep.version == MQTTVERSION_5) {
                o.clean = true; // a fresh session that outlives the connection
                o.session_expiry = 300;
            } else {
                o.clean = false;
            }
            paho_client pub(d, opts("pub", ep, 1));
            {
                paho_client sub(d, o);
                connect_all({&sub, &pub});
                sub.subscribe("resume/t", 1);
                sub.disconnect();
            }
            constexpr int n = 20;
            for (int i = 0; i < n; ++i) {
                pub.publish("resume/t", "queued-" + std::to_string(i), 1);
            }

            o.clean = false;
            paho_client sub(d, o);
            CHECK(sub.connect()); // session present
            auto got = sub.messages(n);
            for (int i = 0; i < n; ++i) {
                CAPTURE(i);
                CHECK(got[static_cast<std::size_t>(i)]->get_topic() == "resume/t");
                CHECK(got[static_cast<std::size_t>(i)]->to_string() ==
                      "queued-" + std::to_string(i));
                CHECK(got[static_cast<std::size_t>(i)]->get_qos() == 1);
            }
        }
    }
}

TEST_CASE("graceful shutdown: SIGTERM sends v5 clients DISCONNECT 0x8B, closes 3.1.1 clients, "
          "and the daemon exits 0") {
    for (auto transport : {transport_kind::tcp, transport_kind::tls}) {
        SUBCASE(transport == transport_kind::tls ? "tls" : "tcp") {
            gateway d;
            paho_client v5(d, opts("v5", {MQTTVERSION_5, transport}, 0));
            paho_client v3(d, opts("v3", {MQTTVERSION_3_1_1, transport}, 1));
            connect_all({&v5, &v3});
            // A round trip first, so both sessions are fully established.
            v5.subscribe("t", 1);
            v3.publish("t", "hello", 1);
            REQUIRE(v5.next_message());

            d.stop(); // SIGTERM; checks exit status 0 and no sanitizer report
            CHECK(v5.wait_disconnected());
            CHECK(v5.server_disconnect_reason() == std::optional<int>(0x8B));
            CHECK(v3.wait_disconnected());
        }
    }
}
