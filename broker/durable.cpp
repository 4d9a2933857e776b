// broker/durable: how the broker writes its state through persist::store, and reads it back at
// start-up. One write batch per shard per event-loop turn (group commit); what depends on a write
// (PUBACK, PUBREC, PUBCOMP, SUBACK, CONNACK, forwarding a stored message) runs in the batch's
// completion, posted back to the shard in commit order. docs/persistence.md explains the rules.
#include <algorithm>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "broker/broker_impl.hpp"
#include "broker/client_machine.hpp"
#include "persist/recovery.hpp"

namespace thinggate::broker {

namespace {

constexpr auto error_log_interval = std::chrono::seconds(10);

std::chrono::milliseconds until(persist::wall_time t, persist::wall_time now) noexcept {
    return std::max(std::chrono::milliseconds(0), t - now);
}

} // namespace

// ---------------------------------------------------------------- write path

persist::write_batch& broker::impl::batch_here() {
    const shard_id me = rt.current_shard();
    auto& st = shard_states[me];
    if (!st.flush_posted) {
        // Runs after everything already queued on this shard: the rest of this loop turn's work
        // joins the same batch.
        st.flush_posted = true;
        rt.post(me, [this, me] {
            shard_states[me].flush_posted = false;
            flush_here();
        });
    }
    return st.batch;
}

std::uint64_t broker::impl::after_commit(commit_callback cb) {
    batch_here(); // schedules the flush
    auto& st = shard_states[rt.current_shard()];
    st.on_commit.push_back(std::move(cb));
    return st.open_ticket;
}

std::uint64_t broker::impl::open_ticket_here() const { return shard_states[rt.current_shard()].open_ticket; }

void broker::impl::flush_here() {
    const shard_id me = rt.current_shard();
    auto& st = shard_states[me];
    if (store == nullptr || (st.batch.empty() && st.on_commit.empty())) {
        return;
    }
    ++st.open_ticket;
    const std::uint64_t bytes = st.batch.bytes();
    st.backlog_bytes += bytes;
    persist::write_batch batch = std::move(st.batch);
    st.batch.clear();
    std::vector<commit_callback> callbacks = std::move(st.on_commit);
    st.on_commit.clear();
    // An empty batch with callbacks is still committed: the store completes commits in call
    // order, so its callbacks run after those of every earlier batch of this shard.
    store->commit(std::move(batch), opts.persistence.durability,
                  [this, me, bytes, callbacks = std::move(callbacks)](boost::system::error_code ec) mutable {
                      rt.post(me, [this, me, bytes, ec, callbacks = std::move(callbacks)] {
                          auto& s = shard_states[me];
                          s.backlog_bytes -= std::min(s.backlog_bytes, bytes);
                          if (ec) {
                              ++commit_failures;
                              const auto now = clock::now();
                              if (now - s.last_error_log >= error_log_interval) {
                                  s.last_error_log = now;
                                  spdlog::error("persistence: a write failed, the messages and "
                                                "subscriptions that depend on it are refused "
                                                "(0x97): {}",
                                                store->describe(ec));
                              }
                          }
                          for (const auto& cb : callbacks) {
                              cb(ec);
                          }
                          if (!s.backlog_waiters.empty() &&
                              s.backlog_bytes <= opts.persistence.max_commit_backlog_bytes / 2) {
                              auto waiters = std::move(s.backlog_waiters);
                              s.backlog_waiters.clear();
                              for (auto& w : waiters) {
                                  if (auto c = w.lock()) {
                                      (*c)->resume_after_backlog();
                                  }
                              }
                          }
                      });
                  });
}

bool broker::impl::over_backlog_here() const {
    return store != nullptr &&
           shard_states[rt.current_shard()].backlog_bytes > opts.persistence.max_commit_backlog_bytes;
}

void broker::impl::wait_backlog_here(std::weak_ptr<client_machine*> c) {
    shard_states[rt.current_shard()].backlog_waiters.push_back(std::move(c));
}

void broker::impl::write_session(session& s, std::optional<persist::wall_time> disconnected_at,
                                 const mqtt::will_message* will) {
    persist::session_record r;
    r.client_id = s.client_id;
    r.version = s.version;
    r.expiry_interval = s.expiry_interval;
    r.disconnected_at = disconnected_at;
    if (will != nullptr) {
        r.will = *will;
    }
    r.next_seq = s.next_seq.load(std::memory_order_relaxed);
    r.last_packet_id = s.last_packet_id;
    batch_here().put(r);
    s.stored = true;
}

persist::message_record broker::impl::to_record(const message& m) const {
    persist::message_record r;
    r.topic = m.topic.str();
    r.payload = m.payload.str();
    r.qos = m.qos;
    r.retain = m.retain;
    r.props = m.props();
    if (m.expires_at) {
        // Steady time does not survive a restart: store the wall-clock instant.
        r.expires_at = persist::wall_now() +
                       std::chrono::ceil<std::chrono::milliseconds>(*m.expires_at - rt.now());
    }
    return r;
}

persist::delivery_record broker::impl::to_record(const queued_delivery& d) const {
    persist::delivery_record r;
    r.qos = d.qos;
    r.retain = d.retain;
    r.subscription_ids = d.subscription_ids;
    if (d.msg) {
        r.msg = to_record(*d.msg);
    }
    return r;
}

message_ptr broker::impl::from_record(persist::message_record&& r) const {
    auto m = make_message(r.topic, r.payload);
    m->qos = r.qos;
    m->retain = r.retain;
    m->set_props(std::move(r.props));
    if (r.expires_at) {
        m->expires_at = rt.now() + until(*r.expires_at, persist::wall_now());
    }
    return m;
}

void broker::impl::flush_all_after_stop() {
    if (store == nullptr) {
        return;
    }
    for (std::size_t i = 0; i < shard_states.size(); ++i) {
        auto& st = shard_states[i];
        if (st.batch.empty()) {
            continue;
        }
        if (auto ec = store->commit_sync(std::move(st.batch), opts.persistence.durability)) {
            spdlog::error("persistence: the last writes of shard {} failed: {}", i, store->describe(ec));
        }
        st.batch.clear();
        st.on_commit.clear();
    }
}

// ---------------------------------------------------------------- recovery

namespace {

struct loaded_session {
    session_ptr s;
    std::optional<persist::wall_time> disconnected_at;
    std::optional<mqtt::will_message> will;
};

/// Builds the broker's sessions from the records, in the order load_all visits them.
class loader final : public persist::visitor {
public:
    loader(broker::impl& b, recovery_stats& stats)
        : b_(b)
        , stats_(stats) {}

