// [api][authz]: the authorization decision table, then authorization through the dispatcher:
// key policies, identity policies, grants (tokens, constraints, quota), cross-account ARNs.
#include <catch2/catch.hpp>

#include "api/authz/decision.h"
#include "support/fakes.h"

using namespace kmsd;
using namespace kmsd::api::authz;
using kmsd::testing::TestKms;

namespace {

// One row: key policy (D deny, P principal, A account, N nothing), identity (D, Y allow, N
// nothing, R root), grant, same account, IAM-only → decision.
struct Row {
    char key_policy;
    char identity;
    bool grant;
    bool same_account;
    bool iam_only;
    Decision expected;
};

Evaluation Eval(char c) {
    Evaluation e;
    e.deny = c == 'D';
    e.allow_principal = c == 'P' || c == 'Y';
    e.allow_account = c == 'A';
    return e;
}

constexpr Decision kAllow = Decision::kAllow;
constexpr Decision kDenyRes = Decision::kExplicitDenyResource;
constexpr Decision kDenyId = Decision::kExplicitDenyIdentity;
constexpr Decision kNoRes = Decision::kNoResourceAllow;
constexpr Decision kNoId = Decision::kNoIdentityAllow;

const Row kRows[] = {
    // same account
    {'P', 'N', false, true, false, kAllow},    // key policy names the principal: enough
    {'P', 'D', false, true, false, kDenyId},   // ... but an identity deny wins
    {'D', 'Y', false, true, false, kDenyRes},  // key policy deny wins over everything
    {'D', 'R', true, true, false, kDenyRes},   // even for root with a grant
    {'A', 'Y', false, true, false, kAllow},    // account delegation + identity allow
    {'A', 'R', false, true, false, kAllow},    // root is never limited by IAM
    {'A', 'N', false, true, false, kNoId},     // delegation, identity says nothing
    {'A', 'N', true, true, false, kAllow},     // ... a grant suffices
    {'N', 'Y', false, true, false, kNoRes},    // identity alone is not enough for a key
    {'N', 'R', false, true, false, kNoRes},    // not even for root
    {'N', 'N', true, true, false, kAllow},     // a grant alone is enough in-account
    {'N', 'D', true, true, false, kDenyId},    // grants never beat a deny
    {'N', 'N', false, true, false, kNoRes},
    // cross account: both sides must allow
    {'A', 'Y', false, false, false, kAllow},
    {'A', 'R', false, false, false, kAllow},
    {'A', 'N', false, false, false, kNoId},
    {'P', 'N', false, false, false, kNoId},
    {'P', 'Y', false, false, false, kAllow},
    {'N', 'Y', false, false, false, kNoRes},
    {'N', 'Y', true, false, false, kAllow},
    {'N', 'N', true, false, false, kNoId},
    {'D', 'R', false, false, false, kDenyRes},
    // IAM-only actions: identity policies alone
    {'N', 'Y', false, true, true, kAllow},
    {'N', 'R', false, true, true, kAllow},
    {'N', 'N', false, true, true, kNoId},
    {'N', 'D', false, true, true, kDenyId},
};

std::string Quote(const std::string& s) { return api::ToStd(api::Json(api::ToSecure(s)).dump()); }

}  // namespace

TEST_CASE("authorization decision table", "[api][authz]") {
    for (const auto& r : kRows) {
        DecisionInputs in{};
        in.key_policy = Eval(r.key_policy);
        in.identity = r.identity == 'R' ? Evaluation{} : Eval(r.identity);
        in.identity_unrestricted = r.identity == 'R';
        in.grant_allows = r.grant;
        in.same_account = r.same_account;
        in.iam_only = r.iam_only;
        INFO("row " << r.key_policy << r.identity << r.grant << r.same_account << r.iam_only);
        CHECK(Decide(in) == r.expected);
    }
}

