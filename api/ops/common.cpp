#include "api/ops/common.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>

#include "api/authorize.h"
#include "api/policy_format.h"
#include "common/base64.h"

namespace kmsd::api::ops {

namespace {
constexpr std::size_t kMaxContextBytes = 8192;
constexpr std::size_t kMaxTagsPerKey = 50;

bool StartsWithAwsPrefix(const std::string& key) {
    if (key.size() < 4) return false;
    std::string head = key.substr(0, 4);
    for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return head == "aws:";
}
}  // namespace

Json BlobJson(ByteView bytes) { return Json(Base64EncodeSecure(bytes)); }

Json SecretJson(const SecureBytes& bytes) { return Json(Base64EncodeSecure(bytes)); }

double Timestamp(double seconds) { return std::floor(seconds * 1000.0) / 1000.0; }

namespace {
// An EXTERNAL key's ExpirationModel and ValidTo: over the materials it holds for good (not one
// waiting for rotation), KEY_MATERIAL_EXPIRES with the earliest ValidTo when any expires.
// Absent while none is imported.
void AddExpiration(const storage::KeyRecord& key, Json& m) {
    bool imported = false;
    std::optional<double> earliest;
    for (const auto& mat : key.materials) {
        if (mat.pending_rotation || !mat.imported()) continue;
        imported = true;
        if (mat.valid_to && (!earliest || *mat.valid_to < *earliest)) earliest = mat.valid_to;
    }
    if (!imported) return;
    m["ExpirationModel"] = earliest ? "KEY_MATERIAL_EXPIRES" : "KEY_MATERIAL_DOES_NOT_EXPIRE";
    if (earliest) m["ValidTo"] = Timestamp(*earliest);
}
}  // namespace

std::vector<storage::KeyPtr> MembersOf(const OpContext& ctx, const storage::KeyRecord& key) {
    if (!key.multi_region) return {};
    return ctx.services.catalog.MultiRegionMembers(key.account, key.key_id);
}

namespace {
// MultiRegionConfiguration: the primary and every replica, by ARN and Region (a replica lists
// itself among the replicas, as AWS does).
Json MultiRegionConfiguration(const storage::KeyRecord& key,
                              const std::vector<storage::KeyPtr>& members) {
    auto entry = [](const storage::KeyRecord& k) {
        return Json{{"Arn", Str(k.arn)}, {"Region", Str(k.region)}};
    };
    Json config = Json::object();
    config["MultiRegionKeyType"] = key.is_primary() ? "PRIMARY" : "REPLICA";
    Json replicas = Json::array();
    for (const auto& m : members) {
        const storage::KeyRecord& k = m->scoped() == key.scoped() ? key : *m;
        if (k.is_primary())
            config["PrimaryKey"] = entry(k);
        else
            replicas.push_back(entry(k));
    }
    if (!config.contains("PrimaryKey"))  // the primary is gone (deleted before its replicas)
        config["PrimaryKey"] =
            Json{{"Arn", Str(KeyArn(key.primary_region, key.account, key.key_id))},
                 {"Region", Str(key.primary_region)}};
    config["ReplicaKeys"] = std::move(replicas);
    return config;
}
}  // namespace

Result<storage::StorePtr> CallerKeyStore(const OpContext& ctx, const std::string& id) {
    auto store = ctx.services.catalog.FindStore(id);
    if (!store || store->account != ctx.caller.account || store->region != ctx.caller.region)
        return Error(ErrorCode::kCustomKeyStoreNotFound,
                     "Custom key store " + id + " does not exist.");
    return store;
}

std::string StorePartition(const std::string& store_id) { return "custom-key-store:" + store_id; }

namespace {

hsm::KeyRef RefTo(const storage::KeyRecord& key, const std::string& material_id,
                  const RecordMemo* memo) {
    hsm::KeyRef ref{key.arn, material_id, key.key_spec,
                    key.custom_key_store_id.empty() ? "" : StorePartition(key.custom_key_store_id)};
    ref.memo = memo;
    return ref;
}

}  // namespace

hsm::KeyRef RefOf(const storage::KeyRecord& key, const std::string& material_id) {
    const RecordMemo* memo = nullptr;
    for (const auto& m : key.materials)
        if (m.material_id == material_id) memo = &m.unsealed;
    return RefTo(key, material_id, memo);
}

hsm::KeyRef RefOf(const storage::KeyRecord& key) {
    // The current material itself, not a search by its ID: under a random key, comparing its 64
    // characters is a cache miss of its own.
    const storage::MaterialRecord* current = key.current_material();
    if (current == nullptr) return RefTo(key, "", nullptr);
    // The entry is here (FindKey asked for it); what it points at is not: the ID's text, which
    // RefTo copies, and the unsealed material, which the HSM reads next. Asked for together, the
    // two misses overlap.
    Prefetch(current->material_id.data());
    current->unsealed.PrefetchValue();
    return RefTo(key, current->material_id, &current->unsealed);
}

Json KeyMetadata(const storage::KeyRecord& key, const std::vector<storage::KeyPtr>& members) {
    Json m = Json::object();
    m["AWSAccountId"] = Str(key.account);
    m["Arn"] = Str(key.arn);
    if (!key.cloudhsm_cluster_id.empty()) m["CloudHsmClusterId"] = Str(key.cloudhsm_cluster_id);
    m["CreationDate"] = Timestamp(key.creation_date);
    if (!key.custom_key_store_id.empty()) m["CustomKeyStoreId"] = Str(key.custom_key_store_id);
    m["CustomerMasterKeySpec"] = Str(key.key_spec);
    m["Description"] = Str(key.description);
    m["Enabled"] = key.state == storage::KeyState::kEnabled;
    // The algorithms of the key's usage, in AWS's order (hsm/keyspec.cpp).
    if (const hsm::KeySpecInfo* spec = hsm::FindKeySpec(key.key_spec)) {
        auto list = [](std::span<const std::string_view> algs) {
            Json out = Json::array();
            for (auto a : algs) out.push_back(std::string(a));
            return out;
        };
        if (key.key_usage == "ENCRYPT_DECRYPT") m["EncryptionAlgorithms"] = list(spec->encryption);
        if (key.key_usage == "SIGN_VERIFY") m["SigningAlgorithms"] = list(spec->signing);
        if (key.key_usage == "GENERATE_VERIFY_MAC") m["MacAlgorithms"] = list(spec->mac);
        if (key.key_usage == "KEY_AGREEMENT") m["KeyAgreementAlgorithms"] = Json::array({"ECDH"});
    }
    m["KeyId"] = Str(key.key_id);
    m["KeyManager"] = key.aws_managed ? "AWS" : "CUSTOMER";
    m["KeySpec"] = Str(key.key_spec);
    m["KeyState"] = key.unavailable() ? "Unavailable" : storage::KeyStateName(key.state);
    m["KeyUsage"] = Str(key.key_usage);
    m["MultiRegion"] = key.multi_region;
    if (key.multi_region) m["MultiRegionConfiguration"] = MultiRegionConfiguration(key, members);
    m["Origin"] = Str(key.origin);
    if (!key.xks_key_id.empty()) {
        Json xks = Json::object();
        xks["Id"] = Str(key.xks_key_id);
        m["XksKeyConfiguration"] = std::move(xks);
    }
    // Only symmetric encryption keys have (rotating) key material IDs (kms-reference §9.3).
    if (key.key_spec == "SYMMETRIC_DEFAULT" && key.current_material())
        m["CurrentKeyMaterialId"] = Str(key.current_material_id());
    if (key.deletion_date) m["DeletionDate"] = Timestamp(*key.deletion_date);
    // A primary waiting for its replicas: the waiting period has not started yet.
    if (key.state == storage::KeyState::kPendingReplicaDeletion)
        m["PendingDeletionWindowInDays"] = key.pending_window_days;
    if (key.origin == "EXTERNAL") AddExpiration(key, m);
    return m;
}

Result<storage::KeyPtr> MutateKey(OpContext& ctx, const storage::KeyRecord& key,
                                  const std::function<Status(storage::KeyRecord&)>& mutate) {
    return MutateKey(ctx, key, [&](storage::KeyRecord& k, storage::Change&) { return mutate(k); });
}

Result<storage::KeyPtr> MutateKey(
    OpContext& ctx, const storage::KeyRecord& key,
    const std::function<Status(storage::KeyRecord&, storage::Change&)>& mutate) {
    storage::KeyPtr committed;
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        storage::KeyPtr current = ctx.services.catalog.FindKey(key.scoped());
        if (!current) return Error(ErrorCode::kNotFound, "Key '" + key.arn + "' does not exist");
        KMSD_RETURN_IF_ERROR(ctx.CheckKey(*current));
        auto next = std::make_shared<storage::KeyRecord>(*current);
        storage::Change change;
        KMSD_RETURN_IF_ERROR(mutate(*next, change));
        committed = next;
        change.put_keys.push_back(std::move(next));
        return change;
    }));
    return committed;
}

