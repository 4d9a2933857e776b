// RocksDB-only behaviour: the refusals at open (each leaving the dir unchanged), disk full and
// I/O errors on write, checkpoints.

#include "persist/rocksdb/rocksdb_store.hpp"

#include <fstream>

#include <doctest/doctest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>

#include "persist/record_codec.hpp"
#include "persist_test_util.hpp"

using namespace thinggate::persist;
using namespace thinggate::persist::test;
namespace fs = std::filesystem;

namespace {

rocksdb_options options_for(const fs::path& dir) {
    rocksdb_options o;
    o.dir = dir;
    o.write_buffer_bytes = 4 << 20;
    return o;
}

std::unique_ptr<rocksdb_store> open_ok(const rocksdb_options& o) {
    auto r = rocksdb_store::open(o);
    REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? "" : r.error().message));
    return std::move(*r);
}

/// Opens `o` expecting `want`; checks the report names the dir and that nothing changed.
void check_refused(const rocksdb_options& o, errc want) {
    auto before = snapshot(o.dir);
    auto r = rocksdb_store::open(o);
    REQUIRE(!r.has_value());
    CHECK(r.error().code == want);
    CAPTURE(r.error().message);
    CHECK(r.error().message.find(o.dir.string()) != std::string::npos);
    CHECK(r.error().message.find("Nothing in it was changed") != std::string::npos);
    CHECK(snapshot(o.dir) == before);
}

void write_sample_data(rocksdb_store& s) {
    write_batch b;
    for (int i = 0; i < 200; ++i) {
        b.put(sample_queued("client", static_cast<std::uint64_t>(i)));
    }
    b.put(sample_session("client"));
    REQUIRE(!s.commit_sync(std::move(b), durability::wal));
}

/// Our column families, for the tests that edit a database with RocksDB's API.
std::vector<rocksdb::ColumnFamilyDescriptor> our_families() {
    std::vector<rocksdb::ColumnFamilyDescriptor> d{{rocksdb::kDefaultColumnFamilyName, {}}};
    for (std::size_t i = 0; i < family_count; ++i) {
        d.emplace_back(
                std::string(to_string(static_cast<family>(i))), rocksdb::ColumnFamilyOptions());
    }
    return d;
}

void put_meta(const fs::path& dir, std::string_view key, const std::string& value) {
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    auto s = rocksdb::DB::Open(rocksdb::DBOptions(), dir.string(), our_families(), &handles, &raw);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    std::unique_ptr<rocksdb::DB> db(raw);
    REQUIRE(db->Put(rocksdb::WriteOptions(), handles.back(), key, value).ok());
    for (auto* h : handles) {
        db->DestroyColumnFamilyHandle(h);
    }
    REQUIRE(db->Close().ok());
}

std::vector<fs::path> files_ending(const fs::path& dir, std::string_view suffix) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().filename().string().ends_with(suffix)) {
            out.push_back(e.path());
        }
    }
    return out;
}

} // namespace

TEST_CASE("rocksdb: a new data dir gets the magic, the schema version and every family") {
    temp_dir t;
    auto o = options_for(t.path() / "nested" / "data");
    {
        auto s = open_ok(o);
        CHECK(s->dir() == o.dir);
        auto magic = s->get(family::meta, codec::meta_magic_key);
        REQUIRE(magic.has_value());
        CHECK(*magic == std::optional<std::string>("thinggate"));
        auto version = s->get(family::meta, codec::meta_schema_key);
        CHECK(codec::decode_u32(version->value()) == current_schema_version);
        CHECK(s->get(family::meta, codec::meta_created_key)->has_value());
    }
    std::vector<std::string> names;
    REQUIRE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), o.dir.string(), &names).ok());
    CHECK(names.size() == family_count + 1);
    for (const auto* n :
         {"sessions",
          "subscriptions",
          "messages",
          "inflight",
          "qos2_in",
          "retained",
          "registry",
          "jobs",
          "streams",
          "blobs",
          "meta"}) {
        CHECK(std::find(names.begin(), names.end(), n) != names.end());
    }
}

TEST_CASE("rocksdb: another program's RocksDB is refused as foreign, unchanged") {
    temp_dir t;
    auto dir = t.path() / "data";
    {
        rocksdb::Options o;
        o.create_if_missing = true;
        rocksdb::DB* raw = nullptr;
        REQUIRE(rocksdb::DB::Open(o, dir.string(), &raw).ok());
        std::unique_ptr<rocksdb::DB> db(raw);
        REQUIRE(db->Put(rocksdb::WriteOptions(), "their", "data").ok());
        REQUIRE(db->Close().ok());
    }
    check_refused(options_for(dir), errc::foreign_database);
}

