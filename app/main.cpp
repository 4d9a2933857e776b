// thinggate: the gateway daemon. `thinggate [--config FILE]`; with no config, the embedded default.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <thread>

#include <boost/program_options.hpp>
#include <spdlog/spdlog.h>

#include "app/config.hpp"
#include "auth/dev_registry.hpp"
#include "auth/pki.hpp"
#include "auth/registry.hpp"
#include "auth/registry_file.hpp"
#include "broker/broker.hpp"
#include "core/log.hpp"
#include "persist/memory_store.hpp"
#include "persist/recovery.hpp"
#include "persist/rocksdb/rocksdb_store.hpp"
#include "transport/server.hpp"
#include "transport/shard_pool.hpp"
#include "transport/signals.hpp"

namespace po = boost::program_options;
using namespace thinggate;

namespace {

constexpr int exit_usage = 2;
constexpr int exit_startup = 1;

/// Creates the data dir (0700) and, when the config uses it, the development PKI inside it.
std::optional<auth::dev_pki> prepare_data_dir(const app::config& cfg) {
    std::filesystem::create_directories(cfg.data_dir);
    std::filesystem::permissions(cfg.data_dir, std::filesystem::perms::owner_all, std::filesystem::perm_options::replace);
    if (!cfg.dev_pki) {
        return std::nullopt;
    }
    auto pki = auth::ensure_dev_pki(cfg.data_dir, cfg.dev_thing);
    spdlog::info("development PKI in {} (device certificate {} for thing '{}') - for development only",
                 pki.ca_cert.parent_path().string(), pki.device_cert.filename().string(), cfg.dev_thing);
    return pki;
}

/// Applies the registry file; logs each change. Returns the error message, empty on success.
std::string apply_file(auth::registry& reg, const std::filesystem::path& file) {
    auto applied = auth::apply_registry_file(reg, file);
    if (!applied) {
        return applied.error().message;
    }
    for (const auto& change : applied->changes) {
        spdlog::info("registry file {}: {}", file.string(), change);
    }
    spdlog::info("registry file {} applied ({} change(s))", file.string(), applied->changes.size());
    return {};
}

/// Opens the identity registry on the store and brings it up to date with the dev PKI and the
/// registry file; nullptr (after logging why) when start-up must stop.
std::unique_ptr<auth::registry> open_registry(persist::store& st, const app::config& cfg,
                                              const std::optional<auth::dev_pki>& pki) {
    auto fail = [](const std::string& why) {
        spdlog::critical("{}", why);
        std::cerr << "thinggate: " << why << "\n";
        return std::unique_ptr<auth::registry>();
    };
    auto opened = auth::registry::open(st);
    if (!opened) {
        return fail("cannot open the identity registry: " + opened.error().message);
    }
    auto reg = std::move(*opened);
    if (pki) {
        auto dev = auth::ensure_dev_registry(*reg, *pki, cfg.dev_thing);
        if (!dev) {
            return fail("cannot register the development PKI: " + dev.error().message);
        }
        if (dev->changed) {
            spdlog::info("registry: development CA {}, certificate {} (thing '{}', policy '{}') registered",
                         dev->ca_id, dev->certificate_id, dev->thing, dev->policy);
        }
    }
    if (!cfg.registry_file.empty()) {
        if (auto error = apply_file(*reg, cfg.registry_file); !error.empty()) {
            return fail("registry file not applied: " + error);
        }
    }
    return reg;
}

/// Opens the store the config names; nullptr (after logging why) when it cannot be used.
std::unique_ptr<persist::store> open_store(const app::config& cfg) {
    if (cfg.persistence == app::persistence_backend::memory) {
        spdlog::warn("persistence = \"memory\": sessions and retained messages do not survive a restart");
        return std::make_unique<persist::memory_store>();
    }
    persist::rocksdb_options o;
    o.dir = cfg.data_dir / "db";
    {
        // A new database dir is created owner-only (sessions, messages and the registry live
        // there); an existing one is left as the operator set it.
        std::error_code ec;
        if (std::filesystem::create_directory(o.dir, ec)) {
            std::filesystem::permissions(o.dir, std::filesystem::perms::owner_all,
                                         std::filesystem::perm_options::replace, ec);
        }
    }
    o.min_free_bytes = cfg.min_free_disk_bytes;
    auto opened = persist::rocksdb_store::open(o);
    if (!opened) {
        spdlog::critical("{}", opened.error().message);
        std::cerr << "thinggate: " << opened.error().message << "\n";
        return nullptr;
    }
    spdlog::info("data dir {} (schema {}, durability {})", o.dir.string(), (*opened)->schema_version(),
                 persist::to_string(cfg.broker.persistence.durability));
    return std::move(*opened);
}

/// Purges what expired while the gateway was down, then loads the rest into the broker.
bool recover(persist::store& st, broker::broker& b, persist::durability d) {
    auto purged = persist::purge_expired(st, persist::wall_now(), d);
    if (!purged) {
        spdlog::critical("recovery failed: {}", st.describe(purged.error()));
        return false;
    }
    auto loaded = b.recover();
    if (!loaded) {
        spdlog::critical("recovery failed: {}", st.describe(loaded.error()));
        return false;
    }
    spdlog::info("recovered {} session(s), {} subscription(s), {} queued and {} in-flight message(s), "
                 "{} retained message(s), {} pending will(s); purged {} expired session(s), {} expired "
                 "message(s), {} orphan(s)",
                 loaded->sessions, loaded->subscriptions, loaded->queued, loaded->inflight, loaded->retained,
                 loaded->wills, purged->sessions, purged->queued_messages + purged->retained_messages,
                 purged->orphans);
    return true;
}

int run(const app::config& cfg) {
    core::init_logging(cfg.log_level);
    for (const auto& w : cfg.warnings) {
        spdlog::warn("{}", w);
    }
    const auto pki = prepare_data_dir(cfg);
    auto store = open_store(cfg);
    if (!store) {
        return exit_startup;
    }
    auto reg = open_registry(*store, cfg, pki);
    if (!reg) {
        return exit_startup;
    }

    const unsigned shards = cfg.shards != 0 ? cfg.shards : std::max(1u, std::thread::hardware_concurrency());
    transport::shard_pool pool(shards);
    broker::broker b(cfg.broker, pool, store.get());
    b.use_registry(*reg);
    if (!recover(*store, b, cfg.broker.persistence.durability)) {
        return exit_startup;
    }
    transport::server server(b, pool, cfg.listeners);
    transport::registry_auth_options auth;
    auth.account = cfg.broker.names.account;
    auth.publish = [&b](std::string topic, std::string payload) {
        b.publish_event(std::move(topic), std::move(payload));
    };
    server.use_registry(*reg, std::move(auth));
    pool.start();
    server.start();
    for (const auto& l : cfg.listeners) {
        // Stable format: tests and scripts read the port of a port-0 listener from this line.
        spdlog::info("listening name={} kind={} address={} port={}", l.name,
                     l.kind == transport::listener_kind::tls ? "tls" : "tcp", l.address, server.port(l.name));
    }
    b.start();
    // SIGHUP (on this thread, never a shard: registry updates wait for their commit): the
    // registry file again, the CRL files, then the TLS certificates.
    auto on_reload = [&cfg, &reg] {
        if (!cfg.registry_file.empty()) {
            if (auto error = apply_file(*reg, cfg.registry_file); !error.empty()) {
                spdlog::error("SIGHUP: registry file not applied, the registry is unchanged: {}", error);
            }
        }
        reg->reload();
        spdlog::info("SIGHUP: CRL files reloaded; reloading TLS certificates");
    };
    // "ready" only once the signal handlers are installed: a supervisor (or a test) that sends
    // SIGTERM as soon as it reads the line gets a graceful stop, not the default disposition.
    auto on_ready = [shards, &cfg] {
        spdlog::info("thinggate ready: {} shard(s), compat profile {}", shards,
                     cfg.broker.compat == broker::compat_profile::aws_iot ? "aws-iot" : "mqtt");
    };
    transport::run_until_signal(server, pool, on_reload, on_ready);
    // The shards have stopped: commit what they still held, then close the database (waits for
    // every queued commit).
    b.flush_after_stop();
    store->close();
    const auto st = b.stats();
    spdlog::info("thinggate stopped: messages in={} out={} dropped={} refused={} denied={}", st.messages_in,
                 st.messages_out, st.dropped, st.refused, st.denied);
    return EXIT_SUCCESS;
}

} // namespace

