#include "app/config.hpp"

#include <cstdio>
#include <fstream>
#include <string>

#include <doctest/doctest.h>

#include <unistd.h>

using namespace thinggate;
using app::config;
using app::config_error;
using app::parse_config;

namespace {

/// The config_error message for text, or "" when it parses.
std::string error_of(std::string_view text) {
    try {
        parse_config(text, "thinggate.toml");
    } catch (const config_error& e) {
        return e.what();
    }
    return {};
}

bool contains(const std::string& haystack, std::string_view needle) {
    return haystack.find(needle) != std::string::npos;
}

void check_limits_equal(const broker::limits& a, const broker::limits& b) {
    CHECK(a.max_packet_size == b.max_packet_size);
    CHECK(a.receive_maximum == b.receive_maximum);
    CHECK(a.max_inflight_out == b.max_inflight_out);
    CHECK(a.max_queued_messages == b.max_queued_messages);
    CHECK(a.max_queued_bytes == b.max_queued_bytes);
    CHECK(a.max_subscriptions == b.max_subscriptions);
    CHECK(a.max_filters_per_subscribe == b.max_filters_per_subscribe);
    CHECK(a.max_topic_length == b.max_topic_length);
    CHECK(a.max_topic_levels == b.max_topic_levels);
    CHECK(a.max_client_id_length == b.max_client_id_length);
    CHECK(a.max_connections == b.max_connections);
    CHECK(a.outbound_budget_bytes == b.outbound_budget_bytes);
    CHECK(a.slow_consumer == b.slow_consumer);
    CHECK(a.max_keep_alive == b.max_keep_alive);
    CHECK(a.min_keep_alive == b.min_keep_alive);
    CHECK(a.topic_alias_maximum == b.topic_alias_maximum);
    CHECK(a.max_session_expiry == b.max_session_expiry);
    CHECK(a.max_message_expiry == b.max_message_expiry);
    CHECK(a.max_publish_rate == b.max_publish_rate);
    CHECK(a.max_publish_bytes_rate == b.max_publish_bytes_rate);
    CHECK(a.min_connect_interval_ms == b.min_connect_interval_ms);
    CHECK(a.maximum_qos == b.maximum_qos);
    CHECK(a.retain_available == b.retain_available);
    CHECK(a.wildcard_subscriptions == b.wildcard_subscriptions);
    CHECK(a.shared_subscriptions == b.shared_subscriptions);
    CHECK(a.subscription_identifiers == b.subscription_identifiers);
}

void check_listener_equal(
        const transport::listener_config& a, const transport::listener_config& b) {
    CHECK(a.name == b.name);
    CHECK(a.kind == b.kind);
    CHECK(a.address == b.address);
    CHECK(a.port == b.port);
    CHECK(a.client_auth == b.client_auth);
    CHECK(a.ca_file == b.ca_file);
    CHECK(a.cert_file == b.cert_file);
    CHECK(a.key_file == b.key_file);
    CHECK(a.min_tls == b.min_tls);
    CHECK(a.alpn == b.alpn);
    CHECK(a.record_layer == b.record_layer);
}

/// A fresh directory under the system temp dir, removed at scope exit.
struct temp_dir {
    std::filesystem::path path;

    temp_dir() {
        static int counter = 0;
        path = std::filesystem::temp_directory_path() /
               ("thinggate-config-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(counter++));
        std::filesystem::create_directories(path);
    }

    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }

    void write(const std::filesystem::path& name, std::string_view text) const {
        std::ofstream out(path / name, std::ios::binary);
        out << text;
    }
};

} // namespace

TEST_CASE("default_config: ./var, dev PKI, one mTLS listener on 127.0.0.1:8883") {
    const config cfg = app::default_config();
    CHECK(cfg.log_level == "info");
    CHECK(cfg.shards == 0);
    CHECK(cfg.data_dir == std::filesystem::path("./var"));
    CHECK(cfg.dev_pki);
    CHECK(cfg.dev_thing == "demo-thing");
    CHECK(cfg.warnings.empty());
    CHECK(cfg.broker.compat == broker::compat_profile::mqtt);
    CHECK(cfg.broker.assigned_id_prefix == "auto-");
    check_limits_equal(cfg.broker.lim, broker::limits{});
    REQUIRE(cfg.listeners.size() == 1);
    const auto& l = cfg.listeners[0];
    CHECK(l.name == "mtls");
    CHECK(l.kind == transport::listener_kind::tls);
    CHECK(l.address == "127.0.0.1");
    CHECK(l.port == 8883);
    CHECK(l.client_auth == transport::client_auth_mode::registry); // the dev CA is registered
    CHECK(l.ca_file.empty());
    CHECK(l.cert_file == "./var/pki/server.pem");
    CHECK(l.key_file == "./var/pki/server.key");
    CHECK(l.min_tls == transport::tls_version::tls1_2);
    CHECK(l.alpn.empty());
    CHECK(l.record_layer == transport::tls_record_layer::builtin);
    CHECK(app::dev_pki_dir(cfg.data_dir) == std::filesystem::path("./var/pki"));
}

