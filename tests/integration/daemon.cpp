#include "daemon.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include <boost/json.hpp>
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth/pki.hpp"

extern char** environ;

namespace thinggate::integration {

namespace fs = std::filesystem;

// --- files -----------------------------------------------------------------------------------

temp_dir::temp_dir(std::string_view prefix) {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = (tmp != nullptr && *tmp != '\0' ? std::string(tmp) : std::string("/tmp"));
    pattern += "/";
    pattern += prefix;
    pattern += "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("mkdtemp " + pattern + ": " + std::strerror(errno));
    }
    path_ = pattern;
}

temp_dir::~temp_dir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
}

void write_file(const fs::path& file, std::string_view text) {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.close();
    if (!out) {
        throw std::runtime_error("cannot write " + file.string());
    }
}

// --- PKI -------------------------------------------------------------------------------------

namespace {

auth::cert_request request(std::string cn, auth::cert_profile profile) {
    auth::cert_request r;
    r.subject.common_name = std::move(cn);
    r.subject.organization = "thinggate integration tests";
    r.profile = profile;
    r.days = 30;
    return r;
}

cert_files
write_credential(const fs::path& dir, const std::string& name, const auth::credential& c) {
    cert_files files{dir / (name + ".pem"), dir / (name + ".key")};
    auth::write_certificate_pem(files.cert, *c.cert, false);
    auth::write_private_key_pem(files.key, *c.key, false);
    return files;
}

/// auth::cert_request only expresses validity as "from now (minus a skew) for N days", so the
/// expired certificate is issued normally and then moved into the past and signed again with
/// the CA key: notBefore 2 days ago, notAfter 1 day ago.
void make_expired(X509& cert, EVP_PKEY& ca_key) {
    if (X509_gmtime_adj(X509_getm_notBefore(&cert), -2L * 24 * 3600) == nullptr ||
        X509_gmtime_adj(X509_getm_notAfter(&cert), -1L * 24 * 3600) == nullptr ||
        X509_sign(&cert, &ca_key, EVP_sha256()) == 0) {
        throw std::runtime_error(
                "cannot back-date the expired certificate: " + auth::openssl_error_text());
    }
}

struct shared_pki {
    temp_dir dir{"thinggate-pki"};
    test_pki pki;

    shared_pki() {
        const fs::path& d = dir.path();
        const auto spec = auth::key_spec::ec_p256;

        auto ca = auth::issue_credential(
                request("thinggate test CA", auth::cert_profile::ca), spec, nullptr);
        pki.ca = d / "ca.pem";
        pki.ca_key = d / "ca.key";
        auth::write_certificate_pem(pki.ca, *ca.cert, false);
        auth::write_private_key_pem(pki.ca_key, *ca.key, false);

        auto server_req = request("localhost", auth::cert_profile::server);
        server_req.dns_sans = {"localhost"};
        server_req.ip_sans = {"127.0.0.1"};
        pki.server = write_credential(d, "server", auth::issue_credential(server_req, spec, &ca));

        for (int i = 1; i <= 4; ++i) {
            const std::string thing = "thing-" + std::to_string(i);
            pki.clients.push_back(write_credential(
                    d,
                    thing,
                    auth::issue_credential(request(thing, auth::cert_profile::client), spec, &ca)));
        }

        auto other = auth::issue_credential(
                request("unrelated test CA", auth::cert_profile::ca), spec, nullptr);
        pki.other_ca = d / "other-ca.pem";
        auth::write_certificate_pem(pki.other_ca, *other.cert, false);
        pki.other_ca_client = write_credential(
                d,
                "intruder",
                auth::issue_credential(
                        request("intruder", auth::cert_profile::client), spec, &other));

        auto expired =
                auth::issue_credential(request("expired", auth::cert_profile::client), spec, &ca);
        make_expired(*expired.cert, *ca.key);
        pki.expired_client = write_credential(d, "expired", expired);
    }
};

} // namespace

const test_pki& test_pki::shared() {
    static shared_pki instance;
    return instance.pki;
}

// --- child processes -------------------------------------------------------------------------

