#include "transport/tls_channel.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <openssl/bio.h>
#include <openssl/crypto.h>
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

// ------------------------------------------------------------------ the builtin record layer

// Records sealed per send: a batch of this many full records goes out with one send() (OpenSSL's
// record layer makes one send per record).
constexpr std::size_t batch_records = 4;
constexpr std::size_t record_room = tls_channel::max_record + tls_record::max_seal_overhead;
constexpr std::size_t batch_size = batch_records * record_room;
// Ciphertext taken per recv() at most (what the caller's buffer can take in plaintext is the
// other bound), and the read size asked of the caller: several records per call.
constexpr std::size_t recv_size = 4 * tls_channel::max_record;
// Pieces shorter than this are copied together before sealing (one cipher update per run of
// small MQTT heads and payloads instead of one per piece); longer ones are sealed in place.
constexpr std::size_t copy_below = 512;
// AEAD tag: every suite here has a 16-byte one; a record's plaintext is at most its wire size
// less the header and the tag.
constexpr std::size_t aead_tag = 16;

struct thread_buffers {
    std::unique_ptr<std::uint8_t[]> in = std::make_unique<std::uint8_t[]>(recv_size);
    std::unique_ptr<std::uint8_t[]> out = std::make_unique<std::uint8_t[]>(batch_size);
    /// Small pieces of the record being gathered, copied together.
    std::unique_ptr<std::uint8_t[]> stage =
            std::make_unique<std::uint8_t[]>(tls_channel::max_record);
    std::vector<std::span<const std::uint8_t>> pieces;
};

// The builtin layer's buffers of this thread (shard), made on its first use.
thread_buffers& buffers() {
    thread_local thread_buffers b;
    return b;
}

/// The SSL ex_data slot holding the record_capture of a handshake (key log callback).
int capture_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

} // namespace

/// What a handshake that may be handed over leaves for the record layer, gathered by the key log
/// and message callbacks (OpenSSL 3.0, ssl/record/rec_layer_s3.c do_ssl3_write and
/// ssl/record/ssl3_record.c ssl3_get_record report each record header, SSL3_RT_HEADER, as the
/// record is built or read; ssl/statem/statem_lib.c reports a handshake message written once it
/// is all written, and one read once it is all read: a record's header always comes before the
/// message it carries).
struct record_capture {
    record_secrets s;
    bool client_secret = false;
    bool server_secret = false;
    bool bad_secret = false;
    // TLS 1.3: records after our Finished (written) and after the client's Finished (read).
    bool finished_written = false;
    bool finished_read = false;
    std::uint64_t written_after_finished = 0;
    std::uint64_t read_after_finished = 0;
    // TLS 1.2: records after the ChangeCipherSpec record in each direction.
    bool ccs_written = false;
    bool ccs_read = false;
    std::uint64_t written_after_ccs = 0;
    std::uint64_t read_after_ccs = 0;
};

namespace {

void count_records(
        int write_p, int, int content_type, const void* buf, std::size_t len, SSL*, void* arg) {
    auto* cap = static_cast<record_capture*>(arg);
    const auto* p = static_cast<const std::uint8_t*>(buf);
    if (cap == nullptr || len == 0) {
        return;
    }
    if (content_type == SSL3_RT_HEADER) {
        if (write_p != 0) {
            cap->written_after_finished += cap->finished_written ? 1 : 0;
            cap->written_after_ccs += cap->ccs_written ? 1 : 0;
            if (p[0] == SSL3_RT_CHANGE_CIPHER_SPEC) {
                cap->ccs_written = true;
                cap->written_after_ccs = 0;
            }
        } else {
            cap->read_after_finished += cap->finished_read ? 1 : 0;
            cap->read_after_ccs += cap->ccs_read ? 1 : 0;
            if (p[0] == SSL3_RT_CHANGE_CIPHER_SPEC) {
                cap->ccs_read = true;
                cap->read_after_ccs = 0;
            }
        }
    } else if (content_type == SSL3_RT_HANDSHAKE && p[0] == SSL3_MT_FINISHED) {
        if (write_p != 0) {
            cap->finished_written = true;
            cap->written_after_finished = 0;
        } else {
            cap->finished_read = true;
            cap->read_after_finished = 0;
        }
    }
}

std::size_t max_fragment(std::uint8_t mode) {
    switch (mode) {
    case TLSEXT_max_fragment_length_512:
        return 512;
    case TLSEXT_max_fragment_length_1024:
        return 1024;
    case TLSEXT_max_fragment_length_2048:
        return 2048;
    case TLSEXT_max_fragment_length_4096:
        return 4096;
    default:
        return tls_channel::max_record;
    }
}

} // namespace

