// [audit]: CloudTrail records of real calls through HandleHttpRequest, compared with the KMS
// examples of AWS's documentation (ct-*.html), written out here by hand: the same members in the
// same order, the same JSON types, the service's constants equal and the example-specific values
// (IDs, times, ARNs) of the same form. Also: nothing secret in a record, the ring's bound and
// filters, and the JSON-lines file.
#include "api/audit.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "src/admin.h"
#include "src/audit_log.h"
#include "support/http_app.h"

namespace {

using OJson = nlohmann::ordered_json;
using kmsd::testing::BodyOf;
using kmsd::testing::KmsRequestBytes;
using kmsd::testing::SendHttp;

struct AuditDir {
    std::string path;
    AuditDir() {
        char tmpl[] = "/tmp/kmsd-audit-XXXXXX";
        path = mkdtemp(tmpl);
    }
    ~AuditDir() { std::filesystem::remove_all(path); }
};

// Alice, an IAM user as in AWS's examples, calling in us-west-2 (open mode reads the access key
// and the Region from the Authorization header).
constexpr const char* kPrincipals = R"(accounts:
  "111122223333":
    users:
      - name: Alice
        access_key_id: AKIAALICE111EXAMPLE
        secret_access_key: secret
        policies:
          - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*", Resource: "*"}]}
    roles:
      - name: Deployer
        access_key_id: ASIADEPLOYEREXAMPLE
        secret_access_key: secret
        session_token: token
        session_name: ci-run-42
        policies:
          - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*", Resource: "*"}]}
)";
constexpr const char* kAliceAuth =
    "Authorization: AWS4-HMAC-SHA256 "
    "Credential=AKIAALICE111EXAMPLE/20261130/us-west-2/kms/aws4_request, SignedHeaders=host, "
    "Signature=00\r\nUser-Agent: aws-cli/2.0 test\r\n";

struct AuditFixture {
    AuditDir dir;
    std::unique_ptr<kmsd::App> app;

    explicit AuditFixture(std::size_t ring = 10000, bool file = false) {
        const std::string principals = dir.path + "/principals.yaml";
        std::ofstream(principals) << kPrincipals;
        kmsd::Options options;
        options.identity.principals = principals;
        options.audit_ring = ring;
        if (file) options.audit_log = dir.path + "/audit.jsonl";
        app = kmsd::testing::OpenInMemoryApp(options);
    }

    nlohmann::json Call(const std::string& op, const nlohmann::json& body, int status = 200) {
        const kmsd::Response res = SendHttp(*app, KmsRequestBytes(op, body.dump(), kAliceAuth));
        INFO(op << ": " << BodyOf(res));
        REQUIRE(static_cast<int>(res.result_int()) == status);
        const std::string text = BodyOf(res);
        return text.empty() ? nlohmann::json::object() : nlohmann::json::parse(text);
    }

    // The newest record of `event_name`.
    OJson Latest(const std::string& event_name) {
        kmsd::AuditLog::Query q;
        q.event_name = event_name;
        q.limit = 1;
        auto found = app->audit().Find(q);
        REQUIRE(found.size() == 1);
        return kmsd::api::FormatCloudTrail(found[0]);
    }

    std::string NewKey() {
        return Call("CreateKey", {{"Description", "audit"}})["KeyMetadata"]["KeyId"];
    }
};

