#include "transport/connection.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "transport/registry_auth.hpp"

namespace thinggate::transport::detail {

std::string endpoint_string(const tcp::endpoint& ep) {
    auto a = ep.address();
    if (a.is_v6() && a.to_v6().is_v4_mapped()) {
        a = asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    }
    if (a.is_v6()) {
        return fmt::format("[{}]:{}", a.to_string(), ep.port());
    }
    return fmt::format("{}:{}", a.to_string(), ep.port());
}

namespace {

using namespace std::chrono_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

constexpr std::chrono::seconds flush_timeout = 3s; // close(flush) and the TLS close_notify
constexpr std::size_t read_chunk = 4096;
// Plain TCP: a read that fills its buffer doubles the next one up to this, and a read that
// brings less than a quarter of it halves it again, so a busy publisher costs one read (and one
// yield to the shard) per burst instead of one per 4 KiB, while a quiet one stays at read_chunk.
constexpr std::size_t max_read_chunk = 64 * 1024;
// Plain TCP: pieces smaller than this are copied into one staging buffer so that a write of
// many small frames is one system call; larger bodies are written from the shared message.
constexpr std::size_t coalesce_below = 2048;
// Buffers of the last write kept for the next one up to these sizes while the writer is busy;
// when it goes idle it keeps none of the staging buffer and only a few frame slots.
constexpr std::size_t keep_staging = 16 * 1024;
constexpr std::size_t keep_frames = 8;

std::string subject_cn(X509* cert) {
    X509_NAME* name = X509_get_subject_name(cert);
    int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (idx < 0) {
        return {};
    }
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) {
        return {};
    }
    std::string cn(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
    OPENSSL_free(utf8);
    return cn;
}

std::string sha256_fingerprint(X509* cert) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (X509_digest(cert, EVP_sha256(), md, &len) != 1) {
        return {};
    }
    static constexpr char digits[] = "0123456789abcdef";
    std::string hex;
    hex.reserve(len * 2);
    for (unsigned int i = 0; i < len; ++i) {
        hex.push_back(digits[md[i] >> 4]);
        hex.push_back(digits[md[i] & 0x0f]);
    }
    return hex;
}

template <class Stream>
Stream make_stream(tcp_socket sock, const tls_context_ptr& tls) {
    if constexpr (std::is_same_v<Stream, tcp_socket>) {
        return Stream(std::move(sock));
    } else {
        return Stream(std::move(sock), tls->native(), tls->builtin_records());
    }
}

} // namespace

template <class Stream>
connection<Stream>::connection(
        server_core& core,
        const listener_state& l,
        broker::shard_id shard,
        tcp_socket sock,
        tls_context_ptr tls)
    : core_(core)
    , listener_(l)
    , tls_(std::move(tls))
    , stream_(make_stream<Stream>(std::move(sock), tls_))
    , watchdog_(core.pool.context(shard))
    , gate_(core.pool.context(shard))
    , wake_(core.pool.context(shard))
    , shard_(shard) {}

template <class Stream>
connection<Stream>::~connection() {
    finish();
    core_.connection_gone();
}

template <class Stream>
tcp_socket& connection<Stream>::socket() noexcept {
    if constexpr (is_tls) {
        return stream_.socket();
    } else {
        return stream_;
    }
}

template <class Stream>
void connection<Stream>::start() {
    core_.link(*this, shard_);
    if constexpr (!is_tls) {
        // The reader waits for readability and then reads without blocking, so an idle
        // connection asks its handler for no input buffer.
        boost::system::error_code ec;
        socket().non_blocking(true, ec);
    }
    auto self = this->shared_from_this();
    asio::co_spawn(core_.pool.context(shard_), run_reader(self), [self](std::exception_ptr e) {
        if (!e) {
            return;
        }
        try {
            std::rethrow_exception(e);
        } catch (const std::exception& ex) {
            spdlog::error(
                    "listener '{}': connection reader failed: {}",
                    self->listener_.cfg.name,
                    ex.what());
        } catch (...) {
            spdlog::error("listener '{}': connection reader failed", self->listener_.cfg.name);
        }
        self->hard_close();
        self->finish();
    });
}

