// Shared pieces of the operations: the handler signature, KeyMetadata, key mutation under the
// Catalog's writer, DryRun, encryption contexts, pagination. Every operation is one function
// declared here and defined in the ops/ file of its family.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/context.h"
#include "api/json.h"
#include "api/request.h"
#include "api/resolve.h"
#include "hsm/keyspec.h"

namespace kmsd::api::ops {

using Handler = api::Handler;

// Timestamps go out as epoch seconds with millisecond fractions, as AWS's do.
double Timestamp(double seconds);

// How the HSM names `key`'s material `material_id` (by default the current one): with the
// partition of its custom key store, if it is in one.
hsm::KeyRef RefOf(const storage::KeyRecord& key, const std::string& material_id);
hsm::KeyRef RefOf(const storage::KeyRecord& key);
// The caller's custom key store `id` (another account's or Region's is not found, as AWS
// answers: CustomKeyStoreNotFoundException).
Result<storage::StorePtr> CallerKeyStore(const OpContext& ctx, const std::string& id);
// The HSM partition of the keys of custom key store `store_id`.
std::string StorePartition(const std::string& store_id);

// KeyMetadata as DescribeKey returns it. `members` are a multi-Region key's members (its
// MultiRegionConfiguration); MembersOf gives them.
Json KeyMetadata(const storage::KeyRecord& key, const std::vector<storage::KeyPtr>& members = {});
std::vector<storage::KeyPtr> MembersOf(const OpContext& ctx, const storage::KeyRecord& key);

// Changes the route's key, already resolved and authorized (ctx.Key()): re-reads it under the
// Catalog's writer by its scoped ID, applies the route's state and kind rules to that record
// (another request may have changed it meanwhile), lets `mutate` change a copy and commits it.
// Returns the committed record.
Result<storage::KeyPtr> MutateKey(OpContext& ctx, const storage::KeyRecord& key,
                                  const std::function<Status(storage::KeyRecord&)>& mutate);
// The same, for a change that also writes rows besides the key's (key material).
Result<storage::KeyPtr> MutateKey(
    OpContext& ctx, const storage::KeyRecord& key,
    const std::function<Status(storage::KeyRecord&, storage::Change&)>& mutate);

// Validates the policy of `key` (which carries the new policy text) for CreateKey/PutKeyPolicy,
// then, unless `bypass_lockout`, runs AWS's lockout safety check: the caller must still be
// allowed kms:PutKeyPolicy under it (kms-reference §6.3).
Status CheckNewKeyPolicy(const OpContext& ctx, const storage::KeyRecord& key, bool bypass_lockout);

// DryRunOperationException when the request set DryRun and everything else would succeed.
Status DryRunGate(const Request& req);

// The EncryptionContext member (absent ≡ {}), capped at 8 KiB serialized.
Result<hsm::EncryptionContext> EncryptionContextOf(const Request& req, const char* member);

// Base64 of bytes as a JSON string; SecretJson for secrets (plaintext, data keys, private
// keys), whose encoded copy is wiped.
Json BlobJson(ByteView bytes);
Json SecretJson(const SecureBytes& bytes);

// The key spec's table entry (hsm/keyspec.h).
const hsm::KeySpecInfo& SpecOf(const storage::KeyRecord& key);
// InvalidKeyUsageException "Algorithm <ALG> is incompatible with key spec <SPEC>." ([S]).
Status IncompatibleAlgorithm(const storage::KeyRecord& key, std::string_view algorithm);
// The EncryptionAlgorithm `member` names (default SYMMETRIC_DEFAULT), one the key's spec lists.
Result<const hsm::EncryptionAlgorithmInfo*> EncryptionAlgorithmOf(const storage::KeyRecord& key,
                                                                  const Request& req,
                                                                  const char* member);

// Page limit from the Limit member: default when absent, clamped to `max`.
std::size_t PageLimit(const Request& req, std::size_t fallback, std::size_t max);

// Markers are opaque, as AWS's are, and name where the last page ended: the list they belong to
// and the sort key of the last entry returned. The next page starts at the first entry whose key
// sorts after it, so a paginator that deletes or adds as it goes neither skips nor repeats
// entries nor fails (a marker whose entry is gone still says where to resume).
std::string EncodeMarker(std::string_view list, std::string_view last_key);
// The sort key in the request's Marker, nullopt when there is none; InvalidMarkerException
// ("Invalid marker") for anything kmsd did not issue for `list`.
Result<std::optional<std::string>> DecodeMarker(const Request& req, std::string_view list);

// A list response: {<member>: items, Truncated, NextMarker only when truncated}, the shape of
// every KMS list operation (kms-reference §1.7). `next_marker` empty means complete.
Json PageResponse(const char* member, Json items, const std::string& next_marker);

// One page of `sorted` (ascending by `key_of`, a string whose byte order is the list's order):
// the entries after the request's Marker, at most `limit`, each rendered by `entry`.
template <typename T, typename KeyOf, typename Entry>
Result<Json> SortedPage(const Request& req, std::string_view list, const char* member,
                        const std::vector<T>& sorted, std::size_t limit, const KeyOf& key_of,
                        const Entry& entry) {
    KMSD_ASSIGN_OR_RETURN(std::optional<std::string> after, DecodeMarker(req, list));
    std::size_t i = 0;
    if (after) {
        // Binary search: the first entry past the marker's key.
        std::size_t lo = 0, hi = sorted.size();
        while (lo < hi) {
            const std::size_t mid = lo + (hi - lo) / 2;
            if (key_of(sorted[mid]) <= *after)
                lo = mid + 1;
            else
                hi = mid;
        }
        i = lo;
    }
    Json items = Json::array();
    for (; i < sorted.size() && items.size() < limit; ++i) items.push_back(entry(sorted[i]));
    return PageResponse(
        member, std::move(items),
        i < sorted.size() && i > 0 ? EncodeMarker(list, key_of(sorted[i - 1])) : "");
}

// A sort key for a timestamp: fixed width, so byte order is time order.
std::string TimeSortKey(double seconds);

// CreateKey's KeySpec/KeyUsage rules (kms-reference §3.1): KeyUsage is required except for
// symmetric keys, must suit the spec; SM2 only in cn-* Regions; ML-DSA not in this build.
// Sets `key_usage` (ENCRYPT_DECRYPT by default).
Status CheckKeySpecUsage(const std::string& spec, const std::optional<std::string>& usage,
                         const std::string& region, std::string& key_usage);

// UnsupportedOperationException "<ARN> origin is <ORIGIN> which is not valid for this
// operation." unless the key's origin is `origin` (kms-reference §5.2 AWSO/EXT).
Status RequireOrigin(const storage::KeyRecord& key, std::string_view origin);

// Tag edits shared by CreateKey and TagResource: TagException for aws: prefixes, duplicates and
// more than 50 tags. `tags` is updated in place (existing keys overwritten).
Status MergeTags(storage::Tags& tags, const Json& new_tags);

// A grant on `key` as CreateGrant's members in `req` describe it (Operations valid for the key,
// Constraints, Name, GranteePrincipal, RetiringPrincipal), issued by `issuer` at `now`.
// ValidationException as CreateGrant gives it. Shared by CreateGrant and seed files.
Result<std::shared_ptr<storage::GrantRecord>> NewGrant(const storage::KeyRecord& key,
                                                       const Request& req,
                                                       const std::string& issuer, double now,
                                                       std::string grant_id);

// Operations.
Result<Json> CreateKey(OpContext&, const Request&);
Result<Json> DescribeKey(OpContext&, const Request&);
Result<Json> ListKeys(OpContext&, const Request&);
Result<Json> EnableKey(OpContext&, const Request&);
Result<Json> DisableKey(OpContext&, const Request&);
Result<Json> ScheduleKeyDeletion(OpContext&, const Request&);
Result<Json> CancelKeyDeletion(OpContext&, const Request&);
Result<Json> UpdateKeyDescription(OpContext&, const Request&);
Result<Json> CreateAlias(OpContext&, const Request&);
Result<Json> UpdateAlias(OpContext&, const Request&);
Result<Json> DeleteAlias(OpContext&, const Request&);
Result<Json> ListAliases(OpContext&, const Request&);
Result<Json> TagResource(OpContext&, const Request&);
Result<Json> UntagResource(OpContext&, const Request&);
Result<Json> ListResourceTags(OpContext&, const Request&);
Result<Json> Encrypt(OpContext&, const Request&);
Result<Json> Decrypt(OpContext&, const Request&);
Result<Json> ReEncrypt(OpContext&, const Request&);
Result<Json> GenerateDataKey(OpContext&, const Request&);
Result<Json> GenerateDataKeyWithoutPlaintext(OpContext&, const Request&);
Result<Json> GenerateRandom(OpContext&, const Request&);
Result<Json> GetKeyPolicy(OpContext&, const Request&);
Result<Json> PutKeyPolicy(OpContext&, const Request&);
Result<Json> ListKeyPolicies(OpContext&, const Request&);
Result<Json> EnableKeyRotation(OpContext&, const Request&);
Result<Json> DisableKeyRotation(OpContext&, const Request&);
Result<Json> GetKeyRotationStatus(OpContext&, const Request&);
Result<Json> RotateKeyOnDemand(OpContext&, const Request&);
Result<Json> ListKeyRotations(OpContext&, const Request&);
Result<Json> GenerateDataKeyPair(OpContext&, const Request&);
Result<Json> GenerateDataKeyPairWithoutPlaintext(OpContext&, const Request&);
Result<Json> GetPublicKey(OpContext&, const Request&);
Result<Json> Sign(OpContext&, const Request&);
Result<Json> Verify(OpContext&, const Request&);
Result<Json> GenerateMac(OpContext&, const Request&);
Result<Json> VerifyMac(OpContext&, const Request&);
Result<Json> DeriveSharedSecret(OpContext&, const Request&);
Result<Json> GetKeyLastUsage(OpContext&, const Request&);
Result<Json> GetParametersForImport(OpContext&, const Request&);
Result<Json> ReplicateKey(OpContext&, const Request&);
Result<Json> UpdatePrimaryRegion(OpContext&, const Request&);
Result<Json> ImportKeyMaterial(OpContext&, const Request&);
Result<Json> DeleteImportedKeyMaterial(OpContext&, const Request&);
Result<Json> CreateGrant(OpContext&, const Request&);
Result<Json> CreateCustomKeyStore(OpContext&, const Request&);
Result<Json> DescribeCustomKeyStores(OpContext&, const Request&);
Result<Json> UpdateCustomKeyStore(OpContext&, const Request&);
Result<Json> ConnectCustomKeyStore(OpContext&, const Request&);
Result<Json> DisconnectCustomKeyStore(OpContext&, const Request&);
Result<Json> DeleteCustomKeyStore(OpContext&, const Request&);
Result<Json> ListGrants(OpContext&, const Request&);
Result<Json> ListRetirableGrants(OpContext&, const Request&);
Result<Json> RetireGrant(OpContext&, const Request&);
Result<Json> RevokeGrant(OpContext&, const Request&);

}  // namespace kmsd::api::ops
