// [server]: bounds on YAML documents (src/yaml_limits.h) and the from-string loaders of the
// principals and seed files that apply them before any conversion walks the document.
#include "src/yaml_limits.h"

#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>

#include "src/auth/identity.h"
#include "src/seed.h"
#include "support/fakes.h"

using namespace kmsd;

namespace {

std::string Nested(int levels) { return std::string(levels, '[') + std::string(levels, ']'); }

// Each level names the one before ten times: about 10^levels nodes once aliases expand.
std::string Laughs(int levels) {
    std::string out = "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i <= levels; ++i) {
        const std::string prev = "*l" + std::to_string(i - 1);
        out += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [" + prev;
        for (int j = 1; j < 10; ++j) out += ", " + prev;
        out += "]\n";
    }
    return out;
}

const char kReadmePrincipals[] = R"(accounts:
  "111122223333":
    root: {access_key_id: AKIAROOT1111EXAMPLE, secret_access_key: "..."}
    users:
      - name: alice
        access_key_id: AKIAALICE111EXAMPLE
        secret_access_key: "..."
        policies:
          - {Version: "2012-10-17", Statement: [{Effect: Allow, Action: "kms:*", Resource: "*"}]}
)";

}  // namespace

TEST_CASE("CheckYamlLimits bounds nesting and nodes", "[server]") {
    CHECK(CheckYamlLimits(YAML::Load(Nested(kMaxYamlDepth))).ok());
    Status deep = CheckYamlLimits(YAML::Load(Nested(kMaxYamlDepth + 1)));
    CHECK(deep.code() == ErrorCode::kValidation);
    CHECK(deep.message() == "the document nests deeper than 32 levels");
    // Maps count like sequences.
    CHECK_FALSE(
        CheckYamlLimits(YAML::Load(std::string(40, '{') + "a: b" + std::string(40, '}'))).ok());

    CHECK(CheckYamlLimits(YAML::Load(Laughs(3))).ok());    // about 11,000 nodes
    Status bomb = CheckYamlLimits(YAML::Load(Laughs(9)));  // 10^9 nodes if walked
    CHECK(bomb.code() == ErrorCode::kValidation);
    CHECK(bomb.message() ==
          "the document has more than 100000 nodes (aliases count each time they are used)");
    CHECK_FALSE(CheckYamlLimits(YAML::Load("[a, b, c]"), kMaxYamlDepth, 3).ok());
    CHECK(CheckYamlLimits(YAML::Load("[a, b, c]"), kMaxYamlDepth, 4).ok());
}

TEST_CASE("the principals file is bounded before its policies are converted", "[server]") {
    auto ok = auth::IdentityStore::LoadFromString(kReadmePrincipals, "p.yaml");
    REQUIRE(ok.ok());
    REQUIRE(ok->Find("AKIAALICE111EXAMPLE") != nullptr);
    CHECK(ok->Find("AKIAALICE111EXAMPLE")->arn == "arn:aws:iam::111122223333:user/alice");
    CHECK(ok->Find("AKIAALICE111EXAMPLE")->policies->size() == 1);

    // A policy nested 40 levels deep (ToJson recurses once per level).
    std::string deep = kReadmePrincipals;
    deep += "          - {Version: \"2012-10-17\", Statement: " + Nested(40) + "}\n";
    auto refused = auth::IdentityStore::LoadFromString(deep, "p.yaml");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().message() ==
          "principals file p.yaml: the document nests deeper than 32 levels");

    // An alias bomb used as a policy: converting it would build 10^8 JSON values.
    std::string bomb = Laughs(8) + kReadmePrincipals;
    bomb += "          - {Version: \"2012-10-17\", Statement: *l8}\n";
    refused = auth::IdentityStore::LoadFromString(bomb, "p.yaml");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().message().rfind("principals file p.yaml: the document has more than",
                                           0) == 0);
}

TEST_CASE("IdentityStore::Load reads the file through LoadFromString", "[server]") {
    const std::string path = "/tmp/kmsd-yaml-limits-principals.yaml";
    std::ofstream(path) << kReadmePrincipals;
    auto loaded = auth::IdentityStore::Load(path);
    std::remove(path.c_str());
    REQUIRE(loaded.ok());
    CHECK(loaded->Find("AKIAROOT1111EXAMPLE") != nullptr);
    auto missing = auth::IdentityStore::Load("/nonexistent/principals.yaml");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.status().message() ==
          "principals file /nonexistent/principals.yaml: cannot read it");
    std::ofstream(path) << "";
    auto empty = auth::IdentityStore::Load(path);
    std::remove(path.c_str());
    CHECK(empty.ok());
}

TEST_CASE("seed files are bounded before they are applied", "[server]") {
    testing::TestKms kms;
    const std::string seed = R"(Keys:
  Symmetric:
    Aes:
      - Metadata: {KeyId: bc436485-5092-42b8-92a3-0aa8b93536dc}
        BackingKeys: [5cdaead27fe7da2de47945d73cd6d79e36494e73802f3cd3869f1d2cb0b5d7a9]
Aliases:
  - {AliasName: alias/testing, TargetKeyId: bc436485-5092-42b8-92a3-0aa8b93536dc}
)";
    auto report = ApplySeedText(kms.services, seed, "s.yaml", "111122223333", "us-east-1");
    REQUIRE(report.ok());
    CHECK(report->keys == 1);
    CHECK(report->aliases == 1);

    auto deep = ApplySeedText(kms.services, seed + "Extra: " + Nested(33) + "\n", "s.yaml",
                              "111122223333", "us-east-1");
    REQUIRE_FALSE(deep.ok());
    CHECK(deep.status().message() == "seed file s.yaml: the document nests deeper than 32 levels");

    // Aliases expanding to a billion entries (each would be a key) stop at the node budget.
    auto bomb = ApplySeedText(kms.services, Laughs(9) + "Aliases: *l9\n", "s.yaml", "111122223333",
                              "us-east-1");
    REQUIRE_FALSE(bomb.ok());
    CHECK(bomb.status().message().rfind("seed file s.yaml: the document has more than", 0) == 0);

    auto bad =
        ApplySeedText(kms.services, "Keys: [unclosed", "s.yaml", "111122223333", "us-east-1");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().message().rfind("seed file s.yaml: not valid YAML: ", 0) == 0);
}

TEST_CASE("a principals file with a policy that is not UTF-8 is refused, not thrown", "[server]") {
    // Found by fuzz_principals (tests/fuzz/corpus/principals/regress-invalid-utf8-policy).
    const std::string text =
        "accounts:\n  \"111122223333\":\n    users:\n      - name: writer\n        policies:\n"
        "          - {Statement: [{Effect: Allow, Action: \"kms:\xff\", Resource: \"*\"}]}\n";
    auto refused = auth::IdentityStore::LoadFromString(text, "p.yaml");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.status().message() ==
          "identity policy of arn:aws:iam::111122223333:user/writer: the policy is not valid "
          "UTF-8");
}
