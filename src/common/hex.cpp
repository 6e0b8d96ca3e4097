#include "common/hex.h"

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

bool FromHexInto(std::string_view hex, std::uint8_t* out, std::size_t n) {
    if (hex.size() != 2 * n) return false;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return -1;
    };
    for (std::size_t i = 0; i < n; ++i) {
        const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return true;
}

Result<Bytes> FromHex(const std::string& hex) {
    if (hex.size() % 2 != 0) return Error(ErrorCode::kValidation, "odd hex length");
    Bytes out(hex.size() / 2);
    if (!FromHexInto(hex, out.data(), out.size())) return Error(ErrorCode::kValidation, "bad hex");
    return out;
}

}  // namespace kmsd
