// App: the program's long-lived state, wired in order: storage opens, the master key is found
// (or made), the HSM unlocks and checks it against the database, the dispatcher is ready.
// Everything here is thread-safe once Open() returns.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "api/context.h"
#include "api/dispatcher.h"
#include "common/clock.h"
#include "hsm/hsm.h"
#include "src/audit_log.h"
#include "src/auth/identity.h"
#include "src/metrics.h"
#include "src/options.h"
#include "src/scheduler.h"
#include "storage/catalog.h"

namespace kmsd {

class App {
public:
    static Result<std::unique_ptr<App>> Open(const Options& options);
    ~App();

    const Options& options() const { return options_; }
    const api::Services& services() const { return services_; }
    const api::Dispatcher& dispatcher() const { return dispatcher_; }
    bool strict_auth() const { return auth_.mode == auth::AuthMode::kStrict; }
    // Who sent `req` (design.md §5); in strict mode also whether the signature holds.
    Result<api::Caller> Authenticate(const auth::SignedRequest& req) const;

    // POST /_kmsd/reset: wipes keys, aliases, tags and the clock offset; the master key stays.
    Status Reset();

    // KMS time (design.md §6).
    double Now() const { return clock_.Now(); }
    double ClockOffset() const { return clock_.offset(); }
    // Moves KMS time forward (persisted), then runs everything that fell due. `next_offset` gets
    // the current offset and returns the new one (or an error, kValidation for a bad request);
    // it runs under the clock lock, so concurrent "advance by N" calls add up instead of racing.
    // A smaller offset than the current one is kValidation: time never goes back.
    Status MoveClock(const std::function<Result<double>(double offset)>& next_offset);
    // Runs the scheduled work due now (also what the scheduler thread does every second).
    Status RunDueNow();
    // Applies --seed's file (idempotent: what exists is left alone).
    Status ApplySeed();
    // Writes key usage recorded since the last flush (every second and at shutdown).
    void FlushUsage();

    // What /_kmsd/metrics reports (src/metrics.h).
    RequestMetrics& metrics() { return metrics_; }
    const RequestMetrics& metrics() const { return metrics_; }
    const SchedulerMetrics& scheduler_metrics() const { return scheduler_metrics_; }
    // The CloudTrail records (GET /_kmsd/audit, --audit-log).
    AuditLog& audit() { return audit_; }
    const AuditLog& audit() const { return audit_; }

private:
    App(Options options, std::unique_ptr<storage::Catalog> catalog, std::unique_ptr<hsm::Hsm> hsm);

    Options options_;
    std::unique_ptr<storage::Catalog> catalog_;
    std::unique_ptr<hsm::Hsm> hsm_;
    std::unique_ptr<api::xks::Transport> xks_;
    auth::IdentityStore identities_;
    auth::AuthDefaults auth_;
    OffsetClock clock_;
    api::UsageTracker usage_;
    api::authz::PolicyCache policies_;
    api::Services services_;
    api::Dispatcher dispatcher_;
    std::mutex clock_mu_;  // serialises clock moves
    RequestMetrics metrics_;
    AuditLog audit_;
    SchedulerMetrics scheduler_metrics_;
    Scheduler scheduler_;  // last: its thread stops before the members above go
};

// Finds the master key (--master-key-file, KMSD_MASTER_KEY, <data-dir>/master.key) or, for a
// database without keys, generates one (written 0600, fsync'd, renamed).
Result<SecureBytes> LoadOrCreateMasterKey(const StorageOptions& storage, bool database_has_keys);

}  // namespace kmsd