TEST_CASE("denial messages are AWS's", "[api][authz]") {
    const std::string head =
        "User: arn:aws:iam::1:user/u is not authorized to perform: kms:Encrypt on resource: K ";
    CHECK(DeniedMessage(kNoRes, "arn:aws:iam::1:user/u", "kms:Encrypt", "K") ==
          head + "because no resource-based policy allows the kms:Encrypt action");
    CHECK(DeniedMessage(kNoId, "arn:aws:iam::1:user/u", "kms:Encrypt", "K") ==
          head + "because no identity-based policy allows the kms:Encrypt action");
    CHECK(DeniedMessage(kDenyRes, "arn:aws:iam::1:user/u", "kms:Encrypt", "K") ==
          head + "with an explicit deny in a resource-based policy");
    CHECK(DeniedMessage(kDenyId, "arn:aws:iam::1:user/u", "kms:Encrypt", "K") ==
          head + "with an explicit deny in an identity-based policy");
}

namespace {

constexpr char kAccount[] = "111122223333";
constexpr char kOther[] = "444455556666";

std::shared_ptr<const std::vector<Policy>> Identity(const std::string& json) {
    auto v = std::make_shared<std::vector<Policy>>();
    if (!json.empty()) v->push_back(Policy::Parse(json, false).value());
    return v;
}

const char* kAllowAllIdentity =
    R"({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]})";

void BeUser(TestKms& kms, const std::string& account, const std::string& name,
            const std::string& identity) {
    kms.caller.account = account;
    kms.caller.principal_arn = "arn:aws:iam::" + account + ":user/" + name;
    kms.caller.identity_policies = Identity(identity);
}

void BeRoot(TestKms& kms, const std::string& account = kAccount) {
    kms.caller.account = account;
    kms.caller.principal_arn = "arn:aws:iam::" + account + ":root";
    kms.caller.identity_policies = nullptr;
}

std::string KeyArn(const std::string& id, const std::string& account = kAccount) {
    return "arn:aws:kms:us-east-1:" + account + ":key/" + id;
}

}  // namespace

TEST_CASE("identity policies and key policies decide together", "[api][authz]") {
    TestKms kms;
    const std::string id = kms.NewKey();
    const std::string enc = R"({"KeyId":")" + id + R"(","Plaintext":"AQID"})";

    BeUser(kms, kAccount, "nobody", "");
    auto r = kms.Call("Encrypt", enc);
    CHECK(r.type() == "AccessDeniedException");
    CHECK(r.message() ==
          "User: arn:aws:iam::111122223333:user/nobody is not authorized to perform: "
          "kms:Encrypt on resource: " +
              KeyArn(id) + " because no identity-based policy allows the kms:Encrypt action");
    r = kms.Call("CreateKey", "{}");
    CHECK(r.message() ==
          "User: arn:aws:iam::111122223333:user/nobody is not authorized to perform: "
          "kms:CreateKey on resource: * because no identity-based policy allows "
          "the kms:CreateKey action");

    BeUser(kms, kAccount, "alice", kAllowAllIdentity);
    CHECK(kms.Call("Encrypt", enc).status == 200);
    CHECK(kms.Call("CreateKey", "{}").status == 200);

    // An identity policy that denies Decrypt.
    BeUser(kms, kAccount, "denied",
           R"({"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},)"
           R"({"Effect":"Deny","Action":"kms:Decrypt","Resource":"*"}]})");
    auto blob = kms.Call("Encrypt", enc).str("CiphertextBlob");
    r = kms.Call("Decrypt", R"({"CiphertextBlob":")" + blob + R"("})");
    // Without KeyId the denial does not name the key the ciphertext refers to.
    CHECK(r.message() ==
          "User: arn:aws:iam::111122223333:user/denied is not authorized to perform: "
          "kms:Decrypt on the resource associated with this ciphertext because the resource does "
          "not exist in this Region, no resource-based policies allow access, or a "
          "resource-based policy explicitly denies access");
    r = kms.Call("Decrypt", R"({"KeyId":")" + id + R"(","CiphertextBlob":")" + blob + R"("})");
    CHECK(r.message() ==
          "User: arn:aws:iam::111122223333:user/denied is not authorized to perform: "
          "kms:Decrypt on resource: " +
              KeyArn(id) + " with an explicit deny in an identity-based policy");
}

