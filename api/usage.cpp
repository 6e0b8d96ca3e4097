#include "api/usage.h"

#include <algorithm>
#include <functional>

#include "api/audit.h"

namespace kmsd::api {
UsageTracker::Shard& UsageTracker::ShardOf(const storage::ScopedNameRef& key) const {
    return shards_[storage::ScopedNameHash{}(key) % shards_.size()];
}

void UsageTracker::Record(const storage::ScopedNameRef& key, const char* operation,
                          double timestamp, const std::string& request_id) {
    Shard& shard = ShardOf(key);
    std::lock_guard lock(shard.mu);
    auto it = shard.entries.find(key);
    if (it == shard.entries.end()) {
        storage::ScopedName name{std::string(key.account), std::string(key.region),
                                 std::string(key.name)};
        it = shard.entries.emplace(name, Entry{}).first;
        it->second.record.key = std::move(name);
    }
    Entry& entry = it->second;
    entry.record.operation = operation;
    entry.record.timestamp = timestamp;
    entry.record.request_id = request_id;
    entry.record.event_id.clear();  // derived when read, off the hot path
    if (!entry.dirty) {
        entry.dirty = true;
        shard.dirty.push_back(entry.record.key);
    }
}

std::optional<storage::UsageRecord> UsageTracker::Get(const storage::ScopedName& key) const {
    Shard& shard = ShardOf(key);
    std::lock_guard lock(shard.mu);
    auto it = shard.entries.find(key);
    if (it == shard.entries.end()) return std::nullopt;
    storage::UsageRecord out = it->second.record;
    if (out.event_id.empty()) out.event_id = CloudTrailEventId(out.request_id);
    return out;
}

Result<std::optional<storage::UsageRecord>> UsageTracker::Lookup(
    const storage::ScopedName& key, const storage::Catalog& stored) const {
    if (auto recorded = Get(key)) return recorded;
    KMSD_ASSIGN_OR_RETURN(auto record, stored.ReadUsage(key));
    if (record && record->event_id.empty())
        record->event_id = CloudTrailEventId(record->request_id);
    return record;
}

Status UsageTracker::Flush(storage::Catalog& catalog) {
    storage::Change change;
    for (auto& shard : shards_) {
        std::lock_guard lock(shard.mu);
        for (const auto& key : shard.dirty) {
            auto it = shard.entries.find(key);
            if (it == shard.entries.end()) continue;
            it->second.dirty = false;
            // Stored without its event ID, which is derived from the request ID when read.
            change.put_usage.push_back(it->second.record);
        }
        shard.dirty.clear();
    }
    if (change.put_usage.empty()) return Status::Ok();
    // In primary-key order, so the upserts walk SQLite's B-tree pages in order and each page is
    // read once; in hash order, with many keys in use, SQLite's small page cache re-read the
    // same pages again and again.
    std::sort(
        change.put_usage.begin(), change.put_usage.end(),
        [](const storage::UsageRecord& x, const storage::UsageRecord& y) { return x.key < y.key; });
    Status st = catalog.Apply(change);
    if (!st.ok()) {
        // Nothing was written: mark the records dirty again so the next flush retries them
        // (a record used again meanwhile is already dirty, with its newer value).
        for (const auto& rec : change.put_usage) {
            Shard& shard = ShardOf(rec.key);
            std::lock_guard lock(shard.mu);
            auto it = shard.entries.find(rec.key);
            if (it == shard.entries.end() || it->second.dirty) continue;
            it->second.dirty = true;
            shard.dirty.push_back(rec.key);
        }
    }
    return st;
}

void UsageTracker::Forget(const storage::ScopedName& key) {
    Shard& shard = ShardOf(key);
    std::lock_guard lock(shard.mu);
    shard.entries.erase(key);  // a stale name in `dirty` is skipped by Flush
}

void UsageTracker::Clear() {
    for (auto& shard : shards_) {
        std::lock_guard lock(shard.mu);
        shard.entries.clear();
        shard.dirty.clear();
    }
}

}  // namespace kmsd::api
