#pragma once
// auth/registry_model: the identity registry's entries (CA and device certificates, things, thing
// types, static thing groups, policies with their versions, attachments), the AWS IoT naming
// rules and limits, and the versioned JSON encoding each entry is stored with as a
// persist::blob_record. docs/security.md describes the model.
// Owns: the shape and the stored form of registry entries. Must not use: I/O, Asio, the store.
// Thread safety: plain values; the functions are pure.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "auth/registry_error.hpp"
#include "persist/records.hpp"

namespace thinggate::auth {

/// Times are wall-clock milliseconds since the Unix epoch, as persist stores them.
using registry_time = persist::wall_time;

// --- limits (AWS IoT Core quotas) --------------------------------------------------------------

inline constexpr std::size_t max_policy_versions = 5;
inline constexpr std::size_t max_policies_per_certificate = 10;
inline constexpr std::size_t max_policies_per_group = 2;
inline constexpr std::size_t max_group_depth = 7;       ///< levels of a group hierarchy
inline constexpr std::size_t max_groups_per_thing = 10; ///< static groups a thing belongs to
inline constexpr std::size_t max_thing_attributes = 50;

// --- statuses -----------------------------------------------------------------------------------

enum class ca_status : std::uint8_t {
    active,
    inactive,
};

/// Only ACTIVE connects. REVOKED is final.
enum class certificate_status : std::uint8_t {
    active,
    inactive,
    revoked,
    pending_activation, ///< recorded by just-in-time registration; an operator activates it
    pending_transfer,
};

/// "ACTIVE", "INACTIVE"
std::string_view to_string(ca_status s) noexcept;
/// "ACTIVE", "INACTIVE", "REVOKED", "PENDING_ACTIVATION", "PENDING_TRANSFER"
std::string_view to_string(certificate_status s) noexcept;
/// Inverse of to_string (exact, upper case); nullopt for anything else.
std::optional<ca_status> parse_ca_status(std::string_view text) noexcept;
std::optional<certificate_status> parse_certificate_status(std::string_view text) noexcept;

// --- entries ------------------------------------------------------------------------------------

/// A registered CA certificate. Registered ACTIVE CAs are the trust anchors of client
/// certificate verification (a registered intermediate is an anchor too).
struct ca_certificate {
    std::string id;  ///< lowercase hex SHA-256 of the DER (key)
    std::string pem; ///< the certificate, PEM
    ca_status status = ca_status::active;
    /// Just-in-time registration: an unknown device certificate this CA issued is recorded as
    /// PENDING_ACTIVATION (only while the CA is ACTIVE).
    bool auto_registration = false;
    /// A CRL file (PEM or DER) issued by this CA; empty = none. Loaded into every snapshot.
    std::string crl_file;
    registry_time created_at{};

    friend bool operator==(const ca_certificate&, const ca_certificate&) = default;
};

/// A registered device certificate.
struct certificate {
    std::string id; ///< lowercase hex SHA-256 of the DER (key)
    std::string pem;
    certificate_status status = certificate_status::inactive;
    std::string ca_id; ///< the registered CA that issued it
    registry_time not_before{};
    registry_time not_after{};
    registry_time created_at{};

    friend bool operator==(const certificate&, const certificate&) = default;
};

using attribute_map = std::map<std::string, std::string, std::less<>>;

struct thing {
    std::string name;      ///< key
    std::string type_name; ///< empty = no type; else a registered thing type
    attribute_map attributes;
    std::uint64_t version = 1; ///< incremented by every update

    friend bool operator==(const thing&, const thing&) = default;
};

struct thing_type {
    std::string name; ///< key
    std::string description;

    friend bool operator==(const thing_type&, const thing_type&) = default;
};

/// A static thing group. Its policies apply to its member things and to the things of every
/// descendant group.
struct thing_group {
    std::string name;   ///< key
    std::string parent; ///< empty = a root group; fixed at creation
    std::string description;

    friend bool operator==(const thing_group&, const thing_group&) = default;
};

struct policy_version {
    std::uint32_t version_id = 1; ///< 1, 2, 3, ... never reused within a policy
    std::string document;         ///< the JSON text as given (validated when created)
    registry_time created_at{};

