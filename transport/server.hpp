#pragma once
// transport/server: the listeners (plain TCP and mutual TLS) and their connections, on the shards
// of a shard_pool; graceful shutdown and TLS certificate reload.
// Owns: acceptors, TLS contexts, every live connection. Must not use: TOML (app/ builds the
// listener_config values).
// Thread safety: start/port/reload_tls/drain/stop/stats from one controlling thread that is not
// a shard thread (e.g. main or the signal thread); everything else runs on the shards.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "transport/handler.hpp"
#include "transport/listener_config.hpp"
#include "transport/registry_auth.hpp"
#include "transport/shard_pool.hpp"

namespace thinggate::broker {
class broker;
}

namespace thinggate::transport {

namespace detail {
class server_core;
}

struct server_stats {
    std::uint64_t accepted = 0;            ///< sockets accepted, over every listener
    std::uint64_t rejected_over_limit = 0; ///< closed at once: over the connection limit
    std::uint64_t handshake_failures = 0;  ///< TLS handshakes refused, failed or timed out
    std::uint64_t live = 0;                ///< connections not yet destroyed
    /// TLS connections whose records went over to the builtin record layer after the handshake.
    std::uint64_t tls_record_handovers = 0;
    /// TLS connections on a builtin listener that kept OpenSSL's record layer (debug log: why).
    std::uint64_t tls_record_fallbacks = 0;
};

class server {
public:
    /// Production: each connection drives a broker::client; admission by the broker's limit.
    server(broker::broker& b, shard_pool& pool, std::vector<listener_config> listeners);
    /// Any handler (tests, tools); `factory` must outlive the server.
    server(handler_factory& factory, shard_pool& pool, std::vector<listener_config> listeners);
    ~server(); ///< drain() if started and not yet drained
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// TLS listeners with client_auth = registry verify client certificates against `reg`
    /// (registry_auth.hpp); just-in-time registrations are recorded by a worker thread and
    /// published through options.publish. Call before start(); `reg` outlives the server. A
    /// registry-mode listener without it fails start().
    void use_registry(auth::registry& reg, registry_auth_options options);

    /// Builds the TLS contexts and binds every listener, then starts accepting. Throws
    /// std::runtime_error naming the listener (and file or address) on any start-up error.
    void start();

    /// The bound port of a started listener (useful with port 0). Throws std::out_of_range.
    std::uint16_t port(std::string_view listener_name) const;

    /// Rebuilds each TLS listener's context from its files: new connections use the new
    /// certificate, open ones keep theirs. A listener whose reload fails logs the error and keeps
    /// its previous context. Returns false if any listener failed.
    bool reload_tls();

    /// Graceful stop without stopping the shards: stops accepting, gives every live connection
    /// client::on_server_shutdown() on its shard, waits up to `timeout` for them to close, then
    /// closes what is left. Returns true when every connection ended within `timeout`.
    bool drain(std::chrono::milliseconds timeout = std::chrono::seconds(5));

    /// drain(timeout), then stops and joins the shard pool.
    void stop(std::chrono::milliseconds timeout = std::chrono::seconds(5));

    server_stats stats() const noexcept;

private:
    server(std::unique_ptr<handler_factory> owned,
           shard_pool& pool,
           std::vector<listener_config> listeners);

    std::unique_ptr<handler_factory> owned_factory_;
    std::unique_ptr<detail::server_core> core_;
};

} // namespace thinggate::transport
