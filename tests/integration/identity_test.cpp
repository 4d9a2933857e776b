// The TLS handshake against the identity registry (client_auth = "registry", the default), end to
// end with the real daemon and real clients: registered ACTIVE certificates connect; unregistered,
// INACTIVE and REVOKED ones, and certificates of an INACTIVE CA, are refused; a CRL file and the
// registry file are re-read on SIGHUP; just-in-time registration records PENDING_ACTIVATION and
// publishes AWS's event; ALPN on the "443" listener; and client_auth = "ca-file" still works.
#include <csignal>

#include <boost/json.hpp>
#include <doctest/doctest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "auth/pki.hpp"
#include "daemon.hpp"
#include "paho_client.hpp"

using namespace thinggate;
using namespace thinggate::integration;
namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

/// The test CA as a credential (certificate and key), to issue more certificates and CRLs.
auth::credential test_ca() {
    const auto& pki = test_pki::shared();
    return {auth::read_certificate_pem(pki.ca), auth::read_private_key_pem(pki.ca_key)};
}

/// A client certificate for `cn` from the test CA, written into `dir`.
cert_files issue_client(const fs::path& dir, const std::string& cn) {
    const auto ca = test_ca();
    auth::cert_request r;
    r.subject.common_name = cn;
    r.profile = auth::cert_profile::client;
    r.days = 30;
    auto c = auth::issue_credential(r, auth::key_spec::ec_p256, &ca);
    cert_files files{dir / (cn + ".pem"), dir / (cn + ".key")};
    auth::write_certificate_pem(files.cert, *c.cert, false);
    auth::write_private_key_pem(files.key, *c.key, false);
    return files;
}

std::string certificate_id_of(const fs::path& pem) {
    return auth::certificate_id(*auth::read_certificate_pem(pem));
}

/// Writes a CRL of the test CA listing `revoked` (may be empty) to `file`.
void write_crl(const fs::path& file, const std::vector<fs::path>& revoked) {
    const auto ca = test_ca();
    X509_CRL* crl = X509_CRL_new();
    REQUIRE(crl != nullptr);
    REQUIRE(X509_CRL_set_version(crl, 1) == 1);
    REQUIRE(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca.cert.get())) == 1);
    ASN1_TIME* now = ASN1_TIME_adj(nullptr, std::time(nullptr), 0, -60);
    ASN1_TIME* next = ASN1_TIME_adj(nullptr, std::time(nullptr), 7, 0);
    X509_CRL_set1_lastUpdate(crl, now);
    X509_CRL_set1_nextUpdate(crl, next);
    for (const auto& pem : revoked) {
        auto cert = auth::read_certificate_pem(pem);
        X509_REVOKED* r = X509_REVOKED_new();
        X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(cert.get()));
        X509_REVOKED_set_revocationDate(r, now);
        X509_CRL_add0_revoked(crl, r);
    }
    X509_CRL_sort(crl);
    REQUIRE(X509_CRL_sign(crl, ca.key.get(), EVP_sha256()) > 0);
    BIO* bio = BIO_new(BIO_s_mem());
    REQUIRE(PEM_write_bio_X509_CRL(bio, crl) == 1);
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    write_file(file, std::string_view(data, static_cast<std::size_t>(len)));
    BIO_free(bio);
    ASN1_TIME_free(now);
    ASN1_TIME_free(next);
    X509_CRL_free(crl);
}

json::object certificate_entry(const fs::path& pem, const std::string& status) {
    return json::object{
            {"pem_file", pem.string()},
            {"status", status},
            {"policies", json::array{"permissive"}}};
}

/// Connects with `cert` over TLS (MQTT 5); the error text, empty when connected.
std::string try_tls(const gateway& d, const cert_files& cert, const std::string& id = "probe") {
    client_options o;
    o.client_id = id;
    o.ep = {MQTTVERSION_5, transport_kind::tls};
    o.cert = cert;
    paho_client c(d, o);
    auto error = c.try_connect();
    if (error.empty()) {
        c.disconnect();
    }
    return error;
}

/// Sends SIGHUP and waits for the reload to have finished: the TLS reload logs last, after the
/// registry file and the CRL files.
void reload(gateway& d, std::size_t& count) {
    ::kill(d.pid(), SIGHUP);
    ++count;
    REQUIRE(d.wait_for_log_count("listener 'tls': TLS certificate reloaded", count));
}

} // namespace

