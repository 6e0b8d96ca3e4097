// Domain records held by the Catalog. Records are immutable once published: a change builds a
// new record and swaps the shared_ptr, so readers on the hot path never lock while using one.
#pragma once

#include <algorithm>
#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/prefetch.h"
#include "common/record_memo.h"
#include "common/spin_lock.h"

namespace kmsd::storage {

enum class KeyState {
    kEnabled,
    kDisabled,
    kPendingDeletion,
    kPendingImport,
    kPendingReplicaDeletion,  // a multi-Region primary scheduled for deletion, with replicas left
};

const char* KeyStateName(KeyState s);
std::optional<KeyState> ParseKeyState(const std::string& s);

// Text that many records hold alike: every key with its account's default policy (about 600
// bytes) would otherwise keep a copy of it, 60 MB and 100,000 allocations for 100,000 keys.
// Records with the same text share one immutable copy while any of them lives (an intern table
// of weak references). Reads as a const std::string&. Thread-safe.
class SharedText {
public:
    SharedText() = default;
    SharedText(std::string text) : text_(Intern(std::move(text))) {}  // NOLINT: implicit
    SharedText& operator=(std::string text) {
        text_ = Intern(std::move(text));
        return *this;
    }
    const std::string& str() const { return text_ ? *text_ : Empty(); }
    operator const std::string&() const { return str(); }  // NOLINT: implicit
    bool operator==(const SharedText& other) const {
        return text_ == other.text_ || str() == other.str();
    }
    bool operator==(std::string_view other) const { return str() == other; }
    bool operator==(const std::string& other) const { return str() == other; }
    bool operator==(const char* other) const { return str() == other; }
    bool empty() const { return str().empty(); }
    operator std::string_view() const { return str(); }  // NOLINT: implicit
    friend std::string operator+(const std::string& a, const SharedText& b) { return a + b.str(); }
    friend std::string operator+(const char* a, const SharedText& b) { return a + b.str(); }
    friend std::string operator+(const SharedText& a, const std::string& b) { return a.str() + b; }
    friend std::string operator+(const SharedText& a, const char* b) { return a.str() + b; }

private:
    static std::shared_ptr<const std::string> Intern(std::string text);
    static const std::string& Empty();
    std::shared_ptr<const std::string> text_;
};

// Default values of record fields, shared by every record that has them (made once, so a new
// record is not a lookup in the table of shared texts for each).
struct DefaultText {
    static const SharedText& KeyUsage();  // ENCRYPT_DECRYPT
    static const SharedText& KeySpec();   // SYMMETRIC_DEFAULT
    static const SharedText& Origin();    // AWS_KMS
};

// (account, region, name): the identity of a key or an alias.
struct ScopedName {
    std::string account;
    std::string region;
    std::string name;
    auto operator<=>(const ScopedName&) const = default;
};

// A borrowed (account, region, name): hash-map lookups on the request path without building a
// ScopedName (a key ID is too long for the short-string buffer, so each one cost a malloc).
struct ScopedNameRef {
    std::string_view account;
    std::string_view region;
    std::string_view name;
    ScopedNameRef(std::string_view a, std::string_view r, std::string_view n)
        : account(a), region(r), name(n) {}
    ScopedNameRef(const ScopedName& n)  // NOLINT: implicit on purpose, for lookups
        : account(n.account), region(n.region), name(n.name) {}
    bool operator==(const ScopedNameRef&) const = default;
};

// For hash maps of keys and aliases: an ordered map compares the account and Region (equal in
// nearly every comparison) at every node of a lookup. Transparent: a ScopedNameRef finds a
// ScopedName (std::hash gives a string and a string_view of the same text the same hash).
// Deliberately not noexcept: libstdc++ then keeps each node's hash code, so a lookup compares
// codes before names and never rehashes a neighbour's three strings to find the bucket's end
// (with 100,000 keys that rehashing was a measurable share of a request).
struct ScopedNameHash {
    using is_transparent = void;
    std::size_t operator()(const ScopedNameRef& n) const {
        const std::hash<std::string_view> h;
        return h(n.name) ^ (h(n.region) * 31) ^ (h(n.account) * 1000003);
    }
};
struct ScopedNameEqual {
    using is_transparent = void;
    bool operator()(const ScopedNameRef& a, const ScopedNameRef& b) const { return a == b; }
};
// ScopedName's order (account, Region, name, each byte-wise), for ordered maps keyed by
// ScopedNameRef. Transparent: a ScopedName finds a ScopedNameRef.
struct ScopedNameLess {
    using is_transparent = void;
    bool operator()(const ScopedNameRef& a, const ScopedNameRef& b) const {
        if (int c = a.account.compare(b.account); c != 0) return c < 0;
        if (int c = a.region.compare(b.region); c != 0) return c < 0;
        return a.name < b.name;
    }
};

struct MaterialRecord {
    MaterialRecord() = default;
    MaterialRecord(std::string id, double date, std::string type)
        : material_id(std::move(id)), creation_date(date), rotation_type(std::move(type)) {}