TEST_CASE("rocksdb: a RocksDB with a meta family but no thinggate magic is foreign") {
    temp_dir t;
    auto dir = t.path() / "data";
    { auto s = open_ok(options_for(dir)); }
    put_meta(dir, codec::meta_magic_key, "someone-else");
    check_refused(options_for(dir), errc::foreign_database);
}

TEST_CASE("rocksdb: a creation interrupted before the meta write is finished at the next open") {
    temp_dir t;
    auto dir = t.path() / "data";
    {
        rocksdb::DBOptions o;
        o.create_if_missing = true;
        o.create_missing_column_families = true;
        std::vector<rocksdb::ColumnFamilyHandle*> handles;
        rocksdb::DB* raw = nullptr;
        REQUIRE(rocksdb::DB::Open(o, dir.string(), our_families(), &handles, &raw).ok());
        std::unique_ptr<rocksdb::DB> db(raw);
        for (auto* h : handles) {
            db->DestroyColumnFamilyHandle(h);
        }
        REQUIRE(db->Close().ok());
    }
    {
        auto s = open_ok(options_for(dir));
        CHECK(s->get(family::meta, codec::meta_magic_key)->has_value());
        write_sample_data(*s);
    }
    auto s = open_ok(options_for(dir)); // a normal open now
    CHECK(s->get_session("client")->has_value());
}

TEST_CASE(
        "rocksdb: our families with data but no magic are not taken for an interrupted creation") {
    temp_dir t;
    auto dir = t.path() / "data";
    {
        rocksdb::DBOptions o;
        o.create_if_missing = true;
        o.create_missing_column_families = true;
        std::vector<rocksdb::ColumnFamilyHandle*> handles;
        rocksdb::DB* raw = nullptr;
        REQUIRE(rocksdb::DB::Open(o, dir.string(), our_families(), &handles, &raw).ok());
        std::unique_ptr<rocksdb::DB> db(raw);
        REQUIRE(db->Put(rocksdb::WriteOptions(), handles[1], "k", "v").ok());
        for (auto* h : handles) {
            db->DestroyColumnFamilyHandle(h);
        }
        REQUIRE(db->Close().ok());
    }
    check_refused(options_for(dir), errc::foreign_database);
}

TEST_CASE("rocksdb: a directory with other files is refused as foreign, unchanged") {
    temp_dir t;
    auto dir = t.path() / "data";
    fs::create_directories(dir);
    std::ofstream(dir / "notes.txt") << "hello";
    check_refused(options_for(dir), errc::foreign_database);
    std::ofstream(t.path() / "file") << "x";
    auto o = options_for(t.path() / "file");
    auto r = rocksdb_store::open(o);
    REQUIRE(!r.has_value());
    CHECK(r.error().code == errc::foreign_database);
}

TEST_CASE("rocksdb: another schema version is refused, unchanged") {
    temp_dir t;
    auto dir = t.path() / "data";
    {
        auto s = open_ok(options_for(dir));
        write_sample_data(*s);
    }
    put_meta(dir, codec::meta_schema_key, codec::encode_u32(current_schema_version + 1));
    check_refused(options_for(dir), errc::schema_mismatch);
    auto r = rocksdb_store::open(options_for(dir));
    CHECK(r.error().message.find("schema version 2") != std::string::npos);
}

TEST_CASE("rocksdb: a second open of the same dir is refused as locked") {
    temp_dir t;
    auto o = options_for(t.path() / "data");
    auto first = open_ok(o);
    write_sample_data(*first);
    auto second = rocksdb_store::open(o);
    REQUIRE(!second.has_value());
    CHECK(second.error().code == errc::locked);
    CHECK(second.error().message.find(o.dir.string()) != std::string::npos);
    // The first one is unaffected.
    write_batch b;
    b.put(sample_session("after"));
    CHECK(!first->commit_sync(std::move(b), durability::wal));
    first.reset();
    auto third = open_ok(o); // the lock is released with the first
    CHECK(third->get_session("after")->has_value());
}

TEST_CASE("rocksdb: a truncated SST file is refused as corrupt, unchanged") {
    temp_dir t;
    auto o = options_for(t.path() / "data");
    {
        auto s = open_ok(o);
        write_sample_data(*s);
        REQUIRE(!s->flush());
    }
    auto ssts = files_ending(o.dir, ".sst");
    REQUIRE(!ssts.empty());
    fs::resize_file(ssts.front(), fs::file_size(ssts.front()) / 2);
    check_refused(o, errc::corrupt);
}

