// Rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
// ListKeyRotations. Automatic rotation itself happens in api/lifecycle.cpp when it falls due.
#include <algorithm>

#include "api/lifecycle.h"
#include "api/ops/common.h"

namespace kmsd::api::ops {
namespace {

constexpr int kDefaultRotationDays = 365;
constexpr std::size_t kMaxOnDemandRotations = 25;

// Rotation applies to symmetric keys (kms-reference §5.4): automatic rotation to those with
// AWS-generated material, on-demand rotation and the rotation list to imported ones too. For
// asymmetric and HMAC keys Enable/DisableKeyRotation give AWS's text (as Terraform users quote
// it); RotateKeyOnDemand gives none ([S]).
Status RequireRotatable(const storage::KeyRecord& key, bool with_message = true) {
    if (key.key_spec != "SYMMETRIC_DEFAULT")
        return Error(ErrorCode::kUnsupportedOperation,
                     with_message ? "You cannot perform this operation on a non-symmetric key or "
                                    "a key with non-ENCRYPT_DECRYPT key usage."
                                  : "");
    // A key in a custom key store: AWS's text, as a user quoted it for AWS_CLOUDHSM.
    if (key.origin != "AWS_KMS" && key.origin != "EXTERNAL") return RequireOrigin(key, "AWS_KMS");
    return Status::Ok();
}

// A multi-Region key rotates as a set, through its primary (kms-reference §5.4).
Status RequireNotReplica(const storage::KeyRecord& key) {
    if (!key.is_replica()) return Status::Ok();
    return Error(ErrorCode::kUnsupportedOperation, key.arn + " is not a multi-region primary key.");
}

// Automatic rotation: symmetric keys with AWS-generated material only.
Status RequireAutoRotatable(const storage::KeyRecord& key) {
    KMSD_RETURN_IF_ERROR(RequireRotatable(key));
    return RequireOrigin(key, "AWS_KMS");
}

// An imported multi-Region primary rotates to its pending material only once every replica has
// imported it too.
Status RequireReplicasImported(const Services& services, const storage::KeyRecord& key,
                               const std::string& material_id) {
    for (const auto& replica : ReplicasOf(services, key)) {
        const storage::MaterialRecord* m = replica->FindMaterial(material_id);
        if (m == nullptr || !m->imported())
            return Error(ErrorCode::kInvalidState,
                         "Key material (id: " + material_id +
                             ") must be imported into every replica key before the rotation: "
                             "it is missing from " +
                             replica->arn + ".");
    }
    return Status::Ok();
}

}  // namespace

Result<Json> EnableKeyRotation(OpContext& ctx, const Request& req) {
    const double now = ctx.Now();
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_RETURN_IF_ERROR(
        MutateKey(ctx, *key, [&](storage::KeyRecord& k) {
            KMSD_RETURN_IF_ERROR(RequireAutoRotatable(k));
            KMSD_RETURN_IF_ERROR(RequireNotReplica(k));
            const int days =
                static_cast<int>(req.OptInt("RotationPeriodInDays").value_or(kDefaultRotationDays));
            // The schedule is anchored where the current period started: a new
            // period moves the next date, a repeat call keeps it.
            double anchor = now;
            if (k.rotation_enabled && k.next_rotation_date)
                anchor = *k.next_rotation_date - k.rotation_period_days * kSecondsPerDay;
            k.rotation_enabled = true;
            k.rotation_period_days = days;
            k.next_rotation_date = Timestamp(anchor + days * kSecondsPerDay);
            return Status::Ok();
        }).status());
    return Json();
}

Result<Json> DisableKeyRotation(OpContext& ctx, const Request& /*req*/) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_RETURN_IF_ERROR(MutateKey(ctx, *key, [&](storage::KeyRecord& k) {
                             KMSD_RETURN_IF_ERROR(RequireAutoRotatable(k));
                             KMSD_RETURN_IF_ERROR(RequireNotReplica(k));
                             k.rotation_enabled = false;
                             k.next_rotation_date.reset();
                             return Status::Ok();
                         }).status());
    return Json();
}

Result<Json> GetKeyRotationStatus(OpContext& ctx, const Request& /*req*/) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    Json out = Json::object();
    out["KeyId"] = Str(key->arn);
    // Asymmetric and HMAC keys never rotate: AWS now answers false for them rather than an
    // error (Terraform reads it for every key).
    if (key->key_spec != "SYMMETRIC_DEFAULT") {
        out["KeyRotationEnabled"] = false;
        return out;
    }
    KMSD_RETURN_IF_ERROR(RequireAutoRotatable(*key));
    // A replica's rotation is its primary's.
    storage::KeyPtr source = key;
    if (key->is_replica())
        if (auto primary =
                ctx.services.catalog.FindKey({key->account, key->primary_region, key->key_id}))
            source = primary;
    // AWS: "While a KMS key is pending deletion, its key rotation status is false"; cancelling
    // the deletion brings the status back (rotation_enabled is kept for that).
    const bool enabled =
        source->rotation_enabled && !key->pending_deletion() && !source->pending_deletion();
    out["KeyRotationEnabled"] = enabled;
    if (enabled) {
        out["RotationPeriodInDays"] = source->rotation_period_days;
        if (source->next_rotation_date) out["NextRotationDate"] = *source->next_rotation_date;
    }
    return out;
}