TEST_CASE("an empty file gives the embedded default") {
    const config parsed = parse_config("", "empty.toml");
    const config def = app::default_config();
    CHECK(parsed.log_level == def.log_level);
    CHECK(parsed.shards == def.shards);
    CHECK(parsed.data_dir == def.data_dir);
    CHECK(parsed.dev_pki == def.dev_pki);
    CHECK(parsed.dev_thing == def.dev_thing);
    CHECK(parsed.broker.compat == def.broker.compat);
    check_limits_equal(parsed.broker.lim, def.broker.lim);
    REQUIRE(parsed.listeners.size() == 1);
    check_listener_equal(parsed.listeners[0], def.listeners[0]);
}

TEST_CASE("a full file round-trips into the expected struct") {
    const std::string text = R"(
log_level = "debug"
shards = 4
data_dir = "/srv/thinggate"
compat = "mqtt"
assigned_id_prefix = "gw-"

[limits]
max_packet_size = 65536
receive_maximum = 200
max_inflight_out = 300
max_queued_messages = 5000
max_queued_bytes = 1048576
max_subscriptions = 0
max_filters_per_subscribe = 16
max_topic_length = 1024
max_topic_levels = 12
max_client_id_length = 64
max_connections = 500
outbound_budget_bytes = 2097152
slow_consumer = "drop-qos0"
max_keep_alive = 600
min_keep_alive = 10
topic_alias_maximum = 0
max_session_expiry = 86400
max_message_expiry = 3600
max_publish_rate = 50
max_publish_bytes_rate = 100000
min_connect_interval_ms = 250
maximum_qos = 1
retain_available = false
wildcard_subscriptions = false
shared_subscriptions = false
subscription_identifiers = false

[dev]
pki = false
thing = "bench-thing-1"

[[listener]]
name = "public-mtls"
type = "tls"
address = "::"
port = 8883
client_auth = "ca-file"
ca_file = "/etc/tg/ca.pem"
cert_file = "/etc/tg/server.pem"
key_file = "/etc/tg/server.key"
min_tls = "1.3"
alpn = ["x-amzn-mqtt-ca", "mqtt"]
handshake_timeout_ms = 2500
session_cache_size = 100
session_lifetime_s = 60
tls_record_layer = "openssl"

[[listener]]
name = "local"
type = "tcp"
address = "127.0.0.1"
port = 1884
)";
    const config cfg = parse_config(text, "full.toml");
    CHECK(cfg.log_level == "debug");
    CHECK(cfg.shards == 4);
    CHECK(cfg.data_dir == std::filesystem::path("/srv/thinggate"));
    CHECK(cfg.broker.compat == broker::compat_profile::mqtt);
    CHECK(cfg.broker.assigned_id_prefix == "gw-");
    CHECK_FALSE(cfg.dev_pki);
    CHECK(cfg.dev_thing == "bench-thing-1");
    CHECK(cfg.warnings.empty());

    broker::limits want;
    want.max_packet_size = 65536;
    want.receive_maximum = 200;
    want.max_inflight_out = 300;
    want.max_queued_messages = 5000;
    want.max_queued_bytes = 1048576;
    want.max_subscriptions = 0;
    want.max_filters_per_subscribe = 16;
    want.max_topic_length = 1024;
    want.max_topic_levels = 12;
    want.max_client_id_length = 64;
    want.max_connections = 500;
    want.outbound_budget_bytes = 2097152;
    want.slow_consumer = broker::slow_consumer_policy::drop_qos0;
    want.max_keep_alive = 600;
    want.min_keep_alive = 10;
    want.topic_alias_maximum = 0;
    want.max_session_expiry = 86400;
    want.max_message_expiry = 3600;
    want.max_publish_rate = 50;
    want.max_publish_bytes_rate = 100000;
    want.min_connect_interval_ms = 250;
    want.maximum_qos = mqtt::qos::at_least_once;
    want.retain_available = false;
    want.wildcard_subscriptions = false;
    want.shared_subscriptions = false;
    want.subscription_identifiers = false;
    check_limits_equal(cfg.broker.lim, want);

    REQUIRE(cfg.listeners.size() == 2);
    transport::listener_config tls;
    tls.name = "public-mtls";
    tls.kind = transport::listener_kind::tls;
    tls.address = "::";
    tls.port = 8883;
    tls.client_auth = transport::client_auth_mode::ca_file;
    tls.ca_file = "/etc/tg/ca.pem";
    tls.cert_file = "/etc/tg/server.pem";
    tls.key_file = "/etc/tg/server.key";
    tls.min_tls = transport::tls_version::tls1_3;
    tls.alpn = {"x-amzn-mqtt-ca", "mqtt"};
    tls.handshake_timeout_ms = 2500;
    tls.session_cache_size = 100;
    tls.session_lifetime_s = 60;
    tls.record_layer = transport::tls_record_layer::openssl;
    check_listener_equal(cfg.listeners[0], tls);
    CHECK(cfg.listeners[0].handshake_timeout_ms == 2500);
    CHECK(cfg.listeners[0].session_cache_size == 100);
    CHECK(cfg.listeners[0].session_lifetime_s == 60);

    transport::listener_config tcp;
    tcp.name = "local";
    tcp.kind = transport::listener_kind::tcp;
    tcp.address = "127.0.0.1";
    tcp.port = 1884;
    tcp.ca_file.clear();
    tcp.cert_file.clear();
    tcp.key_file.clear();
    check_listener_equal(cfg.listeners[1], tcp);
}

