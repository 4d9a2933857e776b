// The registry's mutations and AWS IoT's rules for them. Each function checks everything first
// and only then changes the working state, adds to the batch and records an event, so a refused
// mutation leaves the transaction as it was.

#include <algorithm>
#include <utility>

#include "auth/certificate_fields.hpp"
#include "auth/pki.hpp"
#include "auth/registry.hpp"
#include "policy/document.hpp"

namespace thinggate::auth {

namespace {

registry_error err(registry_errc e, std::string message) {
    return make_registry_error(e, std::move(message));
}

std::string in_quotes(std::string_view s) {
    return '"' + std::string(s) + '"';
}

registry_error not_found(std::string_view kind, std::string_view name) {
    return err(
            registry_errc::not_found,
            std::string(kind) + ' ' + in_quotes(name) + " does not exist");
}

registry_error bad_name(std::string_view kind, std::string_view name, std::string_view rule) {
    return err(
            registry_errc::invalid_request,
            std::string(kind) + " name " + in_quotes(name) + " is not valid (" + std::string(rule) +
                    ")");
}

constexpr std::string_view name_rule = "1..128 characters from A-Z a-z 0-9 _ : -";
constexpr std::string_view policy_name_rule = "1..128 characters from A-Z a-z 0-9 _ + = , . @ -";

/// The policy document's validation, with the policy named in front of the policy module's
/// message (which names the statement).
registry_result<void> check_document(std::string_view policy_name, std::string_view document) {
    auto parsed = policy::parse_policy(document);
    if (!parsed) {
        return err(
                registry_errc::malformed_policy,
                "policy " + in_quotes(policy_name) + ": " + parsed.error().message);
    }
    return {};
}

registry_result<void> check_attributes(std::string_view thing_name, const attribute_map& a) {
    if (a.size() > max_thing_attributes) {
        return err(
                registry_errc::invalid_request,
                "thing " + in_quotes(thing_name) + ": more than 50 attributes");
    }
    for (const auto& [k, v] : a) {
        if (!is_valid_attribute_name(k)) {
            return err(
                    registry_errc::invalid_request,
                    "thing " + in_quotes(thing_name) + ": attribute name " + in_quotes(k) +
                            " is not valid (1..128 characters from A-Z a-z 0-9 _ . , @ / : # -)");
        }
        if (!is_valid_attribute_value(v)) {
            return err(
                    registry_errc::invalid_request,
                    "thing " + in_quotes(thing_name) + ": attribute " + in_quotes(k) + " value " +
                            in_quotes(v) +
                            " is not valid (0..800 characters from A-Z a-z 0-9 _ . , @ / : # -)");
        }
    }
    return {};
}

} // namespace

void registry_txn::event(registry_event::kind k, std::string name, std::string detail) {
    events_.push_back(registry_event{k, std::move(name), std::move(detail), {}, {}});
}

// --- CA certificates ---

registry_result<std::string> registry_txn::register_ca(
        std::string_view pem, ca_status status, bool auto_registration, std::string crl_file) {
    auto cert = parse_certificate_pem(pem);
    if (!cert) {
        return err(registry_errc::certificate_invalid, "CA certificate: " + cert.error().message);
    }
    auto id = certificate_id(**cert);
    if (X509_check_ca(cert->get()) < 1) {
        return err(
                registry_errc::certificate_invalid,
                "CA certificate " + id +
                        ": not a CA certificate (basicConstraints CA:TRUE "
                        "missing)");
    }
    if (state_.cas.count(id) != 0) {
        return err(
                registry_errc::already_exists, "CA certificate " + id + " is registered already");
    }
    ca_certificate ca;
    ca.id = id;
    ca.pem = certificate_to_pem(**cert);
    ca.status = status;
    ca.auto_registration = auto_registration;
    ca.crl_file = std::move(crl_file);
    ca.created_at = now_;
    batch_.put(to_blob(ca));
    state_.cas.emplace(id, std::move(ca));
    event(registry_event::kind::ca_changed, id);
    return id;
}

registry_result<void> registry_txn::update_ca(
        std::string_view id,
        std::optional<ca_status> status,
        std::optional<bool> auto_registration,
        std::optional<std::string> crl_file) {
    auto* ca = find_entry(state_.cas, id);
    if (ca == nullptr) {
        return not_found("CA certificate", id);
    }
    auto updated = *ca;
    if (status) {
        updated.status = *status;
    }
    if (auto_registration) {
        updated.auto_registration = *auto_registration;
    }
    if (crl_file) {
        updated.crl_file = std::move(*crl_file);
    }
    if (updated == *ca) {
        return {};
    }
    *ca = std::move(updated);
    batch_.put(to_blob(*ca));
    event(registry_event::kind::ca_changed, std::string(id));
    return {};
}

registry_result<void> registry_txn::delete_ca(std::string_view id) {
    auto* ca = find_entry(state_.cas, id);
    if (ca == nullptr) {
        return not_found("CA certificate", id);
    }
    if (ca->status == ca_status::active) {
        return err(
                registry_errc::delete_conflict,
                "CA certificate " + std::string(id) + " is ACTIVE; set it INACTIVE first");
    }
    for (const auto& [cid, c] : state_.certificates) {
        if (c.ca_id == id) {
            return err(
                    registry_errc::delete_conflict,
                    "CA certificate " + std::string(id) + " issued registered certificate " + cid +
                            "; delete its certificates first");
        }
    }
    batch_.erase_blob(persist::blob_kind::ca_certificate, id);
    state_.cas.erase(state_.cas.find(id));
    event(registry_event::kind::ca_deleted, std::string(id));
    return {};
}

// --- device certificates ---

registry_result<std::string>
registry_txn::register_certificate(std::string_view pem, certificate_status status) {
    auto cert = parse_certificate_pem(pem);
    if (!cert) {
        return err(registry_errc::certificate_invalid, "certificate: " + cert.error().message);
    }
    auto id = certificate_id(**cert);
    if (state_.certificates.count(id) != 0) {
        return err(registry_errc::already_exists, "certificate " + id + " is registered already");
    }
    // The issuer must be registered (any status: an INACTIVE CA's certificates may be
    // registered, they only cannot connect until it is ACTIVE).
    std::string ca_id;
    for (const auto& [cid, ca] : state_.cas) {
        auto ca_cert = parse_certificate_pem(ca.pem);
        if (ca_cert && issued_by(**cert, **ca_cert)) {
            ca_id = cid;
            break;
        }
    }
    if (ca_id.empty()) {
        return err(
                registry_errc::certificate_invalid,
                "certificate " + id +
                        ": not issued by a registered CA certificate; register its CA first");
    }
    certificate c;
    c.id = id;
    c.pem = certificate_to_pem(**cert);
    c.status = status;
    c.ca_id = ca_id;
    c.not_before = not_before(**cert);
    c.not_after = not_after(**cert);
    c.created_at = now_;
    batch_.put(to_blob(c));
    state_.certificates.emplace(id, std::move(c));
    events_.push_back(registry_event{
            registry_event::kind::certificate_added, id, ca_id, std::nullopt, status});
    return id;
}

registry_result<void>
registry_txn::update_certificate(std::string_view id, certificate_status status) {
    auto* c = find_entry(state_.certificates, id);
    if (c == nullptr) {
        return not_found("certificate", id);
    }
    if (c->status == status) {
        return {};
    }
    if (c->status == certificate_status::revoked) {
        return err(
                registry_errc::certificate_state,
                "certificate " + std::string(id) +
                        ": status REVOKED is final, cannot change it to " +
                        std::string(to_string(status)));
    }
    if (status == certificate_status::pending_activation ||
        status == certificate_status::pending_transfer) {
        return err(
                registry_errc::invalid_request,
                "certificate " + std::string(id) + ": status " + std::string(to_string(status)) +
                        " cannot be set (only ACTIVE, INACTIVE or REVOKED)");
    }
    auto old = c->status;
    c->status = status;
    batch_.put(to_blob(*c));
    events_.push_back(registry_event{
            registry_event::kind::certificate_status, std::string(id), {}, old, status});
    return {};
}

registry_result<void> registry_txn::delete_certificate(std::string_view id) {
    auto* c = find_entry(state_.certificates, id);
    if (c == nullptr) {
        return not_found("certificate", id);
    }
    if (c->status == certificate_status::active) {
        return err(
                registry_errc::delete_conflict,
                "certificate " + std::string(id) + " is ACTIVE; set it INACTIVE or REVOKED first");
    }
    if (auto p = state_.attachments_of(attachment_kind::certificate_policy, id); !p.empty()) {
        return err(
                registry_errc::delete_conflict,
                "certificate " + std::string(id) + " has policy " + in_quotes(p.front()->second) +
                        " attached; detach its policies first");
    }
    if (auto t = state_.attachments_of(attachment_kind::certificate_thing, id); !t.empty()) {
        return err(
                registry_errc::delete_conflict,
                "certificate " + std::string(id) + " is attached to thing " +
                        in_quotes(t.front()->second) + "; detach it first");
    }
    auto old = c->status;
    batch_.erase_blob(persist::blob_kind::certificate, id);
    state_.certificates.erase(state_.certificates.find(id));
    events_.push_back(registry_event{
            registry_event::kind::certificate_deleted, std::string(id), {}, old, std::nullopt});
    return {};
}

registry_result<bool> registry_txn::record_jitr(const certificate& entry) {
    if (state_.certificates.count(entry.id) != 0) {
        return false;
    }
    if (!is_valid_certificate_id(entry.id) || state_.cas.count(entry.ca_id) == 0 ||
        entry.status != certificate_status::pending_activation) {
        return err(
                registry_errc::invalid_request,
                "just-in-time registration of certificate " + entry.id +
                        ": needs a certificate id, a registered CA and PENDING_ACTIVATION");
    }
    auto parsed = parse_certificate_pem(entry.pem);
    if (!parsed || certificate_id(**parsed) != entry.id) {
        return err(
                registry_errc::certificate_invalid,
                "just-in-time registration of certificate " + entry.id +
                        ": the PEM does not hold that certificate");
    }
    batch_.put(to_blob(entry));
    state_.certificates.emplace(entry.id, entry);
    events_.push_back(registry_event{
            registry_event::kind::certificate_added,
            entry.id,
            entry.ca_id,
            std::nullopt,
            entry.status});
    return true;
}

// --- things, types, groups ---

registry_result<void> registry_txn::create_thing(
        std::string_view name, std::string_view type_name, attribute_map attributes) {
    if (!is_valid_registry_name(name)) {
        return bad_name("thing", name, name_rule);
    }
    if (!type_name.empty() && state_.thing_types.count(type_name) == 0) {
        return not_found("thing type", type_name);
    }
    if (auto r = check_attributes(name, attributes); !r) {
        return r;
    }
    if (auto* existing = find_entry(state_.things, name)) {
        if (existing->type_name == type_name && existing->attributes == attributes) {
            return {};
        }
        return err(
                registry_errc::already_exists,
                "thing " + in_quotes(name) + " exists already with another type or attributes");
    }
    thing t;
    t.name = std::string(name);
    t.type_name = std::string(type_name);
    t.attributes = std::move(attributes);
    batch_.put(to_blob(t));
    state_.things.emplace(t.name, t);
    event(registry_event::kind::thing_changed, t.name);
    return {};
}

registry_result<void> registry_txn::update_thing(
        std::string_view name,
        std::optional<std::string> type_name,
        std::optional<attribute_map> attributes) {
    auto* t = find_entry(state_.things, name);
    if (t == nullptr) {
        return not_found("thing", name);
    }
    if (type_name && !type_name->empty() && state_.thing_types.count(*type_name) == 0) {
        return not_found("thing type", *type_name);
    }
    if (attributes) {
        if (auto r = check_attributes(name, *attributes); !r) {
            return r;
        }
    }
    auto updated = *t;
    if (type_name) {
        updated.type_name = std::move(*type_name);
    }
    if (attributes) {
        updated.attributes = std::move(*attributes);
    }
    if (updated == *t) {
        return {};
    }
    updated.version = t->version + 1;
    *t = std::move(updated);
    batch_.put(to_blob(*t));
    event(registry_event::kind::thing_changed, std::string(name));
    return {};
}

registry_result<void> registry_txn::delete_thing(std::string_view name) {
    if (state_.things.count(name) == 0) {
        return not_found("thing", name);
    }
    if (auto p = state_.attachments_to(attachment_kind::certificate_thing, name); !p.empty()) {
        return err(
                registry_errc::delete_conflict,
                "thing " + in_quotes(name) + " has certificate " + p.front()->first +
                        " attached; detach its principals first");
    }
    for (const auto* m : state_.attachments_of(attachment_kind::thing_group, name)) {
        auto key = attachment_key(m->kind, m->first, m->second);
        event(registry_event::kind::membership_changed, m->first, m->second);
        erase_attachment(key);
    }
    batch_.erase_blob(persist::blob_kind::thing, name);
    state_.things.erase(state_.things.find(name));
    event(registry_event::kind::thing_deleted, std::string(name));
    return {};
}

registry_result<void>
registry_txn::create_thing_type(std::string_view name, std::string_view description) {
    if (!is_valid_registry_name(name)) {
        return bad_name("thing type", name, name_rule);
    }
    if (auto* existing = find_entry(state_.thing_types, name)) {
        if (existing->description == description) {
            return {};
        }
        return err(
                registry_errc::already_exists, "thing type " + in_quotes(name) + " exists already");
    }
    thing_type t{std::string(name), std::string(description)};
    batch_.put(to_blob(t));
    state_.thing_types.emplace(t.name, t);
    event(registry_event::kind::thing_type_changed, t.name);
    return {};
}

registry_result<void> registry_txn::delete_thing_type(std::string_view name) {
    if (state_.thing_types.count(name) == 0) {
        return not_found("thing type", name);
    }
    for (const auto& [tname, t] : state_.things) {
        if (t.type_name == name) {
            return err(
                    registry_errc::delete_conflict,
                    "thing type " + in_quotes(name) + " is the type of thing " + in_quotes(tname));
        }
    }
    batch_.erase_blob(persist::blob_kind::thing_type, name);
    state_.thing_types.erase(state_.thing_types.find(name));
    event(registry_event::kind::thing_type_changed, std::string(name));
    return {};
}

registry_result<void> registry_txn::create_thing_group(
        std::string_view name, std::string_view parent, std::string_view description) {
    if (!is_valid_registry_name(name)) {
        return bad_name("thing group", name, name_rule);
    }
    if (auto* existing = find_entry(state_.groups, name)) {
        if (existing->parent == parent && existing->description == description) {
            return {};
        }
        return err(
                registry_errc::already_exists,
                "thing group " + in_quotes(name) +
                        " exists already with another parent or "
                        "description");
    }
    if (!parent.empty()) {
        std::size_t depth = 1;
        for (const auto* g = find_entry(state_.groups, parent); g != nullptr;
             g = g->parent.empty() ? nullptr : find_entry(state_.groups, g->parent)) {
            ++depth;
        }
        if (state_.groups.count(parent) == 0) {
            return not_found("parent thing group", parent);
        }
        if (depth > max_group_depth) {
            return err(
                    registry_errc::limit_exceeded,
                    "thing group " + in_quotes(name) + ": a hierarchy has at most 7 levels");
        }
    }
    thing_group g{std::string(name), std::string(parent), std::string(description)};
    batch_.put(to_blob(g));
    state_.groups.emplace(g.name, g);
    event(registry_event::kind::group_changed, g.name);
    return {};
}

registry_result<void> registry_txn::delete_thing_group(std::string_view name) {
    if (state_.groups.count(name) == 0) {
        return not_found("thing group", name);
    }
    for (const auto& [gname, g] : state_.groups) {
        if (g.parent == name) {
            return err(
                    registry_errc::delete_conflict,
                    "thing group " + in_quotes(name) + " has child group " + in_quotes(gname) +
                            "; delete it first");
        }
    }
    for (const auto* m : state_.attachments_to(attachment_kind::thing_group, name)) {
        event(registry_event::kind::membership_changed, m->first, m->second);
        erase_attachment(attachment_key(m->kind, m->first, m->second));
    }
    for (const auto* p : state_.attachments_of(attachment_kind::group_policy, name)) {
        auto key = attachment_key(p->kind, p->first, p->second);
        event(registry_event::kind::attachment_changed, key);
        erase_attachment(key);
    }
    batch_.erase_blob(persist::blob_kind::thing_group, name);
    state_.groups.erase(state_.groups.find(name));
    event(registry_event::kind::group_changed, std::string(name));
    return {};
}

registry_result<void>
registry_txn::add_thing_to_group(std::string_view thing_name, std::string_view group) {
    if (state_.things.count(thing_name) == 0) {
        return not_found("thing", thing_name);
    }
    if (state_.groups.count(group) == 0) {
        return not_found("thing group", group);
    }
    if (state_.find_attachment(attachment_kind::thing_group, thing_name, group) != nullptr) {
        return {};
    }
    if (state_.attachments_of(attachment_kind::thing_group, thing_name).size() >=
        max_groups_per_thing) {
        return err(
                registry_errc::limit_exceeded,
                "thing " + in_quotes(thing_name) + " belongs to 10 groups already");
    }
    event(registry_event::kind::membership_changed, std::string(thing_name), std::string(group));
    return attach(attachment{
            attachment_kind::thing_group,
            std::string(thing_name),
            std::string(group),
            false,
            now_});
}

registry_result<void>
registry_txn::remove_thing_from_group(std::string_view thing_name, std::string_view group) {
    if (auto r =
                detach(attachment_kind::thing_group,
                       thing_name,
                       group,
                       "thing " + in_quotes(thing_name) + " in group " + in_quotes(group));
        !r) {
        return r;
    }
    event(registry_event::kind::membership_changed, std::string(thing_name), std::string(group));
    return {};
}

// --- policies ---

registry_result<void>
registry_txn::create_policy(std::string_view name, std::string_view document) {
    if (!is_valid_policy_name(name)) {
        return bad_name("policy", name, policy_name_rule);
    }
    if (state_.policies.count(name) != 0) {
        return err(registry_errc::already_exists, "policy " + in_quotes(name) + " exists already");
    }
    if (auto r = check_document(name, document); !r) {
        return r;
    }
    named_policy p;
    p.name = std::string(name);
    p.default_version = 1;
    p.next_version = 2;
    p.created_at = now_;
    p.versions.emplace(1, policy_version{1, std::string(document), now_});
    batch_.put(to_blob(p));
    batch_.put(to_blob(p.name, p.versions.at(1)));
    state_.policies.emplace(p.name, std::move(p));
    event(registry_event::kind::policy_changed, std::string(name));
    return {};
}

registry_result<std::uint32_t> registry_txn::create_policy_version(
        std::string_view name, std::string_view document, bool set_as_default) {
    auto* p = find_entry(state_.policies, name);
    if (p == nullptr) {
        return not_found("policy", name);
    }
    if (p->versions.size() >= max_policy_versions) {
        return err(
                registry_errc::versions_limit,
                "policy " + in_quotes(name) +
                        " has 5 versions; delete a version that is not the default first");
    }
    if (auto r = check_document(name, document); !r) {
        return r.error();
    }
    auto id = p->next_version;
    p->versions.emplace(id, policy_version{id, std::string(document), now_});
    p->next_version = id + 1;
    if (set_as_default) {
        p->default_version = id;
    }
    batch_.put(to_blob(*p));
    batch_.put(to_blob(p->name, p->versions.at(id)));
    if (set_as_default) {
        event(registry_event::kind::policy_changed, std::string(name));
    }
    return id;
}

registry_result<void>
registry_txn::set_default_policy_version(std::string_view name, std::uint32_t version) {
    auto* p = find_entry(state_.policies, name);
    if (p == nullptr) {
        return not_found("policy", name);
    }
    if (p->versions.count(version) == 0) {
        return not_found(
                "policy version", std::string(name) + " version " + std::to_string(version));
    }
    if (p->default_version == version) {
        return {};
    }
    p->default_version = version;
    batch_.put(to_blob(*p));
    event(registry_event::kind::policy_changed, std::string(name));
    return {};
}

registry_result<void>
registry_txn::delete_policy_version(std::string_view name, std::uint32_t version) {
    auto* p = find_entry(state_.policies, name);
    if (p == nullptr) {
        return not_found("policy", name);
    }
    if (p->versions.count(version) == 0) {
        return not_found(
                "policy version", std::string(name) + " version " + std::to_string(version));
    }
    if (p->default_version == version) {
        return err(
                registry_errc::delete_conflict,
                "policy " + in_quotes(name) + " version " + std::to_string(version) +
                        " is the default version; make another version the default first");
    }
    p->versions.erase(version);
    batch_.erase_blob(
            persist::blob_kind::policy_version, std::string(name) + '/' + std::to_string(version));
    return {};
}

registry_result<void> registry_txn::delete_policy(std::string_view name) {
    auto* p = find_entry(state_.policies, name);
    if (p == nullptr) {
        return not_found("policy", name);
    }
    for (auto kind : {attachment_kind::certificate_policy, attachment_kind::group_policy}) {
        if (auto a = state_.attachments_to(kind, name); !a.empty()) {
            return err(
                    registry_errc::delete_conflict,
                    "policy " + in_quotes(name) + " is attached to " +
                            (kind == attachment_kind::certificate_policy ? "certificate "
                                                                         : "thing group ") +
                            a.front()->first + "; detach it first");
        }
    }
    if (p->versions.size() > 1) {
        return err(
                registry_errc::delete_conflict,
                "policy " + in_quotes(name) +
                        " has versions besides the default; delete them first");
    }
    for (const auto& [id, v] : p->versions) {
        batch_.erase_blob(
                persist::blob_kind::policy_version, std::string(name) + '/' + std::to_string(id));
    }
    batch_.erase_blob(persist::blob_kind::policy, name);
    state_.policies.erase(state_.policies.find(name));
    event(registry_event::kind::policy_changed, std::string(name));
    return {};
}

// --- attachments ---

void registry_txn::erase_attachment(const std::string& key) {
    batch_.erase_blob(persist::blob_kind::attachment, key);
    state_.attachments.erase(key);
}

registry_result<void> registry_txn::attach(attachment a) {
    auto key = attachment_key(a.kind, a.first, a.second);
    auto kind = a.kind;
    batch_.put(to_blob(a));
    state_.attachments.insert_or_assign(key, std::move(a));
    if (kind != attachment_kind::thing_group) {
        event(registry_event::kind::attachment_changed, key);
    }
    return {};
}

registry_result<void> registry_txn::detach(
        attachment_kind kind,
        std::string_view first,
        std::string_view second,
        std::string_view what) {
    auto key = attachment_key(kind, first, second);
    if (state_.attachments.count(key) == 0) {
        return err(registry_errc::not_found, std::string(what) + ": not attached");
    }
    erase_attachment(key);
    if (kind != attachment_kind::thing_group) {
        event(registry_event::kind::attachment_changed, key);
    }
    return {};
}

registry_result<void> registry_txn::attach_policy_to_certificate(
        std::string_view policy_name, std::string_view certificate_id) {
    if (state_.policies.count(policy_name) == 0) {
        return not_found("policy", policy_name);
    }
    if (state_.certificates.count(certificate_id) == 0) {
        return not_found("certificate", certificate_id);
    }
    if (state_.find_attachment(attachment_kind::certificate_policy, certificate_id, policy_name)) {
        return {};
    }
    if (state_.attachments_of(attachment_kind::certificate_policy, certificate_id).size() >=
        max_policies_per_certificate) {
        return err(
                registry_errc::limit_exceeded,
                "certificate " + std::string(certificate_id) + " has 10 policies attached already");
    }
    return attach(attachment{
            attachment_kind::certificate_policy,
            std::string(certificate_id),
            std::string(policy_name),
            false,
            now_});
}

registry_result<void>
registry_txn::attach_policy_to_group(std::string_view policy_name, std::string_view group) {
    if (state_.policies.count(policy_name) == 0) {
        return not_found("policy", policy_name);
    }
    if (state_.groups.count(group) == 0) {
        return not_found("thing group", group);
    }
    if (state_.find_attachment(attachment_kind::group_policy, group, policy_name)) {
        return {};
    }
    if (state_.attachments_of(attachment_kind::group_policy, group).size() >=
        max_policies_per_group) {
        return err(
                registry_errc::limit_exceeded,
                "thing group " + in_quotes(group) + " has 2 policies attached already");
    }
    return attach(attachment{
            attachment_kind::group_policy,
            std::string(group),
            std::string(policy_name),
            false,
            now_});
}

registry_result<void> registry_txn::detach_policy_from_certificate(
        std::string_view policy_name, std::string_view certificate_id) {
    return detach(
            attachment_kind::certificate_policy,
            certificate_id,
            policy_name,
            "policy " + in_quotes(policy_name) + " on certificate " + std::string(certificate_id));
}

registry_result<void>
registry_txn::detach_policy_from_group(std::string_view policy_name, std::string_view group) {
    return detach(
            attachment_kind::group_policy,
            group,
            policy_name,
            "policy " + in_quotes(policy_name) + " on thing group " + in_quotes(group));
}

registry_result<void> registry_txn::attach_thing_principal(
        std::string_view thing_name, std::string_view certificate_id, bool exclusive) {
    if (state_.things.count(thing_name) == 0) {
        return not_found("thing", thing_name);
    }
    if (state_.certificates.count(certificate_id) == 0) {
        return not_found("certificate", certificate_id);
    }
    for (const auto* a :
         state_.attachments_of(attachment_kind::certificate_thing, certificate_id)) {
        if (a->second == thing_name) {
            continue;
        }
        if (a->exclusive) {
            return err(
                    registry_errc::conflicting_update,
                    "certificate " + std::string(certificate_id) +
                            " is attached exclusively to thing " + in_quotes(a->second));
        }
        if (exclusive) {
            return err(
                    registry_errc::conflicting_update,
                    "certificate " + std::string(certificate_id) + " is attached to thing " +
                            in_quotes(a->second) +
                            " too; an exclusive attachment must be its only one");
        }
    }
    if (const auto* existing = state_.find_attachment(
                attachment_kind::certificate_thing, certificate_id, thing_name);
        existing != nullptr && existing->exclusive == exclusive) {
        return {};
    }
    return attach(attachment{
            attachment_kind::certificate_thing,
            std::string(certificate_id),
            std::string(thing_name),
            exclusive,
            now_});
}

registry_result<void>
registry_txn::detach_thing_principal(std::string_view thing_name, std::string_view certificate_id) {
    return detach(
            attachment_kind::certificate_thing,
            certificate_id,
            thing_name,
            "certificate " + std::string(certificate_id) + " on thing " + in_quotes(thing_name));
}

} // namespace thinggate::auth
