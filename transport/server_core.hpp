#pragma once
// transport/server_core: the state a server shares with its connections (internal to transport/).
// Owns: listener states (acceptor, current TLS context), per-shard connection registries,
// counters. Must not use: the broker (only handler_factory).
// Thread safety: a shard's registry only on that shard; counters atomic; a listener's TLS
// context is swapped atomically; the rest is set up before start() returns.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/basic_waitable_timer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "transport/handler.hpp"
#include "transport/listener_config.hpp"
#include "transport/registry_auth.hpp"
#include "transport/shard_pool.hpp"
#include "transport/tls_context.hpp"

namespace thinggate::transport::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
// I/O objects bound to one shard's io_context: no type-erased executor on the hot path.
using executor = asio::io_context::executor_type;
using tcp_socket = asio::basic_stream_socket<tcp, executor>;
using acceptor = asio::basic_socket_acceptor<tcp, executor>;
using timer = asio::basic_waitable_timer<
        std::chrono::steady_clock,
        asio::wait_traits<std::chrono::steady_clock>,
        executor>;

class connection_base;
class tls_channel; // tls_channel.hpp
using tls_stream = tls_channel;

/// "1.2.3.4:5" or "[::1]:5" (v4-mapped IPv6 addresses shown as IPv4).
std::string endpoint_string(const tcp::endpoint& ep);

struct listener_state {
    listener_config cfg;
    broker::shard_id shard = 0; ///< the shard whose loop runs the acceptor
    std::optional<acceptor> acc;
    std::atomic<std::shared_ptr<tls_context>> tls;
    std::uint16_t port = 0;
    std::uint32_t next_shard = 0; ///< round robin; touched by the accept loop only
};

/// Intrusive list of one shard's live connections (for shutdown), touched on that shard only.
struct alignas(64) shard_registry {
    connection_base* head = nullptr;
};

class server_core {
public:
    server_core(handler_factory& f, shard_pool& p, std::vector<listener_config> listeners);

    void start();
    bool reload_tls();
    bool drain(std::chrono::milliseconds timeout);

    // Called by connections, on their shard.
    void link(connection_base& c, broker::shard_id shard) noexcept;
    void unlink(connection_base& c, broker::shard_id shard) noexcept;
    /// Called from a connection's destructor (and for sockets dropped before one was made).
    void connection_gone() noexcept;

    handler_factory& factory;
    shard_pool& pool;
    std::vector<std::unique_ptr<listener_state>> listeners;
    std::vector<shard_registry> registries;
    /// The registry check of client_auth = registry listeners; set before start().
    std::unique_ptr<registry_authenticator> authenticator;

    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> rejected_over_limit{0};
    std::atomic<std::uint64_t> handshake_failures{0};
    std::atomic<std::uint64_t> live{0};
    std::atomic<std::uint64_t> tls_record_handovers{0};
    std::atomic<std::uint64_t> tls_record_fallbacks{0};
    std::atomic<std::uint32_t> accept_loops{0}; ///< accept coroutines not yet finished
    std::atomic<bool> stopping{false};
    bool started = false;
    bool drained = false;

private:
    asio::awaitable<void> accept_loop(listener_state* l);
    void on_accepted(listener_state& l, broker::shard_id target, tcp_socket sock);
    void start_connection(listener_state& l, broker::shard_id target, tcp_socket sock);
    /// Runs `fn(shard)` on every shard and waits for all of them (or runs inline when the
    /// shards are not running).
    template <class Fn>
    void on_every_shard(Fn fn);
    bool wait_until_no_connections(std::chrono::milliseconds timeout);
    void notify_waiters();

    std::mutex mu_;
    std::condition_variable cv_;
};

} // namespace thinggate::transport::detail