TEST_CASE("[server] holds the same keys as the top level") {
    const config cfg = parse_config(
            R"(
[server]
log_level = "warn"
shards = 2
data_dir = "/data"
compat = "aws-iot"
)",
            "server.toml");
    CHECK(cfg.log_level == "warn");
    CHECK(cfg.shards == 2);
    CHECK(cfg.data_dir == std::filesystem::path("/data"));
    CHECK(cfg.broker.compat == broker::compat_profile::aws_iot);
    REQUIRE(cfg.listeners.size() == 1);
    CHECK(cfg.listeners[0].cert_file == "/data/pki/server.pem");
}

TEST_CASE("listener defaults: type tls, 127.0.0.1, port 8883 (tls) or 1883 (tcp), dev PKI files") {
    const config cfg = parse_config(
            R"(
data_dir = "/d"
[[listener]]
name = "a"
[[listener]]
name = "b"
type = "tcp"
)",
            "l.toml");
    REQUIRE(cfg.listeners.size() == 2);
    CHECK(cfg.listeners[0].kind == transport::listener_kind::tls);
    CHECK(cfg.listeners[0].address == "127.0.0.1");
    CHECK(cfg.listeners[0].port == 8883);
    CHECK(cfg.listeners[0].client_auth == transport::client_auth_mode::registry);
    CHECK(cfg.listeners[0].ca_file.empty());
    CHECK(cfg.listeners[0].cert_file == "/d/pki/server.pem");
    CHECK(cfg.listeners[0].key_file == "/d/pki/server.key");
    CHECK(cfg.listeners[1].kind == transport::listener_kind::tcp);
    CHECK(cfg.listeners[1].port == 1883);
    CHECK(cfg.listeners[1].ca_file.empty());
}

TEST_CASE("compat aws-iot starts from aws_iot_limits()") {
    const config cfg = parse_config("compat = \"aws-iot\"\n", "aws.toml");
    CHECK(cfg.broker.compat == broker::compat_profile::aws_iot);
    check_limits_equal(cfg.broker.lim, broker::aws_iot_limits());
    CHECK(cfg.broker.lim.maximum_qos == mqtt::qos::at_least_once);
    CHECK(cfg.broker.lim.max_packet_size == 128 * 1024);
}

TEST_CASE("explicit [limits] keys override the profile, whatever their place in the file") {
    // [limits] comes before [server] in the file; the profile still applies first.
    const config cfg = parse_config(
            R"(
[limits]
maximum_qos = 2
max_subscriptions = 500
subscription_identifiers = true

[server]
compat = "aws-iot"
)",
            "aws.toml");
    broker::limits want = broker::aws_iot_limits();
    want.maximum_qos = mqtt::qos::exactly_once;
    want.max_subscriptions = 500;
    want.subscription_identifiers = true;
    check_limits_equal(cfg.broker.lim, want);
}

TEST_CASE("compat mqtt keeps the standard limits; [limits] overrides them") {
    const config cfg =
            parse_config("compat = \"mqtt\"\n[limits]\nmax_topic_levels = 9\n", "m.toml");
    broker::limits want;
    want.max_topic_levels = 9;
    check_limits_equal(cfg.broker.lim, want);
}

