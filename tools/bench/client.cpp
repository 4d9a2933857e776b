#include "tools/bench/client.hpp"

#include <algorithm>
#include <array>
#include <bitset>
#include <cerrno>
#include <cstring>
#include <exception>
#include <span>
#include <string_view>
#include <tuple>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <fmt/format.h>
#include <sys/socket.h>

#include "mqtt/codec.hpp"
#include "tools/bench/publish_view.hpp"

namespace thinggate::bench {

namespace {

using tcp = asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
using io_result = std::tuple<error_code, std::size_t>;

// A mutual-TLS client connection without Asio's SSL engine: OpenSSL reads and writes the
// non-blocking socket itself (through socket_bio below), with read-ahead, so one recv(2) brings
// several records into OpenSSL's buffer and each record is decrypted from there straight into
// the caller's buffer. Asio's ssl::stream copies every byte twice more (socket -> its input
// buffer -> the BIO pair -> the record buffer) and costs an event-loop turn per SSL_read; it made
// the load tool, not the broker, the limit of the mTLS fan-out. Waiting is the socket's
// async_wait (readable / writable, as OpenSSL asks). Not thread safe: one worker thread.
class tls_socket {
public:
    /// `read_buffer`: OpenSSL's read-ahead buffer in bytes (0 = its default, one record), and
    /// `release_buffers`: give OpenSSL's buffers back while the connection is idle.
    tls_socket(
            const asio::any_io_executor& ex,
            asio::ssl::context& ctx,
            std::size_t read_buffer,
            bool release_buffers)
        : socket_(ex)
        , ssl_(SSL_new(ctx.native_handle())) {
        if (ssl_ == nullptr) {
            return;
        }
        SSL_set_mode(ssl_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
        if (release_buffers) {
            SSL_set_mode(ssl_, SSL_MODE_RELEASE_BUFFERS);
        }
        SSL_set_read_ahead(ssl_, 1);
        if (read_buffer > 0) {
            SSL_set_default_read_buffer_len(ssl_, read_buffer);
        }
    }

    ~tls_socket() {
        if (ssl_ != nullptr) {
            SSL_free(ssl_);
        }
    }

    tls_socket(const tls_socket&) = delete;
    tls_socket& operator=(const tls_socket&) = delete;

    tcp::socket& lowest_layer() noexcept { return socket_; }

    /// The last recv(2) emptied the socket (nothing was waiting in it right after).
    bool socket_empty() const noexcept { return socket_empty_; }

    /// Null when SSL_new failed (out of memory): the caller fails the connection.
    SSL* native_handle() noexcept { return ssl_; }

    /// After the TCP connect: OpenSSL takes the (non-blocking) socket; then the handshake.
    asio::awaitable<error_code> handshake() {
        error_code ec;
        socket_.non_blocking(true, ec);
        if (ec) {
            co_return ec;
        }
        BIO_METHOD* method = socket_bio_method();
        BIO* bio = method != nullptr ? BIO_new(method) : nullptr;
        if (bio == nullptr) {
            co_return ssl_error(SSL_ERROR_SSL);
        }
        BIO_set_data(bio, this);
        BIO_set_init(bio, 1);
        SSL_set_bio(ssl_, bio, bio); // the SSL owns it now
        SSL_set_connect_state(ssl_);
        for (;;) {
            ERR_clear_error();
            const int r = SSL_do_handshake(ssl_);
            if (r == 1) {
                co_return error_code{};
            }
            const int e = SSL_get_error(ssl_, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                co_return ssl_error(e);
            }
            auto [wec] = co_await socket_.async_wait(wait_for(e), use_tuple);
            if (wec) {
                co_return wec;
            }
            socket_empty_ = false;
        }
    }

    /// Decrypts what has arrived into `b` without waiting: record after record until `b` is
    /// full or nothing complete is left (then asio::error::would_block if nothing came at all).
    std::size_t read_some(asio::mutable_buffer b, error_code& ec) {
        ec = {};
        auto* p = static_cast<char*>(b.data());
        std::size_t total = 0;
        ERR_clear_error();
        while (total < b.size()) {
            std::size_t n = 0;
            const int r = SSL_read_ex(ssl_, p + total, b.size() - total, &n);
            if (r == 1) {
                total += n;
                continue;
            }
            const int e = SSL_get_error(ssl_, r);
            if (total > 0) {
                break; // what came is returned now; the error (if any) comes again next time
            }
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
                read_wait_ = wait_for(e);
                ec = asio::error::would_block;
            } else {
                ec = ssl_error(e);
            }
            break;
        }
        return total;
    }

    /// Reads at least one byte into `b`, waiting for the socket as OpenSSL asks.
    asio::awaitable<io_result> async_read_some(asio::mutable_buffer b) {
        for (;;) {
            error_code ec;
            const std::size_t n = read_some(b, ec);
            if (ec != asio::error::would_block) {
                co_return io_result{ec, n};
            }
            auto [wec] = co_await socket_.async_wait(read_wait_, use_tuple);
            if (wec) {
                co_return io_result{wec, 0};
            }
            socket_empty_ = false;
        }
    }

    /// Writes all of `b` (OpenSSL cuts it into records), waiting for the socket as it asks.
    asio::awaitable<io_result> async_write(asio::const_buffer b) {
        const auto* p = static_cast<const char*>(b.data());
        std::size_t done = 0;
        while (done < b.size()) {
            ERR_clear_error();
            std::size_t n = 0;
            // After a WANT_*, the retry passes the same bytes, as OpenSSL requires.
            const int r = SSL_write_ex(ssl_, p + done, b.size() - done, &n);
            if (r == 1) {
                done += n;
                continue;
            }
            const int e = SSL_get_error(ssl_, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                co_return io_result{ssl_error(e), done};
            }
            auto [wec] = co_await socket_.async_wait(wait_for(e), use_tuple);
            if (wec) {
                co_return io_result{wec, done};
            }
            socket_empty_ = false;
        }
        co_return io_result{error_code{}, done};
    }

private:
    static tcp::socket::wait_type wait_for(int ssl_error) noexcept {
        return ssl_error == SSL_ERROR_WANT_WRITE ? tcp::socket::wait_write : tcp::socket::wait_read;
    }

