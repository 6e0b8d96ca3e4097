// GetKeyLastUsage: the last successful cryptographic use of a key, from the UsageTracker.
#include "api/ops/common.h"

namespace kmsd::api::ops {

Result<Json> GetKeyLastUsage(OpContext& ctx, const Request& /*req*/) {
    // Any key state, no alias names (kms-reference §9.2): its route declares both.
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    Json out = Json::object();
    out["KeyId"] = Str(key->arn);
    out["KeyCreationDate"] = key->creation_date;
    // kmsd tracks every key from its creation.
    out["TrackingStartDate"] = key->creation_date;
    KMSD_ASSIGN_OR_RETURN(auto usage, UsageTracker::Lookup(*key, ctx.services.catalog));
    if (usage) {
        Json last = Json::object();
        last["CloudTrailEventId"] = Str(usage->event_id);
        last["KmsRequestId"] = Str(usage->request_id);
        last["Operation"] = Str(usage->operation);
        last["Timestamp"] = Timestamp(usage->timestamp);
        out["KeyLastUsage"] = std::move(last);
    }
    return out;
}

}  // namespace kmsd::api::ops
