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
};

// Runs everything due at or before `up_to`, in batches of keys, one transaction per batch.
Result<DueReport> RunDue(const Services& services, double up_to);

// Adds a freshly generated material to `key` (the new current one), dated `when`, and records the
// sealed bytes in `change`. Shared by automatic and on-demand rotation.
Status AddRotatedMaterial(const Services& services, storage::KeyRecord& key, double when,
                          const char* rotation_type, storage::Change& change);

}  // namespace kmsd::api
