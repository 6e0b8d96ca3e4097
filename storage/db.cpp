#include "storage/db.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>

namespace kmsd::storage {

Statement::Statement(Db& db, const char* sql) : db_(db) {
    prepare_rc_ = sqlite3_prepare_v2(db.handle(), sql, -1, &stmt_, nullptr);
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::Reset() { sqlite3_reset(stmt_); }

Status Statement::Bind(const std::vector<SqlValue>& values) {
    if (prepare_rc_ != SQLITE_OK) return db_.LastError("prepare");
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    for (std::size_t i = 0; i < values.size(); ++i) {
        int idx = static_cast<int>(i) + 1;
        int rc = std::visit(
            [&](const auto& v) -> int {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, std::monostate>) {
                    return sqlite3_bind_null(stmt_, idx);
                } else if constexpr (std::is_same_v<T, std::int64_t>) {
                    return sqlite3_bind_int64(stmt_, idx, v);
                } else if constexpr (std::is_same_v<T, double>) {
                    return sqlite3_bind_double(stmt_, idx, v);
                } else if constexpr (std::is_same_v<T, std::string>) {
                    return sqlite3_bind_text(stmt_, idx, v.data(), static_cast<int>(v.size()),
                                             SQLITE_TRANSIENT);
                } else {
                    // An empty vector's data() may be null, which SQLite would bind as NULL.
                    if (v.empty()) return sqlite3_bind_zeroblob(stmt_, idx, 0);
                    return sqlite3_bind_blob(stmt_, idx, v.data(), static_cast<int>(v.size()),
                                             SQLITE_TRANSIENT);
                }
            },
            values[i]);
        if (rc != SQLITE_OK) return db_.LastError("bind");
    }
    return Status::Ok();
}

Result<bool> Statement::Step() {
    if (prepare_rc_ != SQLITE_OK) return db_.LastError("prepare");
    if (db_.ShouldFailStep()) return Error(ErrorCode::kStorage, "injected SQL step failure");
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return db_.LastError("step");
}

Status Statement::RunViews(std::initializer_list<SqlArg> values) {
    if (prepare_rc_ != SQLITE_OK) return db_.LastError("prepare");
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    int idx = 0;
    for (const auto& value : values) {
        ++idx;
        int rc = std::visit(
            [&](const auto& v) -> int {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, std::monostate>) {
                    return sqlite3_bind_null(stmt_, idx);
                } else if constexpr (std::is_same_v<T, std::int64_t>) {
                    return sqlite3_bind_int64(stmt_, idx, v);
                } else if constexpr (std::is_same_v<T, double>) {
                    return sqlite3_bind_double(stmt_, idx, v);
                } else if constexpr (std::is_same_v<T, ByteView>) {
                    return sqlite3_bind_blob(stmt_, idx, v.data(), static_cast<int>(v.size()),
                                             SQLITE_STATIC);
                } else {
                    return sqlite3_bind_text(stmt_, idx, v.data(), static_cast<int>(v.size()),
                                             SQLITE_STATIC);
                }
            },
            value);
        if (rc != SQLITE_OK) return db_.LastError("bind");
    }
    Result<bool> row = true;
    while (row.ok() && *row) row = Step();
    // Unbound, so the statement holds no pointer into the caller's strings once they are gone.
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return row.ok() ? Status::Ok() : row.status();
}

Status Statement::Run(const std::vector<SqlValue>& values) {
    KMSD_RETURN_IF_ERROR(Bind(values));
    for (;;) {
        KMSD_ASSIGN_OR_RETURN(bool row, Step());
        if (!row) return Status::Ok();
    }
}

Status Statement::ForEachRow(const std::vector<SqlValue>& values,
                             const std::function<Status()>& row) {
    KMSD_RETURN_IF_ERROR(Bind(values));
    for (;;) {
        KMSD_ASSIGN_OR_RETURN(bool more, Step());
        if (!more) return Status::Ok();
        KMSD_RETURN_IF_ERROR(row());
    }
}

std::string Statement::Text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
}

std::string_view Statement::TextView(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p ? std::string_view(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string_view();
}

Bytes Statement::Blob(int col) const {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
    return p ? Bytes(p, p + sqlite3_column_bytes(stmt_, col)) : Bytes();
}

bool Statement::IsBlob(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_BLOB; }

ByteView Statement::BlobView(int col) const {
    const auto* p = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, col));
    return p ? ByteView(p, static_cast<std::size_t>(sqlite3_column_bytes(stmt_, col))) : ByteView();
}

double Statement::Real(int col) const { return sqlite3_column_double(stmt_, col); }
std::int64_t Statement::Int(int col) const { return sqlite3_column_int64(stmt_, col); }
bool Statement::IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }

