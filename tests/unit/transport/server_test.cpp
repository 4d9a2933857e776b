#include "transport/server.hpp"

#include <csignal>
#include <stdexcept>
#include <string>
#include <thread>

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <fmt/format.h>

#include "test_certs.hpp"
#include "test_peer.hpp"
#include "transport/signals.hpp"

using namespace std::chrono_literals;
using thinggate::transport::listener_config;
using thinggate::transport::listener_kind;
using thinggate::transport::tls_version;
namespace t = thinggate::test;

namespace {

listener_config tcp_listener(std::string name = "l", std::string address = "127.0.0.1") {
    listener_config cfg;
    cfg.name = std::move(name);
    cfg.kind = listener_kind::tcp;
    cfg.address = std::move(address);
    cfg.port = 0;
    return cfg;
}

listener_config tls_listener(const t::test_pki& pki, std::string name = "l") {
    listener_config cfg;
    cfg.name = std::move(name);
    cfg.kind = listener_kind::tls;
    cfg.address = "127.0.0.1";
    cfg.port = 0;
    cfg.client_auth = thinggate::transport::client_auth_mode::ca_file;
    cfg.ca_file = pki.ca_file();
    cfg.cert_file = pki.server_cert_file();
    cfg.key_file = pki.server_key_file();
    return cfg;
}

t::client_options good_client(const t::test_pki& pki, int version = 0) {
    t::client_options o;
    o.cert_file = pki.client_cert_file();
    o.key_file = pki.client_key_file();
    o.ca_file = pki.ca_file();
    o.min_version = version;
    o.max_version = version;
    return o;
}

std::string fingerprint(X509* cert) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(cert, EVP_sha256(), md, &len);
    std::string hex;
    for (unsigned int i = 0; i < len; ++i) {
        hex += fmt::format("{:02x}", md[i]);
    }
    return hex;
}

/// A TLS client that must not get through: its handshake fails, or (TLS 1.3, where the client
/// finishes before the server has checked its certificate) its first exchange fails.
bool refused(t::tls_client& c) {
    if (!c.connect()) {
        return true;
    }
    return !c.echo("hello");
}

} // namespace

TEST_CASE("server: plain TCP echo on 127.0.0.1 and ::1 with port 0") {
    t::echo_server s({tcp_listener("v4"), tcp_listener("v6", "::1")});
    CHECK(s.port("v4") != 0);
    CHECK(s.port("v6") != 0);
    CHECK_THROWS_AS(s.srv->port("nope"), std::out_of_range);

    t::tcp_client c4(s.port("v4"));
    REQUIRE(c4.connect());
    CHECK(c4.echo("hello"));
    t::tcp_client c6(s.port("v6"), {}, "::1");
    REQUIRE(c6.connect());
    CHECK(c6.echo("hello over IPv6"));

    // A large echo: many reads, scatter-gather writes of a borrowed body.
    std::string big(256 * 1024, 'x');
    for (std::size_t i = 0; i < big.size(); i += 97) {
        big[i] = static_cast<char>('a' + i % 26);
    }
    REQUIRE(c4.send(big));
    auto got = c4.read_exact(big.size());
    REQUIRE(got);
    CHECK(*got == big);

    std::lock_guard lk(s.st.mu);
    REQUIRE(s.st.infos.size() == 2);
    for (const auto& info : s.st.infos) {
        CHECK_FALSE(info.tls);
        CHECK(info.cert_fingerprint.empty());
        if (info.listener == "v4") {
            CHECK(info.remote_address.rfind("127.0.0.1:", 0) == 0);
        } else {
            CHECK(info.listener == "v6");
            CHECK(info.remote_address.rfind("[::1]:", 0) == 0);
        }
    }
}

