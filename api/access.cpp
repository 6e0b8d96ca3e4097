// The one place that applies a route's declaration (api/route.h, design.md §2 steps 3-5): a key
// reference is resolved, then authorized, then checked for state and kind, always in that order,
// whether the dispatcher asks before the operation runs or the operation asks when it needs the
// key. Operations only choose the moment.
#include "api/authorize.h"
#include "api/resolve.h"
#include "common/hex.h"

namespace kmsd::api {
namespace {

unsigned UsageBit(std::string_view key_usage) {
    if (key_usage == "ENCRYPT_DECRYPT") return usage::kEncryptDecrypt;
    if (key_usage == "SIGN_VERIFY") return usage::kSignVerify;
    if (key_usage == "GENERATE_VERIFY_MAC") return usage::kGenerateVerifyMac;
    if (key_usage == "KEY_AGREEMENT") return usage::kKeyAgreement;
    return 0;
}

unsigned SpecBit(std::string_view key_spec) {
    if (key_spec == "SYMMETRIC_DEFAULT") return spec::kSymmetric;
    if (key_spec == "ECC_NIST_EDWARDS25519") return spec::kEdwards;
    if (key_spec == "SM2") return spec::kSm2;
    if (key_spec.starts_with("RSA_")) return spec::kRsa;
    if (key_spec.starts_with("ECC_")) return spec::kEcc;
    if (key_spec.starts_with("HMAC_")) return spec::kHmac;
    if (key_spec.starts_with("ML_DSA_")) return spec::kMlDsa;
    return 0;
}

Grants GrantsFor(KeyAuthz authz) {
    return authz == KeyAuthz::kPolicyOnly ? Grants::kIgnored : Grants::kConsulted;
}

// A declaration the operation's call does not fit: a bug in the table or the operation.
Status Misdeclared(const Route& route, const char* call) {
    return Error(ErrorCode::kInternal,
                 std::string(call) + " does not fit the declaration of " + std::string(route.name));
}

// AWS's answer when the ciphertext's key is missing, in another Region, or not usable by the
// caller: one text for all three, so that it does not reveal which (the pre-2023 text was "The
// ciphertext refers to a customer master key that does not exist, ...").
Status ForeignCiphertext(const OpContext& ctx, std::string_view action) {
    return Error(ErrorCode::kAccessDenied,
                 "User: " + ctx.caller.principal_arn +
                     " is not authorized to perform: kms:" + std::string(action) +
                     " on the resource associated with this ciphertext because the resource "
                     "does not exist in this Region, no resource-based policies allow access, or "
                     "a resource-based policy explicitly denies access");
}

// Step 5: the states and kinds of key `decl` accepts.
Status Check(const Route& route, const KeyDecl& decl, const storage::KeyRecord& key) {
    KMSD_RETURN_IF_ERROR(CheckKeyState(key, decl.states));
    return CheckKeyKinds(key, decl.kinds, decl.usage_op.empty() ? route.name : decl.usage_op);
}

// Steps 3-4 (and 5 when `check`) for the key the member of `decl` names.
Result<storage::KeyPtr> ResolveDeclared(const OpContext& ctx, const KeyDecl& decl, bool check) {
    const Route& route = *ctx.route;
    if (decl.from != KeyFrom::kMember && decl.from != KeyFrom::kCiphertext)
        return Misdeclared(route, "Key()");
    std::string alias;
    KMSD_ASSIGN_OR_RETURN(storage::KeyPtr key, LookupKey(ctx, ctx.request->String(decl.member),
                                                         decl.aliases, decl.cross_account, &alias));
    if (decl.authz != KeyAuthz::kNone)
        KMSD_RETURN_IF_ERROR(
            AuthorizeKey(ctx, *key, ActionOf(route, decl), alias, GrantsFor(decl.authz)));
    if (check) KMSD_RETURN_IF_ERROR(Check(route, decl, *key));
    return key;
}

bool IsAliasRef(const std::string& ref) {
    return ref.rfind("alias/", 0) == 0 || ref.find(":alias/") != std::string::npos;
}

}  // namespace

std::string_view ActionOf(const Route& route) {
    return route.action.empty() ? route.name : route.action;
}

std::string_view ActionOf(const Route& route, const KeyDecl& key) {
    return key.action.empty() ? ActionOf(route) : key.action;
}

Status CheckKeyKinds(const storage::KeyRecord& key, KeyKinds kinds, std::string_view op) {
    if ((UsageBit(key.key_usage) & kinds.usages) == 0)
        return Error(ErrorCode::kInvalidKeyUsage, key.arn + " key usage is " + key.key_usage +
                                                      " which is not valid for " + std::string(op) +
                                                      ".");
    if ((SpecBit(key.key_spec) & kinds.specs) == 0)
        return Error(ErrorCode::kInvalidKeyUsage, key.arn + " key KeySpec is " + key.key_spec +
                                                      " which is not valid for " + std::string(op) +
                                                      ".");
    return Status::Ok();
}

Result<storage::KeyPtr> OpContext::Key() {
    if (!key_) key_ = ResolveDeclared(*this, route->key, /*check=*/true);
    return *key_;
}

storage::KeyPtr OpContext::TakeResolvedKey() {
    if (key_ && key_->ok()) return std::move(key_->value());
    return std::move(ciphertext_key_);
}

storage::KeyPtr OpContext::TakeTargetKey() {
    if (target_ && target_->ok()) return std::move(target_->value());
    return nullptr;
}

Result<storage::KeyPtr> OpContext::TargetKey() {
    if (!target_) target_ = ResolveDeclared(*this, route->target, /*check=*/true);
    return *target_;
}

Result<CiphertextKey> OpContext::KeyOfCiphertext(ByteView blob) {
    const KeyDecl& decl = route->key;
    if (decl.from != KeyFrom::kCiphertext) return Misdeclared(*route, "KeyOfCiphertext()");
    const std::string_view action = ActionOf(*route, decl);
    // A key named in the request is resolved and authorized first; its state and kind are
    // checked once it is known to be the ciphertext's (IncorrectKeyException comes first).
    storage::KeyPtr requested;
    if (request->Has(decl.member)) {
        KMSD_ASSIGN_OR_RETURN(requested, ResolveDeclared(*this, decl, /*check=*/false));
    }
    // Asymmetric ciphertext is raw (RSA-OAEP, SM2): nothing in it names a key, so the request
    // must (without KeyId it is not a blob and fails as InvalidCiphertextException below).
    if (requested && requested->key_spec != "SYMMETRIC_DEFAULT") {
        KMSD_RETURN_IF_ERROR(Check(*route, decl, *requested));
        ciphertext_key_ = requested;
        return CiphertextKey{requested, requested->current_material_id(), std::nullopt};
    }
    KMSD_ASSIGN_OR_RETURN(hsm::Hsm::CiphertextHeader header, hsm::Hsm::ReadCiphertext(blob));
    storage::KeyPtr key = services.catalog.FindMaterialOwner(header.material_id, caller.region);
    if (requested && (!key || key->name() != requested->name()))
        return Error(ErrorCode::kIncorrectKey,
                     "The key ID in the request does not identify a CMK that can perform this "
                     "operation.");
    if (!key || key->region != caller.region) return ForeignCiphertext(*this, action);
    // The ciphertext names the key; it is authorized like a key named in the request (another
    // account's key too, if its policy allows), but a denial does not name it.
    if (!requested && !AuthorizeKey(*this, *key, action, "", GrantsFor(decl.authz)).ok())
        return ForeignCiphertext(*this, action);
    KMSD_RETURN_IF_ERROR(Check(*route, decl, *key));
    ciphertext_key_ = key;
    return CiphertextKey{key, ToHex(header.material_id), header.parts};
}

Result<storage::AliasPtr> OpContext::Alias() {
    const KeyDecl& decl = route->key;
    if (decl.from != KeyFrom::kAlias) return Misdeclared(*route, "Alias()");
    const std::string name = request->String(decl.member);
    auto alias = services.catalog.FindAlias({caller.account, caller.region, name});
    if (!alias)
        return Error(ErrorCode::kNotFound,
                     "Alias " + AliasArn(caller.region, caller.account, name) + " is not found.");
    // Deleting a key deletes its aliases, so the key is there; were it not, there would be
    // nothing to authorize.
    auto key = services.catalog.FindKey({alias->account, alias->region, alias->key_id});
    if (key) {
        KMSD_RETURN_IF_ERROR(
            AuthorizeKey(*this, *key, ActionOf(*route, decl), "", GrantsFor(decl.authz)));
        KMSD_RETURN_IF_ERROR(Check(*route, decl, *key));
    }
    return alias;
}

Status OpContext::AuthorizeAlias() {
    if (route->alias_member == nullptr) return Misdeclared(*route, "AuthorizeAlias()");
    return AuthorizeIam(
        *this, ActionOf(*route),
        AliasArn(caller.region, caller.account, request->String(route->alias_member)));
}

Status OpContext::Authorize(const storage::KeyRecord& key) {
    const KeyDecl& decl = route->key;
    if (decl.from != KeyFrom::kGrant) return Misdeclared(*route, "Authorize()");
    return AuthorizeKey(*this, key, ActionOf(*route, decl), "", GrantsFor(decl.authz));
}

Status OpContext::CheckKey(const storage::KeyRecord& key) const {
    return Check(*route, route->key, key);
}

Status AdmitRequest(OpContext& ctx) {
    const Route& route = *ctx.route;
    if (route.iam_only) KMSD_RETURN_IF_ERROR(AuthorizeIam(ctx, ActionOf(route), "*"));
    // AWS refuses these before it looks at any other member (CreateGrant's constraints).
    for (const KeyDecl* decl : {&route.key, &route.target})
        if (decl->aliases == AliasRefs::kInvalidArn &&
            IsAliasRef(ctx.request->String(decl->member)))
            return Error(ErrorCode::kInvalidArn,
                         "Key Aliases are not supported for this operation.");
    if (route.resolve == Resolve::kBeforeHandler && route.key.member != nullptr &&
        ctx.request->Has(route.key.member))
        KMSD_RETURN_IF_ERROR(ctx.Key().status());
    return Status::Ok();
}

}  // namespace kmsd::api
