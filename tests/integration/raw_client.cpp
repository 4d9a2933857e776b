#include "raw_client.hpp"

#include <cerrno>
#include <cstring>

#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace thinggate::integration {

raw_client::raw_client(std::uint16_t port, int receive_buffer) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    if (receive_buffer > 0) {
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE_MESSAGE(
            ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0,
            "connect 127.0.0.1:",
            port,
            ": ",
            std::strerror(errno));
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

raw_client::~raw_client() {
    close();
}

void raw_client::close() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

void raw_client::send(std::string_view bytes) {
    REQUIRE(fd_ >= 0);
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        REQUIRE_MESSAGE(n > 0, "send: ", std::strerror(errno));
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

bool raw_client::try_send(std::string_view bytes) {
    while (fd_ >= 0 && !bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return bytes.empty();
}

bool raw_client::fill(milliseconds timeout) {
    if (eof_ || fd_ < 0) {
        return false;
    }
    const auto deadline = clock::now() + timeout;
    for (;;) {
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
        pollfd p{fd_, POLLIN, 0};
        const int r = ::poll(&p, 1, static_cast<int>(std::max<milliseconds::rep>(left.count(), 0)));
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return false;
        }
        char tmp[65536];
        const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            eof_ = true;
            return false;
        }
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
    }
}

std::optional<raw_packet> raw_client::read_packet(milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    for (;;) {
        // A complete packet in the buffer?
        if (buf_.size() >= 2) {
            std::size_t len = 0;
            std::size_t mult = 1;
            std::size_t i = 1;
            bool complete_length = false;
            for (; i < buf_.size() && i <= 4; ++i) {
                const auto b = static_cast<std::uint8_t>(buf_[i]);
                len += (b & 0x7f) * mult;
                mult *= 128;
                if ((b & 0x80) == 0) {
                    complete_length = true;
                    ++i;
                    break;
                }
            }
            if (complete_length && buf_.size() >= i + len) {
                raw_packet p;
                p.header = static_cast<std::uint8_t>(buf_[0]);
                p.body = buf_.substr(i, len);
                buf_.erase(0, i + len);
                return p;
            }
        }
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
        if (left.count() <= 0 || !fill(left)) {
            return std::nullopt;
        }
    }
}

bool raw_client::wait_closed(milliseconds timeout) {
    const auto deadline = clock::now() + timeout;
    while (!eof_) {
        const auto left = std::chrono::duration_cast<milliseconds>(deadline - clock::now());
        if (left.count() <= 0) {
            return false;
        }
        if (!fill(left) && !eof_) {
            return false;
        }
        buf_.clear();
    }
    return true;
}

// --- packets ---------------------------------------------------------------------------------

std::string encode_remaining_length(std::size_t n) {
    std::string out;
    do {
        auto b = static_cast<std::uint8_t>(n % 128);
        n /= 128;
        if (n > 0) {
            b |= 0x80;
        }
        out.push_back(static_cast<char>(b));
    } while (n > 0);
    return out;
}

namespace {

std::string u16(std::uint16_t v) {
    return {static_cast<char>(v >> 8), static_cast<char>(v & 0xff)};
}

std::string packet(std::uint8_t header, const std::string& body) {
    return std::string(1, static_cast<char>(header)) + encode_remaining_length(body.size()) + body;
}

std::string properties(int version, std::string_view props) {
    if (version != 5) {
        return {};
    }
    return encode_remaining_length(props.size()) + std::string(props);
}

} // namespace

std::string mqtt_string(std::string_view s) {
    return u16(static_cast<std::uint16_t>(s.size())) + std::string(s);
}

std::string connect_packet(
        int version,
        std::string_view client_id,
        bool clean,
        std::uint16_t keep_alive,
        const std::optional<raw_will>& will,
        std::string_view props) {
    std::uint8_t flags = clean ? 0x02 : 0x00;
    if (will) {
        flags |= 0x04 | static_cast<std::uint8_t>(will->qos << 3) | (will->retain ? 0x20 : 0x00);
    }
    std::string body = mqtt_string("MQTT");
    body.push_back(static_cast<char>(version));
    body.push_back(static_cast<char>(flags));
    body += u16(keep_alive);
    body += properties(version, props);
    body += mqtt_string(client_id);
    if (will) {
        body += properties(version, {});
        body += mqtt_string(will->topic);
        body += mqtt_string(will->payload);
    }
    return packet(0x10, body);
}

std::string publish_packet(
        int version,
        std::string_view topic,
        std::string_view payload,
        int qos,
        std::uint16_t packet_id,
        std::string_view props) {
    std::string body = mqtt_string(topic);
    if (qos > 0) {
        body += u16(packet_id);
    }
    body += properties(version, props);
    body += payload;
    return packet(static_cast<std::uint8_t>(0x30 | (qos << 1)), body);
}

std::string
subscribe_packet(int version, std::uint16_t packet_id, std::string_view filter, int qos) {
    std::string body = u16(packet_id) + properties(version, {}) + mqtt_string(filter);
    body.push_back(static_cast<char>(qos));
    return packet(0x82, body);
}

std::string puback_packet(std::uint16_t packet_id) {
    return packet(0x40, u16(packet_id));
}

std::string pingreq_packet() {
    return {static_cast<char>(0xc0), 0};
}

std::string disconnect_packet() {
    return {static_cast<char>(0xe0), 0};
}

std::string topic_alias_property(std::uint16_t alias) {
    return std::string(1, 0x23) + u16(alias);
}

std::string receive_maximum_property(std::uint16_t n) {
    return std::string(1, 0x21) + u16(n);
}

namespace {

std::size_t topic_end(const raw_packet& p) {
    if (p.body.size() < 2) {
        return p.body.size();
    }
    const std::size_t len =
            (static_cast<std::uint8_t>(p.body[0]) << 8) | static_cast<std::uint8_t>(p.body[1]);
    return std::min(p.body.size(), 2 + len);
}

} // namespace

std::uint16_t publish_packet_id(const raw_packet& p) {
    const std::size_t at = topic_end(p);
    if (at + 2 > p.body.size()) {
        return 0;
    }
    return static_cast<std::uint16_t>(
            (static_cast<std::uint8_t>(p.body[at]) << 8) |
            static_cast<std::uint8_t>(p.body[at + 1]));
}

std::string publish_topic(const raw_packet& p) {
    return p.body.substr(2, topic_end(p) - 2);
}

std::string publish_payload(const raw_packet& p, int version) {
    std::size_t at = topic_end(p);
    if (((p.header >> 1) & 3) != 0) {
        at += 2;
    }
    if (version == 5) {
        std::size_t len = 0;
        std::size_t mult = 1;
        while (at < p.body.size()) {
            const auto b = static_cast<std::uint8_t>(p.body[at++]);
            len += (b & 0x7f) * mult;
            mult *= 128;
            if ((b & 0x80) == 0) {
                break;
            }
        }
        at += len;
    }
    return at <= p.body.size() ? p.body.substr(at) : std::string{};
}

} // namespace thinggate::integration
