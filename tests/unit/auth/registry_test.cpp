// The registry's rules (AWS IoT's) and its persistence, against memory and RocksDB stores.

#include "auth/registry.hpp"

#include <doctest/doctest.h>

#include "auth/registry_model.hpp"
#include "registry_test_support.hpp"

using namespace thinggate::auth;
using namespace thinggate::auth::test;
namespace persist = thinggate::persist;

namespace {

struct world {
    credential ca = make_ca("Test Root CA");
    credential other_ca = make_ca("Other CA");
    credential device = make_device("sensor-1", ca);
    credential device2 = make_device("sensor-2", ca);
};

world& pki() {
    static world w;
    return w;
}

std::string register_ca(registry& reg, const credential& ca, ca_status s = ca_status::active) {
    return must(reg, [&](registry_txn& t) { return t.register_ca(pem(ca), s, false, ""); });
}

std::string register_device(
        registry& reg, const credential& c, certificate_status s = certificate_status::active) {
    return must(reg, [&](registry_txn& t) { return t.register_certificate(pem(c), s); });
}

template <typename F>
registry_error fails(registry& reg, F&& fn, registry_errc expected) {
    auto r = reg.update(std::forward<F>(fn));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == make_error_code(expected));
    return r.error();
}

} // namespace

TEST_CASE("registry: CA and certificate registration, reload from the store") {
    for_each_store([](store_holder& h) {
        std::string ca_id;
        std::string cert_id;
        {
            auto reg = open_registry(h.store());
            ca_id = register_ca(*reg, pki().ca);
            CHECK(ca_id == certificate_id(*pki().ca.cert));
            cert_id = register_device(*reg, pki().device);
            CHECK(cert_id == certificate_id(*pki().device.cert));
            auto snap = reg->snapshot();
            REQUIRE(snap->find_certificate(cert_id) != nullptr);
            CHECK(snap->find_certificate(cert_id)->ca_id == ca_id);
            CHECK(snap->find_certificate(cert_id)->status == certificate_status::active);
            CHECK(snap->find_certificate(cert_id)->not_after >
                  snap->find_certificate(cert_id)->not_before);
            must(*reg, [&](registry_txn& t) { return t.create_thing_type("sensor", "a sensor"); });
            must(*reg, [&](registry_txn& t) {
                return t.create_thing("sensor-1", "sensor", {{"site", "north"}, {"rev", "B"}});
            });
            must(*reg, [&](registry_txn& t) { return t.create_thing_group("plant", "", ""); });
            must(*reg, [&](registry_txn& t) {
                return t.create_thing_group("hall-1", "plant", "first hall");
            });
            must(*reg, [&](registry_txn& t) { return t.add_thing_to_group("sensor-1", "hall-1"); });
            must(*reg, [&](registry_txn& t) { return t.create_policy("p", allow_all_policy); });
            must(*reg, [&](registry_txn& t) {
                return t.create_policy_version("p", allow_all_policy, true);
            });
            must(*reg,
                 [&](registry_txn& t) { return t.attach_policy_to_certificate("p", cert_id); });
            must(*reg, [&](registry_txn& t) { return t.attach_policy_to_group("p", "plant"); });
            must(*reg, [&](registry_txn& t) {
                return t.attach_thing_principal("sensor-1", cert_id, true);
            });
            CHECK(reg->snapshot()->generation() > snap->generation());
        }
        h.reopen();
        auto reg = open_registry(h.store());
        auto snap = reg->snapshot();
        CHECK(snap->generation() == 1);
        const auto& s = snap->state();
        CHECK(s.cas.size() == 1);
        CHECK(s.certificates.size() == 1);
        CHECK(s.things.at("sensor-1").attributes.at("site") == "north");
        CHECK(s.things.at("sensor-1").type_name == "sensor");
        CHECK(s.groups.at("hall-1").parent == "plant");
        CHECK(s.policies.at("p").versions.size() == 2);
        CHECK(s.policies.at("p").default_version == 2);
        CHECK(snap->certificate_policies(cert_id) == std::vector<std::string>{"p"});
        CHECK(snap->group_policies("plant") == std::vector<std::string>{"p"});
        CHECK(snap->thing_groups("sensor-1") == std::vector<std::string>{"hall-1"});
        REQUIRE(snap->certificate_things(cert_id).size() == 1);
        CHECK(snap->certificate_things(cert_id).front()->exclusive);
        CHECK(snap->default_document("p") != nullptr);
        CHECK(snap->trust(ca_id) != nullptr);
    });
}

