#include "persist/recovery.hpp"

#include <doctest/doctest.h>

#include "persist/memory_store.hpp"
#include "persist_test_util.hpp"

using namespace thinggate::persist;
using namespace thinggate::persist::test;
using std::chrono::seconds;

namespace {

const wall_time t0{std::chrono::milliseconds{1'800'000'000'000}};

session_record session_at(std::string id, std::uint32_t expiry, std::optional<wall_time> end) {
    session_record s;
    s.client_id = std::move(id);
    s.expiry_interval = expiry;
    s.disconnected_at = end;
    return s;
}

} // namespace

TEST_CASE("recovery: session expiry is measured in wall-clock time across the downtime") {
    auto s = session_at("c", 60, t0);
    CHECK(!session_expired(s, std::nullopt, t0 + seconds(59)));
    CHECK(session_expired(s, std::nullopt, t0 + seconds(60)));
    // Connected when the process stopped: the last heartbeat is its end.
    auto online = session_at("c", 60, std::nullopt);
    CHECK(session_expired(online, t0, t0 + seconds(61)));
    CHECK(!session_expired(online, t0, t0 + seconds(30)));
    // No heartbeat: the downtime is not held against it.
    CHECK(!session_expired(online, std::nullopt, t0 + seconds(3600)));
    CHECK(session_end(online, t0) == t0);
}

TEST_CASE(
        "recovery: purge removes expired sessions with their records, expired messages, orphans") {
    memory_store db;
    write_batch b;
    b.put_heartbeat(t0 + seconds(10));
    b.put(session_at("expired", 60, t0));
    b.put(sample_subscription("expired", "a/#"));
    b.put(sample_queued("expired", 1));
    b.put(sample_inflight("expired", 2));
    b.put(qos2_in_record{"expired", 5});
    b.put(session_at("alive", 3600, t0));
    b.put(sample_subscription("alive", "a/#"));
    b.put(session_at("was-online", 100, std::nullopt)); // heartbeat t0+10 -> ends at t0+110
    b.put(sample_queued("orphan", 1));                  // no session
    auto fresh = sample_queued("alive", 1);
    fresh.d.msg.expires_at = t0 + seconds(1000);
    b.put(fresh);
    auto stale = sample_queued("alive", 2);
    stale.d.msg.expires_at = t0 + seconds(100);
    b.put(stale);
    auto never = sample_queued("alive", 3);
    never.d.msg.expires_at.reset();
    b.put(never);
    auto old_retained = sample_message("r/old");
    old_retained.expires_at = t0;
    b.put_retained(old_retained);
    auto kept_retained = sample_message("r/kept");
    kept_retained.expires_at.reset();
    b.put_retained(kept_retained);
    REQUIRE(!db.commit_sync(std::move(b), durability::wal));

    CHECK(last_heartbeat(db).value() == t0 + seconds(10));
    auto stats = purge_expired(db, t0 + seconds(200), durability::wal);
    REQUIRE(stats.has_value());
    CHECK(stats->sessions == 2); // "expired" and "was-online"
    CHECK(stats->orphans == 1);
    CHECK(stats->queued_messages == 1);
    CHECK(stats->retained_messages == 1);

    collector c;
    REQUIRE(!db.load_all(c));
    REQUIRE(c.sessions.size() == 1);
    CHECK(c.sessions[0].client_id == "alive");
    CHECK(c.subscriptions.size() == 1);
    REQUIRE(c.queued.size() == 2);
    CHECK(c.queued[0].seq == 1);
    CHECK(c.queued[1].seq == 3);
    CHECK(c.inflight.empty());
    CHECK(c.qos2_in.empty());
    REQUIRE(c.retained.size() == 1);
    CHECK(c.retained[0].topic == "r/kept");

    auto again = purge_expired(db, t0 + seconds(200), durability::wal);
    REQUIRE(again.has_value());
    CHECK(again->sessions + again->orphans + again->queued_messages + again->retained_messages ==
          0);
}

TEST_CASE("recovery: a corrupt record stops the purge with corrupt, nothing removed") {
    memory_store db;
    write_batch b;
    b.put(session_at("expired", 1, t0));
    b.put_raw(family::sessions, std::string("\x00\x01x", 3), "garbage");
    REQUIRE(!db.commit_sync(std::move(b), durability::wal));
    auto r = purge_expired(db, t0 + seconds(100), durability::wal);
    REQUIRE(!r.has_value());
    CHECK(r.error() == errc::corrupt);
    CHECK(db.stats().keys[static_cast<std::size_t>(family::sessions)] == 2);
}
