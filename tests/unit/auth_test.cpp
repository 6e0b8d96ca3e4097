// [server][auth]: SigV4 against AWS's documented example, and strict-mode authentication errors.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include "hsm/blob.h"
#include "hsm/crypto.h"
#include "src/auth/identity.h"

using namespace kmsd;
using namespace kmsd::auth;

TEST_CASE("SigV4 matches AWS's documented example", "[server][auth]") {
    // The IAM ListUsers example of the SigV4 documentation.
    SignedRequest req;
    req.method = "GET";
    req.target = "/?Action=ListUsers&Version=2010-05-08";
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded; charset=utf-8"},
                   {"Host", "iam.amazonaws.com"},
                   {"X-Amz-Date", "20150830T123600Z"}};
    const std::string canonical = CanonicalRequest(req, {"content-type", "host", "x-amz-date"});
    CHECK(hsm::ToHex(hsm::Sha256(View(canonical))) ==
          "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    Credential scope{"AKIDEXAMPLE", "20150830", "us-east-1", "iam", {}, {}};
    CHECK(Sign("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20150830T123600Z", scope, canonical) ==
          "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
}

namespace {

constexpr double kNow = 1700000000;  // 2023-11-14T22:13:20Z
constexpr char kAmzDate[] = "20231114T221320Z";

std::string PrincipalsFile() {
    const std::string path = "/tmp/kmsd-principals-test.yaml";
    std::ofstream(path) << R"(accounts:
  "111122223333":
    root: {access_key_id: AKIAROOT, secret_access_key: rootsecret}
    users:
      - name: alice
        access_key_id: AKIAALICE
        secret_access_key: alicesecret
  "444455556666":
    roles:
      - name: app
        access_key_id: ASIAAPP
        secret_access_key: appsecret
        session_token: tok
        session_name: s1
)";
    return path;
}

// How Signed() builds a request: the defaults are what every SDK sends.
struct Shape {
    std::string amz_date = kAmzDate;
    std::string token;
    std::string target = "TrentService.ListKeys";
    std::vector<std::string> unsigned_headers;  // sent but left out of SignedHeaders
    std::string scope_date;                     // default: the date of amz_date
    std::string region = "eu-west-1";
    std::string service = "kms";
    std::string terminator = "aws4_request";
    std::string date_header = "X-Amz-Date";  // or "Date"
};

// A KMS request signed as `key`/`secret`.
SignedRequest Signed(const std::string& key, const std::string& secret, const Shape& shape) {
    SignedRequest req;
    req.method = "POST";
    req.target = "/";
    req.body = "{}";
    req.headers = {{"Host", "localhost:8080"},
                   {"Content-Type", "application/x-amz-json-1.1"},
                   {"X-Amz-Target", shape.target},
                   {shape.date_header, shape.amz_date}};
    if (!shape.token.empty()) req.headers.emplace_back("X-Amz-Security-Token", shape.token);
    std::vector<std::string> names;
    for (const auto& [name, value] : req.headers) {
        std::string lower;
        for (char c : name) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (std::find(shape.unsigned_headers.begin(), shape.unsigned_headers.end(), lower) ==
            shape.unsigned_headers.end())
            names.push_back(lower);
    }
    std::sort(names.begin(), names.end());
    const std::string date =
        shape.scope_date.empty() ? shape.amz_date.substr(0, 8) : shape.scope_date;
    Credential scope{key, date, shape.region, shape.service, names, {}, shape.terminator};
    const std::string sig = Sign(secret, shape.amz_date, scope, CanonicalRequest(req, names));
    std::string signed_headers;
    for (const auto& n : names) signed_headers += (signed_headers.empty() ? "" : ";") + n;
    req.headers.emplace_back(
        "Authorization", "AWS4-HMAC-SHA256 Credential=" + key + "/" + date + "/" + shape.region +
                             "/" + shape.service + "/" + shape.terminator +
                             ", SignedHeaders=" + signed_headers + ", Signature=" + sig);
    return req;
}

SignedRequest Signed(const std::string& key, const std::string& secret,
                     const std::string& amz_date = kAmzDate, const std::string& token = "") {
    Shape shape;
    shape.amz_date = amz_date;
    shape.token = token;
    return Signed(key, secret, shape);
}

}  // namespace

