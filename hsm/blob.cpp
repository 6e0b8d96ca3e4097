#include "hsm/blob.h"

#include <algorithm>
#include <cstring>

namespace kmsd::hsm {
namespace {

// DER encodings of the fixed OIDs (tag and length included).
constexpr std::uint8_t kOidEncryptedData[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                              0xf7, 0x0d, 0x01, 0x07, 0x06};
constexpr std::uint8_t kOidData[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86,
                                     0xf7, 0x0d, 0x01, 0x07, 0x01};
constexpr std::uint8_t kOidAes256Gcm[] = {0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                          0x65, 0x03, 0x04, 0x01, 0x2e};
constexpr std::uint8_t kInteger0[] = {0x02, 0x01, 0x00};
constexpr std::uint8_t kInteger16[] = {0x02, 0x01, 0x10};
constexpr std::uint8_t kHeaderPrefix[] = {0x01, 0x02};

std::size_t LengthOctets(std::size_t len) {
    if (len < 0x80) return 1;
    std::size_t n = 1;
    while (len > 0) {
        ++n;
        len >>= 8;
    }
    return n;
}

std::size_t Tlv(std::size_t content) { return 1 + LengthOctets(content) + content; }

// A DER length: at most 1 + sizeof(std::size_t) bytes.
constexpr std::size_t kMaxLengthOctets = 1 + sizeof(std::size_t);

// Writes a minimal DER length at `out`; returns the bytes written.
std::size_t PutLengthInto(std::uint8_t* out, std::size_t len) {
    if (len < 0x80) {
        out[0] = static_cast<std::uint8_t>(len);
        return 1;
    }
    const std::size_t n = LengthOctets(len) - 1;
    out[0] = static_cast<std::uint8_t>(0x80 | n);
    for (std::size_t i = 0; i < n; ++i)
        out[1 + i] = static_cast<std::uint8_t>(len >> (8 * (n - 1 - i)));
    return 1 + n;
}

void PutLength(Bytes& out, std::size_t len) {
    std::uint8_t buf[kMaxLengthOctets];
    out.insert(out.end(), buf, buf + PutLengthInto(buf, len));
}

void PutRaw(Bytes& out, const std::uint8_t* p, std::size_t n) { out.insert(out.end(), p, p + n); }
template <std::size_t N>
void PutRaw(Bytes& out, const std::uint8_t (&a)[N]) {
    PutRaw(out, a, N);
}

// Content sizes of each nested DER element, innermost first.
struct DerLayout {
    std::size_t alg_params, alg, eci, enc_data, explicit0, content_info;
};

DerLayout Layout(std::size_t enc_len) {
    DerLayout l{};
    l.alg_params = Tlv(12) + sizeof(kInteger16);
    l.alg = sizeof(kOidAes256Gcm) + Tlv(l.alg_params);
    l.eci = sizeof(kOidData) + Tlv(l.alg) + Tlv(enc_len);
    l.enc_data = sizeof(kInteger0) + Tlv(l.eci);
    l.explicit0 = Tlv(l.enc_data);
    l.content_info = sizeof(kOidEncryptedData) + Tlv(l.explicit0);
    return l;
}

// A strict reader: every expected byte must be there, lengths must be minimal and exact.
class Reader {
public:
    explicit Reader(ByteView in) : in_(in) {}
    bool Expect(const std::uint8_t* p, std::size_t n) {
        if (in_.size() - pos_ < n) return false;
        // A loop, not memcmp: the pieces are 1 to 11 bytes, shorter than a call into libc.
        for (std::size_t i = 0; i < n; ++i)
            if (in_[pos_ + i] != p[i]) return false;
        pos_ += n;
        return true;
    }
    template <std::size_t N>
    bool Expect(const std::uint8_t (&a)[N]) {
        return Expect(a, N);
    }
    // Reads tag `tag` and a minimally encoded length equal to `want`.
    bool Header(std::uint8_t tag, std::size_t want) {
        std::uint8_t expected[1 + kMaxLengthOctets] = {tag};
        return Expect(expected, 1 + PutLengthInto(expected + 1, want));
    }
    bool Take(std::uint8_t* out, std::size_t n) {
        if (in_.size() - pos_ < n) return false;
        std::memcpy(out, in_.data() + pos_, n);
        pos_ += n;
        return true;
    }
    std::size_t remaining() const { return in_.size() - pos_; }
    std::size_t pos() const { return pos_; }

private:
    ByteView in_;
    std::size_t pos_ = 0;
};

}  // namespace

std::size_t DerSize(std::size_t encrypted_len) { return Tlv(Layout(encrypted_len).content_info); }

Bytes BlobHeader(const BlobFields& parts, std::size_t der_size) {
    Bytes out;
    out.reserve(kHeaderBytes);
    PutRaw(out, kHeaderPrefix);
    out.push_back(static_cast<std::uint8_t>(parts.kind));
    out.push_back(0x00);
    out.push_back(0x78);
    PutRaw(out, parts.material_id.data(), parts.material_id.size());
    out.push_back(0x01);
    PutRaw(out, parts.nonce.data(), parts.nonce.size());
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(der_size >> (8 * i)));
    return out;
}

