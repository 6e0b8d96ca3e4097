// [console]: the web console's page and the admin JSON endpoints it reads (GET /_kmsd/keys and
// /_kmsd/keys/<ARN>), through HandleAdmin. The page itself is tested in Chromium
// (tests/integration/js/console.test.mjs).
#include "src/console.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "support/http_app.h"

namespace {

using kmsd::testing::KmsRequestBytes;
using kmsd::testing::SendHttp;

kmsd::AdminReply Get(kmsd::App& app, const std::string& target, const std::string& auth = "") {
    return kmsd::HandleAdmin(app, {"GET", target, auth, "", "", "localhost", ""});
}

std::string NewKey(kmsd::App& app, const std::string& body) {
    const auto res = SendHttp(app, KmsRequestBytes("CreateKey", body));
    REQUIRE(res.result_int() == 200);
    return nlohmann::json::parse(kmsd::testing::BodyOf(res))["KeyMetadata"]["Arn"];
}

}  // namespace

TEST_CASE("The console page is served without the token; its data needs it", "[console]") {
    kmsd::Options options;
    options.server.admin_token = "t0ken";
    auto app = kmsd::testing::OpenInMemoryApp(options);
    const auto page = Get(*app, "/_kmsd/ui");
    CHECK(page.http_status == 200);
    CHECK(page.content_type == "text/html; charset=utf-8");
    CHECK(page.body.find("<title>kmsd console</title>") != std::string::npos);
    // No external resource: everything is in the page.
    CHECK(page.body.find("http://") == std::string::npos);
    CHECK(page.body.find("https://") == std::string::npos);
    CHECK(page.body.find("innerHTML") == std::string::npos);
    CHECK(Get(*app, "/_kmsd/keys").http_status == 401);
    CHECK(Get(*app, "/_kmsd/keys", "Bearer t0ken").http_status == 200);
    CHECK(kmsd::HandleAdmin(*app, {"POST", "/_kmsd/ui", "", "", "", "localhost", ""}).http_status ==
          405);
}

TEST_CASE("GET /_kmsd/keys lists every key in pages", "[console]") {
    auto app = kmsd::testing::OpenInMemoryApp();
    const std::string a =
        NewKey(*app, R"({"Description":"<b>a</b>","Tags":[{"TagKey":"k","TagValue":"v"}]})");
    const std::string b = NewKey(*app, "{}");
    const std::string c =
        NewKey(*app, R"({"KeySpec":"HMAC_256","KeyUsage":"GENERATE_VERIFY_MAC"})");

    const auto all = nlohmann::json::parse(Get(*app, "/_kmsd/keys").body);
    REQUIRE(all["Keys"].size() == 3);
    CHECK(all["Truncated"] == false);
    CHECK(!all.contains("NextMarker"));

    // Pages of two: the marker continues where the first page stopped, with no key twice.
    const auto first = nlohmann::json::parse(Get(*app, "/_kmsd/keys?limit=2").body);
    REQUIRE(first["Keys"].size() == 2);
    CHECK(first["Truncated"] == true);
    const auto second = nlohmann::json::parse(
        Get(*app, "/_kmsd/keys?limit=2&marker=" + first["NextMarker"].get<std::string>()).body);
    REQUIRE(second["Keys"].size() == 1);
    CHECK(second["Truncated"] == false);
    std::set<std::string> seen;
    for (const auto* page : {&first, &second})
        for (const auto& k : (*page)["Keys"]) seen.insert(k["KeyMetadata"]["Arn"]);
    CHECK(seen == std::set<std::string>{a, b, c});

    for (const auto& k : all["Keys"])
        if (k["KeyMetadata"]["Arn"] == a) {
            CHECK(k["KeyMetadata"]["Description"] == "<b>a</b>");  // data, as given
            CHECK(k["Tags"] == nlohmann::json::parse(R"([{"TagKey":"k","TagValue":"v"}])"));
            CHECK(k["Aliases"].empty());
            CHECK(k["KeyRotationEnabled"] == false);
        }
    for (const char* bad :
         {"/_kmsd/keys?limit=0", "/_kmsd/keys?limit=1001", "/_kmsd/keys?marker=-1",
          "/_kmsd/keys?marker=x", "/_kmsd/keys?colour=blue"})
        CHECK(Get(*app, bad).http_status == 400);
}

TEST_CASE("GET /_kmsd/keys/<ARN> gives a key's policy, grants, materials and audit records",
          "[console]") {
    auto app = kmsd::testing::OpenInMemoryApp();
    const std::string arn = NewKey(*app, "{}");
    const std::string id = arn.substr(arn.rfind('/') + 1);
    REQUIRE(
        SendHttp(*app, KmsRequestBytes("CreateGrant",
                                       R"({"KeyId":")" + id +
                                           R"(","GranteePrincipal":"arn:aws:iam::111122223333:root",
                                               "Operations":["Decrypt"],
                                               "Constraints":{"EncryptionContextEquals":{"a":"b"}}})"))
            .result_int() == 200);
    REQUIRE(SendHttp(*app, KmsRequestBytes("RotateKeyOnDemand", R"({"KeyId":")" + id + R"("})"))
                .result_int() == 200);
    for (const std::string& target :
         {"/_kmsd/keys/" + arn,
          "/_kmsd/keys/arn%3Aaws%3Akms%3Aus-east-1%3A111122223333%3Akey%2F" + id}) {
        const auto reply = Get(*app, target);
        REQUIRE(reply.http_status == 200);
        const auto key = nlohmann::json::parse(reply.body);
        CHECK(key["KeyMetadata"]["Arn"] == arn);
        CHECK(nlohmann::json::parse(key["Policy"].get<std::string>())["Statement"][0]["Sid"] ==
              "Enable IAM User Permissions");
        REQUIRE(key["Grants"].size() == 1);
        CHECK(key["Grants"][0]["Operations"] == nlohmann::json::array({"Decrypt"}));
        CHECK(key["Grants"][0]["Constraints"]["EncryptionContextEquals"]["a"] == "b");
        REQUIRE(key["KeyMaterials"].size() == 2);
        CHECK(key["KeyMaterials"][1]["RotationType"] == "ON_DEMAND");
        CHECK(key["KeyMaterials"][1]["Current"] == true);
        // Newest first: the rotation's service event, the call, the grant, the key.
        REQUIRE(key["Audit"].size() == 4);
        CHECK(key["Audit"][0]["eventName"] == "RotateKey");
        CHECK(key["Audit"][3]["eventName"] == "CreateKey");
    }
    CHECK(Get(*app,
              "/_kmsd/keys/arn:aws:kms:us-east-1:111122223333:key/"
              "00000000-0000-0000-0000-000000000000")
              .http_status == 404);
    CHECK(Get(*app, "/_kmsd/keys/not-an-arn").http_status == 400);
    CHECK(Get(*app, "/_kmsd/keys/arn:aws:kms:us-east-1:111122223333:alias/x").http_status == 400);
}
