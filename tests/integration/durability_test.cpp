// Durable state through the real daemon on RocksDB: killed with SIGKILL (nothing flushed, no
// shutdown) and restarted on the same data dir, it has lost nothing it acknowledged - queued QoS 1
// and QoS 2 messages in order, QoS 2 exactly once, in-flight messages mid-handshake, retained
// messages, delayed wills, session expiry across the downtime - and it refuses data dirs it must
// not touch, changing nothing.
#include <algorithm>
#include <csignal>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>

#include <sys/mount.h>

#include <doctest/doctest.h>

// paho_client.hpp first: it names Paho's ::mqtt inside thinggate::, before thinggate::mqtt exists.
#include "daemon.hpp"
#include "paho_client.hpp"
#include "raw_client.hpp"

#include "mqtt/codec.hpp"

using namespace thinggate::integration;
namespace tg = thinggate;
namespace fs = std::filesystem;

namespace {

client_options opts(std::string id, int version, bool clean, std::optional<std::uint32_t> expiry = {}) {
    client_options o;
    o.client_id = std::move(id);
    o.ep = endpoint{version, transport_kind::tcp};
    o.clean = clean;
    if (version == MQTTVERSION_5) {
        o.session_expiry = expiry;
    }
    return o;
}

std::string encode(const tg::mqtt::packet& p) {
    std::string bytes;
    tg::mqtt::encode(p, tg::mqtt::protocol_version::v5, bytes);
    return bytes;
}

/// Decodes a packet read by raw_client (v5).
tg::mqtt::packet decode(const raw_packet& r) {
    std::string bytes(1, static_cast<char>(r.header));
    std::size_t n = r.body.size();
    do {
        std::uint8_t b = n % 128;
        n /= 128;
        bytes.push_back(static_cast<char>(n > 0 ? b | 0x80 : b));
    } while (n > 0);
    bytes += r.body;
    const auto span = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
    tg::mqtt::frame_header h;
    auto st = tg::mqtt::parse_frame(span, tg::mqtt::max_remaining_length + 5, h);
    REQUIRE(st.has_value());
    auto p = tg::mqtt::decode(h, span.subspan(h.header_size, h.remaining_length), tg::mqtt::protocol_version::v5);
    REQUIRE(p.has_value());
    return std::move(*p);
}

template <class T>
T next(raw_client& c) {
    auto r = c.read_packet();
    REQUIRE_MESSAGE(r.has_value(), "no packet from the daemon");
    auto p = decode(*r);
    REQUIRE_MESSAGE(std::holds_alternative<T>(p), "got packet type " << r->type());
    return std::get<T>(p);
}

tg::mqtt::connect connect_packet(std::string id, bool clean, std::uint32_t expiry,
                                 std::optional<tg::mqtt::will_message> will = {}) {
    tg::mqtt::connect c;
    c.client_id = std::move(id);
    c.clean_start = clean;
    c.keep_alive = 60;
    c.props.session_expiry_interval = expiry;
    c.will = std::move(will);
    return c;
}

tg::mqtt::subscribe subscribe_packet(std::uint16_t pid, std::string filter, tg::mqtt::qos q) {
    tg::mqtt::subscribe s;
    s.packet_id = pid;
    s.entries.push_back({std::move(filter), {q, false, false, 0}});
    return s;
}

tg::mqtt::publish publish_packet(std::uint16_t pid, std::string topic, std::string payload, tg::mqtt::qos q,
                                 bool dup = false) {
    tg::mqtt::publish p;
    p.packet_id = pid;
    p.topic = std::move(topic);
    p.payload = std::move(payload);
    p.qos = q;
    p.dup = dup;
    return p;
}

/// Everything committed before this returns: with one shard, a SUBACK to a persistent session
/// is sent only after its write - and every earlier write of the shard - has committed.
void barrier(const gateway& d) {
    paho_client b(d, opts("barrier", MQTTVERSION_5, false, 3600));
    b.connect();
    b.subscribe("barrier", 1);
}

std::vector<std::string> payloads(paho_client& c, std::size_t n) {
    std::vector<std::string> out;
    for (const auto& m : c.messages(n)) {
        out.push_back(m->to_string());
    }
    return out;
}

} // namespace

