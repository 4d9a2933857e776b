#include "broker/subscription_index.hpp"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <doctest/doctest.h>

namespace {

using thinggate::broker::shared_group;
using thinggate::broker::subscription_data;
using thinggate::broker::subscription_index;
using thinggate::mqtt::match_options;
using thinggate::mqtt::topic_matches;

constexpr match_options aws{.hash_matches_parent = false};

subscription_data with_id(std::uint32_t id) {
    subscription_data d;
    d.subscription_id = id;
    return d;
}

/// What one match() delivered, as sorted (subscriber, subscription id) pairs for normal ones and
/// sorted (group, member ids) for shared ones.
struct matched {
    std::vector<std::pair<int, std::uint32_t>> normal;
    std::vector<std::pair<std::string, std::vector<std::uint32_t>>> shared;
};

matched
run_match(const subscription_index<int>& idx, std::string_view topic, match_options opts = {}) {
    matched m;
    idx.match(
            topic,
            opts,
            [&](const int& s, const subscription_data& d) {
                m.normal.emplace_back(s, d.subscription_id);
            },
            [&](const shared_group<int>& g) {
                std::vector<std::uint32_t> ids;
                for (const auto& [s, d] : g.members) {
                    ids.push_back(d.subscription_id);
                }
                std::sort(ids.begin(), ids.end());
                m.shared.emplace_back(g.group, std::move(ids));
            });
    std::sort(m.normal.begin(), m.normal.end());
    std::sort(m.shared.begin(), m.shared.end());
    return m;
}

std::vector<int>
subscribers(const subscription_index<int>& idx, std::string_view topic, match_options opts = {}) {
    std::vector<int> out;
    for (const auto& [s, id] : run_match(idx, topic, opts).normal) {
        out.push_back(s);
    }
    return out;
}

using subs = std::vector<int>;

} // namespace

TEST_CASE("subscription_index: an empty index matches nothing") {
    subscription_index<int> idx;
    CHECK(idx.size() == 0);
    CHECK(idx.node_count() == 1);
    CHECK(subscribers(idx, "a/b").empty());
    CHECK(subscribers(idx, "$SYS/x").empty());
}

TEST_CASE("subscription_index: the matching table of §4.7") {
    subscription_index<int> idx;
    const std::vector<std::string> filters = {
            "sport/tennis/player1/#", // 0
            "sport/#",                // 1
            "#",                      // 2
            "sport/tennis/+",         // 3
            "sport/+",                // 4
            "+/+",                    // 5
            "/+",                     // 6
            "+",                      // 7
            "+/tennis/#",             // 8
            "sport/tennis/player1",   // 9
    };
    for (std::size_t i = 0; i < filters.size(); ++i) {
        CHECK(idx.insert(filters[i], "", static_cast<int>(i), with_id(0)));
    }
    CHECK(idx.size() == filters.size());
    CHECK(subscribers(idx, "sport/tennis/player1") == subs{0, 1, 2, 3, 8, 9});
    CHECK(subscribers(idx, "sport/tennis/player1/ranking") == subs{0, 1, 2, 8});
    CHECK(subscribers(idx, "sport/tennis/player1/score/wimbledon") == subs{0, 1, 2, 8});
    CHECK(subscribers(idx, "sport") == subs{1, 2, 7});
    CHECK(subscribers(idx, "sport/") == subs{1, 2, 4, 5});
    CHECK(subscribers(idx, "sport/tennis") == subs{1, 2, 4, 5, 8});
    CHECK(subscribers(idx, "/finance") == subs{2, 5, 6});
    CHECK(subscribers(idx, "golf") == subs{2, 7});
    // aws-iot: '#' does not match its parent level.
    CHECK(subscribers(idx, "sport/tennis/player1", aws) == subs{1, 2, 3, 8, 9});
    CHECK(subscribers(idx, "sport", aws) == subs{2, 7});
    CHECK(subscribers(idx, "sport/tennis", aws) == subs{1, 2, 4, 5});
}

TEST_CASE("subscription_index: '$' topics and leading wildcards [MQTT-4.7.2-1]") {
    subscription_index<int> idx;
    idx.insert("#", "", 1, {});
    idx.insert("+/x", "", 2, {});
    idx.insert("$SYS/#", "", 3, {});
    idx.insert("$SYS/+", "", 4, {});
    idx.insert("+", "", 5, {});
    idx.insert("$SYS/x", "", 6, {});
    idx.insert("#", "g", 7, {});
    CHECK(subscribers(idx, "$SYS/x") == subs{3, 4, 6});
    CHECK(run_match(idx, "$SYS/x").shared.empty());
    CHECK(subscribers(idx, "$SYS") == subs{3});
    CHECK(subscribers(idx, "$SYS", aws).empty());
    CHECK(subscribers(idx, "a/x") == subs{1, 2});
    CHECK(run_match(idx, "a/x").shared.size() == 1);
    CHECK(subscribers(idx, "a/$SYS") == subs{1});
}

