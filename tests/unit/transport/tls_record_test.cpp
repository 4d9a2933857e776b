// transport/tls_record against real OpenSSL peers in memory: an OpenSSL server and client finish
// the handshake over memory BIOs, the server's record secrets are captured (TLS 1.3: the key log;
// TLS 1.2: the master secret and the hello randoms), the server's SSL is freed and a tls_record
// takes its place. Every record our side opens was written by the OpenSSL client, every record
// it seals is read by it.

#include "transport/tls_record.hpp"

#include <atomic>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/ssl.h>

#include <dlfcn.h>

#include "test_certs.hpp"

// Fault injection for the KeyUpdate paths: this binary's own EVP_KDF_derive and
// EVP_CipherInit_ex take the place of libcrypto's (the static transport library binds to them,
// libssl's calls are interposed) and forward to libcrypto's, unless a test has armed one to
// fail: `n` = the n-th call from now fails (once), 0 = none.
namespace {
std::atomic<int> kdf_fail_at{0};
std::atomic<int> cipher_init_fail_at{0};

bool injected_failure(std::atomic<int>& at) {
    int v = at.load();
    while (v > 0 && !at.compare_exchange_weak(v, v - 1)) {
    }
    return v == 1;
}
} // namespace

extern "C" int
EVP_KDF_derive(EVP_KDF_CTX* ctx, unsigned char* key, size_t keylen, const OSSL_PARAM params[]) {
    using fn = int (*)(EVP_KDF_CTX*, unsigned char*, size_t, const OSSL_PARAM[]);
    static const fn real = reinterpret_cast<fn>(dlsym(RTLD_NEXT, "EVP_KDF_derive"));
    if (injected_failure(kdf_fail_at)) {
        return 0;
    }
    return real(ctx, key, keylen, params);
}

extern "C" int EVP_CipherInit_ex(
        EVP_CIPHER_CTX* ctx,
        const EVP_CIPHER* cipher,
        ENGINE* impl,
        const unsigned char* key,
        const unsigned char* iv,
        int enc) {
    using fn =
            int (*)(EVP_CIPHER_CTX*,
                    const EVP_CIPHER*,
                    ENGINE*,
                    const unsigned char*,
                    const unsigned char*,
                    int);
    static const fn real = reinterpret_cast<fn>(dlsym(RTLD_NEXT, "EVP_CipherInit_ex"));
    // Only the keying calls (a key, no IV) count; per-record calls set the IV alone.
    if (key != nullptr && iv == nullptr && injected_failure(cipher_init_fail_at)) {
        return 0;
    }
    return real(ctx, cipher, impl, key, iv, enc);
}

#if defined(__SANITIZE_ADDRESS__)
extern "C" int __sanitizer_install_malloc_and_free_hooks(
        void (*malloc_hook)(const volatile void*, std::size_t),
        void (*free_hook)(const volatile void*));
#define TLS_RECORD_TEST_COUNTS_ALLOCATIONS 1
#endif

#include "tests/unit/transport/tls_record_access.hpp"

namespace {

namespace t = thinggate::test;
using thinggate::transport::detail::open_status;
using thinggate::transport::detail::record_aead;
using thinggate::transport::detail::record_alert;
using thinggate::transport::detail::record_secrets;
using thinggate::transport::detail::tls_record;
using thinggate::transport::detail::tls_record_test_access;
using bytes = std::vector<std::uint8_t>;

struct ssl_ctx_free {
    void operator()(SSL_CTX* p) const noexcept { SSL_CTX_free(p); }
};

struct ssl_free {
    void operator()(SSL* p) const noexcept { SSL_free(p); }
};

using ctx_ptr = std::unique_ptr<SSL_CTX, ssl_ctx_free>;
using ssl_ptr = std::unique_ptr<SSL, ssl_free>;

struct suite {
    int version;
    record_aead aead;
    const char* name; // TLS 1.3 ciphersuite or TLS 1.2 cipher list
};

const suite all_suites[] = {
        {TLS1_3_VERSION, record_aead::aes_128_gcm, "TLS_AES_128_GCM_SHA256"},
        {TLS1_3_VERSION, record_aead::aes_256_gcm, "TLS_AES_256_GCM_SHA384"},
        {TLS1_3_VERSION, record_aead::chacha20_poly1305, "TLS_CHACHA20_POLY1305_SHA256"},
        {TLS1_2_VERSION, record_aead::aes_128_gcm, "ECDHE-ECDSA-AES128-GCM-SHA256"},
        {TLS1_2_VERSION, record_aead::aes_256_gcm, "ECDHE-ECDSA-AES256-GCM-SHA384"},
        {TLS1_2_VERSION, record_aead::chacha20_poly1305, "ECDHE-ECDSA-CHACHA20-POLY1305"},
};

std::uint8_t unhex(char c) {
    return static_cast<std::uint8_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
}

/// The server's key log lines, kept per SSL through its app data.
struct key_log {
    std::string client_secret;
    std::string server_secret;
};

void keylog_cb(const SSL* ssl, const char* line) {
    auto* log = static_cast<key_log*>(SSL_get_app_data(ssl));
    std::string l(line);
    const auto take = [&](const char* label, std::string& into) {
        const std::string prefix = std::string(label) + " ";
        if (l.rfind(prefix, 0) == 0) {
            into = l.substr(l.rfind(' ') + 1);
        }
    };
    take("CLIENT_TRAFFIC_SECRET_0", log->client_secret);
    take("SERVER_TRAFFIC_SECRET_0", log->server_secret);
}

std::size_t put_hex(const std::string& hex, std::uint8_t* out) {
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out[i / 2] = static_cast<std::uint8_t>(unhex(hex[i]) << 4 | unhex(hex[i + 1]));
    }
    return hex.size() / 2;
}

/// Moves everything `from` has written into `to`'s read BIO.
void pump(SSL* from, SSL* to) {
    BIO* w = SSL_get_wbio(from);
    char buf[4096];
    for (;;) {
        int k = BIO_read(w, buf, sizeof buf);
        if (k <= 0) {
            break;
        }
        BIO_write(SSL_get_rbio(to), buf, k);
    }
}

