// Standard base64 with padding (RFC 4648 §4), as the KMS JSON protocol carries blobs.
// Decoding is strict: wrong characters, bad padding or a bad length are errors.
#pragma once

#include <optional>
#include <string>

#include "common/secure_bytes.h"

namespace kmsd {

std::string Base64Encode(ByteView data);
// The same, into a string that is wiped when freed (for plaintext and data keys, and for JSON
// values, which are cleansing strings).
SecureString Base64EncodeSecure(ByteView data);
// The same, appended to `out` (a JSON reply written as text: no string of its own).
void Base64EncodeAppend(ByteView data, SecureString& out);
// The same without the SIMD steps (tests compare the two).
std::string Base64EncodePortable(ByteView data);
// Returns nullopt if `text` is not valid base64. The output is wiped on free (it may be plaintext).
std::optional<SecureBytes> Base64Decode(std::string_view text);
// The length Base64Decode would return, or nullopt where it would refuse; decodes nothing
// (validation needs only the length of a blob).
std::optional<std::size_t> Base64DecodedSize(std::string_view text);

}  // namespace kmsd
