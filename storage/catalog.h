// Catalog: the in-memory view of keys and aliases that every request reads, written through to
// SQLite (design.md §3). Reads take a shared lock just long enough to copy a shared_ptr; writes
// run one at a time under the writer mutex: BEGIN IMMEDIATE → SQL → COMMIT → swap the changed
// records. If any step fails nothing is swapped, so memory and disk never disagree.
// Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "common/metrics.h"
#include "common/status.h"
#include "hsm/sealed_key_store.h"
#include "storage/db.h"
#include "storage/key_index.h"
#include "storage/records.h"

namespace kmsd::storage {

using KeyPtr = std::shared_ptr<const KeyRecord>;
using AliasPtr = std::shared_ptr<const AliasRecord>;
using GrantPtr = std::shared_ptr<const GrantRecord>;
using StorePtr = std::shared_ptr<const CustomKeyStoreRecord>;
using ClusterPtr = std::shared_ptr<const CloudHsmClusterRecord>;

// One atomic change. Everything in it commits together or not at all.
struct Change {
    std::vector<KeyPtr> put_keys;  // insert or update (tags replaced)
    std::vector<NewMaterial> put_materials;
    std::vector<AliasPtr> put_aliases;
    std::vector<ScopedName> delete_aliases;
    std::vector<ScopedName> delete_keys;  // cascades to materials, tags, aliases
    std::vector<std::pair<std::string, Bytes>> put_meta;
    std::vector<UsageRecord> put_usage;  // keys that no longer exist are skipped
    std::vector<GrantPtr> put_grants;
    std::vector<std::string> delete_grants;  // grant IDs
    // A changed store's keys are republished with its cluster and connection (KeyRecord).
    std::vector<StorePtr> put_stores;
    std::vector<std::string> delete_stores;  // store IDs (only stores without keys)
    std::vector<ClusterPtr> put_clusters;
};

// Adds `material` to `key` (the caller's new record) and its row, sealed bytes and all, to
// `change`.
inline void AddMaterial(Change& change, KeyRecord& key, MaterialRecord material,
                        std::vector<unsigned char> sealed) {
    key.materials.push_back(material);
    change.put_materials.push_back({key.scoped(), std::move(material), std::move(sealed)});
}

class Catalog : public hsm::SealedKeyStore {
public:
    // Opens the database at `path` (":memory:" for in-memory), applies migrations and loads
    // all metadata into memory.
    static Result<std::unique_ptr<Catalog>> Open(const std::string& path);

    // --- reads (no SQLite) ---
    KeyPtr FindKey(const ScopedNameRef& key) const;
    // A hint that FindKey(key) follows soon (KeyIndex::PrefetchHome). Takes no lock.
    void PrefetchKey(const ScopedNameRef& key) const { key_index_.PrefetchHome(key); }
    AliasPtr FindAlias(const ScopedName& alias) const;
    // Keys of one account+Region ordered by key ID, starting at `from` (inclusive).
    std::vector<KeyPtr> ListKeys(const std::string& account, const std::string& region,
                                 const std::string& from, std::size_t limit) const;
    std::vector<AliasPtr> ListAliases(const std::string& account, const std::string& region) const;
    // Every key, by account, Region and key ID (export; an admin call).
    std::vector<KeyPtr> AllKeys() const;
    std::vector<AliasPtr> AliasesOf(const ScopedName& key) const;
    // The key that owns `material_id`, across all accounts: the member in `region` of a
    // multi-Region key (whose members share material IDs), else the one owner there is. Null
    // when no key has it (or it is not 64 lower-case hex digits).
    KeyPtr FindMaterialOwner(std::string_view material_id, std::string_view region) const;
    // The same for the material ID's 32 bytes, as a blob carries them (no hex on the way).
    KeyPtr FindMaterialOwner(const std::array<std::uint8_t, 32>& material_id,
                             std::string_view region) const;
    // The members of the multi-Region key `key_id` of `account`, one per Region, by Region.
    std::vector<KeyPtr> MultiRegionMembers(const std::string& account,
                                           const std::string& key_id) const;
    std::size_t KeyCount() const;
    // Keys by (state, key spec, origin), for the metrics page. Kept up to date as keys change,
    // so a scrape copies a few rows instead of visiting every key.
    using Census = std::map<std::tuple<std::string, std::string, std::string>, std::size_t>;
    Census KeyCensus() const;
    // Each write transaction's time, commit included.
    const metrics::Histogram& write_latency() const { return write_latency_; }
    // ARNs of keys loaded without any key material row (a damaged database).
    const std::vector<std::string>& KeysWithoutMaterial() const { return keys_without_material_; }
    // Grants of one key in creation order.
    std::vector<GrantPtr> GrantsOf(const ScopedName& key) const;
    std::size_t GrantCount(const ScopedName& key) const;
    // The grants of `key` whose grantee is `grantee` (the authorization hot path: one lookup).
    std::vector<GrantPtr> GrantsFor(const ScopedName& key, const std::string& grantee) const;
    GrantPtr FindGrant(const std::string& grant_id) const;
    // Grants of `key` named `name` (CreateGrant's idempotency), in no particular order.
    std::vector<GrantPtr> GrantsNamed(const ScopedName& key, const std::string& name) const;
    // Grants, on any key, that `retiring_principal` may retire, in creation order.
    std::vector<GrantPtr> RetirableGrants(const std::string& retiring_principal) const;
    // Keys with scheduled work due at or before `time` (deletion of a key pending deletion,
    // automatic rotation of an enabled key, expiry of imported material), ordered by their
    // earliest due time.
    std::vector<ScopedName> KeysDue(double time) const;

