// [api]: Dispatch() without sockets, asserting the exact __type, message and HTTP status.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <set>

#include "api/json.h"
#include "api/resolve.h"
#include "api/validate.h"
#include "common/base64.h"
#include "common/json_limits.h"
#include "support/checks.h"
#include "support/fakes.h"

using namespace kmsd;
using kmsd::testing::TestKms;

namespace {

using kmsd::testing::Arn;
using kmsd::testing::B64;
using kmsd::testing::kAcct;

using kmsd::testing::CheckError;

}  // namespace

TEST_CASE("protocol-level errors", "[api]") {
    TestKms kms;
    SECTION("unknown operation has a bare __type body") {
        auto r = kms.Call("NoSuchOp", "{}");
        CHECK(r.status == 400);
        CHECK(r.body == "{\"__type\":\"UnknownOperationException\"}");
    }
    SECTION("wrong content type") {
        auto r = kms.Call("ListKeys", "{}", "text/plain");
        CHECK(r.body == "{\"__type\":\"UnknownOperationException\"}");
    }
    SECTION("malformed JSON, non-objects, duplicates and wrong types are SerializationException") {
        for (const char* body : {"", "{", "[]", "\"x\"", "{\"Limit\":1,\"Limit\":2}",
                                 "{\"Limit\":\"ten\"}", "{\"Limit\":1.5}"}) {
            INFO(body);
            auto r = kms.Call("ListKeys", body);
            CHECK(r.status == 400);
            CHECK(r.type() == "SerializationException");
        }
    }
    SECTION("invalid base64 is SerializationException") {
        auto id = kms.NewKey();
        auto r = kms.Call("Encrypt", "{\"KeyId\":\"" + id + "\",\"Plaintext\":\"%%%\"}");
        CHECK(r.type() == "SerializationException");
    }
    SECTION("unknown members are ignored") {
        auto r = kms.Call("ListKeys", "{\"Bogus\":{\"x\":[1,2]}}");
        CHECK(r.status == 200);
    }
    SECTION("every model operation is served") {
        auto r = kms.Call("DescribeCustomKeyStores", "{}");
        CHECK(r.status == 200);
        CHECK(r.json["CustomKeyStores"].empty());
    }
}

TEST_CASE("validation errors use AWS's grammar", "[api]") {
    TestKms kms;
    CheckError(kms.Call("DescribeKey", "{}"), "ValidationException",
               "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: "
               "Member must not be null");
    auto id = kms.NewKey();
    CheckError(kms.Call("Encrypt", "{\"KeyId\":\"" + id + "\",\"Plaintext\":\"" +
                                       B64(std::string(4097, 'x')) + "\"}"),
               "ValidationException",
               "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
               "Member must have length less than or equal to 4096");
    CheckError(kms.Call("GenerateRandom", "{\"NumberOfBytes\":1025}"), "ValidationException",
               "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy "
               "constraint: Member must have value less than or equal to 1024");
    CheckError(kms.Call("GenerateRandom", "{\"NumberOfBytes\":0}"), "ValidationException",
               "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
               "constraint: Member must have value greater than or equal to 1");
    CheckError(kms.Call("GenerateRandom", "{}"), "ValidationException",
               "NumberOfBytes is required.");
    CheckError(kms.Call("CreateKey", "{\"Description\":\"" + std::string(8193, 'd') + "\"}"),
               "ValidationException",
               "1 validation error detected: Value '" + std::string(8193, 'd') +
                   "' at 'description' failed to satisfy constraint: Member must have length less "
                   "than or equal to 8192");
    auto bad_enum = kms.Call("CreateKey", "{\"KeySpec\":\"HMAC_random\"}");
    CHECK(bad_enum.type() == "ValidationException");
    CHECK_THAT(
        bad_enum.message(),
        Catch::StartsWith("1 validation error detected: Value 'HMAC_random' at 'keySpec' "
                          "failed to satisfy constraint: Member must satisfy enum value set: ["));
    CheckError(kms.Call("TagResource", "{\"KeyId\":\"" + id + "\",\"Tags\":[{\"TagKey\":\"" +
                                           std::string(129, 'k') + "\",\"TagValue\":\"v\"}]}"),
               "ValidationException",
               "1 validation error detected: Value '" + std::string(129, 'k') +
                   "' at 'tags.1.member.tagKey' failed to satisfy constraint: Member must have "
                   "length less than or equal to 128");
    CheckError(kms.Call("GenerateDataKey", "{\"KeyId\":\"" + id + "\"}"), "ValidationException",
               "Please specify either number of bytes or key spec.");
}

