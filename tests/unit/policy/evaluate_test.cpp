#include "policy_test_support.hpp"

#include <string>

#include <doctest/doctest.h>

using namespace policy_test;

TEST_CASE("evaluate: an empty set and no matching statement are implicit denies") {
    const compiled_policy_set empty;
    CHECK(empty.evaluate(action::connect, arn("client/x")) == decision::implicit_deny);
    CHECK(empty.explain(action::connect, arn("client/x")).decided_by == std::nullopt);
    const auto c = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/a")));
    CHECK(check(c, action::publish, "b") == decision::implicit_deny);
}

TEST_CASE("evaluate: an explicit Deny wins over any Allow, in any policy, in any order") {
    const auto allow_all = allow("\"iot:*\"", "\"*\"");
    const auto deny_secret = allow("\"iot:Publish\"", quoted_arn("topic/secret/*"), {}, "Deny");
    for (const auto& order : {std::vector<std::string>{allow_all, deny_secret},
                              std::vector<std::string>{deny_secret, allow_all}}) {
        const auto c = compile_all(order, {});
        CHECK(check(c, action::publish, "secret/x") == decision::explicit_deny);
        CHECK(check(c, action::publish, "public/x") == decision::allowed);
        CHECK(check(c, action::receive, "secret/x") == decision::allowed);
    }
    // Within one document too.
    const auto one = compile_one(R"({"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"iot:Publish","Resource":"*"},
        {"Effect":"Deny","Action":"iot:Publish","Resource":")" + arn("topic/a") + R"("},
        {"Effect":"Allow","Action":"iot:Publish","Resource":")" + arn("topic/a") + R"("}]})");
    CHECK(check(one, action::publish, "a") == decision::explicit_deny);
    CHECK(check(one, action::publish, "b") == decision::allowed);
}

TEST_CASE("evaluate: a Deny alone is an explicit deny, not an implicit one") {
    const auto c = compile_one(allow("\"iot:Connect\"", "\"*\"", {}, "Deny"));
    CHECK(check(c, action::connect, "x") == decision::explicit_deny);
    CHECK(check(c, action::publish, "x") == decision::implicit_deny);
}

TEST_CASE("evaluate: NotAction applies to every other action") {
    const auto c = compile_one(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow",
        "NotAction":["iot:Subscribe","iot:Receive"],"Resource":"*"}})");
    CHECK(check(c, action::connect, "x") == decision::allowed);
    CHECK(check(c, action::publish, "x") == decision::allowed);
    CHECK(check(c, action::retain_publish, "x") == decision::allowed);
    CHECK(check(c, action::subscribe, "x") == decision::implicit_deny);
    CHECK(check(c, action::receive, "x") == decision::implicit_deny);
    CHECK(c.set.evaluate("iot:DeleteThing", arn("thing/t")) == decision::allowed);

    const auto deny = compile_all({allow("\"iot:*\"", "\"*\""), R"({"Version":"2012-10-17",
        "Statement":{"Effect":"Deny","NotAction":"iot:Receive","Resource":")" +
                                                                     arn("topic/locked/*") +
                                                                     R"("}})"},
                                  {});
    CHECK(check(deny, action::publish, "locked/a") == decision::explicit_deny);
    CHECK(check(deny, action::receive, "locked/a") == decision::allowed);
}

TEST_CASE("evaluate: NotResource applies to every other resource") {
    const auto c = compile_one(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow",
        "Action":"iot:Publish","NotResource":[")" + arn("topic/admin/*") + R"(",")" +
                               arn("topic/$aws/*") + R"("]}})");
    CHECK(check(c, action::publish, "dev/x") == decision::allowed);
    CHECK(check(c, action::publish, "admin/x") == decision::implicit_deny);
    CHECK(check(c, action::publish, "$aws/things/x/shadow/update") == decision::implicit_deny);

    const auto deny = compile_all({allow("\"iot:Publish\"", "\"*\""), R"({"Version":"2012-10-17",
        "Statement":{"Effect":"Deny","Action":"iot:Publish","NotResource":")" +
                                                                          arn("topic/dev/*") +
                                                                          R"("}})"},
                                  {});
    CHECK(check(deny, action::publish, "dev/x") == decision::allowed);
    CHECK(check(deny, action::publish, "other") == decision::explicit_deny);
}