int main(int argc, char** argv) {
    po::options_description desc("Usage: thinggate [--config FILE]\n\nOptions");
    desc.add_options()
            ("help,h", "show this help")
            ("config,c", po::value<std::string>(), "TOML configuration file (docs/configuration.md); "
                                                   "without it the embedded default runs: data dir ./var, development PKI, "
                                                   "mutual TLS on 127.0.0.1:8883")
            ("check-config", "validate the configuration and exit");
    po::variables_map vm;
    try {
        po::store(po::parse_command_line(argc, argv, desc), vm);
        po::notify(vm);
    } catch (const po::error& e) {
        std::cerr << "thinggate: " << e.what() << "\n" << desc << "\n";
        return exit_usage;
    }
    if (vm.count("help") != 0) {
        std::cout << desc << "\n";
        return EXIT_SUCCESS;
    }
    app::config cfg;
    try {
        cfg = vm.count("config") != 0 ? app::load_config(vm["config"].as<std::string>()) : app::default_config();
    } catch (const app::config_error& e) {
        std::cerr << "thinggate: configuration error\n" << e.what() << "\n";
        return exit_usage;
    }
    if (vm.count("check-config") != 0) {
        std::cout << "configuration OK\n";
        return EXIT_SUCCESS;
    }
    try {
        return run(cfg);
    } catch (const std::exception& e) {
        spdlog::critical("start-up failed: {}", e.what());
        std::cerr << "thinggate: " << e.what() << "\n";
        return exit_startup;
    }
}