    void on_session(persist::session_record&& r) override {
        const auto home = static_cast<shard_id>(std::hash<std::string>{}(r.client_id) % b_.rt.shard_count());
        auto s = std::make_shared<session>(r.client_id, ++b_.next_key, home);
        s->version = r.version;
        s->expiry_interval = r.expiry_interval;
        s->next_seq.store(std::max<std::uint64_t>(r.next_seq, 1));
        s->last_packet_id = r.last_packet_id;
        s->stored = true;
        s->durable.store(true);
        b_.sessions.emplace(r.client_id, s);
        b_.claims[s.get()] = 0;
        by_id_.emplace(r.client_id, loaded_session{s, r.disconnected_at, std::move(r.will)});
        ++stats_.sessions;
    }

    void on_subscription(persist::subscription_record&& r) override {
        auto* l = find(r.client_id);
        if (l == nullptr) {
            return;
        }
        b_.subscribe(l->s, r.filter, session_subscription{r.options, r.subscription_id});
        ++stats_.subscriptions;
    }

    void on_queued(persist::queued_record&& r) override {
        auto* l = find(r.client_id);
        if (l == nullptr) {
            return;
        }
        auto& s = *l->s;
        queued_delivery d{b_.from_record(std::move(r.d.msg)), r.d.qos, r.d.retain,
                          std::move(r.d.subscription_ids), r.seq};
        const auto bytes = d.msg->payload.size() + d.msg->topic.size();
        s.queue.push_back(std::move(d));
        s.queued_count.fetch_add(1);
        s.queued_bytes.fetch_add(bytes);
        b_.total_queued_messages.fetch_add(1);
        b_.total_queued_bytes.fetch_add(bytes);
        bump_seq(s, r.seq);
        ++stats_.queued;
    }