TEST_CASE("registry: certificates need a registered CA; CAs must be CAs; no duplicates") {
    for_each_store([](store_holder& h) {
        auto reg = open_registry(h.store());
        auto e = fails(
                *reg,
                [&](registry_txn& t) {
                    return t.register_certificate(pem(pki().device), certificate_status::active);
                },
                registry_errc::certificate_invalid);
        CHECK(e.message.find("not issued by a registered CA") != std::string::npos);
        fails(
                *reg,
                [&](registry_txn& t) {
                    return t.register_ca(pem(pki().device), ca_status::active, false, "");
                },
                registry_errc::certificate_invalid);
        fails(
                *reg,
                [&](registry_txn& t) {
                    return t.register_ca("garbage", ca_status::active, false, "");
                },
                registry_errc::certificate_invalid);
        register_ca(*reg, pki().ca, ca_status::inactive);
        // An INACTIVE CA's certificates may be registered.
        register_device(*reg, pki().device);
        fails(
                *reg,
                [&](registry_txn& t) {
                    return t.register_ca(pem(pki().ca), ca_status::active, false, "");
                },
                registry_errc::already_exists);
        fails(
                *reg,
                [&](registry_txn& t) {
                    return t.register_certificate(pem(pki().device), certificate_status::active);
                },
                registry_errc::already_exists);
        // Two certificates in one PEM text: refused, not half-read.
        fails(
                *reg,
                [&](registry_txn& t) {
                    return t.register_certificate(
                            pem(pki().device2) + pem(pki().device), certificate_status::active);
                },
                registry_errc::certificate_invalid);
    });
}

TEST_CASE("registry: certificate status rules — REVOKED is final, PENDING_* cannot be set") {
    for_each_store([](store_holder& h) {
        auto reg = open_registry(h.store());
        register_ca(*reg, pki().ca);
        auto id = register_device(*reg, pki().device, certificate_status::pending_activation);
        must(*reg,
             [&](registry_txn& t) { return t.update_certificate(id, certificate_status::active); });
        must(*reg, [&](registry_txn& t) {
            return t.update_certificate(id, certificate_status::inactive);
        });
        auto e = fails(
                *reg,
                [&](registry_txn& t) {
                    return t.update_certificate(id, certificate_status::pending_transfer);
                },
                registry_errc::invalid_request);
        CHECK(e.message.find("PENDING_TRANSFER") != std::string::npos);
        must(*reg, [&](registry_txn& t) {
            return t.update_certificate(id, certificate_status::revoked);
        });
        for (auto s : {certificate_status::active, certificate_status::inactive}) {
            auto err = fails(
                    *reg,
                    [&](registry_txn& t) { return t.update_certificate(id, s); },
                    registry_errc::certificate_state);
            CHECK(err.message.find("REVOKED is final") != std::string::npos);
        }
        CHECK(reg->snapshot()->find_certificate(id)->status == certificate_status::revoked);
        fails(
                *reg,
                [&](registry_txn& t) {
                    return t.update_certificate(std::string(64, 'a'), certificate_status::active);
                },
                registry_errc::not_found);
    });
}

