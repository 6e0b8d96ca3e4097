#include "storage/key_index.h"

#include <string_view>
#include <utility>

namespace kmsd::storage {

std::size_t KeyIndex::Probe(const ScopedNameRef& name, std::size_t hash) const {
    for (std::size_t i = Home(hash);; i = Next(i)) {
        const Slot& slot = slots_[i];
        if (!slot.key) return i;
        if (slot.hash != hash) continue;
        PrefetchHinted(slot);
        if (Names(slot, name)) return i;
    }
}

const KeyIndex::KeyPtr* KeyIndex::Find(const ScopedNameRef& name) const {
    if (size_ == 0) return nullptr;
    const std::size_t i = Probe(name, HashOf(name));
    return slots_[i].key ? &slots_[i].key : nullptr;
}

KeyIndex::KeyPtr KeyIndex::Put(KeyPtr key) {
    if ((size_ + 1) * 4 > slots_.size() * 3) Grow(slots_.empty() ? 16 : slots_.size() * 2);
    const ScopedNameRef name(key->account, key->region, key->key_id);
    const std::size_t hash = HashOf(name);
    Slot& slot = slots_[Probe(name, hash)];
    if (!slot.key) ++size_;
    slot.hash = hash;
    std::swap(slot.key, key);
    Hint(slot);
    return key;
}

void KeyIndex::Hint(Slot& slot) {
    const KeyRecord& key = *slot.key;
    const std::string_view arn = key.arn;
    slot.id_text = arn.size() > key.key_id.size() && arn.ends_with(key.key_id)
                       ? arn.data() + (arn.size() - key.key_id.size())
                       : key.key_id.data();
    slot.arn_text = arn.data();
    slot.material = key.materials.empty() ? nullptr : &key.materials.back();
    slot.usage = key.slot.get();
}

void KeyIndex::Rehint() {
    // In slot order, each record a miss of its own: ask for the one 8 slots ahead meanwhile.
    for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (i + 8 < slots_.size() && slots_[i + 8].key) Prefetch(slots_[i + 8].key.get());
        if (slots_[i].key) Hint(slots_[i]);
    }
}

void KeyIndex::PrefetchHinted(const Slot& slot) {
    PrefetchRequestLines(*slot.key);
    Prefetch(slot.id_text);
    Prefetch(slot.arn_text);
    Prefetch(slot.arn_text + 64);
    if (slot.usage != nullptr) Prefetch(slot.usage);
    if (slot.material != nullptr) {
        const char* entry = reinterpret_cast<const char*>(slot.material);
        for (std::size_t at = 0; at < sizeof(MaterialRecord); at += 64) Prefetch(entry + at);
        Prefetch(entry + sizeof(MaterialRecord) - 1);
    }
}

void KeyIndex::Erase(const ScopedNameRef& name) {
    if (size_ == 0) return;
    std::size_t hole = Probe(name, HashOf(name));
    if (!slots_[hole].key) return;
    slots_[hole].key.reset();
    --size_;
    // Backward shift: move up each later entry of the run whose home is not between the hole and
    // it, so every entry stays reachable from its home without tombstones.
    for (std::size_t i = Next(hole); slots_[i].key; i = Next(i)) {
        const std::size_t home = Home(slots_[i].hash);
        const bool stays = hole <= i ? (hole < home && home <= i) : (hole < home || home <= i);
        if (stays) continue;
        slots_[hole] = std::move(slots_[i]);
        slots_[i].key.reset();
        hole = i;
    }
}

void KeyIndex::Clear() {
    slots_.clear();
    size_ = 0;
    Publish();
}

void KeyIndex::Publish() {
    table_.store(slots_.empty() ? 0 : reinterpret_cast<std::uintptr_t>(slots_.data()),
                 std::memory_order_relaxed);
    mask_.store(slots_.empty() ? 0 : slots_.size() - 1, std::memory_order_relaxed);
}

void KeyIndex::Reserve(std::size_t count) {
    std::size_t capacity = 16;
    while (capacity * 3 < count * 4) capacity *= 2;
    if (capacity > slots_.size()) Grow(capacity);
}

void KeyIndex::Grow(std::size_t capacity) {
    std::vector<Slot> old(capacity);
    old.swap(slots_);
    for (auto& slot : old) {
        if (!slot.key) continue;
        std::size_t i = Home(slot.hash);
        while (slots_[i].key) i = Next(i);
        slots_[i] = std::move(slot);
    }
    Publish();
}

}  // namespace kmsd::storage
