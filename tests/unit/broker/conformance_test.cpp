// Conformance vectors (tests/conformance/*.vec) run against the broker's protocol machine: each
// vector gets a fresh broker on a two-shard manual runtime, clients alternate between the shards,
// and the clock moves only on `advance`. Vectors listed in tests/conformance/known_failures.txt
// are reported, not failed; a listed vector that passes fails (the list must stay true).
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include <doctest/doctest.h>

#include "broker/broker.hpp"
#include "broker/client.hpp"
#include "conformance/runner.hpp"
#include "conformance/vectors.hpp"
#include "harness.hpp"

using namespace thinggate;
using namespace std::chrono_literals;

namespace {

const std::filesystem::path vector_dir = std::filesystem::path(THINGGATE_SOURCE_DIR) / "tests" / "conformance";

/// One connection of a vector: the transport side of a broker::client, without a socket.
struct machine_conn final : broker::connection_io {
    void wake_writer() override {}
    void close(bool) override { closed = true; }
    void read_timeout_changed() override {}

    std::unique_ptr<broker::client> client;
    broker::shard_id shard = 0;
    bool closed = false;
    bool lost = false;
    std::string buffer;
    broker::clock::time_point last_input{};
};

class machine_driver final : public conformance::driver {
public:
    ~machine_driver() override {
        for (auto& [name, c] : conns_) {
            lose(*c);
        }
        if (rt_) {
            rt_->run();
        }
        conns_.clear();
        b_.reset();
    }

    bool machine() const override { return true; }

    std::string set_limit(const std::string& key, const std::string& value) override {
        std::uint64_t v = 0;
        try {
            std::size_t used = 0;
            v = std::stoull(value, &used, 0);
            if (used != value.size()) {
                return "bad value '" + value + "'";
            }
        } catch (...) {
            return "bad value '" + value + "'";
        }
        auto& l = opts_.lim;
        const auto u16 = [&](std::uint16_t& f) { f = static_cast<std::uint16_t>(v); };
        const auto u32 = [&](std::uint32_t& f) { f = static_cast<std::uint32_t>(v); };
        if (key == "receive_maximum") {
            u16(l.receive_maximum);
        } else if (key == "max_inflight_out") {
            u16(l.max_inflight_out);
        } else if (key == "topic_alias_maximum") {
            u16(l.topic_alias_maximum);
        } else if (key == "max_keep_alive") {
            u16(l.max_keep_alive);
        } else if (key == "min_keep_alive") {
            u16(l.min_keep_alive);
        } else if (key == "max_packet_size") {
            u32(l.max_packet_size);
        } else if (key == "max_session_expiry") {
            u32(l.max_session_expiry);
        } else if (key == "max_topic_levels") {
            u32(l.max_topic_levels);
        } else if (key == "max_client_id_length") {
            u32(l.max_client_id_length);
        } else if (key == "maximum_qos") {
            l.maximum_qos = static_cast<mqtt::qos>(std::min<std::uint64_t>(v, 2));
        } else if (key == "retain_available") {
            l.retain_available = v != 0;
        } else if (key == "wildcard_subscriptions") {
            l.wildcard_subscriptions = v != 0;
        } else if (key == "shared_subscriptions") {
            l.shared_subscriptions = v != 0;
        } else if (key == "subscription_identifiers") {
            l.subscription_identifiers = v != 0;
        } else {
            return "unknown limit '" + key + "'";
        }
        return {};
    }

    std::string open(const std::string& name, mqtt::protocol_version) override {
        ensure_broker();
        auto c = std::make_unique<machine_conn>();
        c->shard = static_cast<broker::shard_id>(conns_.size() % 2);
        c->last_input = rt_->now();
        rt_->on(c->shard, [&] {
            c->client = std::make_unique<broker::client>(*b_, c->shard, *c,
                    broker::connection_info{"conformance", "127.0.0.1:" + std::to_string(1000 + conns_.size()), false, {}, {}});
        });
        conns_[name] = std::move(c);
        return {};
    }

    void send(const std::string& name, std::string_view bytes) override {
        auto& c = *conns_.at(name);
        if (!c.client || c.closed) {
            return; // the socket is gone; the bytes go nowhere
        }
        c.last_input = rt_->now();
        rt_->on(c.shard, [&] {
            auto buf = c.client->prepare_input(bytes.size());
            std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(buf.data()));
            c.client->commit_input(bytes.size());
        });
        rt_->run();
    }

    conformance::read_result next(const std::string& name) override {
        auto& c = *conns_.at(name);
        collect(c);
        conformance::read_result r;
        std::string error;
        if (conformance::split_packet(c.buffer, r.bytes, error)) {
            r.kind = conformance::read_kind::packet;
            return r;
        }
        if (!error.empty()) {
            FAIL(error);
        }
        r.kind = c.closed ? conformance::read_kind::closed : conformance::read_kind::nothing;
        return r;
    }

    conformance::read_result pending(const std::string& name) override { return next(name); }

    void drop(const std::string& name) override {
        auto& c = *conns_.at(name);
        collect(c);
        lose(c);
        c.closed = true;
        rt_->run();
    }

