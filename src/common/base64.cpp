#include "common/base64.h"

#include <array>
#include <cstdint>

#if defined(__x86_64__)
#include <immintrin.h>
#define KMSD_BASE64_SSSE3 1
#endif

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

#if KMSD_BASE64_SSSE3
// Twelve bytes to sixteen characters a step with SSSE3's byte shuffle, after Wojciech Mula's
// method (every reply carries a blob of a few hundred characters, which the loop below spent
// about 33 instructions a quantum on). Each step loads sixteen bytes and uses twelve, so it
// stops while sixteen are left; returns how many bytes it encoded (a multiple of 12).
__attribute__((target("ssse3"))) std::size_t EncodeSsse3(const std::uint8_t* in, std::size_t n,
                                                         char* out) {
    std::size_t done = 0;
    for (; done + 16 <= n; done += 12, out += 16) {
        __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + done));
        // Each group of three bytes a b c becomes the 32-bit lane b a c b: its 16-bit halves are
        // then a:b and b:c, which hold the four 6-bit indices at known bit positions.
        v = _mm_shuffle_epi8(v, _mm_set_epi8(10, 11, 9, 10, 7, 8, 6, 7, 4, 5, 3, 4, 1, 2, 0, 1));
        // Indices 0 and 2 moved down by a multiply-high, 1 and 3 up by a multiply-low, each
        // into its own byte of the lane.
        const __m128i high = _mm_mulhi_epu16(_mm_and_si128(v, _mm_set1_epi32(0x0fc0fc00)),
                                             _mm_set1_epi32(0x04000040));
        const __m128i low = _mm_mullo_epi16(_mm_and_si128(v, _mm_set1_epi32(0x003f03f0)),
                                            _mm_set1_epi32(0x01000010));
        const __m128i index = _mm_or_si128(high, low);
        // Index to character: an offset added per range, chosen by a shuffle: 0-25 'A', 26-51
        // 'a', 52-61 '0', 62 '+', 63 '/'. The range's slot: 0 for 26-51, 1-10 for 52-61, 11 and
        // 12 for 62 and 63 (the saturating subtraction), 13 for 0-25 (the comparison).
        __m128i slot = _mm_subs_epu8(index, _mm_set1_epi8(51));
        slot = _mm_or_si128(
            slot, _mm_and_si128(_mm_cmpgt_epi8(_mm_set1_epi8(26), index), _mm_set1_epi8(13)));
        const __m128i offsets =
            _mm_setr_epi8('a' - 26, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52, '0' - 52,
                          '0' - 52, '0' - 52, '0' - 52, '0' - 52, '+' - 62, '/' - 63, 'A', 0, 0);
        const __m128i text = _mm_add_epi8(_mm_shuffle_epi8(offsets, slot), index);
        _mm_storeu_si128(reinterpret_cast<__m128i*>(out), text);
    }
    return done;
}

bool HasSsse3() {
    static const bool has = __builtin_cpu_supports("ssse3");
    return has;
}
#endif

// Writes EncodedSize(data.size()) characters at `out`. The output is sized once and written
// through a pointer: appending character by character cost four capacity checks per quantum.
// `simd`: whether the SSSE3 steps may do the bulk (false only to test the loop alone).
void EncodeInto(ByteView data, char* out, bool simd = true) {
    std::size_t i = 0;
#if KMSD_BASE64_SSSE3
    if (simd && HasSsse3()) {
        i = EncodeSsse3(data.data(), data.size(), out);
        out += i / 3 * 4;
    }
#else
    (void)simd;
#endif
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

void Base64EncodeAppend(ByteView data, SecureString& out) {
    const std::size_t at = out.size();
    out.resize(at + EncodedSize(data.size()));
    EncodeInto(data, out.data() + at);
}

std::string Base64EncodePortable(ByteView data) {
    std::string out(EncodedSize(data.size()), '\0');
    EncodeInto(data, out.data(), /*simd=*/false);
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