TEST_CASE("registry: an ACTIVE or attached certificate cannot be deleted; CA deletion rules") {
    for_each_store([](store_holder& h) {
        auto reg = open_registry(h.store());
        auto ca_id = register_ca(*reg, pki().ca);
        auto id = register_device(*reg, pki().device);
        must(*reg, [&](registry_txn& t) { return t.create_thing("sensor-1", "", {}); });
        must(*reg, [&](registry_txn& t) { return t.create_policy("p", allow_all_policy); });
        must(*reg, [&](registry_txn& t) { return t.attach_policy_to_certificate("p", id); });
        must(*reg,
             [&](registry_txn& t) { return t.attach_thing_principal("sensor-1", id, false); });

        auto e = fails(
                *reg,
                [&](registry_txn& t) { return t.delete_certificate(id); },
                registry_errc::delete_conflict);
        CHECK(e.message.find("ACTIVE") != std::string::npos);
        must(*reg, [&](registry_txn& t) {
            return t.update_certificate(id, certificate_status::inactive);
        });
        e = fails(
                *reg,
                [&](registry_txn& t) { return t.delete_certificate(id); },
                registry_errc::delete_conflict);
        CHECK(e.message.find("policy \"p\"") != std::string::npos);
        must(*reg, [&](registry_txn& t) { return t.detach_policy_from_certificate("p", id); });
        e = fails(
                *reg,
                [&](registry_txn& t) { return t.delete_certificate(id); },
                registry_errc::delete_conflict);
        CHECK(e.message.find("thing \"sensor-1\"") != std::string::npos);
        // A thing with a principal cannot be deleted either.
        fails(
                *reg,
                [&](registry_txn& t) { return t.delete_thing("sensor-1"); },
                registry_errc::delete_conflict);
        must(*reg, [&](registry_txn& t) { return t.detach_thing_principal("sensor-1", id); });
        fails(
                *reg,
                [&](registry_txn& t) { return t.detach_thing_principal("sensor-1", id); },
                registry_errc::not_found);

        // The CA: not while ACTIVE, not while it has certificates.
        fails(
                *reg,
                [&](registry_txn& t) { return t.delete_ca(ca_id); },
                registry_errc::delete_conflict);
        must(*reg, [&](registry_txn& t) {
            return t.update_ca(ca_id, ca_status::inactive, std::nullopt, std::nullopt);
        });
        e = fails(
                *reg,
                [&](registry_txn& t) { return t.delete_ca(ca_id); },
                registry_errc::delete_conflict);
        CHECK(e.message.find(id) != std::string::npos);

        must(*reg, [&](registry_txn& t) { return t.delete_certificate(id); });
        must(*reg, [&](registry_txn& t) { return t.delete_ca(ca_id); });
        must(*reg, [&](registry_txn& t) { return t.delete_thing("sensor-1"); });
        h.reopen();
        auto again = open_registry(h.store());
        CHECK(again->snapshot()->state().certificates.empty());
        CHECK(again->snapshot()->state().cas.empty());
        CHECK(again->snapshot()->state().attachments.empty());
    });
}

TEST_CASE("registry: policy documents are validated, naming the statement") {
    for_each_store([](store_holder& h) {
        auto reg = open_registry(h.store());
        auto e = fails(
                *reg,
                [&](registry_txn& t) {
                    return t.create_policy("bad", R"({"Version":"2012-10-17","Statement":[
                {"Effect":"Allow","Action":"iot:Connect","Resource":"*"},
                {"Sid":"Broken","Effect":"allow","Action":"iot:Publish","Resource":"*"}]})");
                },
                registry_errc::malformed_policy);
        CHECK(e.message.find("policy \"bad\"") != std::string::npos);
        CHECK(e.message.find("Statement[1]") != std::string::npos);
        CHECK(e.message.find("Broken") != std::string::npos);
        fails(
                *reg,
                [&](registry_txn& t) { return t.create_policy("bad name!", allow_all_policy); },
                registry_errc::invalid_request);
        fails(
                *reg,
                [&](registry_txn& t) { return t.create_policy("x", "not json"); },
                registry_errc::malformed_policy);
        CHECK(reg->snapshot()->state().policies.empty());
    });
}