TEST_CASE("conditions on the encryption context, alias and caller", "[api][authz]") {
    TestKms kms;
    const std::string policy =
        R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},)"
        R"("Action":["kms:Describe*","kms:Put*","kms:Get*","kms:Create*","kms:List*"],"Resource":"*"},)"
        R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},)"
        R"("Action":["kms:Encrypt","kms:Decrypt"],"Resource":"*",)"
        R"("Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"t1"}}},)"
        R"({"Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:GenerateDataKey","Resource":"*",)"
        R"("Condition":{"StringEquals":{"kms:RequestAlias":"alias/ok","kms:CallerAccount":"111122223333"}}}]})";
    const std::string id = kms.NewKey(R"({"Policy":)" + Quote(policy) + "}");
    REQUIRE(kms.Call("CreateAlias", R"({"AliasName":"alias/ok","TargetKeyId":")" + id + R"("})")
                .status == 200);
    REQUIRE(kms.Call("CreateAlias", R"({"AliasName":"alias/no","TargetKeyId":")" + id + R"("})")
                .status == 200);

    kms.caller.principal_arn = "arn:aws:sts::111122223333:assumed-role/app/s1";
    kms.caller.identity_policies = Identity("");
    auto with = [&](const std::string& ctx) {
        return kms.Call("Encrypt", R"({"KeyId":")" + id +
                                       R"(","Plaintext":"AQID","EncryptionContext":)" + ctx + "}");
    };
    auto ok = with(R"({"tenant":"t1"})");
    REQUIRE(ok.status == 200);
    CHECK(with(R"({"tenant":"t2"})").type() == "AccessDeniedException");
    auto none = with("{}");
    CHECK(none.message() ==
          "User: arn:aws:sts::111122223333:assumed-role/app/s1 is not authorized to perform: "
          "kms:Encrypt on resource: " +
              KeyArn(id) + " because no resource-based policy allows the kms:Encrypt action");
    CHECK(kms.Call("Decrypt", R"({"CiphertextBlob":")" + ok.str("CiphertextBlob") +
                                  R"(","EncryptionContext":{"tenant":"t1"}})")
              .status == 200);
    // kms:RequestAlias: the alias the request used.
    CHECK(kms.Call("GenerateDataKey", R"({"KeyId":"alias/ok","KeySpec":"AES_256"})").status == 200);
    CHECK(kms.Call("GenerateDataKey", R"({"KeyId":"alias/no","KeySpec":"AES_256"})").type() ==
          "AccessDeniedException");
    CHECK(kms.Call("GenerateDataKey", R"({"KeyId":")" + id + R"(","KeySpec":"AES_256"})").type() ==
          "AccessDeniedException");
}

TEST_CASE("the lockout check uses the caller's real permissions; bypass skips it", "[api][authz]") {
    TestKms kms;
    const std::string id = kms.NewKey();
    const std::string only_encrypt =
        R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},)"
        R"("Action":"kms:Encrypt","Resource":"*"}]})";
    auto put = [&](bool bypass) {
        return kms.Call("PutKeyPolicy",
                        R"({"KeyId":")" + id + R"(","Policy":)" + Quote(only_encrypt) +
                            (bypass ? R"(,"BypassPolicyLockoutSafetyCheck":true})" : "}"));
    };
    CHECK(put(false).message() ==
          "The new key policy will not allow you to update the key policy in the future.");
    CHECK(put(true).status == 200);
    CHECK(kms.Call("GetKeyPolicy", R"({"KeyId":")" + id + R"("})").type() ==
          "AccessDeniedException");
}

