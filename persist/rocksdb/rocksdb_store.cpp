#include "persist/rocksdb/rocksdb_store.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <future>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include <fmt/format.h>
#include <fmt/std.h>
#include <spdlog/spdlog.h>

#include "persist/record_codec.hpp"

namespace thinggate::persist {

namespace {

namespace fs = std::filesystem;
using boost::system::error_code;

// --- fault injection (tests): a file system whose WAL appends can be made to fail once ---

class fault_fs final : public rocksdb::FileSystemWrapper {
public:
    enum fault : int {
        none = 0,
        no_space = 1,
        io_error = 2,
    };

    explicit fault_fs(const std::shared_ptr<rocksdb::FileSystem>& target)
        : rocksdb::FileSystemWrapper(target) {}

    static const char* kClassName() { return "thinggate_fault_fs"; }

    const char* Name() const override { return kClassName(); }

    rocksdb::IOStatus NewWritableFile(
            const std::string& name,
            const rocksdb::FileOptions& options,
            std::unique_ptr<rocksdb::FSWritableFile>* result,
            rocksdb::IODebugContext* dbg) override {
        auto s = target()->NewWritableFile(name, options, result, dbg);
        wrap(name, s, result);
        return s;
    }

    rocksdb::IOStatus ReopenWritableFile(
            const std::string& name,
            const rocksdb::FileOptions& options,
            std::unique_ptr<rocksdb::FSWritableFile>* result,
            rocksdb::IODebugContext* dbg) override {
        auto s = target()->ReopenWritableFile(name, options, result, dbg);
        wrap(name, s, result);
        return s;
    }

    /// One-shot: the next append to a WAL file fails, then the fault clears itself.
    rocksdb::IOStatus take_fault() {
        switch (armed.exchange(none)) {
        case no_space:
            return rocksdb::IOStatus::NoSpace("injected fault", "no space left on device");
        case io_error:
            return rocksdb::IOStatus::IOError("injected fault", "input/output error");
        default:
            return rocksdb::IOStatus::OK();
        }
    }

    std::atomic<int> armed{none};

private:
    class file final : public rocksdb::FSWritableFileOwnerWrapper {
    public:
        file(std::unique_ptr<rocksdb::FSWritableFile> f, fault_fs& owner)
            : rocksdb::FSWritableFileOwnerWrapper(std::move(f))
            , owner_(owner) {}

        rocksdb::IOStatus
        Append(const rocksdb::Slice& data,
               const rocksdb::IOOptions& options,
               rocksdb::IODebugContext* dbg) override {
            auto s = owner_.take_fault();
            return s.ok() ? target()->Append(data, options, dbg) : s;
        }

        rocksdb::IOStatus
        Append(const rocksdb::Slice& data,
               const rocksdb::IOOptions& options,
               const rocksdb::DataVerificationInfo& info,
               rocksdb::IODebugContext* dbg) override {
            auto s = owner_.take_fault();
            return s.ok() ? target()->Append(data, options, info, dbg) : s;
        }

    private:
        fault_fs& owner_;
    };

    void
    wrap(const std::string& name,
         const rocksdb::IOStatus& s,
         std::unique_ptr<rocksdb::FSWritableFile>* result) {
        if (s.ok() && name.ends_with(".log")) {
            *result = std::make_unique<file>(std::move(*result), *this);
        }
    }
};

/// Discards RocksDB's info log: the read-only checks at open must not create a LOG file.
class null_logger final : public rocksdb::Logger {
public:
    using rocksdb::Logger::Logv;

