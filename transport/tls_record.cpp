#include "transport/tls_record.hpp"

#include <cstring>
#include <limits>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/ssl.h>

namespace thinggate::transport::detail {

namespace {

constexpr std::uint8_t ct_change_cipher_spec = 20;
constexpr std::uint8_t ct_alert = 21;
constexpr std::uint8_t ct_handshake = 22;
constexpr std::uint8_t ct_application_data = 23;
constexpr std::uint8_t hs_key_update = 24;
constexpr std::uint8_t alert_level_warning = 1;
constexpr std::uint8_t alert_level_fatal = 2;
constexpr std::uint8_t alert_user_canceled = 90;

constexpr std::size_t tag_len = 16;
constexpr std::size_t nonce_len = 12;
constexpr std::size_t explicit_nonce_len = 8; // TLS 1.2 AES-GCM (RFC 5288 §3)
constexpr std::size_t max_plaintext = 16384;
constexpr std::size_t max_ciphertext13 = max_plaintext + 256;    // RFC 8446 §5.2
constexpr std::size_t max_inner_plaintext13 = max_plaintext + 1; // RFC 8446 §5.4
constexpr std::size_t max_ciphertext12 = max_plaintext + 2048;   // RFC 5246 §6.2.3
constexpr std::uint8_t max_records_without_data = 32;
constexpr std::uint32_t max_key_update_after = 1u << 23;
constexpr std::uint64_t last_seq = std::numeric_limits<std::uint64_t>::max();

static_assert(tls_record::max_wire_record >= tls_record::header_len + max_ciphertext12);

bool is_gcm(record_aead a) noexcept {
    return a != record_aead::chacha20_poly1305;
}

std::size_t key_len_of(record_aead a) noexcept {
    return a == record_aead::aes_128_gcm ? 16 : 32;
}

/// The suite's hash: SHA-384 for AES-256-GCM, SHA-256 for the others (TLS 1.3 suites and the
/// TLS 1.2 ECDHE AEAD suites tls_context allows alike).
std::size_t hash_len_of(record_aead a) noexcept {
    return a == record_aead::aes_256_gcm ? 48 : 32;
}

const char* digest_name_of(record_aead a) noexcept {
    return a == record_aead::aes_256_gcm ? "SHA2-384" : "SHA2-256";
}

/// Fetched once per process and kept: a fetch per connection (or per record) costs a lock and
/// a lookup in the provider store.
const EVP_CIPHER* cipher_of(record_aead a) {
    static EVP_CIPHER* const aes128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
    static EVP_CIPHER* const aes256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    static EVP_CIPHER* const chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
    switch (a) {
    case record_aead::aes_128_gcm:
        return aes128;
    case record_aead::aes_256_gcm:
        return aes256;
    case record_aead::chacha20_poly1305:
        return chacha;
    }
    return nullptr;
}

/// RFC 8446 §7.1: HKDF-Expand-Label(secret, label, "", out_len) with the suite's hash.
bool hkdf_expand_label(
        record_aead a,
        const std::uint8_t* secret,
        std::size_t secret_len,
        const char* label,
        std::uint8_t* out,
        std::size_t out_len) {
    static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    if (kdf == nullptr) {
        return false;
    }
    // struct { uint16 length; opaque label<7..255> = "tls13 " + Label; opaque context<0..255>; }
    static constexpr char prefix[] = "tls13 ";
    const std::size_t label_len = std::strlen(label);
    std::uint8_t info[2 + 1 + 6 + 32 + 1];
    if (label_len > 32 || out_len > 0xffff) {
        return false;
    }
    info[0] = static_cast<std::uint8_t>(out_len >> 8);
    info[1] = static_cast<std::uint8_t>(out_len);
    info[2] = static_cast<std::uint8_t>(6 + label_len);
    std::memcpy(info + 3, prefix, 6);
    std::memcpy(info + 9, label, label_len);
    info[9 + label_len] = 0; // empty context
    const std::size_t info_len = 10 + label_len;

    EVP_KDF_CTX* kctx = EVP_KDF_CTX_new(kdf);
    if (kctx == nullptr) {
        return false;
    }
    int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
    OSSL_PARAM params[] = {
            OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode),
            OSSL_PARAM_construct_utf8_string(
                    OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest_name_of(a)), 0),
            OSSL_PARAM_construct_octet_string(
                    OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(secret), secret_len),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_len),
            OSSL_PARAM_construct_end()};
    const bool ok = EVP_KDF_derive(kctx, out, out_len, params) == 1;
    EVP_KDF_CTX_free(kctx);
    return ok;
}

