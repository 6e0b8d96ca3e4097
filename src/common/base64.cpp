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

// One pass that decodes and checks together (every Decrypt decodes a blob of a few hundred
// characters): a character outside the alphabet makes its kReverse entry -1, and the OR of all
// entries negative. Accepts exactly what Base64DecodedSize accepts (hsm_test checks both agree).
std::optional<SecureBytes> Base64Decode(std::string_view text) {
    if (text.size() % 4 != 0) return std::nullopt;
    std::size_t pad = 0;
    if (!text.empty() && text.back() == '=') pad = text[text.size() - 2] == '=' ? 2 : 1;
    SecureBytes out(text.size() / 4 * 3 - pad);
    const auto at = [&text](std::size_t i) {
        return kReverse[static_cast<unsigned char>(text[i])];
    };
    const auto bits = [](int v, int shift) { return static_cast<unsigned>(v) << shift; };
    std::uint8_t* o = out.data();
    int bad = 0;
    const std::size_t full = pad == 0 ? text.size() : text.size() - 4;
    for (std::size_t i = 0; i < full; i += 4, o += 3) {
        const int a = at(i), b = at(i + 1), c = at(i + 2), d = at(i + 3);
        bad |= a | b | c | d;
        const unsigned n = bits(a, 18) | bits(b, 12) | bits(c, 6) | bits(d, 0);
        o[0] = static_cast<std::uint8_t>(n >> 16);
        o[1] = static_cast<std::uint8_t>(n >> 8);
        o[2] = static_cast<std::uint8_t>(n);
    }
    if (pad != 0) {  // the last quantum: two or three characters, then the padding
        const int a = at(full), b = at(full + 1), c = pad == 1 ? at(full + 2) : 0;
        bad |= a | b | c;
        const unsigned n = bits(a, 18) | bits(b, 12) | bits(c, 6);
        *o++ = static_cast<std::uint8_t>(n >> 16);
        if (pad == 1) *o = static_cast<std::uint8_t>(n >> 8);
    }
    if (bad < 0) return std::nullopt;
    return out;
}

}  // namespace kmsd