    void advance(std::chrono::milliseconds d) override {
        ensure_broker();
        const auto until = rt_->now() + d;
        // The transport's read timer: a connection silent for read_timeout() gets on_read_timeout().
        for (;;) {
            machine_conn* due = nullptr;
            broker::clock::time_point when = until;
            for (auto& [name, c] : conns_) {
                if (!c->client || c->closed) {
                    continue;
                }
                const auto t = c->client->read_timeout();
                if (t.count() == 0) {
                    continue;
                }
                const auto deadline = c->last_input + t;
                if (deadline <= when) {
                    when = deadline;
                    due = c.get();
                }
            }
            if (due == nullptr) {
                break;
            }
            if (when > rt_->now()) {
                rt_->advance(std::chrono::duration_cast<std::chrono::milliseconds>(when - rt_->now()));
            }
            rt_->on(due->shard, [&] { due->client->on_read_timeout(); });
            rt_->run();
            due->last_input = rt_->now(); // a client that survives its timeout gets a fresh timer
        }
        if (until > rt_->now()) {
            rt_->advance(std::chrono::duration_cast<std::chrono::milliseconds>(until - rt_->now()));
        }
    }

private:
    void ensure_broker() {
        if (!rt_) {
            rt_ = std::make_unique<test::manual_runtime>(2);
            b_ = std::make_unique<broker::broker>(opts_, *rt_);
        }
    }

    /// What the broker wrote, appended to the connection's byte buffer; a connection the broker
    /// closed is then lost, as the transport would report it.
    void collect(machine_conn& c) {
        if (!c.client) {
            return;
        }
        rt_->run();
        std::vector<broker::out_frame> frames;
        rt_->on(c.shard, [&] { c.client->take_output(frames); });
        std::size_t n = 0;
        for (const auto& f : frames) {
            c.buffer += f.head;
            c.buffer.append(f.body);
            n += f.size();
        }
        rt_->on(c.shard, [&] { c.client->output_written(n); });
        if (c.closed) {
            lose(c);
        }
    }

    void lose(machine_conn& c) {
        if (c.client && !c.lost) {
            c.lost = true;
            rt_->on(c.shard, [&] { c.client->on_connection_lost(); });
            rt_->run();
        }
    }

    broker::options opts_;
    std::unique_ptr<test::manual_runtime> rt_;
    std::unique_ptr<broker::broker> b_;
    std::map<std::string, std::unique_ptr<machine_conn>> conns_;
};

struct vector_set {
    std::vector<conformance::vector_test> tests;
    std::vector<conformance::parse_error> errors;
    std::map<std::string, std::string> known;
};

const vector_set& vectors() {
    static const vector_set set = [] {
        vector_set s;
        s.tests = conformance::load_vector_dir(vector_dir, s.errors);
        s.known = conformance::load_known_failures(vector_dir / "known_failures.txt");
        return s;
    }();
    return set;
}

} // namespace

TEST_CASE("conformance vector parser: commands, multi-line hex, strings, and reported errors") {
    std::vector<conformance::parse_error> errors;
    const auto tests = conformance::parse_vectors(R"(# a comment
test [MQTT-3.1.0-1] first packet must be CONNECT
client a
send a  c0 00                # PINGREQ before CONNECT
expect-close a
end
test two clients
client a v311
client b
send a 10 0c 00 04 "MQTT" 04 02
       00 3c 0000
expect-type b connack reason=0x00 sp=0
advance 1.5
end
)",
            "x.vec", errors);
    REQUIRE(errors.empty());
    REQUIRE(tests.size() == 2);
    CHECK(tests[0].title == "[MQTT-3.1.0-1] first packet must be CONNECT");
    CHECK(tests[0].id() == "x.vec: [MQTT-3.1.0-1] first packet must be CONNECT");
    REQUIRE(tests[0].steps.size() == 3);
    CHECK(tests[0].steps[1].bytes == std::string("\xc0\x00", 2));
    CHECK_FALSE(tests[0].machine_only());
    const auto& s = tests[1].steps;
    REQUIRE(s.size() == 5);
    CHECK(s[0].arg == "v311");
    CHECK(conformance::to_hex(s[2].bytes) == "10 0c 00 04 4d 51 54 54 04 02 00 3c 00 00");
    CHECK(s[3].checks.size() == 2);
    CHECK(s[4].millis == 1500);
    CHECK(tests[1].machine_only());

    errors.clear();
    const auto bad = conformance::parse_vectors("test t\nclient a\nsend b c0 00\nexpect a zz\nfrobnicate\nend\ntest u\n",
                                                "y.vec", errors);
    CHECK(bad.empty());
    REQUIRE(errors.size() == 4);
    CHECK(errors[0].line == 3); // unknown client
    CHECK(errors[1].line == 4); // not a byte token
    CHECK(errors[2].line == 5); // unknown command
    CHECK(errors[3].message.find("missing 'end'") != std::string::npos);
}

TEST_CASE("conformance vectors: every file parses and the known-failure list names real vectors") {
    const auto& v = vectors();
    for (const auto& e : v.errors) {
        FAIL_CHECK(e.file << ":" << e.line << ": " << e.message);
    }
    CHECK(v.tests.size() >= 60);
    for (const auto& [id, note] : v.known) {
        const bool exists = std::any_of(v.tests.begin(), v.tests.end(), [&](const auto& t) { return t.id() == id; });
        CHECK_MESSAGE(exists, "known_failures.txt names no vector: " << id);
    }
}

TEST_CASE("conformance vectors against the protocol machine") {
    const auto& v = vectors();
    for (const auto& t : v.tests) {
        SUBCASE(t.id().c_str()) {
            machine_driver d;
            const auto o = conformance::run_vector(t, d);
            const auto known = v.known.find(t.id());
            if (known != v.known.end()) {
                if (o.result == conformance::verdict::fail) {
                    const std::string note = known->second.empty() ? std::string{} : " -- " + known->second;
                    MESSAGE("known failure " << t.file << ":" << o.line << " " << t.title << ": " << o.message << note);
                } else {
                    FAIL_CHECK(t.file << ":" << t.line << " " << t.title
                                          << ": listed in known_failures.txt but passes; remove it from the list");
                }
            } else if (o.result != conformance::verdict::pass) {
                FAIL_CHECK(t.file << ":" << o.line << " " << t.title << ": " << o.message);
            }
        }
    }
}
