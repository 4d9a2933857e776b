#pragma once
// transport/signals: the process's signal loop — SIGINT/SIGTERM stop the server gracefully,
// SIGHUP reloads (the caller's hook, then the TLS certificates).
// Owns: a dedicated io_context and its signal_set while run_until_signal runs. Must not use: TOML.
// Thread safety: call from the main thread (not a shard thread); blocks until stopped.

#include <functional>

#include "transport/server.hpp"
#include "transport/shard_pool.hpp"

namespace thinggate::transport {

/// Blocks until SIGINT or SIGTERM, then server.stop() (drain, stop and join the shards).
/// SIGHUP runs `on_reload` (may be empty; exceptions are logged) and then server.reload_tls().
/// `on_ready` (may be empty) runs once the signal handlers are installed.
void run_until_signal(
        server& srv,
        shard_pool& pool,
        std::function<void()> on_reload,
        std::function<void()> on_ready = {});

} // namespace thinggate::transport
