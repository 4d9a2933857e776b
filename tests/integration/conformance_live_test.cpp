// Conformance vectors (tests/conformance/*.vec) against a live daemon over TCP: the same vectors
// and runner as the protocol-machine test, with a driver that speaks through POSIX sockets with
// poll() deadlines (no sleeps). Vectors that need the manual clock or broker limits (`advance`,
// `limit`) are reported as unsupported.
//
// Target: the daemon of the integration fixture (daemon.hpp, started once for all vectors with
// its default configuration), or, when THINGGATE_TEST_PORT is set, a daemon already listening on
// 127.0.0.1:$THINGGATE_TEST_PORT (plain MQTT over TCP).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include <doctest/doctest.h>

#include "conformance/runner.hpp"
#include "conformance/vectors.hpp"

#if __has_include("daemon.hpp")
#include "daemon.hpp"
#define THINGGATE_CONFORMANCE_HAVE_FIXTURE 1
#endif

using namespace thinggate;

namespace {

#ifdef THINGGATE_SOURCE_DIR
const std::filesystem::path vector_dir = std::filesystem::path(THINGGATE_SOURCE_DIR) / "tests" / "conformance";
#else
const std::filesystem::path vector_dir = std::filesystem::path(__FILE__).parent_path().parent_path() / "conformance";
#endif

using steady = std::chrono::steady_clock;

/// How long an `expect` waits for the broker (generous: ASan builds on 2 shared cores).
constexpr std::chrono::milliseconds read_deadline{5000};

class socket_conn {
public:
    ~socket_conn() { close_now(); }

    std::string connect_to(std::uint16_t port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd_ < 0) {
            return std::string("socket: ") + std::strerror(errno);
        }
        const int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
            return std::string("connect 127.0.0.1:") + std::to_string(port) + ": " + std::strerror(errno);
        }
        ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
        return {};
    }

    void write_all(std::string_view bytes) {
        std::size_t done = 0;
        const auto deadline = steady::now() + read_deadline;
        while (fd_ >= 0 && done < bytes.size()) {
            const auto n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
            if (n > 0) {
                done += static_cast<std::size_t>(n);
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait(POLLOUT, deadline)) {
                continue;
            }
            return; // the broker closed the connection: the bytes go nowhere, as with a real client
        }
    }

    /// The next packet, or closed/nothing when none came before the deadline.
    conformance::read_result next(std::chrono::milliseconds within) {
        const auto deadline = steady::now() + within;
        conformance::read_result r;
        for (;;) {
            std::string error;
            if (conformance::split_packet(buffer_, r.bytes, error)) {
                r.kind = conformance::read_kind::packet;
                return r;
            }
            if (!error.empty()) {
                FAIL(error);
            }
            if (eof_ || fd_ < 0) {
                r.kind = conformance::read_kind::closed;
                return r;
            }
            if (!wait(POLLIN, deadline)) {
                r.kind = conformance::read_kind::nothing;
                return r;
            }
            char buf[4096];
            const auto n = ::recv(fd_, buf, sizeof buf, 0);
            if (n > 0) {
                buffer_.append(buf, static_cast<std::size_t>(n));
            } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                eof_ = true; // EOF or reset: the broker closed the connection
            }
        }
    }

    /// The socket goes away without DISCONNECT, and the broker has seen it go: our side is shut
    /// for writing, then read (and dropped) until the broker closes its side — so what the loss
    /// causes (a will, a retained will) has happened before the vector's next step.
    void drop_and_wait() {
        if (fd_ < 0) {
            return;
        }
        ::shutdown(fd_, SHUT_WR);
        const auto deadline = steady::now() + read_deadline;
        while (!eof_ && wait(POLLIN, deadline)) {
            char buf[4096];
            const auto n = ::recv(fd_, buf, sizeof buf, 0);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                eof_ = true;
            }
        }
        close_now();
    }

    void close_now() {
        if (fd_ >= 0) {
            ::close(fd_);
            fd_ = -1;
        }
    }

    bool connected = false; ///< a CONNACK with reason 0 was read (PINGREQ barrier allowed)

private:
    bool wait(short events, steady::time_point deadline) {
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
            if (left <= 0) {
                return false;
            }
            pollfd p{fd_, events, 0};
            const int rc = ::poll(&p, 1, static_cast<int>(left));
            if (rc > 0) {
                return true;
            }
            if (rc < 0 && errno != EINTR) {
                return false;
            }
        }
    }

    int fd_ = -1;
    bool eof_ = false;
    std::string buffer_;
};

class live_driver final : public conformance::driver {
public:
    explicit live_driver(std::uint16_t port)
        : port_(port) {}

