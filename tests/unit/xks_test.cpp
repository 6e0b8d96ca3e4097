// [api][xks]: the XKS Proxy API codec: request bodies as the specification shows them, the
// specification's own example answers accepted, every malformed answer refused, and AWS's
// exception for each failure in each context.
#include "api/xks.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "api/json.h"
#include "common/base64.h"

using namespace kmsd;
using namespace kmsd::api::xks;

namespace {

Bytes B(std::string_view b64) {
    auto d = Base64Decode(b64);
    REQUIRE(d);
    return Bytes(d->begin(), d->end());
}

// The Encrypt example of the specification (its request AAD and its answer).
constexpr char kExampleAnswer[] =
    R"({"authenticationTag":"vBxN2ncH1oEkR8WVXpmyYQ==","ciphertext":"ghxkK1txeDNn3q8Y",)"
    R"("ciphertextDataIntegrityValue":"qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=",)"
    R"("ciphertextMetadata":"a2V5X3ZlcnNpb249MQ==","initializationVector":"HMrlRw85cAJUd5Ax"})";
constexpr char kExampleAad[] = "cHJvamVjdD1uaWxlLGRlcGFydG1lbnQ9bWFya2V0aW5n";

nlohmann::json Parse(const SecureString& s) {
    return nlohmann::json::parse(std::string(s.data(), s.size()));
}

}  // namespace

TEST_CASE("request bodies carry what the specification asks", "[api][xks]") {
    const RequestMetadata meta{"arn:aws:iam::111122223333:user/Alice",
                               "arn:aws:kms:us-east-1:111122223333:key/k", "Encrypt", "rid-1"};
    const Bytes pt = {'H', 'i'};
    const Bytes aad = {1, 2, 3};
    auto enc = Parse(EncryptRequest(meta, pt, aad));
    CHECK(enc["requestMetadata"] == nlohmann::json({{"awsPrincipalArn", meta.aws_principal_arn},
                                                    {"kmsKeyArn", meta.kms_key_arn},
                                                    {"kmsOperation", "Encrypt"},
                                                    {"kmsRequestId", "rid-1"}}));
    CHECK(enc["plaintext"] == "SGk=");
    CHECK(enc["additionalAuthenticatedData"] == "AQID");
    CHECK(enc["encryptionAlgorithm"] == "AES_GCM");
    CHECK(enc["ciphertextDataIntegrityValueAlgorithm"] == "SHA_256");
    // No AAD, no member; no key ARN (CreateKey's GetKeyMetadata), no member.
    CHECK_FALSE(Parse(EncryptRequest(meta, pt, {})).contains("additionalAuthenticatedData"));
    auto md = Parse(KeyMetadataRequest({"arn:aws:iam::111122223333:root", "", "CreateKey", "r"}));
    CHECK_FALSE(md["requestMetadata"].contains("kmsKeyArn"));
    auto health = Parse(HealthRequest({"", "", "KmsHealthCheck", "r"}));
    CHECK(health ==
          nlohmann::json(
              {{"requestMetadata", {{"kmsOperation", "KmsHealthCheck"}, {"kmsRequestId", "r"}}}}));
    const Ciphertext ct{B("ghxkK1txeDNn3q8Y"), B("HMrlRw85cAJUd5Ax"), B("vBxN2ncH1oEkR8WVXpmyYQ=="),
                        B("a2V5X3ZlcnNpb249MQ==")};
    auto dec = Parse(DecryptRequest(meta, ct, aad));
    CHECK(dec["ciphertext"] == "ghxkK1txeDNn3q8Y");
    CHECK(dec["initializationVector"] == "HMrlRw85cAJUd5Ax");
    CHECK(dec["authenticationTag"] == "vBxN2ncH1oEkR8WVXpmyYQ==");
    CHECK(dec["ciphertextMetadata"] == "a2V5X3ZlcnNpb249MQ==");
    CHECK(KeyPath("key-1", "encrypt") == "/keys/key-1/encrypt");
}

