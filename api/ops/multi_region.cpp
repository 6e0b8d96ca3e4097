// Multi-Region keys (kms-reference §5.6): ReplicateKey and UpdatePrimaryRegion. CreateKey makes
// the primary (keys.cpp); rotation reaches the replicas in api/lifecycle.cpp; deletion of a
// primary waits for its replicas (keys.cpp, lifecycle.cpp).
#include "api/lifecycle.h"
#include "api/ops/common.h"
#include "api/policy_format.h"

namespace kmsd::api::ops {
namespace {

Status RequirePrimary(const storage::KeyRecord& key) {
    if (key.is_primary()) return Status::Ok();
    return Error(ErrorCode::kUnsupportedOperation, key.arn + " is not a multi-region primary key.");
}

// The replica's copies of the primary's materials, each sealed for the replica's ARN. Done
// before the write: sealed bytes are read from the database, which the writer holds.
struct ReplicatedMaterial {
    storage::MaterialRecord record;
    Bytes sealed;
};

Result<std::vector<ReplicatedMaterial>> ReplicateMaterials(const OpContext& ctx,
                                                           const storage::KeyRecord& primary,
                                                           const std::string& replica_arn) {
    std::vector<ReplicatedMaterial> out;
    // Imported material is imported into each replica by its owner (kms-reference §5.5).
    if (primary.origin == "EXTERNAL") return out;
    for (const auto& m : primary.materials) {
        KMSD_ASSIGN_OR_RETURN(Bytes sealed,
                              ctx.services.catalog.LoadSealed(primary.arn, m.material_id));
        KMSD_ASSIGN_OR_RETURN(Bytes resealed, ctx.services.hsm.ResealFor(
                                                  {primary.arn, m.material_id, primary.key_spec},
                                                  sealed, replica_arn));
        out.push_back({m, std::move(resealed)});
    }
    return out;
}

Json TagList(const storage::Tags& tags) {
    Json list = Json::array();
    for (const auto& [k, v] : tags) list.push_back(Json{{"TagKey", Str(k)}, {"TagValue", Str(v)}});
    return list;
}

}  // namespace

Result<Json> ReplicateKey(OpContext& ctx, const Request& req) {
    const std::string target = req.String("ReplicaRegion");
    KMSD_ASSIGN_OR_RETURN(auto primary, ctx.Key());
    KMSD_RETURN_IF_ERROR(RequirePrimary(*primary));
    if (target == primary->region)
        return Error(ErrorCode::kValidation,
                     "The replica Region " + target + " is the Region of the primary key.");
    if (Partition(target) != Partition(primary->region))
        return Error(ErrorCode::kValidation, "The replica Region " + target +
                                                 " is not in the partition of the primary key.");

    auto replica = std::make_shared<storage::KeyRecord>();
    replica->account = primary->account;
    replica->region = target;
    replica->key_id = primary->key_id;
    replica->arn = KeyArn(target, primary->account, primary->key_id);
    replica->creation_date = Timestamp(ctx.Now());
    replica->description = req.String("Description");
    replica->key_spec = primary->key_spec;
    replica->key_usage = primary->key_usage;
    replica->origin = primary->origin;
    replica->multi_region = true;
    replica->primary_region = primary->region;
    replica->policy = req.String("Policy", DefaultKeyPolicy(Partition(target), primary->account));
    if (req.Has("Policy"))
        KMSD_RETURN_IF_ERROR(
            CheckNewKeyPolicy(ctx, *replica, req.Bool("BypassPolicyLockoutSafetyCheck")));
    if (req.Has("Tags")) KMSD_RETURN_IF_ERROR(MergeTags(replica->tags, req.At("Tags")));
    KMSD_ASSIGN_OR_RETURN(auto materials, ReplicateMaterials(ctx, *primary, replica->arn));

    std::vector<storage::KeyPtr> members;
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        storage::KeyPtr current = ctx.services.catalog.FindKey(primary->scoped());
        if (!current)
            return Error(ErrorCode::kNotFound, "Key '" + primary->arn + "' does not exist");
        KMSD_RETURN_IF_ERROR(ctx.CheckKey(*current));
        KMSD_RETURN_IF_ERROR(RequirePrimary(*current));
        if (ctx.services.catalog.FindKey(replica->scoped()))
            return Error(ErrorCode::kAlreadyExists, "The multi-Region key " + current->key_id +
                                                        " already has a replica in " + target +
                                                        ".");
        // A rotation between the copies above and this write: the caller tries again.
        if (current->materials.size() != primary->materials.size())
            return Error(ErrorCode::kConflict,
                         "The primary key's key material changed while it was being replicated. "
                         "Try again.");
        storage::Change change;
        for (auto& m : materials)
            storage::AddMaterial(change, *replica, m.record, std::move(m.sealed));
        replica->state = replica->origin == "EXTERNAL" ? storage::KeyState::kPendingImport
                                                       : storage::KeyState::kEnabled;
        change.put_keys.push_back(replica);
        members = ctx.services.catalog.MultiRegionMembers(current->account, current->key_id);
        members.push_back(replica);
        return change;
    }));
    std::sort(members.begin(), members.end(),
              [](const auto& a, const auto& b) { return a->region < b->region; });
    // AWS answers while the replica is still being created; kmsd creates it at once.
    Json metadata = KeyMetadata(*replica, members);
    metadata["KeyState"] = "Creating";
    metadata["Enabled"] = false;
    Json out = Json::object();
    out["ReplicaKeyMetadata"] = std::move(metadata);
    out["ReplicaPolicy"] = Str(FormatPolicy(replica->policy));
    out["ReplicaTags"] = TagList(replica->tags);
    return out;
}

Result<Json> UpdatePrimaryRegion(OpContext& ctx, const Request& req) {
    const std::string target = req.String("PrimaryRegion");
    KMSD_ASSIGN_OR_RETURN(auto key, ctx.Key());
    KMSD_RETURN_IF_ERROR(RequirePrimary(*key));
    if (target == key->region) return Json();  // already the primary there
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        storage::KeyPtr current = ctx.services.catalog.FindKey(key->scoped());
        if (!current) return Error(ErrorCode::kNotFound, "Key '" + key->arn + "' does not exist");
        KMSD_RETURN_IF_ERROR(ctx.CheckKey(*current));
        KMSD_RETURN_IF_ERROR(RequirePrimary(*current));
        storage::KeyPtr new_primary =
            ctx.services.catalog.FindKey({current->account, target, current->key_id});
        if (!new_primary)
            return Error(
                ErrorCode::kNotFound,
                "Key '" + KeyArn(target, current->account, current->key_id) + "' does not exist");
        if (new_primary->pending_deletion())
            return Error(ErrorCode::kInvalidState, new_primary->arn + " is pending deletion.");
        storage::Change change;
        for (const auto& member :
             ctx.services.catalog.MultiRegionMembers(current->account, current->key_id)) {
            auto next = Staged(ctx.services, change, member->scoped());
            if (!next) continue;
            next->primary_region = target;
            // The set's rotation schedule moves with the primary role.
            const bool was_primary = member->region == current->region;
            const bool now_primary = member->region == target;
            if (now_primary) {
                next->rotation_enabled = current->rotation_enabled;
                next->rotation_period_days = current->rotation_period_days;
                next->next_rotation_date = current->next_rotation_date;
            } else if (was_primary) {
                next->rotation_enabled = false;
                next->next_rotation_date.reset();
            }
        }
        return change;
    }));
    return Json();
}

}  // namespace kmsd::api::ops
