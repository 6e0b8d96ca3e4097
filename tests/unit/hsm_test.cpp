// [hsm]: known-answer vectors, the blob format and its sizes, sealing and tamper resistance.
#include "hsm/hsm.h"

#include <openssl/evp.h>

#include <algorithm>
#include <catch2/catch.hpp>

#include "common/base64.h"
#include "common/hex.h"
#include "hsm/crypto.h"
#include "support/fakes.h"

using namespace kmsd;
using kmsd::testing::Hex;

namespace {

std::string HexOf(ByteView b) { return hsm::ToHex(b); }

struct HsmFixture {
    testing::FakeKeyStore store;
    std::unique_ptr<hsm::Hsm> hsm = hsm::Hsm::New(testing::MasterKey(1)).value();
    hsm::KeyRef ref;

    HsmFixture() {
        hsm->set_store(&store);
        const std::string arn = "arn:aws:kms:us-east-1:111122223333:key/k1";
        auto sealed = hsm->GenerateKey(arn, "SYMMETRIC_DEFAULT").value();
        store.blobs[sealed.material_id] = sealed.sealed;
        ref = {arn, sealed.material_id, "SYMMETRIC_DEFAULT"};
    }
};

}  // namespace

TEST_CASE("AES-256-GCM matches the GCM specification's test vectors", "[hsm]") {
    SECTION("test case 14: zero key, zero IV, one zero block") {
        auto ct = hsm::AesGcmEncrypt(Bytes(32, 0), Bytes(12, 0), {}, Bytes(16, 0)).value();
        CHECK(HexOf(ct) == "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919");
    }
    SECTION("test case 16: with AAD") {
        Bytes key = Hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
        Bytes iv = Hex("cafebabefacedbaddecaf888");
        Bytes aad = Hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
        Bytes pt =
            Hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532f"
                "cf0e2449a6b525"
                "b16aedf5aa0de657ba637b39");
        auto ct = hsm::AesGcmEncrypt(key, iv, aad, pt).value();
        CHECK(HexOf(ct) ==
              "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b0"
              "8b1056828838"
              "c5f61e6393ba7a0abcc9f662"
              "76fc6ece0f4e1768cddf8853bb2d551b");
        auto back = hsm::AesGcmDecrypt(key, iv, aad, ct);
        REQUIRE(back.ok());
        CHECK(Bytes(back->begin(), back->end()) == pt);
        ct[5] ^= 1;
        CHECK(hsm::AesGcmDecrypt(key, iv, aad, ct).status().code() ==
              ErrorCode::kInvalidCiphertext);
    }
}

