// UsageTracker: the last successful cryptographic use of each key (GetKeyLastUsage), kept in
// memory on the hot path and flushed to SQLite every second and at shutdown (design.md §2).
// Thread-safe. Recording takes one of 64 shard mutexes for a few hundred nanoseconds, never the
// Catalog's locks.
#pragma once

#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "storage/catalog.h"
#include "storage/records.h"

namespace kmsd::api {

class UsageTracker {
public:
    void Record(const storage::ScopedNameRef& key, const char* operation, double timestamp,
                const std::string& request_id);
    // The last use recorded since startup (memory only).
    std::optional<storage::UsageRecord> Get(const storage::ScopedName& key) const;
    // The last use of `key`: recorded since startup, or else as `stored` holds it. The stored
    // records are read on demand, not loaded at startup.
    Result<std::optional<storage::UsageRecord>> Lookup(const storage::ScopedName& key,
                                                       const storage::Catalog& stored) const;
    // Writes every record changed since the last flush in one transaction. When that fails the
    // records stay dirty for the next flush.
    Status Flush(storage::Catalog& catalog);
    // Drops a deleted key's record, so memory does not grow with keys that are gone.
    void Forget(const storage::ScopedName& key);
    void Clear();

private:
    struct Entry {
        storage::UsageRecord record;
        bool dirty = false;  // changed since the last flush
    };
    struct Shard {
        mutable std::mutex mu;
        std::unordered_map<storage::ScopedName, Entry, storage::ScopedNameHash,
                           storage::ScopedNameEqual>
            entries;
        std::vector<storage::ScopedName> dirty;  // the entries with dirty set, once each
    };
    Shard& ShardOf(const storage::ScopedNameRef& key) const;

    mutable std::array<Shard, 64> shards_;
};

}  // namespace kmsd::api