/// An OpenSSL client connected to our record layer, the server's SSL gone.
class pair {
public:
    explicit pair(const suite& s, std::uint32_t key_update_after = 1u << 23) {
        static t::key_cert ca = t::issue("tls_record test CA", t::cert_role::ca, nullptr);
        static t::key_cert server = t::issue("server", t::cert_role::server, &ca);

        sctx_.reset(SSL_CTX_new(TLS_server_method()));
        cctx_.reset(SSL_CTX_new(TLS_client_method()));
        for (SSL_CTX* c : {sctx_.get(), cctx_.get()}) {
            SSL_CTX_set_min_proto_version(c, s.version);
            SSL_CTX_set_max_proto_version(c, s.version);
            if (s.version == TLS1_3_VERSION) {
                REQUIRE(SSL_CTX_set_ciphersuites(c, s.name) == 1);
            } else {
                REQUIRE(SSL_CTX_set_cipher_list(c, s.name) == 1);
            }
        }
        REQUIRE(SSL_CTX_use_certificate(sctx_.get(), server.cert.get()) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey(sctx_.get(), server.key.get()) == 1);
        SSL_CTX_set_num_tickets(sctx_.get(), 0);
        SSL_CTX_set_options(sctx_.get(), SSL_OP_NO_TICKET);
        SSL_CTX_set_keylog_callback(sctx_.get(), keylog_cb);
        SSL_CTX_set_verify(cctx_.get(), SSL_VERIFY_NONE, nullptr);

        ssl_ptr srv(SSL_new(sctx_.get()));
        client_.reset(SSL_new(cctx_.get()));
        SSL_set_app_data(srv.get(), &log_);
        SSL_set_bio(srv.get(), BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
        SSL_set_bio(client_.get(), BIO_new(BIO_s_mem()), BIO_new(BIO_s_mem()));
        SSL_set_accept_state(srv.get());
        SSL_set_connect_state(client_.get());
        for (int i = 0; i < 20; ++i) {
            SSL_do_handshake(client_.get());
            pump(client_.get(), srv.get());
            SSL_do_handshake(srv.get());
            pump(srv.get(), client_.get());
            if (SSL_is_init_finished(client_.get()) && SSL_is_init_finished(srv.get())) {
                break;
            }
        }
        REQUIRE(SSL_is_init_finished(srv.get()));
        REQUIRE(SSL_is_init_finished(client_.get()));
        REQUIRE(SSL_version(srv.get()) == s.version);

        secrets_.version = s.version;
        secrets_.aead = s.aead;
        secrets_.hash = SSL_CIPHER_get_handshake_digest(SSL_get_current_cipher(srv.get()));
        secrets_.key_update_after = key_update_after;
        if (s.version == TLS1_3_VERSION) {
            REQUIRE(!log_.client_secret.empty());
            REQUIRE(!log_.server_secret.empty());
            secrets_.secret_len = put_hex(log_.client_secret, secrets_.client);
            REQUIRE(put_hex(log_.server_secret, secrets_.server) == secrets_.secret_len);
            secrets_.read_seq = 0;
            secrets_.write_seq = 0;
        } else {
            secrets_.secret_len = SSL_SESSION_get_master_key(
                    SSL_get_session(srv.get()), secrets_.client, sizeof secrets_.client);
            REQUIRE(SSL_get_client_random(srv.get(), secrets_.client_random, 32) == 32);
            REQUIRE(SSL_get_server_random(srv.get(), secrets_.server_random, 32) == 32);
            secrets_.read_seq = 1; // the Finished of each side
            secrets_.write_seq = 1;
        }
        rec_ = tls_record::make(secrets_);
        REQUIRE(rec_ != nullptr);
    }

    tls_record& rec() { return *rec_; }

    SSL* client() { return client_.get(); }

    const record_secrets& secrets() const { return secrets_; }

    /// A record sealer for the client's direction, on the server side's current keys (before
    /// any KeyUpdate): for records the OpenSSL client would never write.
    std::unique_ptr<tls_record> client_side() const {
        record_secrets s;
        std::memcpy(&s.client, secrets_.client, sizeof s.client);
        std::memcpy(&s.server, secrets_.server, sizeof s.server);
        std::memcpy(&s.client_random, secrets_.client_random, 32);
        std::memcpy(&s.server_random, secrets_.server_random, 32);
        s.version = secrets_.version;
        s.aead = secrets_.aead;
        s.hash = secrets_.hash;
        s.secret_len = secrets_.secret_len;
        s.read_seq = secrets_.write_seq;
        s.write_seq = secrets_.read_seq;
        s.client_side = true;
        return tls_record::make(s);
    }

    /// The client writes `data` (one SSL_write); returns the wire bytes.
    bytes client_write(const bytes& data) {
        REQUIRE(SSL_write(client_.get(), data.data(), static_cast<int>(data.size())) ==
                static_cast<int>(data.size()));
        return client_wire();
    }

    /// Whatever the client has written so far.
    bytes client_wire() {
        bytes out;
        BIO* w = SSL_get_wbio(client_.get());
        char buf[4096];
        for (;;) {
            int k = BIO_read(w, buf, sizeof buf);
            if (k <= 0) {
                break;
            }
            out.insert(out.end(), buf, buf + k);
        }
        return out;
    }

    /// Gives the client wire bytes to read.
    void to_client(std::span<const std::uint8_t> wire) {
        if (!wire.empty()) {
            BIO_write(SSL_get_rbio(client_.get()), wire.data(), static_cast<int>(wire.size()));
        }
    }

    /// Everything the client can read now.
    bytes client_read() {
        bytes out;
        std::uint8_t buf[16384];
        for (;;) {
            int k = SSL_read(client_.get(), buf, sizeof buf);
            if (k <= 0) {
                last_client_error = SSL_get_error(client_.get(), k);
                break;
            }
            out.insert(out.end(), buf, buf + k);
        }
        return out;
    }

    int last_client_error = 0;

    /// Splits `wire` into records and opens each (in place or into a separate buffer);
    /// returns the data, the status of each record in `statuses`.
    bytes open_all(bytes wire, bool in_place, std::vector<open_status>* statuses = nullptr) {
        bytes data;
        std::size_t at = 0;
        bytes sep(tls_record::max_wire_record);
        while (at < wire.size()) {
            bool bad = false;
            std::span<std::uint8_t> rest(wire.data() + at, wire.size() - at);
            std::size_t size = rec_->record_size(rest, bad);
            REQUIRE_FALSE(bad);
            REQUIRE(size != 0);
            REQUIRE(size <= rest.size());
            std::span<std::uint8_t> one = rest.first(size);
            std::uint8_t* out = in_place ? one.data() + tls_record::header_len : sep.data();
            std::size_t n = 99;
            open_status st = rec_->open(one, out, n);
            if (statuses != nullptr) {
                statuses->push_back(st);
            }
            if (st == open_status::data) {
                data.insert(data.end(), out, out + n);
            } else {
                CHECK(n == 0);
            }
            if (st == open_status::fatal) {
                break;
            }
            at += size;
        }
        return data;
    }

    /// Seals `pieces` as one record (or more with a KeyUpdate in front).
    bytes seal(std::initializer_list<std::span<const std::uint8_t>> pieces) {
        std::size_t total = 0;
        for (auto p : pieces) {
            total += p.size();
        }
        bytes out(total + tls_record::max_seal_overhead);
        std::vector<std::span<const std::uint8_t>> v(pieces);
        std::size_t k = rec_->seal(v, out.data());
        REQUIRE(k != 0);
        REQUIRE(k <= out.size());
        out.resize(k);
        return out;
    }

private:
    ctx_ptr sctx_;
    ctx_ptr cctx_;
    ssl_ptr client_;
    key_log log_;
    record_secrets secrets_;
    std::unique_ptr<tls_record> rec_;
};

bytes pattern(std::size_t n, unsigned seed = 0) {
    bytes b(n);
    for (std::size_t i = 0; i < n; ++i) {
        b[i] = static_cast<std::uint8_t>((i * 131 + seed * 17 + i / 251) & 0xff);
    }
    return b;
}

std::string suite_name(const suite& s) {
    return s.name;
}

} // namespace