/// RFC 5246 §5 PRF(master_secret, "key expansion", server_random + client_random).
bool tls12_key_block(
        record_aead a,
        const std::uint8_t* master,
        std::size_t master_len,
        const std::uint8_t* client_random,
        const std::uint8_t* server_random,
        std::uint8_t* out,
        std::size_t out_len) {
    static EVP_KDF* const kdf = EVP_KDF_fetch(nullptr, "TLS1-PRF", nullptr);
    if (kdf == nullptr) {
        return false;
    }
    static constexpr char label[] = "key expansion";
    std::uint8_t seed[sizeof label - 1 + 64];
    std::memcpy(seed, label, sizeof label - 1);
    std::memcpy(seed + sizeof label - 1, server_random, 32);
    std::memcpy(seed + sizeof label - 1 + 32, client_random, 32);
    EVP_KDF_CTX* kctx = EVP_KDF_CTX_new(kdf);
    if (kctx == nullptr) {
        return false;
    }
    OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(
                    OSSL_KDF_PARAM_DIGEST, const_cast<char*>(digest_name_of(a)), 0),
            OSSL_PARAM_construct_octet_string(
                    OSSL_KDF_PARAM_SECRET, const_cast<std::uint8_t*>(master), master_len),
            OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof seed),
            OSSL_PARAM_construct_end()};
    const bool ok = EVP_KDF_derive(kctx, out, out_len, params) == 1;
    EVP_KDF_CTX_free(kctx);
    return ok;
}

/// Keys the context once; per record only the nonce is set.
bool set_key(EVP_CIPHER_CTX* ctx, const EVP_CIPHER* cipher, const std::uint8_t* key, bool enc) {
    return EVP_CipherInit_ex(ctx, cipher, nullptr, key, nullptr, enc ? 1 : 0) == 1;
}

/// nonce = iv XOR the 64-bit sequence number, left-padded (RFC 8446 §5.3, RFC 7905 §2).
void xor_nonce(const std::uint8_t* iv, std::uint64_t seq, std::uint8_t* nonce) noexcept {
    std::memcpy(nonce, iv, nonce_len);
    for (int i = 0; i < 8; ++i) {
        nonce[nonce_len - 1 - i] ^= static_cast<std::uint8_t>(seq >> (8 * i));
    }
}

void put_u64(std::uint8_t* p, std::uint64_t v) noexcept {
    for (int i = 0; i < 8; ++i) {
        p[i] = static_cast<std::uint8_t>(v >> (56 - 8 * i));
    }
}

void put_header(std::uint8_t* p, std::uint8_t type, std::size_t len) noexcept {
    p[0] = type;
    p[1] = 3;
    p[2] = 3;
    p[3] = static_cast<std::uint8_t>(len >> 8);
    p[4] = static_cast<std::uint8_t>(len);
}

} // namespace

record_secrets::~record_secrets() {
    OPENSSL_cleanse(client, sizeof client);
    OPENSSL_cleanse(server, sizeof server);
}

