#include "tools/bench/report.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <boost/json.hpp>

#include <fmt/format.h>

namespace thinggate::bench {

namespace json = boost::json;

namespace {

// Boost.JSON writes every double in exponent form ("2.5E3"); the line is for people too, so
// numbers are written in their shortest plain form ("2500", "0.125").
void write_value(const json::value& v, std::string& out) {
    switch (v.kind()) {
    case json::kind::double_: {
        const double d = v.get_double();
        if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e15) {
            out += fmt::format("{}", static_cast<long long>(d));
        } else if (std::isfinite(d)) {
            out += fmt::format("{}", d);
        } else {
            out += "null";
        }
        return;
    }
    case json::kind::object: {
        out += '{';
        bool first = true;
        for (const auto& kv : v.get_object()) {
            out += first ? "" : ",";
            first = false;
            out += json::serialize(json::string(kv.key()));
            out += ':';
            write_value(kv.value(), out);
        }
        out += '}';
        return;
    }
    case json::kind::array: {
        out += '[';
        bool first = true;
        for (const auto& e : v.get_array()) {
            out += first ? "" : ",";
            first = false;
            write_value(e, out);
        }
        out += ']';
        return;
    }
    default:
        out += json::serialize(v);
        return;
    }
}

std::string to_text(const json::object& o) {
    std::string out;
    write_value(o, out);
    return out;
}

double rounded(double v, double unit = 1000.0) {
    return std::isfinite(v) ? std::round(v * unit) / unit : 0.0;
}

double us(std::uint64_t ns) {
    return rounded(static_cast<double>(ns) / 1000.0);
}

double per_s(std::uint64_t n, double seconds) {
    return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

json::object params(const options& o) {
    json::object p;
    p["mqtt"] = o.version == mqtt::protocol_version::v5 ? "5" : "3.1.1";
    p["qos"] = static_cast<int>(o.qos);
    p["payload"] = o.payload;
    p["publishers"] = o.publishers;
    p["subscribers"] = o.subscribers;
    p["connections"] = o.total_connections();
    p["rate"] = o.rate;
    p["duration_s"] = o.duration_s;
    p["max_messages"] = o.max_messages;
    p["inflight"] = o.inflight;
    p["threads"] = o.threads;
    p["tls"] = o.tls;
    p["tls_version"] = o.tls ? json::value(to_string(o.tls_ver)) : json::value(nullptr);
    return p;
}

json::object latency_json(const latency_summary& l) {
    json::object j;
    j["count"] = l.count;
    j["p50"] = l.p50_us;
    j["p90"] = l.p90_us;
    j["p99"] = l.p99_us;
    j["p999"] = l.p999_us;
    j["max"] = l.max_us;
    j["mean"] = l.mean_us;
    return j;
}

// One figure of the comparison: its name and how to read it from a result.
struct figure {
    const char* name;
    double (*get)(const run_result&);
    bool applies; // false: the figure means nothing for this scenario
};

std::vector<figure> figures_for(const options& o) {
    const bool msgs = o.publishes();
    return {
            {"msgs_per_s_sent", [](const run_result& r) { return msgs_per_s_sent(r); }, msgs},
            {"msgs_per_s_delivered",
             [](const run_result& r) { return msgs_per_s_delivered(r); },
             msgs},
            {"p50_us", [](const run_result& r) { return r.latency.p50_us; }, true},
            {"p99_us", [](const run_result& r) { return r.latency.p99_us; }, true},
            {"connects_per_s",
             [](const run_result& r) { return connects_per_s(r); },
             o.kind == scenario::storm},
            {"bytes_per_connection",
             [](const run_result& r) { return bytes_per_connection(r).value_or(0.0); },
             o.kind == scenario::idle},
            {"msgs_per_s_stored",
             [](const run_result& r) { return msgs_per_s_stored(r); },
             o.kind == scenario::backlog},
            {"msgs_per_s_drained",
             [](const run_result& r) { return msgs_per_s_drained(r); },
             o.kind == scenario::backlog},
            {"msgs_per_broker_cpu_s",
             [](const run_result& r) { return msgs_per_broker_cpu_s(r).value_or(0.0); },
             msgs},
            {"connects_per_broker_cpu_s",
             [](const run_result& r) { return connects_per_broker_cpu_s(r).value_or(0.0); },
             o.kind == scenario::storm},
            {"broker_cpu_s",
             [](const run_result& r) { return r.broker_cpu_s.value_or(0.0); },
             true},
            {"tool_cpu_s", [](const run_result& r) { return r.tool_cpu_s; }, true},
    };
}

double median_of(const std::vector<run_result>& runs, double (*get)(const run_result&)) {
    std::vector<double> v;
    for (const auto& r : runs) {
        v.push_back(get(r));
    }
    return median(std::move(v));
}

} // namespace

latency_summary summarize(const histogram& h) {
    latency_summary s;
    s.count = h.count();
    s.p50_us = us(h.percentile(0.50));
    s.p90_us = us(h.percentile(0.90));
    s.p99_us = us(h.percentile(0.99));
    s.p999_us = us(h.percentile(0.999));
    s.max_us = us(h.max());
    s.mean_us = rounded(h.mean() / 1000.0);
    return s;
}

double msgs_per_s_sent(const run_result& r) noexcept {
    return per_s(r.sent, r.publish_s);
}

double msgs_per_s_delivered(const run_result& r) noexcept {
    return per_s(r.delivered, r.deliver_s);
}

double connects_per_s(const run_result& r) noexcept {
    return per_s(r.connects, r.connect_s);
}

std::optional<double> bytes_per_connection(const run_result& r) noexcept {
    if (!r.rss_before_kib || !r.rss_after_kib || !r.connections_held || *r.connections_held == 0) {
        return std::nullopt;
    }
    const double grown =
            (static_cast<double>(*r.rss_after_kib) - static_cast<double>(*r.rss_before_kib)) *
            1024.0;
    return grown / static_cast<double>(*r.connections_held);
}

std::optional<double> msgs_per_broker_cpu_s(const run_result& r) noexcept {
    if (!r.broker_cpu_s || *r.broker_cpu_s <= 0) {
        return std::nullopt;
    }
    return static_cast<double>(r.delivered) / *r.broker_cpu_s;
}

std::optional<double> connects_per_broker_cpu_s(const run_result& r) noexcept {
    if (!r.broker_cpu_s || *r.broker_cpu_s <= 0) {
        return std::nullopt;
    }
    return static_cast<double>(r.connects) / *r.broker_cpu_s;
}

double msgs_per_s_stored(const run_result& r) noexcept {
    return r.backlog ? per_s(r.backlog->stored, r.backlog->store_s) : 0.0;
}

double msgs_per_s_drained(const run_result& r) noexcept {
    return r.backlog ? per_s(r.backlog->drained, r.backlog->drain_s) : 0.0;
}

std::optional<std::uint64_t> parse_proc_stat_cpu_ticks(std::string_view text) noexcept {
    const auto close = text.rfind(')');
    if (close == std::string_view::npos) {
        return std::nullopt;
    }
    // After ")": field 3 (state) is the first; utime and stime are fields 14 and 15.
    std::size_t p = close + 1;
    std::uint64_t ticks = 0;
    for (int field = 3; field <= 15; ++field) {
        while (p < text.size() && text[p] == ' ') {
            ++p;
        }
        const std::size_t end = std::min(text.find(' ', p), text.size());
        if (p >= end) {
            return std::nullopt;
        }
        if (field >= 14) {
            std::uint64_t v = 0;
            const auto [stop, ec] = std::from_chars(text.data() + p, text.data() + end, v);
            if (ec != std::errc{} || stop != text.data() + end) {
                return std::nullopt;
            }
            ticks += v;
        }
        p = end;
    }
    return ticks;
}

double median(std::vector<double> values) {
    if (values.empty()) {
        return 0;
    }
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::string to_json(const options& o, const run_result& r) {
    json::object j;
    j["tool"] = "thinggate-bench";
    j["scenario"] = to_string(o.kind);
    j["target"] = r.target;
    j["round"] = r.round;
    j["params"] = params(o);
    j["publish_s"] = rounded(r.publish_s);
    j["deliver_s"] = rounded(r.deliver_s);
    j["sent"] = r.sent;
    j["acked"] = r.acked;
    j["delivered"] = r.delivered;
    j["expected"] = r.expected;
    j["msgs_per_s_sent"] = rounded(msgs_per_s_sent(r), 10);
    j["msgs_per_s_delivered"] = rounded(msgs_per_s_delivered(r), 10);
    const double mb = static_cast<double>(r.payload) / 1e6;
    j["mb_per_s_sent"] = rounded(msgs_per_s_sent(r) * mb);
    j["mb_per_s_delivered"] = rounded(msgs_per_s_delivered(r) * mb);
    j["latency_us"] = latency_json(r.latency);
    j["lost"] = r.lost;
    j["duplicates"] = r.duplicates;
    j["out_of_order"] = r.out_of_order;
    j["errors"] = r.errors;
    json::array samples;
    for (const auto& e : r.error_samples) {
        samples.emplace_back(e);
    }
    j["error_samples"] = std::move(samples);
    j["connects"] = r.connects;
    j["connect_s"] = rounded(r.connect_s);
    j["connects_per_s"] = rounded(connects_per_s(r), 10);
    if (r.rss_before_kib || r.rss_after_kib) {
        json::object m;
        m["rss_before_kib"] = r.rss_before_kib ? json::value(*r.rss_before_kib) : nullptr;
        m["rss_after_kib"] = r.rss_after_kib ? json::value(*r.rss_after_kib) : nullptr;
        m["connections"] = r.connections_held.value_or(0);
        const auto per = bytes_per_connection(r);
        m["bytes_per_connection"] = per ? json::value(rounded(*per, 1)) : nullptr;
        j["memory"] = std::move(m);
    } else {
        j["memory"] = nullptr;
    }
    j["measured_s"] = rounded(r.measured_s);
    j["broker_cpu_s"] = r.broker_cpu_s ? json::value(rounded(*r.broker_cpu_s)) : nullptr;
    j["tool_cpu_s"] = rounded(r.tool_cpu_s);
    auto pct = [&](double cpu) {
        return rounded(r.measured_s > 0 ? 100 * cpu / r.measured_s : 0, 10);
    };
    j["broker_cpu_pct"] = r.broker_cpu_s ? json::value(pct(*r.broker_cpu_s)) : nullptr;
    j["tool_cpu_pct"] = pct(r.tool_cpu_s);
    const auto per_cpu = msgs_per_broker_cpu_s(r);
    j["msgs_per_broker_cpu_s"] =
            per_cpu && o.publishes() ? json::value(rounded(*per_cpu, 10)) : nullptr;
    const auto conn_cpu = connects_per_broker_cpu_s(r);
    j["connects_per_broker_cpu_s"] =
            conn_cpu && o.kind == scenario::storm ? json::value(rounded(*conn_cpu, 10)) : nullptr;
    j["rx_queue_max_bytes"] = r.rx_queue_max;
    if (r.backlog) {
        json::object b;
        b["store_s"] = rounded(r.backlog->store_s);
        b["stored"] = r.backlog->stored;
        b["msgs_per_s_stored"] = rounded(msgs_per_s_stored(r), 10);
        b["reconnect_s"] = rounded(r.backlog->reconnect_s, 1e6);
        b["drain_s"] = rounded(r.backlog->drain_s);
        b["drained"] = r.backlog->drained;
        b["msgs_per_s_drained"] = rounded(msgs_per_s_drained(r), 10);
        j["backlog"] = std::move(b);
    } else {
        j["backlog"] = nullptr;
    }
    return to_text(j);
}

std::string
compare_json(const options& o, const std::vector<run_result>& a, const std::vector<run_result>& b) {
    json::object j;
    j["tool"] = "thinggate-bench";
    j["compare"] = true;
    j["scenario"] = to_string(o.kind);
    j["params"] = params(o);
    j["rounds"] = o.rounds;
    json::object ma;
    json::object mb;
    json::object ratio;
    ma["target"] = a.empty() ? "" : a.front().target;
    mb["target"] = b.empty() ? "" : b.front().target;
    for (const auto& f : figures_for(o)) {
        if (!f.applies) {
            continue;
        }
        const double va = median_of(a, f.get);
        const double vb = median_of(b, f.get);
        ma[f.name] = rounded(va);
        mb[f.name] = rounded(vb);
        ratio[f.name] = vb != 0 ? json::value(rounded(va / vb)) : json::value(nullptr);
    }
    auto sum = [](const std::vector<run_result>& runs, std::uint64_t run_result::*field) {
        std::uint64_t n = 0;
        for (const auto& r : runs) {
            n += r.*field;
        }
        return n;
    };
    ma["lost"] = sum(a, &run_result::lost);
    mb["lost"] = sum(b, &run_result::lost);
    ma["errors"] = sum(a, &run_result::errors);
    mb["errors"] = sum(b, &run_result::errors);
    j["a"] = std::move(ma);
    j["b"] = std::move(mb);
    j["ratio_a_over_b"] = std::move(ratio);
    return to_text(j);
}

std::string
compare_text(const options& o, const std::vector<run_result>& a, const std::vector<run_result>& b) {
    std::string out = fmt::format(
            "compare {} (medians of {} rounds): A = {}, B = {}\n",
            to_string(o.kind),
            o.rounds,
            a.empty() ? "" : a.front().target,
            b.empty() ? "" : b.front().target);
    for (const auto& f : figures_for(o)) {
        if (!f.applies) {
            continue;
        }
        const double va = median_of(a, f.get);
        const double vb = median_of(b, f.get);
        out += fmt::format("  {:<22} A {:>14.1f}  B {:>14.1f}  A/B ", f.name, va, vb);
        out += vb != 0 ? fmt::format("{:.3f}\n", va / vb) : std::string("-\n");
    }
    return out;
}

std::optional<std::uint64_t> parse_vm_rss_kib(std::string_view text) noexcept {
    constexpr std::string_view key = "VmRSS:";
    std::size_t at = text.find(key);
    while (at != std::string_view::npos && at != 0 && text[at - 1] != '\n') {
        at = text.find(key, at + 1);
    }
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    std::size_t p = at + key.size();
    while (p < text.size() && (text[p] == ' ' || text[p] == '\t')) {
        ++p;
    }
    std::uint64_t value = 0;
    const auto [end, ec] = std::from_chars(text.data() + p, text.data() + text.size(), value);
    if (ec != std::errc{} || end == text.data() + p) {
        return std::nullopt;
    }
    return value;
}

} // namespace thinggate::bench
