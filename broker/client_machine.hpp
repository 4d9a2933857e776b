#pragma once
// broker/client_machine: the protocol state machine behind broker::client. Internal to broker/.
// Thread safety: all members run on the connection's shard thread.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/container/deque.hpp>

#include "auth/effective_policy.hpp"
#include "broker/broker_impl.hpp"
#include "broker/client.hpp"
#include "mqtt/codec.hpp"
#include "policy/decision_cache.hpp"

namespace thinggate::broker {

class client_machine {
public:
    client_machine(broker::impl& b, shard_id shard, connection_io& io, connection_info info);
    ~client_machine();
    client_machine(const client_machine&) = delete;
    client_machine& operator=(const client_machine&) = delete;

    // transport side (see client.hpp)
    std::span<std::uint8_t> prepare_input(std::size_t min_size);
    void commit_input(std::size_t n);
    void release_input() noexcept;
    bool input_paused() const noexcept { return stalled() && !closing_; }
    bool take_output(std::vector<out_frame>& out);
    void output_written(std::size_t n);
    std::chrono::milliseconds read_timeout() const noexcept;
    void on_read_timeout();
    void on_connection_lost();
    void on_server_shutdown();
    bool closed() const noexcept { return closing_; }
    const connection_info& info() const noexcept { return info_; }

    // broker side
    /// The session for our CONNECT is ready on our shard (nullptr: it vanished; retry).
    void on_session_ready(session_ptr s, bool present);
    /// Sends or queues a delivery for the attached session.
    void deliver(queued_delivery d);
    /// A QoS 0 delivery: sent now (or dropped), `d` is not kept.
    void deliver_now(const queued_delivery& d);
    /// Another connection took the session over.
    void kick(mqtt::reason_code reason);
    std::uint64_t claim() const noexcept { return claim_; }
    void set_claim(std::uint64_t c) noexcept { claim_ = c; }
    /// The shard's commit backlog fell: read again.
    void resume_after_backlog();
    /// Sends the acknowledgements held back for congested subscribers (in order) and reads
    /// again if input was paused for them.
    void release_withheld();
    /// Bytes queued for the connection and not yet written.
    std::size_t unwritten_bytes() const noexcept { return out_bytes_; }
    /// The registry changed (on this shard): revoked -> disconnect; policies -> recompile.
    void on_registry_change(const auth::registry_change& c);

private:
    /// What a frame held for a commit is, so a failed commit can change the answer.
    enum class held_kind : std::uint8_t {
        plain,   ///< sent as is (waits only to keep the order)
        puback,  ///< v5: 0x97 on failure; 3.1.1: close
        pubrec,  ///< as puback; the packet id is forgotten so that a retry is routed
        connack, ///< CONNACK 0x88 server unavailable on failure, then close
        control, ///< SUBACK, UNSUBACK, PUBCOMP: DISCONNECT 0x97 on failure
    };
    struct held_frame {
        out_frame f;
        std::uint64_t ticket = 0; ///< shard batch it waits for (0: only for the frames before it)
        held_kind kind = held_kind::plain;
        std::uint16_t packet_id = 0;
    };

    enum class state {
        awaiting_connect,
        awaiting_session,
        connected,
    };

    void process_input();
    void dispatch(mqtt::packet& p);
    void on_connect(mqtt::connect& p);
    void on_publish(mqtt::publish_view& p);
    /// PUBACK for `packet_id` (its reason code changes nothing: the delivery is complete).
    void on_puback(std::uint16_t packet_id);
    void on_pubrec(const mqtt::pubrec& p);
    void on_pubrel(const mqtt::pubrel& p);
    void on_pubcomp(const mqtt::pubcomp& p);
    void on_subscribe(mqtt::subscribe& p);
    void on_unsubscribe(const mqtt::unsubscribe& p);
    void on_pingreq();
    void on_disconnect(const mqtt::disconnect& p);

