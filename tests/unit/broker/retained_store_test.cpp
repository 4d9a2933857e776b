#include "broker/retained_store.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace {

using thinggate::broker::clock;
using thinggate::broker::message;
using thinggate::broker::message_ptr;
using thinggate::broker::retained_store;
using thinggate::mqtt::match_options;
using thinggate::mqtt::topic_matches;
using namespace std::chrono_literals;

constexpr match_options aws{.hash_matches_parent = false};
const clock::time_point t0 = clock::time_point{} + 1000h;

message_ptr
msg(std::string topic,
    std::string payload,
    std::optional<clock::time_point> expires_at = std::nullopt) {
    auto m = thinggate::broker::make_message(topic, payload);
    m->retain = true;
    m->expires_at = expires_at;
    return m;
}

std::vector<std::string>
topics(const retained_store& store,
       std::string_view filter,
       match_options opts = {},
       clock::time_point now = t0) {
    std::vector<std::string> out;
    store.match(filter, opts, now, [&](const message_ptr& m) { out.push_back(m->topic.str()); });
    return out;
}

using strings = std::vector<std::string>;

} // namespace

TEST_CASE("retained_store: set, find, replace [MQTT-3.3.1-5]") {
    retained_store store;
    CHECK(store.size() == 0);
    CHECK(store.find("a/b", t0) == nullptr);
    CHECK_FALSE(store.set(nullptr));

    CHECK(store.set(msg("a/b", "1")));
    CHECK(store.size() == 1);
    REQUIRE(store.find("a/b", t0));
    CHECK(store.find("a/b", t0)->payload == "1");
    CHECK(store.find("a", t0) == nullptr);
    CHECK(store.find("a/b/", t0) == nullptr);

    CHECK(store.set(msg("a/b", "2")));
    CHECK(store.size() == 1);
    CHECK(store.find("a/b", t0)->payload == "2");
    CHECK(topics(store, "a/+") == strings{"a/b"});
}

TEST_CASE("retained_store: replacing frees the old message and keeps the key valid") {
    retained_store store;
    std::weak_ptr<const message> old;
    {
        auto first = msg(std::string(40, 'x') + "/long/topic/name", "1");
        old = first;
        store.set(std::move(first));
    }
    // The new message owns its own copy of the topic; the old one must be freed.
    store.set(msg(std::string(40, 'x') + "/long/topic/name", "2"));
    CHECK(old.expired());
    const auto found = store.find(std::string(40, 'x') + "/long/topic/name", t0);
    REQUIRE(found);
    CHECK(found->payload == "2");
    CHECK(topics(store, "#").size() == 1);
}

TEST_CASE("retained_store: an empty payload deletes [MQTT-3.3.1-6] [MQTT-3.3.1-7]") {
    retained_store store;
    CHECK_FALSE(store.set(msg("a/b", ""))); // nothing to delete, nothing stored
    CHECK(store.size() == 0);
    store.set(msg("a/b", "1"));
    store.set(msg("a/c", "1"));
    CHECK(store.set(msg("a/b", "")));
    CHECK(store.size() == 1);
    CHECK(store.find("a/b", t0) == nullptr);
    CHECK(topics(store, "a/#") == strings{"a/c"});
    CHECK_FALSE(store.set(msg("a/b", "")));
}

TEST_CASE("retained_store: expired messages are never returned, purge drops them") {
    retained_store store;
    store.set(msg("a/1", "x", t0 + 10s));
    store.set(msg("a/2", "x", t0 + 20s));
    store.set(msg("a/3", "x"));
    CHECK(store.find("a/1", t0));
    CHECK(store.find("a/1", t0 + 10s) == nullptr); // expires at exactly expires_at
    CHECK(topics(store, "a/+", {}, t0 + 9s) == strings{"a/1", "a/2", "a/3"});
    CHECK(topics(store, "a/+", {}, t0 + 10s) == strings{"a/2", "a/3"});
    CHECK(topics(store, "a/1", {}, t0 + 10s).empty());
    CHECK(topics(store, "#", {}, t0 + 1h) == strings{"a/3"});
    CHECK(store.size() == 3);
    CHECK(store.purge_expired(t0 + 15s) == 1);
    CHECK(store.size() == 2);
    CHECK(store.purge_expired(t0 + 15s) == 0);
    CHECK(store.purge_expired(t0 + 1h) == 1);
    CHECK(store.size() == 1);
    CHECK(store.find("a/3", t0 + 1000h));
}