TEST_CASE("registry: at most 5 policy versions; default version rules") {
    for_each_store([](store_holder& h) {
        auto reg = open_registry(h.store());
        must(*reg, [&](registry_txn& t) { return t.create_policy("p", allow_all_policy); });
        for (std::uint32_t v = 2; v <= 5; ++v) {
            auto id = must(*reg, [&](registry_txn& t) {
                return t.create_policy_version("p", allow_all_policy, false);
            });
            CHECK(id == v);
        }
        auto e = fails(
                *reg,
                [&](registry_txn& t) {
                    return t.create_policy_version("p", allow_all_policy, true);
                },
                registry_errc::versions_limit);
        CHECK(e.message.find("5 versions") != std::string::npos);
        CHECK(reg->snapshot()->find_policy("p")->default_version == 1);
        fails(
                *reg,
                [&](registry_txn& t) { return t.delete_policy_version("p", 1); },
                registry_errc::delete_conflict);
        must(*reg, [&](registry_txn& t) { return t.set_default_policy_version("p", 3); });
        must(*reg, [&](registry_txn& t) { return t.delete_policy_version("p", 1); });
        // Version ids are never reused.
        auto id = must(*reg, [&](registry_txn& t) {
            return t.create_policy_version("p", allow_all_policy, false);
        });
        CHECK(id == 6);
        fails(
                *reg,
                [&](registry_txn& t) { return t.set_default_policy_version("p", 1); },
                registry_errc::not_found);
        // A policy with other versions cannot be deleted (AWS), nor an attached one.
        fails(
                *reg,
                [&](registry_txn& t) { return t.delete_policy("p"); },
                registry_errc::delete_conflict);
        for (std::uint32_t v : {2u, 4u, 5u, 6u}) {
            must(*reg, [&](registry_txn& t) { return t.delete_policy_version("p", v); });
        }
        must(*reg, [&](registry_txn& t) { return t.create_thing_group("g", "", ""); });
        must(*reg, [&](registry_txn& t) { return t.attach_policy_to_group("p", "g"); });
        fails(
                *reg,
                [&](registry_txn& t) { return t.delete_policy("p"); },
                registry_errc::delete_conflict);
        must(*reg, [&](registry_txn& t) { return t.detach_policy_from_group("p", "g"); });
        must(*reg, [&](registry_txn& t) { return t.delete_policy("p"); });
        h.reopen();
        auto again = open_registry(h.store());
        CHECK(again->snapshot()->state().policies.empty());
    });
}

TEST_CASE("registry: at most 10 policies per certificate and 2 per thing group") {
    for_each_store([](store_holder& h) {
        auto reg = open_registry(h.store());
        register_ca(*reg, pki().ca);
        auto id = register_device(*reg, pki().device);
        must(*reg, [&](registry_txn& t) { return t.create_thing_group("g", "", ""); });
        for (int i = 0; i < 11; ++i) {
            must(*reg, [&](registry_txn& t) {
                return t.create_policy("p" + std::to_string(i), allow_all_policy);
            });
        }
        for (int i = 0; i < 10; ++i) {
            must(*reg, [&](registry_txn& t) {
                return t.attach_policy_to_certificate("p" + std::to_string(i), id);
            });
        }
        // Attaching again is a no-op, not an 11th.
        must(*reg, [&](registry_txn& t) { return t.attach_policy_to_certificate("p0", id); });
        fails(
                *reg,
                [&](registry_txn& t) { return t.attach_policy_to_certificate("p10", id); },
                registry_errc::limit_exceeded);
        must(*reg, [&](registry_txn& t) { return t.attach_policy_to_group("p0", "g"); });
        must(*reg, [&](registry_txn& t) { return t.attach_policy_to_group("p1", "g"); });
        fails(
                *reg,
                [&](registry_txn& t) { return t.attach_policy_to_group("p2", "g"); },
                registry_errc::limit_exceeded);
        CHECK(reg->snapshot()->certificate_policies(id).size() == 10);
        CHECK(reg->snapshot()->group_policies("g").size() == 2);
    });
}

TEST_CASE("registry: exclusive thing attachments") {
    for_each_store([](store_holder& h) {
        auto reg = open_registry(h.store());
        register_ca(*reg, pki().ca);
        auto id = register_device(*reg, pki().device);
        for (auto name : {"a", "b"}) {
            must(*reg, [&](registry_txn& t) { return t.create_thing(name, "", {}); });
        }
        must(*reg, [&](registry_txn& t) { return t.attach_thing_principal("a", id, false); });
        must(*reg, [&](registry_txn& t) { return t.attach_thing_principal("b", id, false); });
        // Exclusive needs to be the only one.
        fails(
                *reg,
                [&](registry_txn& t) { return t.attach_thing_principal("a", id, true); },
                registry_errc::conflicting_update);
        must(*reg, [&](registry_txn& t) { return t.detach_thing_principal("b", id); });
        must(*reg, [&](registry_txn& t) { return t.attach_thing_principal("a", id, true); });
        auto e = fails(
                *reg,
                [&](registry_txn& t) { return t.attach_thing_principal("b", id, false); },
                registry_errc::conflicting_update);
        CHECK(e.message.find("exclusively to thing \"a\"") != std::string::npos);
        // Re-attaching the same pair changes the flag.
        must(*reg, [&](registry_txn& t) { return t.attach_thing_principal("a", id, false); });
        CHECK_FALSE(reg->snapshot()->certificate_things(id).front()->exclusive);
        must(*reg, [&](registry_txn& t) { return t.attach_thing_principal("b", id, false); });
    });
}

