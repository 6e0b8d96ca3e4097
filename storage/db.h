// Thin RAII wrappers over SQLite: Db (the connection), Statement (a prepared statement) and
// Transaction (BEGIN IMMEDIATE, rolled back unless committed). Parameters are always bound.
//
// Concurrency: a Db is one connection and is NOT thread-safe. Its only owner, the Catalog, has two:
// the writer's, under its writer mutex, and a reader's (OpenReader) under a mutex of its own, where
// a request reads a key's sealed material at the key's first use since startup.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/secure_bytes.h"
#include "common/status.h"

namespace kmsd::storage {

class Db;

// A bindable value. std::monostate is SQL NULL.
using SqlValue = std::variant<std::monostate, std::int64_t, double, std::string, Bytes>;
// For RunViews: text and blobs bound without a copy.
using SqlArg = std::variant<std::monostate, std::int64_t, double, std::string_view, ByteView>;

class Statement {
public:
    Statement(Db& db, const char* sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    // Binds `values` to ?1..?N (after a reset).
    Status Bind(const std::vector<SqlValue>& values);
    // Ends the statement's run: a kept statement that stopped at a row otherwise holds its read
    // transaction, and its snapshot, open.
    void Reset();
    // Steps once: true if a row is available, false when done.
    Result<bool> Step();
    // Runs to completion (for statements without result rows).
    Status Run(const std::vector<SqlValue>& values = {});
    // The same, binding text without copying it (it only has to outlive the call): for
    // statements run once per row of a large batch.
    Status RunViews(std::initializer_list<SqlArg> values);
    // Binds `values`, then calls `row` for each result row until done or `row` fails.
    Status ForEachRow(const std::vector<SqlValue>& values, const std::function<Status()>& row);

    std::string Text(int col) const;
    // The same without a copy: valid until the statement steps again (lookups while loading).
    std::string_view TextView(int col) const;
    Bytes Blob(int col) const;
    bool IsBlob(int col) const;
    // Without a copy: valid until the statement steps again.
    ByteView BlobView(int col) const;
    double Real(int col) const;
    std::int64_t Int(int col) const;
    bool IsNull(int col) const;

private:
    Db& db_;
    sqlite3_stmt* stmt_ = nullptr;
    int prepare_rc_ = SQLITE_OK;
};

class Db {
public:
    // Opens (creating if needed, mode 0600) `path`, or an in-memory database for ":memory:".
    // Sets WAL, synchronous=FULL, foreign keys (checked), busy timeout.
    static Result<std::unique_ptr<Db>> Open(const std::string& path);
    // A second connection to the database file `path` (which Open made), for reads only
    // (query_only): in WAL mode its reads see the last commit and never wait for a writer.
    static Result<std::unique_ptr<Db>> OpenReader(const std::string& path);
    ~Db();
    Db(const Db&) = delete;
    Db& operator=(const Db&) = delete;

    Status Exec(const std::string& sql);
    sqlite3* handle() { return db_; }
    // Frees the page cache's unused pages (sqlite3_db_release_memory).
    void ReleaseCache();
    Status LastError(const char* what) const;

    // Fault injection for tests: the Nth Statement step from now fails (0 = never).
    void FailNthStep(int n) { fail_countdown_ = n; }
    bool ShouldFailStep() { return fail_countdown_ > 0 && --fail_countdown_ == 0; }

private:
    explicit Db(sqlite3* db) : db_(db) {}
    sqlite3* db_;
    int fail_countdown_ = 0;
};

// BEGIN IMMEDIATE on construction (check ok()); ROLLBACK in the destructor unless committed.
class Transaction {
public:
    explicit Transaction(Db& db);
    ~Transaction();
    const Status& status() const { return status_; }
    Status Commit();

private:
    Db& db_;
    Status status_;
    bool done_ = false;
};

}  // namespace kmsd::storage