    /// The one place that maps an error to what the peer is told: CONNACK before the session
    /// exists, DISCONNECT (v5) after, then close. The will is published (abnormal end).
    void fail(mqtt::reason_code rc);
    void send(const mqtt::packet& p);
    /// Sends `p` once the shard's open batch has committed (without a store: now). Frames sent
    /// after it wait behind it, so the output keeps its order.
    void send_after_commit(const mqtt::packet& p, held_kind kind, std::uint16_t packet_id = 0);
    /// send_after_commit() for a frame already encoded (with its kind and packet id).
    void hold_for_commit(held_frame&& h);
    void push_frame(out_frame&& f);
    /// `n` bytes at the end of the output's last run (a frame of whole small packets, no body),
    /// starting a new run when the last frame is not one or is full; counted in out_bytes_, the
    /// writer woken. Only while nothing is held (held_ empty): the caller checks.
    char* append_run(std::size_t n);
    /// A PUBACK/PUBREC (`type`) that needs no commit: held back while earlier ones are
    /// (congestion) or when `congested`, else sent. Encoded directly (no mqtt::packet) and
    /// appended to the output's run of small packets (or to the previous withheld one), so
    /// that the acknowledgements of one read go out in one frame.
    void send_ack(
            mqtt::packet_type type,
            std::uint16_t packet_id,
            mqtt::reason_code rc,
            bool congested);
    /// Registers for the completion of the shard's open batch (once per batch); its ticket.
    std::uint64_t register_commit_wait();
    void on_commit_done(std::uint64_t ticket, boost::system::error_code ec);
    /// The session's state is written to the store.
    bool writes() const noexcept;
    bool stalled() const noexcept { return paused_ || store_paused_ || flow_paused_; }
    /// A pause ended: handles the input already buffered, then lets the transport read again
    /// (unless another pause still holds or the handling paused it anew).
    void resume_reading();
    /// A QoS 0 PUBLISH went to a congested subscriber: stop reading until the congestion clears
    /// (release_withheld), at most max_ack_delay_ms.
    void pause_for_congestion();
    /// Waits for congested sessions to drain (release_withheld), at most max_ack_delay_ms;
    /// `round` (withheld_round_ or flow_round_) tells the timer whether it is still current.
    void wait_for_drain(std::uint64_t client_machine::*round);
    void send_publish(const queued_delivery& d, std::uint16_t packet_id, bool dup);
    /// The rest of send_publish once the head is encoded: size limit, then out (or held).
    void finish_publish(out_frame&& f, const queued_delivery& d, std::uint16_t packet_id, bool new_alias);
    /// Takes a packet id, records the QoS 1/2 delivery as in flight and sends it.
    void send_inflight(queued_delivery d);
    void resend_inflight();
    void pump_queue();
    std::uint16_t next_packet_id();
    void close_connection(bool flush);
    void detach(bool publish_will);
    bool topic_within_limits(std::string_view topic) const noexcept;
    bool v5() const noexcept { return version_ == mqtt::protocol_version::v5; }
    /// Charges one PUBLISH against the rate limits; pauses input when over them.
    void charge_publish(std::size_t payload_bytes);
    void resume_after_throttle();

    // --- authorisation (authorize.cpp) ---
    /// Policies apply to this connection (the broker has a registry, the client a certificate).
    bool policed() const noexcept { return auth_ != nullptr; }
    /// Resolves and compiles the policies at CONNECT and checks iot:Connect and the will. False
    /// when refused (the answer has been given).
    bool authorize_connect(const mqtt::connect& p);
    /// Decision for `a` on the client id / topic / filter `name`, with the decision cache; a
    /// denial is logged at debug level with its explanation.
    bool allowed(policy::action a, std::string_view name);
    /// iot:Subscribe on the filter as sent; for a shared subscription ($share/g/f) also no explicit
    /// Deny on f itself, so that sharing cannot get round a Deny (an Allow must name the $share form).
    bool may_subscribe(std::string_view filter, std::string_view shared_part);
    /// What a denied PUBLISH gets (GATEWAY-SEMANTICS §2 table). Returns false when it closed.
    void deny_publish(const mqtt::publish_view& p);
    /// iot:Receive for a delivery to this client.
    bool may_receive(const queued_delivery& d);
    /// Lifecycle events (GATEWAY-SEMANTICS §3).
    void event_connected();
    void event_disconnected();
    void event_connect_failed(std::string_view reason);
    void event_subscriptions(bool subscribed, const std::vector<std::string>& topics);
    bool events_for_me() const noexcept;

