// [hsm][import]: importing key material. The material is wrapped here with OpenSSL's EVP calls
// (RSA-OAEP, RFC 5649 AES key wrap with padding, SM2 encryption), never with hsm/'s own code,
// and what the imported key then computes is checked against OpenSSL too.
#include "hsm/import.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <catch2/catch.hpp>
#include <memory>

#include "hsm/asymmetric.h"
#include "hsm/crypto.h"
#include "hsm/hsm.h"
#include "support/fakes.h"

using namespace kmsd;

namespace {

using Pkey = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)>;
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

constexpr char kArn[] = "arn:aws:kms:us-east-1:111122223333:key/import-test";
constexpr char kKeyId[] = "import-test";
constexpr double kValidTo = 4102444800.0;  // 2100-01-01

const hsm::WrappingAlgorithmInfo& Alg(std::string_view name) {
    const auto* alg = hsm::FindWrappingAlgorithm(name);
    REQUIRE(alg);
    return *alg;
}
const hsm::WrappingKeySpecInfo& Wrapping(std::string_view name) {
    const auto* spec = hsm::FindWrappingKeySpec(name);
    REQUIRE(spec);
    return *spec;
}

Pkey PublicKeyFromSpki(ByteView der) {
    const unsigned char* p = der.data();
    return Pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())), EVP_PKEY_free);
}

// Public-key encryption with OpenSSL: RSA-OAEP (digest for OAEP and MGF1) or SM2.
Bytes PublicEncrypt(EVP_PKEY* key, const char* oaep_digest, ByteView data) {
    PkeyCtx ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr), EVP_PKEY_CTX_free);
    REQUIRE(EVP_PKEY_encrypt_init(ctx.get()) == 1);
    if (oaep_digest != nullptr) {
        REQUIRE(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_OAEP_PADDING) == 1);
        REQUIRE(EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), EVP_get_digestbyname(oaep_digest)) == 1);
        REQUIRE(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_get_digestbyname(oaep_digest)) == 1);
    }
    std::size_t len = 0;
    REQUIRE(EVP_PKEY_encrypt(ctx.get(), nullptr, &len, data.data(), data.size()) == 1);
    Bytes out(len);
    REQUIRE(EVP_PKEY_encrypt(ctx.get(), out.data(), &len, data.data(), data.size()) == 1);
    out.resize(len);
    return out;
}

Bytes AesKeyWrapPad(ByteView key, ByteView data) {
    CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
    EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    REQUIRE(EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_wrap_pad(), nullptr, key.data(), nullptr) ==
            1);
    Bytes out(data.size() + 16);
    int len = 0;
    int tail = 0;
    REQUIRE(EVP_EncryptUpdate(ctx.get(), out.data(), &len, data.data(), int(data.size())) == 1);
    REQUIRE(EVP_EncryptFinal_ex(ctx.get(), out.data() + len, &tail) == 1);
    out.resize(std::size_t(len + tail));
    return out;
}

// Wraps `material` for the parameters as AWS documents each algorithm.
Bytes WrapFor(const hsm::Hsm::ImportParameters& params, const hsm::WrappingAlgorithmInfo& alg,
              ByteView material) {
    Pkey pub = PublicKeyFromSpki(params.public_key);
    REQUIRE(pub);
    if (!alg.aes_key_wrap) return PublicEncrypt(pub.get(), alg.oaep_digest, material);
    const Bytes aes_key(32, 0x5a);
    Bytes out = PublicEncrypt(pub.get(), alg.oaep_digest, aes_key);
    const Bytes wrapped = AesKeyWrapPad(aes_key, material);
    out.insert(out.end(), wrapped.begin(), wrapped.end());
    return out;
}

struct ImportFixture {
    testing::FakeKeyStore store;
    std::unique_ptr<hsm::Hsm> hsm = hsm::Hsm::New(testing::MasterKey(5)).value();
    ImportFixture() { hsm->set_store(&store); }

