#include "policy/compiled.hpp"

#include "policy/condition.hpp"

#include <algorithm>

namespace thinggate::policy {

std::string_view to_string(decision d) noexcept {
    switch (d) {
    case decision::allowed:
        return "ALLOWED";
    case decision::explicit_deny:
        return "EXPLICIT_DENY";
    case decision::implicit_deny:
        return "IMPLICIT_DENY";
    }
    return "IMPLICIT_DENY";
}

bool compiled_policy_set::compiled_statement::action_applies(
        std::string_view name) const noexcept {
    bool any = false;
    for (const auto& a : actions) {
        if (a.match(name, true)) {
            any = true;
            break;
        }
    }
    return any != not_action;
}

bool compiled_policy_set::compiled_statement::resource_applies(
        const arn_fields* fields) const noexcept {
    bool any = false;
    for (const auto& r : resources) {
        if (r.match(fields)) {
            any = true;
            break;
        }
    }
    return any != not_resource;
}

decision compiled_policy_set::evaluate(action a, std::string_view resource) const noexcept {
    arn_fields fields;
    const arn_fields* split = split_arn(resource, false, fields) ? &fields : nullptr;
    // Deny statements come first in by_action_: the first matching Allow can decide at once.
    for (const auto i : by_action_[static_cast<std::size_t>(a)]) {
        const auto& s = statements_[i];
        if (s.resource_applies(split)) {
            return s.eff == effect::deny ? decision::explicit_deny : decision::allowed;
        }
    }
    return decision::implicit_deny;
}

template <typename Visit>
decision compiled_policy_set::run(std::string_view action_name, std::string_view resource,
                                  request_kind kind, Visit&& visit) const {
    arn_fields fields;
    const arn_fields* split = split_arn(resource, false, fields) ? &fields : nullptr;
    bool allowed = false;
    bool denied = false;
    for (const auto& s : statements_) {
        if (!s.action_applies(action_name) || !s.resource_applies(split)) {
            continue;
        }
        const bool holds = s.conditions_hold(kind);
        if (!visit(s, holds)) {
            return s.eff == effect::deny ? decision::explicit_deny : decision::allowed;
        }
        if (holds) {
            (s.eff == effect::deny ? denied : allowed) = true;
        }
    }
    if (denied) {
        return decision::explicit_deny;
    }
    return allowed ? decision::allowed : decision::implicit_deny;
}

decision compiled_policy_set::evaluate(std::string_view action_name, std::string_view resource,
                                       request_kind kind) const noexcept {
    // Stops at the first matching Deny; a matching Allow only records.
    return run(action_name, resource, kind, [](const compiled_statement& s, bool holds) {
        return !(holds && s.eff == effect::deny);
    });
}

explanation::statement_info compiled_policy_set::info(const compiled_statement& s) const {
    explanation::statement_info out;
    out.policy = policies_[s.policy].name;
    out.version_id = policies_[s.policy].version_id;
    out.statement_index = s.index;
    out.sid = s.sid;
    out.eff = s.eff;
    for (const auto& r : s.resources) {
        out.resources.push_back(r.to_string());
    }
    return out;
}

explanation compiled_policy_set::explain(std::string_view action_name, std::string_view resource,
                                         request_kind kind) const {
    explanation e;
    e.action = std::string(action_name);
    e.resource = std::string(resource);
    e.variables = variables_;
    e.result = run(action_name, resource, kind, [&](const compiled_statement& s, bool holds) {
        (holds ? e.matched : e.conditions_failed).push_back(info(s));
        return true;
    });
    const auto wanted = e.result == decision::explicit_deny ? effect::deny : effect::allow;
    if (e.result != decision::implicit_deny) {
        for (const auto& m : e.matched) {
            if (m.eff == wanted) {
                e.decided_by = m;
                break;
            }
        }
    }
    return e;
}

explanation compiled_policy_set::explain(action a, std::string_view resource) const {
    return explain(action_name(a), resource,
                   a == action::connect ? request_kind::connect : request_kind::other);
}

std::string explanation::to_string() const {
    std::string out;
    out += std::string(policy::to_string(result)) + " for " + action + " on " + resource + "\n";
    auto line = [&](std::string_view label, const statement_info& s) {
        out += "  ";
        out += label;
        out += ": policy \"" + s.policy + "\"";
        if (!s.version_id.empty()) {
            out += " version " + s.version_id;
        }
        out += " Statement[" + std::to_string(s.statement_index) + "]";
        if (!s.sid.empty()) {
            out += " (Sid \"" + s.sid + "\")";
        }
        out += s.eff == effect::allow ? " Allow" : " Deny";
        for (const auto& r : s.resources) {
            out += " " + r;
        }
        out += "\n";
    };
    if (decided_by) {
        line("decided by", *decided_by);
    } else {
        out += "  no statement allows it (implicit deny)\n";
    }
    for (const auto& m : matched) {
        line("matched", m);
    }
    for (const auto& m : conditions_failed) {
        line("conditions not met", m);
    }
    for (const auto& v : variables) {
        out += "  ${" + v.name + "} = ";
        out += v.value ? "\"" + *v.value + "\"" : "unresolved (" + v.reason + ")";
        out += "\n";
    }
    return out;
}

compiled_policy_set compile(const std::vector<policy_ref>& policies, const context& ctx) {
    compiled_policy_set set;
    for (const auto& ref : policies) {
        if (ref.document == nullptr) {
            continue;
        }
        const auto policy_index = static_cast<std::uint32_t>(set.policies_.size());
        set.policies_.push_back({ref.name, ref.version_id});
        substituter subst(ctx, ref.document->version);
        std::uint32_t index = 0;
        for (const auto& st : ref.document->statements) {
            compiled_policy_set::compiled_statement cs;
            cs.policy = policy_index;
            cs.index = index++;
            cs.sid = st.sid;
            cs.eff = st.eff;
            cs.not_action = st.not_action;
            for (const auto& a : st.actions) {
                cs.actions.push_back(glob::from_text(a));
            }
            cs.not_resource = st.not_resource;
            for (const auto& r : st.resources) {
                cs.resources.push_back(subst.arn(r));
            }
            for (const auto& c : st.conditions) {
                cs.conditions_connect =
                        cs.conditions_connect &&
                        condition_holds(c, lookup_key(ctx, c.key, request_kind::connect), subst);
                cs.conditions_other =
                        cs.conditions_other &&
                        condition_holds(c, lookup_key(ctx, c.key, request_kind::other), subst);
            }
            set.statements_.push_back(std::move(cs));
        }
        for (auto& v : subst.take_variables()) {
            const bool known = std::any_of(
                    set.variables_.begin(), set.variables_.end(),
                    [&](const resolved_variable& w) { return w.name == v.name; });
            if (!known) {
                set.variables_.push_back(std::move(v));
            }
        }
    }
    for (std::size_t a = 0; a < data_plane_action_count; ++a) {
        const auto act = static_cast<action>(a);
        const auto kind = act == action::connect ? request_kind::connect : request_kind::other;
        auto& list = set.by_action_[a];
        for (const auto eff : {effect::deny, effect::allow}) {
            for (std::size_t i = 0; i < set.statements_.size(); ++i) {
                const auto& s = set.statements_[i];
                if (s.eff == eff && s.conditions_hold(kind) && s.action_applies(action_name(act))) {
                    list.push_back(static_cast<std::uint32_t>(i));
                }
            }
        }
    }
    return set;
}

} // namespace thinggate::policy
