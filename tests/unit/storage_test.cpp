// [storage]: migrations, write-through, rollback on failure at every SQL step, reload.
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <thread>

#include "storage/catalog.h"
#include "storage/db.h"
#include "storage/key_index.h"
#include "storage/usage_codec.h"

using namespace kmsd;
using namespace kmsd::storage;

namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/kmsd-test-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    std::string db() const { return (path / "kmsd.db").string(); }
};

KeyPtr MakeKey(const std::string& id, const std::string& material) {
    auto k = std::make_shared<KeyRecord>();
    k->account = "111122223333";
    k->region = "us-east-1";
    k->key_id = id;
    k->arn = "arn:aws:kms:us-east-1:111122223333:key/" + id;
    k->creation_date = 1700000000.5;
    k->description = "d-" + id;
    k->policy = "{}";
    k->tags = {{"b", "2"}, {"a", "1"}};
    k->materials.push_back({material, 1700000000.5, ""});
    return k;
}

Change NewKeyChange(const std::string& id, const std::string& material) {
    Change c;
    auto k = MakeKey(id, material);
    c.put_keys.push_back(k);
    c.put_materials.push_back({k->scoped(), {material, k->creation_date, ""}, {1, 2, 3}});
    auto a = std::make_shared<AliasRecord>();
    *a = {k->account, k->region, "alias/" + id, id, 1.0, 1.0};
    c.put_aliases.push_back(a);
    return c;
}

}  // namespace