    hsm::Hsm::ImportParameters Params(std::string_view alg, std::string_view spec,
                                      const std::string& arn = kArn) {
        auto p = hsm->NewImportParameters(arn, Alg(alg), Wrapping(spec), kValidTo);
        REQUIRE(p.ok());
        return std::move(p.value());
    }
    // Imports `material` for `key_spec` and makes it the key's stored material.
    Result<hsm::KeyRef> Import(const std::string& key_spec, std::string_view alg,
                               std::string_view spec, ByteView material) {
        auto p = Params(alg, spec);
        KMSD_ASSIGN_OR_RETURN(auto sealed,
                              hsm->ImportWrapped(kArn, kKeyId, key_spec, p.import_token,
                                                 WrapFor(p, Alg(alg), material)));
        store.blobs[sealed.material_id] = sealed.sealed;
        return hsm::KeyRef{kArn, sealed.material_id, key_spec};
    }
};

Bytes Pkcs8Der(EVP_PKEY* key) {
    PKCS8_PRIV_KEY_INFO* p8 = EVP_PKEY2PKCS8(key);
    REQUIRE(p8);
    const int len = i2d_PKCS8_PRIV_KEY_INFO(p8, nullptr);
    Bytes der(static_cast<std::size_t>(len));
    unsigned char* p = der.data();
    i2d_PKCS8_PRIV_KEY_INFO(p8, &p);
    PKCS8_PRIV_KEY_INFO_free(p8);
    return der;
}

}  // namespace

TEST_CASE("symmetric material wrapped by OpenSSL imports under every algorithm", "[hsm][import]") {
    const Bytes material(32, 0x42);
    // The same material seeded into another HSM: what it encrypts, the imported key must
    // decrypt (so the import kept the very material), and its material ID must be the same.
    ImportFixture seeded;
    auto reference = seeded.hsm->ImportKey(kArn, "SYMMETRIC_DEFAULT", material, kKeyId);
    REQUIRE(reference.ok());
    seeded.store.blobs[reference->material_id] = reference->sealed;
    const hsm::KeyRef seeded_ref{kArn, reference->material_id, "SYMMETRIC_DEFAULT"};
    const Bytes msg{1, 2, 3};
    auto seeded_blob = seeded.hsm->Encrypt(seeded_ref, msg, {});
    REQUIRE(seeded_blob.ok());
    for (const char* alg : {"RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1",
                            "RSA_AES_KEY_WRAP_SHA_256"}) {
        INFO(alg);
        ImportFixture f;
        auto ref = f.Import("SYMMETRIC_DEFAULT", alg, "RSA_2048", material);
        REQUIRE(ref.ok());
        CHECK(ref->material_id == reference->material_id);
        auto plain = f.hsm->Decrypt(*ref, *seeded_blob, {});
        REQUIRE(plain.ok());
        CHECK(Bytes(plain->begin(), plain->end()) == msg);
    }
    // Other material under the same key would not decrypt it.
    ImportFixture other;
    auto wrong =
        other.Import("SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_256", "RSA_2048", Bytes(32, 0x43));
    REQUIRE(wrong.ok());
    CHECK(wrong->material_id != reference->material_id);
    const hsm::KeyRef forced{kArn, reference->material_id, "SYMMETRIC_DEFAULT"};
    other.store.blobs[reference->material_id] = other.store.blobs[wrong->material_id];
    CHECK_FALSE(other.hsm->Decrypt(forced, *seeded_blob, {}).ok());
}

TEST_CASE("HMAC material gives OpenSSL's HMAC", "[hsm][import]") {
    ImportFixture f;
    const Bytes material(40, 0x17);
    auto ref = f.Import("HMAC_256", "RSAES_OAEP_SHA_256", "RSA_3072", material);
    REQUIRE(ref.ok());
    const Bytes msg{'k', 'm', 's', 'd'};
    auto mac = f.hsm->GenerateMac(*ref, *hsm::FindMacAlgorithm("HMAC_SHA_256"), msg);
    REQUIRE(mac.ok());
    unsigned char expected[32];
    unsigned int len = 0;
    HMAC(EVP_sha256(), material.data(), int(material.size()), msg.data(), msg.size(), expected,
         &len);
    CHECK(Bytes(mac->begin(), mac->end()) == Bytes(expected, expected + len));
}