Status CheckNewKeyPolicy(const OpContext& ctx, const storage::KeyRecord& key, bool bypass_lockout) {
    KMSD_RETURN_IF_ERROR(CheckKeyPolicy(key.policy, ctx.services.principal_exists));
    if (bypass_lockout || AuthorizeKey(ctx, key, "PutKeyPolicy").ok()) return Status::Ok();
    return Error(ErrorCode::kMalformedPolicy,
                 "The new key policy will not allow you to update the key policy in the future.");
}

Status CheckKeySpecUsage(const std::string& spec, const std::optional<std::string>& usage,
                         const std::string& region, std::string& key_usage) {
    if (spec != "SYMMETRIC_DEFAULT" && !usage)
        return Error(ErrorCode::kValidation,
                     "You must specify a KeyUsage value for all KMS keys except for symmetric "
                     "encryption keys.");
    key_usage = usage.value_or("ENCRYPT_DECRYPT");
    const hsm::KeySpecInfo* info = hsm::FindKeySpec(spec);
    if (info == nullptr || !hsm::AllowsUsage(*info, key_usage))
        return Error(ErrorCode::kValidation,
                     "KeyUsage " + key_usage + " is not compatible with KeySpec " + spec);
    // AWS offers SM2 only in the China Regions (README: compatibility).
    if (info->family == hsm::KeyFamily::kSm2 && region.rfind("cn-", 0) != 0)
        return Error(ErrorCode::kValidation,
                     "KeySpec SM2 is supported only in the China Regions (cn-north-1, "
                     "cn-northwest-1).");
    if (!hsm::Implemented(*info))
        return Error(ErrorCode::kUnsupportedOperation,
                     "KeySpec " + spec +
                         " needs OpenSSL 3.5 or later (ML-DSA); this kmsd is built with OpenSSL "
                         "3.0 and does not support it.");
    return Status::Ok();
}