TEST_CASE("a fresh database is migrated and a newer one refused", "[storage]") {
    TempDir dir;
    {
        auto c = Catalog::Open(dir.db());
        REQUIRE(c.ok());
        CHECK((*c)->KeyCount() == 0);
    }
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(dir.db().c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
    auto again = Catalog::Open(dir.db());
    REQUIRE_FALSE(again.ok());
    CHECK_THAT(again.status().message(), Catch::Contains("newer than this kmsd knows"));
}

TEST_CASE("changes are written through and survive a reopen", "[storage]") {
    TempDir dir;
    {
        auto c = Catalog::Open(dir.db()).value();
        REQUIRE(c->Apply(NewKeyChange("k1", std::string(64, 'a'))).ok());
        auto k = c->FindKey({"111122223333", "us-east-1", "k1"});
        REQUIRE(k);
        CHECK(c->LoadSealed(k->arn, std::string(64, 'a')).value() == Bytes{1, 2, 3});
    }
    auto c = Catalog::Open(dir.db()).value();
    auto k = c->FindKey({"111122223333", "us-east-1", "k1"});
    REQUIRE(k);
    CHECK(k->description == "d-k1");
    CHECK(k->tags == Tags{{"b", "2"}, {"a", "1"}});
    CHECK(k->current_material_id() == std::string(64, 'a'));
    CHECK(c->FindAlias({"111122223333", "us-east-1", "alias/k1"})->key_id == "k1");
    CHECK(c->FindMaterialOwner(std::string(64, 'a'), "us-east-1")->key_id == "k1");
}

TEST_CASE("reading sealed material does not wait for a write in progress", "[storage]") {
    // A key's first use reads its sealed material on a serving thread. It must not queue behind
    // a write: the usage flush's transaction takes tens of milliseconds with many keys in use.
    TempDir dir;
    auto c = Catalog::Open(dir.db()).value();
    REQUIRE(c->Apply(NewKeyChange("k1", std::string(64, 'a'))).ok());
    const std::string arn = c->FindKey({"111122223333", "us-east-1", "k1"})->arn;
    // Another connection holds SQLite's write lock, so the Catalog's next write waits in its
    // busy handler, inside Apply, for as long as the test keeps the lock.
    sqlite3* other = nullptr;
    REQUIRE(sqlite3_open(dir.db().c_str(), &other) == SQLITE_OK);
    REQUIRE(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
    std::atomic<bool> writing{false};
    auto write = std::async(std::launch::async, [&] {
        writing = true;
        return c->Apply(NewKeyChange("k2", std::string(64, 'b')));
    });
    while (!writing) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // into Apply's wait
    auto read =
        std::async(std::launch::async, [&] { return c->LoadSealed(arn, std::string(64, 'a')); });
    const bool read_done = read.wait_for(std::chrono::seconds(3)) == std::future_status::ready;
    CHECK(read_done);
    CHECK(write.wait_for(std::chrono::seconds(0)) == std::future_status::timeout);  // still writing
    REQUIRE(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(other);
    CHECK(write.get().ok());
    CHECK(read.get().value() == Bytes{1, 2, 3});
    // The reader sees what was committed after it first read: the new key's material.
    const std::string arn2 = c->FindKey({"111122223333", "us-east-1", "k2"})->arn;
    CHECK(c->LoadSealed(arn2, std::string(64, 'b')).value() == Bytes{1, 2, 3});
    CHECK(c->LoadSealed(arn2, std::string(64, 'a')).status().code() == ErrorCode::kNotFound);
}

TEST_CASE("a failure at any SQL step leaves memory and disk unchanged", "[storage]") {
    TempDir dir;
    auto c = Catalog::Open(dir.db()).value();
    REQUIRE(c->Apply(NewKeyChange("k0", std::string(64, '0'))).ok());
    int failures = 0;
    for (int n = 1; n <= 40; ++n) {
        const std::string id = "k" + std::to_string(n);
        const std::string material(64, static_cast<char>('a' + n % 6));
        c->FailNthStep(n);
        Status st = c->Apply(NewKeyChange(id + "x", material + ""));
        c->FailNthStep(0);
        if (st.ok()) {
            // n was past the last step of the change: it committed whole.
            CHECK(c->FindKey({"111122223333", "us-east-1", id + "x"}));
            break;
        }
        ++failures;
        CHECK_FALSE(c->FindKey({"111122223333", "us-east-1", id + "x"}));
        CHECK_FALSE(c->FindAlias({"111122223333", "us-east-1", "alias/" + id + "x"}));
        CHECK_FALSE(c->FindMaterialOwner(material, "us-east-1"));
    }
    CHECK(failures >= 5);  // key row, tags, material, alias, commit
    c.reset();
    auto reopened = Catalog::Open(dir.db()).value();
    CHECK(reopened->KeyCount() == 2);  // k0 and the one change that committed
}

TEST_CASE("a new database file is private and a dangling symlink is not followed", "[storage]") {
    TempDir dir;
    REQUIRE(Db::Open(dir.db()).ok());
    struct stat st {};
    REQUIRE(::stat(dir.db().c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    const auto link = dir.path / "linked.db";
    const auto target = dir.path / "elsewhere.db";
    std::filesystem::create_symlink(target, link);
    auto db = Db::Open(link.string());
    REQUIRE_FALSE(db.ok());
    CHECK_THAT(db.status().message(), Catch::Contains("symbolic link"));
    CHECK_FALSE(std::filesystem::exists(target));
}

TEST_CASE("a disk-full failure rolls back and the next transaction works", "[storage]") {
    TempDir dir;
    auto db = Db::Open(dir.db()).value();
    REQUIRE(db->Exec("CREATE TABLE t (v BLOB)").ok());
    Statement pages(*db, "PRAGMA page_count");
    REQUIRE(pages.Step().value());
    // max_page_count makes SQLite report SQLITE_FULL exactly as a full disk does.
    const std::string cap = "PRAGMA max_page_count=" + std::to_string(pages.Int(0) + 4);
    REQUIRE(db->Exec(cap).ok());
    const Bytes big(3000, 0x5a);
    int inserted = 0;
    Status failed;
    {
        Transaction tx(*db);
        REQUIRE(tx.status().ok());
        for (int i = 0; i < 100 && failed.ok(); ++i) {
            Statement ins(*db, "INSERT INTO t VALUES (?1)");
            failed = ins.Run({big});
            if (failed.ok()) ++inserted;
        }
        REQUIRE_FALSE(failed.ok());
        CHECK_THAT(failed.message(), Catch::Contains("full"));
        CHECK(inserted > 0);
    }  // rolled back, whatever SQLite already did on its own
    CHECK(sqlite3_get_autocommit(db->handle()) == 1);
    REQUIRE(db->Exec("PRAGMA max_page_count=1000000").ok());
    {
        Transaction tx(*db);
        REQUIRE(tx.status().ok());
        Statement ins(*db, "INSERT INTO t VALUES (?1)");
        REQUIRE(ins.Run({Bytes{1}}).ok());
        REQUIRE(tx.Commit().ok());
    }
    Statement count(*db, "SELECT count(*) FROM t");
    REQUIRE(count.Step().value());
    CHECK(count.Int(0) == 1);  // none of the failed transaction's rows
}

TEST_CASE("a transaction left open is ended before the next one begins", "[storage]") {
    auto db = Db::Open(":memory:").value();
    REQUIRE(db->Exec("CREATE TABLE t (v INTEGER)").ok());
    REQUIRE(db->Exec("BEGIN; INSERT INTO t VALUES (1)").ok());  // as if ROLLBACK had failed
    {
        Transaction tx(*db);
        REQUIRE(tx.status().ok());
        REQUIRE(db->Exec("INSERT INTO t VALUES (2)").ok());
        REQUIRE(tx.Commit().ok());
    }
    Statement sum(*db, "SELECT sum(v) FROM t");
    REQUIRE(sum.Step().value());
    CHECK(sum.Int(0) == 2);
}

TEST_CASE("reset wipes keys and aliases", "[storage]") {
    auto c = Catalog::Open(":memory:").value();
    REQUIRE(c->Apply(NewKeyChange("k1", std::string(64, 'a'))).ok());
    REQUIRE(c->Reset({}).ok());
    CHECK(c->KeyCount() == 0);
    CHECK_FALSE(c->FindAlias({"111122223333", "us-east-1", "alias/k1"}));
    CHECK_FALSE(
        c->LoadSealed("arn:aws:kms:us-east-1:111122223333:key/k1", std::string(64, 'a')).ok());
}

TEST_CASE("listing pages through keys of one account and Region in ID order", "[storage]") {
    auto c = Catalog::Open(":memory:").value();
    for (char ch : std::string("cab")) {
        std::string id(1, ch);
        REQUIRE(c->Apply(NewKeyChange(id, std::string(64, ch))).ok());
    }
    auto page = c->ListKeys("111122223333", "us-east-1", "", 2);
    REQUIRE(page.size() == 2);
    CHECK(page[0]->key_id == "a");
    CHECK(page[1]->key_id == "b");
    CHECK(c->ListKeys("111122223333", "us-east-1", "c", 10).size() == 1);
    CHECK(c->ListKeys("111122223333", "us-west-2", "", 10).empty());
}

// The ordered map's names and the material owners point at each key's slot, not at copies: a
// new version of a record must keep them valid, and a deleted key must take its entries along
// (under ASan a dangling name is a use after free here).
TEST_CASE("key order and material owners follow new versions and deletions of keys", "[storage]") {
    auto c = Catalog::Open(":memory:").value();
    for (char ch : std::string("dcab")) {
        std::string id(1, ch);
        REQUIRE(c->Apply(NewKeyChange(id, std::string(64, ch))).ok());
    }
    // New versions of "b" (twice: the first one's record is then gone) and "d".
    for (const char* id : {"b", "b", "d"}) {
        auto next = std::make_shared<KeyRecord>(*c->FindKey({"111122223333", "us-east-1", id}));
        next->description = "changed";
        Change change;
        change.put_keys = {next};
        REQUIRE(c->Apply(change).ok());
    }
    Change del;
    del.delete_keys.push_back({"111122223333", "us-east-1", "a"});
    REQUIRE(c->Apply(del).ok());
    std::string order;
    for (const auto& k : c->ListKeys("111122223333", "us-east-1", "", 10)) order += k->key_id;
    CHECK(order == "bcd");
    CHECK(c->ListKeys("111122223333", "us-east-1", "c", 10).size() == 2);
    CHECK(c->FindMaterialOwner(std::string(64, 'b'), "us-east-1")->description == "changed");
    CHECK(c->FindMaterialOwner(std::string(64, 'c'), "us-east-1")->key_id == "c");
    CHECK_FALSE(c->FindMaterialOwner(std::string(64, 'a'), "us-east-1"));
    // Not 64 lower-case hex digits: no blob can carry it, nothing owns it.
    CHECK_FALSE(c->FindMaterialOwner(std::string(64, 'B'), "us-east-1"));
    CHECK_FALSE(c->FindMaterialOwner(std::string(63, 'b'), "us-east-1"));
    // A key made again under a deleted one's name gets a slot (and entries) of its own.
    REQUIRE(c->Apply(NewKeyChange("a", std::string(64, 'e'))).ok());
    CHECK(c->FindMaterialOwner(std::string(64, 'e'), "us-east-1")->key_id == "a");
    CHECK_FALSE(c->FindMaterialOwner(std::string(64, 'a'), "us-east-1"));
    CHECK(c->ListKeys("111122223333", "us-east-1", "", 1).front()->key_id == "a");
}

TEST_CASE("grants are written through, indexed, survive a reopen and cascade with their key",
          "[storage]") {
    TempDir dir;
    auto grant = [](const std::string& id, const std::string& grantee) {
        auto g = std::make_shared<GrantRecord>();
        g->key = {"111122223333", "us-east-1", "k1"};
        g->grant_id = id;
        g->name = "n-" + id;
        g->creation_date = 1700000001;
        g->grantee_principal = grantee;
        g->retiring_principal = "arn:aws:iam::111122223333:user/ret";
        g->issuing_account = "arn:aws:iam::111122223333:root";
        g->operations = {"Decrypt", "GenerateDataKey"};
        g->constraint_type = "EncryptionContextSubset";
        g->constraint_context = {{"a", "1"}, {"b", "2"}};
        return g;
    };
    const ScopedName k1{"111122223333", "us-east-1", "k1"};
    {
        auto c = Catalog::Open(dir.db()).value();
        REQUIRE(c->Apply(NewKeyChange("k1", std::string(64, 'a'))).ok());
        Change gc;
        gc.put_grants = {grant(std::string(64, '1'), "arn:aws:iam::111122223333:user/u1"),
                         grant(std::string(64, '2'), "arn:aws:iam::111122223333:user/u2"),
                         grant(std::string(64, '3'), "arn:aws:iam::111122223333:user/u1")};
        REQUIRE(c->Apply(gc).ok());
        Change revoke;
        revoke.delete_grants = {std::string(64, '2')};
        REQUIRE(c->Apply(revoke).ok());
        CHECK(c->GrantCount(k1) == 2);
    }
    auto c = Catalog::Open(dir.db()).value();
    auto all = c->GrantsOf(k1);
    REQUIRE(all.size() == 2);
    CHECK(all[0]->grant_id == std::string(64, '1'));  // creation order
    CHECK(all[1]->grant_id == std::string(64, '3'));
    CHECK(all[0]->operations == std::vector<std::string>{"Decrypt", "GenerateDataKey"});
    CHECK(all[0]->constraint_type == "EncryptionContextSubset");
    CHECK(all[0]->constraint_context ==
          std::vector<std::pair<std::string, std::string>>{{"a", "1"}, {"b", "2"}});
    CHECK(c->GrantsFor(k1, "arn:aws:iam::111122223333:user/u1").size() == 2);
    CHECK(c->GrantsFor(k1, "arn:aws:iam::111122223333:user/u2").empty());
    CHECK(c->GrantsNamed(k1, "n-" + std::string(64, '3')).size() == 1);
    CHECK(c->RetirableGrants("arn:aws:iam::111122223333:user/ret").size() == 2);
    CHECK(c->FindGrant(std::string(64, '2')) == nullptr);
    CHECK(c->GrantCount(k1) == 2);
    Change del;
    del.delete_keys = {k1};
    REQUIRE(c->Apply(del).ok());
    CHECK(c->GrantCount(k1) == 0);
    CHECK(c->FindGrant(std::string(64, '1')) == nullptr);
    auto reopened = Catalog::Open(dir.db()).value();
    CHECK(reopened->GrantsOf(k1).empty());
}

TEST_CASE("members of a multi-Region key share material IDs, each with its own sealed copy",
          "[storage]") {
    TempDir dir;
    const std::string id = "mrk-0123456789abcdef0123456789abcdef";
    const std::string material(64, 'c');
    auto member = [&](const std::string& region) {
        auto k = std::make_shared<KeyRecord>(*MakeKey(id, material));
        k->region = region;
        k->arn = "arn:aws:kms:" + region + ":111122223333:key/" + id;
        k->multi_region = true;
        k->primary_region = "us-east-1";
        return k;
    };
    auto east = member("us-east-1");
    auto west = member("us-west-2");
    {
        auto c = Catalog::Open(dir.db()).value();
        Change change;
        change.put_keys = {east, west};
        change.put_materials.push_back({east->scoped(), {material, 1.0, ""}, {1}});
        change.put_materials.push_back({west->scoped(), {material, 1.0, ""}, {2}});
        REQUIRE(c->Apply(change).ok());
    }
    auto c = Catalog::Open(dir.db()).value();
    CHECK(c->LoadSealed(east->arn, material).value() == Bytes{1});
    CHECK(c->LoadSealed(west->arn, material).value() == Bytes{2});
    CHECK(c->FindMaterialOwner(material, "us-west-2")->region == "us-west-2");
    CHECK(c->FindMaterialOwner(material, "us-east-1")->region == "us-east-1");
    auto members = c->MultiRegionMembers("111122223333", id);
    REQUIRE(members.size() == 2);
    CHECK(members[0]->is_primary());
    CHECK(members[1]->is_replica());
    Change del;
    del.delete_keys.push_back(west->scoped());
    REQUIRE(c->Apply(del).ok());
    CHECK(c->MultiRegionMembers("111122223333", id).size() == 1);
    CHECK(c->FindMaterialOwner(material, "us-west-2")->region == "us-east-1");
    CHECK_FALSE(c->LoadSealed(west->arn, material).ok());
    CHECK(c->LoadSealed(east->arn, material).value() == Bytes{1});
}

TEST_CASE("a reopen rebuilds key order, material order and last usage from the file", "[storage]") {
    TempDir dir;
    // Written out of order, across two accounts and two Regions: the reload takes its order
    // from SQLite's primary-key index and must give ScopedName's order.
    const std::vector<std::tuple<std::string, std::string, std::string>> names = {
        {"111122223333", "us-east-1", "c"}, {"999988887777", "eu-west-1", "z"},
        {"111122223333", "us-east-1", "a"}, {"111122223333", "eu-west-1", "y"},
        {"111122223333", "us-east-1", "b"}, {"999988887777", "eu-west-1", "x"}};
    {
        auto c = Catalog::Open(dir.db()).value();
        for (const auto& [account, region, id] : names) {
            auto k = std::make_shared<KeyRecord>(*MakeKey(id, std::string(64, id[0])));
            k->account = account;
            k->region = region;
            k->arn = "arn:aws:kms:" + region + ":" + account + ":key/" + id;
            Change change;
            change.put_keys.push_back(k);
            change.put_materials.push_back({k->scoped(), k->materials[0], {1}});
            REQUIRE(c->Apply(change).ok());
            if (id == "a") {
                // A material of an earlier key between the keys' own: its row is not next to
                // its key's (the load looks the key up, not the key the row order suggests).
                Change rotate;
                rotate.put_materials.push_back({{"111122223333", "us-east-1", "c"},
                                                {std::string(64, '9'), 1800000000.0, "ON_DEMAND"},
                                                {2}});
                REQUIRE(c->Apply(rotate).ok());
            }
        }
        // Key "a" gets two more materials, written newest first; the same date for two of them
        // is ordered by when they were written.
        const ScopedName a{"111122223333", "us-east-1", "a"};
        for (const auto& [id, date] :
             std::vector<std::pair<std::string, double>>{{std::string(64, '3'), 1800000000.0},
                                                         {std::string(64, '1'), 1700000000.5},
                                                         {std::string(64, '2'), 1750000000.0}}) {
            Change change;
            change.put_materials.push_back({a, {id, date, "ON_DEMAND"}, {2}});
            REQUIRE(c->Apply(change).ok());
        }
        Change usage;
        usage.put_usage.push_back({a, "Encrypt", 1700000100.0, "", "request-1"});
        REQUIRE(c->Apply(usage).ok());
    }
    auto c = Catalog::Open(dir.db()).value();
    const auto ids = [&](const std::string& account, const std::string& region) {
        std::string out;
        for (const auto& k : c->ListKeys(account, region, "", 10)) out += k->key_id;
        return out;
    };
    CHECK(ids("111122223333", "us-east-1") == "abc");
    CHECK(ids("111122223333", "eu-west-1") == "y");
    CHECK(ids("999988887777", "eu-west-1") == "xz");
    CHECK(c->KeyCount() == names.size());

    const auto a = c->FindKey({"111122223333", "us-east-1", "a"});
    REQUIRE(a != nullptr);
    std::string order;
    for (const auto& m : a->materials) order += m.material_id[0];
    // "a" (its first, dated 1700000000.5) before "1" (same date, written later), then by date.
    CHECK(order == "a123");
    CHECK(a->current_material_id() == std::string(64, '3'));
    CHECK(c->FindMaterialOwner(std::string(64, '2'), "us-east-1")->key_id == "a");
    // Every other key has its own materials: "c" its first and the one written after "a", the
    // rest their one.
    for (const auto& [account, region, id] : names) {
        if (id == "a") continue;
        const auto key = c->FindKey({account, region, id});
        REQUIRE(key != nullptr);
        std::string mine;
        for (const auto& m : key->materials) mine += m.material_id[0];
        CHECK(mine == (id == "c" ? "c9" : id));
    }

    auto used = c->ReadUsage({"111122223333", "us-east-1", "a"}).value();
    REQUIRE(used.has_value());
    CHECK(used->operation == "Encrypt");
    CHECK(used->request_id == "request-1");
    CHECK(used->timestamp == 1700000100.0);
    CHECK_FALSE(c->ReadUsage({"111122223333", "us-east-1", "b"}).value().has_value());

    // The census (metrics' kmsd_keys) is rebuilt by the load and kept as keys change.
    using Row = std::tuple<std::string, std::string, std::string>;
    CHECK(c->KeyCensus() == Catalog::Census{{Row{"Enabled", "SYMMETRIC_DEFAULT", "AWS_KMS"}, 6}});
    auto b = std::make_shared<KeyRecord>(*c->FindKey({"111122223333", "us-east-1", "b"}));
    b->state = KeyState::kDisabled;
    Change disable;
    disable.put_keys.push_back(b);
    REQUIRE(c->Apply(disable).ok());
    Change remove;
    remove.delete_keys.push_back({"111122223333", "us-east-1", "c"});
    REQUIRE(c->Apply(remove).ok());
    CHECK(c->KeyCensus() == Catalog::Census{{Row{"Disabled", "SYMMETRIC_DEFAULT", "AWS_KMS"}, 1},
                                            {Row{"Enabled", "SYMMETRIC_DEFAULT", "AWS_KMS"}, 4}});
    Change remove_b;
    remove_b.delete_keys.push_back(b->scoped());
    REQUIRE(c->Apply(remove_b).ok());
    CHECK(c->KeyCensus() == Catalog::Census{{Row{"Enabled", "SYMMETRIC_DEFAULT", "AWS_KMS"}, 4}});
}

namespace {
int CountRows(const std::string& path, const char* sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    const int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}
void RunSql(const std::string& path, const char* sql) {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    char* err = nullptr;
    const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
    INFO((err != nullptr ? err : ""));
    sqlite3_free(err);
    sqlite3_close(db);
    REQUIRE(rc == SQLITE_OK);
}
}  // namespace

TEST_CASE(
    "last usage kept by key rowid: migrated from version 10, deleted with its key, never "
    "given to another key",
    "[storage]") {
    TempDir dir;
    const ScopedName a{"111122223333", "us-east-1", "a"};
    const ScopedName b{"111122223333", "us-east-1", "b"};
    {
        auto c = Catalog::Open(dir.db()).value();
        for (const auto& id : {"a", "b"})
            REQUIRE(c->Apply(NewKeyChange(id, std::string(64, id[0]))).ok());
    }
    // The file as kmsd 10 left it: usage keyed by name, with a row for "a".
    RunSql(dir.db(),
           "DROP TABLE key_usage;"
           "CREATE TABLE key_last_usage (account TEXT NOT NULL, region TEXT NOT NULL, key_id TEXT "
           "NOT NULL, operation TEXT NOT NULL, timestamp REAL NOT NULL, event_id TEXT NOT NULL, "
           "request_id TEXT NOT NULL, PRIMARY KEY (account, region, key_id), FOREIGN KEY "
           "(account, region, key_id) REFERENCES keys ON DELETE CASCADE);"
           "INSERT INTO key_last_usage VALUES ('111122223333', 'us-east-1', 'a', 'Sign', 17.5, "
           "'', 'request-a');"
           "PRAGMA user_version=10;");
    {
        auto c = Catalog::Open(dir.db()).value();
        auto used = c->ReadUsage(a).value();
        REQUIRE(used.has_value());
        CHECK(used->operation == "Sign");
        CHECK(used->timestamp == 17.5);
        CHECK(used->request_id == "request-a");
        CHECK_FALSE(c->ReadUsage(b).value().has_value());
        // A flush of "b" (made by this process: its rowid is looked up once).
        Change usage;
        usage.put_usage.push_back({b, "Decrypt", 18.0, "", "request-b"});
        REQUIRE(c->Apply(usage).ok());
        REQUIRE(c->ReadUsage(b).value().has_value());
        CHECK(c->ReadUsage().value().size() == 2);
        // Deleting "a" deletes its usage row, which no foreign key cascades to.
        Change gone;
        gone.delete_keys.push_back(a);
        REQUIRE(c->Apply(gone).ok());
    }
    CHECK(CountRows(dir.db(), "SELECT count(*) FROM key_usage") == 1);
    // A row whose rowid now names another key (as VACUUM may renumber) is no usage of it: its
    // key ID digest is not that key's.
    RunSql(dir.db(), "UPDATE key_usage SET key_check = key_check + 1");
    auto c = Catalog::Open(dir.db()).value();
    CHECK_FALSE(c->ReadUsage(b).value().has_value());
    CHECK(c->ReadUsage().value().empty());
}

TEST_CASE(
    "last usage rows are compact: a UUID request ID in 16 bytes, the operation as a code; rows "
    "of schema 11 migrate, their event IDs kept",
    "[storage]") {
    TempDir dir;
    const ScopedName a{"111122223333", "us-east-1", "a"};
    const ScopedName b{"111122223333", "us-east-1", "b"};
    const ScopedName c3{"111122223333", "us-east-1", "c"};
    const std::string uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    {
        auto c = Catalog::Open(dir.db()).value();
        for (const auto& id : {"a", "b", "c"})
            REQUIRE(c->Apply(NewKeyChange(id, std::string(64, id[0]))).ok());
    }
    // As schema 11 stored usage: whole text, "a" with an event ID of its own.
    RunSql(dir.db(),
           "DROP TABLE key_usage;"
           "CREATE TABLE key_usage (key_row INTEGER PRIMARY KEY, key_id TEXT NOT NULL, operation "
           "TEXT NOT NULL, timestamp REAL NOT NULL, event_id TEXT NOT NULL, request_id TEXT NOT "
           "NULL);"
           "INSERT INTO key_usage SELECT rowid, key_id, 'GenerateDataKeyPairWithoutPlaintext', "
           "20.25, 'event-a', '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0' FROM keys WHERE key_id='a';"
           "INSERT INTO key_usage SELECT rowid, key_id, 'Verify', 21, '', 'Not-A-UUID' FROM keys "
           "WHERE key_id='b';"
           "INSERT INTO key_usage SELECT rowid, key_id, 'NoSuchOperation', 22, '', 'x' FROM keys "
           "WHERE key_id='c';"
           "PRAGMA user_version=11;");
    {
        auto c = Catalog::Open(dir.db()).value();
        auto used_a = c->ReadUsage(a).value();
        REQUIRE(used_a.has_value());
        CHECK(used_a->operation == "GenerateDataKeyPairWithoutPlaintext");
        CHECK(used_a->timestamp == 20.25);
        CHECK(used_a->request_id == uuid);
        CHECK(used_a->event_id == "event-a");
        auto used_b = c->ReadUsage(b).value();
        REQUIRE(used_b.has_value());
        CHECK(used_b->operation == "Verify");
        CHECK(used_b->request_id == "Not-A-UUID");          // not a canonical UUID: kept as text
        CHECK(used_b->event_id.empty());                    // derived from the request ID when read
        CHECK_FALSE(c->ReadUsage(c3).value().has_value());  // no such operation: not migrated
    }
    CHECK(CountRows(dir.db(),
                    "SELECT count(*) FROM key_usage WHERE typeof(request_id)='blob' "
                    "AND length(request_id)=16 AND typeof(operation)='integer'") == 1);
    // Every operation GetKeyLastUsage reports is written and read back by its code.
    auto c = Catalog::Open(dir.db()).value();
    for (const char* op :
         {"Decrypt", "DeriveSharedSecret", "Encrypt", "GenerateDataKey", "GenerateDataKeyPair",
          "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext", "GenerateMac",
          "ReEncrypt", "Sign", "Verify", "VerifyMac"}) {
        Change usage;
        usage.put_usage.push_back({b, op, 30.5, "", uuid});
        REQUIRE(c->Apply(usage).ok());
        auto used = c->ReadUsage(b).value();
        REQUIRE(used.has_value());
        CHECK(used->operation == op);
        CHECK(used->request_id == uuid);
        CHECK(used->event_id.empty());
    }
    CHECK(CountRows(dir.db(),
                    "SELECT max(length(request_id) + length(operation)) FROM key_usage "
                    "WHERE key_row = (SELECT rowid FROM keys WHERE key_id='b')") <= 18);
}

TEST_CASE("usage codec: UUIDs pack only when canonical, and unpack to the same text", "[storage]") {
    const std::string uuid = "00112233-4455-6677-8899-aabbccddeeff";
    auto packed = PackUuid(uuid);
    REQUIRE(packed.has_value());
    CHECK((*packed)[0] == 0x00);
    CHECK((*packed)[1] == 0x11);
    CHECK((*packed)[15] == 0xff);
    CHECK(UnpackUuid(packed->data()) == uuid);
    for (const char* bad :
         {"00112233-4455-6677-8899-AABBCCDDEEFF",  // upper case: not kmsd's
          "00112233-4455-6677-8899-aabbccddeef", "00112233445566778899aabbccddeeff",
          "00112233-4455-6677-8899_aabbccddeeff", "0011223g-4455-6677-8899-aabbccddeeff", ""})
        CHECK_FALSE(PackUuid(bad).has_value());
    CHECK(UsageOperationName(-1) == nullptr);
    CHECK(UsageOperationName(12) == nullptr);
    CHECK(UsageOperationCode("Encrypt") == 2);  // codes are in databases: they never change
    CHECK(KeyIdCheck("a") != KeyIdCheck("b"));
    CHECK(KeyIdCheck("") == static_cast<std::int32_t>(2166136261u));
}

TEST_CASE("the key index finds, replaces and erases like a map, across growth and deletions",
          "[storage]") {
    // Random operations on 3,000 names, checked against std::map after each: erasure shifts
    // later entries of a probe run back, which must keep every entry reachable.
    KeyIndex index;
    std::map<ScopedName, KeyPtr> model;
    std::uint64_t seed = 12345;
    const auto next = [&] {
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        return seed >> 33;
    };
    const auto make = [&](std::size_t n) {
        auto k = std::make_shared<KeyRecord>();
        k->account = n % 7 == 0 ? "999988887777" : "111122223333";
        k->region = n % 5 == 0 ? "eu-west-1" : "us-east-1";
        // Names share IDs across accounts and Regions (n / 3), and some IDs are longer than
        // the index keeps inline.
        k->key_id = (n % 11 == 0 ? std::string(40, 'x') : "key-") + std::to_string(n / 3);
        // The compare reads the ARN's tail where the ARN ends in the key ID: ARNs that do, that
        // end in something else, that are only the ID, and none.
        const std::string prefix = "arn:aws:kms:" + k->region + ":" + k->account + ":key/";
        if (n % 4 == 0) k->arn = prefix + k->key_id;
        if (n % 4 == 1) k->arn = prefix + "other-" + std::to_string(n);
        if (n % 4 == 2) k->arn = k->key_id;
        k->description = std::to_string(next());
        return k;
    };
    for (int op = 0; op < 60000; ++op) {
        const std::size_t n = next() % 3000;
        auto k = make(n);
        const ScopedName name = k->scoped();
        if (next() % 3 == 0) {
            index.Erase(name);
            model.erase(name);
        } else {
            const KeyPtr replaced = index.Put(k);
            auto it = model.find(name);
            CHECK(replaced == (it == model.end() ? nullptr : it->second));
            model[name] = k;
        }
        if (op % 997 == 0 || op == 59999) {
            if (op % 2 == 0) index.Rehint();  // changes no answer
            REQUIRE(index.size() == model.size());
            std::size_t seen = 0;
            index.ForEach([&](const KeyRecord&) { ++seen; });
            CHECK(seen == model.size());
            for (std::size_t m = 0; m < 3000; ++m) {
                const ScopedName probe = make(m)->scoped();
                const KeyPtr* found = index.Find(probe);
                auto it = model.find(probe);
                REQUIRE((found == nullptr) == (it == model.end()));
                if (found != nullptr) CHECK(*found == it->second);
            }
        }
    }
    index.Clear();
    CHECK(index.size() == 0);
    CHECK(index.Find(ScopedName{"111122223333", "us-east-1", "key-1"}) == nullptr);
}
