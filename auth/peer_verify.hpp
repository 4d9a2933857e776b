#pragma once
// auth/peer_verify: the client-certificate check of a TLS handshake against a registry snapshot
// (GATEWAY-SEMANTICS §2, §4): the chain is completed from the registered ACTIVE CAs (devices
// often send only their leaf), verified with X509_verify_cert at `now`, checked against the
// issuing CA's CRL, and the leaf must be registered and ACTIVE. An unknown leaf issued by an
// ACTIVE CA with auto-registration on is a just-in-time registration.
// Owns: the verification decision. Must not use: Asio, sockets, the store (pure: the caller
// records a JITR entry through registry::update and publishes the event).
// Thread safety: a pure function over an immutable snapshot; safe from any thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <openssl/x509.h>

#include "auth/registry_model.hpp"
#include "auth/registry_snapshot.hpp"

namespace thinggate::auth {

enum class refusal : std::uint8_t {
    no_certificate,     ///< the client sent none
    unknown_ca,         ///< no registered ACTIVE CA issued it (chain cannot be completed)
    ca_inactive,        ///< issued by a registered CA that is INACTIVE
    invalid_chain,      ///< bad signature, bad CA extensions, path length, ...
    expired,            ///< the leaf or a CA in its chain is past notAfter
    not_yet_valid,      ///< before notBefore
    revoked_by_crl,     ///< listed in its issuer's CRL
    crl_unavailable,    ///< the issuer names a CRL file that could not be loaded (fail closed)
    not_registered,     ///< a valid chain, but the certificate is not registered
    inactive,           ///< registered, status INACTIVE
    revoked,            ///< registered, status REVOKED
    pending_activation, ///< registered, status PENDING_ACTIVATION
    pending_transfer,   ///< registered, status PENDING_TRANSFER
};

/// "NO_CERTIFICATE", "UNKNOWN_CA", ... (for logs and lifecycle events).
std::string_view to_string(refusal r) noexcept;

struct verify_options {
    std::string account = "000000000000"; ///< "awsAccountId" of the JITR event
};

struct verify_outcome {
    enum class kind : std::uint8_t {
        accepted,
        refused,
        jitr, ///< refused too, but recorded: see jitr_entry / jitr_topic / jitr_payload
    };

    kind result = kind::refused;
    std::string certificate_id;    ///< the leaf's id (empty without a leaf)
    std::string ca_certificate_id; ///< the registered CA that issued the leaf, when known
    refusal reason = refusal::no_certificate; ///< when refused (jitr: not_registered)
    std::string message; ///< a sentence for the log, naming certificate and reason

    /// jitr: the entry to record (status PENDING_ACTIVATION) with registry_txn::record_jitr,
    /// the topic `$aws/events/certificates/registered/<caCertificateId>` and its JSON payload
    /// {"certificateId","caCertificateId","timestamp","certificateStatus":"PENDING_ACTIVATION",
    ///  "awsAccountId","certificateRegistrationTimestamp"} (times in ms since the epoch).
    std::optional<certificate> jitr_entry;
    std::string jitr_topic;
    std::string jitr_payload;

    /// accepted: the time window in which every certificate of the verified chain is valid
    /// (the latest notBefore, the earliest notAfter). A later check against the same registry
    /// snapshot inside this window would decide the same (registry_authenticator uses it for
    /// resumed sessions).
    registry_time chain_valid_from{};
    registry_time chain_valid_until{};

    bool accepted() const noexcept { return result == kind::accepted; }
};

/// Verifies a client certificate. `leaf` may be null (refused: no_certificate); `chain` holds
/// the other certificates the client sent (may be null or hold the leaf again); `now` is the
/// time the validity periods are checked at. Never throws for a bad certificate.
verify_outcome verify_client_certificate(
        const registry_snapshot& snap,
        X509* leaf,
        STACK_OF(X509) * chain,
        registry_time now,
        const verify_options& options = {});

} // namespace thinggate::auth
