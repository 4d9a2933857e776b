#include "policy_test_support.hpp"

#include <string>

#include <doctest/doctest.h>

using namespace policy_test;

namespace {

context full_context() {
    context ctx;
    ctx.client_id = "sensor-7";
    ctx.source_ip = "192.0.2.10";
    ctx.domain_name = "iot.example.com";
    certificate_info cert;
    cert.id = std::string(64, 'c');
    cert.serial_number = "0A1B2C";
    cert.subject = {{"CommonName", "sensor-7.example.com"},
                    {"Organization", "Acme"},
                    {"OrganizationalUnit", "ou1"},
                    {"OrganizationalUnit", "ou2"},
                    {"OrganizationalUnit", "ou3"},
                    {"OrganizationalUnit", "ou4"},
                    {"OrganizationalUnit", "ou5"},
                    {"OrganizationalUnit", "ou6"},
                    {"Country", "DE"},
                    {"State", "Berlin"},
                    {"SerialNumber", "SN-7"}};
    cert.issuer = {{"CommonName", "Acme Device CA"}, {"Organization", "Acme"}};
    cert.subject_alternative_name.dns_name = {"a.example.com", "b.example.com"};
    cert.subject_alternative_name.ip_address = {"10.0.0.7"};
    cert.subject_alternative_name.rfc822_name = {"dev@example.com"};
    cert.subject_alternative_name.uniform_resource_identifier = {"urn:dev:7"};
    ctx.certificate = cert;
    ctx.thing = thing_info{"thing-7", "sensor", {{"fleet", "north"}, {"Floor", "3"}}};
    return ctx;
}

std::string resolved(const context& ctx, std::string_view name) {
    auto r = resolve_variable(ctx, name);
    return r.value ? *r.value : "<unresolved: " + std::string(r.reason) + ">";
}

} // namespace

TEST_CASE("variables: the full set resolves from the connection") {
    const auto ctx = full_context();
    CHECK(resolved(ctx, "iot:ClientId") == "sensor-7");
    CHECK(resolved(ctx, "iot:clientid") == "sensor-7"); // names are case-insensitive
    CHECK(resolved(ctx, "iot:CertificateId") == std::string(64, 'c'));
    CHECK(resolved(ctx, "aws:SourceIp") == "192.0.2.10");
    CHECK(resolved(ctx, "iot:DomainName") == "iot.example.com");
    CHECK(resolved(ctx, "iot:Connection.Thing.ThingName") == "thing-7");
    CHECK(resolved(ctx, "iot:Connection.Thing.ThingTypeName") == "sensor");
    CHECK(resolved(ctx, "iot:Connection.Thing.Attributes[fleet]") == "north");
    CHECK(resolved(ctx, "iot:Connection.Thing.Attributes[Floor]") == "3");
    CHECK_FALSE(resolve_variable(ctx, "iot:Connection.Thing.Attributes[floor]").value);
    CHECK(resolved(ctx, "iot:Connection.Thing.IsAttached") == "true");
    CHECK(resolved(ctx, "iot:Certificate.Subject.CommonName") == "sensor-7.example.com");
    CHECK(resolved(ctx, "iot:Certificate.Subject.Organization") == "Acme");
    CHECK(resolved(ctx, "iot:Certificate.Subject.Country") == "DE");
    CHECK(resolved(ctx, "iot:Certificate.Subject.State") == "Berlin");
    CHECK(resolved(ctx, "iot:Certificate.Subject.SerialNumber") == "SN-7");
    CHECK(resolved(ctx, "iot:Certificate.Subject.OrganizationalUnit") == "ou1");
    CHECK(resolved(ctx, "iot:Certificate.Subject.OrganizationalUnit.2") == "ou2");
    CHECK(resolved(ctx, "iot:Certificate.Subject.OrganizationalUnit.5") == "ou5");
    CHECK(resolved(ctx, "iot:Certificate.Issuer.CommonName") == "Acme Device CA");
    CHECK(resolved(ctx, "iot:Certificate.Subject.AlternativeName.DNSName") == "a.example.com");
    CHECK(resolved(ctx, "iot:Certificate.Subject.AlternativeName.DNSName.2") == "b.example.com");
    CHECK(resolved(ctx, "iot:Certificate.Subject.AlternativeName.IPAddress") == "10.0.0.7");
    CHECK(resolved(ctx, "iot:Certificate.Subject.AlternativeName.RFC822Name") ==
          "dev@example.com");
    CHECK(resolved(ctx, "iot:Certificate.Subject.AlternativeName.UniformResourceIdentifier") ==
          "urn:dev:7");
    CHECK(resolved(ctx, "iot:Certificate.SerialNumber") == "0A1B2C");
}

