#include "auth/pki.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <system_error>

#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace thinggate::auth {

namespace {

[[noreturn]] void fail_openssl(const std::string& what) {
    throw pki_error(what + ": " + openssl_error_text());
}

std::string quoted(const std::filesystem::path& path) {
    return "'" + path.string() + "'";
}

// --- request validation ----------------------------------------------------------------------

bool is_dns_label_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}

// Host names as RFC 1123 allows them, with an optional leading "*." wildcard label. SANs are
// built as GENERAL_NAMEs, never as config strings, so a name cannot smuggle in another entry;
// this check only keeps obviously broken names out of certificates.
bool dns_name_ok(std::string_view name) {
    if (name.starts_with("*.")) {
        name.remove_prefix(2);
    }
    if (name.empty() || name.size() > 253) {
        return false;
    }
    std::size_t label = 0;
    for (std::size_t i = 0; i <= name.size(); ++i) {
        if (i == name.size() || name[i] == '.') {
            if (label == 0 || label > 63 || name[i - 1] == '-' || name[i - label] == '-') {
                return false;
            }
            label = 0;
        } else if (is_dns_label_char(name[i])) {
            ++label;
        } else {
            return false;
        }
    }
    return true;
}

void validate(const cert_request& request) {
    if (auto problem = check_request(request); !problem.empty()) {
        throw pki_error(problem);
    }
}

// --- building the certificate ----------------------------------------------------------------

x509_name_ptr make_name(const distinguished_name& dn) {
    x509_name_ptr name{X509_NAME_new()};
    if (!name) {
        fail_openssl("X509_NAME_new");
    }
    auto add = [&](int nid, const std::string& value, const char* field) {
        if (value.empty()) {
            return;
        }
        const auto* bytes = reinterpret_cast<const unsigned char*>(value.data());
        if (X509_NAME_add_entry_by_NID(
                    name.get(), nid, MBSTRING_UTF8, bytes, static_cast<int>(value.size()), -1, 0) !=
            1) {
            fail_openssl(std::string("subject ") + field + " '" + value + "'");
        }
    };
    add(NID_countryName, dn.country, "country");
    add(NID_organizationName, dn.organization, "organization");
    add(NID_organizationalUnitName, dn.organizational_unit, "organizational unit");
    add(NID_commonName, dn.common_name, "common name");
    return name;
}

// 16 random bytes, top bit clear (positive) and the next bit set so that the DER INTEGER is
// always exactly 16 bytes long; 126 bits of randomness.
void set_random_serial(X509& cert) {
    std::array<unsigned char, 16> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        fail_openssl("RAND_bytes for the serial number");
    }
    bytes[0] = static_cast<unsigned char>((bytes[0] & 0x7f) | 0x40);
    bignum_ptr bn{BN_bin2bn(bytes.data(), static_cast<int>(bytes.size()), nullptr)};
    if (!bn) {
        fail_openssl("BN_bin2bn");
    }
    asn1_integer_ptr serial{BN_to_ASN1_INTEGER(bn.get(), nullptr)};
    if (!serial || X509_set_serialNumber(&cert, serial.get()) != 1) {
        fail_openssl("setting the serial number");
    }
}

void add_conf_extension(X509& cert, X509V3_CTX& ctx, int nid, const std::string& value) {
    x509_extension_ptr ext{X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value.c_str())};
    if (!ext) {
        fail_openssl(std::string("extension ") + OBJ_nid2sn(nid) + " = " + value);
    }
    if (X509_add_ext(&cert, ext.get(), -1) != 1) {
        fail_openssl(std::string("adding extension ") + OBJ_nid2sn(nid));
    }
}