TEST_CASE("rocksdb: a garbled SST block is found by the checksum pass and refused, unchanged") {
    temp_dir t;
    auto o = options_for(t.path() / "data");
    {
        auto s = open_ok(o);
        write_sample_data(*s);
        REQUIRE(!s->flush());
    }
    // The biggest SST holds the queued messages; its first data block starts at offset 0.
    auto ssts = files_ending(o.dir, ".sst");
    REQUIRE(!ssts.empty());
    auto biggest = *std::max_element(ssts.begin(), ssts.end(), [](auto& a, auto& b) {
        return fs::file_size(a) < fs::file_size(b);
    });
    {
        std::fstream f(biggest, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(100);
        f.write("garbage!", 8);
    }
    check_refused(o, errc::corrupt);
}

TEST_CASE("rocksdb: a garbled MANIFEST is refused as corrupt, unchanged") {
    temp_dir t;
    auto o = options_for(t.path() / "data");
    {
        auto s = open_ok(o);
        write_sample_data(*s);
    }
    auto manifests = files_ending(o.dir, "");
    std::erase_if(manifests, [](const fs::path& p) {
        return !p.filename().string().starts_with("MANIFEST-");
    });
    REQUIRE(manifests.size() == 1);
    auto bytes = read_file(manifests.front());
    REQUIRE(bytes.size() > 20);
    for (std::size_t i = 10; i < bytes.size(); i += 7) {
        bytes[i] = static_cast<char>(bytes[i] ^ 0x5A);
    }
    std::ofstream(manifests.front(), std::ios::binary | std::ios::trunc) << bytes;
    check_refused(o, errc::corrupt);
}

TEST_CASE("rocksdb: disk full fails the commit, keeps the data, and the next commit succeeds") {
    temp_dir t;
    auto o = options_for(t.path() / "data");
    o.fault_injection = true;
    auto s = open_ok(o);
    write_sample_data(*s);

    s->fail_next_write(true);
    write_batch b;
    b.put(sample_session("lost"));
    b.put(sample_queued("lost", 1));
    CHECK(s->commit_sync(std::move(b), durability::wal) == errc::disk_full);
    CHECK(s->get_session("lost")->has_value() == false);
    CHECK(s->get_session("client")->has_value());
    CHECK(s->describe(make_error_code(errc::disk_full)).find(o.dir.string()) != std::string::npos);

    write_batch ok;
    ok.put(sample_session("kept"));
    CHECK(!s->commit_sync(std::move(ok), durability::fsync));
    auto st = s->stats();
    CHECK(st.failed_commits == 1);

    s->fail_next_write(false);
    write_batch io;
    io.put(sample_session("io"));
    CHECK(s->commit_sync(std::move(io), durability::wal) == errc::io_error);
    write_batch ok2;
    ok2.put(sample_session("kept2"));
    CHECK(!s->commit_sync(std::move(ok2), durability::wal));

    s.reset();
    auto again = open_ok(o);
    collector c;
    REQUIRE(!again->load_all(c));
    std::vector<std::string> ids;
    for (auto& r : c.sessions) {
        ids.push_back(r.client_id);
    }
    CHECK(ids.size() == 3);
    CHECK(std::find(ids.begin(), ids.end(), "kept") != ids.end());
    CHECK(std::find(ids.begin(), ids.end(), "kept2") != ids.end());
    CHECK(c.queued.size() == 200);
}

TEST_CASE("rocksdb: a checkpoint opens as a store with the same state") {
    temp_dir t;
    auto o = options_for(t.path() / "data");
    auto s = open_ok(o);
    write_sample_data(*s);
    REQUIRE(!s->checkpoint(t.path() / "cp"));
    CHECK(s->checkpoint(t.path() / "cp") != boost::system::error_code{}); // target exists
    write_batch later;
    later.put(sample_session("later"));
    REQUIRE(!s->commit_sync(std::move(later), durability::wal));
    auto cp = open_ok(options_for(t.path() / "cp"));
    collector a;
    REQUIRE(!cp->load_all(a));
    CHECK(a.queued.size() == 200);
    CHECK(a.sessions.size() == 1); // not "later"
    CHECK(!s->compact());
    auto st = s->stats();
    CHECK(st.disk_bytes > 0);
}

TEST_CASE("rocksdb: commits after close complete with closed") {
    temp_dir t;
    auto s = open_ok(options_for(t.path() / "data"));
    s->close();
    s->close(); // idempotent
    boost::system::error_code got;
    bool called = false;
    write_batch b;
    b.put(sample_session("x"));
    s->commit(std::move(b), durability::wal, [&](boost::system::error_code ec) {
        got = ec;
        called = true;
    });
    CHECK(called);
    CHECK(got == errc::closed);
    CHECK(s->get(family::sessions, "x").error() == errc::closed);
}

TEST_CASE("rocksdb: no path is an invalid argument") {
    auto r = rocksdb_store::open(rocksdb_options{});
    REQUIRE(!r.has_value());
    CHECK(r.error().code == errc::invalid_argument);
}
