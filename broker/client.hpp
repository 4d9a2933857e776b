#pragma once
// broker/client: one network connection's MQTT protocol state, sans I/O.
// Owns: input framing/decoding, the CONNECT handshake, in-flight windows both ways, topic aliases,
// keep-alive decisions and output framing for one connection. Must not use: Asio, sockets, clocks
// other than runtime::now().
// Thread safety: every member is called on the connection's shard thread only.
//
// The transport drives it:
//   reader:  auto buf = c.prepare_input(n); read_some(buf) -> bytes; c.commit_input(bytes);
//   writer:  when woken (connection_io::wake_writer), c.take_output(frames); write them; c.output_written(bytes);
//   timer:   c.read_timeout() says how long the connection may stay silent; on expiry c.on_read_timeout().
//   close:   when the socket ends (EOF or error), c.on_connection_lost(); on shutdown, c.on_server_shutdown().
// The client asks the transport to close through connection_io::close().

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/frame_head.hpp"
#include "broker/message.hpp"
#include "broker/runtime.hpp"
#include "policy/context.hpp"

namespace thinggate::broker {

class broker;
class session;

/// Implemented by transport/ for each connection. Called on the connection's shard only.
class connection_io {
public:
    virtual ~connection_io() = default;
    /// New frames are waiting in client::take_output(). Cheap to call repeatedly.
    virtual void wake_writer() = 0;
    /// Close the connection. `flush`: write what is already queued first (bounded by a short
    /// deadline), e.g. a CONNACK or DISCONNECT with a reason code.
    virtual void close(bool flush) = 0;
    /// The read (keep-alive) timeout changed; 0 = none.
    virtual void read_timeout_changed() = 0;
    /// client::input_paused() turned false: read again. (Default: nothing, for transports that
    /// always read.)
    virtual void resume_input() {}
};

/// Facts about the connection that the transport knows and the broker and policies use.
struct connection_info {
    std::string listener;       ///< listener name from config
    std::string remote_address; ///< "ip:port"
    bool tls = false;
    std::string cert_subject_cn;   ///< client certificate's subject CN (mutual TLS), else empty
    std::string cert_fingerprint;  ///< lowercase hex SHA-256 of the client certificate DER, else empty
    /// The client certificate as verified against the registry (its id and the fields policy
    /// variables resolve against); nullptr without one (plain TCP, or a TLS listener that does
    /// not use the registry). With a broker that has a registry, a connection with a certificate
    /// is authorised by its policies; one without is authorised only on listeners that allow it.
    std::shared_ptr<const policy::certificate_info> certificate;
    std::string sni; ///< TLS server name the client sent (iot:DomainName), else empty
};

/// One frame to write: a head owned by the frame (inline up to frame_head::inline_capacity
/// bytes, so a delivery's head needs no heap allocation) and an optional body borrowed from
/// `keep` (the shared payload of a routed message), written with scatter-gather.
struct out_frame {
    frame_head head;
    std::string_view body;
    message_ptr keep; ///< keeps `body` alive
    std::size_t size() const noexcept { return head.size() + body.size(); }
};

class client {
public:
    client(broker& b, shard_id shard, connection_io& io, connection_info info);
    ~client();
    client(const client&) = delete;
    client& operator=(const client&) = delete;

    /// Input buffer space of at least `min_size` bytes for the next read.
    std::span<std::uint8_t> prepare_input(std::size_t min_size = 4096);
    /// `n` bytes were read into the span from prepare_input; processes every complete packet, in order.
    void commit_input(std::size_t n);
    /// The transport waits for the socket: frees the input buffer if it holds no unprocessed
    /// bytes (an idle connection then holds none; the next prepare_input allocates again).
    void release_input() noexcept;
    /// True while the client takes no more input (publish rate over its limit, or its session is
    /// being handed over from another shard): the transport stops reading, so TCP slows the peer,
    /// until connection_io::resume_input().
    bool input_paused() const noexcept;

    /// Moves all pending output frames into `out` (appends). Returns false when there were none.
    bool take_output(std::vector<out_frame>& out);
    /// `n` bytes of previously taken frames reached the socket (frees outbound budget).
    void output_written(std::size_t n);

    /// 0 = no timeout. Before CONNECT this is the connect timeout; after it, 1.5 × keep-alive.
    std::chrono::milliseconds read_timeout() const noexcept;
    void on_read_timeout();
    /// The socket is gone (EOF, reset, error, or after close()). Idempotent.
    void on_connection_lost();
    /// Graceful shutdown: v5 clients get DISCONNECT 0x8B, then the connection closes.
    void on_server_shutdown();

    bool closed() const noexcept;
    const connection_info& info() const noexcept;

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

} // namespace thinggate::broker
