#include "policy_test_support.hpp"

#include "policy/glob.hpp"

#include <doctest/doctest.h>

using namespace policy_test;

namespace {

struct row {
    const char* resource;
    action act;
    const char* request;
    bool match;
};

} // namespace

TEST_CASE("resource matching: the truth table of GATEWAY-SEMANTICS §1, row by row") {
    const row rows[] = {
            {"topicfilter/a/*", action::subscribe, "a/#", true},
            {"topicfilter/a/*", action::subscribe, "a/+/b", true},
            {"topicfilter/a/+", action::subscribe, "a/x", false},
            {"topicfilter/a/+", action::subscribe, "a/+", true},
            {"topicfilter/sensor\?\?\?/t", action::subscribe, "sensor123/t", true},
            {"topic/a/*", action::publish, "a", false},
            {"topic/a*", action::publish, "a", true},
    };
    for (const auto& r : rows) {
        CAPTURE(r.resource);
        CAPTURE(r.request);
        const auto c = compile_one(allow(std::string("\"") + std::string(action_name(r.act)) + "\"",
                                         quoted_arn(r.resource)));
        CHECK(check(c, r.act, r.request) == (r.match ? decision::allowed : decision::implicit_deny));
    }
    // Last row: topic/$aws/things/T/shadow/* granted for iot:Subscribe matches no SUBSCRIBE
    // (Subscribe is checked against topicfilter/...).
    const auto c = compile_one(allow("\"iot:Subscribe\"", quoted_arn("topic/$aws/things/T/shadow/*")));
    for (const char* filter : {"$aws/things/T/shadow/update", "$aws/things/T/shadow/#",
                               "$aws/things/T/shadow/+", "#", "$aws/things/T/shadow/*"}) {
        CAPTURE(filter);
        CHECK(check(c, action::subscribe, filter) == decision::implicit_deny);
    }
}

TEST_CASE("resource matching: '*' spans '/', '?' is one character, case-sensitive, per field") {
    auto c = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/a/*/z")));
    CHECK(check(c, action::publish, "a/b/z") == decision::allowed);
    CHECK(check(c, action::publish, "a/b/c/d/z") == decision::allowed);
    CHECK(check(c, action::publish, "a//z") == decision::allowed);
    CHECK(check(c, action::publish, "A/b/z") == decision::implicit_deny);
    CHECK(check(c, action::publish, "a/b/Z") == decision::implicit_deny);

    c = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/t?")));
    CHECK(check(c, action::publish, "t1") == decision::allowed);
    CHECK(check(c, action::publish, "t\xc3\xa9") == decision::allowed); // one UTF-8 character
    CHECK(check(c, action::publish, "t") == decision::implicit_deny);
    CHECK(check(c, action::publish, "t12") == decision::implicit_deny);

    // Region and account are fields of their own: a '*' there does not run into the resource.
    c = compile_one(allow("\"iot:Publish\"", R"("arn:aws:iot:*:*:topic/x")"));
    CHECK(check(c, action::publish, "x") == decision::allowed);
    CHECK(check(c, action::publish, "y") == decision::implicit_deny);
    c = compile_one(allow("\"iot:Publish\"", R"("arn:aws:iot:eu-west-1:*:topic/x")"));
    CHECK(check(c, action::publish, "x") == decision::implicit_deny);
    // The 6th field keeps its colons; a topic with colons is matched as one field.
    c = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/a:*")));
    CHECK(check(c, action::publish, "a:b:c") == decision::allowed);
    CHECK(check(c, action::publish, "a") == decision::implicit_deny);

    c = compile_one(allow("\"iot:Publish\"", "\"*\""));
    CHECK(check(c, action::publish, "anything/at/all") == decision::allowed);
    CHECK(c.set.evaluate(action::publish, "not-an-arn") == decision::allowed);
    c = compile_one(allow("\"iot:Publish\"", quoted_arn("*")));
    CHECK(c.set.evaluate(action::publish, "not-an-arn") == decision::implicit_deny);
}

TEST_CASE("actions: iot:<Name>, case-insensitive, with '*' and '?'") {
    auto c = compile_one(allow("\"IOT:publish\"", "\"*\""));
    CHECK(check(c, action::publish, "t") == decision::allowed);
    CHECK(check(c, action::retain_publish, "t") == decision::implicit_deny);
    CHECK(check(c, action::receive, "t") == decision::implicit_deny);

    c = compile_one(allow("\"iot:*Publish\"", "\"*\""));
    CHECK(check(c, action::publish, "t") == decision::allowed);
    CHECK(check(c, action::retain_publish, "t") == decision::allowed);
    CHECK(check(c, action::subscribe, "t") == decision::implicit_deny);

    c = compile_one(allow("\"iot:Rece?ve\"", "\"*\""));
    CHECK(check(c, action::receive, "t") == decision::allowed);

    c = compile_one(allow("\"iot:*\"", "\"*\""));
    for (auto a : {action::connect, action::publish, action::retain_publish, action::subscribe,
                   action::receive}) {
        CHECK(check(c, a, "x") == decision::allowed);
    }
    CHECK(c.set.evaluate("iot:CreateJob", "arn:aws:iot:local:000000000000:job/j1") ==
          decision::allowed);
    CHECK(c.set.evaluate("s3:GetObject", "arn:aws:iot:local:000000000000:job/j1") ==
          decision::implicit_deny);

    c = compile_one(allow("[\"iot:Connect\",\"iot:Subscribe\"]", "\"*\""));
    CHECK(check(c, action::connect, "x") == decision::allowed);
    CHECK(check(c, action::subscribe, "x") == decision::allowed);
    CHECK(check(c, action::publish, "x") == decision::implicit_deny);
}

TEST_CASE("glob: matcher edge cases") {
    using thinggate::policy::glob;
    CHECK(glob::from_text("").match(""));
    CHECK_FALSE(glob::from_text("").match("a"));
    CHECK(glob::from_text("*").match(""));
    CHECK(glob::from_text("**a**").match("bab"));
    CHECK(glob::from_text("a*b*c").match("aXbYbZc"));
    CHECK_FALSE(glob::from_text("a*b*c").match("aXbYbZ"));
    CHECK(glob::from_text("*?").match("\xc3\xa9"));
    CHECK_FALSE(glob::from_text("??").match("\xc3\xa9"));
    CHECK(glob::from_text("a*", false).match("a*"));
    CHECK_FALSE(glob::from_text("a*", false).match("ab"));
    CHECK(glob::from_text("AbC").match("aBc", true));
    CHECK_FALSE(glob::from_text("AbC").match("aBc", false));
    CHECK_FALSE(glob::never().match(""));
    CHECK(glob::from_text("x*?").to_string() == "x*?");
    CHECK(glob::from_text("x*?$", false).to_string() == "x${*}${?}${$}");
    // Long subjects with many stars stay correct (and quick).
    CHECK_FALSE(glob::from_text("*a*a*a*a*a*b").match(std::string(2000, 'a')));
}
