// Key lifecycle: CreateKey, DescribeKey, ListKeys, EnableKey, DisableKey, ScheduleKeyDeletion,
// CancelKeyDeletion, UpdateKeyDescription.
#include "api/key_stores.h"
#include "api/lifecycle.h"
#include "api/ops/common.h"
#include "api/policy_format.h"
#include "hsm/crypto.h"

namespace kmsd::api::ops {
namespace {

constexpr int kDefaultPendingWindowDays = 30;

// CreateKey inputs that later issues implement: answered with AWS's UnsupportedOperation shape
// rather than silently ignored.
Status CheckCreateKeySupported(const Request& req) {
    const std::string origin = req.String("Origin", "AWS_KMS");
    if (origin != "AWS_KMS" && origin != "EXTERNAL" && origin != "AWS_CLOUDHSM" &&
        origin != "EXTERNAL_KEY_STORE")
        return Error(ErrorCode::kUnsupportedOperation,
                     "Origin " + origin + " is not supported by kmsd yet.");
    return Status::Ok();
}

// CreateKey in a custom key store (Origin AWS_CLOUDHSM or EXTERNAL_KEY_STORE with
// CustomKeyStoreId, and XksKeyId for the latter): the store, of the Origin's type, connected,
// its cluster still fit for new keys or the external key not yet used by another key; the key
// symmetric and single-Region (AWS does not document these messages: README, Custom key
// stores). Null without a store.
Result<storage::StorePtr> KeyStoreOfNewKey(const OpContext& ctx, const Request& req,
                                           const std::string& spec) {
    const std::string origin = req.String("Origin", "AWS_KMS");
    const bool cloudhsm = origin == "AWS_CLOUDHSM";
    const bool external = origin == "EXTERNAL_KEY_STORE";
    if (req.Has("XksKeyId") && !external)
        return Error(ErrorCode::kValidation,
                     "XksKeyId is valid only when Origin is EXTERNAL_KEY_STORE.");
    if (!req.Has("CustomKeyStoreId")) {
        if (cloudhsm || external)
            return Error(ErrorCode::kValidation,
                         "Origin " + origin + " requires a CustomKeyStoreId.");
        return storage::StorePtr();
    }
    const std::string id = req.String("CustomKeyStoreId");
    if (!cloudhsm && !external)
        return Error(ErrorCode::kValidation, "A key in custom key store " + id +
                                                 " must have Origin AWS_CLOUDHSM or "
                                                 "EXTERNAL_KEY_STORE.");
    if (external && !req.Has("XksKeyId"))
        return Error(ErrorCode::kValidation, "Origin EXTERNAL_KEY_STORE requires an XksKeyId.");
    if (spec != "SYMMETRIC_DEFAULT")
        return Error(ErrorCode::kUnsupportedOperation,
                     "KeySpec " + spec +
                         " is not supported in a custom key store; only "
                         "SYMMETRIC_DEFAULT keys are.");
    if (req.Bool("MultiRegion"))
        return Error(ErrorCode::kUnsupportedOperation,
                     "Multi-Region keys cannot be created in a custom key store.");
    KMSD_ASSIGN_OR_RETURN(storage::StorePtr store, CallerKeyStore(ctx, id));
    const std::string type = cloudhsm ? "AWS_CLOUDHSM" : "EXTERNAL_KEY_STORE";
    if (store->type != type)
        return Error(ErrorCode::kValidation, "Custom key store " + id + " is of type " +
                                                 store->type + ": keys in it cannot have Origin " +
                                                 origin + ".");
    if (!store->connected())
        return Error(ErrorCode::kCustomKeyStoreInvalidState,
                     "Custom key store " + id + " is " + store->connection_state +
                         ". KMS keys can be created only in a CONNECTED custom key store.");
    if (external) {
        const std::string xks_key_id = req.String("XksKeyId");
        if (const auto key = ctx.services.catalog.FindKeyByXksKeyId(id, xks_key_id))
            return Error(ErrorCode::kXksKeyAlreadyInUse,
                         "The external key " + xks_key_id + " is already associated with " +
                             key->arn + " in custom key store " + id + ".");
        return store;
    }
    auto cluster =
        ctx.services.catalog.FindCluster({store->account, store->region, store->cluster_id});
    if (!cluster || cluster->hsm_count < 2)
        return Error(ErrorCode::kCloudHsmClusterInvalidConfiguration,
                     "AWS CloudHSM cluster " + store->cluster_id +
                         " must contain active HSMs in at least two Availability Zones.");
    return store;
}

// CreateKey with an XksKeyId: the store's proxy must know the external key, and it must be fit
// to be one (GetKeyMetadata for CreateKey: AES_256, ENCRYPT and DECRYPT, ENABLED).
Status CheckExternalKey(const OpContext& ctx, const storage::CustomKeyStoreRecord& store,
                        const std::string& xks_key_id) {
    KMSD_ASSIGN_OR_RETURN(xks::Endpoint endpoint,
                          ProxyEndpoint(ctx.services, store, ParseXksConfig(store.config)));
    xks::RequestMetadata meta;
    meta.aws_principal_arn = ctx.caller.principal_arn;
    meta.kms_operation = ctx.operation;
    meta.kms_request_id = ctx.request_id;
    ProxyAnswer answer;
    xks::KeyMetadata metadata;
    xks::Failure failure = CallProxy(ctx.services, endpoint, xks::KeyPath(xks_key_id, "metadata"),
                                     xks::KeyMetadataRequest(meta), answer);
    if (failure == xks::Failure::kNone) failure = xks::ParseKeyMetadata(answer.view(), metadata);
    KMSD_RETURN_IF_ERROR(xks::ToKmsError(failure, xks::Context::kCreateKey));
    return xks::CheckNewKeyMetadata(metadata);
}

// KeySpec/KeyUsage rules of CreateKey (kms-reference §3.1), before "not supported yet".
Status CheckSpecAndUsage(const Request& req, const std::string& region, std::string& spec,
                         std::string& key_usage) {
    auto key_spec = req.OptString("KeySpec");
    auto cmk_spec = req.OptString("CustomerMasterKeySpec");
    if (key_spec && cmk_spec)
        return Error(ErrorCode::kValidation,
                     "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. "
                     "CustomerMasterKeySpec parameter is deprecated. Use KeySpec instead.");
    spec = key_spec.value_or(cmk_spec.value_or("SYMMETRIC_DEFAULT"));
    return CheckKeySpecUsage(spec, req.OptString("KeyUsage"), region, key_usage);
}

// LocalStack's test-only convention, for teams moving over (README): the CreateKey tags
// _custom_id_ (the key ID) and _custom_key_material_ (base64 key material) shape the key instead
// of tagging it.
struct CustomKey {
    std::optional<std::string> id;
    std::optional<SecureBytes> material;
    Json tags = Json::array();  // the request's other tags
};

Result<CustomKey> LocalStackCustomTags(const Request& req, bool multi_region) {
    CustomKey out;
    if (!req.Has("Tags")) return out;
    for (const auto& t : req.At("Tags")) {
        const std::string key = ToStd(t.at("TagKey").get_ref<const SecureString&>());
        if (key == "_custom_id_") {
            out.id = ToStd(t.at("TagValue").get_ref<const SecureString&>());
            if (!IsKeyIdForm(*out.id) || (out.id->rfind("mrk-", 0) == 0) != multi_region)
                return Error(ErrorCode::kValidation,
                             "The _custom_id_ tag must be a key ID: a UUID, or mrk- and 32 hex "
                             "digits for a multi-Region key.");
        } else if (key == "_custom_key_material_") {
            out.material = Base64Decode(t.at("TagValue").get_ref<const SecureString&>());
            if (!out.material)
                return Error(ErrorCode::kValidation,
                             "The _custom_key_material_ tag must be base64 key material.");
        } else {
            out.tags.push_back(t);
        }
    }
    return out;
}

Result<Json> SetEnabled(OpContext& ctx, bool enabled) {
    const double now = ctx.Now();
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_ASSIGN_OR_RETURN(key, MutateKey(ctx, *key, [&](storage::KeyRecord& k) {
                              k.state = enabled ? storage::KeyState::kEnabled
                                                : storage::KeyState::kDisabled;
                              // A disabled key is not rotated; if its date passed meanwhile, it
                              // rotates on re-enable (once, now) and every period after that.
                              if (enabled && k.next_rotation_date && *k.next_rotation_date < now)
                                  k.next_rotation_date = Timestamp(now);
                              return Status::Ok();
                          }));
    // A disabled key's material leaves the HSM cache; it is unsealed again on re-enable.
    if (!enabled)
        for (const auto& m : key->materials) ctx.services.hsm.Evict(m.material_id);
    return Json();
}

}  // namespace

Result<Json> CreateKey(OpContext& ctx, const Request& req) {
    std::string spec;
    std::string key_usage;
    KMSD_RETURN_IF_ERROR(CheckSpecAndUsage(req, ctx.caller.region, spec, key_usage));
    KMSD_RETURN_IF_ERROR(CheckCreateKeySupported(req));
    KMSD_ASSIGN_OR_RETURN(storage::StorePtr store, KeyStoreOfNewKey(ctx, req, spec));
    const std::string xks_key_id = req.String("XksKeyId");
    if (!xks_key_id.empty()) KMSD_RETURN_IF_ERROR(CheckExternalKey(ctx, *store, xks_key_id));
    const std::string& account = ctx.caller.account;
    const std::string& region = ctx.caller.region;

    auto key = std::make_shared<storage::KeyRecord>();
    key->account = account;
    key->region = region;
    key->multi_region = req.Bool("MultiRegion");
    KMSD_ASSIGN_OR_RETURN(CustomKey custom, LocalStackCustomTags(req, key->multi_region));
    if (custom.id) {
        key->key_id = *custom.id;
    } else if (key->multi_region) {
        key->key_id = "mrk-" + hsm::RandomHex(16);  // mrk- and 32 hex digits
    } else {
        key->key_id = NewUuid();
    }
    if (key->multi_region) key->primary_region = region;
    key->arn = KeyArn(region, account, key->key_id);
    key->creation_date = Timestamp(ctx.Now());
    key->description = req.String("Description");
    key->key_spec = spec;
    key->key_usage = key_usage;
    key->policy = req.String("Policy", DefaultKeyPolicy(Partition(region), account));
    if (req.Has("Policy"))
        KMSD_RETURN_IF_ERROR(
            CheckNewKeyPolicy(ctx, *key, req.Bool("BypassPolicyLockoutSafetyCheck")));
    if (!custom.tags.empty()) KMSD_RETURN_IF_ERROR(MergeTags(key->tags, custom.tags));

    key->origin = req.String("Origin", "AWS_KMS");
    storage::Change change;
    // An EXTERNAL key waits, without material, for ImportKeyMaterial.
    if (key->origin == "EXTERNAL") {
        key->state = storage::KeyState::kPendingImport;
    } else if (custom.material) {
        // Material from outside never goes into a custom key store (AWS: no imported material).
        if (store)
            return Error(ErrorCode::kUnsupportedOperation,
                         "The _custom_key_material_ tag cannot be used with a custom key store.");
        auto sealed =
            ctx.services.hsm.ImportKey(key->arn, key->key_spec, *custom.material, key->key_id);
        if (!sealed.ok())
            return Error(ErrorCode::kValidation,
                         "The _custom_key_material_ tag: " + sealed.status().message());
        storage::AddMaterial(change, *key, {sealed->material_id, key->creation_date, ""},
                             std::move(sealed->sealed));
    } else {
        if (store) {
            key->custom_key_store_id = store->store_id;
            key->cloudhsm_cluster_id = store->cluster_id;
            key->xks_key_id = xks_key_id;
        }
        KMSD_ASSIGN_OR_RETURN(
            hsm::SealedMaterial material,
            ctx.services.hsm.GenerateKey(key->arn, key->key_spec,
                                         store ? StorePartition(store->store_id) : ""));
        storage::AddMaterial(change, *key, {material.material_id, key->creation_date, ""},
                             std::move(material.sealed));
    }
    change.put_keys.push_back(key);
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        // Only a chosen ID (_custom_id_) can be taken already.
        if (ctx.services.catalog.FindKey(key->scoped()))
            return Error(ErrorCode::kAlreadyExists,
                         "A key with the ID " + key->key_id + " already exists.");
        // The store may have been disconnected or deleted since it was checked.
        if (store) KMSD_RETURN_IF_ERROR(KeyStoreOfNewKey(ctx, req, spec).status());
        return std::move(change);
    }));
    Json out = Json::object();
    out["KeyMetadata"] = KeyMetadata(*key, {key});
    return out;
}

