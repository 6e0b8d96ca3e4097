// [api][lifecycle]: rotation and deletion with a controlled clock, at their exact boundaries.
#include "api/lifecycle.h"

#include <catch2/catch.hpp>
#include <map>

#include "common/base64.h"
#include "support/fakes.h"

using namespace kmsd;
using kmsd::testing::TestKms;

namespace {

constexpr double kDay = 86400.0;

using kmsd::testing::S;

std::string CurrentMaterial(TestKms& kms, const std::string& id) {
    return S(kms.Call("DescribeKey", "{\"KeyId\":\"" + id + "\"}")
                 .json["KeyMetadata"]["CurrentKeyMaterialId"]);
}

// Runs due work as of `seconds` after now.
api::DueReport RunIn(TestKms& kms, double seconds) {
    return api::RunDue(kms.services, kms.clock.Now() + seconds).value();
}

}  // namespace

TEST_CASE("automatic rotation happens at each due time", "[api][lifecycle]") {
    TestKms kms;
    auto id = kms.NewKey();
    const std::string arn = "arn:aws:kms:us-east-1:111122223333:key/" + id;
    const std::string first = CurrentMaterial(kms, id);
    auto blob = kms.Call("Encrypt", "{\"KeyId\":\"" + id + "\",\"Plaintext\":\"AQID\"}")
                    .str("CiphertextBlob");

    auto bad =
        kms.Call("EnableKeyRotation", "{\"KeyId\":\"" + id + "\",\"RotationPeriodInDays\":89}");
    CHECK(bad.message() ==
          "1 validation error detected: Value '89' at 'rotationPeriodInDays' failed to satisfy "
          "constraint: Member must have value greater than or equal to 90");
    REQUIRE(kms.Call("EnableKeyRotation", "{\"KeyId\":\"" + id + "\",\"RotationPeriodInDays\":90}")
                .status == 200);
    auto status = kms.Call("GetKeyRotationStatus", "{\"KeyId\":\"" + id + "\"}");
    CHECK(status.json["KeyRotationEnabled"] == true);
    CHECK(status.json["RotationPeriodInDays"] == 90);
    const double next = status.json["NextRotationDate"].get<double>();
    CHECK(next == Approx(kms.clock.Now() + 90 * kDay).margin(5));

    SECTION("nothing happens a moment before the due time") {
        CHECK(api::RunDue(kms.services, next - 0.01).value().rotations == 0);
        CHECK(CurrentMaterial(kms, id) == first);
    }
    SECTION("a jump over three periods makes three rotations, one period apart") {
        auto report = api::RunDue(kms.services, next + 2 * 90 * kDay + 1).value();
        CHECK(report.rotations == 3);
        auto list = kms.Call("ListKeyRotations", "{\"KeyId\":\"" + id + "\"}");
        REQUIRE(list.json["Rotations"].size() == 3);
        for (int i = 0; i < 3; ++i) {
            const auto& r = list.json["Rotations"][static_cast<std::size_t>(i)];
            CHECK(S(r["RotationType"]) == "AUTOMATIC");
            CHECK(r["RotationDate"].get<double>() == Approx(next + i * 90 * kDay));
            CHECK(S(r["KeyMaterialState"]) == (i == 2 ? "CURRENT" : "NON_CURRENT"));
        }
        auto all =
            kms.Call("ListKeyRotations",
                     "{\"KeyId\":\"" + id + "\",\"IncludeKeyMaterial\":\"ALL_KEY_MATERIAL\"}");
        CHECK(all.json["Rotations"].size() == 4);
        CHECK(CurrentMaterial(kms, id) != first);
        auto next_status = kms.Call("GetKeyRotationStatus", "{\"KeyId\":\"" + id + "\"}");
        CHECK(next_status.json["NextRotationDate"].get<double>() == Approx(next + 3 * 90 * kDay));
        // Old blobs still decrypt, naming the material that made them.
        auto dec = kms.Call("Decrypt", "{\"CiphertextBlob\":\"" + blob + "\"}");
        CHECK(dec.str("KeyMaterialId") == first);
        auto re = kms.Call("ReEncrypt", "{\"CiphertextBlob\":\"" + blob +
                                            "\",\"DestinationKeyId\":\"" + id + "\"}");
        CHECK(re.str("SourceKeyMaterialId") == first);
        CHECK(re.str("DestinationKeyMaterialId") == CurrentMaterial(kms, id));
    }
    SECTION("a disabled key is not rotated, and rotates once when enabled again") {
        REQUIRE(kms.Call("DisableKey", "{\"KeyId\":\"" + id + "\"}").status == 200);
        CHECK(RunIn(kms, 400 * kDay).rotations == 0);
        CHECK(kms.Call("EnableKeyRotation", "{\"KeyId\":\"" + id + "\"}").type() ==
              "DisabledException");
        kms.clock.set_offset(400 * kDay);
        REQUIRE(kms.Call("EnableKey", "{\"KeyId\":\"" + id + "\"}").status == 200);
        CHECK(RunIn(kms, 1).rotations == 1);
    }
    SECTION("DisableKeyRotation stops it") {
        REQUIRE(kms.Call("DisableKeyRotation", "{\"KeyId\":\"" + id + "\"}").status == 200);
        auto off = kms.Call("GetKeyRotationStatus", "{\"KeyId\":\"" + id + "\"}");
        CHECK(off.json["KeyRotationEnabled"] == false);
        CHECK_FALSE(off.json.contains("NextRotationDate"));
        CHECK(RunIn(kms, 1000 * kDay).rotations == 0);
    }
}