    // The error_code of a failed SSL call (`e` from SSL_get_error); empties the error queue.
    static error_code ssl_error(int e) {
        if (e == SSL_ERROR_ZERO_RETURN) {
            return asio::error::eof; // close_notify
        }
        const unsigned long err = ERR_get_error();
        ERR_clear_error();
        if (e == SSL_ERROR_SYSCALL && err == 0) {
            if (errno != 0 && errno != EAGAIN) {
                return {errno, boost::system::system_category()};
            }
            return asio::ssl::error::stream_truncated; // EOF without close_notify
        }
        if (err == 0) {
            return asio::error::fault;
        }
        if (ERR_GET_REASON(err) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
            return asio::ssl::error::stream_truncated;
        }
        return {static_cast<int>(err), asio::error::get_ssl_category()};
    }

    // OpenSSL's transport: recv(2) / send(2) on the socket. A recv that returned less than asked
    // emptied the socket, so the next one says "retry" without a system call (an empty recv per
    // batch of records saved); the wait after it is an epoll_ctl re-arm, which reports data that
    // came in between, so nothing is missed.
    static BIO_METHOD* socket_bio_method() {
        static BIO_METHOD* const method = [] {
            BIO_METHOD* m =
                    BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "bench-socket");
            if (m != nullptr) {
                BIO_meth_set_read_ex(m, &bio_read);
                BIO_meth_set_write_ex(m, &bio_write);
                BIO_meth_set_ctrl(m, &bio_ctrl);
            }
            return m;
        }();
        return method;
    }

    static int bio_read(BIO* b, char* data, std::size_t n, std::size_t* got) {
        auto* self = static_cast<tls_socket*>(BIO_get_data(b));
        BIO_clear_retry_flags(b);
        *got = 0;
        if (self->socket_empty_) {
            BIO_set_retry_read(b);
            return 0;
        }
        const ssize_t r = ::recv(self->socket_.native_handle(), data, n, 0);
        if (r > 0) {
            *got = static_cast<std::size_t>(r);
            self->socket_empty_ = *got < n;
            return 1;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            self->socket_empty_ = true;
            BIO_set_retry_read(b);
        }
        return 0; // r == 0: end of stream (OpenSSL: unexpected EOF unless close_notify came)
    }

    static int bio_write(BIO* b, const char* data, std::size_t n, std::size_t* put) {
        auto* self = static_cast<tls_socket*>(BIO_get_data(b));
        BIO_clear_retry_flags(b);
        *put = 0;
        const ssize_t r = ::send(self->socket_.native_handle(), data, n, MSG_NOSIGNAL);
        if (r >= 0) {
            *put = static_cast<std::size_t>(r);
            return 1;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            BIO_set_retry_write(b);
        }
        return 0;
    }

    static long bio_ctrl(BIO*, int cmd, long, void*) {
        return cmd == BIO_CTRL_FLUSH ? 1 : 0; // nothing is buffered here
    }