child_process::child_process(std::vector<std::string> argv, bool stdout_too) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (stdout_too) {
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1);
    } else {
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    }
    posix_spawn_file_actions_adddup2(&actions, fds[1], 2);

    std::vector<char*> args;
    for (auto& a : argv) {
        args.push_back(a.data());
    }
    args.push_back(nullptr);
    const int rc = ::posix_spawnp(&pid_, args[0], &actions, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        throw std::runtime_error("posix_spawnp " + argv[0] + ": " + std::strerror(rc));
    }
    reader_ = std::thread([this, fd = fds[0]] { read_loop(fd); });
}

child_process::~child_process() {
    if (!status_) {
        ::kill(pid_, SIGKILL);
        int st = 0;
        ::waitpid(pid_, &st, 0);
    }
    if (reader_.joinable()) {
        reader_.join();
    }
}

void child_process::read_loop(int fd) {
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        std::lock_guard lock(mutex_);
        output_.append(buf, static_cast<std::size_t>(n));
        cv_.notify_all();
    }
    ::close(fd);
    std::lock_guard lock(mutex_);
    eof_ = true;
    cv_.notify_all();
}

bool child_process::wait_for_output_count(
        std::string_view needle, std::size_t count, milliseconds timeout) {
    auto occurrences = [&] {
        std::size_t n = 0;
        for (auto pos = output_.find(needle); pos != std::string::npos;
             pos = output_.find(needle, pos + needle.size())) {
            ++n;
        }
        return n;
    };
    std::unique_lock lock(mutex_);
    wait_until(
            lock, cv_, [&] { return eof_ || occurrences() >= count; }, clock::now() + timeout);
    return occurrences() >= count;
}

bool child_process::wait_for_output(std::string_view needle, milliseconds timeout) {
    return wait_for_output_count(needle, 1, timeout);
}

std::string child_process::output() const {
    std::lock_guard lock(mutex_);
    return output_;
}

std::optional<int> child_process::wait_exit(milliseconds timeout) {
    if (status_) {
        return status_;
    }
    // The reader sees EOF when the child (and anything that inherited the pipe) is gone; that is
    // the event to wait on without polling waitpid.
    {
        std::unique_lock lock(mutex_);
        if (!wait_until(
                    lock, cv_, [&] { return eof_; }, clock::now() + timeout)) {
            return std::nullopt;
        }
    }
    int st = 0;
    pid_t r;
    do {
        r = ::waitpid(pid_, &st, 0);
    } while (r < 0 && errno == EINTR);
    if (r == pid_) {
        status_ = st;
    }
    return status_;
}

void child_process::send_signal(int sig) {
    if (!status_) {
        ::kill(pid_, sig);
    }
}

namespace {

int exit_code_of(int status) {
    if (WIFEXITED(status)) {
        return WEXITSTATUS(status);
    }
    if (WIFSIGNALED(status)) {
        return 128 + WTERMSIG(status);
    }
    return -1;
}

} // namespace

command_result run_command(std::vector<std::string> argv, milliseconds timeout) {
    child_process p(std::move(argv));
    command_result r;
    auto st = p.wait_exit(timeout);
    if (!st) {
        r.timed_out = true;
        p.send_signal(SIGKILL);
        st = p.wait_exit(step_timeout);
    }
    r.exit_code = st ? exit_code_of(*st) : -1;
    r.output = p.output();
    return r;
}

std::vector<std::string> s_client_command(std::uint16_t tls_port, const cert_files& client) {
    return {"openssl",
            "s_client",
            "-connect",
            "127.0.0.1:" + std::to_string(tls_port),
            "-servername",
            "localhost",
            "-CAfile",
            test_pki::shared().ca.string(),
            "-cert",
            client.cert.string(),
            "-key",
            client.key.string(),
            "-verify_return_error"};
}

bool have_program(std::string_view name) {
    const char* path = std::getenv("PATH");
    std::string_view rest = path != nullptr ? path : "/usr/bin:/bin";
    while (!rest.empty()) {
        const auto colon = rest.find(':');
        const auto dir = rest.substr(0, colon);
        if (::access((std::string(dir) + "/" + std::string(name)).c_str(), X_OK) == 0) {
            return true;
        }
        rest = colon == std::string_view::npos ? std::string_view{} : rest.substr(colon + 1);
    }
    return false;
}

