// Hsm: the only door to key material (design.md §4). Callers name keys by KeyRef (key ARN,
// material ID, key spec) and never hold root key bytes; the doors out are the ones KMS defines
// (data keys, decrypted plaintext). Root keys are sealed under a key derived from the master key;
// unsealed material lives in a cache of SecureBytes, filled on first use.
// Thread-safe: every method may be called concurrently.
#pragma once

#include <array>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/record_memo.h"
#include "common/secure_bytes.h"
#include "common/status.h"
#include "hsm/blob.h"
#include "hsm/import.h"
#include "hsm/keyspec.h"
#include "hsm/sealed_key_store.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY, used only inside hsm/

namespace kmsd::hsm {

// Sorted map, so iteration gives the canonical (byte-wise) order of the pairs.
using EncryptionContext = std::map<std::string, std::string>;

struct KeyRef {
    std::string arn;
    std::string material_id;  // 64 lower-case hex
    std::string key_spec;     // e.g. SYMMETRIC_DEFAULT
    // "" for the HSM's own keys; a custom key store's keys live in its partition, sealed under
    // the partition's own key.
    std::string partition = {};
    // Where the HSM may keep the unsealed material for the record this ref was made from (its
    // MaterialRecord's memo), so the next use of that record skips the cache lookup. The memo
    // belongs to one version of one key's record, which fixes all four fields above. Optional.
    const RecordMemo* memo = nullptr;
};

struct SealedMaterial {
    std::string material_id;
    Bytes sealed;
};

struct DataKey {
    SecureBytes plaintext;
    Bytes ciphertext_blob;
};

// GenerateDataKeyPair: a fresh key pair, its private key (PKCS#8 DER) in the clear and as a
// symmetric blob under the KMS key.
struct DataKeyPair {
    SecureBytes private_key;
    Bytes private_key_blob;
    Bytes public_key;  // DER SubjectPublicKeyInfo
};

class Hsm {
public:
    // `master_key` must be 32 bytes. `store` must outlive the Hsm (it may be set later).
    static Result<std::unique_ptr<Hsm>> New(const SecureBytes& master_key);
    void set_store(const SealedKeyStore* store) { store_ = store; }

    // Generates new root key material for `ref.arn`/`ref.key_spec` and returns it sealed:
    // 32 random bytes (SYMMETRIC_DEFAULT), the spec's size (HMAC_*), a PKCS#8 private key
    // (RSA, ECC, Ed25519, SM2). ML-DSA is kUnsupportedOperation (hsm/keyspec.h Implemented).
    // kThrottling while another RSA key is being generated (also GenerateDataKeyPair).
    Result<SealedMaterial> GenerateKey(const std::string& arn, const std::string& key_spec,
                                       const std::string& partition = {});

    // Seals caller-supplied material (a seed file's): a symmetric key (32 bytes), HMAC key or
    // private key (PKCS#8 DER of the spec), as hsm/import.h CheckImportedMaterial accepts it
    // (kValidation otherwise). The material ID is a one-way function of the material and
    // `key_id` (as ImportWrapped's), or of the key ARN when `key_id` is empty (local-kms seed
    // files, as kmsd always named them), so two kmsd instances seeded alike name the material
    // alike and decrypt each other's blobs.
    Result<SealedMaterial> ImportKey(const std::string& arn, const std::string& key_spec,
                                     ByteView material, const std::string& key_id = {});
    // The same, keeping the material ID `material_id` (64 hex digits) that a seed file names:
    // a fixture captured with GET /_kmsd/export keeps the IDs its recorded ciphertexts carry.
    Result<SealedMaterial> ImportKeyWithId(const std::string& arn, const std::string& key_spec,
                                           ByteView material, const std::string& material_id);

    // `sealed`, the material of `from`, sealed for another member of its multi-Region key
    // (`to_arn`): the same material ID and bytes, sealed for the member's own ARN. The material
    // is never outside the HSM unsealed.
    Result<Bytes> ResealFor(const KeyRef& from, ByteView sealed, const std::string& to_arn) const;

    // Seals a PEM private key (a local-kms seed file's PrivateKeyPem); the key spec is read
    // from the key itself (RSA size, EC curve, Ed25519).
    struct ImportedKey {
        std::string key_spec;
        SealedMaterial sealed;
    };
    // `key_id` as for ImportKey.
    Result<ImportedKey> ImportPrivateKeyPem(const std::string& arn, std::string_view pem,
                                            const std::string& key_id = {});

