#pragma once
// thinggatectl: the operator CLI. main.cpp dispatches `thinggatectl <group> <command> ...` to one
// function per command group; each group parses its own options (Boost.Program_options).
// Exit codes: 0 success, 1 the operation failed, 2 wrong usage (the message names the argument).

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace thinggate::ctl {

inline constexpr int exit_ok = 0;
inline constexpr int exit_failure = 1;
inline constexpr int exit_usage = 2;

/// Wrong command line; main() prints what() and a --help hint and exits with exit_usage.
class usage_error : public std::runtime_error {
public:
    usage_error(std::string command, const std::string& message)
        : std::runtime_error(message)
        , command_(std::move(command)) {}

    /// The command whose --help explains the right usage, e.g. "pki server".
    const std::string& command() const noexcept { return command_; }

private:
    std::string command_;
};

/// A command group: `args` are the words after the group name. Returns the exit code; throws
/// usage_error for a wrong command line and std::exception when the operation fails.
struct command_group {
    std::string_view name;
    std::string_view summary;
    int (*run)(const std::vector<std::string>& args);
};

/// `thinggatectl pki ...`: certificates for operators and the development PKI (pki.cpp).
int run_pki(const std::vector<std::string>& args);

/// `thinggatectl data ...`: offline tools on a data dir: stats, export, compact, checkpoint
/// (data.cpp).
int run_data(const std::vector<std::string>& args);

/// `thinggatectl registry ...`: the identity registry of an offline data dir (registry.cpp).
int run_registry(const std::vector<std::string>& args);

/// `thinggatectl policy ...`: policy test, what AWS calls TestAuthorization (policy.cpp).
int run_policy(const std::vector<std::string>& args);

} // namespace thinggate::ctl