TEST_CASE("variables: unresolvable ones, and why") {
    auto ctx = full_context();
    // Past the 5th item of a multi-valued field.
    CHECK(resolved(ctx, "iot:Certificate.Subject.OrganizationalUnit.6") ==
          "<unresolved: only the first 5 values of a certificate field are used>");
    CHECK_FALSE(resolve_variable(ctx, "iot:Certificate.Subject.AlternativeName.DNSName.3").value);
    CHECK_FALSE(resolve_variable(ctx, "iot:Certificate.Subject.OrganizationalUnit.0").value);
    CHECK_FALSE(resolve_variable(ctx, "iot:Certificate.Subject.OrganizationalUnit.List").value);
    CHECK_FALSE(resolve_variable(ctx, "iot:Certificate.Subject.Title").value);
    CHECK_FALSE(resolve_variable(ctx, "iot:Certificate.Subject.AlternativeName.Nope").value);
    CHECK_FALSE(resolve_variable(ctx, "iot:Nope").value);
    CHECK_FALSE(resolve_variable(ctx, "iot:Connection.Thing.Attributes[missing]").value);
    CHECK(resolved(ctx, "iot:Nope") == "<unresolved: unknown variable>");

    // Certificate values with * $ + ? # or over 1024 characters are not substituted.
    for (const char* bad : {"a*", "a$b", "a+", "a?", "#"}) {
        ctx.certificate->subject[0].second = bad;
        CHECK_FALSE(resolve_variable(ctx, "iot:Certificate.Subject.CommonName").value);
    }
    ctx.certificate->subject[0].second = std::string(1024, 'x');
    CHECK(resolve_variable(ctx, "iot:Certificate.Subject.CommonName").value);
    ctx.certificate->subject[0].second = std::string(1025, 'x');
    CHECK(resolved(ctx, "iot:Certificate.Subject.CommonName") ==
          "<unresolved: the certificate value is longer than 1024 characters>");

    ctx.thing.reset();
    CHECK(resolved(ctx, "iot:Connection.Thing.ThingName") ==
          "<unresolved: no thing is attached to this connection>");
    CHECK_FALSE(resolve_variable(ctx, "iot:Connection.Thing.IsAttached").value);
    ctx.certificate.reset();
    CHECK_FALSE(resolve_variable(ctx, "iot:CertificateId").value);
    CHECK_FALSE(resolve_variable(ctx, "iot:Certificate.SerialNumber").value);
    ctx.domain_name.clear();
    CHECK_FALSE(resolve_variable(ctx, "iot:DomainName").value);
}

