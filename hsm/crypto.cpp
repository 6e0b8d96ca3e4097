// SHA256_Init/Update/Final are deprecated in OpenSSL 3 in favour of EVP, whose per-call overhead
// is what Hmac() below avoids; they remain part of OpenSSL 3's API.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "hsm/crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sodium.h>

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

// Algorithms fetched once for the life of the process.
struct Algorithms {
    EVP_CIPHER* aes256gcm = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    EVP_MD* sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
    Algorithms() {
        if (!aes256gcm || !sha256) throw std::runtime_error("OpenSSL algorithms unavailable");
    }
};

const Algorithms& Algos() {
    static const Algorithms algos;
    return algos;
}

// One AES-256-GCM context per thread, bound to the cipher once; each call only sets the key and
// IV. Naming the cipher on every call made OpenSSL free and rebuild the provider context
// (an allocation, a wipe and parameter lookups: about a microsecond).
EVP_CIPHER_CTX* ThreadGcmCtx() {
    thread_local std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> ctx = [] {
        std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree> c(EVP_CIPHER_CTX_new());
        if (c && EVP_CipherInit_ex2(c.get(), Algos().aes256gcm, nullptr, nullptr, 1, nullptr) != 1)
            c.reset();
        return c;
    }();
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
    ~RandomPool() { SecureWipe(bytes_, sizeof bytes_); }
    void Fill(std::uint8_t* out, std::size_t n) {
        if (n > sizeof bytes_ / 4) return Draw(out, n);
        if (n > left_) {
            Draw(bytes_, sizeof bytes_);
            left_ = sizeof bytes_;
        }
        std::uint8_t* from = bytes_ + (sizeof bytes_ - left_);
        std::memcpy(out, from, n);
        SecureWipe(from, n);
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

void RandomFill(std::uint8_t* out, std::size_t n) {
    if (n == 0) return;
    thread_local RandomPool pool;
    pool.Fill(out, n);
}

SecureBytes RandomBytes(std::size_t n) {
    SecureBytes out(n);
    RandomFill(out.data(), n);
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

namespace {

// The AAD pieces into a GCM context (EVP_CipherUpdate with no output); GCM takes AAD in pieces of
// any size as long as all of it comes before the text.
bool AddAad(EVP_CIPHER_CTX* ctx, std::initializer_list<ByteView> aad) {
    int len = 0;
    for (ByteView piece : aad)
        if (!piece.empty() &&
            EVP_CipherUpdate(ctx, nullptr, &len, piece.data(), Len(piece.size())) != 1)
            return false;
    return true;
}

}  // namespace

namespace gcm {

bool SodiumAvailable() {
    // sodium_init detects the CPU's features, which crypto_aead_aes256gcm_is_available reads.
    static const bool available = sodium_init() >= 0 && crypto_aead_aes256gcm_is_available() == 1;
    return available;
}

Status SealEvp(ByteView key, ByteView iv, std::initializer_list<ByteView> aad,
               std::initializer_list<ByteView> plaintext, std::uint8_t* out) {
    const Status failed = Error(ErrorCode::kInternal, "AES-GCM encryption failed");
    EVP_CIPHER_CTX* ctx = ThreadGcmCtx();
    if (ctx == nullptr ||
        EVP_CipherInit_ex2(ctx, nullptr, key.data(), iv.data(), 1, nullptr) != 1 ||
        !AddAad(ctx, aad))
        return failed;
    std::size_t done = 0;
    int len = 0;
    for (ByteView piece : plaintext) {
        if (piece.empty()) continue;
        // GCM is a stream mode: each piece's ciphertext is exactly its length.
        if (EVP_EncryptUpdate(ctx, out + done, &len, piece.data(), Len(piece.size())) != 1)
            return failed;
        done += static_cast<std::size_t>(len);
    }
    if (EVP_EncryptFinal_ex(ctx, out + done, &len) != 1) return failed;
    done += static_cast<std::size_t>(len);
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, kGcmTagBytes, out + done) != 1)
        return failed;
    return Status::Ok();
}

Status OpenEvp(ByteView key, ByteView iv, std::initializer_list<ByteView> aad, ByteView sealed,
               std::uint8_t* out) {
    const Status bad = Error(ErrorCode::kInvalidCiphertext);
    EVP_CIPHER_CTX* ctx = ThreadGcmCtx();
    const std::size_t ct_len = sealed.size() - kGcmTagBytes;
    int len = 0;
    // The tag is const in practice; OpenSSL's ctrl signature takes a void*.
    auto* tag = const_cast<std::uint8_t*>(sealed.data() + ct_len);
    if (ctx == nullptr ||
        EVP_CipherInit_ex2(ctx, nullptr, key.data(), iv.data(), 0, nullptr) != 1 ||
        !AddAad(ctx, aad) ||
        (ct_len > 0 && EVP_DecryptUpdate(ctx, out, &len, sealed.data(), Len(ct_len)) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, kGcmTagBytes, tag) != 1 ||
        EVP_DecryptFinal_ex(ctx, out + len, &len) != 1) {
        // Unauthenticated plaintext never leaves: the caller sees only the failure.
        if (ct_len > 0) SecureWipe(out, ct_len);
        return bad;
    }
    return Status::Ok();
}

namespace {

// The pieces as one run of bytes, as libsodium takes them: the only non-empty piece itself, else
// the pieces copied into `local` (or, past its size, into `spill`). Whatever is copied is wiped
// when the Joined goes: the plaintext's pieces are secrets.
class Joined {
public:
    explicit Joined(std::initializer_list<ByteView> pieces) {
        std::size_t total = 0, nonempty = 0;
        for (ByteView piece : pieces)
            if (!piece.empty()) {
                total += piece.size();
                view_ = piece;
                ++nonempty;
            }
        if (nonempty < 2) return;
        std::uint8_t* to = local_;
        if (total > sizeof local_) {
            spill_.resize(total);
            to = spill_.data();
        }
        copied_ = to;
        for (ByteView piece : pieces) {
            if (!piece.empty()) std::memcpy(to, piece.data(), piece.size());
            to += piece.size();
        }
        view_ = ByteView(copied_, total);
    }
    ~Joined() {
        if (copied_ == local_) SecureWipe(local_, view_.size());
    }
    Joined(const Joined&) = delete;
    Joined& operator=(const Joined&) = delete;
    ByteView view() const { return view_; }

private:
    ByteView view_;
    std::uint8_t* copied_ = nullptr;
    SecureBytes spill_;  // wipes itself
    std::uint8_t local_[512];
};

// libsodium's expanded key, wiped when it goes.
struct SodiumKey {
    crypto_aead_aes256gcm_state state;
    explicit SodiumKey(ByteView key) { crypto_aead_aes256gcm_beforenm(&state, key.data()); }
    ~SodiumKey() { sodium_memzero(&state, sizeof state); }
    SodiumKey(const SodiumKey&) = delete;
    SodiumKey& operator=(const SodiumKey&) = delete;
};

}  // namespace

Status SealSodium(ByteView key, ByteView iv, std::initializer_list<ByteView> aad,
                  std::initializer_list<ByteView> plaintext, std::uint8_t* out) {
    const Joined a(aad), p(plaintext);
    const SodiumKey k(key);
    unsigned long long tag_len = 0;  // NOLINT(google-runtime-int): libsodium's type
    if (crypto_aead_aes256gcm_encrypt_detached_afternm(
            out, out + p.view().size(), &tag_len, p.view().data(), p.view().size(), a.view().data(),
            a.view().size(), nullptr, iv.data(), &k.state) != 0 ||
        tag_len != kGcmTagBytes)
        return Error(ErrorCode::kInternal, "AES-GCM encryption failed");
    return Status::Ok();
}

Status OpenSodium(ByteView key, ByteView iv, std::initializer_list<ByteView> aad, ByteView sealed,
                  std::uint8_t* out) {
    const Joined a(aad);
    const SodiumKey k(key);
    const std::size_t ct_len = sealed.size() - kGcmTagBytes;
    if (crypto_aead_aes256gcm_decrypt_detached_afternm(out, nullptr, sealed.data(), ct_len,
                                                       sealed.data() + ct_len, a.view().data(),
                                                       a.view().size(), iv.data(), &k.state) != 0) {
        // Unauthenticated plaintext never leaves: the caller sees only the failure.
        if (ct_len > 0) SecureWipe(out, ct_len);
        return Error(ErrorCode::kInvalidCiphertext);
    }
    return Status::Ok();
}

}  // namespace gcm

// libsodium's AES-256-GCM where the CPU has AES-NI and carry-less multiply (every x86-64 kmsd
// runs on in practice), else OpenSSL's. The same cipher, byte for byte (hsm_test checks each
// against the other and against NIST's vectors; test_symmetric opens blobs with Python's
// `cryptography`). For the short messages of KMS, OpenSSL's EVP layer costs more than the
// cipher: provider dispatch on every init, and a lookup of every parameter name to return the
// tag (about 300 ns of Encrypt's 500 ns of AES-GCM).
Status AesGcmSealInto(ByteView key, ByteView iv, std::initializer_list<ByteView> aad,
                      std::initializer_list<ByteView> plaintext, std::uint8_t* out) {
    if (key.size() != kAes256KeyBytes || iv.size() != kGcmIvBytes)
        return Error(ErrorCode::kInternal, "bad AES-GCM parameters");
    return gcm::SodiumAvailable() ? gcm::SealSodium(key, iv, aad, plaintext, out)
                                  : gcm::SealEvp(key, iv, aad, plaintext, out);
}

Status AesGcmOpenInto(ByteView key, ByteView iv, std::initializer_list<ByteView> aad,
                      ByteView sealed, std::uint8_t* out) {
    if (key.size() != kAes256KeyBytes || iv.size() != kGcmIvBytes || sealed.size() < kGcmTagBytes)
        return Error(ErrorCode::kInvalidCiphertext);
    return gcm::SodiumAvailable() ? gcm::OpenSodium(key, iv, aad, sealed, out)
                                  : gcm::OpenEvp(key, iv, aad, sealed, out);
}

Result<Bytes> AesGcmEncrypt(ByteView key, ByteView iv, ByteView aad, ByteView plaintext) {
    Bytes out(plaintext.size() + kGcmTagBytes);
    KMSD_RETURN_IF_ERROR(AesGcmSealInto(key, iv, {aad}, {plaintext}, out.data()));
    return out;
}

Result<SecureBytes> AesGcmDecrypt(ByteView key, ByteView iv, ByteView aad, ByteView sealed) {
    if (sealed.size() < kGcmTagBytes) return Error(ErrorCode::kInvalidCiphertext);
    SecureBytes out(sealed.size() - kGcmTagBytes);
    KMSD_RETURN_IF_ERROR(AesGcmOpenInto(key, iv, {aad}, sealed, out.data()));
    return out;
}

namespace {

// HMAC-SHA256 (RFC 2104) of a || b under `key`, over OpenSSL's SHA-256 (SHA-NI where the CPU
// has it). Every Encrypt and Decrypt makes two HMACs with fresh keys (HKDF), and re-keying an
// EVP_MAC goes through the provider layer each time: context copies and parameter lookups that
// cost three times the hashing. Checked against RFC 4231 and RFC 5869 in hsm_test, and by every
// ciphertext of the upgrade fixtures, made before this.
void Hmac(ByteView key, ByteView a, ByteView b, std::uint8_t* out) {
    constexpr std::size_t kBlock = 64;
    std::uint8_t k[kBlock] = {};
    if (key.size() > kBlock)
        SHA256(key.data(), key.size(), k);
    else if (!key.empty())
        std::memcpy(k, key.data(), key.size());
    std::uint8_t pad[kBlock];
    std::uint8_t inner[kSha256Bytes];
    SHA256_CTX ctx;
    for (std::size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x36;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, pad, kBlock);
    if (!a.empty()) SHA256_Update(&ctx, a.data(), a.size());
    if (!b.empty()) SHA256_Update(&ctx, b.data(), b.size());
    SHA256_Final(inner, &ctx);
    for (std::size_t i = 0; i < kBlock; ++i) pad[i] = k[i] ^ 0x5c;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, pad, kBlock);
    SHA256_Update(&ctx, inner, kSha256Bytes);
    SHA256_Final(out, &ctx);
    SecureWipe(k, sizeof k);
    SecureWipe(pad, sizeof pad);
    SecureWipe(inner, sizeof inner);
    SecureWipe(&ctx, sizeof ctx);
}

}  // namespace

