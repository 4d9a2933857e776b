#include "persist/record_codec.hpp"

#include <random>

#include <doctest/doctest.h>

#include "persist/error.hpp"
#include "persist_test_util.hpp"

namespace codec = thinggate::persist::codec;
using namespace thinggate::persist;
using thinggate::persist::test::sample_inflight;
using thinggate::persist::test::sample_message;
using thinggate::persist::test::sample_queued;
using thinggate::persist::test::sample_session;
using thinggate::persist::test::sample_subscription;

namespace {

template <class Record>
Record decoded(std::string_view key, std::string_view value) {
    Record r;
    auto ec = codec::decode(key, value, r);
    REQUIRE_MESSAGE(!ec, ec.message());
    return r;
}

/// Every proper prefix of `value`, and `value` plus one byte, must be rejected as corrupt.
template <class Record>
void check_truncations(std::string_view key, const std::string& value) {
    for (std::size_t n = 0; n < value.size(); ++n) {
        Record r;
        CAPTURE(n);
        CHECK(codec::decode(key, std::string_view(value).substr(0, n), r) == errc::corrupt);
    }
    Record r;
    CHECK(codec::decode(key, value + '\0', r) == errc::corrupt);
}

template <class Record>
void check_garbage_never_crashes(std::string_view key, const std::string& value) {
    std::mt19937 rng(12345);
    for (int i = 0; i < 2000; ++i) {
        auto v = value;
        // flip a few bytes, sometimes truncate: must decode or be corrupt, never crash (ASan)
        for (int j = 0; j < 1 + i % 4; ++j) {
            v[rng() % v.size()] = static_cast<char>(rng());
        }
        if (i % 3 == 0) {
            v.resize(rng() % (v.size() + 1));
        }
        Record r;
        auto ec = codec::decode(key, v, r);
        CHECK((!ec || ec == errc::corrupt));
    }
}

} // namespace

TEST_CASE("codec: session round trip, every truncation rejected") {
    auto s = sample_session();
    auto key = codec::session_key(s.client_id);
    auto value = codec::encode(s);
    CHECK(value[0] == char(codec::record_version));
    CHECK(decoded<session_record>(key, value) == s);
    check_truncations<session_record>(key, value);
    check_garbage_never_crashes<session_record>(key, value);

    session_record minimal;
    minimal.client_id = "";
    CHECK(decoded<session_record>(codec::session_key(""), codec::encode(minimal)) == minimal);
}

TEST_CASE("codec: subscription round trip, every truncation rejected") {
    auto s = sample_subscription();
    auto key = codec::subscription_key(s.client_id, s.filter);
    auto value = codec::encode(s);
    CHECK(decoded<subscription_record>(key, value) == s);
    check_truncations<subscription_record>(key, value);
    check_garbage_never_crashes<subscription_record>(key, value);
}

TEST_CASE("codec: queued and in-flight round trip, every truncation rejected") {
    auto q = sample_queued();
    auto qkey = codec::sequence_key(q.client_id, q.seq);
    auto qvalue = codec::encode(q);
    CHECK(decoded<queued_record>(qkey, qvalue) == q);
    check_truncations<queued_record>(qkey, qvalue);
    check_garbage_never_crashes<queued_record>(qkey, qvalue);

    auto f = sample_inflight();
    auto fkey = codec::sequence_key(f.client_id, f.seq);
    auto fvalue = codec::encode(f);
    CHECK(decoded<inflight_record>(fkey, fvalue) == f);
    check_truncations<inflight_record>(fkey, fvalue);
    check_garbage_never_crashes<inflight_record>(fkey, fvalue);
}

TEST_CASE("codec: retained message and qos2_in round trip") {
    auto m = sample_message();
    auto value = codec::encode(m);
    CHECK(decoded<message_record>(codec::retained_key(m.topic), value) == m);
    check_truncations<message_record>(codec::retained_key(m.topic), value);
    check_garbage_never_crashes<message_record>(codec::retained_key(m.topic), value);
    message_record other;
    CHECK(codec::decode("another/topic", value, other) == errc::corrupt);

    qos2_in_record q{"c", 7};
    auto key = codec::qos2_in_key(q.client_id, q.packet_id);
    CHECK(decoded<qos2_in_record>(key, codec::encode(q)) == q);
    CHECK(codec::decode(key, "", q) == errc::corrupt);
    CHECK(codec::decode(codec::qos2_in_key("c", 0), codec::encode(q), q) == errc::corrupt);
}

TEST_CASE("codec: properties outside the stored subset are not kept") {
    auto m = sample_message();
    m.props.topic_alias = 3;                // never forwarded
    m.props.subscription_identifiers = {5}; // per delivery, not per message
    auto back = decoded<message_record>(m.topic, codec::encode(m));
    CHECK(back.props.topic_alias == std::nullopt);
    CHECK(back.props.subscription_identifiers.empty());
    CHECK(back.props.user_properties == m.props.user_properties);
}

