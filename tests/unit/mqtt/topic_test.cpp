#include "mqtt/topic.hpp"

#include <string>

#include <doctest/doctest.h>

namespace {

using thinggate::mqtt::level_count;
using thinggate::mqtt::match_options;
using thinggate::mqtt::parse_shared;
using thinggate::mqtt::topic_matches;
using thinggate::mqtt::valid_topic_filter;
using thinggate::mqtt::valid_topic_name;

constexpr match_options aws{.hash_matches_parent = false};

} // namespace

TEST_CASE("topic name: non-empty, no wildcards, no NUL [MQTT-3.3.2-2] [MQTT-4.7.3-1]") {
    CHECK(valid_topic_name("a"));
    CHECK(valid_topic_name("/"));
    CHECK(valid_topic_name("a//b"));
    CHECK(valid_topic_name("$SYS/broker/load"));
    CHECK(valid_topic_name("dt/fleet42/thing1234/telemetry"));
    CHECK(valid_topic_name(" "));
    CHECK_FALSE(valid_topic_name(""));
    CHECK_FALSE(valid_topic_name("a/+"));
    CHECK_FALSE(valid_topic_name("a/#"));
    CHECK_FALSE(valid_topic_name("a+b"));
    CHECK_FALSE(valid_topic_name("a#"));
    CHECK_FALSE(valid_topic_name(std::string_view("a\0b", 3)));
}

TEST_CASE("topic filter: '#' only as the whole last level [MQTT-4.7.1-1]") {
    CHECK(valid_topic_filter("#"));
    CHECK(valid_topic_filter("sport/#"));
    CHECK(valid_topic_filter("sport/tennis/#"));
    CHECK(valid_topic_filter("/#"));
    CHECK_FALSE(valid_topic_filter("sport/tennis#"));
    CHECK_FALSE(valid_topic_filter("sport/tennis/#/ranking"));
    CHECK_FALSE(valid_topic_filter("#/"));
    CHECK_FALSE(valid_topic_filter("##"));
    CHECK_FALSE(valid_topic_filter("#a"));
}

TEST_CASE("topic filter: '+' only as a whole level [MQTT-4.7.1-2]") {
    CHECK(valid_topic_filter("+"));
    CHECK(valid_topic_filter("+/tennis/#"));
    CHECK(valid_topic_filter("sport/+/player1"));
    CHECK(valid_topic_filter("+/+"));
    CHECK(valid_topic_filter("/+"));
    CHECK(valid_topic_filter("+/"));
    CHECK(valid_topic_filter("a//+//b"));
    CHECK_FALSE(valid_topic_filter("sport+"));
    CHECK_FALSE(valid_topic_filter("sport/+player"));
    CHECK_FALSE(valid_topic_filter("++"));
    CHECK_FALSE(valid_topic_filter("+#"));
    CHECK_FALSE(valid_topic_filter("a/b+"));
}

TEST_CASE("topic filter: non-empty, no NUL [MQTT-4.7.3-1] [MQTT-4.7.3-2]") {
    CHECK_FALSE(valid_topic_filter(""));
    CHECK_FALSE(valid_topic_filter(std::string_view("a/\0", 3)));
    CHECK(valid_topic_filter("/"));
    CHECK(valid_topic_filter("a//b"));
    CHECK(valid_topic_filter("$SYS/#"));
}

TEST_CASE("parse_shared: well-formed shared filters [MQTT-4.8.2-1]") {
    auto s = parse_shared("$share/g/#");
    REQUIRE(s);
    CHECK(s->group == "g");
    CHECK(s->filter == "#");

    s = parse_shared("$share/consumers/dt/+/thing1/telemetry");
    REQUIRE(s);
    CHECK(s->group == "consumers");
    CHECK(s->filter == "dt/+/thing1/telemetry");

    s = parse_shared("$share/g//f"); // the filter "/f" starts with an empty level
    REQUIRE(s);
    CHECK(s->group == "g");
    CHECK(s->filter == "/f");

    CHECK(valid_topic_filter("$share/g/#"));
    CHECK(valid_topic_filter("$share/g/a/+/c"));
    CHECK(valid_topic_filter("$share/g//f"));
}

TEST_CASE("parse_shared: not a shared filter") {
    CHECK_FALSE(parse_shared("sport/#"));
    CHECK_FALSE(parse_shared("$share")); // an ordinary filter
    CHECK_FALSE(parse_shared("$shared/g/f"));
    CHECK_FALSE(parse_shared("$SHARE/g/f"));
    CHECK_FALSE(parse_shared("a/$share/g/f"));
    CHECK(valid_topic_filter("$share"));
}

TEST_CASE("parse_shared: malformed shared filters have an empty filter [MQTT-4.8.2-2]") {
    for (std::string_view f :
         {"$share/",
          "$share/g",
          "$share//f",
          "$share/g/",
          "$share/g+/f",
          "$share/+/f",
          "$share/#/f",
          "$share/g#/f",
          "$share/+"}) {
        CAPTURE(f);
        const auto s = parse_shared(f);
        REQUIRE(s);
        CHECK(s->filter.empty());
        CHECK_FALSE(valid_topic_filter(f));
    }
    CHECK(parse_shared("$share/g")->group == "g");
    CHECK(parse_shared("$share//f")->group.empty());
    // The inner filter must be valid on its own.
    CHECK_FALSE(valid_topic_filter("$share/g/a#"));
    CHECK_FALSE(valid_topic_filter("$share/g/#/a"));
    CHECK_FALSE(valid_topic_filter("$share/g/a+"));
}

