#pragma once
// policy/substitute: turns the raw text of Resource and Condition values into patterns, with the
// connection's policy variables substituted as literal text (never wildcards) and the escapes
// ${*} ${?} ${$}. Used when a policy set is compiled for a connection.
// Thread safety: a substituter belongs to one compile() call; arn_pattern is immutable once built.

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "policy/context.hpp"
#include "policy/document.hpp"
#include "policy/glob.hpp"
#include "policy/text.hpp"

namespace thinggate::policy {

/// A resource pattern: "*" (anything) or six globbed ARN fields.
class arn_pattern {
public:
    static arn_pattern any();
    static arn_pattern never();
    explicit arn_pattern(std::array<glob, 6> fields);

    /// The request `arn` matches: each of its 6 fields matches the field's glob. A request with
    /// fewer than 6 fields matches only "*". No allocation.
    bool match(std::string_view arn) const noexcept;
    /// The same, for a request already split by split_arn (nullptr: it has fewer than 6 fields).
    bool match(const arn_fields* fields) const noexcept;
    bool matches_nothing() const noexcept;
    std::string to_string() const;

private:
    arn_pattern() = default;

    bool any_ = false;
    std::array<glob, 6> fields_;
};

/// A variable met while compiling, and what it resolved to.
struct resolved_variable {
    std::string name;
    std::optional<std::string> value;
    std::string reason; ///< why it is unresolved
};

class substituter {
public:
    substituter(const context& ctx, policy_version version);

    /// `raw` as a glob: with `wildcards`, raw '*' and '?' are wildcards; substituted text and
    /// escapes are always literal. An unresolved variable gives a glob that matches nothing.
    glob pattern(std::string_view raw, bool wildcards);

    /// `raw` as an ARN pattern (Resource values, ArnEquals/ArnLike values).
    arn_pattern arn(std::string_view raw);

    /// `raw` with variables substituted, as plain text; nullopt when a variable is unresolved.
    std::optional<std::string> text(std::string_view raw);

    /// Every variable met so far, once each, in order of first use.
    const std::vector<resolved_variable>& variables() const noexcept { return variables_; }
    std::vector<resolved_variable> take_variables() { return std::move(variables_); }

private:
    const std::optional<std::string>& resolve(std::string_view name);

    const context& ctx_;
    policy_version version_;
    std::vector<resolved_variable> variables_;
};

} // namespace thinggate::policy
