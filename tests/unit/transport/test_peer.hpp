#pragma once
// Test helpers for transport: an echo connection handler (the server side, instead of
// broker::client) and Asio TCP/TLS test clients whose every step runs with a deadline.
// Header-only because the unit test glob builds *_test.cpp only.

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>

#include "broker/client.hpp"
#include "transport/handler.hpp"
#include "transport/server.hpp"
#include "transport/shard_pool.hpp"

namespace thinggate::test {

namespace asio = boost::asio;
using namespace std::chrono_literals;

/// What the echo handlers saw, shared with the test thread (guarded; waits with deadlines).
struct echo_state {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<broker::connection_info> infos;
    int made = 0, lost = 0, lost_twice = 0, shutdowns = 0, timeouts = 0;
    int admitted = 0, released = 0;
    std::size_t last_read_size = 0, max_read_size = 0; ///< what the reader asked prepare_input for
    int limit = 1'000'000;

    /// Waits until `pred` holds or `timeout` passed. Woken by update(); also re-checks every
    /// 10 ms for predicates over state that update() does not cover (server stats).
    template <class Pred>
    bool wait(Pred pred, std::chrono::milliseconds timeout = 5s) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        std::unique_lock lk(mu);
        while (!pred()) {
            if (std::chrono::steady_clock::now() >= deadline) {
                return false;
            }
            cv.wait_for(lk, 10ms);
        }
        return true;
    }

    template <class Fn>
    void update(Fn fn) {
        std::lock_guard lk(mu);
        fn();
        cv.notify_all();
    }

    template <class T>
    T get(T echo_state::*member) {
        std::lock_guard lk(mu);
        return this->*member;
    }
};

/// Echoes what it reads (head = first byte, body = the rest borrowed from a shared message, so
/// writes are scatter-gather). Commands: "close\n" (reply "bye\n", close with flush), "drop\n"
/// (close without flush), "timeout <ms>\n" (set the read timeout, reply "ok\n"), "burst <n>
/// <size>\n" (queue n frames of `size` bytes 'b' at once: one write of many small frames).
class echo_handler final : public transport::connection_handler {
public:
    echo_handler(echo_state& st, broker::connection_io& io)
        : st_(st)
        , io_(io) {}

    std::span<std::uint8_t> prepare_input(std::size_t min_size) override {
        st_.update([&] {
            st_.last_read_size = min_size;
            st_.max_read_size = std::max(st_.max_read_size, min_size);
        });
        if (in_.size() < min_size) {
            in_.resize(min_size);
        }
        return {in_.data(), in_.size()};
    }

    void commit_input(std::size_t n) override {
        std::string s(reinterpret_cast<const char*>(in_.data()), n);
        if (s.rfind("timeout ", 0) == 0) {
            timeout_ = std::chrono::milliseconds(std::stoi(s.substr(8)));
            io_.read_timeout_changed();
            queue("ok\n");
            return;
        }
        if (s.rfind("burst ", 0) == 0) {
            auto sp = s.find(' ', 6);
            int count = std::stoi(s.substr(6, sp - 6));
            auto size = static_cast<std::size_t>(std::stoul(s.substr(sp + 1)));
            for (int i = 0; i < count; ++i) {
                out_.push_back({std::string(size, 'b'), {}, nullptr});
            }
            io_.wake_writer();
            return;
        }
        if (s == "close\n") {
            queue("bye\n");
            io_.close(true);
            return;
        }
        if (s == "drop\n") {
            io_.close(false);
            return;
        }
        auto m = broker::make_message({}, s.substr(1));
        std::string_view body(m->payload);
        out_.push_back({s.substr(0, 1), body, std::move(m)});
        io_.wake_writer();
    }

    bool take_output(std::vector<broker::out_frame>& out) override {
        if (out_.empty()) {
            return false;
        }
        for (auto& f : out_) {
            out.push_back(std::move(f));
        }
        out_.clear();
        return true;
    }

    void output_written(std::size_t) override {}

    std::chrono::milliseconds read_timeout() const noexcept override { return timeout_; }

    void on_read_timeout() override {
        st_.update([&] { ++st_.timeouts; });
        io_.close(false);
    }

    void on_connection_lost() override {
        st_.update([&] {
            ++st_.lost;
            if (lost_) {
                ++st_.lost_twice;
            }
        });
        lost_ = true;
    }

    void on_server_shutdown() override {
        st_.update([&] { ++st_.shutdowns; });
        queue("bye\n");
        io_.close(true);
    }

private:
    void queue(std::string text) {
        out_.push_back({std::move(text), {}, nullptr});
        io_.wake_writer();
    }

    echo_state& st_;
    broker::connection_io& io_;
    std::vector<std::uint8_t> in_;
    std::vector<broker::out_frame> out_;
    std::chrono::milliseconds timeout_{0};
    bool lost_ = false;
};

