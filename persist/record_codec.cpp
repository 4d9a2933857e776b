#include "persist/record_codec.hpp"

#include <cstring>
#include <limits>

#include "persist/error.hpp"

namespace thinggate::persist::codec {

namespace {

// --- writing ---

class writer {
public:
    explicit writer(std::string& out)
        : out_(out) {}

    void u8(std::uint8_t v) { out_.push_back(static_cast<char>(v)); }

    void u16(std::uint16_t v) { le(v, 2); }

    void u32(std::uint32_t v) { le(v, 4); }

    void u64(std::uint64_t v) { le(v, 8); }

    void boolean(bool v) { u8(v ? 1 : 0); }

    void str(std::string_view s) {
        u32(static_cast<std::uint32_t>(s.size()));
        out_.append(s);
    }

    void time(wall_time t) { u64(static_cast<std::uint64_t>(t.time_since_epoch().count())); }

    template <class T, class F>
    void opt(const std::optional<T>& v, F&& write) {
        boolean(v.has_value());
        if (v) {
            write(*v);
        }
    }

private:
    void le(std::uint64_t v, int bytes) {
        for (int i = 0; i < bytes; ++i) {
            out_.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
        }
    }

    std::string& out_;
};

// --- reading (strict: every method fails once the input is exhausted or a value is invalid) ---

class reader {
public:
    explicit reader(std::string_view in)
        : in_(in) {}

    bool u8(std::uint8_t& v) {
        if (!need(1)) {
            return false;
        }
        v = static_cast<std::uint8_t>(in_[pos_++]);
        return true;
    }

    bool u16(std::uint16_t& v) {
        std::uint64_t x = 0;
        return le(x, 2) && (v = static_cast<std::uint16_t>(x), true);
    }

    bool u32(std::uint32_t& v) {
        std::uint64_t x = 0;
        return le(x, 4) && (v = static_cast<std::uint32_t>(x), true);
    }

    bool u64(std::uint64_t& v) { return le(v, 8); }

    bool boolean(bool& v) {
        std::uint8_t b = 0;
        if (!u8(b) || b > 1) {
            return false;
        }
        v = b == 1;
        return true;
    }

    bool str(std::string& s) {
        std::uint32_t n = 0;
        if (!u32(n) || !need(n)) { // checked before allocating
            return false;
        }
        s.assign(in_.substr(pos_, n));
        pos_ += n;
        return true;
    }

    bool time(wall_time& t) {
        std::uint64_t v = 0;
        if (!u64(v)) {
            return false;
        }
        t = wall_time{std::chrono::milliseconds{static_cast<std::int64_t>(v)}};
        return true;
    }

    bool qos(mqtt::qos& q) {
        std::uint8_t v = 0;
        if (!u8(v) || v > 2) {
            return false;
        }
        q = static_cast<mqtt::qos>(v);
        return true;
    }

    template <class T, class F>
    bool opt(std::optional<T>& v, F&& read) {
        bool present = false;
        if (!boolean(present)) {
            return false;
        }
        if (!present) {
            v.reset();
            return true;
        }
        T x{};
        if (!read(x)) {
            return false;
        }
        v = std::move(x);
        return true;
    }

    /// A list count, bounded by the bytes left (each element takes at least `min_size` bytes).
    bool count(std::uint32_t& n, std::size_t min_size) {
        return u32(n) && static_cast<std::uint64_t>(n) * min_size <= in_.size() - pos_;
    }

    bool version() {
        std::uint8_t v = 0;
        return u8(v) && v == record_version;
    }

    bool done() const noexcept { return pos_ == in_.size(); }

    std::string_view rest() const noexcept { return in_.substr(pos_); }

private:
    bool need(std::size_t n) const noexcept { return in_.size() - pos_ >= n; }

    bool le(std::uint64_t& v, int bytes) {
        if (!need(static_cast<std::size_t>(bytes))) {
            return false;
        }
        v = 0;
        for (int i = 0; i < bytes; ++i) {
            v |= static_cast<std::uint64_t>(static_cast<std::uint8_t>(in_[pos_ + i])) << (8 * i);
        }
        pos_ += static_cast<std::size_t>(bytes);
        return true;
    }