TEST_CASE("tls_record [RFC8446-5.2][RFC5246-6.2.3.3]: OpenSSL client's records open, ours are "
          "read by it, every suite and size") {
    for (const suite& s : all_suites) {
        CAPTURE(suite_name(s));
        pair p(s);
        for (std::size_t size :
             {std::size_t{1},
              std::size_t{16383},
              std::size_t{16384},
              std::size_t{100},
              std::size_t{4096}}) {
            CAPTURE(size);
            for (bool in_place : {true, false}) {
                CAPTURE(in_place);
                bytes msg = pattern(size, static_cast<unsigned>(size + in_place));
                bytes wire = p.client_write(msg);
                CHECK(p.open_all(wire, in_place) == msg);

                bytes back = pattern(size, 7);
                p.to_client(p.seal({back}));
                CHECK(p.client_read() == back);
            }
        }
        // Zero bytes: an empty application-data record, read by the client as nothing.
        bytes empty = p.seal({});
        p.to_client(empty);
        CHECK(p.client_read().empty());
        CHECK(p.last_client_error == SSL_ERROR_WANT_READ);
    }
}

namespace {

/// A second side on the client's keys: seals what `p.rec()` opens (for records the OpenSSL
/// client would not write), with the same sequence numbers as the client.
struct crafter {
    explicit crafter(pair& p)
        : r(p.client_side()) {
        REQUIRE(r != nullptr);
    }

    bytes inner(std::uint8_t type, const bytes& content, std::size_t padding = 0) {
        bytes out(content.size() + padding + tls_record::max_seal_overhead + 64);
        std::size_t k = tls_record_test_access::seal_inner(*r, type, content, padding, out.data());
        REQUIRE(k != 0);
        out.resize(k);
        return out;
    }

    bytes data(const bytes& content) {
        bytes out(content.size() + tls_record::max_seal_overhead);
        std::span<const std::uint8_t> piece = content;
        std::size_t k = r->seal({&piece, 1}, out.data());
        REQUIRE(k != 0);
        out.resize(k);
        return out;
    }

    bytes alert(std::uint8_t level, std::uint8_t desc) { return inner(21, {level, desc}); }

    bytes key_update(bool requested) {
        bytes out(64);
        std::size_t k = tls_record_test_access::key_update(*r, requested, out.data());
        REQUIRE(k != 0);
        out.resize(k);
        return out;
    }

    std::unique_ptr<tls_record> r;
};

/// Opens exactly one record (the whole of `wire`) into a separate buffer.
open_status open_one(tls_record& r, bytes wire, std::size_t* n_out = nullptr) {
    bool bad = false;
    std::size_t size = r.record_size(wire, bad);
    if (bad) {
        return open_status::fatal;
    }
    REQUIRE(size == wire.size());
    bytes out(wire.size());
    std::size_t n = 99;
    open_status st = r.open(wire, out.data(), n);
    if (n_out != nullptr) {
        *n_out = n;
    }
    if (st != open_status::data) {
        CHECK(n == 0);
    }
    return st;
}

bool is13(const suite& s) {
    return s.version == TLS1_3_VERSION;
}

} // namespace

TEST_CASE("tls_record [RFC8446-5.1][RFC5246-6.2.1]: pieces gathered into one record, many records "
          "in one stream, both ways") {
    for (const suite& s : all_suites) {
        CAPTURE(suite_name(s));
        pair p(s);
        // Odd sizes across the AES block and ChaCha's 64-byte block, empty pieces between.
        bytes a = pattern(3, 1), b = pattern(0), c = pattern(77, 2), d = pattern(4000, 3),
              e = pattern(1, 4);
        bytes all;
        for (const bytes* x : {&a, &b, &c, &d, &e}) {
            all.insert(all.end(), x->begin(), x->end());
        }
        p.to_client(p.seal({a, b, c, d, e}));
        CHECK(p.client_read() == all);

        // 300 records each way; the client's arrive as one stream, opened alternately in
        // place and into a separate buffer.
        bytes sent, wire;
        for (unsigned i = 0; i < 300; ++i) {
            bytes m = pattern(1 + (i * 37) % 700, i);
            sent.insert(sent.end(), m.begin(), m.end());
            bytes w = p.client_write(m);
            wire.insert(wire.end(), w.begin(), w.end());
        }
        CHECK(p.open_all(wire, true) == sent);
        bytes ours;
        bytes expect;
        for (unsigned i = 0; i < 300; ++i) {
            bytes m = pattern(1 + (i * 53) % 900, i + 5);
            expect.insert(expect.end(), m.begin(), m.end());
            bytes w = p.seal({m});
            ours.insert(ours.end(), w.begin(), w.end());
        }
        p.to_client(ours);
        CHECK(p.client_read() == expect);
        // max_plain in pieces of every split point around a block.
        bytes big = pattern(16384, 9);
        for (std::size_t cut :
             {std::size_t{1},
              std::size_t{15},
              std::size_t{16},
              std::size_t{17},
              std::size_t{63},
              std::size_t{64},
              std::size_t{16383}}) {
            std::span<const std::uint8_t> whole(big);
            p.to_client(p.seal({whole.first(cut), whole.subspan(cut)}));
            CHECK(p.client_read() == big);
        }
    }
}

