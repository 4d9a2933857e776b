// Client certificate verification against registry snapshots (GATEWAY-SEMANTICS §2 "TLS
// handshake", §4): chain completion from registered CAs, statuses, validity, CRLs, JITR.

#include "auth/peer_verify.hpp"

#include <chrono>

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include "registry_test_support.hpp"

using namespace thinggate::auth;
using namespace thinggate::auth::test;

namespace {

struct fixture {
    credential root = make_ca("Root CA");
    credential intermediate = make_ca("Intermediate CA", &root);
    credential stranger_ca = make_ca("Stranger CA");
    credential device = make_device("dev-1", root);
    credential device2 = make_device("dev-2", root);
    credential via_intermediate = make_device("dev-3", intermediate);
    credential stranger = make_device("dev-4", stranger_ca);
    temp_dir dir;
    store_holder holder{store_holder::kind::memory};
    std::unique_ptr<registry> reg = open_registry(holder.store());
    std::string root_id;

    fixture() {
        root_id = must(*reg, [&](registry_txn& t) {
            return t.register_ca(pem(root), ca_status::active, false, "");
        });
    }

    std::string add(const credential& c, certificate_status s = certificate_status::active) {
        return must(*reg, [&](registry_txn& t) { return t.register_certificate(pem(c), s); });
    }

    verify_outcome
    verify(const credential& c,
           STACK_OF(X509) * chain = nullptr,
           registry_time now = persist_now()) {
        return verify_client_certificate(*reg->snapshot(), c.cert.get(), chain, now);
    }

    static registry_time persist_now() { return thinggate::persist::wall_now(); }
};

struct chain_stack {
    STACK_OF(X509) * stack = sk_X509_new_null();

    chain_stack(std::initializer_list<const credential*> certs) {
        for (const auto* c : certs) {
            sk_X509_push(stack, c->cert.get());
        }
    }

    ~chain_stack() { sk_X509_free(stack); }
};

} // namespace

TEST_CASE("verify: a leaf alone is completed from the registered ACTIVE CA and accepted") {
    fixture f;
    auto id = f.add(f.device);
    auto v = f.verify(f.device);
    CHECK(v.accepted());
    CHECK(v.certificate_id == id);
    CHECK(v.ca_certificate_id == f.root_id);
    CHECK(v.message.find("accepted") != std::string::npos);
    // Sending the CA along (or the leaf twice) changes nothing.
    chain_stack chain{&f.device, &f.root};
    CHECK(f.verify(f.device, chain.stack).accepted());
}

TEST_CASE("verify: no certificate, unknown CA, unregistered certificate") {
    fixture f;
    auto none =
            verify_client_certificate(*f.reg->snapshot(), nullptr, nullptr, fixture::persist_now());
    CHECK(none.reason == refusal::no_certificate);
    CHECK_FALSE(none.accepted());

    auto unknown = f.verify(f.stranger);
    CHECK(unknown.result == verify_outcome::kind::refused);
    CHECK(unknown.reason == refusal::unknown_ca);
    // Even when the client sends its (unregistered) CA along.
    chain_stack chain{&f.stranger_ca};
    CHECK(f.verify(f.stranger, chain.stack).reason == refusal::unknown_ca);

    auto unregistered = f.verify(f.device2);
    CHECK(unregistered.result == verify_outcome::kind::refused);
    CHECK(unregistered.reason == refusal::not_registered);
    CHECK_FALSE(unregistered.jitr_entry.has_value());
    CHECK(unregistered.message.find(certificate_id(*f.device2.cert)) != std::string::npos);
}

TEST_CASE("verify: INACTIVE, REVOKED, PENDING certificates are refused") {
    fixture f;
    auto id = f.add(f.device, certificate_status::inactive);
    CHECK(f.verify(f.device).reason == refusal::inactive);
    must(*f.reg,
         [&](registry_txn& t) { return t.update_certificate(id, certificate_status::revoked); });
    CHECK(f.verify(f.device).reason == refusal::revoked);
    f.add(f.device2, certificate_status::pending_transfer);
    CHECK(f.verify(f.device2).reason == refusal::pending_transfer);
}

TEST_CASE("verify: a registered but INACTIVE CA refuses its certificates") {
    fixture f;
    f.add(f.device);
    must(*f.reg, [&](registry_txn& t) {
        return t.update_ca(f.root_id, ca_status::inactive, std::nullopt, std::nullopt);
    });
    auto v = f.verify(f.device);
    CHECK(v.reason == refusal::ca_inactive);
    CHECK(v.ca_certificate_id == f.root_id);
    must(*f.reg, [&](registry_txn& t) {
        return t.update_ca(f.root_id, ca_status::active, std::nullopt, std::nullopt);
    });
    CHECK(f.verify(f.device).accepted());
}

TEST_CASE("verify: validity period is checked at `now`") {
    fixture f;
    f.add(f.device);
    using namespace std::chrono;
    auto now = fixture::persist_now();
    CHECK(f.verify(f.device, nullptr, now + days(400)).reason == refusal::expired);
    CHECK(f.verify(f.device, nullptr, now - days(2)).reason == refusal::not_yet_valid);
    CHECK(f.verify(f.device, nullptr, now + days(300)).accepted());
}

