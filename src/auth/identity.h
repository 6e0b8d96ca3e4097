// Who is calling (design.md §5). The principals file (YAML, --principals) names accounts with
// their root, IAM users and roles, each with an access key; Authenticate turns a request into an
// api::Caller. `--auth open` (default): signatures are not checked; listed access keys are their
// principal, any other key is the root of the default account. `--auth strict`: only listed keys,
// valid SigV4 signatures within 5 minutes of wall time, and a role's session token.
// Thread-safe after Load.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "api/context.h"
#include "common/status.h"
#include "src/auth/sigv4.h"

namespace kmsd::auth {

enum class AuthMode { kOpen, kStrict };

struct Principal {
    std::string account;
    std::string arn;  // arn:aws:iam::<acct>:root | :user/<name> |
                      // arn:aws:sts::<acct>:assumed-role/<role>/<session>
    std::string secret_access_key;
    std::string session_token;  // required with this key when not empty
    // Identity policies; null for an account's root (IAM never limits it).
    std::shared_ptr<const std::vector<api::authz::Policy>> policies;
};

class IdentityStore {
public:
    // An empty store: every caller is the default account's root (open mode).
    IdentityStore() = default;
    static Result<IdentityStore> Load(const std::string& path);
    // The same from the file's text; `path` only names the file in messages. The document must
    // stay within CheckYamlLimits (src/yaml_limits.h).
    static Result<IdentityStore> LoadFromString(const std::string& text, const std::string& path);
    const Principal* Find(std::string_view access_key_id) const;
    // Whether a principal as a policy or grant names it exists in the file: "*", an account ID
    // or its root ARN, a user, a role, or a role session ARN.
    bool Knows(const std::string& principal) const;

private:
    std::map<std::string, Principal, std::less<>> by_access_key_;
    std::set<std::string> known_;  // account IDs and every principal ARN the file defines
};

struct AuthDefaults {
    AuthMode mode = AuthMode::kOpen;
    std::string account;  // --account-id
    std::string region;   // --region, for requests without a credential scope
};

// Identifies the caller of `req`; in strict mode a failure is AWS's authentication error.
// `now` is wall time (seconds since the epoch), never KMS time.
Result<api::Caller> Authenticate(const IdentityStore& ids, const AuthDefaults& defaults,
                                 const SignedRequest& req, double now);

}  // namespace kmsd::auth