void add_subject_alt_names(X509& cert, const cert_request& request) {
    if (request.dns_sans.empty() && request.ip_sans.empty()) {
        return;
    }
    general_names_ptr names{GENERAL_NAMES_new()};
    if (!names) {
        fail_openssl("GENERAL_NAMES_new");
    }
    auto push = [&](general_name_ptr name) {
        if (sk_GENERAL_NAME_push(names.get(), name.get()) == 0) {
            fail_openssl("sk_GENERAL_NAME_push");
        }
        static_cast<void>(name.release());
    };
    for (const auto& dns : request.dns_sans) {
        ASN1_IA5STRING* ia5 = ASN1_IA5STRING_new();
        if (!ia5 || ASN1_STRING_set(ia5, dns.data(), static_cast<int>(dns.size())) != 1) {
            ASN1_IA5STRING_free(ia5);
            fail_openssl("DNS subjectAltName '" + dns + "'");
        }
        general_name_ptr name{GENERAL_NAME_new()};
        if (!name) {
            ASN1_IA5STRING_free(ia5);
            fail_openssl("GENERAL_NAME_new");
        }
        GENERAL_NAME_set0_value(name.get(), GEN_DNS, ia5);
        push(std::move(name));
    }
    for (const auto& ip : request.ip_sans) {
        ASN1_OCTET_STRING* octets = a2i_IPADDRESS(ip.c_str());
        if (!octets) {
            throw pki_error("invalid IP subjectAltName '" + ip + "'");
        }
        general_name_ptr name{GENERAL_NAME_new()};
        if (!name) {
            ASN1_OCTET_STRING_free(octets);
            fail_openssl("GENERAL_NAME_new");
        }
        GENERAL_NAME_set0_value(name.get(), GEN_IPADD, octets);
        push(std::move(name));
    }
    if (X509_add1_ext_i2d(&cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
        fail_openssl("adding subjectAltName");
    }
}

void add_profile_extensions(
        X509& cert,
        const cert_request& request,
        EVP_PKEY& subject_key,
        X509& issuer_cert,
        EVP_PKEY& issuer_key) {
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, &issuer_cert, &cert, nullptr, nullptr, 0);
    // Lets authorityKeyIdentifier find the issuer's key id even when the issuer is `cert` itself.
    if (X509V3_set_issuer_pkey(&ctx, &issuer_key) != 1) {
        fail_openssl("X509V3_set_issuer_pkey");
    }
    const bool rsa = EVP_PKEY_get_base_id(&subject_key) == EVP_PKEY_RSA;
    switch (request.profile) {
    case cert_profile::ca: {
        std::string bc = "critical,CA:TRUE";
        if (request.path_len >= 0) {
            bc += ",pathlen:" + std::to_string(request.path_len);
        }
        add_conf_extension(cert, ctx, NID_basic_constraints, bc);
        add_conf_extension(cert, ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
        break;
    }
    case cert_profile::server:
        add_conf_extension(cert, ctx, NID_basic_constraints, "critical,CA:FALSE");
        add_conf_extension(
                cert,
                ctx,
                NID_key_usage,
                rsa ? "critical,digitalSignature,keyEncipherment" : "critical,digitalSignature");
        add_conf_extension(cert, ctx, NID_ext_key_usage, "serverAuth");
        break;
    case cert_profile::client:
        add_conf_extension(cert, ctx, NID_basic_constraints, "critical,CA:FALSE");
        add_conf_extension(cert, ctx, NID_key_usage, "critical,digitalSignature");
        add_conf_extension(cert, ctx, NID_ext_key_usage, "clientAuth");
        break;
    case cert_profile::code_signing:
        add_conf_extension(cert, ctx, NID_basic_constraints, "critical,CA:FALSE");
        add_conf_extension(cert, ctx, NID_key_usage, "critical,digitalSignature");
        add_conf_extension(cert, ctx, NID_ext_key_usage, "codeSigning");
        break;
    }
    // The subject key id must exist before authorityKeyIdentifier of a self-signed certificate
    // is computed from it.
    add_conf_extension(cert, ctx, NID_subject_key_identifier, "hash");
    add_conf_extension(cert, ctx, NID_authority_key_identifier, "keyid:always");
    add_subject_alt_names(cert, request);
}

x509_ptr build_and_sign(
        const cert_request& request,
        EVP_PKEY& subject_key,
        X509* issuer_cert,
        EVP_PKEY& issuer_key) {
    validate(request);
    x509_ptr cert{X509_new()};
    if (!cert) {
        fail_openssl("X509_new");
    }
    if (X509_set_version(cert.get(), X509_VERSION_3) != 1) {
        fail_openssl("X509_set_version");
    }
    set_random_serial(*cert);

    const auto skew = static_cast<long>(not_before_skew.count());
    if (!X509_gmtime_adj(X509_getm_notBefore(cert.get()), -skew) ||
        !X509_time_adj_ex(X509_getm_notAfter(cert.get()), request.days, 0, nullptr)) {
        fail_openssl("setting the validity period");
    }

    auto subject = make_name(request.subject);
    if (X509_set_subject_name(cert.get(), subject.get()) != 1) {
        fail_openssl("X509_set_subject_name");
    }
    X509& issuer = issuer_cert ? *issuer_cert : *cert;
    if (X509_set_issuer_name(cert.get(), X509_get_subject_name(&issuer)) != 1) {
        fail_openssl("X509_set_issuer_name");
    }
    if (X509_set_pubkey(cert.get(), &subject_key) != 1) {
        fail_openssl("X509_set_pubkey");
    }
    add_profile_extensions(*cert, request, subject_key, issuer, issuer_key);

    if (X509_sign(cert.get(), &issuer_key, EVP_sha256()) <= 0) {
        fail_openssl("signing the certificate for '" + request.subject.common_name + "'");
    }
    return cert;
}

// --- files -----------------------------------------------------------------------------------

std::string bio_to_string(BIO& bio) {
    char* data = nullptr;
    const long size = BIO_get_mem_data(&bio, &data);
    if (size < 0 || (size > 0 && data == nullptr)) {
        fail_openssl("reading a memory BIO");
    }
    return std::string(data, static_cast<std::size_t>(size));
}

bio_ptr new_mem_bio() {
    bio_ptr bio{BIO_new(BIO_s_mem())};
    if (!bio) {
        fail_openssl("BIO_new");
    }
    return bio;
}

[[noreturn]] void fail_errno(const std::string& what, const std::filesystem::path& path, int err) {
    throw pki_error(what + " " + quoted(path) + ": " + std::generic_category().message(err));
}

void write_all(int fd, std::string_view data, const std::filesystem::path& path) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail_errno("cannot write", path, errno);
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    if (::fsync(fd) != 0) {
        fail_errno("cannot sync", path, errno);
    }
}