    void Logv(const char*, va_list) override {}
};

// --- errors ---

errc to_errc(const rocksdb::Status& s) noexcept {
    if (s.ok()) {
        return errc::ok;
    }
    if (s.IsNoSpace()) {
        return errc::disk_full;
    }
    if (s.IsCorruption()) {
        return errc::corrupt;
    }
    return errc::io_error;
}

bool is_lock_error(const rocksdb::Status& s) {
    if (!s.IsIOError()) {
        return false;
    }
    auto text = s.ToString();
    return text.find("LOCK") != std::string::npos || text.find("lock") != std::string::npos;
}

std::string what_to_do(errc e) {
    switch (e) {
    case errc::schema_mismatch:
        return "start the thinggate version that wrote it, or export it (thinggatectl data "
               "export) and start with an empty data dir";
    case errc::foreign_database:
        return "point data_dir at an empty directory or at a thinggate data dir";
    case errc::corrupt:
        return "restore the data dir from a checkpoint (thinggatectl data checkpoint) or a "
               "backup; RocksDB's ldb repair is a last resort and may lose data";
    case errc::locked:
        return "stop the other thinggate (or thinggatectl) using it, or use another data_dir";
    case errc::disk_full:
        return "free space on its file system; new persistent messages are refused until then";
    default:
        return "check the file system and the permissions of the data dir";
    }
}

error_report report(errc e, const fs::path& dir, std::string_view detail) {
    auto code = make_error_code(e);
    return {code,
            fmt::format(
                    "data dir {}: {} ({}); {}. Nothing in it was changed.",
                    dir,
                    code.message(),
                    detail,
                    what_to_do(e))};
}

constexpr std::array all_families = {
        family::sessions,
        family::subscriptions,
        family::queued,
        family::inflight,
        family::qos2_in,
        family::retained,
        family::registry,
        family::jobs,
        family::streams,
        family::blobs,
        family::meta,
};

struct pending {
    write_batch batch;
    durability dur = durability::wal;
    store::completion done;
};

} // namespace

struct rocksdb_store::impl {
    rocksdb_options opts;
    std::shared_ptr<fault_fs> faults; // only with fault_injection
    std::unique_ptr<rocksdb::Env> env;
    std::unique_ptr<rocksdb::DB> db;
    rocksdb::ColumnFamilyHandle* default_cf = nullptr;
    std::array<rocksdb::ColumnFamilyHandle*, family_count> cf{};

    /// Guards `db` and `cf` against the writer's reopen after an unrecoverable write error:
    /// readers hold it shared; only the writer thread (and close()) replace the database.
    mutable std::shared_mutex db_mutex;

    std::mutex mutex;
    std::condition_variable wake;
    std::vector<pending> queue; // guarded by mutex
    bool stopping = false;      // guarded by mutex
    bool closed = false;        // guarded by mutex
    store_stats counters;       // guarded by mutex (keys/disk_bytes filled by stats())
    std::thread writer;
    bool needs_resume = false;    // writer thread only
    // Free-space guard (writer thread only).
    std::uint64_t free_bytes = 0;
    std::chrono::steady_clock::time_point next_space_check{};
    std::chrono::steady_clock::time_point last_space_log{};
    bool refusing_for_space = false;
    bool finish_creation = false; // set by check_existing(): write the meta after opening

    rocksdb::Options db_options(bool quiet) const {
        rocksdb::Options o;
        o.create_if_missing = false;
        o.paranoid_checks = true;
        o.db_write_buffer_size = opts.write_buffer_bytes;
        o.write_buffer_size = std::max<std::size_t>(opts.write_buffer_bytes / 4, 1 << 20);
        // One WAL serves every family; a rarely written family must not pin old WAL files.
        o.max_total_wal_size = 4 * opts.write_buffer_bytes;
        o.max_background_jobs = 2;
        o.keep_log_file_num = 5;
        o.max_log_file_size = 16 << 20;
        if (env) {
            o.env = env.get();
        }
        if (quiet) {
            o.info_log = std::make_shared<null_logger>();
        }
        return o;
    }

    std::vector<rocksdb::ColumnFamilyDescriptor>
    descriptors(const rocksdb::Options& o, const std::vector<std::string>& names) const {
        std::vector<rocksdb::ColumnFamilyDescriptor> d;
        d.reserve(names.size());
        for (const auto& n : names) {
            d.emplace_back(n, rocksdb::ColumnFamilyOptions(o));
        }
        return d;
    }

    static std::vector<std::string> our_names() {
        std::vector<std::string> names{rocksdb::kDefaultColumnFamilyName};
        for (auto f : all_families) {
            names.emplace_back(to_string(f));
        }
        return names;
    }