TEST_CASE("on-demand rotation and its limit of 25", "[api][lifecycle]") {
    TestKms kms;
    auto id = kms.NewKey();
    const std::string arn = "arn:aws:kms:us-east-1:111122223333:key/" + id;
    std::string previous = CurrentMaterial(kms, id);
    for (int i = 0; i < 25; ++i) {
        auto r = kms.Call("RotateKeyOnDemand", "{\"KeyId\":\"" + id + "\"}");
        REQUIRE(r.status == 200);
        CHECK(r.str("KeyId") == arn);
        const std::string now = CurrentMaterial(kms, id);
        CHECK(now != previous);
        previous = now;
    }
    auto over = kms.Call("RotateKeyOnDemand", "{\"KeyId\":\"" + id + "\"}");
    CHECK(over.type() == "LimitExceededException");
    CHECK(over.message() ==
          "The on-demand rotations limit has been reached for the given keyId. No more on-demand "
          "rotations can be performed for this key: " +
              arn);
    auto list = kms.Call("ListKeyRotations", "{\"KeyId\":\"" + id + "\",\"Limit\":10}");
    CHECK(list.json["Rotations"].size() == 10);
    CHECK(list.json["Truncated"] == true);
    CHECK(S(list.json["Rotations"][0]["RotationType"]) == "ON_DEMAND");
    REQUIRE(kms.Call("DisableKey", "{\"KeyId\":\"" + id + "\"}").status == 200);
    CHECK(kms.Call("RotateKeyOnDemand", "{\"KeyId\":\"" + id + "\"}").message() ==
          arn + " is disabled.");
}

TEST_CASE("a key is deleted exactly when its waiting period ends", "[api][lifecycle]") {
    TestKms kms;
    auto id = kms.NewKey();
    const std::string arn = "arn:aws:kms:us-east-1:111122223333:key/" + id;
    REQUIRE(
        kms.Call("CreateAlias", "{\"AliasName\":\"alias/doomed\",\"TargetKeyId\":\"" + id + "\"}")
            .status == 200);
    auto sched =
        kms.Call("ScheduleKeyDeletion", "{\"KeyId\":\"" + id + "\",\"PendingWindowInDays\":7}");
    const double when = sched.json["DeletionDate"].get<double>();
    CHECK(when == Approx(kms.clock.Now() + 7 * kDay).margin(5));
    CHECK(api::RunDue(kms.services, when - 0.01).value().deletions == 0);
    CHECK(kms.Call("DescribeKey", "{\"KeyId\":\"" + id + "\"}").status == 200);
    CHECK(api::RunDue(kms.services, when).value().deletions == 1);
    auto gone = kms.Call("DescribeKey", "{\"KeyId\":\"" + id + "\"}");
    CHECK(gone.type() == "NotFoundException");
    CHECK(gone.message() == "Key '" + arn + "' does not exist");
    CHECK(kms.Call("DescribeKey", "{\"KeyId\":\"alias/doomed\"}").type() == "NotFoundException");
    CHECK(kms.catalog->ListAliases("111122223333", "us-east-1").empty());
    CHECK(kms.catalog->KeyCount() == 0);
}