class echo_factory final : public transport::handler_factory {
public:
    explicit echo_factory(echo_state& st)
        : st_(st) {}

    bool try_admit() noexcept override {
        std::lock_guard lk(st_.mu);
        if (st_.admitted - st_.released >= st_.limit) {
            return false;
        }
        ++st_.admitted;
        return true;
    }

    void release() noexcept override {
        st_.update([&] { ++st_.released; });
    }

    std::unique_ptr<transport::connection_handler>
    make(broker::connection_io& io, broker::shard_id, broker::connection_info info) override {
        st_.update([&] {
            ++st_.made;
            st_.infos.push_back(info);
        });
        return std::make_unique<echo_handler>(st_, io);
    }

private:
    echo_state& st_;
};

/// A started server with echo handlers on a 2-shard pool; stopped on destruction.
struct echo_server {
    transport::shard_pool pool{2};
    echo_state st;
    echo_factory factory{st};
    std::unique_ptr<transport::server> srv;

    explicit echo_server(std::vector<transport::listener_config> listeners, int limit = 1'000'000) {
        st.limit = limit;
        pool.start();
        srv = std::make_unique<transport::server>(factory, pool, std::move(listeners));
        srv->start();
    }

    ~echo_server() { srv->stop(); }

    std::uint16_t port(std::string_view name = "l") const { return srv->port(name); }
};

struct client_options {
    std::string cert_file; ///< empty: no client certificate
    std::string key_file;
    std::string ca_file; ///< verify the server against it; empty: no server verification
    int min_version = 0; ///< e.g. TLS1_2_VERSION; 0 = library default
    int max_version = 0;
    std::vector<std::string> alpn;
    std::string sni; ///< TLS server name to send; empty: none
    bool legacy = false; ///< security level 0, so that the client can even try TLS 1.1
    SSL_SESSION* resume = nullptr;
    int receive_buffer = 0; ///< SO_RCVBUF before connecting (0: default): a slow reader
};

/// A client over TCP or TLS (Stream = tcp::socket or ssl::stream<tcp::socket>); each call runs
/// the client's io_context until the step is done or 10 s passed.
template <class Stream>
class basic_client {
public:
    static constexpr bool is_tls = !std::is_same_v<Stream, asio::ip::tcp::socket>;

    explicit basic_client(std::uint16_t port, client_options o = {}, std::string host = "127.0.0.1")
        : port_(port)
        , host_(std::move(host))
        , opts_(std::move(o))
        , ctx_(asio::ssl::context::tls_client)
        , stream_(make()) {}

    ~basic_client() {
        if (session_) {
            SSL_SESSION_free(session_);
        }
    }

    bool connect() { return run(do_connect()); }

    bool send(std::string data) { return run(do_send(std::move(data))); }

    std::optional<std::string> read_exact(std::size_t n) {
        std::string out(n, '\0');
        if (!run(do_read(&out))) {
            return std::nullopt;
        }
        return out;
    }

    bool echo(const std::string& msg) {
        if (!send(msg)) {
            return false;
        }
        auto got = read_exact(msg.size());
        return got && *got == msg;
    }

    /// TLS: sends close_notify (and waits for the peer's answer or end of stream).
    void shutdown() {
        if constexpr (is_tls) {
            run(do_shutdown());
        }
    }

    /// True when the peer ends the connection (EOF or error) within the deadline; then closes.
    bool wait_closed() { return run(do_wait_closed()); }

    std::string error;

    /// TLS records of application data received so far (counted once count_records() ran).
    std::size_t records_received = 0;

    void count_records() {
        SSL_set_msg_callback(ssl(), &basic_client::on_record);
        SSL_set_msg_callback_arg(ssl(), this);
    }

    SSL* ssl() {
        if constexpr (is_tls) {
            return stream_.native_handle();
        } else {
            return nullptr;
        }
    }

    /// The session to resume later (owned by this client).
    SSL_SESSION* session() {
        if (!session_ && ssl()) {
            session_ = SSL_get1_session(ssl());
        }
        return session_;
    }

    std::string alpn() {
        const unsigned char* p = nullptr;
        unsigned int len = 0;
        SSL_get0_alpn_selected(ssl(), &p, &len);
        return std::string(reinterpret_cast<const char*>(p), len);
    }

    std::string server_cn() {
        X509* cert = SSL_get0_peer_certificate(ssl());
        if (!cert) {
            return {};
        }
        char buf[256] = {};
        X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, sizeof buf);
        return buf;
    }

