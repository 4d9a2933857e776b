// thinggatectl registry: the identity registry of an offline data dir — CA and device
// certificates, things, thing types and groups, policies and attachments (docs/security.md).
// Every command opens the data dir through persist's RocksDB store (refused while thinggate
// holds it), loads the registry, and applies one transaction with AWS IoT's rules.

#include "auth/registry.hpp"

#include <array>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include "auth/registry_file.hpp"
#include "tools/thinggatectl/command.hpp"
#include "tools/thinggatectl/data_dir.hpp"
#include "tools/thinggatectl/options.hpp"
#include "tools/thinggatectl/registry_session.hpp"

namespace thinggate::ctl {

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;
namespace json = boost::json;
using namespace thinggate::auth;

// --- options: one catalogue, each command names the ones it takes ---

enum class option_kind {
    text,
    flag,
    multi,
};

struct option_spec {
    std::string_view name;
    option_kind kind;
    const char* help;
};

constexpr std::array<option_spec, 22> catalogue = {{
        {"pem-file", option_kind::text, "a PEM certificate file"},
        {"id", option_kind::text, "a certificate id (64 lowercase hex digits)"},
        {"status",
         option_kind::text,
         "ACTIVE | INACTIVE (CAs); ACTIVE | INACTIVE | REVOKED | PENDING_ACTIVATION | "
         "PENDING_TRANSFER (certificates)"},
        {"set-as-active", option_kind::flag, "register as ACTIVE (same as --status ACTIVE)"},
        {"auto-registration", option_kind::text, "on | off: just-in-time registration"},
        {"crl-file", option_kind::text, "a CRL file of the CA (PEM or DER; \"\" = none)"},
        {"name", option_kind::text, "the name"},
        {"type", option_kind::text, "thing type name"},
        {"attribute", option_kind::multi, "NAME=VALUE (repeatable)"},
        {"description", option_kind::text, "a description"},
        {"parent", option_kind::text, "the parent thing group"},
        {"thing", option_kind::text, "a thing name"},
        {"group", option_kind::text, "a thing group name"},
        {"policy", option_kind::text, "a policy name"},
        {"certificate", option_kind::text, "a certificate id"},
        {"document", option_kind::text, "the policy document (JSON text)"},
        {"document-file", option_kind::text, "a file holding the policy document"},
        {"set-as-default", option_kind::flag, "make the new version the default"},
        {"version", option_kind::text, "a policy version id"},
        {"exclusive", option_kind::flag, "the certificate may be attached to this thing only"},
        {"create", option_kind::flag, "create the data dir when it does not exist"},
        {"file", option_kind::text, "the registry file (JSON)"},
}};

const option_spec& spec(std::string_view name) {
    for (const auto& s : catalogue) {
        if (s.name == name) {
            return s;
        }
    }
    throw std::logic_error("thinggatectl registry: no option " + std::string(name));
}

struct command {
    std::string_view name;
    std::string_view summary;
    std::vector<std::string_view> options;
    bool mutates;
    int (*run)(const parsed&, registry&);
};

// --- helpers ---

std::string opt(const parsed& p, const char* name) {
    return p.vm.count(name) != 0 ? get<std::string>(p, name) : std::string();
}

bool flag(const parsed& p, const char* name) {
    return p.vm.count(name) != 0;
}

/// The value of a registry result, or std::runtime_error "<AWS exception>: <message>".
template <typename T>
T value_of(registry_result<T> r) {
    if (!r) {
        auto e = static_cast<registry_errc>(r.error().code.value());
        throw std::runtime_error(std::string(aws_error_name(e)) + ": " + r.error().message);
    }
    if constexpr (!std::is_void_v<T>) {
        return std::move(*r);
    }
}

std::string read_file(const std::string& path, const char* option) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("--" + std::string(option) + ": cannot read " + path);
    }
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

ca_status ca_status_of(const parsed& p) {
    auto s = parse_ca_status(get<std::string>(p, "status"));
    if (!s) {
        throw usage_error(p.command, "--status must be ACTIVE or INACTIVE");
    }
    return *s;
}

