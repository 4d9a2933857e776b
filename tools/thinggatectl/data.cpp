// thinggatectl data: offline commands on a data dir (stats, export, compact, checkpoint). They
// open the dir through persist's RocksDB store, which refuses while thinggate (or another
// thinggatectl) holds it open. docs/operations.md, "Data directory tools", documents them and
// the export format; keep the two in step.

#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json.hpp>
#include <boost/program_options.hpp>

#include "mqtt/codec.hpp"
#include "persist/record_codec.hpp"
#include "persist/rocksdb/rocksdb_store.hpp"
#include "tools/thinggatectl/command.hpp"
#include "tools/thinggatectl/data_dir.hpp"
#include "tools/thinggatectl/options.hpp"

namespace thinggate::ctl {

namespace {

namespace fs = std::filesystem;
namespace po = boost::program_options;
namespace json = boost::json;
namespace persist = thinggate::persist;

// --- command line ---

po::options_description options_for(const char* title) {
    po::options_description desc(title);
    desc.add_options()("help,h", "this help")(
            "data-dir", po::value<std::string>(), "thinggate's data_dir, or its database dir <data_dir>/db (thinggate must not be running)");
    return desc;
}

// --- formatting ---

std::string base64(std::string_view bytes) {
    static constexpr char alphabet[] =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        std::uint32_t n = (std::uint32_t(std::uint8_t(bytes[i])) << 16) |
                          (std::uint32_t(std::uint8_t(bytes[i + 1])) << 8) |
                          std::uint8_t(bytes[i + 2]);
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += alphabet[(n >> 6) & 63];
        out += alphabet[n & 63];
    }
    if (auto rest = bytes.size() - i; rest != 0) {
        std::uint32_t n = std::uint32_t(std::uint8_t(bytes[i])) << 16;
        if (rest == 2) {
            n |= std::uint32_t(std::uint8_t(bytes[i + 1])) << 8;
        }
        out += alphabet[(n >> 18) & 63];
        out += alphabet[(n >> 12) & 63];
        out += rest == 2 ? alphabet[(n >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

/// A text field: a JSON string when it is valid UTF-8 (MQTT requires that of topics, client ids
/// and properties), else {"base64": "..."} so that no byte is lost and the JSON stays valid.
json::value text(std::string_view s) {
    if (mqtt::valid_utf8(s)) {
        return json::string(s);
    }
    return json::object{{"base64", base64(s)}};
}

json::value opt_time(const std::optional<persist::wall_time>& t) {
    return t ? json::value(format_time(*t)) : json::value(nullptr);
}

template <typename T>
json::value opt_number(const std::optional<T>& v) {
    return v ? json::value(*v) : json::value(nullptr);
}

json::value opt_text(const std::optional<std::string>& v) {
    return v ? text(*v) : json::value(nullptr);
}

json::value opt_binary(const std::optional<std::string>& v) {
    return v ? json::value(base64(*v)) : json::value(nullptr);
}

json::array user_properties(const mqtt::properties& p) {
    json::array out;
    for (const auto& u : p.user_properties) {
        out.push_back(json::object{{"key", text(u.key)}, {"value", text(u.value)}});
    }
    return out;
}

json::object message_json(const persist::message_record& m) {
    json::object o;
    o["topic"] = text(m.topic);
    o["qos"] = static_cast<int>(m.qos);
    o["retain"] = m.retain;
    o["expires_at"] = opt_time(m.expires_at);
    o["payload_format_indicator"] = opt_number(m.props.payload_format_indicator);
    o["content_type"] = opt_text(m.props.content_type);
    o["response_topic"] = opt_text(m.props.response_topic);
    o["correlation_data_base64"] = opt_binary(m.props.correlation_data);
    o["user_properties"] = user_properties(m.props);
    o["payload_base64"] = base64(m.payload);
    return o;
}

json::object will_json(const mqtt::will_message& w) {
    json::object o;
    o["topic"] = text(w.topic);
    o["qos"] = static_cast<int>(w.qos);
    o["retain"] = w.retain;
    o["will_delay_interval"] = opt_number(w.props.will_delay_interval);
    o["message_expiry_interval"] = opt_number(w.props.message_expiry_interval);
    o["payload_format_indicator"] = opt_number(w.props.payload_format_indicator);
    o["content_type"] = opt_text(w.props.content_type);
    o["response_topic"] = opt_text(w.props.response_topic);
    o["correlation_data_base64"] = opt_binary(w.props.correlation_data);
    o["user_properties"] = user_properties(w.props);
    o["payload_base64"] = base64(w.payload);
    return o;
}

json::object delivery_json(const persist::delivery_record& d) {
    json::object o;
    o["qos"] = static_cast<int>(d.qos);
    o["retain"] = d.retain;
    json::array ids;
    for (auto id : d.subscription_ids) {
        ids.push_back(id);
    }
    o["subscription_ids"] = std::move(ids);
    o["message"] = message_json(d.msg);
    return o;
}

std::string_view kind_name(persist::blob_kind k) {
    using persist::blob_kind;
    switch (k) {
    case blob_kind::thing:
        return "thing";
    case blob_kind::thing_group:
        return "thing_group";
    case blob_kind::certificate:
        return "certificate";
    case blob_kind::ca_certificate:
        return "ca_certificate";
    case blob_kind::policy:
        return "policy";
    case blob_kind::policy_version:
        return "policy_version";
    case blob_kind::attachment:
        return "attachment";
    case blob_kind::thing_type:
        return "thing_type";
    case blob_kind::operator_account:
        return "operator_account";
    case blob_kind::job:
        return "job";
    case blob_kind::job_execution:
        return "job_execution";
    case blob_kind::stream:
        return "stream";
    case blob_kind::firmware_file:
        return "firmware_file";
    }
    return "unknown";
}

/// Kinds whose values are exported. Everything else (operator accounts, which hold password
/// hashes, and kinds this build does not know) is listed with its size only. Certificates are
/// public PEM; private keys are never stored in the data dir.
bool value_exportable(persist::blob_kind k) {
    using persist::blob_kind;
    switch (k) {
    case blob_kind::thing:
    case blob_kind::thing_group:
    case blob_kind::certificate:
    case blob_kind::ca_certificate:
    case blob_kind::policy:
    case blob_kind::policy_version:
    case blob_kind::attachment:
    case blob_kind::thing_type:
    case blob_kind::job:
    case blob_kind::job_execution:
    case blob_kind::stream:
        return true;
    default:
        return false;
    }
}

// --- reading a store ---

struct meta_info {
    std::optional<persist::wall_time> created_at;
    std::optional<persist::wall_time> heartbeat;
};

meta_info read_meta(const persist::rocksdb_store& store) {
    meta_info m;
    auto created = store.get(persist::family::meta, persist::codec::meta_created_key);
    check(store, created.has_error() ? created.error() : boost::system::error_code{}, "read meta");
    if (*created) {
        m.created_at = persist::codec::decode_time(**created);
    }
    auto beat = store.get(persist::family::meta, persist::codec::meta_heartbeat_key);
    check(store, beat.has_error() ? beat.error() : boost::system::error_code{}, "read meta");
    if (*beat) {
        m.heartbeat = persist::codec::decode_time(**beat);
    }
    return m;
}

/// Exact key count of a family (stats() gives RocksDB's estimate only).
std::uint64_t count_keys(const persist::rocksdb_store& store, persist::family fam) {
    std::uint64_t n = 0;
    check(store,
          store.scan(
                  fam,
                  {},
                  [&](std::string_view, std::string_view) {
                      ++n;
                      return true;
                  }),
          "scan");
    return n;
}

/// Keys of the blob families per kind (first key byte).
std::map<std::uint8_t, std::uint64_t>
count_blob_kinds(const persist::rocksdb_store& store, persist::family fam) {
    std::map<std::uint8_t, std::uint64_t> counts;
    check(store,
          store.scan(
                  fam,
                  {},
                  [&](std::string_view key, std::string_view) {
                      ++counts[key.empty() ? 0 : static_cast<std::uint8_t>(key[0])];
                      return true;
                  }),
          "scan");
    return counts;
}

std::uint64_t dir_bytes(const fs::path& dir) {
    std::uint64_t total = 0;
    std::error_code ec;
    for (const auto& e : fs::recursive_directory_iterator(dir, ec)) {
        std::error_code fec;
        if (e.is_regular_file(fec)) {
            auto size = e.file_size(fec);
            if (!fec) {
                total += size;
            }
        }
    }
    return total;
}

std::string human_bytes(std::uint64_t n) {
    constexpr std::array units = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(n);
    std::size_t u = 0;
    while (v >= 1024 && u + 1 < units.size()) {
        v /= 1024;
        ++u;
    }
    std::array<char, 32> buf{};
    std::snprintf(buf.data(), buf.size(), u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
    return buf.data();
}

// --- commands ---

int cmd_stats(const std::vector<std::string>& args) {
    auto desc = options_for("thinggatectl data stats --data-dir DIR");
    auto p = parse("data stats", args, desc);
    if (p.help) {
        std::cout << "Prints the schema version, the creation time, the number of records of "
                     "each kind\n(exact counts) and the size on disk.\n\n"
                  << desc;
        return exit_ok;
    }
    fs::path dir = required_string(p, "data-dir");
    auto store = open_data_dir(dir, false);
    auto meta = read_meta(*store);
    using persist::family;
    auto line = [](std::string_view label, const std::string& value) {
        std::cout << label << ':' << std::string(18 - label.size(), ' ') << value << '\n';
    };
    line("data dir", dir.string());
    line("schema version", std::to_string(store->schema_version()));
    line("created at", meta.created_at ? format_time(*meta.created_at) : "unknown");
    line("last heartbeat", meta.heartbeat ? format_time(*meta.heartbeat) : "none");
    line("sessions", std::to_string(count_keys(*store, family::sessions)));
    line("subscriptions", std::to_string(count_keys(*store, family::subscriptions)));
    line("queued", std::to_string(count_keys(*store, family::queued)));
    line("in flight", std::to_string(count_keys(*store, family::inflight)));
    line("incoming qos 2", std::to_string(count_keys(*store, family::qos2_in)));
    line("retained", std::to_string(count_keys(*store, family::retained)));
    for (auto fam : {family::registry, family::jobs, family::streams, family::blobs}) {
        auto kinds = count_blob_kinds(*store, fam);
        std::uint64_t total = 0;
        std::string detail;
        for (const auto& [kind, n] : kinds) {
            total += n;
            detail += (detail.empty() ? " (" : ", ") +
                      std::string(kind_name(static_cast<persist::blob_kind>(kind))) + ' ' +
                      std::to_string(n);
        }
        if (!detail.empty()) {
            detail += ')';
        }
        std::string label = fam == family::blobs ? "firmware files" : std::string(to_string(fam));
        line(label, std::to_string(total) + detail);
    }
    auto s = store->stats();
    auto on_disk = dir_bytes(dir);
    line("size on disk",
         std::to_string(on_disk) + " bytes (" + human_bytes(on_disk) + "; SST + WAL " +
                 std::to_string(s.disk_bytes) + " bytes)");
    return exit_ok;
}

enum class export_kind : std::uint8_t {
    sessions,
    subscriptions,
    messages,
    retained,
    registry,
    all,
};

class export_visitor final : public persist::visitor {
public:
    explicit export_visitor(export_kind k)
        : kind_(k) {}

    bool wants(export_kind k) const { return kind_ == export_kind::all || kind_ == k; }

    void on_session(persist::session_record&& r) override {
        if (!wants(export_kind::sessions)) {
            return;
        }
        json::object o;
        o["client_id"] = text(r.client_id);
        o["protocol_level"] = static_cast<int>(r.version);
        o["expiry_interval"] = r.expiry_interval;
        o["disconnected_at"] = opt_time(r.disconnected_at);
        o["next_seq"] = r.next_seq;
        o["last_packet_id"] = r.last_packet_id;
        o["will"] = r.will ? json::value(will_json(*r.will)) : json::value(nullptr);
        sessions.push_back(std::move(o));
    }

    void on_subscription(persist::subscription_record&& r) override {
        if (!wants(export_kind::subscriptions)) {
            return;
        }
        json::object o;
        o["client_id"] = text(r.client_id);
        o["filter"] = text(r.filter);
        o["max_qos"] = static_cast<int>(r.options.max_qos);
        o["no_local"] = r.options.no_local;
        o["retain_as_published"] = r.options.retain_as_published;
        o["retain_handling"] = r.options.retain_handling;
        o["subscription_id"] = r.subscription_id;
        subscriptions.push_back(std::move(o));
    }

    void on_queued(persist::queued_record&& r) override {
        if (!wants(export_kind::messages)) {
            return;
        }
        json::object o;
        o["client_id"] = text(r.client_id);
        o["seq"] = r.seq;
        o["delivery"] = delivery_json(r.d);
        queued.push_back(std::move(o));
    }

    void on_inflight(persist::inflight_record&& r) override {
        if (!wants(export_kind::messages)) {
            return;
        }
        json::object o;
        o["client_id"] = text(r.client_id);
        o["seq"] = r.seq;
        o["packet_id"] = r.packet_id;
        switch (r.state) {
        case persist::inflight_state::wait_puback:
            o["state"] = "wait_puback";
            break;
        case persist::inflight_state::wait_pubrec:
            o["state"] = "wait_pubrec";
            break;
        case persist::inflight_state::wait_pubcomp:
            o["state"] = "wait_pubcomp";
            break;
        }
        o["delivery"] = delivery_json(r.d);
        inflight.push_back(std::move(o));
    }

    void on_qos2_in(persist::qos2_in_record&& r) override {
        if (!wants(export_kind::messages)) {
            return;
        }
        incoming_qos2.push_back(
                json::object{{"client_id", text(r.client_id)}, {"packet_id", r.packet_id}});
    }

    void on_retained(persist::message_record&& r) override {
        if (wants(export_kind::retained)) {
            retained.push_back(message_json(r));
        }
    }

    void on_blob(persist::blob_record&& r) override {
        if (!wants(export_kind::registry)) {
            return;
        }
        auto fam = persist::kind_family(r.kind);
        json::object o;
        o["family"] = fam ? json::value(std::string(to_string(*fam))) : json::value(nullptr);
        o["kind"] = kind_name(r.kind);
        o["name"] = text(r.name);
        o["size"] = r.value.size();
        bool exported = value_exportable(r.kind);
        o["value_base64"] = exported ? json::value(base64(r.value)) : json::value(nullptr);
        o["value_omitted"] = !exported;
        registry.push_back(std::move(o));
    }

    json::array sessions;
    json::array subscriptions;
    json::array queued;
    json::array inflight;
    json::array incoming_qos2;
    json::array retained;
    json::array registry;

private:
    export_kind kind_;
};

export_kind parse_export_kind(const parsed& p) {
    if (p.vm.count("kind") == 0) {
        return export_kind::all;
    }
    const auto& k = p.vm["kind"].as<std::string>();
    static constexpr std::array<std::pair<std::string_view, export_kind>, 6> names = {{
            {"sessions", export_kind::sessions},
            {"subscriptions", export_kind::subscriptions},
            {"messages", export_kind::messages},
            {"retained", export_kind::retained},
            {"registry", export_kind::registry},
            {"all", export_kind::all},
    }};
    for (const auto& [name, kind] : names) {
        if (k == name) {
            return kind;
        }
    }
    throw usage_error(
            p.command,
            "the argument ('" + k +
                    "') for option '--kind' is invalid: sessions, subscriptions, messages, "
                    "retained, registry or all");
}

int cmd_export(const std::vector<std::string>& args) {
    auto desc = options_for("thinggatectl data export --data-dir DIR [options]");
    desc.add_options()(
            "kind",
            po::value<std::string>(),
            "sessions | subscriptions | messages | retained | registry | all (default all)")(
            "out", po::value<std::string>(), "write to this file (default: standard output)");
    auto p = parse("data export", args, desc);
    if (p.help) {
        std::cout << "Writes the stored records as one JSON document (format: "
                     "docs/operations.md).\nPayloads and other binary values are base64. "
                     "Operator accounts are listed\nwithout their values.\n\n"
                  << desc;
        return exit_ok;
    }
    fs::path dir = required_string(p, "data-dir");
    auto kind = parse_export_kind(p);
    std::string out_path;
    if (p.vm.count("out") != 0) {
        out_path = p.vm["out"].as<std::string>();
        if (out_path.empty()) {
            throw usage_error(p.command, "option --out needs a file name");
        }
    }
    auto store = open_data_dir(dir, false);
    auto meta = read_meta(*store);
    export_visitor v(kind);
    check(*store, store->load_all(v), "read records");

    json::object doc;
    doc["format"] = "thinggate-data-export";
    doc["format_version"] = 1;
    doc["schema_version"] = store->schema_version();
    doc["data_dir"] = text(fs::absolute(dir).string());
    doc["created_at"] = opt_time(meta.created_at);
    doc["last_heartbeat"] = opt_time(meta.heartbeat);
    doc["exported_at"] = format_time(persist::wall_now());
    doc["kind"] = p.vm.count("kind") != 0 ? p.vm["kind"].as<std::string>() : "all";
    if (v.wants(export_kind::sessions)) {
        doc["sessions"] = std::move(v.sessions);
    }
    if (v.wants(export_kind::subscriptions)) {
        doc["subscriptions"] = std::move(v.subscriptions);
    }
    if (v.wants(export_kind::messages)) {
        doc["queued"] = std::move(v.queued);
        doc["inflight"] = std::move(v.inflight);
        doc["incoming_qos2"] = std::move(v.incoming_qos2);
    }
    if (v.wants(export_kind::retained)) {
        doc["retained"] = std::move(v.retained);
    }
    if (v.wants(export_kind::registry)) {
        doc["registry"] = std::move(v.registry);
        // Firmware files can be large: listed by name and size, never inlined.
        json::array files;
        check(*store,
              store->scan(
                      persist::family::blobs,
                      {},
                      [&](std::string_view key, std::string_view value) {
                          json::object f;
                          f["kind"] = key.empty() ? "unknown"
                                                  : kind_name(static_cast<persist::blob_kind>(
                                                            static_cast<std::uint8_t>(key[0])));
                          f["name"] = text(key.empty() ? key : key.substr(1));
                          f["size"] = value.size();
                          files.push_back(std::move(f));
                          return true;
                      }),
              "read firmware files");
        doc["firmware_files"] = std::move(files);
    }

    if (out_path.empty()) {
        pretty(std::cout, doc, 0);
        std::cout << '\n';
        std::cout.flush();
        if (!std::cout) {
            throw std::runtime_error("cannot write to standard output");
        }
        return exit_ok;
    }
    std::ofstream out(out_path, std::ios::binary | std::ios::trunc);
    if (!out) {
        throw std::runtime_error("cannot create " + out_path);
    }
    pretty(out, doc, 0);
    out << '\n';
    out.close();
    if (!out) {
        throw std::runtime_error("cannot write " + out_path);
    }
    return exit_ok;
}

int cmd_compact(const std::vector<std::string>& args) {
    auto desc = options_for("thinggatectl data compact --data-dir DIR");
    auto p = parse("data compact", args, desc);
    if (p.help) {
        std::cout << "Flushes and fully compacts every column family (reclaims the space of "
                     "deleted records).\n\n"
                  << desc;
        return exit_ok;
    }
    fs::path dir = required_string(p, "data-dir");
    auto store = open_data_dir(dir, false);
    auto before = store->stats().disk_bytes;
    check(*store, store->flush(), "flush");
    check(*store, store->compact(), "compact");
    auto after = store->stats().disk_bytes;
    std::cout << "compacted " << dir.string() << ": SST + WAL " << human_bytes(before) << " -> "
              << human_bytes(after) << '\n';
    return exit_ok;
}

int cmd_checkpoint(const std::vector<std::string>& args) {
    auto desc = options_for("thinggatectl data checkpoint --data-dir DIR --out NEWDIR");
    desc.add_options()("out", po::value<std::string>(), "the new dir (must not exist)");
    auto p = parse("data checkpoint", args, desc);
    if (p.help) {
        std::cout << "Writes a consistent copy of the data dir to NEWDIR (hard links on the same "
                     "file\nsystem, copies otherwise): a backup that opens as a data dir.\n\n"
                  << desc;
        return exit_ok;
    }
    fs::path dir = required_string(p, "data-dir");
    fs::path out = required_string(p, "out");
    std::error_code ec;
    if (fs::exists(fs::symlink_status(out, ec))) {
        throw std::runtime_error(
                "checkpoint of data dir " + dir.string() + ": " + out.string() +
                " already exists; give a new path");
    }
    auto store = open_data_dir(dir, false);
    check(*store, store->flush(), "flush");
    auto cec = store->checkpoint(out);
    if (cec) {
        throw std::runtime_error(
                "checkpoint to " + out.string() + " failed: " + store->describe(cec));
    }
    std::cout << "checkpoint of " << dir.string() << " written to " << out.string() << '\n';
    return exit_ok;
}

struct subcommand {
    std::string_view name;
    std::string_view summary;
    int (*run)(const std::vector<std::string>&);
};

constexpr std::array<subcommand, 4> subcommands = {{
        {"stats", "schema version, creation time, records per kind, size on disk", &cmd_stats},
        {"export", "the records as one JSON document", &cmd_export},
        {"compact", "full compaction (reclaims space)", &cmd_compact},
        {"checkpoint", "a consistent copy for backup (hard links)", &cmd_checkpoint},
}};

void print_data_usage(std::ostream& out) {
    out << "usage: thinggatectl data <command> --data-dir DIR [options]\n\n"
           "Offline tools for a thinggate data dir. thinggate must not be running: the data\n"
           "dir is locked while it is open.\n\ncommands:\n";
    for (const auto& c : subcommands) {
        out << "  " << c.name << std::string(12 - c.name.size(), ' ') << c.summary << '\n';
    }
    out << "\nRun 'thinggatectl data <command> --help' for its options.\n";
}

} // namespace

int run_data(const std::vector<std::string>& args) {
    if (args.empty()) {
        print_data_usage(std::cerr);
        return exit_usage;
    }
    if (args.front() == "-h" || args.front() == "--help" || args.front() == "help") {
        print_data_usage(std::cout);
        return exit_ok;
    }
    for (const auto& c : subcommands) {
        if (args.front() == c.name) {
            quiet_logging();
            return c.run(std::vector<std::string>(args.begin() + 1, args.end()));
        }
    }
    throw usage_error("data", "unknown command '" + args.front() + "'");
}

} // namespace thinggate::ctl