TEST_CASE("tls_record [RFC8446-4.6.3][RFC8446-7.2]: the client's KeyUpdate, not requested and "
          "requested, then data both ways") {
    for (const suite& s : all_suites) {
        if (!is13(s)) {
            continue;
        }
        CAPTURE(suite_name(s));
        pair p(s);
        bytes m1 = pattern(1000, 1);
        p.open_all(p.client_write(m1), true);

        // update_not_requested: our read key moves on, nothing to answer.
        REQUIRE(SSL_key_update(p.client(), SSL_KEY_UPDATE_NOT_REQUESTED) == 1);
        bytes m2 = pattern(2000, 2);
        std::vector<open_status> st;
        CHECK(p.open_all(p.client_write(m2), false, &st) == m2);
        CHECK(st == std::vector<open_status>{open_status::control, open_status::data});
        CHECK(p.rec().pending_control().empty());
        bytes r1 = pattern(500, 3);
        p.to_client(p.seal({r1}));
        CHECK(p.client_read() == r1);

        // update_requested: our KeyUpdate is sealed under the old write key into
        // pending_control(); what we seal next is under the new one.
        REQUIRE(SSL_key_update(p.client(), SSL_KEY_UPDATE_REQUESTED) == 1);
        bytes m3 = pattern(3000, 4);
        st.clear();
        CHECK(p.open_all(p.client_write(m3), true, &st) == m3);
        CHECK(st == std::vector<open_status>{open_status::control, open_status::data});
        auto pending = p.rec().pending_control();
        REQUIRE(pending.size() == 27);
        bytes control(pending.begin(), pending.end());
        p.rec().clear_pending_control();
        CHECK(p.rec().pending_control().empty());
        bytes r2 = pattern(4000, 5);
        bytes sealed = p.seal({r2});
        p.to_client(control);
        p.to_client(sealed);
        CHECK(p.client_read() == r2);

        // Two requests before we answer: one KeyUpdate answers both (§4.6.3).
        REQUIRE(SSL_key_update(p.client(), SSL_KEY_UPDATE_REQUESTED) == 1);
        bytes m4 = p.client_write(pattern(10, 6));
        REQUIRE(SSL_key_update(p.client(), SSL_KEY_UPDATE_REQUESTED) == 1);
        bytes m5 = p.client_write(pattern(20, 7));
        m4.insert(m4.end(), m5.begin(), m5.end());
        bytes both = pattern(10, 6);
        bytes b2 = pattern(20, 7);
        both.insert(both.end(), b2.begin(), b2.end());
        CHECK(p.open_all(m4, true) == both);
        REQUIRE(p.rec().pending_control().size() == 27);
        control.assign(p.rec().pending_control().begin(), p.rec().pending_control().end());
        p.rec().clear_pending_control();
        bytes r3 = pattern(16384, 8);
        p.to_client(control);
        p.to_client(p.seal({r3}));
        CHECK(p.client_read() == r3);
        // And the client goes on writing under its third key.
        bytes m6 = pattern(16384, 9);
        CHECK(p.open_all(p.client_write(m6), false) == m6);
    }
}

TEST_CASE("tls_record [RFC8446-5.5][RFC8446-4.6.3]: our own KeyUpdate when the write sequence "
          "reaches the limit (lowered to 3 for the test)") {
    for (const suite& s : all_suites) {
        if (!is13(s)) {
            continue;
        }
        CAPTURE(suite_name(s));
        pair p(s, 3);
        bytes expect;
        bytes wire;
        std::size_t longer = 0;
        for (unsigned i = 0; i < 10; ++i) {
            bytes m = pattern(100, i);
            expect.insert(expect.end(), m.begin(), m.end());
            bytes w = p.seal({m});
            // 100 + type + tag + header; 27 more with a KeyUpdate in front.
            if (w.size() == 100 + 22 + 27) {
                ++longer;
            } else {
                CHECK(w.size() == 100 + 22);
            }
            wire.insert(wire.end(), w.begin(), w.end());
        }
        CHECK(longer == 3); // before records 4, 7 and 10
        p.to_client(wire);
        CHECK(p.client_read() == expect);
        // The client's direction is unaffected.
        bytes m = pattern(300, 1);
        CHECK(p.open_all(p.client_write(m), true) == m);
    }
}

TEST_CASE("tls_record [RFC8446-6.1][RFC5246-7.2.1]: close_notify both ways") {
    for (const suite& s : all_suites) {
        CAPTURE(suite_name(s));
        {
            pair p(s);
            REQUIRE(SSL_shutdown(p.client()) == 0);
            std::vector<open_status> st;
            p.open_all(p.client_wire(), true, &st);
            CHECK(st == std::vector<open_status>{open_status::close_notify});
            CHECK(p.rec().received_alert() == 0);
        }
        {
            pair p(s);
            std::uint8_t out[64];
            std::size_t k = p.rec().seal_alert(record_alert::close_notify, out);
            REQUIRE(k != 0);
            p.to_client({out, k});
            std::uint8_t buf[16];
            CHECK(SSL_read(p.client(), buf, sizeof buf) == 0);
            CHECK(SSL_get_error(p.client(), 0) == SSL_ERROR_ZERO_RETURN);
        }
        {
            // A fatal alert of ours ends the client's connection with that alert.
            pair p(s);
            std::uint8_t out[64];
            std::size_t k = p.rec().seal_alert(record_alert::decode_error, out);
            REQUIRE(k != 0);
            p.to_client({out, k});
            std::uint8_t buf[16];
            ERR_clear_error();
            CHECK(SSL_read(p.client(), buf, sizeof buf) <= 0);
            CHECK(SSL_get_error(p.client(), 0) == SSL_ERROR_SSL);
            CHECK(ERR_GET_REASON(ERR_peek_last_error()) == SSL_AD_REASON_OFFSET + 50);
            ERR_clear_error();
        }
    }
}

TEST_CASE("tls_record [RFC8446-6][RFC5246-7.2]: the peer's other alerts") {
    for (const suite& s : all_suites) {
        CAPTURE(suite_name(s));
        {
            // user_canceled (1.3) / any warning (1.2): nothing for the application.
            pair p(s);
            crafter c(p);
            CHECK(open_one(p.rec(), c.alert(1, 90)) == open_status::control);
            CHECK(p.rec().received_alert() == 90);
            std::size_t n = 0;
            CHECK(open_one(p.rec(), c.data(pattern(5)), &n) == open_status::data);
            CHECK(n == 5);
            CHECK(p.rec().received_alert() == -1);
        }
        {
            pair p(s);
            crafter c(p);
            CHECK(open_one(p.rec(), c.alert(2, 40)) == open_status::fatal);
            CHECK(p.rec().received_alert() == 40);
            // Sticky: nothing after it is opened.
            CHECK(open_one(p.rec(), c.data(pattern(5))) == open_status::fatal);
        }
        {
            // An alert record of three bytes: decode_error.
            pair p(s);
            crafter c(p);
            CHECK(open_one(p.rec(), c.inner(21, {1, 0, 0})) == open_status::fatal);
            CHECK(p.rec().alert() == record_alert::decode_error);
        }
        {
            pair p(s);
            crafter c(p);
            open_status st = open_one(p.rec(), c.alert(1, 42)); // bad_certificate, warning level
            if (is13(s)) {
                CHECK(st == open_status::fatal); // §6.2: every other alert is an error
            } else {
                CHECK(st == open_status::control);
                CHECK(open_one(p.rec(), c.alert(3, 0)) == open_status::fatal);
                CHECK(p.rec().alert() == record_alert::illegal_parameter);
            }
        }
    }
}