    tcp::socket socket_;
    SSL* ssl_;
    tcp::socket::wait_type read_wait_ = tcp::socket::wait_read;
    bool socket_empty_ = false; ///< the last recv emptied the socket: wait before the next
};

using tls_stream = tls_socket;

// Success acknowledgements (PUBACK, PUBREC, PUBREL, PUBCOMP) with Remaining Length 2: the same
// bytes in MQTT 3.1.1 and 5 (a v5 reason code Success with no properties may be omitted,
// MQTT 5 §3.4.2.1), appended without building an mqtt::packet.
void append_ack(std::string& out, std::uint8_t first_byte, std::uint16_t packet_id) {
    const char b[4] = {
            static_cast<char>(first_byte),
            2,
            static_cast<char>(packet_id >> 8),
            static_cast<char>(packet_id & 0xff)};
    out.append(b, sizeof b);
}

constexpr std::uint8_t puback_byte = 0x40;
constexpr std::uint8_t pubrec_byte = 0x50;
constexpr std::uint8_t pubcomp_byte = 0x70;

constexpr std::size_t out_high_water = 256 * 1024; // a publisher waits above this many unsent bytes
// The input buffer starts small (an idle connection costs little) and doubles whenever a read
// fills it, up to read_buffer_max (the busy subscriber of a fan-in reads 256 KiB per call).
constexpr std::size_t read_buffer_min = 4 * 1024;
constexpr std::size_t read_buffer_max = 256 * 1024;
// Plain TCP: after a read, the reader reads again without waiting (non-blocking) until the socket
// is empty or this many bytes came in one turn; only then does it go back to the event loop.
// A subscriber so drains its socket as eagerly as publishers on the same thread fill theirs.
constexpr std::size_t drain_per_turn = 4 * 1024 * 1024;
// TLS: a subscriber's OpenSSL read-ahead buffer (several 16 KiB records per read(2)), for runs of
// up to bulk_read_subscribers subscribers (more get OpenSSL's default of one record).
constexpr std::size_t tls_read_ahead = 64 * 1024;
constexpr std::uint32_t bulk_read_subscribers = 1000;
// Plain TCP, payloads of at least skim_min_payload bytes: a subscriber reads each PUBLISH's
// head (fixed and variable header and the payload's first bytes, with the stamp) in reads of at
// most skim_read bytes and lets the kernel drop the rest of the payload (recv with MSG_TRUNC: no
// copy to user space). The broker sends every byte as before; the tool only needs the stamp.
constexpr std::size_t skim_min_payload = 16 * 1024;
constexpr std::size_t skim_read = 1024;
// A publisher lets the other coroutines of its thread run after this many messages or bytes.
constexpr unsigned yield_messages = 64;
constexpr std::size_t yield_bytes = 32 * 1024;
constexpr std::size_t max_error_samples = 5;
constexpr std::uint32_t max_incoming_packet = 4 * 1024 * 1024;
constexpr auto open_timeout = 15s;

template <typename T>
void bump(std::atomic<T>& a, T n = 1) noexcept {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

std::span<std::uint8_t> writable(std::string& s) noexcept {
    return {reinterpret_cast<std::uint8_t*>(s.data()), s.size()};
}

// The root of every session coroutine: an exception here is a bug in the tool; it is counted
// and reported, never swallowed silently.
struct report_exception {
    worker* w;

    void operator()(const std::exception_ptr& e) const {
        if (!e) {
            return;
        }
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            w->error(std::string("internal: ") + ex.what());
        }
    }
};

template <class Stream>
class session final
    : public session_base
    , public std::enable_shared_from_this<session<Stream>> {
public:
    session(worker& w, const connection_plan& plan)
        : session_base(w, plan)
        , ex_(w.context().get_executor())
        , wake_(ex_)
        , writer_wake_(ex_)
        , ping_timer_(ex_) {
        const auto& o = *w.shared().opts;
        version_ = o.version;
        if (plan.role == role::subscriber) {
            trackers_.resize(plan.publisher_count);
            skim_ = std::is_same_v<Stream, tcp::socket> && o.payload >= skim_min_payload;
        }
        if (plan.role == role::publisher) {
            payload_.assign(o.payload, '\0');
            fill_payload(writable(payload_));
            pub_.topic = plan.topic;
            pub_.qos = o.qos;
            window_ = o.inflight;
        }
    }

    void start() override {
        asio::co_spawn(ex_, run(this->shared_from_this()), report_exception{&worker_});
    }

    void start_publishing(steady::time_point at, steady::time_point deadline) override {
        start_at_ = at;
        deadline_ = deadline;
        started_ = true;
        wake();
    }

    void wake() override { wake_.cancel(); }

    void close() override {
        if (closing_) {
            return;
        }
        closing_ = true;
        wake_.cancel();
        ping_timer_.cancel();
        if (connected_) {
            mqtt::disconnect d;
            if (plan_.persistent && version_ == mqtt::protocol_version::v5) {
                d.props.session_expiry_interval = 0; // the run is over: the broker may discard it
                session_ended_ = true;
            }
            mqtt::encode(d, version_, out_);
            writer_wake_.cancel();
        } else {
            shutdown();
        }
    }

    void go_offline() override {
        if (!plan_.persistent || !connected_ || closing_ || leaving_) {
            return;
        }
        leaving_ = true;
        mqtt::encode(mqtt::disconnect{}, version_, out_); // the session (and its expiry) stays
        writer_wake_.cancel();
    }

    void reconnect() override {
        if (!plan_.persistent) {
            return;
        }
        reconnect_requested_ = true;
        wake_.cancel();
    }

private:
    using self_ptr = std::shared_ptr<session<Stream>>;

    const options& opts() const noexcept { return *worker_.shared().opts; }

    bool stopping() const noexcept {
        return closing_ || worker_.shared().stop.load(std::memory_order_relaxed);
    }

    void fail(std::string_view what, const error_code& ec = {}) {
        if (closing_ || leaving_) {
            return;
        }
        worker_.error(
                ec ? fmt::format("{}: {}: {}", plan_.client_id, what, ec.message())
                   : fmt::format("{}: {}", plan_.client_id, what));
        failed_ = true;
    }

    void shutdown() {
        if (stream_) {
            error_code ignored;
            stream_->lowest_layer().shutdown(tcp::socket::shutdown_both, ignored);
            stream_->lowest_layer().close(ignored);
        }
        connected_ = false;
        writer_wake_.cancel();
        wake_.cancel();
        ping_timer_.cancel();
    }

    // --- the root coroutine per role ---------------------------------------------------------

    static asio::awaitable<void> run(self_ptr self) {
        auto& stats = self->worker_.stats();
        bump(stats.open);
        if (self->plan_.role == role::connector) {
            self->worker_.release_open(); // connectors open in their own loop, unthrottled
            co_await self->storm();
        } else {
            co_await self->connected_life();
        }
        if (self->failed_) {
            bump(stats.failed);
        }
        stats.open.store(stats.open.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    }

    asio::awaitable<void> connected_life() {
        const bool ok = co_await open_throttled(!plan_.persistent);
        if (!ok) {
            co_return;
        }
        spawn_helpers();
        if (plan_.role == role::subscriber) {
            send_subscribe();
        } else {
            bump(worker_.stats().ready);
        }
        if (plan_.role == role::publisher) {
            asio::co_spawn(ex_, publisher(this->shared_from_this()), report_exception{&worker_});
        }
        co_await reader();
        shutdown();
        if (plan_.persistent && leaving_ && !closing_) {
            co_await offline_and_back();
        }
        if (plan_.persistent && closing_ && !session_ended_) {
            co_await discard_session();
        }
    }

    void spawn_helpers() {
        asio::co_spawn(ex_, writer(this->shared_from_this()), report_exception{&worker_});
        if (opts().keep_alive > 0) {
            asio::co_spawn(ex_, pinger(this->shared_from_this()), report_exception{&worker_});
        }
    }

    // Backlog: offline until the runner says to reconnect; then Clean Start 0 again, the broker
    // must still have the session (Session Present 1 [MQTT-3.2.2-2]), and it sends the backlog.
    asio::awaitable<void> offline_and_back() {
        auto& stats = worker_.stats();
        bump(stats.offline);
        while (!reconnect_requested_ && !closing_) {
            co_await wait(steady::time_point::max());
        }
        leaving_ = false;
        if (closing_) {
            co_return;
        }
        const bool ok = co_await open(false);
        if (!ok) {
            co_return;
        }
        stats.reconnect_ns.store(now_ns(), std::memory_order_relaxed);
        bump(stats.reconnected);
        if (!session_present_) {
            fail("reconnected with Clean Start 0, but the broker kept no session");
            shutdown();
            co_return;
        }
        spawn_helpers();
        co_await reader();
        shutdown();
    }

    // Leaves nothing behind on the broker: a connect with Clean Start 1 (and, in MQTT 5, no Session
    // Expiry) ends the stored session when it closes. MQTT 3.1.1 has no other way.
    asio::awaitable<void> discard_session() {
        const bool ok = co_await open(true);
        if (!ok) {
            co_return;
        }
        std::string bye;
        mqtt::encode(mqtt::disconnect{}, version_, bye);
        [[maybe_unused]] auto [ec, n] = co_await write_all(asio::buffer(bye));
        shutdown();
    }

    // Opens with the worker's open slot (taken when the worker started this session) and gives
    // the slot back, so that the worker starts the next session.
    asio::awaitable<bool> open_throttled(bool clean_start) {
        const bool ok = co_await open(clean_start);
        worker_.release_open();
        co_return ok;
    }

    // TCP connect, TCP_NODELAY, TLS handshake (a fresh SSL, so a full handshake), CONNECT and
    // CONNACK. False (and an error recorded) on any failure.
    asio::awaitable<bool> open(bool clean_start) {
        const auto& t = *worker_.shared().tgt;
        if constexpr (std::is_same_v<Stream, tls_stream>) {
            // Subscribers read OpenSSL's records through a large read-ahead buffer (several
            // records per read(2)) and keep it; idle connections and the storm's connectors give
            // OpenSSL's buffers back between reads, as Asio's engine did.
            const bool busy = plan_.role == role::subscriber || plan_.role == role::publisher;
            const bool bulk = plan_.role == role::subscriber &&
                              worker_.shared().plan->subscribers <= bulk_read_subscribers;
            stream_.emplace(ex_, *worker_.shared().tls, bulk ? tls_read_ahead : 0, !busy);
            if (stream_->native_handle() == nullptr) {
                fail("SSL_new failed");
                co_return false;
            }
        } else {
            stream_.emplace(ex_);
        }
        in_begin_ = 0;
        in_end_ = 0;
        socket_empty_ = false;
        partial_ = false;
        skip_ = 0;
        error_code ec;
        const tcp::endpoint ep(asio::ip::make_address(t.address, ec), t.port);
        if (ec) {
            fail("bad address", ec);
            co_return false;
        }
        // A connect or handshake that hangs must not hang the run: the timer closes the socket.
        ping_timer_.expires_after(open_timeout);
        ping_timer_.async_wait([this, keep = this->shared_from_this()](const error_code& e) {
            if (!e && !connected_ && stream_) {
                error_code ignored;
                stream_->lowest_layer().close(ignored);
            }
        });
        auto [cec] = co_await stream_->lowest_layer().async_connect(ep, use_tuple);
        if (cec) {
            fail("connect", cec);
            co_return false;
        }
        stream_->lowest_layer().set_option(tcp::no_delay(true), ec);
        if constexpr (std::is_same_v<Stream, tcp::socket>) {
            stream_->non_blocking(true, ec); // for the draining reads (see drain_per_turn)
        } // (tls_socket::handshake makes its socket non-blocking)
        if constexpr (std::is_same_v<Stream, tls_stream>) {
            SSL* ssl = stream_->native_handle();
            if (t.host == "localhost") {
                SSL_set_tlsext_host_name(ssl, "localhost");
                SSL_set1_host(ssl, "localhost");
            } else {
                X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), t.address.c_str());
            }
            const auto hec = co_await stream_->handshake();
            if (hec) {
                fail("TLS handshake", hec);
                co_return false;
            }
        }
        mqtt::connect c;
        c.version = version_;
        c.clean_start = clean_start;
        c.client_id = plan_.client_id;
        c.keep_alive = plan_.role == role::connector ? 0 : opts().keep_alive;
        if (version_ == mqtt::protocol_version::v5) {
            c.props.receive_maximum = 65535; // let the broker pipeline deliveries to us
            if (plan_.persistent && !clean_start) {
                c.props.session_expiry_interval = backlog_session_expiry_s;
            }
        }
        std::string wire;
        mqtt::encode(c, version_, wire);
        auto [wec, wn] = co_await write_all(asio::buffer(wire));
        if (wec) {
            fail("write CONNECT", wec);
            co_return false;
        }
        mqtt::frame_header h;
        std::span<const std::uint8_t> body;
        const bool got = co_await read_packet(h, body);
        if (!got) {
            fail("no CONNACK");
            co_return false;
        }
        auto p = mqtt::decode(h, body, version_);
        consume(h);
        if (!p || !std::holds_alternative<mqtt::connack>(*p)) {
            fail("expected CONNACK");
            co_return false;
        }
        const auto& ack = std::get<mqtt::connack>(*p);
        if (mqtt::is_failure(ack.reason)) {
            fail(fmt::format("CONNACK refused: {}", mqtt::to_string(ack.reason)));
            co_return false;
        }
        if (ack.props.receive_maximum) {
            window_ = std::min<std::uint32_t>(window_, *ack.props.receive_maximum);
        }
        if (ack.props.server_keep_alive) {
            server_keep_alive_ = *ack.props.server_keep_alive;
        }
        session_present_ = ack.session_present;
        ping_timer_.cancel();
        connected_ = true;
        bump(worker_.stats().connects);
        co_return true;
    }

