#include "transport/tls_session_cache.hpp"

#include <utility>

namespace thinggate::transport {

namespace {

/// The SSL_CTX ex_data slot holding the context's tls_session_cache (Asio keeps its own data in
/// the context's app data, so that cannot be used).
int cache_index() {
    static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

} // namespace

tls_session_cache::tls_session_cache(std::size_t capacity, std::chrono::seconds lifetime)
    : capacity_(capacity)
    , lifetime_(lifetime) {}

tls_session_cache::~tls_session_cache() = default;

void tls_session_cache::install(SSL_CTX* ctx) {
    SSL_CTX_set_ex_data(ctx, cache_index(), this);
    if (capacity_ == 0) {
        SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
        return;
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_set_timeout(ctx, static_cast<long>(lifetime_.count()));
    SSL_CTX_sess_set_new_cb(ctx, &tls_session_cache::on_new);
    SSL_CTX_sess_set_get_cb(ctx, &tls_session_cache::on_get);
    // No remove callback: OpenSSL removes a session when a connection ends without
    // close_notify or with an alert; here a session ends by its lifetime or the capacity.
}

tls_session_cache* tls_session_cache::of(SSL* ssl) {
    return static_cast<tls_session_cache*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cache_index()));
}

int tls_session_cache::on_new(SSL* ssl, SSL_SESSION* session) {
    auto* self = of(ssl);
    if (self != nullptr) {
        // A serialized copy, not the connection's own session: when that connection ends
        // without close_notify, SSL_free marks its session not resumable
        // (SSL_CTX_remove_session); and a live session would pin the decoded client
        // certificate for the cache's lifetime.
        self->store(session);
    }
    return 0; // OpenSSL keeps (and frees) its own reference
}

SSL_SESSION* tls_session_cache::on_get(SSL* ssl, const unsigned char* id, int len, int* copy) {
    *copy = 0; // find() decoded a new session: its only reference goes to OpenSSL
    auto* self = of(ssl);
    if (self == nullptr || len <= 0) {
        return nullptr;
    }
    // TLS 1.3 tickets are used once; a TLS 1.2 session id may be resumed again and again.
    const bool tls13 = SSL_version(ssl) >= TLS1_3_VERSION;
    return self->find(
            std::string_view(reinterpret_cast<const char*>(id), static_cast<std::size_t>(len)),
            tls13);
}

bool tls_session_cache::add(SSL_SESSION* session) {
    if (!store(session)) {
        return false;
    }
    SSL_SESSION_free(session);
    return true;
}

bool tls_session_cache::store(const SSL_SESSION* session) {
    if (capacity_ == 0) {
        return false;
    }
    unsigned int len = 0;
    const unsigned char* id = SSL_SESSION_get_id(session, &len);
    if (len == 0) {
        return false;
    }
    const int der_len = i2d_SSL_SESSION(session, nullptr);
    if (der_len <= 0) {
        return false;
    }
    std::string der(static_cast<std::size_t>(der_len), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_SSL_SESSION(session, &out) != der_len) {
        return false;
    }
    const auto now = clock::now();
    std::string key(reinterpret_cast<const char*>(id), len);
    std::lock_guard lk(mu_);
    const std::uint64_t seq = ++next_seq_;
    auto [it, inserted] = entries_.try_emplace(key);
    (void)inserted; // the same id again: the newer session wins
    it->second = entry{std::move(der), now + lifetime_, seq};
    order_.push_back(queued{std::move(key), seq});
    ++stats_.added;
    trim(now);
    return true;
}

SSL_SESSION* tls_session_cache::find(std::string_view id, bool take) {
    const auto now = clock::now();
    std::string der;
    {
        std::lock_guard lk(mu_);
        trim(now);
        auto it = entries_.find(std::string(id));
        if (it == entries_.end()) {
            ++stats_.misses;
            return nullptr;
        }
        if (take) {
            der = std::move(it->second.der);
            entries_.erase(it); // the queued id is now stale
        } else {
            der = it->second.der;
        }
        ++stats_.hits;
    }
    // Decoded outside the lock (it parses the client certificate).
    const auto* in = reinterpret_cast<const unsigned char*>(der.data());
    return d2i_SSL_SESSION(nullptr, &in, static_cast<long>(der.size()));
}

void tls_session_cache::trim(clock::time_point now) {
    while (!order_.empty()) {
        const queued& q = order_.front();
        auto it = entries_.find(q.id);
        if (it == entries_.end() || it->second.seq != q.seq) {
            order_.pop_front(); // taken, or replaced by a newer session with the same id
            continue;
        }
        const bool expired = it->second.expires <= now;
        if (!expired && entries_.size() <= capacity_) {
            break; // the oldest live entry: everything behind it is younger
        }
        ++(expired ? stats_.expired : stats_.evicted);
        entries_.erase(it);
        order_.pop_front();
    }
    // Taken entries leave stale ids in the queue; bound it when they pile up behind a live one.
    if (order_.size() > 2 * capacity_ + 64) {
        std::deque<queued> live;
        for (auto& q : order_) {
            auto it = entries_.find(q.id);
            if (it != entries_.end() && it->second.seq == q.seq) {
                live.push_back(std::move(q));
            }
        }
        order_.swap(live);
    }
}

tls_session_cache_stats tls_session_cache::stats() const {
    std::lock_guard lk(mu_);
    auto s = stats_;
    s.sessions = entries_.size();
    return s;
}

} // namespace thinggate::transport