TEST_CASE("subscription_index: empty levels are levels") {
    subscription_index<int> idx;
    idx.insert("a//b", "", 1, {});
    idx.insert("a/+/b", "", 2, {});
    idx.insert("a/b", "", 3, {});
    idx.insert("/", "", 4, {});
    idx.insert("+/+", "", 5, {});
    idx.insert("+", "", 6, {});
    CHECK(subscribers(idx, "a//b") == subs{1, 2});
    CHECK(subscribers(idx, "a/b") == subs{3, 5});
    CHECK(subscribers(idx, "/") == subs{4, 5});
}

TEST_CASE("subscription_index: overlapping filters deliver once per subscription") {
    subscription_index<int> idx;
    idx.insert("a/b", "", 1, with_id(11));
    idx.insert("a/+", "", 1, with_id(12));
    idx.insert("a/#", "", 1, with_id(13));
    idx.insert("#", "", 1, with_id(14));
    idx.insert("a/b", "", 2, with_id(21));
    CHECK(idx.size() == 5);
    const auto m = run_match(idx, "a/b");
    const std::vector<std::pair<int, std::uint32_t>> expected = {
            {1, 11}, {1, 12}, {1, 13}, {1, 14}, {2, 21}};
    CHECK(m.normal == expected);
}

TEST_CASE("subscription_index: same subscriber and filter replaces [MQTT-3.8.4-3]") {
    subscription_index<int> idx;
    CHECK(idx.insert("a/b", "", 1, with_id(1)));
    CHECK_FALSE(idx.insert("a/b", "", 1, with_id(2)));
    CHECK(idx.size() == 1);
    auto m = run_match(idx, "a/b");
    REQUIRE(m.normal.size() == 1);
    CHECK(m.normal[0].second == 2);

    // The same subscriber in a share group on the same filter is a different subscription.
    CHECK(idx.insert("a/b", "g", 1, with_id(3)));
    CHECK_FALSE(idx.insert("a/b", "g", 1, with_id(4)));
    CHECK(idx.size() == 2);
    m = run_match(idx, "a/b");
    REQUIRE(m.shared.size() == 1);
    CHECK(m.shared[0].second == std::vector<std::uint32_t>{4});
}

TEST_CASE("subscription_index: erase and pruning") {
    subscription_index<int> idx;
    CHECK_FALSE(idx.erase("a/b", "", 1));
    idx.insert("a/b/c", "", 1, {});
    idx.insert("a/+/c", "", 1, {});
    idx.insert("a/#", "", 2, {});
    idx.insert("a/b/c", "g", 3, {});
    CHECK(idx.size() == 4);
    // root, a, a/b, a/b/c, a/+, a/+/c, a/#
    CHECK(idx.node_count() == 7);

    CHECK_FALSE(idx.erase("a/b/c", "", 2));   // other subscriber
    CHECK_FALSE(idx.erase("a/b", "", 1));     // inner node without that subscription
    CHECK_FALSE(idx.erase("a/b/c", "h", 3));  // other group
    CHECK_FALSE(idx.erase("a/b/c/d", "", 1)); // path does not exist
    CHECK(idx.size() == 4);

    CHECK(idx.erase("a/b/c", "", 1));
    CHECK_FALSE(idx.erase("a/b/c", "", 1));
    CHECK(idx.node_count() == 7); // the share group keeps a/b/c
    CHECK(subscribers(idx, "a/b/c") == subs{1, 2});
    CHECK(run_match(idx, "a/b/c").shared.size() == 1);

    CHECK(idx.erase("a/b/c", "g", 3));
    CHECK(idx.node_count() == 5); // a/b/c and a/b pruned
    CHECK(run_match(idx, "a/b/c").shared.empty());

    CHECK(idx.erase("a/+/c", "", 1));
    CHECK(idx.node_count() == 3); // root, a, a/#
    CHECK(idx.erase("a/#", "", 2));
    CHECK(idx.node_count() == 1);
    CHECK(idx.size() == 0);
    CHECK(subscribers(idx, "a/b/c").empty());

    // Usable again after full pruning.
    CHECK(idx.insert("a/b/c", "", 1, {}));
    CHECK(subscribers(idx, "a/b/c") == subs{1});
}

