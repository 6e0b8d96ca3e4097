#include "hsm/asymmetric.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>

#include <cstring>
#include <stdexcept>

namespace kmsd::hsm {
namespace {

struct PkeyCtxFree {
    void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BnFree {
    void operator()(BIGNUM* p) const { BN_clear_free(p); }
};
struct GroupFree {
    void operator()(EC_GROUP* p) const { EC_GROUP_free(p); }
};
struct PointFree {
    void operator()(EC_POINT* p) const { EC_POINT_clear_free(p); }
};
struct BnCtxFree {
    void operator()(BN_CTX* p) const { BN_CTX_free(p); }
};
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using Bn = std::unique_ptr<BIGNUM, BnFree>;

PkeyPtr Own(EVP_PKEY* key) { return PkeyPtr(key, EVP_PKEY_free); }

// The NID of an EC group named as in hsm/keyspec.cpp ("P-256", "secp256k1", "SM2").
int GroupNid(const char* name) {
    const int nist = EC_curve_nist2nid(name);
    return nist != NID_undef ? nist : OBJ_sn2nid(name);
}

// The NID of a key's EC group, or NID_undef.
int KeyGroupNid(EVP_PKEY* key) {
    char group[64] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1) {
        ERR_clear_error();
        return NID_undef;
    }
    return GroupNid(group);
}

Status Failed(const char* what) { return Error(ErrorCode::kInternal, what); }

// OpenSSL leaves the reasons of a failure (a bad signature, a malformed key) on the thread's
// error queue; they mean nothing to the next call on that thread, so each entry point clears
// them on the way out.
struct ClearErrorsOnExit {
    ClearErrorsOnExit() = default;
    ClearErrorsOnExit(const ClearErrorsOnExit&) = delete;
    ClearErrorsOnExit& operator=(const ClearErrorsOnExit&) = delete;
    ~ClearErrorsOnExit() { ERR_clear_error(); }
};

// AWS's SM2 distinguishing ID (the GM/T 0009 default).
constexpr char kSm2Id[] = "1234567812345678";

const EVP_MD* Digest(const char* name) {
    // The names come from hsm/keyspec.cpp's tables; EVP_get_digestbyname returns static objects.
    const EVP_MD* md = EVP_get_digestbyname(name);
    if (md == nullptr) throw std::runtime_error(std::string("digest unavailable: ") + name);
    return md;
}

Result<Bytes> HashOf(const char* digest, ByteView message) {
    Bytes out(EVP_MAX_MD_SIZE);
    unsigned len = 0;
    if (EVP_Digest(message.data(), message.size(), out.data(), &len, Digest(digest), nullptr) != 1)
        return Failed("digest failed");
    out.resize(len);
    return out;
}

void SodiumInit() {
    static const int ready = sodium_init();
    if (ready < 0) throw std::runtime_error("libsodium failed to initialise");
}

// Ed25519ph (RFC 8032 §5.1, empty context) through libsodium: OpenSSL 3.0 has only pure Ed25519.
// The message given is what Ed25519ph prehashes (KMS's 64-byte DIGEST).
Result<Bytes> Ed25519phSign(EVP_PKEY* key, ByteView message) {
    SodiumInit();
    SecureBytes seed(32);
    std::size_t len = seed.size();
    if (EVP_PKEY_get_raw_private_key(key, seed.data(), &len) != 1 || len != 32)
        return Failed("Ed25519 key has no seed");
    SecureBytes sk(crypto_sign_ed25519_SECRETKEYBYTES);
    Bytes pk(crypto_sign_ed25519_PUBLICKEYBYTES);
    if (crypto_sign_ed25519_seed_keypair(pk.data(), sk.data(), seed.data()) != 0)
        return Failed("Ed25519 key expansion failed");
    crypto_sign_ed25519ph_state state;
    crypto_sign_ed25519ph_init(&state);
    crypto_sign_ed25519ph_update(&state, message.data(), message.size());
    Bytes sig(crypto_sign_ed25519_BYTES);
    const int rc = crypto_sign_ed25519ph_final_create(&state, sig.data(), nullptr, sk.data());
    sodium_memzero(&state, sizeof state);
    if (rc != 0) return Failed("Ed25519ph signing failed");
    return sig;
}

Status Ed25519phVerify(EVP_PKEY* key, ByteView message, ByteView signature) {
    SodiumInit();
    Bytes pk(crypto_sign_ed25519_PUBLICKEYBYTES);
    std::size_t len = pk.size();
    if (EVP_PKEY_get_raw_public_key(key, pk.data(), &len) != 1 || len != pk.size())
        return Failed("Ed25519 key has no public key");
    if (signature.size() != crypto_sign_ed25519_BYTES)
        return Error(ErrorCode::kKmsInvalidSignature);
    Bytes sig(signature.begin(), signature.end());  // libsodium takes a non-const pointer
    crypto_sign_ed25519ph_state state;
    crypto_sign_ed25519ph_init(&state);
    crypto_sign_ed25519ph_update(&state, message.data(), message.size());
    if (crypto_sign_ed25519ph_final_verify(&state, sig.data(), pk.data()) != 0)
        return Error(ErrorCode::kKmsInvalidSignature);
    return Status::Ok();
}

// A context for signing (or verifying) a digest with RSA or ECDSA, padding set per scheme.
Result<PkeyCtx> DigestSignCtx(EVP_PKEY* key, const SigningAlgorithmInfo& alg, bool verify) {
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!ctx) return Failed("no signing context");
    if ((verify ? EVP_PKEY_verify_init(ctx.get()) : EVP_PKEY_sign_init(ctx.get())) != 1)
        return Failed("signing init failed");
    if (alg.scheme == SigScheme::kSm2) return ctx;  // signs e = SM3(Z‖M) as given
    if (EVP_PKEY_CTX_set_signature_md(ctx.get(), Digest(alg.digest)) != 1)
        return Failed("signature digest rejected");
    if (alg.scheme == SigScheme::kRsaPss) {
        if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) != 1 ||
            EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), Digest(alg.digest)) != 1 ||
            EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), RSA_PSS_SALTLEN_DIGEST) != 1)
            return Failed("PSS parameters rejected");
    } else if (alg.scheme == SigScheme::kRsaPkcs1) {
        if (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1)
            return Failed("PKCS#1 padding rejected");
    }
    return ctx;
}

