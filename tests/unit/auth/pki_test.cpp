#include "auth/pki.hpp"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <sys/stat.h>

namespace fs = std::filesystem;
using namespace thinggate::auth;

namespace {

std::string random_hex(std::size_t bytes) {
    std::string raw(bytes, '\0');
    REQUIRE(RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) == 1);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : raw) {
        out += hex[b >> 4];
        out += hex[b & 0x0f];
    }
    return out;
}

// A unique directory under the system temp dir, removed with everything in it.
struct temp_dir {
    fs::path path;

    temp_dir()
        : path(fs::temp_directory_path() / ("thinggate-pki-test-" + random_hex(8))) {
        fs::create_directories(path);
    }

    ~temp_dir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }

    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

// Restores the process umask when the test ends, pass or fail.
struct umask_guard {
    mode_t previous;

    explicit umask_guard(mode_t mask)
        : previous(::umask(mask)) {}

    ~umask_guard() { ::umask(previous); }

    umask_guard(const umask_guard&) = delete;
    umask_guard& operator=(const umask_guard&) = delete;
};

mode_t file_mode(const fs::path& path) {
    struct stat st {};

    REQUIRE(::stat(path.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

cert_request make_request(std::string cn, cert_profile profile) {
    cert_request request;
    request.subject.common_name = std::move(cn);
    request.subject.organization = "thinggate tests";
    request.profile = profile;
    request.days = 30;
    return request;
}

credential make_ca(key_spec spec = key_spec::ec_p256) {
    auto request = make_request("test CA", cert_profile::ca);
    request.days = 365;
    return issue_credential(request, spec, nullptr);
}

credential make_server(const credential& ca, key_spec spec = key_spec::ec_p256) {
    auto request = make_request("localhost", cert_profile::server);
    request.dns_sans = {"localhost"};
    request.ip_sans = {"127.0.0.1", "::1"};
    return issue_credential(request, spec, &ca);
}

credential make_device(const credential& ca, const std::string& thing = "thing-1") {
    return issue_credential(make_request(thing, cert_profile::client), key_spec::ec_p256, &ca);
}

credential make_codesign(const credential& ca) {
    return issue_credential(
            make_request("firmware signer", cert_profile::code_signing), key_spec::ec_p256, &ca);
}

bool extension_is_critical(X509& cert, int nid) {
    const int index = X509_get_ext_by_NID(&cert, nid, -1);
    REQUIRE(index >= 0);
    return X509_EXTENSION_get_critical(X509_get_ext(&cert, index)) == 1;
}

std::string common_name(X509& cert) {
    std::array<char, 256> buffer{};
    const int n = X509_NAME_get_text_by_NID(
            X509_get_subject_name(&cert), NID_commonName, buffer.data(), buffer.size());
    REQUIRE(n >= 0);
    return std::string(buffer.data(), static_cast<std::size_t>(n));
}

// X509_verify_cert against a store holding only `ca`, with an optional purpose; returns the
// verification error (X509_V_OK on success).
int verify_chain(X509& ca, X509& leaf, int purpose) {
    x509_store_ptr store{X509_STORE_new()};
    REQUIRE(store);
    REQUIRE(X509_STORE_add_cert(store.get(), &ca) == 1);
    x509_store_ctx_ptr ctx{X509_STORE_CTX_new()};
    REQUIRE(ctx);
    REQUIRE(X509_STORE_CTX_init(ctx.get(), store.get(), &leaf, nullptr) == 1);
    if (purpose != 0) {
        REQUIRE(X509_STORE_CTX_set_purpose(ctx.get(), purpose) == 1);
    }
    const int ok = X509_verify_cert(ctx.get());
    const int error = X509_STORE_CTX_get_error(ctx.get());
    CHECK((ok == 1) == (error == X509_V_OK));
    return error;
}

// The properties every certificate we issue must have for mbedTLS / coreMQTT devices.
void check_common_properties(X509& cert, X509& issuer) {
    CHECK(X509_get_version(&cert) == X509_VERSION_3);
    CHECK(X509_get_signature_nid(&cert) ==
          (EVP_PKEY_get_base_id(X509_get0_pubkey(&issuer)) == EVP_PKEY_RSA
                   ? NID_sha256WithRSAEncryption
                   : NID_ecdsa_with_SHA256));

    const ASN1_INTEGER* serial = X509_get0_serialNumber(&cert);
    CHECK(ASN1_STRING_type(serial) == V_ASN1_INTEGER); // V_ASN1_NEG_INTEGER when negative
    CHECK(ASN1_STRING_length(serial) == 16);

    const ASN1_OCTET_STRING* skid = X509_get0_subject_key_id(&cert);
    const ASN1_OCTET_STRING* akid = X509_get0_authority_key_id(&cert);
    REQUIRE(skid != nullptr);
    REQUIRE(akid != nullptr);
    const ASN1_OCTET_STRING* issuer_skid = X509_get0_subject_key_id(&issuer);
    REQUIRE(issuer_skid != nullptr);
    CHECK(ASN1_OCTET_STRING_cmp(akid, issuer_skid) == 0);

    // notBefore lies in the past (clock skew), notAfter in the future.
    CHECK(X509_cmp_current_time(X509_get0_notBefore(&cert)) < 0);
    CHECK(X509_cmp_current_time(X509_get0_notAfter(&cert)) > 0);
    int days = 0;
    int seconds = 0;
    REQUIRE(ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notBefore(&cert)) == 1);
    CHECK(days == 0);
    CHECK(seconds <= -3500);
    CHECK(seconds >= -3700);

    CHECK(X509_verify(&cert, X509_get0_pubkey(&issuer)) == 1);
}

} // namespace

TEST_CASE("key specs parse, print and generate the requested algorithm") {
    for (auto spec : {key_spec::ec_p256, key_spec::ec_p384, key_spec::rsa2048, key_spec::rsa3072}) {
        auto parsed = parse_key_spec(to_string(spec));
        REQUIRE(parsed.has_value());
        CHECK(*parsed == spec);
    }
    CHECK_FALSE(parse_key_spec("ec-p521").has_value());
    CHECK_FALSE(parse_key_spec("").has_value());

    auto p256 = generate_key(key_spec::ec_p256);
    CHECK(EVP_PKEY_get_base_id(p256.get()) == EVP_PKEY_EC);
    CHECK(EVP_PKEY_get_bits(p256.get()) == 256);
    auto p384 = generate_key(key_spec::ec_p384);
    CHECK(EVP_PKEY_get_base_id(p384.get()) == EVP_PKEY_EC);
    CHECK(EVP_PKEY_get_bits(p384.get()) == 384);
    auto rsa2048 = generate_key(key_spec::rsa2048);
    CHECK(EVP_PKEY_get_base_id(rsa2048.get()) == EVP_PKEY_RSA);
    CHECK(EVP_PKEY_get_bits(rsa2048.get()) == 2048);
    auto rsa3072 = generate_key(key_spec::rsa3072);
    CHECK(EVP_PKEY_get_base_id(rsa3072.get()) == EVP_PKEY_RSA);
    CHECK(EVP_PKEY_get_bits(rsa3072.get()) == 3072);
}

TEST_CASE("CA profile: self-signed v3, CA:TRUE critical with pathlen, keyCertSign+cRLSign") {
    auto ca = make_ca();
    check_common_properties(*ca.cert, *ca.cert);
    CHECK(X509_check_issued(ca.cert.get(), ca.cert.get()) == X509_V_OK);
    CHECK(X509_check_ca(ca.cert.get()) == 1);
    CHECK(extension_is_critical(*ca.cert, NID_basic_constraints));
    CHECK(X509_get_pathlen(ca.cert.get()) == 0);
    CHECK(extension_is_critical(*ca.cert, NID_key_usage));
    CHECK(X509_get_key_usage(ca.cert.get()) == (KU_KEY_CERT_SIGN | KU_CRL_SIGN));
    CHECK((X509_get_extension_flags(ca.cert.get()) & EXFLAG_XKUSAGE) == 0);
    CHECK(common_name(*ca.cert) == "test CA");

    auto unlimited = make_request("unlimited CA", cert_profile::ca);
    unlimited.path_len = -1;
    auto ca2 = issue_credential(unlimited, key_spec::ec_p256, nullptr);
    CHECK(X509_get_pathlen(ca2.cert.get()) == -1);
}

TEST_CASE("server profile: serverAuth, digitalSignature, SANs for localhost and loopback IPs") {
    auto ca = make_ca();
    auto server = make_server(ca);
    check_common_properties(*server.cert, *ca.cert);
    CHECK(X509_check_purpose(server.cert.get(), X509_PURPOSE_SSL_SERVER, 0) == 1);
    CHECK(X509_check_purpose(server.cert.get(), X509_PURPOSE_SSL_CLIENT, 0) != 1);
    CHECK(X509_check_ca(server.cert.get()) == 0);
    CHECK(extension_is_critical(*server.cert, NID_basic_constraints));
    CHECK(extension_is_critical(*server.cert, NID_key_usage));
    CHECK(X509_get_key_usage(server.cert.get()) == KU_DIGITAL_SIGNATURE);
    CHECK(X509_get_extended_key_usage(server.cert.get()) == XKU_SSL_SERVER);

    CHECK(X509_check_host(server.cert.get(), "localhost", 0, 0, nullptr) == 1);
    CHECK(X509_check_host(server.cert.get(), "example.org", 0, 0, nullptr) == 0);
    CHECK(X509_check_ip_asc(server.cert.get(), "127.0.0.1", 0) == 1);
    CHECK(X509_check_ip_asc(server.cert.get(), "::1", 0) == 1);
    CHECK(X509_check_ip_asc(server.cert.get(), "10.0.0.1", 0) == 0);
}

TEST_CASE("server profile with RSA adds keyEncipherment; RSA and P-384 chains verify") {
    auto rsa_ca = make_ca(key_spec::rsa2048);
    auto rsa_server = make_server(rsa_ca, key_spec::rsa2048);
    check_common_properties(*rsa_server.cert, *rsa_ca.cert);
    CHECK(X509_get_key_usage(rsa_server.cert.get()) ==
          (KU_DIGITAL_SIGNATURE | KU_KEY_ENCIPHERMENT));
    CHECK(verify_chain(*rsa_ca.cert, *rsa_server.cert, X509_PURPOSE_SSL_SERVER) == X509_V_OK);

    auto p384_ca = make_ca(key_spec::ec_p384);
    auto p384_server = make_server(p384_ca, key_spec::ec_p384);
    check_common_properties(*p384_server.cert, *p384_ca.cert);
    CHECK(X509_get_key_usage(p384_server.cert.get()) == KU_DIGITAL_SIGNATURE);
    CHECK(verify_chain(*p384_ca.cert, *p384_server.cert, X509_PURPOSE_SSL_SERVER) == X509_V_OK);
}

TEST_CASE("client (device) profile: clientAuth, CN = thing name") {
    auto ca = make_ca();
    auto device = make_device(ca, "demo-thing");
    check_common_properties(*device.cert, *ca.cert);
    CHECK(X509_check_purpose(device.cert.get(), X509_PURPOSE_SSL_CLIENT, 0) == 1);
    CHECK(X509_check_purpose(device.cert.get(), X509_PURPOSE_SSL_SERVER, 0) != 1);
    CHECK(X509_get_key_usage(device.cert.get()) == KU_DIGITAL_SIGNATURE);
    CHECK(X509_get_extended_key_usage(device.cert.get()) == XKU_SSL_CLIENT);
    CHECK(common_name(*device.cert) == "demo-thing");
    CHECK(X509_get_ext_by_NID(device.cert.get(), NID_subject_alt_name, -1) < 0);
}

TEST_CASE("code-signing profile: digitalSignature critical, EKU codeSigning only") {
    auto ca = make_ca();
    auto signer = make_codesign(ca);
    check_common_properties(*signer.cert, *ca.cert);
    CHECK(extension_is_critical(*signer.cert, NID_key_usage));
    CHECK(X509_get_key_usage(signer.cert.get()) == KU_DIGITAL_SIGNATURE);
    CHECK((X509_get_extended_key_usage(signer.cert.get()) & XKU_CODE_SIGN) != 0);
    CHECK(X509_get_extended_key_usage(signer.cert.get()) == XKU_CODE_SIGN);
    CHECK(X509_check_purpose(signer.cert.get(), X509_PURPOSE_SSL_CLIENT, 0) != 1);
    CHECK(X509_check_purpose(signer.cert.get(), X509_PURPOSE_SSL_SERVER, 0) != 1);
    CHECK(verify_chain(*ca.cert, *signer.cert, 0) == X509_V_OK);
}

TEST_CASE("chains verify with X509_verify_cert; a foreign CA does not") {
    auto ca = make_ca();
    auto server = make_server(ca);
    auto device = make_device(ca);
    CHECK(verify_chain(*ca.cert, *server.cert, X509_PURPOSE_SSL_SERVER) == X509_V_OK);
    CHECK(verify_chain(*ca.cert, *device.cert, X509_PURPOSE_SSL_CLIENT) == X509_V_OK);
    CHECK(verify_chain(*ca.cert, *device.cert, X509_PURPOSE_SSL_SERVER) ==
          X509_V_ERR_INVALID_PURPOSE);

    auto other_ca = make_ca();
    CHECK(verify_chain(*other_ca.cert, *device.cert, X509_PURPOSE_SSL_CLIENT) ==
          X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
    CHECK(X509_verify(device.cert.get(), X509_get0_pubkey(other_ca.cert.get())) != 1);
}

TEST_CASE("serial numbers are random per certificate") {
    auto ca = make_ca();
    auto a = make_device(ca);
    auto b = make_device(ca);
    CHECK(ASN1_INTEGER_cmp(
                  X509_get0_serialNumber(a.cert.get()), X509_get0_serialNumber(b.cert.get())) != 0);
}

TEST_CASE("issue validates the request and the issuer") {
    auto ca = make_ca();
    auto key = generate_key(key_spec::ec_p256);

    auto request = make_request("", cert_profile::client);
    CHECK_THROWS_AS(issue(request, *key, *ca.cert, *ca.key), pki_error);
    request = make_request(std::string(65, 'x'), cert_profile::client);
    CHECK_THROWS_AS(issue(request, *key, *ca.cert, *ca.key), pki_error);

    request = make_request("ok", cert_profile::client);
    request.days = 0;
    CHECK_THROWS_AS(issue(request, *key, *ca.cert, *ca.key), pki_error);

    request = make_request("ok", cert_profile::client);
    request.subject.country = "DEU";
    CHECK_THROWS_AS(issue(request, *key, *ca.cert, *ca.key), pki_error);

    request = make_request("ok", cert_profile::server);
    request.dns_sans = {"bad name"};
    CHECK_THROWS_WITH_AS(
            issue(request, *key, *ca.cert, *ca.key), doctest::Contains("bad name"), pki_error);
    request.dns_sans = {"localhost,IP:1.2.3.4"};
    CHECK_THROWS_AS(issue(request, *key, *ca.cert, *ca.key), pki_error);

    request = make_request("ok", cert_profile::server);
    request.ip_sans = {"300.1.1.1"};
    CHECK_THROWS_WITH_AS(
            issue(request, *key, *ca.cert, *ca.key), doctest::Contains("300.1.1.1"), pki_error);

    request = make_request("ok", cert_profile::server);
    request.dns_sans = {"*.example.org"};
    request.subject.country = "DE";
    auto wildcard = issue(request, *key, *ca.cert, *ca.key);
    CHECK(X509_check_host(wildcard.get(), "a.example.org", 0, 0, nullptr) == 1);

    // A leaf cannot issue, and a key must belong to its issuer certificate.
    auto device = make_device(ca);
    request = make_request("ok", cert_profile::client);
    CHECK_THROWS_WITH_AS(
            issue(request, *key, *device.cert, *device.key),
            doctest::Contains("not a CA"),
            pki_error);
    auto other_key = generate_key(key_spec::ec_p256);
    CHECK_THROWS_WITH_AS(
            issue(request, *key, *ca.cert, *other_key),
            doctest::Contains("does not belong"),
            pki_error);
}

TEST_CASE("check_request names the bad field; name and address checks") {
    auto request = make_request("ok", cert_profile::server);
    CHECK(check_request(request).empty());
    request.dns_sans = {"localhost", "-bad.example"};
    CHECK(check_request(request).find("-bad.example") != std::string::npos);
    request.dns_sans = {};
    request.ip_sans = {"::1", "fe80::1::2"};
    CHECK(check_request(request).find("fe80::1::2") != std::string::npos);
    request.ip_sans = {};
    request.days = 36501;
    CHECK(check_request(request).find("36501") != std::string::npos);

    CHECK(is_valid_dns_name("localhost"));
    CHECK(is_valid_dns_name("gw-1.example.org"));
    CHECK(is_valid_dns_name("*.example.org"));
    CHECK_FALSE(is_valid_dns_name(""));
    CHECK_FALSE(is_valid_dns_name("a..b"));
    CHECK_FALSE(is_valid_dns_name("a.b."));
    CHECK_FALSE(is_valid_dns_name("host-"));
    CHECK_FALSE(is_valid_dns_name("foo.*.org"));
    CHECK_FALSE(is_valid_dns_name(std::string(64, 'a') + ".org"));
    CHECK(is_valid_dns_name(std::string(63, 'a') + ".org"));

    CHECK(is_valid_ip_address("127.0.0.1"));
    CHECK(is_valid_ip_address("::1"));
    CHECK(is_valid_ip_address("2001:db8::42"));
    CHECK_FALSE(is_valid_ip_address(""));
    CHECK_FALSE(is_valid_ip_address("1.2.3"));
    CHECK_FALSE(is_valid_ip_address("localhost"));
    CHECK_FALSE(is_valid_ip_address(std::string_view("1.2.3.4\0junk", 12)));
    CHECK_FALSE(is_valid_ip_address(std::string(100, '1')));
}

TEST_CASE("certificate_id is the lowercase hex SHA-256 of the DER encoding") {
    auto ca = make_ca();
    auto device = make_device(ca);
    const auto id = certificate_id(*device.cert);
    REQUIRE(id.size() == 64);
    CHECK(std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
    }));

    unsigned char* der = nullptr;
    const int der_length = i2d_X509(device.cert.get(), &der);
    REQUIRE(der_length > 0);
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_length = 0;
    REQUIRE(EVP_Digest(
                    der,
                    static_cast<std::size_t>(der_length),
                    digest.data(),
                    &digest_length,
                    EVP_sha256(),
                    nullptr) == 1);
    OPENSSL_free(der);
    REQUIRE(digest_length == 32);
    std::string expected;
    for (unsigned int i = 0; i < digest_length; ++i) {
        std::array<char, 3> byte{};
        std::snprintf(byte.data(), byte.size(), "%02x", digest[i]);
        expected += byte.data();
    }
    CHECK(id == expected);
    CHECK(certificate_id(*ca.cert) != id);
}

