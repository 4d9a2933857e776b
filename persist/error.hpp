#pragma once
// persist/error: the persistence layer's error codes, their boost::system category, and the
// operator-facing report (a sentence that names the data dir and says what to do).
// Thread safety: everything here is immutable or a plain value.

#include <string>
#include <type_traits>

#include <boost/assert/source_location.hpp>
#include <boost/system/error_code.hpp>

namespace thinggate::persist {

enum class errc {
    ok = 0,
    schema_mismatch = 1, ///< a thinggate data dir of another schema version
    foreign_database,    ///< not a thinggate data dir (another program's RocksDB, other files)
    corrupt,             ///< RocksDB reported corruption, or a record failed strict decoding
    locked,              ///< another thinggate (or another store in this process) has it open
    disk_full,           ///< no space left: the write was not applied, existing data intact
    io_error,            ///< any other I/O failure: the write was not applied
    closed,              ///< the store is shutting down and takes no more commits
    invalid_argument,    ///< bad options (empty path, ...)
};

/// The boost::system category of errc ("persist").
const boost::system::error_category& persist_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept {
    return {static_cast<int>(e), persist_category()};
}

/// An error with the sentence an operator needs: what is wrong with which data dir and what to do.
/// Returned by the open functions (there is no store yet to ask), logged once by the caller.
struct error_report {
    boost::system::error_code code;
    std::string message;
};

/// Lets boost::system::result<T, error_report>::value() throw (start-up code may use exceptions):
/// throws std::runtime_error(report.message).
[[noreturn]] void
throw_exception_from_error(const error_report& report, const boost::source_location& where);

} // namespace thinggate::persist

template <>
struct boost::system::is_error_code_enum<thinggate::persist::errc> : std::true_type {};
