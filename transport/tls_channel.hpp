#pragma once
// transport/tls_channel: the server side of one TLS connection, driven straight on its
// non-blocking socket. OpenSSL does the handshake, reading and writing the file descriptor
// through a small BIO of ours (recv / send with MSG_NOSIGNAL).
//
// Records after the handshake (listener_config::record_layer, docs/security.md "Record layer
// after the handshake"):
// - builtin (the default): once the handshake is done, detach_openssl() takes the traffic
//   secrets (TLS 1.3: the key log lines CLIENT_/SERVER_TRAFFIC_SECRET_0; TLS 1.2: the master
//   secret and the hello randoms) and the sequence numbers (records counted with the message
//   callback), builds a tls_record and frees the SSL object: an idle connection holds two AEAD
//   contexts instead of OpenSSL's ≈ 18 KB. Reads recv ciphertext into a per-thread buffer and
//   open every whole record straight into the caller's buffer (a partial record waits in a
//   per-connection buffer, freed when empty); writes seal records straight from the frames into
//   a per-thread buffer of several records and send them with one send; what the socket does
//   not take waits as ciphertext (never sealed again) in the per-connection spill.
// - openssl, or a connection that does not qualify (detach_openssl() says why): SSL_read_ex /
//   SSL_write_ex on the SSL object, whose record buffers SSL_MODE_RELEASE_BUFFERS frees
//   whenever they are empty; writes coalesced into full records through a per-thread buffer.
// Owns: the socket, the SSL object until the handover, then the tls_record.
// Must not use: the broker (beyond out_frame).
// Thread safety: shard-confined. A connection's reader and writer coroutines share one channel:
// every SSL call is synchronous and they run on one thread, so calls never overlap; each side
// waits for the readiness its last call asked for (a read may want to write and a write may want
// to read), then calls again. Builtin: the spill is one FIFO of sealed bytes that either side may
// send from; nothing of a connection stays in the per-thread buffers across a co_await.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <openssl/ssl.h>

#include "broker/client.hpp"
#include "transport/server_core.hpp"
#include "transport/tls_record.hpp"

namespace thinggate::transport::detail {

struct record_capture;

/// The SSL_CTX key log callback of a listener with the builtin record layer: keeps the TLS 1.3
/// application traffic secrets of a handshake that tls_channel captures (nothing else; the line
/// is neither logged nor kept).
void record_keylog_callback(const SSL* ssl, const char* line);

enum class tls_status : std::uint8_t {
    ok,
    want_read,  ///< wait until the socket is readable, then call again
    want_write, ///< wait until the socket is writable, then call again
    eof,        ///< the peer closed (close_notify or end of stream)
    error,      ///< protocol or socket error: the connection is over
};

class tls_channel {
public:
    /// The largest plaintext of one TLS record.
    static constexpr std::size_t max_record = 16 * 1024;

    /// Makes the SSL object for `ctx` on the socket's descriptor and sets the socket
    /// non-blocking. Never throws: when OpenSSL cannot make the object, the handshake fails.
    /// `builtin_records`: capture what detach_openssl() needs during the handshake (`ctx` must
    /// have record_keylog_callback as its key log callback).
    tls_channel(tcp_socket sock, SSL_CTX* ctx, bool builtin_records = false);
    ~tls_channel();
    tls_channel(const tls_channel&) = delete;
    tls_channel& operator=(const tls_channel&) = delete;

    tcp_socket& socket() noexcept { return sock_; }

    /// Null when it could not be made, and once detach_openssl() has freed it.
    SSL* native_handle() noexcept { return ssl_; }

    /// After a successful handshake (and after the SSL object's last reader, e.g. the peer's
    /// certificate and SNI): hands the records over to tls_record and frees the SSL object.
    /// False when OpenSSL keeps them: `why` is null when the channel was made without
    /// builtin_records, else why this connection does not qualify (for a debug line).
    bool detach_openssl(const char*& why);

    /// True once detach_openssl() has handed the records over.
    bool record_layer_active() const noexcept { return rec_ != nullptr; }