// Creates `path` with O_EXCL and `mode` and writes data into it. The mode is set by open() (and
// narrowed by the umask), so a private key is never readable by others, not even for a moment.
void write_new_file(const std::filesystem::path& path, std::string_view data, mode_t mode) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        const int err = errno;
        if (err == EEXIST) {
            throw pki_error("refusing to overwrite existing file " + quoted(path));
        }
        fail_errno("cannot create", path, err);
    }
    try {
        write_all(fd, data, path);
    } catch (...) {
        ::close(fd);
        ::unlink(path.c_str());
        throw;
    }
    if (::close(fd) != 0) {
        const int err = errno;
        ::unlink(path.c_str());
        fail_errno("cannot close", path, err);
    }
}

std::string random_suffix() {
    std::array<unsigned char, 8> bytes{};
    if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
        fail_openssl("RAND_bytes for a temporary file name");
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned char b : bytes) {
        out += hex[b >> 4];
        out += hex[b & 0x0f];
    }
    return out;
}

void write_file(
        const std::filesystem::path& path, std::string_view data, mode_t mode, bool overwrite) {
    if (!overwrite) {
        write_new_file(path, data, mode);
        return;
    }
    // A fresh file renamed over the old one: the old file's mode and owner never carry over, and
    // a reader sees either the old or the new content.
    auto tmp = path;
    tmp.replace_filename("." + path.filename().string() + ".tmp-" + random_suffix());
    write_new_file(tmp, data, mode);
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = errno;
        ::unlink(tmp.c_str());
        fail_errno("cannot replace", path, err);
    }
}