TEST_CASE("variables: substituted into resources as literal text") {
    auto ctx = full_context();
    auto c = compile_one(allow("\"iot:Publish\"",
                               quoted_arn("topic/d/${iot:Connection.Thing.ThingName}/*")),
                         ctx);
    CHECK(check(c, action::publish, "d/thing-7/telemetry") == decision::allowed);
    CHECK(check(c, action::publish, "d/thing-8/telemetry") == decision::implicit_deny);

    // A client id made of wildcard characters stays literal.
    ctx.client_id = "*";
    c = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/c/${iot:ClientId}")), ctx);
    CHECK(check(c, action::publish, "c/*") == decision::allowed);
    CHECK(check(c, action::publish, "c/anything") == decision::implicit_deny);
    ctx.client_id = "a?";
    c = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/c/${iot:ClientId}")), ctx);
    CHECK(check(c, action::publish, "c/a?") == decision::allowed);
    CHECK(check(c, action::publish, "c/ab") == decision::implicit_deny);

    // Several variables in one field, and a variable with a colon in its name inside field 6.
    ctx = full_context();
    c = compile_one(allow("\"iot:Publish\"",
                          quoted_arn("topic/${iot:Certificate.Subject.Organization}/"
                                     "${iot:Connection.Thing.Attributes[fleet]}/${iot:ClientId}")),
                    ctx);
    CHECK(check(c, action::publish, "Acme/north/sensor-7") == decision::allowed);
    CHECK(check(c, action::publish, "Acme/south/sensor-7") == decision::implicit_deny);
}

TEST_CASE("variables: escapes ${*} ${?} ${$}") {
    auto c = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/a/${*}")));
    CHECK(check(c, action::publish, "a/*") == decision::allowed);
    CHECK(check(c, action::publish, "a/b") == decision::implicit_deny);
    c = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/a/${?}")));
    CHECK(check(c, action::publish, "a/?") == decision::allowed);
    CHECK(check(c, action::publish, "a/b") == decision::implicit_deny);
    c = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/${$}{x}")));
    CHECK(check(c, action::publish, "${x}") == decision::allowed);
    // A plain '$' needs no escape.
    c = compile_one(allow("\"iot:Publish\"", quoted_arn("topic/$aws/x")));
    CHECK(check(c, action::publish, "$aws/x") == decision::allowed);
}

TEST_CASE("variables: an unresolvable variable matches nothing, NotResource excludes nothing") {
    context ctx; // no thing, no certificate
    ctx.client_id = "c1";
    auto c = compile_one(allow("\"iot:Publish\"",
                               quoted_arn("topic/${iot:Connection.Thing.ThingName}/*")),
                         ctx);
    CHECK(check(c, action::publish, "/x") == decision::implicit_deny);
    CHECK(check(c, action::publish, "${iot:Connection.Thing.ThingName}/x") ==
          decision::implicit_deny);

    c = compile_one(R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:Publish",
        "NotResource":")" + arn("topic/${iot:Connection.Thing.ThingName}/*") + R"("}})",
                    ctx);
    CHECK(check(c, action::publish, "anything") == decision::allowed);

    // A Deny whose resource cannot be resolved denies nothing.
    c = compile_all({allow("\"iot:Publish\"", "\"*\""),
                     allow("\"iot:Publish\"", quoted_arn("topic/${iot:CertificateId}"), {},
                           "Deny")},
                    ctx);
    CHECK(check(c, action::publish, "x") == decision::allowed);

    // explain() says which variable and why.
    const auto e = c.set.explain(action::publish, arn("topic/x"));
    REQUIRE(e.variables.size() == 1);
    CHECK(e.variables[0].name == "iot:CertificateId");
    CHECK_FALSE(e.variables[0].value);
    CHECK(e.variables[0].reason == "the connection has no client certificate");
}

TEST_CASE("variables: Version 2008-10-17 keeps ${...} as literal text") {
    context ctx;
    ctx.client_id = "c1";
    auto c = compile_one(R"({"Version":"2008-10-17","Statement":{"Effect":"Allow",
        "Action":"iot:Publish","Resource":")" + arn("topic/${iot:ClientId}") + R"("}})",
                         ctx);
    CHECK(check(c, action::publish, "c1") == decision::implicit_deny);
    CHECK(check(c, action::publish, "${iot:ClientId}") == decision::allowed);
    CHECK(c.set.variables().empty());
}
