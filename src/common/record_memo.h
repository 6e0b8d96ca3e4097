// RecordMemo: a value derived from an immutable record and kept with it.
#pragma once

#include <memory>
#include <mutex>

#include "common/prefetch.h"
#include "common/spin_lock.h"

namespace kmsd {

// A value derived from an immutable record and kept with it, set by its user on first use and
// type-erased, as the record's owner does not know its type: the parsed key policy (set by the
// authorizer), a material's unsealed form (set by the HSM, and only readable by it). A copy starts
// empty: a copy is the start of a changed record. Thread-safe.
// A lock, not std::atomic<std::shared_ptr>: libstdc++ 12's load() releases its internal
// lock with relaxed order, so a load and a later store on another thread are not ordered
// (ThreadSanitizer reported it when two requests met on a fresh key). Both take a lock word on
// every read, so the lock costs the same. A SpinLock, not a std::mutex: 24 bytes instead of 56
// in every record and material (the section only copies a shared_ptr).
class RecordMemo {
public:
    RecordMemo() = default;
    RecordMemo(const RecordMemo&) noexcept {}
    RecordMemo& operator=(const RecordMemo&) noexcept {
        Set(nullptr);
        return *this;
    }
    std::shared_ptr<const void> Get() const {
        std::lock_guard lock(mu_);
        return value_;
    }
    // Starts loading the value's first line (a caller about to Get() it, under a random key of
    // many, then waits for one miss fewer in a row).
    void PrefetchValue() const {
        const void* p;
        {
            std::lock_guard lock(mu_);
            p = value_.get();
        }
        if (p != nullptr) Prefetch(p);
    }
    // The value it replaces is let go of after the lock (its destructor may free memory).
    void Set(std::shared_ptr<const void> v) const {
        {
            std::lock_guard lock(mu_);
            value_.swap(v);
        }
    }

private:
    mutable SpinLock mu_;
    mutable std::shared_ptr<const void> value_;
};

}  // namespace kmsd