    bool machine() const override { return false; }
    std::string set_limit(const std::string&, const std::string&) override { return "not supported live"; }

    std::string open(const std::string& name, mqtt::protocol_version) override {
        auto c = std::make_unique<socket_conn>();
        auto err = c->connect_to(port_);
        conns_[name] = std::move(c);
        return err;
    }

    void send(const std::string& name, std::string_view bytes) override { conns_.at(name)->write_all(bytes); }

    conformance::read_result next(const std::string& name) override {
        auto& c = *conns_.at(name);
        auto r = c.next(read_deadline);
        note_connack(c, r);
        return r;
    }

    conformance::read_result pending(const std::string& name) override {
        auto& c = *conns_.at(name);
        if (!c.connected) {
            // Before CONNECT a PINGREQ would be a protocol violation: only what already came.
            auto r = c.next(std::chrono::milliseconds(0));
            note_connack(c, r);
            return r;
        }
        // A PINGREQ barrier: the broker answers in order, so anything it sent before the
        // PINGRESP was pending. Deliveries from other connections are routed before their
        // publisher's acknowledgement is written, which the vectors always wait for.
        c.write_all(std::string_view("\xc0\x00", 2));
        auto r = c.next(read_deadline);
        if (r.kind == conformance::read_kind::packet && r.bytes == std::string_view("\xd0\x00", 2)) {
            return {conformance::read_kind::nothing, {}};
        }
        return r;
    }

    void drop(const std::string& name) override { conns_.at(name)->drop_and_wait(); }
    void advance(std::chrono::milliseconds) override {}

private:
    static void note_connack(socket_conn& c, const conformance::read_result& r) {
        // CONNACK: 20 <len> <flags> <code>; connected once the code is 0.
        if (r.kind == conformance::read_kind::packet && r.bytes.size() >= 4 && static_cast<unsigned char>(r.bytes[0]) == 0x20) {
            std::size_t head = 1;
            while (head < r.bytes.size() && (static_cast<unsigned char>(r.bytes[head]) & 0x80) != 0) {
                ++head;
            }
            c.connected = head + 2 < r.bytes.size() && r.bytes[head + 2] == 0;
        }
    }

    std::uint16_t port_;
    std::map<std::string, std::unique_ptr<socket_conn>> conns_;
};

} // namespace

TEST_CASE("conformance vectors against the live daemon over TCP") {
    std::vector<conformance::parse_error> errors;
    const auto tests = conformance::load_vector_dir(vector_dir, errors);
    for (const auto& e : errors) {
        FAIL_CHECK(e.file << ":" << e.line << ": " << e.message);
    }
    REQUIRE_FALSE(tests.empty());
    const auto known = conformance::load_known_failures(vector_dir / "known_failures.txt");

    std::uint16_t port = 0;
    if (const char* env = std::getenv("THINGGATE_TEST_PORT")) {
        port = static_cast<std::uint16_t>(std::strtoul(env, nullptr, 10));
    }
#ifdef THINGGATE_CONFORMANCE_HAVE_FIXTURE
    std::unique_ptr<integration::gateway> daemon;
    if (port == 0) {
        integration::gateway_options o;
        o.tls_listener = false;
        daemon = std::make_unique<integration::gateway>(o);
        port = daemon->tcp_port();
    }
#endif
    REQUIRE_MESSAGE(port != 0, "no daemon: set THINGGATE_TEST_PORT or build with the integration fixture");

    int passed = 0;
    int unsupported = 0;
    int known_failed = 0;
    for (const auto& t : tests) {
        conformance::outcome o;
        {
            live_driver d(port);
            o = conformance::run_vector(t, d);
        } // every connection of the vector closes here (its wills go to its own topics)
        const auto k = known.find(t.id());
        if (o.result == conformance::verdict::unsupported) {
            ++unsupported;
        } else if (k != known.end()) {
            if (o.result == conformance::verdict::fail) {
                ++known_failed;
                MESSAGE("known failure " << t.file << ":" << o.line << " " << t.title << ": " << o.message);
            } else {
                FAIL_CHECK(t.file << ":" << t.line << " " << t.title << ": listed in known_failures.txt but passes live");
            }
        } else if (o.result == conformance::verdict::fail) {
            FAIL_CHECK(t.file << ":" << o.line << " " << t.title << ": " << o.message);
        } else {
            ++passed;
        }
    }
    MESSAGE("live conformance: " << passed << " passed, " << known_failed << " known failures, " << unsupported
                                 << " machine-only (advance/limit) not run, of " << tests.size());
}
