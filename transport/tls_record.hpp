#pragma once
// transport/tls_record: TLS record protection after the handshake, for the connections whose
// SSL object is freed once OpenSSL has done the handshake (tls_channel, docs/security.md "Record
// layer"). OpenSSL 3.0 cannot release any of its ≈ 18 KB per connection while the SSL object
// lives; after the handshake all a connection needs is two AEAD keys, their IVs and sequence
// numbers (and, TLS 1.3, the traffic secrets for KeyUpdate).
//
// Versions and suites: TLS 1.3 (RFC 8446 §5.2–5.5, §4.6.3 KeyUpdate, §7.2 key update) and TLS 1.2
// (RFC 5246 §6.2.3.3 with RFC 5288 AES-GCM, RFC 7905 ChaCha20-Poly1305); AEAD only: AES-128-GCM,
// AES-256-GCM, ChaCha20-Poly1305 — exactly what tls_context allows.
//
// Server side ("read" = the client's direction, "write" = ours); record_secrets::client_side
// turns it around for tests and the fuzz target.
// Nonces: a record is sealed once with the next sequence number, which is never reused; a
// record that waits for the socket is kept as ciphertext and sent as it is, never sealed again.
// Secrets: cleansed (OPENSSL_cleanse) when replaced and on destruction; never logged.
// Owns: two AEAD cipher contexts, the TLS 1.3 traffic secrets, the sequence numbers; no buffer
// but the 27 bytes of an unsent KeyUpdate. No allocation per record (a KeyUpdate allocates
// transiently inside OpenSSL's HKDF). 208 bytes + 2.3 KB of OpenSSL heap (the two contexts).
// Thread safety: one connection's, shard-confined.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include <openssl/evp.h>

namespace thinggate::transport::detail {

enum class record_aead : std::uint8_t {
    aes_128_gcm,
    aes_256_gcm,
    chacha20_poly1305,
};

/// TLS alert descriptions this layer sends (RFC 8446 §6).
enum class record_alert : std::uint8_t {
    close_notify = 0,
    unexpected_message = 10,
    bad_record_mac = 20,
    record_overflow = 22,
    illegal_parameter = 47, ///< a KeyUpdate's request_update other than 0 or 1 (§4.6.3)
    decode_error = 50,
    internal_error = 80,
};

/// What the handshake leaves for the record layer, captured from OpenSSL by tls_channel.
struct record_secrets {
    int version = 0;                   ///< TLS1_2_VERSION or TLS1_3_VERSION
    record_aead aead = record_aead::aes_128_gcm;
    const EVP_MD* hash = nullptr;      ///< the suite's hash: TLS 1.3 HKDF, TLS 1.2 PRF
    /// TLS 1.3: client_application_traffic_secret_0 and server_..._0 (hash size each).
    /// TLS 1.2: the master secret (48 bytes) in `client`, `server` unused.
    std::uint8_t client[EVP_MAX_MD_SIZE] = {};
    std::uint8_t server[EVP_MAX_MD_SIZE] = {};
    std::size_t secret_len = 0;
    /// TLS 1.2 only: the hello randoms (SSL_get_client_random / SSL_get_server_random).
    std::uint8_t client_random[32] = {};
    std::uint8_t server_random[32] = {};
    /// Records already protected under these keys by OpenSSL: client → us, and us → client
    /// (TLS 1.3: the NewSessionTicket records; TLS 1.2: the Finished of each side).
    std::uint64_t read_seq = 0;
    std::uint64_t write_seq = 0;
    /// The peer's max_fragment_length (RFC 6066), or 16384.
    std::size_t max_plain = 16384;
    /// TLS 1.3: we send our own KeyUpdate after this many records under one write key (1..2^23;
    /// the default keeps AES-GCM far below its 2^24.5 limit, RFC 8446 §5.5). Tests lower it.
    std::uint32_t key_update_after = 1u << 23;
    /// The client's side instead of the server's ("read" = the server's direction). For tests
    /// and the fuzz target, which need a peer that seals what the server side opens.
    bool client_side = false;

