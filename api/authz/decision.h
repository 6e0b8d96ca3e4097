// The authorization decision (design.md §5, kms-reference §6.2): how the key policy, the caller's
// identity policies and grants combine, and AWS's AccessDeniedException text for each way of
// being denied. Pure; table-tested in tests/unit/policy_test.cpp.
#pragma once

#include <string>

#include "api/authz/policy.h"

namespace kmsd::api::authz {

struct DecisionInputs {
    Evaluation key_policy;              // the key policy (for IAM-only actions: nothing)
    Evaluation identity;                // the caller's identity policies, merged
    bool identity_unrestricted;         // an account's root: IAM never limits it
    bool grant_allows = false;          // a grant on the key names the caller and the operation
    bool grant_allows_account = false;  // ... names the caller's account (delegates to IAM)
    bool same_account = true;           // caller and key (resource) in one account
    bool iam_only = false;              // an action not tied to a key (CreateKey, ListKeys, ...)
};

enum class Decision {
    kAllow,
    kExplicitDenyResource,  // a Deny in the key policy
    kExplicitDenyIdentity,  // a Deny in an identity policy
    kNoResourceAllow,       // the key policy (and no grant) allows neither principal nor account
    kNoIdentityAllow,       // the key policy delegates to IAM, which does not allow
};

Decision Decide(const DecisionInputs& in);

// "User: <caller> is not authorized to perform: <action> on resource: <resource> because ..."
std::string DeniedMessage(Decision d, const std::string& caller_arn, const std::string& action,
                          const std::string& resource);

}  // namespace kmsd::api::authz