TEST_CASE("strict mode: policies may only name principals that exist", "[api][authz]") {
    TestKms kms;
    kms.services.principal_exists = [](const std::string& p) {
        return p == "*" || p == "111122223333" || p == "arn:aws:iam::111122223333:root" ||
               p == "arn:aws:iam::111122223333:user/alice";
    };
    auto create = [&](const std::string& principal) {
        return kms.Call(
            "CreateKey",
            R"({"Policy":)" +
                Quote(R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":")" + principal +
                      R"("},"Action":"kms:*","Resource":"*"},)" +
                      R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},)" +
                      R"("Action":"kms:*","Resource":"*"}]})") +
                "}");
    };
    CHECK(create("arn:aws:iam::111122223333:user/alice").status == 200);
    CHECK(create("111122223333").status == 200);
    auto ghost = create("arn:aws:iam::111122223333:user/ghost");
    CHECK(ghost.type() == "MalformedPolicyDocumentException");
    CHECK(ghost.message() == "Policy contains a statement with one or more invalid principals.");
    CHECK(create("999999999999").type() == "MalformedPolicyDocumentException");
    auto grant = kms.Call(
        "CreateGrant",
        R"({"KeyId":")" + kms.NewKey() +
            R"(","GranteePrincipal":"arn:aws:iam::111122223333:user/ghost","Operations":["Decrypt"]})");
    CHECK(grant.type() == "InvalidArnException");
}

TEST_CASE("grants: operations, constraints, tokens, retire and revoke", "[api][authz]") {
    TestKms kms;
    const std::string id = kms.NewKey();
    const std::string bob = "arn:aws:iam::111122223333:user/bob";
    auto created =
        kms.Call("CreateGrant",
                 R"({"KeyId":")" + id + R"(","GranteePrincipal":")" + bob +
                     R"(","RetiringPrincipal":"arn:aws:iam::111122223333:user/ret","Name":"g1",)"
                     R"("Operations":["Decrypt","GenerateDataKey"],)"
                     R"("Constraints":{"EncryptionContextSubset":{"tenant":"t1"}}})");
    REQUIRE(created.status == 200);
    const std::string grant_id = created.str("GrantId");
    const std::string token = created.str("GrantToken");
    CHECK(grant_id.size() == 64);

    // Same name, same parameters: the same grant, a fresh token.
    auto again =
        kms.Call("CreateGrant",
                 R"({"KeyId":")" + id + R"(","GranteePrincipal":")" + bob +
                     R"(","RetiringPrincipal":"arn:aws:iam::111122223333:user/ret","Name":"g1",)"
                     R"("Operations":["GenerateDataKey","Decrypt"],)"
                     R"("Constraints":{"EncryptionContextSubset":{"tenant":"t1"}}})");
    CHECK(again.str("GrantId") == grant_id);
    CHECK(again.str("GrantToken") != token);

    auto listed = kms.Call("ListGrants", R"({"KeyId":")" + id + R"("})");
    REQUIRE(listed.json["Grants"].size() == 1);
    const auto& entry = listed.json["Grants"][0];
    CHECK(entry["KeyId"] == KeyArn(id));
    CHECK(entry["IssuingAccount"] == "arn:aws:iam::111122223333:root");
    CHECK(entry["Constraints"]["EncryptionContextSubset"]["tenant"] == "t1");
    CHECK(entry["Name"] == "g1");

    BeUser(kms, kAccount, "bob", "");
    auto gdk = [&](const std::string& ctx, const std::string& tokens) {
        return kms.Call("GenerateDataKey", R"({"KeyId":")" + id +
                                               R"(","KeySpec":"AES_256","EncryptionContext":)" +
                                               ctx + tokens + "}");
    };
    CHECK(gdk(R"({"tenant":"t1","x":"y"})", R"(,"GrantTokens":[")" + token + R"("])").status ==
          200);
    CHECK(gdk(R"({"tenant":"t1"})", "").status == 200);
    CHECK(gdk(R"({"tenant":"t2"})", "").type() == "AccessDeniedException");
    CHECK(gdk(R"({"tenant":"t1"})", R"(,"GrantTokens":["garbage"])").type() ==
          "InvalidGrantTokenException");
    std::string tampered = token;
    tampered[10] = tampered[10] == 'A' ? 'B' : 'A';
    CHECK(gdk(R"({"tenant":"t1"})", R"(,"GrantTokens":[")" + tampered + R"("])").type() ==
          "InvalidGrantTokenException");
    CHECK(kms.Call("Encrypt", R"({"KeyId":")" + id +
                                  R"(","Plaintext":"AQID","EncryptionContext":{"tenant":"t1"}})")
              .type() == "AccessDeniedException");
    // bob cannot retire: the grant does not include RetireGrant.
    CHECK(kms.Call("RetireGrant", R"({"GrantToken":")" + token + R"("})").type() ==
          "AccessDeniedException");

    BeUser(kms, kAccount, "ret", "");
    CHECK(kms.Call("RetireGrant", R"({"GrantToken":")" + token + R"("})").status == 200);
    CHECK(kms.Call("RetireGrant", R"({"GrantToken":")" + token + R"("})").type() ==
          "InvalidGrantIdException");
    BeUser(kms, kAccount, "bob", "");
    CHECK(gdk(R"({"tenant":"t1"})", "").type() == "AccessDeniedException");

    // Revoke by the key's administrators.
    BeRoot(kms);
    auto second = kms.Call("CreateGrant", R"({"KeyId":")" + id + R"(","GranteePrincipal":")" + bob +
                                              R"(","Operations":["DescribeKey"]})");
    BeUser(kms, kAccount, "bob", "");
    CHECK(kms.Call("DescribeKey", R"({"KeyId":")" + id + R"("})").status == 200);
    BeRoot(kms);
    CHECK(kms.Call("RevokeGrant",
                   R"({"KeyId":")" + id + R"(","GrantId":")" + second.str("GrantId") + R"("})")
              .status == 200);
    CHECK(kms.Call("RevokeGrant",
                   R"({"KeyId":")" + id + R"(","GrantId":")" + second.str("GrantId") + R"("})")
              .type() == "InvalidGrantIdException");
    BeUser(kms, kAccount, "bob", "");
    CHECK(kms.Call("DescribeKey", R"({"KeyId":")" + id + R"("})").type() ==
          "AccessDeniedException");
}