TEST_CASE("kill -9 under QoS 1/2 load: every acknowledged message reaches the persistent subscribers, "
          "in order, QoS 2 exactly once") {
    gateway d;
    {
        paho_client s5(d, opts("sub-v5", MQTTVERSION_5, true, 3600));
        paho_client s3(d, opts("sub-v311", MQTTVERSION_3_1_1, false));
        connect_all({&s5, &s3});
        s5.subscribe("load/#", 2);
        s3.subscribe("load/#", 1);
        s5.disconnect();
        s3.disconnect();
    }
    // A publisher keeps 8 messages in flight, QoS 1 and 2 in turn; the daemon dies under it.
    constexpr int max_messages = 5000;
    constexpr std::size_t kill_after = 400;
    std::set<int> acknowledged;
    int sent = 0;
    {
        paho_client pub(d, opts("pub", MQTTVERSION_5, true));
        pub.connect();
        std::deque<std::pair<int, tg::mqtt::qos>> window;
        std::deque<::mqtt::delivery_token_ptr> tokens;
        while (acknowledged.size() < kill_after && sent < max_messages) {
            while (tokens.size() < 8) {
                ++sent;
                const int qos = sent % 2 == 0 ? 2 : 1;
                tokens.push_back(pub.paho().publish("load/x", std::to_string(sent), qos, false));
                window.emplace_back(sent, static_cast<tg::mqtt::qos>(qos));
            }
            REQUIRE(tokens.front()->wait_for(step_timeout));
            acknowledged.insert(window.front().first);
            tokens.pop_front();
            window.pop_front();
        }
        d.kill(); // 8 publishes in flight
    }
    REQUIRE(acknowledged.size() == kill_after);
    d.restart();
    CHECK(d.wait_for_log("recovered 2 session(s)"));

    for (int version : {MQTTVERSION_5, MQTTVERSION_3_1_1}) {
        CAPTURE(version);
        paho_client s(d, opts(version == MQTTVERSION_5 ? "sub-v5" : "sub-v311", version, false, 3600));
        CHECK(s.connect()); // session present
        // Every acknowledged message (the unacknowledged ones may or may not have been kept).
        const int last_acked = *acknowledged.rbegin();
        std::vector<int> got;
        while (got.empty() || got.back() < last_acked) {
            auto m = s.next_message();
            REQUIRE_MESSAGE(m, "message " << (got.empty() ? 1 : got.back() + 1) << " did not arrive");
            got.push_back(std::stoi(m->to_string()));
        }
        CHECK(std::is_sorted(got.begin(), got.end()));
        CHECK(std::adjacent_find(got.begin(), got.end()) == got.end()); // no duplicate
        for (int seq : acknowledged) {
            CHECK_MESSAGE(std::binary_search(got.begin(), got.end(), seq), "acknowledged message " << seq << " lost");
        }
    }
}

TEST_CASE("kill -9 mid-handshake: in-flight messages are resumed (DUP PUBLISH, PUBREL), an incoming QoS 2 "
          "message is routed once, retained messages stay") {
    gateway_options go;
    go.shards = 1;
    gateway d(go);

    paho_client offline(d, opts("q2-sub", MQTTVERSION_5, true, 3600));
    offline.connect();
    offline.subscribe("in/#", 2);
    offline.disconnect();

    raw_client sub(d.tcp_port());
    sub.send(encode(connect_packet("raw-sub", true, 3600)));
    CHECK(next<tg::mqtt::connack>(sub).reason == tg::mqtt::reason_code::success);
    sub.send(encode(subscribe_packet(1, "mid/#", tg::mqtt::qos::exactly_once)));
    next<tg::mqtt::suback>(sub);
    {
        paho_client pub(d, opts("pub", MQTTVERSION_5, true));
        pub.connect();
        pub.publish("mid/1", "one", 1);
        pub.publish("mid/2", "two", 2);
        pub.publish("ret/x", "kept", 1, true);
    }
    auto p1 = next<tg::mqtt::publish>(sub);
    auto p2 = next<tg::mqtt::publish>(sub);
    REQUIRE(p1.payload == "one");
    REQUIRE(p2.payload == "two");
    sub.send(encode(tg::mqtt::pubrec{p2.packet_id, tg::mqtt::reason_code::success, {}}));
    CHECK(next<tg::mqtt::pubrel>(sub).packet_id == p2.packet_id);
    // mid/1 stays unacknowledged, mid/2 waits for our PUBCOMP.

    raw_client in(d.tcp_port());
    in.send(encode(connect_packet("raw-pub", true, 3600)));
    next<tg::mqtt::connack>(in);
    in.send(encode(publish_packet(7, "in/q2", "exactly once", tg::mqtt::qos::exactly_once)));
    CHECK(next<tg::mqtt::pubrec>(in).reason == tg::mqtt::reason_code::success);

    barrier(d);
    d.kill();
    d.restart();

    raw_client sub2(d.tcp_port());
    sub2.send(encode(connect_packet("raw-sub", false, 3600)));
    CHECK(next<tg::mqtt::connack>(sub2).session_present);
    auto again = next<tg::mqtt::publish>(sub2);
    CHECK(again.payload == "one");
    CHECK(again.dup); // [MQTT-3.3.1-1]
    CHECK(again.packet_id == p1.packet_id);
    CHECK(next<tg::mqtt::pubrel>(sub2).packet_id == p2.packet_id); // [MQTT-4.4.0-1]
    sub2.send(encode(tg::mqtt::puback{p1.packet_id, tg::mqtt::reason_code::success, {}}));
    sub2.send(encode(tg::mqtt::pubcomp{p2.packet_id, tg::mqtt::reason_code::success, {}}));

    raw_client in2(d.tcp_port());
    in2.send(encode(connect_packet("raw-pub", false, 3600)));
    CHECK(next<tg::mqtt::connack>(in2).session_present);
    in2.send(encode(publish_packet(7, "in/q2", "exactly once", tg::mqtt::qos::exactly_once, true)));
    CHECK(next<tg::mqtt::pubrec>(in2).reason == tg::mqtt::reason_code::success);
    in2.send(encode(tg::mqtt::pubrel{7, tg::mqtt::reason_code::success, {}}));
    CHECK(next<tg::mqtt::pubcomp>(in2).reason == tg::mqtt::reason_code::success);

    paho_client q2(d, opts("q2-sub", MQTTVERSION_5, false, 3600));
    CHECK(q2.connect());
    CHECK(payloads(q2, 1) == std::vector<std::string>{"exactly once"});
    // The marker message: had the retry been routed again, a second copy would arrive before it.
    {
        paho_client pub(d, opts("pub", MQTTVERSION_5, true));
        pub.connect();
        pub.publish("in/marker", "end", 1);
    }
    CHECK(payloads(q2, 1) == std::vector<std::string>{"end"});

    paho_client late(d, opts("late", MQTTVERSION_5, true));
    late.connect();
    late.subscribe("ret/#", 1);
    auto r = late.next_message();
    REQUIRE(r);
    CHECK(r->to_string() == "kept");
    CHECK(r->is_retained());
}

