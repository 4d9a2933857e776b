#include "app/config.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include <toml++/toml.h>

#include <arpa/inet.h>
#include <fmt/format.h>

#include "core/log.hpp"

namespace thinggate::app {

namespace {

constexpr std::int64_t u16_max = std::numeric_limits<std::uint16_t>::max();
constexpr std::int64_t u32_max = std::numeric_limits<std::uint32_t>::max();
constexpr std::int64_t i64_max = std::numeric_limits<std::int64_t>::max();
// Remaining Length is at most 268,435,455 [MQTT-2.2.3]; with the fixed header a packet is at most
// 268,435,460 bytes. Below 16 bytes not even a CONNECT with a short client id fits.
constexpr std::int64_t min_packet_size = 16;
constexpr std::int64_t max_packet_size = 268'435'460;
constexpr std::size_t max_name_length = 64;

std::string join(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) {
        if (!out.empty()) {
            out += '\n';
        }
        out += line;
    }
    return out;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            row[j] = std::min(
                    {row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0u : 1u)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

std::string_view describe(const toml::node& node) {
    switch (node.type()) {
    case toml::node_type::table:
        return "a table";
    case toml::node_type::array:
        return "an array";
    case toml::node_type::string:
        return "a string";
    case toml::node_type::integer:
        return "an integer";
    case toml::node_type::floating_point:
        return "a floating-point number";
    case toml::node_type::boolean:
        return "a boolean";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time:
        return "a date/time";
    case toml::node_type::none:
        break;
    }
    return "nothing";
}

/// An IPv4 or IPv6 literal in network byte order.
struct ip_address {
    int family = 0; // AF_INET or AF_INET6
    std::array<unsigned char, 16> bytes{};

    bool is_loopback() const {
        if (family == AF_INET) {
            return bytes[0] == 127;
        }
        static constexpr std::array<unsigned char, 16> v6_loopback{
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        static constexpr std::array<unsigned char, 12> v4_mapped{
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        return bytes == v6_loopback ||
               (std::equal(v4_mapped.begin(), v4_mapped.end(), bytes.begin()) && bytes[12] == 127);
    }

    bool is_any() const {
        const std::size_t size = family == AF_INET ? 4 : 16;
        return std::all_of(
                bytes.begin(),
                bytes.begin() + static_cast<std::ptrdiff_t>(size),
                [](unsigned char b) { return b == 0; });
    }

    /// Whether binding both on the same port collides: the same address, or the wildcard of a
    /// family and any address of that family. "::" and IPv4 addresses are not counted as a
    /// collision: whether they collide depends on IPV6_V6ONLY, which transport/ decides.
    bool overlaps(const ip_address& other) const {
        if (family != other.family) {
            return false;
        }
        return bytes == other.bytes || is_any() || other.is_any();
    }
};

std::optional<ip_address> parse_ip(const std::string& text) {
    ip_address out;
    if (inet_pton(AF_INET, text.c_str(), out.bytes.data()) == 1) {
        out.family = AF_INET;
        return out;
    }
    if (inet_pton(AF_INET6, text.c_str(), out.bytes.data()) == 1) {
        out.family = AF_INET6;
        return out;
    }
    return std::nullopt;
}

bool is_name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

/// Collects problems with their positions; sorted into file order at the end.
class diagnostics {
public:
    diagnostics(std::string_view source, std::filesystem::path base_dir)
        : source_(source)
        , base_dir_(std::move(base_dir)) {}

    void add(const toml::source_region& where, std::string_view path, std::string_view text) {
        std::string line = source_;
        if (where.begin.line > 0) {
            line += fmt::format(":{}:{}", where.begin.line, where.begin.column);
        }
        line += ": ";
        if (!path.empty()) {
            line += path;
            line += ": ";
        }
        line += text;
        problems_.push_back({where.begin.line, where.begin.column, std::move(line)});
    }

    void warn(std::string text) { warnings_.push_back(std::move(text)); }

    std::filesystem::path resolve(const std::string& text) const {
        std::filesystem::path p(text);
        if (p.is_relative() && !base_dir_.empty()) {
            return (base_dir_ / p).lexically_normal();
        }
        return p;
    }

    bool ok() const { return problems_.empty(); }

    [[noreturn]] void fail() {
        // Positionless problems (line 0) go last.
        std::stable_sort(problems_.begin(), problems_.end(), [](const entry& a, const entry& b) {
            const auto key = [](const entry& e) {
                return std::pair{
                        e.line == 0 ? std::numeric_limits<std::uint32_t>::max() : e.line, e.column};
            };
            return key(a) < key(b);
        });
        std::vector<std::string> lines;
        lines.reserve(problems_.size());
        for (auto& p : problems_) {
            lines.push_back(std::move(p.text));
        }
        throw config_error(std::move(lines));
    }

    std::vector<std::string> take_warnings() { return std::move(warnings_); }

private:
    struct entry {
        std::uint32_t line;
        std::uint32_t column;
        std::string text;
    };

    std::string source_;
    std::filesystem::path base_dir_;
    std::vector<entry> problems_;
    std::vector<std::string> warnings_;
};

/// Reads one TOML table. Every key asked for is "known"; finish() reports the rest as unknown,
/// suggesting the closest known key.
class table_reader {
public:
    table_reader(diagnostics& diag, const toml::table* table, std::string prefix)
        : diag_(diag)
        , table_(table)
        , prefix_(std::move(prefix)) {}

    std::string path(std::string_view key) const { return prefix_ + std::string(key); }

    /// The value of key (and marks it known); nullptr when absent.
    const toml::node* get(std::string_view key) {
        known_.emplace(key);
        return table_ != nullptr ? table_->get(key) : nullptr;
    }

    bool has(std::string_view key) { return get(key) != nullptr; }

    /// Position of the key itself (where the line starts), or of the table when the key is absent.
    toml::source_region where(std::string_view key) const {
        if (table_ == nullptr) {
            return {};
        }
        if (auto it = table_->find(key); it != table_->end()) {
            return it->first.source();
        }
        return table_->source();
    }

    toml::source_region table_where() const {
        return table_ != nullptr ? table_->source() : toml::source_region{};
    }

    void problem(std::string_view key, std::string_view text) {
        diag_.add(where(key), path(key), text);
    }

    void wrong_type(std::string_view key, std::string_view expected, const toml::node& node) {
        problem(key, fmt::format("expected {}, got {}", expected, describe(node)));
    }

    template <class T>
    bool integer(std::string_view key, std::int64_t lo, std::int64_t hi, T& out) {
        const toml::node* node = get(key);
        if (node == nullptr) {
            return false;
        }
        const auto* value = node->as_integer();
        if (value == nullptr) {
            wrong_type(key, "an integer", *node);
            return false;
        }
        const std::int64_t v = value->get();
        if (v < lo || v > hi) {
            problem(key, fmt::format("must be between {} and {}, got {}", lo, hi, v));
            return false;
        }
        out = static_cast<T>(v);
        return true;
    }

    bool boolean(std::string_view key, bool& out) {
        const toml::node* node = get(key);
        if (node == nullptr) {
            return false;
        }
        const auto* value = node->as_boolean();
        if (value == nullptr) {
            wrong_type(key, "a boolean (true or false)", *node);
            return false;
        }
        out = value->get();
        return true;
    }

    bool string(std::string_view key, std::string& out, std::string_view expected = "a string") {
        const toml::node* node = get(key);
        if (node == nullptr) {
            return false;
        }
        const auto* value = node->as_string();
        if (value == nullptr) {
            wrong_type(key, expected, *node);
            return false;
        }
        if (value->get().find('\0') != std::string::npos) {
            problem(key, "must not contain a NUL character");
            return false;
        }
        out = value->get();
        return true;
    }

    /// A non-empty string, resolved against the config file's directory when relative.
    bool path_value(std::string_view key, std::filesystem::path& out) {
        std::string text;
        if (!string(key, text)) {
            return false;
        }
        if (text.empty()) {
            problem(key, "must not be empty");
            return false;
        }
        out = diag_.resolve(text);
        return true;
    }

    template <class E, std::size_t N>
    bool
    choice(std::string_view key,
           const std::array<std::pair<std::string_view, E>, N>& names,
           E& out) {
        std::string list;
        for (const auto& [name, value] : names) {
            list += list.empty() ? "" : ", ";
            list += fmt::format("\"{}\"", name);
        }
        std::string text;
        if (!string(key, text, fmt::format("a string ({})", list))) {
            return false;
        }
        for (const auto& [name, value] : names) {
            if (name == text) {
                out = value;
                return true;
            }
        }
        problem(key, fmt::format("must be one of {}, got \"{}\"", list, text));
        return false;
    }

    /// A sub-table; reports a value of another type.
    const toml::table* table(std::string_view key) {
        const toml::node* node = get(key);
        if (node == nullptr) {
            return nullptr;
        }
        if (const auto* t = node->as_table()) {
            return t;
        }
        wrong_type(key, fmt::format("a table ([{}])", key), *node);
        return nullptr;
    }

    /// Reports every key that was never asked for.
    void finish() {
        if (table_ == nullptr) {
            return;
        }
        for (const auto& [key, node] : *table_) {
            if (known_.count(key.str()) != 0) {
                continue;
            }
            std::string text = node.is_table() || node.is_array_of_tables() ? "unknown section"
                                                                            : "unknown key";
            std::string_view best;
            std::size_t best_distance = 3;
            for (const auto& candidate : known_) {
                const std::size_t d = edit_distance(key.str(), candidate);
                if (d < best_distance) {
                    best_distance = d;
                    best = candidate;
                }
            }
            if (!best.empty()) {
                text += fmt::format(" (did you mean '{}'?)", best);
            }
            diag_.add(key.source(), path(key.str()), text);
        }
    }

private:
    diagnostics& diag_;
    const toml::table* table_;
    std::string prefix_;
    std::set<std::string, std::less<>> known_;
};

/// A key that may be written at the top level or in [server], but not in both.
table_reader& server_key(table_reader& top, table_reader& server, std::string_view key) {
    const bool in_top = top.has(key);
    const bool in_server = server.has(key);
    if (in_top && in_server) {
        server.problem(
                key,
                fmt::format(
                        "also set at the top level (line {}); set it once",
                        top.where(key).begin.line));
    }
    return in_server && !in_top ? server : top;
}

constexpr std::array compat_names{
        std::pair{std::string_view("mqtt"), broker::compat_profile::mqtt},
        std::pair{std::string_view("aws-iot"), broker::compat_profile::aws_iot},
};
constexpr std::array slow_consumer_names{
        std::pair{std::string_view("disconnect"), broker::slow_consumer_policy::disconnect},
        std::pair{std::string_view("drop-qos0"), broker::slow_consumer_policy::drop_qos0},
};
constexpr std::array persistence_names{
        std::pair{std::string_view("rocksdb"), persistence_backend::rocksdb},
        std::pair{std::string_view("memory"), persistence_backend::memory},
};
constexpr std::array durability_names{
        std::pair{std::string_view("wal"), persist::durability::wal},
        std::pair{std::string_view("fsync"), persist::durability::fsync},
        std::pair{std::string_view("none"), persist::durability::none},
};
constexpr std::array overflow_names{
        std::pair{std::string_view("drop-new"), broker::queue_overflow::drop_new},
        std::pair{std::string_view("drop-oldest"), broker::queue_overflow::drop_oldest},
        std::pair{std::string_view("refuse"), broker::queue_overflow::refuse},
};
constexpr std::array listener_kind_names{
        std::pair{std::string_view("tls"), transport::listener_kind::tls},
        std::pair{std::string_view("tcp"), transport::listener_kind::tcp},
};
constexpr std::array client_auth_names{
        std::pair{std::string_view("registry"), transport::client_auth_mode::registry},
        std::pair{std::string_view("ca-file"), transport::client_auth_mode::ca_file},
};
constexpr std::array tls_version_names{
        std::pair{std::string_view("1.2"), transport::tls_version::tls1_2},
        std::pair{std::string_view("1.3"), transport::tls_version::tls1_3},
};

constexpr std::array tls_record_layer_names{
        std::pair{std::string_view("builtin"), transport::tls_record_layer::builtin},
        std::pair{std::string_view("openssl"), transport::tls_record_layer::openssl},
};

void read_server(table_reader& top, table_reader& server, config& cfg) {
    {
        auto& r = server_key(top, server, "compat");
        if (r.choice("compat", compat_names, cfg.broker.compat) &&
            cfg.broker.compat == broker::compat_profile::aws_iot) {
            cfg.broker.lim = broker::aws_iot_limits();
        }
    }
    {
        auto& r = server_key(top, server, "log_level");
        std::string level;
        spdlog::level::level_enum parsed{};
        if (r.string("log_level", level)) {
            if (core::parse_log_level(level, parsed)) {
                cfg.log_level = level;
            } else {
                r.problem(
                        "log_level",
                        fmt::format(
                                "must be one of \"trace\", \"debug\", \"info\", "
                                "\"warn\", \"error\", \"critical\", \"off\", "
                                "got \"{}\"",
                                level));
            }
        }
    }
    server_key(top, server, "shards").integer("shards", 0, 1024, cfg.shards);
    server_key(top, server, "persistence").choice("persistence", persistence_names, cfg.persistence);
    server_key(top, server, "durability")
            .choice("durability", durability_names, cfg.broker.persistence.durability);
    server_key(top, server, "min_free_disk_bytes")
            .integer("min_free_disk_bytes", 0, i64_max, cfg.min_free_disk_bytes);
    server_key(top, server, "commit_backlog_bytes")
            .integer("commit_backlog_bytes", 64 * 1024, i64_max, cfg.broker.persistence.max_commit_backlog_bytes);
    {
        auto& r = server_key(top, server, "data_dir");
        std::filesystem::path dir;
        if (r.path_value("data_dir", dir)) {
            cfg.data_dir = dir;
        }
    }
    {
        auto& r = server_key(top, server, "registry_file");
        std::filesystem::path file;
        if (r.path_value("registry_file", file)) {
            cfg.registry_file = file;
        }
    }
    {
        auto& r = server_key(top, server, "region");
        std::string region;
        if (r.string("region", region)) {
            // The region is a field of every ARN policies match: no ':' and nothing a glob or a
            // policy variable would read.
            const bool valid =
                    !region.empty() && region.size() <= max_name_length &&
                    std::all_of(region.begin(), region.end(), [](char c) {
                        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
                    });
            if (valid) {
                cfg.broker.names.region = region;
            } else {
                r.problem(
                        "region",
                        fmt::format(
                                "must be 1 to {} characters from a-z 0-9 - (like \"eu-west-1\"), "
                                "got \"{}\"",
                                max_name_length,
                                region));
            }
        }
    }
    {
        auto& r = server_key(top, server, "account");
        std::string account;
        if (r.string("account", account, "a string of 12 digits (\"000000000000\")")) {
            if (account.size() == 12 && std::all_of(account.begin(), account.end(), [](char c) {
                    return c >= '0' && c <= '9';
                })) {
                cfg.broker.names.account = account;
            } else {
                r.problem("account", fmt::format("must be exactly 12 digits, got \"{}\"", account));
            }
        }
    }
    {
        bool allow = false;
        if (server_key(top, server, "allow_wildcard_client_ids")
                    .boolean("allow_wildcard_client_ids", allow)) {
            cfg.broker.refuse_wildcard_client_ids = !allow;
        }
    }
    server_key(top, server, "lifecycle_events").boolean("lifecycle_events", cfg.broker.lifecycle_events);
    {
        auto& r = server_key(top, server, "assigned_id_prefix");
        std::string prefix;
        if (r.string("assigned_id_prefix", prefix)) {
            // The prefix starts client ids that policies see as ${iot:ClientId}; keep it to
            // characters every MQTT server must accept [MQTT-3.1.3-5] plus '-', '_' and '.'.
            if (prefix.size() > max_name_length ||
                !std::all_of(prefix.begin(), prefix.end(), is_name_char)) {
                r.problem(
                        "assigned_id_prefix",
                        fmt::format(
                                "must be at most {} characters from A-Z a-z 0-9 - _ ., got "
                                "\"{}\"",
                                max_name_length,
                                prefix));
            } else {
                cfg.broker.assigned_id_prefix = prefix;
            }
        }
    }
}

void read_limits(table_reader& r, broker::limits& lim) {
    r.integer("max_packet_size", min_packet_size, max_packet_size, lim.max_packet_size);
    r.integer("receive_maximum", 1, u16_max, lim.receive_maximum);
    r.integer("max_inflight_out", 1, u16_max, lim.max_inflight_out);
    r.integer("max_queued_messages", 1, u32_max, lim.max_queued_messages);
    r.integer("max_queued_bytes", 1, i64_max, lim.max_queued_bytes);
    r.integer("max_total_queued_messages", 0, i64_max, lim.max_total_queued_messages);
    r.integer("max_total_queued_bytes", 0, i64_max, lim.max_total_queued_bytes);
    r.choice("queue_overflow", overflow_names, lim.overflow);
    r.integer("max_ack_delay_ms", 0, 600'000, lim.max_ack_delay_ms);
    r.integer("max_subscriptions", 0, u32_max, lim.max_subscriptions);
    r.integer("max_filters_per_subscribe", 0, u32_max, lim.max_filters_per_subscribe);
    r.integer("max_topic_length", 1, u16_max, lim.max_topic_length);
    r.integer("max_topic_levels", 1, u16_max, lim.max_topic_levels);
    // A server must accept client ids of 1 to 23 characters [MQTT-3.1.3-5].
    r.integer("max_client_id_length", 23, u16_max, lim.max_client_id_length);
    r.integer("max_connections", 0, u32_max, lim.max_connections);
    r.integer("outbound_budget_bytes", 1, i64_max, lim.outbound_budget_bytes);
    r.choice("slow_consumer", slow_consumer_names, lim.slow_consumer);
    r.integer("max_keep_alive", 1, u16_max, lim.max_keep_alive);
    r.integer("min_keep_alive", 0, u16_max, lim.min_keep_alive);
    r.integer("topic_alias_maximum", 0, u16_max, lim.topic_alias_maximum);
    r.integer("max_session_expiry", 0, u32_max, lim.max_session_expiry);
    r.integer("max_message_expiry", 0, u32_max, lim.max_message_expiry);
    r.integer("max_publish_rate", 0, u32_max, lim.max_publish_rate);
    r.integer("max_publish_bytes_rate", 0, u32_max, lim.max_publish_bytes_rate);
    r.integer("min_connect_interval_ms", 0, 3'600'000, lim.min_connect_interval_ms);
    std::uint8_t qos = static_cast<std::uint8_t>(lim.maximum_qos);
    if (r.integer("maximum_qos", 0, 2, qos)) {
        lim.maximum_qos = static_cast<mqtt::qos>(qos);
    }
    r.boolean("retain_available", lim.retain_available);
    r.boolean("wildcard_subscriptions", lim.wildcard_subscriptions);
    r.boolean("shared_subscriptions", lim.shared_subscriptions);
    r.boolean("subscription_identifiers", lim.subscription_identifiers);

    // Cross-field rules; reported at the key the file set (a profile's defaults are consistent).
    if (lim.min_keep_alive > lim.max_keep_alive) {
        const std::string_view key = r.has("min_keep_alive") ? "min_keep_alive" : "max_keep_alive";
        r.problem(
                key,
                fmt::format(
                        "min_keep_alive ({}) must not exceed max_keep_alive ({})",
                        lim.min_keep_alive,
                        lim.max_keep_alive));
    }
    if (lim.outbound_budget_bytes < lim.max_packet_size) {
        const std::string_view key =
                r.has("outbound_budget_bytes") ? "outbound_budget_bytes" : "max_packet_size";
        r.problem(
                key,
                fmt::format(
                        "outbound_budget_bytes ({}) must be at least max_packet_size "
                        "({}): one largest packet must fit in the budget",
                        lim.outbound_budget_bytes,
                        lim.max_packet_size));
    }
}

void read_dev(table_reader& r, config& cfg) {
    r.boolean("pki", cfg.dev_pki);
    std::string thing;
    if (r.string("thing", thing)) {
        // AWS IoT thing names: 1..128 of [a-zA-Z0-9:_-].
        const bool valid = !thing.empty() && thing.size() <= 128 &&
                           std::all_of(thing.begin(), thing.end(), [](char c) {
                               return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                      (c >= '0' && c <= '9') || c == ':' || c == '_' || c == '-';
                           });
        if (valid) {
            cfg.dev_thing = thing;
        } else {
            r.problem(
                    "thing",
                    fmt::format(
                            "must be 1 to 128 characters from A-Z a-z 0-9 : _ -, "
                            "got \"{}\"",
                            thing));
        }
    }
}

/// What the cross-listener checks need besides the value.
struct listener_site {
    toml::source_region name_where;
    toml::source_region port_where;
    std::string port_path;
    std::optional<ip_address> ip;
};

transport::listener_config default_listener(const std::filesystem::path& data_dir) {
    transport::listener_config l;
    l.name = "mtls";
    l.kind = transport::listener_kind::tls;
    l.address = "127.0.0.1";
    l.port = 8883;
    l.client_auth = transport::client_auth_mode::registry;
    l.cert_file = dev_pki_cert_file(data_dir).string();
    l.key_file = dev_pki_key_file(data_dir).string();
    return l;
}

transport::listener_config
read_listener(table_reader& r, diagnostics& diag, const config& cfg, listener_site& site) {
    using transport::listener_kind;
    transport::listener_config l;

    if (r.string("name", l.name)) {
        if (l.name.empty() || l.name.size() > max_name_length ||
            !std::all_of(l.name.begin(), l.name.end(), is_name_char)) {
            r.problem(
                    "name",
                    fmt::format(
                            "must be 1 to {} characters from A-Z a-z 0-9 - _ ., "
                            "got \"{}\"",
                            max_name_length,
                            l.name));
        }
    } else if (!r.has("name")) {
        diag.add(r.table_where(), r.path("name"), "missing; every listener needs a unique name");
    }
    site.name_where = r.where("name");

    r.choice("type", listener_kind_names, l.kind);
    const bool tls = l.kind == listener_kind::tls;

    if (r.string("address", l.address)) {
        site.ip = parse_ip(l.address);
        if (!site.ip) {
            r.problem(
                    "address",
                    fmt::format(
                            "must be an IPv4 or IPv6 literal (\"127.0.0.1\", "
                            "\"::1\", \"0.0.0.0\", \"::\"), got \"{}\"",
                            l.address));
        }
    } else {
        site.ip = parse_ip(l.address);
    }

    l.port = tls ? 8883 : 1883;
    r.integer("port", 0, u16_max, l.port);
    site.port_where = r.where("port");
    site.port_path = r.path("port");

    static constexpr std::array tls_only{
            std::string_view("ca_file"),
            std::string_view("cert_file"),
            std::string_view("key_file"),
            std::string_view("min_tls"),
            std::string_view("alpn"),
            std::string_view("client_auth"),
            std::string_view("handshake_timeout_ms"),
            std::string_view("session_cache_size"),
            std::string_view("session_lifetime_s"),
            std::string_view("tls_record_layer")};
    if (!tls) {
        for (const auto key : tls_only) {
            if (r.has(key)) {
                r.problem(key, "only applies to a listener with type = \"tls\"");
            }
        }
        bool allow_public = false;
        r.boolean("allow_public", allow_public);
        if (site.ip && !site.ip->is_loopback()) {
            if (allow_public) {
                diag.warn(fmt::format(
                        "listener \"{}\": plain TCP without TLS or client "
                        "certificates on non-loopback address {} port {} "
                        "(allow_public = true)",
                        l.name,
                        l.address,
                        l.port));
            } else {
                r.problem(
                        "address",
                        fmt::format(
                                "plain TCP on non-loopback address \"{}\"; "
                                "devices would connect without TLS and without "
                                "a certificate. Use type = \"tls\", or set "
                                "allow_public = true on this listener",
                                l.address));
            }
        }
        return l;
    }

    if (r.has("allow_public")) {
        r.problem("allow_public", "only applies to a listener with type = \"tcp\"");
    }
    r.choice("client_auth", client_auth_names, l.client_auth);
    const bool ca_mode = l.client_auth == transport::client_auth_mode::ca_file;
    std::filesystem::path ca;
    std::filesystem::path cert;
    std::filesystem::path key;
    const bool has_ca = ca_mode && r.path_value("ca_file", ca);
    const bool has_cert = r.path_value("cert_file", cert);
    const bool has_key = r.path_value("key_file", key);
    const bool set_ca = r.has("ca_file");
    const bool set_cert = r.has("cert_file");
    const bool set_key = r.has("key_file");
    if (set_cert != set_key) {
        r.problem(
                set_cert ? "cert_file" : "key_file",
                "cert_file and key_file must be given together");
    }
    const auto missing = [&](std::string_view file_key) {
        diag.add(
                r.table_where(),
                r.path(file_key),
                ca_mode ? "missing; a tls listener with client_auth = \"ca-file\" needs ca_file, "
                          "cert_file and key_file unless [dev].pki = true provides them"
                        : "missing; a tls listener needs cert_file and key_file unless "
                          "[dev].pki = true provides them");
    };
    if (!ca_mode) {
        if (set_ca) {
            r.problem(
                    "ca_file",
                    "only applies with client_auth = \"ca-file\"; with client_auth = "
                    "\"registry\" (the default) client certificates chain to the registered CA "
                    "certificates");
        }
    } else if (has_ca) {
        l.ca_file = ca.string();
    } else if (!set_ca) {
        if (cfg.dev_pki) {
            l.ca_file = dev_pki_ca_file(cfg.data_dir).string();
        } else {
            missing("ca_file");
        }
    }
    if (has_cert) {
        l.cert_file = cert.string();
    } else if (!set_cert && !set_key) {
        if (cfg.dev_pki) {
            l.cert_file = dev_pki_cert_file(cfg.data_dir).string();
        } else {
            missing("cert_file");
        }
    }
    if (has_key) {
        l.key_file = key.string();
    } else if (!set_key && !set_cert) {
        if (cfg.dev_pki) {
            l.key_file = dev_pki_key_file(cfg.data_dir).string();
        } else {
            missing("key_file");
        }
    }
    if (cfg.dev_pki && site.ip && !site.ip->is_loopback() &&
        ((ca_mode && !set_ca) || (!set_cert && !set_key))) {
        diag.warn(fmt::format(
                "listener \"{}\": serves the development PKI on non-loopback "
                "address {} port {}; set [dev].pki = false and give real files "
                "in production",
                l.name,
                l.address,
                l.port));
    }

    r.choice("min_tls", tls_version_names, l.min_tls);
    r.integer("handshake_timeout_ms", 100, 120'000, l.handshake_timeout_ms);
    r.integer("session_cache_size", 0, 1'000'000, l.session_cache_size);
    r.integer("session_lifetime_s", 1, 86'400, l.session_lifetime_s);
    r.choice("tls_record_layer", tls_record_layer_names, l.record_layer);

    if (const toml::node* node = r.get("alpn")) {
        const auto* array = node->as_array();
        if (array == nullptr) {
            r.wrong_type("alpn", "an array of strings", *node);
        } else {
            std::set<std::string, std::less<>> seen;
            for (std::size_t i = 0; i < array->size(); ++i) {
                const toml::node& item = (*array)[i];
                const std::string item_path = fmt::format("{}[{}]", r.path("alpn"), i);
                const auto* text = item.as_string();
                if (text == nullptr) {
                    diag.add(
                            item.source(),
                            item_path,
                            fmt::format("expected a string, got {}", describe(item)));
                } else if (text->get().empty() || text->get().size() > 255) {
                    diag.add(
                            item.source(),
                            item_path,
                            "an ALPN protocol name is 1 to 255 bytes (RFC 7301)");
                } else if (!seen.insert(text->get()).second) {
                    diag.add(
                            item.source(),
                            item_path,
                            fmt::format("\"{}\" is listed twice", text->get()));
                } else {
                    l.alpn.push_back(text->get());
                }
            }
        }
    }
    return l;
}

void read_listeners(table_reader& top, diagnostics& diag, config& cfg) {
    const toml::node* node = top.get("listener");
    if (node == nullptr) {
        if (cfg.dev_pki) {
            cfg.listeners.push_back(default_listener(cfg.data_dir));
        } else {
            diag.add(
                    {},
                    "[[listener]]",
                    "none given; the default listener \"mtls\" needs [dev].pki = true. Add a "
                    "[[listener]] with cert_file and key_file");
        }
        return;
    }
    const auto* array = node->as_array();
    if (array == nullptr || !array->is_array_of_tables()) {
        top.problem(
                "listener",
                fmt::format(
                        "expected one or more [[listener]] tables, got {}{}",
                        array != nullptr && array->empty() ? "an empty " : "",
                        array != nullptr && array->empty() ? "array" : describe(*node)));
        return;
    }

    std::vector<listener_site> sites(array->size());
    for (std::size_t i = 0; i < array->size(); ++i) {
        table_reader r(diag, (*array)[i].as_table(), fmt::format("[[listener]][{}].", i));
        cfg.listeners.push_back(read_listener(r, diag, cfg, sites[i]));
        r.finish();
    }

    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
        const auto& li = cfg.listeners[i];
        for (std::size_t j = 0; j < i; ++j) {
            const auto& lj = cfg.listeners[j];
            if (!li.name.empty() && li.name == lj.name) {
                diag.add(
                        sites[i].name_where,
                        fmt::format("[[listener]][{}].name", i),
                        fmt::format(
                                "duplicate listener name \"{}\" (also [[listener]][{}], "
                                "line {})",
                                li.name,
                                j,
                                sites[j].name_where.begin.line));
            }
            if (li.port != 0 && li.port == lj.port && sites[i].ip && sites[j].ip &&
                sites[i].ip->overlaps(*sites[j].ip)) {
                diag.add(
                        sites[i].port_where,
                        sites[i].port_path,
                        fmt::format(
                                "{}:{} collides with listener \"{}\" on {}:{} "
                                "([[listener]][{}])",
                                li.address,
                                li.port,
                                lj.name,
                                lj.address,
                                lj.port,
                                j));
            }
        }
    }
}

config parse_table(const toml::table& root, diagnostics& diag) {
    config cfg;
    cfg.listeners.clear();

    table_reader top(diag, &root, "");
    const toml::table* server_table = top.table("server");
    table_reader server(diag, server_table, "[server].");
    read_server(top, server, cfg);

    const toml::table* limits_table = top.table("limits");
    table_reader limits(diag, limits_table, "[limits].");
    read_limits(limits, cfg.broker.lim);

    const toml::table* dev_table = top.table("dev");
    table_reader dev(diag, dev_table, "[dev].");
    read_dev(dev, cfg);

    read_listeners(top, diag, cfg);

    server.finish();
    limits.finish();
    dev.finish();
    top.finish();
    cfg.warnings = diag.take_warnings();
    return cfg;
}

} // namespace

config_error::config_error(std::vector<std::string> problems)
    : std::runtime_error(join(problems))
    , problems_(std::move(problems)) {}

std::filesystem::path dev_pki_dir(const std::filesystem::path& data_dir) {
    return data_dir / "pki";
}

std::filesystem::path dev_pki_ca_file(const std::filesystem::path& data_dir) {
    return dev_pki_dir(data_dir) / "ca.pem";
}

std::filesystem::path dev_pki_cert_file(const std::filesystem::path& data_dir) {
    return dev_pki_dir(data_dir) / "server.pem";
}

std::filesystem::path dev_pki_key_file(const std::filesystem::path& data_dir) {
    return dev_pki_dir(data_dir) / "server.key";
}

config default_config() {
    config cfg;
    cfg.listeners.push_back(default_listener(cfg.data_dir));
    return cfg;
}

config parse_config(
        std::string_view toml_text,
        std::string_view source_name,
        const std::filesystem::path& base_dir) {
    diagnostics diag(source_name, base_dir);
    toml::table root;
    try {
        root = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& e) {
        diag.add(e.source(), "", fmt::format("invalid TOML: {}", e.description()));
        diag.fail();
    }
    config cfg = parse_table(root, diag);
    if (!diag.ok()) {
        diag.fail();
    }
    return cfg;
}

config load_config(const std::filesystem::path& file) {
    std::error_code ec;
    if (std::filesystem::is_directory(file, ec)) {
        throw config_error({fmt::format("{}: cannot read: is a directory", file.string())});
    }
    std::FILE* f = std::fopen(file.c_str(), "rb");
    if (f == nullptr) {
        throw config_error(
                {fmt::format("{}: cannot read: {}", file.string(), std::strerror(errno))});
    }
    std::string text;
    std::array<char, 8192> buffer{};
    std::size_t n = 0;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), f)) > 0) {
        text.append(buffer.data(), n);
    }
    const bool failed = std::ferror(f) != 0;
    std::fclose(f);
    if (failed) {
        throw config_error({fmt::format("{}: cannot read: I/O error", file.string())});
    }
    const std::filesystem::path base = std::filesystem::absolute(file, ec).parent_path();
    return parse_config(text, file.string(), base);
}

} // namespace thinggate::app