TEST_CASE("a private key imports and signs for its public key", "[hsm][import]") {
    ImportFixture f;
    Pkey ec(EVP_EC_gen("P-384"), EVP_PKEY_free);
    REQUIRE(ec);
    auto ref =
        f.Import("ECC_NIST_P384", "RSA_AES_KEY_WRAP_SHA_256", "RSA_2048", Pkcs8Der(ec.get()));
    REQUIRE(ref.ok());
    const Bytes msg{'m'};
    auto sig = f.hsm->Sign(*ref, *hsm::FindSigningAlgorithm("ECDSA_SHA_384"), false, msg);
    REQUIRE(sig.ok());
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    REQUIRE(EVP_DigestVerifyInit(md.get(), nullptr, EVP_sha384(), nullptr, ec.get()) == 1);
    CHECK(EVP_DigestVerify(md.get(), sig->data(), sig->size(), msg.data(), msg.size()) == 1);
}

TEST_CASE("SM2PKE wrapping under an SM2 wrapping key", "[hsm][import]") {
    ImportFixture f;
    const Bytes material(32, 0x33);
    auto ref = f.Import("SYMMETRIC_DEFAULT", "SM2PKE", "SM2", material);
    REQUIRE(ref.ok());
    CHECK(f.hsm->Encrypt(*ref, Bytes{9}, {}).ok());
}

TEST_CASE("import tokens and wrapped material that do not fit are refused", "[hsm][import]") {
    ImportFixture f;
    auto p = f.Params("RSAES_OAEP_SHA_256", "RSA_2048");
    const Bytes material(32, 0x01);
    const Bytes wrapped = WrapFor(p, Alg("RSAES_OAEP_SHA_256"), material);

    SECTION("a token reads back its parameters for its own key only") {
        auto info = f.hsm->OpenImportToken(kArn, p.import_token);
        REQUIRE(info.ok());
        CHECK(info->alg->name == "RSAES_OAEP_SHA_256");
        CHECK(info->wrapping->name == "RSA_2048");
        CHECK(info->valid_to == kValidTo);
        CHECK(f.hsm->OpenImportToken(std::string(kArn) + "x", p.import_token).status().code() ==
              ErrorCode::kInvalidImportToken);
    }
    SECTION("every changed byte of a token makes it invalid") {
        for (std::size_t i = 0; i < p.import_token.size(); i += 7) {
            Bytes token = p.import_token;
            token[i] ^= 0x01;
            CHECK(f.hsm->ImportWrapped(kArn, kKeyId, "SYMMETRIC_DEFAULT", token, wrapped)
                      .status()
                      .code() == ErrorCode::kInvalidImportToken);
        }
        CHECK(f.hsm->OpenImportToken(kArn, Bytes(10, 0)).status().code() ==
              ErrorCode::kInvalidImportToken);
    }
    SECTION("another master key's token is invalid") {
        auto other = hsm::Hsm::New(testing::MasterKey(6)).value();
        CHECK(other->OpenImportToken(kArn, p.import_token).status().code() ==
              ErrorCode::kInvalidImportToken);
    }
    SECTION("corrupted or foreign wrapping is InvalidCiphertext") {
        Bytes bad = wrapped;
        bad[bad.size() / 2] ^= 0x80;
        CHECK(f.hsm->ImportWrapped(kArn, kKeyId, "SYMMETRIC_DEFAULT", p.import_token, bad)
                  .status()
                  .code() == ErrorCode::kInvalidCiphertext);
        auto q = f.Params("RSAES_OAEP_SHA_256", "RSA_2048");
        CHECK(f.hsm
                  ->ImportWrapped(kArn, kKeyId, "SYMMETRIC_DEFAULT", p.import_token,
                                  WrapFor(q, Alg("RSAES_OAEP_SHA_256"), material))
                  .status()
                  .code() == ErrorCode::kInvalidCiphertext);
        CHECK(f.hsm->ImportWrapped(kArn, kKeyId, "SYMMETRIC_DEFAULT", p.import_token, Bytes{})
                  .status()
                  .code() == ErrorCode::kInvalidCiphertext);
        // RSA_AES_KEY_WRAP with a damaged key wrap (RFC 5649's integrity check).
        auto k = f.Params("RSA_AES_KEY_WRAP_SHA_256", "RSA_2048");
        Bytes kw = WrapFor(k, Alg("RSA_AES_KEY_WRAP_SHA_256"), material);
        kw.back() ^= 0x01;
        CHECK(f.hsm->ImportWrapped(kArn, kKeyId, "SYMMETRIC_DEFAULT", k.import_token, kw)
                  .status()
                  .code() == ErrorCode::kInvalidCiphertext);
    }
    SECTION("material of the wrong form is IncorrectKeyMaterial") {
        for (std::size_t len : {16u, 31u, 33u, 64u}) {
            const Bytes w = WrapFor(p, Alg("RSAES_OAEP_SHA_256"), Bytes(len, 7));
            CHECK(f.hsm->ImportWrapped(kArn, kKeyId, "SYMMETRIC_DEFAULT", p.import_token, w)
                      .status()
                      .code() == ErrorCode::kIncorrectKeyMaterial);
        }
        CHECK(f.hsm->ImportWrapped(kArn, kKeyId, "ECC_NIST_P256", p.import_token, wrapped)
                  .status()
                  .code() == ErrorCode::kIncorrectKeyMaterial);
    }
}