// --- the daemon ------------------------------------------------------------------------------

boost::json::object default_registry(const test_pki& pki) {
    namespace json = boost::json;
    json::object reg;
    reg["format"] = "thinggate-registry";
    reg["version"] = 1;
    reg["ca_certificates"] = json::array{json::object{
            {"pem_file", pki.ca.string()}, {"status", "ACTIVE"}, {"auto_registration", false}}};
    reg["policies"] = json::array{json::object{
            {"name", "permissive"},
            {"document",
             json::object{
                     {"Version", "2012-10-17"},
                     {"Statement",
                      json::array{json::object{
                              {"Effect", "Allow"}, {"Action", "iot:*"}, {"Resource", "*"}}}}}}}};
    json::array things;
    json::array certificates;
    for (std::size_t i = 0; i < pki.clients.size(); ++i) {
        const std::string thing = "thing-" + std::to_string(i + 1);
        things.push_back(json::object{{"name", thing}});
        certificates.push_back(json::object{
                {"pem_file", pki.clients[i].cert.string()},
                {"status", "ACTIVE"},
                {"thing", thing},
                {"policies", json::array{"permissive"}}});
    }
    reg["things"] = std::move(things);
    reg["certificates"] = std::move(certificates);
    return reg;
}

std::string make_config(
        const gateway_options& o,
        const fs::path& data_dir,
        const test_pki& pki,
        const fs::path& registry_file) {
    std::string t;
    t += "log_level = \"" + o.log_level + "\"\n";
    t += "shards = " + std::to_string(o.shards) + "\n";
    t += "data_dir = '" + data_dir.string() + "'\n";
    t += "persistence = \"" + o.persistence + "\"\n";
    t += "durability = \"" + o.durability + "\"\n";
    t += o.server_extra + "\n";
    t += "[dev]\npki = false\n\n";
    t += "[limits]\n" + o.limits + "\n";
    if (o.tcp_listener) {
        t += "[[listener]]\nname = \"tcp\"\ntype = \"tcp\"\naddress = \"127.0.0.1\"\nport = 0\n\n";
    }
    if (o.tls_listener) {
        t += "[[listener]]\nname = \"tls\"\ntype = \"tls\"\naddress = \"127.0.0.1\"\nport = 0\n";
        t += "client_auth = \"" + o.client_auth + "\"\n";
        if (o.client_auth == "ca-file") {
            t += "ca_file = '" + pki.ca.string() + "'\n";
        }
        t += "cert_file = '" + pki.server.cert.string() + "'\n";
        t += "key_file = '" + pki.server.key.string() + "'\n";
        t += "min_tls = \"" + o.min_tls + "\"\n";
        t += o.tls_extra;
    }
    if (o.tls_listener && o.client_auth == "registry" && !registry_file.empty()) {
        // A top-level key: it must come before the first table header.
        t = "registry_file = '" + registry_file.string() + "'\n" + t;
    }
    return t;
}

std::optional<std::uint16_t> parse_listening_port(std::string_view log, std::string_view name) {
    const std::string key = "listening name=" + std::string(name) + " ";
    const auto at = log.find(key);
    if (at == std::string_view::npos) {
        return std::nullopt;
    }
    const auto eol = log.find('\n', at);
    if (eol == std::string_view::npos) {
        return std::nullopt; // the line is not complete yet
    }
    const auto line = log.substr(at, eol - at);
    const auto p = line.find(" port=");
    if (p == std::string_view::npos) {
        return std::nullopt;
    }
    unsigned long port = 0;
    for (auto c : line.substr(p + 6)) {
        if (c < '0' || c > '9') {
            break;
        }
        port = port * 10 + static_cast<unsigned long>(c - '0');
    }
    if (port == 0 || port > 65535) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(port);
}