std::unique_ptr<tls_record> tls_record::make(const record_secrets& s) {
    const bool tls13 = s.version == TLS1_3_VERSION;
    if (!tls13 && s.version != TLS1_2_VERSION) {
        return nullptr;
    }
    if (s.aead != record_aead::aes_128_gcm && s.aead != record_aead::aes_256_gcm &&
        s.aead != record_aead::chacha20_poly1305) {
        return nullptr;
    }
    const std::size_t hash_len = hash_len_of(s.aead);
    if (s.hash != nullptr && static_cast<std::size_t>(EVP_MD_get_size(s.hash)) != hash_len) {
        return nullptr;
    }
    if (s.secret_len != (tls13 ? hash_len : SSL3_MASTER_SECRET_SIZE)) {
        return nullptr;
    }
    // RFC 6066 §4 lengths go down to 512; below 64 our own records would make no sense.
    if (s.max_plain < 64 || s.max_plain > max_plaintext) {
        return nullptr;
    }
    if (s.key_update_after == 0 || s.key_update_after > max_key_update_after) {
        return nullptr;
    }
    const EVP_CIPHER* cipher = cipher_of(s.aead);
    if (cipher == nullptr) {
        return nullptr;
    }

    std::unique_ptr<tls_record> r(new tls_record());
    r->tls13_ = tls13;
    r->aead_ = s.aead;
    r->max_plain_ = static_cast<std::uint16_t>(s.max_plain);
    r->key_update_after_ = s.key_update_after;
    r->read_seq_ = s.read_seq;
    r->write_seq_ = s.write_seq;
    r->read_ctx_ = EVP_CIPHER_CTX_new();
    r->write_ctx_ = EVP_CIPHER_CTX_new();
    if (r->read_ctx_ == nullptr || r->write_ctx_ == nullptr) {
        return nullptr;
    }
    // The server reads what the client writes.
    const std::uint8_t* read_secret = s.client_side ? s.server : s.client;
    const std::uint8_t* write_secret = s.client_side ? s.client : s.server;
    const std::size_t key_len = key_len_of(s.aead);

    if (tls13) {
        std::memcpy(r->read_secret_, read_secret, hash_len);
        std::memcpy(r->write_secret_, write_secret, hash_len);
        std::uint8_t key[32];
        const bool ok =
                hkdf_expand_label(s.aead, read_secret, hash_len, "key", key, key_len) &&
                hkdf_expand_label(s.aead, read_secret, hash_len, "iv", r->read_iv_, nonce_len) &&
                set_key(r->read_ctx_, cipher, key, false) &&
                hkdf_expand_label(s.aead, write_secret, hash_len, "key", key, key_len) &&
                hkdf_expand_label(s.aead, write_secret, hash_len, "iv", r->write_iv_, nonce_len) &&
                set_key(r->write_ctx_, cipher, key, true);
        OPENSSL_cleanse(key, sizeof key);
        return ok ? std::move(r) : nullptr;
    }

    // TLS 1.2 key block (RFC 5246 §6.3): client_write_MAC_key and server_write_MAC_key are
    // empty for AEAD suites, then client_write_key, server_write_key, client_write_IV,
    // server_write_IV; the IV is the 4-byte salt for AES-GCM (RFC 5288 §3) and 12 bytes for
    // ChaCha20-Poly1305 (RFC 7905 §2).
    const std::size_t iv_len = is_gcm(s.aead) ? 4 : nonce_len;
    std::uint8_t block[2 * 32 + 2 * nonce_len];
    const std::size_t block_len = 2 * key_len + 2 * iv_len;
    bool ok = tls12_key_block(
            s.aead, s.client, s.secret_len, s.client_random, s.server_random, block, block_len);
    if (ok) {
        const std::uint8_t* client_key = block;
        const std::uint8_t* server_key = block + key_len;
        const std::uint8_t* client_iv = block + 2 * key_len;
        const std::uint8_t* server_iv = client_iv + iv_len;
        std::memcpy(r->read_iv_, s.client_side ? server_iv : client_iv, iv_len);
        std::memcpy(r->write_iv_, s.client_side ? client_iv : server_iv, iv_len);
        ok = set_key(r->read_ctx_, cipher, s.client_side ? server_key : client_key, false) &&
             set_key(r->write_ctx_, cipher, s.client_side ? client_key : server_key, true);
    }
    OPENSSL_cleanse(block, sizeof block);
    return ok ? std::move(r) : nullptr;
}

tls_record::~tls_record() {
    // EVP_CIPHER_CTX_free cleanses the key schedule in the provider's context.
    EVP_CIPHER_CTX_free(read_ctx_);
    EVP_CIPHER_CTX_free(write_ctx_);
    OPENSSL_cleanse(read_secret_, sizeof read_secret_);
    OPENSSL_cleanse(write_secret_, sizeof write_secret_);
    OPENSSL_cleanse(read_iv_, sizeof read_iv_);
    OPENSSL_cleanse(write_iv_, sizeof write_iv_);
}

std::size_t tls_record::max_plain() const noexcept {
    return max_plain_;
}

std::span<const std::uint8_t> tls_record::pending_control() const noexcept {
    return {pending_, pending_len_};
}

