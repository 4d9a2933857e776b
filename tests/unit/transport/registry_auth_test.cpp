// TLS listeners with client_auth = registry: the handshake is decided by the identity registry
// (registered ACTIVE certificates of registered ACTIVE CAs), the accepted connection carries the
// certificate's identity and the SNI, a just-in-time registration is recorded off the shard and
// published, and the clientAuth extended key usage is required when the leaf has the extension.
#include "transport/registry_auth.hpp"

#include <chrono>
#include <condition_variable>
#include <mutex>

#include <doctest/doctest.h>

#include "auth/certificate_fields.hpp"
#include "auth/pki.hpp"
#include "auth/registry.hpp"
#include "persist/memory_store.hpp"
#include "test_certs.hpp"
#include "test_peer.hpp"
#include "transport/server.hpp"

using namespace thinggate;
using transport::client_auth_mode;
using transport::listener_config;
using transport::listener_kind;
namespace t = thinggate::test;

namespace {

using namespace std::chrono_literals;

listener_config registry_listener(const t::test_pki& pki) {
    listener_config cfg;
    cfg.name = "l";
    cfg.kind = listener_kind::tls;
    cfg.address = "127.0.0.1";
    cfg.port = 0;
    cfg.client_auth = client_auth_mode::registry;
    cfg.cert_file = pki.server_cert_file();
    cfg.key_file = pki.server_key_file();
    return cfg;
}

t::client_options client_with(const std::string& cert, const std::string& key) {
    t::client_options o;
    o.cert_file = cert;
    o.key_file = key;
    return o;
}

/// Events the server published (topic, payload), with a wait.
struct published {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::pair<std::string, std::string>> events;

    void add(std::string topic, std::string payload) {
        std::lock_guard lk(mu);
        events.emplace_back(std::move(topic), std::move(payload));
        cv.notify_all();
    }

    bool wait_for(std::size_t n) {
        std::unique_lock lk(mu);
        return cv.wait_for(lk, 10s, [&] { return events.size() >= n; });
    }
};

/// A registry on a memory store, a server with one registry-mode listener over it.
struct registry_server {
    t::test_pki pki;
    persist::memory_store store;
    std::unique_ptr<auth::registry> reg = auth::registry::open(store).value();
    published events;
    transport::shard_pool pool{2};
    t::echo_state st;
    t::echo_factory factory{st};
    std::unique_ptr<transport::server> srv;
    std::string ca_id;

    explicit registry_server(bool auto_registration = false) {
        ca_id = reg->update([&](auth::registry_txn& txn) {
                       return txn.register_ca(
                               auth::certificate_to_pem(*pki.ca.cert),
                               auth::ca_status::active,
                               auto_registration,
                               "");
                   }).value();
    }

    std::string register_certificate(X509& cert, auth::certificate_status status) {
        return reg
                ->update([&](auth::registry_txn& txn) {
                    return txn.register_certificate(auth::certificate_to_pem(cert), status);
                })
                .value();
    }

    void start(listener_config cfg) {
        pool.start();
        srv = std::make_unique<transport::server>(factory, pool, std::vector{std::move(cfg)});
        transport::registry_auth_options o;
        o.account = "123456789012";
        o.publish = [this](std::string topic, std::string payload) {
            events.add(std::move(topic), std::move(payload));
        };
        srv->use_registry(*reg, std::move(o));
        srv->start();
    }

    ~registry_server() {
        if (srv) {
            srv->stop();
        }
    }

    /// True when the client is refused (handshake fails, or the server closes at once: with
    /// TLS 1.3 the client finishes its side before the server has checked its certificate).
    static bool refused(t::tls_client& c) { return !c.connect() || !c.echo("hello"); }
};

} // namespace

TEST_CASE("allows_client_auth: no EKU, or an EKU with clientAuth") {
    t::test_pki pki;
    CHECK(transport::allows_client_auth(*pki.client.cert));       // EKU clientAuth
    CHECK(transport::allows_client_auth(*pki.ca.cert));           // no EKU extension
    CHECK_FALSE(transport::allows_client_auth(*pki.server.cert)); // EKU serverAuth only
}