TEST_CASE("PEM files: keys 0600 from creation, certificates 0644, no silent overwrite") {
    temp_dir dir;
    umask_guard no_umask(0); // the modes must come from open(), not from a friendly umask
    auto ca = make_ca();
    auto device = make_device(ca);
    const auto key_path = dir.path / "device.key";
    const auto cert_path = dir.path / "device.pem";

    write_private_key_pem(key_path, *device.key, false);
    write_certificate_pem(cert_path, *device.cert, false);
    CHECK(file_mode(key_path) == 0600);
    CHECK(file_mode(cert_path) == 0644);

    const auto key_pem = read_text(key_path);
    CHECK(key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    CHECK(read_text(cert_path).starts_with("-----BEGIN CERTIFICATE-----"));

    // Round trip.
    auto cert_back = read_certificate_pem(cert_path);
    auto key_back = read_private_key_pem(key_path);
    CHECK(certificate_id(*cert_back) == certificate_id(*device.cert));
    CHECK(key_matches_certificate(*cert_back, *key_back));
    CHECK_FALSE(key_matches_certificate(*ca.cert, *key_back));

    // Refusal: the error names the file and the content is untouched.
    auto other = make_device(ca);
    CHECK_THROWS_WITH_AS(
            write_private_key_pem(key_path, *other.key, false),
            doctest::Contains(key_path.string().c_str()),
            pki_error);
    CHECK_THROWS_AS(write_certificate_pem(cert_path, *other.cert, false), pki_error);
    CHECK(read_text(key_path) == key_pem);

    // Overwrite replaces the file with a fresh 0600 one, even over a world-readable file.
    const auto loose = dir.path / "loose.key";
    {
        std::ofstream out(loose);
        out << "not a key\n";
    }
    fs::permissions(loose, fs::perms(0644));
    REQUIRE(file_mode(loose) == 0644);
    write_private_key_pem(loose, *other.key, true);
    CHECK(file_mode(loose) == 0600);
    auto loose_back = read_private_key_pem(loose);
    CHECK(key_matches_certificate(*other.cert, *loose_back));
    write_certificate_pem(cert_path, *other.cert, true);
    CHECK(certificate_id(*read_certificate_pem(cert_path)) == certificate_id(*other.cert));

    // No temporary files are left behind.
    std::size_t entries = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(dir.path)) {
        ++entries;
    }
    CHECK(entries == 3);
}