    void on_inflight(persist::inflight_record&& r) override {
        auto* l = find(r.client_id);
        if (l == nullptr || r.packet_id == 0) {
            return;
        }
        auto& s = *l->s;
        inflight_delivery e;
        e.seq = r.seq;
        e.d.qos = r.d.qos;
        e.d.retain = r.d.retain;
        e.d.subscription_ids = std::move(r.d.subscription_ids);
        e.d.seq = r.seq;
        switch (r.state) {
        case persist::inflight_state::wait_puback:
            e.st = inflight_delivery::state::wait_puback;
            break;
        case persist::inflight_state::wait_pubrec:
            e.st = inflight_delivery::state::wait_pubrec;
            break;
        case persist::inflight_state::wait_pubcomp:
            e.st = inflight_delivery::state::wait_pubcomp;
            break;
        }
        if (e.st != inflight_delivery::state::wait_pubcomp) {
            e.d.msg = b_.from_record(std::move(r.d.msg));
        }
        s.inflight[r.packet_id] = std::move(e);
        bump_seq(s, r.seq);
        ++stats_.inflight;
    }

    void on_qos2_in(persist::qos2_in_record&& r) override {
        if (auto* l = find(r.client_id)) {
            l->s->incoming_qos2.insert(r.packet_id);
            ++stats_.qos2_in;
        }
    }

    void on_retained(persist::message_record&& r) override {
        b_.retained.set(b_.from_record(std::move(r)));
        ++stats_.retained;
    }

    std::unordered_map<std::string, loaded_session>& sessions() { return by_id_; }

private:
    loaded_session* find(const std::string& id) {
        auto it = by_id_.find(id);
        return it == by_id_.end() ? nullptr : &it->second;
    }

    static void bump_seq(session& s, std::uint64_t seq) {
        if (s.next_seq.load() <= seq) {
            s.next_seq.store(seq + 1);
        }
    }

    broker::impl& b_;
    recovery_stats& stats_;
    std::unordered_map<std::string, loaded_session> by_id_;
};

} // namespace

boost::system::result<recovery_stats> broker::impl::recover() {
    recovery_stats stats;
    if (store == nullptr) {
        return stats;
    }
    auto heartbeat = persist::last_heartbeat(*store);
    if (!heartbeat) {
        return heartbeat.error();
    }
    loader l(*this, stats);
    if (auto ec = store->load_all(l)) {
        return ec;
    }
    const auto now = persist::wall_now();
    persist::write_batch fixes;
    for (auto& [id, ls] : l.sessions()) {
        auto& s = *ls.s;
        // A session that was connected when the process stopped lost its connection then (the
        // last heartbeat): it is offline from that moment, and its will is due as after any
        // connection lost without DISCONNECT.
        const auto end = persist::session_end(persist::session_record{.disconnected_at = ls.disconnected_at},
                                              *heartbeat)
                                 .value_or(now);
        s.disconnected_at = end;
        if (ls.will) {
            s.pending_will = std::make_unique<mqtt::will_message>(std::move(*ls.will));
        }
        if (!ls.disconnected_at) {
            persist::session_record r;
            r.client_id = s.client_id;
            r.version = s.version;
            r.expiry_interval = s.expiry_interval;
            r.disconnected_at = end;
            if (s.pending_will) {
                r.will = *s.pending_will;
            }
            r.next_seq = s.next_seq.load();
            r.last_packet_id = s.last_packet_id;
            fixes.put(r);
        }
        const auto expiry_at = end + std::chrono::seconds(s.expiry_interval);
        std::optional<std::chrono::milliseconds> will_left;
        if (s.pending_will) {
            ++stats.wills;
            const auto delay = s.version == mqtt::protocol_version::v5
                                       ? s.pending_will->props.will_delay_interval.value_or(0)
                                       : 0;
            will_left = until(end + std::chrono::seconds(delay), now);
        }
        arm_offline_timers(ls.s, until(expiry_at, now), will_left);
    }
    if (!fixes.empty()) {
        if (auto ec = store->commit_sync(std::move(fixes), opts.persistence.durability)) {
            return ec;
        }
    }
    subscription_count.store(stats.subscriptions);
    return stats;
}

} // namespace thinggate::broker
