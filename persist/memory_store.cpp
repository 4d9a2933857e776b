#include "persist/memory_store.hpp"

#include <fmt/format.h>

namespace thinggate::persist {

memory_store::memory_store()
    : memory_store(std::make_shared<data>()) {}

memory_store::memory_store(std::shared_ptr<data> shared)
    : data_(std::move(shared)) {}

void memory_store::commit(write_batch&& batch, durability d, completion done) {
    auto ec = commit_sync(std::move(batch), d);
    if (done) {
        done(ec);
    }
}

boost::system::error_code memory_store::commit_sync(write_batch&& batch, durability) {
    std::lock_guard lock(data_->mutex);
    ++counters_.commits;
    if (fault_) {
        ++counters_.failed_commits;
        return std::exchange(fault_, {});
    }
    ++counters_.writes;
    for (auto& op : batch.ops()) {
        auto& map = data_->families[static_cast<std::size_t>(op.fam)];
        switch (op.kind) {
        case write_batch::op_kind::put:
            map.insert_or_assign(op.key, op.value);
            break;
        case write_batch::op_kind::erase:
            map.erase(op.key);
            break;
        case write_batch::op_kind::erase_range:
            map.erase(map.lower_bound(op.key), map.lower_bound(op.value));
            break;
        }
    }
    counters_.ops += batch.size();
    counters_.bytes += batch.bytes();
    return {};
}

boost::system::error_code
memory_store::scan(family fam, std::string_view prefix, const raw_fn& fn) const {
    // Copy the matching range first: fn may be slow, and commits must not wait for it.
    std::vector<std::pair<std::string, std::string>> items;
    {
        std::lock_guard lock(data_->mutex);
        const auto& map = data_->families[static_cast<std::size_t>(fam)];
        for (auto it = map.lower_bound(prefix); it != map.end() && it->first.starts_with(prefix);
             ++it) {
            items.emplace_back(it->first, it->second);
        }
    }
    for (const auto& [key, value] : items) {
        if (!fn(key, value)) {
            break;
        }
    }
    return {};
}

boost::system::result<std::optional<std::string>>
memory_store::get(family fam, std::string_view key) const {
    std::lock_guard lock(data_->mutex);
    const auto& map = data_->families[static_cast<std::size_t>(fam)];
    auto it = map.find(key);
    if (it == map.end()) {
        return std::optional<std::string>{};
    }
    return std::optional<std::string>{it->second};
}

store_stats memory_store::stats() const {
    std::lock_guard lock(data_->mutex);
    auto s = counters_;
    for (std::size_t i = 0; i < family_count; ++i) {
        s.keys[i] = data_->families[i].size();
    }
    return s;
}

std::uint32_t memory_store::schema_version() const noexcept {
    return current_schema_version;
}

std::string memory_store::describe(boost::system::error_code ec) const {
    return fmt::format("in-memory store: {}", ec.message());
}

void memory_store::fail_next_commit(boost::system::error_code ec) {
    std::lock_guard lock(data_->mutex);
    fault_ = ec;
}

} // namespace thinggate::persist