TEST_CASE("matching: the multi-level wildcard examples of §4.7.1.2") {
    CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1"));
    CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
    CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
    CHECK(topic_matches("sport/#", "sport"));
    CHECK_FALSE(topic_matches("sport/tennis/player1/#", "sport/tennis/player2"));
    CHECK_FALSE(topic_matches("sport/tennis/player1/#", "sport/tennis"));
    CHECK(topic_matches("#", "sport"));
    CHECK(topic_matches("#", "/"));
    CHECK(topic_matches("#", "a/b/c/d"));
}

TEST_CASE("matching: the single-level wildcard examples of §4.7.1.3") {
    CHECK(topic_matches("sport/tennis/+", "sport/tennis/player1"));
    CHECK(topic_matches("sport/tennis/+", "sport/tennis/player2"));
    CHECK_FALSE(topic_matches("sport/tennis/+", "sport/tennis/player1/ranking"));
    CHECK_FALSE(topic_matches("sport/+", "sport"));
    CHECK(topic_matches("sport/+", "sport/"));
    CHECK(topic_matches("+/+", "/finance"));
    CHECK(topic_matches("/+", "/finance"));
    CHECK_FALSE(topic_matches("+", "/finance"));
    CHECK(topic_matches("+/tennis/#", "sport/tennis/player1"));
    CHECK(topic_matches("+/tennis/#", "sport/tennis"));
    CHECK_FALSE(topic_matches("+/tennis/#", "sport/golf"));
    CHECK(topic_matches("+", "a"));
    CHECK_FALSE(topic_matches("+", "a/b"));
}

TEST_CASE("matching: exact filters and empty levels") {
    CHECK(topic_matches("a/b", "a/b"));
    CHECK_FALSE(topic_matches("a/b", "a/b/"));
    CHECK_FALSE(topic_matches("a/b", "a"));
    CHECK_FALSE(topic_matches("a/b", "a/bc"));
    CHECK_FALSE(topic_matches("a/bc", "a/b"));
    CHECK_FALSE(topic_matches("a", "A"));
    CHECK(topic_matches("a//b", "a//b"));
    CHECK(topic_matches("a/+/b", "a//b"));
    CHECK_FALSE(topic_matches("a/b", "a//b"));
    CHECK(topic_matches("a/#", "a//b"));
    CHECK(topic_matches("/", "/"));
    CHECK(topic_matches("+/+", "/"));
    CHECK_FALSE(topic_matches("+", "/"));
    CHECK(topic_matches("/#", "/"));
    CHECK(topic_matches("/#", "/a/b"));
    CHECK_FALSE(topic_matches("/#", "a"));
    CHECK(topic_matches("a/+/+", "a//"));
    CHECK(topic_matches("a/#", "a/"));
}

TEST_CASE("matching: '$' topics are not matched by a leading wildcard [MQTT-4.7.2-1]") {
    CHECK_FALSE(topic_matches("#", "$SYS/x"));
    CHECK_FALSE(topic_matches("+/x", "$SYS/x"));
    CHECK_FALSE(topic_matches("+", "$SYS"));
    CHECK_FALSE(topic_matches("#", "$"));
    CHECK(topic_matches("$SYS/#", "$SYS/x"));
    CHECK(topic_matches("$SYS/+", "$SYS/x"));
    CHECK(topic_matches("$SYS/#", "$SYS"));
    CHECK(topic_matches("$SYS/x", "$SYS/x"));
    CHECK(topic_matches("$aws/things/+/shadow/#", "$aws/things/t1/shadow/update"));
    // '$' only counts as the first character of the topic.
    CHECK(topic_matches("#", "a/$SYS"));
    CHECK(topic_matches("+/$x", "a/$x"));
    CHECK(topic_matches("a/+", "a/$x"));
}

TEST_CASE("matching: aws-iot profile, '#' does not match its parent level") {
    CHECK_FALSE(topic_matches("sport/#", "sport", aws));
    CHECK(topic_matches("sport/#", "sport/tennis", aws));
    CHECK(topic_matches("sport/#", "sport/", aws));
    CHECK(topic_matches("#", "sport", aws));
    CHECK_FALSE(topic_matches("sport/tennis/player1/#", "sport/tennis/player1", aws));
    CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/ranking", aws));
    CHECK_FALSE(topic_matches("+/#", "sport", aws));
    CHECK(topic_matches("+/#", "sport"));
    CHECK_FALSE(topic_matches("#", "$SYS/x", aws));
}

TEST_CASE("level_count") {
    CHECK(level_count("") == 1);
    CHECK(level_count("a") == 1);
    CHECK(level_count("a/b") == 2);
    CHECK(level_count("/") == 2);
    CHECK(level_count("a//b/") == 4);
    CHECK(level_count("dt/fleet42/thing1234/telemetry") == 4);
    CHECK(level_count("sport/#") == 2);
}