TEST_CASE("the specification's example encryption is accepted, its integrity value checked",
          "[api][xks]") {
    const Bytes aad = B(kExampleAad);
    Ciphertext ct;
    CHECK(ParseEncrypt({200, kExampleAnswer}, aad, 12, ct) == Failure::kNone);
    CHECK(IntegrityValue(aad, ct) == "qHA/ImC9h5HsLRXqCyPmWgYx7tzyoTplzILbP0fPXsc=");
    CHECK(ct.metadata == B("a2V5X3ZlcnNpb249MQ=="));
    // Another AAD, another length, a changed tag: not the answer it claims to be.
    CHECK(ParseEncrypt({200, kExampleAnswer}, {}, 12, ct) == Failure::kMalformed);
    CHECK(ParseEncrypt({200, kExampleAnswer}, aad, 13, ct) == Failure::kMalformed);
    std::string changed = kExampleAnswer;
    changed.replace(changed.find("vBxN"), 4, "wBxN");
    CHECK(ParseEncrypt({200, changed}, aad, 12, ct) == Failure::kMalformed);
}

TEST_CASE("malformed answers are refused", "[api][xks]") {
    Ciphertext ct;
    SecureBytes plain;
    KeyMetadata meta;
    for (const char* body :
         {"", "not json", "[]", "{}", "{\"plaintext\":5}", "{\"plaintext\":\"!!!\"}",
          "{\"plaintext\":\"SGk=\",\"plaintext\":\"SGk=\"}"}) {
        INFO(body);
        CHECK(ParseDecrypt({200, body}, 2, plain) == Failure::kMalformed);
        CHECK(ParseEncrypt({200, body}, {}, 2, ct) == Failure::kMalformed);
        CHECK(ParseKeyMetadata({200, body}, meta) == Failure::kMalformed);
        CHECK(ParseHealth({200, body}) == Failure::kMalformed);
    }
    CHECK(ParseDecrypt({200, "{\"plaintext\":\"SGk=\"}"}, 2, plain) == Failure::kNone);
    CHECK(ParseDecrypt({200, "{\"plaintext\":\"SGk=\"}"}, 3, plain) == Failure::kMalformed);
    // Deep nesting and huge answers are not parsed at all.
    CHECK(ParseHealth({200, std::string(100, '[') + std::string(100, ']')}) == Failure::kMalformed);
    CHECK(ParseDecrypt({200, "{\"plaintext\":\"" + std::string(200000, 'A') + "\"}"}, 150000,
                       plain) == Failure::kMalformed);
    // Eleven key usages is one too many.
    std::string usages = R"({"keySpec":"AES_256","keyStatus":"ENABLED","keyUsage":[)";
    for (int i = 0; i < 11; ++i) usages += std::string(i ? "," : "") + "\"ENCRYPT\"";
    CHECK(ParseKeyMetadata({200, usages + "]}"}, meta) == Failure::kMalformed);
}

TEST_CASE("error answers name the failure; unknown ones are malformed", "[api][xks]") {
    CHECK(ErrorOf({404, R"({"errorName":"KeyNotFoundException"})"}) == Failure::kKeyNotFound);
    CHECK(ErrorOf({401, R"({"errorName":"AuthenticationFailedException","errorMessage":"x"})"}) ==
          Failure::kAuthenticationFailed);
    CHECK(ErrorOf({500, R"({"errorName":"SomethingElse"})"}) == Failure::kMalformed);
    CHECK(ErrorOf({500, "<html>"}) == Failure::kMalformed);
    KeyMetadata meta;
    CHECK(ParseKeyMetadata({404, R"({"errorName":"KeyNotFoundException"})"}, meta) ==
          Failure::kKeyNotFound);
}