TEST_CASE("key references resolve with AWS's NotFound messages", "[api]") {
    TestKms kms;
    auto id = kms.NewKey();
    const std::string missing = "00000000-1111-4222-8333-444444444444";
    CheckError(kms.Call("DescribeKey", "{\"KeyId\":\"fake-key-id\"}"), "NotFoundException",
               "Invalid keyId 'fake-key-id'");
    CheckError(kms.Call("DescribeKey", "{\"KeyId\":\"" + missing + "\"}"), "NotFoundException",
               "Key '" + Arn(missing) + "' does not exist");
    CheckError(kms.Call("DescribeKey",
                        "{\"KeyId\":\"arn:aws:kms:us-west-2:" + kAcct + ":key/" + id + "\"}"),
               "NotFoundException", "Invalid arn us-west-2");
    CheckError(kms.Call("DescribeKey", "{\"KeyId\":\"alias/nope\"}"), "NotFoundException",
               "Alias arn:aws:kms:us-east-1:" + kAcct + ":alias/nope is not found.");
    auto r = kms.Call("DescribeKey", "{\"KeyId\":\"" + Arn(id) + "\"}");
    CHECK(r.status == 200);
    // A key ARN of another account names that account's key: account 444455556666 has no key
    // with this ID (only 111122223333 has), so it is not found there. Keys that do exist in the
    // other account, with and without a policy allowing the caller, are in authz_test.cpp
    // ("cross-account: key ARNs of other accounts, never aliases").
    const std::string foreign = "arn:aws:kms:us-east-1:444455556666:key/" + id;
    CheckError(kms.Call("DescribeKey", "{\"KeyId\":\"" + foreign + "\"}"), "NotFoundException",
               "Key '" + foreign + "' does not exist");
    REQUIRE(kms.Call("CreateAlias", "{\"AliasName\":\"alias/mine\",\"TargetKeyId\":\"" + id + "\"}")
                .status == 200);
    CheckError(kms.Call("Encrypt",
                        "{\"KeyId\":\"arn:aws:kms:us-east-1:444455556666:alias/mine\","
                        "\"Plaintext\":\"AA==\"}"),
               "NotFoundException",
               "Alias arn:aws:kms:us-east-1:444455556666:alias/mine is not found.");
    kms.caller.region = "us-west-2";
    CheckError(kms.Call("DescribeKey", "{\"KeyId\":\"" + id + "\"}"), "NotFoundException",
               "Key 'arn:aws:kms:us-west-2:" + kAcct + ":key/" + id + "' does not exist");
}

TEST_CASE("the key ID form: 8-4-4-4-12 hex of either case, or mrk- and 32 lower-case hex",
          "[api]") {
    const std::string id = "1234abcd-12ab-34cd-56ef-1234567890ab";
    CHECK(api::IsKeyIdForm(id));
    CHECK(api::IsKeyIdForm("1234ABCD-12AB-34CD-56EF-1234567890AB"));
    CHECK(api::IsKeyIdForm("mrk-1234abcd12ab34cd56ef1234567890ab"));
    CHECK_FALSE(api::IsKeyIdForm("mrk-1234ABCD12ab34cd56ef1234567890ab"));
    CHECK_FALSE(api::IsKeyIdForm(""));
    CHECK_FALSE(api::IsKeyIdForm(id + "0"));
    CHECK_FALSE(api::IsKeyIdForm(id.substr(1)));
    // Every position, with every character that is wrong there: a dash where a digit goes, a
    // digit where a dash goes, and what is neither anywhere.
    for (std::size_t at = 0; at < id.size(); ++at) {
        const bool dash = at == 8 || at == 13 || at == 18 || at == 23;
        for (const char c : {'-', '0', 'g', 'G', '/', ':', '@', '`', '\0', '\xff', '\xb0'}) {
            std::string s = id;
            s[at] = c;
            const bool digit = c == '0';
            INFO("position " << at << " char " << static_cast<int>(c));
            CHECK(api::IsKeyIdForm(s) == (dash ? c == '-' : digit));
        }
    }
}