Bytes BuildBlob(const BlobParts& parts) {
    Bytes out = BuildBlobPrefix(parts, parts.encrypted.size());
    PutRaw(out, parts.encrypted.data(), parts.encrypted.size());
    return out;
}

Bytes BuildBlobPrefix(const BlobFields& parts, std::size_t enc_len) {
    const DerLayout l = Layout(enc_len);
    Bytes out = BlobHeader(parts, Tlv(l.content_info));
    out.reserve(kHeaderBytes + Tlv(l.content_info));
    out.push_back(0x30);  // ContentInfo
    PutLength(out, l.content_info);
    PutRaw(out, kOidEncryptedData);
    out.push_back(0xa0);  // [0] EXPLICIT
    PutLength(out, l.explicit0);
    out.push_back(0x30);  // EncryptedData
    PutLength(out, l.enc_data);
    PutRaw(out, kInteger0);
    out.push_back(0x30);  // EncryptedContentInfo
    PutLength(out, l.eci);
    PutRaw(out, kOidData);
    out.push_back(0x30);  // AlgorithmIdentifier
    PutLength(out, l.alg);
    PutRaw(out, kOidAes256Gcm);
    out.push_back(0x30);  // GCMParameters
    PutLength(out, l.alg_params);
    out.push_back(0x04);
    PutLength(out, parts.iv.size());
    PutRaw(out, parts.iv.data(), parts.iv.size());
    PutRaw(out, kInteger16);
    out.push_back(0x80);  // [0] IMPLICIT encrypted content
    PutLength(out, enc_len);
    return out;
}

Result<BlobParts> ParseBlob(ByteView blob) {
    KMSD_ASSIGN_OR_RETURN(BlobView view, ParseBlobView(blob));
    BlobParts parts;
    static_cast<BlobFields&>(parts) = view;
    parts.encrypted.assign(view.encrypted.begin(), view.encrypted.end());
    return parts;
}

Result<BlobView> ParseBlobView(ByteView blob) {
    const Status bad = Error(ErrorCode::kInvalidCiphertext);
    // Smallest legal blob carries 1 byte of plaintext.
    if (blob.size() < kHeaderBytes + DerSize(kFramingBytes + 1 + 16)) return bad;
    BlobView parts;
    Reader r(blob);
    std::uint8_t kind = 0;
    static constexpr std::uint8_t kMid[] = {0x00, 0x78};
    static constexpr std::uint8_t kOne[] = {0x01};
    if (!r.Expect(kHeaderPrefix) || !r.Take(&kind, 1) ||
        (kind != static_cast<std::uint8_t>(BlobKind::kEncrypt) &&
         kind != static_cast<std::uint8_t>(BlobKind::kDataKey)) ||
        !r.Expect(kMid) || !r.Take(parts.material_id.data(), kMaterialIdBytes) || !r.Expect(kOne) ||
        !r.Take(parts.nonce.data(), kNonceBytes))
        return bad;
    parts.kind = static_cast<BlobKind>(kind);
    std::uint8_t len_be[4];
    if (!r.Take(len_be, 4)) return bad;
    const std::size_t der_len = (std::size_t{len_be[0]} << 24) | (std::size_t{len_be[1]} << 16) |
                                (std::size_t{len_be[2]} << 8) | len_be[3];
    if (der_len != r.remaining()) return bad;
    // The encrypted length whose DER size is der_len. DerSize(e) is e plus an overhead that
    // grows with e (longer length octets), so e is at most der_len - DerSize(0); counting down
    // from there, DerSize falls by at least one per step, and the overhead grows by a few bytes
    // at most: the first guess at or below der_len decides.
    std::size_t enc_len = 0;
    const std::size_t least_overhead = DerSize(0);
    if (der_len >= least_overhead) {
        for (std::size_t guess = der_len - least_overhead, steps = 0; steps < 64;
             --guess, ++steps) {
            const std::size_t size = DerSize(guess);
            if (size <= der_len) {
                if (size == der_len) enc_len = guess;
                break;
            }
            if (guess == 0) break;
        }
    }
    if (enc_len < kFramingBytes + 16 + 1) return bad;
    const DerLayout l = Layout(enc_len);
    if (!r.Header(0x30, l.content_info) || !r.Expect(kOidEncryptedData) ||
        !r.Header(0xa0, l.explicit0) || !r.Header(0x30, l.enc_data) || !r.Expect(kInteger0) ||
        !r.Header(0x30, l.eci) || !r.Expect(kOidData) || !r.Header(0x30, l.alg) ||
        !r.Expect(kOidAes256Gcm) || !r.Header(0x30, l.alg_params) || !r.Header(0x04, 12) ||
        !r.Take(parts.iv.data(), parts.iv.size()) || !r.Expect(kInteger16) ||
        !r.Header(0x80, enc_len))
        return bad;
    if (r.remaining() != enc_len) return bad;
    parts.encrypted = blob.subspan(r.pos());
    return parts;
}

