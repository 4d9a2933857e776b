#pragma once
// transport/tls_channel: the server side of one TLS connection, driven straight on its
// non-blocking socket. OpenSSL reads and writes the file descriptor through a small BIO of ours
// (recv / send with MSG_NOSIGNAL), so there are no per-connection engine buffers and no copy
// through a memory BIO pair: only OpenSSL's own record buffers, which SSL_MODE_RELEASE_BUFFERS
// frees whenever they are empty. Writes are coalesced into full records through one scratch
// buffer per thread (per shard).
// Owns: the socket and the SSL object. Must not use: the broker (beyond out_frame).
// Thread safety: shard-confined. A connection's reader and writer coroutines share one channel:
// every SSL call is synchronous and they run on one thread, so calls never overlap; each side
// waits for the readiness its last call asked for (a read may want to write and a write may want
// to read), then calls again.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <openssl/ssl.h>

#include "broker/client.hpp"
#include "transport/server_core.hpp"

namespace thinggate::transport::detail {

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
    tls_channel(tcp_socket sock, SSL_CTX* ctx);
    ~tls_channel();
    tls_channel(const tls_channel&) = delete;
    tls_channel& operator=(const tls_channel&) = delete;

    tcp_socket& socket() noexcept { return sock_; }

    /// Null only when it could not be made.
    SSL* native_handle() noexcept { return ssl_; }

    /// Closes the socket; from now on OpenSSL's reads and writes fail (EBADF) instead of
    /// touching a descriptor number that may already belong to another connection.
    void close() noexcept;

    /// The server handshake. False on failure; `error()` says why.
    boost::asio::awaitable<bool> handshake();

    /// One SSL_read into `buf`: ok with the bytes read, or what to wait for.
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

    tcp_socket sock_;
    SSL* ssl_ = nullptr;
    int fd_ = -1; ///< what the BIO uses; -1 once closed
    std::string error_;
    /// A record whose write waits for the socket, when its plaintext was in the shared scratch
    /// buffer (another connection may refill that meanwhile); empty otherwise.
    std::vector<std::uint8_t> spill_;
};

} // namespace thinggate::transport::detail
