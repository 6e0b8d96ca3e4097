// GET /_kmsd/metrics (Prometheus text format): what the server counts per request, and what it
// reads from the catalog, the storage and the scheduler when scraped.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/metrics.h"

namespace kmsd {

class App;

class RequestMetrics {
public:
    // Room for the model's operations plus one for a target that names none of them, and for
    // every ErrorCode (0, success, included) plus one for a __type outside them.
    static constexpr std::size_t kOperations = 64;
    static constexpr std::size_t kErrorTypes = 64;

    // One KMS API request: `target` as X-Amz-Target gave it, `error_type` its __type ("" for
    // success). A few relaxed atomic adds on this thread's shard; lookups are hashed.
    void Record(std::string_view target, std::string_view error_type, double seconds);
    // The same, by the model index of the operation (api/validate.h; -1: none).
    void Record(int operation, std::string_view error_type, double seconds);

    void Render(metrics::TextWriter& out) const;

    // Kept by the server: accepted connections not yet closed.
    std::atomic<int> open_connections{0};
    // Kept by the server: connections moved to the worker thread on their client's CPU.
    std::atomic<std::uint64_t> connections_moved{0};

private:
    metrics::Counters<kOperations * kErrorTypes> requests_;
    metrics::Counters<kOperations * metrics::kHistogramSlots> latency_;
};

// Scheduler runs and what they did.
struct SchedulerMetrics {
    metrics::Counters<4> counts;  // runs, rotations, deletions, expired key materials
    enum : std::size_t { kRuns, kRotations, kDeletions, kExpirations };
};

// The whole /_kmsd/metrics page.
std::string RenderMetrics(const App& app);

}  // namespace kmsd
