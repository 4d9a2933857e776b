#pragma once
// tests/integration/daemon: the fixture of the end-to-end tests. A PKI generated with auth/pki,
// the daemon (THINGGATE_BINARY) spawned on a generated TOML config with its listeners on
// 127.0.0.1 port 0, and child processes (mosquitto_pub/sub, openssl) run with deadlines.
// Nothing here sleeps: every wait is a condition variable or poll() with a deadline.
// Thread safety: a daemon / child_process is used by one test thread; their reader threads only
// touch the output buffer, under its mutex.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>

#include <sys/types.h>

namespace thinggate::integration {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using namespace std::chrono_literals;

/// How long a test waits for something that should happen at once (generous: ASan, 2 cores).
inline constexpr milliseconds step_timeout = 15s;

/// Waits on `cv` (with `lock` held) until pred() or the deadline; returns pred().
template <typename Pred>
bool wait_until(
        std::unique_lock<std::mutex>& lock,
        std::condition_variable& cv,
        Pred pred,
        clock::time_point deadline) {
    return cv.wait_until(lock, deadline, pred);
}

/// A directory under $TMPDIR (or /tmp) that is removed with everything in it on destruction.
class temp_dir {
public:
    explicit temp_dir(std::string_view prefix);
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const noexcept { return path_; }

private:
    std::filesystem::path path_;
};

/// Writes `text` to `file` (mode 0644 unless the umask says less).
void write_file(const std::filesystem::path& file, std::string_view text);

/// A certificate and its key as PEM files.
struct cert_files {
    std::filesystem::path cert;
    std::filesystem::path key;
};

/// Certificates for the tests, generated once per process with auth/pki (ECDSA P-256):
/// a CA (and its key, for tests that issue more certificates or CRLs); a server certificate for
/// DNS:localhost and IP:127.0.0.1; client certificates for the things "thing-1".."thing-4"; a
/// second, unrelated CA with a client certificate "intruder"; and a client certificate from the
/// first CA whose validity ended yesterday.
struct test_pki {
    std::filesystem::path ca;
    std::filesystem::path ca_key;
    cert_files server;
    std::vector<cert_files> clients; ///< thing-1 .. thing-4
    std::filesystem::path other_ca;
    cert_files other_ca_client;
    cert_files expired_client;

    const cert_files& client(std::size_t i) const { return clients.at(i); }

    /// The process-wide PKI (generated on first use, removed at exit).
    static const test_pki& shared();
};

/// A process started with posix_spawn; stdout and stderr go to one pipe that a thread drains.
class child_process {
public:
    /// argv[0] is looked up in PATH. `stdout_too`: also capture stdout (else it goes to
    /// /dev/null).
    explicit child_process(std::vector<std::string> argv, bool stdout_too = true);
    ~child_process(); ///< SIGKILL and reap if still running
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    pid_t pid() const noexcept { return pid_; }

    /// Waits until the output contains `needle`, the process ends, or the deadline.
    bool wait_for_output(std::string_view needle, milliseconds timeout);
    /// Waits until at least `count` occurrences of `needle` are in the output.
    bool wait_for_output_count(std::string_view needle, std::size_t count, milliseconds timeout);
    std::string output() const;

    /// Waits for the exit with a deadline; the raw waitpid status, or nullopt on timeout.
    std::optional<int> wait_exit(milliseconds timeout);

    /// The raw status once wait_exit returned one.
    std::optional<int> status() const noexcept { return status_; }

    void send_signal(int sig);

private:
    void read_loop(int fd);

