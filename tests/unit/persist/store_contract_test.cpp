// One contract, run against both stores (memory_store and rocksdb_store).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <doctest/doctest.h>

#include "persist/memory_store.hpp"
#include "persist/rocksdb/rocksdb_store.hpp"
#include "persist_test_util.hpp"

using namespace thinggate::persist;
using namespace thinggate::persist::test;

namespace {

struct memory_fixture {
    std::shared_ptr<memory_store::data> data = std::make_shared<memory_store::data>();
    std::unique_ptr<memory_store> db = std::make_unique<memory_store>(data);

    store& get() { return *db; }

    void reopen() {
        db.reset();
        db = std::make_unique<memory_store>(data);
    }

    void fail_next_commit() { db->fail_next_commit(make_error_code(errc::disk_full)); }
};

struct rocksdb_fixture {
    temp_dir dir;
    std::unique_ptr<rocksdb_store> db;

    rocksdb_fixture() { open(); }

    void open() {
        rocksdb_options o;
        o.dir = dir.path() / "data";
        o.fault_injection = true;
        o.write_buffer_bytes = 4 << 20;
        auto r = rocksdb_store::open(o);
        REQUIRE_MESSAGE(r.has_value(), (r.has_value() ? "" : r.error().message));
        db = std::move(*r);
    }

    store& get() { return *db; }

    void reopen() {
        db.reset();
        open();
    }