private:
    static void on_record(
            int write_p, int, int content_type, const void* buf, std::size_t len, SSL*, void* arg) {
        if (write_p == 0 && content_type == SSL3_RT_HEADER && len >= 1 &&
            static_cast<const unsigned char*>(buf)[0] == SSL3_RT_APPLICATION_DATA) {
            ++static_cast<basic_client*>(arg)->records_received;
        }
    }

    Stream make() {
        if constexpr (is_tls) {
            SSL_CTX* c = ctx_.native_handle();
            if (opts_.legacy) {
                SSL_CTX_set_security_level(c, 0);
                SSL_CTX_set_cipher_list(c, "DEFAULT:@SECLEVEL=0");
            }
            if (opts_.min_version) {
                SSL_CTX_set_min_proto_version(c, opts_.min_version);
            }
            if (opts_.max_version) {
                SSL_CTX_set_max_proto_version(c, opts_.max_version);
            }
            if (!opts_.cert_file.empty()) {
                ctx_.use_certificate_chain_file(opts_.cert_file);
                ctx_.use_private_key_file(opts_.key_file, asio::ssl::context::pem);
            }
            if (!opts_.ca_file.empty()) {
                ctx_.load_verify_file(opts_.ca_file);
                ctx_.set_verify_mode(asio::ssl::verify_peer);
            } else {
                ctx_.set_verify_mode(asio::ssl::verify_none);
            }
            Stream s(io_, ctx_);
            if (!opts_.alpn.empty()) {
                std::vector<unsigned char> wire;
                for (const auto& p : opts_.alpn) {
                    wire.push_back(static_cast<unsigned char>(p.size()));
                    wire.insert(wire.end(), p.begin(), p.end());
                }
                SSL_set_alpn_protos(
                        s.native_handle(), wire.data(), static_cast<unsigned int>(wire.size()));
            }
            if (!opts_.sni.empty()) {
                SSL_set_tlsext_host_name(s.native_handle(), opts_.sni.c_str());
            }
            if (opts_.resume) {
                SSL_set_session(s.native_handle(), opts_.resume);
            }
            return s;
        } else {
            return Stream(io_);
        }
    }

    asio::ip::tcp::socket& socket() {
        if constexpr (is_tls) {
            return stream_.next_layer();
        } else {
            return stream_;
        }
    }

    bool run(asio::awaitable<bool> step) {
        std::optional<bool> result;
        asio::co_spawn(
                io_, std::move(step), [&](std::exception_ptr e, bool ok) { result = !e && ok; });
        io_.restart();
        auto deadline = std::chrono::steady_clock::now() + 10s;
        while (!result && std::chrono::steady_clock::now() < deadline) {
            io_.run_one_until(deadline);
        }
        if (!result) {
            error = "timed out";
            return false;
        }
        return *result;
    }

    asio::awaitable<bool> do_connect() {
        constexpr auto tok = asio::as_tuple(asio::use_awaitable);
        asio::ip::tcp::endpoint ep(asio::ip::make_address(host_), port_);
        if (opts_.receive_buffer > 0) {
            socket().open(ep.protocol());
            socket().set_option(asio::socket_base::receive_buffer_size(opts_.receive_buffer));
        }
        auto [ec] = co_await socket().async_connect(ep, tok);
        if (ec) {
            error = ec.message();
            co_return false;
        }
        socket().set_option(asio::ip::tcp::no_delay(true));
        if constexpr (is_tls) {
            auto [hec] = co_await stream_.async_handshake(asio::ssl::stream_base::client, tok);
            if (hec) {
                error = hec.message();
                co_return false;
            }
        }
        co_return true;
    }

    asio::awaitable<bool> do_send(std::string data) {
        auto [ec, n] = co_await asio::async_write(
                stream_, asio::buffer(data), asio::as_tuple(asio::use_awaitable));
        if (ec) {
            error = ec.message();
            co_return false;
        }
        co_return true;
    }

    asio::awaitable<bool> do_read(std::string* out) {
        auto [ec, n] = co_await asio::async_read(
                stream_,
                asio::buffer(out->data(), out->size()),
                asio::as_tuple(asio::use_awaitable));
        if (ec) {
            error = ec.message();
            co_return false;
        }
        co_return true;
    }

    asio::awaitable<bool> do_shutdown() {
        if constexpr (is_tls) {
            auto [ec] = co_await stream_.async_shutdown(asio::as_tuple(asio::use_awaitable));
            (void)ec;
        }
        co_return true;
    }

    asio::awaitable<bool> do_wait_closed() {
        char buf[256];
        for (;;) {
            auto [ec, n] = co_await stream_.async_read_some(
                    asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
            if (ec) {
                error = ec.message();
                boost::system::error_code ignored;
                socket().close(ignored); // as a real client does when the server ends
                co_return true;
            }
        }
    }

    std::uint16_t port_;
    std::string host_;
    client_options opts_;
    asio::io_context io_;
    asio::ssl::context ctx_;
    Stream stream_;
    SSL_SESSION* session_ = nullptr;
};

using tcp_client = basic_client<asio::ip::tcp::socket>;
using tls_client = basic_client<asio::ssl::stream<asio::ip::tcp::socket>>;

} // namespace thinggate::test
