#pragma once

#include <cstddef>
#include <string_view>
#include <unordered_map>

namespace kmsd {

// Finds the entry of a fixed table (of structs with a `name` member) by name. Built once, on
// first use, because every request looks up its operation by name and a scan of the 50-odd
// names cost more than the rest of validation. Never freed: the tables are static too.
template <class T, std::size_t N>
const T* FindByName(const T (&table)[N], std::string_view name) {
    static const auto* const index = [&table] {
        auto* m = new std::unordered_map<std::string_view, const T*>();
        m->reserve(N);
        for (const auto& entry : table) m->emplace(entry.name, &entry);
        return m;
    }();
    const auto it = index->find(name);
    return it == index->end() ? nullptr : it->second;
}

}  // namespace kmsd
