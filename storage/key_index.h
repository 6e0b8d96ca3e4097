// KeyIndex: the Catalog's hash index of published key records by (account, Region, key ID).
// Open addressing with linear probing: a slot holds the name's hash, the record and pointers to
// what a request on the key reads next. With many keys in use, each of those is a cache miss and,
// as each lives in its own 4 KB page, a TLB miss too; a request that learnt each address from the
// object before waited for the misses one after another (slot, record, material entry, unsealed
// material). A slot whose hash matches starts loading the record's request lines, its key ID's
// text, its ARN, its usage slot and its current material's entry all at once, so the lookup waits
// for one round of misses and the request finds the rest arriving. Not thread-safe: the Catalog
// guards it with its mutex.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
    // Recomputes every slot's hints from its record: for records changed in place after Put
    // (the Catalog's load adds each key's materials after indexing the key).
    void Rehint();
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
    // One cache line. The pointers are into the record's own fields, which stay put while the
    // slot holds the record (records are immutable once published).
    struct alignas(64) Slot {
        std::size_t hash = 0;
        // Text equal to the record's key ID, which the compare reads: the ARN's tail, where the
        // ARN ends in the key ID (always, for records kmsd makes), so that a request reads one
        // text of the key's, not two; else the key ID's own.
        const char* id_text = nullptr;
        KeyPtr key;  // null: empty
        // Prefetch hints only, never read through: the ARN's text (the reply's KeyId), the
        // current material's entry and the usage slot. Null when the record has none.
        const char* arn_text = nullptr;
        const MaterialRecord* material = nullptr;
        const KeySlot* usage = nullptr;
    };
    static void Hint(Slot& slot);  // sets id_text and the hints from slot.key
    static void PrefetchHinted(const Slot& slot);
    static std::size_t HashOf(const ScopedNameRef& name) { return ScopedNameHash{}(name); }
    static bool Names(const Slot& slot, const ScopedNameRef& name) {
        const KeyRecord& key = *slot.key;
        return key.key_id.size() == name.name.size() &&
               std::memcmp(slot.id_text, name.name.data(), name.name.size()) == 0 &&
               key.region == name.region && key.account == name.account;
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
