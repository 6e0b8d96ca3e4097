// UsageTracker: the last successful cryptographic use of each key (GetKeyLastUsage), kept in
// memory on the hot path and flushed to SQLite every second and at shutdown (design.md §2).
// Thread-safe. The use is written into the key's own slot (storage::KeySlot, reached through
// the record the request holds), under the slot's mutex; a slot that was clean is also listed
// for the next flush, under one of a few list mutexes. No lookup by name, no Catalog lock.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "storage/catalog.h"
#include "storage/records.h"

namespace kmsd::api {

class UsageTracker {
public:
    // Notes a use of `key` (a published record: one without a slot is ignored).
    void Record(const storage::KeyRecord& key, const char* operation, double timestamp,
                const std::string& request_id);
    // The last use recorded since startup (memory only).
    static std::optional<storage::UsageRecord> Get(const storage::KeyRecord& key);
    // The last use of `key`: recorded since startup, or else as `stored` holds it. The stored
    // records are read on demand, not loaded at startup.
    static Result<std::optional<storage::UsageRecord>> Lookup(const storage::KeyRecord& key,
                                                              const storage::Catalog& stored);
    // Writes every record changed since the last flush in one transaction. When that fails the
    // records stay dirty for the next flush.
    Status Flush(storage::Catalog& catalog);
    // Drops the list of changed records (the Catalog's reset dropped the keys themselves).
    void Clear();

private:
    using SlotPtr = std::shared_ptr<storage::KeySlot>;
    struct Shard {
        std::mutex mu;
        std::vector<SlotPtr> dirty;  // each slot with dirty set, once
    };
    // Lists slots that became dirty, the flush's worklist. Several, by slot address, so the
    // workers rarely meet on one; the flush takes each list by swapping it, so a worker waits
    // at most for that swap.
    void List(SlotPtr slot);

    std::array<Shard, 8> shards_;

    // The flush's buffers, kept from one flush to the next. With many keys in use they hold tens
    // of thousands of entries (about 10 MB for 40,000 keys used in a second); allocated afresh
    // every second, that memory was mapped and faulted in again each time, and given back.
    // Under flush_mu_: a flush at shutdown may meet the scheduler's.
    std::mutex flush_mu_;
    std::array<std::vector<SlotPtr>, 8> spare_;  // each shard's next list, empty, capacity kept
    std::vector<SlotPtr> taken_;
    std::vector<std::pair<std::int64_t, SlotPtr>> ordered_;
    storage::Change change_;  // only put_usage is used
};

}  // namespace kmsd::api
