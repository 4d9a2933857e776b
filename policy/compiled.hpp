#pragma once
// policy/compiled: a connection's policies compiled with its variables, evaluated per request
// (allowed / explicit deny / implicit deny) without allocation, and explained on demand.
// Thread safety: a compiled_policy_set is immutable after compile(); evaluate() and explain() are
// const and safe from any thread.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/context.hpp"
#include "policy/document.hpp"
#include "policy/resource.hpp"
#include "policy/substitute.hpp"

namespace thinggate::policy {

enum class decision : std::uint8_t {
    allowed,
    explicit_deny,
    implicit_deny,
};

/// "ALLOWED", "EXPLICIT_DENY", "IMPLICIT_DENY" (AWS's spelling in test-authorization).
std::string_view to_string(decision d) noexcept;

/// One policy (the default version of a named policy) to compile. The document is only read
/// during compile(); name and version are copied for explain().
struct policy_ref {
    std::string name;
    std::string version_id;
    const policy_document* document = nullptr;
};

/// Why a request got its decision.
struct explanation {
    struct statement_info {
        std::string policy;
        std::string version_id;
        std::size_t statement_index = 0;
        std::string sid;
        effect eff = effect::allow;
        std::vector<std::string> resources; ///< the statement's patterns, variables resolved
    };

    decision result = decision::implicit_deny;
    std::string action;
    std::string resource;
    /// The statement that decided: the first matching Deny, else the first matching Allow;
    /// nullopt for an implicit deny.
    std::optional<statement_info> decided_by;
    std::vector<statement_info> matched;           ///< every statement that matched
    std::vector<statement_info> conditions_failed; ///< action and resource matched, a condition not
    std::vector<resolved_variable> variables;      ///< every variable the policies use

    /// Several lines for an operator (log line, CLI output).
    std::string to_string() const;
};

class compiled_policy_set {
public:
    /// An empty set: every request is an implicit deny.
    compiled_policy_set() = default;

    /// The decision for a data-plane request; `resource` is the full ARN (see arn_builder).
    /// No allocation.
    decision evaluate(action a, std::string_view resource) const noexcept;

    /// The decision for any action name (control plane: "iot:CreateJob", ...). Action names
    /// compare case-insensitively with the statements' patterns. No allocation.
    decision evaluate(std::string_view action_name, std::string_view resource,
                      request_kind kind = request_kind::other) const noexcept;

    explanation explain(action a, std::string_view resource) const;
    explanation explain(std::string_view action_name, std::string_view resource,
                        request_kind kind = request_kind::other) const;

    /// The variables the policies use, resolved for this connection.
    const std::vector<resolved_variable>& variables() const noexcept { return variables_; }
    std::size_t statement_count() const noexcept { return statements_.size(); }
    std::size_t policy_count() const noexcept { return policies_.size(); }

private:
    friend compiled_policy_set compile(const std::vector<policy_ref>&, const context&);

    struct policy_info {
        std::string name;
        std::string version_id;
    };

    struct compiled_statement {
        std::uint32_t policy = 0;
        std::uint32_t index = 0;
        std::string sid;
        effect eff = effect::allow;
        bool not_action = false;
        std::vector<glob> actions; ///< matched case-insensitively
        bool not_resource = false;
        std::vector<arn_pattern> resources;
        bool conditions_connect = true; ///< all conditions hold for an iot:Connect request
        bool conditions_other = true;   ///< ... for any other request

        bool action_applies(std::string_view name) const noexcept;
        bool resource_applies(const arn_fields* fields) const noexcept;
        bool conditions_hold(request_kind kind) const noexcept {
            return kind == request_kind::connect ? conditions_connect : conditions_other;
        }
    };

    template <typename Visit>
    decision run(std::string_view action_name, std::string_view resource, request_kind kind,
                 Visit&& visit) const;
    explanation::statement_info info(const compiled_statement& s) const;

    std::vector<policy_info> policies_;
    std::vector<compiled_statement> statements_;
    /// Per data-plane action: the statements whose action applies and whose conditions hold,
    /// Deny statements first.
    std::array<std::vector<std::uint32_t>, data_plane_action_count> by_action_;
    std::vector<resolved_variable> variables_;
};

/// Compiles `policies` for one connection: variables resolved into literal text, conditions
/// decided (every condition key is fixed for a connection), actions pre-matched against the
/// data-plane actions. Documents are not referenced afterwards.
compiled_policy_set compile(const std::vector<policy_ref>& policies, const context& ctx);

} // namespace thinggate::policy
