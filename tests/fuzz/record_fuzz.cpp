// libFuzzer target for persist's record codec: the input is a stored key and value (u16
// big-endian key length, key bytes, then the value) and is decoded as every record kind.
// Whatever decodes must re-encode to exactly the stored key and value (decoding is strict, so
// the encoding is canonical) and decode again to the same record. Any disagreement aborts.
// Seed corpus: tests/fuzz/corpus/record/, written by `make_data_dir corpus DIR`
// (tests/cli/make_data_dir.cpp).

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "persist/record_codec.hpp"

namespace {

namespace persist = thinggate::persist;
namespace codec = thinggate::persist::codec;

[[noreturn]] void fail(const char* kind, const char* what) {
    std::fprintf(stderr, "record_fuzz: %s: %s\n", kind, what);
    std::abort();
}

std::string key_of(const persist::session_record& r) {
    return codec::session_key(r.client_id);
}

std::string key_of(const persist::subscription_record& r) {
    return codec::subscription_key(r.client_id, r.filter);
}

std::string key_of(const persist::queued_record& r) {
    return codec::sequence_key(r.client_id, r.seq);
}

std::string key_of(const persist::inflight_record& r) {
    return codec::sequence_key(r.client_id, r.seq);
}

std::string key_of(const persist::qos2_in_record& r) {
    return codec::qos2_in_key(r.client_id, r.packet_id);
}

std::string key_of(const persist::message_record& r) {
    return codec::retained_key(r.topic);
}

std::string key_of(const persist::blob_record& r) {
    return codec::blob_key(r.kind, r.name);
}

std::string value_of(const persist::blob_record& r) {
    return r.value;
}

template <typename Record>
std::string value_of(const Record& r) {
    return codec::encode(r);
}

template <typename Record>
void round_trip(const char* kind, std::string_view key, std::string_view value) {
    Record r;
    if (codec::decode(key, value, r)) {
        return; // rejected: fine, as long as it did not crash
    }
    auto key2 = key_of(r);
    auto value2 = value_of(r);
    if (key2 != key) {
        fail(kind, "the key of the decoded record differs from the stored key");
    }
    if (value2 != value) {
        fail(kind, "the decoded record encodes to other bytes than the stored value");
    }
    Record again;
    if (codec::decode(key2, value2, again)) {
        fail(kind, "the re-encoded record does not decode");
    }
    if (!(again == r)) {
        fail(kind, "the re-encoded record decodes to another record");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    std::size_t key_size = (std::size_t(data[0]) << 8) | data[1];
    if (key_size > size - 2) {
        key_size = size - 2;
    }
    std::string_view all(reinterpret_cast<const char*>(data) + 2, size - 2);
    auto key = all.substr(0, key_size);
    auto value = all.substr(key_size);

    round_trip<persist::session_record>("session", key, value);
    round_trip<persist::subscription_record>("subscription", key, value);
    round_trip<persist::queued_record>("queued", key, value);
    round_trip<persist::inflight_record>("inflight", key, value);
    round_trip<persist::qos2_in_record>("qos2_in", key, value);
    round_trip<persist::message_record>("retained", key, value);
    round_trip<persist::blob_record>("blob", key, value);

    // The meta values: fixed-width integers, decoded and encoded back exactly.
    if (auto v = codec::decode_u32(all); v && codec::encode_u32(*v) != all) {
        fail("meta", "u32 round trip");
    }
    if (auto t = codec::decode_time(all); t && codec::encode_time(*t) != all) {
        fail("meta", "time round trip");
    }
    return 0;
}