TEST_CASE(
        "registry: ACTIVE connects; unregistered, INACTIVE and REVOKED certificates are refused") {
    temp_dir certs("thinggate-identity");
    const auto inactive = issue_client(certs.path(), "inactive-device");
    const auto revoked = issue_client(certs.path(), "revoked-device");
    const auto unregistered = issue_client(certs.path(), "unregistered-device");
    auto reg = default_registry(test_pki::shared());
    reg["certificates"].as_array().push_back(certificate_entry(inactive.cert, "INACTIVE"));
    reg["certificates"].as_array().push_back(certificate_entry(revoked.cert, "REVOKED"));
    gateway_options o;
    o.log_level = "debug";
    o.registry = json::serialize(reg);
    gateway d(o);

    CHECK(try_tls(d, test_pki::shared().client(0), "thing-1").empty());
    CHECK(try_tls(d, test_pki::shared().client(3), "thing-4").empty());
    for (const auto& [name, cert, reason] :
         {std::tuple{"unregistered", unregistered, "NOT_REGISTERED"},
          std::tuple{"inactive", inactive, "INACTIVE"},
          std::tuple{"revoked", revoked, "REVOKED"},
          std::tuple{"other CA", test_pki::shared().other_ca_client, "UNKNOWN_CA"},
          std::tuple{"expired", test_pki::shared().expired_client, "EXPIRED"}}) {
        CAPTURE(name);
        CHECK_FALSE(try_tls(d, cert).empty());
        // The refusal is logged at debug level with the certificate id and the reason.
        const std::string line =
                "client certificate " + certificate_id_of(cert.cert) + " refused (" + reason + ")";
        CHECK(d.wait_for_log(line));
    }
    // Each line names the listener and the peer.
    CHECK(d.log().find("listener 'tls': 127.0.0.1:") != std::string::npos);
    // No key material in the log.
    CHECK(d.log().find("PRIVATE KEY") == std::string::npos);
}

TEST_CASE("registry: a CA set INACTIVE (registry file re-applied on SIGHUP) refuses its "
          "certificates; a CRL listing a certificate refuses it after SIGHUP") {
    temp_dir work("thinggate-identity");
    const auto crl = work.path() / "ca.crl";
    write_crl(crl, {});
    auto reg = default_registry(test_pki::shared());
    reg["ca_certificates"].as_array()[0].as_object()["crl_file"] = crl.string();
    gateway_options o;
    o.registry = json::serialize(reg);
    gateway d(o);
    std::size_t reloads = 0;

    CHECK(try_tls(d, test_pki::shared().client(1), "thing-2").empty());
    CHECK(try_tls(d, test_pki::shared().client(2), "thing-3").empty());

    // thing-2's certificate is listed in the CRL: refused after SIGHUP, the others still connect.
    write_crl(crl, {test_pki::shared().client(1).cert});
    reload(d, reloads);
    CHECK_FALSE(try_tls(d, test_pki::shared().client(1), "thing-2").empty());
    CHECK(try_tls(d, test_pki::shared().client(2), "thing-3").empty());

    // The CA becomes INACTIVE in the registry file: every certificate of it is refused.
    reg["ca_certificates"].as_array()[0].as_object()["status"] = "INACTIVE";
    write_file(d.registry_file(), json::serialize(reg));
    reload(d, reloads);
    CHECK(d.wait_for_log("registry file " + d.registry_file().string() + " applied (1 change"));
    CHECK_FALSE(try_tls(d, test_pki::shared().client(2), "thing-3").empty());
    CHECK_FALSE(try_tls(d, test_pki::shared().client(0), "thing-1").empty());

    // A broken registry file on SIGHUP changes nothing and the daemon keeps running.
    write_file(
            d.registry_file(),
            "{ \"format\": \"thinggate-registry\", \"version\": 1, \"colour\": 1 }");
    reload(d, reloads);
    CHECK(d.wait_for_log("registry file not applied"));
    CHECK(d.running());
}