TEST_CASE("grant input limits", "[api][authz]") {
    TestKms kms;
    const std::string id = kms.NewKey();
    auto grant = [&](const std::string& rest) {
        return kms.Call("CreateGrant",
                        R"({"KeyId":")" + id +
                            R"(","GranteePrincipal":"arn:aws:iam::111122223333:user/b",)" + rest +
                            "}");
    };
    std::string nine = "{";
    for (int i = 0; i < 9; ++i) nine += (i ? "," : "") + Quote("k" + std::to_string(i)) + ":\"v\"";
    nine += "}";
    CHECK(
        grant(R"("Operations":["Decrypt"],"Constraints":{"EncryptionContextEquals":)" + nine + "}")
            .type() == "ValidationException");
    CHECK(grant(R"("Operations":["Decrypt"],"Constraints":{"EncryptionContextEquals":{"k":")" +
                std::string(385, 'v') + R"("}})")
              .type() == "ValidationException");
    CHECK(grant(R"("Operations":["Decrypt"],"Constraints":{"EncryptionContextEquals":{"k":")" +
                std::string(384, 'v') + R"("}})")
              .status == 200);
    CHECK(grant(R"("Operations":["CreateGrant"])").message() ==
          "Grants must not contain only the CreateGrant operation.");
    CHECK(grant(R"("Operations":["Sign"])").type() == "ValidationException");
    auto alias = kms.Call(
        "CreateGrant",
        R"({"KeyId":"alias/x","GranteePrincipal":"arn:aws:iam::111122223333:user/b","Operations":["Decrypt"]})");
    CHECK(alias.type() == "InvalidArnException");
    CHECK(alias.message() == "Key Aliases are not supported for this operation.");
}

