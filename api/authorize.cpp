#include "api/authorize.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>

#include "api/authz/decision.h"
#include "api/managed_keys.h"
#include "api/resolve.h"

namespace kmsd::api {
namespace {

// Operations that take an encryption context: grant constraints and the kms:EncryptionContext
// keys apply to them.
constexpr std::string_view kContextOperations[] = {"Encrypt",
                                                   "Decrypt",
                                                   "ReEncryptFrom",
                                                   "ReEncryptTo",
                                                   "GenerateDataKey",
                                                   "GenerateDataKeyWithoutPlaintext",
                                                   "GenerateDataKeyPair",
                                                   "GenerateDataKeyPairWithoutPlaintext",
                                                   "CreateGrant"};

template <std::size_t N>
bool In(const std::string_view (&list)[N], std::string_view v) {
    return std::find(std::begin(list), std::end(list), v) != std::end(list);
}

using Context = std::map<std::string, std::string>;

std::string Lower(std::string s) {
    for (auto& c : s)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return s;
}

std::string Text(const Json& v) {
    return v.is_string() ? ToStd(v.get_ref<const SecureString&>()) : ToStd(v.dump());
}

void ReadContext(const Json& obj, Context& out) {
    if (!obj.is_object()) return;
    for (auto it = obj.begin(); it != obj.end(); ++it) out[ToStd(it.key())] = Text(it.value());
}

// The encryption context `action` carries: the member of the request that holds it, or for
// CreateGrant the new grant's constraint.
Context RequestContextOf(const OpContext& ctx, std::string_view action) {
    Context out;
    // Only operations that take an encryption context have one; a member of the same name in
    // another operation's body is not part of its input (the model ignores unknown members).
    if (ctx.request == nullptr || !In(kContextOperations, action)) return out;
    const Request& req = *ctx.request;
    if (action == "CreateGrant") {
        if (req.Has("Constraints"))
            for (const char* type : {"EncryptionContextEquals", "EncryptionContextSubset"})
                if (req.At("Constraints").contains(type))
                    ReadContext(req.At("Constraints").at(type), out);
        return out;
    }
    const char* member = action == "ReEncryptFrom" ? "SourceEncryptionContext"
                         : action == "ReEncryptTo" ? "DestinationEncryptionContext"
                                                   : "EncryptionContext";
    if (req.Has(member)) ReadContext(req.At(member), out);
    return out;
}

std::string Iso8601(double t) { return FormatUtc(t, "%Y-%m-%dT%H:%M:%SZ"); }

std::string PrincipalType(const Caller& c) {
    if (c.root()) return "Account";
    if (c.principal_arn.find(":assumed-role/") != std::string::npos) return "AssumedRole";
    return "User";
}

// The role ARN behind an assumed-role session ARN, "" for anything else.
std::string RoleOfSession(const std::string& arn) {
    const auto at = arn.find(":assumed-role/");
    if (arn.rfind("arn:", 0) != 0 || at == std::string::npos) return {};
    const auto slash = arn.find('/', at + 14);
    const auto colon_sts = arn.find(":sts:");
    if (slash == std::string::npos || colon_sts == std::string::npos) return {};
    return arn.substr(0, colon_sts) + ":iam:" + arn.substr(colon_sts + 5, at - colon_sts - 5) +
           ":role/" + arn.substr(at + 14, slash - at - 14);
}

// What a request offers its policies' conditions (kms-reference §6.2's table).
struct RequestFacts {
    const OpContext& ctx;
    const storage::KeyRecord* key;  // null for IAM-only actions
    std::string_view action;
    const Context& ec;
    const std::string& request_alias;
};

using Values = std::optional<std::vector<std::string>>;

// Case-insensitive lookup of `name` (already lower-case) among `pairs`' keys.
template <typename Pairs>
Values FindFolded(const Pairs& pairs, const std::string& name) {
    for (const auto& [k, v] : pairs)
        if (Lower(k) == name) return std::vector<std::string>{v};
    return std::nullopt;
}

// Request members that are condition keys of their own, in the operations that have them.
struct MemberKey {
    const char* key;
    const char* member;
    std::string_view operation;
};
constexpr MemberKey kMemberKeys[] = {
    {"kms:schedulekeydeletionpendingwindowindays", "PendingWindowInDays", "ScheduleKeyDeletion"},
    {"kms:rotationperiodindays", "RotationPeriodInDays", "EnableKeyRotation"},
    {"kms:bypasspolicylockoutsafetycheck", "BypassPolicyLockoutSafetyCheck", "CreateKey"},
    {"kms:bypasspolicylockoutsafetycheck", "BypassPolicyLockoutSafetyCheck", "PutKeyPolicy"},
    {"kms:granteeprincipal", "GranteePrincipal", "CreateGrant"},
    {"kms:retiringprincipal", "RetiringPrincipal", "CreateGrant"},
    {"kms:signingalgorithm", "SigningAlgorithm", "Sign"},
    {"kms:signingalgorithm", "SigningAlgorithm", "Verify"},
    {"kms:messagetype", "MessageType", "Sign"},
    {"kms:messagetype", "MessageType", "Verify"},
    {"kms:macalgorithm", "MacAlgorithm", "GenerateMac"},
    {"kms:macalgorithm", "MacAlgorithm", "VerifyMac"},
    {"kms:keyagreementalgorithm", "KeyAgreementAlgorithm", "DeriveSharedSecret"},
    {"kms:datakeypairspec", "KeyPairSpec", "GenerateDataKeyPair"},
    {"kms:datakeypairspec", "KeyPairSpec", "GenerateDataKeyPairWithoutPlaintext"},
    {"kms:wrappingalgorithm", "WrappingAlgorithm", "GetParametersForImport"},
    {"kms:wrappingkeyspec", "WrappingKeySpec", "GetParametersForImport"},
    {"kms:expirationmodel", "ExpirationModel", "ImportKeyMaterial"},
    {"kms:validto", "ValidTo", "ImportKeyMaterial"},
    {"kms:replicaregion", "ReplicaRegion", "ReplicateKey"},
    {"kms:primaryregion", "PrimaryRegion", "UpdatePrimaryRegion"},
};

// Operations whose input has GrantTokens.
constexpr std::string_view kGrantTokenOperations[] = {"CreateGrant",
                                                      "Decrypt",
                                                      "DeriveSharedSecret",
                                                      "DescribeKey",
                                                      "Encrypt",
                                                      "GenerateDataKey",
                                                      "GenerateDataKeyPair",
                                                      "GenerateDataKeyPairWithoutPlaintext",
                                                      "GenerateDataKeyWithoutPlaintext",
                                                      "GenerateMac",
                                                      "GetPublicKey",
                                                      "ReEncrypt",
                                                      "Sign",
                                                      "Verify",
                                                      "VerifyMac"};

// kms:ReEncryptOnSameKey: whether ReEncrypt's ciphertext belongs to its destination key.
std::string SameKeyReEncrypt(const RequestFacts& f) {
    const Request& req = *f.ctx.request;
    auto material = hsm::Hsm::BlobMaterialId(req.Blob("CiphertextBlob"));
    storage::KeyPtr owner =
        material.ok() ? f.ctx.services.catalog.FindMaterialOwner(*material, f.ctx.caller.region)
                      : nullptr;
    // The destination as ReEncrypt's route declares it, found without authorizing it (this
    // runs while it is being authorized).
    const KeyDecl& decl = f.ctx.route->target;
    auto dest = LookupKey(f.ctx, req.String(decl.member), decl.aliases, decl.cross_account);
    return owner && dest.ok() && owner->name() == (*dest)->name() ? "true" : "false";
}

// The value of the condition key `name` (lower-case) for this request; nullopt when the request
// does not have it. Only the keys a policy in play reads are ever computed.
Values ConditionValue(const RequestFacts& f, const std::string& name) {
    const Caller& c = f.ctx.caller;
    const Request* req = f.ctx.request;
    auto one = [](std::string v) { return Values(std::vector<std::string>{std::move(v)}); };
    auto member = [&](const char* m) -> Values {
        if (req == nullptr || !req->Has(m)) return std::nullopt;
        return one(Text(req->At(m)));
    };
    // The most used key first (this chain runs for every key a policy reads).
    constexpr std::string_view kContextPrefix = "kms:encryptioncontext:";
    if (name.size() > kContextPrefix.size() &&
        name.compare(0, kContextPrefix.size(), kContextPrefix) == 0)
        return FindFolded(f.ec, name.substr(kContextPrefix.size()));
    if (name == "aws:principalarn") {
        // For a role session, IAM's aws:PrincipalArn is the role's ARN, not the session's.
        std::string role = RoleOfSession(c.principal_arn);
        return one(role.empty() ? c.principal_arn : std::move(role));
    }
    if (name == "aws:principalaccount" || name == "kms:calleraccount") return one(c.account);
    if (name == "aws:principaltype") return one(PrincipalType(c));
    if (name == "aws:requestedregion") return one(c.region);
    if (name == "aws:securetransport") return one("false");
    if (name == "aws:sourceip") return c.source_ip.empty() ? std::nullopt : one(c.source_ip);
    if (name == "aws:currenttime") return one(Iso8601(f.ctx.Now()));
    if (name == "aws:epochtime")
        return one(std::to_string(static_cast<long long>(std::floor(f.ctx.Now()))));
    if (name == "kms:viaservice") {
        auto via = f.key ? ViaServiceOf(f.ctx, *f.key) : std::nullopt;
        return via ? one(std::move(*via)) : std::nullopt;
    }
    if (name == "kms:requestalias")
        return f.request_alias.empty() ? std::nullopt : one(f.request_alias);
    if (name == "kms:encryptioncontextkeys") {
        if (f.ec.empty()) return std::nullopt;
        std::vector<std::string> keys;
        for (const auto& [k, v] : f.ec) keys.push_back(k);
        return keys;
    }
    if (name == "kms:encryptionalgorithm") {
        if (!In(kContextOperations, f.action) || f.action == "CreateGrant") return std::nullopt;
        const char* m = f.action == "ReEncryptFrom" ? "SourceEncryptionAlgorithm"
                        : f.action == "ReEncryptTo" ? "DestinationEncryptionAlgorithm"
                                                    : "EncryptionAlgorithm";
        return one(req ? req->String(m, "SYMMETRIC_DEFAULT") : "SYMMETRIC_DEFAULT");
    }
    // Key attributes: of the key, or for CreateKey of the request.
    const bool create = f.key == nullptr && f.action == "CreateKey" && req != nullptr;
    if (name == "kms:keyspec" || name == "kms:customermasterkeyspec") {
        if (f.key) return one(f.key->key_spec);
        if (create)
            return one(
                req->String("KeySpec", req->String("CustomerMasterKeySpec", "SYMMETRIC_DEFAULT")));
        return std::nullopt;
    }
    if (name == "kms:keyusage" || name == "kms:customermasterkeyusage") {
        if (f.key) return one(f.key->key_usage);
        return create ? one(req->String("KeyUsage", "ENCRYPT_DECRYPT")) : std::nullopt;
    }
    if (name == "kms:keyorigin") {
        if (f.key) return one(f.key->origin);
        return create ? one(req->String("Origin", "AWS_KMS")) : std::nullopt;
    }
    if (name == "kms:multiregionkeytype") {
        if (!f.key || !f.key->multi_region) return std::nullopt;
        return one(f.key->is_primary() ? "PRIMARY" : "REPLICA");
    }
    if (name == "kms:multiregion") {
        if (f.key) return one(f.key->multi_region ? "true" : "false");
        return create ? one(req->Bool("MultiRegion") ? "true" : "false") : std::nullopt;
    }
    if (name == "kms:resourcealiases") {
        if (!f.key) return std::nullopt;
        std::vector<std::string> aliases;
        for (const auto& a : f.ctx.services.catalog.AliasesOf(f.key->scoped()))
            aliases.push_back(a->alias_name);
        return aliases;
    }
    constexpr std::string_view kResourceTag = "aws:resourcetag/";
    if (name.rfind(kResourceTag, 0) == 0)
        return f.key ? FindFolded(f.key->tags, name.substr(kResourceTag.size())) : std::nullopt;
    if (req == nullptr) return std::nullopt;
    constexpr std::string_view kRequestTag = "aws:requesttag/";
    const bool tagging = f.ctx.operation == "CreateKey" || f.ctx.operation == "TagResource" ||
                         f.ctx.operation == "UntagResource";
    if (tagging && (name.rfind(kRequestTag, 0) == 0 || name == "aws:tagkeys")) {
        if (req->Has("TagKeys"))
            return name == "aws:tagkeys" ? Values(req->StringList("TagKeys")) : std::nullopt;
        if (!req->Has("Tags")) return std::nullopt;
        std::vector<std::pair<std::string, std::string>> tags;
        for (const auto& t : req->At("Tags"))
            tags.emplace_back(Text(t.at("TagKey")), Text(t.at("TagValue")));
        if (name != "aws:tagkeys") return FindFolded(tags, name.substr(kRequestTag.size()));
        std::vector<std::string> keys;
        for (const auto& [k, v] : tags) keys.push_back(k);
        return keys;
    }
    const std::string_view op = f.ctx.operation;
    for (const auto& m : kMemberKeys)
        if (name == m.key && op == m.operation) {
            if (op == "ScheduleKeyDeletion" && !req->Has(m.member)) return one("30");
            // MessageType's default is RAW, and the condition sees it.
            if (name == "kms:messagetype" && !req->Has(m.member)) return one("RAW");
            if (name == "kms:expirationmodel" && !req->Has(m.member))
                return one("KEY_MATERIAL_EXPIRES");
            return member(m.member);
        }
    if (name == "kms:reencryptonsamekey" && op == "ReEncrypt") return one(SameKeyReEncrypt(f));
    if ((op == "ListGrants" || op == "RevokeGrant") && name == "kms:grantisforawsresource")
        return one("false");
    if (op == "CreateGrant") {
        if (name == "kms:grantoperations") return Values(req->StringList("Operations"));
        // A service's grant is for an AWS resource: so are calls through one.
        if (name == "kms:grantisforawsresource")
            return one(f.key && ViaServiceOf(f.ctx, *f.key) ? "true" : "false");
        if (name == "kms:grantconstrainttype" && req->Has("Constraints"))
            for (const char* type : {"EncryptionContextEquals", "EncryptionContextSubset"})
                if (req->At("Constraints").contains(type)) return one(type);
    }
    return std::nullopt;
}

// Fills the condition keys `policy` reads that are not there yet.
void AddConditionKeys(const RequestFacts& f, const authz::Policy& policy,
                      authz::RequestContext& rc) {
    for (const auto& name : policy.condition_keys()) {
        if (rc.keys.count(name)) continue;
        if (auto v = ConditionValue(f, name)) rc.keys.emplace(name, std::move(*v));
    }
}

// A grant that allows CreateGrant allows only grants as narrow or narrower than itself: a
// subset of its operations and constraints at least as strict (Subset may become Equals, never
// the reverse).
bool Narrower(const storage::GrantRecord& parent, const Request& req, const Context& child_ec) {
    for (const auto& op : req.StringList("Operations"))
        if (std::find(parent.operations.begin(), parent.operations.end(), op) ==
            parent.operations.end())
            return false;
    if (parent.constraint_type.empty()) return true;
    const bool child_equals =
        req.Has("Constraints") && req.At("Constraints").contains("EncryptionContextEquals");
    if (parent.constraint_type == "EncryptionContextEquals" &&
        (!child_equals || child_ec.size() != parent.constraint_context.size()))
        return false;
    for (const auto& [k, v] : parent.constraint_context) {
        auto it = child_ec.find(k);
        if (it == child_ec.end() || it->second != v) return false;
    }
    return true;
}

bool Holds(const storage::GrantRecord& g, std::string_view action, const Context& ec,
           const Request* req) {
    if (std::find(g.operations.begin(), g.operations.end(), action) == g.operations.end())
        return false;
    if (action == "CreateGrant") return req != nullptr && Narrower(g, *req, ec);
    // DescribeKey, RetireGrant, ... are not constrained by the encryption context.
    if (g.constraint_type.empty() || !In(kContextOperations, action)) return true;
    if (g.constraint_type == "EncryptionContextEquals" && ec.size() != g.constraint_context.size())
        return false;
    for (const auto& [k, v] : g.constraint_context) {
        auto it = ec.find(k);
        if (it == ec.end() || it->second != v) return false;
    }
    return true;
}

bool GrantAllows(const OpContext& ctx, const storage::KeyRecord& key, std::string_view action,
                 const Context& ec) {
    auto check = [&](const std::string& grantee) {
        for (const auto& g : ctx.services.catalog.GrantsFor(key.scoped(), grantee))
            if (Holds(*g, action, ec, ctx.request)) return true;
        return false;
    };
    if (check(ctx.caller.principal_arn)) return true;
    const std::string role = RoleOfSession(ctx.caller.principal_arn);
    return !role.empty() && check(role);
}

// A grant whose grantee is the caller's account (its root ARN or its ID): like a key policy
// naming the account, it delegates to the account's identity policies.
bool GrantAllowsAccount(const OpContext& ctx, const storage::KeyRecord& key,
                        std::string_view action, const Context& ec) {
    for (const std::string& grantee :
         {"arn:" + Partition(ctx.caller.region) + ":iam::" + ctx.caller.account + ":root",
          ctx.caller.account})
        for (const auto& g : ctx.services.catalog.GrantsFor(key.scoped(), grantee))
            if (Holds(*g, action, ec, ctx.request)) return true;
    return false;
}

authz::Evaluation EvaluateIdentity(const Caller& caller, const authz::RequestContext& rc) {
    authz::Evaluation out;
    if (caller.identity_policies == nullptr) return out;
    for (const auto& p : *caller.identity_policies) {
        const auto e = p.Evaluate(rc);
        out.deny = out.deny || e.deny;
        out.allow_principal = out.allow_principal || e.allow_principal || e.allow_account;
    }
    return out;
}

Status Denied(authz::Decision d, const Caller& caller, const std::string& action,
              const std::string& resource) {
    return Error(ErrorCode::kAccessDenied,
                 authz::DeniedMessage(d, caller.principal_arn, action, resource));
}

}  // namespace

// Condition keys for every policy in play that has conditions; the encryption context is read
// from the request only if something needs it.
struct Conditions {
    std::optional<Context> ec;
    const Context& Ec(const OpContext& ctx, std::string_view action) {
        if (!ec) ec = RequestContextOf(ctx, action);
        return *ec;
    }
    void Add(const OpContext& ctx, const storage::KeyRecord* key, std::string_view action,
             const std::string& alias, const authz::Policy* key_policy, authz::RequestContext& rc) {
        auto add = [&](const authz::Policy& p) {
            if (!p.has_conditions()) return;
            AddConditionKeys({ctx, key, action, Ec(ctx, action), alias}, p, rc);
        };
        if (key_policy) add(*key_policy);
        if (ctx.caller.identity_policies)
            for (const auto& p : *ctx.caller.identity_policies) add(p);
    }
};

Status AuthorizeKey(const OpContext& ctx, const storage::KeyRecord& key, std::string_view action,
                    const std::string& request_alias, Grants grants) {
    const std::string full_action = "kms:" + std::string(action);
    const auto key_policy = ctx.services.policies.Get(key);
    authz::RequestContext rc{
        full_action, key.arn, ctx.caller.principal_arn, ctx.caller.account, {}};
    Conditions conditions;
    conditions.Add(ctx, &key, action, request_alias, key_policy.get(), rc);
    authz::DecisionInputs in{};
    if (key_policy) in.key_policy = key_policy->Evaluate(rc);
    in.identity = EvaluateIdentity(ctx.caller, rc);
    in.identity_unrestricted = ctx.caller.root();
    in.same_account = ctx.caller.account == key.account;
    auto decision = authz::Decide(in);
    if (grants == Grants::kConsulted && (decision == authz::Decision::kNoResourceAllow ||
                                         decision == authz::Decision::kNoIdentityAllow)) {
        in.grant_allows = GrantAllows(ctx, key, action, conditions.Ec(ctx, action));
        in.grant_allows_account =
            !in.grant_allows && GrantAllowsAccount(ctx, key, action, conditions.Ec(ctx, action));
        decision = authz::Decide(in);
    }
    if (decision == authz::Decision::kAllow) return Status::Ok();
    return Denied(decision, ctx.caller, full_action, key.arn);
}

Status AuthorizeIam(const OpContext& ctx, std::string_view action, const std::string& resource) {
    if (ctx.caller.root()) return Status::Ok();
    const std::string full_action = "kms:" + std::string(action);
    authz::RequestContext rc{
        full_action, resource, ctx.caller.principal_arn, ctx.caller.account, {}};
    Conditions conditions;
    conditions.Add(ctx, nullptr, action, "", nullptr, rc);
    authz::DecisionInputs in{};
    in.identity = EvaluateIdentity(ctx.caller, rc);
    in.identity_unrestricted = false;
    in.iam_only = true;
    const auto decision = authz::Decide(in);
    if (decision == authz::Decision::kAllow) return Status::Ok();
    return Denied(decision, ctx.caller, full_action, resource);
}

Status CheckGrantTokens(const OpContext& ctx) {
    if (ctx.request == nullptr || !In(kGrantTokenOperations, ctx.operation) ||
        !ctx.request->Has("GrantTokens"))
        return Status::Ok();
    for (const auto& token : ctx.request->StringList("GrantTokens"))
        if (!ctx.services.hsm.VerifyGrantToken(token))
            return Error(ErrorCode::kInvalidGrantToken, "Invalid grant token.");
    return Status::Ok();
}

}  // namespace kmsd::api