TEST_CASE("registry: just-in-time registration records PENDING_ACTIVATION and publishes the "
          "AWS event") {
    const auto& pki = test_pki::shared();
    auto reg = default_registry(pki);
    reg["ca_certificates"].as_array().push_back(json::object{
            {"pem_file", pki.other_ca.string()},
            {"status", "ACTIVE"},
            {"auto_registration", true}});
    gateway_options o;
    o.registry = json::serialize(reg);
    gateway d(o);
    const std::string ca_id = certificate_id_of(pki.other_ca);
    const std::string cert_id = certificate_id_of(pki.other_ca_client.cert);

    client_options wo;
    wo.client_id = "thing-1";
    wo.ep = {MQTTVERSION_5, transport_kind::tls};
    paho_client watcher(d, wo);
    watcher.connect();
    watcher.subscribe("$aws/events/certificates/registered/#", 1);

    CHECK_FALSE(try_tls(d, pki.other_ca_client, "intruder").empty());
    auto event = watcher.next_message();
    REQUIRE(event);
    CHECK(event->get_topic() == "$aws/events/certificates/registered/" + ca_id);
    const auto payload = json::parse(event->to_string()).as_object();
    CHECK(payload.at("certificateId").as_string() == cert_id);
    CHECK(payload.at("caCertificateId").as_string() == ca_id);
    CHECK(payload.at("certificateStatus").as_string() == "PENDING_ACTIVATION");
    CHECK(payload.at("awsAccountId").as_string() == "000000000000");
    CHECK(payload.at("timestamp").is_int64());
    CHECK(payload.at("certificateRegistrationTimestamp").is_int64());

    // A second attempt is refused again (PENDING_ACTIVATION) and publishes nothing new.
    CHECK_FALSE(try_tls(d, pki.other_ca_client, "intruder").empty());
    watcher.disconnect();
    d.stop();
#ifdef THINGGATECTL_BINARY
    auto described = run_command(
            {THINGGATECTL_BINARY,
             "registry",
             "describe-certificate",
             "--data-dir",
             d.data_dir().string(),
             "--id",
             cert_id});
    INFO(described.output);
    CHECK(described.exit_code == 0);
    CHECK(described.output.find("PENDING_ACTIVATION") != std::string::npos);
#endif
}

TEST_CASE("ALPN: with alpn = [\"x-amzn-mqtt-ca\"] a client offering it connects, one offering "
          "another protocol or none is refused (openssl s_client)") {
    if (!have_program("openssl")) {
        MESSAGE("skipped: openssl is not installed");
        return;
    }
    gateway_options o;
    o.tls_extra = "alpn = [\"x-amzn-mqtt-ca\"]\n";
    gateway d(o);
    const auto& pki = test_pki::shared();
    const auto common = s_client_command(d.tls_port(), pki.client(0));

    auto good = common;
    good.insert(good.end(), {"-alpn", "x-amzn-mqtt-ca"});
    auto ok = run_command(good);
    INFO("x-amzn-mqtt-ca: ", ok.output);
    CHECK(ok.exit_code == 0);
    CHECK(ok.output.find("ALPN protocol: x-amzn-mqtt-ca") != std::string::npos);

    auto other = common;
    other.insert(other.end(), {"-alpn", "other"});
    auto refused_other = run_command(other);
    INFO("other: ", refused_other.output);
    CHECK_FALSE(refused_other.timed_out);
    CHECK(refused_other.exit_code != 0);
    CHECK(refused_other.output.find("Cipher is (NONE)") != std::string::npos);

    auto none = run_command(common);
    INFO("none: ", none.output);
    CHECK_FALSE(none.timed_out);
    CHECK(none.exit_code != 0);
    CHECK(none.output.find("Cipher is (NONE)") != std::string::npos);
}

TEST_CASE("client_auth = \"ca-file\": any certificate of the CA file connects, registered or not") {
    temp_dir certs("thinggate-identity");
    const auto unregistered = issue_client(certs.path(), "unregistered-device");
    gateway_options o;
    o.client_auth = "ca-file";
    gateway d(o);
    CHECK(try_tls(d, test_pki::shared().client(0), "thing-1").empty());
    CHECK(try_tls(d, unregistered, "anyone").empty());
    CHECK_FALSE(try_tls(d, test_pki::shared().other_ca_client).empty());
}
