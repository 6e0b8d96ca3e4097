// [hsm][asymmetric]: signatures, RSA-OAEP, ECDH and HMAC. Known answers come from the RFCs and
// NIST CAVP; kmsd's signatures and ciphertexts are checked with OpenSSL's EVP verify and encrypt
// calls made here, not with hsm/asymmetric.cpp's own code paths.
#include "hsm/asymmetric.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <memory>
#include <thread>
#include <vector>

#include "hsm/hsm.h"
#include "hsm/keyspec.h"
#include "support/fakes.h"

using namespace kmsd;
using kmsd::testing::Hex;

namespace {

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

Bytes Text(std::string_view s) { return Bytes(s.begin(), s.end()); }

const hsm::KeySpecInfo& Spec(std::string_view name) {
    const hsm::KeySpecInfo* spec = hsm::FindKeySpec(name);
    REQUIRE(spec);
    return *spec;
}
const hsm::SigningAlgorithmInfo& SigAlg(std::string_view name) {
    const auto* alg = hsm::FindSigningAlgorithm(name);
    REQUIRE(alg);
    return *alg;
}

Pkey FromSpki(ByteView der) {
    const unsigned char* p = der.data();
    return Pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())), EVP_PKEY_free);
}

Pkey Ed25519FromSeed(const Bytes& seed) {
    return Pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()),
                EVP_PKEY_free);
}

// An EC key on `group` from its published coordinates (and scalar, for a private key).
Pkey EcKey(const char* group, const std::string& x, const std::string& y,
           const std::string& d = "") {
    Bytes point = Hex("04" + x + y);
    std::unique_ptr<OSSL_PARAM_BLD, decltype(&OSSL_PARAM_BLD_free)> bld(OSSL_PARAM_BLD_new(),
                                                                        OSSL_PARAM_BLD_free);
    BIGNUM* priv = d.empty() ? nullptr : BN_bin2bn(Hex(d).data(), int(d.size() / 2), nullptr);
    OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                     point.size());
    if (priv) OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, priv);
    OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld.get());
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
    EVP_PKEY* key = nullptr;
    EVP_PKEY_fromdata_init(ctx);
    EVP_PKEY_fromdata(ctx, &key, priv ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    BN_clear_free(priv);
    return Pkey(key, EVP_PKEY_free);
}

Bytes SpkiOf(EVP_PKEY* key) {
    Bytes out(static_cast<std::size_t>(i2d_PUBKEY(key, nullptr)));
    unsigned char* p = out.data();
    i2d_PUBKEY(key, &p);
    return out;
}

// OpenSSL's own verification of a KMS signature over the original message, set up from the
// algorithm's name alone (so a DIGEST signature that hashed twice fails here).
bool OpenSslVerifies(ByteView spki, std::string_view alg, ByteView message, ByteView sig) {
    Pkey key = FromSpki(spki);
    REQUIRE(key);
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    const EVP_MD* digest = nullptr;
    if (alg.ends_with("_256")) digest = EVP_sha256();
    if (alg.ends_with("_384")) digest = EVP_sha384();
    if (alg.ends_with("_512") && alg != "ED25519_SHA_512") digest = EVP_sha512();
    EVP_PKEY_CTX* pctx = nullptr;
    REQUIRE(EVP_DigestVerifyInit(md.get(), &pctx, digest, nullptr, key.get()) == 1);
    if (alg.starts_with("RSASSA_PSS")) {
        EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, EVP_MD_get_size(digest));  // salt = digest length
    }
    return EVP_DigestVerify(md.get(), sig.data(), sig.size(), message.data(), message.size()) == 1;
}

Bytes Sha(std::string_view alg, ByteView message) {
    const EVP_MD* md = alg.ends_with("_384")   ? EVP_sha384()
                       : alg.ends_with("_512") ? EVP_sha512()
                                               : EVP_sha256();
    Bytes out(static_cast<std::size_t>(EVP_MD_get_size(md)));
    EVP_Digest(message.data(), message.size(), out.data(), nullptr, md, nullptr);
    return out;
}