    /// Opens read-write with every family (names as listed; ours must all be present).
    rocksdb::Status open_rw(bool create) {
        auto o = db_options(false);
        o.create_if_missing = create;
        o.create_missing_column_families = create;
        auto names = our_names();
        std::vector<rocksdb::ColumnFamilyHandle*> handles;
        rocksdb::DB* raw = nullptr;
        auto s = rocksdb::DB::Open(o, opts.dir.string(), descriptors(o, names), &handles, &raw);
        if (!s.ok()) {
            return s;
        }
        db.reset(raw);
        default_cf = handles[0];
        for (std::size_t i = 0; i < all_families.size(); ++i) {
            cf[static_cast<std::size_t>(all_families[i])] = handles[i + 1];
        }
        return s;
    }

    void close_db() {
        if (!db) {
            return;
        }
        for (auto*& h : cf) {
            if (h) {
                db->DestroyColumnFamilyHandle(h);
                h = nullptr;
            }
        }
        if (default_cf) {
            db->DestroyColumnFamilyHandle(default_cf);
            default_cf = nullptr;
        }
        auto s = db->Close();
        if (!s.ok()) {
            spdlog::warn("data dir {}: close: {}", opts.dir, s.ToString());
        }
        db.reset();
    }

    /// The read-only checks of an existing database; changes nothing in the dir.
    std::optional<error_report> check_existing() {
        const auto& dir = opts.dir;
        // Another instance holding the lock is "locked", whatever a read-only look would say
        // while it writes. Only lock a LOCK file that exists: creating one would be a change.
        auto* e = env ? env.get() : rocksdb::Env::Default();
        rocksdb::FileLock* lock = nullptr;
        if (fs::exists(dir / "LOCK")) {
            auto s = e->LockFile((dir / "LOCK").string(), &lock);
            if (!s.ok()) {
                return report(errc::locked, dir, s.ToString());
            }
        }
        auto result = check_existing_locked();
        if (lock) {
            e->UnlockFile(lock);
        }
        return result;
    }

    std::optional<error_report> check_existing_locked() {
        const auto& dir = opts.dir;
        auto o = db_options(true);
        std::vector<std::string> names;
        auto s = rocksdb::DB::ListColumnFamilies(o, dir.string(), &names);
        if (!s.ok()) {
            auto e = to_errc(s);
            return report(e == errc::disk_full ? errc::io_error : e, dir, s.ToString());
        }
        if (std::find(names.begin(), names.end(), to_string(family::meta)) == names.end()) {
            return report(
                    errc::foreign_database,
                    dir,
                    "a RocksDB database without thinggate's column families");
        }
        std::vector<rocksdb::ColumnFamilyHandle*> handles;
        rocksdb::DB* raw = nullptr;
        s = rocksdb::DB::OpenForReadOnly(o, dir.string(), descriptors(o, names), &handles, &raw);
        if (!s.ok()) {
            auto e = to_errc(s);
            return report(e == errc::disk_full ? errc::io_error : e, dir, s.ToString());
        }
        std::unique_ptr<rocksdb::DB> ro(raw);
        auto result = check_contents(*ro, names, handles);
        for (auto* h : handles) {
            ro->DestroyColumnFamilyHandle(h);
        }
        ro->Close();
        return result;
    }

    std::optional<error_report> check_contents(
            rocksdb::DB& ro,
            const std::vector<std::string>& names,
            const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
        const auto& dir = opts.dir;
        auto meta_at = std::find(names.begin(), names.end(), to_string(family::meta));
        auto* meta = handles[static_cast<std::size_t>(meta_at - names.begin())];
        std::string magic;
        auto s = ro.Get(rocksdb::ReadOptions(), meta, codec::meta_magic_key, &magic);
        if (s.IsNotFound() && unfinished_creation(ro, names, handles)) {
            finish_creation = true; // our families, all empty: create() was interrupted
            return std::nullopt;
        }
        if (s.IsNotFound() || (s.ok() && magic != codec::meta_magic_value)) {
            return report(errc::foreign_database, dir, "no thinggate magic in its meta family");
        }
        if (!s.ok()) {
            return report(to_errc(s), dir, s.ToString());
        }
        std::string version_bytes;
        s = ro.Get(rocksdb::ReadOptions(), meta, codec::meta_schema_key, &version_bytes);
        if (!s.ok()) {
            return report(
                    s.IsNotFound() ? errc::corrupt : to_errc(s),
                    dir,
                    "the schema version is missing: " + s.ToString());
        }
        auto version = codec::decode_u32(version_bytes);
        if (!version) {
            return report(errc::corrupt, dir, "the schema version is not readable");
        }
        if (*version != current_schema_version) {
            return report(
                    errc::schema_mismatch,
                    dir,
                    fmt::format(
                            "it has schema version {}, this thinggate reads version {}",
                            *version,
                            current_schema_version));
        }
        for (const auto& n : our_names()) {
            if (std::find(names.begin(), names.end(), n) == names.end()) {
                return report(errc::corrupt, dir, "column family " + n + " is missing");
            }
        }
        if (opts.verify_checksums_on_open) {
            s = ro.VerifyChecksum();
            if (!s.ok()) {
                return report(to_errc(s), dir, s.ToString());
            }
        }
        return std::nullopt;
    }