TEST_CASE("subscription_index: a level with many children (small vector to hash map and back)") {
    subscription_index<int> idx;
    constexpr int n = 200;
    for (int i = 0; i < n; ++i) {
        CHECK(idx.insert("dt/thing" + std::to_string(i) + "/cmd", "", i, {}));
    }
    CHECK(idx.node_count() == 2 + 2 * n);
    for (int i = 0; i < n; ++i) {
        CHECK(subscribers(idx, "dt/thing" + std::to_string(i) + "/cmd") == subs{i});
    }
    CHECK(subscribers(idx, "dt/thing" + std::to_string(n) + "/cmd").empty());
    // Down to 3 children (back to the small form), then up again.
    for (int i = 3; i < n; ++i) {
        CHECK(idx.erase("dt/thing" + std::to_string(i) + "/cmd", "", i));
    }
    CHECK(idx.node_count() == 2 + 2 * 3);
    for (int i = 0; i < n; ++i) {
        CHECK(subscribers(idx, "dt/thing" + std::to_string(i) + "/cmd") ==
              (i < 3 ? subs{i} : subs{}));
    }
    for (int i = 3; i < 20; ++i) {
        CHECK(idx.insert("dt/thing" + std::to_string(i) + "/cmd", "", i, {}));
    }
    CHECK(subscribers(idx, "dt/thing19/cmd") == subs{19});
    for (int i = 0; i < 20; ++i) {
        CHECK(idx.erase("dt/thing" + std::to_string(i) + "/cmd", "", i));
    }
    CHECK(idx.node_count() == 1);
}

TEST_CASE("subscription_index: shared groups [MQTT-4.8.2-1]") {
    subscription_index<int> idx;
    // Two groups on one filter, a group name reused on another filter, and a normal subscription.
    idx.insert("dt/+/telemetry", "g1", 1, with_id(101));
    idx.insert("dt/+/telemetry", "g1", 2, with_id(102));
    idx.insert("dt/+/telemetry", "g2", 3, with_id(203));
    idx.insert("dt/#", "g1", 4, with_id(304));
    idx.insert("dt/t1/telemetry", "", 5, with_id(5));
    CHECK(idx.size() == 5);

    const auto m = run_match(idx, "dt/t1/telemetry");
    CHECK(m.normal == std::vector<std::pair<int, std::uint32_t>>{{5, 5}});
    using group_ids = std::vector<std::pair<std::string, std::vector<std::uint32_t>>>;
    CHECK(m.shared == group_ids{{"g1", {101, 102}}, {"g1", {304}}, {"g2", {203}}});

    CHECK(run_match(idx, "dt/t1/status").shared == group_ids{{"g1", {304}}});

    // Removing the last member removes the group, not the others.
    CHECK(idx.erase("dt/+/telemetry", "g2", 3));
    CHECK(run_match(idx, "dt/t1/telemetry").shared == group_ids{{"g1", {101, 102}}, {"g1", {304}}});
    CHECK(idx.erase("dt/+/telemetry", "g1", 1));
    CHECK(run_match(idx, "dt/t1/telemetry").shared == group_ids{{"g1", {102}}, {"g1", {304}}});
    CHECK(idx.size() == 3);
}

TEST_CASE("subscription_index: round-robin cursor is usable through a const match") {
    subscription_index<int> idx;
    idx.insert("q", "workers", 1, {});
    idx.insert("q", "workers", 2, {});
    idx.insert("q", "workers", 3, {});
    std::vector<int> picked;
    for (int i = 0; i < 6; ++i) {
        idx.match(
                "q",
                {},
                [](const int&, const subscription_data&) {},
                [&](const shared_group<int>& g) {
                    const auto n = g.next.fetch_add(1, std::memory_order_relaxed);
                    picked.push_back(g.members[n % g.members.size()].first);
                });
    }
    CHECK(picked == std::vector<int>{1, 2, 3, 1, 2, 3});
}

TEST_CASE("subscription_index: hash_matches_parent false") {
    subscription_index<int> idx;
    idx.insert("a/#", "", 1, {});
    idx.insert("a/#", "g", 2, {});
    idx.insert("#", "", 3, {});
    idx.insert("a/+/#", "", 4, {});
    CHECK(subscribers(idx, "a") == subs{1, 3});
    CHECK(run_match(idx, "a").shared.size() == 1);
    CHECK(subscribers(idx, "a", aws) == subs{3});
    CHECK(run_match(idx, "a", aws).shared.empty());
    CHECK(subscribers(idx, "a/b", aws) == subs{1, 3});
    CHECK(subscribers(idx, "a/b") == subs{1, 3, 4});
    CHECK(subscribers(idx, "a/b/c", aws) == subs{1, 3, 4});
}

