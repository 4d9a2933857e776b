#include "auth/registry_model.hpp"

#include <array>
#include <charconv>
#include <chrono>
#include <set>
#include <stdexcept>
#include <utility>

#include <boost/json.hpp>

#include "auth/json_fields.hpp"

namespace thinggate::auth {

namespace json = boost::json;

namespace {

constexpr std::int64_t stored_format = 1;

constexpr std::array<std::pair<std::string_view, certificate_status>, 5> certificate_statuses = {{
        {"ACTIVE", certificate_status::active},
        {"INACTIVE", certificate_status::inactive},
        {"REVOKED", certificate_status::revoked},
        {"PENDING_ACTIVATION", certificate_status::pending_activation},
        {"PENDING_TRANSFER", certificate_status::pending_transfer},
}};

bool all_of(std::string_view s, bool (*ok)(char)) noexcept {
    for (char c : s) {
        if (!ok(c)) {
            return false;
        }
    }
    return true;
}

bool alnum(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool name_char(char c) noexcept {
    return alnum(c) || c == '_' || c == ':' || c == '-';
}

bool policy_char(char c) noexcept {
    return alnum(c) || c == '_' || c == '+' || c == '=' || c == ',' || c == '.' || c == '@' ||
           c == '-';
}

bool attribute_char(char c) noexcept {
    return alnum(c) || c == '_' || c == '.' || c == ',' || c == '@' || c == '/' || c == ':' ||
           c == '#' || c == '-';
}

// --- strict decoding ---

using decode_failure = json_field_error;

/// Holds the parsed object; a base listed before json_fields, so it is built first.
struct parsed_object {
    boost::json::object parsed;
};

/// A stored record's fields: json_fields over the parsed value, plus the format version and the
/// agreement of key and value.
class field_reader
    : private parsed_object
    , public json_fields {
public:
    field_reader(const std::string& what, std::string_view text)
        : parsed_object{json_fields::parse_object(what, text)}
        , json_fields(what, parsed) {
        if (integer("v") != stored_format) {
            fail("field \"v\": unknown format version");
        }
    }

    std::uint32_t positive32(std::string_view key) {
        auto n = integer(key);
        if (n < 1 || n > UINT32_MAX) {
            fail_field(key, "out of range");
        }
        return static_cast<std::uint32_t>(n);
    }

    registry_time time(std::string_view key) {
        return registry_time{std::chrono::milliseconds{integer(key)}};
    }

    /// The key the record is stored under must equal the name inside it.
    void same_key(std::string_view key, std::string_view stored_name, std::string_view field_name) {
        if (key != stored_name) {
            fail("field \"" + std::string(field_name) + "\" (\"" + std::string(stored_name) +
                 "\") differs from the key");
        }
    }
};

std::string what_of(std::string_view kind, std::string_view key) {
    return std::string(kind) + " \"" + std::string(key) + "\"";
}

template <typename F>
auto guarded(F&& f) -> registry_result<decltype(f())> {
    try {
        return f();
    } catch (const decode_failure& e) {
        return make_registry_error(registry_errc::corrupt, e.what());
    }
}

json::object header() {
    json::object o;
    o["v"] = stored_format;
    return o;
}

std::int64_t millis(registry_time t) {
    return t.time_since_epoch().count();
}

persist::blob_record blob(persist::blob_kind kind, std::string name, const json::object& o) {
    return {kind, std::move(name), json::serialize(o)};
}

} // namespace

std::string_view to_string(ca_status s) noexcept {
    return s == ca_status::active ? "ACTIVE" : "INACTIVE";
}

std::string_view to_string(certificate_status s) noexcept {
    for (const auto& [name, value] : certificate_statuses) {
        if (value == s) {
            return name;
        }
    }
    return "UNKNOWN";
}

std::optional<ca_status> parse_ca_status(std::string_view text) noexcept {
    if (text == "ACTIVE") {
        return ca_status::active;
    }
    if (text == "INACTIVE") {
        return ca_status::inactive;
    }
    return std::nullopt;
}

std::optional<certificate_status> parse_certificate_status(std::string_view text) noexcept {
    for (const auto& [name, value] : certificate_statuses) {
        if (name == text) {
            return value;
        }
    }
    return std::nullopt;
}

std::string_view to_string(attachment_kind k) noexcept {
    switch (k) {
    case attachment_kind::certificate_policy:
        return "certificate-policy";
    case attachment_kind::group_policy:
        return "group-policy";
    case attachment_kind::certificate_thing:
        return "certificate-thing";
    case attachment_kind::thing_group:
        return "thing-group";
    }
    return "unknown";
}

std::string attachment_prefix(attachment_kind kind, std::string_view first) {
    std::string key(to_string(kind));
    key += '/';
    key += first;
    key += '/';
    return key;
}

std::string attachment_key(attachment_kind kind, std::string_view first, std::string_view second) {
    auto key = attachment_prefix(kind, first);
    key += second;
    return key;
}

bool is_valid_certificate_id(std::string_view id) noexcept {
    return id.size() == 64 &&
           all_of(id, [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool is_valid_registry_name(std::string_view name) noexcept {
    return !name.empty() && name.size() <= 128 && all_of(name, name_char);
}

bool is_valid_policy_name(std::string_view name) noexcept {
    return !name.empty() && name.size() <= 128 && all_of(name, policy_char);
}

bool is_valid_attribute_name(std::string_view name) noexcept {
    return !name.empty() && name.size() <= 128 && all_of(name, attribute_char);
}

bool is_valid_attribute_value(std::string_view value) noexcept {
    return value.size() <= 800 && all_of(value, attribute_char);
}

// --- encoding ---

persist::blob_record to_blob(const ca_certificate& e) {
    auto o = header();
    o["id"] = e.id;
    o["pem"] = e.pem;
    o["status"] = to_string(e.status);
    o["auto_registration"] = e.auto_registration;
    o["crl_file"] = e.crl_file;
    o["created_at"] = millis(e.created_at);
    return blob(persist::blob_kind::ca_certificate, e.id, o);
}

persist::blob_record to_blob(const certificate& e) {
    auto o = header();
    o["id"] = e.id;
    o["pem"] = e.pem;
    o["status"] = to_string(e.status);
    o["ca_id"] = e.ca_id;
    o["not_before"] = millis(e.not_before);
    o["not_after"] = millis(e.not_after);
    o["created_at"] = millis(e.created_at);
    return blob(persist::blob_kind::certificate, e.id, o);
}

persist::blob_record to_blob(const thing& e) {
    auto o = header();
    o["name"] = e.name;
    o["type"] = e.type_name;
    json::object attributes;
    for (const auto& [k, v] : e.attributes) {
        attributes[k] = v;
    }
    o["attributes"] = std::move(attributes);
    o["version"] = e.version;
    return blob(persist::blob_kind::thing, e.name, o);
}

persist::blob_record to_blob(const thing_type& e) {
    auto o = header();
    o["name"] = e.name;
    o["description"] = e.description;
    return blob(persist::blob_kind::thing_type, e.name, o);
}

persist::blob_record to_blob(const thing_group& e) {
    auto o = header();
    o["name"] = e.name;
    o["parent"] = e.parent;
    o["description"] = e.description;
    return blob(persist::blob_kind::thing_group, e.name, o);
}

persist::blob_record to_blob(const named_policy& e) {
    auto o = header();
    o["name"] = e.name;
    o["default_version"] = e.default_version;
    o["next_version"] = e.next_version;
    o["created_at"] = millis(e.created_at);
    return blob(persist::blob_kind::policy, e.name, o);
}

persist::blob_record to_blob(std::string_view policy_name, const policy_version& v) {
    auto o = header();
    o["policy"] = policy_name;
    o["version_id"] = v.version_id;
    o["document"] = v.document;
    o["created_at"] = millis(v.created_at);
    return blob(
            persist::blob_kind::policy_version,
            std::string(policy_name) + '/' + std::to_string(v.version_id),
            o);
}

persist::blob_record to_blob(const attachment& e) {
    auto o = header();
    o["kind"] = to_string(e.kind);
    o["first"] = e.first;
    o["second"] = e.second;
    o["exclusive"] = e.exclusive;
    o["created_at"] = millis(e.created_at);
    return blob(persist::blob_kind::attachment, attachment_key(e.kind, e.first, e.second), o);
}

// --- decoding ---

registry_result<ca_certificate> decode_ca_certificate(const persist::blob_record& r) {
    return guarded([&] {
        field_reader f(what_of("CA certificate", r.name), r.value);
        ca_certificate e;
        e.id = f.string("id");
        f.same_key(r.name, e.id, "id");
        if (!is_valid_certificate_id(e.id)) {
            f.fail("field \"id\" is not 64 lowercase hex digits");
        }
        e.pem = f.string("pem");
        auto status = parse_ca_status(f.string("status"));
        if (!status) {
            f.fail("field \"status\" must be ACTIVE or INACTIVE");
        }
        e.status = *status;
        e.auto_registration = f.boolean("auto_registration");
        e.crl_file = f.string("crl_file");
        e.created_at = f.time("created_at");
        f.finish();
        return e;
    });
}

registry_result<certificate> decode_certificate(const persist::blob_record& r) {
    return guarded([&] {
        field_reader f(what_of("certificate", r.name), r.value);
        certificate e;
        e.id = f.string("id");
        f.same_key(r.name, e.id, "id");
        if (!is_valid_certificate_id(e.id)) {
            f.fail("field \"id\" is not 64 lowercase hex digits");
        }
        e.pem = f.string("pem");
        auto status = parse_certificate_status(f.string("status"));
        if (!status) {
            f.fail("field \"status\" is not a certificate status");
        }
        e.status = *status;
        e.ca_id = f.string("ca_id");
        if (!is_valid_certificate_id(e.ca_id)) {
            f.fail("field \"ca_id\" is not 64 lowercase hex digits");
        }
        e.not_before = f.time("not_before");
        e.not_after = f.time("not_after");
        e.created_at = f.time("created_at");
        f.finish();
        return e;
    });
}

registry_result<thing> decode_thing(const persist::blob_record& r) {
    return guarded([&] {
        field_reader f(what_of("thing", r.name), r.value);
        thing e;
        e.name = f.string("name");
        f.same_key(r.name, e.name, "name");
        if (!is_valid_registry_name(e.name)) {
            f.fail("field \"name\" is not a valid thing name");
        }
        e.type_name = f.string("type");
        if (!e.type_name.empty() && !is_valid_registry_name(e.type_name)) {
            f.fail("field \"type\" is not a valid thing type name");
        }
        for (const auto& [k, v] : f.object("attributes")) {
            if (!v.is_string() || !is_valid_attribute_name(k) ||
                !is_valid_attribute_value(v.get_string())) {
                f.fail_field("attributes", "has a bad attribute \"" + std::string(k) + "\"");
            }
            e.attributes.emplace(std::string(k), std::string(v.get_string()));
        }
        auto version = f.integer("version");
        if (version < 1) {
            f.fail("field \"version\" out of range");
        }
        e.version = static_cast<std::uint64_t>(version);
        f.finish();
        return e;
    });
}

registry_result<thing_type> decode_thing_type(const persist::blob_record& r) {
    return guarded([&] {
        field_reader f(what_of("thing type", r.name), r.value);
        thing_type e;
        e.name = f.string("name");
        f.same_key(r.name, e.name, "name");
        if (!is_valid_registry_name(e.name)) {
            f.fail("field \"name\" is not a valid thing type name");
        }
        e.description = f.string("description");
        f.finish();
        return e;
    });
}

registry_result<thing_group> decode_thing_group(const persist::blob_record& r) {
    return guarded([&] {
        field_reader f(what_of("thing group", r.name), r.value);
        thing_group e;
        e.name = f.string("name");
        f.same_key(r.name, e.name, "name");
        if (!is_valid_registry_name(e.name)) {
            f.fail("field \"name\" is not a valid thing group name");
        }
        e.parent = f.string("parent");
        if (!e.parent.empty() && !is_valid_registry_name(e.parent)) {
            f.fail("field \"parent\" is not a valid thing group name");
        }
        e.description = f.string("description");
        f.finish();
        return e;
    });
}

registry_result<named_policy> decode_policy(const persist::blob_record& r) {
    return guarded([&] {
        field_reader f(what_of("policy", r.name), r.value);
        named_policy e;
        e.name = f.string("name");
        f.same_key(r.name, e.name, "name");
        if (!is_valid_policy_name(e.name)) {
            f.fail("field \"name\" is not a valid policy name");
        }
        e.default_version = f.positive32("default_version");
        e.next_version = f.positive32("next_version");
        if (e.next_version <= e.default_version) {
            f.fail("field \"next_version\" must be above \"default_version\"");
        }
        e.created_at = f.time("created_at");
        f.finish();
        return e;
    });
}

registry_result<stored_policy_version> decode_policy_version(const persist::blob_record& r) {
    return guarded([&] {
        field_reader f(what_of("policy version", r.name), r.value);
        stored_policy_version e;
        e.policy_name = f.string("policy");
        if (!is_valid_policy_name(e.policy_name)) {
            f.fail("field \"policy\" is not a valid policy name");
        }
        e.version.version_id = f.positive32("version_id");
        f.same_key(
                r.name,
                e.policy_name + '/' + std::to_string(e.version.version_id),
                "policy\" and \"version_id");
        e.version.document = f.string("document");
        e.version.created_at = f.time("created_at");
        f.finish();
        return e;
    });
}

registry_result<attachment> decode_attachment(const persist::blob_record& r) {
    return guarded([&] {
        field_reader f(what_of("attachment", r.name), r.value);
        attachment e;
        auto kind = f.string("kind");
        bool known = false;
        for (auto k :
             {attachment_kind::certificate_policy,
              attachment_kind::group_policy,
              attachment_kind::certificate_thing,
              attachment_kind::thing_group}) {
            if (kind == to_string(k)) {
                e.kind = k;
                known = true;
            }
        }
        if (!known) {
            f.fail("field \"kind\" is not an attachment kind");
        }
        e.first = f.string("first");
        e.second = f.string("second");
        bool first_ok = e.kind == attachment_kind::certificate_policy ||
                                        e.kind == attachment_kind::certificate_thing
                                ? is_valid_certificate_id(e.first)
                                : is_valid_registry_name(e.first);
        bool second_ok = e.kind == attachment_kind::certificate_policy ||
                                         e.kind == attachment_kind::group_policy
                                 ? is_valid_policy_name(e.second)
                                 : is_valid_registry_name(e.second);
        if (!first_ok) {
            f.fail("field \"first\" is not a valid name");
        }
        if (!second_ok) {
            f.fail("field \"second\" is not a valid name");
        }
        f.same_key(
                r.name, attachment_key(e.kind, e.first, e.second), "kind\", \"first\", \"second");
        e.exclusive = f.boolean("exclusive");
        if (e.exclusive && e.kind != attachment_kind::certificate_thing) {
            f.fail("field \"exclusive\" is only for certificate-thing attachments");
        }
        e.created_at = f.time("created_at");
        f.finish();
        return e;
    });
}

} // namespace thinggate::auth
