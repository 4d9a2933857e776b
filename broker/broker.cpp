#include "broker/broker.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "broker/broker_impl.hpp"
#include "broker/client_machine.hpp"
#include "mqtt/topic.hpp"

namespace thinggate::broker {

namespace {

/// Splits "$share/g/f" into (g, f); a normal filter gives ("", filter).
std::pair<std::string_view, std::string_view> split_filter(std::string_view full) noexcept {
    if (auto shared = mqtt::parse_shared(full)) {
        return {shared->group, shared->filter};
    }
    return {{}, full};
}

std::size_t delivery_bytes(const queued_delivery& d) noexcept {
    return d.msg->payload.size() + d.msg->topic.size();
}

} // namespace

broker::impl::impl(options o, runtime& r, persist::store* st)
    : opts(std::move(o))
    , rt(r)
    , store(st)
    , shard_states(r.shard_count())
    , inboxes(std::make_unique<delivery_inbox[]>(r.shard_count()))
    , one_shard(r.shard_count() == 1) {
    match_opts.hash_matches_parent = opts.compat != compat_profile::aws_iot;
}

// ---------------------------------------------------------------- sessions

bool broker::impl::connect_allowed(const std::string& client_id) {
    const auto interval = std::chrono::milliseconds(opts.lim.min_connect_interval_ms);
    if (interval.count() == 0) {
        return true;
    }
    const auto now = rt.now();
    std::lock_guard lock(sessions_mutex);
    if (last_connect.size() > 100'000) {
        // Forget ids that are past the interval, so the table stays bounded.
        std::erase_if(last_connect, [&](const auto& e) { return now - e.second >= interval; });
    }
    auto [it, inserted] = last_connect.try_emplace(client_id, now);
    if (inserted) {
        return true;
    }
    if (now - it->second < interval) {
        return false; // too soon; the refused attempt does not move the window
    }
    it->second = now;
    return true;
}

void broker::impl::open_session(client_machine& c, const std::string& client_id, bool clean_start) {
    const shard_id me = rt.current_shard();
    std::unique_lock lock(sessions_mutex);
    auto it = sessions.find(client_id);
    if (it == sessions.end()) {
        auto s = std::make_shared<session>(client_id, ++next_key, me);
        sessions.emplace(client_id, s);
        claims[s.get()] = 0;
        lock.unlock();
        c.on_session_ready(std::move(s), false);
        return;
    }
    session_ptr old = it->second;
    // Taken over (resumed, or ended by a clean start [MQTT-3.1.2-4]) on the old session's shard,
    // which owns its state and its pending writes.
    const std::uint64_t claim = ++next_claim;
    claims[old.get()] = claim;
    lock.unlock();
    c.set_claim(claim);
    shard_states[me].pending_connects[claim] = &c;
    rt.post(old->shard.load(), [this, old, claim, me, clean_start] { hand_over(old, claim, me, clean_start); });
}

void broker::impl::hand_over(session_ptr s, std::uint64_t claim, shard_id target, bool clean_start) {
    const shard_id me = rt.current_shard();
    if (s->shard.load() != me) {
        // It moved on before we got here: follow it.
        rt.post(s->shard.load(), [this, s, claim, target, clean_start] { hand_over(s, claim, target, clean_start); });
        return;
    }
    if (s->client != nullptr) {
        s->client->kick(mqtt::reason_code::session_taken_over); // detaches; will handling runs
    }
    if (clean_start) {
        end_session(s); // the claimant starts a new session when it sees this one ended
    } else if (!s->ended) {
        // Resumed: a delayed will is not sent [MQTT-3.1.3-9].
        ++s->generation;
        s->pending_will.reset();
        s->shard.store(target);
    }
    // This shard's writes for the session go to the store before the next shard's.
    flush_here();
    rt.post(target, [this, s, claim] { finish_hand_over(s, claim); });
}

void broker::impl::finish_hand_over(session_ptr s, std::uint64_t claim) {
    const shard_id me = rt.current_shard();
    auto& pending = shard_states[me].pending_connects;
    auto it = pending.find(claim);
    client_machine* c = it == pending.end() ? nullptr : it->second;
    if (c != nullptr) {
        pending.erase(it);
    }
    if (s->ended) {
        // The session ended meanwhile (expiry or a clean-start takeover): start again.
        if (c != nullptr) {
            c->on_session_ready(nullptr, false);
        }
        return;
    }
    if (c == nullptr) {
        // The claimant went away while waiting; the session stays here, offline.
        on_detached(s);
        return;
    }
    c->on_session_ready(std::move(s), true);
}

void broker::impl::on_detached(const session_ptr& s) {
    if (s->expiry_interval == 0) {
        ++s->generation;
        end_session(s);
        return;
    }
    s->disconnected_at = persist::wall_now();
    if (store != nullptr && s->durable.load()) {
        write_session(*s, s->disconnected_at, s->pending_will.get());
    }
    if (shutting_down.load()) {
        ++s->generation;
        return; // the session is kept (in the store); no timers during shutdown
    }
    std::optional<std::chrono::milliseconds> will_left;
    if (s->pending_will) {
        will_left = std::chrono::seconds(s->pending_will->props.will_delay_interval.value_or(0));
    }
    arm_offline_timers(s, std::chrono::seconds(s->expiry_interval), will_left);
}

void broker::impl::arm_offline_timers(const session_ptr& s, std::chrono::milliseconds expiry_left,
                                      std::optional<std::chrono::milliseconds> will_left) {
    const std::uint64_t gen = ++s->generation;
    const shard_id me = s->shard.load();
    if (will_left && *will_left < expiry_left) {
        rt.post_after(me, *will_left, [this, s, gen] {
            if (s->shard.load() != rt.current_shard()) {
                return; // moved (resumed elsewhere): not ours to read, and the will was dropped
            }
            if (s->generation == gen && !s->ended && s->pending_will) {
                auto w = std::move(*s->pending_will);
                s->pending_will.reset();
                if (store != nullptr && s->stored) {
                    write_session(*s, s->disconnected_at, nullptr);
                }
                publish_will(w, s->key);
            }
        });
    }
    rt.post_after(me, expiry_left, [this, s, gen] {
        if (s->shard.load() != rt.current_shard()) {
            return; // moved: its new shard owns its expiry
        }
        if (s->generation == gen && !s->ended && s->client == nullptr) {
            spdlog::debug("session {} expired", s->client_id);
            end_session(s);
        }
    });
}

void broker::impl::end_session(const session_ptr& s) {
    if (s->ended) {
        return;
    }
    s->ended = true;
    {
        std::lock_guard lock(sessions_mutex);
        auto it = sessions.find(s->client_id);
        if (it != sessions.end() && it->second == s) {
            sessions.erase(it);
        }
        claims.erase(s.get());
    }
    if (store != nullptr && s->stored) {
        batch_here().erase_client(s->client_id);
        s->stored = false;
    }
    s->durable.store(false);
    {
        std::unique_lock lock(subs_mutex);
        for (const auto& [full, sub] : s->subscriptions) {
            auto [group, filter] = split_filter(full);
            if (index.erase(filter, group, s)) {
                --subscription_count;
            }
        }
    }
    s->subscriptions.clear();
    dropped += s->queue.size();
    while (!s->queue.empty()) {
        pop_queued(*s);
    }
    s->inflight.clear();
    if (s->pending_will) {
        auto w = std::move(*s->pending_will);
        s->pending_will.reset();
        publish_will(w, s->key);
    }
}

// ---------------------------------------------------------------- subscriptions

bool broker::impl::subscribe(const session_ptr& s, const std::string& full_filter, const session_subscription& sub) {
    auto [group, filter] = split_filter(full_filter);
    subscription_data data{sub.options, sub.subscription_id};
    bool added = false;
    {
        std::unique_lock lock(subs_mutex);
        added = index.insert(filter, group, s, data);
    }
    if (added) {
        ++subscription_count;
    }
    s->subscriptions[full_filter] = sub;
    return added;
}

bool broker::impl::unsubscribe(const session_ptr& s, std::string_view full_filter) {
    auto it = s->subscriptions.find(full_filter);
    if (it == s->subscriptions.end()) {
        return false;
    }
    auto [group, filter] = split_filter(full_filter);
    {
        std::unique_lock lock(subs_mutex);
        if (index.erase(filter, group, s)) {
            --subscription_count;
        }
    }
    s->subscriptions.erase(it);
    return true;
}

// ---------------------------------------------------------------- routing

route_result broker::impl::route(const message_ptr& m, std::int64_t& now_ns) {
    add_counter(messages_in, std::uint64_t{1});
    route_result result;
    result.congestion_epoch = congestion_epoch.load(std::memory_order_seq_cst);

    // Scratch space reused per thread: no allocation per publish in steady state.
    thread_local target_set matched;
    matched.clear();
    auto& targets = matched.targets();

    auto add = [&](const session_ptr& s, const subscription_data& d) {
        const auto q = static_cast<mqtt::qos>(std::min(static_cast<int>(m->qos), static_cast<int>(d.options.max_qos)));
        matched.add(s, q, d.options.retain_as_published && m->retain, d.subscription_id);
    };

    {
        // With one shard, everything that changes the index (subscribe, unsubscribe, end_session)
        // runs on this thread: no lock (two locked instructions per PUBLISH).
        std::shared_lock lock(subs_mutex, std::defer_lock);
        if (!one_shard) {
            lock.lock();
        }
        index.match(
                m->topic,
                match_opts,
                [&](const session_ptr& s, const subscription_data& d) {
                    if (d.options.no_local && s->key == m->origin) {
                        return; // [MQTT-3.8.3-3]
                    }
                    add(s, d);
                },
                [&](const shared_group<session_ptr>& g) {
                    const std::size_t n = g.members.size();
                    if (n == 0) {
                        return;
                    }
                    // Round robin, preferring a connected member.
                    const std::size_t start = g.next.fetch_add(1, std::memory_order_relaxed);
                    const auto* pick = &g.members[start % n];
                    for (std::size_t i = 0; i < n; ++i) {
                        const auto& cand = g.members[(start + i) % n];
                        if (cand.first->online.load(std::memory_order_relaxed)) {
                            pick = &cand;
                            break;
                        }
                    }
                    add(pick->first, pick->second);
                });
    }
    const bool qos0 = m->qos == mqtt::qos::at_most_once;
    if (!qos0 && opts.lim.overflow == queue_overflow::refuse) {
        // All or nothing: a message some session cannot queue goes to nobody, and the publisher
        // hears 0x97 and may try again later without duplicating it for the others.
        const std::size_t bytes = m->payload.size() + m->topic.size();
        for (const auto& t : targets) {
            if (t.qos != mqtt::qos::at_most_once && queue_full(*t.s, bytes)) {
                ++refused;
                spdlog::debug("publish to {} refused: the queue of session {} is full", m->topic, t.s->client_id);
                result.refused = true;
                return result;
            }
        }
    }
    if (m->retain && opts.lim.retain_available) {
        {
            std::unique_lock lock(retained_mutex);
            retained.set(m);
        }
        if (store != nullptr) {
            if (m->payload.empty()) {
                batch_here().erase_retained(m->topic);
            } else {
                batch_here().put_retained(to_record(*m));
            }
            result.stored = true;
        }
    }
    if (targets.empty()) {
        return result;
    }
    for (const auto& t : targets) {
        if (t.qos == mqtt::qos::at_most_once) {
            // QoS 0 congestion is the connection's unwritten output (seen on the session's
            // shard) plus what is routed to it and not yet there.
            if (opts.lim.max_ack_delay_ms == 0) {
                continue;
            }
            const auto bytes = transit_bytes(*m);
            add_in_transit_bytes(*t.s, bytes, 0);
            const auto in_transit = t.s->in_transit_bytes.load(std::memory_order_relaxed);
            if (t.s->congested.load(std::memory_order_relaxed) ||
                (t.s->online.load(std::memory_order_relaxed) && in_transit >= output_high_water())) {
                mark_congested(*t.s);
                if (holds_back(*t.s, now_ns)) {
                    result.congested = true;
                }
            }
            continue;
        }
        add_counter(t.s->in_transit, std::uint32_t{1});
        const auto in_transit = t.s->in_transit.load(std::memory_order_relaxed);
        if (t.s->congested.load(std::memory_order_relaxed) ||
            (t.s->online.load(std::memory_order_relaxed) && over_high_water(*t.s, in_transit))) {
            // Set here too: the session's shard clears it (and wakes the publishers) as it drains.
            mark_congested(*t.s);
            if (holds_back(*t.s, now_ns)) {
                result.congested = true;
            }
        }
    }
    if (store != nullptr && !qos0) {
        // Store, then forward: a QoS 1/2 delivery to a durable session is written as a queued
        // record in this shard's batch and forwarded when that commits, so one commit holds the
        // message for every session with the publisher's QoS 2 packet id, and a later write of
        // the receiving shard (sent, acknowledged) can never overtake it.
        thread_local std::vector<route_target> stored;
        stored.clear();
        std::size_t kept = 0;
        for (std::size_t i = 0; i < targets.size(); ++i) {
            auto& t = targets[i];
            if (t.qos == mqtt::qos::at_most_once || !t.s->durable.load(std::memory_order_acquire)) {
                if (kept != i) {
                    targets[kept] = std::move(t); // never a self-move: that would empty the ids
                }
                ++kept;
                continue;
            }
            t.seq = t.s->next_seq.fetch_add(1, std::memory_order_relaxed);
            persist::queued_record r;
            r.client_id = t.s->client_id;
            r.seq = t.seq;
            r.d.qos = t.qos;
            r.d.retain = t.retain;
            r.d.subscription_ids = t.subscription_ids;
            r.d.msg = to_record(*m);
            batch_here().put(r);
            stored.push_back(std::move(t));
        }
        targets.resize(kept);
        if (!stored.empty()) {
            result.stored = true;
            after_commit([this, m, list = std::move(stored)](boost::system::error_code ec) mutable {
                if (ec) {
                    dropped += list.size(); // the publisher hears 0x97
                    for (auto& t : list) {
                        add_counter(t.s->in_transit, ~std::uint32_t{0}); // -1
                        rt.post(t.s->shard.load(), [this, s = t.s] { update_congestion(*s); });
                    }
                    return;
                }
                post_deliveries(m, list);
            });
            stored = {};
        }
    }
    post_deliveries(m, targets);
    return result;
}

bool broker::impl::queue_full(const session& s, std::size_t bytes) const noexcept {
    const auto& lim = opts.lim;
    return (lim.max_queued_messages != 0 && s.queued_count.load(std::memory_order_relaxed) >= lim.max_queued_messages) ||
           (lim.max_queued_bytes != 0 && s.queued_bytes.load(std::memory_order_relaxed) + bytes > lim.max_queued_bytes) ||
           (lim.max_total_queued_messages != 0 && total_queued_messages.load(std::memory_order_relaxed) >= lim.max_total_queued_messages) ||
           (lim.max_total_queued_bytes != 0 && total_queued_bytes.load(std::memory_order_relaxed) + bytes > lim.max_total_queued_bytes);
}

void broker::impl::post_deliveries(const message_ptr& m, std::vector<route_target>& targets) {
    if (targets.empty()) {
        return;
    }
    const std::uint32_t shards = rt.shard_count();
    // Appends the message and the targets `take` selects to shard i's inbox; posts its drain
    // unless one is queued.
    const auto to_inbox = [&](shard_id i, const auto& take) {
        auto& in = inboxes[i];
        bool post = false;
        {
            // One shard in the runtime: the inbox is only touched on its thread.
            std::unique_lock lock(in.mutex, std::defer_lock);
            if (!this->one_shard) {
                lock.lock();
            }
            in.messages.emplace_back(in.targets.size(), m);
            for (std::size_t k = 0; k < targets.size(); ++k) {
                if (take(k)) {
                    in.targets.push_back(std::move(targets[k]));
                }
            }
            post = !in.posted;
            in.posted = true;
        }
        if (post) {
            rt.post(i, [this, i] { drain_inbox(i); });
        }
    };
    if (shards == 1 || targets.size() == 1) {
        // One inbox takes them all (fan-in: one target per PUBLISH): no list of home shards.
        const shard_id i =
                shards == 1 ? 0 : targets.front().s->shard.load(std::memory_order_acquire) % shards;
        to_inbox(i, [](std::size_t) { return true; });
        targets.clear();
        return;
    }
    thread_local std::vector<shard_id> home;
    home.resize(targets.size());
    shard_id first = 0;
    bool one_shard = true;
    for (std::size_t k = 0; k < targets.size(); ++k) {
        home[k] = shards == 1 ? 0 : targets[k].s->shard.load(std::memory_order_acquire) % shards;
        if (k == 0) {
            first = home[k];
        } else if (home[k] != first) {
            one_shard = false;
        }
    }
    for (shard_id i = one_shard ? first : 0; i < shards; ++i) {
        bool any = one_shard;
        for (std::size_t k = 0; !any && k < targets.size(); ++k) {
            any = home[k] == i;
        }
        if (any) {
            to_inbox(i, [&](std::size_t k) { return home[k] == i; });
        }
        if (one_shard) {
            break;
        }
    }
    targets.clear();
}

void broker::impl::drain_inbox(shard_id shard) {
    auto& in = inboxes[shard];
    std::vector<route_target> targets;
    std::vector<std::pair<std::size_t, message_ptr>> messages;
    {
        std::unique_lock lock(in.mutex, std::defer_lock);
        if (!one_shard) {
            lock.lock();
        }
        targets.swap(in.targets);
        messages.swap(in.messages);
        in.posted = false;
    }
    std::size_t k = 0;
    queued_delivery scratch;
    for (std::size_t j = 0; j < messages.size(); ++j) {
        const std::size_t end = j + 1 < messages.size() ? messages[j + 1].first : targets.size();
        for (; k < end; ++k) {
            deliver(targets[k], messages[j].second, k + 1 == end, &scratch);
        }
    }
    scratch.msg.reset();
    targets.clear();
    messages.clear();
    // Give the capacity back, so that a steady flow allocates nothing.
    std::unique_lock lock(in.mutex, std::defer_lock);
    if (!one_shard) {
        lock.lock();
    }
    if (in.targets.empty() && in.targets.capacity() < targets.capacity()) {
        in.targets.swap(targets);
    }
    if (in.messages.empty() && in.messages.capacity() < messages.capacity()) {
        in.messages.swap(messages);
    }
}

void broker::impl::add_in_transit_bytes(session& s, std::uint64_t add, std::uint64_t sub) const noexcept {
    if (one_shard) {
        s.in_transit_bytes.store(s.in_transit_bytes.load(std::memory_order_relaxed) + add - sub,
                                 std::memory_order_relaxed);
    } else if (add != 0) {
        s.in_transit_bytes.fetch_add(add, std::memory_order_relaxed);
    } else {
        s.in_transit_bytes.fetch_sub(sub, std::memory_order_relaxed);
    }
}

void broker::impl::deliver(route_target& t, message_ptr& m, bool last, queued_delivery* scratch) {
    session& s = *t.s;
    const shard_id home = s.shard.load(std::memory_order_acquire);
    if (!one_shard && home != rt.current_shard()) {
        rt.post(home, [this, t = std::move(t), m = last ? message_ptr(std::move(m)) : m]() mutable {
            deliver(t, m, true);
        });
        return;
    }
    if (t.qos != mqtt::qos::at_most_once) {
        add_counter(s.in_transit, ~std::uint32_t{0}); // -1
    } else if (opts.lim.max_ack_delay_ms != 0) {
        add_in_transit_bytes(s, 0, transit_bytes(*m));
    }
    // t.s (the caller's) keeps the session alive through update_congestion.
    deliver_here(s, t, m, last, scratch);
    update_congestion(s);
}

void broker::impl::deliver_here(
        session& s, route_target& t, message_ptr& m, bool last, queued_delivery* scratch) {
    if (s.ended) {
        return; // its records went with it (or are orphans the next start-up removes)
    }
    // Most messages never expire: no clock read per delivery (clock_gettime was ~8 % of a
    // fan-out's broker time).
    if (m->expires_at && m->expired(rt.now())) {
        ++dropped;
        if (t.seq != 0 && store != nullptr) {
            batch_here().erase_queued(s.client_id, t.seq);
        }
        return;
    }
    if (scratch != nullptr && s.client != nullptr && t.qos == mqtt::qos::at_most_once) {
        // Sent now or dropped, never kept: the scratch delivery borrows the message.
        if (scratch->msg != m) {
            scratch->msg = m;
        }
        scratch->qos = t.qos;
        scratch->retain = t.retain;
        scratch->seq = t.seq;
        scratch->subscription_ids.swap(t.subscription_ids);
        s.client->deliver_now(*scratch);
        return;
    }
    queued_delivery d{
            last ? message_ptr(std::move(m)) : m,
            t.qos,
            t.retain,
            std::move(t.subscription_ids),
            t.seq};
    if (s.client != nullptr) {
        s.client->deliver(std::move(d));
        return;
    }
    if (d.qos == mqtt::qos::at_most_once) {
        ++dropped; // QoS 0 is not queued for offline sessions
        return;
    }
    enqueue(s, std::move(d));
}

void broker::impl::enqueue(session& s, queued_delivery d) {
    const std::size_t bytes = delivery_bytes(d);
    const bool writes = store != nullptr && s.durable.load();
    if (queue_full(s, bytes)) {
        if (opts.lim.overflow == queue_overflow::drop_oldest && !s.queue.empty()) {
            queued_delivery old = pop_queued(s);
            ++dropped;
            spdlog::debug("session {}: queue full, oldest message (to {}) dropped", s.client_id, old.msg->topic);
            if (old.seq != 0 && store != nullptr) {
                batch_here().erase_queued(s.client_id, old.seq);
            }
        }
        if (queue_full(s, bytes)) {
            ++dropped;
            spdlog::debug("session {}: queue full ({} messages), message to {} dropped", s.client_id, s.queue.size(),
                          d.msg->topic);
            if (d.seq != 0 && store != nullptr) {
                batch_here().erase_queued(s.client_id, d.seq);
            }
            return;
        }
    }
    if (writes && d.seq == 0 && d.qos != mqtt::qos::at_most_once) {
        d.seq = s.next_seq.fetch_add(1, std::memory_order_relaxed);
        persist::queued_record r;
        r.client_id = s.client_id;
        r.seq = d.seq;
        r.d = to_record(d);
        batch_here().put(r);
    }
    add_owned(s.queued_count, std::uint32_t{1});
    add_owned(s.queued_bytes, std::uint64_t{bytes});
    add_counter(total_queued_messages, std::uint64_t{1});
    add_counter(total_queued_bytes, std::uint64_t{bytes});
    s.queue.push_back(std::move(d));
    update_congestion(s);
}

bool broker::impl::over_high_water(const session& s, std::uint64_t in_transit) const noexcept {
    const auto& lim = opts.lim;
    if (lim.max_ack_delay_ms == 0) {
        return false;
    }
    const auto count = s.queued_count.load(std::memory_order_relaxed) + in_transit;
    const auto bytes = s.queued_bytes.load(std::memory_order_relaxed);
    return (lim.max_queued_messages != 0 && count >= std::max<std::uint64_t>(lim.max_queued_messages / 4, 1)) ||
           (lim.max_queued_bytes != 0 && bytes >= lim.max_queued_bytes / 4);
}

std::size_t broker::impl::output_high_water() const noexcept {
    const auto budget = opts.lim.outbound_budget_bytes;
    return budget != 0 ? std::max<std::uint64_t>(budget / 4, 1) : std::size_t{1} << 20;
}

void broker::impl::update_congestion(session& s) {
    const auto& lim = opts.lim;
    if (lim.max_ack_delay_ms == 0) {
        return;
    }
    const std::size_t output = (s.client != nullptr ? s.client->unwritten_bytes() : 0) +
                               s.in_transit_bytes.load(std::memory_order_relaxed);
    // Only the test that can change the state is evaluated (called once per delivery).
    if (!s.congested.load(std::memory_order_relaxed)) {
        const bool high = s.client != nullptr && (output >= output_high_water() ||
                                                  over_high_water(s, s.in_transit.load(std::memory_order_relaxed)));
        if (high) {
            mark_congested(s);
        }
        return;
    }
    const auto count = s.queued_count.load(std::memory_order_relaxed) + s.in_transit.load(std::memory_order_relaxed);
    const auto bytes = s.queued_bytes.load(std::memory_order_relaxed);
    const bool low = s.client == nullptr ||
                     ((lim.max_queued_messages == 0 || count <= lim.max_queued_messages / 8) &&
                      (lim.max_queued_bytes == 0 || bytes <= lim.max_queued_bytes / 8) &&
                      output <= output_high_water() / 2);
    if (low) {
        s.congested.store(false, std::memory_order_relaxed);
        s.congested_since.store(0, std::memory_order_relaxed);
        release_congestion();
    }
}

void broker::impl::mark_congested(session& s) {
    s.congested.store(true, std::memory_order_relaxed);
    if (s.congested_since.load(std::memory_order_relaxed) != 0) {
        return; // already marked (every PUBLISH routed to a congested session comes here)
    }
    std::int64_t none = 0;
    s.congested_since.compare_exchange_strong(
            none, std::max<std::int64_t>(rt.now().time_since_epoch().count(), 1), std::memory_order_relaxed);
}

bool broker::impl::holds_back(const session& s, std::int64_t& now_ns) const {
    const std::int64_t since = s.congested_since.load(std::memory_order_relaxed);
    if (since == 0) {
        return true; // marked this instant by another shard; its start time follows
    }
    if (now_ns == 0) {
        now_ns = rt.now().time_since_epoch().count();
    }
    const std::int64_t limit =
            std::chrono::duration_cast<clock::duration>(std::chrono::milliseconds(opts.lim.max_ack_delay_ms)).count();
    return now_ns - since < limit;
}

void broker::impl::wait_congestion(shard_id shard, std::weak_ptr<client_machine*> c, std::uint64_t epoch) {
    {
        std::lock_guard lock(congestion_mutex);
        if (congestion_epoch.load(std::memory_order_seq_cst) == epoch) {
            congestion_waiters.emplace_back(shard, std::move(c));
            return;
        }
    }
    // A session drained between routing and now: its wake-up went out before we listened.
    rt.post(shard, [w = std::move(c)] {
        if (auto self = w.lock()) {
            (*self)->release_withheld();
        }
    });
}

void broker::impl::release_congestion() {
    std::vector<std::pair<shard_id, std::weak_ptr<client_machine*>>> waiters;
    {
        std::lock_guard lock(congestion_mutex);
        congestion_epoch.fetch_add(1, std::memory_order_seq_cst);
        waiters.swap(congestion_waiters);
    }
    if (waiters.empty()) {
        return;
    }
    // One task per shard with waiters, which wakes them in the order they waited (a task per
    // waiting publisher was a std::function and a post each: 100 per episode in a fan-in 100 -> 1).
    const auto wake =
            [](const std::vector<std::pair<shard_id, std::weak_ptr<client_machine*>>>& list) {
                for (const auto& entry : list) {
                    if (auto c = entry.second.lock()) {
                        (*c)->release_withheld();
                    }
                }
            };
    const shard_id first = waiters.front().first;
    if (std::all_of(
                waiters.begin(), waiters.end(), [&](const auto& w) { return w.first == first; })) {
        rt.post(first, [wake, list = std::move(waiters)] { wake(list); });
        return;
    }
    for (shard_id i = 0; i < rt.shard_count(); ++i) {
        std::vector<std::pair<shard_id, std::weak_ptr<client_machine*>>> mine;
        for (auto& w : waiters) {
            if (w.first == i) {
                mine.push_back(std::move(w));
            }
        }
        if (!mine.empty()) {
            rt.post(i, [wake, list = std::move(mine)] { wake(list); });
        }
    }
}

queued_delivery broker::impl::pop_queued(session& s) {
    queued_delivery d = std::move(s.queue.front());
    s.queue.pop_front();
    const std::size_t bytes = delivery_bytes(d);
    add_owned(s.queued_count, ~std::uint32_t{0}); // -1
    add_owned(
            s.queued_bytes,
            std::uint64_t{0} -
                    std::min<std::uint64_t>(bytes, s.queued_bytes.load(std::memory_order_relaxed)));
    add_counter(total_queued_messages, ~std::uint64_t{0}); // -1
    add_counter(
            total_queued_bytes,
            std::uint64_t{0} - std::min<std::uint64_t>(
                                       bytes, total_queued_bytes.load(std::memory_order_relaxed)));
    update_congestion(s);
    return d;
}

void broker::impl::publish_will(const mqtt::will_message& w, std::uint64_t origin) {
    auto m = make_message(w.topic, w.payload);
    m->qos = w.qos;
    m->retain = w.retain;
    m->origin = origin;
    m->set_props(w.props);
    if (w.props.message_expiry_interval) {
        m->expires_at = rt.now() + std::chrono::seconds(*w.props.message_expiry_interval);
    }
    route(m);
}

// ---------------------------------------------------------------- public facade

broker::broker(options opts, runtime& rt, persist::store* store)
    : impl_(std::make_unique<impl>(std::move(opts), rt, store)) {}

broker::~broker() {
    if (impl_->registry != nullptr) {
        impl_->registry->remove_listener(impl_->registry_listener);
    }
}

const options& broker::opts() const noexcept { return impl_->opts; }

runtime& broker::rt() noexcept { return impl_->rt; }

bool broker::try_admit_connection() noexcept {
    const auto max = impl_->opts.lim.max_connections;
    auto current = impl_->connections.load();
    do {
        if (max != 0 && current >= max) {
            return false;
        }
    } while (!impl_->connections.compare_exchange_weak(current, current + 1));
    return true;
}

void broker::release_connection() noexcept { --impl_->connections; }

broker_stats broker::stats() const {
    broker_stats s;
    s.connections = impl_->connections.load();
    {
        std::lock_guard lock(impl_->sessions_mutex);
        s.sessions = impl_->sessions.size();
    }
    s.subscriptions = impl_->subscription_count.load();
    {
        std::shared_lock lock(impl_->retained_mutex);
        s.retained = impl_->retained.size();
    }
    s.messages_in = impl_->messages_in.load();
    s.messages_out = impl_->messages_out.load();
    s.dropped = impl_->dropped.load();
    s.refused = impl_->refused.load();
    s.queued = impl_->total_queued_messages.load();
    s.commit_failures = impl_->commit_failures.load();
    s.denied = impl_->denied.load();
    return s;
}

boost::system::result<recovery_stats> broker::recover() { return impl_->recover(); }

void broker::use_registry(auth::registry& r) {
    impl_->registry = &r;
    // Committed changes reach every shard's connections: revocation disconnects, policy changes
    // recompile (the listener runs on the updating thread: only posts from here).
    impl_->registry_listener = r.on_change([b = impl_.get()](const auth::registry_change& c) {
        for (shard_id i = 0; i < b->rt.shard_count(); ++i) {
            b->rt.post(i, [b, i, c] {
                // Copy: a connection may close (and leave the set) while it handles the change.
                std::vector<client_machine*> clients(b->shard_states[i].clients.begin(),
                                                     b->shard_states[i].clients.end());
                for (auto* cm : clients) {
                    if (b->shard_states[i].clients.contains(cm)) {
                        cm->on_registry_change(c);
                    }
                }
            });
        }
    });
}

void broker::publish_event(std::string topic, std::string payload) {
    impl_->publish_event(std::move(topic), std::move(payload));
}

void broker::impl::publish_event(std::string topic, std::string payload) {
    auto m = make_message(topic, payload);
    m->qos = mqtt::qos::at_least_once;
    rt.post(0, [this, m = message_ptr(std::move(m))] { route(m); });
}

void broker::flush_after_stop() { impl_->flush_all_after_stop(); }

void broker::start() {
    // Sweep expired retained messages once a minute on shard 0.
    struct sweeper {
        impl* b;
        void operator()() const {
            if (b->shutting_down.load()) {
                return;
            }
            {
                std::unique_lock lock(b->retained_mutex);
                b->retained.purge_expired(b->rt.now());
            }
            b->rt.post_after(0, std::chrono::seconds(60), sweeper{b});
        }
    };
    impl_->rt.post_after(0, std::chrono::seconds(60), sweeper{impl_.get()});

    if (impl_->store != nullptr) {
        // The liveness mark: a session connected when the process dies counts as disconnected at
        // the last one (docs/persistence.md).
        struct heartbeat {
            impl* b;
            void operator()() const {
                if (b->shutting_down.load()) {
                    return;
                }
                b->batch_here().put_heartbeat(persist::wall_now());
                b->rt.post_after(0, std::chrono::milliseconds(b->opts.persistence.heartbeat_interval_ms), heartbeat{b});
            }
        };
        impl_->rt.post(0, heartbeat{impl_.get()});
    }
}

void broker::begin_shutdown() noexcept { impl_->shutting_down = true; }

} // namespace thinggate::broker
