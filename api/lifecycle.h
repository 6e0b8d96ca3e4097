// Scheduled key lifecycle (design.md §3, §6): deletion when a key's waiting period ends and
// automatic rotation when its period comes round. RunDue is called by the scheduler in real time
// and by the clock admin endpoint after KMS time moves; each due event happens at its own due time
// (a jump over three periods makes three rotations, dated one period apart).
// Thread-safe; calls are serialised internally.
#pragma once

#include "api/context.h"
#include "common/status.h"
#include "storage/catalog.h"

namespace kmsd::api {

constexpr double kSecondsPerDay = 86400.0;

struct DueReport {
    int rotations = 0;
    int deletions = 0;
    int expirations = 0;  // imported key materials whose ValidTo passed
    int connections = 0;  // custom key stores that ended CONNECTING
};

// Runs everything due at or before `up_to`, in batches of keys, one transaction per batch.
Result<DueReport> RunDue(const Services& services, double up_to);

// The record of `name` as `change` will leave it: the copy already in the change, else a new copy
// of the published record, added to it. Null when there is no such key or the change deletes it.
// Lets one change update a
// key more than once (a multi-Region replica through several rotations of its primary).
std::shared_ptr<storage::KeyRecord> Staged(const Services& services, storage::Change& change,
                                           const storage::ScopedName& name);

// The replicas of a multi-Region primary (none for any other key).
std::vector<storage::KeyPtr> ReplicasOf(const Services& services, const storage::KeyRecord& key);

// Adds a freshly generated material to `key` (the new current one), dated `when`, and records the
// sealed bytes in `change`; a multi-Region primary's replicas get it too. Shared by automatic
// and on-demand rotation.
Status AddRotatedMaterial(const Services& services, storage::KeyRecord& key, double when,
                          const char* rotation_type, storage::Change& change);

// The state an EXTERNAL key is in after its materials changed (import, deletion, expiry): it is
// usable only while every material it has is imported (kms-reference §5.5), so a missing one
// makes it PendingImport and the last one re-imported makes it Enabled again. Disabled stays
// Disabled and PendingDeletion is left alone.
void SettleImportState(storage::KeyRecord& key);

// Marks `material` of `key` as deleted (PENDING_IMPORT, no expiration) and records the row
// with its sealed bytes dropped in `change`. The caller evicts it from the HSM cache.
void DropImportedMaterial(storage::KeyRecord& key, storage::MaterialRecord& material,
                          storage::Change& change);

}  // namespace kmsd::api