bool has_sanitizer_report(std::string_view text) {
    return text.find("ERROR: AddressSanitizer") != std::string_view::npos ||
           text.find("ERROR: LeakSanitizer") != std::string_view::npos ||
           text.find("runtime error:") != std::string_view::npos ||
           text.find("WARNING: ThreadSanitizer") != std::string_view::npos;
}

gateway::gateway(gateway_options options)
    : dir_("thinggate-it")
    , options_(std::move(options)) {
    const auto& pki = test_pki::shared();
    config_file_ = dir_.path() / "thinggate.toml";
    write_file(
            registry_file(),
            options_.registry.empty() ? boost::json::serialize(default_registry(pki))
                                      : options_.registry);
    write_file(config_file_, make_config(options_, data_dir(), pki, registry_file()));
    launch();
}

std::filesystem::path gateway::data_dir() const {
    return options_.data_dir.empty() ? dir_.path() / "data" : options_.data_dir;
}

void gateway::launch() {
    stopped_ = false;
    process_ = std::make_unique<child_process>(
            std::vector<std::string>{THINGGATE_BINARY, "--config", config_file_.string()},
            /*stdout_too=*/true);

    // "thinggate ready" follows the "listening" lines of every listener; at EOF (the daemon
    // died) the wait ends at once.
    bool ok = process_->wait_for_output("thinggate ready", step_timeout);
    const std::string text = process_->output();
    if (options_.tcp_listener) {
        tcp_port_ = parse_listening_port(text, "tcp").value_or(0);
        ok = ok && tcp_port_ != 0;
    }
    if (options_.tls_listener) {
        tls_port_ = parse_listening_port(text, "tls").value_or(0);
        ok = ok && tls_port_ != 0;
    }
    if (!ok) {
        INFO("daemon stderr:\n", text);
        stopped_ = true;
        process_->send_signal(SIGKILL);
        process_->wait_exit(step_timeout);
        FAIL("the daemon did not report its listeners within ", step_timeout.count(), " ms");
    }
}

void gateway::kill() {
    if (stopped_ || process_ == nullptr) {
        return;
    }
    stopped_ = true;
    process_->send_signal(SIGKILL);
    auto status = process_->wait_exit(step_timeout);
    const std::string text = process_->output();
    INFO("daemon stderr:\n", text);
    REQUIRE_MESSAGE(status.has_value(), "the daemon did not die of SIGKILL");
    CHECK(WIFSIGNALED(*status));
    CHECK_MESSAGE(!has_sanitizer_report(text), "the daemon reported a sanitizer error");
}

void gateway::restart() {
    REQUIRE_MESSAGE(stopped_, "restart() needs the daemon stopped or killed first");
    launch();
}

gateway::~gateway() {
    stop();
}

std::string gateway::log() const {
    return process_->output();
}

bool gateway::wait_for_log(std::string_view needle, milliseconds timeout) {
    return process_->wait_for_output(needle, timeout);
}

bool gateway::wait_for_log_count(std::string_view needle, std::size_t count, milliseconds timeout) {
    return process_->wait_for_output_count(needle, count, timeout);
}

void gateway::stop() {
    if (stopped_ || process_ == nullptr) {
        return;
    }
    stopped_ = true;
    process_->send_signal(SIGTERM);
    auto status = process_->wait_exit(30s);
    if (!status) {
        process_->send_signal(SIGKILL);
        process_->wait_exit(step_timeout);
    }
    const std::string text = process_->output();
    INFO("daemon stderr:\n", text);
    CHECK_MESSAGE(status.has_value(), "the daemon did not exit within 30 s of SIGTERM");
    if (status) {
        CHECK_MESSAGE(
                WIFEXITED(*status),
                "the daemon was killed by signal ",
                WIFSIGNALED(*status) ? WTERMSIG(*status) : 0);
        if (WIFEXITED(*status)) {
            CHECK_MESSAGE(
                    WEXITSTATUS(*status) == 0, "the daemon exited with ", WEXITSTATUS(*status));
        }
    }
    CHECK_MESSAGE(!has_sanitizer_report(text), "the daemon reported a sanitizer error");
}

} // namespace thinggate::integration