template <class Stream>
asio::awaitable<bool> connection<Stream>::handshake() {
    if constexpr (!is_tls) {
        co_return true;
    } else {
        set_deadline(
                std::chrono::steady_clock::now() +
                std::chrono::milliseconds(listener_.cfg.handshake_timeout_ms));
        SSL* ssl = stream_.native_handle();
        boost::system::error_code ep_ec;
        const auto ep = socket().remote_endpoint(ep_ec);
        identity_.peer = ep_ec ? std::string("?") : endpoint_string(ep);
        // Only the registry's verification callback reads it; setting ex_data allocates a
        // table that the SSL object keeps until it is freed (idle memory).
        const bool attach = ssl != nullptr && tls_->authenticator() != nullptr;
        if (attach) {
            attach_handshake_identity(ssl, &identity_);
        }
        bool ok = co_await stream_.handshake();
        if (attach) {
            attach_handshake_identity(ssl, nullptr);
        }
        if (!ok || state_ != state::handshake) {
            core_.handshake_failures.fetch_add(1, std::memory_order_relaxed);
            spdlog::debug(
                    "listener '{}': TLS handshake with {} failed: {}",
                    listener_.cfg.name,
                    identity_.peer,
                    state_ != state::handshake ? std::string("closed") : stream_.error());
            co_return false;
        }
        if (auto* auth = tls_->authenticator(); auth != nullptr && !identity_.certificate) {
            // A resumed session skips certificate verification; the registry may have changed
            // since the full handshake, so its certificate is checked again now.
            if (X509* leaf = SSL_get0_peer_certificate(ssl)) {
                identity_.certificate = auth->verify(
                        leaf, SSL_get_peer_cert_chain(ssl), listener_.cfg.name, identity_.peer);
            }
            if (!identity_.certificate) {
                core_.handshake_failures.fetch_add(1, std::memory_order_relaxed);
                co_return false;
            }
        }
        co_return true;
    }
}

template <class Stream>
broker::connection_info connection<Stream>::make_info() {
    broker::connection_info info;
    info.listener = listener_.cfg.name;
    boost::system::error_code ec;
    auto ep = socket().remote_endpoint(ec);
    if (!ec) {
        info.remote_address = endpoint_string(ep);
    }
    if constexpr (is_tls) {
        info.tls = true;
        SSL* ssl = stream_.native_handle();
        if (X509* cert = SSL_get0_peer_certificate(ssl)) {
            info.cert_subject_cn = subject_cn(cert);
            // The registry check already hashed it (the certificate id is its SHA-256).
            info.cert_fingerprint = identity_.certificate ? identity_.certificate->id : sha256_fingerprint(cert);
        }
        info.certificate = std::move(identity_.certificate);
        // Any server name is kept as sent, an IP literal included (some clients send one).
        if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)) {
            info.sni = sni;
        }
    }
    return info;
}