TEST_CASE("registry: groups — parents must exist, 7 levels, children block deletion") {
    for_each_store([](store_holder& h) {
        auto reg = open_registry(h.store());
        fails(
                *reg,
                [&](registry_txn& t) { return t.create_thing_group("child", "missing", ""); },
                registry_errc::not_found);
        std::string parent;
        for (int level = 1; level <= 7; ++level) {
            auto name = "l" + std::to_string(level);
            must(*reg, [&](registry_txn& t) { return t.create_thing_group(name, parent, ""); });
            parent = name;
        }
        fails(
                *reg,
                [&](registry_txn& t) { return t.create_thing_group("l8", "l7", ""); },
                registry_errc::limit_exceeded);
        // Same definition again: fine; another parent: exists already.
        must(*reg, [&](registry_txn& t) { return t.create_thing_group("l2", "l1", ""); });
        fails(
                *reg,
                [&](registry_txn& t) { return t.create_thing_group("l2", "", ""); },
                registry_errc::already_exists);
        fails(
                *reg,
                [&](registry_txn& t) { return t.delete_thing_group("l6"); },
                registry_errc::delete_conflict);
        must(*reg, [&](registry_txn& t) { return t.create_thing("x", "", {}); });
        must(*reg, [&](registry_txn& t) { return t.add_thing_to_group("x", "l7"); });
        must(*reg, [&](registry_txn& t) { return t.delete_thing_group("l7"); });
        CHECK(reg->snapshot()->thing_groups("x").empty());
        for (int i = 0; i < 10; ++i) {
            must(*reg, [&](registry_txn& t) {
                return t.create_thing_group("m" + std::to_string(i), "", "");
            });
            must(*reg, [&](registry_txn& t) {
                return t.add_thing_to_group("x", "m" + std::to_string(i));
            });
        }
        fails(
                *reg,
                [&](registry_txn& t) { return t.add_thing_to_group("x", "l1"); },
                registry_errc::limit_exceeded);
    });
}

TEST_CASE("registry: things — names, attributes, types, idempotent create, versions") {
    for_each_store([](store_holder& h) {
        auto reg = open_registry(h.store());
        fails(
                *reg,
                [&](registry_txn& t) { return t.create_thing("bad/name", "", {}); },
                registry_errc::invalid_request);
        fails(
                *reg,
                [&](registry_txn& t) { return t.create_thing(std::string(129, 'x'), "", {}); },
                registry_errc::invalid_request);
        fails(
                *reg,
                [&](registry_txn& t) { return t.create_thing("t", "no-type", {}); },
                registry_errc::not_found);
        auto e = fails(
                *reg,
                [&](registry_txn& t) {
                    return t.create_thing("t", "", {{"bad key", "v"}});
                },
                registry_errc::invalid_request);
        CHECK(e.message.find("attribute name \"bad key\"") != std::string::npos);
        must(*reg, [&](registry_txn& t) { return t.create_thing("t", "", {{"a", "1"}}); });
        must(*reg, [&](registry_txn& t) { return t.create_thing("t", "", {{"a", "1"}}); });
        fails(
                *reg,
                [&](registry_txn& t) {
                    return t.create_thing("t", "", {{"a", "2"}});
                },
                registry_errc::already_exists);
        must(*reg, [&](registry_txn& t) { return t.create_thing_type("kind", ""); });
        must(*reg, [&](registry_txn& t) {
            return t.update_thing("t", std::string("kind"), attribute_map{{"a", "2"}});
        });
        CHECK(reg->snapshot()->find_thing("t")->version == 2);
        must(*reg, [&](registry_txn& t) {
            return t.update_thing("t", std::nullopt, attribute_map{{"a", "2"}});
        });
        CHECK(reg->snapshot()->find_thing("t")->version == 2);
        fails(
                *reg,
                [&](registry_txn& t) { return t.delete_thing_type("kind"); },
                registry_errc::delete_conflict);
    });
}