TEST_CASE("cancelled deletion does not happen", "[api][lifecycle]") {
    TestKms kms;
    auto id = kms.NewKey();
    REQUIRE(kms.Call("ScheduleKeyDeletion", "{\"KeyId\":\"" + id + "\",\"PendingWindowInDays\":7}")
                .status == 200);
    REQUIRE(kms.Call("CancelKeyDeletion", "{\"KeyId\":\"" + id + "\"}").status == 200);
    CHECK(RunIn(kms, 31 * kDay).deletions == 0);
    CHECK(kms.catalog->KeyCount() == 1);
}

// Both rows of one flush (one statement, bound twice), each with its own values.
static void CheckBothRowsFlushed(storage::Catalog& catalog, const std::string& id,
                                 const std::string& other) {
    const auto flushed = catalog.ReadUsage().value();
    REQUIRE(flushed.size() == 2);
    CHECK(flushed[0].key.name != flushed[1].key.name);
    for (const auto& row : flushed) {
        CHECK((row.key.name == id || row.key.name == other));
        CHECK(row.operation == "ReEncrypt");
    }
}

TEST_CASE("GetKeyLastUsage tracks the last successful cryptographic call", "[api][usage]") {
    TestKms kms;
    auto id = kms.NewKey();
    auto other = kms.NewKey();
    auto fresh = kms.Call("GetKeyLastUsage", "{\"KeyId\":\"" + id + "\"}");
    REQUIRE(fresh.status == 200);
    CHECK_FALSE(fresh.json.contains("KeyLastUsage"));
    CHECK(fresh.json["TrackingStartDate"] == fresh.json["KeyCreationDate"]);

    auto blob = kms.Call("Encrypt", "{\"KeyId\":\"" + id + "\",\"Plaintext\":\"AQID\"}")
                    .str("CiphertextBlob");
    auto used = kms.Call("GetKeyLastUsage", "{\"KeyId\":\"" + id + "\"}");
    CHECK(S(used.json["KeyLastUsage"]["Operation"]) == "Encrypt");
    CHECK(S(used.json["KeyLastUsage"]["KmsRequestId"]) == "rid");
    CHECK(S(used.json["KeyLastUsage"]["CloudTrailEventId"]).size() == 36);

    // A failed call is not a use.
    CHECK(kms.Call("Decrypt",
                   "{\"CiphertextBlob\":\"" + blob + "\",\"EncryptionContext\":{\"x\":\"y\"}}")
              .status == 400);
    CHECK(S(kms.Call("GetKeyLastUsage", "{\"KeyId\":\"" + id + "\"}")
                .json["KeyLastUsage"]["Operation"]) == "Encrypt");

    REQUIRE(kms.Call("ReEncrypt",
                     "{\"CiphertextBlob\":\"" + blob + "\",\"DestinationKeyId\":\"" + other + "\"}")
                .status == 200);
    for (const auto& k : {id, other})
        CHECK(S(kms.Call("GetKeyLastUsage", "{\"KeyId\":\"" + k + "\"}")
                    .json["KeyLastUsage"]["Operation"]) == "ReEncrypt");

    SECTION("flushed usage survives, and usage of a deleted key is dropped") {
        REQUIRE(kms.usage.Flush(*kms.catalog).ok());
        CheckBothRowsFlushed(*kms.catalog, id, other);
        REQUIRE(kms.Call("ScheduleKeyDeletion",
                         "{\"KeyId\":\"" + other + "\",\"PendingWindowInDays\":7}")
                    .status == 200);
        kms.Call("GenerateDataKey", "{\"KeyId\":\"" + id + "\",\"KeySpec\":\"AES_256\"}");
        // A request that still holds the deleted key's record records its use late.
        const auto held = kms.catalog->FindKey({"111122223333", "us-east-1", other});
        REQUIRE(held != nullptr);
        REQUIRE(RunIn(kms, 8 * kDay).deletions == 1);
        kms.usage.Record(*held, "Encrypt", 1, "late");
        REQUIRE(kms.usage.Flush(*kms.catalog).ok());
        auto rows = kms.catalog->ReadUsage().value();
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].operation == "GenerateDataKey");
    }
    SECTION("after a restart, stored usage is read on demand and answers the same") {
        const auto last = [&] {
            return kms.Call("GetKeyLastUsage", "{\"KeyId\":\"" + id + "\"}").json;
        };
        const auto before = last();
        REQUIRE(before["KeyLastUsage"].contains("CloudTrailEventId"));
        REQUIRE(kms.usage.Flush(*kms.catalog).ok());
        // What a restart leaves: the key's record loaded again, nothing recorded in memory.
        const auto rec = kms.catalog->FindKey({"111122223333", "us-east-1", id});
        {
            std::lock_guard lock(rec->slot->mu);
            rec->slot->operation = nullptr;
        }
        REQUIRE_FALSE(api::UsageTracker::Get(*rec).has_value());
        CHECK(last() == before);
    }
    SECTION("a deleted key's usage is freed with it, flushed or not") {
        const storage::ScopedName gone{"111122223333", "us-east-1", other};
        std::weak_ptr<storage::KeySlot> slot;
        {
            const auto rec = kms.catalog->FindKey(gone);
            REQUIRE(api::UsageTracker::Get(*rec).has_value());
            slot = rec->slot;
        }
        REQUIRE(kms.Call("ScheduleKeyDeletion",
                         "{\"KeyId\":\"" + other + "\",\"PendingWindowInDays\":7}")
                    .status == 200);
        REQUIRE_FALSE(slot.expired());  // every version of the record shares the slot
        REQUIRE(RunIn(kms, 8 * kDay).deletions == 1);
        REQUIRE(kms.usage.Flush(*kms.catalog).ok());  // the flush's list let go of it too
        CHECK(slot.expired());
    }
    SECTION("a failed flush keeps its records for the next one") {
        int failed = 0;
        for (int n = 1; n < 10; ++n) {
            kms.catalog->FailNthStep(n);
            Status st = kms.usage.Flush(*kms.catalog);
            kms.catalog->FailNthStep(0);
            if (st.ok()) break;
            ++failed;
            CHECK(kms.catalog->ReadUsage().value().empty());
        }
        REQUIRE(failed >= 1);
        // Whatever the failures were, the records reach SQLite (by the flush that succeeded
        // above or this one), not lost with the failed transaction.
        REQUIRE(kms.usage.Flush(*kms.catalog).ok());
        CheckBothRowsFlushed(*kms.catalog, id, other);
    }
}