TEST_CASE("relative paths resolve against the base directory; absolute ones stay") {
    const config cfg = parse_config(
            R"(
data_dir = "state"
[[listener]]
name = "own"
port = 8884
client_auth = "ca-file"
ca_file = "certs/ca.pem"
cert_file = "../shared/server.pem"
key_file = "/abs/server.key"
[[listener]]
name = "dev"
client_auth = "ca-file"
)",
            "rel.toml",
            "/etc/thinggate");
    CHECK(cfg.data_dir == std::filesystem::path("/etc/thinggate/state"));
    REQUIRE(cfg.listeners.size() == 2);
    CHECK(cfg.listeners[0].ca_file == "/etc/thinggate/certs/ca.pem");
    CHECK(cfg.listeners[0].cert_file == "/etc/shared/server.pem");
    CHECK(cfg.listeners[0].key_file == "/abs/server.key");
    // Dev PKI defaults follow the resolved data_dir.
    CHECK(cfg.listeners[1].ca_file == "/etc/thinggate/state/pki/ca.pem");
}

TEST_CASE("without a base directory relative paths stay relative") {
    const config cfg = parse_config("data_dir = \"state\"\n", "rel.toml");
    CHECK(cfg.data_dir == std::filesystem::path("state"));
    CHECK(cfg.listeners.at(0).key_file == "state/pki/server.key");
}

TEST_CASE("load_config resolves against the file's directory and names the file in errors") {
    temp_dir dir;
    dir.write(
            "tg.toml",
            "data_dir = \"var\"\nregistry_file = \"reg.json\"\n[[listener]]\nname = \"x\"\n"
            "client_auth = \"ca-file\"\nca_file = \"ca.pem\"\n");
    const config cfg = app::load_config(dir.path / "tg.toml");
    CHECK(cfg.data_dir == dir.path / "var");
    CHECK(cfg.listeners.at(0).ca_file == (dir.path / "ca.pem").string());
    CHECK(cfg.registry_file == dir.path / "reg.json");

    dir.write("bad.toml", "\n\nshards = -1\n");
    const std::filesystem::path bad = dir.path / "bad.toml";
    std::string msg;
    try {
        app::load_config(bad);
    } catch (const config_error& e) {
        msg = e.what();
    }
    CHECK(contains(msg, bad.string() + ":3:1: shards: must be between 0 and 1024, got -1"));
}

TEST_CASE("load_config: a missing file is a config_error naming it") {
    temp_dir dir;
    const auto missing = dir.path / "nope.toml";
    std::string msg;
    try {
        app::load_config(missing);
    } catch (const config_error& e) {
        msg = e.what();
    }
    CHECK(contains(msg, missing.string() + ": cannot read: No such file or directory"));
    CHECK_THROWS_AS(app::load_config(dir.path), config_error);
}

TEST_CASE("rejects: out-of-range values with file, line:column and key path") {
    CHECK(contains(
            error_of("\n\n[limits]\n\n\n\n\n\n\n\n\nmax_packet_size = 0\n"),
            "thinggate.toml:12:1: [limits].max_packet_size: must be between 16 and "
            "268435460, got 0"));
    CHECK(contains(
            error_of("[limits]\nreceive_maximum = 0\n"),
            "thinggate.toml:2:1: [limits].receive_maximum: must be between 1 and 65535, "
            "got 0"));
    CHECK(contains(
            error_of("[limits]\nreceive_maximum = 65536\n"),
            "thinggate.toml:2:1: [limits].receive_maximum: must be between 1 and 65535"));
    CHECK(contains(
            error_of("[limits]\ntopic_alias_maximum = 70000\n"),
            "thinggate.toml:2:1: [limits].topic_alias_maximum: must be between 0 and "
            "65535, got 70000"));
    CHECK(contains(
            error_of("[limits]\nmaximum_qos = 3\n"),
            "thinggate.toml:2:1: [limits].maximum_qos: must be between 0 and 2, got 3"));
    CHECK(contains(
            error_of("[limits]\nmax_session_expiry = 4294967296\n"),
            "[limits].max_session_expiry: must be between 0 and 4294967295"));
    CHECK(contains(
            error_of("shards = 5000\n"),
            "thinggate.toml:1:1: shards: must be between 0 and 1024, got 5000"));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\nport = 65536\n"),
            "thinggate.toml:3:1: [[listener]][0].port: must be between 0 and 65535, "
            "got 65536"));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\nport = -1\n"),
            "thinggate.toml:3:1: [[listener]][0].port: must be between 0 and 65535, got -1"));
}

TEST_CASE("rejects: max_client_id_length below 23 [MQTT-3.1.3-5]") {
    CHECK(contains(
            error_of("[limits]\nmax_client_id_length = 22\n"),
            "thinggate.toml:2:1: [limits].max_client_id_length: must be between 23 and "
            "65535, got 22"));
}

