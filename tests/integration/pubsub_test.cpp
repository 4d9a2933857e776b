// Publish/subscribe round trips through the real daemon with Paho MQTT C++: every case runs for
// MQTT 3.1.1 and 5, over plain TCP and over mutual TLS, each on its own daemon.
#include <algorithm>
#include <set>

#include <doctest/doctest.h>

#include "daemon.hpp"
#include "paho_client.hpp"
#include "raw_client.hpp"

using namespace thinggate::integration;

namespace {

endpoint other_version(endpoint ep) {
    ep.version = ep.version == MQTTVERSION_5 ? MQTTVERSION_3_1_1 : MQTTVERSION_5;
    return ep;
}

client_options opts(std::string id, endpoint ep, std::size_t cert = 0) {
    client_options o;
    o.client_id = std::move(id);
    o.ep = ep;
    o.cert_index = cert;
    return o;
}

std::string text(const mqtt::const_message_ptr& m) {
    return m->to_string();
}

} // namespace

TEST_CASE("QoS 0, 1 and 2 round trips, across protocol versions [MQTT-3.8.4-6]") {
    for (const auto& ep : all_endpoints()) {
        SUBCASE(ep.name().c_str()) {
            gateway d;
            paho_client sub(d, opts("sub", ep, 0));
            paho_client pub(d, opts("pub", other_version(ep), 1));
            connect_all({&sub, &pub});
            const auto granted = sub.subscribe("qos/#", 2);
            REQUIRE(granted.size() == 1);
            CHECK(static_cast<int>(granted[0]) == 2);

            for (int qos = 0; qos <= 2; ++qos) {
                pub.publish(
                        "qos/" + std::to_string(qos), "payload at qos " + std::to_string(qos), qos);
            }
            auto got = sub.messages(3);
            std::sort(got.begin(), got.end(), [](const auto& a, const auto& b) {
                return a->get_topic() < b->get_topic();
            });
            for (int qos = 0; qos <= 2; ++qos) {
                CAPTURE(qos);
                const auto& m = got[static_cast<std::size_t>(qos)];
                CHECK(m->get_topic() == "qos/" + std::to_string(qos));
                CHECK(text(m) == "payload at qos " + std::to_string(qos));
                CHECK(m->get_qos() == qos);
                CHECK_FALSE(m->is_retained());
            }

            // Granted QoS 1 caps a QoS 2 publication [MQTT-3.8.4-6].
            sub.subscribe("capped/t", 1);
            pub.publish("capped/t", "two becomes one", 2);
            auto m = sub.next_message();
            REQUIRE(m);
            CHECK(m->get_topic() == "capped/t");
            CHECK(m->get_qos() == 1);
            CHECK(text(m) == "two becomes one");
        }
    }
}

TEST_CASE("retained message: kept, delivered to a later subscriber with RETAIN, deleted by an "
          "empty retained publish [MQTT-3.3.1-5] [MQTT-3.3.1-9] [MQTT-3.3.1-10]") {
    for (const auto& ep : all_endpoints()) {
        SUBCASE(ep.name().c_str()) {
            gateway d;
            paho_client early(d, opts("early", ep, 0));
            paho_client pub(d, opts("pub", ep, 1));
            paho_client later(d, opts("later", ep, 2));
            paho_client last(d, opts("last", ep, 3));
            connect_all({&early, &pub, &later, &last});
            early.subscribe("ret/#", 1);
            pub.publish("ret/a", "kept value", 1, /*retain=*/true);

            // An established subscription gets it without RETAIN [MQTT-3.3.1-9].
            auto live = early.next_message();
            REQUIRE(live);
            CHECK(live->get_topic() == "ret/a");
            CHECK(text(live) == "kept value");
            CHECK_FALSE(live->is_retained());

            later.subscribe("ret/#", 1);
            auto kept = later.next_message();
            REQUIRE(kept);
            CHECK(kept->get_topic() == "ret/a");
            CHECK(text(kept) == "kept value");
            CHECK(kept->is_retained());
            CHECK(kept->get_qos() == 1);
            later.disconnect();

            // An empty retained payload deletes it [MQTT-3.3.1-10]: a new subscriber gets no
            // retained message, and the first thing it sees is a marker published afterwards.
            pub.publish("ret/a", "", 1, true);
            last.subscribe("ret/#", 1);
            pub.publish("ret/marker", "after the delete", 1);
            auto first = last.next_message();
            REQUIRE(first);
            CHECK(first->get_topic() == "ret/marker");
            CHECK(text(first) == "after the delete");
            CHECK_FALSE(first->is_retained());
        }
    }
}

