#include "tools/thinggatectl/registry_session.hpp"

#include <stdexcept>

#include "tools/thinggatectl/data_dir.hpp"

namespace thinggate::ctl {

registry_session open_registry_session(const std::filesystem::path& dir, bool create) {
    registry_session s;
    s.store = open_data_dir(dir, create);
    auto reg = auth::registry::open(*s.store);
    if (!reg) {
        throw std::runtime_error("data dir " + dir.string() + ": " + reg.error().message);
    }
    s.reg = std::move(*reg);
    return s;
}

} // namespace thinggate::ctl