// SM2 over a RAW message: SM3(Z‖M) with AWS's distinguishing ID. The digest context uses the
// key context but does not own it, so both live here (md is freed first).
struct MessageSignCtx {
    PkeyCtx pkey;
    MdCtx md;
};

Result<std::unique_ptr<MessageSignCtx>> NewSm2Ctx(EVP_PKEY* key, bool verify) {
    auto ctx = std::make_unique<MessageSignCtx>();
    ctx->pkey.reset(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    ctx->md.reset(EVP_MD_CTX_new());
    if (!ctx->pkey || !ctx->md) return Failed("no SM2 context");
    if (EVP_PKEY_CTX_set1_id(ctx->pkey.get(), kSm2Id, sizeof kSm2Id - 1) != 1)
        return Failed("SM2 ID rejected");
    EVP_MD_CTX_set_pkey_ctx(ctx->md.get(), ctx->pkey.get());
    const int rc = verify ? EVP_DigestVerifyInit(ctx->md.get(), nullptr, EVP_sm3(), nullptr, key)
                          : EVP_DigestSignInit(ctx->md.get(), nullptr, EVP_sm3(), nullptr, key);
    if (rc != 1) return Failed("SM2 init failed");
    return ctx;
}

// A digest-signing context for pure Ed25519 or SM2 over the message.
Result<std::unique_ptr<MessageSignCtx>> MessageCtx(EVP_PKEY* key, const SigningAlgorithmInfo& alg,
                                                   bool verify) {
    if (alg.scheme == SigScheme::kSm2) return NewSm2Ctx(key, verify);
    auto ctx = std::make_unique<MessageSignCtx>();
    ctx->md.reset(EVP_MD_CTX_new());
    const int rc = !ctx->md ? 0
                   : verify ? EVP_DigestVerifyInit(ctx->md.get(), nullptr, nullptr, nullptr, key)
                            : EVP_DigestSignInit(ctx->md.get(), nullptr, nullptr, nullptr, key);
    if (rc != 1) return Failed("Ed25519 init failed");
    return ctx;
}

}  // namespace

