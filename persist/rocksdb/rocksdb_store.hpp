#pragma once
// persist/rocksdb/rocksdb_store: the store on RocksDB (persistence = "rocksdb", the default).
// One column family per persist::family; a meta family holds the magic "thinggate", the schema
// version and the creation time. open() refuses — having changed nothing — a dir of another
// program, of another schema version, a corrupt one, and one that another instance has open.
// One writer thread owns all writes: commit() queues, the writer merges everything queued into
// one rocksdb::WriteBatch (group commit) and runs the completions after the write.
// Owns: everything RocksDB. Must not use: Asio. RocksDB headers stay in the .cpp (pimpl).
// Thread safety: as persist::store; completions run on the writer thread.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>

#include <boost/system/result.hpp>

#include "persist/store.hpp"

namespace thinggate::persist {

struct rocksdb_options {
    std::filesystem::path dir;
    /// Create the dir and a new database when the dir is missing or empty.
    bool create_if_missing = true;
    /// Read every block of every file (checksums) before opening for writing: a corrupt
    /// database is refused at start-up instead of failing later. Costs one full read.
    bool verify_checksums_on_open = true;
    /// Memtable budget shared by all column families.
    std::size_t write_buffer_bytes = 64ull << 20;
    /// Writes are refused with errc::disk_full (nothing is attempted) while the data dir's file
    /// system has less than this free: RocksDB itself never runs into "no space" (its recovery
    /// from that is fragile), existing data stays intact, and writes go on once space is back.
    /// 0 = no check.
    std::uint64_t min_free_bytes = 64ull << 20;
    /// Tests only: route WAL files through a file system that fail_next_write() can arm.
    bool fault_injection = false;
};

class rocksdb_store final : public store {
public:
    /// Opens (or creates) the data dir. On error nothing in the dir was changed and the report
    /// names the dir and what to do.
    static boost::system::result<std::unique_ptr<rocksdb_store>, error_report>
    open(const rocksdb_options& options);

    ~rocksdb_store() override;

    /// Stops taking commits (they complete with errc::closed), finishes the queued ones, closes
    /// the database. Called by the destructor; idempotent. Not from a completion.
    void close() override;

    void commit(write_batch&& batch, durability d, completion done) override;
    boost::system::error_code commit_sync(write_batch&& batch, durability d) override;
    boost::system::error_code
    scan(family fam, std::string_view prefix, const raw_fn& fn) const override;
    boost::system::result<std::optional<std::string>>
    get(family fam, std::string_view key) const override;
    store_stats stats() const override;
    std::uint32_t schema_version() const noexcept override;
    std::string describe(boost::system::error_code ec) const override;

    const std::filesystem::path& dir() const noexcept;

    /// Memtables to SST files (waits).
    boost::system::error_code flush();
    /// Full compaction of every column family (waits; thinggatectl data compact).
    boost::system::error_code compact();
    /// A consistent copy in `target` (must not exist; same file system = hard links).
    boost::system::error_code checkpoint(const std::filesystem::path& target) const;

    /// Tests (needs options.fault_injection): the next WAL write fails with "no space"
    /// (disk_full = true) or a plain I/O error; later writes succeed again.
    void fail_next_write(bool disk_full);

private:
    struct impl;
    explicit rocksdb_store(std::unique_ptr<impl> p);
    std::unique_ptr<impl> impl_;
};

} // namespace thinggate::persist