void tls_record::clear_pending_control() noexcept {
    pending_len_ = 0;
}

record_alert tls_record::alert() const noexcept {
    return alert_;
}

const char* tls_record::reason() const noexcept {
    return reason_;
}

int tls_record::received_alert() const noexcept {
    return received_alert_;
}

int tls_record::version() const noexcept {
    return tls13_ ? TLS1_3_VERSION : TLS1_2_VERSION;
}

open_status tls_record::fail(record_alert a, const char* why) noexcept {
    alert_ = a;
    reason_ = why;
    broken_ = true;
    return open_status::fatal;
}

std::size_t tls_record::record_size(std::span<const std::uint8_t> in, bool& bad) {
    bad = false;
    if (in.size() < header_len) {
        return 0;
    }
    const std::uint8_t type = in[0];
    const std::size_t len = (std::size_t{in[3]} << 8) | in[4];
    if (tls13_) {
        // RFC 8446 §5: after the handshake every record is protected, outer type
        // application_data; a change_cipher_spec now is an unexpected record type.
        if (type != ct_application_data) {
            bad = true;
            fail(record_alert::unexpected_message,
                 type == ct_change_cipher_spec ? "change_cipher_spec after the handshake"
                                               : "TLS 1.3 record type other than application_data");
            return 0;
        }
        if (len > max_ciphertext13) {
            bad = true;
            fail(record_alert::record_overflow, "TLS 1.3 record longer than 2^14+256");
            return 0;
        }
    } else {
        if (type == ct_change_cipher_spec) {
            bad = true;
            fail(record_alert::unexpected_message, "change_cipher_spec after the handshake");
            return 0;
        }
        if (type != ct_alert && type != ct_handshake && type != ct_application_data) {
            bad = true;
            fail(record_alert::unexpected_message, "unknown TLS 1.2 record type");
            return 0;
        }
        if (len > max_ciphertext12) {
            bad = true;
            fail(record_alert::record_overflow, "TLS 1.2 record longer than 2^14+2048");
            return 0;
        }
    }
    return header_len + len;
}

bool tls_record::decrypt(
        const std::uint8_t* nonce,
        const std::uint8_t* aad,
        std::size_t aad_len,
        const std::uint8_t* in,
        std::size_t len,
        const std::uint8_t* tag,
        std::uint8_t* out) {
    int outl = 0;
    int finl = 0;
    // The tag is set before the ciphertext is decrypted: in place, `out` may overwrite
    // nothing but the ciphertext itself.
    return EVP_DecryptInit_ex(read_ctx_, nullptr, nullptr, nullptr, nonce) == 1 &&
           EVP_CIPHER_CTX_ctrl(
                   read_ctx_,
                   EVP_CTRL_AEAD_SET_TAG,
                   static_cast<int>(tag_len),
                   const_cast<std::uint8_t*>(tag)) == 1 &&
           EVP_DecryptUpdate(read_ctx_, nullptr, &outl, aad, static_cast<int>(aad_len)) == 1 &&
           EVP_DecryptUpdate(read_ctx_, out, &outl, in, static_cast<int>(len)) == 1 &&
           static_cast<std::size_t>(outl) == len &&
           EVP_DecryptFinal_ex(read_ctx_, out + outl, &finl) == 1 && finl == 0;
}

open_status tls_record::open(std::span<std::uint8_t> rec, std::uint8_t* out, std::size_t& n) {
    n = 0;
    if (broken_) {
        return open_status::fatal;
    }
    bool bad = false;
    const std::size_t size = record_size(rec, bad);
    if (bad) {
        return open_status::fatal;
    }
    if (size == 0 || size != rec.size() || out == nullptr) {
        return fail(record_alert::internal_error, "open() given other than one whole record");
    }
    if (read_seq_ == last_seq) {
        return fail(record_alert::internal_error, "read sequence number exhausted");
    }
    received_alert_ = -1;
    return tls13_ ? open13(rec, out, n) : open12(rec, out, n);
}

