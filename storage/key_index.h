// KeyIndex: the Catalog's hash index of published key records by (account, Region, key ID).
// Open addressing with linear probing: a slot holds the name's hash and the record, and a lookup
// compares the name with the record's own fields. With many keys in use, a lookup reads the slot
// and the record (which the request reads next anyway); a node-based map also read its node and
// the node's own copy of the key ID, each a cache miss of its own. A slot whose hash matches
// starts loading the record's request lines and the key ID's text at once (the slot keeps a
// pointer to that text for it), so the compare waits for one miss, not three in a row. Not
// thread-safe: the Catalog guards it with its mutex.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "storage/records.h"

namespace kmsd::storage {

class KeyIndex {
public:
    using KeyPtr = std::shared_ptr<const KeyRecord>;

    // The record published under `name`, or null.
    const KeyPtr* Find(const ScopedNameRef& name) const;
    bool Contains(const ScopedNameRef& name) const { return Find(name) != nullptr; }
    // Starts loading the slot where a lookup of `name` begins: a hint given before the lookup,
    // while the request does other work, so that the slot's miss overlaps that work. Safe without
    // the Catalog's lock: it reads only two atomics, which the writer updates when the table
    // moves, and a prefetch of a stale address is harmless.
    void PrefetchHome(const ScopedNameRef& name) const {
        const std::uintptr_t table = table_.load(std::memory_order_relaxed);
        if (table == 0) return;
        const std::size_t i = HashOf(name) & mask_.load(std::memory_order_relaxed);
        Prefetch(reinterpret_cast<const void*>(table + i * sizeof(Slot)));
    }
    // Publishes `key` under its own name; returns the record it replaced (null if none).
    KeyPtr Put(KeyPtr key);
    void Erase(const ScopedNameRef& name);
    void Clear();
    void Reserve(std::size_t count);
    std::size_t size() const { return size_; }
    template <class F>
    void ForEach(F&& f) const {
        for (const auto& slot : slots_)
            if (slot.key) f(*slot.key);
    }

private:
    struct Slot {
        std::size_t hash = 0;
        // The record's key ID text: only a prefetch hint (never read through), so the compare
        // need not wait for the record's line to learn where the text is.
        const char* id_text = nullptr;
        KeyPtr key;  // null: empty
    };
    static std::size_t HashOf(const ScopedNameRef& name) { return ScopedNameHash{}(name); }
    static bool Names(const KeyRecord& key, const ScopedNameRef& name) {
        return key.key_id == name.name && key.region == name.region && key.account == name.account;
    }
    std::size_t Home(std::size_t hash) const { return hash & (slots_.size() - 1); }
    std::size_t Next(std::size_t i) const { return (i + 1) & (slots_.size() - 1); }
    // Where `name` is, or the empty slot where it would go (the table is never full).
    std::size_t Probe(const ScopedNameRef& name, std::size_t hash) const;
    void Grow(std::size_t capacity);

    void Publish();  // sets table_ and mask_ from slots_

    std::vector<Slot> slots_;  // a power of two in size, at most 3/4 full; empty until used
    std::size_t size_ = 0;
    std::atomic<std::uintptr_t> table_{0};  // slots_.data() (0 when empty), for PrefetchHome
    std::atomic<std::size_t> mask_{0};      // slots_.size() - 1
};

}  // namespace kmsd::storage