    pid_t pid_ = -1;
    std::optional<int> status_;
    std::thread reader_;
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::string output_;
    bool eof_ = false;
};

/// The result of run_command.
struct command_result {
    bool timed_out = false;
    int exit_code = -1; ///< exit status, or 128 + signal number when killed by a signal
    std::string output; ///< stdout and stderr, interleaved
};

/// Runs argv[0] (looked up in PATH) to completion with a deadline; on timeout it is killed.
command_result run_command(std::vector<std::string> argv, milliseconds timeout = step_timeout);

/// `openssl s_client` to the daemon's TLS listener (SNI localhost, the server verified against
/// the test CA) presenting `client`; the caller appends options (-tls1_2, -alpn, ...).
std::vector<std::string> s_client_command(std::uint16_t tls_port, const cert_files& client);

/// True when an executable named `name` is in PATH.
bool have_program(std::string_view name);

/// The registry the daemon's TLS listener checks client certificates against by default: the
/// test CA (ACTIVE, auto-registration off); the certificates of thing-1..thing-4 (ACTIVE), each
/// attached to the thing of that name and to the policy "permissive" (iot:* on *). Sections:
/// "ca_certificates", "policies", "things", "certificates" (docs/security.md); tests append to
/// them and pass the serialized text as gateway_options::registry.
boost::json::object default_registry(const test_pki& pki);

/// What the generated configuration contains besides the two listeners.
struct gateway_options {
    unsigned shards = 2;
    bool tcp_listener = true;
    bool tls_listener = true;
    std::string min_tls = "1.2";
    /// The TLS listener's client_auth: "registry" (with the registry file below) or "ca-file"
    /// (the test CA as ca_file).
    std::string client_auth = "registry";
    /// More lines for the TLS listener ("alpn = [\"x-amzn-mqtt-ca\"]\n").
    std::string tls_extra;
    /// The registry file's text (JSON); empty = default_registry(pki). Written to registry.json
    /// in the gateway's temp dir and named by registry_file (client_auth = "registry" only).
    std::string registry;
    /// Extra lines for the [limits] table ("max_packet_size = 1048576\n").
    std::string limits;
    std::string log_level = "info";
    std::string persistence = "rocksdb"; ///< [server] persistence
    std::string durability = "wal";      ///< [server] durability
    std::string server_extra;            ///< more top-level lines ("min_free_disk_bytes = 1\n")
    /// Where the data dir is; empty = "data" in the gateway's temp dir.
    std::filesystem::path data_dir;
};

/// The daemon under test, running on its own data dir with listeners "tcp" and "tls" on
/// 127.0.0.1 port 0. The constructor returns when every listener has logged its port (or fails
/// the test, printing the daemon's stderr). stop() (or the destructor) sends SIGTERM and checks
/// the exit status 0 and the absence of sanitizer reports.
class gateway {
public:
    explicit gateway(gateway_options options = {});
    ~gateway();
    gateway(const gateway&) = delete;
    gateway& operator=(const gateway&) = delete;

    std::uint16_t tcp_port() const noexcept { return tcp_port_; }

    std::uint16_t tls_port() const noexcept { return tls_port_; }

    /// The daemon's process id (for tools that read /proc/<pid>/status).
    pid_t pid() const noexcept { return process_ ? process_->pid() : -1; }

    const std::filesystem::path& dir() const noexcept { return dir_.path(); }

    const std::filesystem::path& config_file() const noexcept { return config_file_; }

    /// The registry file the daemon applies at start and on SIGHUP (may be rewritten by tests).
    std::filesystem::path registry_file() const { return dir_.path() / "registry.json"; }

    /// The daemon's stderr so far.
    std::string log() const;
    bool wait_for_log(std::string_view needle, milliseconds timeout = step_timeout);
    /// Waits until the log holds `needle` at least `count` times.
    bool wait_for_log_count(
            std::string_view needle, std::size_t count, milliseconds timeout = step_timeout);

    /// SIGTERM, wait (deadline), then CHECK: exited with 0, no "ERROR: AddressSanitizer", no
    /// "runtime error:", no "LeakSanitizer". Prints the log when a check fails. Idempotent.
    void stop();
    /// SIGKILL (a crash: nothing is flushed), reaped; CHECKs no sanitizer report so far.
    void kill();
    /// Starts the daemon again on the same config and data dir (after stop() or kill()); the
    /// listeners get new ports.
    void restart();
    /// The data dir of the daemon.
    std::filesystem::path data_dir() const;

    bool running() const noexcept { return process_ != nullptr && !stopped_; }

private:
    void launch();

    temp_dir dir_;
    gateway_options options_;
    std::filesystem::path config_file_;
    std::unique_ptr<child_process> process_;
    std::uint16_t tcp_port_ = 0;
    std::uint16_t tls_port_ = 0;
    bool stopped_ = false;
};

/// Generates the TOML text the daemon above is started with; `registry_file` is named by it when
/// the TLS listener uses the registry.
std::string make_config(
        const gateway_options& options,
        const std::filesystem::path& data_dir,
        const test_pki& pki,
        const std::filesystem::path& registry_file = {});

/// Reads the port of listener `name` from the daemon's "listening name=<n> ... port=<p>" line.
std::optional<std::uint16_t> parse_listening_port(std::string_view log, std::string_view name);

/// True when the text holds a sanitizer report (ASan, LSan, UBSan).
bool has_sanitizer_report(std::string_view text);

} // namespace thinggate::integration