    // --- reading -----------------------------------------------------------------------------

    // Reads until one whole packet is at in_[in_begin_..in_end_); h and body describe it. The
    // caller calls consume(h) when done with body.
    // Skimming (see skim_read), a large PUBLISH comes back as soon as its head is here: `body`
    // is then only the first part of it, and consume(h) drops the rest from the socket.
    asio::awaitable<bool> read_packet(mqtt::frame_header& h, std::span<const std::uint8_t>& body) {
        for (;;) {
            if (skip_ > 0 && !co_await discard()) {
                co_return false;
            }
            const std::span<const std::uint8_t> have(in_.data() + in_begin_, in_end_ - in_begin_);
            h.header_size = 0; // stays 0 while the fixed header is incomplete
            auto st = mqtt::parse_frame(have, max_incoming_packet, h);
            if (!st) {
                fail(fmt::format("malformed frame: {}", st.error().message()));
                co_return false;
            }
            if (*st == mqtt::frame_status::complete) {
                body = have.subspan(h.header_size, h.remaining_length);
                co_return true;
            }
            if (skim_ && h.header_size != 0 && h.type() == mqtt::packet_type::publish &&
                h.remaining_length >= skim_min_payload) {
                const auto head = have.subspan(h.header_size);
                const auto v = view_publish(h, head, version_);
                if (v && v->payload.size() >= stamp_size) {
                    body = head;
                    partial_ = true;
                    co_return true;
                }
            }
            make_room();
            const bool got = co_await fill();
            if (!got) {
                co_return false;
            }
        }
    }