    // Custom key stores and CloudHSM clusters.
    StorePtr FindStore(const std::string& store_id) const;
    // One account and Region's stores, by store ID.
    std::vector<StorePtr> ListStores(const std::string& account, const std::string& region) const;
    ClusterPtr FindCluster(const ScopedName& cluster) const;
    std::vector<ClusterPtr> AllClusters() const;
    // The keys in a store, in any state.
    std::vector<KeyPtr> KeysInStore(const std::string& store_id) const;
    // The key of external key store `store_id` whose XksKeyId is `xks_key_id`, if any: found in
    // an index, so CreateKey's "already in use" check does not walk the store's keys.
    KeyPtr FindKeyByXksKeyId(const std::string& store_id, const std::string& xks_key_id) const;
    // Stores whose CONNECTING ends at or before `time`.
    std::vector<StorePtr> StoresDue(double time) const;
    // Whether any external key store exists (one atomic read, no lock: the request path asks
    // it to decide whether a request may wait on a proxy).
    bool HasExternalStores() const { return has_external_stores_.load(std::memory_order_relaxed); }
    // Whether `key_id` (a bare key ID, any account and Region) is a key in an external key store.
    bool IsExternalKeyId(std::string_view key_id) const;

    // --- SealedKeyStore (a SQLite read; only on an HSM cache miss) ---
    Result<Bytes> LoadSealed(const std::string& arn, const std::string& material_id) const override;

    // Every stored last-usage record (a SQLite read; tests and tools).
    Result<std::vector<UsageRecord>> ReadUsage() const;
    // One key's stored last-usage record: GetKeyLastUsage of a key not used since startup. Read
    // on demand rather than loaded at startup (100,000 records took a sixth of it).
    Result<std::optional<UsageRecord>> ReadUsage(const ScopedName& key) const;

    // --- meta values (startup and admin paths only) ---
    Result<std::optional<Bytes>> GetMeta(const std::string& name) const;

    // --- writes ---
    // Runs `build` under the writer mutex (so it sees a stable catalog), then applies its Change.
    // `build` returns the Change or an error (then nothing happens).
    Status Write(const std::function<Result<Change>()>& build);
    // Applies `change` under the writer mutex (without copying it: a usage flush's Change holds a
    // record for every key used in the last second).
    Status Apply(const Change& change);
    // Deletes every key, alias and tag (and the given meta names); the master key check stays.
    Status Reset(const std::vector<std::string>& meta_to_clear);

    // Fault injection for tests: the Nth SQL step from now fails.
    void FailNthStep(int n);

private:
    explicit Catalog(std::unique_ptr<Db> db) : db_(std::move(db)) {}
    Status Migrate();
    Status Load();
    Status LoadStores();
    Status WriteStoresSql(const Change& change);
    Status Commit(const Change& change);    // writes, then publishes; writer mutex held
    Status WriteSql(const Change& change);  // times WriteSqlTransaction
    Status WriteSqlTransaction(const Change& change);
    void Publish(const Change& change);
    void PublishGrant(const GrantPtr& grant);
    // `key` as published: with its store's cluster and connection, under mu_.
    KeyPtr WithStore(KeyPtr key) const;
    void CountKey(const KeyRecord& key, int delta);  // census_, under mu_
    void UnpublishGrant(const std::string& grant_id);