TEST_CASE("registry mode: a registered ACTIVE certificate connects with its identity and SNI") {
    registry_server s;
    const auto id = s.register_certificate(*s.pki.client.cert, auth::certificate_status::active);
    s.start(registry_listener(s.pki));
    for (const std::string sni : {"iot.example.org", "127.0.0.1", ""}) {
        CAPTURE(sni);
        auto o = client_with(s.pki.client_cert_file(), s.pki.client_key_file());
        o.sni = sni;
        t::tls_client c(s.srv->port("l"), o);
        REQUIRE_MESSAGE(c.connect(), c.error);
        REQUIRE(c.echo("hi"));
        std::lock_guard lk(s.st.mu);
        const auto& info = s.st.infos.back();
        REQUIRE(info.certificate != nullptr);
        CHECK(info.certificate->id == id);
        CHECK(info.cert_fingerprint == id);
        CHECK(info.sni == sni); // an IP literal is accepted as sent
        bool cn_found = false;
        for (const auto& [name, value] : info.certificate->subject) {
            cn_found = cn_found || (name == "CommonName" && value == "device-1");
        }
        CHECK(cn_found);
    }
}

TEST_CASE("registry mode: unregistered, INACTIVE, REVOKED and foreign certificates are refused") {
    registry_server s;
    auto inactive = t::issue("inactive", t::cert_role::client, &s.pki.ca);
    auto revoked = t::issue("revoked", t::cert_role::client, &s.pki.ca);
    auto unregistered = t::issue("unregistered", t::cert_role::client, &s.pki.ca);
    auto other_ca = t::issue("other CA", t::cert_role::ca, nullptr);
    auto foreign = t::issue("foreign", t::cert_role::client, &other_ca);
    s.register_certificate(*s.pki.client.cert, auth::certificate_status::active);
    s.register_certificate(*inactive.cert, auth::certificate_status::inactive);
    const auto revoked_id = s.register_certificate(*revoked.cert, auth::certificate_status::active);
    REQUIRE(s.reg->update([&](auth::registry_txn& txn) {
                     return txn.update_certificate(revoked_id, auth::certificate_status::revoked);
                 }).has_value());
    // A server certificate registered ACTIVE as a device: its EKU lacks clientAuth.
    s.register_certificate(*s.pki.server.cert, auth::certificate_status::active);
    s.start(registry_listener(s.pki));

    struct refusal_case {
        const char* name;
        const t::key_cert* kc;
    };

    const refusal_case cases[] = {
            {"unregistered", &unregistered},
            {"inactive", &inactive},
            {"revoked", &revoked},
            {"foreign CA", &foreign},
            {"serverAuth only", &s.pki.server},
    };
    for (const auto& rc : cases) {
        CAPTURE(rc.name);
        for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
            CAPTURE(version);
            auto [cert, key] = s.pki.write_pair(rc.name, *rc.kc);
            auto o = client_with(cert, key);
            o.min_version = o.max_version = version;
            t::tls_client c(s.srv->port("l"), o);
            CHECK(registry_server::refused(c));
        }
    }
    {
        t::tls_client c(s.srv->port("l"), t::client_options{}); // no certificate at all
        CHECK(registry_server::refused(c));
    }
    // The positive control on the same server.
    t::tls_client good(
            s.srv->port("l"), client_with(s.pki.client_cert_file(), s.pki.client_key_file()));
    REQUIRE_MESSAGE(good.connect(), good.error);
    CHECK(good.echo("still fine"));
    std::lock_guard lk(s.st.mu);
    CHECK(s.st.infos.size() == 1);
}

