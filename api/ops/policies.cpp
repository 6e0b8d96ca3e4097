// Key policies: GetKeyPolicy, PutKeyPolicy, ListKeyPolicies. Stored and returned as AWS formats
// them; enforced by api/authorize.
#include "api/ops/common.h"
#include "api/policy_format.h"

namespace kmsd::api::ops {
namespace {

Status CheckPolicyName(const Request& req) {
    if (req.Has("PolicyName") && req.String("PolicyName") != "default")
        return Error(ErrorCode::kNotFound, "No such policy exists");
    return Status::Ok();
}

}  // namespace

Result<Json> GetKeyPolicy(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_RETURN_IF_ERROR(CheckPolicyName(req));
    Json out = Json::object();
    out["Policy"] = Str(FormatPolicy(key->policy));
    out["PolicyName"] = "default";
    return out;
}

Result<Json> PutKeyPolicy(OpContext& ctx, const Request& req) {
    const std::string policy = req.String("Policy");
    KMSD_RETURN_IF_ERROR(CheckPolicyName(req));
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    storage::KeyRecord candidate = *key;
    candidate.policy = policy;
    KMSD_RETURN_IF_ERROR(
        CheckNewKeyPolicy(ctx, candidate, req.Bool("BypassPolicyLockoutSafetyCheck")));
    KMSD_RETURN_IF_ERROR(MutateKey(ctx, *key, [&](storage::KeyRecord& k) {
                             k.policy = policy;
                             return Status::Ok();
                         }).status());
    return Json();
}

Result<Json> ListKeyPolicies(OpContext& ctx, const Request& /*req*/) {
    KMSD_RETURN_IF_ERROR(ctx.Key().status());
    return PageResponse("PolicyNames", Json::array({"default"}), "");
}

}  // namespace kmsd::api::ops
