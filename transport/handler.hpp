#pragma once
// transport/handler: what a connection drives once its transport is up — in production the
// broker's sans-I/O client (broker_handler.hpp), in tests a small scripted peer.
// Owns: the interface only. Must not use: Asio.
// Thread safety: a handler is made and used on its connection's shard only; a factory's
// make() runs on the connection's shard, try_admit/release on any thread.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "broker/client.hpp"

namespace thinggate::transport {

/// The calls a connection makes; the contract of each is broker::client's member of that name.
class connection_handler {
public:
    virtual ~connection_handler() = default;
    virtual std::span<std::uint8_t> prepare_input(std::size_t min_size) = 0;
    virtual void commit_input(std::size_t n) = 0;
    /// The connection is about to wait for the socket: a handler may free its input buffer when
    /// it holds no unprocessed bytes (idle connections then hold none). Default: keep it.
    virtual void release_input() {}
    /// While true the connection does not read (backpressure); it reads again on
    /// connection_io::resume_input().
    virtual bool input_paused() const noexcept { return false; }
    virtual bool take_output(std::vector<broker::out_frame>& out) = 0;
    virtual void output_written(std::size_t n) = 0;
    virtual std::chrono::milliseconds read_timeout() const noexcept = 0;
    virtual void on_read_timeout() = 0;
    virtual void on_connection_lost() = 0;
    virtual void on_server_shutdown() = 0;
};

class handler_factory {
public:
    virtual ~handler_factory() = default;
    /// Admission against the connection limit, before any byte is read; release() once for each
    /// admitted connection when it ends.
    virtual bool try_admit() noexcept = 0;
    virtual void release() noexcept = 0;
    /// Called once the transport is up (after the TLS handshake); `io` outlives the handler.
    virtual std::unique_ptr<connection_handler>
    make(broker::connection_io& io, broker::shard_id shard, broker::connection_info info) = 0;
};

} // namespace thinggate::transport
