#pragma once
// tools/bench/report: the figures of one run, the JSON line they are printed as, the comparison
// of two brokers, and the /proc/<pid>/status parsing for broker memory.
// Owns: the output format (docs/performance.md documents every field). Must not use: I/O.
// Thread safety: plain values.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tools/bench/histogram.hpp"
#include "tools/bench/options.hpp"

namespace thinggate::bench {

struct latency_summary {
    std::uint64_t count = 0;
    double p50_us = 0;
    double p90_us = 0;
    double p99_us = 0;
    double p999_us = 0;
    double max_us = 0;
    double mean_us = 0;
};

/// Percentiles of a nanosecond histogram, in microseconds.
latency_summary summarize(const histogram& ns);

/// Backlog scenario: the store phase (subscriber offline) and the drain after it reconnects.
struct backlog_result {
    double store_s = 0;     ///< first intended send -> the last PUBACK/PUBCOMP (all stored)
    double reconnect_s = 0; ///< the reconnect's TCP connect -> CONNACK
    double drain_s = 0;     ///< CONNACK of the reconnect -> the last delivery
    std::uint64_t stored = 0;
    std::uint64_t drained = 0; ///< distinct messages received after the reconnect
};

struct run_result {
    std::string target;
    unsigned round = 0;          ///< --compare: 1-based round; 0 otherwise
    double publish_s = 0;        ///< from the first intended send to the end of publishing
    double deliver_s = 0;        ///< from the first intended send to the last delivery
    std::uint64_t sent = 0;      ///< PUBLISH written by the publishers
    std::uint64_t acked = 0;     ///< QoS 1/2: PUBACK / PUBCOMP received
    std::uint64_t delivered = 0; ///< distinct (publisher, sequence) received, summed per subscriber
    std::uint64_t expected = 0;  ///< sent x subscribers per message
    std::uint64_t lost = 0;      ///< expected - delivered after the drain
    std::uint64_t duplicates = 0;
    std::uint64_t out_of_order = 0;
    std::uint64_t errors = 0;
    std::vector<std::string> error_samples; ///< the first few error messages
    std::uint64_t connects = 0;             ///< successful CONNECT/CONNACK (storm: per loop)
    double connect_s = 0;                   ///< storm: the storming time; idle: time to connect all
    latency_summary latency;                ///< publish -> delivery (storm: TCP connect -> CONNACK)
    std::size_t payload = 0;
    std::optional<std::uint64_t> rss_before_kib; ///< broker VmRSS before connecting
    std::optional<std::uint64_t> rss_after_kib;  ///< ... with every connection open
    std::optional<std::uint32_t> connections_held;
    double measured_s = 0;              ///< wall time of the phase the CPU figures cover
    std::optional<double> broker_cpu_s; ///< with --broker-pid: utime + stime over measured_s
    double tool_cpu_s = 0;              ///< this process (every thread) over measured_s
    std::uint64_t rx_queue_max = 0;     ///< most bytes waiting in a subscriber socket at a read
    std::optional<backlog_result> backlog;
};

/// The JSON line of one run (no trailing newline).
std::string to_json(const options& o, const run_result& r);

/// Medians of rounds A and B and the ratios A/B of the figures that have a direction.
std::string
compare_json(const options& o, const std::vector<run_result>& a, const std::vector<run_result>& b);

/// A short human-readable comparison (stderr).
std::string
compare_text(const options& o, const std::vector<run_result>& a, const std::vector<run_result>& b);

/// VmRSS in KiB from the text of /proc/<pid>/status; nullopt when absent.
std::optional<std::uint64_t> parse_vm_rss_kib(std::string_view status_text) noexcept;

/// utime + stime (fields 14 and 15, clock ticks) from the text of /proc/<pid>/stat; nullopt when
/// malformed. The command name (field 2) may hold spaces and parentheses: fields are counted
/// from the last ')'.
std::optional<std::uint64_t> parse_proc_stat_cpu_ticks(std::string_view stat_text) noexcept;

/// Derived figures used by the JSON and the comparison.
double msgs_per_s_sent(const run_result& r) noexcept;
double msgs_per_s_delivered(const run_result& r) noexcept;
double connects_per_s(const run_result& r) noexcept;
std::optional<double> bytes_per_connection(const run_result& r) noexcept;
/// Delivered messages (storm: connects) per second of broker CPU; nullopt without --broker-pid.
std::optional<double> msgs_per_broker_cpu_s(const run_result& r) noexcept;
std::optional<double> connects_per_broker_cpu_s(const run_result& r) noexcept;
/// Backlog: messages stored per second while offline, drained per second after the reconnect.
double msgs_per_s_stored(const run_result& r) noexcept;
double msgs_per_s_drained(const run_result& r) noexcept;

/// Median of the values (mean of the middle two for an even count); 0 when empty.
double median(std::vector<double> values);

} // namespace thinggate::bench
