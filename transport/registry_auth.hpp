#pragma once
// transport/registry_auth: the client-certificate check of TLS listeners with
// client_auth = registry (docs/security.md "The TLS handshake"): each handshake's certificate is
// verified against the current registry snapshot (auth::verify_client_certificate) from inside
// OpenSSL's certificate verification, and a just-in-time registration is recorded off the shard
// threads by a small worker (registry updates block on the store's commit).
// Owns: the JITR worker thread and its bounded queue. Must not use: the broker (events go out
// through the publisher callback the caller gives).
// Thread safety: registry_authenticator::verify from any thread (shards, during handshakes);
// jitr_recorder::submit from any thread; stop() and the destructors from a non-shard thread.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include <openssl/x509.h>

#include "auth/peer_verify.hpp"
#include "auth/registry.hpp"
#include "policy/context.hpp"

namespace thinggate::transport {

/// True when `leaf` may authenticate a TLS client: it has no extendedKeyUsage extension, or the
/// extension lists clientAuth (or anyExtendedKeyUsage).
bool allows_client_auth(X509& leaf);

/// Records just-in-time registrations (registry_txn::record_jitr) on its own thread, then
/// publishes the registration event when the entry was new.
class jitr_recorder {
public:
    using publisher = std::function<void(std::string topic, std::string payload)>;

    /// `publish` may be empty (nothing is published). `reg` outlives the recorder.
    jitr_recorder(auth::registry& reg, publisher publish, std::size_t capacity = 1024);
    ~jitr_recorder(); ///< stop()
    jitr_recorder(const jitr_recorder&) = delete;
    jitr_recorder& operator=(const jitr_recorder&) = delete;

    /// Queues a verify outcome of kind jitr. Returns false (and drops it, logging a warning) when
    /// the queue is full or the recorder stopped: the device's next attempt records it then.
    bool submit(auth::verify_outcome outcome);

    /// Records what is queued, then ends the worker. Idempotent.
    void stop();

    /// Entries recorded as new so far (for tests and logs).
    std::uint64_t recorded() const;

private:
    void run();

    auth::registry& reg_;
    publisher publish_;
    std::size_t capacity_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<auth::verify_outcome> queue_;
    std::uint64_t recorded_ = 0;
    bool stopping_ = false;
    std::thread worker_;
};

struct registry_auth_options {
    std::string account = "000000000000"; ///< awsAccountId of the JITR event
    jitr_recorder::publisher publish;     ///< publishes the JITR event (may be empty)
};

/// The registry check shared by every registry-mode listener of a server.
class registry_authenticator {
public:
    registry_authenticator(auth::registry& reg, registry_auth_options options);

    /// Verifies a client certificate (`chain`: what else the client sent, may be null). Logs a
    /// refusal (debug; a CRL problem at warn level) naming the listener, the peer, the
    /// certificate id and the reason; hands a JITR outcome to the recorder. Returns the
    /// certificate's identity and policy fields when accepted, else null.
    ///
    /// `remember` (the handshake's verification callback: the leaf was just parsed and is this
    /// connection's alone) keeps the result on the leaf: the registry snapshot it was checked
    /// against and the chain's validity window. A resumed session carries the same certificate
    /// object, so its re-check (remember = false) returns the kept result without verifying the
    /// chain again while the registry is unchanged and the time is inside the window; any
    /// registry change (status, CA, CRL reload, ...) makes it verify in full.
    std::shared_ptr<const policy::certificate_info> verify(
            X509* leaf,
            STACK_OF(X509) * chain,
            std::string_view listener,
            std::string_view peer,
            bool remember = false);

    /// Re-checks answered from a kept result (for tests and logs).
    std::uint64_t kept_results_used() const noexcept {
        return kept_used_.load(std::memory_order_relaxed);
    }

    /// Stops the JITR worker (after recording what is queued).
    void stop() { recorder_.stop(); }

    jitr_recorder& recorder() noexcept { return recorder_; }

private:
    auth::registry& reg_;
    auth::verify_options verify_options_;
    jitr_recorder recorder_;
    std::atomic<std::uint64_t> kept_used_{0};
};

} // namespace thinggate::transport
