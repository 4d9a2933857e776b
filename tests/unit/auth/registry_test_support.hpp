#pragma once
// Helpers of the registry tests: temp dirs, a small PKI minted with auth/pki (CAs, device
// certificates, CRLs), and the two stores every registry test runs against (memory and RocksDB).

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <doctest/doctest.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "auth/pki.hpp"
#include "auth/registry.hpp"
#include "persist/memory_store.hpp"
#include "persist/rocksdb/rocksdb_store.hpp"
#include "unit/persist/persist_test_util.hpp"

namespace thinggate::auth::test {

using persist::test::temp_dir;

inline void write_file(const std::filesystem::path& path, std::string_view text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    REQUIRE(out.good());
}

inline credential
make_ca(const std::string& cn, const credential* issuer = nullptr, int days = 3650) {
    cert_request r;
    r.subject.common_name = cn;
    r.subject.organization = "thinggate tests";
    r.profile = cert_profile::ca;
    r.path_len = issuer == nullptr ? 1 : 0;
    r.days = days;
    return issue_credential(r, key_spec::ec_p256, issuer);
}

inline credential make_device(const std::string& cn, const credential& ca, int days = 365) {
    cert_request r;
    r.subject.common_name = cn;
    r.subject.organization = "Acme";
    r.subject.organizational_unit = "Sensors";
    r.subject.country = "DE";
    r.dns_sans = {cn + ".devices.example"};
    r.ip_sans = {"10.1.2.3"};
    r.profile = cert_profile::client;
    r.days = days;
    return issue_credential(r, key_spec::ec_p256, &ca);
}

inline std::string pem(const credential& c) {
    return certificate_to_pem(*c.cert);
}

/// A CRL signed by `ca` listing `revoked` (PEM text).
inline std::string make_crl(const credential& ca, const std::vector<const credential*>& revoked) {
    X509_CRL* crl = X509_CRL_new();
    REQUIRE(crl != nullptr);
    REQUIRE(X509_CRL_set_version(crl, 1) == 1);
    REQUIRE(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca.cert.get())) == 1);
    ASN1_TIME* now = ASN1_TIME_set(nullptr, std::time(nullptr) - 60);
    ASN1_TIME* next = ASN1_TIME_set(nullptr, std::time(nullptr) + 30 * 86400);
    X509_CRL_set1_lastUpdate(crl, now);
    X509_CRL_set1_nextUpdate(crl, next);
    for (const auto* c : revoked) {
        X509_REVOKED* r = X509_REVOKED_new();
        X509_REVOKED_set_serialNumber(
                r, const_cast<ASN1_INTEGER*>(X509_get0_serialNumber(c->cert.get())));
        X509_REVOKED_set_revocationDate(r, now);
        X509_CRL_add0_revoked(crl, r);
    }
    X509_CRL_sort(crl);
    REQUIRE(X509_CRL_sign(crl, ca.key.get(), EVP_sha256()) > 0);
    BIO* bio = BIO_new(BIO_s_mem());
    REQUIRE(PEM_write_bio_X509_CRL(bio, crl) == 1);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    ASN1_TIME_free(now);
    ASN1_TIME_free(next);
    X509_CRL_free(crl);
    return out;
}

/// A store of one kind that can be closed and opened again over the same data.
class store_holder {
public:
    enum class kind {
        memory,
        rocksdb,
    };

    explicit store_holder(kind k)
        : kind_(k) {
        reopen();
    }

    const char* name() const { return kind_ == kind::memory ? "memory" : "rocksdb"; }

    persist::store& store() { return *store_; }

    /// Closes and opens the store again (the same data).
    void reopen() {
        store_.reset();
        if (kind_ == kind::memory) {
            if (!shared_) {
                shared_ = std::make_shared<persist::memory_store::data>();
            }
            store_ = std::make_unique<persist::memory_store>(shared_);
            return;
        }
        persist::rocksdb_options o;
        o.dir = dir_.path() / "data";
        o.verify_checksums_on_open = false;
        auto opened = persist::rocksdb_store::open(o);
        REQUIRE_MESSAGE(opened.has_value(), (opened ? "" : opened.error().message));
        store_ = std::move(*opened);
    }

    persist::memory_store* memory() { return dynamic_cast<persist::memory_store*>(store_.get()); }

private:
    kind kind_;
    temp_dir dir_;
    std::shared_ptr<persist::memory_store::data> shared_;
    std::unique_ptr<persist::store> store_;
};

/// Runs `fn` once against a memory store and once against RocksDB in a temp dir.
inline void for_each_store(const std::function<void(store_holder&)>& fn) {
    for (auto k : {store_holder::kind::memory, store_holder::kind::rocksdb}) {
        store_holder holder(k);
        CAPTURE(holder.name());
        fn(holder);
    }
}

/// Fixed clock for deterministic created_at values.
inline registry_options test_options() {
    registry_options o;
    o.durability = persist::durability::wal;
    o.clock = [] {
        return registry_time{std::chrono::milliseconds{1700000000000}};
    };
    return o;
}

inline std::unique_ptr<registry> open_registry(persist::store& store) {
    auto reg = registry::open(store, test_options());
    REQUIRE_MESSAGE(reg.has_value(), (reg ? "" : reg.error().message));
    return std::move(*reg);
}

/// Runs one mutation and requires it to succeed; returns its value.
template <typename F>
auto must(registry& reg, F&& fn) {
    auto r = reg.update(std::forward<F>(fn));
    REQUIRE_MESSAGE(r.has_value(), (r ? "" : r.error().message));
    if constexpr (!std::is_void_v<typename decltype(r)::value_type>) {
        return *r;
    }
}

inline constexpr std::string_view allow_all_policy =
        R"({"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iot:*","Resource":"*"}})";

} // namespace thinggate::auth::test