bio_ptr open_for_reading(const std::filesystem::path& path) {
    bio_ptr bio{BIO_new_file(path.c_str(), "r")};
    if (!bio) {
        throw pki_error("cannot open " + quoted(path) + ": " + openssl_error_text());
    }
    return bio;
}

// --- inspection helpers ----------------------------------------------------------------------

std::string name_to_string(const X509_NAME* name) {
    auto bio = new_mem_bio();
    // RFC 2253 order and escaping, but UTF-8 left as is instead of \XX escapes.
    if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
        fail_openssl("X509_NAME_print_ex");
    }
    return bio_to_string(*bio);
}

std::string time_to_string(const ASN1_TIME* time) {
    std::tm tm{};
    if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) {
        fail_openssl("ASN1_TIME_to_tm");
    }
    std::array<char, 32> buffer{};
    const std::size_t n = std::strftime(buffer.data(), buffer.size(), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(buffer.data(), n);
}

std::string general_name_to_string(const GENERAL_NAME& name) {
    int type = 0;
    const void* value = GENERAL_NAME_get0_value(&name, &type);
    const auto* str = static_cast<const ASN1_STRING*>(value);
    auto text = [](const ASN1_STRING* s) {
        return std::string(
                reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                static_cast<std::size_t>(ASN1_STRING_length(s)));
    };
    switch (type) {
    case GEN_DNS:
        return "DNS:" + text(str);
    case GEN_EMAIL:
        return "email:" + text(str);
    case GEN_URI:
        return "URI:" + text(str);
    case GEN_IPADD: {
        std::array<char, INET6_ADDRSTRLEN> buffer{};
        const int length = ASN1_STRING_length(str);
        const int family = length == 4 ? AF_INET : length == 16 ? AF_INET6 : AF_UNSPEC;
        if (family == AF_UNSPEC ||
            ::inet_ntop(family, ASN1_STRING_get0_data(str), buffer.data(), buffer.size()) ==
                    nullptr) {
            return "IP:<invalid>";
        }
        return std::string("IP:") + buffer.data();
    }
    default:
        return "other:<type " + std::to_string(type) + ">";
    }
}

std::string key_description(const EVP_PKEY* key) {
    if (key == nullptr) {
        return "unknown";
    }
    switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_EC: {
        std::array<char, 64> group{};
        std::size_t length = 0;
        if (EVP_PKEY_get_group_name(key, group.data(), group.size(), &length) != 1) {
            return "EC";
        }
        const std::string_view name(group.data(), length);
        if (name == "prime256v1" || name == "P-256") {
            return "EC P-256";
        }
        if (name == "secp384r1" || name == "P-384") {
            return "EC P-384";
        }
        return "EC " + std::string(name);
    }
    case EVP_PKEY_RSA:
        return "RSA " + std::to_string(EVP_PKEY_get_bits(key));
    case EVP_PKEY_ED25519:
        return "Ed25519";
    default:
        return OBJ_nid2sn(EVP_PKEY_get_base_id(key));
    }
}

std::string eku_name(const ASN1_OBJECT* object) {
    switch (OBJ_obj2nid(object)) {
    case NID_server_auth:
        return "serverAuth";
    case NID_client_auth:
        return "clientAuth";
    case NID_code_sign:
        return "codeSigning";
    case NID_email_protect:
        return "emailProtection";
    case NID_time_stamp:
        return "timeStamping";
    case NID_OCSP_sign:
        return "OCSPSigning";
    default: {
        std::array<char, 128> buffer{};
        OBJ_obj2txt(buffer.data(), static_cast<int>(buffer.size()), object, 1);
        return buffer.data();
    }
    }
}

} // namespace

