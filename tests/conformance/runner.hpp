#pragma once
// tests/conformance/runner: runs one parsed vector against a `driver` — the protocol machine
// (tests/unit/broker/conformance_test.cpp) or a live daemon over TCP
// (tests/integration/conformance_live_test.cpp). Header-only. Uses: std, mqtt codec.
// Thread safety: none; one runner and one driver per thread.

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <map>
#include <sstream>
#include <string>
#include <string_view>
#include <variant>

#include "conformance/vectors.hpp"
#include "mqtt/codec.hpp"

namespace thinggate::conformance {

enum class read_kind {
    packet,  ///< one complete packet in `bytes`
    nothing, ///< no packet (machine: nothing pending; live: deadline passed)
    closed,  ///< no packet, and the broker closed the connection
};

struct read_result {
    read_kind kind = read_kind::nothing;
    std::string bytes;
};

/// What a runner needs from the broker under test. Names are the vector's client names.
class driver {
public:
    virtual ~driver() = default;
    /// True against the protocol machine: `advance` and `limit` are supported.
    virtual bool machine() const = 0;
    /// Applies a broker limit before the first client; returns an error message or "".
    virtual std::string set_limit(const std::string& key, const std::string& value) = 0;
    /// Opens a connection (TCP connect, or a new broker::client). Returns an error message or "".
    virtual std::string open(const std::string& name, mqtt::protocol_version v) = 0;
    /// Writes bytes as the client. Writing to a connection the broker closed is not an error.
    virtual void send(const std::string& name, std::string_view bytes) = 0;
    /// The next packet the broker sent to `name`, or why there is none. Live: waits for a packet
    /// or EOF until a deadline.
    virtual read_result next(const std::string& name) = 0;
    /// Checks that nothing is pending for `name`; a packet that is pending is returned. Live: a
    /// PINGREQ barrier on connected clients.
    virtual read_result pending(const std::string& name) = 0;
    /// The connection is lost without DISCONNECT.
    virtual void drop(const std::string& name) = 0;
    /// Moves the manual clock (machine only).
    virtual void advance(std::chrono::milliseconds d) = 0;
};

/// Takes one complete packet off the front of `buffer` into `packet`. Returns false when the buffer
/// does not hold a complete packet; `error` is set when the bytes cannot be a packet at all.
inline bool split_packet(std::string& buffer, std::string& packet, std::string& error) {
    mqtt::frame_header h;
    const std::span<const std::uint8_t> span(reinterpret_cast<const std::uint8_t*>(buffer.data()), buffer.size());
    auto st = mqtt::parse_frame(span, mqtt::max_remaining_length + 5, h);
    if (!st) {
        error = "broker wrote bytes that are not a packet: " + to_hex(buffer);
        return false;
    }
    if (*st == mqtt::frame_status::incomplete) {
        return false;
    }
    packet.assign(buffer, 0, h.total_size());
    buffer.erase(0, h.total_size());
    return true;
}

enum class verdict {
    pass,
    fail,
    unsupported, ///< needs the machine (advance / limit) and the driver is live
};

struct outcome {
    verdict result = verdict::pass;
    int line = 0;        ///< the vector line that failed
    std::string message; ///< what was expected and what came
};

namespace detail {

inline std::string describe(const read_result& r, mqtt::protocol_version v) {
    switch (r.kind) {
    case read_kind::nothing: return "nothing";
    case read_kind::closed: return "connection closed";
    case read_kind::packet: break;
    }
    std::string name = "?";
    if (!r.bytes.empty()) {
        name = std::string(mqtt::to_string(static_cast<mqtt::packet_type>(static_cast<unsigned char>(r.bytes[0]) >> 4)));
    }
    (void)v;
    return name + " [" + to_hex(r.bytes) + "]";
}

inline bool parse_number(const std::string& s, std::uint64_t& out) {
    try {
        std::size_t used = 0;
        out = std::stoull(s, &used, 0);
        return used == s.size();
    } catch (...) {
        return false;
    }
}

/// Checks one expect-type key=value against the decoded packet; returns "" or a mismatch.
inline std::string check_field(const mqtt::packet& p, std::string_view raw, const check& c) {
    const auto num = [&](std::uint64_t got) -> std::string {
        std::uint64_t want = 0;
        if (!parse_number(c.value, want)) {
            return "bad number in check " + c.key + "=" + c.value;
        }
        if (want != got) {
            std::ostringstream os;
            os << c.key << ": expected " << c.value << ", got " << got << " (0x" << std::hex << got << ")";
            return os.str();
        }
        return {};
    };
    const auto str = [&](std::string_view got) -> std::string {
        if (got != c.value) {
            return c.key + ": expected \"" + c.value + "\", got \"" + std::string(got) + "\"";
        }
        return {};
    };
    const auto* props = std::visit(
            [](const auto& x) -> const mqtt::properties* {
                if constexpr (requires { x.props; }) {
                    return &x.props;
                } else {
                    return nullptr;
                }
            },
            p);
    if (c.key == "reason") {
        if (std::holds_alternative<mqtt::connack>(p)) {
            // The wire byte (a 3.1.1 return code or a v5 reason code) after the flags byte.
            std::size_t head = 1;
            while (head < raw.size() && (static_cast<unsigned char>(raw[head]) & 0x80) != 0) {
                ++head;
            }
            return num(static_cast<unsigned char>(raw.at(head + 2)));
        }
        if (std::holds_alternative<mqtt::suback>(p)) {
            return "use reasons= for SUBACK";
        }
        return std::visit(
                [&](const auto& x) -> std::string {
                    if constexpr (requires { x.reason; }) {
                        return num(static_cast<std::uint8_t>(x.reason));
                    } else {
                        return "packet has no reason code";
                    }
                },
                p);
    }
    if (c.key == "reasons") {
        // Comma-separated hex bytes, e.g. reasons=00,01,80.
        std::vector<mqtt::reason_code> got;
        if (const auto* s = std::get_if<mqtt::suback>(&p)) {
            got = s->reasons;
        } else if (const auto* u = std::get_if<mqtt::unsuback>(&p)) {
            got = u->reasons;
        } else {
            return "reasons= is for SUBACK/UNSUBACK";
        }
        std::string got_s;
        for (std::size_t i = 0; i < got.size(); ++i) {
            if (i != 0) {
                got_s += ',';
            }
            got_s += to_hex(std::string(1, static_cast<char>(got[i])));
        }
        if (got_s != c.value) {
            return "reasons: expected " + c.value + ", got " + got_s;
        }
        return {};
    }
    if (c.key == "sp") {
        if (const auto* a = std::get_if<mqtt::connack>(&p)) {
            return num(a->session_present ? 1 : 0);
        }
        return "sp= is for CONNACK";
    }
    if (c.key == "pid") {
        return std::visit(
                [&](const auto& x) -> std::string {
                    if constexpr (requires { x.packet_id; }) {
                        return num(x.packet_id);
                    } else {
                        return "packet has no packet id";
                    }
                },
                p);
    }
    if (const auto* pub = std::get_if<mqtt::publish>(&p)) {
        if (c.key == "qos") {
            return num(static_cast<std::uint8_t>(pub->qos));
        }
        if (c.key == "retain") {
            return num(pub->retain ? 1 : 0);
        }
        if (c.key == "dup") {
            return num(pub->dup ? 1 : 0);
        }
        if (c.key == "topic") {
            return str(pub->topic);
        }
        if (c.key == "payload") {
            return str(pub->payload);
        }
    }
    if (props != nullptr) {
        if (c.key == "topic-alias") {
            return props->topic_alias ? num(*props->topic_alias) : "topic-alias: absent";
        }
        if (c.key == "sub-id") {
            std::string got;
            for (std::size_t i = 0; i < props->subscription_identifiers.size(); ++i) {
                got += (i == 0 ? "" : ",") + std::to_string(props->subscription_identifiers[i]);
            }
            return got == c.value ? std::string{} : "sub-id: expected " + c.value + ", got " + got;
        }
        if (c.key == "has") {
            bool present = false;
            if (c.value == "assigned-client-id") {
                present = props->assigned_client_identifier.has_value();
            } else if (c.value == "topic-alias") {
                present = props->topic_alias.has_value();
            } else if (c.value == "message-expiry") {
                present = props->message_expiry_interval.has_value();
            } else if (c.value == "reason-string") {
                present = props->reason_string.has_value();
            } else if (c.value == "server-keep-alive") {
                present = props->server_keep_alive.has_value();
            } else {
                return "unknown has= property '" + c.value + "'";
            }
            return present ? std::string{} : "property " + c.value + " absent";
        }
        if (c.key == "server-keep-alive") {
            return props->server_keep_alive ? num(*props->server_keep_alive) : "server-keep-alive: absent";
        }
        if (c.key == "session-expiry") {
            return props->session_expiry_interval ? num(*props->session_expiry_interval) : "session-expiry: absent";
        }
    }
    return "unknown check '" + c.key + "' for this packet";
}

} // namespace detail

/// Runs `t` against `d` and says how it went. Never throws for a failing broker.
inline outcome run_vector(const vector_test& t, driver& d) {
    if (t.machine_only() && !d.machine()) {
        return {verdict::unsupported, t.line, "uses advance/limit: machine only"};
    }
    std::map<std::string, mqtt::protocol_version> versions;
    const auto fail = [&](const step& s, std::string msg) { return outcome{verdict::fail, s.line, std::move(msg)}; };
    for (const auto& s : t.steps) {
        const auto v = versions.contains(s.name) ? versions[s.name] : mqtt::protocol_version::v5;
        switch (s.kind) {
        case op::limit: {
            auto err = d.set_limit(s.name, s.arg);
            if (!err.empty()) {
                return fail(s, "limit: " + err);
            }
            break;
        }
        case op::client: {
            const auto cv = s.arg == "v311" ? mqtt::protocol_version::v311 : mqtt::protocol_version::v5;
            versions[s.name] = cv;
            auto err = d.open(s.name, cv);
            if (!err.empty()) {
                return fail(s, "client " + s.name + ": " + err);
            }
            break;
        }
        case op::send: d.send(s.name, s.bytes); break;
        case op::expect: {
            auto r = d.next(s.name);
            if (r.kind != read_kind::packet || r.bytes != s.bytes) {
                return fail(s, s.name + ": expected [" + to_hex(s.bytes) + "], got " + detail::describe(r, v));
            }
            break;
        }
        case op::expect_prefix: {
            auto r = d.next(s.name);
            if (r.kind != read_kind::packet || !std::string_view(r.bytes).starts_with(s.bytes)) {
                return fail(s, s.name + ": expected a packet starting [" + to_hex(s.bytes) + "], got " +
                                       detail::describe(r, v));
            }
            break;
        }
        case op::expect_type: {
            auto r = d.next(s.name);
            if (r.kind != read_kind::packet) {
                return fail(s, s.name + ": expected " + s.arg + ", got " + detail::describe(r, v));
            }
            mqtt::frame_header h;
            const std::span<const std::uint8_t> span(reinterpret_cast<const std::uint8_t*>(r.bytes.data()), r.bytes.size());
            (void)mqtt::parse_frame(span, mqtt::max_remaining_length + 5, h);
            auto type = std::string(mqtt::to_string(h.type()));
            std::transform(type.begin(), type.end(), type.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
            if (type != s.arg) {
                return fail(s, s.name + ": expected " + s.arg + ", got " + detail::describe(r, v));
            }
            auto p = mqtt::decode(h, span.subspan(h.header_size, h.remaining_length), v);
            if (!p) {
                return fail(s, s.name + ": broker sent an undecodable " + type + " (" + p.error().message() + "): [" +
                                       to_hex(r.bytes) + "]");
            }
            for (const auto& c : s.checks) {
                auto err = detail::check_field(*p, r.bytes, c);
                if (!err.empty()) {
                    return fail(s, s.name + ": " + type + " " + err + " in [" + to_hex(r.bytes) + "]");
                }
            }
            break;
        }
        case op::expect_none: {
            auto r = d.pending(s.name);
            if (r.kind == read_kind::packet) {
                return fail(s, s.name + ": expected nothing, got " + detail::describe(r, v));
            }
            break;
        }
        case op::expect_close: {
            auto r = d.next(s.name);
            if (r.kind != read_kind::closed) {
                return fail(s, s.name + ": expected the connection to close, got " + detail::describe(r, v));
            }
            break;
        }
        case op::drop: d.drop(s.name); break;
        case op::advance: d.advance(std::chrono::milliseconds(s.millis)); break;
        }
    }
    return {verdict::pass, t.line, {}};
}

} // namespace thinggate::conformance