TEST_CASE("server: plain TCP reads grow while they come back full (up to 64 KiB) and shrink back "
          "for a quiet connection") {
    t::echo_server s({tcp_listener()});
    t::tcp_client c(s.port());
    REQUIRE(c.connect());
    CHECK(c.echo("first"));
    CHECK(s.st.get(&t::echo_state::last_read_size) == 4096);
    std::string big(1024 * 1024, 'z');
    for (std::size_t i = 0; i < big.size(); i += 101) {
        big[i] = static_cast<char>('a' + i % 26);
    }
    REQUIRE(c.send(big));
    auto got = c.read_exact(big.size());
    REQUIRE(got);
    CHECK(*got == big); // every byte, in order, through reads of changing sizes
    CHECK(s.st.get(&t::echo_state::max_read_size) == 64 * 1024);
    // Each small message is one short read: the size halves back to 4 KiB.
    for (int i = 0; i < 6; ++i) {
        CHECK(c.echo("small " + std::to_string(i)));
    }
    CHECK(s.st.get(&t::echo_state::last_read_size) == 4096);
}

TEST_CASE("server: close(flush) writes what is queued, then the connection ends once") {
    t::echo_server s({tcp_listener()});
    t::tcp_client c(s.port());
    REQUIRE(c.connect());
    REQUIRE(c.send("close\n"));
    CHECK(c.read_exact(4) == std::optional<std::string>("bye\n"));
    CHECK(c.wait_closed());
    CHECK(s.st.wait([&] { return s.st.lost == 1 && s.st.released == 1; }));
    CHECK(s.st.get(&t::echo_state::lost_twice) == 0);
}

TEST_CASE("server: close without flush and a peer that disconnects both end the connection once") {
    t::echo_server s({tcp_listener()});
    {
        t::tcp_client c(s.port());
        REQUIRE(c.connect());
        REQUIRE(c.send("drop\n"));
        CHECK(c.wait_closed());
    }
    {
        t::tcp_client c(s.port());
        REQUIRE(c.connect());
        REQUIRE(c.echo("x"));
    } // the client goes away
    CHECK(s.st.wait([&] { return s.st.lost == 2 && s.st.released == 2; }));
    CHECK(s.st.get(&t::echo_state::lost_twice) == 0);
    CHECK(s.st.wait([&] { return s.srv->stats().live == 0; }));
}

TEST_CASE("server: the read timeout closes a silent connection and is re-armed by reads") {
    t::echo_server s({tcp_listener()});
    t::tcp_client c(s.port());
    REQUIRE(c.connect());
    REQUIRE(c.send("timeout 300\n"));
    REQUIRE(c.read_exact(3) == std::optional<std::string>("ok\n"));
    // Keep talking for longer than the timeout: every read pushes the deadline.
    auto until = std::chrono::steady_clock::now() + 600ms;
    while (std::chrono::steady_clock::now() < until) {
        REQUIRE(c.echo("ping"));
    }
    CHECK(s.st.get(&t::echo_state::timeouts) == 0);
    // Then fall silent.
    auto silent_from = std::chrono::steady_clock::now();
    CHECK(c.wait_closed());
    CHECK(std::chrono::steady_clock::now() - silent_from >= 250ms);
    CHECK(s.st.wait([&] { return s.st.timeouts == 1 && s.st.lost == 1; }));
}

TEST_CASE("server: connections over the limit are closed at once and counted") {
    t::echo_server s({tcp_listener()}, /*limit=*/1);
    t::tcp_client first(s.port());
    REQUIRE(first.connect());
    REQUIRE(first.echo("one"));
    t::tcp_client second(s.port());
    REQUIRE(second.connect()); // the kernel accepts; the server closes it
    CHECK(second.wait_closed());
    CHECK(s.srv->stats().rejected_over_limit == 1);
    CHECK(first.echo("still here"));
    CHECK(s.st.get(&t::echo_state::made) == 1);
}