TEST_CASE("registry: a transaction is all or nothing; a failed commit changes nothing") {
    store_holder h(store_holder::kind::memory);
    auto reg = open_registry(h.store());
    auto before = reg->snapshot();
    auto r = reg->update([&](registry_txn& t) -> registry_result<void> {
        if (auto ok = t.create_thing("first", "", {}); !ok) {
            return ok;
        }
        return t.create_thing("bad name", "", {});
    });
    CHECK_FALSE(r.has_value());
    CHECK(reg->snapshot() == before);
    CHECK(reg->snapshot()->find_thing("first") == nullptr);

    h.memory()->fail_next_commit(persist::errc::disk_full);
    auto failed = reg->update([&](registry_txn& t) { return t.create_thing("second", "", {}); });
    REQUIRE_FALSE(failed.has_value());
    CHECK(failed.error().code == make_error_code(registry_errc::storage));
    CHECK(reg->snapshot()->find_thing("second") == nullptr);
    auto reopened = open_registry(h.store());
    CHECK(reopened->snapshot()->state().things.empty());
    // A no-op transaction publishes nothing.
    must(*reg, [&](registry_txn&) { return registry_result<void>{}; });
    CHECK(reg->snapshot() == before);
}

TEST_CASE("registry: listeners see committed changes in order") {
    store_holder h(store_holder::kind::memory);
    auto reg = open_registry(h.store());
    register_ca(*reg, pki().ca);
    auto id = register_device(*reg, pki().device);
    std::vector<registry_change> seen;
    auto listener = reg->on_change([&](const registry_change& c) { seen.push_back(c); });

    must(*reg, [&](registry_txn& t) { return t.create_policy("p", allow_all_policy); });
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].policies_may_have_changed());
    CHECK_FALSE(seen[0].certificate_left_active(id));
    CHECK(seen[0].snapshot == reg->snapshot());

    must(*reg, [&](registry_txn& t) { return t.attach_policy_to_certificate("p", id); });
    REQUIRE(seen.size() == 2);
    CHECK(seen[1].events.at(0).what == registry_event::kind::attachment_changed);
    CHECK(seen[1].events.at(0).name ==
          attachment_key(attachment_kind::certificate_policy, id, "p"));

    must(*reg,
         [&](registry_txn& t) { return t.update_certificate(id, certificate_status::inactive); });
    REQUIRE(seen.size() == 3);
    CHECK(seen[2].certificate_left_active(id));
    CHECK_FALSE(seen[2].policies_may_have_changed());
    CHECK(seen[2].events.at(0).old_status == certificate_status::active);
    CHECK(seen[2].events.at(0).new_status == certificate_status::inactive);

    // Failed and no-op transactions notify nobody.
    reg->update([&](registry_txn& t) { return t.delete_policy("p"); });
    must(*reg,
         [&](registry_txn& t) { return t.update_certificate(id, certificate_status::inactive); });
    CHECK(seen.size() == 3);

    reg->reload();
    REQUIRE(seen.size() == 4);
    CHECK(seen[3].trust_may_have_changed());

    reg->remove_listener(listener);
    must(*reg, [&](registry_txn& t) { return t.create_thing("t", "", {}); });
    CHECK(seen.size() == 4);
}

