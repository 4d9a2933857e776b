#pragma once
// auth/certificate_fields: reading X.509 certificates and CRLs for the registry: PEM text to
// X509, validity times, and the fields the policy variables iot:Certificate.* resolve against
// (subject, issuer, alternative names, serial number) with AWS's attribute names.
// Owns: X.509 field extraction. Must not use: the store, Asio.
// Thread safety: pure functions; the X509 passed in is only read.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <openssl/x509.h>

#include "auth/openssl_ptr.hpp"
#include "auth/registry_error.hpp"
#include "auth/registry_model.hpp"
#include "policy/context.hpp"

namespace thinggate::auth {

using x509_crl_ptr = std::unique_ptr<X509_CRL, openssl_deleter<X509_CRL_free>>;

/// Exactly one PEM certificate (surrounding whitespace allowed); certificate_invalid otherwise.
registry_result<x509_ptr> parse_certificate_pem(std::string_view pem);

/// A CRL file, PEM or DER; the error sentence names the file.
registry_result<x509_crl_ptr> read_crl_file(const std::filesystem::path& path);

/// notBefore / notAfter of a certificate as wall-clock milliseconds.
registry_time not_before(const X509& cert);
registry_time not_after(const X509& cert);

/// True when `issuer` issued `cert`: names match (X509_check_issued) and issuer's key verifies
/// cert's signature.
bool issued_by(X509& cert, X509& issuer);

/// The iot:Certificate.* variable inputs of a certificate: id, serial number (decimal, as AWS
/// substitutes it), subject and issuer attributes in certificate order with AWS's names
/// (CommonName, Organization, OrganizationalUnit, Country, State, Locality, SerialNumber, Title,
/// Surname, GivenName, Initials, Pseudonym, GenerationQualifier, DistinguishedNameQualifier;
/// other attributes are left out), and the subject / issuer alternative names (DNS, IP, email,
/// URI).
policy::certificate_info certificate_fields(const X509& cert);

} // namespace thinggate::auth