TEST_CASE("server: start-up errors name the listener and the address") {
    t::echo_server s({tcp_listener("first")});
    thinggate::transport::shard_pool pool(1);
    t::echo_state st;
    t::echo_factory f(st);
    SUBCASE("port in use") {
        auto cfg = tcp_listener("second");
        cfg.port = s.port("first");
        thinggate::transport::server srv(f, pool, {cfg});
        try {
            srv.start();
            FAIL("start() should have thrown");
        } catch (const std::runtime_error& e) {
            std::string what = e.what();
            CHECK(what.find("second") != std::string::npos);
            CHECK(what.find(fmt::format("127.0.0.1:{}", cfg.port)) != std::string::npos);
        }
    }
    SUBCASE("not an IP address") {
        thinggate::transport::server srv(f, pool, {tcp_listener("bad", "localhost")});
        CHECK_THROWS_WITH_AS(srv.start(), doctest::Contains("bad"), std::runtime_error);
    }
    SUBCASE("duplicate names") {
        CHECK_THROWS_AS(
                thinggate::transport::server(f, pool, {tcp_listener("a"), tcp_listener("a")}),
                std::runtime_error);
    }
}

TEST_CASE("server: a mutual-TLS client is accepted and described by CN and SHA-256 fingerprint") {
    t::test_pki pki;
    t::echo_server s({tls_listener(pki)});
    t::tls_client c(s.port(), good_client(pki));
    REQUIRE_MESSAGE(c.connect(), c.error);
    CHECK(c.echo("hello"));
    CHECK(c.server_cn() == "server-a");
    std::lock_guard lk(s.st.mu);
    REQUIRE(s.st.infos.size() == 1);
    const auto& info = s.st.infos[0];
    CHECK(info.tls);
    CHECK(info.listener == "l");
    CHECK(info.cert_subject_cn == "device-1");
    CHECK(info.cert_fingerprint == fingerprint(pki.client.cert.get()));
    CHECK(info.remote_address.rfind("127.0.0.1:", 0) == 0);
}

TEST_CASE("server: TLS handshakes without a valid client certificate are refused") {
    t::test_pki pki;
    t::echo_server s({tls_listener(pki)});
    auto other_ca = t::issue("another CA", t::cert_role::ca, nullptr);
    auto stranger = t::issue("device-1", t::cert_role::client, &other_ca);
    auto [stranger_cert, stranger_key] = pki.write_pair("stranger", stranger);
    auto old = t::issue("device-old", t::cert_role::client, &pki.ca, -48h, -24h);
    auto [expired_cert, expired_key] = pki.write_pair("expired", old);

    std::uint64_t failures = 0;
    for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
        for (std::string which : {"no certificate", "another CA", "expired"}) {
            CAPTURE(version);
            CAPTURE(which);
            auto o = good_client(pki, version);
            if (which == "no certificate") {
                o.cert_file.clear();
            } else if (which == "another CA") {
                o.cert_file = stranger_cert;
                o.key_file = stranger_key;
            } else {
                o.cert_file = expired_cert;
                o.key_file = expired_key;
            }
            t::tls_client c(s.port(), o);
            CHECK(refused(c));
            // The server's handshake is what failed (not a local client-side problem).
            ++failures;
            CHECK(s.st.wait([&] { return s.srv->stats().handshake_failures == failures; }));
        }
    }
    CHECK(s.st.get(&t::echo_state::made) == 0); // no handler ever saw such a connection
    // The same server still takes a good client.
    t::tls_client good(s.port(), good_client(pki));
    REQUIRE_MESSAGE(good.connect(), good.error);
    CHECK(good.echo("welcome"));
}

TEST_CASE("server: a TLS handshake that does not finish in time is dropped") {
    t::test_pki pki;
    auto cfg = tls_listener(pki);
    cfg.handshake_timeout_ms = 200;
    t::echo_server s({cfg});
    t::tcp_client silent(s.port()); // connects, never says ClientHello
    REQUIRE(silent.connect());
    auto from = std::chrono::steady_clock::now();
    CHECK(silent.wait_closed());
    CHECK(std::chrono::steady_clock::now() - from >= 150ms);
    CHECK(s.st.wait([&] { return s.st.released == 1; }));
    CHECK(s.srv->stats().handshake_failures == 1);
    CHECK(s.st.get(&t::echo_state::made) == 0);
}

