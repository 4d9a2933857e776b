// The declarative registry file: apply, idempotence, updates, "state": "absent", and errors that
// name the file, the entry and the field.

#include "auth/registry_file.hpp"

#include <doctest/doctest.h>

#include "auth/certificate_fields.hpp"
#include "auth/effective_policy.hpp"
#include "registry_test_support.hpp"

using namespace thinggate::auth;
using namespace thinggate::auth::test;
namespace pol = thinggate::policy;

#ifndef THINGGATE_SOURCE_DIR
#error "THINGGATE_SOURCE_DIR must name the source tree (tests/CMakeLists.txt)"
#endif

namespace {

/// A directory holding the dev PKI under pki/ and the example registry file.
struct example {
    temp_dir dir;
    dev_pki files = ensure_dev_pki(dir.path(), "demo-thing");
    std::filesystem::path file = dir.path() / "registry.json";

    example() {
        std::filesystem::copy_file(
                std::filesystem::path(THINGGATE_SOURCE_DIR) / "configs" / "registry.example.json",
                file);
    }

    std::string text() const {
        std::ifstream in(file);
        return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }

    void replace(std::string_view from, std::string_view to) {
        auto t = text();
        auto at = t.find(from);
        REQUIRE_MESSAGE(at != std::string::npos, from);
        t.replace(at, from.size(), to);
        write_file(file, t);
    }
};

registry_file_report apply_ok(registry& reg, const std::filesystem::path& file) {
    auto r = apply_registry_file(reg, file);
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    return *r;
}

registry_error apply_fails(registry& reg, const std::filesystem::path& file) {
    auto r = apply_registry_file(reg, file);
    REQUIRE_FALSE(r.has_value());
    return r.error();
}

} // namespace

TEST_CASE("registry file: the example applies, a second apply changes nothing") {
    example ex;
    for_each_store([&](store_holder& h) {
        auto reg = open_registry(h.store());
        auto first = apply_ok(*reg, ex.file);
        CHECK(first.changes.size() >= 10);
        auto snap = reg->snapshot();
        auto cert_id = certificate_id(*read_certificate_pem(ex.files.device_cert));
        REQUIRE(snap->find_certificate(cert_id) != nullptr);
        CHECK(snap->find_certificate(cert_id)->status == certificate_status::active);
        CHECK(snap->find_thing("demo-thing")->attributes.at("site") == "hall-1");
        CHECK(snap->find_group("hall-1")->parent == "plant");
        CHECK(snap->group_policies("plant") == std::vector<std::string>{"plant-telemetry"});
        CHECK(snap->certificate_policies(cert_id) == std::vector<std::string>{"device-connect"});

        pol::context ctx;
        ctx.client_id = "demo-thing";
        ctx.certificate = certificate_fields(*read_certificate_pem(ex.files.device_cert));
        auto conn = resolve_connection(*snap, ctx);
        pol::resource_names names;
        CHECK(conn.policies.evaluate(
                      pol::action::publish, pol::topic_arn(names, "plant/hall-1/temp")) ==
              pol::decision::allowed);
        CHECK(conn.policies.evaluate(
                      pol::action::publish, pol::topic_arn(names, "plant/hall-1/commands/x")) ==
              pol::decision::explicit_deny);

        auto second = apply_ok(*reg, ex.file);
        CHECK(second.changes.empty());
        CHECK(reg->snapshot() == snap);
        h.reopen();
        auto reopened = open_registry(h.store());
        CHECK(apply_ok(*reopened, ex.file).changes.empty());
    });
}