open_status tls_record::open13(std::span<std::uint8_t> rec, std::uint8_t* out, std::size_t& n) {
    const std::size_t len = rec.size() - header_len;
    if (len < tag_len + 1) {
        return fail(record_alert::bad_record_mac, "TLS 1.3 record too short for its tag");
    }
    const std::size_t inner_len = len - tag_len;
    std::uint8_t* body = rec.data() + header_len;
    std::uint8_t nonce[nonce_len];
    xor_nonce(read_iv_, read_seq_, nonce);
    // RFC 8446 §5.2: additional_data = the record header as received.
    if (!decrypt(nonce, rec.data(), header_len, body, inner_len, body + inner_len, out)) {
        OPENSSL_cleanse(out, inner_len);
        return fail(record_alert::bad_record_mac, "record authentication failed");
    }
    ++read_seq_;
    if (inner_len > max_inner_plaintext13) {
        OPENSSL_cleanse(out, inner_len);
        return fail(record_alert::record_overflow, "TLS 1.3 inner plaintext longer than 2^14+1");
    }
    // §5.4: the content type is the last non-zero byte; the zeros after it are padding.
    std::size_t i = inner_len;
    while (i > 0 && out[i - 1] == 0) {
        --i;
    }
    if (i == 0) {
        return fail(record_alert::unexpected_message, "TLS 1.3 inner plaintext all zeros");
    }
    const std::uint8_t type = out[i - 1];
    const std::size_t content_len = i - 1;
    open_status st = open_status::fatal;
    switch (type) {
    case ct_application_data:
        if (content_len != 0) {
            records_without_data_ = 0;
            n = content_len;
            return open_status::data;
        }
        st = without_data();
        break;
    case ct_alert:
        st = on_alert(out, content_len);
        break;
    case ct_handshake:
        st = on_handshake13(out, content_len);
        break;
    default:
        st =
                fail(record_alert::unexpected_message,
                     type == ct_change_cipher_spec ? "protected change_cipher_spec"
                                                   : "unknown TLS 1.3 inner content type");
        break;
    }
    if (st == open_status::fatal) {
        OPENSSL_cleanse(out, inner_len); // nothing of a failed record stays readable
    }
    return st;
}

open_status tls_record::open12(std::span<std::uint8_t> rec, std::uint8_t* out, std::size_t& n) {
    const std::size_t len = rec.size() - header_len;
    const std::size_t explicit_len = is_gcm(aead_) ? explicit_nonce_len : 0;
    if (len < explicit_len + tag_len) {
        return fail(record_alert::bad_record_mac, "TLS 1.2 record too short for its nonce and tag");
    }
    const std::size_t plain_len = len - explicit_len - tag_len;
    if (plain_len > max_plaintext) {
        return fail(record_alert::record_overflow, "TLS 1.2 plaintext longer than 2^14");
    }
    const std::uint8_t type = rec[0];
    std::uint8_t* body = rec.data() + header_len;
    std::uint8_t nonce[nonce_len];
    if (explicit_len != 0) {
        // RFC 5288 §3: nonce = salt (4, from the key block) || nonce_explicit (8, the record's).
        std::memcpy(nonce, read_iv_, 4);
        std::memcpy(nonce + 4, body, explicit_nonce_len);
    } else {
        xor_nonce(read_iv_, read_seq_, nonce);
    }
    // RFC 5246 §6.2.3.3: additional_data = seq_num + type + version + length (of the plaintext).
    std::uint8_t aad[13];
    put_u64(aad, read_seq_);
    aad[8] = type;
    aad[9] = rec[1];
    aad[10] = rec[2];
    aad[11] = static_cast<std::uint8_t>(plain_len >> 8);
    aad[12] = static_cast<std::uint8_t>(plain_len);
    const std::uint8_t* cipher = body + explicit_len;
    const std::uint8_t* tag = cipher + plain_len;
    // In place with an explicit nonce, `out` is 8 bytes before the ciphertext: OpenSSL's AEADs
    // handle out == in, not a partial overlap, so decrypt where it is and move it down.
    const bool shift = explicit_len != 0 && out == body;
    std::uint8_t* dst = shift ? body + explicit_len : out;
    if (!decrypt(nonce, aad, sizeof aad, cipher, plain_len, tag, dst)) {
        OPENSSL_cleanse(dst, plain_len);
        return fail(record_alert::bad_record_mac, "record authentication failed");
    }
    ++read_seq_;
    if (shift) {
        std::memmove(out, dst, plain_len);
    }
    open_status st = open_status::fatal;
    switch (type) {
    case ct_application_data:
        if (plain_len != 0) {
            records_without_data_ = 0;
            n = plain_len;
            return open_status::data;
        }
        st = without_data();
        break;
    case ct_alert:
        st = on_alert(out, plain_len);
        break;
    default: // ct_handshake: record_size let no other type through
        st =
                fail(record_alert::unexpected_message,
                     "TLS 1.2 handshake message after the handshake (renegotiation refused)");
        break;
    }
    if (st == open_status::fatal) {
        // Nothing of a failed record stays readable: in place, the memmove left the last
        // 8 bytes of plaintext behind it too.
        OPENSSL_cleanse(out, plain_len + (shift ? explicit_len : 0));
    }
    return st;
}

