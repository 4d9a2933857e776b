#include "tools/thinggatectl/options.hpp"

namespace thinggate::ctl {

namespace po = boost::program_options;

parsed parse(
        const std::string& command,
        const std::vector<std::string>& args,
        const po::options_description& desc,
        const char* positional_name,
        int max_positional) {
    po::options_description all;
    all.add(desc);
    all.add_options()("unexpected-argument", po::value<std::vector<std::string>>());
    po::positional_options_description positional;
    if (positional_name != nullptr) {
        positional.add(positional_name, max_positional);
    }
    if (max_positional >= 0) {
        positional.add("unexpected-argument", -1);
    }
    parsed out{command, {}, false};
    try {
        po::store(po::command_line_parser(args).options(all).positional(positional).run(), out.vm);
        po::notify(out.vm);
    } catch (const po::error& e) {
        throw usage_error(command, e.what());
    }
    if (out.vm.count("unexpected-argument") != 0) {
        const auto& extra = out.vm["unexpected-argument"].as<std::vector<std::string>>();
        throw usage_error(command, "unexpected argument '" + extra.front() + "'");
    }
    out.help = out.vm.count("help") != 0;
    return out;
}

std::string required_string(const parsed& p, const char* name) {
    if (p.vm.count(name) == 0 || get<std::string>(p, name).empty()) {
        throw usage_error(p.command, std::string("missing required option --") + name);
    }
    return get<std::string>(p, name);
}

std::vector<std::string> strings(const parsed& p, const char* name) {
    if (p.vm.count(name) == 0) {
        return {};
    }
    return get<std::vector<std::string>>(p, name);
}

} // namespace thinggate::ctl