TEST_CASE("subscription_index: many subscribers on one filter (hash index path)") {
    subscription_index<int> idx;
    constexpr int n = 1000;
    for (int i = 0; i < n; ++i) {
        CHECK(idx.insert("cmd/all", "", i, with_id(static_cast<std::uint32_t>(i))));
    }
    for (int i = 0; i < n; i += 7) {
        CHECK_FALSE(idx.insert("cmd/all", "", i, with_id(static_cast<std::uint32_t>(i + n))));
    }
    CHECK(idx.size() == n);
    // Erase the odd ones; the moved entries must still be found by the index.
    for (int i = 1; i < n; i += 2) {
        CHECK(idx.erase("cmd/all", "", i));
    }
    for (int i = 1; i < n; i += 2) {
        CHECK_FALSE(idx.erase("cmd/all", "", i));
    }
    const auto m = run_match(idx, "cmd/all");
    REQUIRE(m.normal.size() == n / 2);
    for (std::size_t k = 0; k < m.normal.size(); ++k) {
        const int s = static_cast<int>(k) * 2;
        CHECK(m.normal[k].first == s);
        CHECK(m.normal[k].second == static_cast<std::uint32_t>(s % 7 == 0 ? s + n : s));
    }
    // Shrink below the threshold and keep working without the index.
    for (int i = 0; i < n - 10; i += 2) {
        CHECK(idx.erase("cmd/all", "", i));
    }
    CHECK(subscribers(idx, "cmd/all") == subs{990, 992, 994, 996, 998});
    CHECK_FALSE(idx.insert("cmd/all", "", 994, {}));
    CHECK(idx.insert("cmd/all", "", 3, {}));
    CHECK(idx.size() == 6);
}

namespace {
/// A subscriber type without std::hash: exercises the linear path.
struct plain_subscriber {
    int id;
    friend bool operator==(const plain_subscriber&, const plain_subscriber&) = default;
};
} // namespace

TEST_CASE("subscription_index: works with a subscriber type without std::hash") {
    subscription_index<plain_subscriber> idx;
    for (int i = 0; i < 100; ++i) {
        CHECK(idx.insert("a/+", "", plain_subscriber{i}, {}));
    }
    CHECK_FALSE(idx.insert("a/+", "", plain_subscriber{50}, {}));
    CHECK(idx.erase("a/+", "", plain_subscriber{50}));
    int count = 0;
    idx.match(
            "a/b",
            {},
            [&](const plain_subscriber&, const subscription_data&) { ++count; },
            [](const auto&) {});
    CHECK(count == 99);
}

TEST_CASE("subscription_index: shared_ptr subscribers") {
    subscription_index<std::shared_ptr<int>> idx;
    auto a = std::make_shared<int>(1);
    auto b = std::make_shared<int>(1); // equal value, different subscriber
    CHECK(idx.insert("x", "", a, {}));
    CHECK(idx.insert("x", "", b, {}));
    CHECK_FALSE(idx.insert("x", "", a, {}));
    CHECK(idx.erase("x", "", a));
    CHECK(idx.size() == 1);
}

TEST_CASE("subscription_index: deep topics do not recurse") {
    subscription_index<int> idx;
    std::string filter;
    std::string topic;
    for (int i = 0; i < 5000; ++i) {
        filter += i == 0 ? "+" : "/+";
        topic += i == 0 ? "x" : "/x";
    }
    idx.insert(filter, "", 1, {});
    idx.insert(topic, "", 2, {}); // a literal path next to the '+' one: 5000 pending branches
    idx.insert("#", "", 3, {});
    CHECK(subscribers(idx, topic) == subs{1, 2, 3});
    CHECK(idx.erase(filter, "", 1));
    CHECK(subscribers(idx, topic) == subs{2, 3});
}

namespace {

/// Random filters and topics over a small alphabet so that they collide often.
struct random_case {
    explicit random_case(std::uint32_t seed)
        : rng(seed) {}

    std::mt19937 rng;
    static constexpr std::string_view words[] = {"a", "b", "c", "", "dev1", "$SYS"};

    std::size_t pick(std::size_t n) { return rng() % n; }

    std::string topic() {
        std::string t;
        const std::size_t levels = 1 + pick(5);
        for (std::size_t i = 0; i < levels; ++i) {
            if (i > 0) {
                t += '/';
            }
            const auto w = words[pick(std::size(words))];
            if (i > 0 && w == "$SYS") {
                t += "d";
            } else {
                t += w;
            }
        }
        return t;
    }