    ~record_secrets(); ///< cleanses the secrets
};

/// What `open` made of one record.
enum class open_status : std::uint8_t {
    data,         ///< application data: `n` bytes in `out` (0 is possible: an empty record)
    control,      ///< nothing for the application (a KeyUpdate applied, a warning alert)
    close_notify, ///< the peer's close_notify: no more input
    fatal,        ///< `alert()` says which alert to send (seal_alert) before closing
};

class tls_record {
public:
    /// Bytes of a record header.
    static constexpr std::size_t header_len = 5;
    /// Largest record on the wire this layer accepts (TLS 1.2: 2^14 + 2048 body; 1.3: 2^14+256).
    static constexpr std::size_t max_wire_record = header_len + 16384 + 2048;
    /// Wire bytes added to `n` bytes of plaintext by seal() at most, a KeyUpdate of ours that
    /// seal() may put in front included.
    static constexpr std::size_t max_seal_overhead = 96;

    /// Derives the keys (TLS 1.3: HKDF-Expand-Label "key"/"iv"; TLS 1.2: the PRF key block).
    /// Null when OpenSSL cannot make the contexts or the input is inconsistent (then tls_channel
    /// keeps OpenSSL's record layer for this connection).
    static std::unique_ptr<tls_record> make(const record_secrets& s);

    ~tls_record();
    tls_record(const tls_record&) = delete;
    tls_record& operator=(const tls_record&) = delete;

    /// Largest plaintext per record we send (16384, or the peer's max_fragment_length).
    std::size_t max_plain() const noexcept;

    /// Length of the whole record at the front of `in` (header included) once its header is
    /// there; 0 when fewer than 5 bytes are. A header whose length exceeds the limits, or whose
    /// type is not one the version allows, gives 0 and sets `bad` (alert() says which).
    std::size_t record_size(std::span<const std::uint8_t> in, bool& bad);

    /// Decrypts and checks one whole record (`rec`, as measured by record_size). Application
    /// data is written to `out`: either rec.data() + header_len (in place) or a separate buffer
    /// of at least rec.size() bytes (TLS 1.2 AES-GCM in place costs a memmove of the plaintext
    /// over the 8-byte explicit nonce; a separate buffer does not). `n` = bytes of application
    /// data; 0 unless the status is data. A TLS 1.3 KeyUpdate is applied here; one that asks
    /// for ours makes pending_control() non-empty. Too many records without application data in
    /// a row (32), a bad tag, a bad inner type, a handshake message other than KeyUpdate (1.3)
    /// or any handshake message (1.2: renegotiation is refused) are fatal; after a fatal result
    /// every later open() is fatal too, and `out` holds nothing of the failed record.
    /// TLS 1.3: a handshake message split across records is refused (unexpected_message): the
    /// only one accepted, KeyUpdate, is 5 bytes and every TLS stack writes it in one record;
    /// reassembly would need a buffer in every idle connection.
    open_status open(std::span<std::uint8_t> rec, std::uint8_t* out, std::size_t& n);

    /// Seals `pieces` (together at most max_plain() bytes, gathered in order and encrypted
    /// straight from where they are, no copy first) as one application-data record into
    /// `out`, which has room for the plaintext plus max_seal_overhead. Returns the wire bytes
    /// written. If our own KeyUpdate is due (TLS 1.3: after 2^23 records under one key, well
    /// below AES-GCM's limit) it is written first, in the same output. 0 (nothing written) when
    /// it cannot: more than max_plain() bytes, sequence numbers exhausted (TLS 1.2 after 2^64-1
    /// records) or an OpenSSL failure; alert() is then internal_error: close the connection.
    /// If our KeyUpdate (this one or the answer open() seals) was sealed but the new write key
    /// could not be set, nothing is sealed any more, seal_alert() included.
    std::size_t seal(std::span<const std::span<const std::uint8_t>> pieces, std::uint8_t* out);

