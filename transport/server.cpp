#include "transport/server.hpp"

#include <latch>
#include <stdexcept>
#include <unordered_set>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "transport/connection.hpp"

namespace thinggate::transport {

namespace detail {

namespace {

using namespace std::chrono_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
// After the drain deadline, connections are closed hard; this bounds the wait for them to go.
constexpr std::chrono::milliseconds force_close_wait = 2s;
// Connections accepted per wake-up of the accept loop: after one asynchronous accept, what is
// already queued in the backlog is taken with non-blocking accepts (bounded, so that one busy
// listener does not hold its shard for long).
constexpr int max_accepts_per_wake = 16;

} // namespace

server_core::server_core(handler_factory& f, shard_pool& p, std::vector<listener_config> cfgs)
    : factory(f)
    , pool(p)
    , registries(p.shard_count()) {
    std::unordered_set<std::string> names;
    broker::shard_id next = 0;
    for (auto& cfg : cfgs) {
        if (cfg.name.empty()) {
            throw std::runtime_error("a listener needs a name");
        }
        if (!names.insert(cfg.name).second) {
            throw std::runtime_error(fmt::format("listener name '{}' is used twice", cfg.name));
        }
        auto l = std::make_unique<listener_state>();
        l->cfg = std::move(cfg);
        l->shard = next++ % pool.shard_count();
        l->next_shard = l->shard;
        listeners.push_back(std::move(l));
    }
}

void server_core::start() {
    if (started) {
        throw std::logic_error("server started twice");
    }
    // Everything that can fail is done before the first accept, so a failure leaves nothing
    // half-running (acceptors opened so far close with `listeners`' acceptors on unwind).
    for (auto& l : listeners) {
        if (l->cfg.kind == listener_kind::tls) {
            l->tls.store(make_tls_context(l->cfg, authenticator.get()));
        }
        boost::system::error_code ec;
        auto addr = asio::ip::make_address(l->cfg.address, ec);
        if (ec) {
            throw std::runtime_error(fmt::format(
                    "listener '{}': '{}' is not an IP address", l->cfg.name, l->cfg.address));
        }
        tcp::endpoint ep(addr, l->cfg.port);
        auto where = [&] {
            return endpoint_string(ep);
        };
        l->acc.emplace(pool.context(l->shard));
        auto& acc = *l->acc;
        if (acc.open(ep.protocol(), ec); ec) {
            throw std::runtime_error(fmt::format(
                    "listener '{}': cannot open a socket for {}: {}",
                    l->cfg.name,
                    where(),
                    ec.message()));
        }
        acc.set_option(tcp::acceptor::reuse_address(true), ec);
        if (acc.bind(ep, ec); ec) {
            throw std::runtime_error(fmt::format(
                    "listener '{}': cannot bind {}: {}", l->cfg.name, where(), ec.message()));
        }
        if (acc.listen(asio::socket_base::max_listen_connections, ec); ec) {
            throw std::runtime_error(fmt::format(
                    "listener '{}': cannot listen on {}: {}", l->cfg.name, where(), ec.message()));
        }
        // Non-blocking, so the accept loop can drain the backlog without blocking its shard.
        if (acc.non_blocking(true, ec); ec) {
            throw std::runtime_error(fmt::format(
                    "listener '{}': cannot make {} non-blocking: {}",
                    l->cfg.name,
                    where(),
                    ec.message()));
        }
        l->port = acc.local_endpoint().port();
        spdlog::debug(
                "listener '{}' ({}) listening on {}",
                l->cfg.name,
                l->cfg.kind == listener_kind::tls ? "mutual TLS" : "plain TCP",
                endpoint_string(tcp::endpoint(addr, l->port)));
    }
    started = true;
    for (auto& l : listeners) {
        listener_state* lp = l.get();
        accept_loops.fetch_add(1);
        asio::co_spawn(pool.context(lp->shard), accept_loop(lp), [this, lp](std::exception_ptr e) {
            if (e) {
                try {
                    std::rethrow_exception(e);
                } catch (const std::exception& ex) {
                    spdlog::error("listener '{}': accept loop ended: {}", lp->cfg.name, ex.what());
                } catch (...) {
                    spdlog::error("listener '{}': accept loop ended", lp->cfg.name);
                }
            }
            accept_loops.fetch_sub(1);
            notify_waiters();
        });
    }
}

asio::awaitable<void> server_core::accept_loop(listener_state* l) {
    const std::uint32_t shards = pool.shard_count();
    timer backoff(pool.context(l->shard));
    for (;;) {
        broker::shard_id target = l->next_shard++ % shards;
        auto [ec, sock] = co_await l->acc->async_accept(pool.context(target), use_tuple);
        if (stopping.load(std::memory_order_acquire) || !l->acc->is_open()) {
            break;
        }
        if (ec) {
            if (ec == asio::error::operation_aborted) {
                break;
            }
            // EMFILE and friends: log, back off briefly, keep serving the open connections.
            spdlog::warn("listener '{}': accept failed: {}", l->cfg.name, ec.message());
            backoff.expires_after(50ms);
            auto [bec] = co_await backoff.async_wait(use_tuple);
            (void)bec;
            continue;
        }
        on_accepted(*l, target, std::move(sock));
        // Take what else is queued without another wake-up. Any error (would_block, EMFILE,
        // ...) hands over to the asynchronous accept above, which waits, logs and backs off.
        for (int i = 1; i < max_accepts_per_wake; ++i) {
            const broker::shard_id next = l->next_shard % shards;
            tcp_socket more(pool.context(next));
            boost::system::error_code aec;
            l->acc->accept(more, aec);
            if (aec) {
                break;
            }
            ++l->next_shard;
            on_accepted(*l, next, std::move(more));
        }
    }
}

void server_core::on_accepted(listener_state& l, broker::shard_id target, tcp_socket sock) {
    accepted.fetch_add(1, std::memory_order_relaxed);
    live.fetch_add(1, std::memory_order_acq_rel);
    if (!factory.try_admit()) {
        auto n = rejected_over_limit.fetch_add(1, std::memory_order_relaxed) + 1;
        spdlog::debug(
                "listener '{}': over the connection limit, closing a new connection "
                "({} refused so far)",
                l.cfg.name,
                n);
        boost::system::error_code ec;
        sock.close(ec);
        connection_gone();
        return;
    }
    boost::system::error_code ec;
    sock.set_option(tcp::no_delay(true), ec);
    if (target == l.shard) {
        // Already on the target shard (the accept loop runs on l.shard): no hand-off needed.
        start_connection(l, target, std::move(sock));
        return;
    }
    asio::post(pool.context(target), [this, &l, target, sock = std::move(sock)]() mutable {
        start_connection(l, target, std::move(sock));
    });
}

void server_core::start_connection(listener_state& l, broker::shard_id target, tcp_socket sock) {
    if (stopping.load(std::memory_order_acquire)) {
        factory.release();
        boost::system::error_code ec;
        sock.close(ec);
        connection_gone();
        return;
    }
    if (l.cfg.kind == listener_kind::tls) {
        std::make_shared<connection<tls_stream>>(*this, l, target, std::move(sock), l.tls.load())
                ->start();
    } else {
        std::make_shared<connection<tcp_socket>>(*this, l, target, std::move(sock), nullptr)
                ->start();
    }
}

void server_core::link(connection_base& c, broker::shard_id shard) noexcept {
    auto& r = registries[shard];
    c.prev_in_shard = nullptr;
    c.next_in_shard = r.head;
    if (r.head) {
        r.head->prev_in_shard = &c;
    }
    r.head = &c;
}

void server_core::unlink(connection_base& c, broker::shard_id shard) noexcept {
    auto& r = registries[shard];
    if (c.prev_in_shard) {
        c.prev_in_shard->next_in_shard = c.next_in_shard;
    } else if (r.head == &c) {
        r.head = c.next_in_shard;
    } else {
        return; // never linked
    }
    if (c.next_in_shard) {
        c.next_in_shard->prev_in_shard = c.prev_in_shard;
    }
    c.prev_in_shard = c.next_in_shard = nullptr;
}

void server_core::connection_gone() noexcept {
    if (live.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        notify_waiters();
    }
}

void server_core::notify_waiters() {
    std::lock_guard lk(mu_);
    cv_.notify_all();
}

template <class Fn>
void server_core::on_every_shard(Fn fn) {
    const auto n = pool.shard_count();
    if (!pool.running()) {
        for (broker::shard_id s = 0; s < n; ++s) {
            fn(s);
        }
        return;
    }
    std::latch done(n);
    for (broker::shard_id s = 0; s < n; ++s) {
        asio::post(pool.context(s), [&fn, &done, s] {
            fn(s);
            done.count_down();
        });
    }
    done.wait();
}

bool server_core::wait_until_no_connections(std::chrono::milliseconds timeout) {
    std::unique_lock lk(mu_);
    return cv_.wait_for(lk, timeout, [this] { return live.load(std::memory_order_acquire) == 0; });
}

bool server_core::drain(std::chrono::milliseconds timeout) {
    if (pool.on_shard_thread()) {
        throw std::logic_error("server::drain/stop must not be called on a shard thread");
    }
    stopping.store(true, std::memory_order_release);
    drained = true;
    if (!started) {
        return true;
    }
    // 1. Stop accepting: each acceptor is closed on the shard that runs it.
    on_every_shard([this](broker::shard_id s) {
        for (auto& l : listeners) {
            if (l->shard == s && l->acc) {
                boost::system::error_code ec;
                l->acc->close(ec);
            }
        }
    });
    if (pool.running()) {
        // The accept coroutines touch this object until they end; wait for them.
        std::unique_lock lk(mu_);
        cv_.wait_for(lk, force_close_wait, [this] { return accept_loops.load() == 0; });
    }
    // 2. Every live connection hears of the shutdown on its own shard.
    const auto at_start = live.load();
    on_every_shard([this](broker::shard_id s) {
        for (auto* c = registries[s].head; c != nullptr;) {
            auto* next = c->next_in_shard;
            c->server_shutdown();
            c = next;
        }
    });
    // 3. Wait for them to close; then cut off what is left.
    bool clean = wait_until_no_connections(timeout);
    if (!clean) {
        spdlog::warn(
                "shutdown: {} connection(s) still open after {} ms; closing them",
                live.load(),
                timeout.count());
        on_every_shard([this](broker::shard_id s) {
            for (auto* c = registries[s].head; c != nullptr;) {
                auto* next = c->next_in_shard;
                c->force_close();
                c = next;
            }
        });
        if (!wait_until_no_connections(force_close_wait)) {
            spdlog::error("shutdown: {} connection(s) did not end", live.load());
        }
    }
    spdlog::info("shutdown: {} connection(s) closed{}", at_start, clean ? "" : " (some forcibly)");
    if (authenticator) {
        // No handshake runs any more: record the registrations still queued, while the shards
        // still route their events.
        authenticator->stop();
    }
    return clean;
}

bool server_core::reload_tls() {
    bool ok = true;
    for (auto& l : listeners) {
        if (l->cfg.kind != listener_kind::tls) {
            continue;
        }
        try {
            l->tls.store(make_tls_context(l->cfg, authenticator.get()));
            spdlog::info(
                    "listener '{}': TLS certificate reloaded from '{}'",
                    l->cfg.name,
                    l->cfg.cert_file);
        } catch (const std::exception& e) {
            ok = false;
            spdlog::error("TLS reload failed, keeping the previous certificate: {}", e.what());
        }
    }
    return ok;
}

} // namespace detail

server::server(handler_factory& factory, shard_pool& pool, std::vector<listener_config> listeners)
    : core_(std::make_unique<detail::server_core>(factory, pool, std::move(listeners))) {}

server::server(
        std::unique_ptr<handler_factory> owned,
        shard_pool& pool,
        std::vector<listener_config> listeners)
    : owned_factory_(std::move(owned))
    , core_(std::make_unique<detail::server_core>(*owned_factory_, pool, std::move(listeners))) {}

server::~server() {
    if (core_->started && !core_->drained) {
        core_->drain(std::chrono::seconds(5));
    }
}

void server::use_registry(auth::registry& reg, registry_auth_options options) {
    if (core_->started) {
        throw std::logic_error("server::use_registry after start()");
    }
    core_->authenticator = std::make_unique<registry_authenticator>(reg, std::move(options));
}

void server::start() {
    core_->start();
}

std::uint16_t server::port(std::string_view listener_name) const {
    for (const auto& l : core_->listeners) {
        if (l->cfg.name == listener_name && l->port != 0) {
            return l->port;
        }
    }
    throw std::out_of_range(fmt::format("no started listener named '{}'", listener_name));
}

bool server::reload_tls() {
    return core_->reload_tls();
}

bool server::drain(std::chrono::milliseconds timeout) {
    return core_->drain(timeout);
}

void server::stop(std::chrono::milliseconds timeout) {
    if (!core_->drained) {
        core_->drain(timeout);
    }
    core_->pool.stop();
    core_->pool.join();
}

server_stats server::stats() const noexcept {
    return {core_->accepted.load(),
            core_->rejected_over_limit.load(),
            core_->handshake_failures.load(),
            core_->live.load(),
            core_->tls_record_handovers.load(),
            core_->tls_record_fallbacks.load()};
}

} // namespace thinggate::transport