certificate_status certificate_status_of(const parsed& p) {
    auto s = parse_certificate_status(required_string(p, "status"));
    if (!s) {
        throw usage_error(
                p.command,
                "--status must be ACTIVE, INACTIVE, REVOKED, PENDING_ACTIVATION or "
                "PENDING_TRANSFER");
    }
    return *s;
}

std::optional<bool> on_off(const parsed& p, const char* name) {
    if (p.vm.count(name) == 0) {
        return std::nullopt;
    }
    const auto& v = get<std::string>(p, name);
    if (v != "on" && v != "off") {
        throw usage_error(p.command, "--" + std::string(name) + " must be on or off");
    }
    return v == "on";
}

std::uint32_t version_of(const parsed& p) {
    auto text = required_string(p, "version");
    try {
        std::size_t used = 0;
        auto v = std::stoul(text, &used);
        if (used == text.size() && v >= 1 && v <= UINT32_MAX) {
            return static_cast<std::uint32_t>(v);
        }
    } catch (const std::exception&) {
    }
    throw usage_error(p.command, "--version must be a policy version id (1, 2, ...)");
}

std::string document_of(const parsed& p) {
    bool text = p.vm.count("document") != 0;
    bool file = p.vm.count("document-file") != 0;
    if (text == file) {
        throw usage_error(p.command, "give exactly one of --document and --document-file");
    }
    return text ? get<std::string>(p, "document")
                : read_file(get<std::string>(p, "document-file"), "document-file");
}

attribute_map attributes_of(const parsed& p) {
    attribute_map out;
    for (const auto& a : strings(p, "attribute")) {
        auto eq = a.find('=');
        if (eq == std::string::npos || eq == 0) {
            throw usage_error(p.command, "--attribute '" + a + "' must be NAME=VALUE");
        }
        out.insert_or_assign(a.substr(0, eq), a.substr(eq + 1));
    }
    return out;
}

void print(const json::value& v) {
    pretty(std::cout, v);
    std::cout << '\n';
}

json::array names(const std::vector<std::string>& list) {
    json::array out;
    for (const auto& s : list) {
        out.emplace_back(s);
    }
    return out;
}

// --- descriptions (AWS's field names) ---

json::object describe(const ca_certificate& ca, bool with_pem) {
    json::object o;
    o["certificateId"] = ca.id;
    o["status"] = to_string(ca.status);
    o["autoRegistrationStatus"] = ca.auto_registration ? "ENABLE" : "DISABLE";
    o["crlFile"] = ca.crl_file;
    o["creationDate"] = format_time(ca.created_at);
    if (with_pem) {
        o["certificatePem"] = ca.pem;
    }
    return o;
}

json::object describe(const registry_snapshot& snap, const certificate& c, bool with_pem) {
    json::object o;
    o["certificateId"] = c.id;
    o["status"] = to_string(c.status);
    o["caCertificateId"] = c.ca_id;
    o["validity"] = json::object{
            {"notBefore", format_time(c.not_before)}, {"notAfter", format_time(c.not_after)}};
    o["creationDate"] = format_time(c.created_at);
    o["policies"] = names(snap.certificate_policies(c.id));
    json::array things;
    for (const auto* a : snap.certificate_things(c.id)) {
        things.push_back(json::object{{"thingName", a->second}, {"exclusive", a->exclusive}});
    }
    o["things"] = std::move(things);
    if (with_pem) {
        o["certificatePem"] = c.pem;
    }
    return o;
}

json::object describe(const registry_snapshot& snap, const thing& t) {
    json::object o;
    o["thingName"] = t.name;
    o["thingTypeName"] = t.type_name;
    json::object attributes;
    for (const auto& [k, v] : t.attributes) {
        attributes[k] = v;
    }
    o["attributes"] = std::move(attributes);
    o["version"] = t.version;
    o["thingGroups"] = names(snap.thing_groups(t.name));
    json::array principals;
    for (const auto* a : snap.state().attachments_to(attachment_kind::certificate_thing, t.name)) {
        principals.push_back(
                json::object{{"certificateId", a->first}, {"exclusive", a->exclusive}});
    }
    o["principals"] = std::move(principals);
    return o;
}

