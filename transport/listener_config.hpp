#pragma once
// transport/listener_config: what one listener is, as a typed value (app/ fills it from TOML).
// Thread safety: plain value.

#include <cstdint>
#include <string>
#include <vector>

namespace thinggate::transport {

enum class listener_kind {
    tcp, ///< plain MQTT; for local development and test rigs only
    tls, ///< mutual TLS: TLS 1.2/1.3, client certificate required
};

/// How a TLS listener authenticates client certificates (docs/security.md).
enum class client_auth_mode {
    /// The identity registry decides (auth::verify_client_certificate): the chain is completed
    /// from the registered ACTIVE CAs, the certificate must be registered and ACTIVE; the
    /// connection carries the certificate's identity (connection_info::certificate), so the
    /// broker authorises it by its policies. The default.
    registry,
    /// The chain must reach a CA in ca_file; no registry identity (connection_info::certificate
    /// stays null), so no policy applies to the connection.
    ca_file,
};

enum class tls_version {
    tls1_2,
    tls1_3,
};

/// Who protects a TLS listener's records once OpenSSL has done the handshake (docs/security.md,
/// "Record layer after the handshake").
enum class tls_record_layer {
    /// transport/tls_record takes the keys and sequence numbers and the SSL object is freed
    /// (≈ 18 KB less per idle connection); a connection that does not qualify keeps OpenSSL's.
    builtin,
    /// OpenSSL's record layer for the whole connection (the SSL object lives as long as it).
    openssl,
};

struct listener_config {
    std::string name;                 ///< unique, used in logs
    listener_kind kind = listener_kind::tls;
    std::string address = "127.0.0.1"; ///< IPv4 or IPv6 literal ("::1", "0.0.0.0", "::")
    std::uint16_t port = 8883;         ///< 0 = pick a free port (tests); the chosen port is logged
    // TLS only:
    client_auth_mode client_auth = client_auth_mode::registry;
    std::string ca_file;               ///< client_auth ca_file: PEM bundle of the accepted CAs
    std::string cert_file;             ///< server certificate chain (PEM)
    std::string key_file;              ///< server private key (PEM); must not be group/world readable
    tls_version min_tls = tls_version::tls1_2;
    /// Accepted ALPN protocols: when set, the client must offer one of them (one is selected);
    /// empty = any or none.
    std::vector<std::string> alpn;
    std::uint32_t handshake_timeout_ms = 10'000; ///< a TLS handshake not done by then is dropped
    /// Server-side TLS session cache (stateful resumption, docs/security.md): at most this many
    /// sessions (the oldest leave first); 0 = no resumption. A cached session keeps the client's
    /// parsed certificates: ~12 KiB each when the client sends leaf and CA (measured, OpenSSL
    /// 3.0), so 4096 sessions stay under ~50 MiB.
    std::uint32_t session_cache_size = 4096;
    /// Seconds a cached session may be resumed after the full handshake that made it.
    std::uint32_t session_lifetime_s = 600;
    /// Who protects the records after the handshake (TOML `tls_record_layer`).
    tls_record_layer record_layer = tls_record_layer::builtin;
};

} // namespace thinggate::transport
