// The record layer after the handshake (docs/security.md "Record layer after the handshake"),
// end to end: 100 KiB MQTT payloads between mosquitto_pub and mosquitto_sub over mutual TLS 1.2
// and 1.3 through the daemon, with the builtin record layer (the default: OpenSSL does the
// handshake, transport/tls_record the records) and with tls_record_layer = "openssl".
#include <doctest/doctest.h>

#include "daemon.hpp"

using namespace thinggate::integration;

namespace {

std::vector<std::string> tls_args(
        const gateway& d,
        std::string program,
        const std::string& tls_version,
        std::string id,
        const cert_files& cert) {
    const auto& pki = test_pki::shared();
    return {"stdbuf",
            "-oL",
            std::move(program),
            "-h",
            "localhost",
            "-p",
            std::to_string(d.tls_port()),
            "-V",
            "mqttv5",
            "--tls-version",
            tls_version,
            "-i",
            std::move(id),
            "--cafile",
            pki.ca.string(),
            "--cert",
            cert.cert.string(),
            "--key",
            cert.key.string()};
}

std::vector<std::string> operator+(std::vector<std::string> a, std::vector<std::string> b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

std::string pattern(std::size_t n, char salt) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>('a' + (i * 7 + i / 253 + static_cast<std::size_t>(salt)) % 26);
    }
    return s;
}

/// mosquitto_sub (QoS 1) receives a 100 KiB payload that mosquitto_pub sends, both over
/// `tls_version` ("tlsv1.2" / "tlsv1.3").
void large_round_trip(const gateway& d, const std::string& tls_version, char salt) {
    const auto& pki = test_pki::shared();
    const auto payload = pattern(100 * 1024, salt);
    child_process sub(
            tls_args(d, "mosquitto_sub", tls_version, "rsub", pki.client(0)) +
            std::vector<std::string>{
                    "-t", "rec/t", "-q", "1", "-C", "1", "-W", "10", "-d", "-F", "payload=%p"});
    REQUIRE_MESSAGE(sub.wait_for_output("SUBACK", step_timeout), sub.output());
    auto pub = run_command(
            tls_args(d, "mosquitto_pub", tls_version, "rpub", pki.client(1)) +
            std::vector<std::string>{"-t", "rec/t", "-q", "1", "-m", payload});
    INFO(pub.output);
    CHECK(pub.exit_code == 0);
    auto status = sub.wait_exit(step_timeout);
    REQUIRE(status);
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
    const auto out = sub.output();
    CHECK_MESSAGE(out.find("payload=" + payload) != std::string::npos, out.substr(0, 2000));
}

} // namespace

TEST_CASE("builtin record layer: 100 KiB through the daemon between mosquitto_pub and "
          "mosquitto_sub over TLS 1.2") {
    REQUIRE_MESSAGE(have_program("mosquitto_pub"), "mosquitto-clients is not installed");
    gateway_options go;
    go.log_level = "debug"; // a connection that kept OpenSSL's records would say so
    gateway d(go);
    large_round_trip(d, "tlsv1.2", 'a');
    large_round_trip(d, "tlsv1.2", 'b');
    CHECK(d.log().find("keeps OpenSSL's record layer") == std::string::npos);
}

TEST_CASE("builtin record layer: 100 KiB through the daemon between mosquitto_pub and "
          "mosquitto_sub over TLS 1.3") {
    REQUIRE_MESSAGE(have_program("mosquitto_pub"), "mosquitto-clients is not installed");
    gateway_options go;
    go.log_level = "debug";
    gateway d(go);
    large_round_trip(d, "tlsv1.3", 'c');
    large_round_trip(d, "tlsv1.3", 'd');
    CHECK(d.log().find("keeps OpenSSL's record layer") == std::string::npos);
}

TEST_CASE("tls_record_layer = \"openssl\": 100 KiB over TLS 1.2 and 1.3 on OpenSSL's records") {
    REQUIRE_MESSAGE(have_program("mosquitto_pub"), "mosquitto-clients is not installed");
    gateway_options go;
    go.tls_extra = "tls_record_layer = \"openssl\"\n";
    gateway d(go);
    large_round_trip(d, "tlsv1.2", 'e');
    large_round_trip(d, "tlsv1.3", 'f');
}