TEST_CASE("registry file: changes are reconciled — new policy version, status, attributes") {
    example ex;
    store_holder h(store_holder::kind::memory);
    auto reg = open_registry(h.store());
    apply_ok(*reg, ex.file);
    auto cert_id = certificate_id(*read_certificate_pem(ex.files.device_cert));

    ex.replace(R"("Sid": "SiteTelemetry")", R"("Sid": "SiteTelemetryV2")");
    ex.replace(
            R"("status": "ACTIVE",
      "thing")",
            R"("status": "INACTIVE",
      "thing")");
    ex.replace(R"({ "site": "hall-1" })", R"({ "site": "hall-2" })");
    auto report = apply_ok(*reg, ex.file);
    REQUIRE(report.changes.size() == 3);
    auto snap = reg->snapshot();
    CHECK(snap->find_policy("plant-telemetry")->default_version == 2);
    CHECK(snap->find_certificate(cert_id)->status == certificate_status::inactive);
    CHECK(snap->find_thing("demo-thing")->attributes.at("site") == "hall-2");
    CHECK(snap->find_thing("demo-thing")->version == 2);

    // Repeated document changes keep at most 5 versions (the oldest other one goes).
    for (int i = 3; i <= 7; ++i) {
        ex.replace("SiteTelemetryV" + std::to_string(i - 1), "SiteTelemetryV" + std::to_string(i));
        apply_ok(*reg, ex.file);
    }
    const auto* p = reg->snapshot()->find_policy("plant-telemetry");
    CHECK(p->versions.size() == 5);
    CHECK(p->default_version == 7);
    CHECK(p->versions.begin()->first == 3);
}

TEST_CASE("registry file: \"state\": \"absent\" removes entries, detaching them first") {
    example ex;
    store_holder h(store_holder::kind::memory);
    auto reg = open_registry(h.store());
    apply_ok(*reg, ex.file);
    auto cert_id = certificate_id(*read_certificate_pem(ex.files.device_cert));
    ex.replace(
            R"("pem_file": "pki/demo-thing.pem",)",
            R"("pem_file": "pki/demo-thing.pem", "state": "absent",)");
    ex.replace(R"("name": "demo-thing",)", R"("name": "demo-thing", "state": "absent",)");
    ex.replace(R"("name": "device-connect",)", R"("name": "device-connect", "state": "absent",)");
    auto report = apply_ok(*reg, ex.file);
    auto snap = reg->snapshot();
    CHECK(snap->find_certificate(cert_id) == nullptr);
    CHECK(snap->find_thing("demo-thing") == nullptr);
    CHECK(snap->find_policy("device-connect") == nullptr);
    CHECK(snap->find_policy("plant-telemetry") != nullptr); // not mentioned as absent
    CHECK(snap->state().attachments.size() == 1);           // plant-telemetry on plant
    CHECK(apply_ok(*reg, ex.file).changes.empty());
}

TEST_CASE("registry file: entries the file does not mention are left alone") {
    example ex;
    store_holder h(store_holder::kind::memory);
    auto reg = open_registry(h.store());
    must(*reg, [&](registry_txn& t) { return t.create_thing("manual", "", {}); });
    apply_ok(*reg, ex.file);
    CHECK(reg->snapshot()->find_thing("manual") != nullptr);
}

