// Start-up errors of the daemon: the exit code and a message that names the problem.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include "daemon.hpp"

using namespace thinggate::integration;

TEST_CASE("an unknown configuration key: exit 2, naming the key and its line") {
    temp_dir dir("thinggate-startup");
    const auto config = dir.path() / "bad.toml";
    write_file(
            config,
            "log_level = \"info\"\n"
            "data_dir = 'data'\n"
            "max_conections = 5\n"
            "[dev]\npki = false\n");
    auto r = run_command({THINGGATE_BINARY, "--config", config.string()});
    INFO(r.output);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("bad.toml:3:") != std::string::npos);
    CHECK(r.output.find("max_conections") != std::string::npos);
    CHECK_FALSE(has_sanitizer_report(r.output));
}

TEST_CASE("a TLS listener whose key file is readable by group and others: non-zero exit naming "
          "the file") {
    const auto& pki = test_pki::shared();
    temp_dir dir("thinggate-startup");
    const auto key = dir.path() / "open.key";
    std::filesystem::copy_file(pki.server.key, key);
    REQUIRE(::chmod(key.c_str(), 0644) == 0);

    gateway_options o;
    o.tcp_listener = false;
    std::string text = make_config(o, dir.path() / "data", pki);
    const auto at = text.find(pki.server.key.string());
    REQUIRE(at != std::string::npos);
    text.replace(at, pki.server.key.string().size(), key.string());
    const auto config = dir.path() / "open-key.toml";
    write_file(config, text);

    auto r = run_command({THINGGATE_BINARY, "--config", config.string()});
    INFO(r.output);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code != 0);
    CHECK(r.exit_code < 128); // an orderly exit, not a crash
    CHECK(r.output.find(key.string()) != std::string::npos);
    CHECK_FALSE(has_sanitizer_report(r.output));
}

TEST_CASE("a registry file with an error: exit 1, naming the file, the entry and the field") {
    const auto& pki = test_pki::shared();
    temp_dir dir("thinggate-startup");
    const auto registry = dir.path() / "registry.json";
    write_file(
            registry,
            R"({"format": "thinggate-registry", "version": 1,
                "things": [ { "name": "demo-thing", "colour": "red" } ] })");
    gateway_options o;
    o.tcp_listener = false;
    const auto config = dir.path() / "bad-registry.toml";
    write_file(config, make_config(o, dir.path() / "data", pki, registry));

    auto r = run_command({THINGGATE_BINARY, "--config", config.string()});
    INFO(r.output);
    CHECK_FALSE(r.timed_out);
    CHECK(r.exit_code == 1);
    CHECK(r.output.find("registry.json: things[0] (\"demo-thing\"): unknown field \"colour\"") !=
          std::string::npos);
    CHECK_FALSE(has_sanitizer_report(r.output));
}