Result<Json> RotateKeyOnDemand(OpContext& ctx, const Request& /*req*/) {
    const double now = Timestamp(ctx.Now());
    storage::KeyPtr rotated;
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
        KMSD_RETURN_IF_ERROR(RequireRotatable(*key, /*with_message=*/false));
        KMSD_RETURN_IF_ERROR(RequireNotReplica(*key));
        const auto on_demand =
            std::count_if(key->materials.begin(), key->materials.end(),
                          [](const auto& m) { return m.rotation_type == "ON_DEMAND"; });
        if (static_cast<std::size_t>(on_demand) >= kMaxOnDemandRotations)
            return Error(ErrorCode::kLimitExceeded,
                         "The on-demand rotations limit has been reached for the given keyId. No "
                         "more on-demand rotations can be performed for this key: " +
                             key->arn);
        auto next = std::make_shared<storage::KeyRecord>(*key);
        storage::Change change;
        if (next->origin == "EXTERNAL") {
            // Imported material rotates to the material imported for it (NEW_KEY_MATERIAL).
            auto pending = std::find_if(next->materials.begin(), next->materials.end(),
                                        [](const auto& m) { return m.pending_rotation; });
            if (pending == next->materials.end())
                return Error(
                    ErrorCode::kInvalidState,
                    "No available key material pending rotation for the key: " + next->arn + ".");
            KMSD_RETURN_IF_ERROR(
                RequireReplicasImported(ctx.services, *next, pending->material_id));
            // The primary and every replica make it current together.
            std::vector<storage::KeyRecord*> members{next.get()};
            for (const auto& replica : ReplicasOf(ctx.services, *next))
                if (auto staged = Staged(ctx.services, change, replica->scoped()))
                    members.push_back(staged.get());
            const std::string id = pending->material_id;
            for (storage::KeyRecord* member : members)
                for (auto& m : member->materials)
                    if (m.material_id == id) {
                        m.pending_rotation = false;
                        m.creation_date = now;
                        m.rotation_type = "ON_DEMAND";
                        storage::NewMaterial row{member->scoped(), m, {}};
                        row.keep_sealed = true;
                        change.put_materials.push_back(std::move(row));
                    }
        } else {
            // On-demand rotation leaves the automatic schedule where it was.
            KMSD_RETURN_IF_ERROR(AddRotatedMaterial(ctx.services, *next, now, "ON_DEMAND", change));
        }
        change.put_keys.insert(change.put_keys.begin(), next);
        rotated = next;
        return change;
    }));
    Json out = Json::object();
    out["KeyId"] = Str(rotated->arn);
    return out;
}

Result<Json> ListKeyRotations(OpContext& ctx, const Request& req) {
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_RETURN_IF_ERROR(RequireRotatable(*key));
    const bool all = req.String("IncludeKeyMaterial", "ROTATIONS_ONLY") == "ALL_KEY_MATERIAL";
    // Oldest first (ties by material ID), which is also the marker order.
    std::vector<std::pair<std::string, const storage::MaterialRecord*>> listed;
    // ROTATIONS_ONLY: materials that rotation made current; ALL_KEY_MATERIAL adds the first
    // and one pending rotation.
    for (const auto& m : key->materials)
        if (all || !m.rotation_type.empty())
            listed.emplace_back(TimeSortKey(m.creation_date) + m.material_id, &m);
    std::sort(listed.begin(), listed.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    const std::size_t limit = PageLimit(req, 100, 1000);
    const std::string& current = key->current_material_id();
    const bool external = key->origin == "EXTERNAL";
    return SortedPage(
        req, "rotations", "Rotations", listed, limit,
        [](const auto& e) -> const std::string& { return e.first; },
        [&](const auto& e) {
            const auto& m = *e.second;
            Json entry = Json::object();
            entry["KeyId"] = Str(key->key_id);
            entry["KeyMaterialId"] = Str(m.material_id);
            entry["KeyMaterialState"] =
                !m.pending_rotation ? (m.material_id == current ? "CURRENT" : "NON_CURRENT")
                : !RequireReplicasImported(ctx.services, *key, m.material_id).ok()
                    ? "PENDING_MULTI_REGION_IMPORT_AND_ROTATION"
                    : "PENDING_ROTATION";
            if (external) {
                if (!m.description.empty()) entry["KeyMaterialDescription"] = Str(m.description);
                entry["ImportState"] = m.imported() ? "IMPORTED" : "PENDING_IMPORT";
                if (!m.expiration_model.empty()) entry["ExpirationModel"] = Str(m.expiration_model);
                if (m.valid_to) entry["ValidTo"] = *m.valid_to;
            }
            if (!m.rotation_type.empty()) {
                entry["RotationDate"] = m.creation_date;
                entry["RotationType"] = Str(m.rotation_type);
            }
            return entry;
        });
}

}  // namespace kmsd::api::ops