TEST_CASE("encrypt and decrypt, with every failure mode", "[api]") {
    TestKms kms;
    auto id = kms.NewKey();
    auto other = kms.NewKey();
    auto enc = kms.Call("Encrypt", "{\"KeyId\":\"" + id + "\",\"Plaintext\":\"" + B64("secret") +
                                       "\",\"EncryptionContext\":{\"a\":\"bc\"}}");
    REQUIRE(enc.status == 200);
    CHECK(enc.str("KeyId") == Arn(id));
    const std::string blob = enc.str("CiphertextBlob");

    auto dec = kms.Call(
        "Decrypt", "{\"CiphertextBlob\":\"" + blob + "\",\"EncryptionContext\":{\"a\":\"bc\"}}");
    REQUIRE(dec.status == 200);
    CHECK(dec.str("Plaintext") == B64("secret"));
    CHECK(dec.str("KeyId") == Arn(id));
    CHECK(dec.str("EncryptionAlgorithm") == "SYMMETRIC_DEFAULT");

    SECTION("wrong context") {
        auto r = kms.Call("Decrypt", "{\"CiphertextBlob\":\"" + blob +
                                         "\",\"EncryptionContext\":{\"ab\":\"c\"}}");
        CHECK(r.body == "{\"__type\":\"InvalidCiphertextException\"}");
    }
    SECTION("wrong KeyId") {
        CheckError(kms.Call("Decrypt", "{\"CiphertextBlob\":\"" + blob + "\",\"KeyId\":\"" + other +
                                           "\",\"EncryptionContext\":{\"a\":\"bc\"}}"),
                   "IncorrectKeyException",
                   "The key ID in the request does not identify a CMK that can perform this "
                   "operation.");
    }
    SECTION("garbage") {
        auto r = kms.Call("Decrypt", "{\"CiphertextBlob\":\"" + B64(std::string(200, 'x')) + "\"}");
        CHECK(r.body == "{\"__type\":\"InvalidCiphertextException\"}");
    }
    SECTION("disabled, then pending deletion") {
        REQUIRE(kms.Call("DisableKey", "{\"KeyId\":\"" + id + "\"}").status == 200);
        CheckError(kms.Call("Decrypt", "{\"CiphertextBlob\":\"" + blob +
                                           "\",\"EncryptionContext\":{\"a\":\"bc\"}}"),
                   "DisabledException", Arn(id) + " is disabled.");
        REQUIRE(
            kms.Call("ScheduleKeyDeletion", "{\"KeyId\":\"" + id + "\",\"PendingWindowInDays\":7}")
                .status == 200);
        CheckError(kms.Call("Encrypt", "{\"KeyId\":\"" + id + "\",\"Plaintext\":\"AA==\"}"),
                   "KMSInvalidStateException", Arn(id) + " is pending deletion.");
        auto cancel = kms.Call("CancelKeyDeletion", "{\"KeyId\":\"" + id + "\"}");
        CHECK(cancel.str("KeyId") == Arn(id));
        auto d = kms.Call("DescribeKey", "{\"KeyId\":\"" + id + "\"}");
        CHECK(api::ToStd(d.json["KeyMetadata"]["KeyState"].get<SecureString>()) == "Disabled");
        CheckError(kms.Call("CancelKeyDeletion", "{\"KeyId\":\"" + id + "\"}"),
                   "KMSInvalidStateException", Arn(id) + " is not pending deletion.");
    }
    SECTION("DryRun succeeds as an error and changes nothing") {
        const std::string dry = "The request would have succeeded, but the DryRun option is set.";
        const std::string fresh = kms.NewKey();
        CheckError(kms.Call("Encrypt",
                            "{\"KeyId\":\"" + fresh + "\",\"Plaintext\":\"AA==\",\"DryRun\":true}"),
                   "DryRunOperationException", dry);
        CheckError(kms.Call("CreateGrant", "{\"KeyId\":\"" + fresh +
                                               "\",\"Operations\":[\"Encrypt\"],"
                                               "\"GranteePrincipal\":\"arn:aws:iam::" +
                                               kAcct + ":role/app\",\"DryRun\":true}"),
                   "DryRunOperationException", dry);
        // Neither counts as a use of the key, and no grant was made.
        auto usage = kms.Call("GetKeyLastUsage", "{\"KeyId\":\"" + fresh + "\"}");
        REQUIRE(usage.status == 200);
        CHECK_FALSE(usage.json.contains("KeyLastUsage"));
        auto grants = kms.Call("ListGrants", "{\"KeyId\":\"" + fresh + "\"}");
        REQUIRE(grants.status == 200);
        CHECK(grants.json["Grants"].empty());
    }
    SECTION("ReEncrypt moves the blob to another key") {
        auto r = kms.Call("ReEncrypt", "{\"CiphertextBlob\":\"" + blob +
                                           "\",\"SourceEncryptionContext\":{\"a\":\"bc\"},"
                                           "\"DestinationKeyId\":\"" +
                                           other + "\"}");
        REQUIRE(r.status == 200);
        CHECK(r.str("SourceKeyId") == Arn(id));
        CHECK(r.str("KeyId") == Arn(other));
        auto back = kms.Call("Decrypt", "{\"CiphertextBlob\":\"" + r.str("CiphertextBlob") + "\"}");
        CHECK(back.str("Plaintext") == B64("secret"));
    }
}