TEST_CASE("registry mode: a certificate deactivated after a full handshake is refused on "
          "resumption") {
    registry_server s;
    const auto id = s.register_certificate(*s.pki.client.cert, auth::certificate_status::active);
    s.start(registry_listener(s.pki));
    auto o = client_with(s.pki.client_cert_file(), s.pki.client_key_file());
    o.min_version = o.max_version = TLS1_2_VERSION;
    t::tls_client first(s.srv->port("l"), o);
    REQUIRE_MESSAGE(first.connect(), first.error);
    REQUIRE(first.echo("one"));
    SSL_SESSION* session = SSL_get1_session(first.ssl());
    REQUIRE(session != nullptr);
    REQUIRE(s.reg->update([&](auth::registry_txn& txn) {
                     return txn.update_certificate(id, auth::certificate_status::inactive);
                 }).has_value());
    o.resume = session;
    t::tls_client second(s.srv->port("l"), o);
    CHECK(registry_server::refused(second));
    SSL_SESSION_free(session);
}

TEST_CASE("registry mode: TLS 1.3 resumption is checked against the registry again — "
          "resumed while ACTIVE, refused once REVOKED") {
    registry_server s;
    const auto id = s.register_certificate(*s.pki.client.cert, auth::certificate_status::active);
    s.start(registry_listener(s.pki));
    auto o = client_with(s.pki.client_cert_file(), s.pki.client_key_file());
    o.min_version = o.max_version = TLS1_3_VERSION;
    SSL_SESSION* ticket = nullptr;
    {
        t::tls_client first(s.srv->port("l"), o);
        REQUIRE_MESSAGE(first.connect(), first.error);
        REQUIRE(first.echo("one")); // the NewSessionTicket is read with the echo
        // A copy: the client's own SSL_free (no close_notify) marks its session not resumable.
        ticket = SSL_SESSION_dup(SSL_get0_session(first.ssl()));
        REQUIRE(ticket != nullptr);
    } // ends without close_notify
    SSL_SESSION* next_ticket = nullptr;
    {
        auto r = o;
        r.resume = ticket;
        t::tls_client resumed(s.srv->port("l"), r);
        REQUIRE_MESSAGE(resumed.connect(), resumed.error);
        REQUIRE(SSL_session_reused(resumed.ssl()) == 1);
        REQUIRE(resumed.echo("two")); // accepted: the registry says ACTIVE
        next_ticket = SSL_SESSION_dup(SSL_get0_session(resumed.ssl()));
        REQUIRE(next_ticket != nullptr);
        REQUIRE(SSL_SESSION_is_resumable(next_ticket) == 1);
    }
    {
        std::lock_guard lk(s.st.mu);
        REQUIRE(s.st.infos.size() == 2);
        REQUIRE(s.st.infos[1].certificate != nullptr); // the resumed one has its identity
        CHECK(s.st.infos[1].certificate->id == id);
    }
    REQUIRE(s.reg->update([&](auth::registry_txn& txn) {
                     return txn.update_certificate(id, auth::certificate_status::revoked);
                 }).has_value());
    auto r = o;
    r.resume = next_ticket;
    t::tls_client after(s.srv->port("l"), r);
    const bool refused = registry_server::refused(after);
    CHECK(refused);
    CHECK(SSL_session_reused(after.ssl()) == 1); // it was the resumption that was refused
    SSL_SESSION_free(ticket);
    SSL_SESSION_free(next_ticket);
    std::lock_guard lk(s.st.mu);
    CHECK(s.st.infos.size() == 2);
}

TEST_CASE("registry_authenticator: a kept handshake result answers re-checks only while the "
          "registry is unchanged") {
    registry_server s; // its registry only; no server started
    const auto id = s.register_certificate(*s.pki.client.cert, auth::certificate_status::active);
    transport::registry_authenticator authn(*s.reg, {});
    // A certificate object of its own, as a handshake parses one.
    auto parsed = auth::parse_certificate_pem(auth::certificate_to_pem(*s.pki.client.cert));
    REQUIRE(parsed.has_value());
    X509* leaf = parsed->get();

    // Without a kept result, a re-check verifies in full.
    auto plain = authn.verify(leaf, nullptr, "l", "peer");
    REQUIRE(plain != nullptr);
    CHECK(authn.kept_results_used() == 0);

    // The handshake's check keeps its result; a plain check (a resumption) then uses it.
    auto full = authn.verify(leaf, nullptr, "l", "peer", /*remember=*/true);
    REQUIRE(full != nullptr);
    CHECK(full->id == id);
    auto again = authn.verify(leaf, nullptr, "l", "peer");
    CHECK(again == full);
    CHECK(authn.kept_results_used() == 1);

    // Any registry change: verified in full again, and a REVOKED certificate is refused.
    REQUIRE(s.reg->update([&](auth::registry_txn& txn) {
                     return txn.update_certificate(id, auth::certificate_status::revoked);
                 }).has_value());
    CHECK(authn.verify(leaf, nullptr, "l", "peer") == nullptr);
    CHECK(authn.kept_results_used() == 1);

    // Another authenticator (another server) does not use this one's kept result.
    transport::registry_authenticator other(*s.reg, {});
    CHECK(other.verify(leaf, nullptr, "l", "peer") == nullptr);
    CHECK(other.kept_results_used() == 0);
    authn.stop();
    other.stop();
}

