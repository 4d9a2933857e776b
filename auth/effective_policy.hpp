#pragma once
// auth/effective_policy: what a connection is allowed — the thing resolved for it
// (GATEWAY-SEMANTICS §1 "Thing resolution"), the policies that apply (the certificate's, and
// those of the thing's static groups and all their ancestors, default versions), compiled with
// the connection's variables.
// Owns: effective policy resolution. Must not use: the store, Asio.
// Thread safety: pure functions over an immutable snapshot; safe from any thread.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "auth/registry_snapshot.hpp"
#include "policy/compiled.hpp"
#include "policy/context.hpp"

namespace thinggate::auth {

/// The thing bound to a connection.
struct resolved_thing {
    std::string name;
    bool exclusive = false; ///< bound by an exclusive attachment (whatever the client id)
};

/// The thing for (certificate, client id): the thing the certificate is attached to
/// exclusively; else the attached thing whose name equals the client id; else none.
std::optional<resolved_thing> resolve_thing(
        const registry_snapshot& snap, std::string_view certificate_id, std::string_view client_id);

/// A policy that applies, and why.
struct applied_policy {
    std::string name;
    std::uint32_t version = 0; ///< the default version
    std::string via;           ///< "certificate" or "thing group <name>"
};

/// The groups of `thing_name` and all their ancestors, nearest first, each once.
std::vector<std::string>
thing_group_closure(const registry_snapshot& snap, std::string_view thing_name);

/// The policies of the certificate, then of the thing's groups with their ancestors (when
/// `thing_name` is set), each policy once (first reason wins).
std::vector<applied_policy> effective_policies(
        const registry_snapshot& snap,
        std::string_view certificate_id,
        const std::optional<std::string>& thing_name);

/// policy_refs for policy::compile(); the documents point into `snap`, which must outlive the
/// compile() call (not the compiled set).
std::vector<policy::policy_ref>
policy_refs(const registry_snapshot& snap, const std::vector<applied_policy>& policies);

/// Everything a connection needs from the registry.
struct connection_policies {
    std::optional<resolved_thing> thing;
    std::vector<std::string> groups;      ///< thing_group_closure() of the thing
    std::vector<applied_policy> applied;  ///< effective_policies()
    policy::context context;              ///< the input with .thing filled in
    policy::compiled_policy_set policies; ///< what the broker evaluates
};

/// Resolves and compiles for a connection. `ctx` carries the client id, the certificate fields
/// (certificate_fields(leaf); ctx.certificate->id is the certificate id), source address, SNI,
/// CONNECT attributes and resource names; its `thing` is replaced by the resolved thing (name,
/// type, attributes). Without a certificate (ctx.certificate empty) no policy applies.
connection_policies resolve_connection(const registry_snapshot& snap, policy::context ctx);

/// The same with a forced thing (thinggatectl policy test --thing): `thing_name` is bound
/// whatever the attachments say; nullopt resolves as usual.
connection_policies resolve_connection(
        const registry_snapshot& snap,
        policy::context ctx,
        const std::optional<std::string>& thing_name);

} // namespace thinggate::auth
