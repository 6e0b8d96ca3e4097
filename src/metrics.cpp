#include "src/metrics.h"

#include <algorithm>
#include <map>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "api/errors.h"
#include "api/validate.h"
#include "src/app.h"

namespace kmsd {
namespace {

constexpr std::size_t kErrorCodes = static_cast<std::size_t>(ErrorCode::kStorage) + 1;

// Index of each __type name: the first ErrorCode with that name (kInternal and kStorage share
// KMSInternalException); kErrorCodes for a name outside them.
std::size_t ErrorIndex(std::string_view type) {
    if (type.empty()) return 0;
    static const auto* const index = [] {
        auto* m = new std::unordered_map<std::string_view, std::size_t>();
        for (std::size_t i = 1; i < kErrorCodes; ++i)
            m->emplace(api::ExceptionName(static_cast<ErrorCode>(i)), i);
        return m;
    }();
    const auto it = index->find(type);
    return it == index->end() ? kErrorCodes : it->second;
}

std::string_view ErrorName(std::size_t i) {
    if (i == 0) return "none";
    if (i >= kErrorCodes) return "other";
    return api::ExceptionName(static_cast<ErrorCode>(i));
}

std::size_t OperationSlot(int operation) {
    // (A unit test keeps the model's operations within RequestMetrics::kOperations.)
    return operation < 0 ? api::OperationCount() : static_cast<std::size_t>(operation);
}

std::string_view OperationLabel(std::size_t slot) {
    return slot < api::OperationCount() ? api::OperationName(slot) : "unknown";
}

}  // namespace

void RequestMetrics::Record(std::string_view target, std::string_view error_type, double seconds) {
    Record(api::OperationIndexOfTarget(target), error_type, seconds);
}

void RequestMetrics::Record(int operation, std::string_view error_type, double seconds) {
    static_assert(kErrorCodes + 1 <= kErrorTypes);
    const std::size_t op = std::min(OperationSlot(operation), kOperations - 1);
    requests_.Add(op * kErrorTypes + ErrorIndex(error_type));
    metrics::Observe(latency_, op * metrics::kHistogramSlots, seconds);
}

void RequestMetrics::Render(metrics::TextWriter& out) const {
    const std::size_t ops = api::OperationCount() + 1;
    out.Family("kmsd_requests_total", "counter",
               "KMS API requests by operation and __type (error_type=\"none\": success)");
    std::vector<bool> seen(ops, false);
    for (std::size_t op = 0; op < ops; ++op)
        for (std::size_t e = 0; e <= kErrorCodes; ++e)
            if (const std::uint64_t n = requests_.Sum(op * kErrorTypes + e); n > 0) {
                seen[op] = true;
                out.Sample("kmsd_requests_total",
                           metrics::Label("operation", OperationLabel(op)) + "," +
                               metrics::Label("error_type", ErrorName(e)),
                           n);
            }
    out.Family("kmsd_request_duration_seconds", "histogram",
               "Time from a parsed request to its reply, by operation");
    for (std::size_t op = 0; op < ops; ++op)
        if (seen[op])
            out.WriteHistogram("kmsd_request_duration_seconds",
                               metrics::Label("operation", OperationLabel(op)), latency_,
                               op * metrics::kHistogramSlots);
    out.Family("kmsd_open_connections", "gauge", "Client connections open now");
    out.Sample("kmsd_open_connections", "",
               static_cast<std::uint64_t>(std::max(0, open_connections.load())));
    out.Family("kmsd_connections_moved_total", "counter",
               "Connections moved between serving threads, to the one on their client's CPU");
    out.Sample("kmsd_connections_moved_total", "", connections_moved.load());
}

std::string RenderMetrics(const App& app) {
    metrics::TextWriter out;
    app.metrics().Render(out);

    out.Family("kmsd_keys", "gauge", "Keys by state, key spec and origin");
    for (const auto& [labels, n] : app.services().catalog.KeyCensus())
        out.Sample("kmsd_keys",
                   metrics::Label("state", std::get<0>(labels)) + "," +
                       metrics::Label("key_spec", std::get<1>(labels)) + "," +
                       metrics::Label("origin", std::get<2>(labels)),
                   static_cast<std::uint64_t>(n));

    out.Family("kmsd_sqlite_write_duration_seconds", "histogram",
               "Time of each SQLite write transaction (commit included)");
    out.WriteHistogram("kmsd_sqlite_write_duration_seconds", "",
                       app.services().catalog.write_latency().counters(), 0);

    const auto& s = app.scheduler_metrics().counts;
    out.Family("kmsd_scheduler_runs_total", "counter",
               "Runs of the scheduler (once a second, and after each clock move)");
    out.Sample("kmsd_scheduler_runs_total", "", s.Sum(SchedulerMetrics::kRuns));
    out.Family("kmsd_scheduled_work_total", "counter", "Work done by the scheduler, by kind");
    out.Sample("kmsd_scheduled_work_total", metrics::Label("kind", "rotation"),
               s.Sum(SchedulerMetrics::kRotations));
    out.Sample("kmsd_scheduled_work_total", metrics::Label("kind", "deletion"),
               s.Sum(SchedulerMetrics::kDeletions));
    out.Sample("kmsd_scheduled_work_total", metrics::Label("kind", "key_material_expiry"),
               s.Sum(SchedulerMetrics::kExpirations));

    const AuditLog& audit = app.audit();
    out.Family("kmsd_audit_ring_records", "gauge",
               "CloudTrail records kept in memory for the audit endpoint");
    out.Sample("kmsd_audit_ring_records", "", audit.ring_records());
    out.Family("kmsd_audit_queue_depth", "gauge", "Records waiting for the --audit-log file");
    out.Sample("kmsd_audit_queue_depth", "", audit.queue_depth());
    out.Family("kmsd_audit_written_total", "counter", "Records written to the --audit-log file");
    out.Sample("kmsd_audit_written_total", "", audit.written());
    out.Family("kmsd_audit_dropped_total", "counter",
               "Records that missed the --audit-log file because its queue was full");
    out.Sample("kmsd_audit_dropped_total", "", audit.dropped());
    out.Family("kmsd_audit_write_errors_total", "counter",
               "Records that failed to reach the --audit-log file (write or fsync failed)");
    out.Sample("kmsd_audit_write_errors_total", "", audit.write_errors());
    return std::move(out.text());
}

}  // namespace kmsd