    // Moves the unparsed bytes to the front and makes sure there is space after them.
    void make_room() {
        if (in_begin_ > 0) {
            std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
            in_end_ -= in_begin_;
            in_begin_ = 0;
        }
        if (in_.size() < read_buffer_min) {
            in_.resize(read_buffer_min);
        } else if (in_end_ == in_.size()) {
            in_.resize(in_.size() * 2); // a packet larger than the buffer
        }
    }

    // Reads what the socket has into in_[in_end_..]: first without waiting (up to
    // drain_per_turn bytes per turn of the event loop; TLS: every record already in OpenSSL's
    // read-ahead buffer or the socket), then waits.
    asio::awaitable<bool> fill() {
        const std::size_t space =
                skim_ ? std::min(skim_read, in_.size() - in_end_) : in_.size() - in_end_;
        if (drained_ < drain_per_turn && !socket_empty_) {
            error_code ec;
            const std::size_t n = stream_->read_some(asio::buffer(in_.data() + in_end_, space), ec);
            if (!ec) {
                took(n, space);
                drained_ += n;
                co_return true;
            }
            if (ec != asio::error::would_block && ec != asio::error::try_again) {
                if (!closing_) {
                    fail("read", ec);
                }
                co_return false;
            }
        }
        drained_ = 0;
        auto [ec, n] = co_await read_wait(asio::buffer(in_.data() + in_end_, space));
        if (ec) {
            if (!closing_ && ec != asio::error::operation_aborted) {
                fail("read", ec);
            }
            co_return false;
        }
        took(n, space);
        if (plan_.role == role::subscriber && !socket_empty_) {
            // What is still waiting in the socket when the reader gets its turn: a subscriber that
            // keeps up sees little; one that falls behind sees its receive buffer fill. (A read
            // that emptied the socket saw 0 waiting: no ioctl for it.)
            error_code aec;
            const std::size_t waiting = stream_->lowest_layer().available(aec);
            auto& m = worker_.stats().rx_queue_max;
            if (!aec && waiting > m.load(std::memory_order_relaxed)) {
                m.store(waiting, std::memory_order_relaxed);
            }
        }
        co_return true;
    }

    // Drops the skip_ bytes of a skimmed PUBLISH still in the socket (plain TCP only): recv with
    // MSG_TRUNC, which discards them in the kernel without copying (tcp(7)).
    asio::awaitable<bool> discard() {
        if constexpr (std::is_same_v<Stream, tcp::socket>) {
            constexpr auto truncate = static_cast<tcp::socket::message_flags>(MSG_TRUNC);
            while (skip_ > 0) {
                // The buffers are never written (MSG_TRUNC); their length says how much to drop.
                // Up to 16 times the input buffer per call: a sanitizer's recvmsg hook, which
                // takes the returned count as written, sees only memory that is ours.
                std::array<asio::mutable_buffer, 16> b;
                std::size_t left = skip_;
                for (auto& e : b) {
                    e = asio::buffer(in_.data(), std::min<std::uint64_t>(left, in_.size()));
                    left -= e.size();
                }
                error_code ec;
                std::size_t n = 0;
                if (drained_ < drain_per_turn) {
                    n = stream_->receive(b, truncate, ec);
                } else {
                    ec = asio::error::would_block; // this turn read enough: wait for the next
                }
                if (ec == asio::error::would_block || ec == asio::error::try_again) {
                    drained_ = 0;
                    std::tie(ec, n) = co_await stream_->async_receive(b, truncate, use_tuple);
                }
                if (ec) {
                    if (!closing_ && ec != asio::error::operation_aborted) {
                        fail("read", ec);
                    }
                    co_return false;
                }
                skip_ -= n;
                drained_ += n;
            }
            socket_empty_ = false;
        }
        co_return true;
    }

