#include "transport/tls_context.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <fmt/format.h>
#include <sys/stat.h>

namespace thinggate::transport {

namespace {

std::string openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) {
            out += "; ";
        }
        out += buf;
    }
    return out.empty() ? std::string("unknown OpenSSL error") : out;
}

[[noreturn]] void fail(const listener_config& cfg, std::string_view what) {
    throw std::runtime_error(fmt::format("listener '{}': {}", cfg.name, what));
}

void require_file(const listener_config& cfg, std::string_view field, const std::string& path) {
    if (path.empty()) {
        fail(cfg, fmt::format("{} is required for a TLS listener", field));
    }
}

std::vector<unsigned char> alpn_to_wire(const listener_config& cfg) {
    std::vector<unsigned char> wire;
    for (const auto& p : cfg.alpn) {
        if (p.empty() || p.size() > 255) {
            fail(cfg, fmt::format("ALPN protocol '{}' must be 1..255 bytes", p));
        }
        wire.push_back(static_cast<unsigned char>(p.size()));
        wire.insert(wire.end(), p.begin(), p.end());
    }
    return wire;
}

// Called by OpenSSL only when the client offers ALPN: pick one we accept or end the handshake.
int select_alpn(
        SSL*,
        const unsigned char** out,
        unsigned char* outlen,
        const unsigned char* in,
        unsigned int inlen,
        void* arg) {
    const auto* wire = static_cast<const std::vector<unsigned char>*>(arg);
    unsigned char* selected = nullptr;
    unsigned char selected_len = 0;
    int r = SSL_select_next_proto(
            &selected,
            &selected_len,
            wire->data(),
            static_cast<unsigned int>(wire->size()),
            in,
            inlen);
    if (r != OPENSSL_NPN_NEGOTIATED) {
        return SSL_TLSEXT_ERR_ALERT_FATAL; // no_application_protocol alert
    }
    *out = selected;
    *outlen = selected_len;
    return SSL_TLSEXT_ERR_OK;
}

} // namespace

void check_key_file_permissions(const std::string& listener, const std::string& key_file) {
    struct stat st {};

    if (::stat(key_file.c_str(), &st) != 0) {
        throw std::runtime_error(fmt::format(
                "listener '{}': cannot read key file '{}': {}",
                listener,
                key_file,
                std::strerror(errno)));
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        throw std::runtime_error(fmt::format(
                "listener '{}': key file '{}' is accessible by group or other (mode {:04o}); "
                "refusing to use it — run: chmod 600 '{}'",
                listener,
                key_file,
                st.st_mode & 07777,
                key_file));
    }
}

tls_context::tls_context(const listener_config& cfg)
    : ctx_(cfg.min_tls == tls_version::tls1_3 ? boost::asio::ssl::context::tlsv13_server
                                              : boost::asio::ssl::context::tls_server) {
    require_file(cfg, "ca_file", cfg.ca_file);
    require_file(cfg, "cert_file", cfg.cert_file);
    require_file(cfg, "key_file", cfg.key_file);
    check_key_file_permissions(cfg.name, cfg.key_file);
    alpn_wire_ = alpn_to_wire(cfg);

    SSL_CTX* ctx = ctx_.native_handle();
    ERR_clear_error();

    int min_version = cfg.min_tls == tls_version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
    if (SSL_CTX_set_min_proto_version(ctx, min_version) != 1) {
        fail(cfg, "cannot set the minimum TLS version: " + openssl_errors());
    }
    SSL_CTX_set_options(
            ctx,
            SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                    SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
        fail(cfg, "cannot set the TLS 1.2 cipher list: " + openssl_errors());
    }
    if (SSL_CTX_set1_groups_list(ctx, tls_groups) != 1) {
        fail(cfg, "cannot set the key exchange groups: " + openssl_errors());
    }

    if (SSL_CTX_use_certificate_chain_file(ctx, cfg.cert_file.c_str()) != 1) {
        fail(cfg,
             fmt::format(
                     "cannot load the certificate chain from '{}': {}",
                     cfg.cert_file,
                     openssl_errors()));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cfg.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
        auto why = openssl_errors();
        if (why.find("values mismatch") != std::string::npos) {
            fail(cfg,
                 fmt::format(
                         "the private key '{}' does not match the certificate '{}'",
                         cfg.key_file,
                         cfg.cert_file));
        }
        fail(cfg, fmt::format("cannot load the private key from '{}': {}", cfg.key_file, why));
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        fail(cfg,
             fmt::format(
                     "the private key '{}' does not match the certificate '{}': {}",
                     cfg.key_file,
                     cfg.cert_file,
                     openssl_errors()));
    }

    // Client certificates: required, verified against the CA bundle; the same bundle names the
    // acceptable CAs in the CertificateRequest so clients with several certificates pick right.
    if (SSL_CTX_load_verify_locations(ctx, cfg.ca_file.c_str(), nullptr) != 1) {
        fail(cfg, fmt::format("cannot load the CA bundle '{}': {}", cfg.ca_file, openssl_errors()));
    }
    STACK_OF(X509_NAME)* ca_names = SSL_load_client_CA_file(cfg.ca_file.c_str());
    if (ca_names == nullptr) {
        fail(cfg,
             fmt::format("no CA certificate found in '{}': {}", cfg.ca_file, openssl_errors()));
    }
    SSL_CTX_set_client_CA_list(ctx, ca_names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);

    // Stateful resumption: without a session id context OpenSSL refuses to resume sessions on a
    // listener that verifies client certificates. The context names the listener (max 32 bytes).
    unsigned char sid_ctx[SSL_MAX_SID_CTX_LENGTH];
    unsigned int sid_len = 0;
    std::string sid_src = "thinggate/" + cfg.name;
    EVP_Digest(sid_src.data(), sid_src.size(), sid_ctx, &sid_len, EVP_sha256(), nullptr);
    if (SSL_CTX_set_session_id_context(ctx, sid_ctx, std::min(sid_len, 32u)) != 1) {
        fail(cfg, "cannot set the session id context: " + openssl_errors());
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, 20'000);
    SSL_CTX_set_timeout(ctx, 3600);
    // TLS 1.3: one stateful ticket per full handshake is enough to resume once per connection.
    SSL_CTX_set_num_tickets(ctx, 1);

    if (!alpn_wire_.empty()) {
        SSL_CTX_set_alpn_select_cb(ctx, select_alpn, &alpn_wire_);
    }
}

tls_context_ptr make_tls_context(const listener_config& cfg) {
    return std::make_shared<tls_context>(cfg);
}

} // namespace thinggate::transport
