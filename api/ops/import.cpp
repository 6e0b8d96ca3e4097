// Imported key material (Origin EXTERNAL, kms-reference §5.5): GetParametersForImport,
// ImportKeyMaterial, DeleteImportedKeyMaterial. Expiry at ValidTo happens in
// api/lifecycle.cpp when it falls due; on-demand rotation to a pending material in rotation.cpp.
#include "api/lifecycle.h"
#include "api/ops/common.h"

namespace kmsd::api::ops {
namespace {

constexpr double kImportParametersSeconds = 24 * 3600.0;
constexpr double kMaxValidToSeconds = 365 * kSecondsPerDay;
constexpr char kNewMaterial[] = "NEW_KEY_MATERIAL";
constexpr char kExpires[] = "KEY_MATERIAL_EXPIRES";

bool IsChina(const std::string& region) { return region.rfind("cn-", 0) == 0; }

// ExpirationModel and ValidTo of an ImportKeyMaterial request.
struct Expiration {
    std::string model;
    std::optional<double> valid_to;
};

Result<Expiration> ExpirationOf(const Request& req, double now) {
    Expiration e{req.String("ExpirationModel", kExpires), req.OptNumber("ValidTo")};
    if (e.model == kExpires && !e.valid_to)
        return Error(ErrorCode::kValidation,
                     "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES");
    if (e.model != kExpires && e.valid_to)
        return Error(ErrorCode::kValidation,
                     "A validTo date must not be set if the ExpirationModel is "
                     "KEY_MATERIAL_DOES_NOT_EXPIRE");
    if (e.valid_to && *e.valid_to <= now)
        return Error(ErrorCode::kValidation, "The validTo date must be in the future.");
    if (e.valid_to && *e.valid_to > now + kMaxValidToSeconds)
        return Error(ErrorCode::kValidation,
                     "The validTo date must be no more than 365 days from now.");
    if (e.valid_to) e.valid_to = Timestamp(*e.valid_to);
    return e;
}

// The members only symmetric keys take, and the rules between them.
Status CheckSymmetricOnlyMembers(const storage::KeyRecord& key, const Request& req) {
    const bool symmetric = key.key_spec == "SYMMETRIC_DEFAULT";
    for (const char* member : {"ImportType", "KeyMaterialDescription", "KeyMaterialId"})
        if (req.Has(member) && !symmetric)
            return Error(ErrorCode::kValidation,
                         std::string(member) + " is valid only for symmetric encryption keys.");
    if (req.Has("KeyMaterialId") && req.String("ImportType") == kNewMaterial)
        return Error(ErrorCode::kValidation,
                     "You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL.");
    return Status::Ok();
}

// Puts the unwrapped, sealed material into `key`: a first material, a new one pending rotation,
// or a re-import of one it has (kms-reference §5.5).
Status PlaceMaterial(storage::KeyRecord& key, const storage::KeyRecord* primary, const Request& req,
                     const Expiration& expiration, double now, hsm::SealedMaterial& sealed,
                     storage::Change& change) {
    const std::string& id = sealed.material_id;
    storage::MaterialRecord* existing = nullptr;
    for (auto& m : key.materials)
        if (m.material_id == id) existing = &m;
    const std::string type =
        req.String("ImportType", key.materials.empty() ? kNewMaterial : "EXISTING_KEY_MATERIAL");
    if (req.Has("KeyMaterialId") && req.String("KeyMaterialId") != id)
        return Error(ErrorCode::kIncorrectKeyMaterial,
                     "The key material does not match the KeyMaterialId " +
                         req.String("KeyMaterialId") + ".");
    auto imported = [&](storage::MaterialRecord m) {
        m.import_state = "IMPORTED";
        m.expiration_model = expiration.model;
        m.valid_to = expiration.valid_to;
        if (req.Has("KeyMaterialDescription")) m.description = req.String("KeyMaterialDescription");
        return m;
    };
    // A replica takes its primary's materials only, in the primary's order and states
    // (kms-reference §5.6): new material goes into the primary first.
    if (primary != nullptr) {
        const storage::MaterialRecord* source = primary->FindMaterial(id);
        if (source == nullptr)
            return Error(
                ErrorCode::kIncorrectKeyMaterial,
                "The key material is not a key material of the primary key " + primary->arn + ".");
        storage::MaterialRecord record = *source;
        record.description = existing ? existing->description : source->description;
        record = imported(record);
        std::vector<storage::MaterialRecord> ordered;
        for (const auto& m : primary->materials) {
            if (m.material_id == id)
                ordered.push_back(record);
            else if (const storage::MaterialRecord* own = key.FindMaterial(m.material_id))
                ordered.push_back(*own);
        }
        key.materials = std::move(ordered);
        change.put_materials.push_back({key.scoped(), record, std::move(sealed.sealed)});
        return Status::Ok();
    }
    if (type != kNewMaterial) {
        if (existing == nullptr)
            return Error(ErrorCode::kIncorrectKeyMaterial,
                         key.materials.empty()
                             ? "No key material has been imported into " + key.arn +
                                   " yet; import it with ImportType NEW_KEY_MATERIAL."
                             : "The key material is not the key material of " + key.arn + ".");
        *existing = imported(*existing);
        change.put_materials.push_back({key.scoped(), *existing, std::move(sealed.sealed)});
        return Status::Ok();
    }
    if (existing != nullptr)
        return Error(ErrorCode::kIncorrectKeyMaterial,
                     "The key material is already associated with " + key.arn +
                         "; re-import it with ImportType EXISTING_KEY_MATERIAL.");
    storage::MaterialRecord fresh{id, now, ""};
    if (!key.materials.empty()) {
        // Asymmetric and HMAC keys keep the material they were first given.
        if (key.key_spec != "SYMMETRIC_DEFAULT")
            return Error(ErrorCode::kIncorrectKeyMaterial,
                         "The key material is not the key material of " + key.arn + ".");
        for (const auto& m : key.materials)
            if (m.pending_rotation)
                return Error(ErrorCode::kInvalidState,
                             "New key material (id: " + id + ") cannot be imported into KMS key " +
                                 key.key_id + ", because another key material (id: " +
                                 m.material_id + ") is pending rotation.");
        fresh.pending_rotation = true;
    }
    storage::AddMaterial(change, key, imported(fresh), std::move(sealed.sealed));
    return Status::Ok();
}

}  // namespace

Result<Json> GetParametersForImport(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_RETURN_IF_ERROR(RequireOrigin(*key, "EXTERNAL"));
    const std::string alg_name = req.String("WrappingAlgorithm");
    const std::string wrapping_name = req.String("WrappingKeySpec");
    if (alg_name == "RSAES_PKCS1_V1_5")
        return Error(ErrorCode::kValidation,
                     "The RSAES_PKCS1_V1_5 wrapping algorithm is no longer supported. Use "
                     "RSAES_OAEP_SHA_256, RSAES_OAEP_SHA_1, RSA_AES_KEY_WRAP_SHA_256 or "
                     "RSA_AES_KEY_WRAP_SHA_1.");
    const hsm::WrappingAlgorithmInfo* alg = hsm::FindWrappingAlgorithm(alg_name);
    const hsm::WrappingKeySpecInfo* wrapping = hsm::FindWrappingKeySpec(wrapping_name);
    if (alg == nullptr || wrapping == nullptr)  // the model's enums allow nothing else
        return Error(ErrorCode::kValidation, "Unknown wrapping algorithm or wrapping key spec.");
    // SM2 exists only in the China Regions, as for CreateKey.
    if ((alg_name == "SM2PKE" || wrapping_name == "SM2") && !IsChina(ctx.caller.region))
        return Error(ErrorCode::kValidation,
                     "The SM2PKE wrapping algorithm and the SM2 wrapping key spec are supported "
                     "only in the China Regions (cn-north-1, cn-northwest-1).");
    KMSD_RETURN_IF_ERROR(hsm::CheckWrappingChoice(SpecOf(*key), *alg, *wrapping));
    const double valid_to = Timestamp(ctx.Now() + kImportParametersSeconds);
    KMSD_ASSIGN_OR_RETURN(
        auto params, ctx.services.hsm.NewImportParameters(key->arn, *alg, *wrapping, valid_to));
    Json out = Json::object();
    out["ImportToken"] = BlobJson(params.import_token);
    out["KeyId"] = Str(key->arn);
    out["ParametersValidTo"] = valid_to;
    out["PublicKey"] = BlobJson(params.public_key);
    return out;
}

Result<Json> ImportKeyMaterial(OpContext& ctx, const Request& req) {
    const double now = ctx.Now();
    KMSD_ASSIGN_OR_RETURN(const Expiration expiration, ExpirationOf(req, now));
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_RETURN_IF_ERROR(RequireOrigin(*key, "EXTERNAL"));
    KMSD_RETURN_IF_ERROR(CheckSymmetricOnlyMembers(*key, req));
    const SecureBytes token = req.Blob("ImportToken");
    KMSD_ASSIGN_OR_RETURN(auto info, ctx.services.hsm.OpenImportToken(key->arn, token));
    if (now > info.valid_to) return Error(ErrorCode::kExpiredImportToken);
    KMSD_ASSIGN_OR_RETURN(hsm::SealedMaterial sealed,
                          ctx.services.hsm.ImportWrapped(key->arn, key->key_id, key->key_spec,
                                                         token, req.Blob("EncryptedKeyMaterial")));
    const std::string material_id = sealed.material_id;
    KMSD_ASSIGN_OR_RETURN(
        key, MutateKey(ctx, *key, [&](storage::KeyRecord& k, storage::Change& change) {
            // A replica imports its primary's materials (PlaceMaterial).
            storage::KeyPtr primary;
            if (k.is_replica()) {
                primary = ctx.services.catalog.FindKey({k.account, k.primary_region, k.key_id});
                if (!primary)
                    return Error(ErrorCode::kInvalidState, k.arn + " has no primary key.");
            }
            KMSD_RETURN_IF_ERROR(
                PlaceMaterial(k, primary.get(), req, expiration, Timestamp(now), sealed, change));
            SettleImportState(k);
            return Status::Ok();
        }));
    // A cached copy was unsealed from the row just replaced.
    ctx.services.hsm.Evict(material_id);
    Json out = Json::object();
    out["KeyId"] = Str(key->arn);
    out["KeyMaterialId"] = Str(material_id);
    return out;
}

Result<Json> DeleteImportedKeyMaterial(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_RETURN_IF_ERROR(RequireOrigin(*key, "EXTERNAL"));
    std::string deleted;
    KMSD_ASSIGN_OR_RETURN(
        key, MutateKey(ctx, *key, [&](storage::KeyRecord& k, storage::Change& change) {
            // The named material, or the current one.
            const std::string id = req.String("KeyMaterialId", k.current_material_id());
            for (auto& m : k.materials)
                if (m.material_id == id) {
                    // Already deleted: nothing changes (AWS: no effect in PendingImport).
                    if (m.imported()) DropImportedMaterial(k, m, change);
                    deleted = id;
                    return Status::Ok();
                }
            if (req.Has("KeyMaterialId"))
                return Error(
                    ErrorCode::kNotFound,
                    "Key material " + id + " is not associated with KMS key " + k.arn + ".");
            return Status::Ok();  // nothing was ever imported
        }));
    if (!deleted.empty()) ctx.services.hsm.Evict(deleted);
    Json out = Json::object();
    out["KeyId"] = Str(key->arn);
    if (!deleted.empty()) out["KeyMaterialId"] = Str(deleted);
    return out;
}

}  // namespace kmsd::api::ops