TEST_CASE("verify: registered intermediate CAs are trust anchors; unregistered ones are not") {
    fixture f;
    auto id = must(*f.reg, [&](registry_txn& t) {
        return t.register_ca(pem(f.intermediate), ca_status::active, false, "");
    });
    f.add(f.via_intermediate);
    auto v = f.verify(f.via_intermediate);
    CHECK(v.accepted());
    CHECK(v.ca_certificate_id == id);

    // An INACTIVE registered intermediate sent along by the client: the chain verifies through
    // the ACTIVE root, but the issuing CA is inactive.
    must(*f.reg, [&](registry_txn& t) {
        return t.update_ca(id, ca_status::inactive, std::nullopt, std::nullopt);
    });
    CHECK(f.verify(f.via_intermediate).reason == refusal::ca_inactive);
    chain_stack sent{&f.intermediate};
    auto inactive = f.verify(f.via_intermediate, sent.stack);
    CHECK(inactive.reason == refusal::ca_inactive);
    CHECK(inactive.ca_certificate_id == id);

    // With the intermediate unregistered the chain reaches the root only through a CA the
    // registry does not know: refused.
    fixture g;
    chain_stack chain{&g.intermediate};
    auto w = g.verify(g.via_intermediate, chain.stack);
    CHECK(w.reason == refusal::unknown_ca);
    CHECK(w.message.find("register the intermediate") != std::string::npos);
}

TEST_CASE("verify: CRL files — revoked serials refused, reload picks up changes, unusable CRL "
          "fails closed") {
    fixture f;
    f.add(f.device);
    f.add(f.device2);
    auto crl_path = f.dir.path() / "root.crl";
    write_file(crl_path, make_crl(f.root, {}));
    must(*f.reg, [&](registry_txn& t) {
        return t.update_ca(f.root_id, std::nullopt, std::nullopt, crl_path.string());
    });
    CHECK(f.reg->snapshot()->problems().empty());
    CHECK(f.verify(f.device).accepted());

    write_file(crl_path, make_crl(f.root, {&f.device}));
    CHECK(f.verify(f.device).accepted()); // the snapshot holds the CRL it was built with
    f.reg->reload();
    auto v = f.verify(f.device);
    CHECK(v.reason == refusal::revoked_by_crl);
    CHECK(v.message.find(f.root_id) != std::string::npos);
    CHECK(f.verify(f.device2).accepted());

    // A CRL signed by another CA is not used: certificates of this CA are refused.
    write_file(crl_path, make_crl(f.stranger_ca, {}));
    f.reg->reload();
    REQUIRE(f.reg->snapshot()->problems().size() == 1);
    CHECK(f.reg->snapshot()->problems()[0].find("not signed by this CA") != std::string::npos);
    CHECK(f.verify(f.device2).reason == refusal::crl_unavailable);

    std::filesystem::remove(crl_path);
    f.reg->reload();
    CHECK(f.verify(f.device2).reason == refusal::crl_unavailable);
    CHECK(f.reg->snapshot()->problems()[0].find("root.crl") != std::string::npos);

    // Garbage is not a CRL either.
    write_file(crl_path, "not a crl");
    f.reg->reload();
    CHECK(f.verify(f.device2).reason == refusal::crl_unavailable);
}

TEST_CASE("verify: just-in-time registration from an auto-registration CA [GATEWAY-SEMANTICS §4]") {
    fixture f;
    must(*f.reg,
         [&](registry_txn& t) { return t.update_ca(f.root_id, std::nullopt, true, std::nullopt); });
    auto now = fixture::persist_now();
    verify_options options;
    options.account = "123456789012";
    auto v = verify_client_certificate(
            *f.reg->snapshot(), f.device.cert.get(), nullptr, now, options);
    REQUIRE(v.result == verify_outcome::kind::jitr);
    CHECK_FALSE(v.accepted());
    CHECK(v.reason == refusal::not_registered);
    CHECK(v.jitr_topic == "$aws/events/certificates/registered/" + f.root_id);
    auto payload = boost::json::parse(v.jitr_payload).as_object();
    CHECK(payload.at("certificateId").as_string() == v.certificate_id);
    CHECK(payload.at("caCertificateId").as_string() == f.root_id);
    CHECK(payload.at("certificateStatus").as_string() == "PENDING_ACTIVATION");
    CHECK(payload.at("awsAccountId").as_string() == "123456789012");
    CHECK(payload.at("timestamp").as_int64() == now.time_since_epoch().count());
    CHECK(payload.at("certificateRegistrationTimestamp").as_int64() ==
          now.time_since_epoch().count());
    CHECK(payload.size() == 6);
    REQUIRE(v.jitr_entry.has_value());
    CHECK(v.jitr_entry->status == certificate_status::pending_activation);
    CHECK(v.jitr_entry->ca_id == f.root_id);

    auto recorded = must(*f.reg, [&](registry_txn& t) { return t.record_jitr(*v.jitr_entry); });
    CHECK(recorded);
    auto again = must(*f.reg, [&](registry_txn& t) { return t.record_jitr(*v.jitr_entry); });
    CHECK_FALSE(again);
    CHECK(f.verify(f.device).reason == refusal::pending_activation);
    must(*f.reg, [&](registry_txn& t) {
        return t.update_certificate(v.certificate_id, certificate_status::active);
    });
    CHECK(f.verify(f.device).accepted());

    // A deactivated CA stops auto-registration (and its certificates).
    must(*f.reg, [&](registry_txn& t) {
        return t.update_ca(f.root_id, ca_status::inactive, std::nullopt, std::nullopt);
    });
    auto w = f.verify(f.device2);
    CHECK(w.reason == refusal::ca_inactive);
    CHECK_FALSE(w.jitr_entry.has_value());
}

TEST_CASE("verify: refusal names") {
    CHECK(to_string(refusal::revoked_by_crl) == "REVOKED_BY_CRL");
    CHECK(to_string(refusal::pending_activation) == "PENDING_ACTIVATION");
}
