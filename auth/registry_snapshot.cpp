#include "auth/registry_snapshot.hpp"

#include <stdexcept>

#include <openssl/err.h>

#include "auth/certificate_fields.hpp"
#include "auth/openssl_ptr.hpp"

namespace thinggate::auth {

namespace {

std::shared_ptr<X509> share(x509_ptr p) {
    return {p.release(), openssl_deleter<X509_free>{}};
}

/// Loads the CA's CRL file and checks that the CA signed it.
void load_crl(const ca_certificate& ca, ca_trust& trust) {
    auto crl = read_crl_file(ca.crl_file);
    if (!crl) {
        trust.crl_problem = "CA " + ca.id + ": " + crl.error().message;
        return;
    }
    EVP_PKEY* key = X509_get0_pubkey(trust.cert.get());
    if (key == nullptr || X509_CRL_verify(crl->get(), key) != 1) {
        ERR_clear_error();
        trust.crl_problem =
                "CA " + ca.id + ": CRL file " + ca.crl_file + " is not signed by this CA";
        return;
    }
    trust.crl = {crl->release(), openssl_deleter<X509_CRL_free>{}};
}

std::vector<std::string> seconds_of(const std::vector<const attachment*>& list) {
    std::vector<std::string> out;
    out.reserve(list.size());
    for (const auto* a : list) {
        out.push_back(a->second);
    }
    return out;
}

} // namespace

const attachment* registry_state::find_attachment(
        attachment_kind kind, std::string_view first, std::string_view second) const {
    return find_entry(attachments, attachment_key(kind, first, second));
}

std::vector<const attachment*>
registry_state::attachments_of(attachment_kind kind, std::string_view first) const {
    std::vector<const attachment*> out;
    auto prefix = attachment_prefix(kind, first);
    for (auto it = attachments.lower_bound(prefix);
         it != attachments.end() && it->first.starts_with(prefix);
         ++it) {
        out.push_back(&it->second);
    }
    return out;
}

std::vector<const attachment*>
registry_state::attachments_to(attachment_kind kind, std::string_view second) const {
    std::vector<const attachment*> out;
    for (const auto& [key, a] : attachments) {
        if (a.kind == kind && a.second == second) {
            out.push_back(&a);
        }
    }
    return out;
}

const std::string* registry_snapshot::ca_id_of(const X509* cert) const {
    auto it = ca_ids_.find(cert);
    return it == ca_ids_.end() ? nullptr : &it->second;
}

void registry_snapshot::store_deleter::operator()(X509_STORE* s) const noexcept {
    X509_STORE_free(s);
}

registry_snapshot::~registry_snapshot() = default;

std::shared_ptr<const registry_snapshot> registry_snapshot::build(
        registry_state state, std::uint64_t generation, const registry_snapshot* previous) {
    std::shared_ptr<registry_snapshot> s(new registry_snapshot());
    s->state_ = std::move(state);
    s->generation_ = generation;
    s->store_.reset(X509_STORE_new());
    if (!s->store_) {
        throw std::runtime_error("registry: cannot create an X509_STORE: " + openssl_error_text());
    }
    for (const auto& [id, ca] : s->state_.cas) {
        ca_trust trust;
        const ca_trust* old = previous != nullptr ? previous->trust(id) : nullptr;
        if (old != nullptr) {
            trust.cert = old->cert; // same id = same DER
        } else {
            auto parsed = parse_certificate_pem(ca.pem);
            if (!parsed) {
                throw std::runtime_error("CA certificate " + id + ": " + parsed.error().message);
            }
            trust.cert = share(std::move(*parsed));
        }
        // CRL files are read again for every snapshot: rebuilding the snapshot is the reload.
        if (!ca.crl_file.empty()) {
            load_crl(ca, trust);
            if (!trust.crl_problem.empty()) {
                s->problems_.push_back(trust.crl_problem);
            }
        }
        if (ca.status == ca_status::active &&
            X509_STORE_add_cert(s->store_.get(), trust.cert.get()) != 1) {
            // Two registered CAs with the same DER cannot exist (same id); anything else is
            // OpenSSL failing, which would leave a CA silently untrusted.
            auto text = openssl_error_text();
            throw std::runtime_error(
                    "CA certificate " + id + ": cannot add it to the trust store: " + text);
        }
        s->ca_ids_.emplace(trust.cert.get(), id);
        s->trust_.emplace(id, std::move(trust));
    }
    for (const auto& [name, p] : s->state_.policies) {
        auto version = p.default_version;
        if (previous != nullptr) {
            auto it = previous->documents_.find(name);
            auto old = previous->find_policy(name);
            if (it != previous->documents_.end() && it->second.first == version && old != nullptr &&
                old->versions.count(version) != 0 &&
                old->versions.at(version).document == p.default_document().document) {
                s->documents_.emplace(name, it->second);
                continue;
            }
        }
        auto parsed = policy::parse_policy(p.default_document().document);
        if (!parsed) {
            throw std::runtime_error(
                    "policy " + name + " version " + std::to_string(version) + ": " +
                    parsed.error().message);
        }
        s->documents_.emplace(
                name,
                std::make_pair(
                        version,
                        std::make_shared<const policy::policy_document>(
                                std::move(parsed).value())));
    }
    return s;
}

const ca_certificate* registry_snapshot::find_ca(std::string_view id) const {
    return find_entry(state_.cas, id);
}

const certificate* registry_snapshot::find_certificate(std::string_view id) const {
    return find_entry(state_.certificates, id);
}

const thing* registry_snapshot::find_thing(std::string_view name) const {
    return find_entry(state_.things, name);
}

const thing_group* registry_snapshot::find_group(std::string_view name) const {
    return find_entry(state_.groups, name);
}

const named_policy* registry_snapshot::find_policy(std::string_view name) const {
    return find_entry(state_.policies, name);
}

const policy::policy_document* registry_snapshot::default_document(std::string_view name) const {
    auto* entry = find_entry(documents_, name);
    return entry == nullptr ? nullptr : entry->second.get();
}

std::vector<std::string>
registry_snapshot::certificate_policies(std::string_view certificate_id) const {
    return seconds_of(state_.attachments_of(attachment_kind::certificate_policy, certificate_id));
}

std::vector<std::string> registry_snapshot::group_policies(std::string_view group) const {
    return seconds_of(state_.attachments_of(attachment_kind::group_policy, group));
}

std::vector<const attachment*>
registry_snapshot::certificate_things(std::string_view certificate_id) const {
    return state_.attachments_of(attachment_kind::certificate_thing, certificate_id);
}

std::vector<std::string> registry_snapshot::thing_groups(std::string_view thing_name) const {
    return seconds_of(state_.attachments_of(attachment_kind::thing_group, thing_name));
}

const ca_trust* registry_snapshot::trust(std::string_view ca_id) const {
    return find_entry(trust_, ca_id);
}

} // namespace thinggate::auth