TEST_CASE("evaluate: a statement whose conditions fail does not match, for Allow and Deny") {
    context ctx;
    ctx.client_id = "c1";
    ctx.source_ip = "10.0.0.1";
    const auto c = compile_all(
            {allow("\"iot:*\"", "\"*\""),
             allow("\"iot:Publish\"", "\"*\"",
                   R"({"IpAddress":{"aws:SourceIp":"192.168.0.0/16"}})", "Deny")},
            ctx);
    CHECK(check(c, action::publish, "x") == decision::allowed);
    ctx.source_ip = "192.168.1.1";
    const auto d = compile_all(
            {allow("\"iot:*\"", "\"*\""),
             allow("\"iot:Publish\"", "\"*\"",
                   R"({"IpAddress":{"aws:SourceIp":"192.168.0.0/16"}})", "Deny")},
            ctx);
    CHECK(check(d, action::publish, "x") == decision::explicit_deny);
    CHECK(check(d, action::receive, "x") == decision::allowed);
}

TEST_CASE("explain: which policy, version and statement decided, and the variables") {
    context ctx;
    ctx.client_id = "dev-1";
    std::vector<policy_document> docs{
            parse_ok(R"({"Version":"2012-10-17","Statement":[
                {"Sid":"Own","Effect":"Allow","Action":"iot:Publish",
                 "Resource":")" + arn("topic/dev/${iot:ClientId}/*") + R"("},
                {"Sid":"NoAdmin","Effect":"Deny","Action":"iot:*",
                 "Resource":")" + arn("topic/dev/*/admin") + R"("}]})"),
            parse_ok(R"({"Version":"2012-10-17","Statement":{"Sid":"Ip","Effect":"Allow",
                "Action":"iot:Publish","Resource":"*",
                "Condition":{"StringEquals":{"iot:ClientId":"${iot:Connection.Thing.ThingName}"}}}})")};
    const auto set = compile({{"device-policy", "3", &docs[0]}, {"ip-policy", "1", &docs[1]}}, ctx);

    auto e = set.explain(action::publish, arn("topic/dev/dev-1/t"));
    CHECK(e.result == decision::allowed);
    REQUIRE(e.decided_by);
    CHECK(e.decided_by->policy == "device-policy");
    CHECK(e.decided_by->version_id == "3");
    CHECK(e.decided_by->statement_index == 0);
    CHECK(e.decided_by->sid == "Own");
    CHECK(e.decided_by->resources ==
          std::vector<std::string>{"arn:aws:iot:local:000000000000:topic/dev/dev-1/*"});
    REQUIRE(e.conditions_failed.size() == 1);
    CHECK(e.conditions_failed[0].policy == "ip-policy");
    REQUIRE(e.variables.size() == 2);
    CHECK(e.variables[0].name == "iot:ClientId");
    CHECK(e.variables[0].value == "dev-1");
    CHECK(e.variables[1].name == "iot:Connection.Thing.ThingName");
    CHECK_FALSE(e.variables[1].value);

    e = set.explain(action::publish, arn("topic/dev/dev-1/admin"));
    CHECK(e.result == decision::explicit_deny);
    REQUIRE(e.decided_by);
    CHECK(e.decided_by->sid == "NoAdmin");
    CHECK(e.decided_by->eff == effect::deny);
    CHECK(e.matched.size() == 2);
    const auto text = e.to_string();
    CHECK(text.find("EXPLICIT_DENY for iot:Publish on arn:aws:iot:local:000000000000:topic/dev/dev-1/admin") == 0);
    CHECK(text.find(R"(decided by: policy "device-policy" version 3 Statement[1] (Sid "NoAdmin") Deny)") !=
          std::string::npos);
    CHECK(text.find(R"(${iot:ClientId} = "dev-1")") != std::string::npos);
    CHECK(text.find("${iot:Connection.Thing.ThingName} = unresolved (no thing is attached to "
                    "this connection)") !=
          std::string::npos);

    e = set.explain(action::subscribe, arn("topicfilter/x"));
    CHECK(e.result == decision::implicit_deny);
    CHECK_FALSE(e.decided_by);
    CHECK(e.to_string().find("implicit deny") != std::string::npos);
    CHECK(to_string(decision::allowed) == "ALLOWED");
}

