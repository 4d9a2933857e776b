// The JSON line and the comparison: every documented field present, derived figures right,
// broker RSS parsed from /proc/<pid>/status text.

#include "tools/bench/report.hpp"

#include <boost/json.hpp>
#include <doctest/doctest.h>

namespace thinggate::bench {
namespace {

namespace json = boost::json;

options make(std::vector<std::string> args) {
    return parse_options(args, 2);
}

run_result sample() {
    run_result r;
    r.target = "127.0.0.1:1883";
    r.publish_s = 2;
    r.deliver_s = 2.5;
    r.sent = 2000;
    r.acked = 2000;
    r.delivered = 2000;
    r.expected = 2000;
    r.payload = 1000;
    histogram h;
    for (int i = 1; i <= 100; ++i) {
        h.record(static_cast<std::uint64_t>(i) * 1000);
    }
    r.latency = summarize(h);
    return r;
}

TEST_CASE("report: the JSON line holds every documented field") {
    const auto o = make({"--scenario", "fan-in", "--qos", "1", "--payload", "1000"});
    const auto r = sample();
    const auto text = to_json(o, r);
    CHECK(text.find('\n') == std::string::npos);
    const auto v = json::parse(text).as_object();
    CHECK(v.at("tool").as_string() == "thinggate-bench");
    CHECK(v.at("scenario").as_string() == "fan-in");
    CHECK(v.at("target").as_string() == "127.0.0.1:1883");
    const auto& p = v.at("params").as_object();
    CHECK(p.at("qos").as_int64() == 1);
    CHECK(p.at("payload").to_number<int>() == 1000);
    CHECK(p.at("mqtt").as_string() == "5");
    CHECK(p.at("tls").as_bool() == false);
    CHECK(p.at("tls_version").is_null());
    CHECK(v.at("msgs_per_s_sent").to_number<double>() == doctest::Approx(1000));
    CHECK(v.at("msgs_per_s_delivered").to_number<double>() == doctest::Approx(800));
    CHECK(v.at("mb_per_s_sent").to_number<double>() == doctest::Approx(1.0));
    CHECK(v.at("mb_per_s_delivered").to_number<double>() == doctest::Approx(0.8));
    const auto& l = v.at("latency_us").as_object();
    for (const char* k : {"count", "p50", "p90", "p99", "p999", "max", "mean"}) {
        CAPTURE(k);
        CHECK(l.contains(k));
    }
    CHECK(l.at("p50").to_number<double>() == doctest::Approx(50).epsilon(0.01));
    CHECK(l.at("max").to_number<double>() == doctest::Approx(100));
    for (const char* k :
         {"sent",
          "acked",
          "delivered",
          "expected",
          "lost",
          "duplicates",
          "out_of_order",
          "errors",
          "error_samples",
          "connects",
          "connects_per_s",
          "publish_s",
          "deliver_s",
          "memory",
          "round"}) {
        CAPTURE(k);
        CHECK(v.contains(k));
    }
    CHECK(v.at("memory").is_null());
    // Numbers in plain form, not Boost.JSON's exponent form.
    CHECK(text.find("\"msgs_per_s_sent\":1000,") != std::string::npos);
    CHECK(text.find("\"duration_s\":10,") != std::string::npos);
    CHECK(text.find("\"deliver_s\":2.5,") != std::string::npos);
    CHECK(text.find("E0") == std::string::npos);
}

TEST_CASE("report: memory per connection from the broker's RSS") {
    auto r = sample();
    r.rss_before_kib = 10000;
    r.rss_after_kib = 20000;
    r.connections_held = 1000;
    CHECK(bytes_per_connection(r).value() == doctest::Approx(10240.0));
    const auto v = json::parse(to_json(make({"--scenario", "idle"}), r)).as_object();
    const auto& m = v.at("memory").as_object();
    CHECK(m.at("bytes_per_connection").to_number<double>() == doctest::Approx(10240.0));
    CHECK(m.at("connections").to_number<int>() == 1000);
    r.connections_held = 0;
    CHECK_FALSE(bytes_per_connection(r).has_value());
}

TEST_CASE("report: VmRSS from /proc/<pid>/status text") {
    const std::string status = "Name:\tmosquitto\nVmPeak:\t  12000 kB\nVmRSS:\t    6512 kB\n"
                               "RssAnon:\t 1000 kB\n";
    CHECK(parse_vm_rss_kib(status).value() == 6512);
    CHECK_FALSE(parse_vm_rss_kib("Name:\tx\n").has_value());
    CHECK_FALSE(parse_vm_rss_kib("VmRSS:\t kB\n").has_value());
    CHECK_FALSE(parse_vm_rss_kib("XVmRSS: 5 kB\n").has_value()); // the key starts a line
}

TEST_CASE("report: median and the comparison A/B") {
    CHECK(median({}) == 0);
    CHECK(median({3, 1, 2}) == 2);
    CHECK(median({4, 1, 3, 2}) == 2.5);
    const auto o =
            make({"--scenario",
                  "fan-in",
                  "--compare",
                  "--target",
                  "127.0.0.1:1",
                  "--target",
                  "127.0.0.1:2"});
    auto a1 = sample();
    auto a2 = sample();
    a2.delivered = 4000; // 1600/s
    auto b1 = sample();
    b1.target = "127.0.0.1:2";
    b1.delivered = 1000; // 400/s
    auto b2 = b1;
    b2.lost = 5;
    const auto v = json::parse(compare_json(o, {a1, a2}, {b1, b2})).as_object();
    CHECK(v.at("compare").as_bool());
    CHECK(v.at("a").at("msgs_per_s_delivered").to_number<double>() == doctest::Approx(1200));
    CHECK(v.at("b").at("msgs_per_s_delivered").to_number<double>() == doctest::Approx(400));
    CHECK(v.at("ratio_a_over_b").at("msgs_per_s_delivered").to_number<double>() ==
          doctest::Approx(3));
    CHECK(v.at("b").at("lost").to_number<int>() == 5);
    CHECK_FALSE(v.at("ratio_a_over_b").as_object().contains("connects_per_s"));
    const auto text = compare_text(o, {a1, a2}, {b1, b2});
    CHECK(text.find("msgs_per_s_delivered") != std::string::npos);
    CHECK(text.find("3.000") != std::string::npos);
}

TEST_CASE("report: CPU ticks from /proc/<pid>/stat (utime + stime, fields 14 and 15)") {
    // A command name with spaces and a ')' must not shift the fields.
    const std::string stat =
            "4242 (thing gate) (x)) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 3 0 "
            "1000 100000000 2000 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 0 0 0 0 0 0\n";
    CHECK(parse_proc_stat_cpu_ticks(stat) == 325u);
    CHECK(parse_proc_stat_cpu_ticks("1 (init) S 0 1 1 0 -1 0 0 0 0 0 7 8") == 15u);
    CHECK_FALSE(parse_proc_stat_cpu_ticks("").has_value());
    CHECK_FALSE(parse_proc_stat_cpu_ticks("1 (init) S 0 1 1 0 -1 0 0 0 0 0 7").has_value());
    CHECK_FALSE(parse_proc_stat_cpu_ticks("1 (init) S 0 1 1 0 -1 0 0 0 0 0 x 8").has_value());
    CHECK_FALSE(parse_proc_stat_cpu_ticks("no parenthesis here 1 2 3").has_value());
}

TEST_CASE("report: CPU seconds and figures per broker CPU second") {
    const auto o = make({"--scenario", "fan-in", "--qos", "1"});
    auto r = sample();
    CHECK_FALSE(msgs_per_broker_cpu_s(r).has_value());
    auto v = json::parse(to_json(o, r)).as_object();
    CHECK(v.at("broker_cpu_s").is_null());
    CHECK(v.at("msgs_per_broker_cpu_s").is_null());
    CHECK(v.at("backlog").is_null());
    r.measured_s = 4;
    r.broker_cpu_s = 0.5;
    r.tool_cpu_s = 4;
    r.rx_queue_max = 1234;
    CHECK(*msgs_per_broker_cpu_s(r) == doctest::Approx(4000));
    v = json::parse(to_json(o, r)).as_object();
    CHECK(v.at("broker_cpu_s").to_number<double>() == doctest::Approx(0.5));
    CHECK(v.at("tool_cpu_s").to_number<double>() == doctest::Approx(4));
    CHECK(v.at("measured_s").to_number<double>() == doctest::Approx(4));
    CHECK(v.at("broker_cpu_pct").to_number<double>() == doctest::Approx(12.5));
    CHECK(v.at("tool_cpu_pct").to_number<double>() == doctest::Approx(100));
    CHECK(v.at("msgs_per_broker_cpu_s").to_number<double>() == doctest::Approx(4000));
    CHECK(v.at("connects_per_broker_cpu_s").is_null());
    CHECK(v.at("rx_queue_max_bytes").to_number<int>() == 1234);

    const auto storm = make({"--scenario", "storm"});
    run_result s;
    s.connects = 900;
    s.connect_s = 1;
    s.broker_cpu_s = 0.9;
    v = json::parse(to_json(storm, s)).as_object();
    CHECK(v.at("connects_per_broker_cpu_s").to_number<double>() == doctest::Approx(1000));
    CHECK(v.at("msgs_per_broker_cpu_s").is_null());
}

TEST_CASE("report: backlog figures, and the comparison's medians per broker CPU second") {
    const auto o = make({"--scenario", "backlog", "--max-messages", "2000"});
    auto r = sample();
    r.broker_cpu_s = 1;
    r.backlog = backlog_result{0.5, 0.001, 0.25, 2000, 2000};
    CHECK(msgs_per_s_stored(r) == doctest::Approx(4000));
    CHECK(msgs_per_s_drained(r) == doctest::Approx(8000));
    const auto v = json::parse(to_json(o, r)).as_object();
    const auto& b = v.at("backlog").as_object();
    CHECK(b.at("stored").to_number<int>() == 2000);
    CHECK(b.at("drained").to_number<int>() == 2000);
    CHECK(b.at("msgs_per_s_stored").to_number<double>() == doctest::Approx(4000));
    CHECK(b.at("msgs_per_s_drained").to_number<double>() == doctest::Approx(8000));
    CHECK(b.at("reconnect_s").to_number<double>() == doctest::Approx(0.001));

    auto slower = r;
    slower.broker_cpu_s = 4;
    slower.backlog->drain_s = 1;
    const auto c = json::parse(compare_json(o, {r}, {slower})).as_object();
    const auto& ratio = c.at("ratio_a_over_b").as_object();
    CHECK(ratio.at("msgs_per_broker_cpu_s").to_number<double>() == doctest::Approx(4));
    CHECK(ratio.at("msgs_per_s_drained").to_number<double>() == doctest::Approx(4));
    CHECK(ratio.at("msgs_per_s_stored").to_number<double>() == doctest::Approx(1));
    CHECK(c.at("a").as_object().at("broker_cpu_s").to_number<double>() == doctest::Approx(1));
    CHECK(c.at("b").as_object().contains("tool_cpu_s"));
    // Without --broker-pid the per-CPU ratio has nothing to divide by.
    auto no_pid = r;
    no_pid.broker_cpu_s.reset();
    const auto n = json::parse(compare_json(o, {r}, {no_pid})).as_object();
    CHECK(n.at("ratio_a_over_b").as_object().at("msgs_per_broker_cpu_s").is_null());
}

} // namespace
} // namespace thinggate::bench
