// Test helper of tests/cli/thinggatectl_data_test.sh and of the record_fuzz seed corpus.
//   make_data_dir write DIR     a new data dir holding the known records below
//   make_data_dir hold DIR      opens DIR, prints "locked", keeps it open until stdin closes
//                               (or the process is killed)
//   make_data_dir schema DIR    DIR (a data dir) relabelled as written by the next schema version
//   make_data_dir corpus DIR    one file per sample record in record_fuzz's input framing
//                               (u16 big-endian key length, key, value) into DIR
// The records: 2 sessions (one with a will), 3 subscriptions, 2 queued, 1 in flight,
// 1 incoming QoS 2 id, 2 retained, registry: 1 thing, 1 certificate, 1 operator account (its
// value holds "SECRET-HASH", which export must never print), jobs: 1 job, blobs: 1 firmware file.

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <string_view>

#include <rocksdb/db.h>

#include "persist/record_codec.hpp"
#include "persist/rocksdb/rocksdb_store.hpp"

namespace {

namespace fs = std::filesystem;
namespace persist = thinggate::persist;
namespace mqtt = thinggate::mqtt;

persist::wall_time at(std::int64_t ms) {
    return persist::wall_time(std::chrono::milliseconds(ms));
}

persist::message_record message(std::string topic, std::string payload) {
    persist::message_record m;
    m.topic = std::move(topic);
    m.payload = std::move(payload);
    m.qos = mqtt::qos::at_least_once;
    return m;
}

struct samples {
    persist::session_record session_a;
    persist::session_record session_b;
    persist::subscription_record sub_1;
    persist::subscription_record sub_2;
    persist::subscription_record sub_3;
    persist::queued_record queued_1;
    persist::queued_record queued_2;
    persist::inflight_record inflight;
    persist::qos2_in_record qos2;
    persist::message_record retained_text;
    persist::message_record retained_binary;
    persist::blob_record thing;
    persist::blob_record certificate;
    persist::blob_record operator_account;
    persist::blob_record job;
    persist::blob_record firmware;
};

samples make_samples() {
    samples s;
    s.session_a.client_id = "sensor-1";
    s.session_a.expiry_interval = 3600;
    s.session_a.disconnected_at = at(1'700'000'000'250);
    s.session_a.next_seq = 5;
    s.session_a.last_packet_id = 7;
    mqtt::will_message will;
    will.topic = "status/sensor-1";
    will.payload = "offline";
    will.qos = mqtt::qos::at_least_once;
    will.retain = true;
    will.props.will_delay_interval = 30;
    will.props.content_type = "text/plain";
    will.props.user_properties.push_back({"site", "north"});
    s.session_a.will = will;

    s.session_b.client_id = "legacy-2";
    s.session_b.version = mqtt::protocol_version::v311;
    s.session_b.expiry_interval = 0xFFFFFFFF;

    s.sub_1 = {"sensor-1", "cmd/sensor-1/#", {mqtt::qos::at_least_once, true, false, 0}, 12};
    s.sub_2 = {"sensor-1", "$share/g/jobs/+", {mqtt::qos::exactly_once, false, true, 2}, 0};
    s.sub_3 = {"legacy-2", "legacy/+/in", {mqtt::qos::at_most_once, false, false, 0}, 0};

    s.queued_1.client_id = "sensor-1";
    s.queued_1.seq = 3;
    s.queued_1.d.qos = mqtt::qos::at_least_once;
    s.queued_1.d.subscription_ids = {12};
    s.queued_1.d.msg = message("cmd/sensor-1/reboot", "now");
    s.queued_1.d.msg.props.correlation_data = std::string("\x01\x02\xff", 3);
    s.queued_1.d.msg.props.response_topic = "replies/ops";
    s.queued_1.d.msg.expires_at = at(4'102'444'800'000);
    s.queued_2.client_id = "sensor-1";
    s.queued_2.seq = 4;
    s.queued_2.d.qos = mqtt::qos::at_least_once;
    s.queued_2.d.msg = message("cmd/sensor-1/blink", "3");

    s.inflight.client_id = "legacy-2";
    s.inflight.seq = 1;
    s.inflight.packet_id = 42;
    s.inflight.state = persist::inflight_state::wait_pubrec;
    s.inflight.d.qos = mqtt::qos::exactly_once;
    s.inflight.d.msg = message("legacy/a/in", "hello");
    s.inflight.d.msg.qos = mqtt::qos::exactly_once;

    s.qos2 = {"sensor-1", 9};

    s.retained_text = message("status/sensor-1", "online");
    s.retained_text.retain = true;
    s.retained_text.props.payload_format_indicator = 1;
    s.retained_binary = message("firmware/latest", std::string("\x00\x01\x02\x80\xfe", 5));
    s.retained_binary.retain = true;

    s.thing = {persist::blob_kind::thing, "sensor-1", R"({"attributes":{"room":"lab"}})"};
    s.certificate = {
            persist::blob_kind::certificate,
            "3f2a",
            "-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n"};
    s.operator_account = {persist::blob_kind::operator_account, "admin", "SECRET-HASH"};
    s.job = {persist::blob_kind::job, "job-1", std::string("\x00job\xff", 5)};
    s.firmware = {persist::blob_kind::firmware_file, "fw-1.0.bin", std::string(4096, '\x5a')};
    return s;
}

int write(const fs::path& dir) {
    persist::rocksdb_options options;
    options.dir = dir;
    auto opened = persist::rocksdb_store::open(options);
    if (!opened) {
        std::cerr << opened.error().message << '\n';
        return 1;
    }
    auto s = make_samples();
    persist::write_batch b;
    b.put(s.session_a);
    b.put(s.session_b);
    b.put(s.sub_1);
    b.put(s.sub_2);
    b.put(s.sub_3);
    b.put(s.queued_1);
    b.put(s.queued_2);
    b.put(s.inflight);
    b.put(s.qos2);
    b.put_retained(s.retained_text);
    b.put_retained(s.retained_binary);
    b.put(s.thing);
    b.put(s.certificate);
    b.put(s.operator_account);
    b.put(s.job);
    b.put(s.firmware);
    b.put_heartbeat(at(1'700'000'100'000));
    if (auto ec = (*opened)->commit_sync(std::move(b), persist::durability::fsync)) {
        std::cerr << (*opened)->describe(ec) << '\n';
        return 1;
    }
    return 0;
}

int hold(const fs::path& dir) {
    persist::rocksdb_options options;
    options.dir = dir;
    options.create_if_missing = false;
    auto opened = persist::rocksdb_store::open(options);
    if (!opened) {
        std::cerr << opened.error().message << '\n';
        return 1;
    }
    std::cout << "locked" << std::endl;
    std::string line;
    while (std::getline(std::cin, line)) {
    }
    return 0;
}

void seed(
        const fs::path& dir, std::string_view name, std::string_view key, std::string_view value) {
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    auto n = static_cast<std::uint16_t>(key.size());
    char len[2] = {static_cast<char>(n >> 8), static_cast<char>(n & 0xFF)};
    out.write(len, 2);
    out.write(key.data(), static_cast<std::streamsize>(key.size()));
    out.write(value.data(), static_cast<std::streamsize>(value.size()));
}

int corpus(const fs::path& dir) {
    namespace codec = persist::codec;
    fs::create_directories(dir);
    auto s = make_samples();
    seed(dir,
         "session_will",
         codec::session_key(s.session_a.client_id),
         codec::encode(s.session_a));
    seed(dir,
         "session_v311",
         codec::session_key(s.session_b.client_id),
         codec::encode(s.session_b));
    seed(dir,
         "subscription_v5",
         codec::subscription_key(s.sub_1.client_id, s.sub_1.filter),
         codec::encode(s.sub_1));
    seed(dir,
         "subscription_shared",
         codec::subscription_key(s.sub_2.client_id, s.sub_2.filter),
         codec::encode(s.sub_2));
    seed(dir,
         "queued_props",
         codec::sequence_key(s.queued_1.client_id, s.queued_1.seq),
         codec::encode(s.queued_1));
    seed(dir,
         "queued_plain",
         codec::sequence_key(s.queued_2.client_id, s.queued_2.seq),
         codec::encode(s.queued_2));
    seed(dir,
         "inflight",
         codec::sequence_key(s.inflight.client_id, s.inflight.seq),
         codec::encode(s.inflight));
    seed(dir,
         "qos2_in",
         codec::qos2_in_key(s.qos2.client_id, s.qos2.packet_id),
         codec::encode(s.qos2));
    seed(dir,
         "retained_text",
         codec::retained_key(s.retained_text.topic),
         codec::encode(s.retained_text));
    seed(dir,
         "retained_binary",
         codec::retained_key(s.retained_binary.topic),
         codec::encode(s.retained_binary));
    seed(dir, "blob_thing", codec::blob_key(s.thing.kind, s.thing.name), s.thing.value);
    seed(dir, "blob_job", codec::blob_key(s.job.kind, s.job.name), s.job.value);
    return 0;
}

} // namespace