void record_keylog_callback(const SSL* ssl, const char* line) {
    // "LABEL <client random hex> <secret hex>"; OpenSSL cleanses the line after this call, and
    // nothing of it is copied anywhere but into the capture.
    auto* cap =
            static_cast<record_capture*>(SSL_get_ex_data(const_cast<SSL*>(ssl), capture_index()));
    if (cap == nullptr || line == nullptr) {
        return;
    }
    const std::string_view text(line);
    const auto label_end = text.find(' ');
    if (label_end == std::string_view::npos) {
        return;
    }
    const auto label = text.substr(0, label_end);
    std::uint8_t* out = nullptr;
    bool* seen = nullptr;
    if (label == "CLIENT_TRAFFIC_SECRET_0") {
        out = cap->s.client;
        seen = &cap->client_secret;
    } else if (label == "SERVER_TRAFFIC_SECRET_0") {
        out = cap->s.server;
        seen = &cap->server_secret;
    } else {
        return;
    }
    const auto random_end = text.find(' ', label_end + 1);
    if (random_end == std::string_view::npos) {
        cap->bad_secret = true;
        return;
    }
    const auto hex = text.substr(random_end + 1);
    const std::size_t len = hex.size() / 2;
    if (hex.size() % 2 != 0 || len == 0 || len > EVP_MAX_MD_SIZE ||
        (cap->s.secret_len != 0 && cap->s.secret_len != len)) {
        cap->bad_secret = true;
        return;
    }
    for (std::size_t i = 0; i < len; ++i) {
        const int hi = hex_digit(hex[2 * i]);
        const int lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            OPENSSL_cleanse(out, EVP_MAX_MD_SIZE);
            cap->bad_secret = true;
            return;
        }
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    cap->s.secret_len = len;
    *seen = true;
}

tls_channel::tls_channel(tcp_socket sock, SSL_CTX* ctx, bool builtin_records)
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
    if (builtin_records) {
        // No read-ahead during a handshake that is handed over: OpenSSL would keep the client's
        // first application records in its buffer. The capture is attached to the SSL object
        // only for the handshake (the ex_data table goes with the SSL object).
        capture_ = std::make_unique<record_capture>();
        if (SSL_set_ex_data(ssl_, capture_index(), capture_.get()) != 1) {
            capture_.reset();
            ERR_clear_error();
        } else {
            SSL_set_msg_callback(ssl_, count_records);
            SSL_set_msg_callback_arg(ssl_, capture_.get());
        }
    }
    if (!capture_) {
        // Read what the socket has (up to a record buffer) in one recv instead of header, then
        // body.
        SSL_set_read_ahead(ssl_, 1);
    }
    SSL_set_accept_state(ssl_);
}

tls_channel::~tls_channel() {
    close();
    if (ssl_ != nullptr) {
        SSL_free(ssl_);
    }
}

std::size_t tls_channel::read_size() const noexcept {
    return rec_ ? recv_size : max_record;
}