    /// Seals an alert record (close_notify: warning; others: fatal) into `out` (≥ 64 bytes).
    /// 0 as for seal().
    std::size_t seal_alert(record_alert a, std::uint8_t* out);

    /// Wire bytes that must be sent before anything sealed from now on (our KeyUpdate answering
    /// the peer's update_requested, sealed with the old key before switching); empty when none.
    std::span<const std::uint8_t> pending_control() const noexcept;
    void clear_pending_control() noexcept;

    /// The alert that the last fatal open() or bad record_size() asks to send.
    record_alert alert() const noexcept;
    /// Why, for the log line (never key material).
    const char* reason() const noexcept;
    /// The description of the alert the peer sent, when open() returned close_notify, control
    /// or fatal because of one; -1 otherwise. After the peer's fatal alert nothing needs to be
    /// sent back (RFC 8446 §6.2); alert() is then close_notify.
    int received_alert() const noexcept;

    int version() const noexcept;

private:
    friend struct tls_record_test_access; // tests and the fuzz target: records no peer would send

    tls_record() = default;
    // The members are the implementation's (transport/tls_record.cpp): keep them small, this
    // object is what an idle TLS connection holds instead of OpenSSL's SSL.

    std::size_t seal_record(
            std::uint8_t type,
            std::span<const std::span<const std::uint8_t>> pieces,
            std::size_t total,
            std::size_t padding,
            std::uint8_t* out);
    std::size_t seal_key_update(bool update_requested, std::uint8_t* out);
    bool update_read_key();
    bool
    decrypt(const std::uint8_t* nonce,
            const std::uint8_t* aad,
            std::size_t aad_len,
            const std::uint8_t* in,
            std::size_t len,
            const std::uint8_t* tag,
            std::uint8_t* out);
    open_status open13(std::span<std::uint8_t> rec, std::uint8_t* out, std::size_t& n);
    open_status open12(std::span<std::uint8_t> rec, std::uint8_t* out, std::size_t& n);
    open_status on_alert(const std::uint8_t* p, std::size_t len);
    open_status on_handshake13(const std::uint8_t* p, std::size_t len);
    open_status without_data();
    open_status fail(record_alert a, const char* why) noexcept;

    static constexpr std::size_t key_update_record_len = header_len + 5 + 1 + 16;

    EVP_CIPHER_CTX* read_ctx_ = nullptr;
    EVP_CIPHER_CTX* write_ctx_ = nullptr;
    std::uint64_t read_seq_ = 0;
    std::uint64_t write_seq_ = 0;
    const char* reason_ = "";
    std::uint32_t key_update_after_ = 1u << 23;
    std::uint16_t max_plain_ = 16384;
    std::int16_t received_alert_ = -1;
    /// TLS 1.3: nonce = iv XOR sequence number; TLS 1.2 AES-GCM: the 4-byte salt (implicit
    /// part); TLS 1.2 ChaCha20-Poly1305: as TLS 1.3.
    std::uint8_t read_iv_[12] = {};
    std::uint8_t write_iv_[12] = {};
    /// TLS 1.3 only: the current traffic secrets, for KeyUpdate (§7.2).
    std::uint8_t read_secret_[48] = {};
    std::uint8_t write_secret_[48] = {};
    /// Our KeyUpdate answering the peer's update_requested, sealed, not sent yet.
    std::uint8_t pending_[key_update_record_len] = {};
    std::uint8_t pending_len_ = 0;
    bool tls13_ = false;
    bool broken_ = false;
    /// Our KeyUpdate was sealed but the new write key could not be set: nothing more is sealed.
    bool write_dead_ = false;
    record_aead aead_ = record_aead::aes_128_gcm;
    record_alert alert_ = record_alert::close_notify;
    std::uint8_t records_without_data_ = 0;
};

} // namespace thinggate::transport::detail
