#include "hsm/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace kmsd::hsm {
namespace {

constexpr std::size_t kSha256Bytes = 32;

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

// RAND_bytes costs about a microsecond a call (its locks, a fork check, a DRBG reseed check);
// Encrypt needs three small draws. Each thread draws 4 KiB at a time from OpenSSL's DRBG and
// hands it out; every byte is wiped from the pool as it is handed out, and the pool when the
// thread ends. kmsd never forks, so no two processes can share a pool. Large draws go straight
// to OpenSSL.
class RandomPool {
public:
    ~RandomPool() { OPENSSL_cleanse(bytes_, sizeof bytes_); }
    void Fill(std::uint8_t* out, std::size_t n) {
        if (n > sizeof bytes_ / 4) return Draw(out, n);
        if (n > left_) {
            Draw(bytes_, sizeof bytes_);
            left_ = sizeof bytes_;
        }
        std::uint8_t* from = bytes_ + (sizeof bytes_ - left_);
        std::memcpy(out, from, n);
        OPENSSL_cleanse(from, n);
        left_ -= n;
    }

private:
    static void Draw(std::uint8_t* out, std::size_t n) {
        if (RAND_bytes(out, Len(n)) != 1) throw std::runtime_error("RAND_bytes failed");
    }
    std::uint8_t bytes_[4096];
    std::size_t left_ = 0;
};

}  // namespace

SecureBytes RandomBytes(std::size_t n) {
    SecureBytes out(n);
    if (n == 0) return out;
    thread_local RandomPool pool;
    pool.Fill(out.data(), n);
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

namespace {

// One HMAC-SHA256 context per thread, keyed afresh per use: EVP_Q_mac and a new EVP_MAC_CTX per
// call look the algorithm and digest up by name each time, which cost more than the hashing.
class ThreadHmac {
public:
    ThreadHmac() : ctx_(EVP_MAC_CTX_new(Algos().hmac)) {
        char digest[] = "SHA256";
        OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                               OSSL_PARAM_construct_end()};
        if (!ctx_ || EVP_MAC_CTX_set_params(ctx_.get(), params) != 1)
            throw std::runtime_error("HMAC-SHA256 unavailable");
    }
    // HMAC(key, a || b) into out[0..32).
    void Mac(ByteView key, ByteView a, ByteView b, std::uint8_t* out) {
        std::size_t len = 0;
        // OpenSSL refuses a null key pointer even for an empty key.
        static const std::uint8_t kEmpty = 0;
        if (EVP_MAC_init(ctx_.get(), key.empty() ? &kEmpty : key.data(), key.size(), nullptr) !=
                1 ||
            EVP_MAC_update(ctx_.get(), a.data(), a.size()) != 1 ||
            EVP_MAC_update(ctx_.get(), b.data(), b.size()) != 1 ||
            EVP_MAC_final(ctx_.get(), out, &len, kSha256Bytes) != 1 || len != kSha256Bytes)
            throw std::runtime_error("HMAC-SHA256 failed");
    }

private:
    std::unique_ptr<EVP_MAC_CTX, MacCtxFree> ctx_;
};

ThreadHmac& Hmac() {
    thread_local ThreadHmac hmac;
    return hmac;
}

}  // namespace

// RFC 5869 over HMAC-SHA256 (checked against its test vectors in hsm_test). An empty salt is
// HashLen zero bytes, as the RFC defines it.
Result<SecureBytes> HkdfSha256(ByteView ikm, ByteView salt, ByteView info, std::size_t out_len) {
    if (out_len == 0 || out_len > 255 * kSha256Bytes)
        return Error(ErrorCode::kInternal, "bad HKDF length");
    static const std::uint8_t kZeroSalt[kSha256Bytes] = {};
    SecureBytes prk(kSha256Bytes);
    Hmac().Mac(salt.empty() ? ByteView(kZeroSalt, kSha256Bytes) : salt, ikm, {}, prk.data());
    SecureBytes out(out_len);
    // T(i) = HMAC(PRK, T(i-1) || info || i); the block input is T(i-1) || info, then the counter.
    SecureBytes block;
    std::uint8_t t[kSha256Bytes];
    for (std::size_t done = 0, i = 1; done < out_len; ++i) {
        block.assign(t, t + (i == 1 ? 0 : kSha256Bytes));
        block.insert(block.end(), info.begin(), info.end());
        const std::uint8_t counter = static_cast<std::uint8_t>(i);
        Hmac().Mac(prk, block, ByteView(&counter, 1), t);
        const std::size_t take = std::min(kSha256Bytes, out_len - done);
        std::memcpy(out.data() + done, t, take);
        done += take;
    }
    OPENSSL_cleanse(t, sizeof t);
    return out;
}

Bytes HmacSha256(ByteView key, ByteView data) {
    Bytes out(kSha256Bytes);
    Hmac().Mac(key, data, {}, out.data());
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
