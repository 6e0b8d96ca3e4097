// Parsed key policies: a key's policy is parsed once, not on every request. Entries are found
// by the address of the (immutable) key record and checked against its policy text, so a
// changed policy or a reused address is simply a miss; the cache is emptied when it grows past
// a bound, which only costs re-parsing. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "api/authz/policy.h"
#include "storage/records.h"

namespace kmsd::api::authz {

class PolicyCache {
public:
    // The parsed policy of `key`, or null if it does not parse (stored policies always do).
    std::shared_ptr<const Policy> Get(const storage::KeyRecord& key) {
        {
            std::shared_lock lock(mu_);
            auto it = cache_.find(&key);
            if (it != cache_.end() && it->second.text == key.policy) return it->second.policy;
        }
        auto parsed = Policy::Parse(key.policy, /*require_principal=*/true);
        if (!parsed.ok()) return nullptr;
        auto policy = std::make_shared<const Policy>(std::move(*parsed));
        std::unique_lock lock(mu_);
        if (cache_.size() >= kMaxEntries) cache_.clear();
        cache_[&key] = {key.policy, policy};
        return policy;
    }

private:
    struct Entry {
        std::string text;
        std::shared_ptr<const Policy> policy;
    };
    static constexpr std::size_t kMaxEntries = 16384;
    std::shared_mutex mu_;
    std::unordered_map<const storage::KeyRecord*, Entry> cache_;
};

}  // namespace kmsd::api::authz