TEST_CASE("50,000 grants on one key; the next is over the quota", "[api][authz]") {
    TestKms kms;
    const std::string id = kms.NewKey();
    const std::string other = kms.NewKey();
    for (int i = 0; i < 50000; ++i) {
        auto r = kms.Call("CreateGrant",
                          R"({"KeyId":")" + id +
                              R"(","GranteePrincipal":"arn:aws:iam::111122223333:user/u)" +
                              std::to_string(i) + R"(","Operations":["Decrypt"]})");
        if (r.status != 200) FAIL("grant " << i << ": " << r.body);
    }
    auto over = kms.Call(
        "CreateGrant",
        R"({"KeyId":")" + id +
            R"(","GranteePrincipal":"arn:aws:iam::111122223333:user/x","Operations":["Decrypt"]})");
    CHECK(over.type() == "LimitExceededException");
    CHECK(kms.Call("Encrypt", R"({"KeyId":")" + other + R"(","Plaintext":"AQID"})").status == 200);
    CHECK(
        kms.Call("ListGrants", R"({"KeyId":")" + id + R"(","Limit":100})").json["Grants"].size() ==
        100);
}

TEST_CASE("cross-account: key ARNs of other accounts, never aliases", "[api][authz]") {
    TestKms kms;
    const std::string policy =
        R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},)"
        R"("Action":"kms:*","Resource":"*"},{"Effect":"Allow","Principal":{"AWS":"444455556666"},)"
        R"("Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}]})";
    const std::string shared = kms.NewKey(R"({"Policy":)" + Quote(policy) + "}");
    const std::string private_key = kms.NewKey();
    REQUIRE(kms.Call("CreateAlias", R"({"AliasName":"alias/s","TargetKeyId":")" + shared + R"("})")
                .status == 200);

    BeUser(kms, kOther, "bob", kAllowAllIdentity);
    auto enc = kms.Call("Encrypt", R"({"KeyId":")" + KeyArn(shared) + R"(","Plaintext":"AQID"})");
    REQUIRE(enc.status == 200);
    CHECK(enc.str("KeyId") == KeyArn(shared));
    CHECK(kms.Call("Decrypt", R"({"CiphertextBlob":")" + enc.str("CiphertextBlob") + R"("})")
              .status == 200);
    CHECK(kms.Call("DescribeKey", R"({"KeyId":")" + KeyArn(shared) + R"("})").status == 200);
    // Not in the key policy for B.
    auto gdk =
        kms.Call("GenerateDataKey", R"({"KeyId":")" + KeyArn(shared) + R"(","KeySpec":"AES_256"})");
    CHECK(gdk.message() ==
          "User: arn:aws:iam::444455556666:user/bob is not authorized to perform: "
          "kms:GenerateDataKey on resource: " +
              KeyArn(shared) +
              " because no resource-based policy allows the kms:GenerateDataKey "
              "action");
    CHECK(kms.Call("Encrypt", R"({"KeyId":")" + KeyArn(private_key) + R"(","Plaintext":"AQID"})")
              .type() == "AccessDeniedException");
    // Aliases never cross accounts; nor do operations AWS keeps in-account.
    // An alias ARN names the other account's key (AWS allows key ARNs and alias ARNs there).
    CHECK(kms.Call("Encrypt",
                   R"({"KeyId":"arn:aws:kms:us-east-1:111122223333:alias/s","Plaintext":"AQID"})")
              .str("KeyId") == KeyArn(shared));
    CHECK(kms.Call("Encrypt",
                   R"({"KeyId":"arn:aws:kms:us-east-1:111122223333:alias/t","Plaintext":"AQID"})")
              .message() == "Alias arn:aws:kms:us-east-1:111122223333:alias/t is not found.");
    CHECK(kms.Call("Encrypt", R"({"KeyId":"alias/s","Plaintext":"AQID"})").message() ==
          "Alias arn:aws:kms:us-east-1:444455556666:alias/s is not found.");
    CHECK(kms.Call("DisableKey", R"({"KeyId":")" + KeyArn(shared) + R"("})").message() ==
          "Key '" + KeyArn(shared) + "' does not exist");
    // B's user without identity policies: the key policy alone is not enough across accounts.
    BeUser(kms, kOther, "carol", "");
    CHECK(kms.Call("Encrypt", R"({"KeyId":")" + KeyArn(shared) + R"(","Plaintext":"AQID"})")
              .message() ==
          "User: arn:aws:iam::444455556666:user/carol is not authorized to "
          "perform: kms:Encrypt on resource: " +
              KeyArn(shared) + " because no identity-based policy allows the kms:Encrypt action");
    // B's root is not limited by IAM.
    BeRoot(kms, kOther);
    CHECK(
        kms.Call("Encrypt", R"({"KeyId":")" + KeyArn(shared) + R"(","Plaintext":"AQID"})").status ==
        200);
}