    /// How large a buffer read_some() is best given: the builtin layer opens several records per
    /// call (at least max_record is needed), OpenSSL's returns one record per call.
    std::size_t read_size() const noexcept;

    /// Ciphertext is waiting for the socket (the builtin layer's spill: a write that the socket
    /// did not take, or our KeyUpdate answering the peer's): write_frames() with no frames sends
    /// it.
    bool output_pending() const noexcept { return rec_ && spill_off_ < spill_.size(); }

    /// Closes the socket; from now on OpenSSL's reads and writes fail (EBADF) instead of
    /// touching a descriptor number that may already belong to another connection.
    void close() noexcept;

    /// The server handshake. False on failure; `error()` says why.
    boost::asio::awaitable<bool> handshake();

    /// Reads application data into `buf`: ok with n > 0 bytes, or what to wait for. OpenSSL: one
    /// SSL_read. Builtin: every whole record available whose plaintext fits (buf must hold at
    /// least max_record); want_read only when the socket had nothing and nothing was produced;
    /// never want_write (our KeyUpdate answer is queued as output_pending()).
    tls_status read_some(std::span<std::uint8_t> buf, std::size_t& n);

    /// Waits until the socket is readable (want_read) or writable (want_write). False when the
    /// wait was cancelled or failed.
    boost::asio::awaitable<bool> wait(tls_status what);

    /// Writes every frame (head and body): pieces are copied into full-size records through the
    /// per-thread scratch buffer; a body of a whole record or more is encrypted straight from
    /// the shared message. True when all was written; `written` = plaintext bytes.
    boost::asio::awaitable<bool>
    write_frames(const std::vector<broker::out_frame>& frames, std::size_t& written);

    /// Sends close_notify and waits for the peer's (or its end of stream). The caller bounds it
    /// with a deadline that closes the socket.
    boost::asio::awaitable<void> shutdown();

    /// The OpenSSL error (or socket error) that ended the last failed call.
    const std::string& error() const noexcept { return error_; }

private:
    tls_status status_of(int ret);
    boost::asio::awaitable<bool> write_record(const std::uint8_t* p, std::size_t len);

    // The builtin record layer.
    tls_status read_records(std::span<std::uint8_t> buf, std::size_t& n);
    std::size_t open_records(
            std::span<std::uint8_t> src,
            std::span<std::uint8_t> buf,
            std::size_t& n,
            tls_status& st);
    tls_status record_failure();
    void queue_output(const std::uint8_t* p, std::size_t len);
    void queue_control();
    /// Sends from `p` until the socket would block (p and len advance); false on an error
    /// (error_, failed_ set).
    bool send_some(const std::uint8_t*& p, std::size_t& len);
    bool flush_spill();
    boost::asio::awaitable<bool> drain_spill();
    boost::asio::awaitable<bool> send_batch(const std::uint8_t* p, std::size_t len);
    boost::asio::awaitable<bool>
    write_sealed(const std::vector<broker::out_frame>& frames, std::size_t& written);
    boost::asio::awaitable<void> shutdown_records();

    tcp_socket sock_;
    SSL* ssl_ = nullptr;
    int fd_ = -1; ///< what the BIO uses; -1 once closed
    std::string error_;
    /// Output waiting for the socket, from spill_off_ on; empty otherwise. OpenSSL: a record whose
    /// plaintext was in the shared scratch buffer (another connection may refill that meanwhile).
    /// Builtin: sealed ciphertext, sent in order before anything sealed later.
    std::vector<std::uint8_t> spill_;
    std::size_t spill_off_ = 0;
    /// During a handshake that may be handed over: the secrets and record counts (freed by
    /// detach_openssl()).
    std::unique_ptr<record_capture> capture_;
    /// Builtin: the record protection once the SSL object is gone.
    std::unique_ptr<tls_record> rec_;
    /// Builtin: received ciphertext not yet opened (a partial record, or records that did not fit
    /// the caller's buffer); freed when empty.
    std::vector<std::uint8_t> in_;
    bool peer_closed_ = false; ///< builtin: the peer's close_notify or end of stream was read
    bool failed_ = false;      ///< builtin: a fatal record or socket error; no more I/O
};

} // namespace thinggate::transport::detail
