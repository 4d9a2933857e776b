#include "policy/document.hpp"

#include "policy/text.hpp"

#include <array>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

namespace thinggate::policy {

parse_result::parse_result(policy_document doc)
    : document_(std::move(doc)) {}

parse_result::parse_result(parse_error err)
    : error_(std::move(err)) {}

namespace {

struct op_name {
    std::string_view name;
    condition_op op;
    bool ignore_case;
};

// Longest names first where one is a prefix of another is not needed: names are matched whole,
// after the qualifier prefix and the IfExists suffix are taken off.
constexpr std::array op_names{
    op_name{"StringEquals", condition_op::string_equals, false},
    op_name{"StringNotEquals", condition_op::string_not_equals, false},
    op_name{"StringEqualsIgnoreCase", condition_op::string_equals, true},
    op_name{"StringNotEqualsIgnoreCase", condition_op::string_not_equals, true},
    op_name{"StringLike", condition_op::string_like, false},
    op_name{"StringNotLike", condition_op::string_not_like, false},
    op_name{"StringLikeIgnoreCase", condition_op::string_like, true},
    op_name{"StringNotLikeIgnoreCase", condition_op::string_not_like, true},
    op_name{"ArnEquals", condition_op::arn_equals, false},
    op_name{"ArnNotEquals", condition_op::arn_not_equals, false},
    op_name{"ArnLike", condition_op::arn_like, false},
    op_name{"ArnNotLike", condition_op::arn_not_like, false},
    op_name{"Bool", condition_op::boolean, false},
    op_name{"Null", condition_op::null, false},
    op_name{"NumericEquals", condition_op::numeric_equals, false},
    op_name{"NumericNotEquals", condition_op::numeric_not_equals, false},
    op_name{"NumericLessThan", condition_op::numeric_less_than, false},
    op_name{"NumericLessThanEquals", condition_op::numeric_less_than_equals, false},
    op_name{"NumericGreaterThan", condition_op::numeric_greater_than, false},
    op_name{"NumericGreaterThanEquals", condition_op::numeric_greater_than_equals, false},
    op_name{"IpAddress", condition_op::ip_address, false},
    op_name{"NotIpAddress", condition_op::not_ip_address, false},
};

bool is_json_space(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

class validator {
public:
    explicit validator(policy_version v)
        : version_(v) {}

    std::optional<parse_error> statement_at(std::size_t index, const boost::json::value& v,
                                            statement& out);

private:
    parse_error fail(std::size_t index, const std::string& sid, std::string problem) const;
    std::optional<std::string> string_list(const boost::json::value& v, std::string_view field,
                                           std::vector<std::string>& out) const;
    std::optional<std::string> check_action(std::string_view a) const;
    std::optional<std::string> check_resource(std::string_view r) const;
    std::optional<std::string> check_variables(std::string_view text) const;
    std::optional<std::string> conditions(const boost::json::value& v,
                                          std::vector<condition>& out) const;

    policy_version version_;
};

std::string quoted(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    out += '"';
    out += s;
    out += '"';
    return out;
}

parse_error validator::fail(std::size_t index, const std::string& sid, std::string problem) const {
    parse_error e;
    e.statement_index = index;
    e.sid = sid;
    e.message = "Statement[" + std::to_string(index) + "]";
    if (!sid.empty()) {
        e.message += " (Sid " + quoted(sid) + ")";
    }
    e.message += ": " + problem;
    return e;
}

std::optional<std::string> validator::string_list(const boost::json::value& v,
                                                  std::string_view field,
                                                  std::vector<std::string>& out) const {
    if (v.is_string()) {
        out.emplace_back(v.get_string());
        return std::nullopt;
    }
    if (!v.is_array()) {
        return quoted(field) + " must be a string or an array of strings";
    }
    const auto& arr = v.get_array();
    if (arr.empty()) {
        return quoted(field) + " must not be an empty array";
    }
    for (const auto& item : arr) {
        if (!item.is_string()) {
            return quoted(field) + " must be a string or an array of strings";
        }
        out.emplace_back(item.get_string());
    }
    return std::nullopt;
}

std::optional<std::string> validator::check_variables(std::string_view text) const {
    if (version_ != policy_version::v2012_10_17) {
        return std::nullopt;
    }
    for (std::size_t i = 0; i + 1 < text.size(); ++i) {
        if (text[i] != '$' || text[i + 1] != '{') {
            continue;
        }
        const auto close = text.find('}', i + 2);
        if (close == std::string_view::npos) {
            return "unterminated policy variable in " + quoted(text);
        }
        if (close == i + 2) {
            return "empty policy variable \"${}\" in " + quoted(text);
        }
        i = close;
    }
    return std::nullopt;
}

std::optional<std::string> validator::check_action(std::string_view a) const {
    if (a == "*") {
        return std::nullopt;
    }
    const auto colon = a.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == a.size()) {
        return "action " + quoted(a) + " is not of the form \"iot:<Name>\"";
    }
    return std::nullopt;
}

std::optional<std::string> validator::check_resource(std::string_view r) const {
    if (r == "*") {
        return std::nullopt;
    }
    if (auto problem = check_variables(r)) {
        return problem;
    }
    if (r.substr(0, 4) != "arn:") {
        return "resource " + quoted(r) + " is not \"*\" or an ARN (arn:partition:service:region:" +
               "account:resource)";
    }
    arn_fields fields;
    if (!split_arn(r, version_ == policy_version::v2012_10_17, fields)) {
        return "resource " + quoted(r) + " has fewer than 6 colon-separated fields";
    }
    return std::nullopt;
}

std::optional<std::string> validator::conditions(const boost::json::value& v,
                                                 std::vector<condition>& out) const {
    if (!v.is_object()) {
        return "\"Condition\" must be an object { Operator: { Key: value(s) } }";
    }
    for (const auto& [op_key, block] : v.get_object()) {
        const std::string_view op_text = op_key;
        const auto oper = parse_condition_operator(op_text);
        if (!oper) {
            return "unknown condition operator " + quoted(op_text);
        }
        if (!block.is_object() || block.get_object().empty()) {
            return "condition operator " + quoted(op_text) +
                   " must map to a non-empty object { Key: value(s) }";
        }
        for (const auto& [key, values] : block.get_object()) {
            condition c;
            c.operator_name = std::string(op_text);
            c.oper = *oper;
            c.key = std::string(key);
            if (c.key.empty()) {
                return "empty condition key under " + quoted(op_text);
            }
            auto add = [&](const boost::json::value& item) -> bool {
                if (item.is_string()) {
                    c.values.emplace_back(item.get_string());
                } else if (item.is_bool()) {
                    c.values.emplace_back(item.get_bool() ? "true" : "false");
                } else if (item.is_int64()) {
                    c.values.push_back(std::to_string(item.get_int64()));
                } else if (item.is_uint64()) {
                    c.values.push_back(std::to_string(item.get_uint64()));
                } else {
                    return false;
                }
                return true;
            };
            bool ok = true;
            if (values.is_array()) {
                if (values.get_array().empty()) {
                    return "condition " + quoted(op_text) + " on " + quoted(c.key) +
                           " has no values";
                }
                for (const auto& item : values.get_array()) {
                    ok = ok && add(item);
                }
            } else {
                ok = add(values);
            }
            if (!ok) {
                return "condition " + quoted(op_text) + " on " + quoted(c.key) +
                       " must have a string or an array of strings as its value";
            }
            for (const auto& value : c.values) {
                if (auto problem = check_variables(value)) {
                    return problem;
                }
            }
            out.push_back(std::move(c));
        }
    }
    return std::nullopt;
}

std::optional<parse_error> validator::statement_at(std::size_t index, const boost::json::value& v,
                                                   statement& out) {
    if (!v.is_object()) {
        return fail(index, {}, "a statement must be an object");
    }
    const auto& obj = v.get_object();
    if (const auto* sid = obj.if_contains("Sid")) {
        if (!sid->is_string()) {
            return fail(index, {}, "\"Sid\" must be a string");
        }
        out.sid = std::string(sid->get_string());
    }
    for (const auto& [key, value] : obj) {
        static constexpr std::array<std::string_view, 7> known{
            "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"};
        bool found = false;
        for (auto k : known) {
            found = found || k == std::string_view(key);
        }
        if (!found) {
            return fail(index, out.sid, "unknown field " + quoted(key));
        }
    }
    const auto* eff = obj.if_contains("Effect");
    if (eff == nullptr) {
        return fail(index, out.sid, "\"Effect\" is missing");
    }
    if (!eff->is_string() || (eff->get_string() != "Allow" && eff->get_string() != "Deny")) {
        std::string got = eff->is_string() ? quoted(eff->get_string()) : "a non-string";
        return fail(index, out.sid, "\"Effect\" must be \"Allow\" or \"Deny\", got " + got);
    }
    out.eff = eff->get_string() == "Allow" ? effect::allow : effect::deny;

    const auto* action = obj.if_contains("Action");
    const auto* not_action = obj.if_contains("NotAction");
    if ((action == nullptr) == (not_action == nullptr)) {
        return fail(index, out.sid, "exactly one of \"Action\" and \"NotAction\" is required");
    }
    out.not_action = not_action != nullptr;
    if (auto p = string_list(out.not_action ? *not_action : *action,
                             out.not_action ? "NotAction" : "Action", out.actions)) {
        return fail(index, out.sid, *p);
    }
    for (const auto& a : out.actions) {
        if (auto p = check_action(a)) {
            return fail(index, out.sid, *p);
        }
    }

    const auto* resource = obj.if_contains("Resource");
    const auto* not_resource = obj.if_contains("NotResource");
    if ((resource == nullptr) == (not_resource == nullptr)) {
        return fail(index, out.sid, "exactly one of \"Resource\" and \"NotResource\" is required");
    }
    out.not_resource = not_resource != nullptr;
    if (auto p = string_list(out.not_resource ? *not_resource : *resource,
                             out.not_resource ? "NotResource" : "Resource", out.resources)) {
        return fail(index, out.sid, *p);
    }
    for (const auto& r : out.resources) {
        if (auto p = check_resource(r)) {
            return fail(index, out.sid, *p);
        }
    }

    if (const auto* cond = obj.if_contains("Condition")) {
        if (auto p = conditions(*cond, out.conditions)) {
            return fail(index, out.sid, *p);
        }
    }
    return std::nullopt;
}

parse_error document_error(std::string message) {
    parse_error e;
    e.message = std::move(message);
    return e;
}

} // namespace

std::optional<condition_operator> parse_condition_operator(std::string_view name) noexcept {
    condition_operator out;
    constexpr std::string_view all = "ForAllValues:";
    constexpr std::string_view any = "ForAnyValue:";
    constexpr std::string_view if_exists = "IfExists";
    if (name.starts_with(all)) {
        out.qualifier = set_qualifier::for_all_values;
        name.remove_prefix(all.size());
    } else if (name.starts_with(any)) {
        out.qualifier = set_qualifier::for_any_value;
        name.remove_prefix(any.size());
    }
    if (name.ends_with(if_exists)) {
        out.if_exists = true;
        name.remove_suffix(if_exists.size());
    }
    for (const auto& n : op_names) {
        if (n.name == name) {
            out.op = n.op;
            out.ignore_case = n.ignore_case;
            // "NullIfExists" makes no sense: Null already speaks about absence.
            if (out.op == condition_op::null && out.if_exists) {
                return std::nullopt;
            }
            return out;
        }
    }
    return std::nullopt;
}

bool is_negated(condition_op op) noexcept {
    switch (op) {
    case condition_op::string_not_equals:
    case condition_op::string_not_like:
    case condition_op::arn_not_equals:
    case condition_op::arn_not_like:
    case condition_op::numeric_not_equals:
    case condition_op::not_ip_address:
        return true;
    default:
        return false;
    }
}

std::size_t policy_size(std::string_view json) noexcept {
    std::size_t n = 0;
    for (const char c : json) {
        const auto u = static_cast<unsigned char>(c);
        if (is_json_space(c) || (u & 0xC0) == 0x80) {
            continue;
        }
        ++n;
    }
    return n;
}

parse_result parse_policy(std::string_view json) {
    const auto size = policy_size(json);
    if (size > max_policy_characters) {
        return document_error("the policy has " + std::to_string(size) +
                              " characters excluding whitespace; at most " +
                              std::to_string(max_policy_characters) + " are allowed");
    }
    boost::system::error_code ec;
    const boost::json::value root = boost::json::parse(json, ec);
    if (ec) {
        return document_error("the policy is not valid JSON: " + ec.message());
    }
    if (!root.is_object()) {
        return document_error("the policy must be a JSON object");
    }
    const auto& obj = root.get_object();
    for (const auto& [key, value] : obj) {
        const std::string_view k = key;
        if (k != "Version" && k != "Statement" && k != "Id") {
            return document_error("unknown top-level field " + quoted(k));
        }
    }
    policy_document doc;
    // Without a Version, IAM's default applies: 2008-10-17, where variables are plain text.
    doc.version = policy_version::v2008_10_17;
    if (const auto* v = obj.if_contains("Version")) {
        if (v->is_string() && v->get_string() == "2012-10-17") {
            doc.version = policy_version::v2012_10_17;
        } else if (v->is_string() && v->get_string() == "2008-10-17") {
            doc.version = policy_version::v2008_10_17;
        } else {
            return document_error("\"Version\" must be \"2012-10-17\" or \"2008-10-17\"");
        }
    }
    if (const auto* id = obj.if_contains("Id"); id != nullptr && !id->is_string()) {
        return document_error("\"Id\" must be a string");
    }
    const auto* st = obj.if_contains("Statement");
    if (st == nullptr) {
        return document_error("\"Statement\" is missing");
    }
    validator check(doc.version);
    auto one = [&](std::size_t i, const boost::json::value& v) -> std::optional<parse_error> {
        statement s;
        if (auto err = check.statement_at(i, v, s)) {
            return err;
        }
        doc.statements.push_back(std::move(s));
        return std::nullopt;
    };
    if (st->is_array()) {
        if (st->get_array().empty()) {
            return document_error("\"Statement\" must not be an empty array");
        }
        std::size_t i = 0;
        for (const auto& item : st->get_array()) {
            if (auto err = one(i++, item)) {
                return std::move(*err);
            }
        }
    } else if (st->is_object()) {
        if (auto err = one(0, *st)) {
            return std::move(*err);
        }
    } else {
        return document_error("\"Statement\" must be an object or an array of objects");
    }
    for (std::size_t i = 0; i < doc.statements.size(); ++i) {
        const auto& sid = doc.statements[i].sid;
        for (std::size_t j = 0; j < i && !sid.empty(); ++j) {
            if (doc.statements[j].sid == sid) {
                parse_error e;
                e.statement_index = i;
                e.sid = sid;
                e.message = "Statement[" + std::to_string(i) + "] (Sid " + quoted(sid) +
                            "): duplicate Sid (also used by Statement[" + std::to_string(j) + "])";
                return e;
            }
        }
    }
    return doc;
}

} // namespace thinggate::policy