TEST_CASE("aliases, tags and policies", "[api]") {
    TestKms kms;
    auto id = kms.NewKey();
    CheckError(kms.Call("CreateAlias", "{\"AliasName\":\"nope\",\"TargetKeyId\":\"" + id + "\"}"),
               "ValidationException",
               "Alias must start with the prefix \"alias/\". Please see "
               "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html");
    REQUIRE(kms.Call("CreateAlias", "{\"AliasName\":\"alias/app\",\"TargetKeyId\":\"" + id + "\"}")
                .status == 200);
    CheckError(
        kms.Call("CreateAlias", "{\"AliasName\":\"alias/app\",\"TargetKeyId\":\"" + id + "\"}"),
        "AlreadyExistsException",
        "An alias with the name arn:aws:kms:us-east-1:" + kAcct + ":alias/app already exists");
    // AWS's answer for the reserved prefix carries no message, and no alias is made.
    CheckError(
        kms.Call("CreateAlias", "{\"AliasName\":\"alias/aws/x\",\"TargetKeyId\":\"" + id + "\"}"),
        "NotAuthorizedException", "");
    CHECK(kms.Call("DescribeKey", "{\"KeyId\":\"alias/aws/x\"}").type() == "NotFoundException");
    auto by_alias = kms.Call("Encrypt", "{\"KeyId\":\"alias/app\",\"Plaintext\":\"AA==\"}");
    CHECK(by_alias.str("KeyId") == Arn(id));

    CheckError(
        kms.Call("TagResource",
                 "{\"KeyId\":\"" + id + "\",\"Tags\":[{\"TagKey\":\"aws:x\",\"TagValue\":\"v\"}]}"),
        "TagException", "Tags beginning with aws: are reserved");
    CheckError(kms.Call("TagResource", "{\"KeyId\":\"" + id +
                                           "\",\"Tags\":[{\"TagKey\":\"k\",\"TagValue\":\"1\"},"
                                           "{\"TagKey\":\"k\",\"TagValue\":\"2\"}]}"),
               "TagException", "Duplicate tag keys");
    std::string many = "[";
    for (int i = 0; i < 51; ++i)
        many += (i ? "," : "") + std::string("{\"TagKey\":\"k") + std::to_string(i) +
                "\",\"TagValue\":\"v\"}";
    many += "]";
    CheckError(kms.Call("TagResource", "{\"KeyId\":\"" + id + "\",\"Tags\":" + many + "}"),
               "TagException", "Too many tags");
    auto tags = kms.Call("ListResourceTags", "{\"KeyId\":\"" + id + "\"}");
    REQUIRE(tags.status == 200);
    CHECK(tags.json.at("Tags").empty());

    auto policy = kms.Call("GetKeyPolicy", "{\"KeyId\":\"" + id + "\",\"PolicyName\":\"default\"}");
    CHECK(
        policy.str("Policy") ==
        "{\n  \"Version\" : \"2012-10-17\",\n  \"Id\" : \"key-default-1\",\n  \"Statement\" : [ {\n"
        "    \"Sid\" : \"Enable IAM User Permissions\",\n    \"Effect\" : \"Allow\",\n"
        "    \"Principal\" : {\n      \"AWS\" : \"arn:aws:iam::111122223333:root\"\n    },\n"
        "    \"Action\" : \"kms:*\",\n    \"Resource\" : \"*\"\n  } ]\n}");
    auto put = kms.Call(
        "PutKeyPolicy",
        "{\"KeyId\":\"" + id +
            "\",\"BypassPolicyLockoutSafetyCheck\":true,\"PolicyName\":\"default\",\"Policy\":"
            "\"{\\\"Version\\\":\\\"2012-10-17\\\",\\\"Statement\\\":[{\\\"Effect\\\":"
            "\\\"Allow\\\",\\\"Principal\\\":{\\\"AWS\\\":\\\"*\\\"},\\\"Action\\\":"
            "[\\\"kms:Encrypt\\\",\\\"kms:Decrypt\\\",\\\"kms:*KeyPolicy\\\"],\\\"Resource\\\":"
            "\\\"*\\\"}]}\"}");
    REQUIRE(put.status == 200);
    CHECK(kms.Call("GetKeyPolicy", "{\"KeyId\":\"" + id + "\"}").str("Policy") ==
          "{\n  \"Version\" : \"2012-10-17\",\n  \"Statement\" : [ {\n    \"Effect\" : \"Allow\",\n"
          "    \"Principal\" : {\n      \"AWS\" : \"*\"\n    },\n"
          "    \"Action\" : [ \"kms:Encrypt\", \"kms:Decrypt\", \"kms:*KeyPolicy\" ],\n    "
          "\"Resource\" : \"*\"\n  } "
          "]\n}");
    CHECK(kms.Call("PutKeyPolicy", "{\"KeyId\":\"" + id + "\",\"Policy\":\"not json\"}").type() ==
          "MalformedPolicyDocumentException");
    // The policy is enforced: DescribeKey is no longer allowed, Encrypt still is.
    auto denied = kms.Call("DescribeKey", "{\"KeyId\":\"" + id + "\"}");
    CHECK(denied.type() == "AccessDeniedException");
    CHECK(denied.message() ==
          "User: arn:aws:iam::111122223333:root is not authorized to perform: kms:DescribeKey on "
          "resource: arn:aws:kms:us-east-1:111122223333:key/" +
              id + " because no resource-based policy allows the kms:DescribeKey action");
    CHECK(kms.Call("Encrypt", "{\"KeyId\":\"" + id + "\",\"Plaintext\":\"AQID\"}").status == 200);
}

TEST_CASE("the lockout safety check protects PutKeyPolicy and CreateKey", "[api]") {
    TestKms kms;
    auto id = kms.NewKey();
    const std::string nobody =
        R"({\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"AWS\":\"arn:aws:iam::111122223333:user/nobody\"},\"Action\":\"kms:*\",\"Resource\":\"*\"}]})";
    const std::string lockout =
        "The new key policy will not allow you to update the key policy in the future.";
    CheckError(kms.Call("PutKeyPolicy", "{\"KeyId\":\"" + id + "\",\"Policy\":\"" + nobody + "\"}"),
               "MalformedPolicyDocumentException", lockout);
    CheckError(kms.Call("CreateKey", "{\"Policy\":\"" + nobody + "\"}"),
               "MalformedPolicyDocumentException", lockout);
    CHECK(kms.catalog->KeyCount() == 1);
    CHECK(kms.Call("PutKeyPolicy", "{\"KeyId\":\"" + id + "\",\"Policy\":\"" + nobody +
                                       "\",\"BypassPolicyLockoutSafetyCheck\":true}")
              .status == 200);
    const std::string no_principal =
        R"({\"Statement\":[{\"Effect\":\"Allow\",\"Action\":\"kms:*\",\"Resource\":\"*\"}]})";
    CHECK(kms.Call("CreateKey", "{\"Policy\":\"" + no_principal + "\"}").type() ==
          "MalformedPolicyDocumentException");
}