    // Import of key material (Origin EXTERNAL; hsm/import.h says what is accepted).
    // GetParametersForImport: a fresh wrapping key pair. Its private key is sealed into the
    // import token, bound to `arn`, the algorithm, the wrapping spec and `valid_to`: it never
    // leaves the HSM in the clear, and a token stays usable across a restart.
    struct ImportParameters {
        Bytes public_key;  // DER SubjectPublicKeyInfo
        Bytes import_token;
    };
    Result<ImportParameters> NewImportParameters(const std::string& arn,
                                                 const WrappingAlgorithmInfo& alg,
                                                 const WrappingKeySpecInfo& wrapping,
                                                 double valid_to);
    // What a token says, once it proved to be one this HSM issued for `arn`
    // (kInvalidImportToken otherwise, for any token: garbage, tampered, another key's).
    struct ImportTokenInfo {
        const WrappingAlgorithmInfo* alg = nullptr;
        const WrappingKeySpecInfo* wrapping = nullptr;
        double valid_to = 0;
    };
    Result<ImportTokenInfo> OpenImportToken(const std::string& arn, ByteView token) const;
    // ImportKeyMaterial: unwraps `encrypted` with the token's wrapping key (kInvalidCiphertext),
    // checks it is material of `key_spec` (kIncorrectKeyMaterial) and seals it for `arn`. The
    // material ID is a one-way function of `key_id` and the material, as AWS's is: the same
    // material re-imported gets the same ID, in every Region of a multi-Region key.
    Result<SealedMaterial> ImportWrapped(const std::string& arn, const std::string& key_id,
                                         const std::string& key_spec, ByteView token,
                                         ByteView encrypted);

    // The key material itself: the raw bytes of a symmetric or HMAC key, the PKCS#8 DER of a
    // private key. Only for GET /_kmsd/export under --allow-export-material, a test-only door
    // its operator opens on purpose (README).
    Result<SecureBytes> ExportMaterial(const KeyRef& ref);

    // Symmetric encryption into AWS's blob format.
    Result<Bytes> Encrypt(const KeyRef& ref, ByteView plaintext, const EncryptionContext& ctx,
                          BlobKind kind = BlobKind::kEncrypt);
    // Decrypts a blob made with `ref`'s material. Any failure is kInvalidCiphertext, no detail.
    Result<SecureBytes> Decrypt(const KeyRef& ref, ByteView blob, const EncryptionContext& ctx);
    // The same for a blob already parsed (ReadCiphertext's parts of `blob`).
    Result<SecureBytes> Decrypt(const KeyRef& ref, const BlobView& parts, ByteView blob,
                                const EncryptionContext& ctx);
    // A fresh random data key and its blob under `ref`.
    Result<DataKey> GenerateDataKey(const KeyRef& ref, std::size_t bytes,
                                    const EncryptionContext& ctx);

    // A data key pair of `pair_spec` whose private key is encrypted under `ref` (symmetric).
    Result<DataKeyPair> GenerateDataKeyPair(const KeyRef& ref, const KeySpecInfo& pair_spec,
                                            const EncryptionContext& ctx);

    // Asymmetric keys (hsm/asymmetric.h says how each is computed). Algorithms are ones the
    // key's spec lists (the caller checks); a DIGEST message has the algorithm's digest length.
    Result<Bytes> PublicKey(const KeyRef& ref);
    Result<Bytes> Sign(const KeyRef& ref, const SigningAlgorithmInfo& alg, bool is_digest,
                       ByteView message);
    // kKmsInvalidSignature when the signature is wrong or malformed.
    Status Verify(const KeyRef& ref, const SigningAlgorithmInfo& alg, bool is_digest,
                  ByteView message, ByteView signature);
    Result<Bytes> EncryptAsymmetric(const KeyRef& ref, const EncryptionAlgorithmInfo& alg,
                                    ByteView plaintext);
    // kInvalidCiphertext for any failure.
    Result<SecureBytes> DecryptAsymmetric(const KeyRef& ref, const EncryptionAlgorithmInfo& alg,
                                          ByteView ciphertext);
    // ECDH with the DER SubjectPublicKeyInfo `peer`; kValidation when it is not on the curve.
    Result<SecureBytes> DeriveSharedSecret(const KeyRef& ref, ByteView peer);

    // HMAC keys. VerifyMac compares in constant time; kKmsInvalidMac on mismatch.
    Result<SecureBytes> GenerateMac(const KeyRef& ref, const MacAlgorithmInfo& alg,
                                    ByteView message);
    Status VerifyMac(const KeyRef& ref, const MacAlgorithmInfo& alg, ByteView message,
                     ByteView mac);

    // Secrets kmsd keeps but never shows (an external key store's proxy credential), sealed
    // like key material under a partition of their own, bound to `owner` (the store's ID).
    Result<Bytes> SealSecret(const std::string& owner, ByteView secret) const;
    Result<SecureBytes> UnsealSecret(const std::string& owner, ByteView sealed) const;

