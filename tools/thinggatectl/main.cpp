// thinggatectl: operator CLI for thinggate. This file only dispatches to the command groups.

#include <array>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "tools/thinggatectl/command.hpp"

namespace {

using thinggate::ctl::command_group;

// A group is one line here and one run_<group>() each.
constexpr std::array<command_group, 4> groups = {{
        {"pki",
         "create and inspect certificates: CA, server, device, code signing, dev PKI",
         &thinggate::ctl::run_pki},
        {"data",
         "offline tools on a data dir: stats, export, compact, checkpoint",
         &thinggate::ctl::run_data},
        {"registry",
         "identity registry: CAs, certificates, things, groups, policies, attachments",
         &thinggate::ctl::run_registry},
        {"policy",
         "policy test: would a device be allowed an action (and why)",
         &thinggate::ctl::run_policy},
}};

void print_usage(std::ostream& out) {
    out << "usage: thinggatectl <group> <command> [options]\n\n"
           "Operator tool for the thinggate MQTT device gateway.\n\n"
           "groups:\n";
    for (const auto& group : groups) {
        out << "  " << group.name << std::string(10 - group.name.size(), ' ') << group.summary
            << '\n';
    }
    out << "\noptions:\n"
           "  -h [ --help ]   this help\n"
           "  --version       print the version\n\n"
           "Run 'thinggatectl <group> --help' for the commands of a group.\n";
}

} // namespace

int main(int argc, char** argv) {
    namespace ctl = thinggate::ctl;
    const std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty()) {
        print_usage(std::cerr);
        return ctl::exit_usage;
    }
    const std::string& first = args.front();
    if (first == "-h" || first == "--help" || first == "help") {
        print_usage(std::cout);
        return ctl::exit_ok;
    }
    if (first == "--version") {
        std::cout << "thinggatectl 0.1.0\n";
        return ctl::exit_ok;
    }
    for (const auto& group : groups) {
        if (first != group.name) {
            continue;
        }
        try {
            return group.run(std::vector<std::string>(args.begin() + 1, args.end()));
        } catch (const ctl::usage_error& e) {
            std::cerr << "thinggatectl " << e.command() << ": " << e.what() << "\n"
                      << "Try 'thinggatectl " << e.command() << " --help'.\n";
            return ctl::exit_usage;
        } catch (const std::exception& e) {
            std::cerr << "thinggatectl " << group.name << ": " << e.what() << '\n';
            return ctl::exit_failure;
        }
    }
    std::cerr << "thinggatectl: unknown command group '" << first << "'\n"
              << "Try 'thinggatectl --help'.\n";
    return ctl::exit_usage;
}
