// What every operation gets: the caller, the request, and the services it may use.
// Operations take collaborators from here and never reach for globals.
#pragma once

#include <string>

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
};

// The long-lived services, shared by all requests. All are thread-safe.
struct Services {
    hsm::Hsm& hsm;
    storage::Catalog& catalog;
    const Clock& clock;
    UsageTracker& usage;
};

struct OpContext {
    const Services& services;
    const Caller& caller;
    std::string request_id;

    double Now() const { return services.clock.Now(); }
    // Notes a successful cryptographic use of `key` for GetKeyLastUsage.
    void RecordUse(const storage::KeyRecord& key, const char* operation) const {
        services.usage.Record(key.scoped(), operation, Now(), request_id);
    }
};

}  // namespace kmsd::api