TEST_CASE("large payload (256 KiB) round trip") {
    for (const auto& ep : all_endpoints()) {
        SUBCASE(ep.name().c_str()) {
            gateway d;
            paho_client sub(d, opts("sub", ep, 0));
            paho_client pub(d, opts("pub", ep, 1));
            connect_all({&sub, &pub});
            sub.subscribe("big/t", 1);
            std::string payload(256 * 1024, '\0');
            for (std::size_t i = 0; i < payload.size(); ++i) {
                payload[i] = static_cast<char>((i * 7919u + i / 251u) & 0xff);
            }
            pub.publish("big/t", payload, 1);
            auto m = sub.next_message();
            REQUIRE(m);
            CHECK(m->get_payload().size() == payload.size());
            CHECK(m->get_payload_str() == payload);
        }
    }
}

TEST_CASE("shared subscription $share/g/topic splits messages between its members") {
    for (const auto& ep : all_endpoints()) {
        SUBCASE(ep.name().c_str()) {
            gateway d;
            paho_client a(d, opts("member-a", ep, 0));
            paho_client b(d, opts("member-b", ep, 1));
            paho_client pub(d, opts("pub", ep, 2));
            connect_all({&a, &b, &pub});
            a.subscribe("$share/g/shared/t", 1);
            b.subscribe("$share/g/shared/t", 1);

            constexpr int n = 40;
            for (int i = 0; i < n; ++i) {
                pub.publish("shared/t", "m-" + std::to_string(i), 1);
            }
            std::multiset<std::string> seen;
            std::size_t from_a = 0;
            std::size_t from_b = 0;
            const auto deadline = clock::now() + step_timeout;
            while (seen.size() < n && clock::now() < deadline) {
                if (auto m = a.next_message(0ms)) {
                    CHECK(m->get_topic() == "shared/t");
                    seen.insert(text(m));
                    ++from_a;
                    continue;
                }
                if (auto m = b.next_message(50ms)) {
                    CHECK(m->get_topic() == "shared/t");
                    seen.insert(text(m));
                    ++from_b;
                }
            }
            CAPTURE(from_a);
            CAPTURE(from_b);
            REQUIRE(seen.size() == n);
            for (int i = 0; i < n; ++i) {
                CHECK(seen.count("m-" + std::to_string(i)) == 1);
            }
            CHECK(from_a > 0);
            CHECK(from_b > 0);
        }
    }
}

TEST_CASE("v5 topic alias: the topic once, then the alias alone; subscribers get the full topic "
          "[MQTT-3.3.2-12]") {
    for (auto transport : {transport_kind::tcp, transport_kind::tls}) {
        const endpoint ep{MQTTVERSION_5, transport};
        SUBCASE(ep.name().c_str()) {
            gateway d;
            paho_client sub5(d, opts("sub5", ep, 0));
            paho_client sub3(d, opts("sub3", other_version(ep), 1));
            paho_client pub(d, opts("pub", ep, 2));
            connect_all({&sub5, &sub3, &pub});
            sub5.subscribe("alias/#", 1);
            sub3.subscribe("alias/#", 1);

            mqtt::properties with_alias{{mqtt::property::TOPIC_ALIAS, 7}};
            pub.publish("alias/long/topic/name", "first", 1, false, with_alias);
            pub.publish("", "second", 1, false, with_alias);
            pub.publish("", "third", 1, false, with_alias);

            for (auto* sub : {&sub5, &sub3}) {
                auto got = sub->messages(3);
                CHECK(got[0]->get_topic() == "alias/long/topic/name");
                CHECK(got[1]->get_topic() == "alias/long/topic/name");
                CHECK(got[2]->get_topic() == "alias/long/topic/name");
                CHECK(text(got[0]) == "first");
                CHECK(text(got[1]) == "second");
                CHECK(text(got[2]) == "third");
            }
        }
    }
}