struct KeyFixture {
    testing::FakeKeyStore store;
    std::unique_ptr<hsm::Hsm> hsm = hsm::Hsm::New(testing::MasterKey(3)).value();
    KeyFixture() { hsm->set_store(&store); }
    hsm::KeyRef NewKey(const std::string& spec) {
        const std::string arn = "arn:aws:kms:us-east-1:111122223333:key/" + spec;
        auto sealed = hsm->GenerateKey(arn, spec);
        REQUIRE(sealed.ok());
        store.blobs[sealed->material_id] = sealed->sealed;
        return {arn, sealed->material_id, spec};
    }
};

}  // namespace

TEST_CASE("HMAC matches RFC 4231 test case 2 for every MAC algorithm", "[hsm][asymmetric]") {
    const std::pair<const char*, const char*> vectors[] = {
        {"HMAC_SHA_224", "a30e01098bc6dbbf45690f3a7e9e6d0f8bbea2a39e6148008fd05e44"},
        {"HMAC_SHA_256", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {"HMAC_SHA_384",
         "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239e"
         "cfab21649"},
        {"HMAC_SHA_512",
         "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f"
         "65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
    };
    for (const auto& [name, mac] : vectors) {
        INFO(name);
        const auto* alg = hsm::FindMacAlgorithm(name);
        REQUIRE(alg);
        auto out = hsm::Hmac(Text("Jefe"), *alg, Text("what do ya want for nothing?"));
        REQUIRE(out.ok());
        CHECK(hsm::ToHex(*out) == mac);
        CHECK(out->size() == alg->mac_bytes);
    }
}

TEST_CASE("Ed25519 and Ed25519ph match RFC 8032", "[hsm][asymmetric]") {
    SECTION("7.1 test 1: pure Ed25519 of the empty message") {
        Pkey key = Ed25519FromSeed(
            Hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
        auto sig = hsm::SignMessage(key.get(), SigAlg("ED25519_SHA_512"), false, {});
        REQUIRE(sig.ok());
        CHECK(hsm::ToHex(*sig) ==
              "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc6"
              "1e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
    }
    SECTION("7.3: Ed25519ph of \"abc\" (KMS passes its 64-byte DIGEST where \"abc\" is)") {
        Pkey key = Ed25519FromSeed(
            Hex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42"));
        const auto& ph = SigAlg("ED25519_PH_SHA_512");
        auto sig = hsm::SignMessage(key.get(), ph, true, Text("abc"));
        REQUIRE(sig.ok());
        CHECK(hsm::ToHex(*sig) ==
              "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae4131f85042463c2a355a"
              "2003d062adf5aaa10b8c61e636062aaad11c2a26083406");
        CHECK(hsm::VerifyMessage(key.get(), ph, true, Text("abc"), *sig).ok());
        Bytes bad = *sig;
        bad[10] ^= 1;
        CHECK(hsm::VerifyMessage(key.get(), ph, true, Text("abc"), bad).code() ==
              ErrorCode::kKmsInvalidSignature);
        CHECK(hsm::VerifyMessage(key.get(), ph, true, Text("abd"), *sig).code() ==
              ErrorCode::kKmsInvalidSignature);
    }
}

TEST_CASE("ECDH matches NIST CAVP KAS ECC CDH (P-256, count 0)", "[hsm][asymmetric]") {
    Pkey mine = EcKey("P-256", "ead218590119e8876b29146ff89ca61770c4edbbf97d38ce385ed281d8a6b230",
                      "28af61281fd35e2fa7002523acc85a429cb06ee6648325389f59edfce1405141",
                      "7d7dc5f71eb29ddaf80d6214632eeae03d9058af1fb6d22ed80badb62bc1a534");
    Pkey peer = EcKey("P-256", "700c48f77f56584c5cc632ca65640db91b6bacce3a4df6b42ce7cc838833d287",
                      "db71e509e3fd9b060ddb20ba5c51dcc5948d46fbf640dfe0441782cab85fa4ac");
    REQUIRE(mine);
    REQUIRE(peer);
    auto z = hsm::DeriveSharedSecret(mine.get(), Spec("ECC_NIST_P256"), SpkiOf(peer.get()));
    REQUIRE(z.ok());
    CHECK(hsm::ToHex(*z) == "46fc62106420ff012e54a434fbdd2d25ccc5852060561e68040dd7778997bd7b");

    SECTION("peer keys that are not on the key's curve are ValidationException") {
        Bytes spki = SpkiOf(peer.get());
        const auto& p256 = Spec("ECC_NIST_P256");
        CHECK(hsm::DeriveSharedSecret(mine.get(), p256, Text("garbage")).status().code() ==
              ErrorCode::kValidation);
        Bytes truncated(spki.begin(), spki.end() - 1);
        CHECK(hsm::DeriveSharedSecret(mine.get(), p256, truncated).status().code() ==
              ErrorCode::kValidation);
        Bytes trailing = spki;
        trailing.push_back(0);
        CHECK(hsm::DeriveSharedSecret(mine.get(), p256, trailing).status().code() ==
              ErrorCode::kValidation);
        Bytes off_curve = spki;
        off_curve.back() ^= 1;  // y no longer matches x
        CHECK(hsm::DeriveSharedSecret(mine.get(), p256, off_curve).status().code() ==
              ErrorCode::kValidation);
        Pkey p384(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384"), EVP_PKEY_free);
        CHECK(hsm::DeriveSharedSecret(mine.get(), p256, SpkiOf(p384.get())).status().code() ==
              ErrorCode::kValidation);
    }
}

TEST_CASE("every signing algorithm of every spec verifies with OpenSSL", "[hsm][asymmetric]") {
    KeyFixture f;
    const Bytes message = Text("the message KMS signs");
    // RSA_3072/4096 differ only in size and take seconds to generate: the integration tests
    // cover them.
    for (const char* spec_name : {"RSA_2048", "ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521",
                                  "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"}) {
        INFO(spec_name);
        const hsm::KeyRef ref = f.NewKey(spec_name);
        auto spki = f.hsm->PublicKey(ref);
        REQUIRE(spki.ok());
        for (std::string_view name : Spec(spec_name).signing) {
            INFO(name);
            const auto& alg = SigAlg(name);
            if (alg.scheme == hsm::SigScheme::kEd25519ph) continue;  // RFC 8032 vector above
            auto sig = f.hsm->Sign(ref, alg, false, message);
            REQUIRE(sig.ok());
            CHECK(OpenSslVerifies(*spki, name, message, *sig));
            CHECK(f.hsm->Verify(ref, alg, false, message, *sig).ok());
            if (alg.scheme == hsm::SigScheme::kEd25519) continue;  // RAW only
            // DIGEST: the digest is signed as is, so OpenSSL verifies over the message.
            auto dsig = f.hsm->Sign(ref, alg, true, Sha(name, message));
            REQUIRE(dsig.ok());
            CHECK(OpenSslVerifies(*spki, name, message, *dsig));
            CHECK(f.hsm->Verify(ref, alg, true, Sha(name, message), *dsig).ok());
            CHECK(f.hsm->Verify(ref, alg, false, message, *dsig).ok());
        }
    }
}

TEST_CASE("Verify refuses wrong and malformed signatures", "[hsm][asymmetric]") {
    KeyFixture f;
    const Bytes message = Text("signed");
    for (const char* spec_name : {"RSA_2048", "ECC_NIST_P256", "ECC_NIST_EDWARDS25519"}) {
        INFO(spec_name);
        const hsm::KeyRef ref = f.NewKey(spec_name);
        const hsm::KeyRef other = f.NewKey(spec_name);
        const auto& alg = SigAlg(Spec(spec_name).signing.front());
        Bytes sig = f.hsm->Sign(ref, alg, false, message).value();
        auto rejected = [&](const hsm::KeyRef& key, ByteView m, ByteView s) {
            return f.hsm->Verify(key, alg, false, m, s).code() == ErrorCode::kKmsInvalidSignature;
        };
        CHECK(rejected(ref, message, Bytes(sig.begin(), sig.end() - 1)));  // truncated
        Bytes longer = sig;
        longer.push_back(0);
        CHECK(rejected(ref, message, longer));
        CHECK(rejected(ref, message, Bytes{}));
        CHECK(rejected(ref, message, Bytes(sig.size(), 0xff)));
        CHECK(rejected(ref, Text("signeD"), sig));
        CHECK(rejected(other, message, sig));  // a signature of another key
    }
    SECTION("an RSA signature is checked under the algorithm asked for") {
        const hsm::KeyRef ref = f.NewKey("RSA_2048");
        Bytes pkcs1 = f.hsm->Sign(ref, SigAlg("RSASSA_PKCS1_V1_5_SHA_256"), false, message).value();
        CHECK(f.hsm->Verify(ref, SigAlg("RSASSA_PSS_SHA_256"), false, message, pkcs1).code() ==
              ErrorCode::kKmsInvalidSignature);
        CHECK(
            f.hsm->Verify(ref, SigAlg("RSASSA_PKCS1_V1_5_SHA_384"), false, message, pkcs1).code() ==
            ErrorCode::kKmsInvalidSignature);
    }
}

TEST_CASE("RSA-OAEP: what OpenSSL encrypts to the public key decrypts", "[hsm][asymmetric]") {
    KeyFixture f;
    const hsm::KeyRef ref = f.NewKey("RSA_2048");
    Pkey pub = FromSpki(f.hsm->PublicKey(ref).value());
    const Bytes plaintext = Text("offline secret");
    for (const char* name : {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"}) {
        INFO(name);
        const auto* alg = hsm::FindEncryptionAlgorithm(name);
        const EVP_MD* md = std::string_view(name).ends_with("_1") ? EVP_sha1() : EVP_sha256();
        std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
            EVP_PKEY_CTX_new(pub.get(), nullptr), EVP_PKEY_CTX_free);
        REQUIRE(EVP_PKEY_encrypt_init(ctx.get()) == 1);
        EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING);
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md);
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md);
        std::size_t len = 256;
        Bytes ct(len);
        REQUIRE(EVP_PKEY_encrypt(ctx.get(), ct.data(), &len, plaintext.data(), plaintext.size()) ==
                1);
        auto back = f.hsm->DecryptAsymmetric(ref, *alg, ct);
        REQUIRE(back.ok());
        CHECK(Bytes(back->begin(), back->end()) == plaintext);
        // Under the other OAEP hash, or altered, it is InvalidCiphertextException.
        const auto* other = hsm::FindEncryptionAlgorithm(
            alg->hash_bytes == 20 ? "RSAES_OAEP_SHA_256" : "RSAES_OAEP_SHA_1");
        CHECK(f.hsm->DecryptAsymmetric(ref, *other, ct).status().code() ==
              ErrorCode::kInvalidCiphertext);
        ct[0] ^= 1;
        CHECK(f.hsm->DecryptAsymmetric(ref, *alg, ct).status().code() ==
              ErrorCode::kInvalidCiphertext);
        CHECK(f.hsm->DecryptAsymmetric(ref, *alg, Text("short")).status().code() ==
              ErrorCode::kInvalidCiphertext);
        // kmsd's own ciphertext is raw OAEP of the modulus size.
        auto mine = f.hsm->EncryptAsymmetric(ref, *alg, plaintext);
        REQUIRE(mine.ok());
        CHECK(mine->size() == 256);
        CHECK(hsm::MaxOaepPlaintext(Spec("RSA_2048"), *alg) == (alg->hash_bytes == 20 ? 214 : 190));
    }
}

TEST_CASE("asymmetric and HMAC material is sealed like every root key", "[hsm][asymmetric]") {
    KeyFixture f;
    SECTION("HMAC key material has the spec's length") {
        for (const char* spec : {"HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512"}) {
            INFO(spec);
            auto sealed = f.hsm->GenerateKey("arn:k", spec).value();
            // version byte, 12-byte IV, material, 16-byte tag
            CHECK(sealed.sealed.size() - 1 - 12 - 16 == Spec(spec).bits / 8);
        }
    }
    SECTION("a key is the same after eviction and under a new HSM with the same master key") {
        const hsm::KeyRef ref = f.NewKey("ECC_NIST_P256");
        Bytes before = f.hsm->PublicKey(ref).value();
        f.hsm->EvictAll();
        CHECK(f.hsm->PublicKey(ref).value() == before);
        auto again = hsm::Hsm::New(testing::MasterKey(3)).value();
        again->set_store(&f.store);
        CHECK(again->PublicKey(ref).value() == before);
        auto sig = again->Sign(ref, SigAlg("ECDSA_SHA_256"), false, Text("m")).value();
        CHECK(OpenSslVerifies(before, "ECDSA_SHA_256", Text("m"), sig));
    }
    SECTION("sealed material serves only the key spec it was sealed for") {
        hsm::KeyRef ref = f.NewKey("ECC_NIST_P256");
        ref.key_spec = "ECC_NIST_P384";
        CHECK(f.hsm->PublicKey(ref).status().code() == ErrorCode::kInternal);
        auto wrong = hsm::Hsm::New(testing::MasterKey(4)).value();
        wrong->set_store(&f.store);
        ref.key_spec = "ECC_NIST_P256";
        CHECK(wrong->PublicKey(ref).status().code() == ErrorCode::kInternal);
    }
    SECTION("ML-DSA is refused on OpenSSL 3.0, never faked") {
        CHECK(f.hsm->GenerateKey("arn:k", "ML_DSA_65").status().code() ==
              ErrorCode::kUnsupportedOperation);
    }
}

TEST_CASE("GenerateDataKeyPair: a matching pair, the private key sealed as a data key",
          "[hsm][asymmetric]") {
    KeyFixture f;
    const hsm::KeyRef sym = f.NewKey("SYMMETRIC_DEFAULT");
    const hsm::EncryptionContext ec{{"purpose", "test"}};
    for (const char* spec :
         {"RSA_2048", "ECC_NIST_P256", "ECC_SECG_P256K1", "ECC_NIST_EDWARDS25519"}) {
        INFO(spec);
        auto pair = f.hsm->GenerateDataKeyPair(sym, Spec(spec), ec);
        REQUIRE(pair.ok());
        const unsigned char* p = pair->private_key.data();
        Pkey priv(d2i_AutoPrivateKey(nullptr, &p, long(pair->private_key.size())), EVP_PKEY_free);
        REQUIRE(priv);
        CHECK(SpkiOf(priv.get()) == pair->public_key);
        auto back = f.hsm->Decrypt(sym, pair->private_key_blob, ec);
        REQUIRE(back.ok());
        CHECK(*back == pair->private_key);
        CHECK(f.hsm->Decrypt(sym, pair->private_key_blob, {}).status().code() ==
              ErrorCode::kInvalidCiphertext);
    }
}

TEST_CASE("threads sign with one cached key while it is evicted and unsealed again",
          "[hsm][asymmetric]") {
    // The parsed private key is shared by every thread that uses the key (the HSM caches it);
    // eviction drops the cache entry while others may hold it. TSan runs this in CI.
    KeyFixture f;
    const hsm::KeyRef ec_ref = f.NewKey("ECC_NIST_P256");
    const hsm::KeyRef mac_ref = f.NewKey("HMAC_256");
    const Bytes spki = f.hsm->PublicKey(ec_ref).value();
    const auto& alg = SigAlg("ECDSA_SHA_256");
    const auto* mac = hsm::FindMacAlgorithm("HMAC_SHA_256");
    const Bytes message = Text("shared");
    const SecureBytes tag = f.hsm->GenerateMac(mac_ref, *mac, message).value();
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < 50; ++i) {
                if (t == 0 && i % 5 == 0) f.hsm->EvictAll();
                auto sig = f.hsm->Sign(ec_ref, alg, false, message);
                if (!sig.ok() || !f.hsm->Verify(ec_ref, alg, false, message, *sig).ok()) ++failures;
                if (!f.hsm->VerifyMac(mac_ref, *mac, message, tag).ok()) ++failures;
                if (f.hsm->PublicKey(ec_ref).value() != spki) ++failures;
            }
        });
    for (auto& th : threads) th.join();
    CHECK(failures == 0);
}

TEST_CASE("one RSA key generation at a time; the others are throttled, not queued",
          "[hsm][asymmetric]") {
    // RSA key generation takes a server thread for up to seconds: a second one at the same time
    // answers ThrottlingException (which SDKs retry) instead of taking another thread.
    KeyFixture f;
    constexpr int kThreads = 3;
    std::atomic<int> ready{0};
    std::atomic<int> throttled{0};
    std::atomic<int> made{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&] {
            ++ready;
            while (ready < kThreads) std::this_thread::yield();
            auto key = f.hsm->GenerateKey("arn:rsa", "RSA_4096");
            if (key.ok()) ++made;
            if (!key.ok() && key.status().code() == ErrorCode::kThrottling) ++throttled;
        });
    for (auto& th : threads) th.join();
    CHECK(made >= 1);
    CHECK(throttled >= 1);
    CHECK(made + throttled == kThreads);
    // Once it is done, the next one goes through.
    CHECK(f.hsm->GenerateKey("arn:rsa", "RSA_2048").ok());
    CHECK(f.hsm->GenerateKey("arn:ec", "ECC_NIST_P256").ok());
}