json::object describe(const registry_snapshot& snap, const thing_group& g) {
    json::object o;
    o["thingGroupName"] = g.name;
    o["parentGroupName"] = g.parent;
    o["description"] = g.description;
    o["policies"] = names(snap.group_policies(g.name));
    json::array things;
    for (const auto* a : snap.state().attachments_to(attachment_kind::thing_group, g.name)) {
        things.emplace_back(a->first);
    }
    o["things"] = std::move(things);
    return o;
}

json::object describe(const registry_snapshot& snap, const named_policy& p, bool with_document) {
    json::object o;
    o["policyName"] = p.name;
    o["defaultVersionId"] = std::to_string(p.default_version);
    if (with_document) {
        o["policyDocument"] = p.default_document().document;
    }
    json::array versions;
    for (const auto& [id, v] : p.versions) {
        versions.push_back(json::object{
                {"versionId", std::to_string(id)},
                {"isDefaultVersion", id == p.default_version},
                {"createDate", format_time(v.created_at)}});
    }
    o["versions"] = std::move(versions);
    json::array targets;
    for (auto kind : {attachment_kind::certificate_policy, attachment_kind::group_policy}) {
        for (const auto* a : snap.state().attachments_to(kind, p.name)) {
            targets.push_back(json::object{
                    {kind == attachment_kind::certificate_policy ? "certificateId"
                                                                 : "thingGroupName",
                     a->first}});
        }
    }
    o["targets"] = std::move(targets);
    return o;
}

template <typename V>
const V& must_find(const by_name<V>& map, const std::string& key, const char* kind) {
    const auto* v = find_entry(map, key);
    if (v == nullptr) {
        throw std::runtime_error(
                "ResourceNotFoundException: " + std::string(kind) + " \"" + key +
                "\" does not exist");
    }
    return *v;
}

// --- commands ---

int register_ca(const parsed& p, registry& reg) {
    auto pem = read_file(required_string(p, "pem-file"), "pem-file");
    auto status = p.vm.count("status") != 0 ? ca_status_of(p) : ca_status::active;
    auto crl = opt(p, "crl-file");
    if (!crl.empty()) {
        crl = fs::absolute(crl).lexically_normal().string();
    }
    auto id = value_of(reg.update([&](registry_txn& t) {
        return t.register_ca(pem, status, on_off(p, "auto-registration").value_or(false), crl);
    }));
    std::cout << id << '\n';
    return exit_ok;
}

int update_ca(const parsed& p, registry& reg) {
    auto id = required_string(p, "id");
    std::optional<ca_status> status;
    if (p.vm.count("status") != 0) {
        status = ca_status_of(p);
    }
    std::optional<std::string> crl;
    if (p.vm.count("crl-file") != 0) {
        crl = opt(p, "crl-file");
        if (!crl->empty()) {
            crl = fs::absolute(*crl).lexically_normal().string();
        }
    }
    value_of(reg.update([&](registry_txn& t) {
        return t.update_ca(id, status, on_off(p, "auto-registration"), crl);
    }));
    return exit_ok;
}

int delete_ca(const parsed& p, registry& reg) {
    auto id = required_string(p, "id");
    value_of(reg.update([&](registry_txn& t) { return t.delete_ca(id); }));
    return exit_ok;
}

int register_certificate(const parsed& p, registry& reg) {
    auto pem = read_file(required_string(p, "pem-file"), "pem-file");
    auto status = certificate_status::inactive; // AWS's default
    if (p.vm.count("status") != 0) {
        status = certificate_status_of(p);
        if (flag(p, "set-as-active") && status != certificate_status::active) {
            throw usage_error(p.command, "--set-as-active contradicts --status");
        }
    }
    if (flag(p, "set-as-active")) {
        status = certificate_status::active;
    }
    auto id = value_of(
            reg.update([&](registry_txn& t) { return t.register_certificate(pem, status); }));
    std::cout << id << '\n';
    return exit_ok;
}

int update_certificate(const parsed& p, registry& reg) {
    auto id = required_string(p, "id");
    auto status = certificate_status_of(p);
    value_of(reg.update([&](registry_txn& t) { return t.update_certificate(id, status); }));
    return exit_ok;
}

