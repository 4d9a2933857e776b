#pragma once
// Test helper: a throwaway PKI made with OpenSSL's EVP/X509 APIs (ECDSA P-256), written to PEM
// files in a temporary directory. Header-only because the unit test glob builds *_test.cpp only.
// Self-contained on purpose: it does not depend on auth/pki.

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace thinggate::test {

struct pkey_free {
    void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};

struct x509_free {
    void operator()(X509* p) const noexcept { X509_free(p); }
};

using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
using x509_ptr = std::unique_ptr<X509, x509_free>;

/// A key and its certificate.
struct key_cert {
    pkey_ptr key;
    x509_ptr cert;
};

inline pkey_ptr make_p256_key() {
    pkey_ptr key(EVP_EC_gen("P-256"));
    if (!key) {
        throw std::runtime_error("EVP_EC_gen failed");
    }
    return key;
}

inline void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    if (ext == nullptr || X509_add_ext(cert, ext, -1) != 1) {
        throw std::runtime_error("cannot add a certificate extension");
    }
    X509_EXTENSION_free(ext);
}

enum class cert_role {
    ca,
    server,
    client
};

/// Issues a certificate for `cn`, valid from now + not_before to now + not_after; self-signed
/// when `issuer` is null (a root CA).
inline key_cert
issue(const std::string& cn,
      cert_role role,
      const key_cert* issuer,
      std::chrono::seconds not_before = std::chrono::hours(-1),
      std::chrono::seconds not_after = std::chrono::hours(24)) {
    key_cert out{make_p256_key(), x509_ptr(X509_new())};
    X509* c = out.cert.get();
    X509_set_version(c, 2);
    unsigned char serial[16];
    RAND_bytes(serial, sizeof serial);
    serial[0] &= 0x7f;
    BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(c));
    BN_free(bn);
    X509_gmtime_adj(X509_getm_notBefore(c), static_cast<long>(not_before.count()));
    X509_gmtime_adj(X509_getm_notAfter(c), static_cast<long>(not_after.count()));
    X509_NAME* name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(
            name,
            "O",
            MBSTRING_UTF8,
            reinterpret_cast<const unsigned char*>("thinggate tests"),
            -1,
            -1,
            0);
    X509_NAME_add_entry_by_txt(
            name,
            "CN",
            MBSTRING_UTF8,
            reinterpret_cast<const unsigned char*>(cn.c_str()),
            -1,
            -1,
            0);
    X509* issuer_cert = issuer ? issuer->cert.get() : c;
    EVP_PKEY* issuer_key = issuer ? issuer->key.get() : out.key.get();
    X509_set_issuer_name(c, X509_get_subject_name(issuer_cert));
    X509_set_pubkey(c, out.key.get());
    switch (role) {
    case cert_role::ca:
        add_ext(c, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(c, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
        break;
    case cert_role::server:
        add_ext(c, issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(c, issuer_cert, NID_key_usage, "critical,digitalSignature");
        add_ext(c, issuer_cert, NID_ext_key_usage, "serverAuth");
        add_ext(c, issuer_cert, NID_subject_alt_name, "DNS:localhost,IP:127.0.0.1,IP:::1");
        break;
    case cert_role::client:
        add_ext(c, issuer_cert, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(c, issuer_cert, NID_key_usage, "critical,digitalSignature");
        add_ext(c, issuer_cert, NID_ext_key_usage, "clientAuth");
        break;
    }
    add_ext(c, issuer_cert, NID_subject_key_identifier, "hash");
    if (X509_sign(c, issuer_key, EVP_sha256()) == 0) {
        throw std::runtime_error("X509_sign failed");
    }
    return out;
}

inline void write_cert(const std::filesystem::path& path, X509* cert) {
    FILE* f = std::fopen(path.c_str(), "w");
    if (f == nullptr || PEM_write_X509(f, cert) != 1) {
        throw std::runtime_error("cannot write " + path.string());
    }
    std::fclose(f);
}

/// Writes the private key with the given file mode (0600 unless a test wants otherwise).
inline void write_key(const std::filesystem::path& path, EVP_PKEY* key, mode_t mode = 0600) {
    ::unlink(path.c_str());
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0) {
        throw std::runtime_error("cannot create " + path.string());
    }
    ::fchmod(fd, mode); // the umask must not change what the test asked for
    FILE* f = ::fdopen(fd, "w");
    if (f == nullptr || PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        throw std::runtime_error("cannot write " + path.string());
    }
    std::fclose(f);
}

/// A temporary directory removed with everything in it.
class temp_dir {
public:
    temp_dir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "thinggate-XXXXXX").string();
        if (::mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = tmpl;
    }

    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }

    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

/// The usual set: a CA, a server certificate and a client certificate from it, as files.
struct test_pki {
    temp_dir dir;
    key_cert ca = issue("thinggate test CA", cert_role::ca, nullptr);
    key_cert server = issue("server-a", cert_role::server, &ca);
    key_cert client = issue("device-1", cert_role::client, &ca);

    std::string ca_file() const { return (dir / "ca.pem").string(); }

    std::string server_cert_file() const { return (dir / "server.pem").string(); }

    std::string server_key_file() const { return (dir / "server.key").string(); }

    std::string client_cert_file() const { return (dir / "client.pem").string(); }

    std::string client_key_file() const { return (dir / "client.key").string(); }

    test_pki() {
        write_cert(ca_file(), ca.cert.get());
        write_server(server);
        write_cert(client_cert_file(), client.cert.get());
        write_key(client_key_file(), client.key.get());
    }

    void write_server(const key_cert& kc) {
        write_cert(server_cert_file(), kc.cert.get());
        write_key(server_key_file(), kc.key.get());
    }

    /// Writes another key/certificate pair as <name>.pem / <name>.key; returns the two paths.
    std::pair<std::string, std::string>
    write_pair(const std::string& name, const key_cert& kc) const {
        auto cert = (dir / (name + ".pem")).string();
        auto key = (dir / (name + ".key")).string();
        write_cert(cert, kc.cert.get());
        write_key(key, kc.key.get());
        return {cert, key};
    }
};

} // namespace thinggate::test
