#pragma once
// Test harness for the broker without sockets, threads or wall clocks: a manual runtime whose
// shards are queues run on the test's thread and whose clock moves only when the test says, and
// scripted peers that speak bytes to a broker::client.

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "broker/broker.hpp"
#include "broker/client.hpp"
#include "mqtt/codec.hpp"

namespace thinggate::test {

class manual_runtime final : public broker::runtime {
public:
    explicit manual_runtime(std::uint32_t shards)
        : shards_(shards) {}

    std::uint32_t shard_count() const noexcept override { return shards_; }
    broker::shard_id current_shard() const noexcept override { return current_; }
    void post(broker::shard_id shard, std::function<void()> task) override {
        REQUIRE(shard < shards_);
        queue_.emplace_back(shard, std::move(task));
    }
    void post_after(broker::shard_id shard, std::chrono::milliseconds delay, std::function<void()> task) override {
        timers_.emplace(now_ + delay, std::make_pair(shard, std::move(task)));
    }
    broker::clock::time_point now() const noexcept override { return now_; }

    /// Runs queued tasks until none is left.
    void run() {
        while (!queue_.empty()) {
            auto [shard, task] = std::move(queue_.front());
            queue_.pop_front();
            const auto saved = current_;
            current_ = shard;
            task();
            current_ = saved;
        }
    }

    /// Moves the clock forward, firing due timers in order, and runs everything.
    void advance(std::chrono::milliseconds d) {
        const auto until = now_ + d;
        run();
        while (!timers_.empty() && timers_.begin()->first <= until) {
            auto node = timers_.extract(timers_.begin());
            now_ = node.key();
            post(node.mapped().first, std::move(node.mapped().second));
            run();
        }
        now_ = until;
    }

    /// Runs `fn` as if on `shard`.
    template <class Fn>
    void on(broker::shard_id shard, Fn&& fn) {
        const auto saved = current_;
        current_ = shard;
        fn();
        current_ = saved;
    }

private:
    std::uint32_t shards_;
    broker::shard_id current_ = 0;
    broker::clock::time_point now_{std::chrono::hours(1)};
    std::deque<std::pair<broker::shard_id, std::function<void()>>> queue_;
    std::multimap<broker::clock::time_point, std::pair<broker::shard_id, std::function<void()>>> timers_;
};

/// A client connection driven by the test: send packets, read what the broker wrote.
class peer final : public broker::connection_io {
public:
    peer(broker::broker& b, manual_runtime& rt, broker::shard_id shard, mqtt::protocol_version v = mqtt::protocol_version::v5,
         broker::connection_info info = {"test", "127.0.0.1:1", false, {}, {}, {}, {}})
        : rt_(rt)
        , shard_(shard)
        , version_(v)
        , client_(std::make_unique<broker::client>(b, shard, *this, std::move(info))) {}

    ~peer() override { drop(); }

    void wake_writer() override { ++wakes; }
    void close(bool flush) override {
        closed = true;
        flushed = flush;
    }
    void read_timeout_changed() override {}

    /// Encodes and feeds one packet, then runs the runtime.
    void send(const mqtt::packet& p) {
        std::string bytes;
        mqtt::encode(p, version_, bytes);
        send_bytes(bytes);
    }

    void send_bytes(std::string_view bytes) {
        REQUIRE(client_);
        rt_.on(shard_, [&] {
            auto buf = client_->prepare_input(bytes.size());
            std::copy(bytes.begin(), bytes.end(), reinterpret_cast<char*>(buf.data()));
            client_->commit_input(bytes.size());
        });
        rt_.run();
    }

    /// Everything the broker wrote since the last call, decoded.
    std::vector<mqtt::packet> received() {
        std::vector<mqtt::packet> out = std::move(backlog_);
        backlog_.clear();
        if (!client_) {
            return out;
        }
        rt_.run();
        std::vector<broker::out_frame> frames;
        rt_.on(shard_, [&] { client_->take_output(frames); });
        std::string all;
        for (const auto& f : frames) {
            all += f.head;
            all.append(f.body);
        }
        rt_.on(shard_, [&] { client_->output_written(all.size()); });
        pending_ += all;
        for (;;) {
            mqtt::frame_header h;
            auto span = std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(pending_.data()), pending_.size());
            auto st = mqtt::parse_frame(span, mqtt::max_remaining_length + 5, h);
            REQUIRE(st.has_value());
            if (*st == mqtt::frame_status::incomplete) {
                break;
            }
            auto p = mqtt::decode(h, span.subspan(h.header_size, h.remaining_length), version_);
            REQUIRE_MESSAGE(p.has_value(), "broker wrote an undecodable packet");
            out.push_back(std::move(*p));
            pending_.erase(0, h.total_size());
        }
        return out;
    }