TEST_CASE("a grant with CreateGrant only creates narrower grants", "[api][authz]") {
    TestKms kms;
    const std::string id = kms.NewKey();
    auto parent = kms.Call("CreateGrant",
                           R"({"KeyId":")" + id +
                               R"(","GranteePrincipal":"arn:aws:iam::111122223333:user/bob",)"
                               R"("Operations":["Decrypt","CreateGrant"],)"
                               R"("Constraints":{"EncryptionContextSubset":{"tenant":"t1"}}})");
    REQUIRE(parent.status == 200);
    BeUser(kms, kAccount, "bob", "");
    auto child = [&](const std::string& ops, const std::string& constraints) {
        return kms.Call("CreateGrant",
                        R"({"KeyId":")" + id +
                            R"(","GranteePrincipal":"arn:aws:iam::111122223333:user/carol",)"
                            R"("Operations":)" +
                            ops + constraints + "}");
    };
    const std::string t1 = R"(,"Constraints":{"EncryptionContextSubset":{"tenant":"t1","x":"y"}})";
    CHECK(child(R"(["Decrypt"])", t1).status == 200);
    CHECK(child(R"(["Decrypt"])", R"(,"Constraints":{"EncryptionContextEquals":{"tenant":"t1"}})")
              .status == 200);
    // More operations, a looser or missing constraint: denied.
    CHECK(child(R"(["Decrypt","Encrypt"])", t1).type() == "AccessDeniedException");
    CHECK(child(R"(["Decrypt"])", "").type() == "AccessDeniedException");
    CHECK(child(R"(["Decrypt"])", R"(,"Constraints":{"EncryptionContextSubset":{"tenant":"t2"}})")
              .type() == "AccessDeniedException");
}

TEST_CASE("retiring: only the grant itself, and listing stays in the caller's account",
          "[api][authz]") {
    TestKms kms;
    const std::string id = kms.NewKey();
    auto mine =
        kms.Call("CreateGrant", R"({"KeyId":")" + id +
                                    R"(","GranteePrincipal":"arn:aws:iam::111122223333:user/bob",)"
                                    R"("Operations":["Decrypt","RetireGrant"]})");
    auto other = kms.Call("CreateGrant",
                          R"({"KeyId":")" + id +
                              R"(","GranteePrincipal":"arn:aws:iam::111122223333:user/carol",)"
                              R"("RetiringPrincipal":"arn:aws:iam::444455556666:user/x",)"
                              R"("Operations":["Decrypt"]})");
    BeUser(kms, kAccount, "bob", "");
    // bob's grant lets him retire his grant, not carol's.
    CHECK(kms.Call("RetireGrant", R"({"KeyId":")" + KeyArn(id) + R"(","GrantId":")" +
                                      other.str("GrantId") + R"("})")
              .type() == "AccessDeniedException");
    CHECK(kms.Call("RetireGrant", R"({"KeyId":")" + KeyArn(id) + R"(","GrantId":")" +
                                      mine.str("GrantId") + R"("})")
              .status == 200);
    // Account B lists retirable grants for its user: the grant is on A's key, so not listed.
    BeUser(kms, kOther, "x", kAllowAllIdentity);
    auto listed = kms.Call("ListRetirableGrants",
                           R"({"RetiringPrincipal":"arn:aws:iam::444455556666:user/x"})");
    REQUIRE(listed.status == 200);
    CHECK(listed.json.at("Grants").empty());
}