bool tls_channel::detach_openssl(const char*& why) {
    why = nullptr;
    if (!capture_ || ssl_ == nullptr) {
        return false;
    }
    const auto cap = std::move(capture_);
    SSL_set_msg_callback(ssl_, nullptr);
    SSL_set_msg_callback_arg(ssl_, nullptr);
    SSL_set_ex_data(ssl_, capture_index(), nullptr);
    const auto keep = [&](const char* reason) {
        why = reason;
        SSL_set_read_ahead(ssl_, 1); // OpenSSL keeps the records: as on an "openssl" listener
        return false;
    };
    if (!SSL_is_init_finished(ssl_)) {
        return keep("the handshake is not finished");
    }
    record_secrets& s = cap->s;
    s.version = SSL_version(ssl_);
    if (s.version != TLS1_2_VERSION && s.version != TLS1_3_VERSION) {
        return keep("protocol version");
    }
    const SSL_CIPHER* cipher = SSL_get_current_cipher(ssl_);
    if (cipher == nullptr) {
        return keep("no cipher");
    }
    switch (SSL_CIPHER_get_cipher_nid(cipher)) {
    case NID_aes_128_gcm:
        s.aead = record_aead::aes_128_gcm;
        break;
    case NID_aes_256_gcm:
        s.aead = record_aead::aes_256_gcm;
        break;
    case NID_chacha20_poly1305:
        s.aead = record_aead::chacha20_poly1305;
        break;
    default:
        return keep("cipher suite");
    }
    s.hash = SSL_CIPHER_get_handshake_digest(cipher);
    if (s.hash == nullptr) {
        return keep("cipher suite hash");
    }
    if (SSL_has_pending(ssl_) != 0) {
        return keep("OpenSSL holds received bytes");
    }
    if (SSL_get_key_update_type(ssl_) != SSL_KEY_UPDATE_NONE) {
        return keep("a key update is pending");
    }
    SSL_SESSION* session = SSL_get_session(ssl_);
    if (session == nullptr) {
        return keep("no session");
    }
    if (s.version == TLS1_3_VERSION) {
        if (!cap->client_secret || !cap->server_secret || cap->bad_secret ||
            s.secret_len != static_cast<std::size_t>(EVP_MD_get_size(s.hash))) {
            return keep("traffic secrets not captured");
        }
        // Read: nothing after the client's Finished (no read-ahead); write: the tickets.
        if (!cap->finished_written || !cap->finished_read || cap->read_after_finished != 0 ||
            cap->written_after_finished > 16) {
            return keep("record counts");
        }
        s.read_seq = cap->read_after_finished;
        s.write_seq = cap->written_after_finished;
    } else {
        s.secret_len = SSL_SESSION_get_master_key(session, s.client, sizeof s.client);
        if (s.secret_len != SSL3_MASTER_SECRET_SIZE ||
            SSL_get_client_random(ssl_, s.client_random, sizeof s.client_random) !=
                    sizeof s.client_random ||
            SSL_get_server_random(ssl_, s.server_random, sizeof s.server_random) !=
                    sizeof s.server_random) {
            return keep("master secret");
        }
        // Each side's Finished is the only record after its ChangeCipherSpec.
        if (!cap->ccs_written || !cap->ccs_read || cap->written_after_ccs != 1 ||
            cap->read_after_ccs != 1) {
            return keep("record counts");
        }
        s.read_seq = cap->read_after_ccs;
        s.write_seq = cap->written_after_ccs;
    }
    s.max_plain = max_fragment(SSL_SESSION_get_max_fragment_length(session));
    rec_ = tls_record::make(s);
    if (!rec_) {
        ERR_clear_error();
        return keep("the record layer could not be set up");
    }
    // Both close_notify flags: SSL_free must not take the session for a broken one and remove
    // it from the session cache.
    SSL_set_shutdown(ssl_, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(ssl_);
    ssl_ = nullptr;
    ERR_clear_error();
    return true;
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
    if (rec_) {
        return read_records(buf, n);
    }
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
    if (rec_) {
        bool ok = co_await write_sealed(frames, written);
        co_return ok;
    }
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
    if (rec_) {
        co_await shutdown_records();
        co_return;
    }
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

// ------------------------------------------------------------------ the builtin record layer

void tls_channel::queue_output(const std::uint8_t* p, std::size_t len) {
    if (spill_off_ == spill_.size()) {
        spill_.clear();
        spill_off_ = 0;
    }
    spill_.insert(spill_.end(), p, p + len);
}

void tls_channel::queue_control() {
    // Our KeyUpdate answering the peer's, sealed under the old key: it goes after whatever
    // sealed ciphertext still waits and before anything sealed from now on (which uses the new
    // key). Sent now if the socket takes it; otherwise the writer sends it (output_pending()).
    auto control = rec_->pending_control();
    if (control.empty()) {
        return;
    }
    queue_output(control.data(), control.size());
    rec_->clear_pending_control();
    flush_spill();
}

bool tls_channel::send_some(const std::uint8_t*& p, std::size_t& len) {
    while (len > 0) {
        if (fd_ < 0) {
            error_ = "closed";
            failed_ = true;
            return false;
        }
        ssize_t r = ::send(fd_, p, len, MSG_NOSIGNAL);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true; // the rest waits for the socket
            }
            error_ = std::strerror(errno);
            failed_ = true;
            return false;
        }
        p += r;
        len -= static_cast<std::size_t>(r);
    }
    return true;
}