open_status tls_record::without_data() {
    if (++records_without_data_ > max_records_without_data) {
        return fail(
                record_alert::unexpected_message,
                "more than 32 records in a row without application data");
    }
    return open_status::control;
}

open_status tls_record::on_alert(const std::uint8_t* p, std::size_t len) {
    if (len != 2) {
        return fail(record_alert::decode_error, "alert record not exactly one alert");
    }
    const std::uint8_t level = p[0];
    const std::uint8_t desc = p[1];
    received_alert_ = desc;
    if (tls13_) {
        // RFC 8446 §6: the level is ignored; all alerts but these two are errors.
        if (desc == static_cast<std::uint8_t>(record_alert::close_notify)) {
            return open_status::close_notify;
        }
        if (desc == alert_user_canceled) {
            return without_data();
        }
        alert_ = record_alert::close_notify;
        reason_ = "the peer sent an error alert";
        broken_ = true;
        return open_status::fatal;
    }
    if (level == alert_level_warning) {
        if (desc == static_cast<std::uint8_t>(record_alert::close_notify)) {
            return open_status::close_notify;
        }
        return without_data();
    }
    if (level == alert_level_fatal) {
        alert_ = record_alert::close_notify;
        reason_ = "the peer sent a fatal alert";
        broken_ = true;
        return open_status::fatal;
    }
    received_alert_ = -1;
    return fail(record_alert::illegal_parameter, "alert with an unknown level");
}

open_status tls_record::on_handshake13(const std::uint8_t* p, std::size_t len) {
    // RFC 8446 §5.1: a key change must be at a record boundary, so the KeyUpdate is the last
    // message of its record; since it is the only post-handshake message a server without
    // post-handshake authentication accepts, the record holds exactly one, whole.
    if (len < 4) {
        return fail(
                record_alert::unexpected_message,
                "handshake message split across records (refused)");
    }
    if (p[0] != hs_key_update) {
        return fail(
                record_alert::unexpected_message, "post-handshake message other than KeyUpdate");
    }
    const std::size_t msg_len = (std::size_t{p[1]} << 16) | (std::size_t{p[2]} << 8) | p[3];
    if (msg_len != 1) {
        return fail(record_alert::decode_error, "KeyUpdate body not 1 byte");
    }
    if (len < 5) {
        return fail(
                record_alert::unexpected_message,
                "handshake message split across records (refused)");
    }
    if (len > 5) {
        return fail(record_alert::unexpected_message, "KeyUpdate not at the end of its record");
    }
    const std::uint8_t request = p[4];
    if (request > 1) {
        return fail(record_alert::illegal_parameter, "KeyUpdate request_update not 0 or 1");
    }
    // The flood limit first: a refused KeyUpdate changes no key, so that the alert for it is
    // sealed under the key the peer expects (our answer is not sent after a fatal result).
    const open_status st = without_data();
    if (st == open_status::fatal) {
        return st;
    }
    if (!update_read_key()) {
        return fail(record_alert::internal_error, "KeyUpdate: cannot derive the next read key");
    }
    // §4.6.3: answer update_requested with our own KeyUpdate before our next data record, sealed
    // under the current write key. One still unsent answers any number of requests.
    if (request == 1 && pending_len_ == 0) {
        const std::size_t k = seal_key_update(false, pending_);
        if (k == 0) {
            return fail(record_alert::internal_error, "KeyUpdate: cannot answer");
        }
        pending_len_ = static_cast<std::uint8_t>(k);
    }
    return st;
}