TEST_CASE("tls_record [RFC8446-5.2][RFC5246-6.2.3.3]: a flipped bit anywhere in a record is "
          "fatal and delivers nothing") {
    for (const suite& s : all_suites) {
        CAPTURE(suite_name(s));
        pair p(s);
        bytes wire = p.client_write(pattern(40, 3));
        for (std::size_t i = 0; i < wire.size(); ++i) {
            for (std::uint8_t bit : {std::uint8_t{0x01}, std::uint8_t{0x80}}) {
                CAPTURE(i);
                CAPTURE(int{bit});
                auto r = tls_record::make(p.secrets());
                REQUIRE(r != nullptr);
                bytes w = wire;
                w[i] ^= bit;
                bool bad = false;
                std::size_t size = r->record_size(w, bad);
                if (bad) {
                    CHECK(size == 0);
                    CHECK((r->alert() == record_alert::unexpected_message ||
                           r->alert() == record_alert::record_overflow));
                    continue;
                }
                if (size > w.size()) {
                    continue; // a longer record: we would wait for more (and never get it right)
                }
                std::size_t n = 99;
                bytes out(w.size(), 0xaa);
                open_status st = r->open({w.data(), size}, out.data(), n);
                CHECK(st == open_status::fatal);
                CHECK(n == 0);
                CHECK(r->alert() == record_alert::bad_record_mac);
                // The unauthenticated plaintext was wiped.
                CHECK(std::memchr(out.data(), 3, size) == nullptr);
            }
        }
        // Untampered, the record opens.
        auto r = tls_record::make(p.secrets());
        std::size_t n = 0;
        CHECK(open_one(*r, wire, &n) == open_status::data);
        CHECK(n == 40);
    }
}

TEST_CASE("tls_record [RFC8446-5.2][RFC8446-5.4][RFC5246-6.2.3]: record_overflow") {
    for (const suite& s : all_suites) {
        CAPTURE(suite_name(s));
        const std::size_t limit = is13(s) ? 16384 + 256 : 16384 + 2048;
        {
            pair p(s);
            std::uint8_t hdr[5] = {
                    23,
                    3,
                    3,
                    static_cast<std::uint8_t>((limit + 1) >> 8),
                    static_cast<std::uint8_t>(limit + 1)};
            bool bad = false;
            CHECK(p.rec().record_size(hdr, bad) == 0);
            CHECK(bad);
            CHECK(p.rec().alert() == record_alert::record_overflow);
        }
        {
            // At the limit the header is fine (the tag decides).
            pair p(s);
            std::uint8_t hdr[5] = {
                    23,
                    3,
                    3,
                    static_cast<std::uint8_t>(limit >> 8),
                    static_cast<std::uint8_t>(limit)};
            bool bad = false;
            CHECK(p.rec().record_size(hdr, bad) == 5 + limit);
            CHECK_FALSE(bad);
        }
        {
            // Authentic, but the plaintext is over its limit: 1.3 inner plaintext 2^14+2 (zeros
            // after the type count), 1.2 plaintext 2^14+1.
            pair p(s);
            crafter c(p);
            bytes w = is13(s) ? c.inner(23, pattern(16384), 1) : c.inner(23, pattern(16385));
            CHECK(open_one(p.rec(), w) == open_status::fatal);
            CHECK(p.rec().alert() == record_alert::record_overflow);
        }
        {
            // 1.3: 2^14 bytes of content + type = 2^14+1 is the largest allowed.
            pair p(s);
            crafter c(p);
            std::size_t n = 0;
            CHECK(open_one(p.rec(), c.inner(23, pattern(16384)), &n) == open_status::data);
            CHECK(n == 16384);
        }
    }
}

TEST_CASE("tls_record [RFC8446-5][RFC5246-7.1]: change_cipher_spec after the handshake is "
          "unexpected_message, plain or protected") {
    for (const suite& s : all_suites) {
        CAPTURE(suite_name(s));
        pair p(s);
        bytes ccs = {20, 3, 3, 0, 1, 1};
        bool bad = false;
        CHECK(p.rec().record_size(ccs, bad) == 0);
        CHECK(bad);
        CHECK(p.rec().alert() == record_alert::unexpected_message);
        std::size_t n = 99;
        CHECK(p.rec().open(ccs, ccs.data() + 5, n) == open_status::fatal);
        CHECK(n == 0);
        if (is13(s)) {
            pair q(s);
            crafter c(q);
            CHECK(open_one(q.rec(), c.inner(20, {1})) == open_status::fatal);
            CHECK(q.rec().alert() == record_alert::unexpected_message);
            // A plaintext alert record after the handshake, too (outer type 21).
            pair r(s);
            bytes plain_alert = {21, 3, 3, 0, 2, 1, 0};
            CHECK(r.rec().record_size(plain_alert, bad) == 0);
            CHECK(r.rec().alert() == record_alert::unexpected_message);
        } else {
            pair q(s);
            bytes other = {24, 3, 3, 0, 1, 1}; // heartbeat: not allowed
            CHECK(q.rec().record_size(other, bad) == 0);
            CHECK(q.rec().alert() == record_alert::unexpected_message);
        }
    }
}

TEST_CASE("tls_record [RFC8446-5.4]: padding is stripped; an all-zero inner plaintext is "
          "unexpected_message") {
    for (const suite& s : all_suites) {
        if (!is13(s)) {
            continue;
        }
        CAPTURE(suite_name(s));
        pair p(s);
        crafter c(p);
        bytes m = pattern(100, 1);
        m.back() = 0; // content ending in zero bytes is not padding
        m[98] = 0;
        bytes w = c.inner(23, m, 1000);
        bytes out(w.size());
        std::size_t n = 0;
        CHECK(p.rec().open(w, out.data(), n) == open_status::data);
        CHECK(bytes(out.begin(), out.begin() + static_cast<long>(n)) == m);
        // An alert with padding is still one alert.
        CHECK(open_one(p.rec(), c.inner(21, {1, 90}, 7)) == open_status::control);
        for (std::size_t zeros : {std::size_t{0}, std::size_t{1}, std::size_t{200}}) {
            CAPTURE(zeros);
            pair q(s);
            crafter cq(q);
            CHECK(open_one(q.rec(), cq.inner(0, {}, zeros)) == open_status::fatal);
            CHECK(q.rec().alert() == record_alert::unexpected_message);
        }
        // An unknown inner type.
        pair q(s);
        crafter cq(q);
        CHECK(open_one(q.rec(), cq.inner(99, {1, 2})) == open_status::fatal);
        CHECK(q.rec().alert() == record_alert::unexpected_message);
    }
}

