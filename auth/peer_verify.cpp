#include "auth/peer_verify.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>

#include <boost/json.hpp>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>

#include "auth/certificate_fields.hpp"
#include "auth/openssl_ptr.hpp"
#include "auth/pki.hpp"

namespace thinggate::auth {

namespace {

verify_outcome refuse(verify_outcome out, refusal reason, const std::string& why) {
    out.result = verify_outcome::kind::refused;
    out.reason = reason;
    out.message = "client certificate " + (out.certificate_id.empty() ? "-" : out.certificate_id) +
                  " refused (" + std::string(to_string(reason)) + "): " + why;
    return out;
}

bool issuer_missing(int error) noexcept {
    switch (error) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
        return true;
    default:
        return false;
    }
}

/// After a chain failure for want of an issuer: the registered INACTIVE CA that issued the
/// leaf, if any (the trust store holds ACTIVE CAs only).
std::string inactive_issuer(const registry_snapshot& snap, X509& leaf) {
    for (const auto& [id, ca] : snap.state().cas) {
        if (ca.status != ca_status::inactive) {
            continue;
        }
        const auto* trust = snap.trust(id);
        if (trust != nullptr && issued_by(leaf, *trust->cert)) {
            return id;
        }
    }
    return {};
}

std::string jitr_payload(
        const std::string& cert_id,
        const std::string& ca_id,
        registry_time now,
        const verify_options& options) {
    boost::json::object o;
    o["certificateId"] = cert_id;
    o["caCertificateId"] = ca_id;
    o["timestamp"] = now.time_since_epoch().count();
    o["certificateStatus"] = "PENDING_ACTIVATION";
    o["awsAccountId"] = options.account;
    o["certificateRegistrationTimestamp"] = now.time_since_epoch().count();
    return boost::json::serialize(o);
}

} // namespace

std::string_view to_string(refusal r) noexcept {
    switch (r) {
    case refusal::no_certificate:
        return "NO_CERTIFICATE";
    case refusal::unknown_ca:
        return "UNKNOWN_CA";
    case refusal::ca_inactive:
        return "CA_INACTIVE";
    case refusal::invalid_chain:
        return "INVALID_CHAIN";
    case refusal::expired:
        return "EXPIRED";
    case refusal::not_yet_valid:
        return "NOT_YET_VALID";
    case refusal::revoked_by_crl:
        return "REVOKED_BY_CRL";
    case refusal::crl_unavailable:
        return "CRL_UNAVAILABLE";
    case refusal::not_registered:
        return "NOT_REGISTERED";
    case refusal::inactive:
        return "INACTIVE";
    case refusal::revoked:
        return "REVOKED";
    case refusal::pending_activation:
        return "PENDING_ACTIVATION";
    case refusal::pending_transfer:
        return "PENDING_TRANSFER";
    }
    return "UNKNOWN";
}