TEST_CASE("server: TLS 1.1 is refused, TLS 1.2 and 1.3 are accepted") {
    t::test_pki pki;
    auto l13 = tls_listener(pki, "tls13");
    l13.min_tls = tls_version::tls1_3;
    t::echo_server s({tls_listener(pki), l13});
    {
        auto o = good_client(pki, TLS1_1_VERSION);
        o.legacy = true;
        o.ca_file.clear(); // SHA-1 era client: do not let its own checks get in the way
        t::tls_client c(s.port(), o);
        CHECK_FALSE(c.connect());
        CHECK(s.st.wait([&] { return s.srv->stats().handshake_failures == 1; }));
    }
    {
        t::tls_client c(s.port(), good_client(pki, TLS1_2_VERSION));
        REQUIRE_MESSAGE(c.connect(), c.error);
        CHECK(SSL_version(c.ssl()) == TLS1_2_VERSION);
        CHECK(c.echo("twelve"));
    }
    {
        t::tls_client c(s.port(), good_client(pki, TLS1_3_VERSION));
        REQUIRE_MESSAGE(c.connect(), c.error);
        CHECK(SSL_version(c.ssl()) == TLS1_3_VERSION);
        CHECK(c.echo("thirteen"));
    }
    {
        t::tls_client c(s.port("tls13"), good_client(pki, TLS1_2_VERSION));
        CHECK_FALSE(c.connect());
    }
    {
        t::tls_client c(s.port("tls13"), good_client(pki));
        REQUIRE_MESSAGE(c.connect(), c.error);
        CHECK(SSL_version(c.ssl()) == TLS1_3_VERSION);
    }
}

TEST_CASE("server: ALPN — an accepted protocol is selected; a foreign one, or none, is refused") {
    t::test_pki pki;
    auto cfg = tls_listener(pki);
    cfg.alpn = {"mqtt", "x-amzn-mqtt-ca"};
    t::echo_server s({cfg});
    {
        auto o = good_client(pki);
        o.alpn = {"x-amzn-mqtt-ca"};
        t::tls_client c(s.port(), o);
        REQUIRE_MESSAGE(c.connect(), c.error);
        CHECK(c.alpn() == "x-amzn-mqtt-ca");
        CHECK(c.echo("alpn"));
    }
    {
        auto o = good_client(pki);
        o.alpn = {"http/1.1", "h2"};
        t::tls_client c(s.port(), o);
        CHECK(refused(c));
    }
    {
        // A listener with an ALPN list is for clients that speak it (AWS's port 443).
        t::tls_client c(s.port(), good_client(pki)); // no ALPN offered
        CHECK(refused(c));
    }
    {
        t::echo_server any({tls_listener(pki, "any")}); // no list: ALPN is optional
        t::tls_client c(any.port("any"), good_client(pki));
        REQUIRE_MESSAGE(c.connect(), c.error);
        CHECK(c.alpn().empty());
        CHECK(c.echo("no alpn"));
    }
}

TEST_CASE("server: TLS 1.2 sessions resume through the session-id cache") {
    t::test_pki pki;
    t::echo_server s({tls_listener(pki)});
    t::tls_client first(s.port(), good_client(pki, TLS1_2_VERSION));
    REQUIRE_MESSAGE(first.connect(), first.error);
    REQUIRE(first.echo("one"));
    auto o = good_client(pki, TLS1_2_VERSION);
    o.resume = first.session();
    REQUIRE(o.resume != nullptr);
    t::tls_client second(s.port(), o);
    REQUIRE_MESSAGE(second.connect(), second.error);
    CHECK(SSL_session_reused(second.ssl()) == 1);
    CHECK(second.echo("two"));
    // A resumed session still carries the client certificate to the handler.
    CHECK(s.st.wait([&] { return s.st.infos.size() == 2; }));
    std::lock_guard lk(s.st.mu);
    CHECK(s.st.infos[1].cert_subject_cn == "device-1");
}

