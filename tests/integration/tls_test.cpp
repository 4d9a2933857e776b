// The mutual-TLS listener refuses what it must: no client certificate, a certificate from
// another CA, an expired certificate, TLS 1.1, and plain MQTT.
#include <doctest/doctest.h>

#include "daemon.hpp"
#include "paho_client.hpp"
#include "raw_client.hpp"

using namespace thinggate::integration;

namespace {

struct refusal {
    const char* name;
    std::optional<cert_files> cert; ///< nullopt: no client certificate
};

std::vector<refusal> refusals() {
    const auto& pki = test_pki::shared();
    return {{"no client certificate", std::nullopt},
            {"certificate from another CA", pki.other_ca_client},
            {"expired certificate", pki.expired_client}};
}

command_result
mosquitto_pub(const gateway& d, const std::optional<cert_files>& cert, const std::string& version) {
    std::vector<std::string> argv{
            "mosquitto_pub",
            "-h",
            "localhost",
            "-p",
            std::to_string(d.tls_port()),
            "-V",
            version,
            "-i",
            "refused",
            "--cafile",
            test_pki::shared().ca.string(),
            "-t",
            "x",
            "-m",
            "must not arrive",
            "-q",
            "1"};
    if (cert) {
        argv.insert(argv.end(), {"--cert", cert->cert.string(), "--key", cert->key.string()});
    }
    return run_command(argv);
}

} // namespace

TEST_CASE("the TLS handshake refuses clients without a valid certificate") {
    gateway d;
    // The positive control: the same commands with a good certificate work.
    {
        auto ok = mosquitto_pub(d, test_pki::shared().client(0), "mqttv5");
        INFO(ok.output);
        REQUIRE(ok.exit_code == 0);
    }
    paho_client watcher(d, [] {
        client_options o;
        o.client_id = "watcher";
        o.ep = {MQTTVERSION_5, transport_kind::tcp};
        return o;
    }());
    paho_client marker(d, [] {
        client_options o;
        o.client_id = "marker";
        o.ep = {MQTTVERSION_3_1_1, transport_kind::tcp};
        return o;
    }());
    connect_all({&watcher, &marker});
    watcher.subscribe("#", 1);

    for (const auto& r : refusals()) {
        CAPTURE(r.name);
        for (const std::string version : {"mqttv311", "mqttv5"}) {
            CAPTURE(version);
            auto res = mosquitto_pub(d, r.cert, version);
            INFO(res.output);
            CHECK_FALSE(res.timed_out);
            CHECK(res.exit_code != 0);
        }
        for (int version : {MQTTVERSION_3_1_1, MQTTVERSION_5}) {
            CAPTURE(version);
            client_options o;
            o.client_id = "refused";
            o.ep = {version, transport_kind::tls};
            o.no_client_cert = !r.cert.has_value();
            o.cert = r.cert;
            paho_client c(d, o);
            const auto error = c.try_connect();
            CHECK_MESSAGE(!error.empty(), "Paho connected with ", r.name);
        }
    }
    // Nothing from the refused clients was routed: the first message the watcher sees is this.
    marker.publish("marker", "after the refusals", 1);
    auto first = watcher.next_message();
    REQUIRE(first);
    CHECK(first->get_topic() == "marker");
}

TEST_CASE("TLS 1.1 is refused; TLS 1.2 with a client certificate is accepted (openssl s_client)") {
    if (!have_program("openssl")) {
        MESSAGE("skipped: openssl is not installed");
        return;
    }
    gateway d;
    const auto& pki = test_pki::shared();
    const auto common = s_client_command(d.tls_port(), pki.client(0));

    auto good = common;
    good.insert(good.end(), {"-tls1_2"});
    auto ok = run_command(good);
    INFO("TLS 1.2: ", ok.output);
    CHECK(ok.exit_code == 0);
    CHECK(ok.output.find("TLSv1.2") != std::string::npos);

    // SECLEVEL=0 lets this OpenSSL offer TLS 1.1 at all, so the refusal is the server's.
    auto old = common;
    old.insert(old.end(), {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"});
    auto refused = run_command(old);
    INFO("TLS 1.1: ", refused.output);
    CHECK_FALSE(refused.timed_out);
    CHECK(refused.exit_code != 0);
    // s_client prints a session summary even for a failed handshake; no cipher means none.
    CHECK(refused.output.find("Cipher is (NONE)") != std::string::npos);
}

TEST_CASE("plain MQTT to the TLS port gets no CONNACK and is closed") {
    gateway d;
    for (int version : {4, 5}) {
        CAPTURE(version);
        raw_client raw(d.tls_port());
        raw.send(connect_packet(version, "plain"));
        // Whatever comes back (a TLS alert at most) is not a CONNACK, and the server closes.
        for (;;) {
            auto p = raw.read_packet();
            if (!p) {
                break;
            }
            CHECK(p->header != 0x20);
        }
        CHECK(raw.wait_closed());
    }
    for (int version : {MQTTVERSION_3_1_1, MQTTVERSION_5}) {
        client_options o;
        o.client_id = "plain-paho";
        o.ep = {version, transport_kind::tcp};
        o.uri = "tcp://127.0.0.1:" + std::to_string(d.tls_port());
        paho_client c(d, o);
        CHECK_FALSE(c.try_connect().empty());
    }
}
