#pragma once
// policy/document: a policy document (GATEWAY-SEMANTICS §1) as parsed and validated values.
// Owns: the JSON form of the language and its validation. Uses: std, Boost.JSON (in the .cpp).
// Thread safety: values; parse_policy is a pure function, safe from any thread.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace thinggate::policy {

/// Largest document accepted, counted in characters excluding whitespace (AWS IoT's limit).
inline constexpr std::size_t max_policy_characters = 2048;

enum class policy_version {
    v2008_10_17, ///< no policy variables: "${...}" is literal text
    v2012_10_17, ///< policy variables substituted
};

enum class effect {
    allow,
    deny,
};

/// The comparison of a condition operator, without its IfExists suffix and set qualifier.
enum class condition_op {
    string_equals,
    string_not_equals,
    string_like,
    string_not_like,
    arn_equals,
    arn_not_equals,
    arn_like,
    arn_not_like,
    boolean,
    null,
    numeric_equals,
    numeric_not_equals,
    numeric_less_than,
    numeric_less_than_equals,
    numeric_greater_than,
    numeric_greater_than_equals,
    ip_address,
    not_ip_address,
};

enum class set_qualifier {
    none,
    for_all_values, ///< "ForAllValues:": every value of the key satisfies the operator
    for_any_value,  ///< "ForAnyValue:": at least one value of the key satisfies it
};

/// A parsed operator name such as "ForAnyValue:StringLikeIgnoreCaseIfExists".
struct condition_operator {
    condition_op op = condition_op::string_equals;
    bool ignore_case = false; ///< the String* operators with the IgnoreCase suffix
    bool if_exists = false;   ///< "...IfExists": an absent key satisfies the condition
    set_qualifier qualifier = set_qualifier::none;
};

/// Parses an operator name; nullopt when it is not one of the language's operators.
std::optional<condition_operator> parse_condition_operator(std::string_view name) noexcept;

/// True for the negated operators (StringNotEquals, NotIpAddress, ...): they hold when the key
/// matches none of the condition's values, and when the key is absent.
bool is_negated(condition_op op) noexcept;

/// One "Operator": { "Key": values } entry. Values keep their raw text (variables unresolved).
struct condition {
    std::string operator_name; ///< as written, for messages
    condition_operator oper;
    std::string key;
    std::vector<std::string> values;
};

struct statement {
    std::string sid;      ///< empty when the statement has none
    effect eff = effect::allow;
    bool not_action = false;   ///< "NotAction" instead of "Action"
    std::vector<std::string> actions;
    bool not_resource = false; ///< "NotResource" instead of "Resource"
    std::vector<std::string> resources;
    std::vector<condition> conditions; ///< all must hold
};

struct policy_document {
    policy_version version = policy_version::v2012_10_17;
    std::vector<statement> statements;
};

/// A validation failure. `statement_index` and `sid` name the statement when the problem is
/// inside one; `message` is the full text for an operator, e.g.
/// `Statement[1] (Sid "DenyAll"): "Effect" must be "Allow" or "Deny", got "allow"`.
struct parse_error {
    std::optional<std::size_t> statement_index;
    std::string sid;
    std::string message;
};

/// The outcome of parse_policy: a document or the first error found.
class parse_result {
public:
    parse_result(policy_document doc);
    parse_result(parse_error err);

    explicit operator bool() const noexcept { return document_.has_value(); }
    bool has_value() const noexcept { return document_.has_value(); }
    const policy_document& value() const& { return *document_; }
    policy_document&& value() && { return std::move(*document_); }
    const parse_error& error() const noexcept { return error_; }

private:
    std::optional<policy_document> document_;
    parse_error error_;
};

/// Parses and validates a policy document (GATEWAY-SEMANTICS §1): Version 2012-10-17 or
/// 2008-10-17; Statement object or array; per statement Effect, exactly one of Action/NotAction and
/// of Resource/NotResource (string or non-empty array), optional Sid (unique) and Condition;
/// at most 2048 characters excluding whitespace. Never throws on bad input.
parse_result parse_policy(std::string_view json);

/// Number of characters of `json` that count against max_policy_characters (UTF-8 code points
/// that are not JSON whitespace).
std::size_t policy_size(std::string_view json) noexcept;

} // namespace thinggate::policy
