// The server's own TLS channel (transport/tls_channel.hpp) through the real server: large
// transfers with partial reads and writes, KeyUpdate, record coalescing, close_notify, and
// clients that never get as far as a handshake; all of it on the builtin record layer (the
// default) and on OpenSSL's. Then the channel alone against a client on memory BIOs, which
// lets the test pick the suite and tamper with records: the handover to transport/tls_record.

#include "transport/tls_channel.hpp"

#include <atomic>
#include <cstring>
#include <optional>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_certs.hpp"
#include "test_peer.hpp"
#include "transport/server.hpp"
#include "transport/tls_context.hpp"

using namespace std::chrono_literals;
using thinggate::transport::listener_config;
using thinggate::transport::listener_kind;
namespace t = thinggate::test;

namespace {

listener_config tls_listener(
        const t::test_pki& pki,
        thinggate::transport::tls_record_layer layer =
                thinggate::transport::tls_record_layer::builtin) {
    listener_config cfg;
    cfg.record_layer = layer;
    cfg.name = "l";
    cfg.kind = listener_kind::tls;
    cfg.address = "127.0.0.1";
    cfg.port = 0;
    cfg.client_auth = thinggate::transport::client_auth_mode::ca_file;
    cfg.ca_file = pki.ca_file();
    cfg.cert_file = pki.server_cert_file();
    cfg.key_file = pki.server_key_file();
    return cfg;
}

t::client_options good_client(const t::test_pki& pki, int version) {
    t::client_options o;
    o.cert_file = pki.client_cert_file();
    o.key_file = pki.client_key_file();
    o.ca_file = pki.ca_file();
    o.min_version = version;
    o.max_version = version;
    return o;
}

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>('A' + (i * 7 + i / 251) % 26);
    }
    return s;
}

using thinggate::transport::tls_record_layer;
constexpr tls_record_layer both_layers[] = {tls_record_layer::builtin, tls_record_layer::openssl};

const char* layer_name(tls_record_layer l) {
    return l == tls_record_layer::builtin ? "builtin" : "openssl";
}

} // namespace

TEST_CASE("tls channel: 128 KiB both ways over TLS 1.2 and 1.3 to a client that reads slowly") {
    for (auto layer : both_layers) {
        CAPTURE(layer_name(layer));
        t::test_pki pki;
        t::echo_server s({tls_listener(pki, layer)});
        for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
            CAPTURE(version);
            auto o = good_client(pki, version);
            o.receive_buffer = 4096; // the server's writes stop part-way (WANT_WRITE) and resume
            t::tls_client c(s.port(), o);
            REQUIRE_MESSAGE(c.connect(), c.error);
            CHECK(SSL_version(c.ssl()) == version);
            const auto payload = pattern(128 * 1024);
            REQUIRE_MESSAGE(c.send(payload), c.error); // read by the server in several records
            auto got = c.read_exact(payload.size());
            REQUIRE_MESSAGE(got.has_value(), c.error);
            CHECK(*got == payload);
            CHECK(c.echo("after the large one"));
        }
        CHECK(s.srv->stats().handshake_failures == 0);
        // Builtin: every connection's records went over to tls_record; openssl: none tried.
        CHECK(s.srv->stats().tls_record_handovers == (layer == tls_record_layer::builtin ? 2 : 0));
        CHECK(s.srv->stats().tls_record_fallbacks == 0);
    }
}

