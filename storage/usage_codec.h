// The compact form of a key's last-usage row (schema 12). The usage flush writes a row for every
// key used in the last second, and with many keys in use it rewrites nearly every page of the
// table each time: the row's size is the flush's cost. The operation is a small integer, the
// request ID (a UUID kmsd made) 16 bytes, and the key ID is checked by a 32-bit digest instead of
// kept whole: about 41 bytes a row instead of 100.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kmsd::storage {

// The code stored for an operation name (one of GetKeyLastUsage's Operation values), or nullopt.
// The codes are fixed: they are in databases already written.
std::optional<std::int64_t> UsageOperationCode(std::string_view name);
// The operation a stored code names, or null for a code this kmsd does not know.
const char* UsageOperationName(std::int64_t code);

// A digest of a key ID, stored with its usage (FNV-1a, 32 bits, as a signed integer so SQLite
// stores it in 4 bytes). The usage row is found by the key's rowid; the digest makes a rowid that
// VACUUM renumbered to another key no usage of that key.
std::int64_t KeyIdCheck(std::string_view key_id);

// A canonical lower-case UUID (8-4-4-4-12 hex digits) as its 16 bytes; nullopt for any other
// text, which is then stored as text. UnpackUuid(*PackUuid(t)) == t.
std::optional<std::array<std::uint8_t, 16>> PackUuid(std::string_view text);
std::string UnpackUuid(const std::uint8_t* bytes);

}  // namespace kmsd::storage