    std::string_view in_;
    std::size_t pos_ = 0;
};

boost::system::error_code corrupt() {
    return make_error_code(errc::corrupt);
}

void be(std::string& out, std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
    }
}

std::uint64_t read_be(std::string_view in) {
    std::uint64_t v = 0;
    for (char c : in) {
        v = (v << 8) | static_cast<std::uint8_t>(c);
    }
    return v;
}

/// Splits a client-scoped key into client id and the rest.
bool split_client_key(std::string_view key, std::string& client_id, std::string_view& rest) {
    if (key.size() < 2) {
        return false;
    }
    auto n = static_cast<std::size_t>(read_be(key.substr(0, 2)));
    if (key.size() - 2 < n) {
        return false;
    }
    client_id.assign(key.substr(2, n));
    rest = key.substr(2 + n);
    return true;
}

// --- message properties (the forwarded subset) and message bodies ---

void write_user_properties(writer& w, const std::vector<mqtt::user_property>& ups) {
    w.u32(static_cast<std::uint32_t>(ups.size()));
    for (const auto& up : ups) {
        w.str(up.key);
        w.str(up.value);
    }
}

bool read_user_properties(reader& r, std::vector<mqtt::user_property>& ups) {
    std::uint32_t n = 0;
    if (!r.count(n, 8)) {
        return false;
    }
    ups.clear();
    ups.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) {
        mqtt::user_property up;
        if (!r.str(up.key) || !r.str(up.value)) {
            return false;
        }
        ups.push_back(std::move(up));
    }
    return true;
}

void write_forwarded_props(writer& w, const mqtt::properties& p) {
    w.opt(p.payload_format_indicator, [&](std::uint8_t v) { w.u8(v); });
    w.opt(p.content_type, [&](const std::string& v) { w.str(v); });
    w.opt(p.response_topic, [&](const std::string& v) { w.str(v); });
    w.opt(p.correlation_data, [&](const std::string& v) { w.str(v); });
    write_user_properties(w, p.user_properties);
}

bool read_forwarded_props(reader& r, mqtt::properties& p) {
    return r.opt(p.payload_format_indicator, [&](std::uint8_t& v) { return r.u8(v) && v <= 1; }) &&
           r.opt(p.content_type, [&](std::string& v) { return r.str(v); }) &&
           r.opt(p.response_topic, [&](std::string& v) { return r.str(v); }) &&
           r.opt(p.correlation_data, [&](std::string& v) { return r.str(v); }) &&
           read_user_properties(r, p.user_properties);
}

void write_message(writer& w, const message_record& m) {
    w.str(m.topic);
    w.u8(static_cast<std::uint8_t>(m.qos));
    w.boolean(m.retain);
    w.opt(m.expires_at, [&](wall_time t) { w.time(t); });
    write_forwarded_props(w, m.props);
    w.str(m.payload);
}

bool read_message(reader& r, message_record& m) {
    m.props = {};
    return r.str(m.topic) && r.qos(m.qos) && r.boolean(m.retain) &&
           r.opt(m.expires_at, [&](wall_time& t) { return r.time(t); }) &&
           read_forwarded_props(r, m.props) && r.str(m.payload);
}

void write_delivery(writer& w, const delivery_record& d) {
    w.u8(static_cast<std::uint8_t>(d.qos));
    w.boolean(d.retain);
    w.u32(static_cast<std::uint32_t>(d.subscription_ids.size()));
    for (auto id : d.subscription_ids) {
        w.u32(id);
    }
    write_message(w, d.msg);
}

constexpr std::uint32_t max_subscription_id = 268'435'455; // MQTT 5.0 §3.3.2.3.8

bool read_delivery(reader& r, delivery_record& d) {
    std::uint32_t n = 0;
    if (!r.qos(d.qos) || !r.boolean(d.retain) || !r.count(n, 4)) {
        return false;
    }
    d.subscription_ids.clear();
    d.subscription_ids.reserve(n);
    for (std::uint32_t i = 0; i < n; ++i) {
        std::uint32_t id = 0;
        if (!r.u32(id) || id == 0 || id > max_subscription_id) {
            return false;
        }
        d.subscription_ids.push_back(id);
    }
    return read_message(r, d.msg);
}

} // namespace

// --- keys ---

