// Grants: CreateGrant, ListGrants, ListRetirableGrants, RetireGrant, RevokeGrant
// (kms-reference §6.4). A grant is evaluated by api/authorize on every request whose caller it
// names; here it is created, listed and removed. Tokens come from the HSM (self-verifying MACs).
#include <algorithm>
#include <set>
#include <span>

#include "api/ops/common.h"
#include "hsm/crypto.h"

namespace kmsd::api::ops {
namespace {

constexpr std::size_t kMaxGrantsPerKey = 50000;
constexpr std::size_t kMaxConstraintPairs = 8;
constexpr std::size_t kMaxConstraintChars = 384;

// Grant operations each kind of key supports (kms-reference §6.4, AWS's "grant operations").
constexpr std::string_view kSymmetricOperations[] = {"Decrypt",
                                                     "Encrypt",
                                                     "GenerateDataKey",
                                                     "GenerateDataKeyWithoutPlaintext",
                                                     "ReEncryptFrom",
                                                     "ReEncryptTo",
                                                     "CreateGrant",
                                                     "RetireGrant",
                                                     "DescribeKey",
                                                     "GenerateDataKeyPair",
                                                     "GenerateDataKeyPairWithoutPlaintext"};
constexpr std::string_view kAsymmetricEncryptionOperations[] = {
    "Decrypt",     "Encrypt",     "ReEncryptFrom", "ReEncryptTo",
    "CreateGrant", "RetireGrant", "DescribeKey",   "GetPublicKey"};
constexpr std::string_view kSigningOperations[] = {"Sign",        "Verify",      "CreateGrant",
                                                   "RetireGrant", "DescribeKey", "GetPublicKey"};
constexpr std::string_view kMacOperations[] = {"GenerateMac", "VerifyMac", "CreateGrant",
                                               "RetireGrant", "DescribeKey"};
constexpr std::string_view kAgreementOperations[] = {"DeriveSharedSecret", "CreateGrant",
                                                     "RetireGrant", "DescribeKey", "GetPublicKey"};

std::span<const std::string_view> GrantOperationsOf(const storage::KeyRecord& key) {
    if (key.key_usage == "SIGN_VERIFY") return kSigningOperations;
    if (key.key_usage == "GENERATE_VERIFY_MAC") return kMacOperations;
    if (key.key_usage == "KEY_AGREEMENT") return kAgreementOperations;
    if (key.key_spec == "SYMMETRIC_DEFAULT") return kSymmetricOperations;
    return kAsymmetricEncryptionOperations;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

struct Constraint {
    std::string type;  // "" when none
    Pairs context;     // sorted by key
};

Result<Constraint> ConstraintOf(const Request& req) {
    Constraint out;
    if (!req.Has("Constraints")) return out;
    const Json& c = req.At("Constraints");
    for (const char* type : {"EncryptionContextEquals", "EncryptionContextSubset"}) {
        if (!c.contains(type) || c.at(type).is_null()) continue;
        if (!out.type.empty())
            return Error(ErrorCode::kValidation,
                         "Constraints may contain either EncryptionContextEquals or "
                         "EncryptionContextSubset, not both.");
        out.type = type;
        for (auto it = c.at(type).begin(); it != c.at(type).end(); ++it) {
            std::string value = ToStd(it.value().get_ref<const SecureString&>());
            if (it.key().size() > kMaxConstraintChars || value.size() > kMaxConstraintChars)
                return Error(ErrorCode::kValidation,
                             "Encryption context keys and values in grant constraints must have "
                             "length less than or equal to 384.");
            out.context.emplace_back(ToStd(it.key()), std::move(value));
        }
        if (out.context.size() > kMaxConstraintPairs)
            return Error(ErrorCode::kValidation,
                         "Grant constraints may contain at most 8 encryption context pairs.");
    }
    std::sort(out.context.begin(), out.context.end());
    return out;
}

Status CheckOperations(const storage::KeyRecord& key, const std::vector<std::string>& ops) {
    if (ops.empty())
        return Error(ErrorCode::kValidation,
                     "1 validation error detected: Value '[]' at 'operations' failed to satisfy "
                     "constraint: Member must have length greater than or equal to 1");
    if (std::all_of(ops.begin(), ops.end(), [](const auto& op) { return op == "CreateGrant"; }))
        return Error(ErrorCode::kValidation,
                     "Grants must not contain only the CreateGrant operation.");
    const auto valid = GrantOperationsOf(key);
    for (const auto& op : ops)
        if (std::find(valid.begin(), valid.end(), op) == valid.end())
            return Error(ErrorCode::kValidation,
                         "Grant operation " + op + " is not valid for key usage " + key.key_usage +
                             " and key spec " + key.key_spec + ".");
    return Status::Ok();
}

}  // namespace

Result<std::shared_ptr<storage::GrantRecord>> NewGrant(const storage::KeyRecord& key,
                                                       const Request& req,
                                                       const std::string& issuer, double now,
                                                       std::string grant_id) {
    const std::vector<std::string> ops = req.StringList("Operations");
    KMSD_ASSIGN_OR_RETURN(Constraint constraint, ConstraintOf(req));
    KMSD_RETURN_IF_ERROR(CheckOperations(key, ops));
    auto grant = std::make_shared<storage::GrantRecord>();
    grant->key = key.scoped();
    grant->grant_id = std::move(grant_id);
    grant->name = req.String("Name");
    grant->creation_date = now;
    grant->grantee_principal = req.String("GranteePrincipal");
    grant->retiring_principal = req.String("RetiringPrincipal");
    grant->issuing_account = issuer;
    grant->operations = ops;
    grant->constraint_type = constraint.type;
    grant->constraint_context = constraint.context;
    return grant;
}

namespace {

// In strict mode grantee and retiring principals must exist (InvalidArnException, as AWS does
// for a principal IAM does not know).
Status CheckPrincipal(const OpContext& ctx, const std::string& principal) {
    if (principal.empty() || !ctx.services.principal_exists ||
        ctx.services.principal_exists(principal) ||
        principal.find(".amazonaws.com") != std::string::npos)
        return Status::Ok();
    return Error(ErrorCode::kInvalidArn, "Invalid principal " + principal + ".");
}

bool SameGrant(const storage::GrantRecord& g, const std::string& issuer, const std::string& grantee,
               const std::string& retiring, const std::vector<std::string>& ops,
               const Constraint& c) {
    return g.issuing_account == issuer && g.grantee_principal == grantee &&
           g.retiring_principal == retiring &&
           std::set<std::string>(g.operations.begin(), g.operations.end()) ==
               std::set<std::string>(ops.begin(), ops.end()) &&
           g.constraint_type == c.type && g.constraint_context == c.context;
}

Json GrantEntry(const storage::GrantRecord& g) {
    Json e = Json::object();
    e["KeyId"] = Str(KeyArn(g.key.region, g.key.account, g.key.name));
    e["GrantId"] = Str(g.grant_id);
    if (!g.name.empty()) e["Name"] = Str(g.name);
    e["CreationDate"] = Timestamp(g.creation_date);
    e["GranteePrincipal"] = Str(g.grantee_principal);
    if (!g.retiring_principal.empty()) e["RetiringPrincipal"] = Str(g.retiring_principal);
    e["IssuingAccount"] = Str(g.issuing_account);
    Json ops = Json::array();
    for (const auto& op : g.operations) ops.push_back(Str(op));
    e["Operations"] = std::move(ops);
    if (!g.constraint_type.empty()) {
        Json pairs = Json::object();
        for (const auto& [k, v] : g.constraint_context) pairs[ToSecure(k)] = Str(v);
        Json c = Json::object();
        c[ToSecure(g.constraint_type)] = std::move(pairs);
        e["Constraints"] = std::move(c);
    }
    return e;
}

// Grants are listed oldest first (ties by grant ID), which is also their marker order.
std::string GrantSortKey(const storage::GrantPtr& g) {
    return TimeSortKey(g->creation_date) + g->grant_id;
}

Result<Json> GrantPage(const Request& req, std::vector<storage::GrantPtr> grants) {
    const std::size_t limit = PageLimit(req, 50, 100);
    std::vector<std::pair<std::string, storage::GrantPtr>> sorted;
    sorted.reserve(grants.size());
    for (auto& g : grants) sorted.emplace_back(GrantSortKey(g), std::move(g));
    std::sort(sorted.begin(), sorted.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    return SortedPage(
        req, "grants", "Grants", sorted, limit,
        [](const auto& e) -> const std::string& { return e.first; },
        [](const auto& e) { return GrantEntry(*e.second); });
}

// Whether `principal` is `caller` or a session of the role `principal` names.
bool Names(const std::string& principal, const Caller& caller) {
    if (principal.empty()) return false;
    if (principal == caller.principal_arn) return true;
    const std::string role_prefix = "arn:aws:iam::" + caller.account + ":role/";
    if (principal.rfind(role_prefix, 0) != 0) return false;
    const std::string session = "arn:aws:sts::" + caller.account + ":assumed-role/" +
                                principal.substr(role_prefix.size()) + "/";
    return caller.principal_arn.rfind(session, 0) == 0;
}

Status GrantNotFound(const std::string& id) {
    return Error(ErrorCode::kInvalidGrantId, "Grant ID " + id + " not found");
}

}  // namespace

Result<Json> CreateGrant(OpContext& ctx, const Request& req) {
    const std::string grantee = req.String("GranteePrincipal");
    const std::string retiring = req.String("RetiringPrincipal");
    const std::vector<std::string> ops = req.StringList("Operations");
    KMSD_ASSIGN_OR_RETURN(Constraint constraint, ConstraintOf(req));
    KMSD_RETURN_IF_ERROR(CheckPrincipal(ctx, grantee));
    KMSD_RETURN_IF_ERROR(CheckPrincipal(ctx, retiring));
    const std::string issuer =
        "arn:" + Partition(ctx.caller.region) + ":iam::" + ctx.caller.account + ":root";
    std::string grant_id;
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
        KMSD_RETURN_IF_ERROR(CheckOperations(*key, ops));
        KMSD_RETURN_IF_ERROR(DryRunGate(req));
        // A repeat with the same name and parameters is the same grant (a fresh token).
        if (req.Has("Name"))
            for (const auto& g :
                 ctx.services.catalog.GrantsNamed(key->scoped(), req.String("Name")))
                if (SameGrant(*g, issuer, grantee, retiring, ops, constraint)) {
                    grant_id = g->grant_id;
                    return storage::Change{};
                }
        if (ctx.services.catalog.GrantCount(key->scoped()) >= kMaxGrantsPerKey)
            return Error(ErrorCode::kLimitExceeded,
                         "Too many grants for key " + key->arn + ". The limit is 50000.");
        KMSD_ASSIGN_OR_RETURN(
            auto grant, NewGrant(*key, req, issuer, Timestamp(ctx.Now()), hsm::RandomHex(32)));
        grant_id = grant->grant_id;
        storage::Change change;
        change.put_grants.push_back(std::move(grant));
        return change;
    }));
    Json out = Json::object();
    out["GrantId"] = Str(grant_id);
    out["GrantToken"] = Str(ctx.services.hsm.IssueGrantToken(grant_id, ctx.Now()));
    return out;
}