TEST_CASE("strict mode accepts only valid signatures of known principals", "[server][auth]") {
    auto ids = IdentityStore::Load(PrincipalsFile());
    REQUIRE(ids.ok());
    AuthDefaults strict{AuthMode::kStrict, "111122223333", "us-east-1"};
    auto expect_error = [&](const SignedRequest& req, ErrorCode code, const std::string& message) {
        auto r = Authenticate(*ids, strict, req, kNow);
        REQUIRE_FALSE(r.ok());
        CHECK(r.status().code() == code);
        CHECK(r.status().message() == message);
    };

    auto alice = Authenticate(*ids, strict, Signed("AKIAALICE", "alicesecret"), kNow);
    REQUIRE(alice.ok());
    CHECK(alice->principal_arn == "arn:aws:iam::111122223333:user/alice");
    CHECK(alice->region == "eu-west-1");

    auto role = Authenticate(*ids, strict, Signed("ASIAAPP", "appsecret", kAmzDate, "tok"), kNow);
    REQUIRE(role.ok());
    CHECK(role->account == "444455556666");
    CHECK(role->principal_arn == "arn:aws:sts::444455556666:assumed-role/app/s1");

    const std::string bad_sig =
        "The request signature we calculated does not match the signature you provided. Check "
        "your AWS Secret Access Key and signing method. Consult the service documentation for "
        "details.";
    expect_error(Signed("AKIAALICE", "wrong"), ErrorCode::kInvalidSignature, bad_sig);
    // A date header that is there but not ISO-8601 basic format gets AWS's own text.
    expect_error(Signed("AKIAALICE", "alicesecret", "2015-08-30T12:36:00Z"),
                 ErrorCode::kIncompleteSignature,
                 "Date must be in ISO-8601 'basic format'. Got '2015-08-30T12:36:00Z'. See "
                 "http://en.wikipedia.org/wiki/ISO_8601");
    expect_error(Signed("AKIANOBODY", "x"), ErrorCode::kUnrecognizedClient,
                 "The security token included in the request is invalid.");
    expect_error(Signed("ASIAAPP", "appsecret"), ErrorCode::kUnrecognizedClient,
                 "The security token included in the request is invalid.");
    expect_error(Signed("AKIAALICE", "alicesecret", "20231114T220000Z"),
                 ErrorCode::kInvalidSignature,
                 "Signature expired: 20231114T220000Z is now earlier than 20231114T220820Z "
                 "(20231114T221320Z - 5 min.)");
    SignedRequest unsigned_req = Signed("AKIAALICE", "alicesecret");
    unsigned_req.headers.pop_back();
    expect_error(unsigned_req, ErrorCode::kMissingAuthenticationToken,
                 "Missing Authentication Token");
    SignedRequest tampered = Signed("AKIAALICE", "alicesecret");
    tampered.body = "{\"Limit\":1}";
    expect_error(tampered, ErrorCode::kInvalidSignature, bad_sig);

    SECTION("open mode identifies without verifying") {
        AuthDefaults open{AuthMode::kOpen, "111122223333", "us-east-1"};
        auto anyone = Authenticate(*ids, open, Signed("AKIANOBODY", "x"), kNow);
        REQUIRE(anyone.ok());
        CHECK(anyone->principal_arn == "arn:aws:iam::111122223333:root");
        auto wrong_secret = Authenticate(*ids, open, Signed("AKIAALICE", "wrong"), kNow);
        REQUIRE(wrong_secret.ok());
        CHECK(wrong_secret->principal_arn == "arn:aws:iam::111122223333:user/alice");
        auto unsigned_request = Authenticate(*ids, open, SignedRequest{}, kNow);
        REQUIRE(unsigned_request.ok());
        CHECK(unsigned_request->region == "us-east-1");
    }
    std::remove("/tmp/kmsd-principals-test.yaml");
}

