#include "api/usage.h"

#include <algorithm>
#include <functional>

#include "api/audit.h"

namespace kmsd::api {

void UsageTracker::List(SlotPtr slot) {
    Shard& shard = shards_[std::hash<const void*>{}(slot.get()) % shards_.size()];
    std::lock_guard lock(shard.mu);
    shard.dirty.push_back(std::move(slot));
}

void UsageTracker::Record(const storage::KeyRecord& key, const char* operation, double timestamp,
                          const std::string& request_id) {
    const SlotPtr& slot = key.slot;
    if (slot == nullptr) return;
    bool newly_dirty = false;
    {
        std::lock_guard lock(slot->mu);
        slot->operation = operation;
        slot->timestamp = timestamp;
        slot->SetRequestId(request_id);
        newly_dirty = !slot->dirty;
        slot->dirty = true;
    }
    if (newly_dirty) List(slot);
}

std::optional<storage::UsageRecord> UsageTracker::Get(const storage::KeyRecord& key) {
    if (key.slot == nullptr) return std::nullopt;
    storage::UsageRecord out;
    {
        std::lock_guard lock(key.slot->mu);
        if (key.slot->operation == nullptr) return std::nullopt;
        out.operation = key.slot->operation;
        out.timestamp = key.slot->timestamp;
        out.request_id = key.slot->RequestId();
    }
    out.key = key.slot->key;
    out.event_id = CloudTrailEventId(out.request_id);  // derived when read, off the hot path
    return out;
}

Result<std::optional<storage::UsageRecord>> UsageTracker::Lookup(const storage::KeyRecord& key,
                                                                 const storage::Catalog& stored) {
    if (auto recorded = Get(key)) return recorded;
    KMSD_ASSIGN_OR_RETURN(auto record, stored.ReadUsage(key.scoped()));
    if (record && record->event_id.empty())
        record->event_id = CloudTrailEventId(record->request_id);
    return record;
}

Status UsageTracker::Flush(storage::Catalog& catalog) {
    std::lock_guard flush_lock(flush_mu_);
    std::vector<SlotPtr>& taken = taken_;
    taken.clear();
    for (std::size_t s = 0; s < shards_.size(); ++s) {
        // The shard gets the spare list (empty, with the capacity of an earlier one), and the
        // list it had becomes the next spare once emptied.
        std::vector<SlotPtr>& listed = spare_[s];
        {
            std::lock_guard lock(shards_[s].mu);
            listed.swap(shards_[s].dirty);
        }
        taken.insert(taken.end(), std::make_move_iterator(listed.begin()),
                     std::make_move_iterator(listed.end()));
        listed.clear();
    }
    if (taken.empty()) return Status::Ok();
    // In primary-key order (the key's rowid), so the upserts walk SQLite's B-tree pages in order
    // and each page is read once; in hash order, with many keys in use, SQLite's small page
    // cache re-read the same pages again and again. Keys made since startup (row 0) first.
    // With many keys in use each slot is a cache miss, so the loops below ask for the slot a few
    // places ahead (kAhead) while they read this one.
    constexpr std::size_t kAhead = 8;
    std::vector<std::pair<std::int64_t, SlotPtr>>& ordered = ordered_;
    ordered.clear();
    ordered.reserve(taken.size());
    for (std::size_t i = 0; i < taken.size(); ++i) {
        if (i + kAhead < taken.size()) storage::PrefetchSlot(taken[i + kAhead].get());
        const std::int64_t row = taken[i]->row.load(std::memory_order_relaxed);
        ordered.emplace_back(row, std::move(taken[i]));
    }
    std::sort(ordered.begin(), ordered.end(),
              [](const auto& x, const auto& y) { return x.first < y.first; });
    for (std::size_t i = 0; i < ordered.size(); ++i) taken[i] = std::move(ordered[i].second);
    ordered.clear();
    std::vector<storage::UsageRecord>& records = change_.put_usage;
    records.clear();
    records.reserve(taken.size());
    for (std::size_t i = 0; i < taken.size(); ++i) {
        if (i + kAhead < taken.size()) storage::PrefetchSlot(taken[i + kAhead].get());
        const SlotPtr& slot = taken[i];
        storage::UsageRecord& rec = records.emplace_back();
        {
            std::lock_guard lock(slot->mu);
            slot->dirty = false;
            if (slot->operation != nullptr) rec.operation = slot->operation;
            rec.timestamp = slot->timestamp;
            rec.request_id = slot->RequestId();
        }
        // Stored without its event ID, which is derived from the request ID when read; and
        // without its key's name, which the write reads from the slot.
        rec.slot = slot.get();
    }
    Status st = catalog.Apply(change_);
    records.clear();  // its slot pointers are the taken slots'
    if (!st.ok()) {
        // Nothing was written: list the slots again so the next flush retries them (a slot
        // used again meanwhile is already listed, with its newer value).
        for (auto& slot : taken) {
            bool relist = false;
            {
                std::lock_guard lock(slot->mu);
                relist = !slot->dirty;
                slot->dirty = true;
            }
            if (relist) List(std::move(slot));
        }
    }
    taken.clear();  // a deleted key's slot is freed now, not at the next flush
    return st;
}

void UsageTracker::Clear() {
    for (auto& shard : shards_) {
        std::vector<SlotPtr> dropped;
        {
            std::lock_guard lock(shard.mu);
            dropped.swap(shard.dirty);
        }
        for (const auto& slot : dropped) {
            std::lock_guard lock(slot->mu);
            slot->dirty = false;  // so a later use lists it again
        }
    }
}

}  // namespace kmsd::api