TEST_CASE("HMAC and private-key material rules", "[hsm][import]") {
    auto spec = [](const char* name) { return *hsm::FindKeySpec(name); };
    CHECK(hsm::CheckImportedMaterial(spec("HMAC_224"), Bytes(28, 1)).ok());
    CHECK(hsm::CheckImportedMaterial(spec("HMAC_224"), Bytes(64, 1)).ok());
    CHECK(hsm::CheckImportedMaterial(spec("HMAC_224"), Bytes(27, 1)).code() ==
          ErrorCode::kIncorrectKeyMaterial);
    CHECK(hsm::CheckImportedMaterial(spec("HMAC_384"), Bytes(128, 1)).ok());
    CHECK(hsm::CheckImportedMaterial(spec("HMAC_384"), Bytes(129, 1)).code() ==
          ErrorCode::kIncorrectKeyMaterial);
    Pkey p256(EVP_EC_gen("P-256"), EVP_PKEY_free);
    CHECK(hsm::CheckImportedMaterial(spec("ECC_NIST_P256"), Pkcs8Der(p256.get())).ok());
    CHECK(hsm::CheckImportedMaterial(spec("ECC_SECG_P256K1"), Pkcs8Der(p256.get())).code() ==
          ErrorCode::kIncorrectKeyMaterial);
}

TEST_CASE("wrapping choices AWS refuses", "[hsm][import]") {
    auto check = [](const char* key_spec, const char* alg, const char* wrapping) {
        return hsm::CheckWrappingChoice(*hsm::FindKeySpec(key_spec), Alg(alg), Wrapping(wrapping))
            .code();
    };
    CHECK(check("RSA_2048", "RSAES_OAEP_SHA_256", "RSA_4096") == ErrorCode::kValidation);
    CHECK(check("RSA_2048", "RSA_AES_KEY_WRAP_SHA_1", "RSA_2048") == ErrorCode::kOk);
    CHECK(check("ECC_NIST_P521", "RSAES_OAEP_SHA_1", "RSA_2048") == ErrorCode::kValidation);
    CHECK(check("ECC_NIST_P521", "RSAES_OAEP_SHA_1", "RSA_3072") == ErrorCode::kOk);
    CHECK(check("SYMMETRIC_DEFAULT", "SM2PKE", "RSA_2048") == ErrorCode::kValidation);
    CHECK(check("SYMMETRIC_DEFAULT", "RSAES_OAEP_SHA_1", "SM2") == ErrorCode::kValidation);
    CHECK(hsm::FindWrappingAlgorithm("RSAES_PKCS1_V1_5") == nullptr);
}
