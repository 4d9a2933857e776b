#pragma once
// tests/integration/raw_client: a plain TCP socket speaking hand-built MQTT packets, for what a
// library client will not do: vanish without DISCONNECT, send a topic alias alone, hold back
// acknowledgements, or speak plain MQTT to the TLS port.
// Thread safety: one thread per raw_client.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "daemon.hpp"

namespace thinggate::integration {

/// One MQTT control packet as read from the socket: fixed-header byte and the rest after the
/// remaining length.
struct raw_packet {
    std::uint8_t header = 0;
    std::string body;

    int type() const noexcept { return header >> 4; }
};

class raw_client {
public:
    /// Connects to 127.0.0.1:port (blocking connect; fails the test on error). A
    /// `receive_buffer` > 0 sets SO_RCVBUF before connecting (a slow reader that the kernel
    /// does not hide behind megabytes of buffer).
    explicit raw_client(std::uint16_t port, int receive_buffer = 0);
    ~raw_client();
    raw_client(const raw_client&) = delete;
    raw_client& operator=(const raw_client&) = delete;

    void send(std::string_view bytes);
    /// send() for another thread than the test's: false on an error instead of failing the test.
    bool try_send(std::string_view bytes);
    /// The next packet, or nullopt on timeout, EOF or a reset.
    std::optional<raw_packet> read_packet(milliseconds timeout = step_timeout);
    /// True when the peer closed (EOF or reset) before the deadline; data that arrives first is
    /// discarded.
    bool wait_closed(milliseconds timeout = step_timeout);
    /// Closes the socket without sending anything (no DISCONNECT).
    void close();

private:
    bool fill(milliseconds timeout); ///< reads more bytes into buf_; false on EOF/timeout
    int fd_ = -1;
    std::string buf_;
    bool eof_ = false;
};

/// Packet builders. `version` is 4 (3.1.1) or 5; v5 packets carry empty properties unless
/// `props` (already encoded, without the length) is given.
std::string encode_remaining_length(std::size_t n);
std::string mqtt_string(std::string_view s);

struct raw_will {
    std::string topic;
    std::string payload;
    int qos = 0;
    bool retain = false;
};

std::string connect_packet(
        int version,
        std::string_view client_id,
        bool clean = true,
        std::uint16_t keep_alive = 60,
        const std::optional<raw_will>& will = std::nullopt,
        std::string_view props = {});
std::string publish_packet(
        int version,
        std::string_view topic,
        std::string_view payload,
        int qos,
        std::uint16_t packet_id = 0,
        std::string_view props = {});
std::string
subscribe_packet(int version, std::uint16_t packet_id, std::string_view filter, int qos);
std::string puback_packet(std::uint16_t packet_id);
std::string pingreq_packet();
std::string disconnect_packet();

/// v5 property bytes.
std::string topic_alias_property(std::uint16_t alias);
std::string receive_maximum_property(std::uint16_t n);

/// The packet id of a PUBLISH with QoS > 0 (version decides nothing here: the id follows the
/// topic in both).
std::uint16_t publish_packet_id(const raw_packet& p);
/// Topic and payload of a PUBLISH (v5: skipping its properties).
std::string publish_topic(const raw_packet& p);
std::string publish_payload(const raw_packet& p, int version);

} // namespace thinggate::integration
