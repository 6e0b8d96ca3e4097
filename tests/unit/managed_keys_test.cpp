// [api][managed]: AWS managed keys: the predefined aliases in ListAliases' pages, the key made
// once on first use (also under a race), its policy per service, yearly rotation, and
// --aws-managed-keys-via-service.
#include "api/managed_keys.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <set>
#include <thread>
#include <vector>

#include "api/authz/policy.h"
#include "api/lifecycle.h"
#include "api/policy_format.h"
#include "support/fakes.h"

using namespace kmsd;
using kmsd::testing::TestKms;

namespace {

using kmsd::testing::S;

std::vector<std::string> AliasNames(TestKms& kms, int limit) {
    std::vector<std::string> names;
    std::string marker;
    for (int page = 0; page < 100; ++page) {
        std::string body = "{\"Limit\":" + std::to_string(limit);
        if (!marker.empty()) body += ",\"Marker\":\"" + marker + "\"";
        auto r = kms.Call("ListAliases", body + "}");
        REQUIRE(r.status == 200);
        for (const auto& a : r.json["Aliases"]) names.push_back(S(a["AliasName"]));
        if (!r.json["Truncated"].get<bool>()) return names;
        marker = S(r.json["NextMarker"]);
    }
    FAIL("ListAliases never ended");
    return names;
}

std::string DescribeAlias(TestKms& kms, const std::string& alias) {
    auto r = kms.Call("DescribeKey", "{\"KeyId\":\"" + alias + "\"}");
    REQUIRE(r.status == 200);
    return S(r.json["KeyMetadata"]["KeyId"]);
}

}  // namespace

TEST_CASE("predefined aliases join ListAliases' pages in name order", "[api][managed]") {
    TestKms kms;
    const auto predefined = api::ManagedAliasNames();
    REQUIRE(predefined.size() == 14);
    auto key = kms.NewKey();
    for (const char* name : {"alias/a", "alias/aws-not-reserved", "alias/zz"})
        REQUIRE(kms.Call("CreateAlias", std::string("{\"AliasName\":\"") + name +
                                            "\",\"TargetKeyId\":\"" + key + "\"}")
                    .status == 200);
    DescribeAlias(kms, "alias/aws/s3");   // predefined, now made
    DescribeAlias(kms, "alias/aws/sqs");  // known, not predefined: listed once made

    std::vector<std::string> expected = {"alias/a", "alias/aws-not-reserved", "alias/zz",
                                         "alias/aws/sqs"};
    expected.insert(expected.end(), predefined.begin(), predefined.end());
    std::sort(expected.begin(), expected.end());
    for (int limit : {1, 2, 3, 7, 50}) {
        INFO("Limit " << limit);
        CHECK(AliasNames(kms, limit) == expected);
    }
    // A made alias has its target and dates; a predefined one not made has neither.
    auto all = kms.Call("ListAliases", "{}");
    for (const auto& a : all.json["Aliases"]) {
        const std::string name = S(a["AliasName"]);
        const bool made =
            name.rfind("alias/aws/", 0) != 0 || name == "alias/aws/s3" || name == "alias/aws/sqs";
        INFO(name);
        CHECK(a.contains("TargetKeyId") == made);
        CHECK(a.contains("CreationDate") == made);
    }
    // Filtered by key: only the key's own aliases.
    auto mine = kms.Call("ListAliases", "{\"KeyId\":\"" + key + "\"}");
    CHECK(mine.json["Aliases"].size() == 3);
}

TEST_CASE("the first use of a managed alias makes one key, even when requests race",
          "[api][managed]") {
    TestKms kms;
    std::vector<std::string> ids(8);
    std::vector<std::thread> threads;
    for (std::size_t i = 0; i < ids.size(); ++i)
        threads.emplace_back([&, i] {
            auto r = kms.Call("DescribeKey", "{\"KeyId\":\"alias/aws/ebs\"}");
            if (r.status == 200) ids[i] = S(r.json["KeyMetadata"]["KeyId"]);
        });
    for (auto& t : threads) t.join();
    CHECK(std::set<std::string>(ids.begin(), ids.end()).size() == 1);
    CHECK_FALSE(ids[0].empty());
    CHECK(kms.Call("ListKeys", "{}").json["Keys"].size() == 1);
}

TEST_CASE("another account's managed alias is not made by a caller", "[api][managed]") {
    TestKms kms;
    auto r =
        kms.Call("DescribeKey", "{\"KeyId\":\"arn:aws:kms:us-east-1:444455556666:alias/aws/s3\"}");
    CHECK(r.type() == "NotFoundException");
    CHECK(kms.catalog->KeyCount() == 0);
    // Unknown services and near-misses are not managed aliases.
    for (const char* name : {"alias/aws/", "alias/aws/S3", "alias/aws/s3/x", "alias/awss3"}) {
        INFO(name);
        CHECK_FALSE(api::IsManagedAlias(name));
    }
    CHECK(api::IsManagedAlias("alias/aws/sqs"));
}

