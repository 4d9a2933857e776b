#include "transport/tls_channel.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <sys/socket.h>

#include "transport/tls_context.hpp"

namespace thinggate::transport::detail {

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

// ------------------------------------------------------------------ the descriptor BIO
//
// BIO data: a pointer to the channel's fd_ (so that close() cuts OpenSSL off the descriptor).
// send() with MSG_NOSIGNAL: a peer that reset the connection must not raise SIGPIPE.

int bio_fd(BIO* b) { return *static_cast<const int*>(BIO_get_data(b)); }

bool retryable(int err) { return err == EAGAIN || err == EWOULDBLOCK || err == EINTR; }

int fd_bio_write(BIO* b, const char* data, int len) {
    BIO_clear_retry_flags(b);
    const int fd = bio_fd(b);
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    ssize_t r = ::send(fd, data, static_cast<std::size_t>(len), MSG_NOSIGNAL);
    if (r < 0) {
        if (retryable(errno)) {
            BIO_set_retry_write(b);
        }
        return -1;
    }
    return static_cast<int>(r);
}

int fd_bio_read(BIO* b, char* data, int len) {
    BIO_clear_retry_flags(b);
    const int fd = bio_fd(b);
    if (fd < 0) {
        errno = EBADF;
        return -1;
    }
    ssize_t r = ::recv(fd, data, static_cast<std::size_t>(len), 0);
    if (r < 0) {
        if (retryable(errno)) {
            BIO_set_retry_read(b);
        }
        return -1;
    }
    return static_cast<int>(r); // 0: end of stream
}

long fd_bio_ctrl(BIO*, int cmd, long, void*) {
    // OpenSSL flushes after each flight; there is nothing buffered here.
    return cmd == BIO_CTRL_FLUSH ? 1 : 0;
}

int fd_bio_create(BIO* b) {
    BIO_set_init(b, 1);
    return 1;
}

BIO_METHOD* fd_bio_method() {
    static BIO_METHOD* method = [] {
        BIO_METHOD* m = BIO_meth_new(
                BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR,
                "thinggate socket");
        if (m != nullptr) {
            BIO_meth_set_write(m, fd_bio_write);
            BIO_meth_set_read(m, fd_bio_read);
            BIO_meth_set_ctrl(m, fd_bio_ctrl);
            BIO_meth_set_create(m, fd_bio_create);
        }
        return m;
    }();
    return method;
}

// The write scratch buffer of this thread: one per shard, since a shard is one thread.
std::uint8_t* scratch() {
    thread_local std::unique_ptr<std::uint8_t[]> buf;
    if (!buf) {
        buf = std::make_unique<std::uint8_t[]>(tls_channel::max_record);
    }
    return buf.get();
}


} // namespace

tls_channel::tls_channel(tcp_socket sock, SSL_CTX* ctx)
    : sock_(std::move(sock)) {
    boost::system::error_code ec;
    sock_.non_blocking(true, ec);
    if (ec || !sock_.is_open() || fd_bio_method() == nullptr) {
        return;
    }
    fd_ = sock_.native_handle();
    ssl_ = SSL_new(ctx);
    BIO* bio = ssl_ != nullptr ? BIO_new(fd_bio_method()) : nullptr;
    if (bio == nullptr) {
        SSL_free(ssl_);
        ssl_ = nullptr;
        ERR_clear_error();
        return;
    }
    BIO_set_data(bio, &fd_);
    SSL_set_bio(ssl_, bio, bio); // one reference, owned by the SSL object
    // Record buffers are freed whenever they are empty (an idle connection holds none); a write
    // waiting for the socket may be retried from another buffer (spill_); a write returns after
    // each record.
    SSL_set_mode(
            ssl_,
            SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                    SSL_MODE_ENABLE_PARTIAL_WRITE);
    // Read what the socket has (up to a record buffer) in one recv instead of header, then body.
    SSL_set_read_ahead(ssl_, 1);
    SSL_set_accept_state(ssl_);
}

tls_channel::~tls_channel() {
    close();
    if (ssl_ != nullptr) {
        SSL_free(ssl_);
    }
}

void tls_channel::close() noexcept {
    fd_ = -1;
    boost::system::error_code ec;
    sock_.close(ec);
}

tls_status tls_channel::status_of(int ret) {
    const int saved_errno = errno;
    switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
        return tls_status::want_read;
    case SSL_ERROR_WANT_WRITE:
        return tls_status::want_write;
    case SSL_ERROR_ZERO_RETURN:
        return tls_status::eof;
    case SSL_ERROR_SYSCALL:
        // The error queue must not leak into the next connection's call on this thread.
        error_ = take_openssl_errors();
        if (error_.empty()) {
            error_ = saved_errno != 0 ? std::strerror(saved_errno) : "end of stream";
        }
        return saved_errno == 0 ? tls_status::eof : tls_status::error;
    default:
        error_ = take_openssl_errors();
        if (error_.empty()) {
            error_ = "TLS error";
        }
        return tls_status::error;
    }
}

