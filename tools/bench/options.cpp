#include "tools/bench/options.hpp"

#include <array>
#include <charconv>
#include <cmath>
#include <sstream>

#include <boost/program_options.hpp>

#include <arpa/inet.h>

namespace thinggate::bench {

namespace po = boost::program_options;

namespace {

constexpr std::array<std::pair<std::string_view, scenario>, 7> scenario_names = {{
        {"fan-in", scenario::fan_in},
        {"fan-out", scenario::fan_out},
        {"pairs", scenario::pairs},
        {"latency", scenario::latency},
        {"storm", scenario::storm},
        {"idle", scenario::idle},
        {"backlog", scenario::backlog},
}};

po::options_description describe() {
    po::options_description d("options");
    d.add_options()(
            "scenario",
            po::value<std::string>(),
            "fan-in | fan-out | pairs | latency | storm | idle | backlog (required)")(
            "target",
            po::value<std::vector<std::string>>(),
            "broker host:port, loopback only (127.0.0.0/8, ::1, localhost); twice with "
            "--compare (default 127.0.0.1:1883)")(
            "mqtt", po::value<std::string>()->default_value("5"), "protocol: 3.1.1 or 5")(
            "qos", po::value<int>()->default_value(0), "0, 1 or 2")(
            "payload",
            po::value<std::uint64_t>()->default_value(64),
            "payload bytes, 16 .. 131072 (the first 16 carry the stamp)")(
            "publishers",
            po::value<std::uint32_t>(),
            "fan-in: publishers (default 100); backlog: publishers (default 10)")(
            "subscribers", po::value<std::uint32_t>(), "fan-out: subscribers (default 100)")(
            "pairs",
            po::value<std::uint32_t>(),
            "pairs: publisher/subscriber pairs (default 10; latency: 1)")(
            "connections",
            po::value<std::uint32_t>(),
            "storm: concurrent connectors (default 10); idle: connections held (default 1000)")(
            "rate",
            po::value<double>(),
            "total PUBLISH/s over all publishers, paced from the intended send times; "
            "0 = as fast as possible (default 0; latency: 1000)")(
            "duration",
            po::value<double>()->default_value(10),
            "seconds of publishing / storming / holding, 0.5 .. 3600")(
            "max-messages",
            po::value<std::uint64_t>()->default_value(0),
            "stop after this many PUBLISH in total (0 = only --duration; backlog: default "
            "100000, 0 not allowed)")(
            "inflight",
            po::value<std::uint32_t>()->default_value(64),
            "QoS 1/2 window per publisher, 1 .. 65535 (lowered to the broker's Receive Maximum)")(
            "threads",
            po::value<unsigned>(),
            "threads, each with its own event loop (default: one per core)")(
            "tls", "mutual TLS (needs --cafile, --cert, --key)")(
            "cafile", po::value<std::string>(), "CA bundle (PEM) to verify the broker")(
            "cert", po::value<std::string>(), "client certificate (PEM)")(
            "key", po::value<std::string>(), "client private key (PEM)")(
            "tls-version", po::value<std::string>(), "1.2, 1.3 or any (default any)")(
            "broker-pid",
            po::value<std::vector<int>>(),
            "broker process id, for its RSS (/proc/<pid>/status); once per --target")(
            "compare", "run against two --target brokers A B A B ... and print the ratio A/B")(
            "rounds",
            po::value<unsigned>()->default_value(2),
            "--compare: rounds of A then B, 1 .. 10")(
            "drain",
            po::value<double>()->default_value(5),
            "seconds to wait for outstanding deliveries after publishing stops, 0 .. 60")(
            "topic-prefix",
            po::value<std::string>()->default_value("tgbench"),
            "first topic level (a random run id follows)")(
            "keepalive",
            po::value<unsigned>()->default_value(60),
            "MQTT keep-alive seconds, 0 .. 65535")("quiet", "no progress lines on stderr")(
            "help,h", "this help");
    return d;
}

template <typename T>
T get(const po::variables_map& vm, const char* name) {
    return vm[name].as<T>();
}

void require(bool ok, const std::string& message) {
    if (!ok) {
        throw usage_error(message);
    }
}

void refuse_unless(const po::variables_map& vm, const char* name, bool allowed, scenario s) {
    require(allowed || vm.count(name) == 0 || vm[name].defaulted(),
            "--" + std::string(name) + " does not apply to scenario " + std::string(to_string(s)));
}

std::uint32_t count_option(const po::variables_map& vm, const char* name, std::uint32_t fallback) {
    const std::uint32_t n = vm.count(name) != 0 ? get<std::uint32_t>(vm, name) : fallback;
    require(n >= 1 && n <= max_connections,
            "--" + std::string(name) + " must be between 1 and " + std::to_string(max_connections));
    return n;
}

void resolve_counts(const po::variables_map& vm, options& o) {
    const bool pairs_like = o.kind == scenario::pairs || o.kind == scenario::latency;
    refuse_unless(
            vm, "publishers", o.kind == scenario::fan_in || o.kind == scenario::backlog, o.kind);
    refuse_unless(vm, "subscribers", o.kind == scenario::fan_out, o.kind);
    refuse_unless(vm, "pairs", pairs_like, o.kind);
    refuse_unless(vm, "connections", !o.publishes(), o.kind);
    refuse_unless(vm, "rate", o.publishes(), o.kind);
    refuse_unless(vm, "max-messages", o.publishes(), o.kind);
    switch (o.kind) {
    case scenario::fan_in:
        o.publishers = count_option(vm, "publishers", 100);
        o.subscribers = 1;
        break;
    case scenario::fan_out:
        o.publishers = 1;
        o.subscribers = count_option(vm, "subscribers", 100);
        break;
    case scenario::pairs:
    case scenario::latency:
        o.publishers = count_option(vm, "pairs", o.kind == scenario::latency ? 1 : 10);
        o.subscribers = o.publishers;
        break;
    case scenario::backlog:
        o.publishers = count_option(vm, "publishers", 10);
        o.subscribers = 1;
        break;
    case scenario::storm:
        o.connections = count_option(vm, "connections", 10);
        break;
    case scenario::idle:
        o.connections = count_option(vm, "connections", 1000);
        break;
    }
    require(o.total_connections() <= max_connections,
            "at most " + std::to_string(max_connections) + " connections per run, asked for " +
                    std::to_string(o.total_connections()));
}

void resolve_tls(const po::variables_map& vm, options& o) {
    o.tls = vm.count("tls") != 0;
    for (const char* name : {"cafile", "cert", "key", "tls-version"}) {
        require(o.tls || vm.count(name) == 0, "--" + std::string(name) + " needs --tls");
    }
    if (!o.tls) {
        return;
    }
    require(vm.count("cafile") != 0 && vm.count("cert") != 0 && vm.count("key") != 0,
            "--tls is mutual TLS: give --cafile, --cert and --key");
    o.ca_file = get<std::string>(vm, "cafile");
    o.cert_file = get<std::string>(vm, "cert");
    o.key_file = get<std::string>(vm, "key");
    if (vm.count("tls-version") != 0) {
        const auto v = get<std::string>(vm, "tls-version");
        if (v == "1.2") {
            o.tls_ver = tls_version::v1_2;
        } else if (v == "1.3") {
            o.tls_ver = tls_version::v1_3;
        } else {
            require(v == "any", "--tls-version must be 1.2, 1.3 or any, got '" + v + "'");
        }
    }
}

void resolve_targets(const po::variables_map& vm, options& o) {
    std::vector<std::string> texts;
    if (vm.count("target") != 0) {
        texts = get<std::vector<std::string>>(vm, "target");
    } else {
        texts.emplace_back("127.0.0.1:1883");
    }
    for (const auto& t : texts) {
        o.targets.push_back(parse_target(t));
    }
    o.compare = vm.count("compare") != 0;
    if (o.compare) {
        require(o.targets.size() == 2, "--compare needs exactly two --target");
        o.rounds = get<unsigned>(vm, "rounds");
        require(o.rounds >= 1 && o.rounds <= 10, "--rounds must be between 1 and 10");
    } else {
        require(o.targets.size() == 1, "one --target (two only with --compare)");
        require(vm["rounds"].defaulted(), "--rounds needs --compare");
    }
    if (vm.count("broker-pid") != 0) {
        o.broker_pids = get<std::vector<int>>(vm, "broker-pid");
        require(o.broker_pids.size() == o.targets.size(),
                "give --broker-pid once per --target, in the same order");
        for (int pid : o.broker_pids) {
            require(pid > 0, "--broker-pid must be a process id, got " + std::to_string(pid));
        }
    }
}

} // namespace

std::string_view to_string(scenario s) noexcept {
    for (const auto& [name, value] : scenario_names) {
        if (value == s) {
            return name;
        }
    }
    return "?";
}

std::optional<scenario> parse_scenario(std::string_view text) noexcept {
    for (const auto& [name, value] : scenario_names) {
        if (name == text) {
            return value;
        }
    }
    return std::nullopt;
}

std::string_view to_string(tls_version v) noexcept {
    switch (v) {
    case tls_version::v1_2:
        return "1.2";
    case tls_version::v1_3:
        return "1.3";
    case tls_version::any:
        break;
    }
    return "any";
}

std::uint64_t options::total_connections() const noexcept {
    return publishes() ? std::uint64_t{publishers} + subscribers : connections;
}

bool options::publishes() const noexcept {
    return kind != scenario::storm && kind != scenario::idle;
}

bool is_loopback_host(std::string_view host) noexcept {
    if (host == "localhost") {
        return true;
    }
    const std::string h(host);
    in_addr v4{};
    if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) {
        return (ntohl(v4.s_addr) >> 24) == 127;
    }
    in6_addr v6{};
    if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) {
        static constexpr in6_addr loopback = IN6ADDR_LOOPBACK_INIT;
        return std::equal(
                std::begin(v6.s6_addr), std::end(v6.s6_addr), std::begin(loopback.s6_addr));
    }
    return false;
}

