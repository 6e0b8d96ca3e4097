// What every operation gets: the caller, the request, its route, its keys, and the services it
// may use. Operations take collaborators from here and never reach for globals.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/audit.h"
#include "api/authz/policy.h"
#include "api/authz/policy_cache.h"
#include "api/request.h"
#include "api/route.h"
#include "api/usage.h"
#include "api/xks.h"
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
    std::string source_ip;   // aws:SourceIp
    std::string user_agent;  // for the audit record

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
    // Where service events (scheduled rotation, deletion, material expiry) are recorded; null
    // when nothing keeps them.
    AuditSink* audit = nullptr;
    // Calls on AWS managed keys count as coming through their service (kms:ViaService), so a
    // test can use them directly (--aws-managed-keys-via-service; api/managed_keys.h).
    bool managed_keys_via_service = false;
    // Reaches external key store proxies; null where nothing may (then every proxy is
    // unreachable).
    xks::Transport* xks = nullptr;
};

// The key a ciphertext names, as Decrypt and ReEncrypt's source get it.
struct CiphertextKey {
    storage::KeyPtr key;
    std::string material_id;
    // The blob as KeyOfCiphertext parsed it (views into the blob it was given), for
    // Hsm::Decrypt; nullopt for raw (asymmetric) ciphertext and an external key store's.
    std::optional<hsm::BlobView> parts;
};

// One request as an operation sees it. The keys it works on come from here, resolved,
// authorized and checked as its route declares (api/route.h; implemented in api/access.cpp):
// the operation decides when it needs a key, never how it is found or allowed.
struct OpContext {
    OpContext(const Services& services_in, const Caller& caller_in, std::string request_id_in,
              const Route& route_in, const Request* request_in)
        : services(services_in),
          caller(caller_in),
          request_id(std::move(request_id_in)),
          operation(route_in.name),
          request(request_in),
          route(&route_in) {}

    const Services& services;
    const Caller& caller;
    std::string request_id;
    std::string operation;             // e.g. Encrypt: the route's name
    const Request* request = nullptr;  // for the condition keys a policy may read
    const Route* route = nullptr;      // the operation's declaration

    // The reply written as text (ObjectWriter) instead of returned as a tree: the handler
    // returns what this returns (null) and Dispatch sends the text. Only for operations whose
    // CloudTrail responseElements are null (api/audit.cpp), as the audit record does not read a
    // text reply; `material_id` is the record's additionalEventData keyMaterialId.
    Json ReplyText(ObjectWriter&& reply, std::string material_id = {}) {
        reply_text = std::move(reply).Finish();
        recorded_material_id = std::move(material_id);
        return nullptr;
    }
    SecureString reply_text;
    std::string recorded_material_id;

    double Now() const { return services.clock.Now(); }
    // Notes a successful cryptographic use of `key` for GetKeyLastUsage.
    void RecordUse(const storage::KeyRecord& key, const char* used_by) const {
        services.usage.Record(key, used_by, Now(), request_id);
    }

    // route.key named by its member (KeyFrom::kMember, or kCiphertext's optional member):
    // resolved, authorized, then checked for state and kind, on the first call; later calls
    // return the same result. NotFound / AccessDenied / Disabled, KMSInvalidState /
    // InvalidKeyUsage.
    Result<storage::KeyPtr> Key();
    // The same for route.target.
    Result<storage::KeyPtr> TargetKey();
    // route.key for KeyFrom::kCiphertext: the key `blob` names, checked against the member that
    // may name it (IncorrectKeyException), authorized (a denial does not name the key), then
    // checked for state and kind.
    Result<CiphertextKey> KeyOfCiphertext(ByteView blob);
    // route.key for KeyFrom::kAlias: the caller's alias its member names (NotFound), with the
    // key it points to authorized.
    Result<storage::AliasPtr> Alias();
    // route.alias_member: IAM permission for the route's action on that alias's ARN.
    Status AuthorizeAlias();
    // route.key for KeyFrom::kGrant: authorizes the key the operation found.
    Status Authorize(const storage::KeyRecord& key);
    // route.key's state and kind rules, for a record re-read under the Catalog's writer.
    Status CheckKey(const storage::KeyRecord& key) const;
    // The key this request resolved (route.key, or the one its ciphertext named), or null; for
    // logs. Moved out: call once, after the operation.
    storage::KeyPtr TakeResolvedKey();
    // The same for route.target (ReEncrypt's destination, an alias's target), or null.
    storage::KeyPtr TakeTargetKey();

private:
    storage::KeyPtr ciphertext_key_;  // KeyOfCiphertext's key, once found
    std::optional<Result<storage::KeyPtr>> key_;
    std::optional<Result<storage::KeyPtr>> target_;
};

// The dispatcher's part, before the operation runs: IAM-only authorization, alias references
// refused up front, and the key of Resolve::kBeforeHandler routes.
Status AdmitRequest(OpContext& ctx);

}  // namespace kmsd::api
