// [api]: a key outside an operation's accepted usages is refused with AWS's
// InvalidKeyUsageException text, for keys named in the request and keys named by a ciphertext
// alike.
#include <catch2/catch.hpp>

#include "common/base64.h"
#include "support/fakes.h"

using namespace kmsd;
using kmsd::testing::TestKms;

namespace {

const std::string kAcct = "111122223333";
std::string Arn(const std::string& id) { return "arn:aws:kms:us-east-1:" + kAcct + ":key/" + id; }
std::string B64(const std::string& s) { return Base64Encode(View(s)); }

void CheckError(const TestKms::Reply& r, const std::string& type, const std::string& message) {
    INFO(r.body);
    CHECK(r.status == 400);
    CHECK(r.type() == type);
    CHECK(r.message() == message);
}

// CreateKey makes only symmetric encryption keys so far; a key of another usage is written to
// the Catalog directly, as the asymmetric issues will create them. (Only the in-memory record
// matters here: SQLite's upsert keeps a key's usage and spec, which never change.)
void SetUsage(TestKms& kms, const std::string& id, const std::string& usage,
              const std::string& spec) {
    auto key = kms.catalog->FindKey({kAcct, "us-east-1", id});
    REQUIRE(key);
    auto changed = std::make_shared<storage::KeyRecord>(*key);
    changed->key_usage = usage;
    changed->key_spec = spec;
    storage::Change change;
    change.put_keys.push_back(changed);
    REQUIRE(kms.catalog->Apply(change).ok());
}

}  // namespace

TEST_CASE("a key of the wrong usage is refused with AWS's InvalidKeyUsage text", "[api]") {
    TestKms kms;
    const std::string good = kms.NewKey();
    const std::string signing = kms.NewKey();
    const std::string good_blob =
        kms.Call("Encrypt", "{\"KeyId\":\"" + good + "\",\"Plaintext\":\"" + B64("x") + "\"}")
            .str("CiphertextBlob");
    const std::string signing_blob =
        kms.Call("Encrypt", "{\"KeyId\":\"" + signing + "\",\"Plaintext\":\"" + B64("x") + "\"}")
            .str("CiphertextBlob");
    SetUsage(kms, signing, "SIGN_VERIFY", "RSA_2048");
    const std::string not_valid =
        Arn(signing) + " key usage is SIGN_VERIFY which is not valid for ";

    SECTION("keys named in the request") {
        CheckError(kms.Call("Encrypt",
                            "{\"KeyId\":\"" + signing + "\",\"Plaintext\":\"" + B64("x") + "\"}"),
                   "InvalidKeyUsageException", not_valid + "Encrypt.");
        CheckError(
            kms.Call("GenerateDataKey", "{\"KeyId\":\"" + signing + "\",\"NumberOfBytes\":32}"),
            "InvalidKeyUsageException", not_valid + "GenerateDataKey.");
        CheckError(kms.Call("GenerateDataKeyWithoutPlaintext",
                            "{\"KeyId\":\"" + signing + "\",\"KeySpec\":\"AES_256\"}"),
                   "InvalidKeyUsageException", not_valid + "GenerateDataKeyWithoutPlaintext.");
        CheckError(kms.Call("Decrypt", "{\"KeyId\":\"" + signing +
                                           "\",\"DryRun\":true,"
                                           "\"DryRunModifiers\":[\"IGNORE_CIPHERTEXT\"]}"),
                   "InvalidKeyUsageException", not_valid + "Decrypt.");
        CheckError(kms.Call("ReEncrypt", "{\"CiphertextBlob\":\"" + good_blob +
                                             "\",\"DestinationKeyId\":\"" + signing + "\"}"),
                   "InvalidKeyUsageException", not_valid + "ReEncrypt.");
    }
    SECTION("keys named by the ciphertext") {
        CheckError(kms.Call("Decrypt", "{\"CiphertextBlob\":\"" + signing_blob + "\"}"),
                   "InvalidKeyUsageException", not_valid + "Decrypt.");
        // ReEncrypt's source says Decrypt, as it always has.
        CheckError(kms.Call("ReEncrypt", "{\"CiphertextBlob\":\"" + signing_blob +
                                             "\",\"DestinationKeyId\":\"" + good + "\"}"),
                   "InvalidKeyUsageException", not_valid + "Decrypt.");
    }
    SECTION("the key state is checked before its usage") {
        REQUIRE(kms.Call("DisableKey", "{\"KeyId\":\"" + signing + "\"}").status == 200);
        CheckError(kms.Call("Encrypt",
                            "{\"KeyId\":\"" + signing + "\",\"Plaintext\":\"" + B64("x") + "\"}"),
                   "DisabledException", Arn(signing) + " is disabled.");
    }
    SECTION("operations on any key accept it") {
        CHECK(kms.Call("DescribeKey", "{\"KeyId\":\"" + signing + "\"}").status == 200);
        CHECK(kms.Call("TagResource", "{\"KeyId\":\"" + signing +
                                          "\",\"Tags\":[{\"TagKey\":\"k\",\"TagValue\":\"v\"}]}")
                  .status == 200);
    }
}