Status RequireOrigin(const storage::KeyRecord& key, std::string_view origin) {
    if (key.origin == origin) return Status::Ok();
    return Error(ErrorCode::kUnsupportedOperation,
                 key.arn + " origin is " + key.origin + " which is not valid for this operation.");
}

Status DryRunGate(const Request& req) {
    if (req.Bool("DryRun"))
        return Error(ErrorCode::kDryRun,
                     "The request would have succeeded, but the DryRun option is set.");
    return Status::Ok();
}

Result<hsm::EncryptionContext> EncryptionContextOf(const Request& req, const char* member) {
    hsm::EncryptionContext ctx;
    if (!req.Has(member)) return ctx;
    std::size_t total = 0;
    const Json& obj = req.At(member);
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        if (!it.value().is_string())
            return Error(ErrorCode::kSerialization, "EncryptionContext values must be strings");
        std::string value = ToStd(it.value().get_ref<const SecureString&>());
        total += it.key().size() + value.size();
        ctx.emplace(ToStd(it.key()), std::move(value));
    }
    if (total > kMaxContextBytes)
        return Error(ErrorCode::kValidation,
                     "Encryption context exceeds the maximum size of 8192 bytes.");
    return ctx;
}

Status IncompatibleAlgorithm(const storage::KeyRecord& key, std::string_view algorithm) {
    return Error(ErrorCode::kInvalidKeyUsage, "Algorithm " + std::string(algorithm) +
                                                  " is incompatible with key spec " + key.key_spec +
                                                  ".");
}