// --- public API ------------------------------------------------------------------------------

std::string_view to_string(key_spec spec) noexcept {
    switch (spec) {
    case key_spec::ec_p256:
        return "ec-p256";
    case key_spec::ec_p384:
        return "ec-p384";
    case key_spec::rsa2048:
        return "rsa-2048";
    case key_spec::rsa3072:
        return "rsa-3072";
    }
    return "unknown";
}

std::string check_request(const cert_request& request) {
    const auto& cn = request.subject.common_name;
    if (cn.empty() || cn.size() > 64) {
        return "subject common name must be 1..64 characters, got " + std::to_string(cn.size());
    }
    const auto& country = request.subject.country;
    if (!country.empty() &&
        (country.size() != 2 || !std::all_of(country.begin(), country.end(), [](char c) {
             return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
         }))) {
        return "subject country must be two letters, got '" + country + "'";
    }
    if (request.days < 1 || request.days > 36500) {
        return "validity must be 1..36500 days, got " + std::to_string(request.days);
    }
    for (const auto& dns : request.dns_sans) {
        if (!is_valid_dns_name(dns)) {
            return "invalid DNS subjectAltName '" + dns + "'";
        }
    }
    for (const auto& ip : request.ip_sans) {
        if (!is_valid_ip_address(ip)) {
            return "invalid IP subjectAltName '" + ip + "'";
        }
    }
    if (request.profile == cert_profile::ca && request.path_len < -1) {
        return "CA path length must be >= 0 or -1 (unlimited), got " +
               std::to_string(request.path_len);
    }
    return {};
}

bool is_valid_dns_name(std::string_view name) noexcept {
    return dns_name_ok(name);
}

bool is_valid_ip_address(std::string_view address) noexcept {
    std::array<char, INET6_ADDRSTRLEN + 1> text{};
    if (address.empty() || address.size() >= text.size() ||
        address.find('\0') != std::string_view::npos) {
        return false;
    }
    std::copy(address.begin(), address.end(), text.begin());
    std::array<unsigned char, 16> binary{};
    return ::inet_pton(AF_INET, text.data(), binary.data()) == 1 ||
           ::inet_pton(AF_INET6, text.data(), binary.data()) == 1;
}

std::optional<key_spec> parse_key_spec(std::string_view text) noexcept {
    for (auto spec : {key_spec::ec_p256, key_spec::ec_p384, key_spec::rsa2048, key_spec::rsa3072}) {
        if (text == to_string(spec)) {
            return spec;
        }
    }
    return std::nullopt;
}

std::string_view to_string(cert_profile profile) noexcept {
    switch (profile) {
    case cert_profile::ca:
        return "ca";
    case cert_profile::server:
        return "server";
    case cert_profile::client:
        return "client";
    case cert_profile::code_signing:
        return "code-signing";
    }
    return "unknown";
}

evp_pkey_ptr generate_key(key_spec spec) {
    evp_pkey_ptr key;
    switch (spec) {
    case key_spec::ec_p256:
        key.reset(EVP_EC_gen("P-256"));
        break;
    case key_spec::ec_p384:
        key.reset(EVP_EC_gen("P-384"));
        break;
    case key_spec::rsa2048:
        key.reset(EVP_RSA_gen(2048));
        break;
    case key_spec::rsa3072:
        key.reset(EVP_RSA_gen(3072));
        break;
    }
    if (!key) {
        fail_openssl("generating a " + std::string(to_string(spec)) + " key");
    }
    return key;
}

x509_ptr
issue(const cert_request& request, EVP_PKEY& subject_key, X509& issuer_cert, EVP_PKEY& issuer_key) {
    if (X509_check_ca(&issuer_cert) == 0) {
        throw pki_error(
                "issuer '" + name_to_string(X509_get_subject_name(&issuer_cert)) +
                "' is not a CA certificate");
    }
    if (X509_check_private_key(&issuer_cert, &issuer_key) != 1) {
        throw pki_error(
                "issuer key does not belong to '" +
                name_to_string(X509_get_subject_name(&issuer_cert)) + "': " + openssl_error_text());
    }
    return build_and_sign(request, subject_key, &issuer_cert, issuer_key);
}