TEST_CASE("reading a missing or malformed PEM file names the file") {
    temp_dir dir;
    const auto missing = dir.path / "nope.pem";
    CHECK_THROWS_WITH_AS(
            read_certificate_pem(missing), doctest::Contains(missing.string().c_str()), pki_error);
    const auto garbage = dir.path / "garbage.pem";
    {
        std::ofstream out(garbage);
        out << "hello\n";
    }
    CHECK_THROWS_WITH_AS(
            read_certificate_pem(garbage), doctest::Contains(garbage.string().c_str()), pki_error);
    CHECK_THROWS_WITH_AS(
            read_private_key_pem(garbage), doctest::Contains(garbage.string().c_str()), pki_error);
}

TEST_CASE("describe reports subject, SANs, usages, validity and id") {
    auto ca = make_ca();
    auto server = make_server(ca);
    const auto info = describe(*server.cert);
    CHECK(info.subject == "CN=localhost,O=thinggate tests");
    CHECK(info.issuer == "CN=test CA,O=thinggate tests");
    CHECK(info.key == "EC P-256");
    CHECK(info.sans == std::vector<std::string>{"DNS:localhost", "IP:127.0.0.1", "IP:::1"});
    CHECK(info.key_usage == std::vector<std::string>{"digitalSignature"});
    CHECK(info.extended_key_usage == std::vector<std::string>{"serverAuth"});
    CHECK_FALSE(info.is_ca);
    CHECK(info.serial_hex.size() == 32);
    CHECK(info.not_before.size() == 20);
    CHECK(info.not_before < info.not_after);
    CHECK(info.id == certificate_id(*server.cert));

    const auto ca_info = describe(*ca.cert);
    CHECK(ca_info.is_ca);
    REQUIRE(ca_info.path_len.has_value());
    CHECK(*ca_info.path_len == 0);
    CHECK(ca_info.key_usage == std::vector<std::string>{"keyCertSign", "cRLSign"});

    const auto signer = make_codesign(ca);
    CHECK(describe(*signer.cert).extended_key_usage == std::vector<std::string>{"codeSigning"});
    CHECK(describe(*make_ca(key_spec::rsa2048).cert).key == "RSA 2048");
}

