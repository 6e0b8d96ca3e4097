#include "api/lifecycle.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

#include "api/key_stores.h"
#include "api/ops/common.h"
#include "storage/catalog.h"

namespace kmsd::api {
namespace {

// Work per transaction (a deletion or one rotation each): large enough that 10,000 due keys cost
// ~40 fsyncs, small enough that requests waiting on the writer are not held up long, however far
// the clock jumped (a key with a 90-day period owes ~400 rotations after a 100-year jump; they are
// spread over transactions too).
constexpr int kBatchWork = 256;

}  // namespace

std::shared_ptr<storage::KeyRecord> Staged(const Services& services, storage::Change& change,
                                           const storage::ScopedName& name) {
    for (auto& k : change.put_keys)
        if (k->scoped() == name)  // not published yet: still the change's own copy
            return std::const_pointer_cast<storage::KeyRecord>(k);
    // A key the change deletes stays deleted (a replica deleted in the batch that rotates its
    // primary).
    if (std::find(change.delete_keys.begin(), change.delete_keys.end(), name) !=
        change.delete_keys.end())
        return nullptr;
    storage::KeyPtr current = services.catalog.FindKey(name);
    if (!current) return nullptr;
    auto copy = std::make_shared<storage::KeyRecord>(*current);
    change.put_keys.push_back(copy);
    return copy;
}

std::vector<storage::KeyPtr> ReplicasOf(const Services& services, const storage::KeyRecord& key) {
    std::vector<storage::KeyPtr> out;
    if (!key.is_primary()) return out;
    for (auto& member : services.catalog.MultiRegionMembers(key.account, key.key_id))
        if (member->region != key.region) out.push_back(std::move(member));
    return out;
}

Status AddRotatedMaterial(const Services& services, storage::KeyRecord& key, double when,
                          const char* rotation_type, storage::Change& change) {
    KMSD_ASSIGN_OR_RETURN(hsm::SealedMaterial material,
                          services.hsm.GenerateKey(key.arn, key.key_spec));
    // A multi-Region primary's rotation reaches every replica: the same material, sealed for
    // each replica's ARN.
    const hsm::KeyRef from{key.arn, material.material_id, key.key_spec};
    for (const auto& member : ReplicasOf(services, key)) {
        auto replica = Staged(services, change, member->scoped());
        if (!replica) continue;
        KMSD_ASSIGN_OR_RETURN(Bytes sealed,
                              services.hsm.ResealFor(from, material.sealed, replica->arn));
        storage::AddMaterial(change, *replica, {material.material_id, when, rotation_type},
                             std::move(sealed));
    }
    storage::AddMaterial(change, key, {material.material_id, when, rotation_type},
                         std::move(material.sealed));
    return Status::Ok();
}

void SettleImportState(storage::KeyRecord& key) {
    if (key.origin != "EXTERNAL" || key.pending_deletion()) return;
    const bool all_imported =
        !key.materials.empty() && std::all_of(key.materials.begin(), key.materials.end(),
                                              [](const auto& m) { return m.imported(); });
    if (!all_imported)
        key.state = storage::KeyState::kPendingImport;
    else if (key.state == storage::KeyState::kPendingImport)
        key.state = storage::KeyState::kEnabled;
}

void DropImportedMaterial(storage::KeyRecord& key, storage::MaterialRecord& material,
                          storage::Change& change) {
    material.import_state = "PENDING_IMPORT";
    material.expiration_model = storage::SharedText();
    material.valid_to.reset();
    change.put_materials.push_back({key.scoped(), material, {}});
    SettleImportState(key);
}

Result<DueReport> RunDue(const Services& services, double up_to) {
    static std::mutex run_mu;  // the scheduler thread and the clock endpoint may race here
    std::lock_guard run_lock(run_mu);
    DueReport report;
    // Custom key stores whose connecting time has come. A failed write leaves them CONNECTING,
    // to be finished next time; the keys' own due work goes on.
    if (auto connected = FinishConnections(services, up_to); connected.ok())
        report.connections = *connected;
    else
        spdlog::error("finishing custom key store connections failed: {}",
                      connected.status().message());
    // Each round takes what is due now (in due-time order) and does at most kBatchWork of it in
    // one transaction; a key left with rotations owed is still due and comes back next round.
    // Every round commits, so a kill in the middle loses nothing and a restart resumes from there.
    for (;;) {
        const std::vector<storage::ScopedName> due = services.catalog.KeysDue(up_to);
        if (due.empty()) break;
        std::vector<std::string> evict;
        std::vector<AuditEvent> events;  // recorded once the batch is committed
        const bool audit = services.audit != nullptr;
        DueReport batch;
        KMSD_RETURN_IF_ERROR(services.catalog.Write([&]() -> Result<storage::Change> {
            storage::Change change;
            evict.clear();
            events.clear();
            batch = {};
            int budget = kBatchWork;
            for (std::size_t i = 0; i < due.size() && budget > 0; ++i) {
                // Re-read under the writer: a request may have cancelled or disabled meanwhile;
                // an earlier key of this batch may have changed it (a primary's rotation reaches
                // its replicas).
                storage::KeyPtr key;
                for (const auto& staged : change.put_keys)
                    if (staged->scoped() == due[i]) key = staged;
                if (!key) key = services.catalog.FindKey(due[i]);
                if (!key) continue;
                // A primary whose last replica is gone starts its waiting period.
                if (key->state == storage::KeyState::kPendingReplicaDeletion) {
                    auto next = Staged(services, change, due[i]);
                    next->state = storage::KeyState::kPendingDeletion;
                    next->deletion_date =
                        ops::Timestamp(up_to + next->pending_window_days * kSecondsPerDay);
                    ++batch.deletions;
                    --budget;
                    continue;
                }
                if (key->state == storage::KeyState::kPendingDeletion && key->deletion_date &&
                    *key->deletion_date <= up_to) {
                    change.delete_keys.push_back(due[i]);
                    // Deletions are written first: nothing else of the change may write it back.
                    std::erase_if(change.put_keys,
                                  [&](const auto& k) { return k->scoped() == due[i]; });
                    std::erase_if(change.put_materials,
                                  [&](const auto& m) { return m.key == due[i]; });
                    for (const auto& m : key->materials) evict.push_back(m.material_id);
                    if (audit)
                        events.push_back(
                            ServiceEvent("DeleteKey", *key, *key->deletion_date, nullptr));
                    ++batch.deletions;
                    --budget;
                    continue;
                }
                // Imported material whose ValidTo passed is deleted, whatever the key's state.
                if (std::any_of(key->materials.begin(), key->materials.end(), [&](const auto& m) {
                        return m.imported() && m.valid_to && *m.valid_to <= up_to;
                    })) {
                    auto next = Staged(services, change, due[i]);
                    for (auto& m : next->materials)
                        if (m.imported() && m.valid_to && *m.valid_to <= up_to) {
                            if (audit)
                                events.push_back(ServiceEvent(
                                    "DeleteExpiredKeyMaterial", *next, *m.valid_to,
                                    nlohmann::ordered_json{{"keyId", next->key_id},
                                                           {"keyMaterialId", m.material_id}}));
                            evict.push_back(m.material_id);
                            DropImportedMaterial(*next, m, change);
                            ++batch.expirations;
                            --budget;
                        }
                    continue;
                }
                if (key->state != storage::KeyState::kEnabled || !key->rotation_enabled ||
                    !key->next_rotation_date || *key->next_rotation_date > up_to ||
                    key->rotation_period_days <= 0)
                    continue;
                auto next = Staged(services, change, due[i]);
                const double period = next->rotation_period_days * kSecondsPerDay;
                while (*next->next_rotation_date <= up_to && budget > 0) {
                    const std::string previous = next->current_material_id();
                    KMSD_RETURN_IF_ERROR(AddRotatedMaterial(
                        services, *next, *next->next_rotation_date, "AUTOMATIC", change));
                    if (audit)
                        events.push_back(
                            ServiceEvent("RotateKey", *next, *next->next_rotation_date,
                                         nlohmann::ordered_json{
                                             {"rotationType", "AUTOMATIC"},
                                             {"keyOrigin", next->origin},
                                             {"previousKeyMaterialId", previous},
                                             {"currentKeyMaterialId", next->current_material_id()},
                                             {"keyId", next->key_id}}));
                    *next->next_rotation_date += period;
                    ++batch.rotations;
                    --budget;
                }
            }
            return change;
        }));
        // Deleted keys' material leaves the HSM cache as well as the database.
        for (const auto& id : evict) services.hsm.Evict(id);
        for (auto& event : events) services.audit->Record(std::move(event));
        report.rotations += batch.rotations;
        report.deletions += batch.deletions;
        report.expirations += batch.expirations;
        // Nothing done means what KeysDue saw is no longer actionable (changed meanwhile).
        if (batch.rotations + batch.deletions + batch.expirations == 0) break;
    }
    return report;
}

}  // namespace kmsd::api
