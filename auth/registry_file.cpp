#include "auth/registry_file.hpp"

#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <set>

#include <boost/json.hpp>

#include "auth/certificate_fields.hpp"
#include "auth/json_fields.hpp"
#include "auth/pki.hpp"

namespace thinggate::auth {

namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

constexpr std::string_view file_format = "thinggate-registry";

std::string in_quotes(std::string_view s) {
    return '"' + std::string(s) + '"';
}

// --- the parsed file ---

struct entry_base {
    std::string where; ///< "<file>: things[2] (\"sensor-7\")"
    bool absent = false;
};

struct ca_decl : entry_base {
    std::string pem;
    std::string id;
    std::optional<ca_status> status;
    std::optional<bool> auto_registration;
    std::optional<std::string> crl_file;
};

struct certificate_decl : entry_base {
    std::string pem;
    std::string id;
    std::optional<certificate_status> status;
    std::string thing;
    bool exclusive = false;
    std::vector<std::string> policies;
};

struct type_decl : entry_base {
    std::string name;
    std::string description;
};

struct group_decl : entry_base {
    std::string name;
    std::string parent;
    std::string description;
    std::vector<std::string> policies;
};

struct policy_decl : entry_base {
    std::string name;
    std::string document;
};

struct thing_decl : entry_base {
    std::string name;
    std::optional<std::string> type;
    std::optional<attribute_map> attributes;
    std::vector<std::string> groups;
};

struct plan {
    std::vector<ca_decl> cas;
    std::vector<type_decl> types;
    std::vector<group_decl> groups;
    std::vector<policy_decl> policies;
    std::vector<thing_decl> things;
    std::vector<certificate_decl> certificates;
};

std::string read_text(const fs::path& path, const std::string& where, std::string_view field) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw json_field_error(
                where + ": field \"" + std::string(field) + "\": cannot read " + path.string());
    }
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

/// Reads the shared "state" field: "present" (the default) or "absent".
bool read_absent(json_fields& f) {
    auto state = f.optional_string("state");
    if (state && *state != "present" && *state != "absent") {
        f.fail_field("state", "must be \"present\" or \"absent\"");
    }
    return state && *state == "absent";
}

class parser {
public:
    parser(const fs::path& origin)
        : origin_(origin)
        , base_(origin.parent_path()) {}

    plan parse(std::string_view text) {
        auto root = json_fields::parse_object(origin_.string(), text);
        json_fields f(origin_.string(), root);
        if (f.string("format") != file_format) {
            f.fail_field("format", "must be \"thinggate-registry\"");
        }
        if (f.integer("version") != 1) {
            f.fail_field("version", "must be 1");
        }
        plan p;
        each(f, "ca_certificates", [&](json_fields& e) { p.cas.push_back(ca(e)); });
        each(f, "thing_types", [&](json_fields& e) { p.types.push_back(type(e)); });
        each(f, "thing_groups", [&](json_fields& e) { p.groups.push_back(group(e)); });
        each(f, "policies", [&](json_fields& e) { p.policies.push_back(policy(e)); });
        each(f, "things", [&](json_fields& e) { p.things.push_back(thing(e)); });
        each(f, "certificates", [&](json_fields& e) { p.certificates.push_back(cert(e)); });
        f.finish();
        return p;
    }

private:
    /// Calls `fn` for each object of the array `key`, with a reader that names the entry by its
    /// index and its name (or file).
    template <typename Fn>
    void each(json_fields& root, std::string_view key, Fn fn) {
        auto entries = root.optional_objects(key);
        for (std::size_t i = 0; i < entries.size(); ++i) {
            const auto& o = *entries[i];
            std::string label;
            for (const char* name : {"name", "pem_file", "id"}) {
                if (const auto* v = o.if_contains(name); v != nullptr && v->is_string()) {
                    label = " (" + in_quotes(v->get_string()) + ")";
                    break;
                }
            }
            json_fields e(
                    origin_.string() + ": " + std::string(key) + '[' + std::to_string(i) + ']' +
                            label,
                    o);
            fn(e);
            e.finish();
        }
    }

    fs::path resolve(const std::string& file) const {
        fs::path p(file);
        return p.is_absolute() ? p : base_ / p;
    }