TEST_CASE("unsupported CreateKey features are refused, not ignored", "[api]") {
    TestKms kms;
    CheckError(kms.Call("CreateKey", "{\"KeySpec\":\"RSA_2048\"}"), "ValidationException",
               "You must specify a KeyUsage value for all KMS keys except for symmetric "
               "encryption keys.");
    const std::pair<const char*, const char*> refused[] = {
        {"{\"KeySpec\":\"ML_DSA_44\",\"KeyUsage\":\"SIGN_VERIFY\"}",
         "KeySpec ML_DSA_44 needs OpenSSL 3.5 or later (ML-DSA); this kmsd is built with OpenSSL "
         "3.0 and does not support it."},
    };
    for (const auto& [body, message] : refused) {
        INFO(body);
        CheckError(kms.Call("CreateKey", body), "UnsupportedOperationException", message);
    }
    // A CloudHSM key store's key needs both its store and its origin.
    CheckError(kms.Call("CreateKey", "{\"Origin\":\"AWS_CLOUDHSM\"}"), "ValidationException",
               "Origin AWS_CLOUDHSM requires a CustomKeyStoreId.");
    CheckError(kms.Call("CreateKey", "{\"CustomKeyStoreId\":\"cks-1234567890abcdef0\"}"),
               "ValidationException",
               "A key in custom key store cks-1234567890abcdef0 must have Origin AWS_CLOUDHSM or "
               "EXTERNAL_KEY_STORE.");
    // An external key store's key needs its store, its origin and its external key.
    CheckError(kms.Call("CreateKey", "{\"Origin\":\"EXTERNAL_KEY_STORE\"}"), "ValidationException",
               "Origin EXTERNAL_KEY_STORE requires a CustomKeyStoreId.");
    CheckError(kms.Call("CreateKey",
                        "{\"XksKeyId\":\"abc\",\"CustomKeyStoreId\":\"cks-1234567890abcdef0\"}"),
               "ValidationException", "XksKeyId is valid only when Origin is EXTERNAL_KEY_STORE.");
    CheckError(
        kms.Call(
            "CreateKey",
            "{\"Origin\":\"EXTERNAL_KEY_STORE\",\"CustomKeyStoreId\":\"cks-1234567890abcdef0\"}"),
        "ValidationException", "Origin EXTERNAL_KEY_STORE requires an XksKeyId.");
    CHECK(kms.catalog->KeyCount() == 0);
}

TEST_CASE("hostile strings and nesting are refused without recursion", "[api]") {
    TestKms kms;
    SECTION("a 30 KB patterned member fails its length only, one violation") {
        // AliasName has a pattern; std::regex used to recurse once per character here and crash.
        const std::string name = "alias/" + std::string(30000, 'a');
        CheckError(kms.Call("DeleteAlias", "{\"AliasName\":\"" + name + "\"}"),
                   "ValidationException",
                   "1 validation error detected: Value '" + name +
                       "' at 'aliasName' failed to satisfy constraint: Member must have length "
                       "less than or equal to 256");
        const std::string principal(300000, 'x');
        auto r = kms.Call("CreateGrant", "{\"KeyId\":\"" + kms.NewKey() +
                                             "\",\"Operations\":[\"Encrypt\"],"
                                             "\"GranteePrincipal\":\"" +
                                             principal + "\"}");
        CHECK(r.type() == "ValidationException");
        CHECK_THAT(r.message(),
                   Catch::EndsWith("Member must have length less than or equal to 256"));
    }
    SECTION("patterns are still checked within the length, with AWS's text") {
        CheckError(kms.Call("DeleteAlias", "{\"AliasName\":\"alias/a b\"}"), "ValidationException",
                   "1 validation error detected: Value 'alias/a b' at 'aliasName' failed to "
                   "satisfy constraint: Member must satisfy regular expression pattern: "
                   "^[a-zA-Z0-9:/_-]+$");
        CHECK(api::MatchesModelPattern("^[a-zA-Z0-9:/_-]+$", "alias/ok_1-2"));
        CHECK_FALSE(api::MatchesModelPattern("^[a-zA-Z0-9:/_-]+$", "alias/\xc3\xa9"));
        CHECK(api::MatchesModelPattern("^([a-z]+-){2,3}\\d+$", "us-gov-west-1"));
        CHECK_FALSE(api::MatchesModelPattern("^([a-z]+-){2,3}\\d+$", "us-1"));
        CHECK(api::MatchesModelPattern("^[a-zA-Z0-9-_.]+$", "a-b_c.d"));
        CHECK_FALSE(api::MatchesModelPattern("^[a-zA-Z0-9-_.]+$", "a^b"));
        // Long inputs take linear time and no stack.
        CHECK_FALSE(
            api::MatchesModelPattern("^[a-zA-Z0-9:/_-]+$", std::string(1 << 20, 'a') + "!"));
    }
    SECTION("deep nesting is SerializationException, at any place in the body") {
        const std::string deep(100000, '[');
        for (const std::string& body :
             {"{\"EncryptionContext\":" + deep + "}", "{\"GrantTokens\":" + deep + "}",
              "{\"Unknown\":" + deep + "}", deep, std::string(100000, '{')}) {
            auto r = kms.Call("Encrypt", body);
            CHECK(r.status == 400);
            CHECK(r.type() == "SerializationException");
        }
        // Nesting inside strings does not count.
        auto id = kms.NewKey();
        auto r = kms.Call("Encrypt", "{\"KeyId\":\"" + id + "\",\"Plaintext\":\"" + B64("x") +
                                         "\",\"EncryptionContext\":{\"k\":\"" +
                                         std::string(5000, '[') + "\"}}");
        CHECK(r.status == 200);
    }
    SECTION("integers beyond 64 bits are SerializationException") {
        for (const char* body :
             {"{\"NumberOfBytes\":18446744073709551615}",
              "{\"NumberOfBytes\":1180591620717411303424}", "{\"NumberOfBytes\":1e400}"}) {
            INFO(body);
            CHECK(kms.Call("GenerateRandom", body).type() == "SerializationException");
        }
    }
}

