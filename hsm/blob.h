// The symmetric ciphertext blob: AWS's header shape and exact size (design.md §4).
//
//   01 02 {02 Encrypt | 03 data key} 00 78 | 32-byte material ID | 01 | 16-byte nonce |
//   4-byte big-endian length | DER CMS EncryptedData (AES-256-GCM, 12-byte IV, 16-byte tag)
//
// The encrypted content is 11 bytes of our framing + plaintext, then the tag: plaintext + 27.
// Pure functions, thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/hex.h"
#include "common/secure_bytes.h"
#include "common/status.h"

namespace kmsd::hsm {

enum class BlobKind : std::uint8_t { kEncrypt = 0x02, kDataKey = 0x03 };

constexpr std::size_t kMaterialIdBytes = 32;
constexpr std::size_t kNonceBytes = 16;
constexpr std::size_t kHeaderBytes = 58;  // everything before the DER part
constexpr std::size_t kFramingBytes = 11;

// What a blob says besides its encrypted part.
struct BlobFields {
    BlobKind kind = BlobKind::kEncrypt;
    std::array<std::uint8_t, kMaterialIdBytes> material_id{};
    std::array<std::uint8_t, kNonceBytes> nonce{};
    std::array<std::uint8_t, 12> iv{};
};

// The parts of a blob, as built or parsed. `encrypted` is GCM output (framing+plaintext, tag).
struct BlobParts : BlobFields {
    Bytes encrypted;
};

// A parsed blob's parts, `encrypted` pointing into the blob (valid while it is).
struct BlobView : BlobFields {
    ByteView encrypted;
};

// Size of the DER part for a GCM output of `encrypted_len` bytes.
std::size_t DerSize(std::size_t encrypted_len);

// The 58-byte clear header (authenticated as AAD) for these parts and DER size.
Bytes BlobHeader(const BlobFields& parts, std::size_t der_size);

// Serialises header + DER.
Bytes BuildBlob(const BlobParts& parts);
// The blob for parts whose GCM output (`encrypted_len` bytes) is not made yet: everything before
// it, with room reserved for it, so it can be encrypted straight into the blob's end.
Bytes BuildBlobPrefix(const BlobFields& parts, std::size_t encrypted_len);

// Parses a blob strictly: every byte of the header and the DER is checked and nothing may follow.
// Any deviation is kInvalidCiphertext with no message.
Result<BlobParts> ParseBlob(ByteView blob);
// The same without copying the encrypted part out of `blob`.
Result<BlobView> ParseBlobView(ByteView blob);

// The blob of a key in an external key store: the proxy's encryption of the key's own blob
// (double encryption, as AWS does), with the proxy's parts kept as the proxy gave them:
//
//   01 02 05 00 78 | 32-byte material ID | u8 n, n bytes ciphertextMetadata (0-20) |
//   u8 n, n bytes IV (12 or 16) | 16-byte tag | u16 n, n bytes the proxy's ciphertext (n >= 1)
//
// The first 37 bytes (XksEnvelopeHeader) are the AAD kmsd gives the proxy, so the header cannot
// be changed without the proxy refusing to decrypt.
struct XksEnvelope {
    std::array<std::uint8_t, kMaterialIdBytes> material_id{};
    Bytes metadata;
    Bytes iv;
    Bytes tag;
    Bytes ciphertext;
};
constexpr std::uint8_t kXksEnvelopeKind = 0x05;
constexpr std::size_t kXksEnvelopeHeaderBytes = 37;
Bytes XksEnvelopeHeader(const std::array<std::uint8_t, kMaterialIdBytes>& material_id);
Bytes BuildXksEnvelope(const XksEnvelope& envelope);
// Strict, as ParseBlob: kInvalidCiphertext with no message for anything else.
Result<XksEnvelope> ParseXksEnvelope(ByteView blob);
bool IsXksEnvelope(ByteView blob);

// Material IDs travel as 64 lower-case hex characters outside the blob (common/hex.h).
using kmsd::FromHex;
using kmsd::FromHexInto;
using kmsd::ToHex;

}  // namespace kmsd::hsm