TEST_CASE("ensure_dev_pki creates a complete set once and then reuses it") {
    temp_dir dir;
    const auto data_dir = dir.path / "var";
    const auto first = ensure_dev_pki(data_dir, "demo-thing");
    CHECK(first.created);
    CHECK(first.ca_cert == data_dir / "pki" / "ca.pem");
    CHECK(first.device_cert == data_dir / "pki" / "demo-thing.pem");
    CHECK(first.device_key == data_dir / "pki" / "demo-thing.key");
    CHECK((file_mode(data_dir / "pki") & 0077) == 0);
    for (const auto& key : {first.ca_key, first.server_key, first.device_key}) {
        CHECK(file_mode(key) == 0600);
    }

    auto ca = read_certificate_pem(first.ca_cert);
    auto server = read_certificate_pem(first.server_cert);
    auto device = read_certificate_pem(first.device_cert);
    CHECK(X509_check_ca(ca.get()) == 1);
    CHECK(X509_get_pathlen(ca.get()) == 0);
    CHECK(verify_chain(*ca, *server, X509_PURPOSE_SSL_SERVER) == X509_V_OK);
    CHECK(verify_chain(*ca, *device, X509_PURPOSE_SSL_CLIENT) == X509_V_OK);
    CHECK(X509_check_host(server.get(), "localhost", 0, 0, nullptr) == 1);
    CHECK(X509_check_ip_asc(server.get(), "127.0.0.1", 0) == 1);
    CHECK(X509_check_ip_asc(server.get(), "::1", 0) == 1);
    CHECK(common_name(*device) == "demo-thing");
    CHECK(EVP_PKEY_get_base_id(X509_get0_pubkey(device.get())) == EVP_PKEY_EC);

    const auto second = ensure_dev_pki(data_dir, "demo-thing");
    CHECK_FALSE(second.created);
    CHECK(certificate_id(*read_certificate_pem(second.ca_cert)) == certificate_id(*ca));
    CHECK(certificate_id(*read_certificate_pem(second.server_cert)) == certificate_id(*server));
    CHECK(certificate_id(*read_certificate_pem(second.device_cert)) == certificate_id(*device));
}