TEST_CASE("nesting limit scanner", "[api]") {
    CHECK(JsonNestingWithin("{\"a\":[[1]]}", 3));
    CHECK_FALSE(JsonNestingWithin("{\"a\":[[1]]}", 2));
    CHECK(JsonNestingWithin("\"[[[[\\\"[[[\"", 1));
    CHECK(JsonNestingWithin(std::string(kMaxJsonDepth, '[')));
    CHECK_FALSE(JsonNestingWithin(std::string(kMaxJsonDepth + 1, '[')));
}

TEST_CASE("the fast parser bounds the nesting as the scanner does", "[api]") {
    // Valid JSON, so simdjson's own depth limit decides (unterminated brackets fail it anyway):
    // a member holding `levels - 1` nested arrays, the root object being the first level.
    const auto nested = [](int levels) {
        return "{\"a\":" + std::string(static_cast<std::size_t>(levels - 1), '[') +
               std::string(static_cast<std::size_t>(levels - 1), ']') + "}";
    };
    const std::string deepest = nested(kMaxJsonDepth), too_deep = nested(kMaxJsonDepth + 1);
    REQUIRE(JsonNestingWithin(deepest));
    REQUIRE_FALSE(JsonNestingWithin(too_deep));
    const auto fast = api::ParseRequestBodyFast(deepest);
    REQUIRE(fast.has_value());
    CHECK(fast->ok());
    CHECK_FALSE(api::ParseRequestBodyFast(too_deep).has_value());
    const auto refused = api::ParseRequestBody(too_deep);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().code() == ErrorCode::kSerialization);
    CHECK(refused.status().message() == "JSON nesting exceeds the maximum depth of 32");
    CHECK(api::ParseRequestBody(deepest).ok());
}

TEST_CASE("a body that is not an object gets nlohmann's error, a repeated member first", "[api]") {
    // fuzz_json found these: the fast path called any other top-level type malformed, where
    // nlohmann reports a repeated member inside it first.
    for (const char* body : {"[{\"a\":1,\"a\":2}]", "[{\"a\":1},{\"b\":{\"c\":1,\"c\":1}}]"}) {
        INFO(body);
        CHECK_FALSE(api::ParseRequestBodyFast(body).has_value());
        const auto parsed = api::ParseRequestBody(body);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.status().code() == ErrorCode::kSerialization);
        CHECK(parsed.status().message() == "Duplicate member in JSON object");
    }
    for (const char* body : {"[]", "[{\"a\":1}]", "\"text\"", "17", "null"}) {
        INFO(body);
        const auto parsed = api::ParseRequestBody(body);
        REQUIRE_FALSE(parsed.ok());
        CHECK(parsed.status().code() == ErrorCode::kSerialization);
        CHECK(parsed.status().message() == "Malformed JSON request body");
    }
}