bool Digits(std::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// The form of an example-specific string: what must match when the value cannot.
std::string Form(const std::string& s) {
    if (s.size() == 20 && s[4] == '-' && s[10] == 'T' && s.back() == 'Z') return "iso-time";
    // "Aug 10, 2022, 10:38:27 PM"
    if ((s.ends_with(" AM") || s.ends_with(" PM")) && s.size() >= 23 && s[3] == ' ' &&
        s.find(", ") != std::string::npos && s.find(':') != std::string::npos)
        return "java-date";
    if (s.size() == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-')
        return "uuid";
    if (s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos)
        return "hex64";
    if (s.starts_with("arn:aws:kms:") && s.find(":key/") != std::string::npos) return "key-arn";
    if (s.starts_with("arn:aws:kms:") && s.find(":alias/") != std::string::npos) return "alias-arn";
    if (s.starts_with("arn:aws:iam::")) return "iam-arn";
    if (Digits(s) && s.size() == 12) return "account";
    return "text";
}

// Members whose value is the service's, not the example's: they must be equal.
const std::set<std::string> kConstants = {"eventSource",
                                          "eventName",
                                          "eventType",
                                          "eventCategory",
                                          "type",
                                          "invokedBy",
                                          "errorCode",
                                          "readOnly",
                                          "managementEvent",
                                          "encryptionAlgorithm",
                                          "keyState",
                                          "keyUsage",
                                          "keySpec",
                                          "customerMasterKeySpec",
                                          "origin",
                                          "keyManager",
                                          "rotationType",
                                          "keyOrigin",
                                          "sourceEncryptionAlgorithm",
                                          "destinationEncryptionAlgorithm",
                                          "pendingWindowInDays",
                                          "multiRegion",
                                          "enabled",
                                          "bypassPolicyLockoutSafetyCheck"};

// Maps (the caller's encryption context) compare as data, not as members.
bool IsMap(const std::string& name) { return name.find("ncryptionContext") != std::string::npos; }

bool Ordered(const std::string& path, const std::string& name) {
    return path == "record" || name == "userIdentity" || name == "resources" ||
           name == "serviceEventDetails" || name == "sessionContext";
}

void CheckShape(const OJson& example, const OJson& actual, const std::string& path,
                const std::string& name) {
    INFO(path);
    if (example.is_number())
        REQUIRE(actual.is_number());  // signed or unsigned alike
    else
        REQUIRE(example.type() == actual.type());
    if (example.is_object()) {
        if (IsMap(name)) {
            CHECK(example == actual);
            return;
        }
        std::vector<std::string> want, got;
        for (auto it = example.begin(); it != example.end(); ++it) want.push_back(it.key());
        for (auto it = actual.begin(); it != actual.end(); ++it) got.push_back(it.key());
        // The record's own members come in CloudTrail's order; the members of request
        // parameters and response elements in no fixed one (AWS's examples differ).
        if (!Ordered(path, name)) {
            std::sort(want.begin(), want.end());
            std::sort(got.begin(), got.end());
        }
        CHECK(got == want);
        for (auto it = example.begin(); it != example.end(); ++it)
            if (actual.contains(it.key()))
                CheckShape(it.value(), actual[it.key()], path + "." + it.key(), it.key());
    } else if (example.is_array()) {
        REQUIRE(example.size() == actual.size());
        for (std::size_t i = 0; i < example.size(); ++i)
            CheckShape(example[i], actual[i], path + "[" + std::to_string(i) + "]", name);
    } else if (kConstants.count(name) || name == "operations") {
        CHECK(example == actual);
    } else if (example.is_string()) {
        CHECK(Form(actual.get<std::string>()) == Form(example.get<std::string>()));
    }
}

// An AWS example of a call by Alice, an IAM user: the members every such record shares around
// `middle` (eventName through resources), as AWS's examples write them.
std::string AliceCall(const std::string& event_time, const std::string& middle) {
    return R"({
      "eventVersion": "1.11",
      "userIdentity": {"type": "IAMUser", "principalId": "EX_PRINCIPAL_ID",
        "arn": "arn:aws:iam::111122223333:user/Alice", "accountId": "111122223333",
        "accessKeyId": "EXAMPLE_KEY_ID", "userName": "Alice"},
      "eventTime": ")" +
           event_time + R"(",
      "eventSource": "kms.amazonaws.com",
)" + middle +
           R"(,
      "eventType": "AwsApiCall",
      "managementEvent": true,
      "recipientAccountId": "111122223333",
      "eventCategory": "Management"})";
}

// `example` is AWS's record with eventVersion "1.11" and without tlsDetails (kmsd serves plain
// HTTP, so it has none).
void CheckAgainst(const std::string& example, const OJson& actual) {
    INFO(actual.dump(2));
    CheckShape(OJson::parse(example), actual, "record", "");
}

}  // namespace