// PKCS#8 DER of a key.
Result<SecureBytes> Pkcs8Of(EVP_PKEY* key) {
    PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(key);
    if (p8 == nullptr) return Failed("PKCS#8 encoding failed");
    const int len = i2d_PKCS8_PRIV_KEY_INFO(p8, nullptr);
    if (len <= 0) {
        // Never call i2d with an empty buffer: it would allocate its own, unwiped copy.
        PKCS8_PRIV_KEY_INFO_free(p8);
        return Failed("PKCS#8 encoding failed");
    }
    SecureBytes der(static_cast<std::size_t>(len));
    unsigned char* out = der.data();
    const int written = i2d_PKCS8_PRIV_KEY_INFO(p8, &out);
    PKCS8_PRIV_KEY_INFO_free(p8);  // frees with cleanse (ASN1_STRING_clear_free of the key)
    if (written != len) return Failed("PKCS#8 encoding failed");
    return der;
}

namespace {

// The KMS key spec of a key, from its type and size or curve; null when KMS has none.
const KeySpecInfo* SpecOfKey(EVP_PKEY* key) {
    if (EVP_PKEY_is_a(key, "ED25519")) return FindKeySpec("ECC_NIST_EDWARDS25519");
    if (EVP_PKEY_is_a(key, "RSA")) {
        const int bits = EVP_PKEY_get_bits(key);
        if (bits != 2048 && bits != 3072 && bits != 4096) return nullptr;
        return FindKeySpec("RSA_" + std::to_string(bits));
    }
    if (!EVP_PKEY_is_a(key, "EC") && !EVP_PKEY_is_a(key, "SM2")) return nullptr;
    const int nid = KeyGroupNid(key);
    for (const char* name :
         {"ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521", "ECC_SECG_P256K1", "SM2"}) {
        const KeySpecInfo* spec = FindKeySpec(name);
        if (spec != nullptr && GroupNid(spec->group) == nid) return spec;
    }
    return nullptr;
}

}  // namespace

Result<SecureBytes> GeneratePrivateKey(const KeySpecInfo& spec) {
    const ClearErrorsOnExit clear_errors;
    EVP_PKEY* key = nullptr;
    switch (spec.family) {
        case KeyFamily::kRsa:
            key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(spec.bits));
            break;
        case KeyFamily::kEc:
            key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", spec.group);
            break;
        case KeyFamily::kSm2:
            key = EVP_PKEY_Q_keygen(nullptr, nullptr, "SM2");
            break;
        case KeyFamily::kEd25519:
            key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
            break;
        default:
            return Error(ErrorCode::kInternal, "not an asymmetric key spec");
    }
    if (key == nullptr) return Failed("key generation failed");
    PkeyPtr owned = Own(key);
    return Pkcs8Of(key);
}