namespace {

/// RFC 8446 §7.2: application_traffic_secret_N+1 =
///   HKDF-Expand-Label(application_traffic_secret_N, "traffic upd", "", Hash.length),
/// and its key and IV (§7.3), into the caller's temporaries; nothing is changed on failure.
bool next_traffic_keys(
        record_aead a,
        const std::uint8_t* secret,
        std::uint8_t* next,
        std::uint8_t* key,
        std::uint8_t* iv) {
    const std::size_t hash_len = hash_len_of(a);
    return hkdf_expand_label(a, secret, hash_len, "traffic upd", next, hash_len) &&
           hkdf_expand_label(a, next, hash_len, "key", key, key_len_of(a)) &&
           hkdf_expand_label(a, next, hash_len, "iv", iv, nonce_len);
}

} // namespace

bool tls_record::update_read_key() {
    std::uint8_t next[48];
    std::uint8_t key[32];
    std::uint8_t iv[nonce_len];
    // The read side is broken (every later open() fatal) if this fails, but commit nothing
    // half-way all the same.
    const bool ok = next_traffic_keys(aead_, read_secret_, next, key, iv) &&
                    set_key(read_ctx_, nullptr, key, false);
    if (ok) {
        std::memcpy(read_secret_, next, hash_len_of(aead_));
        std::memcpy(read_iv_, iv, nonce_len);
        read_seq_ = 0;
    }
    OPENSSL_cleanse(next, sizeof next);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(iv, sizeof iv);
    return ok;
}

std::size_t tls_record::seal_key_update(bool update_requested, std::uint8_t* out) {
    // §4.6.3: the KeyUpdate goes under the old key, everything after it under the new one.
    // The next keys are derived before the KeyUpdate is sealed: if that fails nothing has
    // changed and an alert can still be sealed under the current key. Only the switch of the
    // context's key can fail after the KeyUpdate took its sequence number; then nothing more
    // is sealed (as OpenSSL marks its write state invalid), since the key, IV and sequence
    // number are no longer known to go together. Never reset the sequence number under the
    // old key: that reuses its nonces.
    std::uint8_t next[48];
    std::uint8_t key[32];
    std::uint8_t iv[nonce_len];
    std::size_t k = 0;
    if (!next_traffic_keys(aead_, write_secret_, next, key, iv)) {
        fail(record_alert::internal_error, "KeyUpdate: cannot derive the next write key");
    } else {
        const std::uint8_t msg[5] = {hs_key_update, 0, 0, 1, std::uint8_t{update_requested}};
        const std::span<const std::uint8_t> piece(msg, sizeof msg);
        k = seal_record(ct_handshake, {&piece, 1}, sizeof msg, 0, out);
        if (k != 0 && !set_key(write_ctx_, nullptr, key, true)) {
            write_dead_ = true;
            OPENSSL_cleanse(out, k);
            k = 0;
            fail(record_alert::internal_error, "KeyUpdate: cannot set the next write key");
        }
        if (k != 0) {
            std::memcpy(write_secret_, next, hash_len_of(aead_));
            std::memcpy(write_iv_, iv, nonce_len);
            write_seq_ = 0;
        }
    }
    OPENSSL_cleanse(next, sizeof next);
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(iv, sizeof iv);
    return k;
}

std::size_t
tls_record::seal(std::span<const std::span<const std::uint8_t>> pieces, std::uint8_t* out) {
    std::size_t total = 0;
    for (const auto& p : pieces) {
        total += p.size();
    }
    if (total > max_plain_) {
        fail(record_alert::internal_error, "seal() given more than max_plain bytes");
        return 0;
    }
    std::size_t written = 0;
    if (tls13_ && write_seq_ >= key_update_after_) {
        // §5.5: our own KeyUpdate long before AES-GCM's limit; the data goes under the new key.
        written = seal_key_update(false, out);
        if (written == 0) {
            return 0;
        }
    }
    const std::size_t k = seal_record(ct_application_data, pieces, total, 0, out + written);
    return k == 0 ? 0 : written + k;
}

