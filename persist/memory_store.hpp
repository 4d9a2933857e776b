#pragma once
// persist/memory_store: the store over ordered maps, with rocksdb_store's semantics (same keys,
// same encoded values, batches all or nothing, commits in call order). For tests and
// persistence = "memory" (nothing survives the process).
// Thread safety: as store; one mutex guards the data, completions run on the committing thread
// before commit() returns.

#include <map>
#include <memory>
#include <mutex>

#include "persist/store.hpp"

namespace thinggate::persist {

class memory_store final : public store {
public:
    /// The data, shareable so that a second memory_store over it models a reopen.
    struct data {
        std::mutex mutex;
        std::array<std::map<std::string, std::string, std::less<>>, family_count> families;
    };

    memory_store();
    explicit memory_store(std::shared_ptr<data> shared);

    void commit(write_batch&& batch, durability d, completion done) override;
    boost::system::error_code commit_sync(write_batch&& batch, durability d) override;
    boost::system::error_code
    scan(family fam, std::string_view prefix, const raw_fn& fn) const override;
    boost::system::result<std::optional<std::string>>
    get(family fam, std::string_view key) const override;
    store_stats stats() const override;
    std::uint32_t schema_version() const noexcept override;
    std::string describe(boost::system::error_code ec) const override;

    std::shared_ptr<data> shared_data() const { return data_; }

    /// Test hook: the next commit fails with `ec` and applies nothing.
    void fail_next_commit(boost::system::error_code ec);

private:
    std::shared_ptr<data> data_;
    // Guarded by data_->mutex:
    boost::system::error_code fault_;
    store_stats counters_;
};

} // namespace thinggate::persist