// https://docs.aws.amazon.com/kms/latest/developerguide/ct-encrypt.html (2025).
TEST_CASE("Encrypt's record has AWS's shape and no plaintext", "[audit]") {
    AuditFixture f;
    const std::string key = f.NewKey();
    const std::string arn = "arn:aws:kms:us-west-2:111122223333:key/" + key;
    const std::string token =
        f.Call("CreateGrant", {{"KeyId", key},
                               {"GranteePrincipal", "arn:aws:iam::111122223333:user/Alice"},
                               {"Operations", {"Encrypt"}}})["GrantToken"];
    f.Call("Encrypt", {{"KeyId", arn},
                       {"Plaintext", "c2VjcmV0LXBsYWludGV4dA=="},
                       {"EncryptionContext", {{"Department", "Engineering"}}},
                       {"GrantTokens", {token}}});
    const OJson record = f.Latest("Encrypt");
    CheckAgainst(AliceCall("2025-05-20T20:46:16Z", R"(
      "eventName": "Encrypt",
      "awsRegion": "us-west-2",
      "sourceIPAddress": "192.0.2.0",
      "userAgent": "AWS Internal",
      "requestParameters": {
        "encryptionContext": {"Department": "Engineering"},
        "keyId": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
      "responseElements": null,
      "additionalEventData": {
        "keyMaterialId": "123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"},
      "requestID": "f3423043-63bc-11e4-bc2b-4198b6150d5c",
      "eventID": "91235988-eb87-476a-ac2c-0cdc244e6dca",
      "readOnly": true,
      "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key",
        "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}])"),
                 record);
    // The caller's own values where they are known.
    CHECK(record["userIdentity"]["userName"] == "Alice");
    CHECK(record["userIdentity"]["accessKeyId"] == "AKIAALICE111EXAMPLE");
    CHECK(record["userIdentity"]["principalId"].get<std::string>().starts_with("AIDA"));
    CHECK(record["userAgent"] == "aws-cli/2.0 test");
    CHECK(record["requestParameters"]["keyId"] == arn);
    // Neither the plaintext (base64 or not) nor a grant token is recorded.
    const std::string text = record.dump();
    CHECK(text.find("c2VjcmV0") == std::string::npos);
    CHECK(text.find("secret-plaintext") == std::string::npos);
    CHECK(text.find(token) == std::string::npos);
    CHECK(f.Latest("CreateGrant").dump().find(token) == std::string::npos);
}

// ct-decrypt.html, "Decrypt failure with a standard symmetric encryption key" (2022; CloudTrail
// has since added managementEvent and eventCategory to every record).
TEST_CASE("A failed Decrypt records errorCode and errorMessage where AWS puts them", "[audit]") {
    AuditFixture f;
    const std::string key = f.NewKey();
    const std::string other = f.NewKey();
    const auto blob = f.Call("Encrypt", {{"KeyId", key},
                                         {"Plaintext", "AAAA"},
                                         {"EncryptionContext", {{"Department", "Engineering"}}}});
    f.Call("Decrypt",
           {{"CiphertextBlob", blob["CiphertextBlob"]},
            {"KeyId", "arn:aws:kms:us-west-2:111122223333:key/" + other},
            {"EncryptionContext", {{"Department", "Engineering"}}}},
           400);
    const OJson record = f.Latest("Decrypt");
    CheckAgainst(AliceCall("2022-11-24T18:57:43Z", R"(
      "eventName": "Decrypt",
      "awsRegion": "us-west-2",
      "sourceIPAddress": "192.0.2.0",
      "userAgent": "AWS Internal",
      "errorCode": "IncorrectKeyException",
      "errorMessage": "The key ID in the request does not identify a CMK that can perform this operation.",
      "requestParameters": {
        "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "keyId": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "encryptionContext": {"Department": "Engineering"}},
      "responseElements": null,
      "requestID": "22345126-30d5-4b28-98b9-9153da559963",
      "eventID": "abcde202-ba1a-467c-b4ba-f729d45ae521",
      "readOnly": true,
      "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key",
        "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}])"),
                 record);
    CHECK(record["errorMessage"] ==
          "The key ID in the request does not identify a CMK that can perform this operation.");
}

// ct-createkey.html (2022, plus managementEvent and eventCategory as CloudTrail writes today).
TEST_CASE("CreateKey's record has the request with AWS's defaults and the key's metadata",
          "[audit]") {
    AuditFixture f;
    f.Call("CreateKey", {{"Description", ""}, {"Origin", "EXTERNAL"}});
    CheckAgainst(AliceCall("2022-08-10T22:38:27Z", R"(
      "eventName": "CreateKey",
      "awsRegion": "us-west-2",
      "sourceIPAddress": "192.0.2.0",
      "userAgent": "AWS Internal",
      "requestParameters": {"description": "", "origin": "EXTERNAL",
        "bypassPolicyLockoutSafetyCheck": false, "customerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "keySpec": "SYMMETRIC_DEFAULT", "keyUsage": "ENCRYPT_DECRYPT"},
      "responseElements": {"keyMetadata": {
        "aWSAccountId": "111122223333",
        "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab",
        "arn": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "creationDate": "Aug 10, 2022, 10:38:27 PM",
        "enabled": false, "description": "", "keyUsage": "ENCRYPT_DECRYPT",
        "keyState": "PendingImport", "origin": "EXTERNAL", "keyManager": "CUSTOMER",
        "customerMasterKeySpec": "SYMMETRIC_DEFAULT", "keySpec": "SYMMETRIC_DEFAULT",
        "encryptionAlgorithms": ["SYMMETRIC_DEFAULT"], "multiRegion": false}},
      "requestID": "1aef6713-0223-4ff7-9a6d-781360521930",
      "eventID": "36327b37-f4f6-40a9-92ab-48064ec905a2",
      "readOnly": false,
      "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key",
        "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}])"),
                 f.Latest("CreateKey"));
}

// ct-schedule-key-deletion.html (single-Region key) and ct-createalias.html.
TEST_CASE("ScheduleKeyDeletion and CreateAlias record what AWS adds to responseElements",
          "[audit]") {
    AuditFixture f;
    const std::string key = f.NewKey();
    f.Call("CreateAlias", {{"AliasName", "alias/ExampleAlias"}, {"TargetKeyId", key}});
    f.Call("ScheduleKeyDeletion", {{"KeyId", key}, {"PendingWindowInDays", 20}});
    CheckAgainst(AliceCall("2021-10-13T21:25:25Z", R"(
      "eventName": "ScheduleKeyDeletion",
      "awsRegion": "us-west-2",
      "sourceIPAddress": "192.0.2.0",
      "userAgent": "AWS Internal",
      "requestParameters": {"pendingWindowInDays": 20,
        "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"},
      "responseElements": {
        "keyId": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        "keyState": "PendingDeletion",
        "deletionDate": "Nov 2, 2021, 11:25:25 PM",
        "pendingWindowInDays": 20},
      "requestID": "10d3ab9d-1dc6-4b3a-9f8a-2a6e5a4f9d3b",
      "eventID": "7ba73ebd-8a18-4d06-9f0e-7f3c7a8f64e9",
      "readOnly": false,
      "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key",
        "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}])"),
                 f.Latest("ScheduleKeyDeletion"));
    const OJson alias = f.Latest("CreateAlias");
    CheckAgainst(AliceCall("2020-11-13T23:18:15Z", R"(
      "eventName": "CreateAlias",
      "awsRegion": "us-west-2",
      "sourceIPAddress": "192.0.2.0",
      "userAgent": "AWS Internal",
      "requestParameters": {"aliasName": "alias/ExampleAlias",
        "targetKeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"},
      "responseElements": {
        "keyId": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
      "requestID": "caec1e0d-ce96-427b-9b5f-f2c5b0a3e7f1",
      "eventID": "2c5f3a5e-8f0e-4d0e-a1f2-5b7b6d3c6a1e",
      "readOnly": false,
      "resources": [
        {"accountId": "111122223333", "type": "AWS::KMS::Key",
         "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
        {"accountId": "111122223333", "type": "AWS::KMS::Key",
         "ARN": "arn:aws:kms:us-west-2:111122223333:alias/ExampleAlias"}])"),
                 alias);
    CHECK(alias["resources"][1]["ARN"] == "arn:aws:kms:us-west-2:111122223333:alias/ExampleAlias");
}

// ct-reencrypt.html (2025).
TEST_CASE("ReEncrypt's record names both keys and both key materials", "[audit]") {
    AuditFixture f;
    const std::string source = f.NewKey();
    const std::string dest = f.NewKey();
    const auto blob = f.Call(
        "Encrypt",
        {{"KeyId", source}, {"Plaintext", "AAAA"}, {"EncryptionContext", {{"Project", "Alpha"}}}});
    f.Call("ReEncrypt", {{"CiphertextBlob", blob["CiphertextBlob"]},
                         {"SourceEncryptionContext", {{"Project", "Alpha"}}},
                         {"DestinationKeyId", dest},
                         {"DestinationEncryptionContext", {{"Level", "3A"}}}});
    const OJson record = f.Latest("ReEncrypt");
    CheckAgainst(AliceCall("2025-05-22T19:34:55Z", R"(
      "eventName": "ReEncrypt",
      "awsRegion": "us-west-2",
      "sourceIPAddress": "192.0.2.0",
      "userAgent": "AWS Internal",
      "requestParameters": {
        "sourceEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "sourceEncryptionContext": {"Project": "Alpha"},
        "destinationKeyId": "0987dcba-09fe-87dc-65ba-ab0987654321",
        "destinationEncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        "destinationEncryptionContext": {"Level": "3A"}},
      "responseElements": null,
      "additionalEventData": {
        "destinationKeyMaterialId": "96083e4fb6dbc41d77578a213a6b6669c044dd4c143e96755396d2bf11fd6068",
        "sourceKeyMaterialId": "123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0"},
      "requestID": "03769fd4-acf9-4b33-adf3-2ab8ca73aadf",
      "eventID": "542d9e04-0e8d-4e05-bf4b-4bdeb032e6ec",
      "readOnly": true,
      "resources": [
        {"accountId": "111122223333", "type": "AWS::KMS::Key",
         "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
        {"accountId": "111122223333", "type": "AWS::KMS::Key",
         "ARN": "arn:aws:kms:us-west-2:111122223333:key/0987dcba-09fe-87dc-65ba-ab0987654321"}])"),
                 record);
    CHECK(record["resources"][0]["ARN"].get<std::string>().ends_with(source));
    CHECK(record["resources"][1]["ARN"].get<std::string>().ends_with(dest));
}

// Decrypt and GenerateDataKey write their replies as text; the record still names the material.
TEST_CASE("Decrypt's record names the material that encrypted, after a rotation too", "[audit]") {
    AuditFixture f;
    const std::string key = f.NewKey();
    const auto first = f.Call("Encrypt", {{"KeyId", key}, {"Plaintext", "AAAA"}});
    f.Call("RotateKeyOnDemand", {{"KeyId", key}});
    const auto data_key = f.Call("GenerateDataKey", {{"KeyId", key}, {"KeySpec", "AES_256"}});
    CHECK(f.Latest("GenerateDataKey")["additionalEventData"] ==
          OJson{{"keyMaterialId", data_key["KeyMaterialId"]}});
    const auto old = f.Call("Decrypt", {{"CiphertextBlob", first["CiphertextBlob"]}});
    const std::string old_material = old["KeyMaterialId"];
    CHECK(old_material.size() == 64);
    CHECK(old_material != data_key["KeyMaterialId"].get<std::string>());
    CHECK(f.Latest("Decrypt")["additionalEventData"] == OJson{{"keyMaterialId", old_material}});
    f.Call("Decrypt", {{"CiphertextBlob", data_key["CiphertextBlob"]}});
    CHECK(f.Latest("Decrypt")["additionalEventData"] ==
          OJson{{"keyMaterialId", data_key["KeyMaterialId"]}});
}

// ct-rotatekey.html (2025) and ct-delete-key.html: service events, dated at their KMS time.
TEST_CASE("Scheduled rotation and deletion are AwsServiceEvent records at their KMS time",
          "[audit]") {
    AuditFixture f;
    const std::string key = f.NewKey();
    f.Call("EnableKeyRotation", {{"KeyId", key}, {"RotationPeriodInDays", 90}});
    const std::string before =
        f.Call("DescribeKey", {{"KeyId", key}})["KeyMetadata"]["CurrentKeyMaterialId"];
    const double due = f.Call("GetKeyRotationStatus", {{"KeyId", key}})["NextRotationDate"];
    REQUIRE(
        f.app
            ->MoveClock([](double offset) -> kmsd::Result<double> { return offset + 91 * 86400.0; })
            .ok());
    const OJson rotate = f.Latest("RotateKey");
    CheckAgainst(R"({
      "eventVersion": "1.11",
      "userIdentity": {"accountId": "111122223333", "invokedBy": "AWS Internal"},
      "eventTime": "2025-05-20T20:44:37Z",
      "eventSource": "kms.amazonaws.com",
      "eventName": "RotateKey",
      "awsRegion": "us-west-2",
      "sourceIPAddress": "AWS Internal",
      "userAgent": "AWS Internal",
      "requestParameters": null,
      "responseElements": null,
      "eventID": "a24b3967-ddad-417f-9b22-2332b918db06",
      "readOnly": false,
      "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key",
        "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],
      "eventType": "AwsServiceEvent",
      "managementEvent": true,
      "recipientAccountId": "111122223333",
      "serviceEventDetails": {
        "rotationType": "AUTOMATIC",
        "keyOrigin": "AWS_KMS",
        "previousKeyMaterialId": "123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
        "currentKeyMaterialId": "96083e4fb6dbc41d77578a213a6b6669c044dd4c143e96755396d2bf11fd6068",
        "keyId": "1234abcd-12ab-34cd-56ef-1234567890ab"},
      "eventCategory": "Management"})",
                 rotate);
    CHECK(rotate["eventTime"] == kmsd::api::CloudTrailTime(due));
    CHECK(rotate["serviceEventDetails"]["previousKeyMaterialId"] == before);
    CHECK(rotate["serviceEventDetails"]["keyId"] == key);
    const std::string after =
        f.Call("DescribeKey", {{"KeyId", key}})["KeyMetadata"]["CurrentKeyMaterialId"];
    CHECK(rotate["serviceEventDetails"]["currentKeyMaterialId"] == after);

    const double deletion =
        f.Call("ScheduleKeyDeletion", {{"KeyId", key}, {"PendingWindowInDays", 7}})["DeletionDate"];
    REQUIRE(
        f.app->MoveClock([](double offset) -> kmsd::Result<double> { return offset + 8 * 86400.0; })
            .ok());
    const OJson deleted = f.Latest("DeleteKey");
    CheckAgainst(R"({
      "eventVersion": "1.11",
      "userIdentity": {"accountId": "111122223333", "invokedBy": "AWS Internal"},
      "eventTime": "2020-07-31T00:07:00Z",
      "eventSource": "kms.amazonaws.com",
      "eventName": "DeleteKey",
      "awsRegion": "us-east-1",
      "sourceIPAddress": "AWS Internal",
      "userAgent": "AWS Internal",
      "requestParameters": null,
      "responseElements": {
        "keyId": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
      "eventID": "b25f9cda-74e1-4458-847b-4972a0bf9668",
      "readOnly": false,
      "resources": [{"accountId": "111122223333", "type": "AWS::KMS::Key",
        "ARN": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"}],
      "eventType": "AwsServiceEvent",
      "managementEvent": true,
      "recipientAccountId": "111122223333",
      "eventCategory": "Management"})",
                 deleted);
    CHECK(deleted["eventTime"] == kmsd::api::CloudTrailTime(deletion));
}

// CloudTrail's userIdentity of a role session (its user guide's AssumedRole shape).
TEST_CASE("A role session's record names the session and the role that issued it", "[audit]") {
    AuditFixture f;
    const kmsd::Response res = SendHttp(
        *f.app, KmsRequestBytes("CreateKey", "{}",
                                "Authorization: AWS4-HMAC-SHA256 Credential=ASIADEPLOYEREXAMPLE/"
                                "20261130/us-west-2/kms/aws4_request, SignedHeaders=host, "
                                "Signature=00\r\nX-Amz-Security-Token: token\r\n"));
    REQUIRE(res.result_int() == 200);
    const OJson id = f.Latest("CreateKey")["userIdentity"];
    CheckShape(OJson::parse(R"({
      "type": "AssumedRole",
      "principalId": "AROAEXAMPLEID:ci-run-42",
      "arn": "arn:aws:sts::111122223333:assumed-role/Deployer/ci-run-42",
      "accountId": "111122223333",
      "accessKeyId": "ASIAEXAMPLE",
      "sessionContext": {
        "sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEID",
          "arn": "arn:aws:iam::111122223333:role/Deployer", "accountId": "111122223333",
          "userName": "Deployer"},
        "webIdFederationData": {},
        "attributes": {"creationDate": "2021-10-30T02:19:55Z", "mfaAuthenticated": "false"}}})"),
               id, "userIdentity", "userIdentity");
    CHECK(id["arn"] == "arn:aws:sts::111122223333:assumed-role/Deployer/ci-run-42");
    CHECK(id["sessionContext"]["sessionIssuer"]["arn"] ==
          "arn:aws:iam::111122223333:role/Deployer");
    const std::string principal = id["principalId"];
    CHECK(principal.starts_with(
        id["sessionContext"]["sessionIssuer"]["principalId"].get<std::string>() + ":ci-run-42"));
    CHECK(principal.starts_with("AROA"));
}

TEST_CASE("A denied call is recorded as AccessDenied with the caller's identity", "[audit]") {
    AuditFixture f;
    const std::string key = f.NewKey();
    // A policy that lets Alice administer but not use the key.
    const std::string policy = R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow",
        "Principal":{"AWS":"arn:aws:iam::111122223333:root"},"Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:user/Alice"},
        "Action":"kms:Encrypt","Resource":"*"}]})";
    f.Call("PutKeyPolicy", {{"KeyId", key}, {"PolicyName", "default"}, {"Policy", policy}});
    f.Call("Encrypt", {{"KeyId", key}, {"Plaintext", "AAAA"}}, 400);
    const OJson record = f.Latest("Encrypt");
    CHECK(record["errorCode"] == "AccessDenied");
    CHECK(record["errorMessage"].get<std::string>().find("is not authorized to perform: "
                                                         "kms:Encrypt") != std::string::npos);
    CHECK(record["responseElements"].is_null());
    CHECK(!record.contains("additionalEventData"));
    // PutKeyPolicy records the policy it was given, as AWS does.
    CHECK(f.Latest("PutKeyPolicy")["requestParameters"]["policy"] == policy);
}

