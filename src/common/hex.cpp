#include "common/hex.h"

#include <array>
#include <cstdint>

namespace kmsd {

std::string ToHex(ByteView bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out(bytes.size() * 2, '\0');
    char* p = out.data();
    for (auto b : bytes) {
        *p++ = kHex[b >> 4];
        *p++ = kHex[b & 15];
    }
    return out;
}

namespace {

// Each byte's value as a lower-case hex digit, or -1. A table instead of range tests: the digits
// of a material ID are as likely letters as numbers, so the tests' branches went wrong about
// every other character (64 of them per material ID, once or twice per request and once per key
// at startup).
constexpr std::array<std::int8_t, 256> kNibble = [] {
    std::array<std::int8_t, 256> t{};
    for (auto& v : t) v = -1;
    for (int c = '0'; c <= '9'; ++c)
        t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - '0');
    for (int c = 'a'; c <= 'f'; ++c)
        t[static_cast<std::size_t>(c)] = static_cast<std::int8_t>(c - 'a' + 10);
    return t;
}();

}  // namespace

bool FromHexInto(std::string_view hex, std::uint8_t* out, std::size_t n) {
    if (hex.size() != 2 * n) return false;
    // Decoded without a branch per digit; a bad digit anywhere leaves `bad` negative.
    int bad = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const int hi = kNibble[static_cast<unsigned char>(hex[2 * i])];
        const int lo = kNibble[static_cast<unsigned char>(hex[2 * i + 1])];
        bad |= hi | lo;
        out[i] = static_cast<std::uint8_t>(((hi & 15) << 4) | (lo & 15));
    }
    return bad >= 0;
}

Result<Bytes> FromHex(const std::string& hex) {
    if (hex.size() % 2 != 0) return Error(ErrorCode::kValidation, "odd hex length");
    Bytes out(hex.size() / 2);
    if (!FromHexInto(hex, out.data(), out.size())) return Error(ErrorCode::kValidation, "bad hex");
    return out;
}

}  // namespace kmsd
