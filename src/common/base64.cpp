#include "common/base64.h"

#include <array>

namespace kmsd {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<int, 256> MakeReverse() {
    std::array<int, 256> r{};
    for (auto& v : r) v = -1;
    for (int i = 0; i < 64; ++i) r[static_cast<unsigned char>(kAlphabet[i])] = i;
    return r;
}
constexpr std::array<int, 256> kReverse = MakeReverse();

std::size_t EncodedSize(std::size_t n) { return (n + 2) / 3 * 4; }

// Writes EncodedSize(data.size()) characters at `out`. The output is sized once and written
// through a pointer: appending character by character cost four capacity checks per quantum.
void EncodeInto(ByteView data, char* out) {
    std::size_t i = 0;
    for (; i + 2 < data.size(); i += 3) {
        const unsigned v = (data[i] << 16) | (data[i + 1] << 8) | data[i + 2];
        *out++ = kAlphabet[(v >> 18) & 63];
        *out++ = kAlphabet[(v >> 12) & 63];
        *out++ = kAlphabet[(v >> 6) & 63];
        *out++ = kAlphabet[v & 63];
    }
    if (i < data.size()) {
        unsigned v = data[i] << 16;
        if (i + 1 < data.size()) v |= data[i + 1] << 8;
        *out++ = kAlphabet[(v >> 18) & 63];
        *out++ = kAlphabet[(v >> 12) & 63];
        *out++ = i + 1 < data.size() ? kAlphabet[(v >> 6) & 63] : '=';
        *out = '=';
    }
}

}  // namespace

std::string Base64Encode(ByteView data) {
    std::string out(EncodedSize(data.size()), '\0');
    EncodeInto(data, out.data());
    return out;
}

SecureString Base64EncodeSecure(ByteView data) {
    SecureString out(EncodedSize(data.size()), '\0');
    EncodeInto(data, out.data());
    return out;
}

std::optional<std::size_t> Base64DecodedSize(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    if (!text.empty() && text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
    // Padding only at the very end, at most two; every other character from the alphabet.
    for (std::size_t i = 0; i < text.size() - pad; ++i)
        if (kReverse[static_cast<unsigned char>(text[i])] < 0) return std::nullopt;
    return text.size() / 4 * 3 - pad;
}

std::optional<SecureBytes> Base64Decode(std::string_view text) {
    const auto size = Base64DecodedSize(text);
    if (!size) return std::nullopt;
    SecureBytes out(*size);
    std::uint8_t* o = out.data();
    std::uint8_t* const end = o + *size;
    for (std::size_t i = 0; i < text.size(); i += 4) {
        // Valid (checked above): padding reads as 0 and its bytes are not written.
        unsigned n = 0;
        for (std::size_t j = 0; j < 4; ++j) {
            const int v = kReverse[static_cast<unsigned char>(text[i + j])];
            n = (n << 6) | static_cast<unsigned>(v < 0 ? 0 : v);
        }
        *o++ = static_cast<std::uint8_t>(n >> 16);
        if (o < end) *o++ = static_cast<std::uint8_t>(n >> 8);
        if (o < end) *o++ = static_cast<std::uint8_t>(n);
    }
    return out;
}

}  // namespace kmsd