TEST_CASE("rejects: inconsistent limits") {
    CHECK(contains(
            error_of("[limits]\nmin_keep_alive = 100\nmax_keep_alive = 60\n"),
            "thinggate.toml:2:1: [limits].min_keep_alive: min_keep_alive (100) must not "
            "exceed max_keep_alive (60)"));
    // aws-iot clamps keep-alive to 30..1200: lowering the maximum below 30 conflicts.
    CHECK(contains(
            error_of("compat = \"aws-iot\"\n[limits]\nmax_keep_alive = 20\n"),
            "thinggate.toml:3:1: [limits].max_keep_alive: min_keep_alive (30) must not "
            "exceed max_keep_alive (20)"));
    CHECK(contains(
            error_of("[limits]\noutbound_budget_bytes = 1000\n"),
            "thinggate.toml:2:1: [limits].outbound_budget_bytes: outbound_budget_bytes "
            "(1000) must be at least max_packet_size (1048576)"));
}

TEST_CASE("rejects: wrong types") {
    CHECK(contains(
            error_of("shards = \"4\"\n"),
            "thinggate.toml:1:1: shards: expected an integer, got a string"));
    CHECK(contains(
            error_of("[limits]\nmax_packet_size = 1.5\n"),
            "thinggate.toml:2:1: [limits].max_packet_size: expected an integer, got a "
            "floating-point number"));
    CHECK(contains(
            error_of("[limits]\nretain_available = \"yes\"\n"),
            "thinggate.toml:2:1: [limits].retain_available: expected a boolean (true or "
            "false), got a string"));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\nhandshake_timeout_ms = 50\n"),
            "thinggate.toml:3:1: [[listener]][0].handshake_timeout_ms: must be between 100 and 120000, got 50"));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\ntype = \"tls\"\nsession_lifetime_s = 0\n"),
            "[[listener]][0].session_lifetime_s: must be between 1 and 86400, got 0"));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\ntype = \"tcp\"\nsession_cache_size = 10\n"),
            "session_cache_size: only applies to a listener with type = \"tls\""));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\nmin_tls = 1.2\n"),
            "thinggate.toml:3:1: [[listener]][0].min_tls: expected a string (\"1.2\", "
            "\"1.3\"), got a floating-point number"));
    CHECK(contains(
            error_of("limits = 5\n"),
            "thinggate.toml:1:1: limits: expected a table ([limits]), got an integer"));
    CHECK(contains(
            error_of("[listener]\nname = \"a\"\n"),
            "thinggate.toml:1:2: listener: expected one or more [[listener]] tables, got "
            "a table"));
    CHECK(contains(
            error_of("listener = []\n"),
            "listener: expected one or more [[listener]] tables, got an empty array"));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\nalpn = \"mqtt\"\n"),
            "thinggate.toml:3:1: [[listener]][0].alpn: expected an array of strings, got "
            "a string"));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\nalpn = [\"mqtt\", 1]\n"),
            "thinggate.toml:3:17: [[listener]][0].alpn[1]: expected a string, got an "
            "integer"));
}

TEST_CASE("rejects: unknown keys and sections, suggesting a close known key") {
    CHECK(contains(
            error_of("lg_level = \"info\"\n"),
            "thinggate.toml:1:1: lg_level: unknown key (did you mean 'log_level'?)"));
    CHECK(contains(
            error_of("\n[limts]\nmax_packet_size = 10\n"),
            "thinggate.toml:2:2: limts: unknown section (did you mean 'limits'?)"));
    CHECK(contains(
            error_of("[limits]\nmax_pakcet_size = 100\n"),
            "thinggate.toml:2:1: [limits].max_pakcet_size: unknown key (did you mean "
            "'max_packet_size'?)"));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\nprot = 1\n"),
            "thinggate.toml:3:1: [[listener]][0].prot: unknown key (did you mean "
            "'port'?)"));
    CHECK(contains(
            error_of("[dev]\npkk = true\n"),
            "thinggate.toml:2:1: [dev].pkk: unknown key (did you mean 'pki'?)"));
    CHECK(contains(
            error_of("[server]\ncompatibility = \"mqtt\"\n"),
            "thinggate.toml:2:1: [server].compatibility: unknown key"));
    // Nothing within edit distance 2: no suggestion.
    const std::string far = error_of("[limits]\nfrobnicate = 1\n");
    CHECK(contains(far, "thinggate.toml:2:1: [limits].frobnicate: unknown key"));
    CHECK_FALSE(contains(far, "did you mean"));
    CHECK(contains(error_of("[[bridge]]\nx = 1\n"), "thinggate.toml:1:3: bridge: unknown section"));
}

TEST_CASE("rejects: a key set both at the top level and in [server]") {
    CHECK(contains(
            error_of("shards = 2\n[server]\nshards = 3\n"),
            "thinggate.toml:3:1: [server].shards: also set at the top level (line 1)"));
}