template <class Stream>
asio::awaitable<void> connection<Stream>::run_reader(std::shared_ptr<connection> self) {
    bool up = true;
    if constexpr (is_tls) {
        up = co_await handshake();
    }
    if (up && state_ == state::handshake) {
        try {
            make_handler();
        } catch (const std::exception& e) {
            spdlog::warn(
                    "listener '{}': cannot set up a connection: {}", listener_.cfg.name, e.what());
        }
    }
    if (handler_ && state_ == state::handshake) {
        state_ = state::open;
        read_timeout_ = handler_->read_timeout();
        set_deadline(
                read_timeout_.count() > 0 ? std::chrono::steady_clock::now() + read_timeout_
                                          : time_point::max());
        asio::co_spawn(core_.pool.context(shard_), run_writer(self), [self](std::exception_ptr e) {
            if (!e) {
                return;
            }
            try {
                std::rethrow_exception(e);
            } catch (const std::exception& ex) {
                spdlog::error(
                        "listener '{}': connection writer failed: {}",
                        self->listener_.cfg.name,
                        ex.what());
            } catch (...) {
                spdlog::error("listener '{}': connection writer failed", self->listener_.cfg.name);
            }
            self->hard_close();
        });

        bool wait_first = true;
        std::size_t read_size = read_chunk; // plain TCP: adapts to how much each read brings
        for (;;) {
            if (state_ == state::closed) {
                break;
            }
            if (state_ == state::open && handler_->input_paused()) {
                // Backpressure: leave the bytes in the socket until the handler wants them.
                gate_.expires_at(time_point::max());
                auto [gate_ec] = co_await gate_.async_wait(use_tuple);
                (void)gate_ec; // cancelled by resume_input() or a close
                if (state_ == state::open && read_timeout_.count() > 0) {
                    deadline_ = std::chrono::steady_clock::now() + read_timeout_; // paused by us
                }
                continue;
            }
            if constexpr (is_tls) {
                if (flushed_) {
                    co_await tls_shutdown();
                    break;
                }
            }
            std::size_t n = 0;
            if constexpr (!is_tls) {
                if (wait_first) {
                    handler_->release_input(); // an idle connection holds no input buffer
                    auto [wec] = co_await stream_.async_wait(tcp_socket::wait_read, use_tuple);
                    if (wec || state_ == state::closed) {
                        break;
                    }
                }
                auto buf = handler_->prepare_input(read_size);
                boost::system::error_code ec;
                n = stream_.read_some(asio::buffer(buf.data(), buf.size()), ec);
                if (ec == asio::error::would_block || ec == asio::error::try_again) {
                    wait_first = true;
                    continue;
                }
                if (ec) {
                    break; // EOF, reset
                }
                // A short read drained the socket: wait before asking for a buffer again.
                wait_first = n < buf.size();
                if (n >= read_size) {
                    read_size = std::min(read_size * 2, max_read_chunk);
                } else if (n < read_size / 4) {
                    read_size = std::max(read_size / 2, read_chunk);
                }
            } else {
                // What OpenSSL has already read or decrypted is taken before waiting: SSL_read
                // asks to wait only once the socket itself had nothing more. The builtin
                // record layer opens several records per call (read_size()).
                auto buf = handler_->prepare_input(stream_.read_size());
                auto st = stream_.read_some(buf, n);
                if (stream_.output_pending()) {
                    wake_writer(); // our KeyUpdate answer, which the socket did not take at once
                }
                if (st == tls_status::want_read || st == tls_status::want_write) {
                    if (st == tls_status::want_read) {
                        handler_->release_input(); // an idle connection holds no input buffer
                    }
                    // The socket's wait directly, not tls_channel::wait(): one coroutine frame
                    // less held by every idle connection.
                    const auto kind = st == tls_status::want_write ? tcp_socket::wait_write
                                                                   : tcp_socket::wait_read;
                    auto [wec] = co_await socket().async_wait(kind, use_tuple);
                    const bool ready = !wec; // closed: state_ says so below
                    if (state_ == state::closed) {
                        break;
                    }
                    if (!ready && !(flushed_ && state_ == state::closing)) {
                        break;
                    }
                    continue; // or: the writer finished the flush, send close_notify next
                }
                if (st != tls_status::ok) {
                    break; // close_notify, end of stream, error
                }
            }
            if (state_ == state::open) {
                if (read_timeout_.count() > 0) {
                    deadline_ = std::chrono::steady_clock::now() + read_timeout_;
                    if (!watchdog_armed_) {
                        watchdog_.expires_at(deadline_);
                        start_watchdog();
                    }
                }
                handler_->commit_input(n);
            }
            // closing: input after close() is read and dropped until the peer goes away.
            // More may be waiting (TCP: the read filled the buffer; TLS: any successful read),
            // but the shard runs what this read caused first (the deliveries it posted, other
            // connections): read in a loop, a fast publisher would starve them, and a
            // congested subscriber would be seen only after thousands more messages had been
            // routed to it.
            if (is_tls || !wait_first) {
                co_await asio::post(core_.pool.context(shard_), asio::use_awaitable);
            }
        }
    }
    hard_close();
    finish();
}

template <class Stream>
void connection<Stream>::make_handler() {
    // Not in run_reader: a local there would be part of its coroutine frame, which every idle
    // connection holds.
    auto info = make_info();
    if constexpr (is_tls) {
        hand_over_records(); // make_info() was the SSL object's last reader
    }
    handler_ = core_.factory.make(*this, shard_, std::move(info));
}

template <class Stream>
void connection<Stream>::hand_over_records() {
    if constexpr (is_tls) {
        const char* why = nullptr;
        if (stream_.detach_openssl(why)) {
            core_.tls_record_handovers.fetch_add(1, std::memory_order_relaxed);
        } else if (why != nullptr) {
            core_.tls_record_fallbacks.fetch_add(1, std::memory_order_relaxed);
            spdlog::debug(
                    "listener '{}': {} keeps OpenSSL's record layer: {}",
                    listener_.cfg.name,
                    identity_.peer,
                    why);
        }
    }
}