Bytes XksEnvelopeHeader(const std::array<std::uint8_t, kMaterialIdBytes>& material_id) {
    Bytes out;
    out.reserve(kXksEnvelopeHeaderBytes);
    PutRaw(out, kHeaderPrefix);
    out.push_back(kXksEnvelopeKind);
    out.push_back(0x00);
    out.push_back(0x78);
    PutRaw(out, material_id.data(), material_id.size());
    return out;
}

Bytes BuildXksEnvelope(const XksEnvelope& e) {
    Bytes out = XksEnvelopeHeader(e.material_id);
    out.push_back(static_cast<std::uint8_t>(e.metadata.size()));
    PutRaw(out, e.metadata.data(), e.metadata.size());
    out.push_back(static_cast<std::uint8_t>(e.iv.size()));
    PutRaw(out, e.iv.data(), e.iv.size());
    PutRaw(out, e.tag.data(), e.tag.size());
    out.push_back(static_cast<std::uint8_t>(e.ciphertext.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(e.ciphertext.size() & 0xff));
    PutRaw(out, e.ciphertext.data(), e.ciphertext.size());
    return out;
}

bool IsXksEnvelope(ByteView blob) {
    return blob.size() >= kXksEnvelopeHeaderBytes && blob[0] == kHeaderPrefix[0] &&
           blob[1] == kHeaderPrefix[1] && blob[2] == kXksEnvelopeKind && blob[3] == 0x00 &&
           blob[4] == 0x78;
}

Result<XksEnvelope> ParseXksEnvelope(ByteView blob) {
    const Status bad = Error(ErrorCode::kInvalidCiphertext);
    if (!IsXksEnvelope(blob)) return bad;
    XksEnvelope e;
    std::copy(blob.begin() + 5, blob.begin() + 5 + kMaterialIdBytes, e.material_id.begin());
    std::size_t pos = kXksEnvelopeHeaderBytes;
    const auto take = [&](Bytes& out, std::size_t n) {
        if (blob.size() - pos < n) return false;
        out.assign(blob.begin() + static_cast<std::ptrdiff_t>(pos),
                   blob.begin() + static_cast<std::ptrdiff_t>(pos + n));
        pos += n;
        return true;
    };
    const auto length = [&](std::size_t& n) {
        if (pos >= blob.size()) return false;
        n = blob[pos++];
        return true;
    };
    std::size_t metadata_len = 0;
    std::size_t iv_len = 0;
    std::size_t high = 0;
    std::size_t low = 0;
    if (!length(metadata_len) || metadata_len > 20 || !take(e.metadata, metadata_len) ||
        !length(iv_len) || (iv_len != 12 && iv_len != 16) || !take(e.iv, iv_len) ||
        !take(e.tag, 16) || !length(high) || !length(low))
        return bad;
    const std::size_t ciphertext_len = (high << 8) | low;
    if (ciphertext_len == 0 || blob.size() - pos != ciphertext_len ||
        !take(e.ciphertext, ciphertext_len))
        return bad;
    return e;
}

}  // namespace kmsd::hsm
