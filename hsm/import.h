// Import of key material (Origin EXTERNAL, kms-reference §5.5), the parts inside hsm/: the
// wrapping algorithms and wrapping key specs GetParametersForImport offers, unwrapping what a
// client wrapped with the public key, and the material formats AWS accepts per key spec.
// Thread-safe; no state.
#pragma once

#include <openssl/evp.h>

#include <string_view>

#include "common/secure_bytes.h"
#include "common/status.h"
#include "hsm/keyspec.h"

namespace kmsd::hsm {

struct WrappingAlgorithmInfo {
    std::string_view name;
    std::uint8_t code;        // its byte in an import token
    const char* oaep_digest;  // RSA-OAEP's and MGF1's digest; nullptr for SM2PKE
    bool aes_key_wrap;        // RSA_AES_KEY_WRAP_*: OAEP(AES-256 key) || AES-KWP(material)
};
// The algorithms AWS accepts today (RSAES_PKCS1_V1_5 is not one: kms-reference §5.5).
const WrappingAlgorithmInfo* FindWrappingAlgorithm(std::string_view name);
const WrappingAlgorithmInfo* WrappingAlgorithmByCode(std::uint8_t code);

struct WrappingKeySpecInfo {
    std::string_view name;
    std::uint8_t code;  // its byte in an import token
    const KeySpecInfo* spec;
};
const WrappingKeySpecInfo* FindWrappingKeySpec(std::string_view name);
const WrappingKeySpecInfo* WrappingKeySpecByCode(std::uint8_t code);

// Decrypts `wrapped` with the wrapping private key as `alg` says. Any failure (wrong length, a
// padding or integrity check that fails) is kInvalidCiphertext with no detail.
Result<SecureBytes> UnwrapKeyMaterial(EVP_PKEY* wrapping_key, const WrappingAlgorithmInfo& alg,
                                      ByteView wrapped);

// Whether `material` is what AWS imports into a key of `spec`: 32 bytes for SYMMETRIC_DEFAULT,
// the spec's range for HMAC (HMAC_224 28-64 bytes, HMAC_256 32-64, HMAC_384 48-128,
// HMAC_512 64-128), a PKCS#8 DER private key of the spec otherwise. kIncorrectKeyMaterial
// saying what is wrong (never the bytes).
Status CheckImportedMaterial(const KeySpecInfo& spec, ByteView material);

// Whether `alg` with a wrapping key of `wrapping` can carry material of `spec` (AWS: RSA private
// keys need an RSA_AES_KEY_WRAP algorithm; RSAES_OAEP under RSA_2048 cannot carry ECC_NIST_P521
// material; SM2PKE goes with an SM2 wrapping key and nothing else does). kValidation otherwise.
Status CheckWrappingChoice(const KeySpecInfo& spec, const WrappingAlgorithmInfo& alg,
                           const WrappingKeySpecInfo& wrapping);

}  // namespace kmsd::hsm