TEST_CASE("kill -9 with a delayed will pending and sessions expiring: the will is published after the "
          "restart, expiry counts the downtime") {
    gateway_options go;
    go.shards = 1;
    go.log_level = "debug";
    gateway d(go);

    tg::mqtt::will_message w;
    w.topic = "will/dev";
    w.payload = "dev is gone";
    w.qos = tg::mqtt::qos::at_least_once;
    w.props.will_delay_interval = 2;
    {
        raw_client dev(d.tcp_port());
        dev.send(encode(connect_packet("dev", true, 3600, w)));
        next<tg::mqtt::connack>(dev);
        dev.close(); // no DISCONNECT: the will waits 2 s
    }
    {
        raw_client brief(d.tcp_port());
        brief.send(encode(connect_packet("brief", true, 1)));
        next<tg::mqtt::connack>(brief);
        brief.send(encode(subscribe_packet(1, "x", tg::mqtt::qos::at_least_once)));
        next<tg::mqtt::suback>(brief);
        brief.send(encode(tg::mqtt::disconnect{}));
        CHECK(brief.wait_closed());
    }
    barrier(d);
    d.kill();
    d.restart();

    paho_client watcher(d, opts("watcher", MQTTVERSION_5, true));
    watcher.connect();
    watcher.subscribe("will/#", 1);
    auto m = watcher.next_message();
    REQUIRE_MESSAGE(m, "the delayed will was not published after the restart");
    CHECK(m->to_string() == "dev is gone");

    // "brief" (expiry 1 s) ends one second after its DISCONNECT, downtime included: at start-up
    // if that second had passed, else by its timer.
    const bool ended = d.wait_for_log("session brief expired", 5s) ||
                       d.log().find("purged 1 expired session(s)") != std::string::npos;
    CHECK(ended);
    paho_client brief(d, opts("brief", MQTTVERSION_5, false, 1));
    CHECK_FALSE(brief.connect());
    paho_client dev(d, opts("dev", MQTTVERSION_5, false, 3600));
    CHECK(dev.connect());
}

#ifdef THINGGATE_MAKE_DATA_DIR
TEST_CASE("a data dir of another schema version is refused at start-up, nothing changed") {
    gateway d;
    d.stop();
    const auto db = d.data_dir() / "db";
    auto relabel = run_command({THINGGATE_MAKE_DATA_DIR, "schema", db.string()});
    REQUIRE_MESSAGE(relabel.exit_code == 0, relabel.output);
    auto listing = [&] {
        std::vector<std::pair<std::string, std::uintmax_t>> files;
        for (const auto& e : fs::directory_iterator(db)) {
            files.emplace_back(e.path().filename().string(), e.is_regular_file() ? e.file_size() : 0);
        }
        std::sort(files.begin(), files.end());
        return files;
    };
    const auto before = listing();
    auto r = run_command({THINGGATE_BINARY, "--config", d.config_file().string()});
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(r.output.find("schema version 2, this thinggate reads version 1") != std::string::npos, r.output);
    CHECK_MESSAGE(r.output.find("Nothing in it was changed") != std::string::npos, r.output);
    CHECK(listing() == before);
}
#endif