int delete_certificate(const parsed& p, registry& reg) {
    auto id = required_string(p, "id");
    value_of(reg.update([&](registry_txn& t) { return t.delete_certificate(id); }));
    return exit_ok;
}

int create_thing(const parsed& p, registry& reg) {
    auto name = required_string(p, "name");
    auto attributes = attributes_of(p);
    value_of(reg.update(
            [&](registry_txn& t) { return t.create_thing(name, opt(p, "type"), attributes); }));
    return exit_ok;
}

int update_thing(const parsed& p, registry& reg) {
    auto name = required_string(p, "name");
    std::optional<std::string> type;
    if (p.vm.count("type") != 0) {
        type = opt(p, "type");
    }
    std::optional<attribute_map> attributes;
    if (p.vm.count("attribute") != 0) {
        attributes = attributes_of(p);
    }
    value_of(reg.update([&](registry_txn& t) { return t.update_thing(name, type, attributes); }));
    return exit_ok;
}

int delete_thing(const parsed& p, registry& reg) {
    auto name = required_string(p, "name");
    value_of(reg.update([&](registry_txn& t) { return t.delete_thing(name); }));
    return exit_ok;
}

int create_thing_type(const parsed& p, registry& reg) {
    auto name = required_string(p, "name");
    value_of(reg.update(
            [&](registry_txn& t) { return t.create_thing_type(name, opt(p, "description")); }));
    return exit_ok;
}

int delete_thing_type(const parsed& p, registry& reg) {
    auto name = required_string(p, "name");
    value_of(reg.update([&](registry_txn& t) { return t.delete_thing_type(name); }));
    return exit_ok;
}

int create_thing_group(const parsed& p, registry& reg) {
    auto name = required_string(p, "name");
    value_of(reg.update([&](registry_txn& t) {
        return t.create_thing_group(name, opt(p, "parent"), opt(p, "description"));
    }));
    return exit_ok;
}

int delete_thing_group(const parsed& p, registry& reg) {
    auto name = required_string(p, "name");
    value_of(reg.update([&](registry_txn& t) { return t.delete_thing_group(name); }));
    return exit_ok;
}

int add_thing_to_group(const parsed& p, registry& reg) {
    auto thing = required_string(p, "thing");
    auto group = required_string(p, "group");
    value_of(reg.update([&](registry_txn& t) { return t.add_thing_to_group(thing, group); }));
    return exit_ok;
}

int remove_thing_from_group(const parsed& p, registry& reg) {
    auto thing = required_string(p, "thing");
    auto group = required_string(p, "group");
    value_of(reg.update([&](registry_txn& t) { return t.remove_thing_from_group(thing, group); }));
    return exit_ok;
}

int create_policy(const parsed& p, registry& reg) {
    auto name = required_string(p, "name");
    auto document = document_of(p);
    value_of(reg.update([&](registry_txn& t) { return t.create_policy(name, document); }));
    return exit_ok;
}

int create_policy_version(const parsed& p, registry& reg) {
    auto name = required_string(p, "name");
    auto document = document_of(p);
    auto id = value_of(reg.update([&](registry_txn& t) {
        return t.create_policy_version(name, document, flag(p, "set-as-default"));
    }));
    std::cout << id << '\n';
    return exit_ok;
}

int set_default_policy_version(const parsed& p, registry& reg) {
    auto name = required_string(p, "name");
    auto version = version_of(p);
    value_of(reg.update(
            [&](registry_txn& t) { return t.set_default_policy_version(name, version); }));
    return exit_ok;
}

int delete_policy_version(const parsed& p, registry& reg) {
    auto name = required_string(p, "name");
    auto version = version_of(p);
    value_of(reg.update([&](registry_txn& t) { return t.delete_policy_version(name, version); }));
    return exit_ok;
}

int delete_policy(const parsed& p, registry& reg) {
    auto name = required_string(p, "name");
    value_of(reg.update([&](registry_txn& t) { return t.delete_policy(name); }));
    return exit_ok;
}