    mutable std::mutex writer_mu_;  // guards db_ and serialises writers
    std::unique_ptr<Db> db_;
    // Where LoadSealed reads (the first use of each key since startup, on a serving thread), so
    // that it does not wait for a write: the usage flush's transaction, with many keys in use,
    // holds writer_mu_ for tens of milliseconds. Opened at the first read; none for an
    // in-memory database (a second connection would open another, empty one): db_ then serves.
    mutable std::mutex reader_mu_;  // guards the three below
    mutable std::unique_ptr<Db> reader_;
    mutable std::unique_ptr<Statement> load_sealed_;  // prepared once, on reader_
    std::string path_;
    metrics::Histogram write_latency_;

    mutable std::shared_mutex mu_;  // guards the maps below
    // In order, for ListKeys' pages. Each name is a view of the key's KeySlot::key, which the
    // entry's record keeps alive (every version of a key's record shares one slot).
    std::map<ScopedNameRef, KeyPtr, ScopedNameLess> keys_;
    Census census_;
    KeyIndex key_index_;  // the same, for lookups
    std::map<ScopedName, AliasPtr> aliases_;
    // Material ID, as its 32 bytes → the slot of each key holding it (one, or each member of a
    // multi-Region key). Bytes and slots rather than hex and names: about 56 bytes per key
    // instead of 310 (with 100,000 keys, a tenth of the memory and of the startup time).
    using MaterialDigest = std::array<std::uint8_t, 32>;
    struct MaterialDigestHash {
        // Material IDs are random (or HMAC outputs): their first bytes are a hash already.
        std::size_t operator()(const MaterialDigest& d) const noexcept {
            std::size_t h;
            std::memcpy(&h, d.data(), sizeof h);
            return h;
        }
    };
    std::unordered_multimap<MaterialDigest, const KeySlot*, MaterialDigestHash> material_owner_;
    // Lists `slot` as an owner of `material_id` (once) / no longer as an owner of any.
    void AddMaterialOwner(const std::string& material_id, const KeySlot* slot);
    void RemoveMaterialOwner(const std::string& material_id, const KeySlot* slot);
    // (account, key ID) → the Regions of a multi-Region key's members.
    std::map<std::pair<std::string, std::string>, std::set<std::string>> mrk_sets_;
    // Grants by key, then by grantee principal; and by grant ID.
    std::map<ScopedName, std::map<std::string, std::vector<GrantPtr>>> grants_;
    std::unordered_map<std::string, GrantPtr> grants_by_id_;
    std::map<ScopedName, std::size_t> grant_counts_;  // CreateGrant's quota check is O(log n)
    std::int64_t next_grant_seq_ = 1;
    std::map<std::string, StorePtr> stores_;  // by store ID
    std::atomic<bool> has_external_stores_{false};
    std::set<std::string, std::less<>> external_key_ids_;  // keys with an XksKeyId
    // (store ID, XksKeyId) -> the key that uses that external key.
    std::map<std::pair<std::string, std::string>, ScopedName> xks_key_users_;
    void IndexExternalKey(const KeyRecord& key);
    // Gives `next`, about to replace `previous` (null for a new key), its key's slot.
    static void AttachSlot(const KeyRecord& next, const KeyRecord* previous);
    // Keys with scheduled work, by the earliest time it can fall due, so KeysDue, called every
    // second, reads only the keys due rather than every key. A key waiting for its replicas'
    // deletion is due when its last replica goes, which no time says: those are listed apart.
    std::set<std::pair<double, ScopedName>> due_;
    std::set<ScopedName> awaiting_replicas_;
    // Moves a key's entries from what `before` needed to what `after` needs (either may be null).
    void IndexDue(const KeyRecord* before, const KeyRecord* after);
    void NoteExternalStores();  // after stores_ changed
    std::map<ScopedName, ClusterPtr> clusters_;
    // The keys of each custom key store (a store's change republishes only them).
    std::map<std::string, std::set<ScopedName>> store_keys_;
    std::vector<std::string> keys_without_material_;  // set once by Load
};

}  // namespace kmsd::storage
