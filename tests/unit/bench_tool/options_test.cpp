// The load tool's command line: defaults per scenario, bounds, loopback-only targets, TLS and
// compare rules. Every refusal is a usage_error before anything connects.

#include "tools/bench/options.hpp"

#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace thinggate::bench {
namespace {

options parse(std::vector<std::string> args) {
    return parse_options(args, 4);
}

void refused(std::vector<std::string> args, const std::string& needle) {
    CAPTURE(needle);
    try {
        parse(std::move(args));
        FAIL("accepted");
    } catch (const usage_error& e) {
        CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
}

TEST_CASE("options: defaults of each scenario") {
    auto o = parse({"--scenario", "fan-in"});
    CHECK(o.kind == scenario::fan_in);
    CHECK(o.publishers == 100);
    CHECK(o.subscribers == 1);
    CHECK(o.total_connections() == 101);
    CHECK(o.threads == 4);
    CHECK(o.version == mqtt::protocol_version::v5);
    CHECK(o.qos == mqtt::qos::at_most_once);
    CHECK(o.payload == 64);
    CHECK(o.rate == 0);
    CHECK(o.duration_s == 10);
    REQUIRE(o.targets.size() == 1);
    CHECK(o.targets[0].address == "127.0.0.1");
    CHECK(o.targets[0].port == 1883);

    o = parse({"--scenario", "fan-out"});
    CHECK(o.publishers == 1);
    CHECK(o.subscribers == 100);
    o = parse({"--scenario", "pairs"});
    CHECK(o.publishers == 10);
    CHECK(o.subscribers == 10);
    o = parse({"--scenario", "latency"});
    CHECK(o.publishers == 1);
    CHECK(o.rate == 1000);
    o = parse({"--scenario", "storm"});
    CHECK(o.connections == 10);
    CHECK_FALSE(o.publishes());
    o = parse({"--scenario", "idle"});
    CHECK(o.connections == 1000);
    CHECK(o.total_connections() == 1000);
}

TEST_CASE("options: everything given") {
    auto o =
            parse({"--scenario",
                   "pairs",
                   "--pairs",
                   "3",
                   "--mqtt",
                   "3.1.1",
                   "--qos",
                   "2",
                   "--payload",
                   "131072",
                   "--rate",
                   "500",
                   "--duration",
                   "2.5",
                   "--max-messages",
                   "1000",
                   "--inflight",
                   "16",
                   "--threads",
                   "2",
                   "--target",
                   "[::1]:1884",
                   "--tls",
                   "--cafile",
                   "ca.pem",
                   "--cert",
                   "c.pem",
                   "--key",
                   "c.key",
                   "--tls-version",
                   "1.3",
                   "--broker-pid",
                   "1234",
                   "--drain",
                   "1",
                   "--quiet",
                   "--keepalive",
                   "30",
                   "--topic-prefix",
                   "x"});
    CHECK(o.publishers == 3);
    CHECK(o.version == mqtt::protocol_version::v311);
    CHECK(o.qos == mqtt::qos::exactly_once);
    CHECK(o.payload == 131072);
    CHECK(o.rate == 500);
    CHECK(o.duration_s == 2.5);
    CHECK(o.max_messages == 1000);
    CHECK(o.inflight == 16);
    CHECK(o.threads == 2);
    CHECK(o.targets[0].address == "::1");
    CHECK(o.targets[0].port == 1884);
    CHECK(o.tls);
    CHECK(o.tls_ver == tls_version::v1_3);
    CHECK(o.ca_file == "ca.pem");
    CHECK(o.broker_pids == std::vector<int>{1234});
    CHECK(o.drain_s == 1);
    CHECK(o.quiet);
    CHECK(o.keep_alive == 30);
    CHECK(o.topic_prefix == "x");
}

TEST_CASE("options: only loopback targets") {
    CHECK(is_loopback_host("localhost"));
    CHECK(is_loopback_host("127.0.0.1"));
    CHECK(is_loopback_host("127.255.3.4"));
    CHECK(is_loopback_host("::1"));
    CHECK_FALSE(is_loopback_host("128.0.0.1"));
    CHECK_FALSE(is_loopback_host("10.0.0.1"));
    CHECK_FALSE(is_loopback_host("0.0.0.0"));
    CHECK_FALSE(is_loopback_host("::"));
    CHECK_FALSE(is_loopback_host("::2"));
    CHECK_FALSE(is_loopback_host("example.com"));
    CHECK_FALSE(is_loopback_host("localhost.example.com"));
    CHECK_FALSE(is_loopback_host(""));

    CHECK(parse_target("localhost:1883").address == "127.0.0.1");
    CHECK(parse_target("127.0.0.2:5").address == "127.0.0.2");
    refused({"--scenario", "fan-in", "--target", "192.168.1.1:1883"}, "only loopback");
    refused({"--scenario", "fan-in", "--target", "broker.example.com:1883"}, "only loopback");
    refused({"--scenario", "fan-in", "--target", "[2001:db8::1]:1883"}, "only loopback");
    refused({"--scenario", "fan-in", "--target", "127.0.0.1"}, "host:port");
    refused({"--scenario", "fan-in", "--target", "::1:1883"}, "host:port");
    refused({"--scenario", "fan-in", "--target", "127.0.0.1:0"}, "port");
    refused({"--scenario", "fan-in", "--target", "127.0.0.1:65536"}, "port");
    refused({"--scenario", "fan-in", "--target", "127.0.0.1:1x"}, "port");
    refused({"--scenario", "fan-in", "--target", "[::1]1883"}, "[address]:port");
}

TEST_CASE("options: every run is bounded") {
    refused({"--scenario", "fan-in", "--duration", "0"}, "--duration");
    refused({"--scenario", "fan-in", "--duration", "3601"}, "--duration");
    refused({"--scenario", "fan-in", "--duration", "nan"}, "--duration");
    refused({"--scenario", "fan-in", "--publishers", "100000"}, "at most 100000 connections");
    refused({"--scenario", "fan-in", "--publishers", "0"}, "--publishers");
    refused({"--scenario", "idle", "--connections", "100001"}, "--connections");
    refused({"--scenario", "pairs", "--pairs", "50001"}, "at most");
    CHECK(parse({"--scenario", "pairs", "--pairs", "50000"}).total_connections() == 100000);
    refused({"--scenario", "fan-in", "--threads", "0"}, "--threads");
    refused({"--scenario", "fan-in", "--threads", "257"}, "--threads");
    refused({"--scenario", "fan-in", "--drain", "61"}, "--drain");
}

TEST_CASE("options: values out of range and options that do not fit the scenario") {
    refused({}, "--scenario is required");
    refused({"--scenario", "fan-everywhere"}, "unknown --scenario");
    refused({"--scenario", "fan-in", "--qos", "3"}, "--qos");
    refused({"--scenario", "fan-in", "--mqtt", "3.1"}, "--mqtt");
    refused({"--scenario", "fan-in", "--payload", "15"}, "--payload");
    refused({"--scenario", "fan-in", "--payload", "131073"}, "--payload");
    refused({"--scenario", "fan-in", "--inflight", "0"}, "--inflight");
    refused({"--scenario", "fan-in", "--inflight", "65536"}, "--inflight");
    refused({"--scenario", "fan-in", "--rate", "-1"}, "--rate");
    refused({"--scenario", "latency", "--rate", "0"}, "--rate > 0");
    refused({"--scenario", "fan-in", "--subscribers", "3"}, "does not apply");
    refused({"--scenario", "fan-out", "--publishers", "3"}, "does not apply");
    refused({"--scenario", "fan-in", "--pairs", "3"}, "does not apply");
    refused({"--scenario", "fan-in", "--connections", "3"}, "does not apply");
    refused({"--scenario", "storm", "--rate", "3"}, "does not apply");
    refused({"--scenario", "idle", "--max-messages", "3"}, "does not apply");
    refused({"--scenario", "fan-in", "--topic-prefix", "a/b"}, "--topic-prefix");
    refused({"--scenario", "fan-in", "--keepalive", "65536"}, "--keepalive");
    refused({"--scenario", "fan-in", "--bogus"}, "bogus");
}

TEST_CASE("options: TLS is mutual and complete") {
    refused({"--scenario", "storm", "--tls"}, "--cafile, --cert and --key");
    refused({"--scenario", "storm", "--tls", "--cafile", "a", "--cert", "b"}, "--cafile");
    refused({"--scenario", "storm", "--cafile", "a"}, "--cafile needs --tls");
    refused({"--scenario", "storm", "--tls-version", "1.3"}, "needs --tls");
    refused({"--scenario",
             "storm",
             "--tls",
             "--cafile",
             "a",
             "--cert",
             "b",
             "--key",
             "c",
             "--tls-version",
             "1.1"},
            "--tls-version");
}

// "--scenario fan-in --compare --target A --target B" and then `more`.
std::vector<std::string> compare_args(std::vector<std::string> more) {
    std::vector<std::string> args{"--scenario", "fan-in", "--compare"};
    for (const char* t : {"127.0.0.1:1", "127.0.0.1:2"}) {
        args.insert(args.end(), {"--target", t});
    }
    args.insert(args.end(), more.begin(), more.end());
    return args;
}

TEST_CASE("options: compare needs two targets; pids match the targets") {
    auto o = parse(compare_args({"--rounds", "3", "--broker-pid", "10", "--broker-pid", "20"}));
    CHECK(o.compare);
    CHECK(o.rounds == 3);
    CHECK(o.targets.size() == 2);
    CHECK(o.broker_pids == std::vector<int>{10, 20});
    refused({"--scenario", "fan-in", "--compare", "--target", "127.0.0.1:1"}, "exactly two");
    refused({"--scenario", "fan-in", "--target", "127.0.0.1:1", "--target", "127.0.0.1:2"},
            "only with --compare");
    refused({"--scenario", "fan-in", "--rounds", "3"}, "--rounds needs --compare");
    refused(compare_args({"--rounds", "11"}), "--rounds");
    refused({"--scenario", "fan-in", "--broker-pid", "1", "--broker-pid", "2"}, "once per");
    refused({"--scenario", "fan-in", "--broker-pid", "0"}, "process id");
}

TEST_CASE("options: --help needs nothing else, and the usage text names every option") {
    CHECK(parse({"--help"}).help);
    const auto text = usage_text();
    for (const char* name :
         {"--scenario",   "--target",       "--mqtt",     "--qos",          "--payload",
          "--publishers", "--subscribers",  "--pairs",    "--connections",  "--rate",
          "--duration",   "--max-messages", "--inflight", "--threads",      "--tls",
          "--cafile",     "--cert",         "--key",      "--tls-version",  "--broker-pid",
          "--compare",    "--rounds",       "--drain",    "--topic-prefix", "--keepalive",
          "--quiet"}) {
        CAPTURE(name);
        CHECK(text.find(name) != std::string::npos);
    }
}

TEST_CASE("options: backlog defaults to QoS 1, 10 publishers and 100 000 messages") {
    const auto o = parse({"--scenario", "backlog"});
    CHECK(o.kind == scenario::backlog);
    CHECK(o.qos == mqtt::qos::at_least_once);
    CHECK(o.publishers == 10);
    CHECK(o.subscribers == 1);
    CHECK(o.max_messages == default_backlog_messages);
    CHECK(o.publishes());
    const auto q2 = parse(
            {"--scenario", "backlog", "--qos", "2", "--publishers", "3", "--max-messages", "500"});
    CHECK(q2.qos == mqtt::qos::exactly_once);
    CHECK(q2.publishers == 3);
    CHECK(q2.max_messages == 500);
}

TEST_CASE("options: backlog is bounded by a message count and needs QoS 1 or 2") {
    refused({"--scenario", "backlog", "--qos", "0"}, "QoS 0 is not kept offline");
    refused({"--scenario", "backlog", "--max-messages", "0"}, "--max-messages > 0");
    refused({"--scenario", "backlog", "--subscribers", "2"}, "does not apply");
    refused({"--scenario", "backlog", "--connections", "2"}, "does not apply");
}

} // namespace
} // namespace thinggate::bench