Result<Json> ListGrants(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    auto grants = ctx.services.catalog.GrantsOf(key->scoped());
    const auto grant_id = req.OptString("GrantId");
    const auto grantee = req.OptString("GranteePrincipal");
    std::erase_if(grants, [&](const storage::GrantPtr& g) {
        return (grant_id && g->grant_id != *grant_id) ||
               (grantee && g->grantee_principal != *grantee);
    });
    return GrantPage(req, std::move(grants));
}

Result<Json> ListRetirableGrants(OpContext& ctx, const Request& req) {
    // Grants on keys of the caller's account and Region only.
    auto grants = ctx.services.catalog.RetirableGrants(req.String("RetiringPrincipal"));
    std::erase_if(grants, [&](const storage::GrantPtr& g) {
        return g->key.account != ctx.caller.account || g->key.region != ctx.caller.region;
    });
    return GrantPage(req, std::move(grants));
}

Result<Json> RetireGrant(OpContext& ctx, const Request& req) {
    std::string grant_id;
    if (req.Has("GrantToken")) {
        auto named = ctx.services.hsm.VerifyGrantToken(req.String("GrantToken"));
        if (!named) return Error(ErrorCode::kInvalidGrantToken, "Invalid grant token.");
        grant_id = *named;
    } else if (req.Has("KeyId") && req.Has("GrantId")) {
        grant_id = req.String("GrantId");
    } else {
        return Error(ErrorCode::kValidation,
                     "Either GrantToken, or both KeyId and GrantId, must be specified.");
    }
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        auto grant = ctx.services.catalog.FindGrant(grant_id);
        if (!grant) return GrantNotFound(grant_id);
        auto key = ctx.services.catalog.FindKey(grant->key);
        if (!key || key->region != ctx.caller.region) return GrantNotFound(grant_id);
        if (req.Has("KeyId")) {
            // The KeyId must name the grant's key (a key ARN, possibly of another account).
            const std::string ref = req.String("KeyId");
            if (ref != key->arn && ref != key->key_id) return GrantNotFound(grant_id);
        }
        // Who may retire (kms-reference §6.4): the retiring principal, a grantee whose grant
        // includes RetireGrant, and the account that created the grant.
        const bool retiring = Names(grant->retiring_principal, ctx.caller);
        const bool grantee = Names(grant->grantee_principal, ctx.caller) &&
                             std::find(grant->operations.begin(), grant->operations.end(),
                                       "RetireGrant") != grant->operations.end();
        const bool issuer = ctx.caller.root() &&
                            grant->issuing_account.ends_with(":" + ctx.caller.account + ":root");
        if (!retiring && !grantee && !issuer) KMSD_RETURN_IF_ERROR(ctx.Authorize(*key));
        KMSD_RETURN_IF_ERROR(DryRunGate(req));
        storage::Change change;
        change.delete_grants.push_back(grant_id);
        return change;
    }));
    return Json();
}

Result<Json> RevokeGrant(OpContext& ctx, const Request& req) {
    const std::string grant_id = req.String("GrantId");
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
        auto grant = ctx.services.catalog.FindGrant(grant_id);
        if (!grant || grant->key != key->scoped()) return GrantNotFound(grant_id);
        KMSD_RETURN_IF_ERROR(DryRunGate(req));
        storage::Change change;
        change.delete_grants.push_back(grant_id);
        return change;
    }));
    return Json();
}

}  // namespace kmsd::api::ops
