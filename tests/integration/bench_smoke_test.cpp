// Smoke test of thinggate-bench against the real daemon: every scenario for ~2 s, over TCP and
// mutual TLS, MQTT 3.1.1 and 5, QoS 0..2. Checks that the JSON line parses, messages were
// delivered, nothing was lost at QoS 1/2 and no errors were counted. (Figures are not asserted:
// they come from scripts/bench-compare.sh and are written down in docs/performance.md.)

#include <algorithm>
#include <string>
#include <vector>

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include "daemon.hpp"

using namespace thinggate::integration;
namespace json = boost::json;

#ifdef THINGGATE_BENCH_BINARY

namespace {

struct smoke_case {
    const char* name;
    std::vector<std::string> args;
    bool tls = false;
    bool must_not_lose = false; ///< QoS 1/2
    bool publishes = true;
};

// The last line of the output that is a JSON object (stdout and stderr share the pipe).
json::object last_json(const std::string& output) {
    std::size_t end = output.size();
    while (end > 0) {
        const auto begin = output.rfind('\n', end - 1);
        const auto from = begin == std::string::npos ? 0 : begin + 1;
        const auto line = output.substr(from, end - from);
        if (line.starts_with("{\"tool\"")) {
            return json::parse(line).as_object();
        }
        if (begin == std::string::npos) {
            break;
        }
        end = begin;
    }
    FAIL("no JSON line in the output:\n", output);
    return {};
}

std::uint64_t u(const json::object& o, const char* key) {
    return o.at(key).to_number<std::uint64_t>();
}

} // namespace

TEST_CASE("thinggate-bench: every scenario runs against the daemon and counts right") {
    gateway d;
    const auto& pki = test_pki::shared();
    const std::vector<smoke_case> cases = {
            {"fan-in QoS 0 v5 TCP",
             // Paced: an unpaced QoS 0 flood makes the daemon (rightly, slow_consumer =
             // "disconnect") drop the subscriber, which is a figure, not a smoke failure.
             {"--scenario",
              "fan-in",
              "--publishers",
              "5",
              "--qos",
              "0",
              "--payload",
              "64",
              "--rate",
              "5000"}},
            {"fan-out QoS 1 3.1.1 TCP",
             {"--scenario",
              "fan-out",
              "--subscribers",
              "5",
              "--qos",
              "1",
              "--mqtt",
              "3.1.1",
              "--rate",
              "2000",
              "--payload",
              "4096"},
             false,
             true},
            {"fan-out QoS 1 v5 TCP 32 KiB (payloads dropped in the kernel after the stamp)",
             {"--scenario",
              "fan-out",
              "--subscribers",
              "3",
              "--qos",
              "1",
              "--rate",
              "500",
              "--payload",
              "32768"},
             false,
             true},
            {"pairs QoS 2 v5 mTLS",
             {"--scenario",
              "pairs",
              "--pairs",
              "3",
              "--qos",
              "2",
              "--rate",
              "1500",
              "--payload",
              "1024"},
             true,
             true},
            {"latency QoS 1 v5 TCP",
             {"--scenario", "latency", "--qos", "1", "--rate", "500"},
             false,
             true},
            {"storm mTLS 1.3",
             {"--scenario", "storm", "--connections", "2", "--tls-version", "1.3"},
             true,
             false,
             false},
            {"backlog QoS 1 v5 TCP (offline persistent session, RocksDB)",
             {"--scenario",
              "backlog",
              "--publishers",
              "3",
              "--max-messages",
              "1500",
              "--rate",
              "1500",
              "--broker-pid",
              std::to_string(d.pid())},
             false,
             true},
            {"backlog QoS 2 3.1.1 mTLS",
             {"--scenario",
              "backlog",
              "--publishers",
              "2",
              "--qos",
              "2",
              "--mqtt",
              "3.1.1",
              "--max-messages",
              "600",
              "--rate",
              "600"},
             true,
             true},
            {"idle TCP with broker memory",
             {"--scenario", "idle", "--connections", "50", "--broker-pid", std::to_string(d.pid())},
             false,
             false,
             false},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        std::vector<std::string> argv{
                THINGGATE_BENCH_BINARY,
                "--duration",
                "2",
                "--threads",
                "2",
                "--drain",
                "5",
                "--quiet"};
        argv.insert(argv.end(), c.args.begin(), c.args.end());
        if (c.tls) {
            argv.insert(
                    argv.end(),
                    {"--target",
                     "127.0.0.1:" + std::to_string(d.tls_port()),
                     "--tls",
                     "--cafile",
                     pki.ca.string(),
                     "--cert",
                     pki.client(0).cert.string(),
                     "--key",
                     pki.client(0).key.string()});
        } else {
            argv.insert(argv.end(), {"--target", "127.0.0.1:" + std::to_string(d.tcp_port())});
        }
        const auto res = run_command(argv, std::chrono::seconds(60));
        INFO(res.output);
        REQUIRE_FALSE(res.timed_out);
        CHECK(res.exit_code == 0);
        const auto j = last_json(res.output);
        CHECK(u(j, "errors") == 0);
        CHECK(j.at("error_samples").as_array().empty());
        CHECK(j.at("tool_cpu_s").to_number<double>() > 0);
        const bool with_pid =
                std::find(c.args.begin(), c.args.end(), "--broker-pid") != c.args.end();
        CHECK(j.at("broker_cpu_s").is_null() == !with_pid);
        if (with_pid && c.publishes) {
            CHECK(j.at("msgs_per_broker_cpu_s").to_number<double>() > 0);
        }
        if (c.publishes) {
            CHECK(u(j, "sent") > 0);
            CHECK(u(j, "delivered") > 0);
            CHECK(u(j, "delivered") + u(j, "lost") == u(j, "expected"));
            CHECK(u(j, "duplicates") == 0);
            CHECK(j.at("latency_us").at("count").to_number<std::uint64_t>() == u(j, "delivered"));
            CHECK(j.at("latency_us").at("p99").to_number<double>() > 0);
            if (c.must_not_lose) {
                CHECK(u(j, "lost") == 0);
                CHECK(u(j, "acked") == u(j, "sent"));
            }
            if (j.at("scenario").as_string() == "backlog") {
                // Everything was stored while the subscriber was away, and came after it was back.
                const auto& b = j.at("backlog").as_object();
                CHECK(u(j, "sent") == u(j.at("params").as_object(), "max_messages"));
                CHECK(u(b, "stored") == u(j, "sent"));
                CHECK(u(b, "drained") == u(j, "delivered"));
                CHECK(b.at("msgs_per_s_drained").to_number<double>() > 0);
                CHECK(u(j, "out_of_order") == 0);
            }
        } else if (std::string(c.name).starts_with("storm")) {
            CHECK(u(j, "connects") > 0);
            CHECK(j.at("connects_per_s").to_number<double>() > 0);
        } else {
            CHECK(u(j, "connects") == 50);
            const auto& m = j.at("memory").as_object();
            CHECK(m.at("connections").to_number<int>() == 50);
            CHECK(m.at("rss_after_kib").to_number<std::uint64_t>() > 0);
        }
    }
    // The refusals are usage errors (exit 2) before anything connects.
    auto refused = run_command(
            {THINGGATE_BENCH_BINARY, "--scenario", "fan-in", "--target", "192.0.2.1:1883"});
    CHECK(refused.exit_code == 2);
    CHECK(refused.output.find("only loopback") != std::string::npos);
}

#else

TEST_CASE("thinggate-bench smoke: skipped, the tool is not built") {
    MESSAGE("THINGGATE_BENCH_BINARY is not defined");
}

#endif