target parse_target(std::string_view text) {
    target t;
    t.text = std::string(text);
    std::string_view host;
    std::string_view port;
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        require(close != std::string_view::npos && close + 1 < text.size() &&
                        text[close + 1] == ':',
                "--target '" + t.text + "': expected [address]:port");
        host = text.substr(1, close - 1);
        port = text.substr(close + 2);
    } else {
        const auto colon = text.rfind(':');
        require(colon != std::string_view::npos && text.find(':') == colon,
                "--target '" + t.text + "': expected host:port (IPv6 as [::1]:port)");
        host = text.substr(0, colon);
        port = text.substr(colon + 1);
    }
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    require(ec == std::errc{} && end == port.data() + port.size() && value >= 1 && value <= 65535,
            "--target '" + t.text + "': port must be 1 .. 65535");
    require(is_loopback_host(host),
            "--target '" + t.text +
                    "': only loopback brokers (127.0.0.0/8, ::1, localhost) may be loaded");
    t.host = std::string(host);
    t.address = host == "localhost" ? "127.0.0.1" : t.host;
    t.port = static_cast<std::uint16_t>(value);
    return t;
}

options parse_options(const std::vector<std::string>& args, unsigned hardware_threads) {
    const auto desc = describe();
    po::variables_map vm;
    try {
        po::store(po::command_line_parser(args).options(desc).run(), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        throw usage_error(e.what());
    }
    options o;
    if (vm.count("help") != 0) {
        o.help = true;
        return o;
    }
    require(vm.count("scenario") != 0, "--scenario is required");
    const auto kind = parse_scenario(get<std::string>(vm, "scenario"));
    require(kind.has_value(),
            "unknown --scenario '" + get<std::string>(vm, "scenario") +
                    "' (fan-in, fan-out, pairs, latency, storm, idle, backlog)");
    o.kind = *kind;

    const auto version = get<std::string>(vm, "mqtt");
    if (version == "3.1.1" || version == "311" || version == "4") {
        o.version = mqtt::protocol_version::v311;
    } else {
        require(version == "5" || version == "5.0", "--mqtt must be 3.1.1 or 5");
    }
    const bool backlog = o.kind == scenario::backlog;
    const int q = vm["qos"].defaulted() && backlog ? 1 : get<int>(vm, "qos");
    require(q >= 0 && q <= 2, "--qos must be 0, 1 or 2");
    require(q >= 1 || !backlog, "scenario backlog needs --qos 1 or 2 (QoS 0 is not kept offline)");
    o.qos = static_cast<mqtt::qos>(q);
    const auto payload = get<std::uint64_t>(vm, "payload");
    require(payload >= min_payload && payload <= max_payload,
            "--payload must be between 16 and 131072 bytes (the stamp takes 16)");
    o.payload = static_cast<std::size_t>(payload);

    resolve_counts(vm, o);

    o.rate = vm.count("rate") != 0 ? get<double>(vm, "rate")
                                   : (o.kind == scenario::latency ? 1000.0 : 0.0);
    require(std::isfinite(o.rate) && o.rate >= 0 && o.rate <= 1e8,
            "--rate must be between 0 and 1e8 messages/s");
    require(o.kind != scenario::latency || o.rate > 0, "scenario latency needs --rate > 0");
    o.duration_s = get<double>(vm, "duration");
    require(std::isfinite(o.duration_s) && o.duration_s >= 0.5 && o.duration_s <= max_duration_s,
            "--duration must be between 0.5 and 3600 seconds");
    o.max_messages = get<std::uint64_t>(vm, "max-messages");
    if (backlog) {
        if (vm["max-messages"].defaulted()) {
            o.max_messages = default_backlog_messages;
        }
        require(o.max_messages > 0,
                "scenario backlog needs --max-messages > 0 (the broker must hold all of them)");
    }
    o.inflight = get<std::uint32_t>(vm, "inflight");
    require(o.inflight >= 1 && o.inflight <= 65535, "--inflight must be between 1 and 65535");
    o.threads = vm.count("threads") != 0 ? get<unsigned>(vm, "threads")
                                         : std::max(1u, hardware_threads);
    require(o.threads >= 1 && o.threads <= max_threads, "--threads must be between 1 and 256");
    o.drain_s = get<double>(vm, "drain");
    require(std::isfinite(o.drain_s) && o.drain_s >= 0 && o.drain_s <= 60,
            "--drain must be between 0 and 60 seconds");
    o.topic_prefix = get<std::string>(vm, "topic-prefix");
    require(!o.topic_prefix.empty() && o.topic_prefix.size() <= 64 &&
                    o.topic_prefix.find_first_of("+#/") == std::string::npos,
            "--topic-prefix must be 1 .. 64 characters without '/', '+' or '#'");
    const unsigned keep_alive = get<unsigned>(vm, "keepalive");
    require(keep_alive <= 65535, "--keepalive must be between 0 and 65535");
    o.keep_alive = static_cast<std::uint16_t>(keep_alive);
    o.quiet = vm.count("quiet") != 0;

    resolve_tls(vm, o);
    resolve_targets(vm, o);
    return o;
}

std::string usage_text() {
    std::ostringstream out;
    out << "usage: thinggate-bench --scenario NAME [--target HOST:PORT] [options]\n"
           "       thinggate-bench --compare --target A --target B --scenario NAME [options]\n\n"
           "MQTT load generator for loopback brokers. Progress on stderr once per second; one\n"
           "JSON line with the figures on stdout (with --compare: one per run, then the\n"
           "comparison). Reference: docs/performance.md, section \"Load tool\".\n\n"
        << describe();
    return out.str();
}

} // namespace thinggate::bench