bool tls_channel::flush_spill() {
    const std::uint8_t* p = spill_.data() + spill_off_;
    std::size_t len = spill_.size() - spill_off_;
    if (!send_some(p, len)) {
        return false;
    }
    spill_off_ = spill_.size() - len;
    if (len > 0) {
        return true;
    }
    std::vector<std::uint8_t>().swap(spill_); // an idle connection holds no output buffer
    spill_off_ = 0;
    return true;
}

asio::awaitable<bool> tls_channel::drain_spill() {
    for (;;) {
        if (failed_ || fd_ < 0 || !flush_spill()) {
            co_return false;
        }
        if (!output_pending()) {
            co_return true;
        }
        auto [ec] = co_await sock_.async_wait(tcp_socket::wait_write, use_tuple);
        if (ec || fd_ < 0) {
            co_return false;
        }
    }
}

asio::awaitable<bool> tls_channel::send_batch(const std::uint8_t* p, std::size_t len) {
    if (!output_pending()) {
        if (!send_some(p, len)) {
            co_return false;
        }
        if (len == 0) {
            co_return true;
        }
    }
    // The rest waits as ciphertext, in order after anything already waiting: the batch buffer
    // is the shard's and is refilled by the next connection's write meanwhile.
    queue_output(p, len);
    bool ok = co_await drain_spill();
    co_return ok;
}

asio::awaitable<bool>
tls_channel::write_sealed(const std::vector<broker::out_frame>& frames, std::size_t& written) {
    written = 0;
    if (failed_ || fd_ < 0) {
        co_return false;
    }
    if (output_pending()) {
        bool ok = co_await drain_spill(); // sealed earlier: goes first
        if (!ok) {
            co_return false;
        }
    }
    // Nothing below suspends while the shard's buffers hold anything of this connection's:
    // records are sealed into `out` and sent (what the socket does not take is copied out)
    // before the next co_await.
    auto& tb = buffers();
    const std::size_t plain = rec_->max_plain();
    std::size_t out_len = 0;
    std::size_t fill = 0;       // plaintext bytes gathered for the next record
    std::size_t stage_fill = 0; // of which copied into tb.stage
    tb.pieces.clear();
    const auto seal = [&] {
        const std::size_t len = rec_->seal(tb.pieces, tb.out.get() + out_len);
        tb.pieces.clear();
        if (len == 0) { // cannot seal (e.g. sequence numbers exhausted): end the connection
            failed_ = true;
            error_ = rec_->reason();
            return false;
        }
        out_len += len;
        written += fill;
        fill = 0;
        stage_fill = 0;
        return true;
    };
    for (const auto& f : frames) {
        for (std::string_view piece : {std::string_view(f.head), f.body}) {
            const auto* p = reinterpret_cast<const std::uint8_t*>(piece.data());
            std::size_t left = piece.size();
            while (left > 0) {
                const std::size_t take = std::min(left, plain - fill);
                if (take < copy_below) {
                    std::uint8_t* dst = tb.stage.get() + stage_fill;
                    std::memcpy(dst, p, take);
                    if (!tb.pieces.empty() &&
                        tb.pieces.back().data() + tb.pieces.back().size() == dst) {
                        tb.pieces.back() = {
                                tb.pieces.back().data(), tb.pieces.back().size() + take};
                    } else {
                        tb.pieces.emplace_back(dst, take);
                    }
                    stage_fill += take;
                } else {
                    tb.pieces.emplace_back(p, take); // sealed straight from the frame
                }
                fill += take;
                p += take;
                left -= take;
                if (fill < plain) {
                    continue;
                }
                if (!seal()) {
                    co_return false;
                }
                if (batch_size - out_len >= plain + tls_record::max_seal_overhead) {
                    continue;
                }
                bool ok = co_await send_batch(tb.out.get(), out_len);
                out_len = 0;
                if (!ok) {
                    co_return false;
                }
            }
        }
    }
    if (fill > 0 && !seal()) {
        co_return false;
    }
    if (out_len > 0) {
        bool ok = co_await send_batch(tb.out.get(), out_len);
        if (!ok) {
            co_return false;
        }
    }
    co_return true;
}

