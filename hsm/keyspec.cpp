#include "hsm/keyspec.h"

namespace kmsd::hsm {
namespace {

using List = std::span<const std::string_view>;

constexpr std::string_view kEncryptOnly[] = {"ENCRYPT_DECRYPT"};
constexpr std::string_view kRsaUsages[] = {"ENCRYPT_DECRYPT", "SIGN_VERIFY"};
constexpr std::string_view kNistUsages[] = {"SIGN_VERIFY", "KEY_AGREEMENT"};
constexpr std::string_view kSignOnly[] = {"SIGN_VERIFY"};
constexpr std::string_view kMacOnly[] = {"GENERATE_VERIFY_MAC"};
constexpr std::string_view kSm2Usages[] = {"ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT"};

constexpr std::string_view kSymmetricAlgs[] = {"SYMMETRIC_DEFAULT"};
constexpr std::string_view kRsaEncryption[] = {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"};
constexpr std::string_view kRsaSigning[] = {
    "RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512",
    "RSASSA_PSS_SHA_256",        "RSASSA_PSS_SHA_384",        "RSASSA_PSS_SHA_512"};
constexpr std::string_view kEcdsa256[] = {"ECDSA_SHA_256"};
constexpr std::string_view kEcdsa384[] = {"ECDSA_SHA_384"};
constexpr std::string_view kEcdsa512[] = {"ECDSA_SHA_512"};
constexpr std::string_view kEd25519Algs[] = {"ED25519_SHA_512", "ED25519_PH_SHA_512"};
constexpr std::string_view kMlDsaAlgs[] = {"ML_DSA_SHAKE_256"};
constexpr std::string_view kSm2Signing[] = {"SM2DSA"};
constexpr std::string_view kSm2Encryption[] = {"SM2PKE"};
constexpr std::string_view kHmac224[] = {"HMAC_SHA_224"};
constexpr std::string_view kHmac256[] = {"HMAC_SHA_256"};
constexpr std::string_view kHmac384[] = {"HMAC_SHA_384"};
constexpr std::string_view kHmac512[] = {"HMAC_SHA_512"};

constexpr KeySpecInfo kSpecs[] = {
    {"SYMMETRIC_DEFAULT",
     KeyFamily::kSymmetric,
     256,
     nullptr,
     kEncryptOnly,
     {},
     kSymmetricAlgs,
     {},
     false},
    {"RSA_2048", KeyFamily::kRsa, 2048, nullptr, kRsaUsages, kRsaSigning, kRsaEncryption, {}, true},
    {"RSA_3072", KeyFamily::kRsa, 3072, nullptr, kRsaUsages, kRsaSigning, kRsaEncryption, {}, true},
    {"RSA_4096", KeyFamily::kRsa, 4096, nullptr, kRsaUsages, kRsaSigning, kRsaEncryption, {}, true},
    {"ECC_NIST_P256", KeyFamily::kEc, 256, "P-256", kNistUsages, kEcdsa256, {}, {}, true},
    {"ECC_NIST_P384", KeyFamily::kEc, 384, "P-384", kNistUsages, kEcdsa384, {}, {}, true},
    {"ECC_NIST_P521", KeyFamily::kEc, 521, "P-521", kNistUsages, kEcdsa512, {}, {}, true},
    {"ECC_SECG_P256K1", KeyFamily::kEc, 256, "secp256k1", kSignOnly, kEcdsa256, {}, {}, true},
    {"ECC_NIST_EDWARDS25519",
     KeyFamily::kEd25519,
     255,
     nullptr,
     kSignOnly,
     kEd25519Algs,
     {},
     {},
     true},
    {"HMAC_224", KeyFamily::kHmac, 224, nullptr, kMacOnly, {}, {}, kHmac224, false},
    {"HMAC_256", KeyFamily::kHmac, 256, nullptr, kMacOnly, {}, {}, kHmac256, false},
    {"HMAC_384", KeyFamily::kHmac, 384, nullptr, kMacOnly, {}, {}, kHmac384, false},
    {"HMAC_512", KeyFamily::kHmac, 512, nullptr, kMacOnly, {}, {}, kHmac512, false},
    {"SM2", KeyFamily::kSm2, 256, "SM2", kSm2Usages, kSm2Signing, kSm2Encryption, {}, true},
    {"ML_DSA_44", KeyFamily::kMlDsa, 0, nullptr, kSignOnly, kMlDsaAlgs, {}, {}, false},
    {"ML_DSA_65", KeyFamily::kMlDsa, 0, nullptr, kSignOnly, kMlDsaAlgs, {}, {}, false},
    {"ML_DSA_87", KeyFamily::kMlDsa, 0, nullptr, kSignOnly, kMlDsaAlgs, {}, {}, false},
};

constexpr SigningAlgorithmInfo kSigning[] = {
    {"RSASSA_PSS_SHA_256", SigScheme::kRsaPss, "SHA256", 32},
    {"RSASSA_PSS_SHA_384", SigScheme::kRsaPss, "SHA384", 48},
    {"RSASSA_PSS_SHA_512", SigScheme::kRsaPss, "SHA512", 64},
    {"RSASSA_PKCS1_V1_5_SHA_256", SigScheme::kRsaPkcs1, "SHA256", 32},
    {"RSASSA_PKCS1_V1_5_SHA_384", SigScheme::kRsaPkcs1, "SHA384", 48},
    {"RSASSA_PKCS1_V1_5_SHA_512", SigScheme::kRsaPkcs1, "SHA512", 64},
    {"ECDSA_SHA_256", SigScheme::kEcdsa, "SHA256", 32},
    {"ECDSA_SHA_384", SigScheme::kEcdsa, "SHA384", 48},
    {"ECDSA_SHA_512", SigScheme::kEcdsa, "SHA512", 64},
    {"ED25519_SHA_512", SigScheme::kEd25519, nullptr, 0},
    // The DIGEST is SHA-512 of the message; Ed25519ph hashes it once more (RFC 8032 §5.1).
    {"ED25519_PH_SHA_512", SigScheme::kEd25519ph, "SHA512", 64},
    {"SM2DSA", SigScheme::kSm2, "SM3", 32},
    {"ML_DSA_SHAKE_256", SigScheme::kMlDsa, nullptr, 0},
};

constexpr EncryptionAlgorithmInfo kEncryption[] = {
    {"SYMMETRIC_DEFAULT", nullptr, 0},
    {"RSAES_OAEP_SHA_1", "SHA1", 20},
    {"RSAES_OAEP_SHA_256", "SHA256", 32},
    {"SM2PKE", nullptr, 0},
};

constexpr MacAlgorithmInfo kMac[] = {
    {"HMAC_SHA_224", "SHA224", 28},
    {"HMAC_SHA_256", "SHA256", 32},
    {"HMAC_SHA_384", "SHA384", 48},
    {"HMAC_SHA_512", "SHA512", 64},
};

template <typename T, std::size_t N>
const T* FindByName(const T (&table)[N], std::string_view name) {
    for (const auto& entry : table)
        if (entry.name == name) return &entry;
    return nullptr;
}

}  // namespace

const KeySpecInfo* FindKeySpec(std::string_view name) { return FindByName(kSpecs, name); }

bool Lists(List list, std::string_view algorithm) {
    for (const auto& a : list)
        if (a == algorithm) return true;
    return false;
}

bool AllowsUsage(const KeySpecInfo& spec, std::string_view usage) {
    return Lists(spec.usages, usage);
}

bool IsAsymmetric(const KeySpecInfo& spec) {
    return spec.family != KeyFamily::kSymmetric && spec.family != KeyFamily::kHmac;
}

bool Implemented(const KeySpecInfo& spec) {
    // ML-DSA needs OpenSSL 3.5; Debian bookworm has 3.0, and kmsd does not hand-roll it.
    return spec.family != KeyFamily::kMlDsa;
}

const SigningAlgorithmInfo* FindSigningAlgorithm(std::string_view name) {
    return FindByName(kSigning, name);
}

const EncryptionAlgorithmInfo* FindEncryptionAlgorithm(std::string_view name) {
    return FindByName(kEncryption, name);
}

const MacAlgorithmInfo* FindMacAlgorithm(std::string_view name) { return FindByName(kMac, name); }

std::size_t MaxOaepPlaintext(const KeySpecInfo& spec, const EncryptionAlgorithmInfo& alg) {
    return spec.bits / 8 - 2 * alg.hash_bytes - 2;
}

}  // namespace kmsd::hsm
