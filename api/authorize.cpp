#include "api/authorize.h"

#include <algorithm>
#include <cmath>
#include <ctime>
#include <map>

#include "api/authz/decision.h"

namespace kmsd::api {
namespace {

constexpr std::string_view kIamOnly[] = {"CreateKey",
                                         "ListKeys",
                                         "ListAliases",
                                         "GenerateRandom",
                                         "ListRetirableGrants",
                                         "CreateCustomKeyStore",
                                         "DescribeCustomKeyStores",
                                         "ConnectCustomKeyStore",
                                         "DisconnectCustomKeyStore",
                                         "DeleteCustomKeyStore",
                                         "UpdateCustomKeyStore"};

// kms-reference §6.2 / AWS "Allowing users in other accounts to use a KMS key".
constexpr std::string_view kCrossAccount[] = {"CreateGrant",
                                              "Decrypt",
                                              "DescribeKey",
                                              "Encrypt",
                                              "GenerateDataKey",
                                              "GenerateDataKeyWithoutPlaintext",
                                              "GenerateDataKeyPair",
                                              "GenerateDataKeyPairWithoutPlaintext",
                                              "GenerateMac",
                                              "GetKeyRotationStatus",
                                              "GetPublicKey",
                                              "ListGrants",
                                              "ReEncryptFrom",
                                              "ReEncryptTo",
                                              "RetireGrant",
                                              "RevokeGrant",
                                              "Sign",
                                              "Verify",
                                              "VerifyMac",
                                              "DeriveSharedSecret"};

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
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
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
    if (ctx.request == nullptr) return out;
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

std::string Iso8601(double t) {
    std::time_t secs = static_cast<std::time_t>(t);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

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

// The condition keys of this request (kms-reference §6.2's table). Built only when a policy in
// play has conditions; aliases only when a policy asks for kms:ResourceAliases.
void FillConditionKeys(const OpContext& ctx, const storage::KeyRecord* key, std::string_view action,
                       const Context& ec, const std::string& request_alias, bool with_aliases,
                       authz::RequestContext& rc) {
    auto& k = rc.keys;
    const Caller& c = ctx.caller;
    k["aws:principalarn"] = {c.principal_arn};
    k["aws:principalaccount"] = {c.account};
    k["aws:principaltype"] = {PrincipalType(c)};
    k["kms:calleraccount"] = {c.account};
    k["aws:requestedregion"] = {c.region};
    k["aws:securetransport"] = {"false"};
    if (!c.source_ip.empty()) k["aws:sourceip"] = {c.source_ip};
    const double now = ctx.Now();
    k["aws:currenttime"] = {Iso8601(now)};
    k["aws:epochtime"] = {std::to_string(static_cast<long long>(std::floor(now)))};
    if (key != nullptr) {
        k["kms:keyspec"] = k["kms:customermasterkeyspec"] = {key->key_spec};
        k["kms:keyusage"] = k["kms:customermasterkeyusage"] = {key->key_usage};
        k["kms:keyorigin"] = {key->origin};
        k["kms:multiregion"] = {"false"};
        for (const auto& [tk, tv] : key->tags) k["aws:resourcetag/" + Lower(tk)] = {tv};
        if (with_aliases) {
            auto& list = k["kms:resourcealiases"];
            for (const auto& a : ctx.services.catalog.AliasesOf(key->scoped()))
                list.push_back(a->alias_name);
        }
    }
    if (!request_alias.empty()) k["kms:requestalias"] = {request_alias};
    if (!ec.empty()) {
        auto& keys = k["kms:encryptioncontextkeys"];
        for (const auto& [ek, ev] : ec) {
            k["kms:encryptioncontext:" + Lower(ek)] = {ev};
            keys.push_back(ek);
        }
    }
    if (In(kContextOperations, action) && action != "CreateGrant") {
        const char* member = action == "ReEncryptFrom" ? "SourceEncryptionAlgorithm"
                             : action == "ReEncryptTo" ? "DestinationEncryptionAlgorithm"
                                                       : "EncryptionAlgorithm";
        k["kms:encryptionalgorithm"] = {
            ctx.request ? ctx.request->String(member, "SYMMETRIC_DEFAULT") : "SYMMETRIC_DEFAULT"};
    }
    if (ctx.request == nullptr) return;
    const Request& req = *ctx.request;
    struct MemberKey {
        const char* member;
        const char* key;
    };
    // Request members that are condition keys of their own.
    static constexpr MemberKey kMembers[] = {
        {"PendingWindowInDays", "kms:schedulekeydeletionpendingwindowindays"},
        {"RotationPeriodInDays", "kms:rotationperiodindays"},
        {"BypassPolicyLockoutSafetyCheck", "kms:bypasspolicylockoutsafetycheck"},
        {"GranteePrincipal", "kms:granteeprincipal"},
        {"RetiringPrincipal", "kms:retiringprincipal"},
    };
    for (const auto& m : kMembers)
        if (req.Has(m.member)) k[Lower(m.key)] = {Text(req.At(m.member))};
    if (action == "CreateKey") {
        // CreateKey's key attributes come from the request (defaults as CreateKey applies them).
        k["kms:keyspec"] = k["kms:customermasterkeyspec"] = {
            req.String("KeySpec", req.String("CustomerMasterKeySpec", "SYMMETRIC_DEFAULT"))};
        k["kms:keyusage"] =
            k["kms:customermasterkeyusage"] = {req.String("KeyUsage", "ENCRYPT_DECRYPT")};
        k["kms:keyorigin"] = {req.String("Origin", "AWS_KMS")};
        k["kms:multiregion"] = {req.Bool("MultiRegion") ? "true" : "false"};
    }
    if (action == "ScheduleKeyDeletion" && !req.Has("PendingWindowInDays"))
        k["kms:schedulekeydeletionpendingwindowindays"] = {"30"};
    if (req.Has("Operations")) k["kms:grantoperations"] = req.StringList("Operations");
    if (action == "CreateGrant") {
        k["kms:grantisforawsresource"] = {"false"};
        if (req.Has("Constraints"))
            for (const char* type : {"EncryptionContextEquals", "EncryptionContextSubset"})
                if (req.At("Constraints").contains(type)) k["kms:grantconstrainttype"] = {type};
    }
    if (req.Has("Tags")) {
        auto& keys = k["aws:tagkeys"];
        for (const auto& t : req.At("Tags")) {
            const std::string tk = Text(t.at("TagKey"));
            k["aws:requesttag/" + Lower(tk)] = {Text(t.at("TagValue"))};
            keys.push_back(tk);
        }
    }
    if (req.Has("TagKeys")) k["aws:tagkeys"] = req.StringList("TagKeys");
}

bool Holds(const storage::GrantRecord& g, std::string_view action, const Context& ec) {
    if (std::find(g.operations.begin(), g.operations.end(), action) == g.operations.end())
        return false;
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
            if (Holds(*g, action, ec)) return true;
        return false;
    };
    if (check(ctx.caller.principal_arn)) return true;
    const std::string role = RoleOfSession(ctx.caller.principal_arn);
    return !role.empty() && check(role);
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

bool IdentityHasConditions(const Caller& caller, const std::string& prefix = "") {
    if (caller.identity_policies == nullptr) return false;
    for (const auto& p : *caller.identity_policies)
        if (prefix.empty() ? p.has_conditions() : p.References(prefix)) return true;
    return false;
}

Status Denied(authz::Decision d, const Caller& caller, const std::string& action,
              const std::string& resource) {
    return Error(ErrorCode::kAccessDenied,
                 authz::DeniedMessage(d, caller.principal_arn, action, resource));
}

}  // namespace

bool IsIamOnlyOperation(std::string_view operation) { return In(kIamOnly, operation); }

bool AllowsCrossAccount(std::string_view action) { return In(kCrossAccount, action); }

Status AuthorizeKey(const OpContext& ctx, const storage::KeyRecord& key, std::string_view action,
                    const std::string& request_alias) {
    const std::string full_action = "kms:" + std::string(action);
    const auto key_policy = ctx.services.policies.Get(key.policy);
    const bool conditions =
        (key_policy && key_policy->has_conditions()) || IdentityHasConditions(ctx.caller);
    authz::RequestContext rc{
        full_action, key.arn, ctx.caller.principal_arn, ctx.caller.account, {}};
    std::optional<Context> ec;
    if (conditions) {
        ec = RequestContextOf(ctx, action);
        const std::string aliases = "kms:resourcealiases";
        FillConditionKeys(ctx, &key, action, *ec, request_alias,
                          (key_policy && key_policy->References(aliases)) ||
                              IdentityHasConditions(ctx.caller, aliases),
                          rc);
    }
    authz::DecisionInputs in{};
    if (key_policy) in.key_policy = key_policy->Evaluate(rc);
    in.identity = EvaluateIdentity(ctx.caller, rc);
    in.identity_unrestricted = ctx.caller.root();
    in.same_account = ctx.caller.account == key.account;
    auto decision = authz::Decide(in);
    if (decision == authz::Decision::kNoResourceAllow ||
        decision == authz::Decision::kNoIdentityAllow) {
        if (!ec) ec = RequestContextOf(ctx, action);
        in.grant_allows = GrantAllows(ctx, key, action, *ec);
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
    if (IdentityHasConditions(ctx.caller))
        FillConditionKeys(ctx, nullptr, action, RequestContextOf(ctx, action), "", false, rc);
    authz::DecisionInputs in{};
    in.identity = EvaluateIdentity(ctx.caller, rc);
    in.identity_unrestricted = false;
    in.iam_only = true;
    const auto decision = authz::Decide(in);
    if (decision == authz::Decision::kAllow) return Status::Ok();
    return Denied(decision, ctx.caller, full_action, resource);
}

Status CheckGrantTokens(const OpContext& ctx) {
    if (ctx.request == nullptr || !ctx.request->Has("GrantTokens")) return Status::Ok();
    for (const auto& token : ctx.request->StringList("GrantTokens"))
        if (!ctx.services.hsm.VerifyGrantToken(token))
            return Error(ErrorCode::kInvalidGrantToken, "Invalid grant token.");
    return Status::Ok();
}

}  // namespace kmsd::api
