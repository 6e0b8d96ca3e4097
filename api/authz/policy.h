// The IAM policy language as KMS evaluates key policies and identity policies (design.md §5,
// kms-reference §6.2): Effect, Principal/NotPrincipal, Action/NotAction, Resource/NotResource
// with wildcards, and Condition with the String, Numeric, Date, Bool, Null and Arn operators,
// IfExists and ForAnyValue/ForAllValues. A parsed Policy is immutable and thread-safe; Evaluate
// is a pure function, table-tested in tests/unit/policy_test.cpp.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace kmsd::api::authz {

// What a request looks like to a policy.
// The views refer to strings that outlive the evaluation (the request's, the key record's).
struct RequestContext {
    std::string_view action;         // e.g. kms:Encrypt
    std::string_view resource;       // the key ARN
    std::string_view principal_arn;  // the caller
    std::string_view principal_account;
    // Condition keys by lower-case name (kms:encryptioncontext:tenant, aws:principalarn, ...);
    // a multi-valued key has several values, a missing key is absent.
    std::map<std::string, std::vector<std::string>> keys;
};

// The outcome of one policy for one request. A Deny anywhere wins over any Allow. An Allow of
// the account (its root or its ID as principal) only delegates to the caller's IAM policies.
struct Evaluation {
    bool deny = false;
    bool allow_principal = false;  // a statement allows this principal itself (or "*")
    bool allow_account = false;    // a statement allows the principal's account
};

class Policy {
public:
    // Parses a policy document; MalformedPolicyDocumentException when it is not a policy.
    // `require_principal`: key policies need a Principal in every statement, identity policies
    // must not have one.
    static Result<Policy> Parse(const std::string& json, bool require_principal);

    Evaluation Evaluate(const RequestContext& request) const;
    // Whether any statement has a Condition: without one, Evaluate never reads request.keys, so
    // the hot path can skip building them.
    bool has_conditions() const { return has_conditions_; }
    // The condition keys the policy reads (lower-case, each once): requests compute only these.
    const std::vector<std::string>& condition_keys() const { return *condition_keys_; }
    // Every AWS principal named in Principal/NotPrincipal ("*", account IDs, ARNs).
    std::vector<std::string> Principals() const;

    struct Statement;

private:
    std::shared_ptr<const std::vector<Statement>> statements_;
    bool has_conditions_ = false;
    std::shared_ptr<const std::vector<std::string>> condition_keys_ =
        std::make_shared<const std::vector<std::string>>();
};

// '*' and '?' wildcards; case-insensitive when `fold_case`.
bool WildcardMatch(std::string_view pattern, std::string_view value, bool fold_case);

}  // namespace kmsd::api::authz
