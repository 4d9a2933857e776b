#pragma once
// transport/tls_context: the server side of a mutual-TLS listener — one SSL_CTX built from a
// listener_config with thinggate's TLS policy, shared by every connection accepted with it.
// Owns: the SSL_CTX and the data its callbacks read (the ALPN list). Must not use: the broker.
// Thread safety: immutable after make_tls_context(); SSL objects made from it on any thread.
//
// Policy: TLS 1.2 minimum (1.3 if min_tls = tls1_3); TLS 1.2 suites ECDHE + AES-GCM/ChaCha20 only;
// TLS 1.3 suites OpenSSL's three AEAD ones, AES-128-GCM preferred;
// groups X25519, P-256, P-384; client certificate required and verified — against the identity
// registry (client_auth = registry: registry_authenticator, from OpenSSL's certificate
// verification callback, so that a refused certificate fails the handshake) or against ca_file;
// no session tickets and no renegotiation; a bounded server-side session-id cache
// (tls_session_cache: TLS 1.3 resumption uses stateful tickets that point into it, never
// self-contained encrypted ones); the server's chain is cert_file's (no automatic chain
// building from a CA store on every handshake); ALPN enforced
// when the listener lists protocols (a client offering none of them, or no ALPN at all, fails
// the handshake); the private key must not be accessible to group or other. With the builtin
// record layer, a key log callback that hands the TLS 1.3 traffic secrets to the connection's
// tls_channel only (never logged).

#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "policy/context.hpp"
#include "transport/listener_config.hpp"
#include "transport/tls_session_cache.hpp"

namespace thinggate::transport {

class registry_authenticator;

/// What the registry check of one handshake found; a connection attaches it to its SSL object
/// (attach_handshake_identity) before the handshake.
struct handshake_identity {
    std::string peer; ///< "ip:port" of the client, for log lines (set by the connection)
    /// The accepted client certificate (id and policy fields); null until then.
    std::shared_ptr<const policy::certificate_info> certificate;
};

/// Lets the verification callback of `ssl` store what it found in `identity` (which must
/// outlive the handshake).
void attach_handshake_identity(SSL* ssl, handshake_identity* identity);

class tls_context {
public:
    /// Builds the context; throws std::runtime_error naming the listener and the file at fault.
    /// `auth` is required for client_auth = registry (and must outlive the context), ignored
    /// for ca_file.
    explicit tls_context(const listener_config& cfg, registry_authenticator* auth = nullptr);
    tls_context(const tls_context&) = delete;
    tls_context& operator=(const tls_context&) = delete;

    boost::asio::ssl::context& context() noexcept { return ctx_; }

    SSL_CTX* native() noexcept { return ctx_.native_handle(); }

    /// The ALPN list in wire format (length-prefixed); empty when any or none is accepted.
    const std::vector<unsigned char>& alpn_wire() const noexcept { return alpn_wire_; }

    /// The registry check (null for client_auth = ca_file).
    registry_authenticator* authenticator() const noexcept { return auth_; }

    const std::string& listener_name() const noexcept { return listener_; }

    /// The listener's session cache (stateful resumption).
    tls_session_cache& sessions() noexcept { return sessions_; }

    /// Connections hand their records over to transport/tls_record after the handshake
    /// (listener_config::record_layer = builtin; the context then has the key log callback).
    bool builtin_records() const noexcept { return builtin_records_; }

private:
    tls_session_cache sessions_; ///< before ctx_: the context's callbacks point into it
    boost::asio::ssl::context ctx_;
    std::vector<unsigned char> alpn_wire_;
    registry_authenticator* auth_ = nullptr;
    std::string listener_;
    bool builtin_records_ = false;
};

using tls_context_ptr = std::shared_ptr<tls_context>;

/// Builds a shared context (see tls_context's constructor).
tls_context_ptr
make_tls_context(const listener_config& cfg, registry_authenticator* auth = nullptr);

/// OpenSSL's error queue of this thread as text ("; "-separated), emptied; "" when empty.
std::string take_openssl_errors();

/// Throws std::runtime_error when `key_file` is missing or accessible by group or other.
void check_key_file_permissions(const std::string& listener, const std::string& key_file);

/// The TLS 1.2 cipher list the policy allows (TLS 1.3 keeps OpenSSL's AEAD suites).
inline constexpr const char* tls12_ciphers =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
inline constexpr const char* tls_groups = "X25519:P-256:P-384";
/// TLS 1.3 suites in the server's order of preference: OpenSSL's three AEAD suites, AES-128 first
/// (its SHA-256 key schedule and transcript hash are cheaper per handshake than SHA-384's).
inline constexpr const char* tls13_ciphersuites =
        "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

} // namespace thinggate::transport