x509_ptr issue_self_signed(const cert_request& request, EVP_PKEY& key) {
    return build_and_sign(request, key, nullptr, key);
}

credential issue_credential(const cert_request& request, key_spec spec, const credential* issuer) {
    credential out;
    out.key = generate_key(spec);
    if (issuer == nullptr) {
        out.cert = issue_self_signed(request, *out.key);
    } else {
        out.cert = issue(request, *out.key, *issuer->cert, *issuer->key);
    }
    return out;
}

x509_ptr read_certificate_pem(const std::filesystem::path& path) {
    auto bio = open_for_reading(path);
    x509_ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
    if (!cert) {
        throw pki_error("no PEM certificate in " + quoted(path) + ": " + openssl_error_text());
    }
    return cert;
}

evp_pkey_ptr read_private_key_pem(const std::filesystem::path& path) {
    auto bio = open_for_reading(path);
    // An empty passphrase callback result: encrypted keys fail instead of prompting on a tty.
    auto no_passphrase = [](char*, int, int, void*) -> int {
        return 0;
    };
    evp_pkey_ptr key{PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr)};
    if (!key) {
        throw pki_error(
                "no unencrypted PEM private key in " + quoted(path) + ": " + openssl_error_text());
    }
    return key;
}

std::string certificate_to_pem(X509& cert) {
    auto bio = new_mem_bio();
    if (PEM_write_bio_X509(bio.get(), &cert) != 1) {
        fail_openssl("PEM_write_bio_X509");
    }
    return bio_to_string(*bio);
}

std::string private_key_to_pem(EVP_PKEY& key) {
    auto bio = new_mem_bio();
    if (PEM_write_bio_PrivateKey(bio.get(), &key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
        fail_openssl("PEM_write_bio_PrivateKey");
    }
    return bio_to_string(*bio);
}

void write_certificate_pem(const std::filesystem::path& path, X509& cert, bool overwrite) {
    write_file(path, certificate_to_pem(cert), 0644, overwrite);
}

void write_private_key_pem(const std::filesystem::path& path, EVP_PKEY& key, bool overwrite) {
    auto pem = private_key_to_pem(key);
    write_file(path, pem, 0600, overwrite);
    OPENSSL_cleanse(pem.data(), pem.size());
}

std::string certificate_id(const X509& cert) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (X509_digest(&cert, EVP_sha256(), digest.data(), &length) != 1 || length != 32) {
        fail_openssl("SHA-256 of the certificate");
    }
    static constexpr char hex[] = "0123456789abcdef";
    std::string id;
    id.reserve(2 * length);
    for (unsigned int i = 0; i < length; ++i) {
        id += hex[digest[i] >> 4];
        id += hex[digest[i] & 0x0f];
    }
    return id;
}

