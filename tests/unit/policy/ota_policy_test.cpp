// The FreeRTOS OTA device policy (docs/policies.md) against allowed and forbidden requests, and
// attempts to get more than a policy grants.

#include "policy_test_support.hpp"

#include <string>

#include <doctest/doctest.h>

using namespace policy_test;

namespace {

// Keep in sync with docs/policies.md.
constexpr const char* ota_device_policy = R"({
  "Version": "2012-10-17",
  "Statement": [
    {
      "Sid": "ConnectAsThing",
      "Effect": "Allow",
      "Action": "iot:Connect",
      "Resource": "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}",
      "Condition": { "Bool": { "iot:Connection.Thing.IsAttached": "true" } }
    },
    {
      "Sid": "OwnJobsAndStreams",
      "Effect": "Allow",
      "Action": ["iot:Publish", "iot:Receive"],
      "Resource": [
        "arn:aws:iot:*:*:topic/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*",
        "arn:aws:iot:*:*:topic/$aws/things/${iot:Connection.Thing.ThingName}/streams/*"
      ]
    },
    {
      "Sid": "SubscribeOwnJobsAndStreams",
      "Effect": "Allow",
      "Action": "iot:Subscribe",
      "Resource": [
        "arn:aws:iot:*:*:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/jobs/*",
        "arn:aws:iot:*:*:topicfilter/$aws/things/${iot:Connection.Thing.ThingName}/streams/*"
      ]
    }
  ]
})";

context device(std::string client_id, std::optional<std::string> thing) {
    context ctx;
    ctx.client_id = std::move(client_id);
    ctx.source_ip = "127.0.0.1";
    certificate_info cert;
    cert.id = std::string(64, 'a');
    cert.subject = {{"CommonName", "ota-device"}};
    ctx.certificate = cert;
    if (thing) {
        ctx.thing = thing_info{*thing, "", {}};
    }
    return ctx;
}

} // namespace

TEST_CASE("OTA device policy: the device's own jobs and streams topics are allowed") {
    const auto c = compile_one(ota_device_policy, device("thing-1", "thing-1"));
    CHECK(check(c, action::connect, "thing-1") == decision::allowed);
    for (const char* topic : {"$aws/things/thing-1/jobs/start-next",
                              "$aws/things/thing-1/jobs/$next/get",
                              "$aws/things/thing-1/jobs/AFR_OTA-u1/update",
                              "$aws/things/thing-1/streams/AFR_OTA-s1/get/cbor",
                              "$aws/things/thing-1/streams/AFR_OTA-s1/describe/json"}) {
        CAPTURE(topic);
        CHECK(check(c, action::publish, topic) == decision::allowed);
        CHECK(check(c, action::receive, topic) == decision::allowed);
    }
    for (const char* filter : {"$aws/things/thing-1/jobs/notify-next",
                               "$aws/things/thing-1/jobs/$next/get/accepted",
                               "$aws/things/thing-1/jobs/+/update/accepted",
                               "$aws/things/thing-1/jobs/#",
                               "$aws/things/thing-1/streams/AFR_OTA-s1/data/cbor",
                               "$aws/things/thing-1/streams/+/data/cbor"}) {
        CAPTURE(filter);
        CHECK(check(c, action::subscribe, filter) == decision::allowed);
    }
}

TEST_CASE("OTA device policy: everything else is denied") {
    const auto c = compile_one(ota_device_policy, device("thing-1", "thing-1"));
    CHECK(check(c, action::connect, "thing-2") == decision::implicit_deny);
    CHECK(check(c, action::connect, "thing-1x") == decision::implicit_deny);
    for (const char* topic : {"$aws/things/thing-2/jobs/start-next",
                              "$aws/things/thing-1/shadow/update",
                              "$aws/things/thing-1/jobs", // no trailing level
                              "$aws/things/thing-1x/jobs/x",
                              "dt/thing-1/telemetry",
                              "$aws/things/THING-1/jobs/x"}) {
        CAPTURE(topic);
        CHECK(check(c, action::publish, topic) == decision::implicit_deny);
        CHECK(check(c, action::receive, topic) == decision::implicit_deny);
    }
    CHECK(check(c, action::retain_publish, "$aws/things/thing-1/jobs/x") ==
          decision::implicit_deny);
    for (const char* filter : {"#", "$aws/#", "$aws/things/#", "$aws/things/+/jobs/notify-next",
                               "$aws/things/thing-1/#", "$aws/things/thing-1/+/notify-next",
                               "$aws/things/thing-2/jobs/notify-next",
                               "$share/g/$aws/things/thing-1/jobs/notify-next"}) {
        CAPTURE(filter);
        CHECK(check(c, action::subscribe, filter) == decision::implicit_deny);
    }
}

TEST_CASE("OTA device policy: without a thing the device gets nothing") {
    // The certificate's thing is not bound (client id differs, not exclusive): no thing.
    const auto c = compile_one(ota_device_policy, device("thing-1", std::nullopt));
    CHECK(check(c, action::connect, "thing-1") == decision::implicit_deny);
    CHECK(check(c, action::publish, "$aws/things/thing-1/jobs/x") == decision::implicit_deny);
    CHECK(check(c, action::subscribe, "$aws/things/thing-1/jobs/#") == decision::implicit_deny);
    // An exclusively attached thing binds whatever the client id: connecting as another client id
    // than the thing's name is still refused by this policy.
    const auto d = compile_one(ota_device_policy, device("other-id", "thing-1"));
    CHECK(check(d, action::connect, "other-id") == decision::implicit_deny);
    CHECK(check(d, action::publish, "$aws/things/thing-1/jobs/x") == decision::allowed);
}