asio::awaitable<bool> tls_channel::wait(tls_status what) {
    auto kind = what == tls_status::want_write ? tcp_socket::wait_write : tcp_socket::wait_read;
    auto [ec] = co_await sock_.async_wait(kind, use_tuple);
    co_return !ec && fd_ >= 0;
}

asio::awaitable<bool> tls_channel::handshake() {
    if (ssl_ == nullptr) {
        error_ = "cannot make the TLS session";
        co_return false;
    }
    for (;;) {
        ERR_clear_error();
        errno = 0;
        int r = SSL_accept(ssl_);
        if (r == 1) {
            co_return true;
        }
        auto st = status_of(r);
        if (st != tls_status::want_read && st != tls_status::want_write) {
            if (error_.empty()) {
                error_ = "the peer closed during the handshake";
            }
            co_return false;
        }
        bool ok = co_await wait(st);
        if (!ok) {
            error_ = "closed";
            co_return false;
        }
    }
}

tls_status tls_channel::read_some(std::span<std::uint8_t> buf, std::size_t& n) {
    n = 0;
    if (fd_ < 0 || ssl_ == nullptr) {
        return tls_status::error;
    }
    ERR_clear_error();
    errno = 0;
    int r = SSL_read_ex(ssl_, buf.data(), buf.size(), &n);
    if (r == 1) {
        return tls_status::ok;
    }
    return status_of(r);
}

asio::awaitable<bool> tls_channel::write_record(const std::uint8_t* p, std::size_t len) {
    const std::uint8_t* const scratch_begin = scratch();
    bool from_scratch = p >= scratch_begin && p < scratch_begin + max_record;
    while (len > 0) {
        if (fd_ < 0) {
            co_return false;
        }
        ERR_clear_error();
        errno = 0;
        std::size_t n = 0;
        int r = SSL_write_ex(ssl_, p, len, &n);
        if (r == 1) {
            p += n; // partial writes: one record per call, so n == len unless the caller
            len -= n; // passed more than a record
            continue;
        }
        auto st = status_of(r);
        if (st != tls_status::want_read && st != tls_status::want_write) {
            co_return false;
        }
        if (from_scratch) {
            // The retry must present the same bytes; the scratch buffer belongs to the whole
            // shard and another connection's write may refill it while this one waits.
            spill_.assign(p, p + len);
            p = spill_.data();
            from_scratch = false;
        }
        bool ok = co_await wait(st);
        if (!ok) {
            co_return false;
        }
    }
    if (!spill_.empty()) {
        std::vector<std::uint8_t>().swap(spill_);
    }
    co_return true;
}

asio::awaitable<bool>
tls_channel::write_frames(const std::vector<broker::out_frame>& frames, std::size_t& written) {
    written = 0;
    if (ssl_ == nullptr) {
        co_return false;
    }
    std::size_t fill = 0; // bytes in the scratch buffer
    for (const auto& f : frames) {
        for (std::string_view piece : {std::string_view(f.head), f.body}) {
            const auto* p = reinterpret_cast<const std::uint8_t*>(piece.data());
            std::size_t left = piece.size();
            while (left > 0) {
                if (fill == 0 && left >= max_record) {
                    // A whole record straight from the frame (it stays alive until written).
                    bool ok = co_await write_record(p, max_record);
                    if (!ok) {
                        co_return false;
                    }
                    p += max_record;
                    left -= max_record;
                    written += max_record;
                    continue;
                }
                std::size_t take = std::min(left, max_record - fill);
                std::memcpy(scratch() + fill, p, take);
                fill += take;
                p += take;
                left -= take;
                if (fill == max_record) {
                    bool ok = co_await write_record(scratch(), fill);
                    if (!ok) {
                        co_return false;
                    }
                    written += fill;
                    fill = 0;
                }
            }
        }
    }
    if (fill > 0) {
        bool ok = co_await write_record(scratch(), fill);
        if (!ok) {
            co_return false;
        }
        written += fill;
    }
    co_return true;
}

asio::awaitable<void> tls_channel::shutdown() {
    if (ssl_ == nullptr || !SSL_is_init_finished(ssl_)) {
        co_return;
    }
    bool sent = false;
    for (;;) {
        if (fd_ < 0) {
            co_return;
        }
        ERR_clear_error();
        errno = 0;
        int r = SSL_shutdown(ssl_);
        if (r == 1) {
            co_return; // both close_notify alerts exchanged
        }
        tls_status st = tls_status::want_read;
        if (r < 0) {
            st = status_of(r);
            if (st != tls_status::want_read && st != tls_status::want_write) {
                co_return; // the peer's end of stream, or an error: done either way
            }
        } else if (!sent) {
            sent = true; // ours is out; the next call reads the peer's
            continue;
        }
        bool ok = co_await wait(st);
        if (!ok) {
            co_return;
        }
    }
}

} // namespace thinggate::transport::detail