    // Waits for at least one byte.
    asio::awaitable<io_result> read_wait(asio::mutable_buffer b) {
        if constexpr (std::is_same_v<Stream, tls_stream>) {
            co_return co_await stream_->async_read_some(b);
        } else {
            co_return co_await stream_->async_read_some(b, use_tuple);
        }
    }

    asio::awaitable<io_result> write_all(asio::const_buffer b) {
        if constexpr (std::is_same_v<Stream, tls_stream>) {
            co_return co_await stream_->async_write(b);
        } else {
            co_return co_await asio::async_write(*stream_, b, use_tuple);
        }
    }

    void took(std::size_t n, std::size_t space) {
        in_end_ += n;
        // A read that did not fill the space emptied the socket (TLS: and OpenSSL holds no whole
        // record): the next read waits at once instead of trying a recv(2) that finds nothing.
        socket_empty_ = n < space;
        if constexpr (std::is_same_v<Stream, tls_stream>) {
            socket_empty_ = socket_empty_ && stream_->socket_empty();
        }
        if (n == space && !skim_ && in_.size() < read_buffer_max) {
            in_.resize(std::min(read_buffer_max, in_.size() * 2)); // more is waiting: read more
        }
    }

    void consume(const mqtt::frame_header& h) noexcept {
        if (partial_) {
            // A skimmed PUBLISH: what of it is here is dropped, the rest is dropped from the
            // socket.
            partial_ = false;
            skip_ = h.total_size() - (in_end_ - in_begin_);
            in_begin_ = 0;
            in_end_ = 0;
            return;
        }
        in_begin_ += h.total_size();
        if (in_begin_ == in_end_) {
            in_begin_ = 0;
            in_end_ = 0;
        }
    }

    asio::awaitable<void> reader() {
        for (;;) {
            mqtt::frame_header h;
            std::span<const std::uint8_t> body;
            const bool got = co_await read_packet(h, body);
            if (!got) {
                co_return;
            }
            const bool ok = dispatch(h, body);
            consume(h);
            if (!ok) {
                co_return;
            }
        }
    }

    bool dispatch(const mqtt::frame_header& h, std::span<const std::uint8_t> body) {
        if (h.type() == mqtt::packet_type::publish) {
            return on_publish(h, body);
        }
        auto p = mqtt::decode(h, body, version_);
        if (!p) {
            fail(fmt::format("undecodable {}", mqtt::to_string(h.type())));
            return false;
        }
        return std::visit([this](auto& packet) { return on_packet(packet); }, *p);
    }

    bool on_packet(const mqtt::suback& a) {
        for (auto rc : a.reasons) {
            if (mqtt::is_failure(rc) || static_cast<int>(rc) < static_cast<int>(opts().qos)) {
                fail(fmt::format("SUBACK: {}", mqtt::to_string(rc)));
                return false;
            }
        }
        bump(worker_.stats().ready);
        return true;
    }

    bool on_packet(const mqtt::puback& a) { return finish(a.packet_id, a.reason, "PUBACK"); }

    bool on_packet(const mqtt::pubrec& a) {
        if (mqtt::is_failure(a.reason)) {
            return finish(a.packet_id, a.reason, "PUBREC");
        }
        mqtt::encode(mqtt::pubrel{a.packet_id}, version_, out_);
        kick_writer();
        return true;
    }

    bool on_packet(const mqtt::pubcomp& a) { return finish(a.packet_id, a.reason, "PUBCOMP"); }

    bool on_packet(const mqtt::pubrel& a) {
        append_ack(out_, pubcomp_byte, a.packet_id);
        kick_writer();
        return true;
    }

    bool on_packet(const mqtt::pingresp&) { return true; }

    bool on_packet(const mqtt::disconnect& d) {
        fail(fmt::format("DISCONNECT from the broker: {}", mqtt::to_string(d.reason)));
        return false;
    }

    template <typename Other>
    bool on_packet(const Other&) {
        fail("unexpected packet");
        return false;
    }

    // A QoS 1/2 publish finished (or was refused): its packet id is free again.
    bool finish(std::uint16_t id, mqtt::reason_code rc, std::string_view what) {
        if (!in_use_.test(id)) {
            fail(fmt::format("{} for unknown packet id {}", what, id));
            return false;
        }
        in_use_.reset(id);
        --inflight_;
        if (mqtt::is_failure(rc)) {
            fail(fmt::format("{}: {}", what, mqtt::to_string(rc)));
        } else {
            bump(worker_.stats().acked);
            worker_.stats().last_ack_ns.store(now_ns(), std::memory_order_relaxed);
        }
        if (publisher_waiting_) {
            wake_.cancel();
        }
        return true;
    }

    bool on_publish(const mqtt::frame_header& h, std::span<const std::uint8_t> body) {
        const auto v = view_publish(h, body, version_);
        if (!v) {
            fail("malformed PUBLISH");
            return false;
        }
        if (v->qos == mqtt::qos::at_least_once) {
            append_ack(out_, puback_byte, v->packet_id);
            kick_writer();
        } else if (v->qos == mqtt::qos::exactly_once) {
            append_ack(out_, pubrec_byte, v->packet_id);
            kick_writer();
        }
        auto& stats = worker_.stats();
        const auto s = read_stamp(v->payload);
        if (!s || s->publisher < plan_.first_publisher ||
            s->publisher - plan_.first_publisher >= trackers_.size()) {
            fail("PUBLISH without a stamp of this run's publishers");
            return true;
        }
        const std::uint64_t now = now_ns();
        switch (trackers_[s->publisher - plan_.first_publisher].on_receive(s->seq)) {
        case arrival::duplicate:
            ++stats.duplicates;
            return true;
        case arrival::late:
            ++stats.out_of_order;
            break;
        case arrival::in_order:
        case arrival::gap:
            break;
        }
        stats.latency.record(now > s->send_ns ? now - s->send_ns : 0);
        bump(stats.delivered);
        stats.last_delivery_ns.store(now, std::memory_order_relaxed);
        return true;
    }

