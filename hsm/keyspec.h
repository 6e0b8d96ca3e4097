// What KMS defines for each key spec and algorithm (kms-reference §3): key usages, algorithm
// lists in AWS's order, digests and limits. Pure data, no key material; api/ reads it for
// validation and KeyMetadata, hsm/ for the operations themselves.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace kmsd::hsm {

enum class KeyFamily { kSymmetric, kRsa, kEc, kEd25519, kHmac, kSm2, kMlDsa };

struct KeySpecInfo {
    std::string_view name;
    KeyFamily family;
    unsigned bits;      // RSA modulus, HMAC key, EC field size
    const char* group;  // OpenSSL group name of EC and SM2 keys, else nullptr
    std::span<const std::string_view> usages;      // KeyUsage values CreateKey accepts
    std::span<const std::string_view> signing;     // SigningAlgorithms (SIGN_VERIFY)
    std::span<const std::string_view> encryption;  // EncryptionAlgorithms (ENCRYPT_DECRYPT)
    std::span<const std::string_view> mac;         // MacAlgorithms (GENERATE_VERIFY_MAC)
    bool key_pair_spec;                            // a KeyPairSpec of GenerateDataKeyPair
};

// The spec named `name` (KeySpec or KeyPairSpec), or null.
const KeySpecInfo* FindKeySpec(std::string_view name);
bool AllowsUsage(const KeySpecInfo& spec, std::string_view usage);
// RSA, EC, Ed25519 and SM2: keys with a public half (GetPublicKey).
bool IsAsymmetric(const KeySpecInfo& spec);
// Whether this build's OpenSSL can make keys of the spec (ML-DSA needs OpenSSL 3.5).
bool Implemented(const KeySpecInfo& spec);

enum class SigScheme { kRsaPkcs1, kRsaPss, kEcdsa, kEd25519, kEd25519ph, kSm2, kMlDsa };

struct SigningAlgorithmInfo {
    std::string_view name;
    SigScheme scheme;
    const char* digest;        // OpenSSL digest name; nullptr for pure Ed25519 and ML-DSA
    std::size_t digest_bytes;  // the length of a DIGEST message
};
const SigningAlgorithmInfo* FindSigningAlgorithm(std::string_view name);

struct EncryptionAlgorithmInfo {
    std::string_view name;
    const char* oaep_digest;  // RSAES_OAEP_*: OAEP and MGF1 digest; nullptr for SM2PKE
    std::size_t hash_bytes;
};
const EncryptionAlgorithmInfo* FindEncryptionAlgorithm(std::string_view name);

struct MacAlgorithmInfo {
    std::string_view name;
    const char* digest;
    std::size_t mac_bytes;
};
const MacAlgorithmInfo* FindMacAlgorithm(std::string_view name);

// The largest plaintext RSAES_OAEP encrypts under an RSA key: modulus − 2·hash − 2 bytes.
std::size_t MaxOaepPlaintext(const KeySpecInfo& spec, const EncryptionAlgorithmInfo& alg);

// Whether `spec` lists `algorithm` among its signing / encryption / MAC algorithms.
bool Lists(std::span<const std::string_view> list, std::string_view algorithm);

}  // namespace kmsd::hsm