template <class Stream>
asio::awaitable<void> connection<Stream>::tls_shutdown() {
    if constexpr (is_tls) {
        // Bounded by the flush deadline set in close(); a peer that never answers our
        // close_notify is cut off by the watchdog.
        co_await stream_.shutdown(); // any outcome ends the connection
    }
    co_return;
}

template <class Stream>
void connection<Stream>::build_buffers() {
    // Small pieces (heads, small payloads) are copied into one staging buffer; only large
    // payloads are written from the shared message (scatter-gather). A write of many small
    // buffers would cost a system call per 64 of them (Asio's limit per write) and, with TLS, a
    // record each: copying 75-byte messages is far cheaper than either.
    buffers_.clear();
    std::size_t small = 0;
    for (const auto& f : frames_) {
        small += f.head.size() < coalesce_below ? f.head.size() : 0;
        small += f.body.size() < coalesce_below ? f.body.size() : 0;
    }
    staging_.clear();
    staging_.reserve(small); // no reallocation below: buffers point into it
    std::size_t run_start = 0;
    auto end_run = [&] {
        if (staging_.size() > run_start) {
            buffers_.emplace_back(staging_.data() + run_start, staging_.size() - run_start);
            run_start = staging_.size();
        }
    };
    auto add = [&](const char* p, std::size_t n) {
        if (n == 0) {
            return;
        }
        if (n < coalesce_below) {
            staging_.append(p, n);
        } else {
            end_run();
            buffers_.emplace_back(p, n);
        }
    };
    for (const auto& f : frames_) {
        add(f.head.data(), f.head.size());
        add(f.body.data(), f.body.size());
    }
    end_run();
}

template <class Stream>
asio::awaitable<void> connection<Stream>::run_writer(std::shared_ptr<connection> self) {
    (void)self; // the coroutine's own reference keeps the connection alive
    for (;;) {
        if (state_ == state::closed) {
            co_return;
        }
        bool have_output = handler_->take_output(frames_);
        if constexpr (is_tls) {
            // Ciphertext of the channel's own waits for the socket (the builtin record layer's
            // KeyUpdate answer): write_frames() sends it, with or without frames.
            have_output = have_output || stream_.output_pending();
        }
        if (!have_output) {
            if (state_ == state::closing) {
                // Everything queued before close(flush) is written.
                flushed_ = true;
                boost::system::error_code ec;
                if constexpr (is_tls) {
                    socket().cancel(ec); // the reader sends close_notify, then closes
                } else {
                    socket().shutdown(tcp::socket::shutdown_send, ec); // reader waits for EOF
                }
                co_return;
            }
            // Going idle: an idle connection keeps no write buffers.
            if (staging_.capacity() > std::string().capacity()) { // beyond the inline bytes
                std::string().swap(staging_);
            }
            if (frames_.capacity() > keep_frames) {
                std::vector<broker::out_frame>().swap(frames_);
                std::vector<asio::const_buffer>().swap(buffers_);
            }
            writer_waiting_ = true;
            wake_.expires_at(time_point::max());
            auto [ec] = co_await wake_.async_wait(use_tuple);
            (void)ec; // woken by cancel(): the loop looks at the state and the output again
            writer_waiting_ = false;
            if (state_ == state::open) {
                // Woken by the first frame of a turn: let the shard run what is queued before
                // writing (the rest of a fan-out, the next read's deliveries), so that one write
                // carries more of it. Fewer, larger writes: loopback TCP costs the broker about
                // as much per write as the deliveries of a 4 KiB read put into it.
                co_await asio::post(core_.pool.context(shard_), asio::use_awaitable);
            }
            continue;
        }
        std::size_t n = 0;
        const bool had_frames = !frames_.empty();
        boost::system::error_code ec;
        if constexpr (is_tls) {
            bool ok = co_await stream_.write_frames(frames_, n);
            if (!ok) {
                ec = asio::error::broken_pipe;
            }
        } else {
            build_buffers();
            auto [wec, wn] = co_await asio::async_write(stream_, buffers_, use_tuple);
            ec = wec;
            n = wn;
        }
        frames_.clear();
        buffers_.clear();
        if (staging_.capacity() > keep_staging) {
            std::string().swap(staging_);
        }
        if (ec) {
            if (state_ != state::closed) {
                if constexpr (is_tls) {
                    spdlog::debug(
                            "listener '{}': write failed: {}", listener_.cfg.name, stream_.error());
                } else {
                    spdlog::debug(
                            "listener '{}': write failed: {}", listener_.cfg.name, ec.message());
                }
            }
            hard_close();
            co_return;
        }
        if (had_frames) {
            handler_->output_written(n);
        }
    }
}