TEST_CASE("health: every external key manager unavailable is unhealthy", "[api][xks]") {
    const std::string head =
        R"({"xksProxyFleetSize":1,"xksProxyVendor":"kmsd","xksProxyModel":"m","ekmVendor":"e",)";
    CHECK(ParseHealth({200, head + R"("ekmFleetDetails":[{"id":"1","model":"x","healthStatus":)"
                                   R"("ACTIVE"}]})"}) == Failure::kNone);
    CHECK(ParseHealth({200, head + R"("ekmFleetDetails":[{"id":"1","model":"x","healthStatus":)"
                                   R"("UNAVAILABLE"}]})"}) == Failure::kUnhealthy);
    CHECK(ParseHealth({200, head + R"("ekmFleetDetails":[]})"}) == Failure::kMalformed);
    CHECK(ParseHealth({200, head + R"("ekmFleetDetails":[{"healthStatus":"FINE"}]})"}) ==
          Failure::kMalformed);
}

TEST_CASE("each failure is AWS's exception in each context", "[api][xks]") {
    auto type = [](Failure f, Context c) { return ToKmsError(f, c).code(); };
    CHECK(ToKmsError(Failure::kNone, Context::kCrypto).ok());
    CHECK(type(Failure::kUnreachable, Context::kKeyStore) == ErrorCode::kXksProxyUriUnreachable);
    CHECK(type(Failure::kTimeout, Context::kKeyStore) == ErrorCode::kXksProxyUriUnreachable);
    CHECK(type(Failure::kAuthenticationFailed, Context::kKeyStore) ==
          ErrorCode::kXksProxyIncorrectAuthenticationCredential);
    CHECK(type(Failure::kInvalidUriPath, Context::kKeyStore) ==
          ErrorCode::kXksProxyInvalidConfiguration);
    CHECK(type(Failure::kMalformed, Context::kKeyStore) == ErrorCode::kXksProxyInvalidResponse);
    CHECK(type(Failure::kKeyNotFound, Context::kCreateKey) == ErrorCode::kXksKeyNotFound);
    CHECK(type(Failure::kInvalidState, Context::kCreateKey) ==
          ErrorCode::kXksKeyInvalidConfiguration);
    CHECK(type(Failure::kUnreachable, Context::kCreateKey) ==
          ErrorCode::kCustomKeyStoreInvalidState);
    // Callers of cryptographic operations always get KMSInvalidStateException, with the cause.
    for (Failure f : {Failure::kUnreachable, Failure::kKeyNotFound, Failure::kMalformed,
                      Failure::kInvalidCiphertext, Failure::kThrottling}) {
        const Status st = ToKmsError(f, Context::kCrypto);
        CHECK(st.code() == ErrorCode::kInvalidState);
        CHECK_FALSE(st.message().empty());
    }
    CHECK(ToKmsError(Failure::kTimeout, Context::kCrypto).message() ==
          "AWS KMS rejected the request because the external key store proxy did not respond in "
          "time. Retry the request. If you see this error repeatedly, report it to your external "
          "key store proxy administrator.");
}

TEST_CASE("a new key's external key must be an enabled AES_256 encryption key", "[api][xks]") {
    CHECK(CheckNewKeyMetadata({"AES_256", {"ENCRYPT", "DECRYPT", "WRAP"}, "ENABLED"}).ok());
    CHECK(CheckNewKeyMetadata({"RSA_2048", {"ENCRYPT", "DECRYPT"}, "ENABLED"}).message() ==
          "The key spec of the external key must be AES_256. The key spec of specified external "
          "key is RSA_2048.");
    CHECK(CheckNewKeyMetadata({"AES_256", {"ENCRYPT", "DECRYPT"}, "DISABLED"}).message() ==
          "The status of the external key must be ENABLED. The status of specified external key "
          "is DISABLED.");
    CHECK(CheckNewKeyMetadata({"AES_256", {"ENCRYPT", "SIGN"}, "ENABLED"}).message() ==
          "The key usage of the external key must include ENCRYPT and DECRYPT. The key use of "
          "specified external key is ENCRYPT, SIGN.");
}