TEST_CASE("retained_store: wildcard matching, ordered by topic") {
    retained_store store;
    for (const char* t :
         {"sport",
          "sport/",
          "sport/tennis",
          "sport/tennis/player1",
          "sport/tennis/player1/ranking",
          "sport/golf",
          "sportx",
          "sport!",
          "/finance",
          "$SYS/load",
          "$SYS",
          "a//b",
          "a/b"}) {
        store.set(msg(t, "x"));
    }
    CHECK(topics(store, "sport/#") == strings{"sport",
                                              "sport/",
                                              "sport/golf",
                                              "sport/tennis",
                                              "sport/tennis/player1",
                                              "sport/tennis/player1/ranking"});
    CHECK(topics(store, "sport/#", aws) == strings{"sport/",
                                                   "sport/golf",
                                                   "sport/tennis",
                                                   "sport/tennis/player1",
                                                   "sport/tennis/player1/ranking"});
    CHECK(topics(store, "sport/+") == strings{"sport/", "sport/golf", "sport/tennis"});
    CHECK(topics(store, "sport/tennis/+") == strings{"sport/tennis/player1"});
    CHECK(topics(store, "+") == strings{"sport", "sport!", "sportx"});
    CHECK(topics(store, "+/+") ==
          strings{"/finance", "a/b", "sport/", "sport/golf", "sport/tennis"});
    CHECK(topics(store, "/+") == strings{"/finance"});
    CHECK(topics(store, "+/tennis/#") ==
          strings{"sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking"});
    CHECK(topics(store, "a/+/b") == strings{"a//b"});
    CHECK(topics(store, "sport") == strings{"sport"});
}

TEST_CASE("retained_store: '$' topics are not matched by a leading wildcard [MQTT-4.7.2-1]") {
    retained_store store;
    for (const char* t : {"$SYS/x", "$SYS", "$aws/things/t1/shadow", "a", "!x", "%"}) {
        store.set(msg(t, "x"));
    }
    CHECK(topics(store, "#") == strings{"!x", "%", "a"});
    CHECK(topics(store, "+") == strings{"!x", "%", "a"});
    CHECK(topics(store, "+/x").empty());
    CHECK(topics(store, "$SYS/#") == strings{"$SYS", "$SYS/x"});
    CHECK(topics(store, "$SYS/+") == strings{"$SYS/x"});
    CHECK(topics(store, "$aws/things/+/shadow") == strings{"$aws/things/t1/shadow"});
}

namespace {

/// Levels chosen around the characters the skip scan reasons about: '!' sorts before '/',
/// '0' right after it, and one level is a prefix of another.
constexpr std::string_view words[] = {"a", "a!", "a0", "ab", "", "b", "b/"};

std::string random_topic(std::mt19937& rng) {
    std::string t;
    if (rng() % 8 == 0) {
        t = rng() % 2 == 0 ? "$s" : "$";
    }
    const std::size_t levels = 1 + rng() % 4;
    for (std::size_t i = 0; i < levels; ++i) {
        if (i > 0 || !t.empty()) {
            t += '/';
        }
        const auto w = words[rng() % std::size(words)];
        t += w == "b/" ? std::string_view("b") : w;
    }
    return t;
}

std::string random_filter(std::mt19937& rng) {
    std::string f;
    if (rng() % 10 == 0) {
        f = "$s";
    }
    const std::size_t levels = 1 + rng() % 4;
    for (std::size_t i = 0; i < levels; ++i) {
        if (i > 0 || !f.empty()) {
            f += '/';
        }
        const std::size_t r = rng() % 10;
        if (r < 3) {
            f += '+';
        } else if (r == 3 && i + 1 == levels) {
            f += '#';
        } else {
            const auto w = words[rng() % std::size(words)];
            f += w == "b/" ? std::string_view("b") : w;
        }
    }
    return f;
}

} // namespace

TEST_CASE("retained_store: random filters against topic_matches as oracle") {
    std::mt19937 rng(77u);
    retained_store store;
    std::set<std::string> live;       // unexpired at t0 + 5s
    std::set<std::string> all_topics; // everything stored
    for (int i = 0; i < 3000; ++i) {
        const std::string t = random_topic(rng);
        if (!thinggate::mqtt::valid_topic_name(t)) {
            continue;
        }
        const std::size_t r = rng() % 10;
        if (r == 0) {
            store.set(msg(t, "")); // delete
            live.erase(t);
            all_topics.erase(t);
        } else if (r == 1) {
            store.set(msg(t, "x", t0 + 1s)); // expired at the time of the queries
            live.erase(t);
            all_topics.insert(t);
        } else {
            store.set(msg(t, "x"));
            live.insert(t);
            all_topics.insert(t);
        }
    }
    CHECK(store.size() == all_topics.size());
    REQUIRE(live.size() > 100);

    std::size_t delivered = 0;
    for (int i = 0; i < 2000; ++i) {
        const std::string f = random_filter(rng);
        if (!thinggate::mqtt::valid_topic_filter(f)) {
            continue;
        }
        for (const match_options opts : {match_options{}, aws}) {
            strings want;
            for (const auto& t : live) {
                if (topic_matches(f, t, opts)) {
                    want.push_back(t);
                }
            }
            CAPTURE(f);
            CAPTURE(opts.hash_matches_parent);
            REQUIRE(topics(store, f, opts, t0 + 5s) == want);
            delivered += want.size();
        }
    }
    CHECK(delivered > 1000);

    CHECK(store.purge_expired(t0 + 5s) == all_topics.size() - live.size());
    CHECK(store.size() == live.size());
}
