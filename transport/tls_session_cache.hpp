#pragma once
// transport/tls_session_cache: the server-side session cache of one TLS listener (stateful
// resumption: TLS 1.2 session ids, and TLS 1.3 stateful tickets, which carry a session id),
// kept by us instead of OpenSSL's internal cache (SSL_SESS_CACHE_NO_INTERNAL) so that
//  - it is bounded: at most `capacity` sessions, the oldest leaves first, and each expires
//    `lifetime` after the handshake that made it;
//  - a connection that ends without close_notify (the usual end of a device's connection) does
//    not throw its session away, as OpenSSL's internal cache does (SSL_free of a connection not
//    shut down removes its session). TLS 1.3 does not require that, and every resumed session's
//    certificate is checked against the registry again (connection handshake()).
//  - a TLS 1.3 ticket is used once: the lookup takes the session out (the resumed handshake
//    issues a new ticket), so a device holds one entry, not one per reconnection;
//  - it is compact: each session is kept serialized (i2d_SSL_SESSION, ≈ 0.7 KB with an EC
//    client certificate), not as a live SSL_SESSION, which with its decoded client certificate
//    (X509 objects, public key) takes ≈ 5.5 KB; a lookup decodes it again (d2i_SSL_SESSION), as
//    OpenSSL does for its own self-contained tickets. The serialized form keeps the client
//    certificate but not the chain the client sent with it (SSL_get_peer_cert_chain is null on a
//    resumed connection; the registry's re-check needs only the leaf, its issuers being trust
//    anchors).
// Owns: the serialized sessions. Must not use: the broker.
// Thread safety: every member may be called from any thread (shards resume concurrently).

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <openssl/ssl.h>

namespace thinggate::transport {

struct tls_session_cache_stats {
    std::size_t sessions = 0;   ///< cached now
    std::uint64_t added = 0;    ///< sessions stored
    std::uint64_t hits = 0;     ///< lookups that found a live session
    std::uint64_t misses = 0;   ///< lookups that found none (unknown, expired or evicted)
    std::uint64_t evicted = 0;  ///< dropped to stay within the capacity
    std::uint64_t expired = 0;  ///< dropped at the end of their lifetime
};

class tls_session_cache {
public:
    using clock = std::chrono::steady_clock;

    /// `capacity` 0 disables caching (no session is kept, nothing resumes).
    tls_session_cache(std::size_t capacity, std::chrono::seconds lifetime);
    ~tls_session_cache();
    tls_session_cache(const tls_session_cache&) = delete;
    tls_session_cache& operator=(const tls_session_cache&) = delete;

    /// Makes `ctx` use this cache (server mode, no internal store or lookup, session timeout =
    /// lifetime). The cache must outlive every SSL made from `ctx`.
    void install(SSL_CTX* ctx);

    tls_session_cache_stats stats() const;
    std::size_t capacity() const noexcept { return capacity_; }
    std::chrono::seconds lifetime() const noexcept { return lifetime_; }

    /// Stores a session, taking over the caller's reference (false, and nothing taken, when
    /// caching is off, it has no id or cannot be serialized).
    bool add(SSL_SESSION* session);
    /// Stores a serialized copy of `session` (the caller keeps its reference; no later event of
    /// that connection changes the copy). False when not stored, as for add().
    bool store(const SSL_SESSION* session);
    /// A new session decoded from the one stored with this id, with the only reference, for the
    /// caller (null when none). With `take`, it also leaves the cache (single-use TLS 1.3
    /// tickets).
    SSL_SESSION* find(std::string_view id, bool take);

private:
    struct entry {
        std::string der; ///< i2d_SSL_SESSION
        clock::time_point expires;
        std::uint64_t seq = 0;
    };
    struct queued {
        std::string id;
        std::uint64_t seq = 0;
    };

    static int on_new(SSL* ssl, SSL_SESSION* session);
    static SSL_SESSION* on_get(SSL* ssl, const unsigned char* id, int len, int* copy);
    static tls_session_cache* of(SSL* ssl);

    /// Drops expired entries and, over the capacity, the oldest ones; mu_ held.
    void trim(clock::time_point now);

    const std::size_t capacity_;
    const std::chrono::seconds lifetime_;
    mutable std::mutex mu_;
    std::unordered_map<std::string, entry> entries_;
    std::deque<queued> order_; ///< ids in insertion (= expiry) order; stale ones are skipped
    std::uint64_t next_seq_ = 0;
    tls_session_cache_stats stats_;
};

} // namespace thinggate::transport