TEST_CASE("a key's last use outlives changes to the key, and each Region's member has its own",
          "[api][usage]") {
    TestKms kms;
    const std::string id = kms.NewKey("{\"MultiRegion\":true}");
    const std::string ref = "{\"KeyId\":\"" + id + "\"";
    const auto last_op = [&] {
        auto r = kms.Call("GetKeyLastUsage", ref + "}");
        REQUIRE(r.status == 200);
        return r.json.contains("KeyLastUsage") ? S(r.json["KeyLastUsage"]["Operation"]) : "";
    };
    REQUIRE(kms.Call("Encrypt", ref + ",\"Plaintext\":\"AQID\"}").status == 200);
    // Each of these publishes a new version of the key's record.
    REQUIRE(kms.Call("UpdateKeyDescription", ref + ",\"Description\":\"d\"}").status == 200);
    REQUIRE(kms.Call("TagResource", ref + ",\"Tags\":[{\"TagKey\":\"a\",\"TagValue\":\"b\"}]}")
                .status == 200);
    REQUIRE(kms.Call("DisableKey", ref + "}").status == 200);
    REQUIRE(kms.Call("EnableKey", ref + "}").status == 200);
    CHECK(last_op() == "Encrypt");
    // A replica is a key of its own Region, with a use of its own (kms-reference §9.2).
    REQUIRE(kms.Call("ReplicateKey", ref + ",\"ReplicaRegion\":\"us-west-2\"}").status == 200);
    kms.caller.region = "us-west-2";
    CHECK(last_op().empty());
    REQUIRE(kms.Call("GenerateDataKey", ref + ",\"KeySpec\":\"AES_256\"}").status == 200);
    CHECK(last_op() == "GenerateDataKey");
    kms.caller.region = "us-east-1";
    CHECK(last_op() == "Encrypt");
    // Both reach SQLite, each under its own Region.
    REQUIRE(kms.usage.Flush(*kms.catalog).ok());
    const auto rows = kms.catalog->ReadUsage().value();
    REQUIRE(rows.size() == 2);
    for (const auto& row : rows)
        CHECK(row.operation == (row.key.region == "us-east-1" ? "Encrypt" : "GenerateDataKey"));
}

