#pragma once
// tools/bench/options: the load tool's command line, parsed and validated before anything
// connects: scenarios, bounds (duration, message count, connection cap), loopback-only targets.
// Owns: option names, defaults and limits. Must not use: I/O beyond reading argv.
// Thread safety: plain values.

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "mqtt/packet.hpp"

namespace thinggate::bench {

enum class scenario {
    fan_in,  ///< N publishers -> 1 subscriber
    fan_out, ///< 1 publisher -> N subscribers
    pairs,   ///< N publisher/subscriber pairs, each on its own topic
    latency, ///< pairs at a fixed total rate (default 1 pair, 1000 msgs/s)
    storm,   ///< connect + CONNACK + disconnect in a loop (full TLS handshakes with --tls)
    idle,    ///< N idle connections; broker memory per connection with --broker-pid
    backlog, ///< QoS 1/2 to an offline persistent session: store, then reconnect and drain
};

std::string_view to_string(scenario s) noexcept;
std::optional<scenario> parse_scenario(std::string_view text) noexcept;

enum class tls_version {
    any, ///< TLS 1.2 or 1.3, as negotiated
    v1_2,
    v1_3,
};

std::string_view to_string(tls_version v) noexcept;

/// A broker address: as written, and the numeric loopback address to connect to.
struct target {
    std::string text;    ///< "127.0.0.1:1883", "[::1]:1883", "localhost:1883"
    std::string host;    ///< "127.0.0.1", "::1", "localhost"
    std::string address; ///< numeric: "localhost" becomes "127.0.0.1"
    std::uint16_t port = 0;
};

/// Hard limits (a run is always bounded).
inline constexpr std::uint64_t default_backlog_messages = 100'000;
/// Session Expiry Interval (MQTT 5) of the backlog scenario's persistent session, seconds.
inline constexpr std::uint32_t backlog_session_expiry_s = 3600;
inline constexpr std::uint32_t max_connections = 100'000;
inline constexpr double max_duration_s = 3600;
inline constexpr std::size_t min_payload = 16; // the stamp
inline constexpr std::size_t max_payload = 128 * 1024;
inline constexpr unsigned max_threads = 256;

struct options {
    bench::scenario kind = scenario::fan_in;
    std::vector<target> targets;
    mqtt::protocol_version version = mqtt::protocol_version::v5;
    mqtt::qos qos = mqtt::qos::at_most_once;
    std::size_t payload = 64;
    std::uint32_t publishers = 0;  ///< fan-in, backlog: N; fan-out: 1; pairs/latency: N
    std::uint32_t subscribers = 0; ///< fan-in, backlog: 1; fan-out: N; pairs/latency: N
    std::uint32_t connections = 0; ///< storm: concurrent connectors; idle: connections held
    double rate = 0;               ///< total PUBLISH/s over all publishers; 0 = as fast as possible
    double duration_s = 10;
    std::uint64_t max_messages = 0; ///< total over all publishers; 0 = only the duration bounds it
                                    ///< (backlog: default 100 000, never 0)
    std::uint32_t inflight = 64;    ///< QoS 1/2 window per publisher (capped by Receive Maximum)
    unsigned threads = 1;
    bool tls = false;
    std::string ca_file;
    std::string cert_file;
    std::string key_file;
    tls_version tls_ver = tls_version::any;
    std::vector<int> broker_pids; ///< one per target, in order (optional)
    bool compare = false;
    unsigned rounds = 2; ///< --compare: A B repeated this many times
    double drain_s = 5;  ///< after publishing stops, wait this long at most for deliveries
    std::string topic_prefix = "tgbench";
    std::uint16_t keep_alive = 60;
    bool quiet = false; ///< no progress lines on stderr
    bool help = false;

    /// Connections the run opens at once (publishers + subscribers, or connections).
    std::uint64_t total_connections() const noexcept;
    /// True for the scenarios that publish messages.
    bool publishes() const noexcept;
};

class usage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// Parses and validates argv[1..]. Throws usage_error with a one-line message on any problem.
/// `hardware_threads` is the default for --threads.
options parse_options(const std::vector<std::string>& args, unsigned hardware_threads);

/// The --help text (every option with its default).
std::string usage_text();

/// True for "localhost", IPv4 127.0.0.0/8 and IPv6 ::1 (literal addresses only; no DNS).
bool is_loopback_host(std::string_view host) noexcept;

/// Parses "host:port" / "[v6]:port". Throws usage_error when malformed or not loopback.
target parse_target(std::string_view text);

} // namespace thinggate::bench
