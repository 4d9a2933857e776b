// Thing resolution, group inheritance and per-connection compilation (GATEWAY-SEMANTICS §1),
// certificate variable fields, and the development registry.

#include "auth/effective_policy.hpp"

#include <doctest/doctest.h>

#include "auth/certificate_fields.hpp"
#include "auth/dev_registry.hpp"
#include "policy/resource.hpp"
#include "registry_test_support.hpp"

using namespace thinggate::auth;
using namespace thinggate::auth::test;
namespace pol = thinggate::policy;

namespace {

struct setup {
    credential ca = make_ca("Effective CA");
    credential device = make_device("sensor-1", ca);
    store_holder holder{store_holder::kind::memory};
    std::unique_ptr<registry> reg = open_registry(holder.store());
    std::string cert_id;

    setup() {
        must(*reg,
             [&](registry_txn& t) { return t.register_ca(pem(ca), ca_status::active, false, ""); });
        cert_id = must(*reg, [&](registry_txn& t) {
            return t.register_certificate(pem(device), certificate_status::active);
        });
    }

    pol::context context(const std::string& client_id) const {
        pol::context ctx;
        ctx.client_id = client_id;
        ctx.certificate = certificate_fields(*device.cert);
        return ctx;
    }
};

std::string allow(std::string_view action, std::string_view resource) {
    return R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":")" +
           std::string(action) + R"(","Resource":")" + std::string(resource) + R"("}})";
}

const pol::resource_names names;

} // namespace

TEST_CASE("thing resolution: the attached thing named like the client id, or the exclusive one") {
    setup s;
    for (auto name : {"sensor-1", "other"}) {
        must(*s.reg, [&](registry_txn& t) { return t.create_thing(name, "", {}); });
    }
    auto snap = s.reg->snapshot();
    CHECK_FALSE(resolve_thing(*snap, s.cert_id, "sensor-1").has_value()); // not attached

    must(*s.reg,
         [&](registry_txn& t) { return t.attach_thing_principal("sensor-1", s.cert_id, false); });
    must(*s.reg,
         [&](registry_txn& t) { return t.attach_thing_principal("other", s.cert_id, false); });
    snap = s.reg->snapshot();
    REQUIRE(resolve_thing(*snap, s.cert_id, "sensor-1").has_value());
    CHECK(resolve_thing(*snap, s.cert_id, "sensor-1")->name == "sensor-1");
    CHECK(resolve_thing(*snap, s.cert_id, "other")->name == "other");
    CHECK_FALSE(resolve_thing(*snap, s.cert_id, "somebody-else").has_value());

    must(*s.reg, [&](registry_txn& t) { return t.detach_thing_principal("other", s.cert_id); });
    must(*s.reg,
         [&](registry_txn& t) { return t.attach_thing_principal("sensor-1", s.cert_id, true); });
    snap = s.reg->snapshot();
    auto bound = resolve_thing(*snap, s.cert_id, "any-client-id");
    REQUIRE(bound.has_value());
    CHECK(bound->name == "sensor-1");
    CHECK(bound->exclusive);
}

