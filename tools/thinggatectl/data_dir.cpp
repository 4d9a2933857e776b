#include "tools/thinggatectl/data_dir.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <system_error>

#include <boost/json.hpp>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace thinggate::ctl {

namespace fs = std::filesystem;
namespace json = boost::json;

/// The daemon keeps its database in <data_dir>/db; operators may name either dir. A dir holding
/// a database itself (CURRENT) is taken as is; a dir with db/ means db/; a missing or empty dir
/// gets its database in db/ when one is to be created (as the daemon would); anything else is
/// given to the store as is, so that its refusal (another program's files, ...) names it.
fs::path database_dir(const fs::path& dir, bool create) {
    std::error_code ec;
    if (fs::exists(dir / "CURRENT", ec)) {
        return dir;
    }
    if (fs::is_directory(dir / "db", ec) || (create && (!fs::exists(dir, ec) || fs::is_empty(dir, ec)))) {
        return dir / "db";
    }
    return dir;
}

std::unique_ptr<persist::rocksdb_store> open_data_dir(const fs::path& given, bool create) {
    std::error_code ec;
    if (!create && !fs::is_directory(given, ec)) {
        throw std::runtime_error(
                "data dir " + given.string() + ": " +
                (fs::exists(given, ec) ? "not a directory" : "no such directory"));
    }
    const fs::path dir = database_dir(given, create);
    if (!create && !fs::is_directory(dir, ec)) {
        throw std::runtime_error(
                "data dir " + dir.string() + ": " +
                (fs::exists(dir, ec) ? "not a directory" : "no such directory"));
    }
    persist::rocksdb_options options;
    options.dir = dir;
    options.create_if_missing = create;
    auto opened = persist::rocksdb_store::open(options);
    if (!opened) {
        const auto& report = opened.error();
        if (report.code == persist::errc::locked) {
            throw std::runtime_error(
                    "the data dir is in use (is thinggate running?): " + report.message);
        }
        throw std::runtime_error(report.message);
    }
    return std::move(*opened);
}

void check(const persist::store& store, boost::system::error_code ec, const char* what) {
    if (ec) {
        throw std::runtime_error(std::string(what) + ": " + store.describe(ec));
    }
}

std::string format_time(persist::wall_time t) {
    using namespace std::chrono;
    auto day = floor<days>(t);
    year_month_day ymd{day};
    hh_mm_ss hms{t - day};
    std::array<char, 40> buf{};
    std::snprintf(
            buf.data(),
            buf.size(),
            "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
            static_cast<int>(ymd.year()),
            static_cast<unsigned>(ymd.month()),
            static_cast<unsigned>(ymd.day()),
            static_cast<int>(hms.hours().count()),
            static_cast<int>(hms.minutes().count()),
            static_cast<int>(hms.seconds().count()),
            static_cast<int>(hms.subseconds().count()));
    return buf.data();
}

void pretty(std::ostream& out, const json::value& v, int indent) {
    auto pad = [&](int n) {
        out << std::string(static_cast<std::size_t>(n) * 2, ' ');
    };
    if (v.is_object()) {
        const auto& o = v.get_object();
        if (o.empty()) {
            out << "{}";
            return;
        }
        out << "{\n";
        bool first = true;
        for (const auto& [key, value] : o) {
            if (!first) {
                out << ",\n";
            }
            first = false;
            pad(indent + 1);
            out << json::serialize(json::string(key)) << ": ";
            pretty(out, value, indent + 1);
        }
        out << '\n';
        pad(indent);
        out << '}';
    } else if (v.is_array()) {
        const auto& a = v.get_array();
        if (a.empty()) {
            out << "[]";
            return;
        }
        out << "[\n";
        for (std::size_t i = 0; i < a.size(); ++i) {
            if (i != 0) {
                out << ",\n";
            }
            pad(indent + 1);
            pretty(out, a[i], indent + 1);
        }
        out << '\n';
        pad(indent);
        out << ']';
    } else {
        out << json::serialize(v);
    }
}

void quiet_logging() {
    auto logger = spdlog::stderr_logger_mt("thinggatectl");
    logger->set_level(spdlog::level::warn);
    spdlog::set_default_logger(std::move(logger));
}

} // namespace thinggate::ctl