Result<Json> DescribeKey(OpContext& ctx, const Request& /*req*/) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    Json out = Json::object();
    out["KeyMetadata"] = KeyMetadata(*key, MembersOf(ctx, *key));
    return out;
}

Result<Json> ListKeys(OpContext& ctx, const Request& req) {
    const std::size_t limit = PageLimit(req, 100, 1000);
    KMSD_ASSIGN_OR_RETURN(std::optional<std::string> after, DecodeMarker(req, "keys"));
    // Keys are listed in key ID order, read from the marker's key on: it is skipped (returned
    // last time), unless it is gone; one more than the page tells whether there is a next one.
    auto keys = ctx.services.catalog.ListKeys(ctx.caller.account, ctx.caller.region,
                                              after.value_or(""), limit + 2);
    if (after && !keys.empty() && keys.front()->key_id == *after) keys.erase(keys.begin());
    Json list = Json::array();
    for (std::size_t i = 0; i < keys.size() && i < limit; ++i)
        list.push_back(Json{{"KeyArn", Str(keys[i]->arn)}, {"KeyId", Str(keys[i]->key_id)}});
    return PageResponse("Keys", std::move(list),
                        keys.size() > limit ? EncodeMarker("keys", keys[limit - 1]->key_id) : "");
}

Result<Json> EnableKey(OpContext& ctx, const Request& /*req*/) { return SetEnabled(ctx, true); }