TEST_CASE("a failure inside scheduled work leaves each batch done or not done",
          "[api][lifecycle]") {
    TestKms kms;
    auto rotating = kms.NewKey();
    auto doomed = kms.NewKey();
    REQUIRE(kms.Call("EnableKeyRotation",
                     "{\"KeyId\":\"" + rotating + "\",\"RotationPeriodInDays\":90}")
                .status == 200);
    REQUIRE(
        kms.Call("ScheduleKeyDeletion", "{\"KeyId\":\"" + doomed + "\",\"PendingWindowInDays\":7}")
            .status == 200);
    const std::string first = CurrentMaterial(kms, rotating);
    int failures = 0;
    for (int n = 1; n < 30; ++n) {
        kms.catalog->FailNthStep(n);
        auto report = api::RunDue(kms.services, kms.clock.Now() + 91 * kDay);
        kms.catalog->FailNthStep(0);
        if (report.ok()) break;
        ++failures;
        // Nothing of the failed batch is visible.
        CHECK(CurrentMaterial(kms, rotating) == first);
        CHECK(kms.catalog->KeyCount() == 2);
    }
    CHECK(failures >= 3);
    CHECK(CurrentMaterial(kms, rotating) != first);
    CHECK(kms.catalog->KeyCount() == 1);
}

TEST_CASE("a replica deleted in the batch that rotates its primary stays deleted",
          "[api][lifecycle]") {
    TestKms kms;
    const std::string id = kms.NewKey("{\"MultiRegion\":true}");
    const std::string ref = "{\"KeyId\":\"" + id + "\"";
    REQUIRE(kms.Call("ReplicateKey", ref + ",\"ReplicaRegion\":\"us-west-2\"}").status == 200);
    REQUIRE(kms.Call("EnableKeyRotation", ref + ",\"RotationPeriodInDays\":90}").status == 200);
    // The replica's deletion falls due before the rotation (day 7) or after it (day 92): either
    // way one batch does both, and the rotation must not write the deleted replica back.
    const double offset = GENERATE(0.0, 85 * kDay);
    kms.clock.set_offset(offset);
    kms.caller.region = "us-west-2";
    REQUIRE(kms.Call("ScheduleKeyDeletion", ref + ",\"PendingWindowInDays\":7}").status == 200);
    const api::DueReport report =
        api::RunDue(kms.services, kms.clock.Now() - offset + 100 * kDay).value();
    CHECK(report.rotations == 1);
    CHECK(report.deletions == 1);
    CHECK(kms.Call("DescribeKey", ref + "}").type() == "NotFoundException");
    kms.caller.region = "us-east-1";
    CHECK(kms.catalog->MultiRegionMembers("111122223333", id).size() == 1);
    CHECK(kms.Call("ListKeyRotations", ref + "}").json["Rotations"].size() == 1);
}

TEST_CASE("a flush of many keys writes each one's own use", "[api][usage]") {
    // More keys than the flush's look-ahead (it asks for slots 16 places ahead), in both halves
    // of its loops; each key's row must carry that key's own operation.
    TestKms kms;
    std::map<std::string, std::string> used;  // key ID -> its last operation
    for (int i = 0; i < 40; ++i) {
        const std::string id = kms.NewKey();
        const std::string op = i % 2 == 0 ? "Encrypt" : "GenerateDataKey";
        const std::string body = op == "Encrypt"
                                     ? "{\"KeyId\":\"" + id + "\",\"Plaintext\":\"AQID\"}"
                                     : "{\"KeyId\":\"" + id + "\",\"KeySpec\":\"AES_256\"}";
        REQUIRE(kms.Call(op, body).status == 200);
        used[id] = op;
    }
    const auto check = [&] {
        const auto rows = kms.catalog->ReadUsage().value();
        REQUIRE(rows.size() == used.size());
        for (const auto& row : rows) {
            CHECK(row.key.account == "111122223333");
            CHECK(row.key.region == "us-east-1");
            REQUIRE(used.count(row.key.name) == 1);
            CHECK(row.operation == used[row.key.name]);
        }
    };
    REQUIRE(kms.usage.Flush(*kms.catalog).ok());
    check();
    // The flush keeps its buffers for the next: a second one, over some of the keys used with
    // the other operation, writes those and keeps the rest's rows.
    int n = 0;
    for (auto& [id, op] : used) {
        if (n++ % 3 != 0) continue;
        op = op == "Encrypt" ? "GenerateDataKey" : "Encrypt";
        const std::string body = op == "Encrypt"
                                     ? "{\"KeyId\":\"" + id + "\",\"Plaintext\":\"AQID\"}"
                                     : "{\"KeyId\":\"" + id + "\",\"KeySpec\":\"AES_256\"}";
        REQUIRE(kms.Call(op, body).status == 200);
    }
    REQUIRE(kms.usage.Flush(*kms.catalog).ok());
    check();
    REQUIRE(kms.usage.Flush(*kms.catalog).ok());  // nothing listed: writes nothing
    check();
}
