#include "transport/registry_auth.hpp"

#include <exception>
#include <utility>

#include <openssl/x509v3.h>

#include <spdlog/spdlog.h>

#include "auth/certificate_fields.hpp"
#include "persist/store.hpp"

namespace thinggate::transport {

bool allows_client_auth(X509& leaf) {
    // X509_get_extension_flags caches the parsed extensions; EXFLAG_XKUSAGE says the extension
    // is present, and then X509_get_extended_key_usage lists what it allows.
    const std::uint32_t flags = X509_get_extension_flags(&leaf);
    if ((flags & EXFLAG_XKUSAGE) == 0) {
        return true;
    }
    return (X509_get_extended_key_usage(&leaf) & XKU_SSL_CLIENT) != 0;
}

jitr_recorder::jitr_recorder(auth::registry& reg, publisher publish, std::size_t capacity)
    : reg_(reg)
    , publish_(std::move(publish))
    , capacity_(capacity)
    , worker_([this] { run(); }) {}

jitr_recorder::~jitr_recorder() {
    stop();
}

bool jitr_recorder::submit(auth::verify_outcome outcome) {
    if (!outcome.jitr_entry) {
        return false;
    }
    {
        std::lock_guard lock(mutex_);
        if (!stopping_ && queue_.size() < capacity_) {
            queue_.push_back(std::move(outcome));
            cv_.notify_one();
            return true;
        }
    }
    spdlog::warn(
            "just-in-time registration of certificate {} not recorded: {}",
            outcome.certificate_id,
            "the queue is full or the gateway is stopping (the device's next attempt records it)");
    return false;
}

void jitr_recorder::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        cv_.notify_all();
    }
    if (worker_.joinable()) {
        worker_.join();
    }
}

std::uint64_t jitr_recorder::recorded() const {
    std::lock_guard lock(mutex_);
    return recorded_;
}

void jitr_recorder::run() {
    for (;;) {
        auth::verify_outcome item;
        {
            std::unique_lock lock(mutex_);
            cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) {
                return; // stopping, and everything queued is recorded
            }
            item = std::move(queue_.front());
            queue_.pop_front();
        }
        const auth::certificate& entry = *item.jitr_entry;
        auto added = reg_.update([&](auth::registry_txn& t) { return t.record_jitr(entry); });
        if (!added) {
            spdlog::error(
                    "just-in-time registration of certificate {} failed: {}",
                    item.certificate_id,
                    added.error().message);
            continue;
        }
        if (!*added) {
            continue; // a concurrent attempt of the same device recorded it already
        }
        spdlog::info(
                "just-in-time registration: certificate {} recorded as PENDING_ACTIVATION "
                "(CA {})",
                item.certificate_id,
                item.ca_certificate_id);
        {
            std::lock_guard lock(mutex_);
            ++recorded_;
        }
        if (publish_) {
            try {
                publish_(std::move(item.jitr_topic), std::move(item.jitr_payload));
            } catch (const std::exception& e) {
                spdlog::error("cannot publish the registration event: {}", e.what());
            }
        }
    }
}

registry_authenticator::registry_authenticator(auth::registry& reg, registry_auth_options options)
    : reg_(reg)
    , recorder_(reg, std::move(options.publish)) {
    verify_options_.account = std::move(options.account);
}

namespace {

/// An accepted verification kept on the leaf certificate (X509 ex_data), for the re-check of
/// a resumed session. Written once, before the certificate is shared; read-only afterwards.
struct kept_result {
    const registry_authenticator* owner = nullptr;
    std::uint64_t generation = 0; ///< registry snapshot it was checked against
    auth::registry_time valid_from{};
    auth::registry_time valid_until{};
    std::shared_ptr<const policy::certificate_info> info;
};

void free_kept(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) {
    delete static_cast<kept_result*>(ptr);
}

// A copied X509 (if OpenSSL ever copies ex_data) does not share the record.
int dup_kept(CRYPTO_EX_DATA*, const CRYPTO_EX_DATA*, void** from_d, int, long, void*) {
    *from_d = nullptr;
    return 1;
}

int kept_index() {
    static const int index = X509_get_ex_new_index(0, nullptr, nullptr, dup_kept, free_kept);
    return index;
}

} // namespace

std::shared_ptr<const policy::certificate_info> registry_authenticator::verify(
        X509* leaf,
        STACK_OF(X509) * chain,
        std::string_view listener,
        std::string_view peer,
        bool remember) {
    const auto snap = reg_.snapshot();
    const auto now = persist::wall_now();
    if (leaf != nullptr && !remember) {
        const auto* kept = static_cast<const kept_result*>(X509_get_ex_data(leaf, kept_index()));
        if (kept != nullptr && kept->owner == this && kept->generation == snap->generation() &&
            kept->valid_from <= now && now < kept->valid_until) {
            kept_used_.fetch_add(1, std::memory_order_relaxed);
            return kept->info;
        }
    }
    auto outcome = auth::verify_client_certificate(*snap, leaf, chain, now, verify_options_);
    if (outcome.accepted()) {
        if (!allows_client_auth(*leaf)) {
            spdlog::debug(
                    "listener '{}': {}: client certificate {} refused (INVALID_CHAIN): its "
                    "extended key usage does not include clientAuth",
                    listener,
                    peer,
                    outcome.certificate_id);
            return nullptr;
        }
        auto info = std::make_shared<policy::certificate_info>(auth::certificate_fields(*leaf));
        info->id = outcome.certificate_id;
        std::shared_ptr<const policy::certificate_info> shared = std::move(info);
        if (remember && X509_get_ex_data(leaf, kept_index()) == nullptr) {
            auto* kept = new kept_result{
                    this,
                    snap->generation(),
                    outcome.chain_valid_from,
                    outcome.chain_valid_until,
                    shared};
            if (X509_set_ex_data(leaf, kept_index(), kept) != 1) {
                delete kept;
            }
        }
        return shared;
    }
    if (outcome.result == auth::verify_outcome::kind::jitr) {
        spdlog::info("listener '{}': {}: {}", listener, peer, outcome.message);
        recorder_.submit(std::move(outcome));
        return nullptr;
    }
    if (outcome.reason == auth::refusal::crl_unavailable) {
        spdlog::warn("listener '{}': {}: {}", listener, peer, outcome.message);
    } else {
        spdlog::debug("listener '{}': {}: {}", listener, peer, outcome.message);
    }
    return nullptr;
}

} // namespace thinggate::transport