// RFC 5869 over HMAC-SHA256 (checked against its test vectors in hsm_test). An empty salt is
// HashLen zero bytes, as the RFC defines it.
Result<SecureBytes> HkdfSha256(ByteView ikm, ByteView salt, ByteView info, std::size_t out_len) {
    if (out_len == 0 || out_len > 255 * kSha256Bytes)
        return Error(ErrorCode::kInternal, "bad HKDF length");
    static const std::uint8_t kZeroSalt[kSha256Bytes] = {};
    SecureBytes prk(kSha256Bytes);
    Hmac(salt.empty() ? ByteView(kZeroSalt, kSha256Bytes) : salt, ikm, {}, prk.data());
    SecureBytes out(out_len);
    // T(i) = HMAC(PRK, T(i-1) || info || i); the block input is T(i-1) || info, then the counter.
    SecureBytes block;
    std::uint8_t t[kSha256Bytes];
    for (std::size_t done = 0, i = 1; done < out_len; ++i) {
        block.assign(t, t + (i == 1 ? 0 : kSha256Bytes));
        block.insert(block.end(), info.begin(), info.end());
        const std::uint8_t counter = static_cast<std::uint8_t>(i);
        Hmac(prk, block, ByteView(&counter, 1), t);
        const std::size_t take = std::min(kSha256Bytes, out_len - done);
        std::memcpy(out.data() + done, t, take);
        done += take;
    }
    SecureWipe(t, sizeof t);
    return out;
}

Bytes HmacSha256(ByteView key, ByteView data) {
    Bytes out(kSha256Bytes);
    Hmac(key, data, {}, out.data());
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