TEST_CASE("effective policies: certificate policies, plus the thing's groups and all ancestors") {
    setup s;
    auto& reg = *s.reg;
    must(reg, [&](registry_txn& t) { return t.create_thing_type("sensor", ""); });
    must(reg, [&](registry_txn& t) {
        return t.create_thing("sensor-1", "sensor", {{"site", "north"}});
    });
    must(reg, [&](registry_txn& t) { return t.create_thing_group("plant", "", ""); });
    must(reg, [&](registry_txn& t) { return t.create_thing_group("hall", "plant", ""); });
    must(reg, [&](registry_txn& t) { return t.create_thing_group("line", "hall", ""); });
    must(reg, [&](registry_txn& t) { return t.add_thing_to_group("sensor-1", "line"); });
    must(reg, [&](registry_txn& t) {
        return t.create_policy(
                "connect",
                allow("iot:Connect", "arn:aws:iot:*:*:client/${iot:Connection.Thing.ThingName}"));
    });
    must(reg, [&](registry_txn& t) {
        return t.create_policy(
                "plant-telemetry",
                allow("iot:Publish",
                      "arn:aws:iot:*:*:topic/plant/${iot:Connection.Thing.Attributes[site]}/*"));
    });
    must(reg, [&](registry_txn& t) {
        return t.create_policy(
                "hall-deny",
                R"({"Version":"2012-10-17","Statement":{"Sid":"NoSecrets","Effect":"Deny",
            "Action":"iot:Publish","Resource":"arn:aws:iot:*:*:topic/plant/north/secret"}})");
    });
    must(reg,
         [&](registry_txn& t) { return t.attach_policy_to_certificate("connect", s.cert_id); });
    must(reg,
         [&](registry_txn& t) { return t.attach_policy_to_group("plant-telemetry", "plant"); });
    must(reg, [&](registry_txn& t) { return t.attach_policy_to_group("hall-deny", "hall"); });
    // The same policy through two ways is applied once.
    must(reg, [&](registry_txn& t) { return t.attach_policy_to_group("connect", "line"); });

    SUBCASE("no thing bound: group policies do not apply") {
        auto snap = reg.snapshot();
        auto conn = resolve_connection(*snap, s.context("sensor-1"));
        CHECK_FALSE(conn.thing.has_value());
        REQUIRE(conn.applied.size() == 1);
        CHECK(conn.applied[0].name == "connect");
        // The variable is unresolved without a thing: the Allow allows nothing.
        CHECK(conn.policies.evaluate(pol::action::connect, pol::client_arn(names, "sensor-1")) ==
              pol::decision::implicit_deny);
    }
    SUBCASE("thing bound: ancestors' policies apply, deny wins") {
        must(reg, [&](registry_txn& t) {
            return t.attach_thing_principal("sensor-1", s.cert_id, false);
        });
        auto snap = reg.snapshot();
        CHECK(thing_group_closure(*snap, "sensor-1") ==
              std::vector<std::string>{"line", "hall", "plant"});
        auto conn = resolve_connection(*snap, s.context("sensor-1"));
        REQUIRE(conn.thing.has_value());
        CHECK(conn.groups == std::vector<std::string>{"line", "hall", "plant"});
        REQUIRE(conn.applied.size() == 3);
        CHECK(conn.applied[0].name == "connect");
        CHECK(conn.applied[0].via == "certificate");
        CHECK(conn.applied[1].name == "hall-deny");
        CHECK(conn.applied[1].via == "thing group hall");
        CHECK(conn.applied[2].name == "plant-telemetry");
        CHECK(conn.applied[2].via == "thing group plant");
        REQUIRE(conn.context.thing.has_value());
        CHECK(conn.context.thing->type_name == "sensor");
        CHECK(conn.policies.evaluate(pol::action::connect, pol::client_arn(names, "sensor-1")) ==
              pol::decision::allowed);
        CHECK(conn.policies.evaluate(pol::action::connect, pol::client_arn(names, "sensor-2")) ==
              pol::decision::implicit_deny);
        CHECK(conn.policies.evaluate(
                      pol::action::publish, pol::topic_arn(names, "plant/north/temp")) ==
              pol::decision::allowed);
        CHECK(conn.policies.evaluate(
                      pol::action::publish, pol::topic_arn(names, "plant/south/temp")) ==
              pol::decision::implicit_deny);
        auto why = conn.policies.explain(
                pol::action::publish, pol::topic_arn(names, "plant/north/secret"));
        CHECK(why.result == pol::decision::explicit_deny);
        REQUIRE(why.decided_by.has_value());
        CHECK(why.decided_by->policy == "hall-deny");
        CHECK(why.decided_by->sid == "NoSecrets");
    }
    SUBCASE("the default version is what applies") {
        must(reg, [&](registry_txn& t) {
            return t.attach_thing_principal("sensor-1", s.cert_id, false);
        });
        must(reg, [&](registry_txn& t) {
            return t.create_policy_version(
                    "plant-telemetry", allow("iot:Publish", "arn:aws:iot:*:*:topic/v2/*"), true);
        });
        auto conn = resolve_connection(*reg.snapshot(), s.context("sensor-1"));
        CHECK(conn.applied[2].version == 2);
        CHECK(conn.policies.evaluate(pol::action::publish, pol::topic_arn(names, "v2/x")) ==
              pol::decision::allowed);
        CHECK(conn.policies.evaluate(
                      pol::action::publish, pol::topic_arn(names, "plant/north/t")) ==
              pol::decision::implicit_deny);
    }
    SUBCASE("a forced thing (policy test --thing)") {
        auto conn =
                resolve_connection(*reg.snapshot(), s.context("whatever"), std::string("sensor-1"));
        REQUIRE(conn.thing.has_value());
        CHECK(conn.applied.size() == 3);
    }
}