certificate_info describe(const X509& cert) {
    certificate_info info;
    info.subject = name_to_string(X509_get_subject_name(&cert));
    info.issuer = name_to_string(X509_get_issuer_name(&cert));

    bignum_ptr serial{ASN1_INTEGER_to_BN(X509_get0_serialNumber(&cert), nullptr)};
    if (!serial) {
        fail_openssl("reading the serial number");
    }
    char* serial_hex = BN_bn2hex(serial.get());
    if (serial_hex == nullptr) {
        fail_openssl("BN_bn2hex");
    }
    info.serial_hex = serial_hex;
    OPENSSL_free(serial_hex);

    info.not_before = time_to_string(X509_get0_notBefore(&cert));
    info.not_after = time_to_string(X509_get0_notAfter(&cert));
    info.key = key_description(X509_get0_pubkey(&cert));

    general_names_ptr sans{static_cast<GENERAL_NAMES*>(
            X509_get_ext_d2i(&cert, NID_subject_alt_name, nullptr, nullptr))};
    for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans.get()); ++i) {
        info.sans.push_back(general_name_to_string(*sk_GENERAL_NAME_value(sans.get(), i)));
    }

    std::unique_ptr<ASN1_BIT_STRING, openssl_deleter<ASN1_BIT_STRING_free>> usage{
            static_cast<ASN1_BIT_STRING*>(
                    X509_get_ext_d2i(&cert, NID_key_usage, nullptr, nullptr))};
    static constexpr std::array<const char*, 9> usage_names = {
            "digitalSignature",
            "nonRepudiation",
            "keyEncipherment",
            "dataEncipherment",
            "keyAgreement",
            "keyCertSign",
            "cRLSign",
            "encipherOnly",
            "decipherOnly"};
    for (std::size_t bit = 0; usage && bit < usage_names.size(); ++bit) {
        if (ASN1_BIT_STRING_get_bit(usage.get(), static_cast<int>(bit)) != 0) {
            info.key_usage.emplace_back(usage_names[bit]);
        }
    }

    eku_ptr eku{static_cast<EXTENDED_KEY_USAGE*>(
            X509_get_ext_d2i(&cert, NID_ext_key_usage, nullptr, nullptr))};
    for (int i = 0; eku && i < sk_ASN1_OBJECT_num(eku.get()); ++i) {
        info.extended_key_usage.push_back(eku_name(sk_ASN1_OBJECT_value(eku.get(), i)));
    }

    std::unique_ptr<BASIC_CONSTRAINTS, openssl_deleter<BASIC_CONSTRAINTS_free>> bc{
            static_cast<BASIC_CONSTRAINTS*>(
                    X509_get_ext_d2i(&cert, NID_basic_constraints, nullptr, nullptr))};
    if (bc && bc->ca != 0) {
        info.is_ca = true;
        if (bc->pathlen != nullptr) {
            info.path_len = ASN1_INTEGER_get(bc->pathlen);
        }
    }
    info.id = certificate_id(cert);
    return info;
}

bool key_matches_certificate(X509& cert, EVP_PKEY& key) {
    const bool match = X509_check_private_key(&cert, &key) == 1;
    if (!match) {
        static_cast<void>(openssl_error_text()); // the mismatch is the answer, not an error
    }
    return match;
}

// --- development PKI -------------------------------------------------------------------------

bool is_valid_thing_name(std::string_view name) noexcept {
    return !name.empty() && name.size() <= 128 && std::all_of(name.begin(), name.end(), [](char c) {
        return is_dns_label_char(c) || c == '_' || c == ':';
    });
}