    std::string material_id;   // 64 lower-case hex
    double creation_date = 0;  // for a rotated material, its rotation date
    SharedText rotation_type;  // "" for the key's first material, AUTOMATIC or ON_DEMAND
    // Imported material (Origin EXTERNAL) only:
    SharedText import_state;         // "" (generated), IMPORTED or PENDING_IMPORT (deleted/expired)
    SharedText expiration_model;     // KEY_MATERIAL_EXPIRES or KEY_MATERIAL_DOES_NOT_EXPIRE
    std::optional<double> valid_to;  // when it expires (KEY_MATERIAL_EXPIRES)
    std::string description;         // KeyMaterialDescription
    bool pending_rotation = false;   // imported as NEW_KEY_MATERIAL, not yet current
    // The HSM's unsealed form of this material for this version of the key (hsm::KeyRef::memo):
    // a request reaches it through the record it holds, not through the HSM's cache by ID.
    RecordMemo unsealed;

    bool imported() const { return import_state == "IMPORTED"; }
};

using Tags = std::vector<std::pair<std::string, std::string>>;  // in insertion order

struct KeySlot;

struct KeyRecord {
    // The fields every request on the key reads (state checks, authorization, the HSM reference,
    // usage tracking, and the lookup by name) come first, in the record's first five cache lines
    // (kRequestBytes): under a random key of many, each line the request reads is a miss, and they
    // were spread over all eight.
    KeyState state = KeyState::kEnabled;
    // The flags together: the record is then 480 bytes, the allocator's 512-byte class instead of
    // its 640-byte one (100,000 keys: 12 MB less to allocate at startup).
    bool rotation_enabled = false;
    // Multi-Region keys (mrk- IDs): every member of the set, primary and replicas, is a record of
    // its own Region with the same key ID and material IDs; each names the primary's Region.
    bool multi_region = false;
    // An AWS managed key (KeyManager AWS): made by kmsd on first use of its alias/aws/<service>
    // (api/managed_keys.h); its policy, rotation, aliases and state are AWS's, not changeable.
    bool aws_managed = false;
    bool store_disconnected = false;  // see custom_key_store_id
    int pending_window_days = 0;
    int rotation_period_days = 0;  // kept after DisableKeyRotation; 0 if never enabled
    // Shared (SharedText): a few values among all keys, so one copy each, always in cache.
    SharedText key_usage = DefaultText::KeyUsage();
    SharedText key_spec = DefaultText::KeySpec();
    SharedText policy;         // as the caller gave it (or the default), re-formatted on output
    RecordMemo parsed_policy;  // api::authz::PolicyCache's parse of `policy`
    std::vector<MaterialRecord> materials;  // oldest first; the last one is current
    // What the key keeps across the versions of its record (KeySlot): one per key, which the
    // Catalog attaches when it publishes the record and every later version shares. A request
    // records its use through the record it already holds (no lookup by name). Set only before
    // the record is published.
    mutable std::shared_ptr<KeySlot> slot;
    // The name, which KeyIndex's lookup compares: in the lines the request reads anyway, so
    // finding the key costs no line of its own (only the key ID's text, which KeyIndex's slot
    // starts loading together with these lines).
    std::string account;
    std::string region;
    std::string key_id;
    std::string arn;
    // A key in a custom key store (Origin AWS_CLOUDHSM): the store's ID. The store's cluster and
    // whether the store is connected (store_disconnected) are the store's; the Catalog copies
    // them here whenever it publishes the key or the store (never stored with the key).
    std::string custom_key_store_id;
    // A key in an external key store (Origin EXTERNAL_KEY_STORE): its XksKeyId, the external key
    // its store's proxy encrypts with (the outer layer of its ciphertexts).
    std::string xks_key_id;
    // The rest: read by DescribeKey, ListKeys and the like.
    SharedText origin = DefaultText::Origin();
    double creation_date = 0;
    std::string description;
    std::optional<double> deletion_date;
    Tags tags;
    std::optional<double> next_rotation_date;  // set while rotation is enabled
    SharedText primary_region;                 // multi_region only
    std::string cloudhsm_cluster_id;

