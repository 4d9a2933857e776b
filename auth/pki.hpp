#pragma once
// auth/pki: keys and X.509 v3 certificates for operators and for the development PKI that the
// daemon creates on first start. OpenSSL 3 EVP APIs only. Owns: key generation, issuing, PEM
// files, certificate ids. Must not use: sockets, Asio, the registry (this is not the identity
// store, only the tool that mints certificates).
// Errors: throws pki_error (start-up and CLI code only; never on the per-packet path).
// Thread safety: every function is reentrant; objects passed in are only read (OpenSSL may bump
// their reference counts), so share them between threads only if nobody mutates them.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "auth/openssl_ptr.hpp"

namespace thinggate::auth {

/// Failure of a PKI operation; what() names the file or field and carries the OpenSSL error text.
class pki_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

enum class key_spec {
    ec_p256, ///< ECDSA on P-256 (prime256v1); the default, what FreeRTOS devices use
    ec_p384, ///< ECDSA on P-384 (secp384r1)
    rsa2048,
    rsa3072,
};

/// "ec-p256", "ec-p384", "rsa-2048", "rsa-3072".
std::string_view to_string(key_spec spec) noexcept;

/// Inverse of to_string(key_spec); nullopt for anything else.
std::optional<key_spec> parse_key_spec(std::string_view text) noexcept;

/// Generates a fresh private key (EVP_EC_gen / EVP_RSA_gen). Named-curve EC keys.
evp_pkey_ptr generate_key(key_spec spec);

/// What a certificate is for; decides its extensions (docs/certificates.md):
///  ca:           basicConstraints critical CA:TRUE[,pathlen]; keyUsage critical
///  keyCertSign,cRLSign server:       CA:FALSE; keyUsage critical digitalSignature
///  (+keyEncipherment for RSA);
///                extendedKeyUsage serverAuth
///  client:       CA:FALSE; keyUsage critical digitalSignature; extendedKeyUsage clientAuth
///  code_signing: CA:FALSE; keyUsage critical digitalSignature; extendedKeyUsage codeSigning
/// Every profile gets subjectKeyIdentifier and authorityKeyIdentifier.
enum class cert_profile {
    ca,
    server,
    client,
    code_signing,
};

std::string_view to_string(cert_profile profile) noexcept;

struct distinguished_name {
    std::string common_name;         ///< required, 1..64 characters (UTF-8)
    std::string organization;        ///< optional
    std::string organizational_unit; ///< optional
    std::string country;             ///< optional; two letters (ISO 3166), e.g. "DE"
};

struct cert_request {
    distinguished_name subject;
    std::vector<std::string>
            dns_sans;                 ///< subjectAltName DNS entries ("localhost", "*.example.org")
    std::vector<std::string> ip_sans; ///< subjectAltName IP entries ("127.0.0.1", "::1")
    int days = 365;                   ///< validity from now, 1..36500
    cert_profile profile = cert_profile::client;
    int path_len = 0; ///< ca only: basicConstraints pathlen; -1 = no limit
};

/// How far notBefore lies in the past, so that devices whose clock is a little behind accept a
/// certificate minted a moment ago.
inline constexpr std::chrono::seconds not_before_skew{std::chrono::hours{1}};

/// The problem with a request (naming the field and the value), or an empty string when issue()
/// would accept it. issue() runs the same check and throws its message.
std::string check_request(const cert_request& request);

/// A host name for a DNS subjectAltName: RFC 1123 labels, optionally "*." in front.
bool is_valid_dns_name(std::string_view name) noexcept;

/// An IPv4 or IPv6 literal for an IP subjectAltName ("127.0.0.1", "::1").
bool is_valid_ip_address(std::string_view address) noexcept;

/// Issues an X.509 v3 certificate for subject_key, signed with SHA-256 by issuer_key, with
/// issuer_cert's subject as issuer. Serial: 16 random bytes, positive. Throws pki_error when the
/// request is invalid (empty CN, bad SAN, days out of range) or OpenSSL fails, or when
/// issuer_key does not belong to issuer_cert or issuer_cert is not a CA.
x509_ptr
issue(const cert_request& request, EVP_PKEY& subject_key, X509& issuer_cert, EVP_PKEY& issuer_key);

/// Issues a self-signed certificate (a root CA when request.profile == ca).
x509_ptr issue_self_signed(const cert_request& request, EVP_PKEY& key);

/// A certificate with its private key.
struct credential {
    x509_ptr cert;
    evp_pkey_ptr key;
};

/// Generates a key of `spec` and issues a certificate for it; self-signed when issuer is null.
credential issue_credential(const cert_request& request, key_spec spec, const credential* issuer);

// --- PEM files -------------------------------------------------------------------------------

/// Reads the first certificate of a PEM file.
x509_ptr read_certificate_pem(const std::filesystem::path& path);

/// Reads an unencrypted PEM private key (PKCS#8, or traditional EC/RSA).
evp_pkey_ptr read_private_key_pem(const std::filesystem::path& path);

/// PEM text of a certificate / of an unencrypted PKCS#8 private key.
std::string certificate_to_pem(X509& cert);
std::string private_key_to_pem(EVP_PKEY& key);

/// Writes cert as PEM with mode 0644 (less if the umask says so). Refuses an existing file
/// unless overwrite; an overwrite replaces the file atomically (temporary file + rename).
void write_certificate_pem(const std::filesystem::path& path, X509& cert, bool overwrite);

/// Writes key as unencrypted PKCS#8 PEM into a file that is created with mode 0600 from the
/// start (open with O_CREAT|O_EXCL, never chmod afterwards). Refuses an existing file unless
/// overwrite; an overwrite writes a new 0600 file and renames it over the old one, so the old
/// file's mode never leaks onto the new key.
void write_private_key_pem(const std::filesystem::path& path, EVP_PKEY& key, bool overwrite);

// --- inspection ------------------------------------------------------------------------------

/// Lowercase hex SHA-256 of the certificate's DER encoding (64 characters). This is the
/// certificate id the registry and the TLS layer use.
std::string certificate_id(const X509& cert);

/// What `thinggatectl pki show` prints.
struct certificate_info {
    std::string subject;                         ///< RFC 2253, e.g. "CN=demo-thing,O=thinggate"
    std::string issuer;                          ///< RFC 2253
    std::string serial_hex;                      ///< uppercase hex, no separators
    std::string not_before;                      ///< "2025-01-31T12:00:00Z"
    std::string not_after;                       ///< "2026-01-31T12:00:00Z"
    std::string key;                             ///< "EC P-256", "RSA 2048", ...
    std::vector<std::string> sans;               ///< "DNS:localhost", "IP:127.0.0.1", ...
    std::vector<std::string> key_usage;          ///< "digitalSignature", "keyCertSign", ...
    std::vector<std::string> extended_key_usage; ///< "serverAuth", "clientAuth", "codeSigning"
    bool is_ca = false;
    std::optional<long> path_len; ///< CA only, when limited
    std::string id;               ///< certificate_id()
};

certificate_info describe(const X509& cert);

/// True when key is the private key of cert's public key.
bool key_matches_certificate(X509& cert, EVP_PKEY& key);

// --- development PKI -------------------------------------------------------------------------

/// The files of the development PKI, all under <dir>/pki/.
struct dev_pki {
    std::filesystem::path ca_cert;     ///< ca.pem
    std::filesystem::path ca_key;      ///< ca.key
    std::filesystem::path server_cert; ///< server.pem (DNS:localhost, IP:127.0.0.1, IP:::1)
    std::filesystem::path server_key;  ///< server.key
    std::filesystem::path device_cert; ///< <thing>.pem (CN = thing name, clientAuth)
    std::filesystem::path device_key;  ///< <thing>.key
    bool created = false;              ///< true when this call generated the files
};

/// The default thing name of the development PKI's device certificate.
inline constexpr std::string_view dev_thing_name = "demo-thing";

/// Makes sure <dir>/pki holds a development CA, a server certificate for localhost and a device
/// certificate for thing_name (ECDSA P-256). Creates all six files when none exists; reuses a
/// complete set (checking that each file loads and each key matches its certificate); throws
/// pki_error naming the missing files when only some exist. The pki directory is created 0700.
/// thing_name: 1..128 of [A-Za-z0-9_:-] (AWS IoT thing-name characters), not "ca" or "server".
dev_pki ensure_dev_pki(const std::filesystem::path& dir, std::string_view thing_name);

/// True when name is a valid thing name (1..128 of [A-Za-z0-9_:-]).
bool is_valid_thing_name(std::string_view name) noexcept;

} // namespace thinggate::auth