TEST_CASE("resources: ARNs for the broker's checks, from config") {
    const resource_names defaults;
    CHECK(client_arn(defaults, "c1") == "arn:aws:iot:local:000000000000:client/c1");
    CHECK(topic_arn(defaults, "a/b") == "arn:aws:iot:local:000000000000:topic/a/b");
    CHECK(topic_filter_arn(defaults, "$share/g/a/#") ==
          "arn:aws:iot:local:000000000000:topicfilter/$share/g/a/#");
    const resource_names eu{"eu-central-1", "123456789012"};
    arn_builder b(eu);
    CHECK(b.client("c") == "arn:aws:iot:eu-central-1:123456789012:client/c");
    CHECK(b.topic("t/1") == "arn:aws:iot:eu-central-1:123456789012:topic/t/1");
    CHECK(b.topic_filter("t/+") == "arn:aws:iot:eu-central-1:123456789012:topicfilter/t/+");
    CHECK(b.for_action(action::connect, "c") == "arn:aws:iot:eu-central-1:123456789012:client/c");
    CHECK(b.for_action(action::subscribe, "f") ==
          "arn:aws:iot:eu-central-1:123456789012:topicfilter/f");
    for (auto a : {action::publish, action::retain_publish, action::receive}) {
        CHECK(b.for_action(a, "t") == "arn:aws:iot:eu-central-1:123456789012:topic/t");
    }
    CHECK(action_name(action::retain_publish) == "iot:RetainPublish");
    // The account and region in a policy must match the configured ones (or be '*').
    const auto c = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/t")));
    CHECK(c.set.evaluate(action::publish, b.topic("t")) == decision::implicit_deny);
}

TEST_CASE("decision cache: hits, bounded size, cleared on policy change") {
    auto c = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/a/*")));
    decision_cache cache(4);
    CHECK(cache.capacity() == 4);
    CHECK_FALSE(cache.find(action::publish, arn("topic/a/1")));
    CHECK(cache.evaluate(c.set, action::publish, arn("topic/a/1")) == decision::allowed);
    CHECK(cache.find(action::publish, arn("topic/a/1")) == decision::allowed);
    CHECK_FALSE(cache.find(action::receive, arn("topic/a/1"))); // the action is part of the key
    CHECK(cache.evaluate(c.set, action::publish, arn("topic/b")) == decision::implicit_deny);
    CHECK(cache.size() == 2);
    for (int i = 0; i < 100; ++i) {
        cache.evaluate(c.set, action::publish, arn("topic/a/" + std::to_string(i)));
        CHECK(cache.size() <= cache.capacity());
    }
    // The most recently used entry survives.
    CHECK(cache.find(action::publish, arn("topic/a/99")) == decision::allowed);

    // The policy changes: the owner clears the cache and the new decision is computed.
    cache.insert(action::publish, arn("topic/a/x"), decision::allowed);
    c = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/a/*"), {}, "Deny"));
    cache.clear();
    CHECK(cache.size() == 0);
    CHECK_FALSE(cache.find(action::publish, arn("topic/a/x")));
    CHECK(cache.evaluate(c.set, action::publish, arn("topic/a/x")) == decision::explicit_deny);

    // Oversized resources are evaluated, not cached.
    const auto big = arn("topic/a/" + std::string(600, 'z'));
    CHECK(cache.evaluate(c.set, action::publish, big) == decision::explicit_deny);
    CHECK_FALSE(cache.find(action::publish, big));
}