TEST_CASE("effective policies: without a certificate nothing applies") {
    setup s;
    pol::context ctx;
    ctx.client_id = "x";
    auto conn = resolve_connection(*s.reg->snapshot(), ctx);
    CHECK(conn.applied.empty());
    CHECK(conn.policies.policy_count() == 0);
}

TEST_CASE("certificate fields: AWS attribute names, alternative names, decimal serial") {
    setup s;
    auto info = certificate_fields(*s.device.cert);
    CHECK(info.id == s.cert_id);
    auto has = [](const pol::attribute_list& list, std::string_view name, std::string_view value) {
        for (const auto& [n, v] : list) {
            if (n == name && v == value) {
                return true;
            }
        }
        return false;
    };
    CHECK(has(info.subject, "CommonName", "sensor-1"));
    CHECK(has(info.subject, "Organization", "Acme"));
    CHECK(has(info.subject, "OrganizationalUnit", "Sensors"));
    CHECK(has(info.subject, "Country", "DE"));
    CHECK(has(info.issuer, "CommonName", "Effective CA"));
    CHECK(info.subject_alternative_name.dns_name ==
          std::vector<std::string>{"sensor-1.devices.example"});
    CHECK(info.subject_alternative_name.ip_address == std::vector<std::string>{"10.1.2.3"});
    REQUIRE_FALSE(info.serial_number.empty());
    CHECK(info.serial_number.find_first_not_of("0123456789") == std::string::npos);
    // The hex serial of pki describe() and the decimal one are the same number.
    auto hex = describe(*s.device.cert).serial_hex;
    BIGNUM* a = nullptr;
    BIGNUM* b = nullptr;
    REQUIRE(BN_hex2bn(&a, hex.c_str()) > 0);
    REQUIRE(BN_dec2bn(&b, info.serial_number.c_str()) > 0);
    CHECK(BN_cmp(a, b) == 0);
    BN_free(a);
    BN_free(b);

    // The variables resolve in a compiled policy.
    must(*s.reg, [&](registry_txn& t) {
        return t.create_policy(
                "by-cn",
                allow("iot:Publish",
                      "arn:aws:iot:*:*:topic/cn/${iot:Certificate.Subject.CommonName}"));
    });
    must(*s.reg,
         [&](registry_txn& t) { return t.attach_policy_to_certificate("by-cn", s.cert_id); });
    auto conn = resolve_connection(*s.reg->snapshot(), s.context("c"));
    CHECK(conn.policies.evaluate(pol::action::publish, pol::topic_arn(names, "cn/sensor-1")) ==
          pol::decision::allowed);
}

