#pragma once
// Helpers of the persist tests: unique temp dirs, directory snapshots, sample records, and a
// visitor that collects what load_all() returns.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "persist/store.hpp"

namespace thinggate::persist::test {

/// A fresh directory under the system temp dir, removed with everything in it at the end.
class temp_dir {
public:
    temp_dir() {
        auto pattern =
                (std::filesystem::temp_directory_path() / "thinggate-persist-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = pattern;
    }

    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

inline std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

/// Every regular file under `dir` (relative name -> contents): "nothing changed" means equal.
inline std::map<std::string, std::string> snapshot(const std::filesystem::path& dir) {
    std::map<std::string, std::string> files;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
        if (e.is_regular_file()) {
            files[std::filesystem::relative(e.path(), dir).string()] = read_file(e.path());
        }
    }
    return files;
}

inline message_record sample_message(std::string topic = "dev/1/telemetry") {
    message_record m;
    m.topic = std::move(topic);
    m.payload = std::string("\x00\x01payload\xff", 10);
    m.qos = mqtt::qos::exactly_once;
    m.retain = true;
    m.props.payload_format_indicator = 1;
    m.props.content_type = "application/json";
    m.props.response_topic = "dev/1/reply";
    m.props.correlation_data = std::string("\x00\x7f", 2);
    m.props.user_properties = {{"k1", "v1"}, {"k1", "v2"}, {"", ""}};
    m.expires_at = wall_time{std::chrono::milliseconds{1'700'000'000'123}};
    return m;
}

inline session_record sample_session(std::string client_id = "client-1") {
    session_record s;
    s.client_id = std::move(client_id);
    s.version = mqtt::protocol_version::v311;
    s.expiry_interval = 3600;
    s.disconnected_at = wall_time{std::chrono::milliseconds{1'700'000'000'000}};
    mqtt::will_message w;
    w.topic = "dev/1/status";
    w.payload = "offline";
    w.qos = mqtt::qos::at_least_once;
    w.retain = true;
    w.props.payload_format_indicator = 1;
    w.props.message_expiry_interval = 60;
    w.props.content_type = "text/plain";
    w.props.response_topic = "r";
    w.props.correlation_data = "c";
    w.props.user_properties = {{"a", "b"}};
    w.props.will_delay_interval = 30;
    s.will = w;
    s.next_seq = 42;
    s.last_packet_id = 65535;
    return s;
}

inline subscription_record sample_subscription(
        std::string client_id = "client-1", std::string filter = "$share/g/dev/+/telemetry") {
    subscription_record s;
    s.client_id = std::move(client_id);
    s.filter = std::move(filter);
    s.options.max_qos = mqtt::qos::at_least_once;
    s.options.no_local = true;
    s.options.retain_as_published = true;
    s.options.retain_handling = 2;
    s.subscription_id = 268'435'455;
    return s;
}

inline queued_record sample_queued(std::string client_id = "client-1", std::uint64_t seq = 7) {
    queued_record q;
    q.client_id = std::move(client_id);
    q.seq = seq;
    q.d.qos = mqtt::qos::at_least_once;
    q.d.retain = false;
    q.d.subscription_ids = {1, 99};
    q.d.msg = sample_message();
    return q;
}

inline inflight_record sample_inflight(std::string client_id = "client-1", std::uint64_t seq = 8) {
    inflight_record f;
    f.client_id = std::move(client_id);
    f.seq = seq;
    f.packet_id = 513;
    f.state = inflight_state::wait_pubrec;
    f.d.qos = mqtt::qos::exactly_once;
    f.d.retain = true;
    f.d.msg = sample_message("a/b");
    return f;
}

/// Everything load_all() visits, in visit order.
struct collector final : visitor {
    std::vector<session_record> sessions;
    std::vector<subscription_record> subscriptions;
    std::vector<queued_record> queued;
    std::vector<inflight_record> inflight;
    std::vector<qos2_in_record> qos2_in;
    std::vector<message_record> retained;
    std::vector<blob_record> blobs;

    void on_session(session_record&& r) override { sessions.push_back(std::move(r)); }

    void on_subscription(subscription_record&& r) override {
        subscriptions.push_back(std::move(r));
    }

    void on_queued(queued_record&& r) override { queued.push_back(std::move(r)); }

    void on_inflight(inflight_record&& r) override { inflight.push_back(std::move(r)); }

    void on_qos2_in(qos2_in_record&& r) override { qos2_in.push_back(std::move(r)); }

    void on_retained(message_record&& r) override { retained.push_back(std::move(r)); }

    void on_blob(blob_record&& r) override { blobs.push_back(std::move(r)); }

    std::size_t total() const {
        return sessions.size() + subscriptions.size() + queued.size() + inflight.size() +
               qos2_in.size() + retained.size() + blobs.size();
    }
};

} // namespace thinggate::persist::test