TEST_CASE("strict mode requires host, the date, the operation and the session to be signed",
          "[server][auth]") {
    auto ids = IdentityStore::Load(PrincipalsFile());
    REQUIRE(ids.ok());
    AuthDefaults strict{AuthMode::kStrict, "111122223333", "us-east-1"};
    AuthDefaults open{AuthMode::kOpen, "111122223333", "us-east-1"};
    auto error_of = [&](const std::string& key, const std::string& secret, const Shape& shape) {
        auto r = Authenticate(*ids, strict, Signed(key, secret, shape), kNow);
        REQUIRE_FALSE(r.ok());
        CHECK(r.status().code() == ErrorCode::kInvalidSignature);
        // Open mode accepts any Authorization header, however little it signs.
        CHECK(Authenticate(*ids, open, Signed(key, secret, shape), kNow).ok());
        return r.status().message();
    };
    Shape shape;
    shape.unsigned_headers = {"host"};
    CHECK(error_of("AKIAALICE", "alicesecret", shape) ==
          "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    shape.unsigned_headers = {"x-amz-date"};
    CHECK(error_of("AKIAALICE", "alicesecret", shape) ==
          "'X-Amz-Date' must be a 'SignedHeader' in the AWS Authorization.");
    shape.unsigned_headers = {"x-amz-target"};
    CHECK(error_of("AKIAALICE", "alicesecret", shape) ==
          "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization.");
    shape.unsigned_headers = {"x-amz-security-token"};
    shape.token = "tok";
    CHECK(error_of("ASIAAPP", "appsecret", shape) ==
          "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.");
    // A key without a session token still may not send one unsigned.
    CHECK(error_of("AKIAALICE", "alicesecret", shape) ==
          "'X-Amz-Security-Token' must be a 'SignedHeader' in the AWS Authorization.");
    // content-type is not required (AWS does not require it; no SDK leaves it out).
    shape = Shape{};
    shape.unsigned_headers = {"content-type"};
    CHECK(Authenticate(*ids, strict, Signed("AKIAALICE", "alicesecret", shape), kNow).ok());

    SECTION("a Date header dates the request when there is no X-Amz-Date, and must be signed") {
        Shape dated;
        dated.date_header = "Date";
        CHECK(Authenticate(*ids, strict, Signed("AKIAALICE", "alicesecret", dated), kNow).ok());
        dated.unsigned_headers = {"date"};
        CHECK(error_of("AKIAALICE", "alicesecret", dated) ==
              "'Date' must be a 'SignedHeader' in the AWS Authorization.");
    }

    SECTION("a signed DescribeKey cannot be replayed as ScheduleKeyDeletion") {
        Shape describe;
        describe.target = "TrentService.DescribeKey";
        SignedRequest replay = Signed("AKIAALICE", "alicesecret", describe);
        REQUIRE(Authenticate(*ids, strict, replay, kNow).ok());
        for (auto& [name, value] : replay.headers)
            if (name == "X-Amz-Target") value = "TrentService.ScheduleKeyDeletion";
        auto r = Authenticate(*ids, strict, replay, kNow);
        REQUIRE_FALSE(r.ok());
        CHECK(r.status().code() == ErrorCode::kInvalidSignature);
        // Refused as a wrong signature (the target is signed), not for some other reason.
        CHECK_THAT(r.status().message(),
                   Catch::StartsWith("The request signature we calculated does not match"));
    }
}

TEST_CASE("strict mode checks the credential scope as AWS words it", "[server][auth]") {
    auto ids = IdentityStore::Load(PrincipalsFile());
    REQUIRE(ids.ok());
    AuthDefaults strict{AuthMode::kStrict, "111122223333", "us-east-1"};
    AuthDefaults open{AuthMode::kOpen, "111122223333", "us-east-1"};
    auto error_of = [&](const Shape& shape, const std::string& key = "AKIAALICE") {
        auto r = Authenticate(*ids, strict, Signed(key, "alicesecret", shape), kNow);
        REQUIRE_FALSE(r.ok());
        CHECK(r.status().code() == ErrorCode::kInvalidSignature);
        CHECK(Authenticate(*ids, open, Signed(key, "alicesecret", shape), kNow).ok());
        return r.status().message();
    };
    Shape shape;
    for (const char* region : {"local", "us-east", "US-EAST-1", "us-east-1a", "a-b-c-d-1", ""}) {
        INFO(region);
        if (!*region) {  // an empty Region is not a credential at all (Incomplete)
            shape.region = region;
            auto r = Authenticate(*ids, strict, Signed("AKIAALICE", "alicesecret", shape), kNow);
            REQUIRE_FALSE(r.ok());
            CHECK(r.status().code() == ErrorCode::kIncompleteSignature);
            CHECK(r.status().message().rfind(
                      "Authorization header requires 'Credential', 'Signature' and "
                      "'SignedHeaders' parameters",
                      0) == 0);
            CHECK(r.status().message().find("Credential=AKIAALICE/20231114//kms/") !=
                  std::string::npos);
            continue;
        }
        shape.region = region;
        CHECK(error_of(shape) ==
              std::string("Credential should be scoped to a valid region, not '") + region + "'. ");
    }
    shape = Shape{};
    shape.service = "s3";
    CHECK(error_of(shape) == "Credential should be scoped to correct service: 'kms'. ");
    shape = Shape{};
    shape.scope_date = "20231113";
    CHECK(error_of(shape) ==
          "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from "
          "HTTP: '20231113' != '20231114', from '20231114T221320Z'.");
    shape = Shape{};
    shape.terminator = "aws5_request";
    CHECK(error_of(shape) ==
          "Credential should be scoped with a valid terminator: 'aws4_request', not "
          "'aws5_request'. ");
    // Every violation at once, in AWS's order; before the access key is looked up.
    shape.region = "local";
    shape.service = "sts";
    shape.scope_date = "20231113";
    CHECK(error_of(shape, "AKIANOBODY") ==
          "Credential should be scoped to a valid region, not 'local'. Credential should be "
          "scoped to correct service: 'kms'. Credential should be scoped with a valid terminator: "
          "'aws4_request', not 'aws5_request'. Date in Credential scope does not match YYYYMMDD "
          "from ISO-8601 version of date from HTTP: '20231113' != '20231114', from "
          "'20231114T221320Z'.");
    // Every Region shape the model allows.
    for (const char* region : {"us-east-1", "us-gov-west-1", "cn-north-1", "eu-central-2"}) {
        INFO(region);
        shape = Shape{};
        shape.region = region;
        auto ok = Authenticate(*ids, strict, Signed("AKIAALICE", "alicesecret", shape), kNow);
        REQUIRE(ok.ok());
        CHECK(ok->region == region);
    }
}

TEST_CASE("Region names match the model's pattern", "[server][auth]") {
    for (const char* good :
         {"us-east-1", "us-gov-west-1", "cn-north-1", "ap-southeast-10", "eu-isoe-west-1", "a-b-0"})
        CHECK(IsRegionName(good));
    for (const char* bad :
         {"", "local", "us-east", "us-east-", "-us-east-1", "us--east-1", "us-east-x1",
          "us-east-1a", "a-b-c-d-1", "US-east-1", "us_east_1", "us-east-1 ", "1-2-3"})
        CHECK_FALSE(IsRegionName(bad));
}

TEST_CASE("session tokens compare by content only", "[server][auth]") {
    CHECK(SessionTokenMatches("tok", "tok"));
    CHECK_FALSE(SessionTokenMatches("", "tok"));
    CHECK_FALSE(SessionTokenMatches("tok", "tok2"));
    CHECK_FALSE(SessionTokenMatches("tik", "tok"));
    CHECK(SessionTokenMatches(std::string(5000, 'x'), std::string(5000, 'x')));
}

TEST_CASE("open mode puts a credential scope Region that is not a Region in the default Region",
          "[server][auth]") {
    auto ids = IdentityStore::Load(PrincipalsFile());
    REQUIRE(ids.ok());
    AuthDefaults open{AuthMode::kOpen, "111122223333", "us-east-1"};
    // The Region goes into ARNs and every reply; bytes that are not UTF-8 used to reach the JSON
    // printer and fail the request with a 500 (found by fuzz_http).
    for (const std::string& region : {std::string("us-\xff-1"), std::string("moon")}) {
        Shape shape;
        shape.region = region;
        auto r = Authenticate(*ids, open, Signed("AKIAALICE", "whatever", shape), kNow);
        REQUIRE(r.ok());
        CHECK(r->region == "us-east-1");
    }
    Shape fine;
    fine.region = "ap-southeast-2";
    auto ok = Authenticate(*ids, open, Signed("AKIAALICE", "whatever", fine), kNow);
    REQUIRE(ok.ok());
    CHECK(ok->region == "ap-southeast-2");
}