tls_status tls_channel::record_failure() {
    error_ = rec_->reason();
    // Best effort, without waiting: the fatal alert after anything already sealed. None after
    // the peer's own fatal alert (then alert() is close_notify: nothing is owed, RFC 8446 §6.2).
    if (rec_->alert() != record_alert::close_notify && fd_ >= 0) {
        std::uint8_t alert[64];
        const std::size_t len = rec_->seal_alert(rec_->alert(), alert);
        if (len > 0) {
            queue_output(alert, len);
            flush_spill();
        }
    }
    failed_ = true;
    return tls_status::error;
}

std::size_t tls_channel::open_records(
        std::span<std::uint8_t> src, std::span<std::uint8_t> buf, std::size_t& n, tls_status& st) {
    const bool discard = buf.data() == nullptr; // shutdown: whatever comes is dropped
    std::size_t off = 0;
    while (off < src.size()) {
        auto rest = src.subspan(off);
        bool bad = false;
        const std::size_t len = rec_->record_size(rest, bad);
        if (bad) {
            st = record_failure();
            return off;
        }
        if (len == 0 || len > rest.size()) {
            break; // a partial record
        }
        const std::size_t room = discard ? 0 : buf.size() - n;
        std::uint8_t* out = nullptr;
        bool copy = false;
        if (!discard && room >= len) {
            out = buf.data() + n; // straight into the caller's buffer
        } else if (
                discard || room + tls_record::header_len + aead_tag >= len ||
                (n == 0 && room >= max_record)) {
            // In place, then copied: its plaintext fits (at most the wire size less header and
            // tag, and never more than max_record, which the first record always has room for).
            out = rest.data() + tls_record::header_len;
            copy = !discard;
        } else {
            break; // the caller's buffer is full
        }
        std::size_t m = 0;
        const auto status = rec_->open(rest.first(len), out, m);
        off += len;
        switch (status) {
        case open_status::data:
            if (copy && m > room) {
                error_ = "record larger than its limit";
                failed_ = true;
                st = tls_status::error;
                return off;
            }
            if (copy) {
                std::memmove(buf.data() + n, out, m);
            }
            n += discard ? 0 : m;
            break;
        case open_status::control:
            queue_control();
            if (failed_) {
                st = tls_status::error;
                return off;
            }
            break;
        case open_status::close_notify:
            peer_closed_ = true;
            st = tls_status::eof;
            return off;
        case open_status::fatal:
            st = record_failure();
            return off;
        }
    }
    return off;
}