TEST_CASE("server: TLS 1.3 sessions resume after the first connection ended without "
          "close_notify; each ticket once") {
    t::test_pki pki;
    t::echo_server s({tls_listener(pki)});
    SSL_SESSION* ticket = nullptr;
    {
        t::tls_client first(s.port(), good_client(pki, TLS1_3_VERSION));
        REQUIRE_MESSAGE(first.connect(), first.error);
        REQUIRE(first.echo("one")); // reading the echo also reads the NewSessionTicket
        // A copy: the client's own SSL_free (no close_notify) marks its session not resumable.
        ticket = SSL_SESSION_dup(SSL_get0_session(first.ssl()));
        REQUIRE(ticket != nullptr);
        REQUIRE(SSL_SESSION_is_resumable(ticket) == 1);
    } // closed without close_notify: OpenSSL's own cache would drop the session now
    REQUIRE(s.st.wait([&] { return s.srv->stats().live == 0; }));
    auto o = good_client(pki, TLS1_3_VERSION);
    o.resume = ticket;
    {
        t::tls_client second(s.port(), o);
        REQUIRE_MESSAGE(second.connect(), second.error);
        CHECK(SSL_session_reused(second.ssl()) == 1);
        CHECK(second.echo("two"));
    }
    {
        // The same ticket again: single use, so a full handshake (which succeeds).
        t::tls_client third(s.port(), o);
        REQUIRE_MESSAGE(third.connect(), third.error);
        CHECK(SSL_session_reused(third.ssl()) == 0);
        CHECK(third.echo("three"));
    }
    SSL_SESSION_free(ticket);
    CHECK(s.st.wait([&] { return s.st.infos.size() == 3; }));
    std::lock_guard lk(s.st.mu);
    CHECK(s.st.infos[1].cert_subject_cn == "device-1"); // the resumed one
}

TEST_CASE("server: session_cache_size = 0 turns resumption off") {
    t::test_pki pki;
    auto l = tls_listener(pki);
    l.session_cache_size = 0;
    t::echo_server s({l});
    SSL_SESSION* ticket = nullptr;
    {
        t::tls_client first(s.port(), good_client(pki, TLS1_2_VERSION));
        REQUIRE_MESSAGE(first.connect(), first.error);
        REQUIRE(first.echo("one"));
        // A copy: the client's own SSL_free (no close_notify) marks its session not resumable.
        ticket = SSL_SESSION_dup(SSL_get0_session(first.ssl()));
        REQUIRE(ticket != nullptr);
    }
    auto o = good_client(pki, TLS1_2_VERSION);
    o.resume = ticket;
    t::tls_client second(s.port(), o);
    REQUIRE_MESSAGE(second.connect(), second.error);
    CHECK(SSL_session_reused(second.ssl()) == 0);
    CHECK(second.echo("two"));
    SSL_SESSION_free(ticket);
}

TEST_CASE("server: many connections at once are all accepted (several per wake-up)") {
    t::echo_server s({tcp_listener()});
    std::vector<std::unique_ptr<t::tcp_client>> clients;
    for (int i = 0; i < 40; ++i) {
        clients.push_back(std::make_unique<t::tcp_client>(s.port()));
        REQUIRE_MESSAGE(clients.back()->connect(), clients.back()->error);
    }
    for (auto& c : clients) {
        CHECK(c->echo("x"));
    }
    CHECK(s.srv->stats().accepted == 40);
}

