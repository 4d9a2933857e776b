// libFuzzer target for transport/tls_record, the record protection after the handshake: the
// input's first byte picks the version and suite (and in-place or separate-buffer open), the
// rest is the client's byte stream, cut into records by record_size() and opened one by one
// with fixed keys, as tls_channel does. Checks: no crash or out-of-bounds access (ASan), and
// no data delivered that the client side did not seal: every plaintext the seeds carry is
// pattern(i) (below), and a record whose tag failed would deliver something else. After each
// record, what the server would send (its KeyUpdate answer, a sealed echo) must be well formed.
//
// Seeds: tests/fuzz/corpus/tls_record/, valid record streams sealed with the same fixed keys,
// so that mutation of lengths, types and order around authentic records gets past the tag
// check; variants 4 and 5 hold a record at the plaintext limit and one byte over it (run with
// -max_len=20000 so that they are not cut). Rewrite them with:
//   TLS_RECORD_FUZZ_SEEDS=DIR ./build/fuzz/tests/fuzz/tls_record_fuzz

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "transport/tls_record.hpp"

#include "tests/unit/transport/tls_record_access.hpp"

namespace {

using namespace thinggate::transport::detail;
using bytes = std::vector<std::uint8_t>;

struct suite {
    int version;
    record_aead aead;
};

constexpr suite suites[] = {
        {TLS1_3_VERSION, record_aead::aes_128_gcm},
        {TLS1_3_VERSION, record_aead::aes_256_gcm},
        {TLS1_3_VERSION, record_aead::chacha20_poly1305},
        {TLS1_2_VERSION, record_aead::aes_128_gcm},
        {TLS1_2_VERSION, record_aead::aes_256_gcm},
        {TLS1_2_VERSION, record_aead::chacha20_poly1305},
};

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "tls_record_fuzz: %s\n", what);
    std::abort();
}

std::uint8_t pattern(std::size_t i) {
    return static_cast<std::uint8_t>(i * 7 + 3);
}

/// Fixed secrets (not secret: the fuzz target's), the server's side or the client's.
std::unique_ptr<tls_record> make_side(const suite& s, bool client_side) {
    record_secrets r;
    r.version = s.version;
    r.aead = s.aead;
    const std::size_t hash_len = s.aead == record_aead::aes_256_gcm ? 48 : 32;
    r.secret_len = s.version == TLS1_3_VERSION ? hash_len : 48;
    for (std::size_t i = 0; i < sizeof r.client; ++i) {
        r.client[i] = static_cast<std::uint8_t>(0x11 + i);
        r.server[i] = static_cast<std::uint8_t>(0x93 + 3 * i);
    }
    for (std::size_t i = 0; i < 32; ++i) {
        r.client_random[i] = static_cast<std::uint8_t>(i);
        r.server_random[i] = static_cast<std::uint8_t>(0xff - i);
    }
    // TLS 1.2: both Finished were sealed by OpenSSL (sequence 0).
    r.read_seq = r.write_seq = s.version == TLS1_2_VERSION ? 1 : 0;
    r.key_update_after = 5; // our own KeyUpdate often, so that the seal side is exercised too
    r.client_side = client_side;
    return tls_record::make(r);
}

