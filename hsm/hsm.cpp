#include "hsm/hsm.h"

#include <algorithm>
#include <cstring>
#include <mutex>

#include "common/base64.h"
#include "hsm/asymmetric.h"
#include "hsm/blob.h"
#include "hsm/crypto.h"

namespace kmsd::hsm {
namespace {

constexpr char kSealInfo[] = "kmsd-seal-key-v1";
constexpr char kPartitionInfo[] = "kmsd-partition-seal-key-v1:";
constexpr char kGrantTokenInfo[] = "kmsd-grant-token-key-v1";
constexpr char kImportTokenInfo[] = "kmsd-import-token-key-v1";
constexpr char kImportedMaterialIdLabel[] = "kmsd-imported-material-id-v1";
constexpr std::uint8_t kGrantTokenVersion = 1;
constexpr char kSealAadLabel[] = "kmsd-seal-v1";
constexpr char kBlobInfo[] = "kmsd-blob-v1";
constexpr std::uint8_t kSealVersion = 0x01;
constexpr std::uint8_t kFramingVersion = 0x01;
// What the check value seals: a fixed label under a reserved KeyRef.
const KeyRef kCheckRef{"kmsd-check", "0", "CHECK"};
constexpr char kCheckPlain[] = "kmsd master key check v1";

ByteView StrView(const char* s) { return {reinterpret_cast<const std::uint8_t*>(s), strlen(s)}; }

void PutU32(Bytes& out, std::size_t v) {
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void PutLengthPrefixed(Bytes& out, const std::string& s) {
    PutU32(out, s.size());
    out.insert(out.end(), s.begin(), s.end());
}

Bytes SealAad(const KeyRef& ref) {
    Bytes aad(StrView(kSealAadLabel).begin(), StrView(kSealAadLabel).end());
    PutLengthPrefixed(aad, ref.arn);
    PutLengthPrefixed(aad, ref.material_id);
    PutLengthPrefixed(aad, ref.key_spec);
    return aad;
}

}  // namespace

Result<std::unique_ptr<Hsm>> Hsm::New(const SecureBytes& master_key) {
    if (master_key.size() != kAes256KeyBytes)
        return Error(ErrorCode::kInternal, "master key must be 32 bytes");
    KMSD_ASSIGN_OR_RETURN(SecureBytes sealing,
                          HkdfSha256(master_key, {}, StrView(kSealInfo), kAes256KeyBytes));
    KMSD_ASSIGN_OR_RETURN(SecureBytes token,
                          HkdfSha256(master_key, {}, StrView(kGrantTokenInfo), kAes256KeyBytes));
    KMSD_ASSIGN_OR_RETURN(SecureBytes import,
                          HkdfSha256(master_key, {}, StrView(kImportTokenInfo), kAes256KeyBytes));
    return std::unique_ptr<Hsm>(new Hsm(std::move(sealing), std::move(token), std::move(import)));
}

namespace {
constexpr std::size_t kGrantIdBytes = 32;
constexpr std::size_t kTokenMacBytes = 32;
constexpr std::size_t kTokenBodyBytes = 1 + kGrantIdBytes + 8 + 16;  // version, id, ms, nonce

std::string ToBase64Url(ByteView bytes) {
    std::string s = Base64Encode(bytes);
    for (auto& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
    while (!s.empty() && s.back() == '=') s.pop_back();
    return s;
}

std::optional<SecureBytes> FromBase64Url(std::string_view token) {
    std::string s(token);
    for (auto& c : s) {
        if (c == '+' || c == '/' || c == '=') return std::nullopt;
        c = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    while (s.size() % 4 != 0) s.push_back('=');
    return Base64Decode(s);
}
}  // namespace

std::string Hsm::IssueGrantToken(const std::string& grant_id, double issued_at) const {
    Bytes body{kGrantTokenVersion};
    // Grant IDs are ours (64 hex); anything else yields a token that names no grant.
    auto id = FromHex(grant_id);
    const Bytes id_bytes = id.ok() && id->size() == kGrantIdBytes ? *id : Bytes(kGrantIdBytes, 0);
    body.insert(body.end(), id_bytes.begin(), id_bytes.end());
    const auto ms = static_cast<std::uint64_t>(issued_at * 1000.0);
    for (int i = 7; i >= 0; --i) body.push_back(static_cast<std::uint8_t>(ms >> (8 * i)));
    const SecureBytes nonce = RandomBytes(16);
    body.insert(body.end(), nonce.begin(), nonce.end());
    const Bytes mac = HmacSha256(token_key_, body);
    body.insert(body.end(), mac.begin(), mac.end());
    return ToBase64Url(body);
}

std::optional<std::string> Hsm::VerifyGrantToken(std::string_view token) const {
    auto raw = FromBase64Url(token);
    if (!raw || raw->size() != kTokenBodyBytes + kTokenMacBytes || (*raw)[0] != kGrantTokenVersion)
        return std::nullopt;
    const ByteView body(raw->data(), kTokenBodyBytes);
    const Bytes mac = HmacSha256(token_key_, body);
    if (!ConstantTimeEquals(mac, ByteView(raw->data() + kTokenBodyBytes, kTokenMacBytes)))
        return std::nullopt;
    return ToHex(ByteView(raw->data() + 1, kGrantIdBytes));
}

Bytes Hsm::EncodeContext(const EncryptionContext& ctx) {
    Bytes out;
    PutU32(out, ctx.size());
    for (const auto& [k, v] : ctx) {
        PutLengthPrefixed(out, k);
        PutLengthPrefixed(out, v);
    }
    return out;
}

// A partition's own sealing key, derived from the HSM's (a CloudHSM key store's keys are sealed
// under it: material sealed in one partition does not unseal in another, nor outside).
Result<SecureBytes> Hsm::SealingKey(const KeyRef& ref) const {
    if (ref.partition.empty()) return SecureBytes(sealing_key_.begin(), sealing_key_.end());
    const std::string info = std::string(kPartitionInfo) + ref.partition;
    return HkdfSha256(sealing_key_, {}, StrView(info.c_str()), kAes256KeyBytes);
}

Result<Bytes> Hsm::Seal(const KeyRef& ref, ByteView material) const {
    SecureBytes iv = RandomBytes(kGcmIvBytes);
    KMSD_ASSIGN_OR_RETURN(SecureBytes key, SealingKey(ref));
    KMSD_ASSIGN_OR_RETURN(Bytes ct, AesGcmEncrypt(key, iv, SealAad(ref), material));
    Bytes out;
    out.reserve(1 + iv.size() + ct.size());
    out.push_back(kSealVersion);
    out.insert(out.end(), iv.begin(), iv.end());
    out.insert(out.end(), ct.begin(), ct.end());
    return out;
}

Result<SecureBytes> Hsm::Unseal(const KeyRef& ref, ByteView sealed) const {
    if (sealed.size() < 1 + kGcmIvBytes + kGcmTagBytes || sealed[0] != kSealVersion)
        return Error(ErrorCode::kInternal, "sealed key material is corrupt");
    KMSD_ASSIGN_OR_RETURN(SecureBytes key, SealingKey(ref));
    auto res = AesGcmDecrypt(key, sealed.subspan(1, kGcmIvBytes), SealAad(ref),
                             sealed.subspan(1 + kGcmIvBytes));
    if (!res.ok()) return Error(ErrorCode::kInternal, "sealed key material does not unseal");
    return res;
}

namespace {
KeyRef SecretRef(const std::string& owner) {
    return KeyRef{owner, std::string(2 * kMaterialIdBytes, '0'), "SECRET", "kmsd-secrets"};
}
}  // namespace

Result<Bytes> Hsm::SealSecret(const std::string& owner, ByteView secret) const {
    return Seal(SecretRef(owner), secret);
}

Result<SecureBytes> Hsm::UnsealSecret(const std::string& owner, ByteView sealed) const {
    return Unseal(SecretRef(owner), sealed);
}

namespace {
Result<const KeySpecInfo*> SpecOf(const std::string& key_spec) {
    const KeySpecInfo* spec = FindKeySpec(key_spec);
    if (spec == nullptr || !Implemented(*spec))
        return Error(ErrorCode::kUnsupportedOperation,
                     "KeySpec " + key_spec + " is not supported by this kmsd build.");
    return spec;
}
}  // namespace

Result<SealedMaterial> Hsm::GenerateKey(const std::string& arn, const std::string& key_spec,
                                        const std::string& partition) {
    KMSD_ASSIGN_OR_RETURN(const KeySpecInfo* spec, SpecOf(key_spec));
    SecureBytes material;
    if (spec->family == KeyFamily::kSymmetric) {
        material = RandomBytes(kAes256KeyBytes);
    } else if (spec->family == KeyFamily::kHmac) {
        material = RandomBytes(spec->bits / 8);  // AWS: key length = the spec's bits
    } else {
        KMSD_ASSIGN_OR_RETURN(material, NewPrivateKey(*spec));
    }
    SealedMaterial out{RandomHex(kMaterialIdBytes), {}};
    KMSD_ASSIGN_OR_RETURN(out.sealed,
                          Seal(KeyRef{arn, out.material_id, key_spec, partition}, material));
    return out;
}

Result<SealedMaterial> Hsm::SealWithDerivedId(const std::string& arn, const std::string& key_spec,
                                              ByteView material, std::string_view id_label,
                                              const std::string& id_context) const {
    KMSD_ASSIGN_OR_RETURN(
        SecureBytes id, HkdfSha256(material,
                                   ByteView(reinterpret_cast<const std::uint8_t*>(id_label.data()),
                                            id_label.size()),
                                   View(id_context), kMaterialIdBytes));
    SealedMaterial out{ToHex(id), {}};
    KMSD_ASSIGN_OR_RETURN(out.sealed, Seal(KeyRef{arn, out.material_id, key_spec}, material));
    return out;
}

Result<SealedMaterial> Hsm::ImportKey(const std::string& arn, const std::string& key_spec,
                                      ByteView material, const std::string& key_id) {
    KMSD_ASSIGN_OR_RETURN(const KeySpecInfo* spec, SpecOf(key_spec));
    if (Status st = CheckImportedMaterial(*spec, material); !st.ok())
        return Error(ErrorCode::kValidation, st.message());
    // Seed files name material by the key ARN (kept so recorded ciphertexts stay valid), kmsd's
    // own by the key ID, as ImportKeyMaterial does.
    if (key_id.empty())
        return SealWithDerivedId(arn, key_spec, material, "kmsd-material-id-v1", arn);
    return SealWithDerivedId(arn, key_spec, material, kImportedMaterialIdLabel, key_id);
}

Result<SealedMaterial> Hsm::ImportKeyWithId(const std::string& arn, const std::string& key_spec,
                                            ByteView material, const std::string& material_id) {
    KMSD_ASSIGN_OR_RETURN(const KeySpecInfo* spec, SpecOf(key_spec));
    if (Status st = CheckImportedMaterial(*spec, material); !st.ok())
        return Error(ErrorCode::kValidation, st.message());
    auto id = FromHex(material_id);
    if (!id.ok() || id->size() != kMaterialIdBytes || ToHex(*id) != material_id)
        return Error(ErrorCode::kValidation, "a key material ID is 64 lower-case hex digits");
    SealedMaterial out{material_id, {}};
    KMSD_ASSIGN_OR_RETURN(out.sealed, Seal(KeyRef{arn, material_id, key_spec}, material));
    return out;
}

namespace {
// Import tokens: a clear header (magic, algorithm, wrapping spec, expiry, IV), then the wrapping
// private key under AES-256-GCM with the header and the key ARN as AAD.
constexpr char kImportTokenMagic[] = "kmsdIT01";
constexpr std::size_t kImportMagicBytes = 8;
constexpr std::size_t kImportHeaderBytes = kImportMagicBytes + 1 + 1 + 8 + kGcmIvBytes;

Bytes ImportTokenAad(ByteView header, const std::string& arn) {
    Bytes aad(header.begin(), header.end());
    PutLengthPrefixed(aad, arn);
    return aad;
}
}  // namespace

Result<Hsm::ImportParameters> Hsm::NewImportParameters(const std::string& arn,
                                                       const WrappingAlgorithmInfo& alg,
                                                       const WrappingKeySpecInfo& wrapping,
                                                       double valid_to) {
    KMSD_ASSIGN_OR_RETURN(SecureBytes private_key, NewPrivateKey(*wrapping.spec));
    KMSD_ASSIGN_OR_RETURN(PkeyPtr key, ParsePrivateKey(private_key, *wrapping.spec));
    ImportParameters out;
    KMSD_ASSIGN_OR_RETURN(out.public_key, PublicKeyDer(key.get()));
    Bytes header(StrView(kImportTokenMagic).begin(), StrView(kImportTokenMagic).end());
    header.push_back(alg.code);
    header.push_back(wrapping.code);
    const auto ms = static_cast<std::uint64_t>(valid_to * 1000.0);
    for (int i = 7; i >= 0; --i) header.push_back(static_cast<std::uint8_t>(ms >> (8 * i)));
    const SecureBytes iv = RandomBytes(kGcmIvBytes);
    header.insert(header.end(), iv.begin(), iv.end());
    KMSD_ASSIGN_OR_RETURN(Bytes sealed,
                          AesGcmEncrypt(import_key_, iv, ImportTokenAad(header, arn), private_key));
    out.import_token = std::move(header);
    out.import_token.insert(out.import_token.end(), sealed.begin(), sealed.end());
    return out;
}

Result<Hsm::ImportTokenInfo> Hsm::ReadImportToken(const std::string& arn, ByteView token,
                                                  SecureBytes* wrapping_key) const {
    const Status invalid = Error(ErrorCode::kInvalidImportToken);
    if (token.size() < kImportHeaderBytes + kGcmTagBytes ||
        !std::equal(token.begin(), token.begin() + kImportMagicBytes, kImportTokenMagic))
        return invalid;
    ImportTokenInfo info;
    info.alg = WrappingAlgorithmByCode(token[kImportMagicBytes]);
    info.wrapping = WrappingKeySpecByCode(token[kImportMagicBytes + 1]);
    std::uint64_t ms = 0;
    for (std::size_t i = 0; i < 8; ++i) ms = (ms << 8) | token[kImportMagicBytes + 2 + i];
    info.valid_to = static_cast<double>(ms) / 1000.0;
    if (info.alg == nullptr || info.wrapping == nullptr) return invalid;
    // Authenticates the header and the key it was issued for.
    const ByteView header = token.subspan(0, kImportHeaderBytes);
    auto key = AesGcmDecrypt(import_key_, header.subspan(kImportHeaderBytes - kGcmIvBytes),
                             ImportTokenAad(header, arn), token.subspan(kImportHeaderBytes));
    if (!key.ok()) return invalid;
    if (wrapping_key != nullptr) *wrapping_key = std::move(key.value());
    return info;
}

Result<Hsm::ImportTokenInfo> Hsm::OpenImportToken(const std::string& arn, ByteView token) const {
    return ReadImportToken(arn, token, nullptr);
}

Result<SealedMaterial> Hsm::ImportWrapped(const std::string& arn, const std::string& key_id,
                                          const std::string& key_spec, ByteView token,
                                          ByteView encrypted) {
    KMSD_ASSIGN_OR_RETURN(const KeySpecInfo* spec, SpecOf(key_spec));
    SecureBytes wrapping_der;
    KMSD_ASSIGN_OR_RETURN(ImportTokenInfo info, ReadImportToken(arn, token, &wrapping_der));
    KMSD_ASSIGN_OR_RETURN(PkeyPtr wrapping_key,
                          ParsePrivateKey(wrapping_der, *info.wrapping->spec));
    KMSD_ASSIGN_OR_RETURN(SecureBytes material,
                          UnwrapKeyMaterial(wrapping_key.get(), *info.alg, encrypted));
    KMSD_RETURN_IF_ERROR(CheckImportedMaterial(*spec, material));
    // A private key is kept in one canonical encoding, so the same key re-imported in another
    // (with or without its public point, say) is recognised as the same material.
    if (IsAsymmetric(*spec)) {
        KMSD_ASSIGN_OR_RETURN(PkeyPtr key, ParsePrivateKey(material, *spec));
        KMSD_ASSIGN_OR_RETURN(material, Pkcs8Of(key.get()));
    }
    return SealWithDerivedId(arn, key_spec, material, kImportedMaterialIdLabel, key_id);
}

Result<Bytes> Hsm::ResealFor(const KeyRef& from, ByteView sealed, const std::string& to_arn) const {
    KMSD_ASSIGN_OR_RETURN(SecureBytes plain, Unseal(from, sealed));
    return Seal(KeyRef{to_arn, from.material_id, from.key_spec}, plain);
}

Result<Hsm::ImportedKey> Hsm::ImportPrivateKeyPem(const std::string& arn, std::string_view pem,
                                                  const std::string& key_id) {
    KMSD_ASSIGN_OR_RETURN(PemKey key, PrivateKeyFromPem(pem));
    ImportedKey out{std::string(key.spec->name), {}};
    KMSD_ASSIGN_OR_RETURN(out.sealed, ImportKey(arn, out.key_spec, key.pkcs8, key_id));
    return out;
}

std::size_t Hsm::IdentityOf(const KeyRef& ref) {
    std::size_t h = 0;
    for (const std::string* field : {&ref.arn, &ref.material_id, &ref.key_spec, &ref.partition})
        h = (h ^ std::hash<std::string>{}(*field)) * 0x100000001b3ULL;  // FNV-style combine
    return h;
}

Result<std::shared_ptr<const Hsm::Unsealed>> Hsm::Material(const KeyRef& ref) {
    if (ref.memo == nullptr) return CachedOrUnsealed(ref);
    const std::size_t identity = IdentityOf(ref);
    auto memo = std::static_pointer_cast<const Unsealed>(ref.memo->Get());
    if (memo != nullptr && memo->identity == identity) return memo;
    auto found = CachedOrUnsealed(ref);
    if (found.ok() && memo == nullptr) ref.memo->Set(*found);
    return found;
}

Result<std::shared_ptr<const Hsm::Unsealed>> Hsm::CachedOrUnsealed(const KeyRef& ref) {
    {
        std::shared_lock lock(cache_mu_);
        if (auto hit = FindCached(ref)) return hit;
    }
    if (store_ == nullptr) return Error(ErrorCode::kInternal, "no sealed key store");
    auto loaded = store_->LoadSealed(ref.arn, ref.material_id);
    // A key whose material row is gone (a damaged database) is an internal error, logged with
    // the key's ARN; the client learns nothing about the storage.
    if (!loaded.ok() && loaded.status().code() == ErrorCode::kNotFound)
        return Error(ErrorCode::kInternal, "sealed key material '" + ref.material_id + "' of " +
                                               ref.arn + " is missing from the database");
    KMSD_ASSIGN_OR_RETURN(Bytes sealed, std::move(loaded));
    // Unsealing checks the ARN, material ID and key spec (they are the seal's AAD), and the cache
    // entry keeps all three, so a cached root key serves only the key it was sealed for.
    KMSD_ASSIGN_OR_RETURN(SecureBytes plain, Unseal(ref, sealed));
    auto unsealed = std::make_shared<Unsealed>();
    unsealed->identity = IdentityOf(ref);
    const KeySpecInfo* spec = FindKeySpec(ref.key_spec);
    // An asymmetric key is kept only as the parsed key; other material as its bytes.
    if (spec != nullptr && IsAsymmetric(*spec)) {
        KMSD_ASSIGN_OR_RETURN(unsealed->pkey, ParsePrivateKey(plain, *spec));
    } else {
        if (plain.size() > Unsealed::kMaxBytes)
            return Error(ErrorCode::kInternal, "key material of an unexpected size");
        std::copy(plain.begin(), plain.end(), unsealed->inline_bytes.begin());
        unsealed->size = plain.size();
    }
    std::shared_ptr<const Unsealed> material = std::move(unsealed);
    std::unique_lock lock(cache_mu_);
    if (auto hit = FindCached(ref)) return hit;  // another thread unsealed it meanwhile
    cache_[ref.material_id].push_back({ref.arn, ref.key_spec, ref.partition, material});
    return material;
}

std::shared_ptr<const Hsm::Unsealed> Hsm::FindCached(const KeyRef& ref) const {
    auto it = cache_.find(ref.material_id);
    if (it == cache_.end()) return nullptr;
    for (const auto& entry : it->second)
        if (entry.arn == ref.arn && entry.key_spec == ref.key_spec &&
            entry.partition == ref.partition)
            return entry.material;
    return nullptr;
}

Result<Bytes> Hsm::Encrypt(const KeyRef& ref, ByteView plaintext, const EncryptionContext& ctx,
                           BlobKind kind) {
    KMSD_ASSIGN_OR_RETURN(auto material, Material(ref));
    BlobFields parts;
    parts.kind = kind;
    if (!FromHexInto(ref.material_id, parts.material_id.data(), kMaterialIdBytes))
        return Error(ErrorCode::kInternal, "bad material id");
    RandomFill(parts.nonce.data(), kNonceBytes);
    RandomFill(parts.iv.data(), parts.iv.size());

    // Per-message key: HKDF(backing key, nonce), so no two messages share a GCM key.
    KMSD_ASSIGN_OR_RETURN(SecureBytes msg_key, HkdfSha256(material->bytes(), parts.nonce,
                                                          StrView(kBlobInfo), kAes256KeyBytes));
    // The GCM input is our framing, then the plaintext; the AAD is the blob's header, then the
    // encoded context. The output goes straight to the blob's end.
    std::uint8_t framing[kFramingBytes] = {kFramingVersion, static_cast<std::uint8_t>(kind)};
    const std::size_t enc_len = kFramingBytes + plaintext.size() + kGcmTagBytes;
    Bytes blob = BuildBlobPrefix(parts, enc_len);
    const std::size_t at = blob.size();
    blob.resize(at + enc_len);
    const Bytes ctx_bytes = EncodeContext(ctx);
    KMSD_RETURN_IF_ERROR(AesGcmSealInto(msg_key, parts.iv,
                                        {ByteView(blob.data(), kHeaderBytes), ctx_bytes},
                                        {ByteView(framing), plaintext}, blob.data() + at));
    return blob;
}

Result<SecureBytes> Hsm::Decrypt(const KeyRef& ref, ByteView blob, const EncryptionContext& ctx) {
    KMSD_ASSIGN_OR_RETURN(BlobView parts, ParseBlobView(blob));
    return Decrypt(ref, parts, blob, ctx);
}

Result<SecureBytes> Hsm::Decrypt(const KeyRef& ref, const BlobView& parts, ByteView blob,
                                 const EncryptionContext& ctx) {
    const Status bad = Error(ErrorCode::kInvalidCiphertext);
    std::array<std::uint8_t, kMaterialIdBytes> wanted{};
    if (!FromHexInto(ref.material_id, wanted.data(), wanted.size()) || wanted != parts.material_id)
        return bad;
    KMSD_ASSIGN_OR_RETURN(auto material, Material(ref));
    KMSD_ASSIGN_OR_RETURN(SecureBytes msg_key, HkdfSha256(material->bytes(), parts.nonce,
                                                          StrView(kBlobInfo), kAes256KeyBytes));
    const Bytes ctx_bytes = EncodeContext(ctx);
    // ParseBlobView guarantees the encrypted part holds the framing, a byte and the tag.
    SecureBytes in(parts.encrypted.size() - kGcmTagBytes);
    if (!AesGcmOpenInto(msg_key, parts.iv, {blob.first(kHeaderBytes), ctx_bytes}, parts.encrypted,
                        in.data())
             .ok())
        return bad;
    if (in.size() <= kFramingBytes || in[0] != kFramingVersion ||
        in[1] != static_cast<std::uint8_t>(parts.kind))
        return bad;
    for (std::size_t i = 2; i < kFramingBytes; ++i)
        if (in[i] != 0) return bad;
    // The plaintext moves to the front; the bytes left behind are wiped with the buffer.
    in.erase(in.begin(), in.begin() + kFramingBytes);
    return in;
}

Result<DataKey> Hsm::GenerateDataKey(const KeyRef& ref, std::size_t bytes,
                                     const EncryptionContext& ctx) {
    DataKey out;
    out.plaintext = RandomBytes(bytes);
    KMSD_ASSIGN_OR_RETURN(out.ciphertext_blob,
                          Encrypt(ref, out.plaintext, ctx, BlobKind::kDataKey));
    return out;
}

Result<SecureBytes> Hsm::NewPrivateKey(const KeySpecInfo& spec) {
    if (spec.family != KeyFamily::kRsa) return GeneratePrivateKey(spec);
    if (rsa_keygens_.fetch_add(1) > 0) {
        rsa_keygens_.fetch_sub(1);
        // AWS's throttling answer; SDKs retry it with backoff.
        return Error(ErrorCode::kThrottling,
                     "You have exceeded the rate at which you may call KMS. Reduce the frequency "
                     "of your calls.");
    }
    auto key = GeneratePrivateKey(spec);
    rsa_keygens_.fetch_sub(1);
    return key;
}

Result<DataKeyPair> Hsm::GenerateDataKeyPair(const KeyRef& ref, const KeySpecInfo& pair_spec,
                                             const EncryptionContext& ctx) {
    DataKeyPair out;
    KMSD_ASSIGN_OR_RETURN(out.private_key, NewPrivateKey(pair_spec));
    KMSD_ASSIGN_OR_RETURN(PkeyPtr key, ParsePrivateKey(out.private_key, pair_spec));
    KMSD_ASSIGN_OR_RETURN(out.public_key, PublicKeyDer(key.get()));
    KMSD_ASSIGN_OR_RETURN(out.private_key_blob,
                          Encrypt(ref, out.private_key, ctx, BlobKind::kDataKey));
    return out;
}

Result<SecureBytes> Hsm::ExportMaterial(const KeyRef& ref) {
    KMSD_ASSIGN_OR_RETURN(auto material, Material(ref));
    if (material->pkey) return Pkcs8Of(material->pkey.get());
    const ByteView bytes = material->bytes();
    return SecureBytes(bytes.begin(), bytes.end());
}

Result<std::shared_ptr<evp_pkey_st>> Hsm::PrivateKey(const KeyRef& ref) {
    KMSD_ASSIGN_OR_RETURN(auto material, Material(ref));
    if (!material->pkey) return Error(ErrorCode::kInternal, ref.arn + " is not an asymmetric key");
    return material->pkey;
}

Result<Bytes> Hsm::PublicKey(const KeyRef& ref) {
    KMSD_ASSIGN_OR_RETURN(auto key, PrivateKey(ref));
    return PublicKeyDer(key.get());
}

Result<Bytes> Hsm::Sign(const KeyRef& ref, const SigningAlgorithmInfo& alg, bool is_digest,
                        ByteView message) {
    KMSD_ASSIGN_OR_RETURN(auto key, PrivateKey(ref));
    return SignMessage(key.get(), alg, is_digest, message);
}

Status Hsm::Verify(const KeyRef& ref, const SigningAlgorithmInfo& alg, bool is_digest,
                   ByteView message, ByteView signature) {
    KMSD_ASSIGN_OR_RETURN(auto key, PrivateKey(ref));
    return VerifyMessage(key.get(), alg, is_digest, message, signature);
}

Result<Bytes> Hsm::EncryptAsymmetric(const KeyRef& ref, const EncryptionAlgorithmInfo& alg,
                                     ByteView plaintext) {
    KMSD_ASSIGN_OR_RETURN(auto key, PrivateKey(ref));
    return EncryptWithPublicKey(key.get(), alg, plaintext);
}

Result<SecureBytes> Hsm::DecryptAsymmetric(const KeyRef& ref, const EncryptionAlgorithmInfo& alg,
                                           ByteView ciphertext) {
    KMSD_ASSIGN_OR_RETURN(auto key, PrivateKey(ref));
    return DecryptWithPrivateKey(key.get(), alg, ciphertext);
}

Result<SecureBytes> Hsm::DeriveSharedSecret(const KeyRef& ref, ByteView peer) {
    KMSD_ASSIGN_OR_RETURN(auto key, PrivateKey(ref));
    KMSD_ASSIGN_OR_RETURN(const KeySpecInfo* spec, SpecOf(ref.key_spec));
    return hsm::DeriveSharedSecret(key.get(), *spec, peer);
}

Result<SecureBytes> Hsm::GenerateMac(const KeyRef& ref, const MacAlgorithmInfo& alg,
                                     ByteView message) {
    KMSD_ASSIGN_OR_RETURN(auto material, Material(ref));
    return Hmac(material->bytes(), alg, message);
}

Status Hsm::VerifyMac(const KeyRef& ref, const MacAlgorithmInfo& alg, ByteView message,
                      ByteView mac) {
    KMSD_ASSIGN_OR_RETURN(SecureBytes expected, GenerateMac(ref, alg, message));
    if (!ConstantTimeEquals(expected, mac)) return Error(ErrorCode::kKmsInvalidMac);
    return Status::Ok();
}

Result<std::string> Hsm::BlobMaterialId(ByteView blob) {
    KMSD_ASSIGN_OR_RETURN(CiphertextHeader header, ReadCiphertext(blob));
    return ToHex(header.material_id);
}

Result<Hsm::CiphertextHeader> Hsm::ReadCiphertext(ByteView blob) {
    CiphertextHeader out;
    if (IsXksEnvelope(blob)) {
        KMSD_ASSIGN_OR_RETURN(XksEnvelope envelope, ParseXksEnvelope(blob));
        out.material_id = envelope.material_id;
        return out;
    }
    KMSD_ASSIGN_OR_RETURN(BlobView parts, ParseBlobView(blob));
    out.material_id = parts.material_id;
    out.parts = parts;
    return out;
}

Result<Bytes> Hsm::MakeCheckValue() { return Seal(kCheckRef, StrView(kCheckPlain)); }

Status Hsm::VerifyCheckValue(ByteView check) const {
    auto res = Unseal(kCheckRef, check);
    if (!res.ok() || !ConstantTimeEquals(res.value(), StrView(kCheckPlain)))
        return Error(ErrorCode::kInternal, "the master key does not match this database");
    return Status::Ok();
}

void Hsm::Evict(const std::string& material_id) {
    std::unique_lock lock(cache_mu_);
    cache_.erase(material_id);
}

void Hsm::EvictAll() {
    std::unique_lock lock(cache_mu_);
    cache_.clear();
}

}  // namespace kmsd::hsm