TEST_CASE("rejects: bad enumerations") {
    CHECK(contains(
            error_of("compat = \"aws\"\n"),
            "thinggate.toml:1:1: compat: must be one of \"mqtt\", \"aws-iot\", got "
            "\"aws\""));
    CHECK(contains(
            error_of("log_level = \"verbose\"\n"),
            "thinggate.toml:1:1: log_level: must be one of \"trace\", \"debug\""));
    CHECK(contains(
            error_of("[limits]\nslow_consumer = \"drop\"\n"),
            "thinggate.toml:2:1: [limits].slow_consumer: must be one of \"disconnect\", "
            "\"drop-qos0\", got \"drop\""));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\ntype = \"ws\"\n"),
            "thinggate.toml:3:1: [[listener]][0].type: must be one of \"tls\", \"tcp\""));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\nmin_tls = \"1.1\"\n"),
            "thinggate.toml:3:1: [[listener]][0].min_tls: must be one of \"1.2\", \"1.3\", "
            "got \"1.1\""));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\ntls_record_layer = \"ktls\"\n"),
            "thinggate.toml:3:1: [[listener]][0].tls_record_layer: must be one of \"builtin\", "
            "\"openssl\", got \"ktls\""));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\ntype = \"tcp\"\ntls_record_layer = "
                     "\"openssl\"\n"),
            "tls_record_layer: only applies to a listener with type = \"tls\""));
}

TEST_CASE("rejects: duplicate listener names") {
    const std::string msg = error_of(R"([[listener]]
name = "a"
port = 1
[[listener]]
name = "a"
port = 2
)");
    CHECK(contains(
            msg,
            "thinggate.toml:5:1: [[listener]][1].name: duplicate listener name \"a\" "
            "(also [[listener]][0], line 2)"));
}

TEST_CASE("rejects: two listeners on the same address and port") {
    const std::string msg = error_of(R"([[listener]]
name = "a"
address = "::1"
port = 8883
[[listener]]
name = "b"
address = "0:0:0:0:0:0:0:1"
port = 8883
)");
    CHECK(contains(
            msg,
            "thinggate.toml:8:1: [[listener]][1].port: 0:0:0:0:0:0:0:1:8883 collides "
            "with listener \"a\" on ::1:8883"));
    // The wildcard of a family collides with every address of that family.
    CHECK(contains(
            error_of(R"([[listener]]
name = "a"
address = "0.0.0.0"
[[listener]]
name = "b"
address = "127.0.0.1"
)"),
            "[[listener]][1].port: 127.0.0.1:8883 collides with listener \"a\" on "
            "0.0.0.0:8883"));
    // Defaults collide too (both 127.0.0.1:8883); the position is the table.
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\n[[listener]]\nname = \"b\"\n"),
            "thinggate.toml:3:1: [[listener]][1].port: 127.0.0.1:8883 collides"));
}

TEST_CASE("accepts: port 0 twice, different ports, and different families") {
    CHECK(error_of(R"([[listener]]
name = "a"
port = 0
[[listener]]
name = "b"
port = 0
[[listener]]
name = "c"
address = "::1"
[[listener]]
name = "d"
port = 8884
)") == "");
}

TEST_CASE("rejects: plain TCP on a non-loopback address unless allow_public = true") {
    CHECK(contains(
            error_of("[[listener]]\nname = \"t\"\ntype = \"tcp\"\naddress = \"0.0.0.0\"\n"),
            "thinggate.toml:4:1: [[listener]][0].address: plain TCP on non-loopback "
            "address \"0.0.0.0\""));
    CHECK(contains(
            error_of("[[listener]]\nname = \"t\"\ntype = \"tcp\"\naddress = \"::\"\n"),
            "allow_public = true"));

    const config cfg = parse_config(
            "[[listener]]\nname = \"t\"\ntype = \"tcp\"\naddress = \"0.0.0.0\"\nallow_public = "
            "true\n",
            "pub.toml");
    REQUIRE(cfg.listeners.size() == 1);
    CHECK(cfg.listeners[0].address == "0.0.0.0");
    REQUIRE(cfg.warnings.size() == 1);
    CHECK(contains(cfg.warnings[0], "listener \"t\": plain TCP"));

    // Loopback in either family, including IPv4-mapped, needs no opt-in.
    CHECK(error_of("[[listener]]\nname = \"t\"\ntype = \"tcp\"\naddress = \"127.0.0.2\"\n") == "");
    CHECK(error_of("[[listener]]\nname = \"t\"\ntype = \"tcp\"\naddress = \"::1\"\n") == "");
    CHECK(error_of(
                  "[[listener]]\nname = \"t\"\ntype = \"tcp\"\naddress = \"::ffff:127.0.0.1\"\n") ==
          "");
}

TEST_CASE("rejects: TLS-only keys on a tcp listener and allow_public on a tls listener") {
    CHECK(contains(
            error_of("[[listener]]\nname = \"t\"\ntype = \"tcp\"\nca_file = \"x\"\n"),
            "thinggate.toml:4:1: [[listener]][0].ca_file: only applies to a listener "
            "with type = \"tls\""));
    CHECK(contains(
            error_of("[[listener]]\nname = \"t\"\nallow_public = true\n"),
            "thinggate.toml:3:1: [[listener]][0].allow_public: only applies to a listener "
            "with type = \"tcp\""));
}

TEST_CASE("rejects: a TLS listener without files when the dev PKI is off") {
    const std::string msg = error_of(
            "[dev]\npki = false\n\n[[listener]]\nname = \"m\"\nclient_auth = \"ca-file\"\n");
    CHECK(contains(msg, "thinggate.toml:4:1: [[listener]][0].ca_file: missing"));
    CHECK(contains(msg, "thinggate.toml:4:1: [[listener]][0].cert_file: missing"));
    CHECK(contains(msg, "thinggate.toml:4:1: [[listener]][0].key_file: missing"));
    // No listener at all: the default one needs the dev PKI.
    CHECK(contains(
            error_of("[dev]\npki = false\n"),
            "thinggate.toml: [[listener]]: none given; the default listener \"mtls\" "
            "needs [dev].pki = true"));
    // With all three files it is fine.
    const config cfg = parse_config(
            R"([dev]
pki = false
[[listener]]
name = "m"
client_auth = "ca-file"
ca_file = "/c"
cert_file = "/s"
key_file = "/k"
)",
            "ok.toml");
    CHECK(cfg.listeners.at(0).key_file == "/k");
    // With the registry (the default) the CA file is not needed.
    const config reg = parse_config(
            "[dev]\npki = false\n[[listener]]\nname = \"m\"\ncert_file = \"/s\"\n"
            "key_file = \"/k\"\n",
            "reg.toml");
    CHECK(reg.listeners.at(0).client_auth == transport::client_auth_mode::registry);
}