TEST_CASE("ensure_dev_pki refuses a partial set and names the missing file") {
    temp_dir dir;
    const auto set = ensure_dev_pki(dir.path, "demo-thing");
    fs::remove(set.device_key);
    CHECK_THROWS_WITH_AS(
            ensure_dev_pki(dir.path, "demo-thing"),
            doctest::Contains(set.device_key.string().c_str()),
            pki_error);
    // Nothing was regenerated behind the operator's back.
    CHECK_FALSE(fs::exists(set.device_key));
    CHECK(fs::exists(set.ca_key));

    // A swapped key is detected on reuse.
    temp_dir other;
    const auto other_set = ensure_dev_pki(other.path, "demo-thing");
    fs::copy_file(other_set.server_key, set.device_key);
    CHECK_THROWS_WITH_AS(
            ensure_dev_pki(dir.path, "demo-thing"),
            doctest::Contains("does not belong"),
            pki_error);

    // A matching pair from another CA is detected too.
    fs::copy_file(other_set.device_key, set.device_key, fs::copy_options::overwrite_existing);
    fs::copy_file(other_set.device_cert, set.device_cert, fs::copy_options::overwrite_existing);
    CHECK_THROWS_WITH_AS(
            ensure_dev_pki(dir.path, "demo-thing"),
            doctest::Contains("was not issued by"),
            pki_error);
}