    /// Exactly our families and nothing in any of them: a create() that stopped before its meta
    /// write (the families are made by the open, the magic by the write after it).
    static bool unfinished_creation(
            rocksdb::DB& ro,
            const std::vector<std::string>& names,
            const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
        auto ours = our_names();
        if (names.size() != ours.size() ||
            !std::is_permutation(names.begin(), names.end(), ours.begin())) {
            return false;
        }
        for (auto* h : handles) {
            std::unique_ptr<rocksdb::Iterator> it(ro.NewIterator(rocksdb::ReadOptions(), h));
            it->SeekToFirst();
            if (it->Valid() || !it->status().ok()) {
                return false;
            }
        }
        return true;
    }

    rocksdb::Status write_meta() {
        rocksdb::WriteBatch b;
        auto* meta = cf[static_cast<std::size_t>(family::meta)];
        b.Put(meta, codec::meta_schema_key, codec::encode_u32(current_schema_version));
        b.Put(meta, codec::meta_created_key, codec::encode_time(wall_now()));
        b.Put(meta, codec::meta_magic_key, codec::meta_magic_value);
        rocksdb::WriteOptions wo;
        wo.sync = true;
        return db->Write(wo, &b);
    }

    /// A new database in an empty (or missing) dir, with its meta written durably.
    std::optional<error_report> create() {
        const auto& dir = opts.dir;
        std::error_code fec;
        fs::create_directories(dir, fec);
        if (fec) {
            return report(errc::io_error, dir, fec.message());
        }
        auto s = open_rw(true);
        if (!s.ok()) {
            return report(is_lock_error(s) ? errc::locked : to_errc(s), dir, s.ToString());
        }
        s = write_meta();
        if (!s.ok()) {
            close_db();
            return error_report{
                    make_error_code(to_errc(s)),
                    fmt::format("data dir {}: cannot create a database: {}", dir, s.ToString())};
        }
        return std::nullopt;
    }

    // --- the writer ---

    void run_writer() {
        std::unique_lock lock(mutex);
        for (;;) {
            wake.wait(lock, [&] { return !queue.empty() || stopping; });
            if (queue.empty()) {
                return; // stopping, and everything queued is written
            }
            std::vector<pending> group;
            group.swap(queue);
            lock.unlock();
            std::uint64_t ops = 0;
            std::uint64_t bytes = 0;
            auto ec = write_group(group, ops, bytes);
            for (auto& p : group) {
                if (p.done) {
                    p.done(ec);
                }
            }
            lock.lock();
            counters.commits += group.size();
            counters.writes += 1;
            if (ec) {
                counters.failed_commits += group.size();
            } else {
                counters.ops += ops;
                counters.bytes += bytes;
            }
        }
    }

