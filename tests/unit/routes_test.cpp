// [api]: the route table (design.md §2) and what its declarations do: a key outside a route's
// accepted usages is refused with AWS's InvalidKeyUsageException text, for keys named in the
// request and keys named by a ciphertext alike.
#include <algorithm>
#include <catch2/catch.hpp>
#include <initializer_list>
#include <string_view>
#include <vector>

#include "api/route.h"
#include "api/validate.h"
#include "common/base64.h"
#include "support/checks.h"
#include "support/fakes.h"

using namespace kmsd;
using kmsd::testing::TestKms;

namespace {

using kmsd::testing::Arn;
using kmsd::testing::B64;
using kmsd::testing::kAcct;

using kmsd::testing::CheckError;

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

TEST_CASE("CheckKeyKinds: usage before spec, AWS's text for the usage", "[api]") {
    storage::KeyRecord key;
    key.arn = Arn("k");
    key.key_usage = "SIGN_VERIFY";
    key.key_spec = "ML_DSA_44";
    CHECK(api::CheckKeyKinds(key, api::kAnyKey, "Sign").ok());
    const api::KeyKinds rsa_ecc_signing{api::usage::kSignVerify, api::spec::kRsa | api::spec::kEcc};
    auto wrong_spec = api::CheckKeyKinds(key, rsa_ecc_signing, "Sign");
    CHECK(wrong_spec.code() == ErrorCode::kInvalidKeyUsage);
    CHECK(wrong_spec.message() ==
          Arn("k") + " key KeySpec is ML_DSA_44 which is not valid for Sign.");
    key.key_spec = "ECC_SECG_P256K1";
    CHECK(api::CheckKeyKinds(key, rsa_ecc_signing, "Sign").ok());
    auto wrong_usage = api::CheckKeyKinds(key, api::kSymmetricEncryption, "Encrypt");
    CHECK(wrong_usage.code() == ErrorCode::kInvalidKeyUsage);
    CHECK(wrong_usage.message() ==
          Arn("k") + " key usage is SIGN_VERIFY which is not valid for Encrypt.");
    key.key_usage = "ENCRYPT_DECRYPT";
    key.key_spec = "RSA_2048";
    CHECK(api::CheckKeyKinds(key, api::kSymmetricEncryption, "GenerateDataKey").message() ==
          Arn("k") + " key KeySpec is RSA_2048 which is not valid for GenerateDataKey.");
}

TEST_CASE("the declarations decide before the operation's own checks where they did before",
          "[api]") {
    TestKms kms;
    const std::string id = kms.NewKey();
    SECTION("CreateGrant refuses an alias before it looks at anything else") {
        CheckError(kms.Call("CreateGrant",
                            "{\"KeyId\":\"alias/x\",\"GranteePrincipal\":\"p\","
                            "\"Operations\":[\"Encrypt\"],\"Constraints\":{"
                            "\"EncryptionContextEquals\":{\"a\":\"b\"},"
                            "\"EncryptionContextSubset\":{\"a\":\"b\"}}}"),
                   "InvalidArnException", "Key Aliases are not supported for this operation.");
    }
    SECTION("ScheduleKeyDeletion checks its window before the key") {
        CHECK(kms.Call("ScheduleKeyDeletion", "{\"KeyId\":\"nope\",\"PendingWindowInDays\":3}")
                  .type() == "ValidationException");
    }
    SECTION("ListAliases' KeyId is looked up, not authorized: IAM alone decides") {
        REQUIRE(
            kms.Call("CreateAlias", "{\"AliasName\":\"alias/a\",\"TargetKeyId\":\"" + id + "\"}")
                .status == 200);
        // A policy that allows nothing but changing itself.
        REQUIRE(kms.Call("PutKeyPolicy",
                         "{\"KeyId\":\"" + id +
                             "\",\"Policy\":\"{\\\"Statement\\\":[{\\\"Effect\\\":\\\"Allow\\\","
                             "\\\"Principal\\\":{\\\"AWS\\\":\\\"*\\\"},\\\"Action\\\":"
                             "\\\"kms:PutKeyPolicy\\\",\\\"Resource\\\":\\\"*\\\"}]}\"}")
                    .status == 200);
        CHECK(kms.Call("DescribeKey", "{\"KeyId\":\"" + id + "\"}").type() ==
              "AccessDeniedException");
        auto listed = kms.Call("ListAliases", "{\"KeyId\":\"" + id + "\"}");
        REQUIRE(listed.status == 200);
        CHECK(listed.json["Aliases"].size() == 1);
        CheckError(kms.Call("ListAliases", "{\"KeyId\":\"alias/a\"}"), "NotFoundException",
                   "Invalid keyId 'alias/a'");
    }
}

// --- The table itself -------------------------------------------------------------------------

namespace {

using api::KeyDecl;
using api::KeyFrom;
using api::Route;

bool In(std::initializer_list<std::string_view> list, std::string_view v) {
    return std::find(list.begin(), list.end(), v) != list.end();
}

// The keys a route declares.
std::vector<const KeyDecl*> KeysOf(const Route& r) {
    std::vector<const KeyDecl*> out;
    for (const KeyDecl* k : {&r.key, &r.target})
        if (k->from != KeyFrom::kNone) out.push_back(k);
    return out;
}

// AWS: "Allowing users in other accounts to use a KMS key" and each operation's
// "Cross-account use: Yes" (kms-reference §2.2).
const std::initializer_list<std::string_view> kCrossAccountOps = {
    "CreateGrant",
    "Decrypt",
    "DeriveSharedSecret",
    "DescribeKey",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GetKeyRotationStatus",
    "GetPublicKey",
    "ListGrants",
    "ReEncrypt",
    "RetireGrant",
    "RevokeGrant",
    "Sign",
    "Verify",
    "VerifyMac"};

// Operations not on a key: IAM policies alone (kms-reference §6.2 item 4).
const std::initializer_list<std::string_view> kIamOnlyOps = {"CreateKey",
                                                             "ListKeys",
                                                             "ListAliases",
                                                             "GenerateRandom",
                                                             "ListRetirableGrants",
                                                             "CreateCustomKeyStore",
                                                             "DescribeCustomKeyStores",
                                                             "ConnectCustomKeyStore",
                                                             "DisconnectCustomKeyStore",
                                                             "DeleteCustomKeyStore",
                                                             "UpdateCustomKeyStore"};

// Operations whose key member accepts alias names and alias ARNs (kms-reference §2.2).
const std::initializer_list<std::string_view> kAliasOps = {"Decrypt",
                                                           "DeriveSharedSecret",
                                                           "DescribeKey",
                                                           "Encrypt",
                                                           "GenerateDataKey",
                                                           "GenerateDataKeyPair",
                                                           "GenerateDataKeyPairWithoutPlaintext",
                                                           "GenerateDataKeyWithoutPlaintext",
                                                           "GenerateMac",
                                                           "GetPublicKey",
                                                           "ReEncrypt",
                                                           "Sign",
                                                           "Verify",
                                                           "VerifyMac"};

}  // namespace

TEST_CASE("route table: every route is a model operation with a handler and an action", "[api]") {
    const auto routes = api::Routes();
    REQUIRE(routes.size() >= 35);
    for (std::size_t i = 0; i < routes.size(); ++i) {
        const Route& r = routes[i];
        INFO(r.name);
        CHECK(api::IsModelOperation(std::string(r.name)));
        CHECK(r.handler != nullptr);
        CHECK(api::FindRoute(r.name) == &r);
        if (i > 0) CHECK(routes[i - 1].name < r.name);  // sorted, so no duplicates
        // The action is kms:<Operation>; only ReEncrypt's keys have actions of their own.
        CHECK(api::ActionOf(r) == r.name);
        for (const KeyDecl* k : KeysOf(r)) {
            const std::string_view action = api::ActionOf(r, *k);
            if (r.name == "ReEncrypt")
                CHECK(action == (k == &r.key ? "ReEncryptFrom" : "ReEncryptTo"));
            else
                CHECK(action == r.name);
        }
    }
    // Every operation of the model has its route (54, custom key stores included).
    CHECK(api::Routes().size() == 54);
    CHECK(api::FindRoute("CreateCustomKeyStore") != nullptr);
}

TEST_CASE("route table: key members are members of the operation's input", "[api]") {
    for (const Route& r : api::Routes()) {
        INFO(r.name);
        for (const KeyDecl* k : KeysOf(r)) {
            REQUIRE(k->member != nullptr);
            INFO(k->member);
            CHECK(api::ModelInputHasMember(std::string(r.name), k->member));
        }
        if (r.alias_member) CHECK(api::ModelInputHasMember(std::string(r.name), r.alias_member));
        if (r.target.from != KeyFrom::kNone) CHECK(r.target.from == KeyFrom::kMember);
        // Only a key the request names can be resolved before the operation runs.
        if (r.resolve == api::Resolve::kBeforeHandler) CHECK(r.key.from == KeyFrom::kMember);
    }
    CHECK_FALSE(api::ModelInputHasMember("Encrypt", "KeyIds"));
}

TEST_CASE("route table: other accounts' keys exactly where AWS allows them", "[api]") {
    for (const Route& r : api::Routes()) {
        INFO(r.name);
        const auto keys = KeysOf(r);
        const bool documented = In(kCrossAccountOps, r.name);
        // Every key of such an operation (ReEncrypt's source and destination alike), none of
        // the others'.
        for (const KeyDecl* k : keys) CHECK(k->cross_account == documented);
        if (documented) CHECK_FALSE(keys.empty());
    }
    for (std::string_view op : kCrossAccountOps) CHECK(api::IsModelOperation(std::string(op)));
}

TEST_CASE("route table: IAM-only routes authorize no key; the others authorize one", "[api]") {
    for (const Route& r : api::Routes()) {
        INFO(r.name);
        CHECK(r.iam_only == In(kIamOnlyOps, r.name));
        if (r.iam_only) {
            // ListAliases' optional KeyId filters the list: looked up, never authorized.
            CHECK((r.key.from == KeyFrom::kNone || r.key.authz == api::KeyAuthz::kNone));
            CHECK(r.target.from == KeyFrom::kNone);
            CHECK(r.alias_member == nullptr);
        } else {
            bool authorizes = r.alias_member != nullptr;
            for (const KeyDecl* k : KeysOf(r)) authorizes |= k->authz != api::KeyAuthz::kNone;
            CHECK(authorizes);
        }
    }
}

TEST_CASE("route table: alias names and ARNs exactly where AWS accepts them", "[api]") {
    for (const Route& r : api::Routes()) {
        INFO(r.name);
        for (const KeyDecl* k : KeysOf(r)) {
            if (k->from != KeyFrom::kMember && k->from != KeyFrom::kCiphertext) continue;
            INFO(k->member);
            CHECK((k->aliases == api::AliasRefs::kAllowed) == In(kAliasOps, r.name));
        }
    }
}

TEST_CASE("route table: cryptographic routes accept only enabled keys of their usage", "[api]") {
    using namespace api::spec;
    struct Expect {
        std::string_view op;
        unsigned usages;
        unsigned specs;
    };
    // kms-reference §3.1: which operations each usage and spec family allows.
    const Expect expected[] = {
        {"Encrypt", api::usage::kEncryptDecrypt, kSymmetric | kRsa | kSm2},
        {"Decrypt", api::usage::kEncryptDecrypt, kSymmetric | kRsa | kSm2},
        {"ReEncrypt", api::usage::kEncryptDecrypt, kSymmetric | kRsa | kSm2},
        {"GenerateDataKey", api::usage::kEncryptDecrypt, kSymmetric},
        {"GenerateDataKeyWithoutPlaintext", api::usage::kEncryptDecrypt, kSymmetric},
        {"GenerateDataKeyPair", api::usage::kEncryptDecrypt, kSymmetric},
        {"GenerateDataKeyPairWithoutPlaintext", api::usage::kEncryptDecrypt, kSymmetric},
        {"Sign", api::usage::kSignVerify, kRsa | kEcc | kEdwards | kSm2 | kMlDsa},
        {"Verify", api::usage::kSignVerify, kRsa | kEcc | kEdwards | kSm2 | kMlDsa},
        {"GenerateMac", api::usage::kGenerateVerifyMac, kHmac},
        {"VerifyMac", api::usage::kGenerateVerifyMac, kHmac},
        {"DeriveSharedSecret", api::usage::kKeyAgreement, kEcc | kSm2},
        {"GetPublicKey", api::usage::kAny, api::spec::kAny},
    };
    for (const auto& e : expected) {
        INFO(e.op);
        const Route* r = api::FindRoute(e.op);
        REQUIRE(r);
        REQUIRE_FALSE(KeysOf(*r).empty());
        for (const KeyDecl* k : KeysOf(*r)) {
            CHECK(k->states == api::KeyStates::kEnabled);
            CHECK(k->kinds.usages == e.usages);
            CHECK(k->kinds.specs == e.specs);
        }
    }
    // Metadata operations take any key.
    for (std::string_view op : {"DescribeKey", "GetKeyPolicy", "ListResourceTags", "TagResource"})
        CHECK(api::FindRoute(op)->key.kinds.usages == api::usage::kAny);
}