TEST_CASE("tls_record [RFC8446-4.6.3][RFC8446-5.1]: malformed and misplaced KeyUpdates") {
    struct bad_case {
        const char* what;
        bytes msg;
        record_alert alert;
    };

    const bad_case cases[] = {
            {"request_update 2", {24, 0, 0, 1, 2}, record_alert::illegal_parameter},
            {"length 2", {24, 0, 0, 2, 0, 0}, record_alert::decode_error},
            {"length 0", {24, 0, 0, 0}, record_alert::decode_error},
            {"followed by data", {24, 0, 0, 1, 0, 24}, record_alert::unexpected_message},
            {"two in one record",
             {24, 0, 0, 1, 0, 24, 0, 0, 1, 0},
             record_alert::unexpected_message},
            {"split: 3 bytes", {24, 0, 0}, record_alert::unexpected_message},
            {"split: 4 bytes", {24, 0, 0, 1}, record_alert::unexpected_message},
            {"empty handshake record", {}, record_alert::unexpected_message},
            {"ClientHello", {1, 0, 0, 1, 0}, record_alert::unexpected_message},
            {"NewSessionTicket", {4, 0, 0, 1, 0}, record_alert::unexpected_message},
            {"Certificate (post-handshake auth)",
             {11, 0, 0, 1, 0},
             record_alert::unexpected_message},
    };
    for (const suite& s : all_suites) {
        if (!is13(s)) {
            continue;
        }
        CAPTURE(suite_name(s));
        for (const bad_case& bc : cases) {
            CAPTURE(bc.what);
            pair p(s);
            crafter c(p);
            CHECK(open_one(p.rec(), c.inner(22, bc.msg)) == open_status::fatal);
            CHECK(p.rec().alert() == bc.alert);
            CHECK(std::strlen(p.rec().reason()) > 0);
        }
        // A well-formed one from our crafter is applied like the client's.
        pair p(s);
        crafter c(p);
        CHECK(open_one(p.rec(), c.key_update(true)) == open_status::control);
        CHECK(p.rec().pending_control().size() == 27);
        std::size_t n = 0;
        CHECK(open_one(p.rec(), c.data(pattern(9))) == open_status::data);
        // The crafter reads our answer and then our data.
        bytes pend(p.rec().pending_control().begin(), p.rec().pending_control().end());
        CHECK(open_one(*c.r, pend) == open_status::control);
        bytes d = p.seal({pattern(33)});
        CHECK(open_one(*c.r, d, &n) == open_status::data);
        CHECK(n == 33);
    }
}

TEST_CASE("tls_record: more than 32 records in a row without application data are fatal "
          "(a KeyUpdate or empty-record flood must not make us spin)") {
    for (const suite& s : all_suites) {
        CAPTURE(suite_name(s));
        {
            pair p(s);
            crafter c(p);
            for (int i = 0; i < 32; ++i) {
                CHECK(open_one(p.rec(), c.data({})) == open_status::control);
            }
            CHECK(open_one(p.rec(), c.data({1})) == open_status::data); // resets the count
            for (int i = 0; i < 32; ++i) {
                CHECK(open_one(p.rec(), c.data({})) == open_status::control);
            }
            CHECK(open_one(p.rec(), c.data({})) == open_status::fatal);
            CHECK(p.rec().alert() == record_alert::unexpected_message);
        }
        {
            pair p(s);
            crafter c(p);
            for (int i = 0; i < 32; ++i) {
                bytes w = is13(s) ? c.key_update(i % 2 == 0) : c.alert(1, 90);
                CHECK(open_one(p.rec(), w) == open_status::control);
                p.rec().clear_pending_control();
            }
            bytes w = is13(s) ? c.key_update(false) : c.alert(1, 90);
            CHECK(open_one(p.rec(), w) == open_status::fatal);
            CHECK(p.rec().alert() == record_alert::unexpected_message);
        }
    }
}

TEST_CASE("tls_record [RFC8446-4.6.3][RFC8446-6]: a KeyUpdate refused by the flood limit changes "
          "no key, and the alert for it is read by the peer") {
    // Finding: the 33rd record without data being a KeyUpdate(update_requested) moved both keys
    // on and sealed our answer into pending_control() before the limit made the record fatal;
    // the unexpected_message alert then went out under a write key the peer never learnt of
    // (the answer is not sent after a fatal result), so the peer saw bad_record_mac.
    for (const suite& s : all_suites) {
        if (!is13(s)) {
            continue;
        }
        CAPTURE(suite_name(s));
        pair p(s);
        crafter c(p);
        for (int i = 0; i < 32; ++i) {
            CHECK(open_one(p.rec(), c.data({})) == open_status::control);
        }
        CHECK(open_one(p.rec(), c.key_update(true)) == open_status::fatal);
        CHECK(p.rec().alert() == record_alert::unexpected_message);
        CHECK(p.rec().pending_control().empty());
        std::uint8_t a[64];
        const std::size_t k = p.rec().seal_alert(p.rec().alert(), a);
        REQUIRE(k != 0);
        CHECK(open_one(*c.r, bytes(a, a + k)) == open_status::fatal);
        CHECK(c.r->received_alert() == static_cast<int>(record_alert::unexpected_message));
    }
}

TEST_CASE("tls_record [RFC5746][RFC5246-7.4.1.2]: a TLS 1.2 renegotiation attempt is fatal") {
    for (const suite& s : all_suites) {
        if (is13(s)) {
            continue;
        }
        CAPTURE(suite_name(s));
        pair p(s);
        bytes m = pattern(10);
        CHECK(p.open_all(p.client_write(m), true) == m);
        REQUIRE(SSL_renegotiate(p.client()) == 1);
        SSL_do_handshake(p.client());
        bytes hello = p.client_wire();
        REQUIRE(!hello.empty());
        CHECK(hello[0] == 22);
        std::vector<open_status> st;
        CHECK(p.open_all(hello, true, &st).empty());
        CHECK(st == std::vector<open_status>{open_status::fatal});
        CHECK(p.rec().alert() == record_alert::unexpected_message);
    }
}

/// The first `n` bytes of keystream that sealed TLS 1.3 record `wire` whose inner plaintext
/// begins with `inner`.
bytes keystream13(std::span<const std::uint8_t> wire, std::span<const std::uint8_t> inner) {
    bytes ks(inner.size());
    for (std::size_t i = 0; i < inner.size(); ++i) {
        ks[i] = static_cast<std::uint8_t>(wire[tls_record::header_len + i] ^ inner[i]);
    }
    return ks;
}