/// Rewrites the meta schema version to current + 1 (with RocksDB directly: the store would refuse).
int relabel_schema(const fs::path& dir) {
    std::vector<rocksdb::ColumnFamilyDescriptor> families{{rocksdb::kDefaultColumnFamilyName, {}}};
    for (std::size_t i = 0; i < persist::family_count; ++i) {
        families.emplace_back(std::string(persist::to_string(static_cast<persist::family>(i))),
                              rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    auto s = rocksdb::DB::Open(rocksdb::DBOptions(), dir.string(), families, &handles, &raw);
    if (!s.ok()) {
        std::cerr << "make_data_dir: " << s.ToString() << '\n';
        return 1;
    }
    std::unique_ptr<rocksdb::DB> db(raw);
    s = db->Put(rocksdb::WriteOptions(), handles.back(), persist::codec::meta_schema_key,
                persist::codec::encode_u32(persist::current_schema_version + 1));
    for (auto* h : handles) {
        db->DestroyColumnFamilyHandle(h);
    }
    if (!s.ok() || !db->Close().ok()) {
        std::cerr << "make_data_dir: " << s.ToString() << '\n';
        return 1;
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        std::cerr << "usage: make_data_dir write|hold|corpus DIR\n";
        return 2;
    }
    std::string_view mode = argv[1];
    fs::path dir = argv[2];
    if (mode == "write") {
        return write(dir);
    }
    if (mode == "hold") {
        return hold(dir);
    }
    if (mode == "schema") {
        return relabel_schema(dir);
    }
    if (mode == "corpus") {
        return corpus(dir);
    }
    std::cerr << "make_data_dir: unknown mode " << mode << '\n';
    return 2;
}