verify_outcome verify_client_certificate(
        const registry_snapshot& snap,
        X509* leaf,
        STACK_OF(X509) * chain,
        registry_time now,
        const verify_options& options) {
    verify_outcome out;
    if (leaf == nullptr) {
        return refuse(std::move(out), refusal::no_certificate, "the client sent no certificate");
    }
    out.certificate_id = certificate_id(*leaf);

    x509_store_ctx_ptr ctx(X509_STORE_CTX_new());
    if (!ctx || X509_STORE_CTX_init(ctx.get(), snap.trust_store(), leaf, chain) != 1) {
        return refuse(
                std::move(out),
                refusal::invalid_chain,
                "cannot set up verification: " + openssl_error_text());
    }
    X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
    X509_VERIFY_PARAM_set_time(
            param,
            static_cast<time_t>(
                    std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch())
                            .count()));
    // Every registered CA is a trust anchor, a registered intermediate included.
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);

    if (X509_verify_cert(ctx.get()) != 1) {
        int error = X509_STORE_CTX_get_error(ctx.get());
        std::string text = X509_verify_cert_error_string(error);
        ERR_clear_error();
        if (error == X509_V_ERR_CERT_HAS_EXPIRED) {
            return refuse(std::move(out), refusal::expired, text);
        }
        if (error == X509_V_ERR_CERT_NOT_YET_VALID) {
            return refuse(std::move(out), refusal::not_yet_valid, text);
        }
        if (issuer_missing(error)) {
            if (auto ca = inactive_issuer(snap, *leaf); !ca.empty()) {
                out.ca_certificate_id = ca;
                return refuse(
                        std::move(out),
                        refusal::ca_inactive,
                        "its CA certificate " + ca + " is INACTIVE");
            }
            return refuse(
                    std::move(out),
                    refusal::unknown_ca,
                    "no registered ACTIVE CA certificate issued it (" + text + ")");
        }
        return refuse(std::move(out), refusal::invalid_chain, text);
    }

    // The leaf's direct issuer must be a registered CA (as registration requires), so that
    // JITR, CRLs and the certificate's CA all refer to the same registered entry.
    STACK_OF(X509)* verified = X509_STORE_CTX_get0_chain(ctx.get());
    int length = sk_X509_num(verified);
    if (length < 2) {
        return refuse(
                std::move(out),
                refusal::unknown_ca,
                "the certificate is itself a registered CA certificate, not a device's");
    }
    // Issuers out of the trust store are known by pointer; only a certificate the client sent
    // (an intermediate it supplied) needs a digest.
    auto id_of = [&snap](X509* cert) {
        const std::string* known = snap.ca_id_of(cert);
        return known != nullptr ? *known : certificate_id(*cert);
    };
    out.ca_certificate_id = id_of(sk_X509_value(verified, 1));
    const auto* issuer = snap.find_ca(out.ca_certificate_id);
    if (issuer == nullptr) {
        return refuse(
                std::move(out),
                refusal::unknown_ca,
                "its issuer is not a registered CA certificate (register the intermediate)");
    }
    // The client may send a registered but INACTIVE intermediate in its chain; the chain then
    // verifies through the ACTIVE root, but the issuing CA is still inactive.
    if (issuer->status != ca_status::active) {
        return refuse(
                std::move(out),
                refusal::ca_inactive,
                "its CA certificate " + out.ca_certificate_id + " is INACTIVE");
    }
    for (int i = 0; i + 1 < length; ++i) {
        X509* subject = sk_X509_value(verified, i);
        const auto issuer_id =
                i == 0 ? out.ca_certificate_id : id_of(sk_X509_value(verified, i + 1));
        const auto* trust = snap.trust(issuer_id);
        if (trust == nullptr) {
            continue;
        }
        if (!trust->crl_problem.empty()) {
            return refuse(std::move(out), refusal::crl_unavailable, trust->crl_problem);
        }
        X509_REVOKED* entry = nullptr;
        if (trust->crl && X509_CRL_get0_by_cert(trust->crl.get(), &entry, subject) == 1) {
            return refuse(
                    std::move(out),
                    refusal::revoked_by_crl,
                    i == 0 ? "listed in the CRL of CA " + issuer_id
                           : "a CA certificate of its chain is listed in the CRL of CA " +
                                     issuer_id);
        }
    }

    const auto* registered = snap.find_certificate(out.certificate_id);
    if (registered == nullptr) {
        if (issuer->auto_registration) {
            certificate entry;
            entry.id = out.certificate_id;
            entry.pem = certificate_to_pem(*leaf);
            entry.status = certificate_status::pending_activation;
            entry.ca_id = out.ca_certificate_id;
            entry.not_before = not_before(*leaf);
            entry.not_after = not_after(*leaf);
            entry.created_at = now;
            out =
                    refuse(std::move(out),
                           refusal::not_registered,
                           "not registered; recorded as PENDING_ACTIVATION (just-in-time "
                           "registration by CA " +
                                   out.ca_certificate_id + ")");
            out.result = verify_outcome::kind::jitr;
            out.jitr_topic = "$aws/events/certificates/registered/" + out.ca_certificate_id;
            out.jitr_payload =
                    jitr_payload(out.certificate_id, out.ca_certificate_id, now, options);
            out.jitr_entry = std::move(entry);
            return out;
        }
        return refuse(std::move(out), refusal::not_registered, "the certificate is not registered");
    }
    switch (registered->status) {
    case certificate_status::active:
        out.chain_valid_from = registry_time::min();
        out.chain_valid_until = registry_time::max();
        for (int i = 0; i < length; ++i) {
            const X509& c = *sk_X509_value(verified, i);
            out.chain_valid_from = std::max(out.chain_valid_from, not_before(c));
            out.chain_valid_until = std::min(out.chain_valid_until, not_after(c));
        }
        out.result = verify_outcome::kind::accepted;
        out.reason = refusal::no_certificate;
        out.message = "client certificate " + out.certificate_id + " accepted (CA " +
                      out.ca_certificate_id + ")";
        return out;
    case certificate_status::inactive:
        return refuse(std::move(out), refusal::inactive, "its status is INACTIVE");
    case certificate_status::revoked:
        return refuse(std::move(out), refusal::revoked, "its status is REVOKED");
    case certificate_status::pending_activation:
        return refuse(
                std::move(out),
                refusal::pending_activation,
                "its status is PENDING_ACTIVATION (activate it to connect)");
    case certificate_status::pending_transfer:
        return refuse(std::move(out), refusal::pending_transfer, "its status is PENDING_TRANSFER");
    }
    return refuse(std::move(out), refusal::invalid_chain, "unknown status");
}

} // namespace thinggate::auth
