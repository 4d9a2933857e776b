#include "auth/effective_policy.hpp"

#include <algorithm>
#include <set>

namespace thinggate::auth {

std::optional<resolved_thing> resolve_thing(
        const registry_snapshot& snap,
        std::string_view certificate_id,
        std::string_view client_id) {
    std::optional<resolved_thing> by_client_id;
    for (const auto* a : snap.certificate_things(certificate_id)) {
        if (a->exclusive) {
            return resolved_thing{a->second, true};
        }
        if (a->second == client_id) {
            by_client_id = resolved_thing{a->second, false};
        }
    }
    return by_client_id;
}

std::vector<std::string>
thing_group_closure(const registry_snapshot& snap, std::string_view thing_name) {
    std::vector<std::string> out;
    std::set<std::string, std::less<>> seen;
    for (auto& group : snap.thing_groups(thing_name)) {
        // Walk up to the root; `seen` also stops a cycle that a corrupt store could hold.
        std::string name = std::move(group);
        while (!name.empty() && seen.insert(name).second) {
            const auto* g = snap.find_group(name);
            out.push_back(name);
            name = g != nullptr ? g->parent : std::string();
        }
    }
    return out;
}

std::vector<applied_policy> effective_policies(
        const registry_snapshot& snap,
        std::string_view certificate_id,
        const std::optional<std::string>& thing_name) {
    std::vector<applied_policy> out;
    auto add = [&](const std::string& name, const std::string& via) {
        if (std::any_of(out.begin(), out.end(), [&](const auto& p) { return p.name == name; })) {
            return;
        }
        if (const auto* p = snap.find_policy(name)) {
            out.push_back(applied_policy{name, p->default_version, via});
        }
    };
    for (const auto& name : snap.certificate_policies(certificate_id)) {
        add(name, "certificate");
    }
    if (thing_name) {
        for (const auto& group : thing_group_closure(snap, *thing_name)) {
            for (const auto& name : snap.group_policies(group)) {
                add(name, "thing group " + group);
            }
        }
    }
    return out;
}

std::vector<policy::policy_ref>
policy_refs(const registry_snapshot& snap, const std::vector<applied_policy>& policies) {
    std::vector<policy::policy_ref> refs;
    refs.reserve(policies.size());
    for (const auto& p : policies) {
        if (const auto* doc = snap.default_document(p.name)) {
            refs.push_back(policy::policy_ref{p.name, std::to_string(p.version), doc});
        }
    }
    return refs;
}

connection_policies resolve_connection(const registry_snapshot& snap, policy::context ctx) {
    return resolve_connection(snap, std::move(ctx), std::nullopt);
}

connection_policies resolve_connection(
        const registry_snapshot& snap,
        policy::context ctx,
        const std::optional<std::string>& thing_name) {
    connection_policies out;
    ctx.thing.reset();
    if (!ctx.certificate && !thing_name) {
        out.context = std::move(ctx);
        return out;
    }
    std::string certificate_id = ctx.certificate ? ctx.certificate->id : std::string();
    if (thing_name) {
        if (snap.find_thing(*thing_name) != nullptr) {
            out.thing = resolved_thing{*thing_name, false};
        }
    } else {
        out.thing = resolve_thing(snap, certificate_id, ctx.client_id);
    }
    std::optional<std::string> bound;
    if (out.thing) {
        const auto* t = snap.find_thing(out.thing->name);
        policy::thing_info info;
        info.name = t->name;
        info.type_name = t->type_name;
        for (const auto& [k, v] : t->attributes) {
            info.attributes.emplace_back(k, v);
        }
        ctx.thing = std::move(info);
        bound = out.thing->name;
        out.groups = thing_group_closure(snap, out.thing->name);
    }
    out.applied = effective_policies(snap, certificate_id, bound);
    out.policies = policy::compile(policy_refs(snap, out.applied), ctx);
    out.context = std::move(ctx);
    return out;
}

} // namespace thinggate::auth