    /// Resume(), waiting (bounded) while RocksDB's own automatic recovery is running: then
    /// Resume() answers Busy, and OK once that recovery is over.
    rocksdb::Status resume() {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        for (;;) {
            auto s = db->Resume();
            if (!s.IsBusy() || std::chrono::steady_clock::now() >= deadline) {
                return s;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
    }

    /// After a failed write (writer thread). A failed WAL write puts RocksDB in its
    /// background-error state (writes refused). Resume() clears a recoverable one (no space,
    /// once space is back); an unrecoverable one (a plain I/O error on the WAL) needs the
    /// database closed and opened again, which replays the WAL: every acknowledged commit with
    /// durability wal/fsync is kept; durability none commits not yet flushed are lost.
    rocksdb::Status recover() {
        if (db) {
            auto s = resume();
            if (s.ok() || s.IsBusy()) {
                return s;
            }
            spdlog::warn("data dir {}: cannot resume ({}), reopening", opts.dir, s.ToString());
        }
        std::unique_lock lock(db_mutex);
        close_db();
        return open_rw(false);
    }

    /// errc::disk_full while the file system has less than min_free_bytes (+ this write) free.
    /// Reads the free space at most every 100 ms while there is plenty, every time when short.
    error_code check_space(std::uint64_t write_bytes) {
        if (opts.min_free_bytes == 0) {
            return {};
        }
        const auto now = std::chrono::steady_clock::now();
        if (now >= next_space_check || free_bytes < 4 * opts.min_free_bytes) {
            std::error_code fec;
            auto info = fs::space(opts.dir, fec);
            free_bytes = fec ? std::uint64_t{0} : info.available;
            next_space_check = now + std::chrono::milliseconds(100);
        } else {
            free_bytes -= std::min(free_bytes, write_bytes);
        }
        if (free_bytes < opts.min_free_bytes + write_bytes) {
            if (!refusing_for_space || now - last_space_log >= std::chrono::seconds(10)) {
                last_space_log = now;
                spdlog::error("data dir {}: {} MiB free on its file system, less than min_free_disk_bytes "
                              "({} MiB): new persistent messages are refused until space is freed",
                              opts.dir, free_bytes >> 20, opts.min_free_bytes >> 20);
            }
            refusing_for_space = true;
            return make_error_code(errc::disk_full);
        }
        if (refusing_for_space) {
            refusing_for_space = false;
            spdlog::info("data dir {}: {} MiB free again, writes resumed", opts.dir, free_bytes >> 20);
        }
        return {};
    }

    error_code write_group(std::vector<pending>& group, std::uint64_t& ops, std::uint64_t& bytes) {
        rocksdb::WriteBatch b;
        auto strongest = durability::none;
        for (auto& p : group) {
            strongest = std::max(strongest, p.dur);
            for (const auto& op : p.batch.ops()) {
                auto* h = cf[static_cast<std::size_t>(op.fam)];
                rocksdb::Status s;
                switch (op.kind) {
                case write_batch::op_kind::put:
                    s = b.Put(h, op.key, op.value);
                    break;
                case write_batch::op_kind::erase:
                    s = b.Delete(h, op.key);
                    break;
                case write_batch::op_kind::erase_range:
                    s = b.DeleteRange(h, op.key, op.value);
                    break;
                }
                if (!s.ok()) {
                    spdlog::error("data dir {}: building a write: {}", opts.dir, s.ToString());
                    return make_error_code(errc::io_error);
                }
            }
            ops += p.batch.size();
            bytes += p.batch.bytes();
        }
        if (auto e = check_space(bytes)) {
            return e;
        }
        if (needs_resume || !db) {
            auto s = recover();
            if (!s.ok()) {
                auto e = to_errc(s);
                spdlog::error(
                        "data dir {}: still failing ({}); {}",
                        opts.dir,
                        s.ToString(),
                        what_to_do(e));
                return make_error_code(e);
            }
            needs_resume = false;
            spdlog::info("data dir {}: writes resumed", opts.dir);
        }
        rocksdb::WriteOptions wo;
        wo.sync = strongest == durability::fsync;
        wo.disableWAL = strongest == durability::none;
        auto s = db->Write(wo, &b);
        if (!s.ok()) {
            needs_resume = true;
            auto e = to_errc(s);
            spdlog::error(
                    "data dir {}: write of {} commit(s) failed, nothing applied: {}; {}",
                    opts.dir,
                    group.size(),
                    s.ToString(),
                    what_to_do(e));
            return make_error_code(e);
        }
        return {};
    }
};

rocksdb_store::rocksdb_store(std::unique_ptr<impl> p)
    : impl_(std::move(p)) {
    impl_->writer = std::thread([this] { impl_->run_writer(); });
}

rocksdb_store::~rocksdb_store() {
    close();
}

boost::system::result<std::unique_ptr<rocksdb_store>, error_report>
rocksdb_store::open(const rocksdb_options& options) {
    if (options.dir.empty()) {
        return error_report{make_error_code(errc::invalid_argument), "data dir: no path given"};
    }
    auto p = std::make_unique<impl>();
    p->opts = options;
    if (options.fault_injection) {
        p->faults = std::make_shared<fault_fs>(rocksdb::FileSystem::Default());
        p->env = rocksdb::NewCompositeEnv(p->faults);
    }
    const auto& dir = options.dir;
    std::error_code fec;
    auto st = fs::status(dir, fec);
    bool exists = fs::exists(st);
    if (exists && !fs::is_directory(st)) {
        return report(errc::foreign_database, dir, "it is not a directory");
    }
    bool has_db = exists && fs::exists(dir / "CURRENT", fec);
    if (!has_db) {
        bool empty = true;
        if (exists) {
            for (const auto& entry : fs::directory_iterator(dir, fec)) {
                if (entry.path().filename() != "lost+found") {
                    empty = false;
                    break;
                }
            }
            if (fec) {
                return report(errc::io_error, dir, fec.message());
            }
        }
        if (!empty) {
            return report(errc::foreign_database, dir, "it holds files but no database");
        }
        if (!options.create_if_missing) {
            return report(
                    errc::invalid_argument, dir, "there is no database and creating one is off");
        }
        if (auto failure = p->create()) {
            return *std::move(failure);
        }
        spdlog::info("data dir {}: new database, schema version {}", dir, current_schema_version);
        return std::unique_ptr<rocksdb_store>(new rocksdb_store(std::move(p)));
    }
    if (auto failure = p->check_existing()) {
        return *std::move(failure);
    }
    auto s = p->open_rw(false);
    if (!s.ok()) {
        auto e = is_lock_error(s) ? errc::locked : to_errc(s);
        return report(e, dir, s.ToString());
    }
    if (p->finish_creation) {
        s = p->write_meta();
        if (!s.ok()) {
            p->close_db();
            return error_report{
                    make_error_code(to_errc(s)),
                    fmt::format("data dir {}: cannot finish creating it: {}", dir, s.ToString())};
        }
        spdlog::info("data dir {}: finished an interrupted creation", dir);
    }
    return std::unique_ptr<rocksdb_store>(new rocksdb_store(std::move(p)));
}

void rocksdb_store::close() {
    {
        std::lock_guard lock(impl_->mutex);
        if (impl_->closed) {
            return;
        }
        impl_->closed = true;
        impl_->stopping = true;
    }
    impl_->wake.notify_one();
    if (impl_->writer.joinable()) {
        impl_->writer.join();
    }
    std::unique_lock db_lock(impl_->db_mutex);
    impl_->close_db();
}

void rocksdb_store::commit(write_batch&& batch, durability d, completion done) {
    {
        std::lock_guard lock(impl_->mutex);
        if (!impl_->stopping) {
            impl_->queue.push_back(pending{std::move(batch), d, std::move(done)});
            impl_->wake.notify_one();
            return;
        }
        ++impl_->counters.commits;
        ++impl_->counters.failed_commits;
    }
    if (done) {
        done(make_error_code(errc::closed));
    }
}

boost::system::error_code rocksdb_store::commit_sync(write_batch&& batch, durability d) {
    if (std::this_thread::get_id() == impl_->writer.get_id()) {
        return make_error_code(errc::invalid_argument); // would wait for itself
    }
    std::promise<error_code> result;
    auto f = result.get_future();
    commit(std::move(batch), d, [&result](error_code ec) { result.set_value(ec); });
    return f.get();
}

boost::system::error_code
rocksdb_store::scan(family fam, std::string_view prefix, const raw_fn& fn) const {
    std::shared_lock db_lock(impl_->db_mutex);
    if (!impl_->db) {
        return make_error_code(errc::closed);
    }
    rocksdb::ReadOptions ro;
    std::string end;
    rocksdb::Slice upper;
    if (!prefix.empty()) {
        end = codec::prefix_end(prefix);
        upper = end;
        ro.iterate_upper_bound = &upper;
    }
    std::unique_ptr<rocksdb::Iterator> it(
            impl_->db->NewIterator(ro, impl_->cf[static_cast<std::size_t>(fam)]));
    for (it->Seek(rocksdb::Slice(prefix.data(), prefix.size())); it->Valid(); it->Next()) {
        auto k = it->key();
        auto v = it->value();
        if (!fn(std::string_view(k.data(), k.size()), std::string_view(v.data(), v.size()))) {
            return {};
        }
    }
    return make_error_code(to_errc(it->status()));
}

boost::system::result<std::optional<std::string>>
rocksdb_store::get(family fam, std::string_view key) const {
    std::shared_lock db_lock(impl_->db_mutex);
    if (!impl_->db) {
        return make_error_code(errc::closed);
    }
    std::string value;
    auto s = impl_->db->Get(
            rocksdb::ReadOptions(),
            impl_->cf[static_cast<std::size_t>(fam)],
            rocksdb::Slice(key.data(), key.size()),
            &value);
    if (s.IsNotFound()) {
        return std::optional<std::string>{};
    }
    if (!s.ok()) {
        return make_error_code(to_errc(s));
    }
    return std::optional<std::string>{std::move(value)};
}

store_stats rocksdb_store::stats() const {
    store_stats s;
    {
        std::lock_guard lock(impl_->mutex);
        s = impl_->counters;
    }
    std::shared_lock db_lock(impl_->db_mutex);
    if (!impl_->db) {
        return s;
    }
    for (std::size_t i = 0; i < family_count; ++i) {
        std::uint64_t v = 0;
        if (impl_->db->GetIntProperty(impl_->cf[i], "rocksdb.estimate-num-keys", &v)) {
            s.keys[i] = v;
        }
        if (impl_->db->GetIntProperty(impl_->cf[i], "rocksdb.total-sst-files-size", &v)) {
            s.disk_bytes += v;
        }
    }
    rocksdb::VectorLogPtr wal;
    if (impl_->db->GetSortedWalFiles(wal).ok()) {
        for (const auto& f : wal) {
            s.disk_bytes += f->SizeFileBytes();
        }
    }
    return s;
}

std::uint32_t rocksdb_store::schema_version() const noexcept {
    return current_schema_version;
}

std::string rocksdb_store::describe(boost::system::error_code ec) const {
    auto e = ec.category() == persist_category() ? static_cast<errc>(ec.value()) : errc::io_error;
    return fmt::format("data dir {}: {}; {}", impl_->opts.dir, ec.message(), what_to_do(e));
}

const std::filesystem::path& rocksdb_store::dir() const noexcept {
    return impl_->opts.dir;
}

boost::system::error_code rocksdb_store::flush() {
    std::shared_lock db_lock(impl_->db_mutex);
    if (!impl_->db) {
        return make_error_code(errc::closed);
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles(impl_->cf.begin(), impl_->cf.end());
    rocksdb::FlushOptions fo;
    fo.wait = true;
    return make_error_code(to_errc(impl_->db->Flush(fo, handles)));
}

boost::system::error_code rocksdb_store::compact() {
    std::shared_lock db_lock(impl_->db_mutex);
    if (!impl_->db) {
        return make_error_code(errc::closed);
    }
    for (auto* h : impl_->cf) {
        auto s = impl_->db->CompactRange(rocksdb::CompactRangeOptions(), h, nullptr, nullptr);
        if (!s.ok()) {
            return make_error_code(to_errc(s));
        }
    }
    return {};
}

boost::system::error_code rocksdb_store::checkpoint(const std::filesystem::path& target) const {
    std::shared_lock db_lock(impl_->db_mutex);
    if (!impl_->db) {
        return make_error_code(errc::closed);
    }
    rocksdb::Checkpoint* raw = nullptr;
    auto s = rocksdb::Checkpoint::Create(impl_->db.get(), &raw);
    if (!s.ok()) {
        return make_error_code(to_errc(s));
    }
    std::unique_ptr<rocksdb::Checkpoint> cp(raw);
    s = cp->CreateCheckpoint(target.string());
    if (!s.ok()) {
        spdlog::error("data dir {}: checkpoint to {}: {}", impl_->opts.dir, target, s.ToString());
    }
    return make_error_code(to_errc(s));
}

void rocksdb_store::fail_next_write(bool disk_full) {
    if (impl_->faults) {
        impl_->faults->armed = disk_full ? fault_fs::no_space : fault_fs::io_error;
    }
}

} // namespace thinggate::persist
