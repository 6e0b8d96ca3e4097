// [server][auth]: SigV4 against AWS's documented example, and strict-mode authentication errors.
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

// A KMS request signed as `key`/`secret` at `amz_date`.
SignedRequest Signed(const std::string& key, const std::string& secret,
                     const std::string& amz_date = kAmzDate, const std::string& token = "") {
    SignedRequest req;
    req.method = "POST";
    req.target = "/";
    req.body = "{}";
    req.headers = {{"Host", "localhost:8080"},
                   {"Content-Type", "application/x-amz-json-1.1"},
                   {"X-Amz-Target", "TrentService.ListKeys"},
                   {"X-Amz-Date", amz_date}};
    std::vector<std::string> names = {"content-type", "host", "x-amz-date", "x-amz-target"};
    if (!token.empty()) {
        req.headers.emplace_back("X-Amz-Security-Token", token);
        names.push_back("x-amz-security-token");
    }
    Credential scope{key, amz_date.substr(0, 8), "eu-west-1", "kms", names, {}};
    const std::string sig = Sign(secret, amz_date, scope, CanonicalRequest(req, names));
    std::string signed_headers;
    for (const auto& n : names) signed_headers += (signed_headers.empty() ? "" : ";") + n;
    req.headers.emplace_back("Authorization", "AWS4-HMAC-SHA256 Credential=" + key + "/" +
                                                  scope.date +
                                                  "/eu-west-1/kms/aws4_request, "
                                                  "SignedHeaders=" +
                                                  signed_headers + ", Signature=" + sig);
    return req;
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
        CHECK(Authenticate(*ids, open, Signed("AKIAALICE", "wrong"), kNow)->principal_arn ==
              "arn:aws:iam::111122223333:user/alice");
        CHECK(Authenticate(*ids, open, SignedRequest{}, kNow)->region == "us-east-1");
    }
    std::remove("/tmp/kmsd-principals-test.yaml");
}
