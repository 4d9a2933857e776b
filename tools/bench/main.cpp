// thinggate-bench: an MQTT load generator for loopback brokers (docs/performance.md, "Load tool").

#include <exception>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <sys/resource.h>

#include "tools/bench/options.hpp"
#include "tools/bench/runner.hpp"

namespace {

// Enough file descriptors for the connections of the run, within the hard limit.
bool raise_fd_limit(std::uint64_t connections) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
        return false;
    }
    const rlim_t want = static_cast<rlim_t>(connections + 256);
    if (lim.rlim_cur >= want) {
        return true;
    }
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < want) {
        return false;
    }
    lim.rlim_cur = want;
    return ::setrlimit(RLIMIT_NOFILE, &lim) == 0;
}

} // namespace

int main(int argc, char** argv) {
    using namespace thinggate::bench;
    const std::vector<std::string> args(argv + 1, argv + argc);
    options o;
    try {
        o = parse_options(args, std::thread::hardware_concurrency());
    } catch (const usage_error& e) {
        std::cerr << "thinggate-bench: " << e.what() << "\nTry 'thinggate-bench --help'.\n";
        return 2;
    }
    if (o.help) {
        std::cout << usage_text();
        return 0;
    }
    if (!raise_fd_limit(o.total_connections())) {
        std::cerr << "thinggate-bench: the file descriptor limit (ulimit -n) is below the "
                  << o.total_connections() << " connections asked for\n";
        return 2;
    }
    try {
        return run(o, std::cout);
    } catch (const std::exception& e) {
        std::cerr << "thinggate-bench: " << e.what() << '\n';
        return 2;
    }
}