    friend bool operator==(const policy_version&, const policy_version&) = default;
};

/// A named policy: up to 5 versions, one of them the default (the one that is evaluated).
struct named_policy {
    std::string name; ///< key
    std::uint32_t default_version = 1;
    std::uint32_t next_version = 2;
    std::map<std::uint32_t, policy_version> versions; ///< stored as policy_version blobs
    registry_time created_at{};

    const policy_version& default_document() const { return versions.at(default_version); }

    friend bool operator==(const named_policy&, const named_policy&) = default;
};

/// The four relations between entries. Each is one stored record keyed
/// "<kind>/<first>/<second>" (no name may contain '/', so keys are unambiguous).
enum class attachment_kind : std::uint8_t {
    certificate_policy, ///< first = certificate id, second = policy name
    group_policy,       ///< first = thing group, second = policy name
    certificate_thing,  ///< first = certificate id, second = thing name (may be exclusive)
    thing_group,        ///< first = thing name, second = thing group (membership)
};

/// "certificate-policy", "group-policy", "certificate-thing", "thing-group"
std::string_view to_string(attachment_kind k) noexcept;

struct attachment {
    attachment_kind kind = attachment_kind::certificate_policy;
    std::string first;
    std::string second;
    /// certificate_thing only: the certificate may be attached to no other thing, and the
    /// thing is resolved for its connections whatever the client id.
    bool exclusive = false;
    registry_time created_at{};

    friend bool operator==(const attachment&, const attachment&) = default;
};

/// "<kind>/<first>/<second>": the stored name of an attachment.
std::string attachment_key(attachment_kind kind, std::string_view first, std::string_view second);
/// The key prefix of every attachment of `kind` whose first part is `first`: "<kind>/<first>/".
std::string attachment_prefix(attachment_kind kind, std::string_view first);

// --- names --------------------------------------------------------------------------------------

/// 64 lowercase hex digits.
bool is_valid_certificate_id(std::string_view id) noexcept;
/// Thing, thing type and thing group names: 1..128 of [A-Za-z0-9_:-].
bool is_valid_registry_name(std::string_view name) noexcept;
/// Policy names: 1..128 of [A-Za-z0-9_+=,.@-].
bool is_valid_policy_name(std::string_view name) noexcept;
/// Thing attribute names: 1..128 of [A-Za-z0-9_.,@/:#-]; values 0..800 of the same.
bool is_valid_attribute_name(std::string_view name) noexcept;
bool is_valid_attribute_value(std::string_view value) noexcept;

// --- stored form
// ---------------------------------------------------------------------------------- Each entry is
// a JSON object with "v": 1 and its fields (docs/security.md, "Stored form"). Decoding is strict: a
// missing or unknown field, a wrong type, a bad name or status, or a key that disagrees with the
// value is registry_errc::corrupt, and the message names the kind, the key and the field.

persist::blob_record to_blob(const ca_certificate& e);
persist::blob_record to_blob(const certificate& e);
persist::blob_record to_blob(const thing& e);
persist::blob_record to_blob(const thing_type& e);
persist::blob_record to_blob(const thing_group& e);
/// The policy record only (name, default and next version, created_at); versions separately.
persist::blob_record to_blob(const named_policy& e);
/// A version of `policy_name`, stored under "<policy>/<version id>".
persist::blob_record to_blob(std::string_view policy_name, const policy_version& v);
persist::blob_record to_blob(const attachment& e);

registry_result<ca_certificate> decode_ca_certificate(const persist::blob_record& r);
registry_result<certificate> decode_certificate(const persist::blob_record& r);
registry_result<thing> decode_thing(const persist::blob_record& r);
registry_result<thing_type> decode_thing_type(const persist::blob_record& r);
registry_result<thing_group> decode_thing_group(const persist::blob_record& r);
/// The policy with no versions; load adds them.
registry_result<named_policy> decode_policy(const persist::blob_record& r);

struct stored_policy_version {
    std::string policy_name;
    policy_version version;
};

registry_result<stored_policy_version> decode_policy_version(const persist::blob_record& r);
registry_result<attachment> decode_attachment(const persist::blob_record& r);

} // namespace thinggate::auth
