#include "transport/tls_context.hpp"

#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <openssl/ssl.h>

#include <sys/stat.h>

#include "test_certs.hpp"

using thinggate::transport::listener_config;
using thinggate::transport::listener_kind;
using thinggate::transport::make_tls_context;
using thinggate::transport::tls_version;
namespace t = thinggate::test;

namespace {

listener_config config_for(const t::test_pki& pki) {
    listener_config cfg;
    cfg.name = "mtls";
    cfg.kind = listener_kind::tls;
    cfg.client_auth = thinggate::transport::client_auth_mode::ca_file;
    cfg.ca_file = pki.ca_file();
    cfg.cert_file = pki.server_cert_file();
    cfg.key_file = pki.server_key_file();
    return cfg;
}

std::string error_of(const listener_config& cfg) {
    try {
        make_tls_context(cfg);
    } catch (const std::runtime_error& e) {
        return e.what();
    }
    return {};
}

} // namespace

TEST_CASE("tls_context: the policy is applied to the SSL_CTX") {
    t::test_pki pki;
    auto ctx = make_tls_context(config_for(pki));
    SSL_CTX* c = ctx->native();
    CHECK(SSL_CTX_get_min_proto_version(c) == TLS1_2_VERSION);
    auto opts = SSL_CTX_get_options(c);
    CHECK((opts & SSL_OP_NO_TICKET) != 0);
    CHECK((opts & SSL_OP_NO_RENEGOTIATION) != 0);
    CHECK((opts & SSL_OP_CIPHER_SERVER_PREFERENCE) != 0);
    CHECK((SSL_CTX_get_mode(c) & SSL_MODE_RELEASE_BUFFERS) != 0);
    // The server's chain is cert_file's: no chain building from the CA store per handshake.
    CHECK((SSL_CTX_get_mode(c) & SSL_MODE_NO_AUTO_CHAIN) != 0);
    CHECK(SSL_CTX_get_verify_mode(c) == (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT));
    // Our bounded session cache, not OpenSSL's internal one (tls_session_cache).
    CHECK(SSL_CTX_get_session_cache_mode(c) == (SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL));
    CHECK(SSL_CTX_get_timeout(c) == 600);
    CHECK(ctx->sessions().capacity() == 4096);
    CHECK(SSL_CTX_get_num_tickets(c) == 1);

    // TLS 1.2 suites: ECDHE with AES-GCM or ChaCha20 only (TLS 1.3 suites are all AEAD).
    const std::set<std::string> allowed12 = {
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-RSA-AES128-GCM-SHA256",
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "ECDHE-RSA-CHACHA20-POLY1305"};
    STACK_OF(SSL_CIPHER)* ciphers = SSL_CTX_get_ciphers(c);
    int tls12 = 0;
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
        const SSL_CIPHER* ci = sk_SSL_CIPHER_value(ciphers, i);
        std::string name = SSL_CIPHER_get_name(ci);
        if (name.rfind("TLS_", 0) == 0) {
            continue; // TLS 1.3
        }
        ++tls12;
        CHECK_MESSAGE(allowed12.count(name) == 1, name);
    }
    CHECK(tls12 == 6);
    // TLS 1.3: the three AEAD suites, AES-128-GCM first (the server's preference).
    std::vector<std::string> tls13;
    for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
        std::string name = SSL_CIPHER_get_name(sk_SSL_CIPHER_value(ciphers, i));
        if (name.rfind("TLS_", 0) == 0) {
            tls13.push_back(name);
        }
    }
    CHECK(tls13 ==
          std::vector<std::string>{
                  "TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"});
    CHECK(ctx->alpn_wire().empty());

    // The client CA list names our CA, so clients pick the right certificate.
    STACK_OF(X509_NAME)* cas = SSL_CTX_get_client_CA_list(c);
    REQUIRE(sk_X509_NAME_num(cas) == 1);
    CHECK(X509_NAME_cmp(sk_X509_NAME_value(cas, 0), X509_get_subject_name(pki.ca.cert.get())) == 0);
}

TEST_CASE("tls_context: min_tls = 1.3 and ALPN wire format") {
    t::test_pki pki;
    auto cfg = config_for(pki);
    cfg.min_tls = tls_version::tls1_3;
    cfg.alpn = {"mqtt", "x-amzn-mqtt-ca"};
    auto ctx = make_tls_context(cfg);
    CHECK(SSL_CTX_get_min_proto_version(ctx->native()) == TLS1_3_VERSION);
    std::vector<unsigned char> expected = {4, 'm', 'q', 't', 't', 14};
    std::string amzn = "x-amzn-mqtt-ca";
    expected.insert(expected.end(), amzn.begin(), amzn.end());
    CHECK(ctx->alpn_wire() == expected);
}

TEST_CASE("tls_context: a key file readable by group or other is refused, naming the file") {
    t::test_pki pki;
    auto cfg = config_for(pki);
    t::write_key(cfg.key_file, pki.server.key.get(), 0644);
    auto err = error_of(cfg);
    CHECK(err.find(cfg.key_file) != std::string::npos);
    CHECK(err.find("mtls") != std::string::npos);
    CHECK(err.find("0644") != std::string::npos);

    t::write_key(cfg.key_file, pki.server.key.get(), 0640);
    CHECK(error_of(cfg).find(cfg.key_file) != std::string::npos);

    t::write_key(cfg.key_file, pki.server.key.get(), 0400);
    CHECK(error_of(cfg).empty());
}

TEST_CASE("tls_context: start-up errors name the file at fault") {
    t::test_pki pki;
    SUBCASE("missing certificate file") {
        auto cfg = config_for(pki);
        cfg.cert_file = (pki.dir / "nope.pem").string();
        CHECK(error_of(cfg).find(cfg.cert_file) != std::string::npos);
    }
    SUBCASE("missing key file") {
        auto cfg = config_for(pki);
        cfg.key_file = (pki.dir / "nope.key").string();
        CHECK(error_of(cfg).find(cfg.key_file) != std::string::npos);
    }
    SUBCASE("missing CA bundle") {
        auto cfg = config_for(pki);
        cfg.ca_file = (pki.dir / "nope-ca.pem").string();
        CHECK(error_of(cfg).find(cfg.ca_file) != std::string::npos);
    }
    SUBCASE("key that does not match the certificate") {
        auto cfg = config_for(pki);
        auto other = t::issue("other", t::cert_role::server, &pki.ca);
        auto [cert, key] = pki.write_pair("other", other);
        cfg.key_file = key;
        auto err = error_of(cfg);
        CHECK(err.find(key) != std::string::npos);
        CHECK(err.find("does not match") != std::string::npos);
    }
    SUBCASE("no CA configured") {
        auto cfg = config_for(pki);
        cfg.ca_file.clear();
        CHECK(error_of(cfg).find("ca_file") != std::string::npos);
    }
    SUBCASE("bad ALPN entry") {
        auto cfg = config_for(pki);
        cfg.alpn = {""};
        CHECK(error_of(cfg).find("ALPN") != std::string::npos);
    }
}
