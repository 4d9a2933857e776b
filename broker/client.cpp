#include "broker/client.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <random>

#include <spdlog/spdlog.h>

#include "broker/client_machine.hpp"
#include "mqtt/topic.hpp"

namespace thinggate::broker {

namespace {

constexpr std::chrono::milliseconds connect_timeout{10'000};
constexpr std::size_t input_shrink_threshold = 64 * 1024;
constexpr std::size_t max_kept_output_frames = 256;
// Output packets smaller than this are copied into a run: one frame of whole packets back to
// back, which the transport writes as it is. A delivery then costs no frame of its own, no
// reference to its message and no second copy in the transport. Larger payloads stay in the
// shared message and are written from it (scatter-gather).
constexpr std::size_t run_packet_below = 2048;
// A run is closed at this size (one TLS record of plaintext); the next packet starts another.
constexpr std::size_t max_run_bytes = 16 * 1024;
// The first heap buffer of a run: the last run's size, at least this.
constexpr std::size_t min_run_capacity = 256;

mqtt::qos min_qos(mqtt::qos a, mqtt::qos b) noexcept { return a < b ? a : b; }

std::string random_client_id(std::string_view prefix) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char hex[] = "0123456789abcdef";
    std::string id(prefix);
    for (int i = 0; i < 2; ++i) {
        auto v = rng();
        for (int k = 0; k < 16; ++k) {
            id.push_back(hex[(v >> (k * 4)) & 0xF]);
        }
    }
    return id;
}

/// A session identifier for lifecycle events (UUID-shaped).
std::string random_identifier() {
    std::string hex = random_client_id("");
    return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' + hex.substr(16, 4) + '-' +
           hex.substr(20, 12);
}

/// Encodes `p` into a frame's head (through a reused per-thread buffer: no allocation).
void encode_head(const mqtt::packet& p, mqtt::protocol_version v, frame_head& head) {
    thread_local std::string buf;
    buf.clear();
    mqtt::encode(p, v, buf);
    head.assign(buf);
}

/// PUBACK or PUBREC without properties, encoded directly (no mqtt::packet): 4 bytes, or 5 in v5
/// with a reason code other than success (the codec's shortest form, §3.4.2.1); 3.1.1 has no
/// reason code.
void encode_pub_ack(
        mqtt::packet_type type,
        std::uint16_t packet_id,
        mqtt::reason_code rc,
        bool v5,
        frame_head& head) {
    const bool with_reason = v5 && rc != mqtt::reason_code::success;
    const char bytes[5] = {
            static_cast<char>(static_cast<std::uint8_t>(type) << 4),
            static_cast<char>(with_reason ? 3 : 2),
            static_cast<char>(packet_id >> 8),
            static_cast<char>(packet_id & 0xFF),
            static_cast<char>(rc),
    };
    head.assign(std::string_view(bytes, with_reason ? 5 : 4));
}

/// Appends `bytes` to a frame that is only an inline head (an acknowledgement, or a run of them),
/// so that the acknowledgements of one read go out as one frame. False when `f` cannot take them.
bool append_to_frame(out_frame& f, std::string_view bytes) {
    if (!f.body.empty() || f.keep || f.head.on_heap() ||
        f.head.size() + bytes.size() > frame_head::inline_capacity) {
        return false;
    }
    char buf[frame_head::inline_capacity];
    std::memcpy(buf, f.head.data(), f.head.size());
    std::memcpy(buf + f.head.size(), bytes.data(), bytes.size());
    f.head.assign(std::string_view(buf, f.head.size() + bytes.size()));
    return true;
}

bool has_wildcard(std::string_view filter) noexcept {
    return filter.find_first_of("+#") != std::string_view::npos;
}

/// Input buffers given back by connections that wait for their socket (release_input), kept by
/// the shard thread for the next connection that reads: a busy publisher otherwise freed its
/// buffer after every read that drained the socket, and allocated and zero-filled it again for
/// the next. Last in, first out (the most recent is the likeliest in cache); at most
/// `max_buffers`, and only buffers up to input_shrink_threshold, so a shard keeps ≤ 512 KiB.
struct input_pool {
    static constexpr std::size_t max_buffers = 8;
    std::array<std::vector<std::uint8_t>, max_buffers> buffers;
    std::size_t count = 0;
};

input_pool& input_pool_here() noexcept {
    thread_local input_pool pool;
    return pool;
}

} // namespace

client_machine::client_machine(broker::impl& b, shard_id shard, connection_io& io, connection_info info)
    : b_(b)
    , shard_(shard)
    , io_(io)
    , info_(std::move(info))
    , publish_tokens_(b.opts.lim.max_publish_rate)
    , publish_byte_tokens_(b.opts.lim.max_publish_bytes_rate)
    , tokens_at_(b.rt.now()) {
    b_.shard_states[shard_].clients.insert(this);
}

client_machine::~client_machine() {
    alive_.reset();
    on_connection_lost();
    b_.shard_states[shard_].clients.erase(this);
}

// ---------------------------------------------------------------- input

std::span<std::uint8_t> client_machine::prepare_input(std::size_t min_size) {
    if (in_begin_ == in_end_) {
        in_begin_ = in_end_ = 0;
        if (auto& pool = input_pool_here(); in_.capacity() == 0 && pool.count != 0) {
            // Its old bytes are never read: only what the next read writes is.
            in_.swap(pool.buffers[--pool.count]);
        } else if (in_.size() > input_shrink_threshold) {
            in_.clear();
            in_.shrink_to_fit(); // a large packet passed; do not keep its buffer while idle
        }
    }
    if (in_.size() - in_end_ < min_size) {
        if (in_begin_ > 0) {
            std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
            in_end_ -= in_begin_;
            in_begin_ = 0;
        }
        if (in_.size() - in_end_ < min_size) {
            in_.resize(in_end_ + min_size);
        }
    }
    return {in_.data() + in_end_, in_.size() - in_end_};
}

void client_machine::release_input() noexcept {
    if (in_begin_ == in_end_) {
        in_begin_ = in_end_ = 0;
        auto& pool = input_pool_here();
        if (in_.capacity() != 0 && in_.size() <= input_shrink_threshold &&
            pool.count < input_pool::max_buffers) {
            pool.buffers[pool.count++].swap(in_); // its size is kept: no zero-fill when taken again
            return;
        }
        std::vector<std::uint8_t>().swap(in_);
    }
}

void client_machine::commit_input(std::size_t n) {
    in_end_ += n;
    process_input();
}

void client_machine::resume_reading() {
    process_input();
    if (!stalled() && !closing_) {
        io_.resume_input();
    }
}

void client_machine::process_input() {
    read_now_ns_ = 0; // the clock is read again for the packets of this read
    while (!closing_ && !stalled() && in_begin_ < in_end_) {
        mqtt::frame_header h;
        const std::span<const std::uint8_t> avail{in_.data() + in_begin_, in_end_ - in_begin_};
        auto status = mqtt::parse_frame(avail, b_.opts.lim.max_packet_size, h);
        if (!status) {
            fail(static_cast<mqtt::reason_code>(status.error().value()));
            return;
        }
        if (*status == mqtt::frame_status::incomplete) {
            return;
        }
        if (state_ == state::awaiting_connect && h.type() != mqtt::packet_type::connect) {
            // The first packet must be CONNECT [MQTT-3.1.0-1].
            spdlog::debug("{}: first packet is {}, closing", info_.remote_address, mqtt::to_string(h.type()));
            close_connection(false);
            return;
        }
        auto body = avail.subspan(h.header_size, h.remaining_length);
        if (h.type() == mqtt::packet_type::publish) {
            // Decoded as views into the input buffer (which stays put until the next read):
            // the topic and payload are copied once, into the routed message.
            mqtt::publish_view p;
            const mqtt::reason_code rc = mqtt::decode_publish(h, body, version_, p);
            in_begin_ += h.total_size();
            if (rc != mqtt::reason_code::success) {
                fail(rc);
                return;
            }
            on_publish(p);
            continue;
        }
        if (h.type() == mqtt::packet_type::puback && h.remaining_length == 2 && h.flags() == 0) {
            // The common PUBACK (success, no reason code, no properties), read in place with the
            // codec's rules: a packet id of 0 is malformed [MQTT-2.2.1-3]; other shapes below.
            const auto id = static_cast<std::uint16_t>((body[0] << 8) | body[1]);
            in_begin_ += h.total_size();
            if (id == 0) {
                fail(mqtt::reason_code::malformed_packet);
                return;
            }
            on_puback(id);
            continue;
        }
        auto decoded = mqtt::decode(h, body, version_);
        in_begin_ += h.total_size();
        if (!decoded) {
            if (h.type() == mqtt::packet_type::connect && decoded.error() == mqtt::reason_code::unsupported_protocol_version) {
                // Answer in the version the client can read: 3.1.1 return code 0x01 [MQTT-3.1.2-2].
                version_ = mqtt::protocol_version::v311;
                version_known_ = true;
            }
            fail(static_cast<mqtt::reason_code>(decoded.error().value()));
            return;
        }
        dispatch(*decoded);
    }
}

void client_machine::dispatch(mqtt::packet& p) {
    std::visit(
            [this](auto& pk) {
                using T = std::decay_t<decltype(pk)>;
                if constexpr (std::is_same_v<T, mqtt::connect>) {
                    if (state_ != state::awaiting_connect) {
                        fail(mqtt::reason_code::protocol_error); // second CONNECT [MQTT-3.1.0-2]
                        return;
                    }
                    on_connect(pk);
                } else if constexpr (std::is_same_v<T, mqtt::publish>) {
                    mqtt::publish_view v{pk.topic, pk.payload, pk.qos, pk.retain, pk.dup, pk.packet_id, std::move(pk.props)};
                    on_publish(v);
                } else if constexpr (std::is_same_v<T, mqtt::puback>) {
                    on_puback(pk.packet_id);
                } else if constexpr (std::is_same_v<T, mqtt::pubrec>) {
                    on_pubrec(pk);
                } else if constexpr (std::is_same_v<T, mqtt::pubrel>) {
                    on_pubrel(pk);
                } else if constexpr (std::is_same_v<T, mqtt::pubcomp>) {
                    on_pubcomp(pk);
                } else if constexpr (std::is_same_v<T, mqtt::subscribe>) {
                    on_subscribe(pk);
                } else if constexpr (std::is_same_v<T, mqtt::unsubscribe>) {
                    on_unsubscribe(pk);
                } else if constexpr (std::is_same_v<T, mqtt::pingreq>) {
                    on_pingreq();
                } else if constexpr (std::is_same_v<T, mqtt::disconnect>) {
                    on_disconnect(pk);
                } else {
                    // CONNACK, SUBACK, UNSUBACK, PINGRESP go server -> client only; AUTH needs an
                    // authentication method we never accept.
                    fail(mqtt::reason_code::protocol_error);
                }
            },
            p);
}

// ---------------------------------------------------------------- CONNECT

void client_machine::on_connect(mqtt::connect& p) {
    version_ = p.version;
    version_known_ = true;
    const auto& lim = b_.opts.lim;

    if (p.props.authentication_method) {
        fail(mqtt::reason_code::bad_authentication_method); // no enhanced authentication
        return;
    }
    if (p.client_id.empty()) {
        if (!v5() && !p.clean_start) {
            fail(mqtt::reason_code::client_identifier_not_valid); // [MQTT-3.1.3-8]
            return;
        }
        p.client_id = random_client_id(b_.opts.assigned_id_prefix);
        if (v5()) {
            p.props.assigned_client_identifier = p.client_id; // echoed in CONNACK below
        }
    } else if (p.client_id.size() > lim.max_client_id_length) {
        fail(mqtt::reason_code::client_identifier_not_valid);
        return;
    } else if (b_.opts.refuse_wildcard_client_ids && !policy::client_id_safe_for_policies(p.client_id)) {
        // '+' or '#' would turn ${iot:ClientId} in a policy into a wildcard grant.
        spdlog::debug("{}: client id '{}' contains '+' or '#', refused", info_.remote_address, p.client_id);
        fail(mqtt::reason_code::client_identifier_not_valid);
        return;
    }
    if (p.will) {
        if (!topic_within_limits(p.will->topic)) {
            fail(mqtt::reason_code::topic_name_invalid);
            return;
        }
        if (p.will->qos > lim.maximum_qos) {
            fail(mqtt::reason_code::qos_not_supported); // [MQTT-3.2.2-12]
            return;
        }
        if (p.will->retain && !lim.retain_available) {
            fail(mqtt::reason_code::retain_not_supported); // [MQTT-3.2.2-13]
            return;
        }
    }

    client_id_ = std::move(p.client_id);
    keep_alive_ = p.keep_alive;
    if (keep_alive_ > lim.max_keep_alive || (lim.max_keep_alive > 0 && keep_alive_ == 0 && lim.min_keep_alive > 0)) {
        keep_alive_ = lim.max_keep_alive;
    }
    if (keep_alive_ != 0 && keep_alive_ < lim.min_keep_alive) {
        keep_alive_ = lim.min_keep_alive;
    }
    if (v5()) {
        session_expiry_ = p.props.session_expiry_interval.value_or(0);
    } else {
        // 3.1.1: a persistent session lasts until the configured maximum (3.1.1 has no expiry).
        session_expiry_ = p.clean_start ? 0 : lim.max_session_expiry;
    }
    session_expiry_ = std::min(session_expiry_, lim.max_session_expiry);
    out_window_ = std::min<std::uint16_t>(p.props.receive_maximum.value_or(65535), lim.max_inflight_out);
    if (out_window_ == 0) {
        out_window_ = 1;
    }
    if (p.props.maximum_packet_size) {
        out_max_packet_ = *p.props.maximum_packet_size;
    }
    out_alias_max_ = p.props.topic_alias_maximum.value_or(0);
    request_problem_info_ = p.props.request_problem_information.value_or(1) != 0;
    will_.reset();
    if (p.will) {
        will_ = std::make_unique<mqtt::will_message>(std::move(*p.will));
    }
    if (v5()) {
        // Keep the assigned id to echo it.
        if (p.props.assigned_client_identifier) {
            scratch_ = *p.props.assigned_client_identifier;
        }
    }

    session_identifier_ = random_identifier();
    if (!authorize_connect(p)) {
        return; // iot:Connect or the will's iot:Publish denied: answered
    }
    if (!b_.connect_allowed(client_id_)) {
        spdlog::debug("{}: client {} reconnects faster than min_connect_interval_ms", info_.remote_address, client_id_);
        state_ = state::awaiting_connect; // answer with a CONNACK
        fail(mqtt::reason_code::connection_rate_exceeded);
        return;
    }

    state_ = state::awaiting_session;
    paused_ = true; // packets after CONNECT wait until the session is ours
    clean_start_ = p.clean_start;
    b_.open_session(*this, client_id_, clean_start_);
}

void client_machine::on_session_ready(session_ptr s, bool present) {
    if (closing_ || lost_) {
        if (s) {
            // The session is ours (on this shard) but the connection is already going: leave it
            // offline with its expiry running.
            b_.on_detached(s);
        }
        return;
    }
    if (!s) {
        b_.open_session(*this, client_id_, clean_start_);
        return;
    }
    session_ = std::move(s);
    auto& ss = *session_;
    ss.client = this;
    ss.online.store(true);
    ++ss.generation;
    ss.pending_will.reset(); // resumed in time: the delayed will is not sent [MQTT-3.1.3-9]
    ss.version = version_;
    ss.expiry_interval = session_expiry_;
    // A session with an expiry is written to the store; CONNACK waits for that write, so a
    // client told "session present" after a crash finds its session.
    bool wrote = false;
    if (b_.store != nullptr) {
        if (session_expiry_ > 0) {
            ss.durable.store(true);
            ss.disconnected_at.reset();
            b_.write_session(ss, std::nullopt, will_.get());
            wrote = true;
        } else if (ss.stored) {
            // Resumed as a session that ends with this connection: nothing of it is kept.
            b_.batch_here().erase_client(ss.client_id);
            ss.stored = false;
            ss.durable.store(false);
            wrote = true;
        }
    }

    const auto& lim = b_.opts.lim;
    mqtt::connack ack;
    ack.session_present = present;
    ack.reason = mqtt::reason_code::success;
    if (v5()) {
        auto& pr = ack.props;
        if (!scratch_.empty()) {
            pr.assigned_client_identifier = std::move(scratch_);
            scratch_.clear();
        }
        if (lim.receive_maximum != 65535) {
            pr.receive_maximum = lim.receive_maximum;
        }
        if (lim.maximum_qos != mqtt::qos::exactly_once) {
            pr.maximum_qos = static_cast<std::uint8_t>(lim.maximum_qos);
        }
        if (!lim.retain_available) {
            pr.retain_available = 0;
        }
        pr.maximum_packet_size = lim.max_packet_size;
        if (lim.topic_alias_maximum != 0) {
            pr.topic_alias_maximum = lim.topic_alias_maximum;
        }
        if (!lim.wildcard_subscriptions) {
            pr.wildcard_subscription_available = 0;
        }
        if (!lim.subscription_identifiers) {
            pr.subscription_identifier_available = 0;
        }
        if (!lim.shared_subscriptions) {
            pr.shared_subscription_available = 0;
        }
        pr.session_expiry_interval = session_expiry_;
        pr.server_keep_alive = keep_alive_;
    }
    if (wrote) {
        send_after_commit(ack, held_kind::connack);
    } else {
        send(ack);
    }
    state_ = state::connected;
    io_.read_timeout_changed();
    event_connected();
    spdlog::debug("{}: client {} connected (v{}, session present {})", info_.remote_address, client_id_,
                  static_cast<int>(version_), present);

    if (present) {
        resend_inflight(); // [MQTT-4.4.0-1]
    }
    pump_queue();
    paused_ = false;
    resume_reading();
}

// ---------------------------------------------------------------- PUBLISH in

bool client_machine::topic_within_limits(std::string_view topic) const noexcept {
    const auto& lim = b_.opts.lim;
    // A topic of n bytes has at most n + 1 levels: a short one needs no count (a pass over every
    // PUBLISH's topic, ~3 % of a fan-in broker's instructions).
    return topic.size() <= lim.max_topic_length &&
           (topic.size() < lim.max_topic_levels ||
            mqtt::level_count(topic) <= lim.max_topic_levels);
}

void client_machine::on_publish(mqtt::publish_view& p) {
    const auto& lim = b_.opts.lim;
    charge_publish(p.payload.size());
    if (p.qos > lim.maximum_qos) {
        fail(mqtt::reason_code::qos_not_supported); // [MQTT-3.3.1-8]
        return;
    }
    if (p.retain && !lim.retain_available) {
        fail(mqtt::reason_code::retain_not_supported); // [MQTT-3.3.1-10]
        return;
    }
    // Topic aliases from the client [MQTT-3.3.2-7..12].
    if (p.props.topic_alias) {
        const auto alias = *p.props.topic_alias;
        if (alias == 0 || alias > lim.topic_alias_maximum) {
            fail(mqtt::reason_code::topic_alias_invalid);
            return;
        }
        if (p.topic.empty()) {
            auto it = in_aliases_.find(alias);
            if (it == in_aliases_.end()) {
                fail(mqtt::reason_code::protocol_error);
                return;
            }
            p.topic = it->second;
        } else {
            in_aliases_[alias] = p.topic;
        }
        p.props.topic_alias.reset();
    } else if (p.topic.empty()) {
        fail(mqtt::reason_code::protocol_error);
        return;
    }
    const auto ack_reason_for = [&](mqtt::reason_code rc) {
        if (p.qos == mqtt::qos::at_least_once) {
            send_ack(mqtt::packet_type::puback, p.packet_id, rc, false);
        } else if (p.qos == mqtt::qos::exactly_once) {
            send_ack(mqtt::packet_type::pubrec, p.packet_id, rc, false);
        }
    };
    if (!topic_within_limits(p.topic) || p.topic.starts_with("$share/")) {
        if (v5() && p.qos != mqtt::qos::at_most_once) {
            ack_reason_for(mqtt::reason_code::topic_name_invalid);
        } else {
            fail(mqtt::reason_code::topic_name_invalid);
        }
        return;
    }
    if (policed() && (!allowed(policy::action::publish, p.topic) ||
                      (p.retain && !allowed(policy::action::retain_publish, p.topic)))) {
        deny_publish(p); // GATEWAY-SEMANTICS §2
        return;
    }
    if (p.props.payload_format_indicator.value_or(0) == 1 && !mqtt::valid_utf8(p.payload)) {
        if (p.qos != mqtt::qos::at_most_once) {
            ack_reason_for(mqtt::reason_code::payload_format_invalid); // [MQTT-3.3.2-4]
        }
        return;
    }
    if (p.qos == mqtt::qos::exactly_once) {
        auto& incoming = session_->incoming_qos2;
        if (incoming.contains(p.packet_id)) {
            // A duplicate: not routed again.
            send_ack(mqtt::packet_type::pubrec, p.packet_id, mqtt::reason_code::success, false);
            return;
        }
        if (incoming.size() >= lim.receive_maximum) {
            fail(mqtt::reason_code::receive_maximum_exceeded); // [MQTT-3.3.4-9]
            return;
        }
    }

    auto m = make_message(p.topic, p.payload); // one allocation: the message with its bytes
    m->qos = p.qos;
    m->retain = p.retain;
    m->origin = session_->key;
    std::uint32_t expiry = p.props.message_expiry_interval.value_or(0);
    if (lim.max_message_expiry != 0 && (expiry == 0 || expiry > lim.max_message_expiry)) {
        expiry = lim.max_message_expiry;
    }
    if (expiry != 0) {
        m->expires_at = b_.rt.now() + std::chrono::seconds(expiry);
    }
    // Forwarded: only what message.hpp lists (never the expiry interval, which becomes
    // expires_at, nor topic alias or subscription identifiers).
    m->set_props(std::move(p.props));
    const auto qos = m->qos;
    // Shared as const from here (converting at the call would copy the reference: two locked
    // instructions per PUBLISH).
    const message_ptr shared = std::move(m);
    const route_result routed = b_.route(shared, read_now_ns_);
    congestion_epoch_ = routed.congestion_epoch;

    if (routed.refused) {
        // queue_overflow = refuse: delivered to nobody. 3.1.1 has no way to say it in a PUBACK.
        if (v5()) {
            ack_reason_for(mqtt::reason_code::quota_exceeded);
        } else if (qos != mqtt::qos::at_most_once) {
            ack_reason_for(mqtt::reason_code::success);
        }
        return;
    }
    // The acknowledgement rule: PUBACK/PUBREC only once everything this PUBLISH wrote (queued
    // records of durable sessions, the retained message, the QoS 2 packet id) has committed.
    bool stored = routed.stored;
    if (qos == mqtt::qos::exactly_once) {
        session_->incoming_qos2.insert(p.packet_id);
        if (writes()) {
            b_.batch_here().put(persist::qos2_in_record{client_id_, p.packet_id});
            stored = true;
        }
    }
    if (stored) {
        // Durable targets have their own backpressure (the commit backlog); acknowledgements
        // held back for congestion go first, so the order stays.
        release_withheld();
    }
    if (qos != mqtt::qos::at_most_once) {
        const bool q1 = qos == mqtt::qos::at_least_once;
        const auto type = q1 ? mqtt::packet_type::puback : mqtt::packet_type::pubrec;
        if ((stored || (!held_.empty() && withheld_.empty())) && b_.store != nullptr) {
            held_frame h;
            encode_pub_ack(type, p.packet_id, mqtt::reason_code::success, v5(), h.f.head);
            h.kind = q1 ? held_kind::puback : held_kind::pubrec;
            h.packet_id = p.packet_id;
            hold_for_commit(std::move(h));
        } else {
            send_ack(type, p.packet_id, mqtt::reason_code::success, routed.congested);
        }
    }
    if (qos == mqtt::qos::at_most_once && routed.congested) {
        pause_for_congestion();
    }
    if (b_.over_backlog_here()) {
        // The store is behind: stop reading this publisher until it catches up.
        store_paused_ = true;
        b_.wait_backlog_here(alive_);
    }
}

void client_machine::resume_after_backlog() {
    store_paused_ = false;
    if (closing_ || state_ != state::connected) {
        return;
    }
    resume_reading();
}

void client_machine::charge_publish(std::size_t payload_bytes) {
    const auto& lim = b_.opts.lim;
    if (lim.max_publish_rate == 0 && lim.max_publish_bytes_rate == 0) {
        return;
    }
    // Token buckets with one second of burst, refilled continuously.
    const auto now = b_.rt.now();
    const double elapsed = std::chrono::duration<double>(now - tokens_at_).count();
    tokens_at_ = now;
    double wait_s = 0;
    if (lim.max_publish_rate != 0) {
        const double rate = lim.max_publish_rate;
        publish_tokens_ = std::min(rate, publish_tokens_ + elapsed * rate) - 1;
        wait_s = std::max(wait_s, -publish_tokens_ / rate);
    }
    if (lim.max_publish_bytes_rate != 0) {
        const double rate = lim.max_publish_bytes_rate;
        publish_byte_tokens_ = std::min(rate, publish_byte_tokens_ + elapsed * rate) - static_cast<double>(payload_bytes);
        wait_s = std::max(wait_s, -publish_byte_tokens_ / rate);
    }
    if (wait_s <= 0 || throttled_) {
        return;
    }
    // Over the rate: stop taking input (the transport stops reading, TCP slows the publisher)
    // until the budget is back. This packet is still handled; nothing is dropped.
    throttled_ = true;
    paused_ = true;
    const auto delay = std::chrono::milliseconds(static_cast<std::int64_t>(wait_s * 1000.0) + 1);
    std::weak_ptr<client_machine*> alive = alive_;
    b_.rt.post_after(shard_, delay, [alive] {
        if (auto self = alive.lock()) {
            (*self)->resume_after_throttle();
        }
    });
}

void client_machine::resume_after_throttle() {
    throttled_ = false;
    if (closing_ || state_ != state::connected) {
        return;
    }
    paused_ = false;
    resume_reading();
}

void client_machine::on_pubrel(const mqtt::pubrel& p) {
    const bool known = session_->incoming_qos2.erase(p.packet_id) > 0;
    mqtt::pubcomp ack{p.packet_id, known ? mqtt::reason_code::success : mqtt::reason_code::packet_identifier_not_found, {}};
    if (known && writes()) {
        // PUBCOMP once the id is gone from the store too: a stale id would swallow the next
        // message that reuses it.
        b_.batch_here().erase_qos2_in(client_id_, p.packet_id);
        send_after_commit(ack, held_kind::control);
    } else {
        send(ack);
    }
}

// ---------------------------------------------------------------- acknowledgements of our PUBLISH

void client_machine::on_puback(std::uint16_t packet_id) {
    auto& inflight = session_->inflight;
    auto it = inflight.find(packet_id);
    if (it != inflight.end() && it->second.st == inflight_delivery::state::wait_puback) {
        if (writes()) {
            b_.batch_here().erase_inflight(client_id_, it->second.seq);
        }
        inflight.erase(it);
        pump_queue();
    }
}

void client_machine::on_pubrec(const mqtt::pubrec& p) {
    auto& inflight = session_->inflight;
    auto it = inflight.find(p.packet_id);
    if (it == inflight.end() || it->second.st != inflight_delivery::state::wait_pubrec) {
        if (it == inflight.end()) {
            send(mqtt::pubrel{p.packet_id, mqtt::reason_code::packet_identifier_not_found, {}});
        }
        return;
    }
    if (mqtt::is_failure(p.reason)) {
        if (writes()) {
            b_.batch_here().erase_inflight(client_id_, it->second.seq);
        }
        inflight.erase(it); // the receiver refused it: done [MQTT-4.3.3-4]
        pump_queue();
        return;
    }
    it->second.st = inflight_delivery::state::wait_pubcomp;
    it->second.d.msg.reset(); // the payload is no longer needed
    if (writes()) {
        persist::inflight_record r;
        r.client_id = client_id_;
        r.seq = it->second.seq;
        r.packet_id = p.packet_id;
        r.state = persist::inflight_state::wait_pubcomp;
        r.d.qos = it->second.d.qos;
        b_.batch_here().put(r);
    }
    send(mqtt::pubrel{p.packet_id, mqtt::reason_code::success, {}});
}

void client_machine::on_pubcomp(const mqtt::pubcomp& p) {
    auto& inflight = session_->inflight;
    auto it = inflight.find(p.packet_id);
    if (it != inflight.end() && it->second.st == inflight_delivery::state::wait_pubcomp) {
        if (writes()) {
            b_.batch_here().erase_inflight(client_id_, it->second.seq);
        }
        inflight.erase(it);
        pump_queue();
    }
}

// ---------------------------------------------------------------- SUBSCRIBE / UNSUBSCRIBE

void client_machine::on_subscribe(mqtt::subscribe& p) {
    const auto& lim = b_.opts.lim;
    const bool aws = b_.opts.compat == compat_profile::aws_iot;
    std::uint32_t sub_id = 0;
    if (!p.props.subscription_identifiers.empty()) {
        if (!lim.subscription_identifiers) {
            fail(mqtt::reason_code::subscription_identifiers_not_supported); // [MQTT-3.2.2-...]
            return;
        }
        sub_id = p.props.subscription_identifiers.front();
    }
    mqtt::suback ack;
    ack.packet_id = p.packet_id;
    ack.reasons.reserve(p.entries.size());
    struct retained_request {
        std::string filter;
        mqtt::qos qos;
        std::uint32_t sub_id;
    };
    std::vector<retained_request> send_retained;
    std::vector<std::string> granted;
    bool stored = false;

    std::size_t index = 0;
    for (auto& e : p.entries) {
        ++index;
        auto shared = mqtt::parse_shared(e.filter);
        const std::string_view plain = shared ? shared->filter : std::string_view(e.filter);
        mqtt::reason_code rc;
        if (lim.max_filters_per_subscribe != 0 && index > lim.max_filters_per_subscribe) {
            rc = mqtt::reason_code::quota_exceeded;
        } else if (!topic_within_limits(e.filter)) {
            rc = mqtt::reason_code::topic_filter_invalid;
        } else if (shared && !lim.shared_subscriptions) {
            rc = mqtt::reason_code::shared_subscriptions_not_supported;
        } else if (has_wildcard(plain) && !lim.wildcard_subscriptions) {
            rc = mqtt::reason_code::wildcard_subscriptions_not_supported;
        } else if (lim.max_subscriptions != 0 && session_->subscriptions.size() >= lim.max_subscriptions &&
                   !session_->subscriptions.contains(e.filter)) {
            rc = mqtt::reason_code::quota_exceeded;
        } else if (policed() && !may_subscribe(e.filter, shared ? shared->filter : std::string_view())) {
            ++b_.denied;
            if (aws && !v5()) {
                fail(mqtt::reason_code::not_authorized); // aws-iot 3.1.1: close the connection
                return;
            }
            rc = mqtt::reason_code::not_authorized; // 3.1.1: 0x80 failure for that filter
        } else {
            e.options.max_qos = min_qos(e.options.max_qos, lim.maximum_qos);
            const bool added = b_.subscribe(session_, e.filter, session_subscription{e.options, sub_id});
            if (writes()) {
                b_.batch_here().put(persist::subscription_record{client_id_, e.filter, e.options, sub_id});
                stored = true;
            }
            granted.push_back(e.filter);
            rc = static_cast<mqtt::reason_code>(e.options.max_qos);
            // Retained messages: not for shared subscriptions [MQTT-3.8.4-...], per Retain Handling.
            const auto rh = e.options.retain_handling;
            const bool want = !shared && (rh == 0 || (rh == 1 && added));
            const bool allowed = !aws || !has_wildcard(plain); // aws-iot: exact filters only
            if (want && allowed) {
                send_retained.push_back({e.filter, e.options.max_qos, sub_id});
            }
        }
        ack.reasons.push_back(rc);
    }
    if (stored) {
        send_after_commit(ack, held_kind::control); // SUBACK once the subscriptions are kept
    } else {
        send(ack);
    }
    event_subscriptions(true, granted);

    const auto now = b_.rt.now();
    for (const auto& r : send_retained) {
        std::vector<message_ptr> found;
        {
            std::shared_lock lock(b_.retained_mutex);
            b_.retained.match(r.filter, b_.match_opts, now, [&](const message_ptr& m) { found.push_back(m); });
        }
        for (auto& m : found) {
            queued_delivery d{m, min_qos(m->qos, r.qos), true, {}}; // RETAIN set on these [MQTT-3.3.1-8]
            if (r.sub_id != 0) {
                d.subscription_ids.push_back(r.sub_id);
            }
            deliver(std::move(d));
        }
    }
}

void client_machine::on_unsubscribe(const mqtt::unsubscribe& p) {
    mqtt::unsuback ack;
    ack.packet_id = p.packet_id;
    bool stored = false;
    std::vector<std::string> removed;
    for (const auto& f : p.filters) {
        const bool existed = b_.unsubscribe(session_, f);
        if (existed) {
            removed.push_back(f);
        }
        if (existed && writes()) {
            b_.batch_here().erase_subscription(client_id_, f);
            stored = true;
        }
        if (v5()) {
            ack.reasons.push_back(existed ? mqtt::reason_code::success : mqtt::reason_code::no_subscription_existed);
        }
    }
    if (stored) {
        send_after_commit(ack, held_kind::control);
    } else {
        send(ack);
    }
    event_subscriptions(false, removed);
}

void client_machine::on_pingreq() { send(mqtt::pingresp{}); }

void client_machine::on_disconnect(const mqtt::disconnect& p) {
    if (v5() && p.props.session_expiry_interval) {
        if (session_expiry_ == 0 && *p.props.session_expiry_interval != 0) {
            fail(mqtt::reason_code::protocol_error); // [MQTT-3.14.2-2]
            return;
        }
        session_expiry_ = std::min(*p.props.session_expiry_interval, b_.opts.lim.max_session_expiry);
        session_->expiry_interval = session_expiry_;
    }
    // Reason 0x04 asks for the will; any other clean DISCONNECT discards it [MQTT-3.1.2-10].
    clean_disconnect_ = p.reason != mqtt::reason_code::disconnect_with_will;
    disconnect_reason_ = "CLIENT_INITIATED_DISCONNECT";
    client_initiated_ = true;
    detach(!clean_disconnect_);
    close_connection(false);
}

// ---------------------------------------------------------------- delivery out

void client_machine::deliver(queued_delivery d) {
    if (d.qos == mqtt::qos::at_most_once) {
        deliver_now(d);
        return;
    }
    if (policed() && !may_receive(d)) {
        if (d.seq != 0 && writes()) {
            b_.batch_here().erase_queued(client_id_, d.seq);
        }
        return;
    }
    auto& s = *session_;
    if (s.inflight.size() >= out_window_ || !s.queue.empty()) {
        b_.enqueue(s, std::move(d)); // window full: wait in order [MQTT-4.9.0-...]
        return;
    }
    send_inflight(std::move(d));
}

void client_machine::deliver_now(const queued_delivery& d) {
    if (policed() && !may_receive(d)) {
        if (d.seq != 0 && writes()) {
            b_.batch_here().erase_queued(client_id_, d.seq);
        }
        return;
    }
    const auto& lim = b_.opts.lim;
    if (lim.outbound_budget_bytes != 0 && out_bytes_ > lim.outbound_budget_bytes) {
        if (lim.slow_consumer == slow_consumer_policy::drop_qos0) {
            ++b_.dropped;
            return;
        }
        spdlog::info("client {}: outbound budget of {} bytes exceeded, disconnecting slow consumer", client_id_,
                     lim.outbound_budget_bytes);
        fail(mqtt::reason_code::quota_exceeded);
        return;
    }
    send_publish(d, 0, false);
}

void client_machine::send_inflight(queued_delivery d) {
    auto& s = *session_;
    const auto pid = next_packet_id();
    auto& entry = s.inflight[pid];
    entry.d = std::move(d);
    entry.st = entry.d.qos == mqtt::qos::at_least_once ? inflight_delivery::state::wait_puback
                                                       : inflight_delivery::state::wait_pubrec;
    if (entry.d.seq == 0) {
        entry.d.seq = s.next_seq.fetch_add(1, std::memory_order_relaxed);
    }
    entry.seq = entry.d.seq;
    if (!writes()) {
        send_publish(entry.d, pid, false);
        return;
    }
    // Queued -> in flight in one batch, under the same key.
    auto& batch = b_.batch_here();
    batch.erase_queued(client_id_, entry.seq);
    persist::inflight_record r;
    r.client_id = client_id_;
    r.seq = entry.seq;
    r.packet_id = pid;
    r.state = entry.d.qos == mqtt::qos::at_least_once ? persist::inflight_state::wait_puback
                                                      : persist::inflight_state::wait_pubrec;
    r.d = b_.to_record(entry.d);
    batch.put(r);
    if (entry.d.qos == mqtt::qos::exactly_once) {
        // Exactly once: the packet id must be known to the store before the receiver sees it, or
        // a restart would send the message again as a new one.
        held_barrier_ = true;
    }
    send_publish(entry.d, pid, false);
    held_barrier_ = false;
}

void client_machine::pump_queue() {
    if (!session_ || closing_) {
        return;
    }
    auto& s = *session_;
    std::optional<clock::time_point> now; // read once, and only for a message that can expire
    while (!s.queue.empty()) {
        auto& front = s.queue.front();
        if (front.qos != mqtt::qos::at_most_once && s.inflight.size() >= out_window_) {
            return;
        }
        queued_delivery d = b_.pop_queued(s);
        if (d.msg->expires_at && !now) {
            now = b_.rt.now();
        }
        if ((d.msg->expires_at && d.msg->expired(*now)) || (policed() && !may_receive(d))) {
            ++b_.dropped;
            if (d.seq != 0 && writes()) {
                b_.batch_here().erase_queued(client_id_, d.seq);
            }
            continue;
        }
        if (d.qos == mqtt::qos::at_most_once) {
            send_publish(d, 0, false);
            continue;
        }
        send_inflight(std::move(d));
    }
}

void client_machine::resend_inflight() {
    auto& s = *session_;
    std::vector<std::pair<std::uint64_t, std::uint16_t>> order;
    order.reserve(s.inflight.size());
    for (const auto& [pid, e] : s.inflight) {
        order.emplace_back(e.seq, pid);
    }
    std::sort(order.begin(), order.end());
    for (const auto& [seq, pid] : order) {
        auto& e = s.inflight[pid];
        if (e.st == inflight_delivery::state::wait_pubcomp) {
            send(mqtt::pubrel{pid, mqtt::reason_code::success, {}});
        } else {
            send_publish(e.d, pid, true); // DUP on redelivery [MQTT-3.3.1-1]
        }
    }
}

std::uint16_t client_machine::next_packet_id() {
    auto& s = *session_;
    for (;;) {
        s.last_packet_id = static_cast<std::uint16_t>(s.last_packet_id + 1);
        if (s.last_packet_id != 0 && !s.inflight.contains(s.last_packet_id)) {
            return s.last_packet_id;
        }
    }
}

void client_machine::send_publish(const queued_delivery& d, std::uint16_t packet_id, bool dup) {
    const message& m = *d.msg;

    // The head of a delivery without anything per subscriber (no subscription identifiers, no
    // topic alias, no expiry countdown, not a redelivery) is the same bytes for every subscriber
    // of a message but the packet id: kept per thread from the message's second delivery on,
    // then copied, with the packet id patched in. A message's first delivery (fan-in: its only
    // one) writes the head directly when it has no properties, and takes no reference to it.
    struct head_cache {
        message_ptr msg; ///< keeps the address from being reused by another message
        mqtt::protocol_version version = mqtt::protocol_version::v5;
        mqtt::qos qos = mqtt::qos::at_most_once;
        bool retain = false;
        std::size_t id_offset = 0; ///< where the packet id is (QoS 1/2)
        frame_head head;
        /// The message whose head was last written directly (only compared, never read: a
        /// second delivery of it fills the cache).
        const message* seen = nullptr;
    };
    thread_local head_cache cache;
    const bool per_subscriber =
            !d.subscription_ids.empty() || m.expires_at || (v5() && out_alias_max_ != 0);
    const bool cacheable = !dup && !per_subscriber;
    if (cacheable && cache.msg == d.msg && cache.version == version_ && cache.qos == d.qos &&
        cache.retain == d.retain) {
        const std::size_t n = cache.head.size() + m.payload.size();
        if (n < run_packet_below && n <= out_max_packet_ && !held_barrier_ && held_.empty()) {
            // The common delivery: the cached head and the payload straight into the run.
            b_.add_counter(b_.messages_out, std::uint64_t{1});
            out_bytes_ += n;
            char* p = append_run(n);
            std::memcpy(p, cache.head.data(), cache.head.size());
            if (packet_id != 0) {
                p[cache.id_offset] = static_cast<char>(packet_id >> 8);
                p[cache.id_offset + 1] = static_cast<char>(packet_id & 0xFF);
            }
            if (!m.payload.empty()) {
                std::memcpy(p + cache.head.size(), m.payload.data(), m.payload.size());
            }
            return;
        }
        out_frame f;
        f.head = cache.head;
        if (packet_id != 0) {
            f.head.data()[cache.id_offset] = static_cast<char>(packet_id >> 8);
            f.head.data()[cache.id_offset + 1] = static_cast<char>(packet_id & 0xFF);
        }
        finish_publish(std::move(f), d, packet_id, false);
        return;
    }
    if (!per_subscriber && (!m.has_props() || !v5())) {
        // Nothing to encode but the fixed header, the topic and the packet id (3.1.1 carries
        // no properties): written in one pass straight where it goes.
        const std::size_t head_n =
                mqtt::plain_publish_head_size(m.topic.size(), d.qos, m.payload.size(), version_);
        const std::size_t n = head_n + m.payload.size();
        const bool in_run =
                n < run_packet_below && n <= out_max_packet_ && !held_barrier_ && held_.empty();
        out_frame f;
        char* head = in_run ? append_run(n) : f.head.extend(head_n);
        mqtt::write_plain_publish_head(
                m.topic, d.qos, d.retain, dup, packet_id, m.payload.size(), version_, head);
        if (cacheable) {
            if (cache.seen == &m) {
                // Its second delivery here: the next ones copy this head.
                cache.msg = d.msg;
                cache.version = version_;
                cache.qos = d.qos;
                cache.retain = d.retain;
                cache.head.assign(std::string_view(head, head_n));
                cache.id_offset = head_n - 2 - (v5() ? 1 : 0);
            } else {
                cache.seen = &m;
            }
        }
        if (!in_run) {
            finish_publish(std::move(f), d, packet_id, false);
            return;
        }
        b_.add_counter(b_.messages_out, std::uint64_t{1});
        out_bytes_ += n;
        if (!m.payload.empty()) {
            std::memcpy(head + head_n, m.payload.data(), m.payload.size());
        }
        return;
    }
    // Reused per shard thread (not per connection: 560 bytes each, idle memory): assignments
    // keep the strings' and vectors' capacity, so a delivery allocates nothing in steady state
    // (the payload is never copied: the frame borrows it). Every field the encoder reads for
    // this version is assigned below.
    out_frame f;
    thread_local mqtt::publish out_head;
    mqtt::publish& head = out_head;
    bool new_alias = false;
    head.qos = d.qos;
    head.retain = d.retain;
    head.dup = dup;
    head.packet_id = packet_id;
    if (v5()) {
        // Only what a routed message carries (message.hpp) - assigning the whole properties
        // struct per delivery cost more than encoding the head.
        const mqtt::properties& mp = m.props();
        head.props.payload_format_indicator = mp.payload_format_indicator;
        head.props.content_type = mp.content_type;
        head.props.response_topic = mp.response_topic;
        head.props.correlation_data = mp.correlation_data;
        head.props.user_properties = mp.user_properties;
        head.props.message_expiry_interval.reset();
        head.props.topic_alias.reset();
        head.props.subscription_identifiers = d.subscription_ids;
        if (m.expires_at) {
            const auto left = std::chrono::ceil<std::chrono::seconds>(*m.expires_at - b_.rt.now()).count();
            head.props.message_expiry_interval = static_cast<std::uint32_t>(std::max<long long>(left, 1));
        }
        // Outbound topic aliases, when the client accepts them [MQTT-3.3.2-...].
        bool aliased = false;
        if (out_alias_max_ != 0 && !dup) {
            auto it = out_aliases_.find(m.topic);
            if (it != out_aliases_.end()) {
                head.props.topic_alias = it->second;
                aliased = true;
            } else if (out_aliases_.size() < out_alias_max_) {
                const auto alias = static_cast<std::uint16_t>(out_aliases_.size() + 1);
                out_aliases_.emplace(m.topic, alias);
                head.props.topic_alias = alias;
                new_alias = true;
            }
        }
        if (aliased) {
            head.topic.clear();
        } else {
            head.topic = m.topic;
        }
    } else {
        head.topic = m.topic;
    }
    {
        thread_local std::string buf;
        buf.clear();
        mqtt::encode_publish_head(head, m.payload.size(), version_, buf);
        f.head.assign(buf);
    }
    if (cacheable) {
        cache.msg = d.msg;
        cache.version = version_;
        cache.qos = d.qos;
        cache.retain = d.retain;
        cache.head = f.head;
        std::size_t i = 1;
        while ((static_cast<std::uint8_t>(f.head.data()[i]) & 0x80) != 0) {
            ++i; // Remaining Length (1..4 bytes)
        }
        cache.id_offset = i + 1 + 2 + m.topic.size();
    }
    finish_publish(std::move(f), d, packet_id, new_alias);
}

void client_machine::finish_publish(out_frame&& f, const queued_delivery& d, std::uint16_t packet_id, bool new_alias) {
    const message& m = *d.msg;
    if (f.head.size() + m.payload.size() > out_max_packet_) {
        // Larger than the client accepts: discarded as if sent [MQTT-3.1.2-25].
        ++b_.dropped;
        if (new_alias) {
            if (auto it = out_aliases_.find(m.topic.view()); it != out_aliases_.end()) {
                out_aliases_.erase(it); // the client never learnt it
            }
        }
        if (packet_id != 0) {
            auto it = session_->inflight.find(packet_id);
            if (it != session_->inflight.end()) {
                if (writes()) {
                    b_.batch_here().erase_inflight(client_id_, it->second.seq);
                }
                session_->inflight.erase(it);
            }
        }
        return;
    }
    b_.add_counter(b_.messages_out, std::uint64_t{1});
    if (!held_barrier_ && held_.empty() && f.head.size() + m.payload.size() < run_packet_below) {
        const std::size_t n = f.head.size() + m.payload.size();
        out_bytes_ += n;
        char* p = append_run(n);
        std::memcpy(p, f.head.data(), f.head.size());
        if (!m.payload.empty()) {
            std::memcpy(p + f.head.size(), m.payload.data(), m.payload.size());
        }
        return;
    }
    f.body = m.payload;
    f.keep = d.msg;
    if (held_barrier_) {
        held_.push_back(held_frame{std::move(f), register_commit_wait(), held_kind::plain, 0});
        out_bytes_ += held_.back().f.size();
        return;
    }
    push_frame(std::move(f));
}

// ---------------------------------------------------------------- output, errors, close

void client_machine::send(const mqtt::packet& p) {
    out_frame f;
    encode_head(p, version_, f.head);
    push_frame(std::move(f));
}

void client_machine::send_ack(
        mqtt::packet_type type, std::uint16_t packet_id, mqtt::reason_code rc, bool congested) {
    frame_head ack;
    encode_pub_ack(type, packet_id, rc, v5(), ack);
    if (withheld_.empty() && (!congested || b_.opts.lim.max_ack_delay_ms == 0)) {
        out_frame f; // appended to the output's run of small packets
        f.head = std::move(ack);
        push_frame(std::move(f));
        return;
    }
    out_bytes_ += ack.size();
    if (!withheld_.empty() && append_to_frame(withheld_.back(), ack)) {
        return; // the wait for the first one is running
    }
    out_frame f;
    f.head = std::move(ack);
    withheld_.push_back(std::move(f));
    if (withheld_.size() > 1) {
        return;
    }
    // The first one held back: wait for a queue to drain, at most max_ack_delay_ms.
    wait_for_drain(&client_machine::withheld_round_);
}

void client_machine::wait_for_drain(std::uint64_t client_machine::*round) {
    const auto r = ++(this->*round);
    b_.wait_congestion(shard_, alive_, congestion_epoch_);
    std::weak_ptr<client_machine*> alive = alive_;
    b_.rt.post_after(shard_, std::chrono::milliseconds(b_.opts.lim.max_ack_delay_ms), [alive, round, r] {
        if (auto self = alive.lock(); self && (*self)->*round == r) {
            (*self)->release_withheld();
        }
    });
}

void client_machine::pause_for_congestion() {
    if (flow_paused_ || b_.opts.lim.max_ack_delay_ms == 0) {
        return;
    }
    // QoS 0 has no acknowledgement to hold back: the transport stops reading this publisher,
    // so TCP slows it instead of its messages being dropped at the subscriber's budget.
    flow_paused_ = true;
    wait_for_drain(&client_machine::flow_round_);
}

void client_machine::release_withheld() {
    if (flow_paused_) {
        flow_paused_ = false;
        ++flow_round_; // the pending timer is stale now
        if (!closing_ && state_ == state::connected) {
            resume_reading();
        }
    }
    if (withheld_.empty()) {
        return;
    }
    ++withheld_round_; // the pending timer is stale now
    auto frames = std::move(withheld_);
    withheld_.clear();
    for (auto& f : frames) {
        out_bytes_ -= std::min(out_bytes_, f.size());
        push_frame(std::move(f)); // behind frames held for a commit, if any
    }
}

void client_machine::push_frame(out_frame&& f) {
    out_bytes_ += f.size();
    if (!held_.empty()) {
        held_.push_back(held_frame{std::move(f), 0, held_kind::plain, 0}); // keeps the order
        return;
    }
    if (f.size() < run_packet_below) {
        char* p = append_run(f.size());
        std::memcpy(p, f.head.data(), f.head.size());
        if (!f.body.empty()) {
            std::memcpy(p + f.head.size(), f.body.data(), f.body.size());
        }
        return;
    }
    out_.push_back(std::move(f));
    io_.wake_writer();
}

char* client_machine::append_run(std::size_t n) {
    if (out_.empty() || !out_.back().body.empty() || out_.back().head.size() + n > max_run_bytes) {
        out_.emplace_back();
        io_.wake_writer();
    }
    frame_head& run = out_.back().head;
    if (!run.on_heap() && run.size() + n > frame_head::inline_capacity) {
        // Leaving the inline bytes: as much as the last run needed, so that a steady flow
        // allocates once per run (geometric growth beyond it).
        run.reserve(std::max(run.size() + n, std::clamp<std::size_t>(last_run_bytes_, min_run_capacity, max_run_bytes)));
    }
    return run.extend(n);
}

bool client_machine::writes() const noexcept {
    return b_.store != nullptr && session_ && session_->durable.load(std::memory_order_relaxed);
}

std::uint64_t client_machine::register_commit_wait() {
    const std::uint64_t ticket = b_.open_ticket_here();
    if (registered_ticket_ != ticket) {
        registered_ticket_ = ticket;
        std::weak_ptr<client_machine*> alive = alive_;
        b_.after_commit([alive, ticket](boost::system::error_code ec) {
            if (auto self = alive.lock()) {
                (*self)->on_commit_done(ticket, ec);
            }
        });
    }
    return ticket;
}

void client_machine::send_after_commit(const mqtt::packet& p, held_kind kind, std::uint16_t packet_id) {
    if (b_.store == nullptr) {
        send(p);
        return;
    }
    held_frame h;
    encode_head(p, version_, h.f.head);
    h.kind = kind;
    h.packet_id = packet_id;
    hold_for_commit(std::move(h));
}

void client_machine::hold_for_commit(held_frame&& h) {
    h.ticket = register_commit_wait();
    out_bytes_ += h.f.size();
    held_.push_back(std::move(h));
}

void client_machine::on_commit_done(std::uint64_t ticket, boost::system::error_code ec) {
    committed_ticket_ = std::max(committed_ticket_, ticket);
    bool woke = false;
    while (!held_.empty() && held_.front().ticket <= committed_ticket_) {
        held_frame h = std::move(held_.front());
        held_.pop_front();
        if (ec && h.ticket == ticket && h.kind != held_kind::plain) {
            out_bytes_ -= std::min(out_bytes_, h.f.size());
            // The write this answer depends on failed (disk full, I/O error): say so instead.
            if ((h.kind == held_kind::puback || h.kind == held_kind::pubrec) && v5()) {
                if (h.kind == held_kind::pubrec && session_) {
                    session_->incoming_qos2.erase(h.packet_id); // a retry is routed
                }
                encode_pub_ack(
                        h.kind == held_kind::puback ? mqtt::packet_type::puback
                                                    : mqtt::packet_type::pubrec,
                        h.packet_id,
                        mqtt::reason_code::quota_exceeded,
                        true,
                        h.f.head);
                out_bytes_ += h.f.size();
                out_.push_back(std::move(h.f));
                woke = true;
                continue;
            }
            held_.clear();
            if (h.kind == held_kind::connack) {
                state_ = state::awaiting_connect;
                fail(mqtt::reason_code::server_unavailable);
            } else {
                fail(mqtt::reason_code::quota_exceeded);
            }
            return;
        }
        out_.push_back(std::move(h.f));
        woke = true;
    }
    if (woke) {
        io_.wake_writer();
    }
}

bool client_machine::take_output(std::vector<out_frame>& out) {
    if (out_.empty()) {
        return false;
    }
    if (out_.back().body.empty()) {
        last_run_bytes_ = static_cast<std::uint32_t>(out_.back().head.size());
    }
    if (out.empty()) {
        out.swap(out_); // no frame moved; the two vectors' capacities are reused in turn
    } else {
        for (auto& f : out_) {
            out.push_back(std::move(f));
        }
        out_.clear();
    }
    if (out_.capacity() > max_kept_output_frames) {
        out_ = {}; // do not keep a burst's buffer while idle
    }
    return true;
}

void client_machine::output_written(std::size_t n) {
    out_bytes_ -= std::min(out_bytes_, n);
    if (session_ && session_->congested.load(std::memory_order_relaxed)) {
        b_.update_congestion(*session_); // the output drained: publishers may go on
    }
}

std::chrono::milliseconds client_machine::read_timeout() const noexcept {
    if (state_ != state::connected) {
        return connect_timeout;
    }
    // 1.5 x keep-alive [MQTT-3.1.2-24]; 0 disables it.
    return std::chrono::milliseconds(std::uint64_t{keep_alive_} * 1500);
}

void client_machine::on_read_timeout() {
    if (closing_) {
        return;
    }
    spdlog::debug("{}: client {} keep-alive timeout", info_.remote_address, client_id_);
    disconnect_reason_ = "MQTT_KEEP_ALIVE_TIMEOUT";
    fail(mqtt::reason_code::keep_alive_timeout);
}

void client_machine::fail(mqtt::reason_code rc) {
    if (closing_) {
        return;
    }
    spdlog::debug("{}: client '{}' closing: {}", info_.remote_address, client_id_, mqtt::to_string(rc));
    if (disconnect_reason_ == "CONNECTION_LOST") {
        disconnect_reason_ = rc == mqtt::reason_code::quota_exceeded ? "THROTTLED"
                             : rc == mqtt::reason_code::not_authorized ? "AUTH_ERROR"
                                                                       : "CLIENT_ERROR";
    }
    if (state_ == state::awaiting_connect) {
        // CONNACK with the reason when we know which version the client reads [MQTT-3.2.2-...].
        if (version_known_) {
            mqtt::connack ack;
            ack.reason = rc;
            if (v5() || mqtt::to_v311_connack(rc) != 0) {
                send(ack);
            }
        }
    } else if (v5() && state_ == state::connected) {
        send(mqtt::disconnect{rc, {}});
    }
    detach(true);
    close_connection(true);
}

void client_machine::kick(mqtt::reason_code reason) {
    if (closing_) {
        return;
    }
    if (v5()) {
        send(mqtt::disconnect{reason, {}}); // 0x8E session taken over [MQTT-3.1.4-3]
    }
    disconnect_reason_ = "DUPLICATE_CLIENTID";
    detach(true); // the old connection's will is published
    close_connection(true);
}

void client_machine::on_server_shutdown() {
    if (closing_) {
        return;
    }
    if (v5() && state_ == state::connected) {
        send(mqtt::disconnect{mqtt::reason_code::server_shutting_down, {}});
    }
    disconnect_reason_ = "SERVER_INITIATED_DISCONNECT";
    detach(false);
    close_connection(true);
}

void client_machine::close_connection(bool flush) {
    if (closing_) {
        return;
    }
    closing_ = true;
    io_.close(flush);
}

void client_machine::on_connection_lost() {
    if (lost_) {
        return;
    }
    lost_ = true;
    closing_ = true;
    if (claim_ != 0) {
        b_.shard_states[shard_].pending_connects.erase(claim_);
        claim_ = 0;
    }
    detach(!clean_disconnect_);
}

void client_machine::detach(bool publish_will) {
    event_disconnected();
    if (!session_) {
        will_.reset();
        return;
    }
    session_ptr s = std::move(session_);
    session_.reset();
    if (s->client == this) {
        s->client = nullptr;
        s->online.store(false);
        b_.update_congestion(*s); // an offline session is not a slow consumer
        if (publish_will && will_) {
            const std::uint32_t delay = v5() ? will_->props.will_delay_interval.value_or(0) : 0;
            if (delay == 0 || s->expiry_interval == 0) {
                b_.publish_will(*will_, s->key);
            } else {
                s->pending_will = std::move(will_);
            }
        }
        will_.reset();
        b_.on_detached(s);
    }
    will_.reset();
}

// ---------------------------------------------------------------- broker::client facade

struct client::impl {
    impl(broker::impl& b, shard_id shard, connection_io& io, connection_info info)
        : m(b, shard, io, std::move(info)) {}
    client_machine m;
};

client::client(broker& b, shard_id shard, connection_io& io, connection_info info)
    : impl_(std::make_unique<impl>(b.internals(), shard, io, std::move(info))) {}

client::~client() = default;

std::span<std::uint8_t> client::prepare_input(std::size_t min_size) { return impl_->m.prepare_input(min_size); }

void client::commit_input(std::size_t n) { impl_->m.commit_input(n); }

void client::release_input() noexcept { impl_->m.release_input(); }

bool client::input_paused() const noexcept { return impl_->m.input_paused(); }

bool client::take_output(std::vector<out_frame>& out) { return impl_->m.take_output(out); }

void client::output_written(std::size_t n) { impl_->m.output_written(n); }

std::chrono::milliseconds client::read_timeout() const noexcept { return impl_->m.read_timeout(); }

void client::on_read_timeout() { impl_->m.on_read_timeout(); }

void client::on_connection_lost() { impl_->m.on_connection_lost(); }

void client::on_server_shutdown() { impl_->m.on_server_shutdown(); }

bool client::closed() const noexcept { return impl_->m.closed(); }

const connection_info& client::info() const noexcept { return impl_->m.info(); }

} // namespace thinggate::broker
