#pragma once
// thinggatectl: command-line parsing shared by the command groups (Boost.Program_options), so that
// every command reports wrong usage the same way (usage_error naming the argument, exit 2).

#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "tools/thinggatectl/command.hpp"

namespace thinggate::ctl {

struct parsed {
    std::string command; ///< e.g. "pki server", for the --help hint
    boost::program_options::variables_map vm;
    bool help = false;
};

/// Parses `args` against `desc`. Positional words go to `positional_name` when given (up to
/// `max_positional`, -1 = any); any other word, and any unknown option, is a usage_error.
parsed parse(
        const std::string& command,
        const std::vector<std::string>& args,
        const boost::program_options::options_description& desc,
        const char* positional_name = nullptr,
        int max_positional = 0);

template <typename T>
const T& get(const parsed& p, const char* name) {
    return p.vm[name].as<T>();
}

/// The value of a string option that must be given and non-empty, else a usage_error.
std::string required_string(const parsed& p, const char* name);

/// The values of a repeatable string option (empty when absent).
std::vector<std::string> strings(const parsed& p, const char* name);

} // namespace thinggate::ctl
