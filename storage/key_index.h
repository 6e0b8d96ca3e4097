// KeyIndex: the Catalog's hash index of published key records by (account, Region, key ID).
// Open addressing with linear probing: a slot holds the name's hash and the record, and a lookup
// compares the name with the record's own fields. With many keys in use, a lookup reads the slot
// and the record (which the request reads next anyway); a node-based map also read its node and
// the node's own copy of the key ID, each a cache miss of its own. Not thread-safe: the Catalog
// guards it with its mutex.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "storage/records.h"

namespace kmsd::storage {

class KeyIndex {
public:
    using KeyPtr = std::shared_ptr<const KeyRecord>;

    // The record published under `name`, or null.
    const KeyPtr* Find(const ScopedNameRef& name) const;
    bool Contains(const ScopedNameRef& name) const { return Find(name) != nullptr; }
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
    // A cache line: the record, the name's hash, and the key ID inline (every KMS key ID is 36
    // characters), so a probe compares the ID without reading the record's ID and then its text,
    // two cache misses in a row under a random key of many.
    static constexpr std::size_t kInlineId = 39;
    static constexpr std::uint8_t kLongId = 0xff;  // id_size of an ID longer than kInlineId
    struct alignas(64) Slot {
        KeyPtr key;  // null: empty
        std::size_t hash = 0;
        std::uint8_t id_size = kLongId;
        char id[kInlineId] = {};
        void SetId(std::string_view key_id);
        bool HasId(std::string_view key_id) const;
    };
    static_assert(sizeof(Slot) == 64, "a slot is one cache line");
    static std::size_t HashOf(const ScopedNameRef& name) { return ScopedNameHash{}(name); }
    // `slot` holds `name` (its hash already matched).
    static bool Names(const Slot& slot, const ScopedNameRef& name);
    std::size_t Home(std::size_t hash) const { return hash & (slots_.size() - 1); }
    std::size_t Next(std::size_t i) const { return (i + 1) & (slots_.size() - 1); }
    // Where `name` is, or the empty slot where it would go (the table is never full).
    std::size_t Probe(const ScopedNameRef& name, std::size_t hash) const;
    void Grow(std::size_t capacity);

    std::vector<Slot> slots_;  // a power of two in size, at most 3/4 full; empty until used
    std::size_t size_ = 0;
};

}  // namespace kmsd::storage
