#pragma once
// bench/bench_dir: a temp directory for a benchmark's data, removed with everything in it.

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace thinggate::bench {

class bench_dir {
public:
    bench_dir() {
        auto pattern = (std::filesystem::temp_directory_path() / "thinggate-bench-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path = pattern;
    }

    ~bench_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }

    bench_dir(const bench_dir&) = delete;
    bench_dir& operator=(const bench_dir&) = delete;

    std::filesystem::path path;
};

} // namespace thinggate::bench
