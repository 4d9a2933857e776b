#include "policy_test_support.hpp"

#include "policy/condition.hpp"

#include <string>

#include <doctest/doctest.h>

using namespace policy_test;

namespace {

context base_context() {
    context ctx;
    ctx.client_id = "dev-42";
    ctx.source_ip = "192.0.2.10";
    certificate_info cert;
    cert.id = "abc";
    cert.subject = {{"CommonName", "dev-42"},
                    {"OrganizationalUnit", "Fleet"},
                    {"OrganizationalUnit", "Berlin"}};
    ctx.certificate = cert;
    ctx.thing = thing_info{"dev-42", "", {{"count", "7"}, {"flag", "true"}}};
    return ctx;
}

/// Does an Allow iot:* on * with this Condition block allow the request?
bool holds(const context& ctx, const std::string& condition, action a = action::publish) {
    const auto c = compile_one(allow("\"iot:*\"", "\"*\"", condition), ctx);
    const auto d = check(c, a, a == action::connect ? ctx.client_id : "t");
    return d == decision::allowed;
}

bool holds(const std::string& condition, action a = action::publish) {
    return holds(base_context(), condition, a);
}

} // namespace

TEST_CASE("conditions: StringEquals / StringNotEquals (+IgnoreCase)") {
    CHECK(holds(R"({"StringEquals":{"iot:ClientId":"dev-42"}})"));
    CHECK(holds(R"({"StringEquals":{"iot:ClientId":["x","dev-42"]}})"));
    CHECK_FALSE(holds(R"({"StringEquals":{"iot:ClientId":"DEV-42"}})"));
    CHECK_FALSE(holds(R"({"StringEquals":{"iot:ClientId":"dev-*"}})")); // no wildcards
    CHECK(holds(R"({"StringEqualsIgnoreCase":{"iot:ClientId":"DEV-42"}})"));
    CHECK(holds(R"({"StringNotEquals":{"iot:ClientId":["a","b"]}})"));
    CHECK_FALSE(holds(R"({"StringNotEquals":{"iot:ClientId":["a","dev-42"]}})"));
    CHECK(holds(R"({"StringNotEquals":{"iot:ClientId":"DEV-42"}})"));
    CHECK_FALSE(holds(R"({"StringNotEqualsIgnoreCase":{"iot:ClientId":"DEV-42"}})"));
    // Condition key names are case-insensitive; values with variables are substituted.
    CHECK(holds(R"({"StringEquals":{"IOT:CLIENTID":"${iot:Connection.Thing.ThingName}"}})"));
    CHECK(holds(R"({"StringEquals":{"iot:Certificate.Subject.CommonName":"${iot:ClientId}"}})"));
}

TEST_CASE("conditions: StringLike / StringNotLike (+IgnoreCase)") {
    CHECK(holds(R"({"StringLike":{"iot:ClientId":"dev-*"}})"));
    CHECK(holds(R"({"StringLike":{"iot:ClientId":"dev-4?"}})"));
    CHECK_FALSE(holds(R"({"StringLike":{"iot:ClientId":"DEV-*"}})"));
    CHECK(holds(R"({"StringLikeIgnoreCase":{"iot:ClientId":"DEV-*"}})"));
    CHECK(holds(R"({"StringNotLike":{"iot:ClientId":"admin-*"}})"));
    CHECK_FALSE(holds(R"({"StringNotLike":{"iot:ClientId":["admin-*","dev-*"]}})"));
    CHECK_FALSE(holds(R"({"StringNotLikeIgnoreCase":{"iot:ClientId":"DEV-*"}})"));
    // A substituted value is literal inside a Like pattern.
    auto ctx = base_context();
    ctx.thing->name = "dev*";
    CHECK_FALSE(holds(ctx, R"({"StringLike":{"iot:ClientId":"${iot:Connection.Thing.ThingName}"}})"));
    ctx.client_id = "dev*";
    CHECK(holds(ctx, R"({"StringLike":{"iot:ClientId":"${iot:Connection.Thing.ThingName}"}})"));
}