TEST_CASE("The ring keeps the newest records and filters them", "[audit]") {
    AuditFixture f(/*ring=*/4);
    const std::string a = f.NewKey();
    const std::string b = f.NewKey();
    for (int i = 0; i < 3; ++i) f.Call("DescribeKey", {{"KeyId", i == 1 ? b : a}});
    // 5 calls, 4 kept, newest first.
    kmsd::AuditLog::Query all;
    all.limit = 100;
    const auto kept = f.app->audit().Find(all);
    REQUIRE(kept.size() == 4);
    CHECK(kept[0].event_name == "DescribeKey");
    CHECK(kept[3].event_name == "CreateKey");
    CHECK(kept[3].resources.at(0).ends_with(b));
    kmsd::AuditLog::Query by_key;
    by_key.key_arn = "arn:aws:kms:us-west-2:111122223333:key/" + a;
    CHECK(f.app->audit().Find(by_key).size() == 2);
    by_key.limit = 1;
    CHECK(f.app->audit().Find(by_key).size() == 1);
    kmsd::AuditLog::Query later;
    later.since = f.app->Now() + 60;
    CHECK(f.app->audit().Find(later).empty());

    // The admin endpoint: the same, as {"Records": [...]}; bad queries are 400.
    const auto get = [&](const std::string& target) {
        return kmsd::HandleAdmin(*f.app, {"GET", target, "", "", "", "localhost", ""});
    };
    const auto reply =
        get("/_kmsd/"
            "audit?eventName=CreateKey&keyArn=arn%3Aaws%3Akms%3Aus-west-2%3A111122223333%3Akey%2F" +
            b);
    REQUIRE(reply.http_status == 200);
    const auto doc = nlohmann::json::parse(reply.body);
    REQUIRE(doc["Records"].size() == 1);
    CHECK(doc["Records"][0]["eventName"] == "CreateKey");
    CHECK(get("/_kmsd/audit?limit=0").http_status == 400);
    CHECK(get("/_kmsd/audit?limit=1001").http_status == 400);
    CHECK(get("/_kmsd/audit?since=yesterday").http_status == 400);
    CHECK(get("/_kmsd/audit?eventName=%zz").http_status == 400);
    CHECK(get("/_kmsd/audit?colour=blue").http_status == 400);
    CHECK(get("/_kmsd/audit?since=2000-01-01T00:00:00Z&limit=2").http_status == 200);
    CHECK(kmsd::HandleAdmin(*f.app, {"POST", "/_kmsd/audit", "", "", "", "localhost", ""})
              .http_status == 405);
    // Reset empties the ring.
    REQUIRE(f.app->Reset().ok());
    CHECK(f.app->audit().Find(all).empty());
}