TEST_CASE("registry codec: round trip and strict decoding names kind, key and field") {
    certificate c;
    c.id = std::string(64, 'a');
    c.pem = "-----BEGIN CERTIFICATE-----\n...";
    c.status = certificate_status::pending_transfer;
    c.ca_id = std::string(64, 'b');
    c.not_before = registry_time{std::chrono::milliseconds{1000}};
    c.not_after = registry_time{std::chrono::milliseconds{2000}};
    c.created_at = registry_time{std::chrono::milliseconds{3000}};
    auto blob = to_blob(c);
    CHECK(blob.kind == persist::blob_kind::certificate);
    CHECK(blob.name == c.id);
    auto back = decode_certificate(blob);
    REQUIRE(back.has_value());
    CHECK(*back == c);

    attachment a{attachment_kind::certificate_thing, c.id, "thing-1", true, {}};
    auto ab = to_blob(a);
    CHECK(ab.name == "certificate-thing/" + c.id + "/thing-1");
    REQUIRE(decode_attachment(ab).has_value());
    CHECK(*decode_attachment(ab) == a);

    named_policy p;
    p.name = "p";
    p.default_version = 2;
    p.next_version = 3;
    REQUIRE(decode_policy(to_blob(p)).has_value());
    policy_version v{2, "{}", {}};
    auto vb = to_blob("p", v);
    CHECK(vb.name == "p/2");
    REQUIRE(decode_policy_version(vb).has_value());
    CHECK(decode_policy_version(vb)->version == v);

    auto corrupt = [](persist::blob_record r, std::string_view needle) {
        auto d = decode_certificate(r);
        REQUIRE_FALSE(d.has_value());
        CHECK(d.error().code == make_error_code(registry_errc::corrupt));
        CHECK_MESSAGE(d.error().message.find(needle) != std::string::npos, d.error().message);
    };
    auto edited = blob;
    edited.value.insert(1, R"("extra":1,)");
    corrupt(edited, "unknown field \"extra\"");
    edited = blob;
    edited.value.replace(edited.value.find("PENDING_TRANSFER"), 16, "PENDING_THING___");
    corrupt(edited, "field \"status\"");
    edited = blob;
    edited.name = std::string(64, 'c');
    corrupt(edited, "differs from the key");
    edited = blob;
    edited.value = "{";
    corrupt(edited, "not JSON");
    edited = blob;
    edited.value.replace(edited.value.find("\"v\":1"), 5, "\"v\":2");
    corrupt(edited, "format version");
    edited = blob;
    edited.value.replace(edited.value.find("\"not_before\":1000"), 17, "\"not_before\":\"x\"");
    corrupt(edited, "field \"not_before\" must be an integer");
    CHECK(decode_certificate(blob).value().id == c.id);
}

TEST_CASE("registry: a corrupt stored record stops the load, naming it") {
    for_each_store([](store_holder& h) {
        {
            auto reg = open_registry(h.store());
            must(*reg, [&](registry_txn& t) { return t.create_thing("good", "", {}); });
        }
        persist::write_batch b;
        b.put(persist::blob_record{
                persist::blob_kind::thing, "broken", R"({"v":1,"name":"broken"})"});
        REQUIRE_FALSE(h.store().commit_sync(std::move(b), persist::durability::wal));
        auto reg = registry::open(h.store(), test_options());
        REQUIRE_FALSE(reg.has_value());
        CHECK(reg.error().code == make_error_code(registry_errc::corrupt));
        CHECK(reg.error().message.find("thing \"broken\"") != std::string::npos);
        CHECK(reg.error().message.find("missing field \"type\"") != std::string::npos);

        // A dangling reference is corruption too.
        persist::write_batch fix;
        fix.erase_blob(persist::blob_kind::thing, "broken");
        fix.put(to_blob(attachment{attachment_kind::thing_group, "good", "nogroup", false, {}}));
        REQUIRE_FALSE(h.store().commit_sync(std::move(fix), persist::durability::wal));
        auto again = registry::open(h.store(), test_options());
        REQUIRE_FALSE(again.has_value());
        CHECK(again.error().message.find("thing-group/good/nogroup") != std::string::npos);
    });
}

TEST_CASE("registry model: names and statuses") {
    CHECK(is_valid_certificate_id(std::string(64, 'f')));
    CHECK_FALSE(is_valid_certificate_id(std::string(64, 'F')));
    CHECK_FALSE(is_valid_certificate_id(std::string(63, 'f')));
    CHECK(is_valid_registry_name("a:b_c-d"));
    CHECK_FALSE(is_valid_registry_name(""));
    CHECK_FALSE(is_valid_registry_name("a/b"));
    CHECK(is_valid_policy_name("p+=,.@-_"));
    CHECK_FALSE(is_valid_policy_name("p/q"));
    CHECK(is_valid_attribute_value(""));
    CHECK_FALSE(is_valid_attribute_value(std::string(801, 'a')));
    for (auto s :
         {certificate_status::active,
          certificate_status::inactive,
          certificate_status::revoked,
          certificate_status::pending_activation,
          certificate_status::pending_transfer}) {
        CHECK(parse_certificate_status(to_string(s)) == s);
    }
    CHECK_FALSE(parse_certificate_status("active").has_value());
    CHECK(parse_ca_status("INACTIVE") == ca_status::inactive);
    CHECK(aws_error_name(registry_errc::delete_conflict) == "DeleteConflictException");
}
