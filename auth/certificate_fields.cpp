#include "auth/certificate_fields.hpp"

#include <array>
#include <chrono>
#include <ctime>
#include <fstream>
#include <iterator>
#include <utility>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include "auth/pki.hpp"

namespace thinggate::auth {

namespace {

registry_time asn1_to_time(const ASN1_TIME* t) {
    std::tm tm{};
    if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
        return registry_time{};
    }
    auto seconds = timegm(&tm);
    return registry_time{std::chrono::milliseconds{static_cast<std::int64_t>(seconds) * 1000}};
}

std::string_view aws_attribute_name(int nid) noexcept {
    switch (nid) {
    case NID_commonName:
        return "CommonName";
    case NID_organizationName:
        return "Organization";
    case NID_organizationalUnitName:
        return "OrganizationalUnit";
    case NID_countryName:
        return "Country";
    case NID_stateOrProvinceName:
        return "State";
    case NID_localityName:
        return "Locality";
    case NID_serialNumber:
        return "SerialNumber";
    case NID_title:
        return "Title";
    case NID_surname:
        return "Surname";
    case NID_givenName:
        return "GivenName";
    case NID_initials:
        return "Initials";
    case NID_pseudonym:
        return "Pseudonym";
    case NID_generationQualifier:
        return "GenerationQualifier";
    case NID_dnQualifier:
        return "DistinguishedNameQualifier";
    default:
        return {};
    }
}

policy::attribute_list name_attributes(const X509_NAME* name) {
    policy::attribute_list out;
    if (name == nullptr) {
        return out;
    }
    for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
        const X509_NAME_ENTRY* entry = X509_NAME_get_entry(name, i);
        auto aws = aws_attribute_name(OBJ_obj2nid(X509_NAME_ENTRY_get_object(entry)));
        if (aws.empty()) {
            continue;
        }
        unsigned char* utf8 = nullptr;
        int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
        if (n < 0) {
            continue;
        }
        out.emplace_back(std::string(aws), std::string(reinterpret_cast<char*>(utf8), n));
        OPENSSL_free(utf8);
    }
    return out;
}

std::string ia5(const ASN1_IA5STRING* s) {
    return std::string(
            reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
}

std::string ip_text(const ASN1_OCTET_STRING* s) {
    std::array<char, INET6_ADDRSTRLEN> buf{};
    const unsigned char* data = ASN1_STRING_get0_data(s);
    int len = ASN1_STRING_length(s);
    if (len == 4 && inet_ntop(AF_INET, data, buf.data(), buf.size()) != nullptr) {
        return buf.data();
    }
    if (len == 16 && inet_ntop(AF_INET6, data, buf.data(), buf.size()) != nullptr) {
        return buf.data();
    }
    return {};
}

policy::alternative_names alternative_names(const X509& cert, int nid) {
    policy::alternative_names out;
    general_names_ptr names(
            static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(&cert, nid, nullptr, nullptr)));
    if (!names) {
        return out;
    }
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
        const GENERAL_NAME* g = sk_GENERAL_NAME_value(names.get(), i);
        switch (g->type) {
        case GEN_DNS:
            out.dns_name.push_back(ia5(g->d.dNSName));
            break;
        case GEN_EMAIL:
            out.rfc822_name.push_back(ia5(g->d.rfc822Name));
            break;
        case GEN_URI:
            out.uniform_resource_identifier.push_back(ia5(g->d.uniformResourceIdentifier));
            break;
        case GEN_IPADD:
            if (auto text = ip_text(g->d.iPAddress); !text.empty()) {
                out.ip_address.push_back(std::move(text));
            }
            break;
        default:
            break;
        }
    }
    return out;
}

std::string serial_decimal(const X509& cert) {
    bignum_ptr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(&cert), nullptr));
    if (!bn) {
        return {};
    }
    char* text = BN_bn2dec(bn.get());
    if (text == nullptr) {
        return {};
    }
    std::string out(text);
    OPENSSL_free(text);
    return out;
}

} // namespace

registry_result<x509_ptr> parse_certificate_pem(std::string_view pem) {
    auto invalid = [](std::string what) {
        return make_registry_error(registry_errc::certificate_invalid, std::move(what));
    };
    if (pem.find("-----BEGIN CERTIFICATE-----") == std::string_view::npos) {
        return invalid("not a PEM certificate (no \"-----BEGIN CERTIFICATE-----\" line)");
    }
    bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) {
        return invalid("cannot read the PEM text: " + openssl_error_text());
    }
    x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
        return invalid("the PEM certificate does not parse: " + openssl_error_text());
    }
    // A second certificate (a chain pasted by mistake) would be silently ignored: refuse it.
    x509_ptr second(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
    if (second) {
        return invalid("the PEM text holds more than one certificate; give one");
    }
    return cert;
}

registry_result<x509_crl_ptr> read_crl_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return make_registry_error(
                registry_errc::invalid_request, "CRL file " + path.string() + ": cannot open it");
    }
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    bio_ptr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
    x509_crl_ptr crl;
    if (bytes.find("-----BEGIN X509 CRL-----") != std::string::npos) {
        crl.reset(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
    } else {
        crl.reset(d2i_X509_CRL_bio(bio.get(), nullptr));
    }
    if (!crl) {
        return make_registry_error(
                registry_errc::invalid_request,
                "CRL file " + path.string() + ": not a PEM or DER CRL (" + openssl_error_text() +
                        ")");
    }
    return crl;
}

registry_time not_before(const X509& cert) {
    return asn1_to_time(X509_get0_notBefore(&cert));
}

registry_time not_after(const X509& cert) {
    return asn1_to_time(X509_get0_notAfter(&cert));
}

bool issued_by(X509& cert, X509& issuer) {
    if (X509_check_issued(&issuer, &cert) != X509_V_OK) {
        return false;
    }
    EVP_PKEY* key = X509_get0_pubkey(&issuer);
    bool ok = key != nullptr && X509_verify(&cert, key) == 1;
    ERR_clear_error();
    return ok;
}

policy::certificate_info certificate_fields(const X509& cert) {
    policy::certificate_info info;
    info.id = certificate_id(cert);
    info.serial_number = serial_decimal(cert);
    info.subject = name_attributes(X509_get_subject_name(&cert));
    info.issuer = name_attributes(X509_get_issuer_name(&cert));
    info.subject_alternative_name = alternative_names(cert, NID_subject_alt_name);
    info.issuer_alternative_name = alternative_names(cert, NID_issuer_alt_name);
    return info;
}

} // namespace thinggate::auth