TEST_CASE("--audit-log appends one CloudTrail record per line", "[audit]") {
    AuditFixture f(/*ring=*/0, /*file=*/true);
    const std::string key = f.NewKey();
    f.Call("Encrypt", {{"KeyId", key}, {"Plaintext", "c2VjcmV0LXBsYWludGV4dA=="}});
    f.app->audit().Sync();
    std::ifstream in(f.dir.path + "/audit.jsonl");
    std::vector<nlohmann::json> lines;
    for (std::string line; std::getline(in, line);) {
        CHECK(line.find("c2VjcmV0") == std::string::npos);
        lines.push_back(nlohmann::json::parse(line));
    }
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["eventName"] == "CreateKey");
    CHECK(lines[1]["eventName"] == "Encrypt");
    CHECK(lines[1]["requestParameters"]["keyId"] == key);
    CHECK(f.app->audit().written() == 2);
    CHECK(f.app->audit().dropped() == 0);
    CHECK(f.app->audit().Find({}).empty());  // --audit-ring 0 keeps nothing in memory
}

TEST_CASE("A packed event unpacks to the same event, and a damaged one does not unpack",
          "[audit]") {
    kmsd::api::AuditEvent e;
    e.kind = kmsd::api::AuditEvent::Kind::kServiceEvent;
    e.time = 1764547200.123456;
    e.event_name = "RotateKey";
    e.request_id = "0b6a7a64-5f1e-4b0c-9d2b-6c2f5d1e9a10";
    e.account = "111122223333";
    e.region = "eu-west-1";
    e.principal_arn = "arn:aws:iam::111122223333:user/alice";
    e.access_key_id = "AKIAALICE111EXAMPLE";
    e.source_ip = "127.0.0.1";
    e.user_agent = std::string(3000, 'u');  // longer than any other member
    e.recipient_account = "444455556666";
    e.request = kmsd::api::ToSecure(R"({"KeyId":"k","Nested":{"A":[1,2.5,"x"]}})");
    e.response = kmsd::api::Json::parse(R"({"DeletionDate":1764547200.5,"KeyId":"arn:k"})");
    e.key_material_id = std::string(64, 'a');
    e.source_key_material_id = std::string(64, 'b');
    e.grant_id = std::string(64, 'c');
    e.details = OJson{{"rotationType", "AUTOMATIC"}, {"n", 3}};
    e.error_code = "AccessDenied";
    e.error_message = "no";
    e.resources = {"arn:aws:kms:eu-west-1:111122223333:key/k", "", "arn:aws:kms:alias/a"};

    kmsd::SecureString packed;
    kmsd::PackAuditEvent(e, packed);
    kmsd::api::AuditEvent back;
    REQUIRE(kmsd::UnpackAuditEvent(packed, back));
    CHECK(back.kind == e.kind);
    CHECK(back.time == e.time);
    CHECK(back.event_name == e.event_name);
    CHECK(back.request_id == e.request_id);
    CHECK(back.account == e.account);
    CHECK(back.region == e.region);
    CHECK(back.principal_arn == e.principal_arn);
    CHECK(back.access_key_id == e.access_key_id);
    CHECK(back.source_ip == e.source_ip);
    CHECK(back.user_agent == e.user_agent);
    CHECK(back.recipient_account == e.recipient_account);
    CHECK(back.request == e.request);
    CHECK(back.response == e.response);
    CHECK(back.key_material_id == e.key_material_id);
    CHECK(back.source_key_material_id == e.source_key_material_id);
    CHECK(back.grant_id == e.grant_id);
    CHECK(back.details == e.details);
    CHECK(back.error_code == e.error_code);
    CHECK(back.error_message == e.error_message);
    CHECK(back.resources == e.resources);

    // Null response and details, no resources; the buffer is reused.
    e.kind = kmsd::api::AuditEvent::Kind::kApiCall;
    e.response = nullptr;
    e.details = nullptr;
    e.resources.clear();
    kmsd::PackAuditEvent(e, packed);
    REQUIRE(kmsd::UnpackAuditEvent(packed, back));
    CHECK(back.kind == kmsd::api::AuditEvent::Kind::kApiCall);
    CHECK(back.response.is_null());
    CHECK(back.details.is_null());
    CHECK(back.resources.empty());
    CHECK(back.user_agent == e.user_agent);

    // Cut short anywhere, or with bytes after the end, it is refused.
    for (std::size_t cut = 0; cut < packed.size(); cut += 7)
        CHECK_FALSE(kmsd::UnpackAuditEvent(std::string_view(packed.data(), cut), back));
    CHECK_FALSE(kmsd::UnpackAuditEvent(kmsd::api::ToStd(packed) + "x", back));
}
