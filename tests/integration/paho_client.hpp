#pragma once
// tests/integration/paho_client: a Paho MQTT C++ async_client wrapped for tests: connection
// options for MQTT 3.1.1 / 5 over TCP or mutual TLS against the test daemon, received messages
// and disconnect events collected under a mutex and awaited with deadlines.
// Thread safety: call members from the test thread; Paho's callback thread only appends events.

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <mqtt/async_client.h>

#include "daemon.hpp"

namespace thinggate::integration {

enum class transport_kind {
    tcp,
    tls
};

/// One way of reaching the daemon: protocol version and transport.
struct endpoint {
    int version = MQTTVERSION_5; ///< MQTTVERSION_3_1_1 or MQTTVERSION_5
    transport_kind transport = transport_kind::tcp;
    std::string name() const; ///< "v5/tls"
};

/// {3.1.1, 5} x {tcp, tls}.
std::vector<endpoint> all_endpoints();

struct client_options {
    std::string client_id;
    endpoint ep;
    /// Host in the URI: with TLS it is the SNI and the name the server certificate is verified
    /// against (DNS:localhost or IP:127.0.0.1).
    std::string host = "localhost";
    std::string uri;                ///< overrides the URI built from ep and host
    std::size_t cert_index = 0;     ///< which test_pki client certificate (TLS)
    std::optional<cert_files> cert; ///< another certificate (TLS); overrides cert_index
    bool no_client_cert = false;    ///< TLS without a client certificate
    bool clean = true;              ///< clean session (3.1.1) / clean start (5)
    std::optional<std::uint32_t> session_expiry;  ///< v5 CONNECT property
    std::optional<std::uint16_t> receive_maximum; ///< v5 CONNECT property
    std::optional<mqtt::will_options> will;
    int keep_alive = 60;
};

class paho_client {
public:
    paho_client(const gateway& d, client_options options);
    ~paho_client(); ///< disconnects if still connected
    paho_client(const paho_client&) = delete;
    paho_client& operator=(const paho_client&) = delete;

    /// Connects or fails the test (with Paho's reason). Returns the CONNACK's session present.
    bool connect();
    /// Connects; the error text when it fails (or empty on success).
    std::string try_connect();
    /// Starts connecting (connect_all waits for several at once).
    mqtt::token_ptr start_connect();
    /// Waits for a started connect; fails the test when it fails. Returns session present.
    bool finish_connect(const mqtt::token_ptr& tok);

    /// SUBSCRIBE one filter; the SUBACK reason codes (granted QoS / v5 reason codes).
    std::vector<mqtt::ReasonCode> subscribe(const std::string& filter, int qos);
    /// PUBLISH and wait for its completion (PUBACK / PUBCOMP; for QoS 0: written).
    void
    publish(const std::string& topic,
            const std::string& payload,
            int qos,
            bool retain = false,
            const mqtt::properties& props = {});
    void publish(mqtt::message_ptr msg);
    /// Normal DISCONNECT (reason 0x00), waiting for it to complete.
    void disconnect();

    /// The next received message, or null after the timeout.
    mqtt::const_message_ptr next_message(milliseconds timeout = step_timeout);
    /// Exactly the next `n` messages, or fails the test when they do not arrive in time.
    std::vector<mqtt::const_message_ptr>
    messages(std::size_t n, milliseconds timeout = step_timeout);
    /// How many messages arrived so far (consumed or not).
    std::size_t received_count() const;
    /// Waits until the total number received reaches `n`.
    bool wait_received(std::size_t n, milliseconds timeout = step_timeout);

    /// Waits until the connection is gone (server DISCONNECT or connection lost).
    bool wait_disconnected(milliseconds timeout = step_timeout);
    /// The reason code of a server DISCONNECT (MQTT 5), once one arrived.
    std::optional<int> server_disconnect_reason() const;

    bool connected() const { return client_->is_connected(); }

    mqtt::async_client& paho() { return *client_; }

private:
    client_options options_;
    std::unique_ptr<mqtt::async_client> client_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::deque<mqtt::const_message_ptr> queue_;
    std::size_t received_ = 0;
    bool lost_ = false;
    std::optional<int> disconnect_reason_;
    bool session_present_ = false;
};

/// Connects several clients at once and fails the test if one fails. Paho's I/O thread notices
/// a new socket only when its poll() times out (after 1 s) while other connections are open, so
/// connecting clients one after the other costs about a second each.
void connect_all(std::initializer_list<paho_client*> clients);

/// The Paho URI for a daemon endpoint: "tcp://127.0.0.1:<p>" / "ssl://<host>:<p>".
std::string uri_for(const gateway& d, transport_kind t, const std::string& host = "localhost");

} // namespace thinggate::integration
