#pragma once
// auth/registry_snapshot: one immutable version of the identity registry, what the data path
// reads: the entries, lookups by certificate / thing / group / policy, the parsed default policy
// documents, and the trust store of ACTIVE CAs with their CRLs loaded.
// Owns: read access to a registry version. Must not use: the store, Asio.
// Thread safety: immutable once built; share it as std::shared_ptr<const registry_snapshot> and
// read it from any thread. trust_store() may be used by many X509_STORE_CTX at once (OpenSSL
// locks inside the store).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <openssl/x509.h>

#include "auth/registry_model.hpp"
#include "policy/document.hpp"

namespace thinggate::auth {

template <typename V>
using by_name = std::map<std::string, V, std::less<>>;

/// The entry under `key`, or null.
template <typename V>
const V* find_entry(const by_name<V>& map, std::string_view key) {
    auto it = map.find(key);
    return it == map.end() ? nullptr : &it->second;
}

template <typename V>
V* find_entry(by_name<V>& map, std::string_view key) {
    auto it = map.find(key);
    return it == map.end() ? nullptr : &it->second;
}

/// Every registry entry, as stored. Attachments are keyed by attachment_key().
struct registry_state {
    by_name<ca_certificate> cas;
    by_name<certificate> certificates;
    by_name<thing> things;
    by_name<thing_type> thing_types;
    by_name<thing_group> groups;
    by_name<named_policy> policies;
    by_name<attachment> attachments;

    const attachment*
    find_attachment(attachment_kind kind, std::string_view first, std::string_view second) const;

    /// Every attachment of `kind` whose first part is `first`, in key order.
    std::vector<const attachment*>
    attachments_of(attachment_kind kind, std::string_view first) const;

    /// Every attachment of `kind` whose second part is `second` (a scan: control plane only).
    std::vector<const attachment*>
    attachments_to(attachment_kind kind, std::string_view second) const;
};

/// A registered CA as the verifier sees it.
struct ca_trust {
    std::shared_ptr<X509> cert;    ///< parsed PEM
    std::shared_ptr<X509_CRL> crl; ///< loaded and signature-checked CRL, or null
    /// Non-empty when the CA names a CRL file that could not be used (missing, unreadable, not
    /// signed by this CA): certificates issued by this CA are then refused (fail closed).
    std::string crl_problem;
};

class registry_snapshot {
public:
    /// Builds a snapshot: parses the CA certificates and the default policy documents, loads the
    /// CRL files, builds the trust store. Parsed values of `previous` are reused where the
    /// entry is unchanged. Throws std::runtime_error only when a stored PEM or policy document
    /// does not parse (the registry validated both on the way in, so that is corruption).
    static std::shared_ptr<const registry_snapshot>
    build(registry_state state, std::uint64_t generation, const registry_snapshot* previous);

    registry_snapshot(const registry_snapshot&) = delete;
    registry_snapshot& operator=(const registry_snapshot&) = delete;
    ~registry_snapshot();

    const registry_state& state() const noexcept { return state_; }

    /// Increases with every published change (1 for the first snapshot after load).
    std::uint64_t generation() const noexcept { return generation_; }

    const ca_certificate* find_ca(std::string_view id) const;
    const certificate* find_certificate(std::string_view id) const;
    const thing* find_thing(std::string_view name) const;
    const thing_group* find_group(std::string_view name) const;
    const named_policy* find_policy(std::string_view name) const;

    /// The parsed default version of a policy; null when there is no such policy.
    const policy::policy_document* default_document(std::string_view policy_name) const;

    /// Policy names attached to a certificate / a thing group, in name order.
    std::vector<std::string> certificate_policies(std::string_view certificate_id) const;
    std::vector<std::string> group_policies(std::string_view group) const;

    /// The things a certificate is attached to (certificate_thing attachments).
    std::vector<const attachment*> certificate_things(std::string_view certificate_id) const;

    /// The static groups a thing belongs to, in name order.
    std::vector<std::string> thing_groups(std::string_view thing_name) const;

    /// Trust material of a registered CA (any status); null when not registered.
    const ca_trust* trust(std::string_view ca_id) const;

    /// An X509_STORE holding the ACTIVE CAs only (no CRL flags: CRLs are checked by
    /// verify_client_certificate per CA). Never null.
    X509_STORE* trust_store() const noexcept { return store_.get(); }

    /// The id of a registered CA by the certificate object this snapshot holds (the one in
    /// trust() and trust_store(), which chains built from the store contain): no digest per
    /// handshake. Null for any other object, even an equal copy (use certificate_id then).
    const std::string* ca_id_of(const X509* cert) const;

    /// CRL files that could not be used, one sentence each (for a log line at publish time).
    const std::vector<std::string>& problems() const noexcept { return problems_; }

private:
    registry_snapshot() = default;

    struct store_deleter {
        void operator()(X509_STORE* s) const noexcept;
    };

    registry_state state_;
    std::uint64_t generation_ = 0;
    by_name<ca_trust> trust_;
    std::unordered_map<const X509*, std::string> ca_ids_; ///< trust_'s certificates -> ids
    /// Per policy: (default version id, parsed document).
    by_name<std::pair<std::uint32_t, std::shared_ptr<const policy::policy_document>>> documents_;
    std::unique_ptr<X509_STORE, store_deleter> store_;
    std::vector<std::string> problems_;
};

} // namespace thinggate::auth
