#pragma once
// tools/bench/runner: one bounded run of a scenario against one broker (connect, start, publish
// or storm or hold, drain, close, count), and the A B A B comparison of two brokers.
// Owns: the phases of a run, live progress on stderr, the JSON lines on stdout.
// Thread safety: called from main; starts and joins its worker threads.

#include <iosfwd>
#include <optional>

#include <boost/asio/ssl/context.hpp>

#include "tools/bench/options.hpp"
#include "tools/bench/report.hpp"

namespace thinggate::bench {

/// Runs the scenario once against `t`. `tls` is null for plain TCP. Never throws for network
/// failures: they are counted as errors in the result.
run_result run_once(
        const options& o,
        const target& t,
        std::optional<int> broker_pid,
        unsigned round,
        boost::asio::ssl::context* tls);

/// Runs what the options say (once, or --compare rounds) and prints the JSON line(s) to `out`.
/// Returns the process exit code: 0, or 1 when any run had errors.
int run(const options& o, std::ostream& out);

} // namespace thinggate::bench