/// attach-policy / detach-policy: exactly one of --certificate and --group.
int policy_target(const parsed& p, registry& reg, bool attach) {
    auto policy = required_string(p, "policy");
    bool cert = p.vm.count("certificate") != 0;
    bool group = p.vm.count("group") != 0;
    if (cert == group) {
        throw usage_error(p.command, "give exactly one of --certificate and --group");
    }
    auto target = cert ? required_string(p, "certificate") : required_string(p, "group");
    value_of(reg.update([&](registry_txn& t) {
        if (cert) {
            return attach ? t.attach_policy_to_certificate(policy, target)
                          : t.detach_policy_from_certificate(policy, target);
        }
        return attach ? t.attach_policy_to_group(policy, target)
                      : t.detach_policy_from_group(policy, target);
    }));
    return exit_ok;
}

int attach_policy(const parsed& p, registry& reg) {
    return policy_target(p, reg, true);
}

int detach_policy(const parsed& p, registry& reg) {
    return policy_target(p, reg, false);
}

int attach_thing_principal(const parsed& p, registry& reg) {
    auto thing = required_string(p, "thing");
    auto cert = required_string(p, "certificate");
    value_of(reg.update([&](registry_txn& t) {
        return t.attach_thing_principal(thing, cert, flag(p, "exclusive"));
    }));
    return exit_ok;
}

int detach_thing_principal(const parsed& p, registry& reg) {
    auto thing = required_string(p, "thing");
    auto cert = required_string(p, "certificate");
    value_of(reg.update([&](registry_txn& t) { return t.detach_thing_principal(thing, cert); }));
    return exit_ok;
}

int apply(const parsed& p, registry& reg) {
    auto file = required_string(p, "file");
    auto report = value_of(apply_registry_file(reg, file));
    for (const auto& line : report.changes) {
        std::cout << line << '\n';
    }
    std::cout << file << ": " << report.changes.size() << " change(s)\n";
    return exit_ok;
}

int list_cas(const parsed&, registry& reg) {
    json::array out;
    for (const auto& [id, ca] : reg.snapshot()->state().cas) {
        out.push_back(describe(ca, false));
    }
    print(json::object{{"certificates", std::move(out)}});
    return exit_ok;
}

int list_certificates(const parsed& p, registry& reg) {
    auto snap = reg.snapshot();
    auto ca = opt(p, "id");
    json::array out;
    for (const auto& [id, c] : snap->state().certificates) {
        if (ca.empty() || c.ca_id == ca) {
            out.push_back(describe(*snap, c, false));
        }
    }
    print(json::object{{"certificates", std::move(out)}});
    return exit_ok;
}

int list_things(const parsed& p, registry& reg) {
    auto snap = reg.snapshot();
    auto type = opt(p, "type");
    auto group = opt(p, "group");
    json::array out;
    for (const auto& [name, t] : snap->state().things) {
        if ((type.empty() || t.type_name == type) &&
            (group.empty() ||
             snap->state().find_attachment(attachment_kind::thing_group, name, group))) {
            out.push_back(describe(*snap, t));
        }
    }
    print(json::object{{"things", std::move(out)}});
    return exit_ok;
}

int list_thing_types(const parsed&, registry& reg) {
    json::array out;
    for (const auto& [name, t] : reg.snapshot()->state().thing_types) {
        out.push_back(json::object{{"thingTypeName", name}, {"description", t.description}});
    }
    print(json::object{{"thingTypes", std::move(out)}});
    return exit_ok;
}

int list_thing_groups(const parsed&, registry& reg) {
    auto snap = reg.snapshot();
    json::array out;
    for (const auto& [name, g] : snap->state().groups) {
        out.push_back(describe(*snap, g));
    }
    print(json::object{{"thingGroups", std::move(out)}});
    return exit_ok;
}

int list_policies(const parsed&, registry& reg) {
    auto snap = reg.snapshot();
    json::array out;
    for (const auto& [name, pol] : snap->state().policies) {
        out.push_back(describe(*snap, pol, false));
    }
    print(json::object{{"policies", std::move(out)}});
    return exit_ok;
}

int describe_ca(const parsed& p, registry& reg) {
    print(describe(
            must_find(reg.snapshot()->state().cas, required_string(p, "id"), "CA certificate"),
            true));
    return exit_ok;
}