    void fail_next_commit() { db->fail_next_write(true); }
};

std::vector<blob_record> sample_blobs() {
    return {
            {blob_kind::thing, "thing-1", "{\"attributes\":{}}"},
            {blob_kind::certificate, "ab12", std::string("\x00\x01\x02", 3)},
            {blob_kind::policy_version, "p1/2", "doc"},
            {blob_kind::job, "job-1", "job doc"},
            {blob_kind::stream, "s-1", "stream"},
    };
}

/// One record of every kind (firmware file included), as a batch.
write_batch everything() {
    write_batch b;
    b.put(sample_session("c1"));
    b.put(sample_subscription("c1", "a/+"));
    b.put(sample_subscription("c1", "$share/g/b/#"));
    b.put(sample_queued("c1", 1));
    b.put(sample_inflight("c1", 2));
    b.put(qos2_in_record{"c1", 9});
    b.put_retained(sample_message("r/1"));
    for (const auto& blob : sample_blobs()) {
        b.put(blob);
    }
    b.put(blob_record{blob_kind::firmware_file, "fw-1", std::string(100'000, 'x')});
    return b;
}

void check_everything(const store& s) {
    collector c;
    REQUIRE(!s.load_all(c));
    REQUIRE(c.sessions.size() == 1);
    CHECK(c.sessions[0] == sample_session("c1"));
    REQUIRE(c.subscriptions.size() == 2);
    CHECK(c.subscriptions[0] == sample_subscription("c1", "$share/g/b/#")); // key order
    CHECK(c.subscriptions[1] == sample_subscription("c1", "a/+"));
    REQUIRE(c.queued.size() == 1);
    CHECK(c.queued[0] == sample_queued("c1", 1));
    REQUIRE(c.inflight.size() == 1);
    CHECK(c.inflight[0] == sample_inflight("c1", 2));
    REQUIRE(c.qos2_in.size() == 1);
    CHECK(c.qos2_in[0] == qos2_in_record{"c1", 9});
    REQUIRE(c.retained.size() == 1);
    CHECK(c.retained[0] == sample_message("r/1"));
    auto blobs = sample_blobs(); // registry, jobs, streams in family then key order
    REQUIRE(c.blobs.size() == blobs.size());
    for (std::size_t i = 0; i < blobs.size(); ++i) {
        CHECK(c.blobs[i] == blobs[i]);
    }
    auto fw = s.get_blob(blob_kind::firmware_file, "fw-1");
    REQUIRE(fw.has_value());
    REQUIRE(fw->has_value());
    CHECK((*fw)->value.size() == 100'000);
}

bool wait_until(std::mutex& m, std::condition_variable& cv, const std::function<bool()>& pred) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, std::chrono::seconds(30), pred);
}

} // namespace

TEST_CASE_TEMPLATE(
        "store contract: put, load and erase every kind", F, memory_fixture, rocksdb_fixture) {
    F f;
    CHECK(f.get().schema_version() == current_schema_version);
    REQUIRE(!f.get().commit_sync(everything(), durability::wal));
    check_everything(f.get());

    auto session = f.get().get_session("c1");
    REQUIRE(session.has_value());
    CHECK(*session == sample_session("c1"));
    CHECK(f.get().get_session("nobody")->has_value() == false);
    auto cert = f.get().get_blob(blob_kind::certificate, "ab12");
    REQUIRE(cert.has_value());
    CHECK((*cert)->value == std::string("\x00\x01\x02", 3));

    write_batch erase;
    erase.erase_session("c1");
    erase.erase_subscription("c1", "a/+");
    erase.erase_subscription("c1", "$share/g/b/#");
    erase.erase_queued("c1", 1);
    erase.erase_inflight("c1", 2);
    erase.erase_qos2_in("c1", 9);
    erase.erase_retained("r/1");
    for (const auto& blob : sample_blobs()) {
        erase.erase_blob(blob.kind, blob.name);
    }
    erase.erase_blob(blob_kind::firmware_file, "fw-1");
    REQUIRE(!f.get().commit_sync(std::move(erase), durability::wal));
    collector c;
    REQUIRE(!f.get().load_all(c));
    CHECK(c.total() == 0);
    CHECK(f.get().get_blob(blob_kind::firmware_file, "fw-1")->has_value() == false);
}

TEST_CASE_TEMPLATE(
        "store contract: a put replaces, the last commit wins",
        F,
        memory_fixture,
        rocksdb_fixture) {
    F f;
    for (std::uint32_t i = 1; i <= 20; ++i) {
        write_batch b;
        auto s = sample_session("c");
        s.expiry_interval = i;
        b.put(s);
        f.get().commit(std::move(b), durability::none, {});
    }
    write_batch last;
    last.put(blob_record{blob_kind::thing, "t", "v"});
    REQUIRE(!f.get().commit_sync(std::move(last), durability::wal)); // after all the above
    auto s = f.get().get_session("c");
    REQUIRE(s->has_value());
    CHECK((*s)->expiry_interval == 20);
}

TEST_CASE_TEMPLATE(
        "store contract: a failed batch applies nothing, the next one succeeds",
        F,
        memory_fixture,
        rocksdb_fixture) {
    F f;
    write_batch before;
    before.put(sample_session("old"));
    REQUIRE(!f.get().commit_sync(std::move(before), durability::wal));

    f.fail_next_commit();
    auto ec = f.get().commit_sync(everything(), durability::wal);
    CHECK(ec == errc::disk_full);
    collector c;
    REQUIRE(!f.get().load_all(c));
    REQUIRE(c.total() == 1); // the earlier data, and nothing of the failed batch
    CHECK(c.sessions[0].client_id == "old");

    write_batch again = everything();
    again.erase_session("old");
    REQUIRE(!f.get().commit_sync(std::move(again), durability::wal));
    check_everything(f.get());
    f.reopen();
    check_everything(f.get());
}

TEST_CASE_TEMPLATE(
        "store contract: queued and in-flight entries come back in sequence order per client",
        F,
        memory_fixture,
        rocksdb_fixture) {
    F f;
    write_batch b;
    for (std::uint64_t seq : {300ull, 2ull, 1ull << 33, 256ull, 1ull}) {
        b.put(sample_queued("b", seq));
        b.put(sample_inflight("b", seq));
        b.put(sample_queued("a", seq + 1));
    }
    REQUIRE(!f.get().commit_sync(std::move(b), durability::wal));
    collector c;
    REQUIRE(!f.get().load_all(c));
    std::vector<std::pair<std::string, std::uint64_t>> order;
    for (const auto& q : c.queued) {
        order.emplace_back(q.client_id, q.seq);
    }
    std::vector<std::pair<std::string, std::uint64_t>> want{
            {"a", 2},
            {"a", 3},
            {"a", 257},
            {"a", 301},
            {"a", (1ull << 33) + 1},
            {"b", 1},
            {"b", 2},
            {"b", 256},
            {"b", 300},
            {"b", 1ull << 33}};
    CHECK(order == want);
    REQUIRE(c.inflight.size() == 5);
    CHECK(c.inflight.front().seq == 1);
    CHECK(c.inflight.back().seq == 1ull << 33);
}

TEST_CASE_TEMPLATE(
        "store contract: erase_client removes one client's records only",
        F,
        memory_fixture,
        rocksdb_fixture) {
    F f;
    write_batch b;
    for (std::string id : {"a", "ab", "b"}) {
        b.put(sample_session(id));
        b.put(sample_subscription(id, "x/y"));
        b.put(sample_queued(id, 1));
        b.put(sample_inflight(id, 2));
        b.put(qos2_in_record{id, 3});
    }
    b.put_retained(sample_message("a"));
    REQUIRE(!f.get().commit_sync(std::move(b), durability::wal));
    write_batch erase;
    erase.erase_client("a");
    REQUIRE(!f.get().commit_sync(std::move(erase), durability::wal));
    collector c;
    REQUIRE(!f.get().load_all(c));
    CHECK(c.sessions.size() == 2);
    CHECK(c.subscriptions.size() == 2);
    CHECK(c.queued.size() == 2);
    CHECK(c.inflight.size() == 2);
    CHECK(c.qos2_in.size() == 2);
    CHECK(c.retained.size() == 1);
    for (const auto& s : c.sessions) {
        CHECK(s.client_id != "a");
    }
    f.reopen();
    collector after;
    REQUIRE(!f.get().load_all(after));
    CHECK(after.total() == c.total());
}

TEST_CASE_TEMPLATE(
        "store contract: reopen returns the same state", F, memory_fixture, rocksdb_fixture) {
    F f;
    REQUIRE(!f.get().commit_sync(everything(), durability::wal));
    write_batch more;
    more.put(sample_queued("c2", 5));
    more.erase_qos2_in("c1", 9);
    REQUIRE(!f.get().commit_sync(std::move(more), durability::fsync));
    collector before;
    REQUIRE(!f.get().load_all(before));
    f.reopen();
    collector after;
    REQUIRE(!f.get().load_all(after));
    CHECK(after.sessions == before.sessions);
    CHECK(after.subscriptions == before.subscriptions);
    CHECK(after.queued == before.queued);
    CHECK(after.inflight == before.inflight);
    CHECK(after.qos2_in.empty());
    CHECK(after.retained == before.retained);
    CHECK(after.blobs == before.blobs);
}

TEST_CASE_TEMPLATE(
        "store contract: every durability mode is accepted", F, memory_fixture, rocksdb_fixture) {
    F f;
    for (auto d : {durability::none, durability::wal, durability::fsync}) {
        write_batch b;
        b.put(blob_record{blob_kind::thing, std::string(to_string(d)), "v"});
        CHECK(!f.get().commit_sync(std::move(b), d));
    }
    int n = 0;
    REQUIRE(!f.get().for_each_blob(blob_kind::thing, [&](blob_record&&) { return ++n > 0; }));
    CHECK(n == 3);
}

TEST_CASE_TEMPLATE(
        "store contract: concurrent commits from 4 threads complete exactly once",
        F,
        memory_fixture,
        rocksdb_fixture) {
    F f;
    constexpr int threads = 4;
    constexpr int per_thread = 250;
    std::vector<std::atomic<int>> calls(threads * per_thread);
    std::atomic<int> failures{0};
    std::mutex m;
    std::condition_variable cv;
    int done = 0;
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
        workers.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                int id = t * per_thread + i;
                write_batch b;
                b.put(sample_queued("client-" + std::to_string(t), static_cast<std::uint64_t>(i)));
                f.get().commit(
                        std::move(b), durability::wal, [&, id](boost::system::error_code ec) {
                            if (ec) {
                                ++failures;
                            }
                            calls[id].fetch_add(1);
                            std::lock_guard lock(m);
                            ++done;
                            cv.notify_all();
                        });
            }
        });
    }
    for (auto& w : workers) {
        w.join();
    }
    REQUIRE(wait_until(m, cv, [&] { return done == threads * per_thread; }));
    CHECK(failures == 0);
    for (auto& c : calls) {
        CHECK(c.load() == 1);
    }
    collector c;
    REQUIRE(!f.get().load_all(c));
    CHECK(c.queued.size() == threads * per_thread);
    auto st = f.get().stats();
    CHECK(st.commits == threads * per_thread);
    CHECK(st.writes <= st.commits); // group commit merges; never more writes than commits
    CHECK(st.keys[static_cast<std::size_t>(family::queued)] > 0);
}
