#include "storage/records.h"

#include <mutex>
#include <unordered_map>

namespace kmsd::storage {

std::shared_ptr<const std::string> SharedText::Intern(std::string text) {
    if (text.empty()) return nullptr;
    static std::mutex mu;
    // Keyed by a copy of the text (a view into the shared copy would dangle once the last
    // record lets go of it); distinct texts are few, so the second copy is cheap.
    static auto* const table =
        new std::unordered_map<std::string, std::weak_ptr<const std::string>>();
    static std::size_t live_after_prune = 0;
    std::lock_guard lock(mu);
    auto& slot = (*table)[text];
    if (auto live = slot.lock()) return live;
    auto copy = std::make_shared<const std::string>(std::move(text));
    slot = copy;
    // Texts no record holds any more are dropped now and then (the table never holds more than
    // twice the live ones).
    if (table->size() >= 2 * live_after_prune + 64) {
        std::erase_if(*table, [](const auto& e) { return e.second.expired(); });
        live_after_prune = table->size();
    }
    return copy;
}

const SharedText& DefaultText::KeyUsage() {
    static const SharedText text = std::string("ENCRYPT_DECRYPT");
    return text;
}
const SharedText& DefaultText::KeySpec() {
    static const SharedText text = std::string("SYMMETRIC_DEFAULT");
    return text;
}
const SharedText& DefaultText::Origin() {
    static const SharedText text = std::string("AWS_KMS");
    return text;
}

const std::string& SharedText::Empty() {
    static const std::string empty;
    return empty;
}

}  // namespace kmsd::storage
