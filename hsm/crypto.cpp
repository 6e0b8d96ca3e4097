#include "hsm/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

namespace kmsd::hsm {
namespace {

struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* p) const { EVP_CIPHER_CTX_free(p); }
};
struct KdfCtxFree {
    void operator()(EVP_KDF_CTX* p) const { EVP_KDF_CTX_free(p); }
};
struct MacCtxFree {
    void operator()(EVP_MAC_CTX* p) const { EVP_MAC_CTX_free(p); }
};

// Algorithms fetched once for the life of the process.
struct Algorithms {
    EVP_CIPHER* aes256gcm = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    EVP_KDF* hkdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    EVP_MAC* hmac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
    EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    Algorithms() {
        if (!aes256gcm || !hkdf || !hmac || !sha256)
            throw std::runtime_error("OpenSSL algorithms unavailable");
    }
};

const Algorithms& Algos() {
    static const Algorithms algos;
    return algos;
}

// One cipher context per thread, re-initialised per call: no allocation on the hot path.
EVP_CIPHER_CTX* ThreadCipherCtx() {
    thread_local std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx(EVP_CIPHER_CTX_new());
    return ctx.get();
}

int Len(std::size_t n) { return static_cast<int>(n); }

}  // namespace

SecureBytes RandomBytes(std::size_t n) {
    SecureBytes out(n);
    if (n > 0 && RAND_bytes(out.data(), Len(n)) != 1) throw std::runtime_error("RAND_bytes failed");
    return out;
}

std::string RandomHex(std::size_t n) {
    static const char* kHex = "0123456789abcdef";
    SecureBytes raw = RandomBytes(n);
    std::string out;
    out.reserve(n * 2);
    for (auto b : raw) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 15]);
    }
    return out;
}

Result<Bytes> AesGcmEncrypt(ByteView key, ByteView iv, ByteView aad, ByteView plaintext) {
    if (key.size() != kAes256KeyBytes || iv.size() != kGcmIvBytes)
        return Error(ErrorCode::kInternal, "bad AES-GCM parameters");
    EVP_CIPHER_CTX* ctx = ThreadCipherCtx();
    Bytes out(plaintext.size() + kGcmTagBytes);
    int len = 0;
    if (EVP_EncryptInit_ex2(ctx, Algos().aes256gcm, key.data(), iv.data(), nullptr) != 1 ||
        (!aad.empty() && EVP_EncryptUpdate(ctx, nullptr, &len, aad.data(), Len(aad.size())) != 1) ||
        EVP_EncryptUpdate(ctx, out.data(), &len, plaintext.data(), Len(plaintext.size())) != 1 ||
        EVP_EncryptFinal_ex(ctx, out.data() + len, &len) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kGcmTagBytes,
                            out.data() + plaintext.size()) != 1)
        return Error(ErrorCode::kInternal, "AES-GCM encryption failed");
    return out;
}

Result<SecureBytes> AesGcmDecrypt(ByteView key, ByteView iv, ByteView aad, ByteView sealed) {
    if (key.size() != kAes256KeyBytes || iv.size() != kGcmIvBytes || sealed.size() < kGcmTagBytes)
        return Error(ErrorCode::kInvalidCiphertext);
    EVP_CIPHER_CTX* ctx = ThreadCipherCtx();
    std::size_t ct_len = sealed.size() - kGcmTagBytes;
    SecureBytes out(ct_len);
    int len = 0;
    // The tag is const in practice; OpenSSL's ctrl signature takes a void*.
    auto* tag = const_cast<std::uint8_t*>(sealed.data() + ct_len);
    if (EVP_DecryptInit_ex2(ctx, Algos().aes256gcm, key.data(), iv.data(), nullptr) != 1 ||
        (!aad.empty() && EVP_DecryptUpdate(ctx, nullptr, &len, aad.data(), Len(aad.size())) != 1) ||
        EVP_DecryptUpdate(ctx, out.data(), &len, sealed.data(), Len(ct_len)) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kGcmTagBytes, tag) != 1 ||
        EVP_DecryptFinal_ex(ctx, out.data() + len, &len) != 1)
        return Error(ErrorCode::kInvalidCiphertext);
    return out;
}

Result<SecureBytes> HkdfSha256(ByteView ikm, ByteView salt, ByteView info, std::size_t out_len) {
    std::unique_ptr<EVP_KDF_CTX, KdfCtxFree> ctx(EVP_KDF_CTX_new(Algos().hkdf));
    if (!ctx) return Error(ErrorCode::kInternal, "HKDF unavailable");
    char digest[] = "SHA256";
    // An empty salt is left out: OpenSSL rejects a zero-length octet-string parameter, and
    // RFC 5869 defines an absent salt as HashLen zero bytes anyway.
    OSSL_PARAM params[5];
    std::size_t n = 0;
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    params[n++] = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_KEY, const_cast<std::uint8_t*>(ikm.data()), ikm.size());
    if (!salt.empty())
        params[n++] = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_SALT, const_cast<std::uint8_t*>(salt.data()), salt.size());
    if (!info.empty())
        params[n++] = OSSL_PARAM_construct_octet_string(
            OSSL_KDF_PARAM_INFO, const_cast<std::uint8_t*>(info.data()), info.size());
    params[n] = OSSL_PARAM_construct_end();
    SecureBytes out(out_len);
    if (EVP_KDF_derive(ctx.get(), out.data(), out.size(), params) != 1)
        return Error(ErrorCode::kInternal, "HKDF failed");
    return out;
}

Bytes HmacSha256(ByteView key, ByteView data) {
    std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx(EVP_MAC_CTX_new(Algos().hmac));
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    Bytes out(32);
    std::size_t len = 0;
    if (!ctx || EVP_MAC_init(ctx.get(), key.data(), key.size(), params) != 1 ||
        EVP_MAC_update(ctx.get(), data.data(), data.size()) != 1 ||
        EVP_MAC_final(ctx.get(), out.data(), &len, out.size()) != 1)
        throw std::runtime_error("HMAC-SHA256 failed");
    return out;
}

Bytes Sha256(ByteView data) {
    Bytes out(32);
    unsigned int len = 0;
    if (EVP_Digest(data.data(), data.size(), out.data(), &len, Algos().sha256, nullptr) != 1)
        throw std::runtime_error("SHA-256 failed");
    return out;
}

bool ConstantTimeEquals(ByteView a, ByteView b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace kmsd::hsm