TEST_CASE("dev registry: the dev PKI's CA, device, thing and policy; idempotent; operator changes "
          "stay") {
    temp_dir dir;
    auto files = ensure_dev_pki(dir.path(), "demo-thing");
    for_each_store([&](store_holder& h) {
        auto reg = open_registry(h.store());
        auto first = ensure_dev_registry(*reg, files, "demo-thing");
        REQUIRE_MESSAGE(first.has_value(), (first ? "" : first.error().message));
        CHECK(first->changed);
        CHECK(first->policy == "demo-thing-policy");
        auto snap = reg->snapshot();
        CHECK(snap->find_ca(first->ca_id)->status == ca_status::active);
        CHECK(snap->find_certificate(first->certificate_id)->status == certificate_status::active);
        CHECK(snap->find_thing("demo-thing") != nullptr);

        auto device = read_certificate_pem(files.device_cert);
        pol::context ctx;
        ctx.client_id = "demo-thing";
        ctx.certificate = certificate_fields(*device);
        auto conn = resolve_connection(*snap, ctx);
        REQUIRE(conn.thing.has_value());
        using pol::action;
        using pol::decision;
        CHECK(conn.policies.evaluate(action::connect, pol::client_arn(names, "demo-thing")) ==
              decision::allowed);
        CHECK(conn.policies.evaluate(
                      action::publish, pol::topic_arn(names, "things/demo-thing/telemetry")) ==
              decision::allowed);
        CHECK(conn.policies.evaluate(
                      action::receive,
                      pol::topic_arn(names, "$aws/things/demo-thing/shadow/update/accepted")) ==
              decision::allowed);
        CHECK(conn.policies.evaluate(
                      action::subscribe, pol::topic_filter_arn(names, "things/demo-thing/#")) ==
              decision::allowed);
        CHECK(conn.policies.evaluate(
                      action::subscribe,
                      pol::topic_filter_arn(names, "$aws/things/demo-thing/jobs/+")) ==
              decision::allowed);
        CHECK(conn.policies.evaluate(
                      action::publish, pol::topic_arn(names, "things/other-thing/telemetry")) ==
              decision::implicit_deny);
        CHECK(conn.policies.evaluate(action::subscribe, pol::topic_filter_arn(names, "#")) ==
              decision::implicit_deny);
        CHECK(conn.policies.evaluate(
                      action::retain_publish, pol::topic_arn(names, "things/demo-thing/x")) ==
              decision::implicit_deny);
        // The certificate is attached exclusively: a second connection of the demo device may
        // use "<thing>-<suffix>" (the README's subscriber), any other client id is refused.
        ctx.client_id = "demo-thing-sub";
        CHECK(resolve_connection(*snap, ctx)
                      .policies.evaluate(action::connect, pol::client_arn(names, "demo-thing-sub")) ==
              decision::allowed);
        ctx.client_id = "intruder";
        CHECK(resolve_connection(*snap, ctx)
                      .policies.evaluate(action::connect, pol::client_arn(names, "intruder")) ==
              decision::implicit_deny);

        auto second = ensure_dev_registry(*reg, files, "demo-thing");
        REQUIRE(second.has_value());
        CHECK_FALSE(second->changed);
        CHECK(reg->snapshot() == snap);

        must(*reg, [&](registry_txn& t) {
            return t.update_certificate(first->certificate_id, certificate_status::inactive);
        });
        must(*reg, [&](registry_txn& t) {
            return t.detach_policy_from_certificate("demo-thing-policy", first->certificate_id);
        });
        h.reopen();
        auto reopened = open_registry(h.store());
        auto third = ensure_dev_registry(*reopened, files, "demo-thing");
        REQUIRE(third.has_value());
        CHECK_FALSE(third->changed);
        auto after = reopened->snapshot();
        CHECK(after->find_certificate(first->certificate_id)->status ==
              certificate_status::inactive);
        CHECK(after->certificate_policies(first->certificate_id).empty());
    });
}

TEST_CASE("dev registry: a missing PKI file is named") {
    temp_dir dir;
    store_holder h(store_holder::kind::memory);
    auto reg = open_registry(h.store());
    dev_pki files;
    files.ca_cert = dir.path() / "pki" / "ca.pem";
    files.device_cert = dir.path() / "pki" / "demo-thing.pem";
    auto r = ensure_dev_registry(*reg, files, "demo-thing");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("ca.pem") != std::string::npos);
}