    std::string filter() {
        std::string f;
        const std::size_t levels = 1 + pick(5);
        for (std::size_t i = 0; i < levels; ++i) {
            if (i > 0) {
                f += '/';
            }
            const std::size_t r = pick(10);
            if (r < 3) {
                f += '+';
            } else if (r == 3 && i + 1 == levels) {
                f += '#';
            } else {
                const auto w = words[pick(std::size(words))];
                f += (i > 0 && w == "$SYS") ? std::string_view("d") : w;
            }
        }
        return f;
    }
};

struct sub_record {
    std::string filter;
    std::string group;
    int subscriber;
    std::uint32_t id;
};

matched oracle(const std::vector<sub_record>& all, std::string_view topic, match_options opts) {
    matched m;
    std::vector<std::tuple<std::string, std::string, std::uint32_t>> shared; // filter, group, id
    for (const auto& r : all) {
        if (!topic_matches(r.filter, topic, opts)) {
            continue;
        }
        if (r.group.empty()) {
            m.normal.emplace_back(r.subscriber, r.id);
        } else {
            shared.emplace_back(r.filter, r.group, r.id);
        }
    }
    std::sort(shared.begin(), shared.end());
    // One entry per (filter, group), members' ids sorted.
    for (std::size_t i = 0; i < shared.size();) {
        std::size_t j = i;
        std::vector<std::uint32_t> ids;
        while (j < shared.size() && std::get<0>(shared[j]) == std::get<0>(shared[i]) &&
               std::get<1>(shared[j]) == std::get<1>(shared[i])) {
            ids.push_back(std::get<2>(shared[j]));
            ++j;
        }
        m.shared.emplace_back(std::get<1>(shared[i]), std::move(ids));
        i = j;
    }
    std::sort(m.normal.begin(), m.normal.end());
    std::sort(m.shared.begin(), m.shared.end());
    return m;
}

} // namespace

TEST_CASE("subscription_index: 10k random filters against topic_matches as oracle") {
    random_case rc(20240611u);
    subscription_index<int> idx;
    std::vector<sub_record> all;
    std::set<std::tuple<std::string, std::string, int>> keys;
    std::uint32_t next_id = 1;
    while (all.size() < 10000) {
        sub_record r{rc.filter(), "", static_cast<int>(rc.pick(50)), next_id};
        if (rc.pick(8) == 0) {
            r.group = rc.pick(2) == 0 ? "g1" : "g2";
        }
        if (r.filter.empty()) {
            continue; // the only invalid filter the generator makes
        }
        REQUIRE(thinggate::mqtt::valid_topic_filter(r.filter));
        if (!keys.emplace(r.filter, r.group, r.subscriber).second) {
            CHECK_FALSE(idx.insert(r.filter, r.group, r.subscriber, with_id(r.id)));
            // replaced: update the record
            for (auto& old : all) {
                if (old.filter == r.filter && old.group == r.group &&
                    old.subscriber == r.subscriber) {
                    old.id = r.id;
                }
            }
        } else {
            CHECK(idx.insert(r.filter, r.group, r.subscriber, with_id(r.id)));
            all.push_back(r);
        }
        ++next_id;
    }
    CHECK(idx.size() == all.size());

    std::size_t delivered = 0; // guards against a generator that never matches anything
    const auto check_topics = [&](int count) {
        for (int i = 0; i < count; ++i) {
            const std::string topic = rc.topic();
            if (topic.empty()) {
                continue;
            }
            for (const match_options opts : {match_options{}, aws}) {
                const auto got = run_match(idx, topic, opts);
                const auto want = oracle(all, topic, opts);
                CAPTURE(topic);
                CAPTURE(opts.hash_matches_parent);
                REQUIRE(got.normal == want.normal);
                REQUIRE(got.shared == want.shared);
                delivered += got.normal.size() + got.shared.size();
            }
        }
    };
    check_topics(300);
    CHECK(delivered > 10000);

    // Erase a random half and check again, then erase the rest: the trie is pruned to the root.
    std::shuffle(all.begin(), all.end(), rc.rng);
    const std::size_t half = all.size() / 2;
    for (std::size_t i = half; i < all.size(); ++i) {
        REQUIRE(idx.erase(all[i].filter, all[i].group, all[i].subscriber));
    }
    all.resize(half);
    CHECK(idx.size() == half);
    check_topics(300);
    for (const auto& r : all) {
        REQUIRE(idx.erase(r.filter, r.group, r.subscriber));
    }
    CHECK(idx.size() == 0);
    CHECK(idx.node_count() == 1);
}