    // --- writing -----------------------------------------------------------------------------

    void kick_writer() {
        if (writer_waiting_) {
            writer_wake_.cancel();
        }
    }

    static asio::awaitable<void> writer(self_ptr self) { co_await self->write_loop(); }

    asio::awaitable<void> write_loop() {
        while (connected_) {
            if (out_.empty()) {
                if (closing_ || leaving_) {
                    shutdown();
                    co_return;
                }
                writer_waiting_ = true;
                writer_wake_.expires_at(steady::time_point::max());
                co_await writer_wake_.async_wait(use_tuple);
                writer_waiting_ = false;
                continue;
            }
            std::swap(out_, writing_);
            auto [ec, n] = co_await write_all(asio::buffer(writing_));
            writing_.clear();
            last_write_ = steady::now();
            if (ec) {
                if (!closing_ && !leaving_) {
                    fail("write", ec);
                }
                shutdown();
                co_return;
            }
            if (publisher_waiting_) {
                wake_.cancel();
            }
        }
    }

    void send_subscribe() {
        mqtt::subscribe s;
        s.packet_id = 1;
        s.entries.push_back({plan_.topic, {opts().qos}});
        mqtt::encode(s, version_, out_);
        kick_writer();
    }

    static asio::awaitable<void> pinger(self_ptr self) { co_await self->ping_loop(); }

    asio::awaitable<void> ping_loop() {
        const unsigned keep_alive = server_keep_alive_ ? *server_keep_alive_ : opts().keep_alive;
        if (keep_alive == 0) {
            co_return;
        }
        const auto period = std::chrono::milliseconds(keep_alive * 500);
        while (connected_ && !closing_) {
            ping_timer_.expires_after(period);
            auto [ec] = co_await ping_timer_.async_wait(use_tuple);
            if (ec || !connected_ || closing_) {
                co_return;
            }
            if (steady::now() - last_write_ >= period) {
                mqtt::encode(mqtt::pingreq{}, version_, out_);
                kick_writer();
            }
        }
    }

    // --- publishing --------------------------------------------------------------------------

    static asio::awaitable<void> publisher(self_ptr self) {
        co_await self->publish_loop();
        bump(self->worker_.stats().publishers_done);
    }

    // Waits on wake_ until it is cancelled or `until`.
    asio::awaitable<void> wait(steady::time_point until) {
        wake_.expires_at(until);
        co_await wake_.async_wait(use_tuple);
    }

    asio::awaitable<void> publish_loop() {
        while (!started_ && !stopping()) {
            co_await wait(steady::time_point::max());
        }
        const bool qos = pub_.qos != mqtt::qos::at_most_once;
        const auto interval = std::chrono::duration_cast<steady::duration>(
                std::chrono::duration<double>(plan_.interval_s));
        // Publishers with a rate start spread over one interval, so that they do not all send at
        // the same instant.
        steady::time_point next = start_at_;
        if (plan_.interval_s > 0 && worker_.shared().plan->publishers > 1) {
            next += interval * plan_.index / worker_.shared().plan->publishers;
        }
        auto& stats = worker_.stats();
        const std::uint32_t fanout = worker_.shared().plan->fanout[plan_.index];
        unsigned since_yield = 0;
        std::size_t bytes_since_yield = 0;
        while (connected_ && !stopping() && sent_ < plan_.quota) {
            steady::time_point intended;
            if (plan_.interval_s > 0) {
                if (steady::now() < next) {
                    co_await wait(std::min(next, deadline_));
                    if (steady::now() < next) {
                        continue; // woken early (stop, ack) or at the deadline
                    }
                }
                intended = next;
                next += interval;
            }
            if (steady::now() >= deadline_) {
                break;
            }
            if ((qos && inflight_ >= window_) || out_.size() >= out_high_water) {
                publisher_waiting_ = true;
                co_await wait(deadline_);
                publisher_waiting_ = false;
                if (plan_.interval_s > 0) {
                    next -= interval; // keep the intended time of the message not yet sent
                }
                continue;
            }
            if (plan_.interval_s <= 0) {
                intended = steady::now();
            }
            if (qos) {
                pub_.packet_id = next_packet_id();
                in_use_.set(pub_.packet_id);
                ++inflight_;
                bump(stats.sent_qos);
            }
            const std::uint64_t send_ns =
                    static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                       intended.time_since_epoch())
                                                       .count());
            write_stamp(
                    writable(payload_), {send_ns, plan_.index, static_cast<std::uint32_t>(sent_)});
            mqtt::encode_publish_head(pub_, payload_.size(), version_, out_);
            out_ += payload_;
            ++sent_;
            bump(stats.sent);
            bump<std::uint64_t>(stats.expected, fanout);
            kick_writer();
            bytes_since_yield += payload_.size();
            if (++since_yield == yield_messages || bytes_since_yield >= yield_bytes) {
                // Let this thread's readers and writers run (acks, deliveries, other publishers).
                since_yield = 0;
                bytes_since_yield = 0;
                co_await asio::post(ex_, asio::use_awaitable);
            }
        }
    }

    std::uint16_t next_packet_id() noexcept {
        for (;;) {
            next_id_ = static_cast<std::uint16_t>(next_id_ == 65535 ? 1 : next_id_ + 1);
            if (!in_use_.test(next_id_)) {
                return next_id_;
            }
        }
    }

    // --- connection storm --------------------------------------------------------------------

    asio::awaitable<void> storm() {
        while (!started_ && !closing_) {
            co_await wait(steady::time_point::max());
        }
        auto& stats = worker_.stats();
        while (!stopping() && steady::now() < deadline_) {
            const std::uint64_t t0 = now_ns();
            const bool ok = co_await open(true);
            if (ok) {
                stats.latency.record(now_ns() - t0);
                std::string bye;
                mqtt::encode(mqtt::disconnect{}, version_, bye);
                auto [ec, n] = co_await write_all(asio::buffer(bye));
                if (ec) {
                    fail("write DISCONNECT", ec);
                }
            }
            shutdown();
            if (!ok) {
                // Do not turn a refusing broker into a busy loop; try again shortly.
                co_await wait(std::min(steady::now() + 100ms, deadline_));
            }
        }
    }

    asio::any_io_executor ex_;
    std::optional<Stream> stream_;
    asio::steady_timer wake_;
    asio::steady_timer writer_wake_;
    asio::steady_timer ping_timer_;
    mqtt::protocol_version version_;
    std::vector<std::uint8_t> in_;
    std::size_t in_begin_ = 0;
    std::size_t in_end_ = 0;
    std::size_t drained_ = 0;   ///< bytes read without waiting in this turn
    bool socket_empty_ = false; ///< the last read emptied the socket (see took)
    bool skim_ = false;         ///< read only the heads of large PUBLISH packets (skim_read)
    bool partial_ = false;      ///< read_packet returned the head of a PUBLISH only
    std::uint64_t skip_ = 0;    ///< bytes of a skimmed PUBLISH still to drop from the socket
    std::string out_;
    std::string writing_;
    bool connected_ = false;
    bool closing_ = false;
    bool failed_ = false;
    bool writer_waiting_ = false;
    bool publisher_waiting_ = false;
    bool started_ = false;
    bool leaving_ = false;             ///< backlog: going offline on purpose
    bool reconnect_requested_ = false; ///< backlog
    bool session_present_ = false;
    bool session_ended_ = false; ///< a DISCONNECT with Session Expiry 0 was sent
    steady::time_point start_at_{};
    steady::time_point deadline_ = steady::time_point::max();
    steady::time_point last_write_ = steady::now();
    std::optional<std::uint16_t> server_keep_alive_;
    // publisher
    mqtt::publish pub_;
    std::string payload_;
    std::uint32_t window_ = 1;
    std::uint32_t inflight_ = 0;
    std::uint16_t next_id_ = 0;
    std::bitset<65536> in_use_;
};

} // namespace

