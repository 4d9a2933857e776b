#include "persist/error.hpp"

#include <stdexcept>

namespace thinggate::persist {

namespace {

class persist_error_category final : public boost::system::error_category {
public:
    // A fixed identifier makes the category compare equal across shared-library boundaries.
    constexpr persist_error_category() noexcept
        : boost::system::error_category(0x7467'7065'7273'0001ULL) {}

    const char* name() const noexcept override { return "persist"; }

    std::string message(int ev) const override {
        switch (static_cast<errc>(ev)) {
        case errc::ok:
            return "success";
        case errc::schema_mismatch:
            return "the data dir has an incompatible schema version";
        case errc::foreign_database:
            return "the data dir is not a thinggate data dir";
        case errc::corrupt:
            return "the data dir is corrupt";
        case errc::locked:
            return "the data dir is in use by another thinggate";
        case errc::disk_full:
            return "no space left on the device of the data dir";
        case errc::io_error:
            return "I/O error on the data dir";
        case errc::closed:
            return "the store is closed";
        case errc::invalid_argument:
            return "invalid persistence options";
        }
        return "unknown persist error";
    }
};

constexpr persist_error_category category_instance;

} // namespace

const boost::system::error_category& persist_category() noexcept {
    return category_instance;
}

void throw_exception_from_error(const error_report& report, const boost::source_location&) {
    throw std::runtime_error(report.message);
}

} // namespace thinggate::persist