const hsm::KeySpecInfo& SpecOf(const storage::KeyRecord& key) {
    // Every stored key's spec is one CreateKey accepted; an unknown one (a damaged database)
    // gets no algorithms.
    static const hsm::KeySpecInfo kUnknown{
        "", hsm::KeyFamily::kSymmetric, 0, nullptr, {}, {}, {}, {}, false};
    const hsm::KeySpecInfo* spec = hsm::FindKeySpec(key.key_spec);
    return spec != nullptr ? *spec : kUnknown;
}

Result<const hsm::EncryptionAlgorithmInfo*> EncryptionAlgorithmOf(const storage::KeyRecord& key,
                                                                  const Request& req,
                                                                  const char* member) {
    const std::string_view alg = req.StringView(member, "SYMMETRIC_DEFAULT");
    const hsm::EncryptionAlgorithmInfo* info = hsm::FindEncryptionAlgorithm(alg);
    if (info == nullptr || !hsm::Lists(SpecOf(key).encryption, alg))
        return IncompatibleAlgorithm(key, alg);
    return info;
}

std::size_t PageLimit(const Request& req, std::size_t fallback, std::size_t max) {
    auto limit = req.OptInt("Limit");
    if (!limit) return fallback;
    return std::min<std::size_t>(static_cast<std::size_t>(*limit), max);
}

Json PageResponse(const char* member, Json items, const std::string& next_marker) {
    Json out = Json::object();
    out[member] = std::move(items);
    out["Truncated"] = !next_marker.empty();
    if (!next_marker.empty()) out["NextMarker"] = Str(next_marker);
    return out;
}

std::string EncodeMarker(std::string_view list, std::string_view last_key) {
    std::string plain = "kmsd1:" + std::string(list) + ":" + std::string(last_key);
    return Base64Encode(View(plain));
}

Result<std::optional<std::string>> DecodeMarker(const Request& req, std::string_view list) {
    if (!req.Has("Marker")) return std::optional<std::string>();
    auto decoded = Base64Decode(req.String("Marker"));
    const std::string prefix = "kmsd1:" + std::string(list) + ":";
    if (!decoded || decoded->size() < prefix.size() ||
        std::memcmp(decoded->data(), prefix.data(), prefix.size()) != 0)
        return Error(ErrorCode::kInvalidMarker, "Invalid marker");
    return std::optional<std::string>(
        std::string(decoded->begin() + prefix.size(), decoded->end()));
}

std::string TimeSortKey(double seconds) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%020.6f", seconds < 0 ? 0.0 : seconds);
    return buf;
}

Status MergeTags(storage::Tags& tags, const Json& new_tags) {
    std::set<std::string> seen;
    storage::Tags incoming;
    for (const auto& t : new_tags) {
        std::string key = ToStd(t.at("TagKey").get_ref<const SecureString&>());
        std::string value = ToStd(t.at("TagValue").get_ref<const SecureString&>());
        if (StartsWithAwsPrefix(key))
            return Error(ErrorCode::kTag, "Tags beginning with aws: are reserved");
        if (!seen.insert(key).second) return Error(ErrorCode::kTag, "Duplicate tag keys");
        incoming.emplace_back(std::move(key), std::move(value));
    }
    storage::Tags merged = tags;
    for (const auto& tag : incoming) {
        auto it = std::find_if(merged.begin(), merged.end(),
                               [&](const auto& existing) { return existing.first == tag.first; });
        if (it != merged.end())
            it->second = tag.second;  // re-tagging overwrites, as in AWS
        else
            merged.push_back(tag);
    }
    if (merged.size() > kMaxTagsPerKey) return Error(ErrorCode::kTag, "Too many tags");
    tags = std::move(merged);
    return Status::Ok();
}

}  // namespace kmsd::api::ops