TEST_CASE("tls channel: a large frame goes out in full-size records, many small ones in few") {
    for (auto layer : both_layers) {
        CAPTURE(layer_name(layer));
        t::test_pki pki;
        t::echo_server s({tls_listener(pki, layer)});
        for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
            CAPTURE(version);
            t::tls_client c(s.port(), good_client(pki, version));
            REQUIRE_MESSAGE(c.connect(), c.error);
            REQUIRE(c.echo("xwarm up")); // TLS 1.3: the session ticket record is read here
            c.count_records();

            // 1000 frames of 20 bytes in one write: 20,000 bytes = one 16 KiB record + the rest.
            REQUIRE_MESSAGE(c.send("burst 1000 20\n"), c.error);
            auto small = c.read_exact(20'000);
            REQUIRE_MESSAGE(small.has_value(), c.error);
            CHECK(*small == std::string(20'000, 'b'));
            CHECK(c.records_received == 2);

            // One 128 KiB frame: exactly 8 records of 16 KiB, not many small ones.
            c.records_received = 0;
            REQUIRE(c.send("burst 1 131072\n"));
            auto large = c.read_exact(131'072);
            REQUIRE_MESSAGE(large.has_value(), c.error);
            CHECK(large->size() == 131'072);
            CHECK(c.records_received == 8);
        }
    }
}

TEST_CASE("tls channel: TLS 1.3 KeyUpdate from the client, with an update requested back") {
    for (auto layer : both_layers) {
        CAPTURE(layer_name(layer));
        t::test_pki pki;
        t::echo_server s({tls_listener(pki, layer)});
        t::tls_client c(s.port(), good_client(pki, TLS1_3_VERSION));
        REQUIRE_MESSAGE(c.connect(), c.error);
        REQUIRE(c.echo("xbefore"));
        for (int i = 0; i < 3; ++i) {
            REQUIRE(SSL_key_update(c.ssl(), SSL_KEY_UPDATE_REQUESTED) == 1);
            CHECK_MESSAGE(c.echo("xafter update " + std::to_string(i)), c.error);
        }
        CHECK(c.echo(pattern(40'000)));
    }
}

TEST_CASE("tls channel: close with flush sends close_notify after the last bytes") {
    for (auto layer : both_layers) {
        CAPTURE(layer_name(layer));
        t::test_pki pki;
        t::echo_server s({tls_listener(pki, layer)});
        for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
            CAPTURE(version);
            t::tls_client c(s.port(), good_client(pki, version));
            REQUIRE_MESSAGE(c.connect(), c.error);
            REQUIRE(c.send("close\n"));
            auto bye = c.read_exact(4);
            REQUIRE(bye.has_value());
            CHECK(*bye == "bye\n");
            CHECK(c.wait_closed());
            // The stream ended with the server's close_notify, not a bare end of stream.
            CHECK((SSL_get_shutdown(c.ssl()) & SSL_RECEIVED_SHUTDOWN) != 0);
        }
        CHECK(s.st.wait([&] { return s.st.lost == 2 && s.st.released == 2; }));
    }
}

TEST_CASE("tls channel: a client's close_notify ends the connection once") {
    for (auto layer : both_layers) {
        CAPTURE(layer_name(layer));
        t::test_pki pki;
        t::echo_server s({tls_listener(pki, layer)});
        t::tls_client c(s.port(), good_client(pki, TLS1_3_VERSION));
        REQUIRE_MESSAGE(c.connect(), c.error);
        REQUIRE(c.echo("xhello"));
        c.shutdown(); // sends close_notify
        CHECK(s.st.wait([&] { return s.st.lost == 1 && s.st.released == 1; }));
        CHECK(s.st.get(&t::echo_state::lost_twice) == 0);
    }
}

TEST_CASE("tls channel: bytes that are not a ClientHello fail the handshake at once") {
    t::test_pki pki;
    t::echo_server s({tls_listener(pki)});
    for (std::string garbage : {std::string("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
                                std::string("\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c", 12),
                                std::string(3000, '\x16')}) {
        t::tcp_client raw(s.port());
        REQUIRE(raw.connect());
        REQUIRE(raw.send(garbage));
        auto from = std::chrono::steady_clock::now();
        CHECK(raw.wait_closed());
        // Not the handshake deadline (10 s by default): the garbage itself ends it.
        CHECK(std::chrono::steady_clock::now() - from < 5s);
    }
    CHECK(s.st.wait([&] { return s.st.released == 3; }));
    CHECK(s.srv->stats().handshake_failures == 3);
    CHECK(s.st.get(&t::echo_state::made) == 0);
    t::tls_client good(s.port(), good_client(pki, 0));
    REQUIRE_MESSAGE(good.connect(), good.error);
    CHECK(good.echo("xstill serving"));
}

TEST_CASE("tls channel: a client that closes in the middle of the handshake is counted once") {
    t::test_pki pki;
    t::echo_server s({tls_listener(pki)});
    {
        t::tcp_client raw(s.port());
        REQUIRE(raw.connect());
        // The first bytes of a TLS record header, then nothing more: the client goes away.
        REQUIRE(raw.send(std::string("\x16\x03\x01", 3)));
    }
    CHECK(s.st.wait([&] { return s.st.released == 1; }));
    CHECK(s.srv->stats().handshake_failures == 1);
}

// ------------------------------------------------------------------ the channel alone

namespace {

namespace tt = thinggate::transport;
namespace td = thinggate::transport::detail;
namespace asio = boost::asio;

/// A TLS 1.2/1.3 client on memory BIOs over a blocking socket: every byte it sends passes
/// through the test, which can tamper with it. Receives and sends time out after 10 s.
class mem_client {
public:
    mem_client(
            const t::test_pki& pki,
            std::uint16_t port,
            int version,
            const char* suite,
            std::uint8_t max_fragment = 0) {
        ctx_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(ctx_, version);
        SSL_CTX_set_max_proto_version(ctx_, version);
        if (version == TLS1_3_VERSION) {
            SSL_CTX_set_ciphersuites(ctx_, suite);
        } else {
            SSL_CTX_set_cipher_list(ctx_, suite);
        }
        SSL_CTX_use_certificate_chain_file(ctx_, pki.client_cert_file().c_str());
        SSL_CTX_use_PrivateKey_file(ctx_, pki.client_key_file().c_str(), SSL_FILETYPE_PEM);
        SSL_CTX_load_verify_locations(ctx_, pki.ca_file().c_str(), nullptr);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
        SSL_CTX_set_info_callback(ctx_, on_info);
        if (max_fragment != 0) {
            SSL_CTX_set_tlsext_max_fragment_length(ctx_, max_fragment);
        }
        ssl_ = SSL_new(ctx_);
        SSL_set_app_data(ssl_, this);
        rbio_ = BIO_new(BIO_s_mem());
        wbio_ = BIO_new(BIO_s_mem());
        SSL_set_bio(ssl_, rbio_, wbio_);
        SSL_set_connect_state(ssl_);

        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        timeval tv{10, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }

    ~mem_client() {
        SSL_free(ssl_);
        SSL_CTX_free(ctx_);
        ::close(fd_);
    }

    mem_client(const mem_client&) = delete;
    mem_client& operator=(const mem_client&) = delete;

    SSL* ssl() { return ssl_; }

    bool handshake() {
        if (!connected_) {
            return false;
        }
        for (;;) {
            ERR_clear_error();
            int r = SSL_do_handshake(ssl_);
            if (!flush()) {
                return false;
            }
            if (r == 1) {
                return true;
            }
            if (SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ || !receive()) {
                return false;
            }
        }
    }

    bool write(std::string_view data) {
        std::size_t n = 0;
        if (SSL_write_ex(ssl_, data.data(), data.size(), &n) != 1 || n != data.size()) {
            return false;
        }
        return flush();
    }

    /// `data` as records sent `piece` bytes per send(): the server sees headers and records cut
    /// anywhere.
    bool write_in_pieces(std::string_view data, std::size_t piece) {
        std::size_t n = 0;
        if (SSL_write_ex(ssl_, data.data(), data.size(), &n) != 1) {
            return false;
        }
        const std::string wire = take_output();
        for (std::size_t off = 0; off < wire.size(); off += piece) {
            if (!send_all(std::string_view(wire).substr(off, piece))) {
                return false;
            }
        }
        return true;
    }

    /// One application-data record of `data` with one bit of its tag flipped.
    bool write_tampered(std::string_view data) {
        std::size_t n = 0;
        if (SSL_write_ex(ssl_, data.data(), data.size(), &n) != 1) {
            return false;
        }
        std::string wire = take_output();
        if (wire.empty()) {
            return false;
        }
        wire.back() = static_cast<char>(wire.back() ^ 0x01);
        return send_all(wire);
    }

    std::optional<std::string> read_exact(std::size_t n) {
        std::string out(n, '\0');
        std::size_t got = 0;
        while (got < n) {
            std::size_t k = 0;
            ERR_clear_error();
            int r = SSL_read_ex(ssl_, out.data() + got, n - got, &k);
            flush(); // a KeyUpdate answered
            if (r == 1) {
                got += k;
                continue;
            }
            if (SSL_get_error(ssl_, r) != SSL_ERROR_WANT_READ || !receive()) {
                return std::nullopt;
            }
        }
        return out;
    }

    bool echo(const std::string& msg) {
        if (!write(msg)) {
            return false;
        }
        auto got = read_exact(msg.size());
        return got && *got == msg;
    }

    bool key_update(bool request_back) {
        if (SSL_key_update(
                    ssl_, request_back ? SSL_KEY_UPDATE_REQUESTED : SSL_KEY_UPDATE_NOT_REQUESTED) !=
            1) {
            return false;
        }
        return SSL_do_handshake(ssl_) == 1 && flush();
    }

    /// Reads until the connection ends: the SSL_get_error result (SSL_ERROR_ZERO_RETURN after
    /// the peer's close_notify).
    int read_to_end() {
        char buf[4096];
        for (;;) {
            std::size_t k = 0;
            ERR_clear_error();
            int r = SSL_read_ex(ssl_, buf, sizeof buf, &k);
            if (r == 1) {
                continue;
            }
            int e = SSL_get_error(ssl_, r);
            if (e != SSL_ERROR_WANT_READ) {
                return e;
            }
            if (!receive()) {
                return SSL_ERROR_SYSCALL;
            }
        }
    }

    bool send_close_notify() {
        SSL_shutdown(ssl_);
        return flush();
    }

    int alert_received = -1; ///< the description of the last alert the server sent

private:
    static void on_info(const SSL* ssl, int where, int ret) {
        if ((where & SSL_CB_READ_ALERT) != 0) {
            static_cast<mem_client*>(SSL_get_app_data(ssl))->alert_received = ret & 0xff;
        }
    }

    std::string take_output() {
        std::string out;
        char buf[16384];
        int k = 0;
        while ((k = BIO_read(wbio_, buf, sizeof buf)) > 0) {
            out.append(buf, static_cast<std::size_t>(k));
        }
        return out;
    }

    bool send_all(std::string_view wire) {
        while (!wire.empty()) {
            ssize_t r = ::send(fd_, wire.data(), wire.size(), MSG_NOSIGNAL);
            if (r <= 0) {
                return false;
            }
            wire.remove_prefix(static_cast<std::size_t>(r));
        }
        return true;
    }

    bool flush() { return send_all(take_output()); }

    bool receive() {
        char buf[65536];
        ssize_t r = ::recv(fd_, buf, sizeof buf, 0);
        if (r <= 0) {
            return false; // end of stream, reset or the 10 s timeout
        }
        BIO_write(rbio_, buf, static_cast<int>(r));
        return true;
    }

    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    BIO* rbio_ = nullptr;
    BIO* wbio_ = nullptr;
    int fd_ = -1;
    bool connected_ = false;
};

/// One tls_channel on its own thread: accepts one connection, does the handshake, hands the
/// records over (or not) and echoes every read back as two frames (a head and a shared body)
/// until the peer closes, an error, or the text "close" (then our close_notify first).
struct channel_server {
    explicit channel_server(
            const t::test_pki& pki, tls_record_layer layer = tls_record_layer::builtin) {
        auto cfg = tls_listener(pki, layer);
        ctx = tt::make_tls_context(cfg);
        acc.open(td::tcp::v4());
        acc.bind({asio::ip::make_address("127.0.0.1"), 0});
        acc.listen();
        port = acc.local_endpoint().port();
        asio::co_spawn(io, serve(), [this](std::exception_ptr e) {
            if (e) {
                error = "exception";
            }
            done = true;
        });
        thread = std::thread([this] { io.run_for(std::chrono::seconds(30)); });
    }

    ~channel_server() {
        io.stop();
        thread.join();
    }

    /// Waits (with a deadline) until the channel's coroutine has finished.
    bool wait_done() {
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!done && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::yield();
        }
        return done;
    }

    asio::awaitable<void> serve() {
        constexpr auto tok = asio::as_tuple(asio::use_awaitable);
        auto [ec, sock] = co_await acc.async_accept(tok);
        if (ec) {
            co_return;
        }
        td::tls_channel ch(std::move(sock), ctx->native(), ctx->builtin_records());
        bool ok = co_await ch.handshake();
        handshake_ok = ok;
        if (!ok) {
            error = ch.error();
            co_return;
        }
        const char* why = nullptr;
        handed_over = ch.detach_openssl(why);
        fallback_reason = why != nullptr ? why : "";
        ssl_freed = ch.native_handle() == nullptr;
        layer_active = ch.record_layer_active();
        std::vector<std::uint8_t> buf(ch.read_size());
        std::vector<thinggate::broker::out_frame> frames;
        for (;;) {
            std::size_t n = 0;
            auto st = ch.read_some(buf, n);
            if (ch.output_pending()) {
                frames.clear();
                std::size_t w = 0;
                bool wok = co_await ch.write_frames(frames, w);
                if (!wok) {
                    end = td::tls_status::error;
                    break;
                }
            }
            if (st == td::tls_status::want_read || st == td::tls_status::want_write) {
                bool ready = co_await ch.wait(st);
                if (!ready) {
                    end = td::tls_status::error;
                    break;
                }
                continue;
            }
            if (st != td::tls_status::ok) {
                end = st;
                error = ch.error();
                if (st == td::tls_status::eof) {
                    co_await ch.shutdown(); // answers the client's close_notify
                }
                break;
            }
            std::string text(reinterpret_cast<const char*>(buf.data()), n);
            received += n;
            if (text == "close") {
                co_await ch.shutdown();
                end = td::tls_status::eof;
                break;
            }
            frames.clear();
            auto m = thinggate::broker::make_message({}, text.substr(1));
            frames.push_back({text.substr(0, 1), std::string_view(m->payload), m});
            std::size_t w = 0;
            bool wok = co_await ch.write_frames(frames, w);
            if (!wok || w != n) {
                end = td::tls_status::error;
                error = ch.error();
                break;
            }
        }
    }

    asio::io_context io{1};
    td::acceptor acc{io};
    tt::tls_context_ptr ctx;
    std::uint16_t port = 0;
    std::thread thread;
    // Written by the server thread before `done`, read by the test after wait_done().
    std::atomic<bool> done{false};
    bool handshake_ok = false;
    bool handed_over = false;
    bool ssl_freed = false;
    bool layer_active = false;
    std::string fallback_reason;
    std::size_t received = 0;
    td::tls_status end = td::tls_status::ok;
    std::string error;
};

struct suite_case {
    int version;
    const char* suite;
};

constexpr suite_case all_suites[] = {
        {TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256"},
        {TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384"},
        {TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256"},
        {TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256"},
        {TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384"},
        {TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305"},
};

} // namespace

TEST_CASE("tls channel, builtin record layer: each version and AEAD suite, 160 KiB both ways, "
          "close_notify from the client") {
    t::test_pki pki;
    for (const auto& sc : all_suites) {
        CAPTURE(sc.suite);
        channel_server srv(pki);
        mem_client c(pki, srv.port, sc.version, sc.suite);
        REQUIRE(c.handshake());
        CHECK(std::string(SSL_CIPHER_get_name(SSL_get_current_cipher(c.ssl()))) ==
              std::string(sc.suite));
        // The first data right behind the client's Finished (TLS 1.3: nothing read ahead).
        REQUIRE(c.echo("xfirst"));
        // Many records each way: the server opens several per read and seals several per send.
        const auto big = pattern(160 * 1024);
        for (std::size_t off = 0; off < big.size(); off += 32 * 1024) {
            REQUIRE(c.echo(big.substr(off, 32 * 1024)));
        }
        REQUIRE(c.echo("xlast"));
        REQUIRE(c.send_close_notify());
        CHECK(c.read_to_end() == SSL_ERROR_ZERO_RETURN); // the server's close_notify answers
        REQUIRE(srv.wait_done());
        CHECK(srv.handshake_ok);
        CHECK(srv.handed_over);
        CHECK(srv.fallback_reason.empty());
        CHECK(srv.ssl_freed); // the SSL object is gone
        CHECK(srv.layer_active);
        CHECK(srv.received == 6 + big.size() + 5);
        CHECK(srv.end == td::tls_status::eof);
    }
}

TEST_CASE("tls channel, builtin record layer: records that arrive a few bytes at a time") {
    t::test_pki pki;
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        CAPTURE(version);
        channel_server srv(pki);
        mem_client c(
                pki,
                srv.port,
                version,
                version == TLS1_3_VERSION ? "TLS_AES_128_GCM_SHA256"
                                          : "ECDHE-ECDSA-AES128-GCM-SHA256");
        REQUIRE(c.handshake());
        for (std::size_t piece : {1, 3, 7, 4096}) {
            CAPTURE(piece);
            const auto msg = "x" + pattern(piece == 4096 ? 40'000 : 300);
            REQUIRE(c.write_in_pieces(msg, piece));
            auto got = c.read_exact(msg.size());
            REQUIRE(got.has_value());
            CHECK(*got == msg);
        }
        REQUIRE(c.send_close_notify());
        CHECK(c.read_to_end() == SSL_ERROR_ZERO_RETURN);
        REQUIRE(srv.wait_done());
        CHECK(srv.handed_over);
        CHECK(srv.end == td::tls_status::eof);
    }
}

TEST_CASE("tls channel, builtin record layer: the server's close_notify ends the stream") {
    t::test_pki pki;
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        CAPTURE(version);
        channel_server srv(pki);
        mem_client c(
                pki,
                srv.port,
                version,
                version == TLS1_3_VERSION ? "TLS_AES_128_GCM_SHA256"
                                          : "ECDHE-ECDSA-AES128-GCM-SHA256");
        REQUIRE(c.handshake());
        REQUIRE(c.echo("xhello"));
        REQUIRE(c.write("close"));
        CHECK(c.read_to_end() == SSL_ERROR_ZERO_RETURN);
        CHECK(c.alert_received == SSL_AD_CLOSE_NOTIFY);
        REQUIRE(c.send_close_notify()); // the server waits for it (or the end of stream)
        REQUIRE(srv.wait_done());
        CHECK(srv.handed_over);
        CHECK(srv.end == td::tls_status::eof);
    }
}

TEST_CASE("tls channel, builtin record layer: TLS 1.3 KeyUpdate mid-stream, with and without an "
          "update requested back, then data both ways") {
    t::test_pki pki;
    for (const auto& sc : all_suites) {
        if (sc.version != TLS1_3_VERSION) {
            continue;
        }
        CAPTURE(sc.suite);
        channel_server srv(pki);
        mem_client c(pki, srv.port, sc.version, sc.suite);
        REQUIRE(c.handshake());
        REQUIRE(c.echo("xbefore"));
        for (int i = 0; i < 4; ++i) {
            const bool request = i % 2 == 0;
            CAPTURE(request);
            REQUIRE(c.key_update(request));
            // Our reply (when asked) must come before the echo, which is sealed with our new key.
            CHECK(c.echo("xafter update " + std::to_string(i)));
            CHECK(c.echo(pattern(40'000)));
        }
        REQUIRE(c.send_close_notify());
        CHECK(c.read_to_end() == SSL_ERROR_ZERO_RETURN);
        REQUIRE(srv.wait_done());
        CHECK(srv.handed_over);
        CHECK(srv.end == td::tls_status::eof);
    }
}

TEST_CASE("tls channel, builtin record layer: a tampered record gets bad_record_mac and ends the "
          "channel with an error") {
    t::test_pki pki;
    for (const auto& sc : all_suites) {
        CAPTURE(sc.suite);
        channel_server srv(pki);
        mem_client c(pki, srv.port, sc.version, sc.suite);
        REQUIRE(c.handshake());
        REQUIRE(c.echo("xfine"));
        REQUIRE(c.write_tampered("xnot fine"));
        CHECK(c.read_to_end() == SSL_ERROR_SSL); // the fatal alert
        CHECK(c.alert_received == SSL_AD_BAD_RECORD_MAC);
        REQUIRE(srv.wait_done());
        CHECK(srv.handed_over);
        CHECK(srv.end == td::tls_status::error);
        CHECK(srv.received == 5); // nothing of the tampered record
    }
}

TEST_CASE("tls channel, builtin record layer: records no larger than the client's "
          "max_fragment_length (RFC 6066)") {
    t::test_pki pki;
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        CAPTURE(version);
        channel_server srv(pki);
        // The client refuses (record_overflow) a record above the 1024 bytes it asked for.
        mem_client c(
                pki,
                srv.port,
                version,
                version == TLS1_3_VERSION ? "TLS_AES_128_GCM_SHA256"
                                          : "ECDHE-ECDSA-AES128-GCM-SHA256",
                TLSEXT_max_fragment_length_1024);
        REQUIRE(c.handshake());
        CHECK(c.echo(pattern(1000)));
        CHECK(c.echo(pattern(20'000)));
        REQUIRE(c.send_close_notify());
        CHECK(c.read_to_end() == SSL_ERROR_ZERO_RETURN);
        REQUIRE(srv.wait_done());
        CHECK(srv.handed_over);
    }
}

TEST_CASE("tls channel: tls_record_layer = openssl keeps the SSL object and still serves") {
    t::test_pki pki;
    for (const auto& sc : all_suites) {
        CAPTURE(sc.suite);
        channel_server srv(pki, tls_record_layer::openssl);
        mem_client c(pki, srv.port, sc.version, sc.suite);
        REQUIRE(c.handshake());
        REQUIRE(c.echo("xfirst"));
        REQUIRE(c.echo(pattern(70'000)));
        if (sc.version == TLS1_3_VERSION) {
            REQUIRE(c.key_update(true));
            REQUIRE(c.echo("xafter update"));
        }
        REQUIRE(c.send_close_notify());
        CHECK(c.read_to_end() == SSL_ERROR_ZERO_RETURN);
        REQUIRE(srv.wait_done());
        CHECK_FALSE(srv.handed_over);
        CHECK(srv.fallback_reason.empty()); // not asked to, so no fallback either
        CHECK_FALSE(srv.ssl_freed);
        CHECK_FALSE(srv.layer_active);
        CHECK(srv.end == td::tls_status::eof);
    }
}