TEST_CASE("every managed key policy is valid policy language of AWS's shape", "[api][managed]") {
    for (const char* service :
         {"acm", "backup", "codecommit", "dynamodb", "ebs", "elasticfilesystem", "es", "glue",
          "kinesis", "kinesisvideo", "lambda", "rds", "redshift", "s3", "secretsmanager", "sns",
          "sqs", "ssm", "xray"}) {
        INFO(service);
        REQUIRE(api::IsManagedAlias(std::string("alias/aws/") + service));
        const std::string text = api::ManagedKeyPolicy(service, "aws", "111122223333", "eu-west-1");
        REQUIRE_FALSE(text.empty());
        CHECK(api::CheckKeyPolicy(text, nullptr).ok());
        auto doc = nlohmann::json::parse(text);
        CHECK(doc["Version"] == "2012-10-17");
        CHECK(doc["Id"].get<std::string>().rfind("auto-", 0) == 0);
        // Nobody may change the key: no statement allows kms:* or a change action.
        for (const auto& st : doc["Statement"]) {
            auto actions =
                st["Action"].is_array() ? st["Action"] : nlohmann::json::array({st["Action"]});
            for (const auto& a : actions) {
                const std::string action = a.get<std::string>();
                CHECK(action != "kms:*");
                CHECK(action != "kms:PutKeyPolicy");
                CHECK(action != "kms:ScheduleKeyDeletion");
            }
        }
        // Through the service in this Region (DynamoDB's key: in any Region).
        CHECK((text.find(".eu-west-1.amazonaws.com") != std::string::npos ||
               text.find("\"dynamodb.*.amazonaws.com\"") != std::string::npos));
    }
    CHECK(api::ManagedKeyPolicy("nosuch", "aws", "111122223333", "eu-west-1").empty());
    // The partition of the account's root follows the Region.
    CHECK(api::ManagedKeyPolicy("s3", "aws-cn", "111122223333", "cn-north-1")
              .find("arn:aws-cn:iam::111122223333:root") != std::string::npos);
}

TEST_CASE("a managed key rotates every year by itself", "[api][managed]") {
    TestKms kms;
    auto id = DescribeAlias(kms, "alias/aws/lambda");
    auto status = kms.Call("GetKeyRotationStatus", "{\"KeyId\":\"" + id + "\"}");
    CHECK(status.json["KeyRotationEnabled"] == true);
    CHECK(status.json["RotationPeriodInDays"] == 365);
    const double next = status.json["NextRotationDate"].get<double>();
    CHECK(next == Approx(kms.clock.Now() + 365 * api::kSecondsPerDay).margin(5));
    CHECK(api::RunDue(kms.services, next + 1).value().rotations == 1);
    auto list = kms.Call("ListKeyRotations", "{\"KeyId\":\"" + id + "\"}");
    REQUIRE(list.json["Rotations"].size() == 1);
    CHECK(S(list.json["Rotations"][0]["RotationType"]) == "AUTOMATIC");
}

TEST_CASE("via-service mode sets kms:ViaService for managed keys only", "[api][managed]") {
    TestKms kms;
    const std::string plain = "{\"KeyId\":\"alias/aws/s3\",\"Plaintext\":\"AQID\"}";
    CHECK(kms.Call("Encrypt", plain).type() == "AccessDeniedException");
    kms.services.managed_keys_via_service = true;
    auto enc = kms.Call("Encrypt", plain);
    REQUIRE(enc.status == 200);
    CHECK(kms.Call("Decrypt", "{\"CiphertextBlob\":\"" + enc.str("CiphertextBlob") + "\"}")
              .str("Plaintext") == "AQID");
    // A customer key whose policy asks for a service is still not used through one.
    const std::string policy =
        R"({"Version":"2012-10-17","Statement":[)"
        R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},)"
        R"("Action":["kms:PutKeyPolicy","kms:DescribeKey"],"Resource":"*"},)"
        R"({"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Encrypt","Resource":"*",)"
        R"("Condition":{"StringEquals":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}}}]})";
    auto key = kms.NewKey(nlohmann::json{{"Policy", policy}}.dump());
    CHECK(kms.Call("Encrypt", "{\"KeyId\":\"" + key + "\",\"Plaintext\":\"AQID\"}").type() ==
          "AccessDeniedException");
}
