#pragma once
// tools/bench/plan: turns validated options into the connections of one run: who publishes
// where, who subscribes to what, which thread each lives on, each publisher's message quota
// and rate, and which publishers each subscriber must hear from (for loss accounting).
// Owns: topic and client-id naming, thread assignment, quotas. Must not use: I/O, clocks.
// Thread safety: plain values.

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "tools/bench/options.hpp"

namespace thinggate::bench {

enum class role : std::uint8_t {
    publisher,
    subscriber,
    connector, ///< storm: connects and disconnects in a loop
    idler,     ///< idle: connects, then holds the connection
};

inline constexpr std::uint64_t unlimited = std::numeric_limits<std::uint64_t>::max();

struct connection_plan {
    bench::role role = role::publisher;
    std::uint32_t index = 0; ///< publisher id (also the stamp's), subscriber index, ...
    unsigned thread = 0;
    std::string client_id;
    std::string topic;                 ///< publisher: topic name; subscriber: filter
    std::uint64_t quota = unlimited;   ///< publisher: messages to send at most
    double interval_s = 0;             ///< publisher: seconds between intended sends; 0 = no pacing
    std::uint32_t first_publisher = 0; ///< subscriber: hears publishers [first, first + count)
    std::uint32_t publisher_count = 0;
    /// Subscriber of the backlog scenario: a persistent session (Clean Start 0, MQTT 5 Session
    /// Expiry backlog_session_expiry_s) that goes offline while the publishers send.
    bool persistent = false;
};

struct run_plan {
    std::vector<connection_plan> connections; ///< subscribers first, then the others
    std::uint32_t publishers = 0;
    std::uint32_t subscribers = 0;
    /// For each publisher: how many subscribers receive each of its messages.
    std::vector<std::uint32_t> fanout;
    std::string topic_root; ///< "<prefix>/<run id>"
};

/// The plan of one run. Fan-in and backlog with --threads >= 2 put the subscriber alone on
/// thread 0 and the publishers on the other threads, so that writing never starves reading.
/// `run_id` makes topics and client ids unique to the run (so leftovers of
/// another run, or another tool, never count); at most 8 characters keeps client ids within the
/// 23 characters every MQTT 3.1.1 server must accept [MQTT-3.1.3-5].
run_plan make_plan(const options& o, std::string_view run_id);

/// Expected deliveries for `sent` messages per publisher under `plan`.
std::uint64_t expected_deliveries(const run_plan& plan, const std::vector<std::uint64_t>& sent);

} // namespace thinggate::bench
