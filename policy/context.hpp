#pragma once
// policy/context: what a connection knows about itself (client id, certificate fields, thing,
// source address, CONNECT attributes), and the policy variables / condition keys it resolves to.
// Thread safety: values; the functions are pure and safe from any thread.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/resource.hpp"

namespace thinggate::policy {

/// Name/value pairs in certificate order; a name may repeat (two OrganizationalUnit values).
using attribute_list = std::vector<std::pair<std::string, std::string>>;

/// A distinguished name with AWS's attribute names: CommonName, Organization, OrganizationalUnit,
/// Country, State, Locality, SerialNumber, Title, Surname, GivenName, Initials, Pseudonym,
/// GenerationQualifier, DistinguishedNameQualifier. (auth/ maps the OIDs to these names.)
struct alternative_names {
    std::vector<std::string> dns_name;
    std::vector<std::string> ip_address;
    std::vector<std::string> rfc822_name;
    std::vector<std::string> uniform_resource_identifier;
};

struct certificate_info {
    std::string id;            ///< lowercase hex SHA-256 of the DER
    std::string serial_number; ///< iot:Certificate.SerialNumber
    attribute_list subject;
    attribute_list issuer;
    alternative_names subject_alternative_name;
    alternative_names issuer_alternative_name;
};

struct thing_info {
    std::string name;
    std::string type_name; ///< empty when the thing has no type
    attribute_list attributes;
};

/// Everything the policy variables and condition keys of one connection resolve against.
struct context {
    resource_names names;        ///< region/account of the ARNs (iot:LastWillTopic)
    std::string client_id;
    std::string source_ip;       ///< aws:SourceIp, textual IPv4 or IPv6
    std::string domain_name;     ///< iot:DomainName (TLS SNI); empty when the client sent none
    std::optional<certificate_info> certificate;
    std::optional<thing_info> thing; ///< the thing resolved for this connection, if any
    bool persistent_session = false; ///< iot:ConnectAttributes holds PersistentConnect
    std::optional<std::string> will_topic; ///< iot:ConnectAttributes holds LastWill
};

/// A policy variable's value, or why it has none.
struct resolution {
    std::optional<std::string> value;
    std::string_view reason; ///< when unresolved: a short reason for explain()
};

/// Resolves the variable `name` (the text between "${" and "}", e.g. "iot:ClientId") for a
/// single-valued substitution. Names are case-insensitive except the attribute name inside
/// "Attributes[...]". A certificate value containing * $ + ? #, longer than 1024 characters or
/// past the 5th item of a multi-valued field resolves to nothing, as does ".List".
resolution resolve_variable(const context& ctx, std::string_view name);

/// The request kind a condition key is looked up for: iot:ConnectAttributes and
/// iot:LastWillTopic exist only in the context of iot:Connect.
enum class request_kind {
    connect,
    other,
};

/// The values of a condition key: absent, or present with 0..n values (multi-valued keys such as
/// iot:ConnectAttributes and *.List can be present and empty).
struct key_values {
    bool present = false;
    std::vector<std::string> values;
};

/// Looks up a condition key: iot:ConnectAttributes, iot:LastWillTopic, aws:SourceIp and every
/// variable name accepted by resolve_variable (".List" names give all values, up to 5).
key_values lookup_key(const context& ctx, std::string_view key, request_kind kind);

} // namespace thinggate::policy