TEST_CASE("client_auth: \"registry\" (default) or \"ca-file\"; ca_file only with ca-file") {
    CHECK(contains(
            error_of("[[listener]]\nname = \"m\"\nca_file = \"/c\"\n"),
            "thinggate.toml:3:1: [[listener]][0].ca_file: only applies with client_auth = "
            "\"ca-file\""));
    CHECK(contains(
            error_of("[[listener]]\nname = \"m\"\nclient_auth = \"none\"\n"),
            "thinggate.toml:3:1: [[listener]][0].client_auth: must be one of \"registry\", "
            "\"ca-file\", got \"none\""));
    CHECK(contains(
            error_of("[[listener]]\nname = \"m\"\ntype = \"tcp\"\nclient_auth = \"registry\"\n"),
            "[[listener]][0].client_auth: only applies to a listener with type = \"tls\""));
    // ca-file with the dev PKI on: the dev CA is the default bundle.
    const config cfg = parse_config(
            "data_dir = \"/d\"\n[[listener]]\nname = \"m\"\nclient_auth = \"ca-file\"\n", "c.toml");
    CHECK(cfg.listeners.at(0).client_auth == transport::client_auth_mode::ca_file);
    CHECK(cfg.listeners.at(0).ca_file == "/d/pki/ca.pem");
}

TEST_CASE("identity keys: registry_file, region, account, allow_wildcard_client_ids") {
    {
        const config cfg = parse_config("", "d.toml");
        CHECK(cfg.registry_file.empty());
        CHECK(cfg.broker.names.region == "local");
        CHECK(cfg.broker.names.account == "000000000000");
        CHECK(cfg.broker.refuse_wildcard_client_ids);
        CHECK(cfg.broker.lifecycle_events);
        CHECK_FALSE(parse_config("lifecycle_events = false\n", "l.toml").broker.lifecycle_events);
    }
    {
        const config cfg = parse_config(
                "registry_file = \"reg/registry.json\"\n[server]\nregion = \"eu-west-1\"\n"
                "account = \"123456789012\"\nallow_wildcard_client_ids = true\n",
                "i.toml",
                "/etc/tg");
        CHECK(cfg.registry_file == std::filesystem::path("/etc/tg/reg/registry.json"));
        CHECK(cfg.broker.names.region == "eu-west-1");
        CHECK(cfg.broker.names.account == "123456789012");
        CHECK_FALSE(cfg.broker.refuse_wildcard_client_ids);
    }
    CHECK(contains(
            error_of("account = 123456789012\n"),
            "thinggate.toml:1:1: account: expected a string of 12 digits (\"000000000000\"), got "
            "an integer"));
    CHECK(contains(
            error_of("account = \"12345\"\n"),
            "thinggate.toml:1:1: account: must be exactly 12 digits, got \"12345\""));
    CHECK(contains(
            error_of("region = \"eu:west\"\n"),
            "thinggate.toml:1:1: region: must be 1 to 64 characters from a-z 0-9 -"));
    CHECK(contains(error_of("region = \"\"\n"), "region: must be 1 to 64 characters"));
    CHECK(contains(
            error_of("registry_file = \"\"\n"),
            "thinggate.toml:1:1: registry_file: must not be empty"));
    CHECK(contains(
            error_of("allow_wildcard_client_ids = \"yes\"\n"),
            "allow_wildcard_client_ids: expected a boolean"));
    CHECK(contains(
            error_of("account = \"000000000001\"\n[server]\naccount = \"000000000002\"\n"),
            "[server].account: also set at the top level"));
}