TEST_CASE("Serialize writes exactly what nlohmann's dump writes", "[api]") {
    using kmsd::api::Json;
    const auto dump = [](const Json& j) {
        const auto s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
        return std::string(s.data(), s.size());
    };
    const auto serialize = [](const Json& j) {
        const auto s = kmsd::api::Serialize(j);
        return std::string(s.data(), s.size());
    };
    std::vector<Json> docs = {
        Json(),
        Json(true),
        Json(false),
        Json(0),
        Json(-17),
        Json(18446744073709551615ULL),
        Json(1732924800.123),
        Json(1732924800.0),
        Json(0.1),
        Json(1e300),
        Json(-2.5e-7),
        Json(-0.0),
        Json(5e-324),
        Json(1.7976931348623157e308),
        Json(123456789012345680000.0),
        Json(1e21),
        Json(1e-7),
        Json(std::numeric_limits<double>::infinity()),
        Json(std::nan("")),
        Json(std::numeric_limits<std::int64_t>::min()),
        Json(std::numeric_limits<std::int64_t>::max()),
        Json::object(),
        Json::array(),
        Json::parse(
            R"({"KeyId":"arn:aws:kms:us-east-1:111122223333:key/x","Plaintext":"QUJD+/="})"),
        Json::parse(
            R"({"b":[1,2,{"c":null,"a":[]}],"a":{"z":"\"quoted\" \\ back","y":"tab\there"}})"),
        Json::parse(R"(["caf\u00e9","\u0001\u001f\u007f","emoji \ud83d\ude00","<&>'"])"),
    };
    // Bytes that are not UTF-8 are replaced, as the error handler says.
    Json bad = Json::object();
    bad["k\xff"] = kmsd::SecureString("v\xc3\x28 \x80");
    docs.push_back(bad);
    // One byte that needs escaping (or is not ASCII) at every position of strings around the
    // 16- and 8-byte steps of the fast check, among printable ASCII at both ends of its range.
    for (const char special : {'"', '\\', '\x1f', '\x7f', '\x80', '\xff', '\0', '\n'}) {
        for (std::size_t len = 1; len <= 40; ++len) {
            for (std::size_t at = 0; at < len; ++at) {
                kmsd::SecureString str(len, at % 2 ? ' ' : '~');
                str[at] = special;
                docs.push_back(Json(str));
            }
        }
    }
    for (const auto& j : docs) {
        INFO(dump(j));
        CHECK(serialize(j) == dump(j));
    }
}

TEST_CASE("ObjectWriter writes what Serialize writes of the same object", "[api]") {
    using kmsd::api::Json;
    const auto text = [](const kmsd::SecureString& s) { return std::string(s.data(), s.size()); };
    CHECK(text(kmsd::api::ObjectWriter().Finish()) == "{}");
    // Values that need escaping or replacing, plain ones, and blobs of every length around a
    // base64 quantum and the SIMD step, one member and several.
    std::vector<std::string> values = {"",
                                       "SYMMETRIC_DEFAULT",
                                       "tab\there \"q\" \\",
                                       "caf\xc3\xa9",
                                       "\x01\x1f\x7f",
                                       "bad \xff\xc3\x28"};
    for (std::size_t len = 0; len <= 40; ++len) {
        kmsd::Bytes bytes(len);
        for (std::size_t i = 0; i < len; ++i) bytes[i] = static_cast<std::uint8_t>(i * 37 + len);
        for (const std::string& value : values) {
            kmsd::api::ObjectWriter writer;
            writer.Base64("CiphertextBlob", bytes).String("KeyId", value);
            if (len % 2) writer.Base64("Plaintext", bytes);
            Json tree = Json::object();
            tree["CiphertextBlob"] = kmsd::api::Str(kmsd::Base64Encode(bytes));
            tree["KeyId"] = kmsd::api::Str(value);
            if (len % 2) tree["Plaintext"] = kmsd::api::Str(kmsd::Base64Encode(bytes));
            INFO(len << " " << value);
            CHECK(text(std::move(writer).Finish()) == text(kmsd::api::Serialize(tree)));
        }
    }
}

TEST_CASE("lengths are counted in UTF-16 code units, as the model's Java does", "[api]") {
    using kmsd::api::Json;
    const int op = api::OperationIndex("TagResource");
    REQUIRE(op >= 0);
    // TagKey is 1 to 128 units, with no pattern.
    const auto valid = [op](const std::string& key) {
        Json body = Json::parse(R"({"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab"})");
        body["Tags"] = Json::array(
            {Json{{"TagKey", SecureString(key.data(), key.size())}, {"TagValue", "v"}}});
        return api::ValidateInput(op, body).ok();
    };
    const std::string e_acute = "\xc3\xa9", euro = "\xe2\x82\xac", grin = "\xf0\x9f\x98\x80";
    const auto repeat = [](const std::string& s, int n) {
        std::string out;
        for (int i = 0; i < n; ++i) out += s;
        return out;
    };
    CHECK(valid(std::string(128, 'a')));
    CHECK_FALSE(valid(std::string(129, 'a')));
    CHECK(valid(repeat(euro, 128)));  // 384 bytes, 128 units
    CHECK_FALSE(valid(repeat(euro, 129)));
    CHECK(valid(repeat(grin, 64)));  // two units each
    CHECK_FALSE(valid(repeat(grin, 64) + "a"));
    // The multi-byte characters before, inside and after the ASCII runs the count skips.
    for (std::size_t at : {0, 1, 7, 8, 9, 63, 64, 119, 120}) {
        INFO("at " << at);
        std::string ascii(120, 'a');
        CHECK(valid(ascii.substr(0, at) + repeat(e_acute, 8) + ascii.substr(at)));
        CHECK_FALSE(valid(ascii.substr(0, at) + repeat(e_acute, 9) + ascii.substr(at)));
        std::string shorter(126, 'a');
        CHECK(valid(shorter.substr(0, at) + grin + shorter.substr(at)));
        std::string longer(127, 'a');
        CHECK_FALSE(valid(longer.substr(0, at) + grin + longer.substr(at)));
    }
}