std::uint64_t now_ns() noexcept {
    return static_cast<std::uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(steady::now().time_since_epoch())
                    .count());
}

std::unique_ptr<asio::ssl::context> make_tls_context(const options& o) {
    auto ctx = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_min_proto_version(
            native, o.tls_ver == tls_version::v1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(
            native, o.tls_ver == tls_version::v1_2 ? TLS1_2_VERSION : TLS1_3_VERSION);
    // Every connection is a full handshake: no client session cache, no tickets.
    SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
    // Send the certificate file as it is (a device sends its leaf), not a chain OpenSSL would
    // rebuild and verify from the CA file on every handshake: that costs the tool and every
    // broker a certificate parse and a signature check per handshake that devices do not cause.
    SSL_CTX_set_mode(native, SSL_MODE_NO_AUTO_CHAIN);
    ctx->load_verify_file(o.ca_file);
    ctx->use_certificate_chain_file(o.cert_file);
    ctx->use_private_key_file(o.key_file, asio::ssl::context::pem);
    ctx->set_verify_mode(asio::ssl::verify_peer);
    return ctx;
}

// --- worker ------------------------------------------------------------------------------------

worker::worker(run_shared& shared)
    : shared_(shared)
    , guard_(ctx_.get_executor()) {}

worker::~worker() {
    join();
}

void worker::start_thread() {
    thread_ = std::thread([this] { ctx_.run(); });
}

void worker::post_open(std::vector<const connection_plan*> entries) {
    asio::post(ctx_, [this, entries = std::move(entries)] {
        for (const auto* e : entries) {
            sessions_.push_back(make_session(*this, *e));
        }
        start_more();
    });
}

void worker::start_more() {
    while (opening_ < max_parallel_opens && next_to_start_ < sessions_.size()) {
        ++opening_;
        sessions_[next_to_start_++]->start();
    }
}

void worker::post_start(steady::time_point at, steady::time_point deadline) {
    asio::post(ctx_, [this, at, deadline] {
        for (auto& s : sessions_) {
            s->start_publishing(at, deadline);
        }
    });
}

void worker::post_stop() {
    asio::post(ctx_, [this] {
        for (auto& s : sessions_) {
            s->wake();
        }
    });
}

void worker::post_close() {
    asio::post(ctx_, [this] {
        for (auto& s : sessions_) {
            s->close();
        }
    });
}

void worker::post_offline() {
    asio::post(ctx_, [this] {
        for (auto& s : sessions_) {
            s->go_offline();
        }
    });
}

void worker::post_reconnect() {
    asio::post(ctx_, [this] {
        for (auto& s : sessions_) {
            s->reconnect();
        }
    });
}

void worker::join() {
    if (thread_.joinable()) {
        guard_.reset();
        ctx_.stop();
        thread_.join();
    }
}

void worker::error(std::string message) {
    bump(stats_.errors);
    if (stats_.error_samples.size() < max_error_samples) {
        stats_.error_samples.push_back(std::move(message));
    }
}

void worker::release_open() {
    --opening_;
    start_more();
}

std::shared_ptr<session_base> make_session(worker& w, const connection_plan& plan) {
    if (w.shared().tls != nullptr) {
        return std::make_shared<session<tls_stream>>(w, plan);
    }
    return std::make_shared<session<tcp::socket>>(w, plan);
}

} // namespace thinggate::bench
