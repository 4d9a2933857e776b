#include "policy/context.hpp"

#include "policy/text.hpp"

#include <charconv>

namespace thinggate::policy {

namespace {

constexpr std::size_t max_certificate_value = 1024;
constexpr std::size_t max_certificate_items = 5;

bool consume(std::string_view& s, std::string_view prefix) noexcept {
    if (s.size() < prefix.size() || !iequals(s.substr(0, prefix.size()), prefix)) {
        return false;
    }
    s.remove_prefix(prefix.size());
    return true;
}

resolution value_of(std::string_view v, std::string_view reason_if_empty) {
    if (v.empty()) {
        return {std::nullopt, reason_if_empty};
    }
    return {std::string(v), {}};
}

/// Why a certificate value may not be substituted, or empty when it may.
std::string_view certificate_value_problem(std::string_view v) noexcept {
    if (v.size() > max_certificate_value) {
        return "the certificate value is longer than 1024 characters";
    }
    if (v.find_first_of("*$+?#") != std::string_view::npos) {
        return "the certificate value contains one of * $ + ? #";
    }
    return {};
}

/// A certificate field named by a variable: all its values in certificate order, and how the
/// variable selects among them.
struct certificate_field {
    std::vector<std::string_view> values;
    enum class select { first, index, list } how = select::first;
    std::size_t index = 0; ///< 1-based, for select::index
    bool known = false;
};

const std::vector<std::string>* alternative_field(const alternative_names& alt,
                                                  std::string_view field) noexcept {
    if (iequals(field, "DNSName")) {
        return &alt.dns_name;
    }
    if (iequals(field, "IPAddress")) {
        return &alt.ip_address;
    }
    if (iequals(field, "RFC822Name")) {
        return &alt.rfc822_name;
    }
    if (iequals(field, "UniformResourceIdentifier")) {
        return &alt.uniform_resource_identifier;
    }
    return nullptr;
}

/// Parses "<Attr>[.N|.List]" or "AlternativeName.<Field>[.N|.List]" after
/// "iot:Certificate.Subject." / ".Issuer.".
certificate_field certificate_values(const attribute_list& dn, const alternative_names& alt,
                                     std::string_view rest) {
    certificate_field f;
    const bool alternative = consume(rest, "AlternativeName.");
    std::string_view name = rest;
    const auto dot = rest.find('.');
    if (dot != std::string_view::npos) {
        name = rest.substr(0, dot);
        const std::string_view suffix = rest.substr(dot + 1);
        if (iequals(suffix, "List")) {
            f.how = certificate_field::select::list;
        } else {
            std::size_t n = 0;
            const auto [end, ec] = std::from_chars(suffix.data(), suffix.data() + suffix.size(), n);
            if (ec != std::errc{} || end != suffix.data() + suffix.size() || n == 0) {
                return f; // unknown suffix
            }
            f.how = certificate_field::select::index;
            f.index = n;
        }
    }
    if (name.empty()) {
        return f;
    }
    if (alternative) {
        const auto* values = alternative_field(alt, name);
        if (values == nullptr) {
            return f;
        }
        f.known = true;
        for (const auto& v : *values) {
            f.values.emplace_back(v);
        }
        return f;
    }
    f.known = true;
    for (const auto& [attr, v] : dn) {
        if (iequals(attr, name)) {
            f.values.emplace_back(v);
        }
    }
    return f;
}

/// Locates the certificate field of a "iot:Certificate.Subject.*" / ".Issuer.*" name.
std::optional<certificate_field> certificate_lookup(const context& ctx, std::string_view name) {
    if (!consume(name, "iot:Certificate.") || !ctx.certificate) {
        return std::nullopt;
    }
    const auto& cert = *ctx.certificate;
    if (consume(name, "Subject.")) {
        return certificate_values(cert.subject, cert.subject_alternative_name, name);
    }
    if (consume(name, "Issuer.")) {
        return certificate_values(cert.issuer, cert.issuer_alternative_name, name);
    }
    return std::nullopt;
}

} // namespace

resolution resolve_variable(const context& ctx, std::string_view name) {
    if (iequals(name, "iot:ClientId")) {
        return value_of(ctx.client_id, "the client id is empty");
    }
    if (iequals(name, "aws:SourceIp")) {
        return value_of(ctx.source_ip, "the source address is unknown");
    }
    if (iequals(name, "iot:DomainName")) {
        return value_of(ctx.domain_name, "the client sent no server name (SNI)");
    }
    std::string_view rest = name;
    if (consume(rest, "iot:Connection.Thing.")) {
        if (!ctx.thing) {
            return {std::nullopt, "no thing is attached to this connection"};
        }
        const auto& thing = *ctx.thing;
        if (iequals(rest, "ThingName")) {
            return value_of(thing.name, "the thing has no name");
        }
        if (iequals(rest, "ThingTypeName")) {
            return value_of(thing.type_name, "the thing has no type");
        }
        if (iequals(rest, "IsAttached")) {
            return {std::string("true"), {}};
        }
        if (consume(rest, "Attributes[") && rest.ends_with(']')) {
            rest.remove_suffix(1);
            for (const auto& [attr, v] : thing.attributes) {
                if (attr == rest) {
                    return {v, {}};
                }
            }
            return {std::nullopt, "the thing has no such attribute"};
        }
        return {std::nullopt, "unknown variable"};
    }
    const bool certificate_id = iequals(name, "iot:CertificateId");
    if (!certificate_id && !iequals(name.substr(0, 16), "iot:Certificate.")) {
        return {std::nullopt, "unknown variable"};
    }
    if (!ctx.certificate) {
        return {std::nullopt, "the connection has no client certificate"};
    }
    if (certificate_id) {
        return value_of(ctx.certificate->id, "the certificate id is empty");
    }
    std::string_view single;
    if (iequals(name, "iot:Certificate.SerialNumber")) {
        single = ctx.certificate->serial_number;
        if (single.empty()) {
            return {std::nullopt, "the certificate has no serial number"};
        }
    } else {
        const auto field = certificate_lookup(ctx, name);
        if (!field || !field->known) {
            return {std::nullopt, "unknown variable"};
        }
        switch (field->how) {
        case certificate_field::select::list:
            return {std::nullopt, "a .List variable has several values: use it as a condition key"};
        case certificate_field::select::index:
            if (field->index > max_certificate_items) {
                return {std::nullopt, "only the first 5 values of a certificate field are used"};
            }
            if (field->index > field->values.size()) {
                return {std::nullopt, "the certificate field has fewer values"};
            }
            single = field->values[field->index - 1];
            break;
        case certificate_field::select::first:
            if (field->values.empty()) {
                return {std::nullopt, "the certificate has no such field"};
            }
            single = field->values.front();
            break;
        }
    }
    if (const auto problem = certificate_value_problem(single); !problem.empty()) {
        return {std::nullopt, problem};
    }
    return {std::string(single), {}};
}

key_values lookup_key(const context& ctx, std::string_view key, request_kind kind) {
    key_values out;
    if (iequals(key, "iot:ConnectAttributes")) {
        if (kind == request_kind::connect) {
            out.present = true;
            if (ctx.persistent_session) {
                out.values.emplace_back("PersistentConnect");
            }
            if (ctx.will_topic) {
                out.values.emplace_back("LastWill");
            }
        }
        return out;
    }
    if (iequals(key, "iot:LastWillTopic")) {
        if (kind == request_kind::connect && ctx.will_topic) {
            out.present = true;
            out.values.push_back(topic_arn(ctx.names, *ctx.will_topic));
        }
        return out;
    }
    if (key.size() > 5 && iequals(key.substr(key.size() - 5), ".List")) {
        const auto field = certificate_lookup(ctx, key);
        if (!field || !field->known) {
            return out;
        }
        for (std::size_t i = 0; i < field->values.size() && i < max_certificate_items; ++i) {
            if (certificate_value_problem(field->values[i]).empty()) {
                out.values.emplace_back(field->values[i]);
            }
        }
        out.present = !out.values.empty();
        return out;
    }
    auto r = resolve_variable(ctx, key);
    if (r.value) {
        out.present = true;
        out.values.push_back(std::move(*r.value));
    }
    return out;
}

} // namespace thinggate::policy
