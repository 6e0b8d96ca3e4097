// RecordMemo: a value derived from an immutable record and kept with it.
#pragma once

#include <memory>
#include <mutex>

namespace kmsd {

// A value derived from an immutable record and kept with it, set by its user on first use and
// type-erased, as the record's owner does not know its type: the parsed key policy (set by the
// authorizer), a material's unsealed form (set by the HSM, and only readable by it). A copy starts
// empty: a copy is the start of a changed record. Thread-safe.
// A mutex, not std::atomic<std::shared_ptr>: libstdc++ 12's load() releases its internal
// lock with relaxed order, so a load and a later store on another thread are not ordered
// (ThreadSanitizer reported it when two requests met on a fresh key). Both take a lock word on
// every read, so the mutex costs the same.
class RecordMemo {
public:
    RecordMemo() = default;
    RecordMemo(const RecordMemo&) noexcept {}
    RecordMemo& operator=(const RecordMemo&) noexcept {
        std::lock_guard lock(mu_);
        value_.reset();
        return *this;
    }
    std::shared_ptr<const void> Get() const {
        std::lock_guard lock(mu_);
        return value_;
    }
    void Set(std::shared_ptr<const void> v) const {
        std::lock_guard lock(mu_);
        value_ = std::move(v);
    }

private:
    mutable std::mutex mu_;
    mutable std::shared_ptr<const void> value_;
};

}  // namespace kmsd
