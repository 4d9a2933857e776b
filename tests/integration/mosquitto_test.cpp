// mosquitto_pub / mosquitto_sub (Debian mosquitto-clients) against the daemon over mutual TLS
// with the test's certificates, MQTT 3.1.1 and 5.
#include <csignal>

#include <doctest/doctest.h>

#include "daemon.hpp"
#include "paho_client.hpp"

using namespace thinggate::integration;

namespace {

/// The common arguments: host, port, version, CA, client certificate and key.
std::vector<std::string> tls_args(
        const gateway& d,
        std::string program,
        std::string version,
        std::string id,
        const cert_files& cert) {
    const auto& pki = test_pki::shared();
    return {std::move(program),
            "-h",
            "localhost",
            "-p",
            std::to_string(d.tls_port()),
            "-V",
            std::move(version),
            "-i",
            std::move(id),
            "--cafile",
            pki.ca.string(),
            "--cert",
            cert.cert.string(),
            "--key",
            cert.key.string()};
}

/// mosquitto_sub writes its -d log through stdio, which a pipe makes fully buffered: without
/// line buffering "received SUBACK" would only show up at exit.
std::vector<std::string> line_buffered(std::vector<std::string> argv) {
    argv.insert(argv.begin(), {"stdbuf", "-oL"});
    return argv;
}

std::vector<std::string> operator+(std::vector<std::string> a, std::vector<std::string> b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

} // namespace

TEST_CASE("mosquitto_sub receives what mosquitto_pub sends over mutual TLS") {
    REQUIRE_MESSAGE(have_program("mosquitto_pub"), "mosquitto-clients is not installed");
    const auto& pki = test_pki::shared();
    for (const std::string version : {"mqttv311", "mqttv5"}) {
        SUBCASE(version.c_str()) {
            gateway d;
            // -d prints the SUBACK, so the publication is sent only once the subscription is in.
            child_process sub(line_buffered(
                    tls_args(d, "mosquitto_sub", version, "msub", pki.client(0)) +
                    std::vector<std::string>{
                            "-t",
                            "mosq/t",
                            "-q",
                            "1",
                            "-C",
                            "1",
                            "-W",
                            "10",
                            "-d",
                            "-F",
                            "payload=%p"}));
            REQUIRE_MESSAGE(sub.wait_for_output("SUBACK", step_timeout), sub.output());

            auto pub = run_command(
                    tls_args(d, "mosquitto_pub", version, "mpub", pki.client(1)) +
                    std::vector<std::string>{"-t", "mosq/t", "-q", "1", "-m", "hello " + version});
            INFO(pub.output);
            CHECK(pub.exit_code == 0);

            auto status = sub.wait_exit(step_timeout);
            INFO(sub.output());
            REQUIRE(status);
            CHECK(WIFEXITED(*status));
            CHECK(WEXITSTATUS(*status) == 0);
            CHECK(sub.output().find("payload=hello " + version) != std::string::npos);
        }
    }
}

TEST_CASE("mosquitto_pub -r: a retained message reaches a later mosquitto_sub with the retain "
          "flag") {
    REQUIRE_MESSAGE(have_program("mosquitto_pub"), "mosquitto-clients is not installed");
    const auto& pki = test_pki::shared();
    for (const std::string version : {"mqttv311", "mqttv5"}) {
        SUBCASE(version.c_str()) {
            gateway d;
            auto pub = run_command(
                    tls_args(d, "mosquitto_pub", version, "mpub", pki.client(1)) +
                    std::vector<std::string>{
                            "-t", "mosq/retained", "-q", "1", "-r", "-m", "kept " + version});
            INFO(pub.output);
            REQUIRE(pub.exit_code == 0);

            auto sub = run_command(
                    tls_args(d, "mosquitto_sub", version, "msub", pki.client(0)) +
                    std::vector<std::string>{
                            "-t", "mosq/#", "-q", "1", "-C", "1", "-W", "10", "-F", "%r|%t|%p"});
            INFO(sub.output);
            CHECK(sub.exit_code == 0);
            CHECK(sub.output.find("1|mosq/retained|kept " + version) != std::string::npos);

            // An empty retained message deletes it: a new subscriber's first message is a
            // marker published after its SUBACK, not the retained one.
            auto del = run_command(
                    tls_args(d, "mosquitto_pub", version, "mpub", pki.client(1)) +
                    std::vector<std::string>{"-t", "mosq/retained", "-q", "1", "-r", "-n"});
            CHECK(del.exit_code == 0);
            child_process next(line_buffered(
                    tls_args(d, "mosquitto_sub", version, "msub2", pki.client(2)) +
                    std::vector<std::string>{
                            "-t",
                            "mosq/#",
                            "-q",
                            "1",
                            "-C",
                            "1",
                            "-W",
                            "10",
                            "-d",
                            "-F",
                            "%r|%t|%p"}));
            REQUIRE_MESSAGE(next.wait_for_output("SUBACK", step_timeout), next.output());
            auto marker = run_command(
                    tls_args(d, "mosquitto_pub", version, "mpub", pki.client(1)) +
                    std::vector<std::string>{"-t", "mosq/marker", "-q", "1", "-m", "marker"});
            CHECK(marker.exit_code == 0);
            REQUIRE(next.wait_exit(step_timeout));
            INFO(next.output());
            CHECK(next.output().find("0|mosq/marker|marker") != std::string::npos);
            CHECK(next.output().find("mosq/retained") == std::string::npos);
        }
    }
}

TEST_CASE("the Will of a mosquitto_sub killed with SIGKILL is published (mutual TLS)") {
    REQUIRE_MESSAGE(have_program("mosquitto_sub"), "mosquitto-clients is not installed");
    const auto& pki = test_pki::shared();
    for (const std::string version : {"mqttv311", "mqttv5"}) {
        SUBCASE(version.c_str()) {
            gateway d;
            client_options o;
            o.client_id = "watcher";
            o.ep = {MQTTVERSION_5, transport_kind::tls};
            paho_client watcher(d, o);
            watcher.connect();
            watcher.subscribe("will/#", 1);

            child_process victim(line_buffered(
                    tls_args(d, "mosquitto_sub", version, "victim", pki.client(1)) +
                    std::vector<std::string>{
                            "-t",
                            "anything",
                            "-d",
                            "--will-topic",
                            "will/victim",
                            "--will-payload",
                            "killed " + version,
                            "--will-qos",
                            "1"}));
            REQUIRE_MESSAGE(victim.wait_for_output("SUBACK", step_timeout), victim.output());
            victim.send_signal(SIGKILL);
            REQUIRE(victim.wait_exit(step_timeout));

            auto will = watcher.next_message();
            REQUIRE(will);
            CHECK(will->get_topic() == "will/victim");
            CHECK(will->to_string() == "killed " + version);
        }
    }
}