int describe_certificate(const parsed& p, registry& reg) {
    auto snap = reg.snapshot();
    print(describe(
            *snap,
            must_find(snap->state().certificates, required_string(p, "id"), "certificate"),
            true));
    return exit_ok;
}

int describe_thing(const parsed& p, registry& reg) {
    auto snap = reg.snapshot();
    print(describe(*snap, must_find(snap->state().things, required_string(p, "name"), "thing")));
    return exit_ok;
}

int describe_thing_group(const parsed& p, registry& reg) {
    auto snap = reg.snapshot();
    print(describe(
            *snap, must_find(snap->state().groups, required_string(p, "name"), "thing group")));
    return exit_ok;
}

int describe_policy(const parsed& p, registry& reg) {
    auto snap = reg.snapshot();
    const auto& pol = must_find(snap->state().policies, required_string(p, "name"), "policy");
    if (p.vm.count("version") == 0) {
        print(describe(*snap, pol, true));
        return exit_ok;
    }
    auto version = version_of(p);
    auto it = pol.versions.find(version);
    if (it == pol.versions.end()) {
        throw std::runtime_error(
                "ResourceNotFoundException: policy \"" + pol.name + "\" has no version " +
                std::to_string(version));
    }
    print(json::object{
            {"policyName", pol.name},
            {"policyVersionId", std::to_string(version)},
            {"isDefaultVersion", version == pol.default_version},
            {"createDate", format_time(it->second.created_at)},
            {"policyDocument", it->second.document}});
    return exit_ok;
}

const std::vector<command>& commands() {
    static const std::vector<command> list = {
            {"register-ca",
             "register a CA certificate",
             {"pem-file", "status", "auto-registration", "crl-file"},
             true,
             &register_ca},
            {"update-ca",
             "change a CA's status, auto-registration or CRL file",
             {"id", "status", "auto-registration", "crl-file"},
             true,
             &update_ca},
            {"delete-ca",
             "delete an INACTIVE CA without registered certificates",
             {"id"},
             true,
             &delete_ca},
            {"register-certificate",
             "register a device certificate (default INACTIVE)",
             {"pem-file", "status", "set-as-active"},
             true,
             &register_certificate},
            {"update-certificate",
             "change a certificate's status (REVOKED is final)",
             {"id", "status"},
             true,
             &update_certificate},
            {"delete-certificate",
             "delete a certificate that is not ACTIVE nor attached",
             {"id"},
             true,
             &delete_certificate},
            {"create-thing", "create a thing", {"name", "type", "attribute"}, true, &create_thing},
            {"update-thing",
             "replace a thing's type or attributes",
             {"name", "type", "attribute"},
             true,
             &update_thing},
            {"delete-thing", "delete a thing without principals", {"name"}, true, &delete_thing},
            {"create-thing-type",
             "create a thing type",
             {"name", "description"},
             true,
             &create_thing_type},
            {"delete-thing-type",
             "delete an unused thing type",
             {"name"},
             true,
             &delete_thing_type},
            {"create-thing-group",
             "create a static thing group",
             {"name", "parent", "description"},
             true,
             &create_thing_group},
            {"delete-thing-group",
             "delete a thing group without child groups",
             {"name"},
             true,
             &delete_thing_group},
            {"add-thing-to-group",
             "add a thing to a thing group",
             {"thing", "group"},
             true,
             &add_thing_to_group},
            {"remove-thing-from-group",
             "remove a thing from a thing group",
             {"thing", "group"},
             true,
             &remove_thing_from_group},
            {"create-policy",
             "create a policy (version 1)",
             {"name", "document", "document-file"},
             true,
             &create_policy},
            {"create-policy-version",
             "add a policy version (at most 5)",
             {"name", "document", "document-file", "set-as-default"},
             true,
             &create_policy_version},
            {"set-default-policy-version",
             "make a version the default",
             {"name", "version"},
             true,
             &set_default_policy_version},
            {"delete-policy-version",
             "delete a version that is not the default",
             {"name", "version"},
             true,
             &delete_policy_version},
            {"delete-policy",
             "delete a policy that is not attached",
             {"name"},
             true,
             &delete_policy},
            {"attach-policy",
             "attach a policy to a certificate or a thing group",
             {"policy", "certificate", "group"},
             true,
             &attach_policy},
            {"detach-policy",
             "detach a policy from a certificate or a thing group",
             {"policy", "certificate", "group"},
             true,
             &detach_policy},
            {"attach-thing-principal",
             "attach a certificate to a thing",
             {"thing", "certificate", "exclusive"},
             true,
             &attach_thing_principal},
            {"detach-thing-principal",
             "detach a certificate from a thing",
             {"thing", "certificate"},
             true,
             &detach_thing_principal},
            {"apply", "apply a registry file (JSON; idempotent)", {"file"}, true, &apply},
            {"list-cas", "list the CA certificates", {}, false, &list_cas},
            {"list-certificates",
             "list the device certificates (--id CA: of one CA)",
             {"id"},
             false,
             &list_certificates},
            {"list-things",
             "list the things (--type, --group to filter)",
             {"type", "group"},
             false,
             &list_things},
            {"list-thing-types", "list the thing types", {}, false, &list_thing_types},
            {"list-thing-groups", "list the thing groups", {}, false, &list_thing_groups},
            {"list-policies", "list the policies", {}, false, &list_policies},
            {"describe-ca", "a CA certificate", {"id"}, false, &describe_ca},
            {"describe-certificate",
             "a device certificate with its attachments",
             {"id"},
             false,
             &describe_certificate},
            {"describe-thing",
             "a thing with its groups and principals",
             {"name"},
             false,
             &describe_thing},
            {"describe-thing-group",
             "a thing group with its policies and things",
             {"name"},
             false,
             &describe_thing_group},
            {"describe-policy",
             "a policy (--version: one version's document)",
             {"name", "version"},
             false,
             &describe_policy},
    };
    return list;
}

