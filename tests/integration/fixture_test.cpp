// The fixture's own parsing: a wrong port or a missed sanitizer report would make every other
// integration test meaningless.
#include <doctest/doctest.h>

#include "daemon.hpp"

using namespace thinggate::integration;

TEST_CASE("parse_listening_port reads the port of the named listener from complete lines") {
    const std::string log =
            "[2025-01-01 00:00:00.000] [info] [1] listening name=tcp kind=tcp address=127.0.0.1 "
            "port=40001\n"
            "[2025-01-01 00:00:00.000] [info] [1] listening name=tls kind=tls address=127.0.0.1 "
            "port=40002\n";
    CHECK(parse_listening_port(log, "tcp") == std::optional<std::uint16_t>(40001));
    CHECK(parse_listening_port(log, "tls") == std::optional<std::uint16_t>(40002));
    CHECK_FALSE(parse_listening_port(log, "tc"));
    CHECK_FALSE(parse_listening_port("listening name=tcp kind=tcp address=x port=4000", "tcp"));
    CHECK_FALSE(parse_listening_port("listening name=tcp kind=tcp address=x port=0\n", "tcp"));
}

TEST_CASE("has_sanitizer_report sees ASan, LSan and UBSan reports") {
    CHECK(has_sanitizer_report("==1==ERROR: AddressSanitizer: heap-use-after-free"));
    CHECK(has_sanitizer_report("==1==ERROR: LeakSanitizer: detected memory leaks"));
    CHECK(has_sanitizer_report("a.cpp:3:5: runtime error: signed integer overflow"));
    CHECK_FALSE(has_sanitizer_report("[info] thinggate stopped\n"));
}

TEST_CASE("the generated PKI: the expired certificate's validity lies in the past") {
    const auto& pki = test_pki::shared();
    auto r = run_command(
            {"openssl",
             "x509",
             "-in",
             pki.expired_client.cert.string(),
             "-noout",
             "-checkend",
             "0"});
    CHECK(r.exit_code == 1); // "Certificate will expire" (already has)
    auto ok = run_command(
            {"openssl", "verify", "-CAfile", pki.ca.string(), pki.client(0).cert.string()});
    INFO(ok.output);
    CHECK(ok.exit_code == 0);
    auto foreign = run_command(
            {"openssl", "verify", "-CAfile", pki.ca.string(), pki.other_ca_client.cert.string()});
    CHECK(foreign.exit_code != 0);
}