std::size_t tls_record::seal_alert(record_alert a, std::uint8_t* out) {
    const std::uint8_t msg[2] = {
            a == record_alert::close_notify ? alert_level_warning : alert_level_fatal,
            static_cast<std::uint8_t>(a)};
    const std::span<const std::uint8_t> piece(msg, sizeof msg);
    return seal_record(ct_alert, {&piece, 1}, sizeof msg, 0, out);
}

std::size_t tls_record::seal_record(
        std::uint8_t type,
        std::span<const std::span<const std::uint8_t>> pieces,
        std::size_t total,
        std::size_t padding,
        std::uint8_t* out) {
    if (write_dead_) {
        fail(record_alert::internal_error, "nothing is sealed after a failed write key change");
        return 0;
    }
    if (write_seq_ == last_seq) {
        fail(record_alert::internal_error, "write sequence number exhausted");
        return 0;
    }
    std::uint8_t nonce[nonce_len];
    std::uint8_t aad12[13];
    const std::uint8_t* aad = out;
    std::size_t aad_len = header_len;
    std::uint8_t* p = out + header_len;
    std::size_t len = 0;
    if (tls13_) {
        // §5.2: TLSInnerPlaintext = content || type || zeros; the header is the AAD.
        len = total + 1 + padding + tag_len;
        put_header(out, ct_application_data, len);
        xor_nonce(write_iv_, write_seq_, nonce);
    } else {
        const std::size_t explicit_len = is_gcm(aead_) ? explicit_nonce_len : 0;
        len = explicit_len + total + tag_len;
        put_header(out, type, len);
        if (explicit_len != 0) {
            // The explicit nonce is the sequence number (RFC 5288 §3 allows it): unique among
            // ours. OpenSSL sealed one record under this key (our Finished) with a nonce that
            // starts at a random 64-bit value; the chance that it equals one of our N
            // sequence numbers is N / 2^64.
            std::memcpy(nonce, write_iv_, 4);
            put_u64(nonce + 4, write_seq_);
            std::memcpy(p, nonce + 4, explicit_nonce_len);
            p += explicit_len;
        } else {
            xor_nonce(write_iv_, write_seq_, nonce);
        }
        put_u64(aad12, write_seq_);
        aad12[8] = type;
        aad12[9] = 3;
        aad12[10] = 3;
        aad12[11] = static_cast<std::uint8_t>(total >> 8);
        aad12[12] = static_cast<std::uint8_t>(total);
        aad = aad12;
        aad_len = sizeof aad12;
    }
    int outl = 0;
    bool ok = EVP_EncryptInit_ex(write_ctx_, nullptr, nullptr, nullptr, nonce) == 1 &&
              EVP_EncryptUpdate(write_ctx_, nullptr, &outl, aad, static_cast<int>(aad_len)) == 1;
    std::uint8_t* const text = p;
    for (const auto& piece : pieces) {
        if (!ok) {
            break;
        }
        if (piece.empty()) {
            continue;
        }
        ok = EVP_EncryptUpdate(
                     write_ctx_, p, &outl, piece.data(), static_cast<int>(piece.size())) == 1;
        p += outl;
    }
    if (ok && tls13_) {
        static constexpr std::uint8_t zeros[64] = {};
        ok = EVP_EncryptUpdate(write_ctx_, p, &outl, &type, 1) == 1;
        p += outl;
        for (std::size_t left = padding; ok && left != 0;) {
            const std::size_t chunk = left < sizeof zeros ? left : sizeof zeros;
            ok = EVP_EncryptUpdate(write_ctx_, p, &outl, zeros, static_cast<int>(chunk)) == 1;
            p += outl;
            left -= chunk;
        }
    }
    ok = ok && EVP_EncryptFinal_ex(write_ctx_, p, &outl) == 1;
    p += outl;
    const std::size_t text_len = static_cast<std::size_t>(p - text);
    ok = ok && text_len == total + (tls13_ ? 1 + padding : 0) &&
         EVP_CIPHER_CTX_ctrl(write_ctx_, EVP_CTRL_AEAD_GET_TAG, static_cast<int>(tag_len), p) == 1;
    if (!ok) {
        OPENSSL_cleanse(out, header_len + len);
        fail(record_alert::internal_error, "OpenSSL could not seal a record");
        return 0;
    }
    ++write_seq_;
    return header_len + len;
}

} // namespace thinggate::transport::detail