bool IsConsistentKeyPair(EVP_PKEY* key) {
    const ClearErrorsOnExit clear_errors;
    // EC keys by OpenSSL's pairwise check (the public point is d·G), RSA keys by a signature
    // that their public key verifies (OpenSSL's pairwise check tests the primes too, which costs
    // far more than it tells). Ed25519 keys carry no separate public half.
    const KeySpecInfo* spec = SpecOfKey(key);
    if (spec == nullptr) return false;
    if (spec->family == KeyFamily::kEc || spec->family == KeyFamily::kSm2) {
        PkeyCtx check(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
        return check && EVP_PKEY_pairwise_check(check.get()) == 1;
    }
    if (spec->family == KeyFamily::kRsa) {
        const SigningAlgorithmInfo* alg = FindSigningAlgorithm("RSASSA_PKCS1_V1_5_SHA_256");
        const std::uint8_t probe[] = {'k', 'm', 's', 'd'};
        auto sig = SignMessage(key, *alg, false, probe);
        return sig.ok() && VerifyMessage(key, *alg, false, probe, *sig).ok();
    }
    return true;
}

Result<PemKey> PrivateKeyFromPem(std::string_view pem) {
    const ClearErrorsOnExit clear_errors;
    if (pem.size() > (1u << 20)) return Error(ErrorCode::kValidation, "PrivateKeyPem is too long");
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
    if (!bio) return Failed("no memory BIO");
    // No passphrase: an encrypted PEM fails at once, before any key derivation whose iteration
    // count the file would choose (and never prompts on the terminal).
    auto no_passphrase = [](char*, int, int, void*) { return -1; };
    EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr);
    ERR_clear_error();
    if (raw == nullptr)
        return Error(ErrorCode::kValidation, "PrivateKeyPem is not an unencrypted PEM private key");
    PkeyPtr key = Own(raw);
    PemKey out;
    out.spec = SpecOfKey(raw);
    if (out.spec == nullptr)
        return Error(ErrorCode::kValidation,
                     "PrivateKeyPem is not an RSA 2048/3072/4096, NIST P-256/384/521, secp256k1, "
                     "Ed25519 or SM2 key");
    if (!IsConsistentKeyPair(raw))
        return Error(ErrorCode::kValidation, "PrivateKeyPem is not a consistent key pair");
    KMSD_ASSIGN_OR_RETURN(out.pkcs8, Pkcs8Of(raw));
    return out;
}

Result<PkeyPtr> ParsePrivateKey(ByteView der, const KeySpecInfo& spec) {
    const ClearErrorsOnExit clear_errors;
    const unsigned char* p = der.data();
    PKCS8_PRIV_KEY_INFO* p8 = d2i_PKCS8_PRIV_KEY_INFO(nullptr, &p, static_cast<long>(der.size()));
    if (p8 == nullptr) return Failed("private key is not PKCS#8");
    EVP_PKEY* key = EVP_PKCS82PKEY(p8);
    PKCS8_PRIV_KEY_INFO_free(p8);
    if (key == nullptr) return Failed("private key does not parse");
    PkeyPtr owned = Own(key);
    bool matches = false;
    switch (spec.family) {
        case KeyFamily::kRsa:
            matches = EVP_PKEY_is_a(key, "RSA") && EVP_PKEY_get_bits(key) == int(spec.bits);
            break;
        case KeyFamily::kEc:
        case KeyFamily::kSm2:
            matches = (EVP_PKEY_is_a(key, "EC") || EVP_PKEY_is_a(key, "SM2")) &&
                      KeyGroupNid(key) == GroupNid(spec.group);
            break;
        case KeyFamily::kEd25519:
            matches = EVP_PKEY_is_a(key, "ED25519");
            break;
        default:
            break;
    }
    if (!matches) return Failed("private key is not of its key spec");
    return owned;
}

Result<Bytes> PublicKeyDer(EVP_PKEY* key) {
    const ClearErrorsOnExit clear_errors;
    const int len = i2d_PUBKEY(key, nullptr);
    if (len <= 0) return Failed("public key encoding failed");
    Bytes out(static_cast<std::size_t>(len));
    unsigned char* p = out.data();
    if (i2d_PUBKEY(key, &p) != len) return Failed("public key encoding failed");
    return out;
}

Result<Bytes> SignMessage(EVP_PKEY* key, const SigningAlgorithmInfo& alg, bool is_digest,
                          ByteView message) {
    const ClearErrorsOnExit clear_errors;
    std::size_t len = 0;
    Bytes sig;
    if (alg.scheme == SigScheme::kEd25519ph) return Ed25519phSign(key, message);
    if (alg.scheme == SigScheme::kEd25519 || (alg.scheme == SigScheme::kSm2 && !is_digest)) {
        KMSD_ASSIGN_OR_RETURN(auto ctx, MessageCtx(key, alg, false));
        if (EVP_DigestSign(ctx->md.get(), nullptr, &len, message.data(), message.size()) != 1)
            return Failed("signing failed");
        sig.resize(len);
        if (EVP_DigestSign(ctx->md.get(), sig.data(), &len, message.data(), message.size()) != 1)
            return Failed("signing failed");
        sig.resize(len);
        return sig;
    }
    Bytes digest;
    if (is_digest) {
        digest.assign(message.begin(), message.end());
    } else {
        KMSD_ASSIGN_OR_RETURN(digest, HashOf(alg.digest, message));
    }
    KMSD_ASSIGN_OR_RETURN(PkeyCtx ctx, DigestSignCtx(key, alg, false));
    if (EVP_PKEY_sign(ctx.get(), nullptr, &len, digest.data(), digest.size()) != 1)
        return Failed("signing failed");
    sig.resize(len);
    if (EVP_PKEY_sign(ctx.get(), sig.data(), &len, digest.data(), digest.size()) != 1)
        return Failed("signing failed");
    sig.resize(len);
    return sig;
}

