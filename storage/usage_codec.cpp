#include "storage/usage_codec.h"

#include <iterator>

namespace kmsd::storage {
namespace {

// GetKeyLastUsage's Operation values (KeyLastUsageData), in the order of their codes. Append
// only: a code once written keeps its name.
constexpr const char* kOperations[] = {
    "Decrypt",
    "DeriveSharedSecret",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "ReEncrypt",
    "Sign",
    "Verify",
    "VerifyMac",
};

constexpr std::size_t kUuidChars = 36;
constexpr bool IsDash(std::size_t i) { return i == 8 || i == 13 || i == 18 || i == 23; }
constexpr char kHexDigits[] = "0123456789abcdef";

int LowerHexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

}  // namespace

std::optional<std::int64_t> UsageOperationCode(std::string_view name) {
    for (std::size_t i = 0; i < std::size(kOperations); ++i)
        if (name == kOperations[i]) return static_cast<std::int64_t>(i);
    return std::nullopt;
}

const char* UsageOperationName(std::int64_t code) {
    if (code < 0 || static_cast<std::uint64_t>(code) >= std::size(kOperations)) return nullptr;
    return kOperations[code];
}

std::int64_t KeyIdCheck(std::string_view key_id) {
    std::uint32_t h = 2166136261u;
    for (const char c : key_id) {
        h ^= static_cast<unsigned char>(c);
        h *= 16777619u;
    }
    return static_cast<std::int32_t>(h);
}

std::optional<std::array<std::uint8_t, 16>> PackUuid(std::string_view text) {
    if (text.size() != kUuidChars) return std::nullopt;
    std::array<std::uint8_t, 16> out{};
    std::size_t nibble = 0;
    for (std::size_t i = 0; i < kUuidChars; ++i) {
        if (IsDash(i)) {
            if (text[i] != '-') return std::nullopt;
            continue;
        }
        const int v = LowerHexValue(text[i]);
        if (v < 0) return std::nullopt;
        out[nibble / 2] = static_cast<std::uint8_t>(out[nibble / 2] | (nibble % 2 ? v : v << 4));
        ++nibble;
    }
    return out;
}

std::string UnpackUuid(const std::uint8_t* bytes) {
    std::string out;
    out.reserve(kUuidChars);
    for (std::size_t i = 0, nibble = 0; i < kUuidChars; ++i) {
        if (IsDash(i)) {
            out.push_back('-');
            continue;
        }
        const std::uint8_t b = bytes[nibble / 2];
        out.push_back(kHexDigits[nibble % 2 ? (b & 0xf) : (b >> 4)]);
        ++nibble;
    }
    return out;
}

}  // namespace kmsd::storage