TEST_CASE("tls_record [RFC8446-5.3][RFC8446-4.6.3][RFC8446-7.2]: a KeyUpdate of ours whose key "
          "derivation fails reuses no nonce; the alert after it is read by the client") {
    // Finding: update_write_key() reset the write sequence to 0 and advanced the secret even
    // when a derivation failed, leaving the old key and IV in place: the internal_error alert
    // sealed next reused the nonce of the first record under that key (AES-GCM: keystream
    // and GHASH key exposed).
    for (const suite& s : all_suites) {
        if (!is13(s)) {
            continue;
        }
        CAPTURE(suite_name(s));
        for (int fail_at : {1, 2, 3}) { // "traffic upd", "key", "iv" of the next write key
            for (bool answering : {false, true}) {
                CAPTURE(fail_at);
                CAPTURE(answering);
                pair p(s, 2);
                const bytes first = pattern(64, 1);
                const bytes w0 = p.seal({first}); // write sequence 0
                p.to_client(w0);
                CHECK(p.client_read() == first);
                if (answering) {
                    // The client asks for our KeyUpdate: our read key moves on (three
                    // derivations), then answering it fails.
                    REQUIRE(SSL_key_update(p.client(), SSL_KEY_UPDATE_REQUESTED) == 1);
                    bytes wire = p.client_write(pattern(10, 2));
                    kdf_fail_at = 3 + fail_at;
                    std::vector<open_status> st;
                    p.open_all(wire, true, &st);
                    CHECK(st.back() == open_status::fatal);
                    CHECK(p.rec().pending_control().empty());
                } else {
                    const bytes second = pattern(64, 2);
                    p.to_client(p.seal({second})); // sequence 1; the next seal is due a KeyUpdate
                    CHECK(p.client_read() == second);
                    kdf_fail_at = fail_at;
                    const bytes third = pattern(64, 3);
                    bytes out(third.size() + tls_record::max_seal_overhead);
                    std::span<const std::uint8_t> piece = third;
                    CHECK(p.rec().seal({&piece, 1}, out.data()) == 0);
                }
                CHECK(kdf_fail_at.exchange(0) == 0);
                CHECK(p.rec().alert() == record_alert::internal_error);
                std::uint8_t a[64];
                const std::size_t k = p.rec().seal_alert(record_alert::internal_error, a);
                REQUIRE(k != 0);
                const std::uint8_t alert_inner[3] = {2, 80, 21};
                CHECK(keystream13({a, k}, alert_inner) != keystream13(w0, {first.data(), 3}));
                // Sealed under the key and sequence number the client expects.
                p.to_client({a, k});
                std::uint8_t buf[16];
                ERR_clear_error();
                CHECK(SSL_read(p.client(), buf, sizeof buf) <= 0);
                CHECK(ERR_GET_REASON(ERR_peek_last_error()) ==
                      SSL_AD_REASON_OFFSET + SSL_AD_INTERNAL_ERROR);
                ERR_clear_error();
            }
        }
    }
}

TEST_CASE("tls_record [RFC8446-4.6.3]: once our KeyUpdate is sealed but the new write key cannot "
          "be set, nothing more is sealed") {
    for (const suite& s : all_suites) {
        if (!is13(s)) {
            continue;
        }
        CAPTURE(suite_name(s));
        for (bool answering : {false, true}) {
            CAPTURE(answering);
            pair p(s, 1);
            crafter c(p);
            const bytes first = pattern(64, 1);
            bytes w0 = p.seal({first});
            if (answering) {
                const bytes request = c.key_update(true);
                cipher_init_fail_at = 2; // the read key's, then the write key's
                CHECK(open_one(p.rec(), request) == open_status::fatal);
            } else {
                cipher_init_fail_at = 1;
                bytes out(first.size() + tls_record::max_seal_overhead);
                std::span<const std::uint8_t> piece = first;
                CHECK(p.rec().seal({&piece, 1}, out.data()) == 0);
            }
            CHECK(cipher_init_fail_at.exchange(0) == 0);
            CHECK(p.rec().alert() == record_alert::internal_error);
            CHECK(std::strlen(p.rec().reason()) > 0);
            std::uint8_t a[64];
            CHECK(p.rec().seal_alert(record_alert::internal_error, a) == 0);
            bytes out(first.size() + tls_record::max_seal_overhead);
            std::span<const std::uint8_t> piece = first;
            CHECK(p.rec().seal({&piece, 1}, out.data()) == 0);
        }
    }
}

TEST_CASE("tls_record [RFC8446-6][RFC5246-7.2]: a fatal record leaves none of its authentic "
          "plaintext in the output buffer") {
    // Finding: the fatal paths after a good tag (an alert record not of 2 bytes, a handshake
    // message other than KeyUpdate, a misplaced KeyUpdate, the peer's fatal alert, the 33rd
    // record without data) returned with the decrypted plaintext left in `out`, although the
    // header promises that `out` holds nothing of a failed record.
    constexpr std::uint8_t mark = 0xa5;
    for (const suite& s : all_suites) {
        CAPTURE(suite_name(s));
        std::vector<std::pair<const char*, bytes>> cases;
        {
            bytes alert(20, mark);
            cases.emplace_back("alert record of 20 bytes", alert);
            bytes hs = {4, 0, 0, 16};
            hs.resize(20, mark);
            cases.emplace_back("handshake message other than KeyUpdate", hs);
            bytes ku = {24, 0, 0, 1, 0};
            ku.resize(20, mark);
            cases.emplace_back("KeyUpdate followed by more", ku);
        }
        for (std::size_t i = 0; i < cases.size(); ++i) {
            CAPTURE(cases[i].first);
            for (bool in_place : {false, true}) {
                CAPTURE(in_place);
                pair p(s);
                crafter c(p);
                bytes w = c.inner(i == 0 ? 21 : 22, cases[i].second);
                bytes sep(w.size(), 0);
                std::uint8_t* out = in_place ? w.data() + tls_record::header_len : sep.data();
                std::size_t n = 99;
                CHECK(p.rec().open(w, out, n) == open_status::fatal);
                CHECK(n == 0);
                // Everything decryption wrote (in place: the explicit nonce's 8 bytes too),
                // not the tag after it.
                const std::size_t room = w.size() - tls_record::header_len - 16;
                CHECK(std::memchr(out, mark, room) == nullptr);
            }
        }
        {
            // The peer's fatal alert (TLS 1.3: any alert but close_notify and user_canceled).
            pair p(s);
            crafter c(p);
            bytes w = c.inner(21, {2, mark});
            bytes sep(w.size(), 0);
            std::size_t n = 99;
            CHECK(p.rec().open(w, sep.data(), n) == open_status::fatal);
            CHECK(p.rec().received_alert() == mark);
            CHECK(std::memchr(sep.data(), mark, sep.size()) == nullptr);
        }
    }
}

TEST_CASE("tls_record: sequence numbers never wrap") {
    for (const suite& s : all_suites) {
        if (is13(s)) {
            continue; // 1.3 writes move to a new key every 2^23 records
        }
        CAPTURE(suite_name(s));
        pair p(s);
        auto mk = [&](bool client_side, std::uint64_t seq) {
            record_secrets x;
            x.version = p.secrets().version;
            x.aead = p.secrets().aead;
            x.secret_len = p.secrets().secret_len;
            std::memcpy(x.client, p.secrets().client, sizeof x.client);
            std::memcpy(x.client_random, p.secrets().client_random, 32);
            std::memcpy(x.server_random, p.secrets().server_random, 32);
            x.read_seq = seq;
            x.write_seq = seq;
            x.client_side = client_side;
            return tls_record::make(x);
        };
        const std::uint64_t max = ~std::uint64_t{0};
        auto server = mk(false, max - 1);
        auto client = mk(true, max - 1);
        bytes out(200);
        bytes m = pattern(20);
        std::span<const std::uint8_t> piece = m;
        std::size_t k = client->seal({&piece, 1}, out.data());
        REQUIRE(k != 0);
        std::size_t n = 0;
        CHECK(open_one(*server, bytes(out.begin(), out.begin() + static_cast<long>(k)), &n) ==
              open_status::data);
        CHECK(n == 20);
        CHECK(client->seal({&piece, 1}, out.data()) == 0);
        CHECK(client->alert() == record_alert::internal_error);
        auto server2 = mk(false, max);
        auto client2 = mk(true, max - 1);
        k = client2->seal({&piece, 1}, out.data());
        CHECK(open_one(*server2, bytes(out.begin(), out.begin() + static_cast<long>(k))) ==
              open_status::fatal);
    }
}