void write_seeds(const char* dir) {
    for (std::size_t si = 0; si < std::size(suites); ++si) {
        const suite& s = suites[si];
        const bool tls13 = s.version == TLS1_3_VERSION;
        for (int variant = 0; variant < 6; ++variant) {
            auto client = make_side(s, true);
            if (!client) {
                fail("make_side");
            }
            bytes out;
            out.push_back(static_cast<std::uint8_t>(si + (variant % 2 == 1 ? 0x80 : 0)));
            bytes buf(20000);
            const auto put = [&](std::size_t k) {
                if (k == 0) {
                    fail("seal");
                }
                out.insert(out.end(), buf.begin(), buf.begin() + static_cast<long>(k));
            };
            const auto data = [&](std::size_t n, std::size_t padding = 0) {
                bytes m(n);
                for (std::size_t i = 0; i < n; ++i) {
                    m[i] = pattern(i);
                }
                put(tls_record_test_access::seal_inner(*client, 23, m, padding, buf.data()));
            };
            const auto alert = [&](std::uint8_t level, std::uint8_t desc) {
                const std::uint8_t a[2] = {level, desc};
                put(tls_record_test_access::seal_inner(*client, 21, a, 0, buf.data()));
            };
            switch (variant) {
            case 0: // data of assorted sizes, an empty record
                data(1);
                data(100);
                data(0);
                data(1500);
                data(17);
                break;
            case 1: // control records between data, then close_notify
                data(40);
                if (tls13) {
                    put(tls_record_test_access::key_update(*client, true, buf.data()));
                    data(30, 20);
                    put(tls_record_test_access::key_update(*client, false, buf.data()));
                    alert(1, 90);
                } else {
                    alert(1, 90);
                    data(30);
                }
                data(64);
                alert(1, 0);
                break;
            case 2: // many small records
                for (int i = 0; i < 12; ++i) {
                    data(static_cast<std::size_t>(i * 5));
                }
                break;
            case 3: // a large record, then a fatal alert
                data(3000);
                alert(2, 40);
                break;
            case 4: // the largest plaintext (1.3: the content and its padding at 2^14+1)
                if (tls13) {
                    data(16000, 384);
                } else {
                    data(16384);
                }
                break;
            case 5: // one byte over (record_overflow after a good tag); run with -max_len=20000
                if (tls13) {
                    data(16384, 1);
                } else {
                    data(16385);
                }
                break;
            }
            const std::string path = std::string(dir) + "/suite" + std::to_string(si) + "_" +
                                     std::to_string(variant);
            FILE* f = std::fopen(path.c_str(), "wb");
            if (f == nullptr || std::fwrite(out.data(), 1, out.size(), f) != out.size()) {
                fail("cannot write a seed");
            }
            std::fclose(f);
        }
    }
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    if (const char* dir = std::getenv("TLS_RECORD_FUZZ_SEEDS")) {
        write_seeds(dir);
        std::exit(0);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    const suite& s = suites[(data[0] & 0x7f) % std::size(suites)];
    const bool in_place = (data[0] & 0x80) != 0;
    auto server = make_side(s, false);
    if (!server) {
        fail("make");
    }
    // An exact-size copy: ASan sees any read past the stream.
    bytes stream(data + 1, data + size);
    bytes sep(tls_record::max_wire_record);
    bytes reply(tls_record::max_seal_overhead + 16384);
    std::size_t at = 0;
    while (at < stream.size()) {
        std::span<std::uint8_t> rest(stream.data() + at, stream.size() - at);
        bool bad = false;
        const std::size_t rec_size = server->record_size(rest, bad);
        if (bad || rec_size == 0 || rec_size > rest.size()) {
            break; // fatal, or the rest of a record that never comes
        }
        if (rec_size < tls_record::header_len || rec_size > tls_record::max_wire_record) {
            fail("record_size out of range");
        }
        std::span<std::uint8_t> rec = rest.first(rec_size);
        std::uint8_t* out = in_place ? rec.data() + tls_record::header_len : sep.data();
        std::size_t n = 12345;
        const open_status st = server->open(rec, out, n);
        if (st != open_status::data && n != 0) {
            fail("n set without data");
        }
        if (st == open_status::data) {
            if (n > server->max_plain() || n > rec_size - tls_record::header_len) {
                fail("more data than the record holds");
            }
            for (std::size_t i = 0; i < n; ++i) {
                if (out[i] != pattern(i)) {
                    fail("data delivered that the client never sealed");
                }
            }
            // Echo it, as the broker would answer.
            const std::span<const std::uint8_t> piece(out, n);
            const std::size_t k = server->seal({&piece, 1}, reply.data());
            if (k == 0 || k > n + tls_record::max_seal_overhead) {
                fail("seal");
            }
        }
        const auto pending = server->pending_control();
        if (!pending.empty()) {
            if (server->version() != TLS1_3_VERSION || pending.size() != 27) {
                fail("pending control");
            }
            server->clear_pending_control();
        }
        if (st == open_status::fatal) {
            std::uint8_t alert[64];
            if (server->reason() == nullptr || server->reason()[0] == '\0') {
                fail("fatal without a reason");
            }
            if (server->seal_alert(server->alert(), alert) == 0) {
                fail("seal_alert");
            }
            break;
        }
        if (st == open_status::close_notify) {
            break;
        }
        at += rec_size;
    }
    return 0;
}
