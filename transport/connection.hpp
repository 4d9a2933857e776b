#pragma once
// transport/connection: one accepted socket (plain TCP or mutual TLS) driving a
// connection_handler — a reader coroutine, a writer coroutine and a deadline timer.
// Owns: the socket/stream, the handler (after the handshake), the output frames being written.
// Must not use: locks — everything of one connection runs on its shard's io_context.
// Thread safety: shard-confined; the server reaches it only through posts to that shard.
//
// Lifetime: a shared_ptr kept alive by its own coroutines and timer handlers. The reader decides
// the end: once the socket is closed it calls handler.on_connection_lost() (exactly once),
// releases the admission and unregisters; the destructor tells the server it is gone.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>

#include "broker/client.hpp"
#include "transport/server_core.hpp"
#include "transport/tls_channel.hpp"

namespace thinggate::transport::detail {

class connection_base : public broker::connection_io {
public:
    /// Graceful: hands the handler on_server_shutdown() (or ends a handshake in progress).
    virtual void server_shutdown() = 0;
    /// Immediate close, no flush.
    virtual void force_close() = 0;

    connection_base* prev_in_shard = nullptr;
    connection_base* next_in_shard = nullptr;
};

template <class Stream>
class connection final
    : public connection_base
    , public std::enable_shared_from_this<connection<Stream>> {
public:
    static constexpr bool is_tls = !std::is_same_v<Stream, tcp_socket>;

    /// `tls` is null for plain TCP. Constructed on the target shard's thread.
    connection(
            server_core& core,
            const listener_state& l,
            broker::shard_id shard,
            tcp_socket sock,
            tls_context_ptr tls);
    ~connection() override;

    void start();

    // broker::connection_io
    void wake_writer() override;
    void close(bool flush) override;
    void read_timeout_changed() override;
    void resume_input() override;

    void server_shutdown() override;
    void force_close() override;

private:
    enum class state : std::uint8_t {
        handshake,
        open,
        closing,
        closed
    };
    using time_point = std::chrono::steady_clock::time_point;

    asio::awaitable<void> run_reader(std::shared_ptr<connection> self);
    asio::awaitable<void> run_writer(std::shared_ptr<connection> self);
    asio::awaitable<bool> handshake();
    asio::awaitable<void> tls_shutdown();
    void make_handler();
    void hand_over_records();
    broker::connection_info make_info();
    void build_buffers();
    void hard_close() noexcept;
    void finish() noexcept;

    void set_deadline(time_point tp);
    void start_watchdog();
    void on_watchdog();

    tcp_socket& socket() noexcept;

    server_core& core_;
    const listener_state& listener_;
    tls_context_ptr tls_; // keeps the SSL_CTX's callback data alive for this connection
    Stream stream_;
    timer watchdog_; // handshake, read (keep-alive), flush and TLS shutdown deadlines
    timer gate_;     // the reader waits on it while the handler's input is paused
    timer wake_;     // the writer sleeps on it; cancel() wakes it
    handshake_identity identity_; // TLS, client_auth = registry: filled during the handshake
    std::unique_ptr<connection_handler> handler_;
    std::vector<broker::out_frame> frames_;
    std::vector<asio::const_buffer> buffers_;
    std::string staging_; // plain TCP: small frames coalesced into one write (freed when idle)
    time_point deadline_ = time_point::max();
    std::chrono::milliseconds read_timeout_{0};
    broker::shard_id shard_;
    state state_ = state::handshake;
    bool writer_waiting_ = false;
    bool watchdog_armed_ = false;
    bool flushed_ = false;  // closing: every queued frame written
    bool finished_ = false; // finish() ran
};

} // namespace thinggate::transport::detail