TEST_CASE("condition keys come only from the operation's own input", "[api][authz]") {
    TestKms kms;
    const std::string policy =
        R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},)"
        R"("Action":"kms:*","Resource":"*"},)"
        R"({"Effect":"Deny","Principal":"*","Action":"kms:*","Resource":"*",)"
        R"("Condition":{"StringNotEquals":{"kms:EncryptionContext:tenant":"t1"},)"
        R"("Null":{"kms:EncryptionContext:tenant":"false"}}},)"
        R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/ops"},)"
        R"("Action":"kms:*","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"t1"}}},)"
        R"({"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:role/app"},)"
        R"("Action":"kms:DescribeKey","Resource":"*","Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:role/app"}}}]})";
    const std::string id = kms.NewKey(R"({"Policy":)" + Quote(policy) + "}");
    BeUser(kms, kAccount, "ops", "");
    // An EncryptionContext member in ScheduleKeyDeletion is not input: the condition is not met.
    CHECK(kms.Call("ScheduleKeyDeletion",
                   R"({"KeyId":")" + id + R"(","EncryptionContext":{"tenant":"t1"}})")
              .type() == "AccessDeniedException");
    CHECK(kms.Call("Encrypt", R"({"KeyId":")" + id +
                                  R"(","Plaintext":"AQID","EncryptionContext":{"tenant":"t1"}})")
              .status == 200);
    // Members of the wrong type outside the operation's model are never read (no 500).
    CHECK(kms.Call("ScheduleKeyDeletion",
                   R"({"KeyId":")" + id + R"(","GrantTokens":[1],"Tags":[1],"Operations":[1]})")
              .type() == "AccessDeniedException");
    // aws:PrincipalArn of a role session is the role's ARN.
    kms.caller.principal_arn = "arn:aws:sts::111122223333:assumed-role/app/s";
    CHECK(kms.Call("DescribeKey", R"({"KeyId":")" + id + R"("})").status == 200);
}

TEST_CASE("kms:ReEncryptOnSameKey", "[api][authz]") {
    TestKms kms;
    const std::string policy =
        R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:root"},)"
        R"("Action":"kms:*","Resource":"*"},)"
        R"({"Effect":"Deny","Principal":"*","Action":"kms:ReEncrypt*","Resource":"*",)"
        R"("Condition":{"Bool":{"kms:ReEncryptOnSameKey":"true"}}}]})";
    const std::string a = kms.NewKey(R"({"Policy":)" + Quote(policy) + "}");
    const std::string b = kms.NewKey(R"({"Policy":)" + Quote(policy) + "}");
    const std::string blob =
        kms.Call("Encrypt", R"({"KeyId":")" + a + R"(","Plaintext":"AQID"})").str("CiphertextBlob");
    auto re = [&](const std::string& dest) {
        return kms.Call("ReEncrypt", R"({"CiphertextBlob":")" + blob + R"(","DestinationKeyId":")" +
                                         dest + R"("})");
    };
    CHECK(re(b).status == 200);
    CHECK(re(a).type() == "AccessDeniedException");
}

TEST_CASE("a grant to an account delegates to that account's identity policies", "[api][authz]") {
    DecisionInputs in{};
    in.grant_allows_account = true;
    CHECK(Decide(in) == kNoId);  // same account, identity silent
    in.identity_unrestricted = true;
    CHECK(Decide(in) == kAllow);  // the root

    TestKms kms;
    const std::string id = kms.NewKey();
    REQUIRE(kms.Call("CreateGrant", R"({"KeyId":")" + id +
                                        R"(","GranteePrincipal":"arn:aws:iam::444455556666:root",)"
                                        R"("Operations":["Encrypt"]})")
                .status == 200);
    const std::string enc = R"({"KeyId":")" + KeyArn(id) + R"(","Plaintext":"AQID"})";
    BeUser(kms, kOther, "bob", kAllowAllIdentity);
    CHECK(kms.Call("Encrypt", enc).status == 200);
    BeUser(kms, kOther, "carol", "");
    CHECK(kms.Call("Encrypt", enc).message() ==
          "User: arn:aws:iam::444455556666:user/carol is not authorized to perform: kms:Encrypt "
          "on resource: " +
              KeyArn(id) + " because no identity-based policy allows the kms:Encrypt action");
}