    /// pem_file (read, id computed) or, for an absent entry, id alone.
    void certificate_source(json_fields& e, bool absent, std::string& pem, std::string& id) {
        auto file = e.optional_string("pem_file");
        auto given_id = e.optional_string("id");
        if (file) {
            pem = read_text(resolve(*file), e.what(), "pem_file");
            auto parsed = parse_certificate_pem(pem);
            if (!parsed) {
                e.fail_field("pem_file", parsed.error().message);
            }
            id = certificate_id(**parsed);
            if (given_id && *given_id != id) {
                e.fail_field("id", "differs from the id of pem_file (" + id + ")");
            }
        } else if (given_id && absent) {
            if (!is_valid_certificate_id(*given_id)) {
                e.fail_field("id", "is not 64 lowercase hex digits");
            }
            id = *given_id;
        } else {
            e.fail(absent ? "needs \"pem_file\" or \"id\"" : "missing field \"pem_file\"");
        }
    }

    std::string name(json_fields& e, bool (*valid)(std::string_view) noexcept) {
        auto n = e.string("name");
        if (!valid(n)) {
            e.fail_field("name", "is not a valid name");
        }
        return n;
    }

    ca_decl ca(json_fields& e) {
        ca_decl d;
        d.where = e.what();
        d.absent = read_absent(e);
        certificate_source(e, d.absent, d.pem, d.id);
        if (auto s = e.optional_string("status")) {
            d.status = parse_ca_status(*s);
            if (!d.status) {
                e.fail_field("status", "must be ACTIVE or INACTIVE");
            }
        }
        d.auto_registration = e.optional_boolean("auto_registration");
        if (auto crl = e.optional_string("crl_file")) {
            d.crl_file = crl->empty() ? std::string()
                                      : fs::absolute(resolve(*crl)).lexically_normal().string();
        }
        return d;
    }

    certificate_decl cert(json_fields& e) {
        certificate_decl d;
        d.where = e.what();
        d.absent = read_absent(e);
        certificate_source(e, d.absent, d.pem, d.id);
        if (auto s = e.optional_string("status")) {
            d.status = parse_certificate_status(*s);
            if (!d.status) {
                e.fail_field(
                        "status",
                        "must be ACTIVE, INACTIVE, REVOKED, PENDING_ACTIVATION or "
                        "PENDING_TRANSFER");
            }
        }
        d.thing = e.optional_string("thing").value_or("");
        d.exclusive = e.optional_boolean("exclusive").value_or(false);
        if (d.exclusive && d.thing.empty()) {
            e.fail_field("exclusive", "needs \"thing\"");
        }
        d.policies = e.optional_strings("policies");
        return d;
    }

    type_decl type(json_fields& e) {
        type_decl d;
        d.where = e.what();
        d.absent = read_absent(e);
        d.name = name(e, is_valid_registry_name);
        d.description = e.optional_string("description").value_or("");
        return d;
    }

    group_decl group(json_fields& e) {
        group_decl d;
        d.where = e.what();
        d.absent = read_absent(e);
        d.name = name(e, is_valid_registry_name);
        d.parent = e.optional_string("parent").value_or("");
        d.description = e.optional_string("description").value_or("");
        d.policies = e.optional_strings("policies");
        return d;
    }

    policy_decl policy(json_fields& e) {
        policy_decl d;
        d.where = e.what();
        d.absent = read_absent(e);
        d.name = name(e, is_valid_policy_name);
        bool inline_doc = e.has("document");
        bool file_doc = e.has("document_file");
        if (d.absent) {
            // An absent policy may keep its document in the file; it is not read.
            for (const char* key : {"document", "document_file"}) {
                if (e.has(key)) {
                    e.field(key);
                }
            }
            return d;
        }
        if (inline_doc == file_doc) {
            e.fail("needs exactly one of \"document\" (an object) and \"document_file\"");
        }
        if (inline_doc) {
            const auto& v = e.field("document");
            if (!v.is_object()) {
                e.fail_field("document", "must be a JSON object (the policy document)");
            }
            d.document = json::serialize(v);
        } else {
            d.document = read_text(resolve(e.string("document_file")), e.what(), "document_file");
        }
        return d;
    }

    thing_decl thing(json_fields& e) {
        thing_decl d;
        d.where = e.what();
        d.absent = read_absent(e);
        d.name = name(e, is_valid_registry_name);
        d.type = e.optional_string("type");
        if (e.has("attributes")) {
            attribute_map attributes;
            for (const auto& [k, v] : e.object("attributes")) {
                if (!v.is_string()) {
                    e.fail_field("attributes", "value of " + in_quotes(k) + " must be a string");
                }
                attributes.emplace(std::string(k), std::string(v.get_string()));
            }
            d.attributes = std::move(attributes);
        }
        d.groups = e.optional_strings("groups");
        return d;
    }

