#include "hsm/import.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <memory>

#include "hsm/asymmetric.h"
#include "hsm/crypto.h"

namespace kmsd::hsm {
namespace {

constexpr WrappingAlgorithmInfo kWrappingAlgorithms[] = {
    {"RSAES_OAEP_SHA_1", 1, "SHA1", false},
    {"RSAES_OAEP_SHA_256", 2, "SHA256", false},
    {"RSA_AES_KEY_WRAP_SHA_1", 3, "SHA1", true},
    {"RSA_AES_KEY_WRAP_SHA_256", 4, "SHA256", true},
    {"SM2PKE", 5, nullptr, false},
};

const WrappingKeySpecInfo kWrappingKeySpecs[] = {
    {"RSA_2048", 1, FindKeySpec("RSA_2048")},
    {"RSA_3072", 2, FindKeySpec("RSA_3072")},
    {"RSA_4096", 3, FindKeySpec("RSA_4096")},
    {"SM2", 4, FindKeySpec("SM2")},
};

struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};

// RFC 5649 AES key wrap with padding (OpenSSL's id-aes256-wrap-pad), unwrapping.
Result<SecureBytes> AesKeyUnwrapPad(ByteView key, ByteView wrapped) {
    const Status bad = Error(ErrorCode::kInvalidCiphertext);
    // At least two 64-bit blocks, whole blocks only (RFC 5649 §3).
    if (wrapped.size() < 16 || wrapped.size() % 8 != 0) return bad;
    std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
    if (!ctx) return Error(ErrorCode::kInternal, "no cipher context");
    EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    if (EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_wrap_pad(), nullptr, key.data(), nullptr) != 1)
        return Error(ErrorCode::kInternal, "key unwrap init failed");
    SecureBytes out(wrapped.size() + 16);
    int len = 0;
    int tail = 0;
    if (EVP_DecryptUpdate(ctx.get(), out.data(), &len, wrapped.data(),
                          static_cast<int>(wrapped.size())) != 1 ||
        len <= 0 || EVP_DecryptFinal_ex(ctx.get(), out.data() + len, &tail) != 1) {
        ERR_clear_error();
        return bad;
    }
    out.resize(static_cast<std::size_t>(len + tail));
    return out;
}

Result<const EncryptionAlgorithmInfo*> RsaOrSm2Decryption(const WrappingAlgorithmInfo& alg) {
    const char* name = alg.oaep_digest == nullptr                    ? "SM2PKE"
                       : std::string_view(alg.oaep_digest) == "SHA1" ? "RSAES_OAEP_SHA_1"
                                                                     : "RSAES_OAEP_SHA_256";
    const EncryptionAlgorithmInfo* info = FindEncryptionAlgorithm(name);
    if (info == nullptr) return Error(ErrorCode::kInternal, "no decryption algorithm");
    return info;
}

}  // namespace

const WrappingAlgorithmInfo* FindWrappingAlgorithm(std::string_view name) {
    for (const auto& a : kWrappingAlgorithms)
        if (a.name == name) return &a;
    return nullptr;
}

const WrappingAlgorithmInfo* WrappingAlgorithmByCode(std::uint8_t code) {
    for (const auto& a : kWrappingAlgorithms)
        if (a.code == code) return &a;
    return nullptr;
}

const WrappingKeySpecInfo* FindWrappingKeySpec(std::string_view name) {
    for (const auto& s : kWrappingKeySpecs)
        if (s.name == name) return &s;
    return nullptr;
}

const WrappingKeySpecInfo* WrappingKeySpecByCode(std::uint8_t code) {
    for (const auto& s : kWrappingKeySpecs)
        if (s.code == code) return &s;
    return nullptr;
}

