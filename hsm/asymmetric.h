// Asymmetric and HMAC primitives behind the Hsm (hsm/ only): key generation, signatures,
// RSA-OAEP and SM2 encryption, ECDH, HMAC. Private keys travel as PKCS#8 DER in SecureBytes and
// are used as EVP_PKEYs parsed from it. Output follows AWS KMS exactly (kms-reference §3):
// DER ECDSA signatures, PSS salt = digest length, raw OAEP ciphertext, the raw ECDH x-coordinate.
// All functions are thread-safe; an EVP_PKEY may be shared by threads for these calls.
#pragma once

#include <openssl/evp.h>

#include <memory>
#include <string_view>

#include "common/secure_bytes.h"
#include "common/status.h"
#include "hsm/keyspec.h"

namespace kmsd::hsm {

using PkeyPtr = std::shared_ptr<EVP_PKEY>;

// A new private key of `spec` (RSA, EC, Ed25519, SM2) as PKCS#8 DER.
Result<SecureBytes> GeneratePrivateKey(const KeySpecInfo& spec);
// The key in PKCS#8 DER `der`, checked to be of `spec` (family, size or curve).
Result<PkeyPtr> ParsePrivateKey(ByteView der, const KeySpecInfo& spec);
// A PEM private key (PKCS#8 "PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY", as local-kms
// seed files hold them): its key spec, read from the key (RSA size, EC curve, Ed25519), and the
// key as PKCS#8 DER. kValidation naming what is wrong (never the key's bytes).
struct PemKey {
    const KeySpecInfo* spec = nullptr;
    SecureBytes pkcs8;
};
Result<PemKey> PrivateKeyFromPem(std::string_view pem);
// Whether the private and public halves of `key` belong together (a key of a known spec).
bool IsConsistentKeyPair(EVP_PKEY* key);
// The key as PKCS#8 DER.
Result<SecureBytes> Pkcs8Of(EVP_PKEY* key);
// DER SubjectPublicKeyInfo of a key.
Result<Bytes> PublicKeyDer(EVP_PKEY* key);

// Signs `message` (RAW) or its digest (DIGEST: exactly alg.digest_bytes, never hashed again
// except by Ed25519ph's own prehash).
Result<Bytes> SignMessage(EVP_PKEY* key, const SigningAlgorithmInfo& alg, bool is_digest,
                          ByteView message);
// kKmsInvalidSignature for a wrong or malformed signature.
Status VerifyMessage(EVP_PKEY* key, const SigningAlgorithmInfo& alg, bool is_digest,
                     ByteView message, ByteView signature);

// RSAES_OAEP_* (or SM2PKE) with the public half; Decrypt fails as kInvalidCiphertext.
Result<Bytes> EncryptWithPublicKey(EVP_PKEY* key, const EncryptionAlgorithmInfo& alg,
                                   ByteView plaintext);
Result<SecureBytes> DecryptWithPrivateKey(EVP_PKEY* key, const EncryptionAlgorithmInfo& alg,
                                          ByteView ciphertext);

// ECDH of `key` with the DER SubjectPublicKeyInfo `peer`: the raw x-coordinate. A peer key that
// does not parse or is not on the key's curve is kValidation with no message.
Result<SecureBytes> DeriveSharedSecret(EVP_PKEY* key, const KeySpecInfo& spec, ByteView peer);

// HMAC of `message` under `key` with the algorithm's digest (a SecureBytes: VerifyMac's expected
// tag would let whoever reads it forge that MAC).
Result<SecureBytes> Hmac(ByteView key, const MacAlgorithmInfo& alg, ByteView message);

}  // namespace kmsd::hsm