TEST_CASE("codec: out-of-range values are corrupt") {
    auto s = sample_subscription();
    auto key = codec::subscription_key(s.client_id, s.filter);
    auto value = codec::encode(s);
    auto bad = value;
    bad[0] = 2; // unknown record version
    CHECK(codec::decode(key, bad, s) == errc::corrupt);
    bad = value;
    bad[1] = 3; // QoS 3
    CHECK(codec::decode(key, bad, s) == errc::corrupt);
    bad = value;
    bad[2] = 2; // boolean 2
    CHECK(codec::decode(key, bad, s) == errc::corrupt);
    bad = value;
    bad[4] = 3; // retain handling 3
    CHECK(codec::decode(key, bad, s) == errc::corrupt);

    auto sess = sample_session();
    auto skey = codec::session_key(sess.client_id);
    auto svalue = codec::encode(sess);
    svalue[1] = 3; // protocol level 3 is not stored by thinggate
    CHECK(codec::decode(skey, svalue, sess) == errc::corrupt);

    auto f = sample_inflight();
    auto fkey = codec::sequence_key(f.client_id, f.seq);
    auto fvalue = codec::encode(f);
    fvalue[3] = 4; // state 4
    CHECK(codec::decode(fkey, fvalue, f) == errc::corrupt);
    fvalue = codec::encode(f);
    fvalue[1] = fvalue[2] = 0; // packet id 0
    CHECK(codec::decode(fkey, fvalue, f) == errc::corrupt);

    // A huge length or count is rejected before anything is allocated.
    // (version 1, QoS 1, retain 0, then a subscription id count of 2^32-1 / a topic length.)
    auto q = sample_queued();
    std::string huge_count("\x01\x01\x00\xff\xff\xff\xff", 7);
    CHECK(codec::decode(codec::sequence_key("c", 1), huge_count, q) == errc::corrupt);
    std::string huge_topic("\x01\x01\x00\x00\x00\x00\x00\xff\xff\xff\x7f", 11);
    CHECK(codec::decode(codec::sequence_key("c", 1), huge_topic, q) == errc::corrupt);
}

TEST_CASE("codec: malformed keys are corrupt") {
    auto q = sample_queued();
    auto value = codec::encode(q);
    CHECK(codec::decode("", value, q) == errc::corrupt);
    CHECK(codec::decode(
                  std::string(
                          "\x00\x05"
                          "ab",
                          4),
                  value,
                  q) == errc::corrupt);
    auto key = codec::sequence_key("c", 1);
    CHECK(codec::decode(key.substr(0, key.size() - 1), value, q) == errc::corrupt);
    auto s = sample_session();
    CHECK(codec::decode(codec::sequence_key("c", 1), codec::encode(s), s) == errc::corrupt);
    auto sub = sample_subscription();
    CHECK(codec::decode(codec::session_key("c"), codec::encode(sub), sub) == errc::corrupt);
    blob_record b;
    CHECK(codec::decode(std::string(1, '\x00'), "v", b) == errc::corrupt); // kind 0 unknown
    CHECK(codec::decode("", "v", b) == errc::corrupt);
    CHECK(!codec::decode(codec::blob_key(blob_kind::certificate, "abc"), "v", b));
    CHECK(b == blob_record{blob_kind::certificate, "abc", "v"});
}

TEST_CASE("codec: sequence keys sort numerically within a client, clients never interleave") {
    CHECK(codec::sequence_key("c", 2) < codec::sequence_key("c", 10));
    CHECK(codec::sequence_key("c", 255) < codec::sequence_key("c", 256));
    CHECK(codec::sequence_key("c", 1ull << 40) < codec::sequence_key("c", (1ull << 40) + 1));
    auto a = codec::client_prefix("a");
    auto ab = codec::client_prefix("ab");
    CHECK(!codec::sequence_key("ab", 0).starts_with(a));
    CHECK(!codec::subscription_key("a", "b").starts_with(ab));
}

TEST_CASE("codec: prefix_end bounds exactly the keys with the prefix") {
    auto p = codec::client_prefix("c");
    auto end = codec::prefix_end(p);
    CHECK(p < end);
    CHECK(codec::sequence_key("c", ~0ull) < end);
    CHECK(codec::subscription_key("c", std::string(1000, '\xff')) < end);
    CHECK(codec::client_prefix("d") >= end);
    CHECK(codec::prefix_end("a\xff") == "b");
    auto all_ff = codec::prefix_end("\xff\xff");
    CHECK(std::string("\xff\xff\xff") < all_ff);
}

TEST_CASE("codec: meta values") {
    CHECK(codec::decode_u32(codec::encode_u32(0xA1B2C3D4)) == 0xA1B2C3D4u);
    CHECK(codec::encode_u32(1) == std::string("\x01\x00\x00\x00", 4)); // little-endian
    CHECK(!codec::decode_u32("abc"));
    CHECK(!codec::decode_u32("abcde"));
    auto t = wall_time{std::chrono::milliseconds{1'234'567}};
    CHECK(codec::decode_time(codec::encode_time(t)) == t);
}

TEST_CASE("durability names") {
    durability d{};
    CHECK(parse_durability("fsync", d));
    CHECK(d == durability::fsync);
    CHECK(parse_durability("none", d));
    CHECK(d == durability::none);
    CHECK(!parse_durability("WAL", d));
    CHECK(to_string(durability::wal) == "wal");
}

TEST_CASE("error category: names and reports") {
    auto ec = make_error_code(errc::disk_full);
    CHECK(std::string(ec.category().name()) == "persist");
    CHECK(ec.message().find("space") != std::string::npos);
    boost::system::error_code converted = errc::locked;
    CHECK(converted == errc::locked);
}