TEST_CASE("ensure_dev_pki validates the thing name") {
    temp_dir dir;
    CHECK_THROWS_AS(ensure_dev_pki(dir.path, ""), pki_error);
    CHECK_THROWS_AS(ensure_dev_pki(dir.path, "../escape"), pki_error);
    CHECK_THROWS_AS(ensure_dev_pki(dir.path, "a/b"), pki_error);
    CHECK_THROWS_AS(ensure_dev_pki(dir.path, "ca"), pki_error);
    CHECK_THROWS_AS(ensure_dev_pki(dir.path, "server"), pki_error);
    CHECK(is_valid_thing_name("thing_1:a-B"));
    CHECK_FALSE(is_valid_thing_name(std::string(129, 'a')));
}

TEST_CASE("the openssl command line accepts the development PKI") {
    if (std::system("command -v openssl >/dev/null 2>&1") != 0) {
        MESSAGE("openssl binary not found; skipping the CLI cross-check");
        return;
    }
    temp_dir dir;
    const auto set = ensure_dev_pki(dir.path, "demo-thing");
    auto run = [](const std::string& command) {
        const int status = std::system((command + " >/dev/null 2>&1").c_str());
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    };
    const std::string ca = "'" + set.ca_cert.string() + "'";
    CHECK(run("openssl verify -CAfile " + ca + " '" + set.device_cert.string() + "'") == 0);
    CHECK(run("openssl verify -purpose sslclient -CAfile " + ca + " '" + set.device_cert.string() +
              "'") == 0);
    CHECK(run("openssl verify -purpose sslserver -CAfile " + ca + " '" + set.server_cert.string() +
              "'") == 0);
    CHECK(run("openssl pkey -noout -in '" + set.device_key.string() + "'") == 0);

    // And a certificate from a different CA is rejected by the same command.
    temp_dir other;
    const auto foreign = ensure_dev_pki(other.path, "demo-thing");
    CHECK(run("openssl verify -CAfile " + ca + " '" + foreign.device_cert.string() + "'") != 0);
}
