#include "policy_test_support.hpp"

#include <string>

#include <doctest/doctest.h>

using namespace policy_test;

TEST_CASE("document: a statement object or an array, string or array fields") {
    auto one = parse_ok(R"({"Version":"2012-10-17","Statement":{"Sid":"A","Effect":"Allow",
        "Action":"iot:Connect","Resource":"arn:aws:iot:*:*:client/x"}})");
    REQUIRE(one.statements.size() == 1);
    CHECK(one.version == policy_version::v2012_10_17);
    CHECK(one.statements[0].sid == "A");
    CHECK(one.statements[0].eff == effect::allow);
    CHECK(one.statements[0].actions == std::vector<std::string>{"iot:Connect"});
    CHECK_FALSE(one.statements[0].not_action);

    auto many = parse_ok(R"({"Version":"2008-10-17","Id":"x","Statement":[
        {"Effect":"Deny","NotAction":["iot:Publish","iot:Receive"],"NotResource":["*"]},
        {"Effect":"Allow","Action":"iot:*","Resource":"*",
         "Condition":{"StringEquals":{"iot:ClientId":["a","b"]},"Bool":{"k":true},
                      "NumericLessThan":{"n":5}}}]})");
    REQUIRE(many.statements.size() == 2);
    CHECK(many.version == policy_version::v2008_10_17);
    CHECK(many.statements[0].not_action);
    CHECK(many.statements[0].not_resource);
    CHECK(many.statements[0].eff == effect::deny);
    REQUIRE(many.statements[1].conditions.size() == 3);
    CHECK(many.statements[1].conditions[0].values == std::vector<std::string>{"a", "b"});
    CHECK(many.statements[1].conditions[1].values == std::vector<std::string>{"true"});
    CHECK(many.statements[1].conditions[2].values == std::vector<std::string>{"5"});
}

TEST_CASE("document: without Version the 2008-10-17 default applies") {
    auto d = parse_ok(R"({"Statement":{"Effect":"Allow","Action":"*","Resource":"*"}})");
    CHECK(d.version == policy_version::v2008_10_17);
}

TEST_CASE("document: validation errors name the statement and the problem") {
    const std::string head = R"({"Version":"2012-10-17","Statement":[)";
    const std::string ok = R"({"Effect":"Allow","Action":"iot:Connect","Resource":"*"},)";

    CHECK(parse_fails(head + ok + R"({"Sid":"DenyAll","Effect":"allow","Action":"*",
        "Resource":"*"}]})") ==
          R"(Statement[1] (Sid "DenyAll"): "Effect" must be "Allow" or "Deny", got "allow")");
    CHECK(parse_fails(head + R"({"Action":"*","Resource":"*"}]})") ==
          R"(Statement[0]: "Effect" is missing)");
    CHECK(parse_fails(head + R"({"Effect":"Allow","Action":"*","NotAction":"iot:Connect",
        "Resource":"*"}]})") ==
          R"(Statement[0]: exactly one of "Action" and "NotAction" is required)");
    CHECK(parse_fails(head + R"({"Effect":"Allow","Resource":"*"}]})") ==
          R"(Statement[0]: exactly one of "Action" and "NotAction" is required)");
    CHECK(parse_fails(head + ok + ok + R"({"Sid":"S","Effect":"Allow","Action":"*"}]})") ==
          R"(Statement[2] (Sid "S"): exactly one of "Resource" and "NotResource" is required)");
    CHECK(parse_fails(head + R"({"Effect":"Allow","Action":"*","Resource":"*",
        "NotResource":"*"}]})") ==
          R"(Statement[0]: exactly one of "Resource" and "NotResource" is required)");
    CHECK(parse_fails(head + R"({"Effect":"Allow","Action":[],"Resource":"*"}]})") ==
          R"(Statement[0]: "Action" must not be an empty array)");
    CHECK(parse_fails(head + R"({"Effect":"Allow","Action":[1],"Resource":"*"}]})") ==
          R"(Statement[0]: "Action" must be a string or an array of strings)");
    CHECK(parse_fails(head + R"({"Effect":"Allow","Action":"Connect","Resource":"*"}]})") ==
          R"(Statement[0]: action "Connect" is not of the form "iot:<Name>")");
    CHECK(parse_fails(head + R"({"Effect":"Allow","Action":"*","Resource":"topic/a"}]})") ==
          R"(Statement[0]: resource "topic/a" is not "*" or an ARN (arn:partition:service:region:account:resource))");
    CHECK(parse_fails(head + R"({"Effect":"Allow","Action":"*","Resource":"arn:aws:iot:x"}]})") ==
          R"(Statement[0]: resource "arn:aws:iot:x" has fewer than 6 colon-separated fields)");
    CHECK(parse_fails(head + R"({"Effect":"Allow","Action":"*",
        "Resource":"arn:aws:iot:*:*:topic/${iot:ClientId"}]})") ==
          R"(Statement[0]: unterminated policy variable in "arn:aws:iot:*:*:topic/${iot:ClientId")");
    CHECK(parse_fails(head + R"({"Effect":"Allow","Action":"*","Resource":"*",
        "Principal":"*"}]})") == R"(Statement[0]: unknown field "Principal")");
    CHECK(parse_fails(head + R"({"Effect":"Allow","Action":"*","Resource":"*",
        "Condition":{"StringEqualz":{"k":"v"}}}]})") ==
          R"(Statement[0]: unknown condition operator "StringEqualz")");
    CHECK(parse_fails(head + R"({"Effect":"Allow","Action":"*","Resource":"*",
        "Condition":{"StringEquals":{"k":[]}}}]})") ==
          R"(Statement[0]: condition "StringEquals" on "k" has no values)");
    CHECK(parse_fails(head + R"({"Effect":"Allow","Action":"*","Resource":"*",
        "Condition":{"StringEquals":{"k":{"x":1}}}}]})") ==
          R"(Statement[0]: condition "StringEquals" on "k" must have a string or an array of strings as its value)");
    CHECK(parse_fails(head + R"({"Sid":"S","Effect":"Allow","Action":"*","Resource":"*"},
        {"Sid":"S","Effect":"Deny","Action":"*","Resource":"*"}]})") ==
          R"(Statement[1] (Sid "S"): duplicate Sid (also used by Statement[0]))");
}

