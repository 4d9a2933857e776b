#include "transport/signals.hpp"

#include <csignal>
#include <exception>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include <spdlog/spdlog.h>

namespace thinggate::transport {

namespace {

void wait_for_signal(
        boost::asio::signal_set& signals, server& srv, const std::function<void()>& on_reload) {
    signals.async_wait(
            [&signals, &srv, &on_reload](const boost::system::error_code& ec, int signo) {
                if (ec) {
                    return;
                }
                if (signo == SIGHUP) {
                    spdlog::info("SIGHUP: reloading");
                    if (on_reload) {
                        try {
                            on_reload();
                        } catch (const std::exception& e) {
                            spdlog::error("reload failed: {}", e.what());
                        }
                    }
                    srv.reload_tls();
                    wait_for_signal(signals, srv, on_reload);
                    return;
                }
                spdlog::info("{}: shutting down", signo == SIGINT ? "SIGINT" : "SIGTERM");
                // Not re-armed: the io_context runs out of work once this handler returns.
            });
}

} // namespace

void run_until_signal(
        server& srv,
        shard_pool& pool,
        std::function<void()> on_reload,
        std::function<void()> on_ready) {
    boost::asio::io_context io{1};
    boost::asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
    wait_for_signal(signals, srv, on_reload);
    if (on_ready) {
        on_ready();
    }
    io.run();
    // Stop here, on this thread, rather than in the handler: a second SIGINT during a slow drain
    // still finds the signal_set installed and is ignored instead of killing the process.
    srv.stop();
    pool.join();
}

} // namespace thinggate::transport