Status VerifyMessage(EVP_PKEY* key, const SigningAlgorithmInfo& alg, bool is_digest,
                     ByteView message, ByteView signature) {
    const ClearErrorsOnExit clear_errors;
    const Status invalid = Error(ErrorCode::kKmsInvalidSignature);
    if (alg.scheme == SigScheme::kEd25519ph) return Ed25519phVerify(key, message, signature);
    int rc = 0;
    if (alg.scheme == SigScheme::kEd25519 || (alg.scheme == SigScheme::kSm2 && !is_digest)) {
        KMSD_ASSIGN_OR_RETURN(auto ctx, MessageCtx(key, alg, true));
        rc = EVP_DigestVerify(ctx->md.get(), signature.data(), signature.size(), message.data(),
                              message.size());
    } else {
        Bytes digest;
        if (is_digest) {
            digest.assign(message.begin(), message.end());
        } else {
            KMSD_ASSIGN_OR_RETURN(digest, HashOf(alg.digest, message));
        }
        KMSD_ASSIGN_OR_RETURN(PkeyCtx ctx, DigestSignCtx(key, alg, true));
        rc = EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), digest.data(),
                             digest.size());
    }
    // A bad signature leaves errors on OpenSSL's thread-local queue; they mean nothing here.
    ERR_clear_error();
    return rc == 1 ? Status::Ok() : invalid;
}

Result<Bytes> EncryptWithPublicKey(EVP_PKEY* key, const EncryptionAlgorithmInfo& alg,
                                   ByteView plaintext) {
    const ClearErrorsOnExit clear_errors;
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1) return Failed("encrypt init failed");
    if (alg.oaep_digest != nullptr &&
        (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), Digest(alg.oaep_digest)) != 1 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), Digest(alg.oaep_digest)) != 1))
        return Failed("OAEP parameters rejected");
    std::size_t len = 0;
    if (EVP_PKEY_encrypt(ctx.get(), nullptr, &len, plaintext.data(), plaintext.size()) != 1)
        return Failed("encryption failed");
    Bytes out(len);
    if (EVP_PKEY_encrypt(ctx.get(), out.data(), &len, plaintext.data(), plaintext.size()) != 1)
        return Failed("encryption failed");
    out.resize(len);
    return out;
}

Result<SecureBytes> DecryptWithPrivateKey(EVP_PKEY* key, const EncryptionAlgorithmInfo& alg,
                                          ByteView ciphertext) {
    const ClearErrorsOnExit clear_errors;
    const Status bad = Error(ErrorCode::kInvalidCiphertext);
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1) return Failed("decrypt init failed");
    if (alg.oaep_digest != nullptr &&
        (EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) != 1 ||
         EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), Digest(alg.oaep_digest)) != 1 ||
         EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), Digest(alg.oaep_digest)) != 1))
        return Failed("OAEP parameters rejected");
    std::size_t len = 0;
    if (EVP_PKEY_decrypt(ctx.get(), nullptr, &len, ciphertext.data(), ciphertext.size()) != 1) {
        ERR_clear_error();
        return bad;
    }
    SecureBytes out(len);
    if (EVP_PKEY_decrypt(ctx.get(), out.data(), &len, ciphertext.data(), ciphertext.size()) != 1) {
        ERR_clear_error();
        return bad;
    }
    out.resize(len);
    return out;
}