std::string client_prefix(std::string_view client_id) {
    std::string k;
    k.reserve(2 + client_id.size() + 8);
    // Client ids are at most 65535 bytes (MQTT UTF-8 string); longer ones are cut to keep the
    // key well formed (the broker never persists such an id: its limit is far lower).
    auto n = std::min<std::size_t>(client_id.size(), 0xFFFF);
    be(k, n, 2);
    k.append(client_id.substr(0, n));
    return k;
}

std::string session_key(std::string_view client_id) {
    return client_prefix(client_id);
}

std::string subscription_key(std::string_view client_id, std::string_view filter) {
    auto k = client_prefix(client_id);
    k.append(filter);
    return k;
}

std::string sequence_key(std::string_view client_id, std::uint64_t seq) {
    auto k = client_prefix(client_id);
    be(k, seq, 8);
    return k;
}

std::string qos2_in_key(std::string_view client_id, std::uint16_t packet_id) {
    auto k = client_prefix(client_id);
    be(k, packet_id, 2);
    return k;
}

std::string retained_key(std::string_view topic) {
    return std::string(topic);
}

std::string blob_key(blob_kind kind, std::string_view name) {
    std::string k;
    k.reserve(1 + name.size());
    k.push_back(static_cast<char>(kind));
    k.append(name);
    return k;
}

std::string blob_kind_prefix(blob_kind kind) {
    return std::string(1, static_cast<char>(kind));
}

std::string prefix_end(std::string_view prefix) {
    std::string end(prefix);
    while (!end.empty() && static_cast<std::uint8_t>(end.back()) == 0xFF) {
        end.pop_back();
    }
    if (end.empty()) {
        // Only 0xFF bytes: no key of finite length follows them all; a key longer than any we
        // write (2 + 65535 + 65535 bytes for subscriptions) and made of 0xFF does.
        return std::string(2 + 2 * 0xFFFF + 1, '\xFF');
    }
    end.back() = static_cast<char>(static_cast<std::uint8_t>(end.back()) + 1);
    return end;
}

// --- values ---

std::string encode(const session_record& s) {
    std::string out;
    writer w(out);
    w.u8(record_version);
    w.u8(static_cast<std::uint8_t>(s.version));
    w.u32(s.expiry_interval);
    w.opt(s.disconnected_at, [&](wall_time t) { w.time(t); });
    w.u64(s.next_seq);
    w.u16(s.last_packet_id);
    w.opt(s.will, [&](const mqtt::will_message& m) {
        w.str(m.topic);
        w.u8(static_cast<std::uint8_t>(m.qos));
        w.boolean(m.retain);
        write_forwarded_props(w, m.props);
        w.opt(m.props.message_expiry_interval, [&](std::uint32_t v) { w.u32(v); });
        w.opt(m.props.will_delay_interval, [&](std::uint32_t v) { w.u32(v); });
        w.str(m.payload);
    });
    return out;
}

std::string encode(const subscription_record& s) {
    std::string out;
    writer w(out);
    w.u8(record_version);
    w.u8(static_cast<std::uint8_t>(s.options.max_qos));
    w.boolean(s.options.no_local);
    w.boolean(s.options.retain_as_published);
    w.u8(s.options.retain_handling);
    w.u32(s.subscription_id);
    return out;
}

std::string encode(const queued_record& q) {
    std::string out;
    writer w(out);
    w.u8(record_version);
    write_delivery(w, q.d);
    return out;
}

std::string encode(const inflight_record& f) {
    std::string out;
    writer w(out);
    w.u8(record_version);
    w.u16(f.packet_id);
    w.u8(static_cast<std::uint8_t>(f.state));
    write_delivery(w, f.d);
    return out;
}

std::string encode(const qos2_in_record&) {
    return std::string(1, static_cast<char>(record_version));
}

std::string encode(const message_record& m) {
    std::string out;
    writer w(out);
    w.u8(record_version);
    write_message(w, m);
    return out;
}