TEST_CASE("registry mode: just-in-time registration records PENDING_ACTIVATION and publishes") {
    registry_server s(/*auto_registration=*/true);
    s.start(registry_listener(s.pki));
    t::tls_client c(
            s.srv->port("l"), client_with(s.pki.client_cert_file(), s.pki.client_key_file()));
    CHECK(registry_server::refused(c));
    REQUIRE(s.events.wait_for(1));
    const std::string id = auth::certificate_id(*s.pki.client.cert);
    {
        std::lock_guard lk(s.events.mu);
        CHECK(s.events.events[0].first == "$aws/events/certificates/registered/" + s.ca_id);
        const auto& payload = s.events.events[0].second;
        CHECK(payload.find("\"certificateId\":\"" + id + "\"") != std::string::npos);
        CHECK(payload.find("\"certificateStatus\":\"PENDING_ACTIVATION\"") != std::string::npos);
        CHECK(payload.find("\"awsAccountId\":\"123456789012\"") != std::string::npos);
    }
    const auto* entry = s.reg->snapshot()->find_certificate(id);
    REQUIRE(entry != nullptr);
    CHECK(entry->status == auth::certificate_status::pending_activation);
    CHECK(s.srv->stats().handshake_failures >= 1);

    // A second attempt is refused as PENDING_ACTIVATION and publishes nothing new.
    t::tls_client again(
            s.srv->port("l"), client_with(s.pki.client_cert_file(), s.pki.client_key_file()));
    CHECK(registry_server::refused(again));
    s.srv->stop();
    s.srv.reset();
    CHECK(s.events.events.size() == 1);
}

TEST_CASE("jitr_recorder: records once per certificate, publishes only new entries") {
    t::test_pki pki;
    persist::memory_store store;
    auto reg = auth::registry::open(store).value();
    reg->update([&](auth::registry_txn& txn) {
           return txn.register_ca(
                   auth::certificate_to_pem(*pki.ca.cert), auth::ca_status::active, true, "");
       }).value();
    published events;
    transport::jitr_recorder recorder(*reg, [&](std::string topic, std::string payload) {
        events.add(std::move(topic), std::move(payload));
    });
    auto outcome = auth::verify_client_certificate(
            *reg->snapshot(), pki.client.cert.get(), nullptr, persist::wall_now());
    REQUIRE(outcome.result == auth::verify_outcome::kind::jitr);
    CHECK(recorder.submit(outcome));
    CHECK(recorder.submit(outcome)); // the same device again before the first was recorded
    auth::verify_outcome refused;    // not a JITR outcome
    CHECK_FALSE(recorder.submit(refused));
    recorder.stop();
    CHECK(recorder.recorded() == 1);
    CHECK(events.events.size() == 1);
    CHECK_FALSE(recorder.submit(outcome)); // stopped
}

TEST_CASE("registry mode without a registry fails start() naming the listener") {
    t::test_pki pki;
    transport::shard_pool pool{1};
    t::echo_state st;
    t::echo_factory factory{st};
    transport::server srv(factory, pool, {registry_listener(pki)});
    try {
        srv.start();
        FAIL("start() succeeded");
    } catch (const std::runtime_error& e) {
        CHECK(std::string(e.what()).find("listener 'l'") != std::string::npos);
        CHECK(std::string(e.what()).find("registry") != std::string::npos);
    }
}
