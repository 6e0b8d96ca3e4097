// Clock: the one source of KMS time (design.md §6): wall time plus a persisted, only-growing
// offset. Thread-safe. SigV4 and HTTP Date use wall time, never this clock.
#pragma once

#include <atomic>
#include <chrono>
#include <ctime>
#include <string>

namespace kmsd {

class Clock {
public:
    virtual ~Clock() = default;
    // KMS time in seconds since the epoch, with fractions.
    virtual double Now() const = 0;
};

// Wall time plus an offset in seconds. The offset only grows (callers enforce that).
class OffsetClock : public Clock {
public:
    double Now() const override {
        auto wall =
            std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                .count();
        return wall + offset_.load(std::memory_order_relaxed);
    }
    double offset() const { return offset_.load(std::memory_order_relaxed); }
    void set_offset(double seconds) { offset_.store(seconds, std::memory_order_relaxed); }

private:
    std::atomic<double> offset_{0};
};

// `seconds` since the epoch as UTC in strftime's `format` (HTTP dates, SigV4's X-Amz-Date,
// aws:CurrentTime).
inline std::string FormatUtc(double seconds, const char* format) {
    const auto t = static_cast<std::time_t>(seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[64];
    std::strftime(buf, sizeof buf, format, &tm);
    return buf;
}

}  // namespace kmsd