TEST_CASE("registry file: errors name the file, the entry and the field; nothing is applied") {
    example ex;
    store_holder h(store_holder::kind::memory);
    auto reg = open_registry(h.store());
    auto empty = reg->snapshot();
    auto name = ex.file.string();

    SUBCASE("unknown field") {
        ex.replace(R"("groups": ["hall-1"])", R"("groups": ["hall-1"], "colour": "red")");
        auto e = apply_fails(*reg, ex.file);
        CHECK(e.code == make_error_code(registry_errc::invalid_request));
        CHECK(e.message == name + R"(: things[0] ("demo-thing"): unknown field "colour")");
    }
    SUBCASE("bad status") {
        ex.replace(R"("status": "ACTIVE", "auto)", R"("status": "ON", "auto)");
        auto e = apply_fails(*reg, ex.file);
        CHECK(e.message ==
              name + R"(: ca_certificates[0] ("pki/ca.pem"): field "status" must be ACTIVE or INACTIVE)");
    }
    SUBCASE("missing PEM file") {
        ex.replace("pki/demo-thing.pem", "pki/missing.pem");
        auto e = apply_fails(*reg, ex.file);
        CHECK(e.message.find(
                      R"(certificates[0] ("pki/missing.pem"): field "pem_file": cannot read)") !=
              std::string::npos);
    }
    SUBCASE("invalid policy document names the policy and the statement") {
        ex.replace(R"("Effect": "Deny")", R"("Effect": "Forbid")");
        auto e = apply_fails(*reg, ex.file);
        CHECK(e.code == make_error_code(registry_errc::malformed_policy));
        CHECK(e.message.find(
                      R"(policies[1] ("plant-telemetry"): policy "plant-telemetry": Statement[1])") !=
              std::string::npos);
    }
    SUBCASE("a reference to an undeclared entry") {
        ex.replace(R"("policies": ["device-connect"])", R"("policies": ["nope"])");
        auto e = apply_fails(*reg, ex.file);
        CHECK(e.code == make_error_code(registry_errc::not_found));
        CHECK(e.message.find(
                      R"(certificates[0] ("pki/demo-thing.pem"): policy "nope" does not exist)") !=
              std::string::npos);
    }
    SUBCASE("wrong format marker, not JSON") {
        ex.replace(R"("thinggate-registry")", R"("something-else")");
        CHECK(apply_fails(*reg, ex.file).message ==
              name + R"(: field "format" must be "thinggate-registry")");
        write_file(ex.file, "{ nope");
        CHECK(apply_fails(*reg, ex.file).message.find("not JSON") != std::string::npos);
        CHECK(apply_fails(*reg, ex.dir.path() / "none.json").message.find("cannot open") !=
              std::string::npos);
    }
    CHECK(reg->snapshot() == empty);
}

TEST_CASE("registry file: REVOKED in the registry cannot be made ACTIVE by the file") {
    example ex;
    store_holder h(store_holder::kind::memory);
    auto reg = open_registry(h.store());
    apply_ok(*reg, ex.file);
    auto cert_id = certificate_id(*read_certificate_pem(ex.files.device_cert));
    must(*reg, [&](registry_txn& t) {
        return t.update_certificate(cert_id, certificate_status::revoked);
    });
    ex.replace(R"({ "site": "hall-1" })", R"({ "site": "hall-9" })");
    auto e = apply_fails(*reg, ex.file);
    CHECK(e.code == make_error_code(registry_errc::certificate_state));
    CHECK(e.message.find(
                  R"(certificates[0] ("pki/demo-thing.pem"): certificate )" + cert_id +
                  ": status REVOKED is final") != std::string::npos);
    // All or nothing: the thing's attribute change before the failing entry was not applied.
    CHECK(reg->snapshot()->find_thing("demo-thing")->attributes.at("site") == "hall-1");
}

TEST_CASE("registry file: group parents declared later, CRL paths stored absolute, policy from a "
          "file") {
    temp_dir dir;
    auto files = ensure_dev_pki(dir.path(), "demo-thing");
    write_file(
            dir.path() / "ca.crl",
            make_crl(
                    credential{
                            read_certificate_pem(files.ca_cert),
                            read_private_key_pem(files.ca_key)},
                    {}));
    write_file(dir.path() / "p.json", allow_all_policy);
    write_file(dir.path() / "r.json", R"({"format":"thinggate-registry","version":1,
        "ca_certificates":[{"pem_file":"pki/ca.pem","crl_file":"ca.crl","auto_registration":true}],
        "thing_groups":[{"name":"child","parent":"root"},{"name":"root","policies":["p"]}],
        "policies":[{"name":"p","document_file":"p.json"}]})");
    store_holder h(store_holder::kind::memory);
    auto reg = open_registry(h.store());
    apply_ok(*reg, dir.path() / "r.json");
    auto snap = reg->snapshot();
    CHECK(snap->find_group("child")->parent == "root");
    const auto& ca = snap->state().cas.begin()->second;
    CHECK(ca.auto_registration);
    CHECK(std::filesystem::path(ca.crl_file).is_absolute());
    CHECK(std::filesystem::equivalent(ca.crl_file, dir.path() / "ca.crl"));
    CHECK(snap->problems().empty());
    CHECK(snap->trust(ca.id)->crl != nullptr);
    CHECK(snap->find_policy("p")->default_document().document == allow_all_policy);
}
