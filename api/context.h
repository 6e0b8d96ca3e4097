// What every operation gets: the caller, the request, and the services it may use.
// Operations take collaborators from here and never reach for globals.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/authz/policy.h"
#include "api/authz/policy_cache.h"
#include "api/request.h"
#include "api/usage.h"
#include "common/clock.h"
#include "hsm/hsm.h"
#include "storage/catalog.h"

namespace kmsd::api {

// Who is calling, as src/auth derived it from the SigV4 Authorization header.
struct Caller {
    std::string account;        // 12 digits
    std::string region;         // from the credential scope
    std::string principal_arn;  // arn:aws:iam::<account>:root, or a user/role ARN
    std::string access_key_id;
    // The caller's identity (IAM) policies. Null for an account's root, which IAM never limits;
    // an IAM user or role without policies has an empty list and may do nothing on its own.
    std::shared_ptr<const std::vector<authz::Policy>> identity_policies;
    std::string source_ip;  // aws:SourceIp

    bool root() const { return identity_policies == nullptr; }
};

// The long-lived services, shared by all requests. All are thread-safe.
struct Services {
    hsm::Hsm& hsm;
    storage::Catalog& catalog;
    const Clock& clock;
    UsageTracker& usage;
    authz::PolicyCache& policies;
    // Strict mode: whether a principal named in a policy or grant exists (the principals file).
    // Empty in open mode, where any well-formed principal is accepted: there is no IAM to ask.
    std::function<bool(const std::string&)> principal_exists = nullptr;
};

struct OpContext {
    const Services& services;
    const Caller& caller;
    std::string request_id;
    std::string operation;             // e.g. Encrypt: the action is kms:<operation>
    const Request* request = nullptr;  // for the condition keys a policy may read

    double Now() const { return services.clock.Now(); }
    // Notes a successful cryptographic use of `key` for GetKeyLastUsage.
    void RecordUse(const storage::KeyRecord& key, const char* used_by) const {
        services.usage.Record(key.scoped(), used_by, Now(), request_id);
    }
};

}  // namespace kmsd::api
