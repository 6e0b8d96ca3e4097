// Crypto primitives over OpenSSL 3 EVP: AES-256-GCM, HKDF-SHA256, HMAC-SHA256, SHA-256 and the
// CSPRNG. Algorithm objects are fetched once (implicit fetches contend on locks in OpenSSL 3.0)
// and cipher contexts are reused per thread. All functions are thread-safe.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "common/secure_bytes.h"
#include "common/status.h"

namespace kmsd::hsm {

constexpr std::size_t kGcmIvBytes = 12;
constexpr std::size_t kGcmTagBytes = 16;
constexpr std::size_t kAes256KeyBytes = 32;

// Fills `n` bytes from OpenSSL's CSPRNG.
SecureBytes RandomBytes(std::size_t n);
// The same into `out` (nonces and IVs that go straight into a blob: no buffer of their own).
void RandomFill(std::uint8_t* out, std::size_t n);
// Lower-case hex of `n` random bytes (IDs, not secrets).
std::string RandomHex(std::size_t n);

// AES-256-GCM. Encrypt returns ciphertext followed by the 16-byte tag.
Result<Bytes> AesGcmEncrypt(ByteView key, ByteView iv, ByteView aad, ByteView plaintext);
// Decrypt takes ciphertext||tag; any failure is kInvalidCiphertext with no detail.
Result<SecureBytes> AesGcmDecrypt(ByteView key, ByteView iv, ByteView aad, ByteView sealed);
// The same in place, over data in pieces: the blob's AAD is its header and the encoded context,
// its plaintext the framing and the caller's bytes, and its ciphertext is written inside the
// blob, so no piece is first copied into a buffer of its own.
// Seal writes the ciphertext of the concatenated `plaintext` pieces, then the tag, at `out`
// (their total size + kGcmTagBytes).
Status AesGcmSealInto(ByteView key, ByteView iv, std::initializer_list<ByteView> aad,
                      std::initializer_list<ByteView> plaintext, std::uint8_t* out);
// Open writes the plaintext of `sealed` (ciphertext||tag) at `out` (sealed.size() - kGcmTagBytes
// bytes); kInvalidCiphertext, with `out` wiped, when it does not authenticate.
Status AesGcmOpenInto(ByteView key, ByteView iv, std::initializer_list<ByteView> aad,
                      ByteView sealed, std::uint8_t* out);

// The two implementations behind Seal and Open, each callable, so that hsm_test checks them
// against each other: libsodium's (where the CPU has AES-NI and carry-less multiply) and
// OpenSSL's. Same contracts as AesGcmSealInto / AesGcmOpenInto, with the sizes already checked.
namespace gcm {
bool SodiumAvailable();
Status SealSodium(ByteView key, ByteView iv, std::initializer_list<ByteView> aad,
                  std::initializer_list<ByteView> plaintext, std::uint8_t* out);
Status OpenSodium(ByteView key, ByteView iv, std::initializer_list<ByteView> aad, ByteView sealed,
                  std::uint8_t* out);
Status SealEvp(ByteView key, ByteView iv, std::initializer_list<ByteView> aad,
               std::initializer_list<ByteView> plaintext, std::uint8_t* out);
Status OpenEvp(ByteView key, ByteView iv, std::initializer_list<ByteView> aad, ByteView sealed,
               std::uint8_t* out);
}  // namespace gcm

// HKDF-SHA256 (RFC 5869) of `ikm` with `salt` and `info`, `out_len` bytes.
Result<SecureBytes> HkdfSha256(ByteView ikm, ByteView salt, ByteView info, std::size_t out_len);

// HMAC-SHA256 and SHA-256 (SigV4 and grant tokens use these; keys are not KMS key material).
Bytes HmacSha256(ByteView key, ByteView data);
Bytes Sha256(ByteView data);

// Constant-time comparison.
bool ConstantTimeEquals(ByteView a, ByteView b);

}  // namespace kmsd::hsm