TEST_CASE("server: reload_tls serves the new certificate to new connections; old ones stay") {
    t::test_pki pki;
    t::echo_server s({tls_listener(pki)});
    t::tls_client old_conn(s.port(), good_client(pki));
    REQUIRE_MESSAGE(old_conn.connect(), old_conn.error);
    CHECK(old_conn.server_cn() == "server-a");

    auto next = t::issue("server-b", t::cert_role::server, &pki.ca);
    pki.write_server(next);
    CHECK(s.srv->reload_tls());

    t::tls_client new_conn(s.port(), good_client(pki));
    REQUIRE_MESSAGE(new_conn.connect(), new_conn.error);
    CHECK(new_conn.server_cn() == "server-b");
    CHECK(old_conn.echo("still on the old certificate"));
    CHECK(new_conn.echo("on the new one"));

    // A failed reload (key readable by others) keeps the previous context.
    t::write_key(pki.server_key_file(), next.key.get(), 0644);
    CHECK_FALSE(s.srv->reload_tls());
    t::tls_client after_failure(s.port(), good_client(pki));
    REQUIRE_MESSAGE(after_failure.connect(), after_failure.error);
    CHECK(after_failure.server_cn() == "server-b");
}

TEST_CASE("server: a TLS key file with mode 0644 stops start-up") {
    t::test_pki pki;
    t::write_key(pki.server_key_file(), pki.server.key.get(), 0644);
    thinggate::transport::shard_pool pool(1);
    t::echo_state st;
    t::echo_factory f(st);
    thinggate::transport::server srv(f, pool, {tls_listener(pki)});
    CHECK_THROWS_WITH_AS(
            srv.start(), doctest::Contains(pki.server_key_file().c_str()), std::runtime_error);
}

TEST_CASE("server: graceful stop tells every connection, flushes, closes and stops the shards") {
    t::test_pki pki;
    t::echo_server s({tcp_listener("plain"), tls_listener(pki, "mtls")});
    t::tcp_client a(s.port("plain"));
    t::tcp_client b(s.port("plain"));
    t::tls_client c(s.port("mtls"), good_client(pki));
    REQUIRE(a.connect());
    REQUIRE(b.connect());
    REQUIRE_MESSAGE(c.connect(), c.error);
    REQUIRE(a.echo("a"));
    REQUIRE(b.echo("b"));
    REQUIRE(c.echo("c"));

    std::thread stopper([&] { s.srv->stop(3s); });
    // Each client gets the handler's goodbye, then the end of the connection.
    CHECK(a.read_exact(4) == std::optional<std::string>("bye\n"));
    CHECK(b.read_exact(4) == std::optional<std::string>("bye\n"));
    CHECK(c.read_exact(4) == std::optional<std::string>("bye\n"));
    CHECK(a.wait_closed());
    CHECK(b.wait_closed());
    CHECK(c.wait_closed());
    stopper.join();
    CHECK_FALSE(s.pool.running());
    CHECK(s.st.get(&t::echo_state::shutdowns) == 3);
    CHECK(s.st.get(&t::echo_state::lost) == 3);
    CHECK(s.st.get(&t::echo_state::released) == 3);
    CHECK(s.srv->stats().live == 0);
}

TEST_CASE("signals: SIGHUP reloads, SIGTERM stops gracefully") {
    t::test_pki pki;
    t::echo_server s({tcp_listener()});
    std::mutex mu;
    std::condition_variable cv;
    bool ready = false;
    int reloads = 0;
    std::thread runner([&] {
        thinggate::transport::run_until_signal(
                *s.srv,
                s.pool,
                [&] {
                    std::lock_guard lk(mu);
                    ++reloads;
                    cv.notify_all();
                },
                [&] {
                    std::lock_guard lk(mu);
                    ready = true;
                    cv.notify_all();
                });
    });
    {
        std::unique_lock lk(mu);
        REQUIRE(cv.wait_for(lk, 5s, [&] { return ready; }));
    }
    std::raise(SIGHUP);
    {
        std::unique_lock lk(mu);
        CHECK(cv.wait_for(lk, 5s, [&] { return reloads == 1; }));
    }
    CHECK(s.pool.running());
    std::raise(SIGTERM);
    runner.join();
    CHECK_FALSE(s.pool.running());
}
