// Parsed key policies: a key's policy is parsed once, not on every request. The parse is kept
// on the (immutable) key record itself, so finding it costs one atomic load whatever the number
// of keys; records with the same policy text (every key with the default policy of its
// account) share one parse. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "api/authz/policy.h"
#include "storage/records.h"

namespace kmsd::api::authz {

class PolicyCache {
public:
    // The parsed policy of `key`, or null if it does not parse (stored policies always do).
    std::shared_ptr<const Policy> Get(const storage::KeyRecord& key) {
        if (auto memo = key.parsed_policy.Get())
            return std::static_pointer_cast<const Policy>(memo);
        auto policy = Shared(key.policy);
        if (policy) key.parsed_policy.Set(policy);
        return policy;
    }

private:
    // The one parse of `text` that records share while any of them lives.
    std::shared_ptr<const Policy> Shared(const std::string& text) {
        std::lock_guard lock(mu_);
        auto& slot = by_text_[text];
        if (auto live = slot.lock()) return live;
        auto parsed = Policy::Parse(text, /*require_principal=*/true);
        if (!parsed.ok()) {
            by_text_.erase(text);
            return nullptr;
        }
        auto policy = std::make_shared<const Policy>(std::move(*parsed));
        slot = policy;
        // Texts no record uses any more are dropped now and then (the table never holds more
        // than twice the live ones).
        if (by_text_.size() >= 2 * live_after_prune_ + 64) {
            std::erase_if(by_text_, [](const auto& e) { return e.second.expired(); });
            live_after_prune_ = by_text_.size();
        }
        return policy;
    }

    std::mutex mu_;
    std::unordered_map<std::string, std::weak_ptr<const Policy>> by_text_;
    std::size_t live_after_prune_ = 0;
};

}  // namespace kmsd::api::authz
