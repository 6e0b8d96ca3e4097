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
    void Record(const storage::ScopedName& key, const char* operation, double timestamp,
                const std::string& request_id);
    std::optional<storage::UsageRecord> Get(const storage::ScopedName& key) const;
    // Seeds the tracker with what SQLite holds (startup), without marking it dirty.
    void Load(const std::vector<storage::UsageRecord>& records);
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
        std::unordered_map<storage::ScopedName, Entry, storage::ScopedNameHash> entries;
        std::vector<storage::ScopedName> dirty;  // the entries with dirty set, once each
    };
    Shard& ShardOf(const storage::ScopedName& key) const;

    mutable std::array<Shard, 64> shards_;
};

}  // namespace kmsd::api