    // PendingDeletion, or PendingReplicaDeletion (a primary waiting for its replicas to go).
    bool pending_deletion() const {
        return state == KeyState::kPendingDeletion || state == KeyState::kPendingReplicaDeletion;
    }
    // KeyState Unavailable: in a custom key store that is not connected (a key pending deletion
    // stays PendingDeletion, as AWS shows it).
    bool unavailable() const { return store_disconnected && !pending_deletion(); }
    bool is_primary() const { return multi_region && primary_region == region; }
    bool is_replica() const { return multi_region && primary_region != region; }

    ScopedName scoped() const { return {account, region, key_id}; }
    ScopedNameRef name() const { return {account, region, key_id}; }  // without copies
    // The material in use: the newest one not waiting for rotation. Null for a key without
    // material (an EXTERNAL key before its first import, or a damaged database).
    const MaterialRecord* current_material() const {
        for (auto it = materials.rbegin(); it != materials.rend(); ++it)
            if (!it->pending_rotation) return &*it;
        return nullptr;
    }
    // "" when there is none: the HSM then finds no sealed material and the operation fails with
    // KMSInternalException (its state keeps an EXTERNAL key from getting that far).
    const std::string& current_material_id() const {
        static const std::string kNone;
        const MaterialRecord* m = current_material();
        return m == nullptr ? kNone : m->material_id;
    }
    const MaterialRecord* FindMaterial(const std::string& material_id) const {
        for (const auto& m : materials)
            if (m.material_id == material_id) return &m;
        return nullptr;
    }
};

// With make_shared's 16-byte header, a record fits jemalloc's 512-byte class (the next is 640):
// a field added past that costs 128 bytes per key; pack it with the others or make room.
static_assert(sizeof(KeyRecord) + 16 <= 512, "KeyRecord outgrew the allocator's 512-byte class");
// The fields a request reads stay within the first five cache lines (see above).
inline constexpr std::size_t kRequestBytes = 5 * 64;
static_assert(offsetof(KeyRecord, xks_key_id) + sizeof(std::string) <= kRequestBytes,
              "a field read by every request moved past the record's fifth cache line");

struct AliasRecord {
    std::string account;
    std::string region;
    std::string alias_name;  // "alias/..."
    std::string key_id;
    double creation_date = 0;
    double last_updated = 0;

    ScopedName scoped() const { return {account, region, alias_name}; }
};

// A custom key store (CreateCustomKeyStore). Immutable once published.
struct CustomKeyStoreRecord {
    std::string store_id;  // cks- and 17 hex digits
    std::string account;
    std::string region;
    std::string name;
    std::string type = "AWS_CLOUDHSM";  // or EXTERNAL_KEY_STORE
    double creation_date = 0;
    std::string connection_state = "DISCONNECTED";
    std::string connection_error_code;  // only while FAILED
    std::optional<double> state_due;    // when CONNECTING ends (KMS time)
    // AWS_CLOUDHSM:
    std::string cluster_id;
    std::string trust_anchor;     // the PEM text CreateCustomKeyStore was given
    std::string password_digest;  // of the kmsuser password (api/custom_key_stores.h)
    std::string config;           // EXTERNAL_KEY_STORE's settings (JSON)

    bool connected() const { return connection_state == "CONNECTED"; }
};

// A simulated CloudHSM cluster that custom key stores connect to (declared by the admin
// endpoint or the seed file: kmsd cannot see real ones).
struct CloudHsmClusterRecord {
    std::string account;
    std::string region;
    std::string cluster_id;
    std::string trust_anchor;     // PEM of the cluster's trust anchor certificate
    std::string password_digest;  // of kmsuser's password
    int hsm_count = 2;
    std::string state = "ACTIVE";  // CloudHSM's cluster states; only ACTIVE connects
    std::string lineage;           // clusters made from each other's backups share it
    std::string connection_error;  // a ConnectionErrorCode every connection attempt fails with

