// Parsed key policies, by policy text: a key's policy is parsed once, not on every request.
// Entries are never invalid (the text is the key); the cache is emptied when it grows past a
// bound, which only costs re-parsing. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "api/authz/policy.h"

namespace kmsd::api::authz {

class PolicyCache {
public:
    // The parsed policy, or null if `text` does not parse (stored policies always do).
    std::shared_ptr<const Policy> Get(const std::string& text) {
        {
            std::shared_lock lock(mu_);
            auto it = cache_.find(text);
            if (it != cache_.end()) return it->second;
        }
        auto parsed = Policy::Parse(text, /*require_principal=*/true);
        if (!parsed.ok()) return nullptr;
        auto policy = std::make_shared<const Policy>(std::move(*parsed));
        std::unique_lock lock(mu_);
        if (cache_.size() >= kMaxEntries) cache_.clear();
        cache_.emplace(text, policy);
        return policy;
    }

private:
    static constexpr std::size_t kMaxEntries = 4096;
    std::shared_mutex mu_;
    std::unordered_map<std::string, std::shared_ptr<const Policy>> cache_;
};

}  // namespace kmsd::api::authz
