#include "api/dispatcher.h"

#include <spdlog/spdlog.h>

#include <exception>

#include "api/audit.h"
#include "api/authorize.h"
#include "api/errors.h"
#include "api/json.h"
#include "api/ops/common.h"
#include "api/validate.h"
#include "common/name_index.h"

namespace kmsd::api {
namespace {

constexpr auto kFirst = Resolve::kBeforeHandler;

// The key GenerateDataKey* encrypt under, named by KeyId.
constexpr KeyDecl kEncryptionKeyId = KeyIn("KeyId")
                                         .Aliases()
                                         .CrossAccount()
                                         .States(KeyStates::kEnabled)
                                         .Accepts(kSymmetricEncryption);

// Keys that encrypt and decrypt: symmetric, RSA and SM2 ENCRYPT_DECRYPT keys.
constexpr KeyKinds kAnyEncryption{usage::kEncryptDecrypt,
                                  spec::kSymmetric | spec::kRsa | spec::kSm2};

// A key the crypto operations of one usage name by KeyId, in any account, Enabled.
constexpr KeyDecl EnabledKeyId(KeyKinds kinds) {
    return KeyIn("KeyId").Aliases().CrossAccount().States(KeyStates::kEnabled).Accepts(kinds);
}
constexpr KeyKinds kSigningKeys{
    usage::kSignVerify, spec::kRsa | spec::kEcc | spec::kEdwards | spec::kSm2 | spec::kMlDsa};
constexpr KeyKinds kMacKeys{usage::kGenerateVerifyMac, spec::kHmac};
constexpr KeyKinds kAgreementKeys{usage::kKeyAgreement, spec::kEcc | spec::kSm2};

// One row per implemented operation, sorted by name (design.md §2): its IAM action (kms:<name>
// unless .Action says otherwise), whether IAM alone decides, and each key it works on: the
// member naming it, which references may name it (alias names and ARNs, other accounts' key
// ARNs), how it is authorized, and the key states and kinds it accepts. api/access.cpp applies
// a row; operations never resolve or authorize a key themselves.
// kFirst: the dispatcher resolves, authorizes and checks the key before the operation runs,
// because nothing the operation checks comes before it. The other rows say what comes first.
// Model operations missing here answer UnsupportedOperationException until their issue lands.
constexpr Route kRoutes[] = {
    Op("CancelKeyDeletion", &ops::CancelKeyDeletion)
        .Key(KeyIn("KeyId").States(KeyStates::kPendingDeletion), kFirst),
    Op("ConnectCustomKeyStore", &ops::ConnectCustomKeyStore).IamOnly(),
    // The alias name, then IAM on the alias; the target inside the write that adds the alias.
    Op("CreateAlias", &ops::CreateAlias)
        .Alias("AliasName")
        .Target(KeyIn("TargetKeyId").States(KeyStates::kNotPendingDeletion)),
    Op("CreateCustomKeyStore", &ops::CreateCustomKeyStore).IamOnly(),
    // Constraints and principals first; the key inside the write that adds the grant.
    Op("CreateGrant", &ops::CreateGrant)
        .Key(KeyIn("KeyId")
                 .Aliases(AliasRefs::kInvalidArn)
                 .CrossAccount()
                 .States(KeyStates::kNotPendingDeletion)),
    Op("CreateKey", &ops::CreateKey).IamOnly(),
    // The encryption context first, then the key the ciphertext names.
    Op("Decrypt", &ops::Decrypt)
        .Key(KeyOfCiphertext("KeyId")
                 .Aliases()
                 .CrossAccount()
                 .States(KeyStates::kEnabled)
                 .Accepts(kAnyEncryption)),
    // The alias name, then IAM on the alias; its key inside the write that deletes it.
    Op("DeleteAlias", &ops::DeleteAlias).Alias("AliasName").Key(KeyOfAlias("AliasName")),
    Op("DeleteCustomKeyStore", &ops::DeleteCustomKeyStore).IamOnly(),
    // Any state; the operation says which origin it works on.
    Op("DeleteImportedKeyMaterial", &ops::DeleteImportedKeyMaterial).Key(KeyIn("KeyId"), kFirst),
    Op("DeriveSharedSecret", &ops::DeriveSharedSecret).Key(EnabledKeyId(kAgreementKeys), kFirst),
    Op("DescribeCustomKeyStores", &ops::DescribeCustomKeyStores).IamOnly(),
    Op("DescribeKey", &ops::DescribeKey).Key(KeyIn("KeyId").Aliases().CrossAccount(), kFirst),
    Op("DisableKey", &ops::DisableKey)
        .Key(KeyIn("KeyId").States(KeyStates::kNotPendingDeletionOrImport), kFirst),
    // Which keys rotate (symmetric, AWS_KMS) is the rotation operations' own rule
    // (UnsupportedOperationException), checked after the state.
    Op("DisableKeyRotation", &ops::DisableKeyRotation)
        .Key(KeyIn("KeyId").States(KeyStates::kEnabled), kFirst),
    Op("DisconnectCustomKeyStore", &ops::DisconnectCustomKeyStore).IamOnly(),
    Op("EnableKey", &ops::EnableKey)
        .Key(KeyIn("KeyId").States(KeyStates::kNotPendingDeletionOrImport), kFirst),
    Op("EnableKeyRotation", &ops::EnableKeyRotation)
        .Key(KeyIn("KeyId").States(KeyStates::kEnabled), kFirst),
    // The encryption context first.
    Op("Encrypt", &ops::Encrypt).Key(EnabledKeyId(kAnyEncryption)),
    // KeySpec/NumberOfBytes, Recipient and the encryption context first.
    Op("GenerateDataKey", &ops::GenerateDataKey).Key(kEncryptionKeyId),
    Op("GenerateDataKeyPair", &ops::GenerateDataKeyPair).Key(kEncryptionKeyId),
    Op("GenerateDataKeyPairWithoutPlaintext", &ops::GenerateDataKeyPairWithoutPlaintext)
        .Key(kEncryptionKeyId),
    Op("GenerateDataKeyWithoutPlaintext", &ops::GenerateDataKeyWithoutPlaintext)
        .Key(kEncryptionKeyId),
    Op("GenerateMac", &ops::GenerateMac).Key(EnabledKeyId(kMacKeys), kFirst),
    Op("GenerateRandom", &ops::GenerateRandom).IamOnly(),
    Op("GetKeyLastUsage", &ops::GetKeyLastUsage).Key(KeyIn("KeyId"), kFirst),
    Op("GetKeyPolicy", &ops::GetKeyPolicy).Key(KeyIn("KeyId"), kFirst),
    Op("GetKeyRotationStatus", &ops::GetKeyRotationStatus)
        .Key(KeyIn("KeyId").CrossAccount(), kFirst),
    Op("GetParametersForImport", &ops::GetParametersForImport)
        .Key(KeyIn("KeyId").States(KeyStates::kNotPendingDeletion), kFirst),
    // Symmetric and HMAC keys have no public key: the operation says so.
    Op("GetPublicKey", &ops::GetPublicKey).Key(EnabledKeyId(kAnyKey), kFirst),
    // ExpirationModel and ValidTo first.
    Op("ImportKeyMaterial", &ops::ImportKeyMaterial)
        .Key(KeyIn("KeyId").States(KeyStates::kNotPendingDeletion)),
    // The optional KeyId filters the list; it is looked up, not authorized (IAM decides).
    Op("ListAliases", &ops::ListAliases)
        .IamOnly()
        .Key(KeyIn("KeyId").Authz(KeyAuthz::kNone), kFirst),
    Op("ListGrants", &ops::ListGrants).Key(KeyIn("KeyId").CrossAccount(), kFirst),
    Op("ListKeyPolicies", &ops::ListKeyPolicies).Key(KeyIn("KeyId"), kFirst),
    Op("ListKeyRotations", &ops::ListKeyRotations).Key(KeyIn("KeyId"), kFirst),
    Op("ListKeys", &ops::ListKeys).IamOnly(),
    Op("ListResourceTags", &ops::ListResourceTags).Key(KeyIn("KeyId"), kFirst),
    Op("ListRetirableGrants", &ops::ListRetirableGrants).IamOnly(),
    // PolicyName first.
    Op("PutKeyPolicy", &ops::PutKeyPolicy).Key(KeyIn("KeyId")),
    // The encryption contexts first. The source is the ciphertext's key (a wrong usage there
    // names Decrypt, as it always has), the destination is named in the request.
    Op("ReEncrypt", &ops::ReEncrypt)
        .Key(KeyOfCiphertext("SourceKeyId")
                 .Action("ReEncryptFrom")
                 .Aliases()
                 .CrossAccount()
                 .States(KeyStates::kEnabled)
                 .Accepts(kAnyEncryption, "Decrypt"))
        .Target(KeyIn("DestinationKeyId")
                    .Action("ReEncryptTo")
                    .Aliases()
                    .CrossAccount()
                    .States(KeyStates::kEnabled)
                    .Accepts(kAnyEncryption)),
    // The key must be a primary (the operation's rule, after the state).
    Op("ReplicateKey", &ops::ReplicateKey).Key(KeyIn("KeyId").States(KeyStates::kEnabled)),
    // The grant names the key; its retiring principal, grantee and issuing account need no
    // policy, anyone else the key policy's (not a grant's) kms:RetireGrant.
    Op("RetireGrant", &ops::RetireGrant)
        .Key(KeyOfGrant("KeyId").CrossAccount().Authz(KeyAuthz::kPolicyOnly)),
    // The key inside the write that deletes the grant.
    Op("RevokeGrant", &ops::RevokeGrant).Key(KeyIn("KeyId").CrossAccount()),
    // The key inside the write that adds the material.
    Op("RotateKeyOnDemand", &ops::RotateKeyOnDemand)
        .Key(KeyIn("KeyId").States(KeyStates::kEnabled)),
    // PendingWindowInDays first.
    Op("ScheduleKeyDeletion", &ops::ScheduleKeyDeletion)
        .Key(KeyIn("KeyId").States(KeyStates::kNotPendingDeletion)),
    Op("Sign", &ops::Sign).Key(EnabledKeyId(kSigningKeys), kFirst),
    Op("TagResource", &ops::TagResource)
        .Key(KeyIn("KeyId").States(KeyStates::kNotPendingDeletion), kFirst),
    Op("UntagResource", &ops::UntagResource)
        .Key(KeyIn("KeyId").States(KeyStates::kNotPendingDeletion), kFirst),
    // The alias name, then IAM on the alias; both keys inside the write that moves it.
    Op("UpdateAlias", &ops::UpdateAlias)
        .Alias("AliasName")
        .Key(KeyOfAlias("AliasName"))
        .Target(KeyIn("TargetKeyId").States(KeyStates::kNotPendingDeletion)),
    Op("UpdateCustomKeyStore", &ops::UpdateCustomKeyStore).IamOnly(),
    Op("UpdateKeyDescription", &ops::UpdateKeyDescription)
        .Key(KeyIn("KeyId").States(KeyStates::kNotPendingDeletion), kFirst),
    Op("UpdatePrimaryRegion", &ops::UpdatePrimaryRegion)
        .Key(KeyIn("KeyId").States(KeyStates::kEnabled), kFirst),
    Op("Verify", &ops::Verify).Key(EnabledKeyId(kSigningKeys), kFirst),
    Op("VerifyMac", &ops::VerifyMac).Key(EnabledKeyId(kMacKeys), kFirst),
};

}  // namespace

std::span<const Route> Routes() { return kRoutes; }

const Route* FindRoute(std::string_view operation) { return FindByName(kRoutes, operation); }

const Route* RouteOf(int operation) {
    // Indexed once by the model's operations, so a request finds its route without a lookup.
    static const std::vector<const Route*> by_index = [] {
        std::vector<const Route*> out(OperationCount());
        for (std::size_t i = 0; i < out.size(); ++i) out[i] = FindRoute(OperationName(i));
        return out;
    }();
    return operation >= 0 && static_cast<std::size_t>(operation) < by_index.size()
               ? by_index[static_cast<std::size_t>(operation)]
               : nullptr;
}

namespace {

bool AcceptedContentType(std::string_view ct) {
    // Parameters such as "; charset=utf-8" are allowed after the media type.
    auto semi = ct.find(';');
    auto media = ct.substr(0, semi);
    while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
    return media == "application/x-amz-json-1.1" || media == "application/x-amz-json-1.0";
}

// What Run leaves besides its result: the keys the request resolved and its parsed input (for
// logs and the audit record).
struct RunState {
    storage::KeyPtr key;
    storage::KeyPtr target;
    Json input;
    SecureString reply_text;  // OpContext::ReplyText's
    std::string material_id;
};

// `operation`: the model index of the operation `target` names, -1 for none.
Result<Json> Run(const Services& services, const Caller& caller, int operation,
                 std::string_view content_type, std::string_view body,
                 const std::string& request_id, RunState& state) {
    if (operation < 0 || !AcceptedContentType(content_type))
        return Error(ErrorCode::kUnknownOperation);
    KMSD_ASSIGN_OR_RETURN(state.input, ParseRequestBody(body));
    const Json& input = state.input;
    // The key's index slot starts loading now, so that under a random key of many its cache miss
    // overlaps validation and admission instead of stalling the lookup (a hint only).
    if (const auto key_id = input.find("KeyId"); key_id != input.end() && key_id->is_string()) {
        const auto& ref = key_id->get_ref<const SecureString&>();
        PrefetchKey(services, caller, {ref.data(), ref.size()});
    }
    KMSD_RETURN_IF_ERROR(ValidateInput(operation, input));
    const Route* route = RouteOf(operation);
    if (route == nullptr)
        return Error(ErrorCode::kUnsupportedOperation,
                     std::string(OperationName(static_cast<std::size_t>(operation))) +
                         " is not supported by kmsd yet.");
    const Request req(input);
    OpContext ctx(services, caller, request_id, *route, &req);
    Result<Json> out = [&]() -> Result<Json> {
        KMSD_RETURN_IF_ERROR(CheckGrantTokens(ctx));
        KMSD_RETURN_IF_ERROR(AdmitRequest(ctx));
        return route->handler(ctx, req);
    }();
    state.key = ctx.TakeResolvedKey();
    state.target = ctx.TakeTargetKey();
    if (out.ok()) {
        state.reply_text = std::move(ctx.reply_text);
        state.material_id = std::move(ctx.recorded_material_id);
    }
    return out;
}

}  // namespace

namespace {

// The call's audit record, to Services::audit. An on-demand rotation also makes the RotateKey
// service event AWS records after the call.
void Audit(const Services& services, const Caller& caller, int operation,
           const std::string& request_id, RunState& state, const Json* output,
           const Status* failure) {
    const std::string_view op = OperationName(static_cast<std::size_t>(operation));
    CallOutcome call{op,      operation, request_id,   state.input,      output,
                     failure, state.key, state.target, state.material_id};
    auto fill = [&](AuditEvent& event) { CaptureCall(services, caller, call, event); };
    services.audit->Record(AuditFill(fill));
    if (op == "RotateKeyOnDemand" && output != nullptr && state.key)
        if (storage::KeyPtr now = services.catalog.FindKey(state.key->scoped()))
            services.audit->Record(ServiceEvent(
                "RotateKey", *now, services.clock.Now(),
                nlohmann::ordered_json{{"rotationType", "ON_DEMAND"},
                                       {"keyOrigin", now->origin},
                                       {"previousKeyMaterialId", state.key->current_material_id()},
                                       {"currentKeyMaterialId", now->current_material_id()},
                                       {"keyId", now->key_id}}));
}

}  // namespace

Response Dispatcher::Dispatch(const Caller& caller, std::string_view target,
                              std::string_view content_type, std::string_view body,
                              const std::string& request_id) const {
    Status failure;
    RunState state;
    const int operation = OperationIndexOfTarget(target);
    // Only model operations name an event.
    const bool audit = services_.audit != nullptr && operation >= 0;
    try {
        Result<Json> result =
            Run(services_, caller, operation, content_type, body, request_id, state);
        if (result.ok()) {
            Response out;
            out.operation = operation;
            if (!state.reply_text.empty())
                out.body = std::move(state.reply_text);
            else if (!result->is_null())
                out.body = Serialize(*result);
            if (audit) Audit(services_, caller, operation, request_id, state, &*result, nullptr);
            out.key = std::move(state.key);
            return out;
        }
        failure = result.status();
    } catch (const std::exception& e) {
        // The backstop: nothing a client sends may crash the server.
        spdlog::error("request {} failed unexpectedly: {}", request_id, e.what());
        failure = Error(ErrorCode::kInternal, "unexpected exception");
    } catch (...) {
        spdlog::error("request {} failed unexpectedly", request_id);
        failure = Error(ErrorCode::kInternal, "unexpected exception");
    }
    if (failure.code() == ErrorCode::kInternal || failure.code() == ErrorCode::kStorage)
        spdlog::error("request {}: {}", request_id, failure.message());
    if (audit) Audit(services_, caller, operation, request_id, state, nullptr, &failure);
    WireError wire = ToWire(failure);
    return Response{wire.http_status, std::move(wire.body), std::move(wire.type),
                    std::move(state.key), operation};
}

}  // namespace kmsd::api