Result<SecureBytes> UnwrapKeyMaterial(EVP_PKEY* wrapping_key, const WrappingAlgorithmInfo& alg,
                                      ByteView wrapped) {
    KMSD_ASSIGN_OR_RETURN(const EncryptionAlgorithmInfo* decryption, RsaOrSm2Decryption(alg));
    if (!alg.aes_key_wrap) return DecryptWithPrivateKey(wrapping_key, *decryption, wrapped);
    // RSA_AES_KEY_WRAP: the first modulus-length bytes are the OAEP-wrapped AES-256 key, the
    // rest is the material under AES key wrap with padding.
    const auto rsa_bytes = static_cast<std::size_t>(EVP_PKEY_get_size(wrapping_key));
    if (wrapped.size() <= rsa_bytes) return Error(ErrorCode::kInvalidCiphertext);
    KMSD_ASSIGN_OR_RETURN(
        SecureBytes aes_key,
        DecryptWithPrivateKey(wrapping_key, *decryption, wrapped.subspan(0, rsa_bytes)));
    if (aes_key.size() != kAes256KeyBytes) return Error(ErrorCode::kInvalidCiphertext);
    return AesKeyUnwrapPad(aes_key, wrapped.subspan(rsa_bytes));
}

Status CheckImportedMaterial(const KeySpecInfo& spec, ByteView material) {
    const std::size_t n = material.size();
    switch (spec.family) {
        case KeyFamily::kSymmetric:
            if (n != kAes256KeyBytes)
                return Error(ErrorCode::kIncorrectKeyMaterial,
                             "Key material for a SYMMETRIC_DEFAULT key must be 256 bits (32 "
                             "bytes) long.");
            return Status::Ok();
        case KeyFamily::kHmac: {
            // The smallest key is the digest's output length, the largest its block size.
            const std::size_t min = spec.bits / 8;
            const std::size_t max = spec.bits <= 256 ? 64 : 128;
            if (n < min || n > max)
                return Error(ErrorCode::kIncorrectKeyMaterial,
                             "Key material for an " + std::string(spec.name) + " key must be " +
                                 std::to_string(min) + " to " + std::to_string(max) +
                                 " bytes long.");
            return Status::Ok();
        }
        default:
            break;
    }
    auto key = ParsePrivateKey(material, spec);
    if (!key.ok())
        return Error(ErrorCode::kIncorrectKeyMaterial,
                     "Key material must be a DER-encoded PKCS #8 private key of key spec " +
                         std::string(spec.name) + ".");
    if (!IsConsistentKeyPair(key->get()))
        return Error(ErrorCode::kIncorrectKeyMaterial,
                     "The private key's public and private parts do not belong together.");
    return Status::Ok();
}

Status CheckWrappingChoice(const KeySpecInfo& spec, const WrappingAlgorithmInfo& alg,
                           const WrappingKeySpecInfo& wrapping) {
    const bool sm2_alg = alg.oaep_digest == nullptr;
    const bool sm2_key = wrapping.spec->family == KeyFamily::kSm2;
    if (sm2_alg != sm2_key)
        return Error(ErrorCode::kValidation,
                     "The SM2PKE wrapping algorithm requires the SM2 wrapping key spec, and the "
                     "SM2 wrapping key spec requires SM2PKE.");
    if (spec.family == KeyFamily::kRsa && !alg.aes_key_wrap)
        return Error(ErrorCode::kValidation,
                     "To import RSA key material, use an RSA_AES_KEY_WRAP_SHA_1 or "
                     "RSA_AES_KEY_WRAP_SHA_256 wrapping algorithm.");
    if (spec.name == "ECC_NIST_P521" && !alg.aes_key_wrap && wrapping.spec->bits == 2048)
        return Error(ErrorCode::kValidation,
                     "An RSA_2048 wrapping key cannot wrap ECC_NIST_P521 key material with an "
                     "RSAES_OAEP algorithm. Use an RSA_AES_KEY_WRAP algorithm or a longer "
                     "wrapping key.");
    return Status::Ok();
}

}  // namespace kmsd::hsm