TEST_CASE("a second thinggate on the same data dir is refused, and so is another program's database") {
    gateway d;
    {
        auto r = run_command({THINGGATE_BINARY, "--config", d.config_file().string()});
        CHECK(r.exit_code == 1);
        CHECK_MESSAGE(r.output.find("stop the other thinggate") != std::string::npos, r.output);
    }
    d.stop();

    // Another program's files where the database should be: refused, nothing changed.
    const auto db = d.data_dir() / "db";
    fs::remove_all(db);
    fs::create_directories(db);
    write_file(db / "notes.txt", "someone else's data");
    auto r = run_command({THINGGATE_BINARY, "--config", d.config_file().string()});
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(r.output.find("not a thinggate data dir") != std::string::npos, r.output);
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(db)) {
        names.push_back(e.path().filename().string());
    }
    CHECK(names == std::vector<std::string>{"notes.txt"});
}

namespace {

/// A small tmpfs for the data dir, so that the test can fill the file system; needs root (CAP_SYS_ADMIN).
class small_fs {
public:
    explicit small_fs(const fs::path& where, std::uint64_t bytes)
        : path_(where) {
        fs::create_directories(where);
        const std::string opt = "size=" + std::to_string(bytes);
        mounted_ = ::mount("tmpfs", where.c_str(), "tmpfs", 0, opt.c_str()) == 0;
    }
    ~small_fs() {
        if (mounted_) {
            ::umount2(path_.c_str(), MNT_DETACH);
        }
    }
    bool mounted() const noexcept { return mounted_; }

private:
    fs::path path_;
    bool mounted_ = false;
};

} // namespace

TEST_CASE("disk full: persistent publishes are refused with 0x97 and a log line, nothing stored is lost, "
          "writes resume when space returns") {
    temp_dir t("thinggate-full");
    small_fs small(t.path() / "fs", 192ull << 20);
    if (!small.mounted()) {
        MESSAGE("cannot mount a tmpfs here (not root?): the disk-full path is covered by the store's "
                "fault-injection tests only");
        return;
    }
    gateway_options go;
    go.shards = 1;
    go.data_dir = t.path() / "fs" / "data";
    go.server_extra = "min_free_disk_bytes = 67108864\n";
    gateway d(go);

    paho_client sub(d, opts("keeper", MQTTVERSION_5, true, 3600));
    sub.connect();
    sub.subscribe("full/#", 1);
    sub.disconnect();

    raw_client pub(d.tcp_port());
    pub.send(encode(connect_packet("pub", true, 0)));
    next<tg::mqtt::connack>(pub);
    pub.send(encode(publish_packet(1, "full/a", "before", tg::mqtt::qos::at_least_once)));
    CHECK(next<tg::mqtt::puback>(pub).reason == tg::mqtt::reason_code::success);

    // Fill the file system to 32 MiB free: below min_free_disk_bytes.
    const auto filler = t.path() / "fs" / "filler";
    {
        const auto avail = fs::space(t.path() / "fs").available;
        REQUIRE(avail > (40ull << 20));
        std::ofstream out(filler, std::ios::binary);
        const std::string block(1 << 20, '\0');
        for (std::uint64_t left = avail - (32ull << 20); left >= block.size(); left -= block.size()) {
            out.write(block.data(), static_cast<std::streamsize>(block.size()));
        }
    }
    pub.send(encode(publish_packet(2, "full/b", "refused", tg::mqtt::qos::at_least_once)));
    CHECK(next<tg::mqtt::puback>(pub).reason == tg::mqtt::reason_code::quota_exceeded);
    CHECK(d.wait_for_log("new persistent messages are refused until space is freed"));

    fs::remove(filler);
    pub.send(encode(publish_packet(3, "full/c", "after", tg::mqtt::qos::at_least_once)));
    CHECK(next<tg::mqtt::puback>(pub).reason == tg::mqtt::reason_code::success);
    CHECK(d.wait_for_log("writes resumed"));

    paho_client again(d, opts("keeper", MQTTVERSION_5, false, 3600));
    CHECK(again.connect());
    CHECK(payloads(again, 2) == std::vector<std::string>{"before", "after"});
}
