#include "transport/tls_context.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include <fmt/format.h>
#include <sys/stat.h>

#include "transport/registry_auth.hpp"
#include "transport/tls_channel.hpp"

namespace thinggate::transport {

namespace {

/// The SSL ex_data slot holding a connection's handshake_identity.
int identity_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

// client_auth = registry: replaces OpenSSL's chain building (X509_verify_cert against the
// context's store) with the registry's check, which completes the chain from the registered
// ACTIVE CAs itself. Returning 0 fails the handshake with a certificate alert.
int verify_with_registry(X509_STORE_CTX* store, void* arg) {
    const auto* self = static_cast<const tls_context*>(arg);
    auto* ssl = static_cast<SSL*>(
            X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
    X509* leaf = X509_STORE_CTX_get0_cert(store);
    STACK_OF(X509)* untrusted = X509_STORE_CTX_get0_untrusted(store);
    auto* slot = ssl != nullptr
                         ? static_cast<handshake_identity*>(SSL_get_ex_data(ssl, identity_index()))
                         : nullptr;
    auto certificate = self->authenticator()->verify(
            leaf,
            untrusted,
            self->listener_name(),
            slot != nullptr ? slot->peer : "?",
            /*remember=*/true);
    if (!certificate) {
        X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
        return 0;
    }
    if (slot != nullptr) {
        slot->certificate = std::move(certificate);
    }
    X509_STORE_CTX_set_error(store, X509_V_OK);
    return 1;
}

// A listener with an ALPN list refuses a client that offers no ALPN at all (select_alpn below
// is only called when it offers some).
int require_alpn(SSL* ssl, int* alert, void*) {
    const unsigned char* ext = nullptr;
    std::size_t len = 0;
    if (SSL_client_hello_get0_ext(
                ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &ext, &len) != 1) {
        *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

std::string openssl_errors() {
    auto out = take_openssl_errors();
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

std::string take_openssl_errors() {
    std::string out;
    while (unsigned long e = ERR_get_error()) {
        char buf[256];
        ERR_error_string_n(e, buf, sizeof buf);
        if (!out.empty()) {
            out += "; ";
        }
        out += buf;
    }
    return out;
}

void attach_handshake_identity(SSL* ssl, handshake_identity* identity) {
    SSL_set_ex_data(ssl, identity_index(), identity);
}

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

tls_context::tls_context(const listener_config& cfg, registry_authenticator* auth)
    : sessions_(cfg.session_cache_size, std::chrono::seconds(cfg.session_lifetime_s))
    , ctx_(cfg.min_tls == tls_version::tls1_3 ? boost::asio::ssl::context::tlsv13_server
                                              : boost::asio::ssl::context::tls_server)
    , auth_(cfg.client_auth == client_auth_mode::registry ? auth : nullptr)
    , listener_(cfg.name)
    , builtin_records_(cfg.record_layer == tls_record_layer::builtin) {
    const bool registry_mode = cfg.client_auth == client_auth_mode::registry;
    if (registry_mode && auth_ == nullptr) {
        fail(cfg,
             "client_auth = \"registry\" needs the identity registry, which this server has not "
             "got");
    }
    if (!registry_mode) {
        require_file(cfg, "ca_file", cfg.ca_file);
    }
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
    // No automatic chain: without it OpenSSL completes the server's own chain from the verify
    // store on every handshake (an X509_verify_cert with a signature check each time, in
    // client_auth = ca-file mode, where the store holds ca_file). The chain sent is cert_file's.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_NO_AUTO_CHAIN);
    if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1) {
        fail(cfg, "cannot set the TLS 1.2 cipher list: " + openssl_errors());
    }
    if (SSL_CTX_set_ciphersuites(ctx, tls13_ciphersuites) != 1) {
        fail(cfg, "cannot set the TLS 1.3 cipher suites: " + openssl_errors());
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

    if (registry_mode) {
        // Client certificates: required, and the registry decides (verify_with_registry). No
        // CA list in the CertificateRequest: the registered CAs change at run time, and devices
        // send the certificate they were given whatever the list says.
        SSL_CTX_set_cert_verify_callback(ctx, verify_with_registry, this);
    } else {
        // Client certificates: required, verified against the CA bundle (OpenSSL checks the
        // clientAuth extended key usage when the leaf has the extension); the same bundle names
        // the acceptable CAs in the CertificateRequest so clients with several certificates
        // pick right.
        if (SSL_CTX_load_verify_locations(ctx, cfg.ca_file.c_str(), nullptr) != 1) {
            fail(cfg,
                 fmt::format("cannot load the CA bundle '{}': {}", cfg.ca_file, openssl_errors()));
        }
        STACK_OF(X509_NAME)* ca_names = SSL_load_client_CA_file(cfg.ca_file.c_str());
        if (ca_names == nullptr) {
            fail(cfg,
                 fmt::format("no CA certificate found in '{}': {}", cfg.ca_file, openssl_errors()));
        }
        SSL_CTX_set_client_CA_list(ctx, ca_names);
    }
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
    // Our own bounded cache (tls_session_cache.hpp): the listener's size and lifetime.
    sessions_.install(ctx);
    // TLS 1.3: one stateful ticket per full handshake is enough to resume once per connection.
    SSL_CTX_set_num_tickets(ctx, 1);

    if (builtin_records_) {
        // The TLS 1.3 traffic secrets for the record layer after the handshake (tls_channel).
        SSL_CTX_set_keylog_callback(ctx, detail::record_keylog_callback);
    }

    if (!alpn_wire_.empty()) {
        SSL_CTX_set_client_hello_cb(ctx, require_alpn, nullptr);
        SSL_CTX_set_alpn_select_cb(ctx, select_alpn, &alpn_wire_);
    }
}

tls_context_ptr make_tls_context(const listener_config& cfg, registry_authenticator* auth) {
    return std::make_shared<tls_context>(cfg, auth);
}

} // namespace thinggate::transport
