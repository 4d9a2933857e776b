#pragma once
// persist/store: the store interface the broker (and later admin/, ota/) writes through, and
// the recovery reads. Implementations: memory_store (tests, persistence = "memory") and
// rocksdb_store (persist/rocksdb, persistence = "rocksdb", the default).
// Owns: the write/recovery contract. Must not use: Asio, RocksDB (only persist/rocksdb does).
// Thread safety: every member function may be called from any thread. commit() never blocks on
// I/O; its completion runs on a thread of the store's choosing (the caller posts it back to its
// shard). Commits are applied in the order commit()/commit_sync() were called.

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include "persist/error.hpp"
#include "persist/records.hpp"
#include "persist/write_batch.hpp"

namespace thinggate::persist {

/// Receives the stored state at recovery. Each kind is visited in key order: sessions, then
/// subscriptions, queued (per client in seq order), in flight (same), incoming QoS 2 ids,
/// retained messages, then the registry, jobs and streams families. Firmware files (family
/// blobs) are not visited: read them with get_blob / for_each_blob.
class visitor {
public:
    virtual ~visitor() = default;

    virtual void on_session(session_record&&) {}

    virtual void on_subscription(subscription_record&&) {}

    virtual void on_queued(queued_record&&) {}

    virtual void on_inflight(inflight_record&&) {}

    virtual void on_qos2_in(qos2_in_record&&) {}

    virtual void on_retained(message_record&&) {}

    virtual void on_blob(blob_record&&) {}
};

struct store_stats {
    std::uint64_t commits = 0;        ///< commit()/commit_sync() calls completed
    std::uint64_t failed_commits = 0; ///< of those, completed with an error
    std::uint64_t writes = 0;         ///< storage writes (one per group of merged commits)
    std::uint64_t ops = 0;            ///< puts and deletes applied
    std::uint64_t bytes = 0;          ///< key + value bytes applied
    /// Keys per family (exact for memory, RocksDB's estimate otherwise), indexed by family.
    std::array<std::uint64_t, family_count> keys{};
    std::uint64_t disk_bytes = 0; ///< SST + WAL files (0 for memory)
};

class store {
public:
    using completion = std::function<void(boost::system::error_code)>;
    /// Raw iteration: return false to stop.
    using raw_fn = std::function<bool(std::string_view key, std::string_view value)>;

    store() = default;
    store(const store&) = delete;
    store& operator=(const store&) = delete;
    virtual ~store() = default;

    /// Queues `batch` to be applied all or nothing, then runs `done` exactly once with the
    /// result: success once the batch is as durable as `d` says; errc::disk_full / io_error when
    /// it was not applied (earlier data intact); errc::closed after close began. Never blocks on
    /// I/O. `done` may run on the store's writer thread or, for memory_store, before commit()
    /// returns; it must not call commit_sync().
    virtual void commit(write_batch&& batch, durability d, completion done) = 0;

    /// commit() and wait for the result (tools, tests, start-up). Not on a shard thread.
    virtual boost::system::error_code commit_sync(write_batch&& batch, durability d) = 0;

    /// Calls `fn` for each key of `fam` starting with `prefix`, in key order. Sees at least every
    /// commit completed before the call. errc::corrupt / io_error when the storage fails.
    virtual boost::system::error_code
    scan(family fam, std::string_view prefix, const raw_fn& fn) const = 0;

    /// One value; nullopt when absent.
    virtual boost::system::result<std::optional<std::string>>
    get(family fam, std::string_view key) const = 0;

    virtual store_stats stats() const = 0;

    /// The schema version of the open data (current_schema_version after a successful open).
    virtual std::uint32_t schema_version() const noexcept = 0;

    /// Stops taking commits (later ones complete with errc::closed) and waits until every queued
    /// commit has completed. Idempotent. Not from a completion. (memory_store: nothing to wait for.)
    virtual void close() {}

    /// A sentence for the operator about `ec` on this store (names the data dir, what to do).
    virtual std::string describe(boost::system::error_code ec) const = 0;

    // --- typed reads over scan()/get() ---

    /// Recovery: every record of the broker's state, the registry, jobs and streams (see
    /// visitor). errc::corrupt if a record fails strict decoding (nothing is skipped silently).
    boost::system::error_code load_all(visitor& v) const;

    boost::system::result<std::optional<session_record>>
    get_session(std::string_view client_id) const;

    boost::system::result<std::optional<blob_record>>
    get_blob(blob_kind kind, std::string_view name) const;

    /// Every blob of `kind` in name order; return false from `fn` to stop.
    boost::system::error_code
    for_each_blob(blob_kind kind, const std::function<bool(blob_record&&)>& fn) const;
};

} // namespace thinggate::persist
