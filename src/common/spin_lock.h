// SpinLock: a one-byte lock for critical sections of a few instructions in objects there are
// very many of (each key's record, material and slot: a std::mutex is 40 bytes, and with
// 100,000 keys those bytes were megabytes to allocate and touch at startup).
#pragma once

#include <atomic>
#include <thread>

namespace kmsd {

// BasicLockable, so std::lock_guard takes it. Only for sections that copy a pointer or a few
// fields and never block: a waiter spins briefly, then yields, so a holder preempted on a
// busy core (two cores here, shared with the client) gets it back soon.
class SpinLock {
public:
    void lock() noexcept {
        for (int spins = 0; locked_.exchange(true, std::memory_order_acquire); ++spins) {
            while (locked_.load(std::memory_order_relaxed)) {
                if (++spins > 64) std::this_thread::yield();
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
            }
        }
    }
    void unlock() noexcept { locked_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> locked_{false};
};

}  // namespace kmsd