TEST_CASE("tls_record: make() refuses inconsistent input; seal() refuses more than max_plain") {
    pair p(all_suites[0]);
    record_secrets s;
    s.version = TLS1_3_VERSION;
    s.aead = record_aead::aes_128_gcm;
    s.secret_len = 32;
    CHECK(tls_record::make(s) != nullptr);
    s.secret_len = 48; // SHA-256 suite with a 48-byte secret
    CHECK(tls_record::make(s) == nullptr);
    s.secret_len = 32;
    s.hash = EVP_sha384();
    CHECK(tls_record::make(s) == nullptr);
    s.hash = EVP_sha256();
    s.version = TLS1_1_VERSION;
    CHECK(tls_record::make(s) == nullptr);
    s.version = TLS1_2_VERSION; // the master secret is 48 bytes
    CHECK(tls_record::make(s) == nullptr);
    s.secret_len = 48;
    CHECK(tls_record::make(s) != nullptr);
    s.key_update_after = 0;
    CHECK(tls_record::make(s) == nullptr);
    s.key_update_after = 1u << 24;
    CHECK(tls_record::make(s) == nullptr);
    s.key_update_after = 1u << 23;
    s.max_plain = 16385;
    CHECK(tls_record::make(s) == nullptr);
    s.max_plain = 512; // RFC 6066 max_fragment_length
    s.aead = static_cast<record_aead>(7);
    CHECK(tls_record::make(s) == nullptr);
    s.aead = record_aead::aes_256_gcm;
    s.hash = EVP_sha384();
    auto r = tls_record::make(s);
    REQUIRE(r != nullptr);
    CHECK(r->max_plain() == 512);
    CHECK(r->version() == TLS1_2_VERSION);
    bytes big(513);
    bytes out(513 + tls_record::max_seal_overhead);
    std::span<const std::uint8_t> piece = big;
    CHECK(r->seal({&piece, 1}, out.data()) == 0);
    CHECK(r->alert() == record_alert::internal_error);
}

#if defined(TLS_RECORD_TEST_COUNTS_ALLOCATIONS)
namespace {
std::atomic<bool> counting{false};
std::atomic<long> allocations{0};

void count_malloc(const volatile void*, std::size_t) {
    if (counting.load(std::memory_order_relaxed)) {
        allocations.fetch_add(1, std::memory_order_relaxed);
    }
}

void count_free(const volatile void*) {}
} // namespace

TEST_CASE("tls_record: no heap allocation per record (seal, open in place and not)") {
    static const bool installed =
            __sanitizer_install_malloc_and_free_hooks(count_malloc, count_free) != 0;
    REQUIRE(installed);
    // The counter counts: OpenSSL's own allocations are seen.
    counting = true;
    EVP_CIPHER_CTX_free(EVP_CIPHER_CTX_new());
    counting = false;
    CHECK(allocations.exchange(0) > 0);
    for (const suite& s : all_suites) {
        CAPTURE(suite_name(s));
        pair p(s);
        crafter c(p);
        bytes m = pattern(4096);
        bytes m2 = pattern(100);
        std::span<const std::uint8_t> pieces[] = {m, m2};
        bytes wire(5000);
        bytes out(5000);
        long during = 0;
        for (int i = 0; i < 200; ++i) {
            counting = true;
            std::size_t k = c.r->seal(pieces, wire.data());
            bool bad = false;
            std::size_t size = p.rec().record_size({wire.data(), k}, bad);
            std::size_t n = 0;
            open_status st =
                    p.rec().open({wire.data(), size}, i % 2 ? out.data() : wire.data() + 5, n);
            std::size_t k2 = p.rec().seal(pieces, out.data());
            counting = false;
            REQUIRE(st == open_status::data);
            REQUIRE(n == 4196);
            REQUIRE(k2 != 0);
        }
        during = allocations.exchange(0);
        CHECK(during == 0);
    }
}
#endif

namespace {

bytes from_hex(const char* h) {
    bytes out;
    std::string s;
    for (const char* p = h; *p != '\0'; ++p) {
        if (*p != ' ') {
            s += *p;
        }
    }
    out.resize(s.size() / 2);
    put_hex(s, out.data());
    return out;
}

} // namespace

TEST_CASE("tls_record [RFC8448-3][RFC8446-7.3][RFC8446-5.2]: the RFC 8448 1-RTT trace's "
          "application data records, sealed byte-exact and opened") {
    // RFC 8448 §3 (TLS_AES_128_GCM_SHA256): the application traffic secrets, then the client's
    // first application-data record (sequence 0) and the server's (sequence 1: its
    // NewSessionTicket was 0), each carrying the bytes 00..31.
    record_secrets s;
    s.version = TLS1_3_VERSION;
    s.aead = record_aead::aes_128_gcm;
    s.hash = EVP_sha256();
    s.secret_len =
            put_hex("9e40646ce79a7f9dc05af8889bce6552875afa0b06df0087f792ebb7c17504a5", s.client);
    put_hex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643", s.server);
    s.read_seq = 0;
    s.write_seq = 1;
    auto r = tls_record::make(s);
    REQUIRE(r != nullptr);

    bytes payload(50);
    for (std::size_t i = 0; i < payload.size(); ++i) {
        payload[i] = static_cast<std::uint8_t>(i);
    }
    const bytes client_record = from_hex(
            "17 03 03 00 43 a2 3f 70 54 b6 2c 94 d0 af fa fe 82 28 ba 55 cb ef ac ea 42 f9 14 aa"
            " 66 bc ab 3f 2b 98 19 a8 a5 b4 6b 39 5b d5 4a 9a 20 44 1e 2b 62 97 4e 1f 5a 62 92"
            " a2 97 70 14 bd 1e 3d ea e6 3a ee bb 21 69 49 15 e4");
    const bytes server_record = from_hex(
            "17 03 03 00 43 2e 93 7e 11 ef 4a c7 40 e5 38 ad 36 00 5f c4 a4 69 32 fc 32 25 d0 5f"
            " 82 aa 1b 36 e3 0e fa f9 7d 90 e6 df fc 60 2d cb 50 1a 59 a8 fc c4 9c 4b f2 e5 f0"
            " a2 1c 00 47 c2 ab f3 32 54 0d d0 32 e1 67 c2 95 5d");

    bytes in = client_record;
    std::size_t n = 0;
    CHECK(r->open(in, in.data() + tls_record::header_len, n) == open_status::data);
    CHECK(bytes(in.begin() + 5, in.begin() + 5 + static_cast<long>(n)) == payload);

    bytes out(payload.size() + tls_record::max_seal_overhead);
    std::span<const std::uint8_t> piece = payload;
    std::size_t k = r->seal({&piece, 1}, out.data());
    out.resize(k);
    CHECK(out == server_record);
}
