// transport/tls_record against real OpenSSL peers in memory: an OpenSSL server and client finish
// the handshake over memory BIOs, the server's record secrets are captured (TLS 1.3: the key log;
// TLS 1.2: the master secret and the hello randoms), the server's SSL is freed and a tls_record
// takes its place. Every record our side opens was written by the OpenSSL client, every record
// it seals is read by it.

#include "transport/tls_record.hpp"

#include <cstring>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "test_certs.hpp"

namespace thinggate::transport::detail {

/// Records no well-behaved peer sends (padding, odd inner types), sealed as `r` seals.
struct tls_record_test_access {
    static std::size_t seal_inner(
            tls_record& r,
            std::uint8_t type,
            std::span<const std::uint8_t> content,
            std::size_t padding,
            std::uint8_t* out) {
        const std::span<const std::uint8_t> piece = content;
        return r.seal_record(type, {&piece, 1}, content.size(), padding, out);
    }
};

} // namespace thinggate::transport::detail

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