template <class Stream>
void connection<Stream>::wake_writer() {
    if (writer_waiting_) {
        wake_.cancel();
    }
}

template <class Stream>
void connection<Stream>::close(bool flush) {
    switch (state_) {
    case state::closed:
        return;
    case state::closing:
        if (!flush) {
            hard_close();
        }
        return;
    case state::handshake:
        hard_close(); // nothing of ours is queued before the handler exists
        return;
    case state::open:
        break;
    }
    if (!flush) {
        hard_close();
        return;
    }
    state_ = state::closing;
    set_deadline(std::chrono::steady_clock::now() + flush_timeout);
    gate_.cancel(); // a paused reader goes back to reading (and dropping) until the peer leaves
    if (writer_waiting_) {
        wake_.cancel();
    }
}

template <class Stream>
void connection<Stream>::resume_input() {
    gate_.cancel();
}

template <class Stream>
void connection<Stream>::read_timeout_changed() {
    if (!handler_ || state_ != state::open) {
        return; // the reader reads it when the connection opens
    }
    read_timeout_ = handler_->read_timeout();
    set_deadline(
            read_timeout_.count() > 0 ? std::chrono::steady_clock::now() + read_timeout_
                                      : time_point::max());
}

template <class Stream>
void connection<Stream>::server_shutdown() {
    switch (state_) {
    case state::handshake:
        hard_close();
        break;
    case state::open:
        handler_->on_server_shutdown();
        if (state_ == state::open) {
            close(true); // a handler that did not close itself
        }
        break;
    case state::closing:
    case state::closed:
        break;
    }
}

template <class Stream>
void connection<Stream>::force_close() {
    hard_close();
}

template <class Stream>
void connection<Stream>::hard_close() noexcept {
    if (state_ == state::closed) {
        return;
    }
    state_ = state::closed;
    if constexpr (is_tls) {
        stream_.close();
    } else {
        boost::system::error_code ec;
        socket().close(ec);
    }
    watchdog_.cancel();
    wake_.cancel();
    gate_.cancel();
}

template <class Stream>
void connection<Stream>::finish() noexcept {
    if (finished_) {
        return;
    }
    finished_ = true;
    if (handler_) {
        try {
            handler_->on_connection_lost();
        } catch (const std::exception& e) {
            spdlog::error(
                    "listener '{}': on_connection_lost threw: {}", listener_.cfg.name, e.what());
        } catch (...) {
            spdlog::error("listener '{}': on_connection_lost threw", listener_.cfg.name);
        }
    }
    core_.factory.release();
    core_.unlink(*this, shard_);
}

template <class Stream>
void connection<Stream>::set_deadline(time_point tp) {
    deadline_ = tp;
    if (tp == time_point::max() || state_ == state::closed) {
        return; // a wait already pending fires, finds nothing due, and stops
    }
    if (!watchdog_armed_ || tp < watchdog_.expiry()) {
        watchdog_.expires_at(tp);
        start_watchdog();
    }
}

template <class Stream>
void connection<Stream>::start_watchdog() {
    watchdog_armed_ = true;
    watchdog_.async_wait([self = this->shared_from_this()](const boost::system::error_code& ec) {
        if (ec == asio::error::operation_aborted) {
            return; // replaced by an earlier deadline, or the connection closed
        }
        self->on_watchdog();
    });
}

template <class Stream>
void connection<Stream>::on_watchdog() {
    watchdog_armed_ = false;
    if (state_ == state::closed) {
        return;
    }
    auto now = std::chrono::steady_clock::now();
    if (now < deadline_) {
        if (deadline_ != time_point::max()) {
            watchdog_.expires_at(deadline_); // the deadline moved on while we waited
            start_watchdog();
        }
        return;
    }
    switch (state_) {
    case state::handshake:
        spdlog::debug("listener '{}': TLS handshake timed out", listener_.cfg.name);
        hard_close();
        break;
    case state::open:
        deadline_ = time_point::max();
        handler_->on_read_timeout();
        break;
    case state::closing:
        spdlog::debug("listener '{}': close did not complete in time", listener_.cfg.name);
        hard_close();
        break;
    case state::closed:
        break;
    }
}

template class connection<tcp_socket>;
template class connection<tls_channel>;

} // namespace thinggate::transport::detail