tls_status tls_channel::read_records(std::span<std::uint8_t> buf, std::size_t& n) {
    n = 0;
    if (failed_ || fd_ < 0) {
        if (error_.empty()) {
            error_ = "closed";
        }
        return tls_status::error;
    }
    if (peer_closed_) {
        return tls_status::eof;
    }
    const bool discard = buf.data() == nullptr;
    if (!discard && buf.size() < max_record) {
        error_ = "read buffer smaller than a record";
        return tls_status::error;
    }
    const auto done = [&](tls_status st) {
        if (st == tls_status::eof && n > 0) {
            return tls_status::ok; // the data first; peer_closed_ ends the next call
        }
        return st;
    };
    tls_status st = tls_status::ok;
    if (!in_.empty()) {
        // Records kept from the last call come first.
        const std::size_t used = open_records(in_, buf, n, st);
        in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(used));
        if (in_.empty()) {
            std::vector<std::uint8_t>().swap(in_);
        }
        if (st != tls_status::ok) {
            return done(st);
        }
        bool bad = false;
        const std::size_t next = rec_->record_size(in_, bad);
        if (next != 0 && next <= in_.size()) {
            return tls_status::ok; // the caller's buffer is full (n > 0: it holds a record)
        }
    }
    auto& tb = buffers();
    for (;;) {
        const std::size_t room = discard ? recv_size : buf.size() - n;
        if (n > 0 && room < max_record) {
            return tls_status::ok;
        }
        // No more ciphertext than plaintext room: every whole record received then fits.
        const std::size_t want = std::min(room, recv_size);
        ssize_t r = ::recv(fd_, tb.in.get(), want, 0);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return n > 0 ? tls_status::ok : tls_status::want_read;
            }
            error_ = std::strerror(errno);
            failed_ = true;
            return tls_status::error;
        }
        if (r == 0) {
            // End of stream without close_notify (a partial record is dropped with it).
            peer_closed_ = true;
            std::vector<std::uint8_t>().swap(in_);
            return done(tls_status::eof);
        }
        std::span<std::uint8_t> data(tb.in.get(), static_cast<std::size_t>(r));
        if (!in_.empty()) {
            // Complete the partial record (its header first) from what came.
            bool bad = false;
            std::size_t need = rec_->record_size(in_, bad);
            if (need == 0 && !bad) {
                const std::size_t take = std::min(tls_record::header_len - in_.size(), data.size());
                in_.insert(
                        in_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
                data = data.subspan(take);
                need = rec_->record_size(in_, bad);
            }
            if (bad) {
                return record_failure();
            }
            if (need != 0) {
                const std::size_t take = std::min(need - in_.size(), data.size());
                in_.insert(
                        in_.end(), data.begin(), data.begin() + static_cast<std::ptrdiff_t>(take));
                data = data.subspan(take);
            }
            if (need == 0 || in_.size() < need) {
                continue; // all of it went into the partial record
            }
            const std::size_t used = open_records(in_, buf, n, st);
            if (st != tls_status::ok) {
                return done(st);
            }
            if (used == 0) {
                // No room for it: it and the rest wait for the next call.
                in_.insert(in_.end(), data.begin(), data.end());
                return tls_status::ok;
            }
            std::vector<std::uint8_t>().swap(in_);
        }
        const std::size_t used = open_records(data, buf, n, st);
        if (st != tls_status::ok) {
            return done(st);
        }
        if (used < data.size()) {
            in_.assign(data.begin() + static_cast<std::ptrdiff_t>(used), data.end());
        }
        if (n > 0) {
            return tls_status::ok;
        }
    }
}

asio::awaitable<void> tls_channel::shutdown_records() {
    if (failed_ || fd_ < 0) {
        co_return;
    }
    std::uint8_t alert[64];
    const std::size_t len = rec_->seal_alert(record_alert::close_notify, alert);
    if (len == 0) {
        co_return;
    }
    queue_output(alert, len);
    bool ok = co_await drain_spill();
    if (!ok) {
        co_return;
    }
    // The peer's close_notify or end of stream; what else comes is dropped.
    for (;;) {
        std::size_t n = 0;
        const auto st = read_records({}, n);
        if (st == tls_status::ok) {
            continue;
        }
        if (st != tls_status::want_read) {
            co_return;
        }
        auto [ec] = co_await sock_.async_wait(tcp_socket::wait_read, use_tuple);
        if (ec || fd_ < 0) {
            co_return;
        }
    }
}

} // namespace thinggate::transport::detail