namespace {

// SM2 ECDH as KMS does it: the x-coordinate of d·P on the SM2 curve. OpenSSL 3.0's EVP derive
// refuses SM2 keys, so this is done with EC point arithmetic.
Result<SecureBytes> Sm2SharedSecret(EVP_PKEY* key, EVP_PKEY* peer) {
    const Status bad = Error(ErrorCode::kValidation);
    BIGNUM* d_raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_PRIV_KEY, &d_raw) != 1)
        return Failed("SM2 key has no scalar");
    Bn d(d_raw);
    unsigned char point[133];
    std::size_t point_len = 0;
    if (EVP_PKEY_get_octet_string_param(peer, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point,
                                        &point_len) != 1)
        return bad;
    std::unique_ptr<EC_GROUP, GroupFree> group(EC_GROUP_new_by_curve_name(NID_sm2));
    std::unique_ptr<BN_CTX, BnCtxFree> bn_ctx(BN_CTX_secure_new());
    if (!group || !bn_ctx) return Failed("SM2 group unavailable");
    std::unique_ptr<EC_POINT, PointFree> p(EC_POINT_new(group.get()));
    std::unique_ptr<EC_POINT, PointFree> r(EC_POINT_new(group.get()));
    if (!p || !r) return Failed("SM2 point allocation failed");
    if (EC_POINT_oct2point(group.get(), p.get(), point, point_len, bn_ctx.get()) != 1 ||
        EC_POINT_is_on_curve(group.get(), p.get(), bn_ctx.get()) != 1 ||
        EC_POINT_is_at_infinity(group.get(), p.get()) == 1) {
        ERR_clear_error();
        return bad;
    }
    Bn x(BN_secure_new());
    if (!x || EC_POINT_mul(group.get(), r.get(), nullptr, p.get(), d.get(), bn_ctx.get()) != 1 ||
        EC_POINT_is_at_infinity(group.get(), r.get()) == 1 ||
        EC_POINT_get_affine_coordinates(group.get(), r.get(), x.get(), nullptr, bn_ctx.get()) != 1)
        return Failed("SM2 point multiplication failed");
    SecureBytes out(32);
    if (BN_bn2binpad(x.get(), out.data(), static_cast<int>(out.size())) != 32)
        return Failed("SM2 shared secret encoding failed");
    return out;
}

}  // namespace

Result<SecureBytes> DeriveSharedSecret(EVP_PKEY* key, const KeySpecInfo& spec, ByteView peer) {
    const ClearErrorsOnExit clear_errors;
    const Status bad = Error(ErrorCode::kValidation);
    const unsigned char* p = peer.data();
    EVP_PKEY* peer_raw = d2i_PUBKEY(nullptr, &p, static_cast<long>(peer.size()));
    if (peer_raw == nullptr || p != peer.data() + peer.size()) {
        EVP_PKEY_free(peer_raw);
        ERR_clear_error();
        return bad;
    }
    PkeyPtr peer_key = Own(peer_raw);
    // The peer must be on the key's curve; EVP_PKEY_derive_set_peer checks the group for EC.
    if (KeyGroupNid(peer_raw) != GroupNid(spec.group)) return bad;
    if (spec.family == KeyFamily::kSm2) return Sm2SharedSecret(key, peer_raw);
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr));
    if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1) return Failed("derive init failed");
    if (EVP_PKEY_derive_set_peer_ex(ctx.get(), peer_raw, 1) != 1) {
        ERR_clear_error();
        return bad;
    }
    std::size_t len = 0;
    if (EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1) return Failed("derive failed");
    SecureBytes out(len);
    if (EVP_PKEY_derive(ctx.get(), out.data(), &len) != 1) {
        ERR_clear_error();
        return bad;
    }
    out.resize(len);
    return out;
}

Result<SecureBytes> Hmac(ByteView key, const MacAlgorithmInfo& alg, ByteView message) {
    const ClearErrorsOnExit clear_errors;
    SecureBytes out(EVP_MAX_MD_SIZE);
    std::size_t len = 0;
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, alg.digest, nullptr, key.data(), key.size(),
                  message.data(), message.size(), out.data(), out.size(), &len) == nullptr)
        return Failed("HMAC failed");
    out.resize(len);
    return out;
}

}  // namespace kmsd::hsm