    fs::path origin_;
    fs::path base_;
};

// --- applying ---

/// Applies a plan inside one transaction and says what changed.
class reconciler {
public:
    reconciler(registry_txn& txn, registry_file_report& report)
        : txn_(txn)
        , report_(report) {}

    registry_result<void> run(const plan& p) {
        // Removals first, dependants before what they depend on; then creations the other way.
        for (const auto& d : p.certificates) {
            if (d.absent) {
                check(d.where, remove_certificate(d.id));
            }
        }
        for (const auto& d : p.things) {
            if (d.absent) {
                check(d.where, remove_thing(d.name));
            }
        }
        for (const auto& d : p.policies) {
            if (d.absent) {
                check(d.where, remove_policy(d.name));
            }
        }
        for (auto it = p.groups.rbegin(); it != p.groups.rend(); ++it) {
            if (it->absent && state().groups.count(it->name) != 0) {
                check(it->where,
                      txn_.delete_thing_group(it->name),
                      "deleted thing group " + in_quotes(it->name));
            }
        }
        for (const auto& d : p.types) {
            if (d.absent && state().thing_types.count(d.name) != 0) {
                check(d.where,
                      txn_.delete_thing_type(d.name),
                      "deleted thing type " + in_quotes(d.name));
            }
        }
        for (const auto& d : p.cas) {
            if (d.absent) {
                check(d.where, remove_ca(d.id));
            }
        }

        for (const auto& d : p.cas) {
            if (!d.absent) {
                check(d.where, ensure(d));
            }
        }
        for (const auto& d : p.types) {
            if (!d.absent && state().thing_types.count(d.name) == 0) {
                check(d.where,
                      txn_.create_thing_type(d.name, d.description),
                      "created thing type " + in_quotes(d.name));
            }
        }
        std::set<std::string, std::less<>> visiting;
        for (const auto& d : p.groups) {
            if (!d.absent) {
                check(d.where, ensure_group(p, d, visiting));
            }
        }
        for (const auto& d : p.policies) {
            if (!d.absent) {
                check(d.where, ensure(d));
            }
        }
        for (const auto& d : p.groups) {
            for (const auto& name : d.policies) {
                if (!d.absent) {
                    check(d.where, attach_group_policy(d.name, name));
                }
            }
        }
        for (const auto& d : p.things) {
            if (!d.absent) {
                check(d.where, ensure(d));
            }
        }
        for (const auto& d : p.certificates) {
            if (!d.absent) {
                check(d.where, ensure(d));
            }
        }
        return {};
    }

    /// How check() leaves run() with an error (caught in apply_registry_text).
    struct failure {
        registry_error error;
    };

private:
    const registry_state& state() const { return txn_.state(); }

    /// Throws the error, prefixed with the entry, out of run(); records `change` on success.
    void check(const std::string& where, registry_result<void> r, std::string change = {}) {
        if (!r) {
            throw failure{registry_error{r.error().code, where + ": " + r.error().message}};
        }
        if (!change.empty()) {
            report_.changes.push_back(std::move(change));
        }
    }

    void note(std::string change) { report_.changes.push_back(std::move(change)); }

    /// Detaches every attachment of `kind` naming `name` as its first part (`as_first`) or as
    /// its second part.
    registry_result<void> detach_all(attachment_kind kind, const std::string& name, bool as_first) {
        std::vector<std::pair<std::string, std::string>> pairs;
        for (const auto* a :
             as_first ? state().attachments_of(kind, name) : state().attachments_to(kind, name)) {
            pairs.emplace_back(a->first, a->second);
        }
        for (const auto& [first, second] : pairs) {
            registry_result<void> r;
            switch (kind) {
            case attachment_kind::certificate_policy:
                r = txn_.detach_policy_from_certificate(second, first);
                break;
            case attachment_kind::group_policy:
                r = txn_.detach_policy_from_group(second, first);
                break;
            case attachment_kind::certificate_thing:
                r = txn_.detach_thing_principal(second, first);
                break;
            case attachment_kind::thing_group:
                r = txn_.remove_thing_from_group(first, second);
                break;
            }
            if (!r) {
                return r;
            }
        }
        return {};
    }