TEST_CASE("the recorded request is what removing the unrecorded members leaves", "[api]") {
    using kmsd::api::Json;
    const auto removed = [](int op, Json body) {
        api::RemoveUnrecordedMembers(op, body);
        body.erase("GrantTokens");
        body.erase("GrantToken");
        SecureString out;
        api::AppendJson(body, out);
        return std::string(out.data(), out.size());
    };
    const auto recorded = [](int op, const Json& body) {
        SecureString out;
        api::AppendRecordedRequest(op, body, out);
        return std::string(out.data(), out.size());
    };
    const std::vector<std::pair<const char*, const char*>> cases = {
        {"Encrypt", R"({"KeyId":"k","Plaintext":"QUJD","EncryptionContext":{"b":"2","a":"1"},)"
                    R"("GrantTokens":["t1","t2"],"DryRun":true,"Zunknown":{"Plaintext":"x"}})"},
        {"Encrypt", R"({"EncryptionContext":"not a map","GrantTokens":"not a list"})"},
        {"Decrypt", R"({"CiphertextBlob":"QUJD","KeyId":"k","Recipient":{"AttestationDocument":)"
                    R"("QUJD","KeyEncryptionAlgorithm":"RSAES_OAEP_SHA_256"}})"},
        {"ReEncrypt", R"({"CiphertextBlob":"QUJD","DestinationKeyId":"d",)"
                      R"("SourceEncryptionContext":{"x":"y"},"DestinationEncryptionContext":{}})"},
        {"GenerateDataKey", R"({"KeyId":"k","NumberOfBytes":32,"GrantTokens":[]})"},
        {"Sign", R"({"KeyId":"k","Message":"QUJD","MessageType":"RAW","SigningAlgorithm":"x"})"},
        {"Verify", R"({"KeyId":"k","Message":"QUJD","Signature":"QUJD"})"},
        {"GenerateMac", R"({"KeyId":"k","Message":"QUJD","MacAlgorithm":"HMAC_SHA_256"})"},
        {"CreateGrant",
         R"({"KeyId":"k","GranteePrincipal":"p","Operations":["Encrypt","Decrypt"],)"
         R"("Constraints":{"EncryptionContextSubset":{"a":"b"},"EncryptionContextEquals":{}},)"
         R"("GrantTokens":["t"],"Name":"n"})"},
        {"RetireGrant", R"({"GrantToken":"t","KeyId":"k","GrantId":"g"})"},
        {"CreateKey", R"({"Policy":"{}","Tags":[{"TagKey":"a","TagValue":"b"},{"TagKey":"c"}],)"
                      R"("KeySpec":"SYMMETRIC_DEFAULT","Unknown":[1,{"a":null}]})"},
        {"CreateCustomKeyStore",
         R"({"CustomKeyStoreName":"s","KeyStorePassword":"secret","TrustAnchorCertificate":"c",)"
         R"("XksProxyAuthenticationCredential":{"AccessKeyId":"AKIDEXAMPLEEXAMPLE12",)"
         R"("RawSecretAccessKey":"secret"}})"},
        {"ImportKeyMaterial", R"({"KeyId":"k","ImportToken":"QUJD","EncryptedKeyMaterial":"QUJD",)"
                              R"("ExpirationModel":"KEY_MATERIAL_DOES_NOT_EXPIRE"})"},
        {"GenerateRandom", R"({"NumberOfBytes":16,"CustomKeyStoreId":"cks"})"},
        {"ListKeys", R"({})"},
        {"DescribeKey", R"({"KeyId":"caf\u00e9 \"q\" \\","GrantTokens":["t"]})"},
    };
    for (const auto& [name, text] : cases) {
        INFO(name << " " << text);
        const int op = api::OperationIndex(name);
        REQUIRE(op >= 0);
        const Json body = Json::parse(text);
        CHECK(recorded(op, body) == removed(op, body));
        // Nothing secret is in it.
        CHECK(recorded(op, body).find("secret") == std::string::npos);
        CHECK(recorded(op, body).find("QUJD") == std::string::npos);
    }
    // Every operation, given every member its model has as a string, and an unknown one.
    for (std::size_t op = 0; op < api::OperationCount(); ++op) {
        const Json body = Json::parse(R"({"KeyId":"k","Plaintext":"QUJD","GrantTokens":["t"],)"
                                      R"("Other":{"Plaintext":"x"},"Policy":"{}"})");
        INFO(api::OperationName(op));
        CHECK(recorded(static_cast<int>(op), body) == removed(static_cast<int>(op), body));
    }
}

TEST_CASE("request IDs are random version 4 UUIDs", "[api]") {
    std::set<std::string> seen;
    for (int i = 0; i < 1000; ++i) {
        const std::string id = kmsd::api::NewUuid();
        INFO(id);
        REQUIRE(id.size() == 36);
        for (std::size_t j = 0; j < id.size(); ++j) {
            if (j == 8 || j == 13 || j == 18 || j == 23)
                CHECK(id[j] == '-');
            else
                CHECK(std::string_view("0123456789abcdef").find(id[j]) != std::string_view::npos);
        }
        CHECK(id[14] == '4');                                                    // the version
        CHECK(std::string_view("89ab").find(id[19]) != std::string_view::npos);  // the variant
        seen.insert(id);
    }
    CHECK(seen.size() == 1000);
}