    broker::impl& b_;
    shard_id shard_;
    connection_io& io_;
    connection_info info_;
    state state_ = state::awaiting_connect;
    mqtt::protocol_version version_ = mqtt::protocol_version::v5;
    bool version_known_ = false;
    bool closing_ = false;
    bool lost_ = false;
    bool clean_disconnect_ = false;
    std::uint64_t claim_ = 0;

    // input
    std::vector<std::uint8_t> in_;
    std::size_t in_begin_ = 0;
    std::size_t in_end_ = 0;
    bool paused_ = false;
    bool throttled_ = false;
    bool store_paused_ = false; ///< the shard's commit backlog is over its limit
    bool flow_paused_ = false;  ///< a QoS 0 target is congested (pause_for_congestion)
    std::uint64_t flow_round_ = 0; ///< tells a stale max_ack_delay timer from the current one
    std::uint64_t congestion_epoch_ = 0; ///< of the last routing (see broker::impl::wait_congestion)
    /// Runtime clock (ns) as routing first read it for the input being handled; 0 = not yet.
    /// One reading per read of the socket: its packets are handled within about a millisecond,
    /// well under max_ack_delay_ms, which is all the clock is compared with there.
    std::int64_t read_now_ns_ = 0;
    double publish_tokens_ = 0;       ///< token buckets (1 s burst), refilled from the runtime clock
    double publish_byte_tokens_ = 0;
    clock::time_point tokens_at_{};
    /// Timers hold a weak reference: a timer that fires after the client is gone does nothing.
    std::shared_ptr<client_machine*> alive_ = std::make_shared<client_machine*>(this);

    // output
    std::vector<out_frame> out_; ///< swapped with the transport's (empty) vector when taken
    // boost::container::deque: no heap block until the first element (std::deque allocates
    // its map and a 512-byte node when constructed: idle memory of every connection).
    boost::container::deque<held_frame> held_; ///< waiting for commits, in output order
    std::uint64_t committed_ticket_ = 0; ///< highest shard batch known committed
    std::uint64_t registered_ticket_ = 0; ///< batch whose completion will call on_commit_done
    bool held_barrier_ = false; ///< the PUBLISH being sent waits for the open batch (QoS 2, stored)
    boost::container::deque<out_frame> withheld_; ///< acknowledgements held back for congested subscribers
    std::uint64_t withheld_round_ = 0; ///< tells a stale max_ack_delay timer from the current one
    std::size_t out_bytes_ = 0; ///< queued + taken but not yet written
    std::uint32_t last_run_bytes_ = 0; ///< size of the last run taken: the next one's capacity
    std::string scratch_;

    // connection parameters
    std::string client_id_;
    std::uint16_t keep_alive_ = 0;
    std::uint32_t session_expiry_ = 0;
    bool clean_start_ = true;
    std::uint16_t out_window_ = 65535;          ///< client's Receive Maximum (capped)
    std::uint32_t out_max_packet_ = mqtt::max_remaining_length + 5;
    std::uint16_t out_alias_max_ = 0;           ///< client's Topic Alias Maximum
    /// On the heap: a will_message is 560 bytes, and most connections have none.
    std::unique_ptr<mqtt::will_message> will_;
    bool request_problem_info_ = true;

    session_ptr session_;

    // authorisation and lifecycle events
    std::unique_ptr<auth::connection_policies> auth_;
    policy::decision_cache decisions_{2}; ///< sized at CONNECT when policies apply (idle memory)
    std::optional<policy::arn_builder> arns_;
    std::string session_identifier_;  ///< per connection, in lifecycle events
    std::string disconnect_reason_ = "CONNECTION_LOST";
    bool client_initiated_ = false;
    bool announced_ = false;          ///< a "connected" event went out
    std::unordered_map<std::uint16_t, std::string> in_aliases_;                 ///< alias -> topic
    std::unordered_map<std::string, std::uint16_t, string_hash, std::equal_to<>> out_aliases_;
};

} // namespace thinggate::broker
