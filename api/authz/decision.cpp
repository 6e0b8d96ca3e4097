#include "api/authz/decision.h"

namespace kmsd::api::authz {

Decision Decide(const DecisionInputs& in) {
    // An explicit Deny anywhere wins; AWS names the resource-based one first.
    if (in.key_policy.deny) return Decision::kExplicitDenyResource;
    if (in.identity.deny) return Decision::kExplicitDenyIdentity;
    const bool identity_allows = in.identity_unrestricted || in.identity.allow_principal;
    if (in.iam_only) return identity_allows ? Decision::kAllow : Decision::kNoIdentityAllow;
    const bool account_allowed = in.key_policy.allow_account || in.grant_allows_account;
    const bool resource_allows =
        in.key_policy.allow_principal || account_allowed || in.grant_allows;
    if (in.same_account) {
        // Within an account, a key policy naming the principal, or a grant, is enough on its
        // own; a key policy naming the account delegates to IAM.
        if (in.key_policy.allow_principal || in.grant_allows) return Decision::kAllow;
        if (!account_allowed) return Decision::kNoResourceAllow;
        return identity_allows ? Decision::kAllow : Decision::kNoIdentityAllow;
    }
    // Across accounts both sides must allow: the key's account and the caller's.
    if (!resource_allows) return Decision::kNoResourceAllow;
    return identity_allows ? Decision::kAllow : Decision::kNoIdentityAllow;
}

std::string DeniedMessage(Decision d, const std::string& caller_arn, const std::string& action,
                          const std::string& resource) {
    std::string head = "User: " + caller_arn + " is not authorized to perform: " + action +
                       " on resource: " + resource + " ";
    switch (d) {
        case Decision::kExplicitDenyResource:
            return head + "with an explicit deny in a resource-based policy";
        case Decision::kExplicitDenyIdentity:
            return head + "with an explicit deny in an identity-based policy";
        case Decision::kNoResourceAllow:
            return head + "because no resource-based policy allows the " + action + " action";
        case Decision::kNoIdentityAllow:
            return head + "because no identity-based policy allows the " + action + " action";
        case Decision::kAllow:
            break;
    }
    return {};
}

}  // namespace kmsd::api::authz