    ScopedName scoped() const { return {account, region, cluster_id}; }
};

// The last successful cryptographic use of a key (GetKeyLastUsage).
struct UsageRecord {
    ScopedName key;         // empty when `slot` is set: the slot's own key is the name
    std::string operation;  // Encrypt, Decrypt, ...
    double timestamp = 0;
    std::string event_id;    // CloudTrail event ID
    std::string request_id;  // x-amzn-RequestId of the call
    // Where a flush took it from: the write then knows a deleted key by its slot, not by looking
    // its name up. Null for a record read from SQLite.
    const KeySlot* slot = nullptr;
};

// What stays the same across the versions of a key's record, shared by all of them.
// - Its name, the one copy the Catalog's indexes point at (its ordered map's keys and the owners
//   of material IDs), so 100,000 keys do not keep three more copies of their names.
// - Its last successful cryptographic use since startup: written by the request that used the
//   key (api::UsageTracker::Record), read by GetKeyLastUsage and by the flush that writes it to
//   SQLite every second.
struct KeySlot {
    explicit KeySlot(ScopedName name) : key(std::move(name)) {}

    // What a request writes comes first, the request ID inline: a request under a random key of
    // many then touches one or two cold lines here, not those and a string's buffer elsewhere.
    SpinLock mu;  // held to copy the fields below (a std::mutex is 40 bytes, this one 1)
    // Under mu:
    bool dirty = false;  // changed since the flush last took it; the tracker lists it once
    std::uint8_t request_id_size = 0;
    const char* operation = nullptr;  // the operation's name (a literal); null until first used
    double timestamp = 0;
    char request_id[36] = {};  // x-amzn-RequestId of the call: a UUID (kmsd makes them)
    std::string_view RequestId() const { return {request_id, request_id_size}; }
    // Keeps the first 36 characters (all of a UUID's).
    void SetRequestId(std::string_view id) {
        request_id_size = static_cast<std::uint8_t>(std::min(id.size(), sizeof request_id));
        std::memcpy(request_id, id.data(), request_id_size);
    }

    // Set when the key is deleted, under the Catalog's writer lock, and read under it by the
    // write of a flush that took the slot before: usage of a key that is gone is dropped.
    bool deleted = false;
    // The key's rowid in SQLite, the usage row's key: set when the key is loaded, or by the
    // first flush of a key made since (0 until then). Atomic: the flush sorts by it before it
    // takes the Catalog's writer lock.
    mutable std::atomic<std::int64_t> row{0};
    const ScopedName key;
};

// All of a usage slot's lines (a flush reads the usage, the rowid and the key's name).
inline void PrefetchSlot(const KeySlot* slot) {
    const char* at = reinterpret_cast<const char*>(slot);
    for (std::size_t offset = 0; offset < sizeof(KeySlot); offset += 64) Prefetch(at + offset);
    Prefetch(at + sizeof(KeySlot) - 1);
}
// The record's first kRequestBytes, whichever lines of its allocation they fall in.
inline void PrefetchRequestLines(const KeyRecord& key) {
    const char* record = reinterpret_cast<const char*>(&key);
    for (std::size_t at = 0; at < kRequestBytes; at += 64) Prefetch(record + at);
    Prefetch(record + kRequestBytes - 1);
}

// A grant on a key (CreateGrant). Immutable; retiring or revoking deletes it.
struct GrantRecord {
    ScopedName key;
    std::string grant_id;  // 64 lower-case hex
    std::string name;      // "" when CreateGrant had no Name
    double creation_date = 0;
    std::string grantee_principal;
    std::string retiring_principal;  // "" when none
    std::string issuing_account;     // arn:aws:iam::<acct>:root
    std::vector<std::string> operations;
    std::string constraint_type;  // "", EncryptionContextEquals or EncryptionContextSubset
    std::vector<std::pair<std::string, std::string>> constraint_context;  // sorted by key
    std::int64_t seq = 0;  // creation order, for stable listing (set by the Catalog)
};

// A material row to insert or update alongside a key row: its metadata and sealed bytes.
struct NewMaterial {
    ScopedName key;
    MaterialRecord record;
    std::vector<unsigned char> sealed;  // empty: none (deleted or expired imported material)
    bool keep_sealed = false;           // update the metadata only, keep the stored bytes
};

}  // namespace kmsd::storage