dev_pki ensure_dev_pki(const std::filesystem::path& dir, std::string_view thing_name) {
    if (!is_valid_thing_name(thing_name)) {
        throw pki_error(
                "invalid thing name '" + std::string(thing_name) +
                "' (1..128 of A-Z a-z 0-9 _ : -)");
    }
    if (thing_name == "ca" || thing_name == "server") {
        throw pki_error(
                "thing name '" + std::string(thing_name) +
                "' collides with the development CA or server files");
    }

    const auto pki_dir = dir / "pki";
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        throw pki_error("cannot create " + quoted(dir) + ": " + ec.message());
    }
    // The directory that holds private keys is created owner-only from the start.
    if (::mkdir(pki_dir.c_str(), 0700) != 0 && errno != EEXIST) {
        fail_errno("cannot create", pki_dir, errno);
    }
    if (!std::filesystem::is_directory(pki_dir, ec)) {
        throw pki_error(quoted(pki_dir) + " exists and is not a directory");
    }

    const std::string thing(thing_name);
    dev_pki out;
    out.ca_cert = pki_dir / "ca.pem";
    out.ca_key = pki_dir / "ca.key";
    out.server_cert = pki_dir / "server.pem";
    out.server_key = pki_dir / "server.key";
    out.device_cert = pki_dir / (thing + ".pem");
    out.device_key = pki_dir / (thing + ".key");
    const std::array<const std::filesystem::path*, 6> files = {
            &out.ca_cert,
            &out.ca_key,
            &out.server_cert,
            &out.server_key,
            &out.device_cert,
            &out.device_key};

    std::vector<std::string> missing;
    for (const auto* file : files) {
        if (!std::filesystem::exists(*file, ec)) {
            missing.push_back(file->string());
        }
    }

    if (missing.empty()) {
        // Reuse: every file must load and every key must belong to its certificate.
        auto check_pair = [](const std::filesystem::path& cert_path,
                             const std::filesystem::path& key_path) {
            auto cert = read_certificate_pem(cert_path);
            auto key = read_private_key_pem(key_path);
            if (!key_matches_certificate(*cert, *key)) {
                throw pki_error(
                        "development PKI: key " + quoted(key_path) + " does not belong to " +
                        quoted(cert_path));
            }
            return cert;
        };
        auto ca = check_pair(out.ca_cert, out.ca_key);
        for (auto [cert_path, key_path] :
             {std::pair{&out.server_cert, &out.server_key},
              std::pair{&out.device_cert, &out.device_key}}) {
            auto cert = check_pair(*cert_path, *key_path);
            if (X509_check_issued(ca.get(), cert.get()) != X509_V_OK ||
                X509_verify(cert.get(), X509_get0_pubkey(ca.get())) != 1) {
                static_cast<void>(openssl_error_text()); // drop the queue; the message says it
                throw pki_error(
                        "development PKI: " + quoted(*cert_path) + " was not issued by " +
                        quoted(out.ca_cert));
            }
        }
        return out;
    }
    if (missing.size() != files.size()) {
        std::string list;
        for (const auto& m : missing) {
            list += (list.empty() ? "'" : ", '") + m + "'";
        }
        throw pki_error(
                "development PKI in " + quoted(pki_dir) + " is incomplete, missing " + list +
                "; remove the directory to generate a new one");
    }

    cert_request ca_request;
    ca_request.subject = {"thinggate development CA", "thinggate", "development", ""};
    ca_request.profile = cert_profile::ca;
    ca_request.days = 3650;
    ca_request.path_len = 0;
    const auto ca = issue_credential(ca_request, key_spec::ec_p256, nullptr);

    cert_request server_request;
    server_request.subject = {"localhost", "thinggate", "development", ""};
    server_request.profile = cert_profile::server;
    server_request.days = 825;
    server_request.dns_sans = {"localhost"};
    server_request.ip_sans = {"127.0.0.1", "::1"};
    const auto server = issue_credential(server_request, key_spec::ec_p256, &ca);

    cert_request device_request;
    device_request.subject = {thing, "thinggate", "development", ""};
    device_request.profile = cert_profile::client;
    device_request.days = 825;
    const auto device = issue_credential(device_request, key_spec::ec_p256, &ca);

    // All or nothing: a failure half way removes what this call wrote, so the next start does
    // not find a partial set.
    std::vector<std::filesystem::path> written;
    try {
        auto key = [&](const std::filesystem::path& path, EVP_PKEY& k) {
            write_private_key_pem(path, k, false);
            written.push_back(path);
        };
        auto cert = [&](const std::filesystem::path& path, X509& c) {
            write_certificate_pem(path, c, false);
            written.push_back(path);
        };
        key(out.ca_key, *ca.key);
        cert(out.ca_cert, *ca.cert);
        key(out.server_key, *server.key);
        cert(out.server_cert, *server.cert);
        key(out.device_key, *device.key);
        cert(out.device_cert, *device.cert);
    } catch (...) {
        for (const auto& path : written) {
            std::filesystem::remove(path, ec);
        }
        throw;
    }
    out.created = true;
    return out;
}

} // namespace thinggate::auth