TEST_CASE("document: errors outside statements") {
    CHECK(parse_fails("not json").starts_with("the policy is not valid JSON"));
    CHECK(parse_fails("[]") == "the policy must be a JSON object");
    CHECK(parse_fails(R"({"Version":"2012-10-17"})") == R"("Statement" is missing)");
    CHECK(parse_fails(R"({"Version":"2012-10-18","Statement":[]})") ==
          R"("Version" must be "2012-10-17" or "2008-10-17")");
    CHECK(parse_fails(R"({"Version":"2012-10-17","Statement":[]})") ==
          R"("Statement" must not be an empty array)");
    CHECK(parse_fails(R"({"Version":"2012-10-17","Statement":"x"})") ==
          R"("Statement" must be an object or an array of objects)");
    CHECK(parse_fails(R"({"Version":"2012-10-17","Statement":{},"Extra":1})") ==
          R"(unknown top-level field "Extra")");
    CHECK(parse_fails(R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*",
        "Resource":"*"}, 5]})") == "Statement[1]: a statement must be an object");
}

TEST_CASE("document: at most 2048 characters excluding whitespace") {
    // Pad with a Sid: the document's other characters are fixed.
    const std::string prefix = R"({"Version":"2012-10-17","Statement":{"Sid":")";
    const std::string suffix = R"(","Effect":"Allow","Action":"*","Resource":"*"}})";
    const std::size_t fixed = policy_size(prefix + suffix);
    const std::string at_limit = prefix + std::string(2048 - fixed, 'a') + suffix;
    CHECK(policy_size(at_limit) == 2048);
    parse_ok(at_limit);
    const std::string over = prefix + std::string(2049 - fixed, 'a') + suffix;
    CHECK(parse_fails(over) ==
          "the policy has 2049 characters excluding whitespace; at most 2048 are allowed");
    // Whitespace does not count, whatever there is of it.
    parse_ok(std::string(5000, ' ') + at_limit + std::string(5000, '\n'));
    // Characters, not bytes: a two-byte UTF-8 character counts once.
    CHECK(policy_size("\xc3\xa9 \t\r\n") == 1);
}

TEST_CASE("document: condition operator names") {
    auto o = parse_condition_operator("ForAnyValue:StringLikeIgnoreCaseIfExists");
    REQUIRE(o);
    CHECK(o->op == condition_op::string_like);
    CHECK(o->ignore_case);
    CHECK(o->if_exists);
    CHECK(o->qualifier == set_qualifier::for_any_value);
    o = parse_condition_operator("ForAllValues:NotIpAddress");
    REQUIRE(o);
    CHECK(o->op == condition_op::not_ip_address);
    CHECK(o->qualifier == set_qualifier::for_all_values);
    CHECK_FALSE(o->if_exists);
    for (const char* name :
         {"StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
          "StringLike", "StringNotLike", "ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike",
          "Bool", "Null", "NumericEquals", "NumericNotEquals", "NumericLessThan",
          "NumericLessThanEquals", "NumericGreaterThan", "NumericGreaterThanEquals", "IpAddress",
          "NotIpAddress", "BoolIfExists", "NumericLessThanIfExists"}) {
        CHECK_MESSAGE(parse_condition_operator(name).has_value(), name);
    }
    CHECK_FALSE(parse_condition_operator("NullIfExists"));
    CHECK_FALSE(parse_condition_operator("ForSomeValues:StringEquals"));
    CHECK_FALSE(parse_condition_operator("stringequals"));
    CHECK_FALSE(parse_condition_operator(""));
}