TEST_CASE("bypass: a client id '+' or '#' substituted into a topicfilter stays literal") {
    const auto policy = allow("\"iot:Subscribe\"", quoted_arn("topicfilter/x/${iot:ClientId}"));
    for (const char* id : {"+", "#"}) {
        CAPTURE(id);
        const auto c = compile_one(policy, device(id, std::nullopt));
        // It grants the literal filter "x/+" or "x/#" only — and that filter is a wildcard
        // subscription in MQTT. That is why the broker refuses such client ids
        // (client_id_safe_for_policies) unless configured otherwise.
        CHECK(check(c, action::subscribe, std::string("x/") + id) == decision::allowed);
        // It never matches other filters as if '+' or '#' were policy wildcards.
        for (const char* filter : {"x/a", "x/a/b", "x/", "x/+/b", "x/#/a"}) {
            CAPTURE(filter);
            CHECK(check(c, action::subscribe, filter) == decision::implicit_deny);
        }
        CHECK_FALSE(client_id_safe_for_policies(id));
    }
    CHECK(client_id_safe_for_policies("dev-1"));
    CHECK_FALSE(client_id_safe_for_policies("a+b"));
    CHECK_FALSE(client_id_safe_for_policies("dev#1"));

    // A policy '+' is a literal character too: topicfilter/x/+ does not grant "x/a".
    const auto plus = compile_one(allow("\"iot:Subscribe\"", quoted_arn("topicfilter/x/+")));
    CHECK(check(plus, action::subscribe, "x/a") == decision::implicit_deny);
    // And a topic resource with '#' does not match topics below it.
    const auto hash = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/x/#")));
    CHECK(check(hash, action::publish, "x/a") == decision::implicit_deny);
}

TEST_CASE("bypass: topic and topicfilter resources are not interchangeable") {
    // A topic/ grant does not cover SUBSCRIBE, and a topicfilter/ grant does not cover PUBLISH or
    // Receive, even with iot:*.
    const auto topic_only = compile_one(allow("\"iot:*\"", quoted_arn("topic/a/*")));
    CHECK(check(topic_only, action::publish, "a/b") == decision::allowed);
    CHECK(check(topic_only, action::subscribe, "a/b") == decision::implicit_deny);
    CHECK(check(topic_only, action::subscribe, "a/#") == decision::implicit_deny);

    const auto filter_only = compile_one(allow("\"iot:*\"", quoted_arn("topicfilter/a/*")));
    CHECK(check(filter_only, action::subscribe, "a/#") == decision::allowed);
    CHECK(check(filter_only, action::publish, "a/b") == decision::implicit_deny);
    CHECK(check(filter_only, action::receive, "a/b") == decision::implicit_deny);

    // "topic*" in a pattern covers both kinds: that is what the policy says.
    const auto both = compile_one(allow("\"iot:*\"", quoted_arn("topic*")));
    CHECK(check(both, action::subscribe, "a") == decision::allowed);
    CHECK(check(both, action::publish, "a") == decision::allowed);

    // A topic that names a resource type cannot escape its own: a publish to "topicfilter/x"
    // is the resource topic/topicfilter/x.
    const auto tf = compile_one(allow("\"iot:Publish\"", quoted_arn("topicfilter/x")));
    CHECK(check(tf, action::publish, "topicfilter/x") == decision::implicit_deny);
    // Client ids with '/' or ':' cannot reach other resources either.
    const auto cl = compile_one(allow("\"iot:Connect\"", quoted_arn("client/a")));
    CHECK(check(cl, action::connect, "a/../b") == decision::implicit_deny);
    CHECK(check(cl, action::connect, "x:client/a") == decision::implicit_deny);
}

TEST_CASE("bypass: $share filters are matched literally, as sent") {
    const auto plain = compile_one(allow("\"iot:Subscribe\"", quoted_arn("topicfilter/a/*")));
    CHECK(check(plain, action::subscribe, "a/b") == decision::allowed);
    CHECK(check(plain, action::subscribe, "$share/g/a/b") == decision::implicit_deny);

    const auto shared =
            compile_one(allow("\"iot:Subscribe\"", quoted_arn("topicfilter/$share/workers/a/*")));
    CHECK(check(shared, action::subscribe, "$share/workers/a/b") == decision::allowed);
    CHECK(check(shared, action::subscribe, "$share/other/a/b") == decision::implicit_deny);
    CHECK(check(shared, action::subscribe, "a/b") == decision::implicit_deny);

    // A deny on the plain filter must be written for the shared form too; the engine does not
    // strip "$share/<group>/".
    const auto deny = compile_all({allow("\"iot:Subscribe\"", "\"*\""),
                                   allow("\"iot:Subscribe\"", quoted_arn("topicfilter/secret/*"),
                                         {}, "Deny")},
                                  {});
    CHECK(check(deny, action::subscribe, "secret/#") == decision::explicit_deny);
    CHECK(check(deny, action::subscribe, "$share/g/secret/#") == decision::allowed);
}
