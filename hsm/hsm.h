// Hsm: the only door to key material (design.md §4). Callers name keys by KeyRef (key ARN,
// material ID, key spec) and never hold root key bytes; the doors out are the ones KMS defines
// (data keys, decrypted plaintext). Root keys are sealed under a key derived from the master key;
// unsealed material lives in a cache of SecureBytes, filled on first use.
// Thread-safe: every method may be called concurrently.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/secure_bytes.h"
#include "common/status.h"
#include "hsm/blob.h"
#include "hsm/sealed_key_store.h"

namespace kmsd::hsm {

// Sorted map, so iteration gives the canonical (byte-wise) order of the pairs.
using EncryptionContext = std::map<std::string, std::string>;

struct KeyRef {
    std::string arn;
    std::string material_id;  // 64 lower-case hex
    std::string key_spec;     // e.g. SYMMETRIC_DEFAULT
};

struct SealedMaterial {
    std::string material_id;
    Bytes sealed;
};

struct DataKey {
    SecureBytes plaintext;
    Bytes ciphertext_blob;
};

class Hsm {
public:
    // `master_key` must be 32 bytes. `store` must outlive the Hsm (it may be set later).
    static Result<std::unique_ptr<Hsm>> New(const SecureBytes& master_key);
    void set_store(const SealedKeyStore* store) { store_ = store; }

    // Generates new root key material for `ref.arn`/`ref.key_spec` and returns it sealed.
    Result<SealedMaterial> GenerateKey(const std::string& arn, const std::string& key_spec);

    // Seals caller-supplied symmetric material (a seed file's backing key). The material ID is a
    // one-way function of the key ARN and the material, so two kmsd instances seeded alike name
    // the material alike and decrypt each other's blobs.
    Result<SealedMaterial> ImportKey(const std::string& arn, const std::string& key_spec,
                                     ByteView material);

    // Symmetric encryption into AWS's blob format.
    Result<Bytes> Encrypt(const KeyRef& ref, ByteView plaintext, const EncryptionContext& ctx,
                          BlobKind kind = BlobKind::kEncrypt);
    // Decrypts a blob made with `ref`'s material. Any failure is kInvalidCiphertext, no detail.
    Result<SecureBytes> Decrypt(const KeyRef& ref, ByteView blob, const EncryptionContext& ctx);
    // A fresh random data key and its blob under `ref`.
    Result<DataKey> GenerateDataKey(const KeyRef& ref, std::size_t bytes,
                                    const EncryptionContext& ctx);

    // The material ID named in a blob's clear header (Decrypt without KeyId needs it).
    static Result<std::string> BlobMaterialId(ByteView blob);

    // A sealed check value, and its verification: detects a wrong master key at startup.
    Result<Bytes> MakeCheckValue();
    Status VerifyCheckValue(ByteView check) const;

    // Grant tokens (design.md §5): opaque, self-verifying strings naming a grant: a MAC under a
    // key derived from the master key over the grant ID, the issue time and a nonce, so every
    // CreateGrant, including an idempotent repeat, returns a fresh token.
    std::string IssueGrantToken(const std::string& grant_id, double issued_at) const;
    // The grant ID a token names, or nullopt when it is not a token this HSM issued.
    std::optional<std::string> VerifyGrantToken(std::string_view token) const;

    // Drops unsealed material from the cache (disable, deletion, shutdown).
    void Evict(const std::string& material_id);
    void EvictAll();

    // Canonical, unambiguous encoding of an encryption context (count, then length-prefixed
    // keys and values in sorted order). Exposed for tests.
    static Bytes EncodeContext(const EncryptionContext& ctx);

private:
    Hsm(SecureBytes sealing_key, SecureBytes token_key)
        : sealing_key_(std::move(sealing_key)), token_key_(std::move(token_key)) {}
    Result<std::shared_ptr<const SecureBytes>> Material(const KeyRef& ref);
    // The cached material sealed for exactly `ref` (ARN, material ID and spec); cache_mu_ held.
    std::shared_ptr<const SecureBytes> FindCached(const KeyRef& ref) const;
    Result<Bytes> Seal(const KeyRef& ref, ByteView material) const;
    Result<SecureBytes> Unseal(const KeyRef& ref, ByteView sealed) const;

    const SecureBytes sealing_key_;
    const SecureBytes token_key_;
    const SealedKeyStore* store_ = nullptr;
    mutable std::shared_mutex cache_mu_;
    struct CacheEntry {
        std::string arn;
        std::string key_spec;
        std::shared_ptr<const SecureBytes> material;
    };
    // By material ID, then the key it was sealed for: a material ID is shared only by the
    // replicas of one multi-Region key, so the inner list stays tiny.
    std::unordered_map<std::string, std::vector<CacheEntry>> cache_;
};

}  // namespace kmsd::hsm