TEST_CASE("conditions: ArnEquals / ArnLike and their negations, on iot:LastWillTopic") {
    auto ctx = base_context();
    ctx.will_topic = "dev-42/status";
    const auto will = arn("topic/dev-42/status");
    CHECK(holds(ctx, R"({"ArnEquals":{"iot:LastWillTopic":")" + will + R"("}})", action::connect));
    CHECK(holds(ctx, R"({"ArnLike":{"iot:LastWillTopic":"arn:aws:iot:*:*:topic/${iot:ClientId}/*"}})",
                action::connect));
    CHECK_FALSE(holds(ctx, R"({"ArnLike":{"iot:LastWillTopic":"arn:aws:iot:*:*:topic/other/*"}})",
                      action::connect));
    CHECK(holds(ctx, R"({"ArnNotLike":{"iot:LastWillTopic":"arn:aws:iot:*:*:topic/other/*"}})",
                action::connect));
    CHECK_FALSE(holds(ctx, R"({"ArnNotEquals":{"iot:LastWillTopic":")" + will + R"("}})",
                      action::connect));
    // '*' in one field does not run into the next.
    CHECK_FALSE(holds(ctx, R"({"ArnLike":{"iot:LastWillTopic":"arn:aws:*"}})", action::connect));
    // iot:LastWillTopic exists only for iot:Connect.
    CHECK_FALSE(holds(ctx, R"({"ArnLike":{"iot:LastWillTopic":"*"}})", action::publish));
    CHECK(holds(ctx, R"({"ArnLikeIfExists":{"iot:LastWillTopic":"arn:aws:iot:*:*:topic/x"}})",
                action::publish));
    ctx.will_topic.reset();
    CHECK_FALSE(holds(ctx, R"({"ArnLike":{"iot:LastWillTopic":"*"}})", action::connect));
}

TEST_CASE("conditions: Bool and Null") {
    CHECK(holds(R"({"Bool":{"iot:Connection.Thing.IsAttached":"true"}})"));
    CHECK(holds(R"({"Bool":{"iot:Connection.Thing.IsAttached":true}})"));
    CHECK_FALSE(holds(R"({"Bool":{"iot:Connection.Thing.IsAttached":"false"}})"));
    CHECK(holds(R"({"Bool":{"iot:Connection.Thing.Attributes[flag]":"TRUE"}})"));
    CHECK_FALSE(holds(R"({"Bool":{"iot:ClientId":"true"}})")); // not a boolean value
    auto no_thing = base_context();
    no_thing.thing.reset();
    CHECK_FALSE(holds(no_thing, R"({"Bool":{"iot:Connection.Thing.IsAttached":"true"}})"));

    CHECK(holds(R"({"Null":{"iot:Connection.Thing.Attributes[missing]":"true"}})"));
    CHECK_FALSE(holds(R"({"Null":{"iot:Connection.Thing.Attributes[count]":"true"}})"));
    CHECK(holds(R"({"Null":{"iot:Connection.Thing.Attributes[count]":"false"}})"));
    CHECK(holds(no_thing, R"({"Null":{"iot:Connection.Thing.ThingName":"true"}})"));
    CHECK_FALSE(holds(no_thing, R"({"Null":{"iot:Connection.Thing.ThingName":"false"}})"));
}

TEST_CASE("conditions: Numeric operators") {
    const std::string key = "iot:Connection.Thing.Attributes[count]"; // "7"
    auto cond = [&](const char* op, const char* v) {
        return holds(std::string(R"({")") + op + R"(":{")" + key + R"(":")" + v + R"("}})");
    };
    CHECK(cond("NumericEquals", "7"));
    CHECK(cond("NumericEquals", "7.0"));
    CHECK_FALSE(cond("NumericEquals", "8"));
    CHECK(cond("NumericNotEquals", "8"));
    CHECK_FALSE(cond("NumericNotEquals", "7"));
    CHECK(cond("NumericLessThan", "8"));
    CHECK_FALSE(cond("NumericLessThan", "7"));
    CHECK(cond("NumericLessThanEquals", "7"));
    CHECK_FALSE(cond("NumericLessThanEquals", "6.5"));
    CHECK(cond("NumericGreaterThan", "6"));
    CHECK_FALSE(cond("NumericGreaterThan", "7"));
    CHECK(cond("NumericGreaterThanEquals", "7"));
    CHECK_FALSE(cond("NumericGreaterThanEquals", "7.5"));
    CHECK_FALSE(cond("NumericEquals", "seven")); // not a number: no match
    CHECK_FALSE(holds(R"({"NumericEquals":{"iot:ClientId":"7"}})"));
}

TEST_CASE("conditions: IpAddress / NotIpAddress, IPv4 and IPv6 CIDR") {
    CHECK(holds(R"({"IpAddress":{"aws:SourceIp":"192.0.2.0/24"}})"));
    CHECK(holds(R"({"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.10"]}})"));
    CHECK_FALSE(holds(R"({"IpAddress":{"aws:SourceIp":"192.0.3.0/24"}})"));
    CHECK(holds(R"({"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}})"));
    CHECK_FALSE(holds(R"({"NotIpAddress":{"aws:SourceIp":"192.0.0.0/16"}})"));
    CHECK(holds(R"({"IpAddress":{"aws:SourceIp":"0.0.0.0/0"}})"));
    CHECK_FALSE(holds(R"({"IpAddress":{"aws:SourceIp":"::/0"}})")); // other family

    auto v6 = base_context();
    v6.source_ip = "2001:db8::1";
    CHECK(holds(v6, R"({"IpAddress":{"aws:SourceIp":"2001:db8::/32"}})"));
    CHECK_FALSE(holds(v6, R"({"IpAddress":{"aws:SourceIp":"2001:db9::/32"}})"));
    CHECK(holds(v6, R"({"NotIpAddress":{"aws:SourceIp":"192.0.2.0/24"}})"));

    using thinggate::policy::ip_in_cidr;
    CHECK(ip_in_cidr("10.1.2.3", "10.1.2.0/23"));
    CHECK_FALSE(ip_in_cidr("10.1.4.3", "10.1.2.0/23"));
    CHECK(ip_in_cidr("::1", "::1"));
    CHECK(ip_in_cidr("fe80::1:2", "fe80::/10"));
    CHECK_FALSE(ip_in_cidr("10.0.0.1", "10.0.0.0/33"));
    CHECK_FALSE(ip_in_cidr("10.0.0.1", "10.0.0.0/"));
    CHECK_FALSE(ip_in_cidr("garbage", "10.0.0.0/8"));
    CHECK_FALSE(ip_in_cidr("10.0.0.1", "garbage/8"));
}

TEST_CASE("conditions: ...IfExists and absent keys") {
    // Absent key: positive operators fail, negated ones hold, IfExists holds.
    const std::string absent = "iot:Connection.Thing.Attributes[missing]";
    CHECK_FALSE(holds(R"({"StringEquals":{")" + absent + R"(":"x"}})"));
    CHECK(holds(R"({"StringNotEquals":{")" + absent + R"(":"x"}})"));
    CHECK(holds(R"({"StringEqualsIfExists":{")" + absent + R"(":"x"}})"));
    CHECK(holds(R"({"NumericLessThanIfExists":{")" + absent + R"(":"1"}})"));
    CHECK(holds(R"({"IpAddressIfExists":{")" + absent + R"(":"10.0.0.0/8"}})"));
    // Present key: IfExists is the plain operator.
    CHECK(holds(R"({"StringEqualsIfExists":{"iot:ClientId":"dev-42"}})"));
    CHECK_FALSE(holds(R"({"StringEqualsIfExists":{"iot:ClientId":"other"}})"));
}

TEST_CASE("conditions: ForAnyValue / ForAllValues on iot:ConnectAttributes and .List") {
    auto ctx = base_context();
    ctx.persistent_session = true;
    ctx.will_topic = "dev-42/will";
    const auto c = action::connect;
    CHECK(holds(ctx, R"({"ForAnyValue:StringEquals":{"iot:ConnectAttributes":"LastWill"}})", c));
    CHECK(holds(ctx, R"({"ForAllValues:StringEquals":{"iot:ConnectAttributes":
        ["PersistentConnect","LastWill"]}})", c));
    CHECK_FALSE(holds(ctx, R"({"ForAllValues:StringEquals":{"iot:ConnectAttributes":
        "PersistentConnect"}})", c));
    CHECK_FALSE(holds(ctx, R"({"ForAnyValue:StringEquals":{"iot:ConnectAttributes":"Nope"}})", c));
    CHECK(holds(ctx, R"({"ForAnyValue:StringNotEquals":{"iot:ConnectAttributes":"LastWill"}})", c));
    CHECK_FALSE(holds(ctx, R"({"ForAllValues:StringNotEquals":{"iot:ConnectAttributes":
        "LastWill"}})", c));

    // Clean session, no Will: the set is empty. ForAllValues holds, ForAnyValue does not.
    ctx.persistent_session = false;
    ctx.will_topic.reset();
    CHECK(holds(ctx, R"({"ForAllValues:StringEquals":{"iot:ConnectAttributes":"LastWill"}})", c));
    CHECK_FALSE(holds(ctx, R"({"ForAnyValue:StringEquals":{"iot:ConnectAttributes":
        "PersistentConnect"}})", c));

    // iot:ConnectAttributes exists only for iot:Connect.
    ctx.persistent_session = true;
    CHECK(holds(ctx, R"({"ForAnyValue:StringEquals":{"iot:ConnectAttributes":
        "PersistentConnect"}})", c));
    CHECK_FALSE(holds(ctx, R"({"ForAnyValue:StringEquals":{"iot:ConnectAttributes":
        "PersistentConnect"}})", action::publish));

    // Multi-valued certificate field.
    ctx = base_context();
    const std::string ous = "iot:Certificate.Subject.OrganizationalUnit.List";
    CHECK(holds(ctx, R"({"ForAnyValue:StringEquals":{")" + ous + R"(":"Berlin"}})"));
    CHECK(holds(ctx, R"({"ForAllValues:StringLike":{")" + ous + R"(":["Fleet","B*"]}})"));
    CHECK_FALSE(holds(ctx, R"({"ForAllValues:StringEquals":{")" + ous + R"(":"Fleet"}})"));
    CHECK(holds(ctx, R"({"ForAllValues:StringEqualsIfExists":{")" + ous + R"(":"x"}})") == false);
    ctx.certificate->subject.clear();
    CHECK(holds(ctx, R"({"ForAllValues:StringEquals":{")" + ous + R"(":"Fleet"}})"));
    CHECK_FALSE(holds(ctx, R"({"ForAnyValue:StringEquals":{")" + ous + R"(":"Fleet"}})"));
}

TEST_CASE("conditions: every condition of a statement must hold") {
    CHECK(holds(R"({"StringEquals":{"iot:ClientId":"dev-42"},
                   "IpAddress":{"aws:SourceIp":"192.0.2.0/24"}})"));
    CHECK_FALSE(holds(R"({"StringEquals":{"iot:ClientId":"dev-42"},
                         "IpAddress":{"aws:SourceIp":"10.0.0.0/8"}})"));
    CHECK_FALSE(holds(R"({"StringEquals":{"iot:ClientId":"dev-42","aws:SourceIp":"x"}})"));
}

TEST_CASE("conditions: a value with an unresolved variable matches no key value") {
    auto ctx = base_context();
    ctx.thing.reset();
    CHECK_FALSE(holds(ctx, R"({"StringEquals":{"iot:ClientId":"${iot:Connection.Thing.ThingName}"}})"));
    CHECK(holds(ctx, R"({"StringNotEquals":{"iot:ClientId":"${iot:Connection.Thing.ThingName}"}})"));
}
