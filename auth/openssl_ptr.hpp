#pragma once
// auth/openssl_ptr: unique_ptr owners for the OpenSSL objects auth/ hands out, and the one
// function that turns the OpenSSL error queue into text.
// Thread safety: the aliases are plain unique_ptrs; openssl_error_text() reads this thread's
// OpenSSL error queue (OpenSSL keeps it per thread).

#include <memory>
#include <string>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace thinggate::auth {

/// A deleter that calls the OpenSSL free function F.
template <auto F>
struct openssl_deleter {
    template <typename T>
    void operator()(T* p) const noexcept {
        F(p);
    }
};

using evp_pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509_free>>;
using x509_name_ptr = std::unique_ptr<X509_NAME, openssl_deleter<X509_NAME_free>>;
using x509_extension_ptr = std::unique_ptr<X509_EXTENSION, openssl_deleter<X509_EXTENSION_free>>;
using x509_store_ptr = std::unique_ptr<X509_STORE, openssl_deleter<X509_STORE_free>>;
using x509_store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, openssl_deleter<X509_STORE_CTX_free>>;
using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO_free_all>>;
using bignum_ptr = std::unique_ptr<BIGNUM, openssl_deleter<BN_free>>;
using asn1_integer_ptr = std::unique_ptr<ASN1_INTEGER, openssl_deleter<ASN1_INTEGER_free>>;
using general_names_ptr = std::unique_ptr<GENERAL_NAMES, openssl_deleter<GENERAL_NAMES_free>>;
using general_name_ptr = std::unique_ptr<GENERAL_NAME, openssl_deleter<GENERAL_NAME_free>>;
using eku_ptr = std::unique_ptr<EXTENDED_KEY_USAGE, openssl_deleter<EXTENDED_KEY_USAGE_free>>;

/// Drains this thread's OpenSSL error queue into one line ("error:...; error:..."), or
/// "no OpenSSL error reported" when it is empty. Uses ERR_error_string_n.
std::string openssl_error_text();

} // namespace thinggate::auth
