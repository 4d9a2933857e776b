// The daemon's own TLS channel end to end: 128 KiB MQTT payloads both ways over mutual TLS, and a
// TLS subscriber that stops reading while a publisher floods it.
#include <chrono>
#include <string>

#include <doctest/doctest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.hpp"
#include "paho_client.hpp"
#include "raw_client.hpp"

using namespace thinggate::integration;

namespace {

/// A blocking OpenSSL client with a tiny receive buffer, for a subscriber that stops reading.
/// Every read runs against a deadline (poll before SSL_read).
class slow_tls_client {
public:
    slow_tls_client(std::uint16_t port, const cert_files& cert) {
        ctx_ = SSL_CTX_new(TLS_client_method());
        REQUIRE(ctx_ != nullptr);
        REQUIRE(SSL_CTX_use_certificate_file(ctx_, cert.cert.c_str(), SSL_FILETYPE_PEM) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey_file(ctx_, cert.key.c_str(), SSL_FILETYPE_PEM) == 1);
        REQUIRE(SSL_CTX_load_verify_locations(ctx_, test_pki::shared().ca.c_str(), nullptr) == 1);
        SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd_ >= 0);
        int small = 4096; // the kernel doubles it; still far below what is published
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        ssl_ = SSL_new(ctx_);
        SSL_set_fd(ssl_, fd_);
        REQUIRE(SSL_connect(ssl_) == 1);
    }

    ~slow_tls_client() {
        if (ssl_ != nullptr) {
            SSL_free(ssl_);
        }
        if (fd_ >= 0) {
            ::close(fd_);
        }
        SSL_CTX_free(ctx_);
    }

    void send(const std::string& bytes) {
        REQUIRE(SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
                static_cast<int>(bytes.size()));
    }

    /// Reads whatever comes until the server ends the connection; false at the deadline.
    /// `got` counts the plaintext bytes read.
    bool read_until_closed(milliseconds timeout, std::size_t& got) {
        const auto deadline = clock::now() + timeout;
        char buf[16384];
        for (;;) {
            if (SSL_pending(ssl_) == 0) {
                auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
                if (left.count() <= 0) {
                    return false;
                }
                pollfd p{fd_, POLLIN, 0};
                if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
                    return false;
                }
            }
            int n = SSL_read(ssl_, buf, sizeof buf);
            if (n <= 0) {
                ERR_clear_error();
                return true;
            }
            got += static_cast<std::size_t>(n);
        }
    }

    /// One MQTT packet's first bytes (CONNACK / SUBACK are small and come in one record).
    std::string read_some(milliseconds timeout) {
        pollfd p{fd_, POLLIN, 0};
        if (SSL_pending(ssl_) == 0 && ::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) {
            return {};
        }
        char buf[256];
        int n = SSL_read(ssl_, buf, sizeof buf);
        return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
    }

private:
    SSL_CTX* ctx_ = nullptr;
    SSL* ssl_ = nullptr;
    int fd_ = -1;
};

client_options tls_client(const std::string& id, int version, std::size_t cert_index) {
    client_options o;
    o.client_id = id;
    o.ep = {version, transport_kind::tls};
    o.cert_index = cert_index;
    return o;
}

std::string pattern(std::size_t n, char salt) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>('a' + (i * 13 + static_cast<std::size_t>(salt)) % 26);
    }
    return s;
}

} // namespace

TEST_CASE("128 KiB payloads both ways over mutual TLS (MQTT 3.1.1 and 5), QoS 0 and 1") {
    gateway_options go;
    go.client_auth = "ca-file";
    gateway d(go);
    for (int version : {MQTTVERSION_3_1_1, MQTTVERSION_5}) {
        CAPTURE(version);
        paho_client sub(d, tls_client("big-sub", version, 0));
        paho_client pub(d, tls_client("big-pub", version, 1));
        connect_all({&sub, &pub});
        sub.subscribe("big/#", 1);
        for (int qos : {0, 1}) {
            for (int i = 0; i < 3; ++i) {
                auto payload = pattern(128 * 1024 + static_cast<std::size_t>(i), char(i + qos));
                pub.publish("big/" + std::to_string(qos), payload, qos);
                auto msgs = sub.messages(1);
                REQUIRE(msgs.size() == 1);
                CHECK(msgs[0]->get_payload_str() == payload);
            }
        }
        sub.disconnect();
        pub.disconnect();
    }
}

TEST_CASE("a TLS subscriber that stops reading is cut off by the slow-consumer rule; the "
          "publisher and the daemon go on") {
    gateway_options go;
    go.client_auth = "ca-file";
    go.limits = "outbound_budget_bytes = 1048576\n";
    gateway d(go);

    slow_tls_client slow(d.tls_port(), test_pki::shared().client(0));
    slow.send(connect_packet(4, "slow-sub", true, 0));
    CHECK(!slow.read_some(step_timeout).empty()); // CONNACK
    slow.send(subscribe_packet(4, 1, "flood/t", 0));
    CHECK(!slow.read_some(step_timeout).empty()); // SUBACK

    paho_client pub(d, tls_client("flooder", MQTTVERSION_3_1_1, 1));
    pub.connect();
    const auto payload = pattern(64 * 1024, 'f');
    for (int i = 0; i < 200; ++i) { // 12.5 MiB against a 1 MiB budget and a 8 KiB window
        pub.publish("flood/t", payload, 0);
    }
    // The daemon disconnects the subscriber that does not read (slow_consumer = disconnect)
    // instead of buffering what it cannot write.
    std::size_t got = 0;
    CHECK(slow.read_until_closed(step_timeout * 2, got));
    CHECK(got < 200 * payload.size());

    // The publisher was not held up for good, and the daemon still serves over TLS.
    paho_client sub(d, tls_client("after", MQTTVERSION_5, 0));
    sub.connect();
    sub.subscribe("flood/t", 1);
    pub.publish("flood/t", "still here", 1);
    auto msgs = sub.messages(1);
    REQUIRE(msgs.size() == 1);
    CHECK(msgs[0]->get_payload_str() == "still here");
    CHECK(d.log().find("slow") != std::string::npos);
}
