#pragma once
// Helpers for the policy tests: parse-or-fail, compile one or more documents, and ARNs.

#include "policy/policy.hpp"

#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>

namespace policy_test {

using namespace thinggate::policy;

inline policy_document parse_ok(std::string_view json) {
    auto r = parse_policy(json);
    INFO("policy: " << json);
    INFO("error: " << r.error().message);
    REQUIRE(r.has_value());
    return std::move(r).value();
}

inline std::string parse_fails(std::string_view json) {
    auto r = parse_policy(json);
    INFO("policy: " << json);
    REQUIRE_FALSE(r.has_value());
    return r.error().message;
}

/// Keeps the documents alive next to the compiled set (compile() does not need them afterwards,
/// the fixture just keeps tests short).
struct compiled {
    std::vector<policy_document> docs;
    compiled_policy_set set;
};

inline compiled compile_all(const std::vector<std::string>& jsons, const context& ctx) {
    compiled c;
    for (const auto& j : jsons) {
        c.docs.push_back(parse_ok(j));
    }
    std::vector<policy_ref> refs;
    for (std::size_t i = 0; i < c.docs.size(); ++i) {
        refs.push_back({"policy" + std::to_string(i), "1", &c.docs[i]});
    }
    c.set = compile(refs, ctx);
    return c;
}

inline compiled compile_one(const std::string& json, const context& ctx = {}) {
    return compile_all({json}, ctx);
}

/// A one-statement 2012-10-17 policy.
inline std::string allow(std::string_view actions, std::string_view resources,
                         std::string_view condition = {}, std::string_view eff = "Allow") {
    std::string j = R"({"Version":"2012-10-17","Statement":{"Effect":")" + std::string(eff) +
                    R"(","Action":)" + std::string(actions) + R"(,"Resource":)" +
                    std::string(resources);
    if (!condition.empty()) {
        j += R"(,"Condition":)" + std::string(condition);
    }
    return j + "}}";
}

inline std::string arn(std::string_view resource) {
    return "arn:aws:iot:local:000000000000:" + std::string(resource);
}

inline std::string quoted_arn(std::string_view resource) {
    return "\"" + arn(resource) + "\"";
}

inline decision check(const compiled& c, action a, std::string_view name) {
    arn_builder b(resource_names{});
    const auto resource = std::string(b.for_action(a, name));
    const auto d = c.set.evaluate(a, resource);
    // The fast path and the explained path agree on every request the tests make.
    CHECK(c.set.explain(a, resource).result == d);
    // And so does the generic (control-plane) entry point.
    CHECK(c.set.evaluate(action_name(a), resource,
                         a == action::connect ? request_kind::connect : request_kind::other) == d);
    return d;
}

} // namespace policy_test