TEST_CASE("HKDF-SHA256 matches RFC 5869 test case 1", "[hsm]") {
    Bytes ikm(22, 0x0b);
    Bytes salt = Hex("000102030405060708090a0b0c");
    Bytes info = Hex("f0f1f2f3f4f5f6f7f8f9");
    auto okm = hsm::HkdfSha256(ikm, salt, info, 42).value();
    CHECK(HexOf(okm) ==
          "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}

TEST_CASE("HKDF-SHA256 matches RFC 5869 test cases 2 and 3 (long inputs; no salt, no info)",
          "[hsm]") {
    Bytes ikm2, salt2, info2;
    for (int i = 0; i < 80; ++i) {
        ikm2.push_back(static_cast<std::uint8_t>(i));
        salt2.push_back(static_cast<std::uint8_t>(0x60 + i));
        info2.push_back(static_cast<std::uint8_t>(0xb0 + i));
    }
    CHECK(HexOf(hsm::HkdfSha256(ikm2, salt2, info2, 82).value()) ==
          "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41"
          "c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87");
    Bytes ikm3(22, 0x0b);
    CHECK(HexOf(hsm::HkdfSha256(ikm3, {}, {}, 42).value()) ==
          "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST_CASE("HMAC-SHA256 matches RFC 4231 test case 2", "[hsm]") {
    std::string key = "Jefe", data = "what do ya want for nothing?";
    CHECK(HexOf(hsm::HmacSha256(View(key), View(data))) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("blob sizes match AWS for every plaintext length in the table", "[hsm]") {
    HsmFixture f;
    const std::pair<std::size_t, std::size_t> table[] = {
        {1, 153},  {4, 156},  {16, 168}, {24, 176},  {32, 184},  {35, 187},    {36, 189},
        {48, 201}, {52, 207}, {64, 220}, {128, 285}, {256, 418}, {1024, 1186}, {4096, 4258}};
    for (auto [plain, blob] : table) {
        auto out = f.hsm->Encrypt(f.ref, Bytes(plain, 0x41), {});
        REQUIRE(out.ok());
        INFO("plaintext " << plain);
        CHECK(out->size() == blob);
        auto back = f.hsm->Decrypt(f.ref, *out, {});
        REQUIRE(back.ok());
        CHECK(back->size() == plain);
    }
}

TEST_CASE("ParseBlobView reads back what BuildBlob writes, at every DER length boundary", "[hsm]") {
    // The parser finds the encrypted length from the DER size by counting down; every size up
    // to past the 3-octet lengths (each nested length grows at 128, 256 and 65,536) must come
    // back exactly, and one byte more or less must not parse.
    hsm::BlobParts parts;
    parts.kind = hsm::BlobKind::kDataKey;
    for (std::size_t i = 0; i < parts.material_id.size(); ++i)
        parts.material_id[i] = static_cast<std::uint8_t>(i);
    parts.nonce.fill(0x5a);
    parts.iv.fill(0xa5);
    std::size_t checked = 0;
    for (std::size_t len = hsm::kFramingBytes + 1 + hsm::kGcmTagBytes; len <= 70000; ++len) {
        if (len > 1200 && (len < 65400 || len > 65700)) continue;
        parts.encrypted.assign(len, static_cast<std::uint8_t>(len));
        const Bytes blob = hsm::BuildBlob(parts);
        const auto view = hsm::ParseBlobView(blob);
        INFO("encrypted length " << len);
        REQUIRE(view.ok());
        CHECK(view->kind == parts.kind);
        CHECK(view->material_id == parts.material_id);
        CHECK(view->nonce == parts.nonce);
        CHECK(view->iv == parts.iv);
        CHECK(view->encrypted.size() == len);
        CHECK(view->encrypted.data() == blob.data() + (blob.size() - len));
        Bytes longer = blob;
        longer.push_back(0);
        CHECK_FALSE(hsm::ParseBlobView(longer).ok());
        CHECK_FALSE(hsm::ParseBlobView(ByteView(blob).first(blob.size() - 1)).ok());
        ++checked;
    }
    CHECK(checked > 1400);
}

TEST_CASE("AES-GCM over pieces equals AES-GCM over their concatenation", "[hsm]") {
    const Bytes key(32, 7), iv(12, 9);
    const Bytes a = Hex("000102030405060708090a0b0c0d0e0f10"), b = Hex("aabbcc");
    const Bytes p1 = Hex("0102"), p2(37, 0x33);
    Bytes aad = a;
    aad.insert(aad.end(), b.begin(), b.end());
    Bytes plain = p1;
    plain.insert(plain.end(), p2.begin(), p2.end());
    const Bytes whole = hsm::AesGcmEncrypt(key, iv, aad, plain).value();
    Bytes pieces(plain.size() + hsm::kGcmTagBytes);
    REQUIRE(hsm::AesGcmSealInto(key, iv, {a, b}, {p1, p2}, pieces.data()).ok());
    CHECK(pieces == whole);
    Bytes opened(plain.size(), 0);
    REQUIRE(hsm::AesGcmOpenInto(key, iv, {ByteView(aad).first(5), ByteView(aad).subspan(5)}, whole,
                                opened.data())
                .ok());
    CHECK(opened == plain);
    // A failed open leaves no unauthenticated plaintext behind.
    Bytes tampered = whole;
    tampered[0] ^= 1;
    CHECK(hsm::AesGcmOpenInto(key, iv, {aad}, tampered, opened.data()).code() ==
          ErrorCode::kInvalidCiphertext);
    CHECK(opened == Bytes(plain.size(), 0));
}

TEST_CASE("libsodium's and OpenSSL's AES-256-GCM agree, each opening the other's output", "[hsm]") {
    // kmsd seals with libsodium where the CPU allows and with OpenSSL elsewhere: a blob made on
    // one machine must open on the other. Sizes cross the 512-byte buffer where pieces are joined.
    if (!hsm::gcm::SodiumAvailable()) {
        WARN("no AES-NI and carry-less multiply here: kmsd uses OpenSSL's only");
        return;
    }
    Bytes key = Hex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
    const Bytes iv = Hex("cafebabefacedbaddecaf888");
    for (std::size_t size : {0, 1, 2, 15, 16, 17, 34, 255, 510, 511, 512, 513, 1000, 4098}) {
        CAPTURE(size);
        Bytes plain(size), aad(size / 2 + 3);
        for (std::size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<std::uint8_t>(i * 7);
        for (std::size_t i = 0; i < aad.size(); ++i) aad[i] = static_cast<std::uint8_t>(i * 13);
        key[0] = static_cast<std::uint8_t>(size);
        const std::size_t cut = size / 3;
        const ByteView p1 = ByteView(plain).first(cut), p2 = ByteView(plain).subspan(cut);
        const ByteView a1 = ByteView(aad).first(2), a2 = ByteView(aad).subspan(2);
        Bytes by_sodium(size + hsm::kGcmTagBytes), by_evp(size + hsm::kGcmTagBytes);
        REQUIRE(hsm::gcm::SealSodium(key, iv, {a1, a2}, {p1, p2}, by_sodium.data()).ok());
        REQUIRE(hsm::gcm::SealEvp(key, iv, {aad}, {plain}, by_evp.data()).ok());
        CHECK(by_sodium == by_evp);
        Bytes opened(size, 0);
        REQUIRE(hsm::gcm::OpenSodium(key, iv, {aad}, by_evp, opened.data()).ok());
        CHECK(opened == plain);
        std::fill(opened.begin(), opened.end(), 0);
        REQUIRE(hsm::gcm::OpenEvp(key, iv, {a1, a2}, by_sodium, opened.data()).ok());
        CHECK(opened == plain);
        // A changed tag, ciphertext or AAD fails in both, and leaves no plaintext behind.
        by_sodium[by_sodium.size() - 1 - size % hsm::kGcmTagBytes] ^= 0x40;
        CHECK(hsm::gcm::OpenSodium(key, iv, {aad}, by_sodium, opened.data()).code() ==
              ErrorCode::kInvalidCiphertext);
        CHECK(opened == Bytes(size, 0));
        aad.back() ^= 1;
        CHECK(hsm::gcm::OpenSodium(key, iv, {aad}, by_evp, opened.data()).code() ==
              ErrorCode::kInvalidCiphertext);
        CHECK(hsm::gcm::OpenEvp(key, iv, {aad}, by_evp, opened.data()).code() ==
              ErrorCode::kInvalidCiphertext);
    }
}

TEST_CASE("the blob header has AWS's shape and names the material", "[hsm]") {
    HsmFixture f;
    auto enc = f.hsm->Encrypt(f.ref, Bytes(5, 1), {}).value();
    auto dk = f.hsm->GenerateDataKey(f.ref, 32, {}).value();
    CHECK(Base64Encode(enc).substr(0, 6) == "AQICAH");
    CHECK(Base64Encode(dk.ciphertext_blob).substr(0, 6) == "AQIDAH");
    CHECK(dk.ciphertext_blob.size() == 184);
    CHECK(hsm::Hsm::BlobMaterialId(enc).value() == f.ref.material_id);
    CHECK(enc[37] == 0x01);
    // The length field covers exactly the DER part.
    std::size_t len = (std::size_t{enc[54]} << 24) | (enc[55] << 16) | (enc[56] << 8) | enc[57];
    CHECK(len == enc.size() - 58);
}

TEST_CASE("tampering, truncation, extension and a wrong context all fail the same way", "[hsm]") {
    HsmFixture f;
    hsm::EncryptionContext ctx{{"a", "bc"}};
    auto blob = f.hsm->Encrypt(f.ref, Bytes(20, 9), ctx).value();
    auto fails = [&](ByteView b, const hsm::EncryptionContext& c) {
        auto r = f.hsm->Decrypt(f.ref, b, c);
        return !r.ok() && r.status().code() == ErrorCode::kInvalidCiphertext &&
               r.status().message().empty();
    };
    REQUIRE(f.hsm->Decrypt(f.ref, blob, ctx).ok());
    SECTION("every single-byte flip is caught") {
        for (std::size_t i = 0; i < blob.size(); ++i) {
            Bytes t = blob;
            t[i] ^= 0x01;
            INFO("byte " << i);
            CHECK(fails(t, ctx));
        }
    }
    SECTION("truncated and extended") {
        CHECK(fails(ByteView(blob).first(blob.size() - 1), ctx));
        CHECK(fails(ByteView(blob).first(40), ctx));
        Bytes longer = blob;
        longer.push_back(0);
        CHECK(fails(longer, ctx));
    }
    SECTION("contexts are bound unambiguously") {
        CHECK(fails(blob, {{"ab", "c"}}));
        CHECK(fails(blob, {}));
        CHECK(fails(blob, {{"a", "bc"}, {"x", "y"}}));
        CHECK(fails(blob, {{"A", "bc"}}));
    }
}

TEST_CASE("sealed material is bound to its key and master key", "[hsm]") {
    HsmFixture f;
    SECTION("a blob moved to another key's row does not unseal") {
        hsm::KeyRef other{"arn:aws:kms:us-east-1:111122223333:key/k2", f.ref.material_id,
                          "SYMMETRIC_DEFAULT"};
        auto r = f.hsm->Encrypt(other, Bytes(4, 1), {});
        CHECK(r.status().code() == ErrorCode::kInternal);
    }
    SECTION("a cached root key serves only the key it was sealed for") {
        // Warm the cache for the real key first: the other ARN (or spec) must still unseal from
        // the store, with its own AAD, and fail, rather than borrow the cached bytes.
        REQUIRE(f.hsm->Encrypt(f.ref, Bytes(4, 1), {}).ok());
        hsm::KeyRef other{"arn:aws:kms:us-east-1:111122223333:key/k2", f.ref.material_id,
                          "SYMMETRIC_DEFAULT"};
        CHECK(f.hsm->Encrypt(other, Bytes(4, 1), {}).status().code() == ErrorCode::kInternal);
        hsm::KeyRef other_spec{f.ref.arn, f.ref.material_id, "HMAC_256"};
        CHECK(f.hsm->Encrypt(other_spec, Bytes(4, 1), {}).status().code() == ErrorCode::kInternal);
        CHECK(f.hsm->Encrypt(f.ref, Bytes(4, 1), {}).ok());
    }
    SECTION("a flipped bit in the sealed blob does not unseal") {
        f.store.blobs[f.ref.material_id][20] ^= 1;
        auto r = f.hsm->Encrypt(f.ref, Bytes(4, 1), {});
        CHECK(r.status().code() == ErrorCode::kInternal);
        CHECK(r.status().message() == "sealed key material does not unseal");
    }
    SECTION("the check value detects a wrong master key") {
        auto check = f.hsm->MakeCheckValue().value();
        CHECK(f.hsm->VerifyCheckValue(check).ok());
        auto wrong = hsm::Hsm::New(testing::MasterKey(2)).value();
        const Status refused = wrong->VerifyCheckValue(check);
        CHECK(refused.code() == ErrorCode::kInternal);
        CHECK(refused.message() == "the master key does not match this database");
    }
    SECTION("sealed bytes do not contain the key material in clear, and any flip breaks them") {
        // Material the test knows (a seed file's backing key goes this way): the sealed bytes
        // are version+IV+ciphertext+tag, and no 8-byte window of the material shows in them.
        Bytes material(32);
        for (std::size_t i = 0; i < material.size(); ++i)
            material[i] = static_cast<std::uint8_t>(0xA0 + i);
        const std::string arn = "arn:aws:kms:us-east-1:111122223333:key/k3";
        auto sealed = f.hsm->ImportKey(arn, "SYMMETRIC_DEFAULT", material).value();
        REQUIRE(sealed.sealed.size() == 1 + 12 + 32 + 16);
        for (std::size_t i = 0; i + 8 <= material.size(); ++i)
            CHECK(std::search(sealed.sealed.begin(), sealed.sealed.end(), material.begin() + i,
                              material.begin() + i + 8) == sealed.sealed.end());
        const hsm::KeyRef ref{arn, sealed.material_id, "SYMMETRIC_DEFAULT"};
        f.store.blobs[sealed.material_id] = sealed.sealed;
        auto blob = f.hsm->Encrypt(ref, Bytes(4, 1), {});
        REQUIRE(blob.ok());
        for (std::size_t i = 0; i < sealed.sealed.size(); ++i) {
            // A fresh HSM each time, so nothing is served from the cache.
            auto cold = hsm::Hsm::New(testing::MasterKey(1)).value();
            testing::FakeKeyStore store;
            store.blobs[sealed.material_id] = sealed.sealed;
            store.blobs[sealed.material_id][i] ^= 0x01;
            cold->set_store(&store);
            INFO("byte " << i);
            CHECK_FALSE(cold->Decrypt(ref, *blob, {}).ok());
        }
        // The intact blob does unseal to the same material (it decrypts the blob).
        auto cold = hsm::Hsm::New(testing::MasterKey(1)).value();
        cold->set_store(&f.store);
        CHECK(cold->Decrypt(ref, *blob, {}).ok());
    }
}

TEST_CASE("hex: exactly lower-case digits of the right length are decoded", "[hsm]") {
    // Every byte value round-trips, and at every position of a 2-byte input every character other
    // than 0-9 and a-f is refused (upper case too: material IDs are stored in lower case).
    for (int b = 0; b < 256; ++b) {
        const std::uint8_t byte = static_cast<std::uint8_t>(b);
        const std::string hex = ToHex(ByteView(&byte, 1));
        std::uint8_t out = 0;
        REQUIRE(FromHexInto(hex, &out, 1));
        CHECK(out == byte);
    }
    const auto digit = [](int c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
    for (int pos = 0; pos < 4; ++pos) {
        for (int c = 0; c < 256; ++c) {
            std::string hex = "a0f9";
            hex[static_cast<std::size_t>(pos)] = static_cast<char>(c);
            std::uint8_t out[2] = {};
            INFO("character " << c << " at " << pos);
            CHECK(FromHexInto(hex, out, 2) == digit(c));
        }
    }
    std::uint8_t out[2] = {};
    CHECK_FALSE(FromHexInto("a0f", out, 2));
    CHECK_FALSE(FromHexInto("a0f9a", out, 2));
    CHECK_FALSE(FromHexInto("", out, 2));
    CHECK(FromHexInto("", out, 0));
    REQUIRE(FromHexInto("a0f9", out, 2));
    CHECK(out[0] == 0xa0);
    CHECK(out[1] == 0xf9);
}

TEST_CASE("base64 is strict", "[hsm]") {
    CHECK(Base64Encode(View(std::string("hello"))) == "aGVsbG8=");
    CHECK(Base64Decode("aGVsbG8=").has_value());
    CHECK_FALSE(Base64Decode("aGVsbG8").has_value());
    CHECK_FALSE(Base64Decode("aGVs*G8=").has_value());
    CHECK_FALSE(Base64Decode("aG=sbG8=").has_value());
    CHECK(Base64Decode("").value().empty());
    for (const char* bad :
         {"====", "a===", "aa=a", "aaa=aaaa", "aa==aaaa", "aGVsbG8==", "aGVs\nbG8="}) {
        CHECK_FALSE(Base64Decode(bad).has_value());
        CHECK_FALSE(Base64DecodedSize(bad).has_value());
    }
}

TEST_CASE("base64: the decoder accepts exactly what the size check accepts", "[hsm]") {
    // Every byte value at every position of encodings with no, one and two padding characters:
    // the one-pass decoder and the plain validator must agree, and a valid text decodes to the
    // size the validator gives.
    for (const std::string base : {"aGVsbG8h", "aGVsbG8=", "aGVsbA==", "QUJD", "QQ=="}) {
        for (std::size_t i = 0; i < base.size(); ++i) {
            for (int c = 0; c < 256; ++c) {
                std::string text = base;
                text[i] = static_cast<char>(c);
                const auto size = Base64DecodedSize(text);
                const auto decoded = Base64Decode(text);
                CAPTURE(text);
                REQUIRE(decoded.has_value() == size.has_value());
                if (decoded) CHECK(decoded->size() == *size);
            }
        }
    }
}

TEST_CASE("base64 agrees with OpenSSL's encoder at every length", "[hsm]") {
    // EVP_EncodeBlock is the independent reference: same alphabet, same padding, no line breaks.
    // Random bytes at every length across several of the SIMD steps (12 bytes each, from 16),
    // and every byte value at each of the three positions of a quantum.
    std::vector<SecureBytes> inputs;
    for (std::size_t n = 0; n <= 300; ++n) inputs.push_back(hsm::RandomBytes(n));
    for (int shift = 0; shift < 3; ++shift) {
        SecureBytes all(3 * 256 + static_cast<std::size_t>(shift));
        for (std::size_t i = 0; i < all.size(); ++i)
            all[i] = static_cast<std::uint8_t>((i + static_cast<std::size_t>(shift) * 85) / 3);
        inputs.push_back(all);
    }
    for (const SecureBytes& data : inputs) {
        const std::size_t n = data.size();
        std::string expected(4 * ((n + 2) / 3) + 1, '\0');
        const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(expected.data()),
                                        data.data(), static_cast<int>(n));
        expected.resize(static_cast<std::size_t>(len));
        CAPTURE(n);
        CHECK(Base64Encode(data) == expected);
        CHECK(Base64EncodePortable(data) == expected);
        const SecureString secure = Base64EncodeSecure(data);
        CHECK(std::string(secure.begin(), secure.end()) == expected);
        const auto back = Base64Decode(expected);
        REQUIRE(back.has_value());
        CHECK(*back == data);
        CHECK(Base64DecodedSize(expected) == n);
    }
}