    registry_result<void> remove_certificate(const std::string& id) {
        const auto* c = find_entry(state().certificates, id);
        if (c == nullptr) {
            return {};
        }
        if (auto r = detach_all(attachment_kind::certificate_policy, id, true); !r) {
            return r;
        }
        if (auto r = detach_all(attachment_kind::certificate_thing, id, true); !r) {
            return r;
        }
        if (c->status == certificate_status::active) {
            if (auto r = txn_.update_certificate(id, certificate_status::inactive); !r) {
                return r;
            }
        }
        if (auto r = txn_.delete_certificate(id); !r) {
            return r;
        }
        note("deleted certificate " + id);
        return {};
    }

    registry_result<void> remove_thing(const std::string& name) {
        if (state().things.count(name) == 0) {
            return {};
        }
        if (auto r = detach_all(attachment_kind::certificate_thing, name, false); !r) {
            return r;
        }
        if (auto r = txn_.delete_thing(name); !r) {
            return r;
        }
        note("deleted thing " + in_quotes(name));
        return {};
    }

    registry_result<void> remove_policy(const std::string& name) {
        const auto* p = find_entry(state().policies, name);
        if (p == nullptr) {
            return {};
        }
        for (auto kind : {attachment_kind::certificate_policy, attachment_kind::group_policy}) {
            if (auto r = detach_all(kind, name, false); !r) {
                return r;
            }
        }
        std::vector<std::uint32_t> others;
        for (const auto& [id, v] : p->versions) {
            if (id != p->default_version) {
                others.push_back(id);
            }
        }
        for (auto id : others) {
            if (auto r = txn_.delete_policy_version(name, id); !r) {
                return r;
            }
        }
        if (auto r = txn_.delete_policy(name); !r) {
            return r;
        }
        note("deleted policy " + in_quotes(name));
        return {};
    }

    registry_result<void> remove_ca(const std::string& id) {
        const auto* ca = find_entry(state().cas, id);
        if (ca == nullptr) {
            return {};
        }
        if (ca->status == ca_status::active) {
            if (auto r = txn_.update_ca(id, ca_status::inactive, std::nullopt, std::nullopt); !r) {
                return r;
            }
        }
        if (auto r = txn_.delete_ca(id); !r) {
            return r;
        }
        note("deleted CA certificate " + id);
        return {};
    }

    registry_result<void> ensure(const ca_decl& d) {
        const auto* ca = find_entry(state().cas, d.id);
        if (ca == nullptr) {
            auto r = txn_.register_ca(
                    d.pem,
                    d.status.value_or(ca_status::active),
                    d.auto_registration.value_or(false),
                    d.crl_file.value_or(""));
            if (!r) {
                return r.error();
            }
            note("registered CA certificate " + d.id);
            return {};
        }
        auto before = *ca;
        if (auto r = txn_.update_ca(d.id, d.status, d.auto_registration, d.crl_file); !r) {
            return r;
        }
        if (!(before == *find_entry(state().cas, d.id))) {
            note("updated CA certificate " + d.id);
        }
        return {};
    }

    registry_result<void>
    ensure_group(const plan& p, const group_decl& d, std::set<std::string, std::less<>>& visiting) {
        if (state().groups.count(d.name) != 0) {
            const auto& g = state().groups.find(d.name)->second;
            if (g.parent != d.parent) {
                return make_registry_error(
                        registry_errc::invalid_request,
                        "field \"parent\": thing group " + in_quotes(d.name) + " has parent " +
                                in_quotes(g.parent) + "; a group's parent cannot change");
            }
            return {};
        }
        if (!visiting.insert(d.name).second) {
            return make_registry_error(
                    registry_errc::invalid_request,
                    "field \"parent\": the groups' parents form a cycle");
        }
        // A parent declared later in the file is created first.
        if (!d.parent.empty() && state().groups.count(d.parent) == 0) {
            for (const auto& other : p.groups) {
                if (other.name == d.parent && !other.absent) {
                    check(other.where, ensure_group(p, other, visiting));
                }
            }
        }
        if (auto r = txn_.create_thing_group(d.name, d.parent, d.description); !r) {
            return r;
        }
        note("created thing group " + in_quotes(d.name));
        return {};
    }