Result<std::unique_ptr<Db>> Db::Open(const std::string& path) {
    const bool in_memory = path == ":memory:";
    if (!in_memory) {
        // A new database file is created here, 0600, O_EXCL|O_NOFOLLOW, so a symlink planted at
        // its path is never followed to create or truncate another file. SQLite then opens the
        // empty file (a valid empty database) and gives its -wal and -shm files the same mode.
        int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            ::close(fd);
        } else if (errno != EEXIST) {
            return Error(ErrorCode::kStorage,
                         "cannot create database " + path + ": " + std::strerror(errno));
        } else if (struct stat st{}; ::stat(path.c_str(), &st) != 0) {
            // It exists, yet stat() fails: a symlink that leads nowhere. SQLite would create the
            // file it points to; refuse instead.
            return Error(ErrorCode::kStorage,
                         "database " + path + " is a symbolic link to a file that does not exist");
        }
    }
    sqlite3* raw = nullptr;
    // Tight umask while SQLite creates files of its own: only the owner may read.
    mode_t old = umask(077);
    int rc =
        sqlite3_open_v2(path.c_str(), &raw,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    std::unique_ptr<Db> db(new Db(raw));
    if (rc != SQLITE_OK) {
        umask(old);
        return Error(ErrorCode::kStorage, "cannot open database " + path + ": " +
                                              (raw ? sqlite3_errmsg(raw) : "out of memory"));
    }
    sqlite3_busy_timeout(raw, 5000);
    // SQLite quietly opens a file it may not write read-only; kmsd would then fail every
    // mutation. Refuse to start instead.
    Status st;
    if (!in_memory && sqlite3_db_readonly(raw, "main") == 1)
        st = Error(ErrorCode::kStorage, "database " + path +
                                            " is read-only (kmsd needs to write its data "
                                            "directory and the files in it)");
    // WAL for concurrent readers of the file (backups), FULL so a COMMIT survives power loss.
    if (st.ok())
        st = db->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;");
    // A page cache of 8 MB instead of SQLite's 2: with many keys in use, the usage flush rewrites
    // nearly every page of key_usage each second (1,113 pages at 100,000 keys), and in 500 pages
    // it read each one back from the file and spilled dirty ones mid-transaction, every second.
    // The cache fills only as pages are read, so a small database keeps a small one.
    if (st.ok()) st = db->Exec("PRAGMA cache_size=-8192;");
    if (st.ok()) {
        Statement check(*db, "PRAGMA foreign_keys");
        auto row = check.Step();
        if (!row.ok() || !row.value() || check.Int(0) != 1)
            st = Error(ErrorCode::kStorage, "SQLite foreign keys could not be enabled");
    }
    umask(old);
    if (!st.ok()) {
        if (in_memory) return st;
        return Error(st.code(), "cannot open database " + path + ": " + st.message());
    }
    return db;
}

Result<std::unique_ptr<Db>> Db::OpenReader(const std::string& path) {
    sqlite3* raw = nullptr;
    // Read-write rather than SQLITE_OPEN_READONLY: a read-only connection to a WAL database
    // may not use the -shm file as other connections do. query_only keeps it from writing.
    const int rc =
        sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
    std::unique_ptr<Db> db(new Db(raw));
    if (rc != SQLITE_OK)
        return Error(ErrorCode::kStorage, "cannot open database " + path + ": " +
                                              (raw ? sqlite3_errmsg(raw) : "out of memory"));
    sqlite3_busy_timeout(raw, 5000);
    KMSD_RETURN_IF_ERROR(db->Exec("PRAGMA query_only=ON;"));
    return db;
}

Db::~Db() { sqlite3_close_v2(db_); }

void Db::ReleaseCache() { sqlite3_db_release_memory(db_); }

Status Db::Exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
        std::string msg = err ? err : "unknown error";
        sqlite3_free(err);
        return Error(ErrorCode::kStorage, "SQLite: " + msg);
    }
    return Status::Ok();
}

Status Db::LastError(const char* what) const {
    return Error(ErrorCode::kStorage, std::string("SQLite ") + what + ": " + sqlite3_errmsg(db_));
}

Transaction::Transaction(Db& db) : db_(db) {
    status_ = db_.Exec("BEGIN IMMEDIATE");
    // A transaction left open by a failed ROLLBACK (disk full, I/O error) would make every later
    // BEGIN fail: end it and try once more, so one fault does not stop all writes for good.
    if (!status_.ok() && sqlite3_get_autocommit(db_.handle()) == 0) {
        (void)db_.Exec("ROLLBACK");
        status_ = db_.Exec("BEGIN IMMEDIATE");
    }
}

Transaction::~Transaction() {
    // After a failed statement or COMMIT, SQLite may already have rolled back (SQLITE_FULL,
    // SQLITE_IOERR); ROLLBACK then reports "no transaction is active", which is fine.
    if (status_.ok() && !done_ && sqlite3_get_autocommit(db_.handle()) == 0)
        (void)db_.Exec("ROLLBACK");
}

Status Transaction::Commit() {
    if (!status_.ok()) return status_;
    if (db_.ShouldFailStep()) return Error(ErrorCode::kStorage, "injected COMMIT failure");
    KMSD_RETURN_IF_ERROR(db_.Exec("COMMIT"));
    done_ = true;
    return Status::Ok();
}

}  // namespace kmsd::storage