boost::system::error_code decode(std::string_view key, std::string_view value, session_record& s) {
    std::string_view rest;
    if (!split_client_key(key, s.client_id, rest) || !rest.empty()) {
        return corrupt();
    }
    reader r(value);
    std::uint8_t version = 0;
    if (!r.version() || !r.u8(version) || (version != 4 && version != 5)) {
        return corrupt();
    }
    s.version = static_cast<mqtt::protocol_version>(version);
    bool ok = r.u32(s.expiry_interval) &&
              r.opt(s.disconnected_at, [&](wall_time& t) { return r.time(t); }) &&
              r.u64(s.next_seq) && r.u16(s.last_packet_id) &&
              r.opt(s.will, [&](mqtt::will_message& m) {
                  return r.str(m.topic) && r.qos(m.qos) && r.boolean(m.retain) &&
                         read_forwarded_props(r, m.props) &&
                         r.opt(m.props.message_expiry_interval,
                               [&](std::uint32_t& v) { return r.u32(v); }) &&
                         r.opt(m.props.will_delay_interval,
                               [&](std::uint32_t& v) { return r.u32(v); }) &&
                         r.str(m.payload);
              });
    return ok && r.done() ? boost::system::error_code{} : corrupt();
}

boost::system::error_code
decode(std::string_view key, std::string_view value, subscription_record& s) {
    std::string_view rest;
    if (!split_client_key(key, s.client_id, rest) || rest.empty()) {
        return corrupt();
    }
    s.filter.assign(rest);
    reader r(value);
    bool ok = r.version() && r.qos(s.options.max_qos) && r.boolean(s.options.no_local) &&
              r.boolean(s.options.retain_as_published) && r.u8(s.options.retain_handling) &&
              s.options.retain_handling <= 2 && r.u32(s.subscription_id) &&
              s.subscription_id <= max_subscription_id;
    return ok && r.done() ? boost::system::error_code{} : corrupt();
}

boost::system::error_code decode(std::string_view key, std::string_view value, queued_record& q) {
    std::string_view rest;
    if (!split_client_key(key, q.client_id, rest) || rest.size() != 8) {
        return corrupt();
    }
    q.seq = read_be(rest);
    reader r(value);
    bool ok = r.version() && read_delivery(r, q.d);
    return ok && r.done() ? boost::system::error_code{} : corrupt();
}

boost::system::error_code decode(std::string_view key, std::string_view value, inflight_record& f) {
    std::string_view rest;
    if (!split_client_key(key, f.client_id, rest) || rest.size() != 8) {
        return corrupt();
    }
    f.seq = read_be(rest);
    reader r(value);
    std::uint8_t state = 0;
    bool ok = r.version() && r.u16(f.packet_id) && f.packet_id != 0 && r.u8(state) && state >= 1 &&
              state <= 3 && read_delivery(r, f.d);
    f.state = static_cast<inflight_state>(state);
    return ok && r.done() ? boost::system::error_code{} : corrupt();
}

boost::system::error_code decode(std::string_view key, std::string_view value, qos2_in_record& q) {
    std::string_view rest;
    if (!split_client_key(key, q.client_id, rest) || rest.size() != 2) {
        return corrupt();
    }
    q.packet_id = static_cast<std::uint16_t>(read_be(rest));
    reader r(value);
    bool ok = r.version() && q.packet_id != 0;
    return ok && r.done() ? boost::system::error_code{} : corrupt();
}

boost::system::error_code decode(std::string_view key, std::string_view value, message_record& m) {
    reader r(value);
    bool ok = r.version() && read_message(r, m) && m.topic == key;
    return ok && r.done() ? boost::system::error_code{} : corrupt();
}

boost::system::error_code decode(std::string_view key, std::string_view value, blob_record& b) {
    if (key.empty() || !kind_family(static_cast<blob_kind>(key[0]))) {
        return corrupt();
    }
    b.kind = static_cast<blob_kind>(key[0]);
    b.name.assign(key.substr(1));
    b.value.assign(value);
    return {};
}

// --- meta ---

std::string encode_u32(std::uint32_t v) {
    std::string out;
    writer(out).u32(v);
    return out;
}

std::optional<std::uint32_t> decode_u32(std::string_view bytes) noexcept {
    reader r(bytes);
    std::uint32_t v = 0;
    if (!r.u32(v) || !r.done()) {
        return std::nullopt;
    }
    return v;
}

std::string encode_time(wall_time t) {
    std::string out;
    writer(out).time(t);
    return out;
}

std::optional<wall_time> decode_time(std::string_view bytes) noexcept {
    reader r(bytes);
    wall_time t;
    if (!r.time(t) || !r.done()) {
        return std::nullopt;
    }
    return t;
}

} // namespace thinggate::persist::codec