    /// The only packet received since the last call, of type T.
    template <class T>
    T expect_one() {
        auto got = received();
        REQUIRE_MESSAGE(got.size() == 1, "expected one packet, got " << got.size());
        REQUIRE_MESSAGE(std::holds_alternative<T>(got[0]), "got " << mqtt::to_string(mqtt::type_of(got[0])));
        return std::get<T>(got[0]);
    }

    /// The first packet received must be a T; the ones after it stay for the next received().
    template <class T>
    T first() {
        auto got = received();
        REQUIRE_MESSAGE(!got.empty(), "expected a packet, got none");
        REQUIRE_MESSAGE(std::holds_alternative<T>(got[0]), "got " << mqtt::to_string(mqtt::type_of(got[0])));
        T result = std::get<T>(got[0]);
        backlog_.assign(std::make_move_iterator(got.begin() + 1), std::make_move_iterator(got.end()));
        return result;
    }

    /// CONNECT and expect a successful CONNACK; returns it.
    mqtt::connack connect(std::string id, bool clean = true, std::uint32_t expiry = 0, std::optional<mqtt::will_message> will = {},
                          std::uint16_t keep_alive = 60) {
        mqtt::connect c;
        c.version = version_;
        c.client_id = std::move(id);
        c.clean_start = clean;
        c.keep_alive = keep_alive;
        c.will = std::move(will);
        if (version_ == mqtt::protocol_version::v5 && expiry != 0) {
            c.props.session_expiry_interval = expiry;
        }
        send(c);
        auto ack = first<mqtt::connack>();
        REQUIRE(ack.reason == mqtt::reason_code::success);
        return ack;
    }

    mqtt::suback subscribe(std::string filter, mqtt::qos q, std::uint16_t pid = 1, std::uint32_t sub_id = 0) {
        mqtt::subscribe s;
        s.packet_id = pid;
        s.entries.push_back({std::move(filter), {q, false, false, 0}});
        if (sub_id != 0) {
            s.props.subscription_identifiers.push_back(sub_id);
        }
        send(s);
        return first<mqtt::suback>();
    }

    void publish(std::string topic, std::string payload, mqtt::qos q = mqtt::qos::at_most_once, bool retain = false,
                 std::uint16_t pid = 0) {
        mqtt::publish p;
        p.topic = std::move(topic);
        p.payload = std::move(payload);
        p.qos = q;
        p.retain = retain;
        p.packet_id = q == mqtt::qos::at_most_once ? 0 : (pid != 0 ? pid : ++next_pid_);
        send(p);
    }

    /// The socket goes away (no DISCONNECT).
    void drop() {
        if (client_) {
            rt_.on(shard_, [&] { client_->on_connection_lost(); });
            rt_.on(shard_, [&] { client_.reset(); });
            rt_.run();
        }
    }

    broker::client& client() { return *client_; }
    mqtt::protocol_version version() const { return version_; }

    bool closed = false;
    bool flushed = false;
    int wakes = 0;

private:
    manual_runtime& rt_;
    broker::shard_id shard_;
    mqtt::protocol_version version_;
    std::unique_ptr<broker::client> client_;
    std::string pending_;
    std::vector<mqtt::packet> backlog_;
    std::uint16_t next_pid_ = 0;
};

/// Publishes among the packets of `got` only.
inline std::vector<mqtt::publish> publishes(const std::vector<mqtt::packet>& got) {
    std::vector<mqtt::publish> out;
    for (const auto& p : got) {
        if (std::holds_alternative<mqtt::publish>(p)) {
            out.push_back(std::get<mqtt::publish>(p));
        }
    }
    return out;
}

} // namespace thinggate::test