void print_registry_usage(std::ostream& out) {
    out << "usage: thinggatectl registry <command> --data-dir DIR [options]\n\n"
           "The identity registry of a data dir: CAs, certificates, things, groups, policies,\n"
           "attachments (docs/security.md). thinggate must not be running.\n\ncommands:\n";
    for (const auto& c : commands()) {
        out << "  " << c.name << std::string(28 - c.name.size(), ' ') << c.summary << '\n';
    }
    out << "\nRun 'thinggatectl registry <command> --help' for its options.\n";
}

int run_command(const command& c, const std::vector<std::string>& args) {
    std::string name = "registry " + std::string(c.name);
    po::options_description desc("thinggatectl " + name + " --data-dir DIR [options]");
    desc.add_options()("help,h", "this help")(
            "data-dir", po::value<std::string>(), "the data dir (thinggate must not be running)");
    auto options = c.options;
    if (c.mutates) {
        options.push_back("create");
    }
    for (auto o : options) {
        const auto& s = spec(o);
        std::string key(s.name);
        switch (s.kind) {
        case option_kind::text:
            desc.add_options()(key.c_str(), po::value<std::string>(), s.help);
            break;
        case option_kind::flag:
            desc.add_options()(key.c_str(), s.help);
            break;
        case option_kind::multi:
            desc.add_options()(key.c_str(), po::value<std::vector<std::string>>(), s.help);
            break;
        }
    }
    auto p = c.name == "apply" ? parse(name, args, desc, "file", 1) : parse(name, args, desc);
    if (p.help) {
        std::cout << c.summary << "\n\n" << desc;
        return exit_ok;
    }
    auto session =
            open_registry_session(required_string(p, "data-dir"), c.mutates && flag(p, "create"));
    return c.run(p, *session.reg);
}

} // namespace

int run_registry(const std::vector<std::string>& args) {
    if (args.empty()) {
        print_registry_usage(std::cerr);
        return exit_usage;
    }
    if (args.front() == "-h" || args.front() == "--help" || args.front() == "help") {
        print_registry_usage(std::cout);
        return exit_ok;
    }
    for (const auto& c : commands()) {
        if (args.front() == c.name) {
            quiet_logging();
            return run_command(c, std::vector<std::string>(args.begin() + 1, args.end()));
        }
    }
    throw usage_error("registry", "unknown command '" + args.front() + "'");
}

} // namespace thinggate::ctl
