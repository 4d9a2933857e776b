// broker/message: one block per message, and the per-thread cache of freed blocks.
#include "broker/message.hpp"

#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

using thinggate::broker::cached_message_bytes;
using thinggate::broker::make_message;
using thinggate::broker::message_ptr;

TEST_CASE("make_message: topic and payload are copies inside the message's block") {
    std::string topic = "a/b";
    std::string payload(100, 'p');
    auto m = make_message(topic, payload);
    topic[0] = 'x';
    payload[0] = 'x';
    CHECK(m->topic == "a/b");
    CHECK(m->payload == std::string(100, 'p'));
    const char* block = reinterpret_cast<const char*>(m.get());
    CHECK(m->topic.data() > block);
    CHECK(m->topic.data() - block < 1024); // in the same block, after the message
    CHECK(m->payload.data() == m->topic.data() + 3);
    auto empty = make_message({}, {});
    CHECK(empty->topic.empty());
    CHECK(empty->payload.empty());
}

namespace {

/// Runs `fn` on a new thread: a cache of its own, empty at the start.
template <class Fn>
void on_fresh_thread(Fn fn) {
    std::thread t([&] {
        CHECK(cached_message_bytes() == 0);
        fn();
    });
    t.join();
}

} // namespace

TEST_CASE("a freed message's block is kept by the thread and reused for a message of its size") {
    on_fresh_thread([] {
        const std::size_t before = cached_message_bytes();
        const void* first = nullptr;
        {
            auto m = make_message("t/1", std::string(64, 'a'));
            first = m.get();
        }
        CHECK(cached_message_bytes() > before);
        auto again = make_message("t/2", std::string(60, 'b')); // the same size class
        CHECK(static_cast<const void*>(again.get()) == first);
        CHECK(cached_message_bytes() == before);
        CHECK(again->topic == "t/2"); // a reused block holds only the new message
        CHECK(again->payload == std::string(60, 'b'));
        CHECK_FALSE(again->expires_at);
        CHECK(again->origin == 0);
        CHECK_FALSE(again->props().content_type);
    });
}

TEST_CASE("the cache of freed message blocks is bounded (4 MiB a thread); large ones bypass it") {
    on_fresh_thread([] {
        {
            std::vector<message_ptr> many;
            for (int i = 0; i < 12000; ++i) {
                many.push_back(make_message("fan/in", std::string(200, 'x'))); // ~0.8 KiB blocks
            }
        }
        CHECK(cached_message_bytes() <= thinggate::broker::message_cache_bytes);
        CHECK(cached_message_bytes() > thinggate::broker::message_cache_bytes / 2);
        const std::size_t full = cached_message_bytes();
        {
            auto big = make_message("big", std::string(64 * 1024, 'y'));
            CHECK(big->payload.size() == 64 * 1024);
        }
        CHECK(cached_message_bytes() == full);
    });
}

TEST_CASE("a message freed on another thread goes to that thread's cache, which its exit frees") {
    auto m = make_message("cross", std::string(64, 'c'));
    std::size_t kept_there = 0;
    std::thread other([&] {
        const std::size_t at_start = cached_message_bytes();
        CHECK(at_start == 0);
        m.reset();
        kept_there = cached_message_bytes();
        auto reused = make_message("cross/2", std::string(64, 'd')); // a block from this thread
        CHECK(reused->payload == std::string(64, 'd'));
        reused.reset();
    }); // the thread's cache is freed here (LeakSanitizer would report it otherwise)
    other.join();
    CHECK(kept_there > 0);
}

TEST_CASE("a message keeps only forwarded properties, out of its block, and none when it has none") {
    auto m = make_message("t", "p");
    CHECK_FALSE(m->has_props());
    CHECK(m->props() == thinggate::mqtt::properties{});
    thinggate::mqtt::properties not_forwarded;
    not_forwarded.message_expiry_interval = 60;
    not_forwarded.topic_alias = 2;
    not_forwarded.subscription_identifiers = {7};
    m->set_props(std::move(not_forwarded));
    CHECK_FALSE(m->has_props()); // no second allocation
    CHECK(not_forwarded.topic_alias == 2); // the others stay with the packet

    thinggate::mqtt::properties p;
    p.payload_format_indicator = 0;
    p.content_type = "c";
    p.response_topic = "r";
    p.correlation_data = std::string("\x00", 1);
    p.user_properties = {{"k", "v"}};
    p.message_expiry_interval = 60;
    const thinggate::mqtt::properties copy = p;
    m->set_props(copy);
    REQUIRE(m->has_props());
    CHECK(m->props().payload_format_indicator == 0);
    CHECK(m->props().content_type == "c");
    CHECK(m->props().response_topic == "r");
    CHECK(m->props().correlation_data == std::string("\x00", 1));
    CHECK(m->props().user_properties == p.user_properties);
    CHECK_FALSE(m->props().message_expiry_interval);
    const void* block = m.get();
    const void* props = &m->props();
    CHECK((props < block || props >= static_cast<const char*>(block) + 128)); // out of line
    m->set_props(std::move(p));
    CHECK(m->props().content_type == "c");
    CHECK(sizeof(thinggate::broker::message) < 128);
}