TEST_CASE("rejects: cert_file without key_file") {
    CHECK(contains(
            error_of("[[listener]]\nname = \"m\"\ncert_file = \"s.pem\"\n"),
            "thinggate.toml:3:1: [[listener]][0].cert_file: cert_file and key_file must "
            "be given together"));
}

TEST_CASE("rejects: listener names and addresses that are not usable") {
    CHECK(contains(
            error_of("[[listener]]\nport = 1\n"),
            "thinggate.toml:1:1: [[listener]][0].name: missing"));
    CHECK(contains(
            error_of("[[listener]]\nname = \"\"\n"),
            "thinggate.toml:2:1: [[listener]][0].name: must be 1 to 64 characters"));
    CHECK(contains(
            error_of("[[listener]]\nname = \"a\"\naddress = \"localhost\"\n"),
            "thinggate.toml:3:1: [[listener]][0].address: must be an IPv4 or IPv6 literal"));
}

TEST_CASE("rejects: an empty data_dir, a bad dev thing name, a bad assigned id prefix") {
    CHECK(contains(
            error_of("data_dir = \"\"\n"), "thinggate.toml:1:1: data_dir: must not be empty"));
    CHECK(contains(
            error_of("[dev]\nthing = \"a/b\"\n"),
            "thinggate.toml:2:1: [dev].thing: must be 1 to 128 characters"));
    CHECK(contains(
            error_of("assigned_id_prefix = \"a+\"\n"),
            "thinggate.toml:1:1: assigned_id_prefix: must be at most 64 characters"));
}

TEST_CASE("rejects: an unparsable file with the parser's position") {
    const std::string msg = error_of("shards = 1\nlog_level = \"info\n");
    CHECK(contains(msg, "thinggate.toml:2:"));
    CHECK(contains(msg, "invalid TOML: "));
    CHECK(contains(
            error_of("[limits]\nmax_packet_size = 1\nmax_packet_size = 2\n"), "thinggate.toml:3:"));
}

TEST_CASE("every problem is reported, in file order, one per line") {
    try {
        parse_config("shards = -1\n[limits]\nmaximum_qos = 9\n[dev]\nfoo = 1\n", "m.toml");
        FAIL("expected a config_error");
    } catch (const config_error& e) {
        REQUIRE(e.problems().size() == 3);
        CHECK(contains(e.problems()[0], "m.toml:1:1: shards"));
        CHECK(contains(e.problems()[1], "m.toml:3:1: [limits].maximum_qos"));
        CHECK(contains(e.problems()[2], "m.toml:5:1: [dev].foo: unknown key"));
        CHECK(std::string(e.what()) ==
              e.problems()[0] + "\n" + e.problems()[1] + "\n" + e.problems()[2]);
    }
}

TEST_CASE("a dev PKI listener on a public address is accepted with a warning") {
    const config cfg =
            parse_config("[[listener]]\nname = \"m\"\naddress = \"0.0.0.0\"\n", "w.toml");
    REQUIRE(cfg.warnings.size() == 1);
    CHECK(contains(cfg.warnings[0], "development PKI"));
}

#ifdef THINGGATE_SOURCE_DIR
TEST_CASE("the example configs in configs/ parse") {
    const std::filesystem::path dir = std::filesystem::path(THINGGATE_SOURCE_DIR) / "configs";

    const config full = app::load_config(dir / "thinggate.toml");
    CHECK_FALSE(full.listeners.empty());
    CHECK(full.warnings.empty());

    const config dev = app::load_config(dir / "dev-tcp.toml");
    REQUIRE(dev.listeners.size() == 2);
    bool has_tcp = false;
    bool has_tls = false;
    for (const auto& l : dev.listeners) {
        if (l.kind == transport::listener_kind::tcp) {
            has_tcp = true;
            CHECK(l.address == "127.0.0.1");
            CHECK(l.port == 1883);
        } else {
            has_tls = true;
        }
    }
    CHECK(has_tcp);
    CHECK(has_tls);
    CHECK(dev.dev_pki);
    CHECK(dev.warnings.empty());
}
#endif