TEST_CASE("v5 flow control: a subscriber with Receive Maximum 1 gets 50 QoS 1 messages, all, in "
          "order [MQTT-3.3.4-9]") {
    for (auto transport : {transport_kind::tcp, transport_kind::tls}) {
        const endpoint ep{MQTTVERSION_5, transport};
        SUBCASE(ep.name().c_str()) {
            gateway d;
            auto o = opts("slow", ep, 0);
            o.receive_maximum = 1;
            paho_client sub(d, o);
            paho_client pub(d, opts("pub", ep, 1));
            connect_all({&sub, &pub});
            sub.subscribe("flow/t", 1);

            constexpr int n = 50;
            std::vector<mqtt::delivery_token_ptr> tokens;
            for (int i = 0; i < n; ++i) {
                tokens.push_back(pub.paho().publish(
                        mqtt::make_message("flow/t", "m-" + std::to_string(i), 1, false)));
            }
            for (auto& t : tokens) {
                REQUIRE(t->wait_for(step_timeout));
            }
            auto got = sub.messages(n);
            for (int i = 0; i < n; ++i) {
                CHECK(text(got[static_cast<std::size_t>(i)]) == "m-" + std::to_string(i));
            }
        }
    }
}

TEST_CASE("v5 flow control on the wire: with Receive Maximum 1 the broker never has two "
          "unacknowledged QoS 1 PUBLISHes out [MQTT-3.3.4-9]") {
    gateway d;
    raw_client sub(d.tcp_port());
    sub.send(connect_packet(5, "raw-slow", true, 60, std::nullopt, receive_maximum_property(1)));
    auto connack = sub.read_packet();
    REQUIRE(connack);
    REQUIRE(connack->type() == 2);
    sub.send(subscribe_packet(5, 1, "flow/raw", 1));
    auto suback = sub.read_packet();
    REQUIRE(suback);
    REQUIRE(suback->type() == 9);

    paho_client pub(d, opts("pub", {MQTTVERSION_5, transport_kind::tcp}));
    pub.connect();
    constexpr int n = 10;
    for (int i = 0; i < n; ++i) {
        pub.publish("flow/raw", "m-" + std::to_string(i), 1);
    }
    // Every publication is routed now. Take each PUBLISH, and before acknowledging it make a
    // round trip (PINGREQ/PINGRESP): a broker that ignored the window would have written the
    // next PUBLISH before the PINGRESP.
    for (int i = 0; i < n; ++i) {
        CAPTURE(i);
        auto p = sub.read_packet();
        REQUIRE(p);
        REQUIRE(p->type() == 3);
        CHECK(publish_payload(*p, 5) == "m-" + std::to_string(i));
        sub.send(pingreq_packet());
        auto next = sub.read_packet();
        REQUIRE(next);
        CHECK_MESSAGE(
                next->type() == 13,
                "packet type ",
                next->type(),
                " arrived while a QoS 1 PUBLISH was unacknowledged");
        sub.send(puback_packet(publish_packet_id(*p)));
    }
    sub.send(disconnect_packet());
}

TEST_CASE("mutual TLS: the server certificate verifies by IP SAN as well as by DNS name") {
    gateway d;
    for (const std::string host : {"localhost", "127.0.0.1"}) {
        for (int version : {MQTTVERSION_3_1_1, MQTTVERSION_5}) {
            CAPTURE(host);
            CAPTURE(version);
            auto o = opts("ip-" + std::to_string(version), {version, transport_kind::tls}, 0);
            o.host = host;
            paho_client c(d, o);
            c.connect();
            c.subscribe("echo/" + host, 1);
            c.publish("echo/" + host, "via " + host, 1);
            auto m = c.next_message();
            REQUIRE(m);
            CHECK(text(m) == "via " + host);
            c.disconnect();
        }
    }
}