Result<Json> DisableKey(OpContext& ctx, const Request& /*req*/) { return SetEnabled(ctx, false); }

Result<Json> ScheduleKeyDeletion(OpContext& ctx, const Request& req) {
    const long long days = req.OptInt("PendingWindowInDays").value_or(kDefaultPendingWindowDays);
    // The model allows 1-365; the service allows 7-30 and says so in Coral's grammar.
    if (days < 7 || days > 30)
        return Error(ErrorCode::kValidation,
                     "1 validation error detected: Value '" + std::to_string(days) +
                         "' at 'pendingWindowInDays' failed to satisfy constraint: Member must "
                         "have value " +
                         (days < 7 ? "greater than or equal to 7" : "less than or equal to 30"));
    const double now = ctx.Now();
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_ASSIGN_OR_RETURN(
        key, MutateKey(ctx, *key, [&](storage::KeyRecord& k) {
            k.pending_window_days = static_cast<int>(days);
            // A multi-Region primary outlives its replicas: its waiting period starts when the
            // last one is deleted (api/lifecycle.cpp).
            if (k.is_primary() &&
                ctx.services.catalog.MultiRegionMembers(k.account, k.key_id).size() > 1) {
                k.state = storage::KeyState::kPendingReplicaDeletion;
                return Status::Ok();
            }
            k.state = storage::KeyState::kPendingDeletion;
            k.deletion_date = Timestamp(now + static_cast<double>(days) * kSecondsPerDay);
            return Status::Ok();
        }));
    for (const auto& m : key->materials) ctx.services.hsm.Evict(m.material_id);
    Json out = Json::object();
    out["KeyId"] = Str(key->arn);
    if (key->deletion_date) out["DeletionDate"] = *key->deletion_date;
    out["KeyState"] = storage::KeyStateName(key->state);
    out["PendingWindowInDays"] = days;
    return out;
}

Result<Json> CancelKeyDeletion(OpContext& ctx, const Request& /*req*/) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_ASSIGN_OR_RETURN(key, MutateKey(ctx, *key, [&](storage::KeyRecord& k) {
                              // AWS leaves a cancelled key Disabled, not Enabled (or
                              // PendingImport when its imported material is missing).
                              k.state = storage::KeyState::kDisabled;
                              k.deletion_date.reset();
                              k.pending_window_days = 0;
                              SettleImportState(k);
                              return Status::Ok();
                          }));
    Json out = Json::object();
    out["KeyId"] = Str(key->arn);
    return out;
}

Result<Json> UpdateKeyDescription(OpContext& ctx, const Request& req) {
    const std::string description = req.String("Description");
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_RETURN_IF_ERROR(MutateKey(ctx, *key, [&](storage::KeyRecord& k) {
                             k.description = description;
                             return Status::Ok();
                         }).status());
    return Json();
}

}  // namespace kmsd::api::ops
