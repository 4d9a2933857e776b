#include "transport/tls_session_cache.hpp"

#include <algorithm>
#include <iterator>
#include <string>

#include <doctest/doctest.h>
#include <openssl/ssl.h>

using thinggate::transport::tls_session_cache;
using namespace std::chrono_literals;

namespace {

/// A TLS 1.2 cipher suite of OpenSSL's defaults (a session needs one to be serialized).
const SSL_CIPHER* any_cipher() {
    static const SSL_CIPHER* cipher = [] {
        SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
        SSL* ssl = SSL_new(ctx);
        const SSL_CIPHER* c = sk_SSL_CIPHER_value(SSL_get_ciphers(ssl), 0);
        SSL_free(ssl);
        SSL_CTX_free(ctx); // SSL_CIPHERs are static tables: `c` stays valid
        return c;
    }();
    return cipher;
}

/// A bare session with the given id (no handshake needed for the cache's bookkeeping).
SSL_SESSION* session_with_id(const std::string& id) {
    SSL_SESSION* s = SSL_SESSION_new();
    REQUIRE(s != nullptr);
    REQUIRE(SSL_SESSION_set1_id(
                    s, reinterpret_cast<const unsigned char*>(id.data()), id.size()) == 1);
    REQUIRE(SSL_SESSION_set_protocol_version(s, TLS1_2_VERSION) == 1);
    REQUIRE(SSL_SESSION_set_cipher(s, any_cipher()) == 1);
    return s;
}

} // namespace

TEST_CASE("tls_session_cache: a stored session is found again, with a reference for the caller") {
    tls_session_cache cache(8, 600s);
    REQUIRE(cache.add(session_with_id("session-a")));
    SSL_SESSION* found = cache.find("session-a", false);
    REQUIRE(found != nullptr);
    unsigned int len = 0;
    const unsigned char* id = SSL_SESSION_get_id(found, &len);
    CHECK(std::string(reinterpret_cast<const char*>(id), len) == "session-a");
    SSL_SESSION_free(found);
    // Not taken: a TLS 1.2 session id can be resumed again.
    SSL_SESSION* again = cache.find("session-a", false);
    CHECK(again != nullptr);
    SSL_SESSION_free(again);
    CHECK(cache.find("unknown", false) == nullptr);
    auto st = cache.stats();
    CHECK(st.sessions == 1);
    CHECK(st.added == 1);
    CHECK(st.hits == 2);
    CHECK(st.misses == 1);
}

TEST_CASE("tls_session_cache: a session is kept serialized: the caller's object is not held, a "
          "lookup decodes a new one with the same id, cipher and master key") {
    tls_session_cache cache(8, 600s);
    SSL_SESSION* original = session_with_id("kept-serialized");
    const unsigned char key[48] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    REQUIRE(SSL_SESSION_set1_master_key(original, key, sizeof key) == 1);
    REQUIRE(cache.store(original)); // the caller keeps its reference
    SSL_SESSION* found = cache.find("kept-serialized", false);
    REQUIRE(found != nullptr);
    CHECK(found != original);
    unsigned char found_key[48] = {};
    REQUIRE(SSL_SESSION_get_master_key(found, found_key, sizeof found_key) == sizeof key);
    CHECK(std::equal(std::begin(key), std::end(key), std::begin(found_key)));
    CHECK(SSL_SESSION_get0_cipher(found) == SSL_SESSION_get0_cipher(original));
    CHECK(SSL_SESSION_get_protocol_version(found) == TLS1_2_VERSION);
    SSL_SESSION_free(found);
    SSL_SESSION_free(original); // the cache holds no reference: this frees it
    SSL_SESSION* again = cache.find("kept-serialized", true);
    CHECK(again != nullptr);
    SSL_SESSION_free(again);
}

TEST_CASE("tls_session_cache: a session that cannot be serialized (no cipher) is not stored") {
    tls_session_cache cache(8, 600s);
    SSL_SESSION* s = SSL_SESSION_new();
    REQUIRE(SSL_SESSION_set1_id(s, reinterpret_cast<const unsigned char*>("x"), 1) == 1);
    CHECK_FALSE(cache.add(s)); // not taken
    SSL_SESSION_free(s);
    CHECK(cache.stats().sessions == 0);
}

TEST_CASE("tls_session_cache: a taken session (TLS 1.3 ticket) is used once") {
    tls_session_cache cache(8, 600s);
    REQUIRE(cache.add(session_with_id("ticket")));
    SSL_SESSION* taken = cache.find("ticket", true);
    REQUIRE(taken != nullptr);
    SSL_SESSION_free(taken);
    CHECK(cache.find("ticket", true) == nullptr);
    CHECK(cache.stats().sessions == 0);
}

TEST_CASE("tls_session_cache: over the capacity the oldest sessions leave first") {
    tls_session_cache cache(3, 600s);
    for (int i = 0; i < 5; ++i) {
        REQUIRE(cache.add(session_with_id("s" + std::to_string(i))));
    }
    auto st = cache.stats();
    CHECK(st.sessions == 3);
    CHECK(st.evicted == 2);
    CHECK(cache.find("s0", false) == nullptr);
    CHECK(cache.find("s1", false) == nullptr);
    for (int i = 2; i < 5; ++i) {
        SSL_SESSION* s = cache.find("s" + std::to_string(i), false);
        CHECK_MESSAGE(s != nullptr, i);
        SSL_SESSION_free(s);
    }
}

TEST_CASE("tls_session_cache: taking sessions keeps the queue bounded") {
    tls_session_cache cache(2, 600s);
    REQUIRE(cache.add(session_with_id("long-lived")));
    for (int i = 0; i < 1000; ++i) {
        const std::string id = "t" + std::to_string(i);
        REQUIRE(cache.add(session_with_id(id)));
        SSL_SESSION* s = cache.find(id, true);
        REQUIRE(s != nullptr);
        SSL_SESSION_free(s);
    }
    SSL_SESSION* s = cache.find("long-lived", false);
    CHECK(s != nullptr); // never over the capacity, so never evicted
    SSL_SESSION_free(s);
    CHECK(cache.stats().sessions == 1);
}

TEST_CASE("tls_session_cache: a session past its lifetime is not resumed") {
    tls_session_cache cache(8, 0s); // every session expires at once
    REQUIRE(cache.add(session_with_id("old")));
    CHECK(cache.find("old", false) == nullptr);
    auto st = cache.stats();
    CHECK(st.expired == 1);
    CHECK(st.sessions == 0);
}

TEST_CASE("tls_session_cache: capacity 0 keeps nothing and turns the context's cache off") {
    tls_session_cache cache(0, 600s);
    SSL_SESSION* s = session_with_id("x");
    CHECK_FALSE(cache.add(s));
    SSL_SESSION_free(s); // not taken
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    REQUIRE(ctx != nullptr);
    cache.install(ctx);
    CHECK(SSL_CTX_get_session_cache_mode(ctx) == SSL_SESS_CACHE_OFF);
    SSL_CTX_free(ctx);
}

TEST_CASE("tls_session_cache: install sets server mode without OpenSSL's internal store") {
    tls_session_cache cache(16, 300s);
    SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
    REQUIRE(ctx != nullptr);
    cache.install(ctx);
    CHECK(SSL_CTX_get_session_cache_mode(ctx) ==
          (SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL));
    CHECK(SSL_CTX_get_timeout(ctx) == 300);
    CHECK(bool(SSL_CTX_sess_get_new_cb(ctx)));
    CHECK(bool(SSL_CTX_sess_get_get_cb(ctx)));
    SSL_CTX_free(ctx);
}
