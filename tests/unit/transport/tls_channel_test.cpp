// The server's own TLS channel (transport/tls_channel.hpp) through the real server: large
// transfers with partial reads and writes, KeyUpdate, record coalescing, close_notify, and
// clients that never get as far as a handshake.

#include "transport/tls_channel.hpp"

#include <string>

#include <doctest/doctest.h>
#include <openssl/ssl.h>

#include "test_certs.hpp"
#include "test_peer.hpp"
#include "transport/server.hpp"

using namespace std::chrono_literals;
using thinggate::transport::listener_config;
using thinggate::transport::listener_kind;
namespace t = thinggate::test;

namespace {

listener_config tls_listener(const t::test_pki& pki) {
    listener_config cfg;
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

} // namespace

TEST_CASE("tls channel: 128 KiB both ways over TLS 1.2 and 1.3 to a client that reads slowly") {
    t::test_pki pki;
    t::echo_server s({tls_listener(pki)});
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
}

TEST_CASE("tls channel: a large frame goes out in full-size records, many small ones in few") {
    t::test_pki pki;
    t::echo_server s({tls_listener(pki)});
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

TEST_CASE("tls channel: TLS 1.3 KeyUpdate from the client, with an update requested back") {
    t::test_pki pki;
    t::echo_server s({tls_listener(pki)});
    t::tls_client c(s.port(), good_client(pki, TLS1_3_VERSION));
    REQUIRE_MESSAGE(c.connect(), c.error);
    REQUIRE(c.echo("xbefore"));
    for (int i = 0; i < 3; ++i) {
        REQUIRE(SSL_key_update(c.ssl(), SSL_KEY_UPDATE_REQUESTED) == 1);
        CHECK_MESSAGE(c.echo("xafter update " + std::to_string(i)), c.error);
    }
    CHECK(c.echo(pattern(40'000)));
}

TEST_CASE("tls channel: close with flush sends close_notify after the last bytes") {
    t::test_pki pki;
    t::echo_server s({tls_listener(pki)});
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

TEST_CASE("tls channel: a client's close_notify ends the connection once") {
    t::test_pki pki;
    t::echo_server s({tls_listener(pki)});
    t::tls_client c(s.port(), good_client(pki, TLS1_3_VERSION));
    REQUIRE_MESSAGE(c.connect(), c.error);
    REQUIRE(c.echo("xhello"));
    c.shutdown(); // sends close_notify
    CHECK(s.st.wait([&] { return s.st.lost == 1 && s.st.released == 1; }));
    CHECK(s.st.get(&t::echo_state::lost_twice) == 0);
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