    // The material ID named in a blob's clear header (Decrypt without KeyId needs it).
    static Result<std::string> BlobMaterialId(ByteView blob);
    // A ciphertext as Decrypt and ReEncrypt read it before they know its key: the material ID
    // its header names (32 bytes), and the blob parsed (nullopt for an external key store's
    // envelope), so that Decrypt need not parse it again. Invalid is kInvalidCiphertext.
    struct CiphertextHeader {
        std::array<std::uint8_t, kMaterialIdBytes> material_id{};
        std::optional<BlobView> parts;
    };
    static Result<CiphertextHeader> ReadCiphertext(ByteView blob);

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
    // Unsealed root key material, and for asymmetric keys the parsed private key.
    struct Unsealed {
        // IdentityOf the ref it was unsealed for: a memo serves only a ref with the same one, so
        // a ref whose fields were changed after it was made cannot reach another key's material.
        std::size_t identity = 0;
        std::size_t size = 0;
        // Symmetric and HMAC material inline (32 bytes; HMAC keys 28 to 64, imported ones up to
        // 128): a request reads it with the rest of this, not from a buffer of its own (a cache
        // miss fewer under a random key of many). After the identity and size, so that a 32-byte
        // key, they and make_shared's header share one line.
        static constexpr std::size_t kMaxBytes = 128;
        std::array<std::uint8_t, kMaxBytes> inline_bytes{};
        ByteView bytes() const { return {inline_bytes.data(), size}; }
        Unsealed() = default;
        Unsealed(const Unsealed&) = delete;
        Unsealed& operator=(const Unsealed&) = delete;
        ~Unsealed() { SecureWipe(inline_bytes.data(), inline_bytes.size()); }
        std::shared_ptr<evp_pkey_st> pkey;
    };
    static std::size_t IdentityOf(const KeyRef& ref);
    Hsm(SecureBytes sealing_key, SecureBytes token_key, SecureBytes import_key)
        : sealing_key_(std::move(sealing_key)),
          token_key_(std::move(token_key)),
          import_key_(std::move(import_key)) {}
    // Through ref.memo when it holds the material, else CachedOrUnsealed (and then kept there).
    Result<std::shared_ptr<const Unsealed>> Material(const KeyRef& ref);
    Result<std::shared_ptr<const Unsealed>> CachedOrUnsealed(const KeyRef& ref);
    // The parsed private key of an asymmetric key.
    Result<std::shared_ptr<evp_pkey_st>> PrivateKey(const KeyRef& ref);
    // The cached material sealed for exactly `ref` (ARN, material ID and spec); cache_mu_ held.
    std::shared_ptr<const Unsealed> FindCached(const KeyRef& ref) const;
    Result<SecureBytes> SealingKey(const KeyRef& ref) const;
    Result<Bytes> Seal(const KeyRef& ref, ByteView material) const;
    Result<SecureBytes> Unseal(const KeyRef& ref, ByteView sealed) const;
    // An import token's parameters and, when `wrapping_key` is given, its wrapping private key.
    Result<ImportTokenInfo> ReadImportToken(const std::string& arn, ByteView token,
                                            SecureBytes* wrapping_key) const;
    // Seals material under a material ID derived from `id_context` and the material.
    Result<SealedMaterial> SealWithDerivedId(const std::string& arn, const std::string& key_spec,
                                             ByteView material, std::string_view id_label,
                                             const std::string& id_context) const;

    // A new RSA key takes from 0.1 s (2048) to seconds (4096) of one core, on the thread that
    // serves the request: one at a time, so key generation never holds every server thread.
    Result<SecureBytes> NewPrivateKey(const KeySpecInfo& spec);
    std::atomic<int> rsa_keygens_{0};

    const SecureBytes sealing_key_;
    const SecureBytes token_key_;
    const SecureBytes import_key_;  // seals wrapping private keys into import tokens
    const SealedKeyStore* store_ = nullptr;
    mutable std::shared_mutex cache_mu_;
    struct CacheEntry {
        std::string arn;
        std::string key_spec;
        std::string partition;  // a cached key serves only refs to its own partition
        std::shared_ptr<const Unsealed> material;
    };
    // By material ID, then the key it was sealed for: a material ID is shared only by the
    // replicas of one multi-Region key, so the inner list stays tiny.
    // Not noexcept, so libstdc++ keeps each node's hash code (see ScopedNameHash): a lookup
    // then never rehashes a neighbour's 64-character ID.
    struct MaterialIdHash {
        std::size_t operator()(const std::string& id) const { return std::hash<std::string>{}(id); }
    };
    std::unordered_map<std::string, std::vector<CacheEntry>, MaterialIdHash> cache_;
};

}  // namespace kmsd::hsm
