// Lower-case hex, the form material IDs travel in outside the blob (and are stored in). Pure
// functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/secure_bytes.h"
#include "common/status.h"

namespace kmsd {

std::string ToHex(ByteView bytes);
Result<Bytes> FromHex(const std::string& hex);
// Lower-case hex of exactly `n` bytes into `out`; false for any other length or character.
bool FromHexInto(std::string_view hex, std::uint8_t* out, std::size_t n);

}  // namespace kmsd
