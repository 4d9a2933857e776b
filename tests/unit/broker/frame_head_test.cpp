#include "broker/frame_head.hpp"

#include <string>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "broker/client.hpp"

namespace {

using thinggate::broker::frame_head;
using thinggate::broker::out_frame;

} // namespace

TEST_CASE("frame_head: short heads stay inline, long ones go to the heap") {
    frame_head h;
    CHECK(h.empty());
    CHECK(h.size() == 0);
    h.assign("abc");
    CHECK(h.view() == "abc");
    CHECK_FALSE(h.on_heap());
    const std::string full(frame_head::inline_capacity, 'x');
    h.assign(full);
    CHECK(h.view() == full);
    CHECK_FALSE(h.on_heap());
    const std::string big(frame_head::inline_capacity + 1, 'y');
    h.assign(big);
    CHECK(h.on_heap());
    CHECK(h.view() == big);
    h.assign("short again"); // keeps the heap buffer, right contents
    CHECK(h.view() == "short again");
    h.clear();
    CHECK(h.empty());
}

TEST_CASE("frame_head: copies and moves keep the bytes, inline and on the heap") {
    for (const std::size_t n : {std::size_t{0}, std::size_t{5}, frame_head::inline_capacity, std::size_t{300}}) {
        std::string bytes(n, '\0');
        for (std::size_t i = 0; i < n; ++i) {
            bytes[i] = static_cast<char>(i * 7);
        }
        frame_head a(bytes);
        frame_head b(a);
        CHECK(b.view() == bytes);
        frame_head c(std::move(a));
        CHECK(c.view() == bytes);
        CHECK(a.empty()); // NOLINT(bugprone-use-after-move): a moved-from head is empty
        frame_head d("zz");
        d = c;
        CHECK(d.view() == bytes);
        frame_head e(std::string(200, 'q'));
        e = std::move(d);
        CHECK(e.view() == bytes);
        e = e; // NOLINT: self-assignment is harmless
        CHECK(e.view() == bytes);
    }
}

TEST_CASE("out_frame: head and body read as the transport reads them") {
    std::vector<out_frame> frames;
    frames.push_back({std::string("\x30\x05", 2), "hello", nullptr});
    frames.push_back({"ack", {}, nullptr});
    for (int i = 0; i < 100; ++i) {
        frames.push_back(frames[0]); // reallocation moves the inline heads
    }
    std::string wire;
    std::size_t total = 0;
    for (const auto& f : frames) {
        wire.append(f.head.data(), f.head.size());
        wire.append(f.body.data(), f.body.size());
        total += f.size();
        wire += f.head; // reads as a string view too (tests append heads like this)
    }
    CHECK(wire.size() == total + 2 * 101 + 3);
    CHECK(wire.substr(0, 7) == std::string("\x30\x05hello", 7));
}

TEST_CASE("frame_head: append and extend keep the bytes across the move from inline to the heap") {
    frame_head h;
    h.append("ack");
    CHECK_FALSE(h.on_heap());
    std::string expected = "ack";
    for (int i = 0; i < 200; ++i) {
        const std::string piece = std::to_string(i) + std::string(static_cast<std::size_t>(i % 7), '.');
        h.append(piece);
        expected += piece;
        REQUIRE(h.view() == expected);
        CHECK(h.capacity() >= h.size());
    }
    CHECK(h.on_heap());
    char* p = h.extend(3);
    p[0] = 'x';
    p[1] = 'y';
    p[2] = 'z';
    expected += "xyz";
    CHECK(h.view() == expected);
    // A move takes the heap buffer; the source is empty and usable again.
    frame_head moved(std::move(h));
    CHECK(moved.view() == expected);
    CHECK(h.empty()); // NOLINT(bugprone-use-after-move): a moved-from head is empty by contract
    h.append("again");
    CHECK(h.view() == "again");
}

TEST_CASE("frame_head: reserve keeps the contents and grows once for what follows") {
    frame_head h("head");
    h.reserve(4096);
    CHECK(h.on_heap());
    CHECK(h.capacity() >= 4096);
    CHECK(h.view() == "head");
    const char* before = h.data();
    const std::string more(4000, 'p');
    h.append(more);
    CHECK(h.data() == before); // no reallocation within the reserved capacity
    CHECK(h.view() == "head" + more);
    h.reserve(10); // never shrinks
    CHECK(h.capacity() >= 4096);
}