    registry_result<void> ensure(const policy_decl& d) {
        const auto* p = find_entry(state().policies, d.name);
        if (p == nullptr) {
            if (auto r = txn_.create_policy(d.name, d.document); !r) {
                return r;
            }
            note("created policy " + in_quotes(d.name));
            return {};
        }
        if (same_document(p->default_document().document, d.document)) {
            return {};
        }
        // A new default version; at the limit, the oldest other version makes room.
        if (p->versions.size() >= max_policy_versions) {
            for (const auto& [id, v] : p->versions) {
                if (id != p->default_version) {
                    auto oldest = id;
                    if (auto r = txn_.delete_policy_version(d.name, oldest); !r) {
                        return r;
                    }
                    break;
                }
            }
        }
        auto version = txn_.create_policy_version(d.name, d.document, true);
        if (!version) {
            return version.error();
        }
        note("created policy " + in_quotes(d.name) + " version " + std::to_string(*version) +
             " (default)");
        return {};
    }

    static bool same_document(std::string_view a, std::string_view b) {
        boost::system::error_code ea;
        boost::system::error_code eb;
        auto va = json::parse(a, ea);
        auto vb = json::parse(b, eb);
        return !ea && !eb && va == vb;
    }

    registry_result<void> attach_group_policy(const std::string& group, const std::string& policy) {
        if (state().find_attachment(attachment_kind::group_policy, group, policy) != nullptr) {
            return {};
        }
        if (auto r = txn_.attach_policy_to_group(policy, group); !r) {
            return r;
        }
        note("attached policy " + in_quotes(policy) + " to thing group " + in_quotes(group));
        return {};
    }

    registry_result<void> ensure(const thing_decl& d) {
        const auto* t = find_entry(state().things, d.name);
        if (t == nullptr) {
            if (auto r = txn_.create_thing(
                        d.name, d.type.value_or(""), d.attributes.value_or(attribute_map{}));
                !r) {
                return r;
            }
            note("created thing " + in_quotes(d.name));
        } else {
            auto version = t->version;
            if (auto r = txn_.update_thing(d.name, d.type, d.attributes); !r) {
                return r;
            }
            if (find_entry(state().things, d.name)->version != version) {
                note("updated thing " + in_quotes(d.name));
            }
        }
        for (const auto& group : d.groups) {
            if (state().find_attachment(attachment_kind::thing_group, d.name, group) != nullptr) {
                continue;
            }
            if (auto r = txn_.add_thing_to_group(d.name, group); !r) {
                return r;
            }
            note("added thing " + in_quotes(d.name) + " to group " + in_quotes(group));
        }
        return {};
    }

    registry_result<void> ensure(const certificate_decl& d) {
        const auto* c = find_entry(state().certificates, d.id);
        if (c == nullptr) {
            auto r =
                    txn_.register_certificate(d.pem, d.status.value_or(certificate_status::active));
            if (!r) {
                return r.error();
            }
            note("registered certificate " + d.id);
        } else if (d.status && c->status != *d.status) {
            if (auto r = txn_.update_certificate(d.id, *d.status); !r) {
                return r;
            }
            note("certificate " + d.id + " status " + std::string(to_string(*d.status)));
        }
        if (!d.thing.empty()) {
            const auto* a =
                    state().find_attachment(attachment_kind::certificate_thing, d.id, d.thing);
            if (a == nullptr || a->exclusive != d.exclusive) {
                if (auto r = txn_.attach_thing_principal(d.thing, d.id, d.exclusive); !r) {
                    return r;
                }
                note("attached certificate " + d.id + " to thing " + in_quotes(d.thing) +
                     (d.exclusive ? " (exclusive)" : ""));
            }
        }
        for (const auto& policy : d.policies) {
            if (state().find_attachment(attachment_kind::certificate_policy, d.id, policy) !=
                nullptr) {
                continue;
            }
            if (auto r = txn_.attach_policy_to_certificate(policy, d.id); !r) {
                return r;
            }
            note("attached policy " + in_quotes(policy) + " to certificate " + d.id);
        }
        return {};
    }

    registry_txn& txn_;
    registry_file_report& report_;
};

} // namespace

registry_result<registry_file_report>
apply_registry_text(registry& reg, std::string_view text, const fs::path& origin) {
    plan p;
    try {
        p = parser(origin).parse(text);
    } catch (const json_field_error& e) {
        return make_registry_error(registry_errc::invalid_request, e.what());
    }
    return reg.update([&](registry_txn& txn) -> registry_result<registry_file_report> {
        registry_file_report report;
        try {
            reconciler(txn, report).run(p);
        } catch (const reconciler::failure& f) {
            return f.error;
        }
        return report;
    });
}

registry_result<registry_file_report> apply_registry_file(registry& reg, const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_registry_error(
                registry_errc::invalid_request,
                "registry file " + path.string() + ": cannot open it");
    }
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return apply_registry_text(reg, text, path);
}

} // namespace thinggate::auth
