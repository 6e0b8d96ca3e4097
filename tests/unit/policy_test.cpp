// [api][authz]: the policy evaluator, table-tested: one statement, one request, one outcome.
#include "api/authz/policy.h"

#include <catch2/catch.hpp>

#include "api/policy_format.h"

using namespace kmsd;
using namespace kmsd::api::authz;

namespace {

constexpr char kKey[] =
    "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";
constexpr char kAlice[] = "arn:aws:iam::111122223333:user/alice";

// Outcome letters: D deny, P allows the principal, A allows the account (delegation), N nothing.
struct Case {
    const char* name;
    const char* statement;  // JSON of one statement; Action/Resource/Principal default below
    const char* action;
    std::vector<std::pair<std::string, std::vector<std::string>>> keys;
    char expected;
    const char* principal = kAlice;
};

const char* kAllowAll =
    R"("Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"},"Action":"kms:*","Resource":"*")";

std::string Stmt(const char* body) {
    std::string s = body;
    if (s.find("\"Effect\"") == std::string::npos) s = std::string(R"("Effect":"Allow",)") + s;
    if (s.find("Principal\"") == std::string::npos)
        s += R"(,"Principal":{"AWS":"arn:aws:iam::111122223333:user/alice"})";
    // Match whole member names, not condition keys that end alike (kms:GrantIsForAWSResource).
    if (s.find("\"Action\"") == std::string::npos && s.find("\"NotAction\"") == std::string::npos)
        s += R"(,"Action":"kms:*")";
    if (s.find("\"Resource\"") == std::string::npos &&
        s.find("\"NotResource\"") == std::string::npos)
        s += R"(,"Resource":"*")";
    return "{" + s + "}";
}

char Outcome(const Evaluation& e) {
    if (e.deny) return 'D';
    if (e.allow_principal) return 'P';
    if (e.allow_account) return 'A';
    return 'N';
}

using KV = std::vector<std::pair<std::string, std::vector<std::string>>>;
const KV kTenantT1 = {{"kms:encryptioncontext:tenant", {"t1"}},
                      {"kms:encryptioncontextkeys", {"tenant"}}};

}  // namespace

TEST_CASE("policy evaluation table", "[api][authz]") {
    const std::vector<Case> cases = {
        // Effect, principal, action, resource
        {"allow all to the principal", kAllowAll, "kms:Encrypt", {}, 'P'},
        {"deny wins", R"("Effect":"Deny")", "kms:Encrypt", {}, 'D'},
        {"principal star", R"("Principal":"*")", "kms:Encrypt", {}, 'P'},
        {"principal AWS star", R"("Principal":{"AWS":"*"})", "kms:Encrypt", {}, 'P'},
        {"account root delegates",
         R"("Principal":{"AWS":"arn:aws:iam::111122223333:root"})",
         "kms:Encrypt",
         {},
         'A'},
        {"account id delegates", R"("Principal":{"AWS":"111122223333"})", "kms:Encrypt", {}, 'A'},
        {"other account",
         R"("Principal":{"AWS":"arn:aws:iam::444455556666:root"})",
         "kms:Encrypt",
         {},
         'N'},
        {"other user",
         R"("Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"})",
         "kms:Encrypt",
         {},
         'N'},
        {"principal list",
         R"("Principal":{"AWS":["arn:aws:iam::111122223333:user/bob","arn:aws:iam::111122223333:user/alice"]})",
         "kms:Encrypt",
         {},
         'P'},
        {"service principal never matches a user",
         R"("Principal":{"Service":"s3.amazonaws.com"})",
         "kms:Encrypt",
         {},
         'N'},
        {"role covers its sessions",
         R"("Principal":{"AWS":"arn:aws:iam::111122223333:role/app"})",
         "kms:Encrypt",
         {},
         'P',
         "arn:aws:sts::111122223333:assumed-role/app/s1"},
        {"role does not cover another role",
         R"("Principal":{"AWS":"arn:aws:iam::111122223333:role/app"})",
         "kms:Encrypt",
         {},
         'N',
         "arn:aws:sts::111122223333:assumed-role/other/s1"},
        {"assumed-role ARN exactly",
         R"("Principal":{"AWS":"arn:aws:sts::111122223333:assumed-role/app/s1"})",
         "kms:Encrypt",
         {},
         'P',
         "arn:aws:sts::111122223333:assumed-role/app/s1"},
        {"role ARN with a path covers the role's sessions",
         R"("Principal":{"AWS":"arn:aws:iam::111122223333:role/team/app"})",
         "kms:Encrypt",
         {},
         'P',
         "arn:aws:sts::111122223333:assumed-role/app/s1"},
        {"role ARN of another account does not cover a same-named session",
         R"("Principal":{"AWS":"arn:aws:iam::444455556666:role/app"})",
         "kms:Encrypt",
         {},
         'N',
         "arn:aws:sts::111122223333:assumed-role/app/s1"},
        {"account root in another partition",
         R"("Principal":{"AWS":"arn:aws-cn:iam::111122223333:root"})",
         "kms:Encrypt",
         {},
         'A'},
        {"not an account root ARN",
         R"("Principal":{"AWS":"arn:aws:iam::111122223333:rootx"})",
         "kms:Encrypt",
         {},
         'N'},
        {"another account's root",
         R"("Principal":{"AWS":"arn:aws:iam::444455556666:root"})",
         "kms:Encrypt",
         {},
         'N'},
        {"deny to account root denies its users",
         R"("Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111122223333:root"})",
         "kms:Encrypt",
         {},
         'D'},
        {"NotPrincipal with Deny spares alice listed with her account",
         R"("Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:iam::111122223333:user/alice","arn:aws:iam::111122223333:root"]})",
         "kms:Encrypt",
         {},
         'N'},
        {"NotPrincipal with Deny: alice without her account is still denied",
         R"("Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"})",
         "kms:Encrypt",
         {},
         'D'},
        {"NotPrincipal with Deny spares a session listed with its role and account",
         R"("Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:sts::111122223333:assumed-role/app/s1","arn:aws:iam::111122223333:role/app","111122223333"]})",
         "kms:Encrypt",
         {},
         'N',
         "arn:aws:sts::111122223333:assumed-role/app/s1"},
        {"NotPrincipal with Deny: a session without its role listed is denied",
         R"("Effect":"Deny","NotPrincipal":{"AWS":["arn:aws:sts::111122223333:assumed-role/app/s1","111122223333"]})",
         "kms:Encrypt",
         {},
         'D',
         "arn:aws:sts::111122223333:assumed-role/app/s1"},
        {"NotPrincipal with Deny spares the root when its account is listed",
         R"("Effect":"Deny","NotPrincipal":{"AWS":"111122223333"})",
         "kms:Encrypt",
         {},
         'N',
         "arn:aws:iam::111122223333:root"},
        {"NotPrincipal applies to bob",
         R"("Effect":"Deny","NotPrincipal":{"AWS":"arn:aws:iam::111122223333:user/alice"})",
         "kms:Encrypt",
         {},
         'D',
         "arn:aws:iam::111122223333:user/bob"},
        {"exact action", R"("Action":"kms:Encrypt")", "kms:Encrypt", {}, 'P'},
        {"other action", R"("Action":"kms:Decrypt")", "kms:Encrypt", {}, 'N'},
        {"action case-insensitive", R"("Action":"KMS:encrypt")", "kms:Encrypt", {}, 'P'},
        {"action prefix wildcard", R"("Action":"kms:Generate*")", "kms:GenerateDataKey", {}, 'P'},
        {"action prefix wildcard miss", R"("Action":"kms:Generate*")", "kms:Encrypt", {}, 'N'},
        {"action ? wildcard", R"("Action":"kms:?ncrypt")", "kms:Encrypt", {}, 'P'},
        {"action list", R"("Action":["kms:Decrypt","kms:Encrypt"])", "kms:Encrypt", {}, 'P'},
        {"NotAction excludes", R"("NotAction":"kms:Encrypt")", "kms:Encrypt", {}, 'N'},
        {"NotAction includes others", R"("NotAction":"kms:Encrypt")", "kms:Decrypt", {}, 'P'},
        {"Deny NotAction",
         R"("Effect":"Deny","NotAction":["kms:Describe*","kms:List*"])",
         "kms:Encrypt",
         {},
         'D'},
        {"Deny NotAction spares",
         R"("Effect":"Deny","NotAction":["kms:Describe*","kms:List*"])",
         "kms:DescribeKey",
         {},
         'N'},
        {"resource exact",
         R"("Resource":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab")",
         "kms:Encrypt",
         {},
         'P'},
        {"resource wildcard",
         R"("Resource":"arn:aws:kms:*:111122223333:key/*")",
         "kms:Encrypt",
         {},
         'P'},
        {"resource other",
         R"("Resource":"arn:aws:kms:us-east-1:111122223333:key/other")",
         "kms:Encrypt",
         {},
         'N'},
        {"NotResource", R"("NotResource":"arn:aws:kms:*:*:key/*")", "kms:Encrypt", {}, 'N'},
        {"NotResource other", R"("NotResource":"arn:aws:kms:*:*:alias/*")", "kms:Encrypt", {}, 'P'},
        {"no Action: no effect",
         R"("Effect":"Allow","Principal":"*","Resource":"*","Action":[])",
         "kms:Encrypt",
         {},
         'N'},
        // String operators
        {"StringEquals context",
         R"("Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"t1"}})", "kms:Encrypt",
         kTenantT1, 'P'},
        {"StringEquals context mismatch",
         R"("Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"t2"}})", "kms:Encrypt",
         kTenantT1, 'N'},
        {"StringEquals missing key",
         R"("Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"t1"}})",
         "kms:Encrypt",
         {},
         'N'},
        {"StringEquals key name case-insensitive",
         R"("Condition":{"StringEquals":{"KMS:ENCRYPTIONCONTEXT:TENANT":"t1"}})", "kms:Encrypt",
         kTenantT1, 'P'},
        {"StringEquals value case-sensitive",
         R"("Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"T1"}})", "kms:Encrypt",
         kTenantT1, 'N'},
        {"StringEquals any of list",
         R"("Condition":{"StringEquals":{"kms:EncryptionContext:tenant":["t0","t1"]}})",
         "kms:Encrypt", kTenantT1, 'P'},
        {"StringNotEquals",
         R"("Condition":{"StringNotEquals":{"kms:EncryptionContext:tenant":"t2"}})", "kms:Encrypt",
         kTenantT1, 'P'},
        {"StringNotEquals same",
         R"("Condition":{"StringNotEquals":{"kms:EncryptionContext:tenant":"t1"}})", "kms:Encrypt",
         kTenantT1, 'N'},
        {"StringNotEquals missing key",
         R"("Condition":{"StringNotEquals":{"kms:EncryptionContext:tenant":"t1"}})",
         "kms:Encrypt",
         {},
         'P'},
        {"StringEqualsIgnoreCase",
         R"("Condition":{"StringEqualsIgnoreCase":{"kms:EncryptionContext:tenant":"T1"}})",
         "kms:Encrypt", kTenantT1, 'P'},
        {"StringNotEqualsIgnoreCase",
         R"("Condition":{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:tenant":"T1"}})",
         "kms:Encrypt", kTenantT1, 'N'},
        {"StringNotEqualsIgnoreCase matching",
         R"("Condition":{"StringNotEqualsIgnoreCase":{"kms:EncryptionContext:tenant":"T2"}})",
         "kms:Encrypt", kTenantT1, 'P'},
        {"StringLike", R"("Condition":{"StringLike":{"kms:EncryptionContext:tenant":"t*"}})",
         "kms:Encrypt", kTenantT1, 'P'},
        {"StringLike ?", R"("Condition":{"StringLike":{"kms:EncryptionContext:tenant":"t?"}})",
         "kms:Encrypt", kTenantT1, 'P'},
        {"StringLike miss", R"("Condition":{"StringLike":{"kms:EncryptionContext:tenant":"x*"}})",
         "kms:Encrypt", kTenantT1, 'N'},
        {"StringNotLike", R"("Condition":{"StringNotLike":{"kms:EncryptionContext:tenant":"x*"}})",
         "kms:Encrypt", kTenantT1, 'P'},
        {"StringEqualsIfExists missing",
         R"("Condition":{"StringEqualsIfExists":{"kms:EncryptionContext:tenant":"t9"}})",
         "kms:Encrypt",
         {},
         'P'},
        {"StringEqualsIfExists present mismatch",
         R"("Condition":{"StringEqualsIfExists":{"kms:EncryptionContext:tenant":"t9"}})",
         "kms:Encrypt", kTenantT1, 'N'},
        {"two keys are ANDed",
         R"("Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"t1","kms:CallerAccount":"111122223333"}})",
         "kms:Encrypt",
         {{"kms:encryptioncontext:tenant", {"t1"}}, {"kms:calleraccount", {"111122223333"}}},
         'P'},
        {"two keys, one fails",
         R"("Condition":{"StringEquals":{"kms:EncryptionContext:tenant":"t1","kms:CallerAccount":"999999999999"}})",
         "kms:Encrypt",
         {{"kms:encryptioncontext:tenant", {"t1"}}, {"kms:calleraccount", {"111122223333"}}},
         'N'},
        {"two operators are ANDed",
         R"("Condition":{"StringEquals":{"kms:CallerAccount":"111122223333"},"StringLike":{"kms:ViaService":"s3.*.amazonaws.com"}})",
         "kms:Encrypt",
         {{"kms:calleraccount", {"111122223333"}},
          {"kms:viaservice", {"s3.us-east-1.amazonaws.com"}}},
         'P'},
        {"ViaService missing",
         R"("Condition":{"StringLike":{"kms:ViaService":"s3.*.amazonaws.com"}})",
         "kms:Encrypt",
         {},
         'N'},
        {"deny unless context",
         R"("Effect":"Deny","Condition":{"Null":{"kms:EncryptionContext:tenant":"true"}})",
         "kms:Encrypt",
         {},
         'D'},
        {"deny unless context, present",
         R"("Effect":"Deny","Condition":{"Null":{"kms:EncryptionContext:tenant":"true"}})",
         "kms:Encrypt", kTenantT1, 'N'},
        {"Null false present", R"("Condition":{"Null":{"kms:EncryptionContext:tenant":"false"}})",
         "kms:Encrypt", kTenantT1, 'P'},
        {"Null false missing",
         R"("Condition":{"Null":{"kms:EncryptionContext:tenant":"false"}})",
         "kms:Encrypt",
         {},
         'N'},
        // Multi-valued keys
        {"ForAnyValue match",
         R"("Condition":{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["tenant","x"]}})",
         "kms:Encrypt", kTenantT1, 'P'},
        {"ForAnyValue none",
         R"("Condition":{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["x"]}})",
         "kms:Encrypt", kTenantT1, 'N'},
        {"ForAnyValue missing",
         R"("Condition":{"ForAnyValue:StringEquals":{"kms:EncryptionContextKeys":["x"]}})",
         "kms:Encrypt",
         {},
         'N'},
        {"ForAllValues subset",
         R"("Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["tenant","app"]}})",
         "kms:Encrypt",
         {{"kms:encryptioncontextkeys", {"tenant", "app"}}},
         'P'},
        {"ForAllValues extra key",
         R"("Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["tenant"]}})",
         "kms:Encrypt",
         {{"kms:encryptioncontextkeys", {"tenant", "app"}}},
         'N'},
        {"ForAllValues missing is vacuous",
         R"("Condition":{"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["tenant"]}})",
         "kms:Encrypt",
         {},
         'P'},
        {"ForAllValues StringLike",
         R"("Condition":{"ForAllValues:StringLike":{"kms:EncryptionContextKeys":["ten*","ap?"]}})",
         "kms:Encrypt",
         {{"kms:encryptioncontextkeys", {"tenant", "app"}}},
         'P'},
        {"ForAnyValue StringNotEquals",
         R"("Condition":{"ForAnyValue:StringNotEquals":{"kms:GrantOperations":"Decrypt"}})",
         "kms:CreateGrant",
         {{"kms:grantoperations", {"Decrypt", "Encrypt"}}},
         'P'},
        {"ForAllValues grant operations",
         R"("Condition":{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt","Encrypt"]}})",
         "kms:CreateGrant",
         {{"kms:grantoperations", {"Decrypt"}}},
         'P'},
        {"ForAllValues grant operations too many",
         R"("Condition":{"ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt"]}})",
         "kms:CreateGrant",
         {{"kms:grantoperations", {"Decrypt", "Sign"}}},
         'N'},
        // Numeric
        {"NumericEquals",
         R"("Condition":{"NumericEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}})",
         "kms:ScheduleKeyDeletion",
         {{"kms:schedulekeydeletionpendingwindowindays", {"30"}}},
         'P'},
        {"NumericNotEquals",
         R"("Condition":{"NumericNotEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"30"}})",
         "kms:ScheduleKeyDeletion",
         {{"kms:schedulekeydeletionpendingwindowindays", {"7"}}},
         'P'},
        {"NumericLessThan",
         R"("Condition":{"NumericLessThan":{"kms:RotationPeriodInDays":"180"}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"90"}}},
         'P'},
        {"NumericLessThan equal fails",
         R"("Condition":{"NumericLessThan":{"kms:RotationPeriodInDays":"90"}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"90"}}},
         'N'},
        {"NumericLessThanEquals",
         R"("Condition":{"NumericLessThanEquals":{"kms:RotationPeriodInDays":"90"}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"90"}}},
         'P'},
        {"NumericGreaterThan",
         R"("Condition":{"NumericGreaterThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"14"}})",
         "kms:ScheduleKeyDeletion",
         {{"kms:schedulekeydeletionpendingwindowindays", {"7"}}},
         'N'},
        {"NumericGreaterThan matching",
         R"("Condition":{"NumericGreaterThan":{"kms:ScheduleKeyDeletionPendingWindowInDays":"14"}})",
         "kms:ScheduleKeyDeletion",
         {{"kms:schedulekeydeletionpendingwindowindays", {"30"}}},
         'P'},
        {"NumericGreaterThanEquals",
         R"("Condition":{"NumericGreaterThanEquals":{"kms:ScheduleKeyDeletionPendingWindowInDays":"7"}})",
         "kms:ScheduleKeyDeletion",
         {{"kms:schedulekeydeletionpendingwindowindays", {"7"}}},
         'P'},
        {"Numeric with a number literal",
         R"("Condition":{"NumericEquals":{"kms:RotationPeriodInDays":365}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"365"}}},
         'P'},
        {"Numeric non-number request",
         R"("Condition":{"NumericEquals":{"kms:RotationPeriodInDays":"365"}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"abc"}}},
         'N'},
        // A non-number, in the request or the policy, never satisfies a Numeric operator, not
        // even NumericNotEquals.
        {"NumericNotEquals non-number request",
         R"("Condition":{"NumericNotEquals":{"kms:RotationPeriodInDays":"365"}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"abc"}}},
         'N'},
        {"NumericEquals non-number policy",
         R"("Condition":{"NumericEquals":{"kms:RotationPeriodInDays":"abc"}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"365"}}},
         'N'},
        {"NumericNotEquals non-number policy",
         R"("Condition":{"NumericNotEquals":{"kms:RotationPeriodInDays":"abc"}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"365"}}},
         'N'},
        {"NumericNotEquals one non-number among the policy values",
         R"("Condition":{"NumericNotEquals":{"kms:RotationPeriodInDays":["90","abc"]}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"365"}}},
         'N'},
        {"NumericEquals one number among the policy values",
         R"("Condition":{"NumericEquals":{"kms:RotationPeriodInDays":["abc","365"]}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"365"}}},
         'P'},
        {"NumericLessThan strtod prefix is not a number",
         R"("Condition":{"NumericLessThan":{"kms:RotationPeriodInDays":"400"}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"365days"}}},
         'N'},
        {"NumericGreaterThan inf is not a number",
         R"("Condition":{"NumericGreaterThan":{"kms:RotationPeriodInDays":"1"}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"inf"}}},
         'N'},
        {"NumericNotEquals nan is not a number",
         R"("Condition":{"NumericNotEquals":{"kms:RotationPeriodInDays":"nan"}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"365"}}},
         'N'},
        {"NumericEquals decimal and exponent",
         R"("Condition":{"NumericEquals":{"kms:RotationPeriodInDays":"3.65e2"}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"365"}}},
         'P'},
        {"NumericLessThan negative",
         R"("Condition":{"NumericLessThan":{"kms:RotationPeriodInDays":"-1.5"}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"-2"}}},
         'P'},
        {"Deny NumericNotEquals does not apply to a non-number",
         R"("Effect":"Deny","Condition":{"NumericNotEquals":{"kms:RotationPeriodInDays":"x"}})",
         "kms:EnableKeyRotation",
         {{"kms:rotationperiodindays", {"365"}}},
         'N'},
        // Dates
        {"DateLessThan",
         R"("Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}})",
         "kms:Encrypt",
         {{"aws:currenttime", {"2026-11-23T12:00:00Z"}}},
         'P'},
        {"DateGreaterThan",
         R"("Condition":{"DateGreaterThan":{"aws:CurrentTime":"2030-01-01T00:00:00Z"}})",
         "kms:Encrypt",
         {{"aws:currenttime", {"2026-11-23T12:00:00Z"}}},
         'N'},
        {"DateGreaterThan matching",
         R"("Condition":{"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"}})",
         "kms:Encrypt",
         {{"aws:currenttime", {"2026-11-23T12:00:00Z"}}},
         'P'},
        {"DateEquals epoch",
         R"("Condition":{"DateEquals":{"kms:ValidTo":"1700000000"}})",
         "kms:ImportKeyMaterial",
         {{"kms:validto", {"1700000000"}}},
         'P'},
        {"DateNotEquals",
         R"("Condition":{"DateNotEquals":{"kms:ValidTo":"1700000000"}})",
         "kms:ImportKeyMaterial",
         {{"kms:validto", {"1800000000"}}},
         'P'},
        {"DateLessThanEquals date only",
         R"("Condition":{"DateLessThanEquals":{"aws:CurrentTime":"2026-11-23"}})",
         "kms:Encrypt",
         {{"aws:currenttime", {"2026-11-23"}}},
         'P'},
        {"DateGreaterThanEquals",
         R"("Condition":{"DateGreaterThanEquals":{"aws:CurrentTime":"2026-11-24"}})",
         "kms:Encrypt",
         {{"aws:currenttime", {"2026-11-23"}}},
         'N'},
        {"DateGreaterThanEquals matching",
         R"("Condition":{"DateGreaterThanEquals":{"aws:CurrentTime":"2026-11-23"}})",
         "kms:Encrypt",
         {{"aws:currenttime", {"2026-11-23"}}},
         'P'},
        {"DateLessThan with a fraction of a second",
         R"("Condition":{"DateLessThan":{"aws:CurrentTime":"2026-11-23T10:00:00.5Z"}})",
         "kms:Encrypt",
         {{"aws:currenttime", {"2026-11-23T09:59:59Z"}}},
         'P'},
        {"DateGreaterThan inf is not a date",
         R"("Condition":{"DateGreaterThan":{"kms:ValidTo":"1"}})",
         "kms:ImportKeyMaterial",
         {{"kms:validto", {"inf"}}},
         'N'},
        {"DateNotEquals nan is not a date",
         R"("Condition":{"DateNotEquals":{"kms:ValidTo":"nan"}})",
         "kms:ImportKeyMaterial",
         {{"kms:validto", {"1700000000"}}},
         'N'},
        {"DateLessThan trailing text is not a date",
         R"("Condition":{"DateLessThan":{"aws:CurrentTime":"2030-01-01junk"}})",
         "kms:Encrypt",
         {{"aws:currenttime", {"2026-11-23"}}},
         'N'},
        {"DateLessThan month 13 is not a date",
         R"("Condition":{"DateLessThan":{"aws:CurrentTime":"2026-13-01"}})",
         "kms:Encrypt",
         {{"aws:currenttime", {"2026-11-23"}}},
         'N'},
        {"DateLessThan hex is not a date",
         R"("Condition":{"DateLessThan":{"kms:ValidTo":"0x7fffffff"}})",
         "kms:ImportKeyMaterial",
         {{"kms:validto", {"1700000000"}}},
         'N'},
        // Bool
        {"Bool true",
         R"("Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}})",
         "kms:CreateGrant",
         {{"kms:grantisforawsresource", {"true"}}},
         'P'},
        {"Bool false mismatch",
         R"("Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}})",
         "kms:CreateGrant",
         {{"kms:grantisforawsresource", {"false"}}},
         'N'},
        {"Bool literal",
         R"("Condition":{"Bool":{"kms:BypassPolicyLockoutSafetyCheck":true}})",
         "kms:PutKeyPolicy",
         {{"kms:bypasspolicylockoutsafetycheck", {"true"}}},
         'P'},
        {"Bool missing",
         R"("Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"}})",
         "kms:CreateGrant",
         {},
         'N'},
        {"BoolIfExists missing",
         R"("Condition":{"BoolIfExists":{"kms:GrantIsForAWSResource":"true"}})",
         "kms:CreateGrant",
         {},
         'P'},
        {"Bool multi-region",
         R"("Condition":{"Bool":{"kms:MultiRegion":"false"}})",
         "kms:Encrypt",
         {{"kms:multiregion", {"false"}}},
         'P'},
        // Arn
        {"ArnEquals principal",
         R"("Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alice"}})",
         "kms:Encrypt",
         {{"aws:principalarn", {kAlice}}},
         'P'},
        {"ArnLike principal",
         R"("Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}})",
         "kms:Encrypt",
         {{"aws:principalarn", {kAlice}}},
         'P'},
        {"ArnNotLike principal",
         R"("Condition":{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}})",
         "kms:Encrypt",
         {{"aws:principalarn", {kAlice}}},
         'N'},
        {"ArnNotEquals principal",
         R"("Condition":{"ArnNotEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/bob"}})",
         "kms:Encrypt",
         {{"aws:principalarn", {kAlice}}},
         'P'},
        // Arn operators match each of the six ARN components on its own: '*' never spans ':'.
        {"ArnLike wildcard within the account component",
         R"("Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/alice"}})",
         "kms:Encrypt",
         {{"aws:principalarn", {kAlice}}},
         'P'},
        {"ArnLike star does not cross into the resource",
         R"("Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/alice"}})",
         "kms:Encrypt",
         {{"aws:principalarn", {"arn:aws:iam::111122223333:x:user/alice"}}},
         'N'},
        {"ArnLike star does not cross into the account",
         R"("Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:kms:us-*:111122223333:key/*"}})",
         "kms:Encrypt",
         {{"aws:sourcearn", {"arn:aws:kms:us-x:999:111122223333:key/k"}}},
         'N'},
        {"ArnLike region wildcard",
         R"("Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:kms:us-*:111122223333:key/*"}})",
         "kms:Encrypt",
         {{"aws:sourcearn", {"arn:aws:kms:us-east-1:111122223333:key/k"}}},
         'P'},
        {"ArnLike resource keeps its colons",
         R"("Condition":{"ArnLike":{"aws:SourceArn":"arn:aws:logs:*:*:log-group:*"}})",
         "kms:Encrypt",
         {{"aws:sourcearn", {"arn:aws:logs:us-east-1:111122223333:log-group:g:log-stream:s"}}},
         'P'},
        {"ArnLike single-character wildcard",
         R"("Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/alic?"}})",
         "kms:Encrypt",
         {{"aws:principalarn", {kAlice}}},
         'P'},
        {"ArnLike is case-sensitive",
         R"("Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/ALICE"}})",
         "kms:Encrypt",
         {{"aws:principalarn", {kAlice}}},
         'N'},
        {"ArnEquals takes wildcards too",
         R"("Condition":{"ArnEquals":{"aws:PrincipalArn":"arn:aws:iam::111122223333:user/*"}})",
         "kms:Encrypt",
         {{"aws:principalarn", {kAlice}}},
         'P'},
        {"ArnLike policy value with five components never matches",
         R"("Condition":{"ArnLike":{"aws:PrincipalArn":"arn:aws:iam::*"}})",
         "kms:Encrypt",
         {{"aws:principalarn", {kAlice}}},
         'N'},
        {"ArnLike request value that is not an ARN",
         R"("Condition":{"ArnLike":{"aws:SourceArn":"arn:*:*:*:*:*"}})",
         "kms:Encrypt",
         {{"aws:sourcearn", {"not-an-arn"}}},
         'N'},
        // ...so a negated Arn operator holds for it: a Deny with ArnNotLike still applies.
        {"ArnNotLike request value that is not an ARN",
         R"("Condition":{"ArnNotLike":{"aws:SourceArn":"arn:aws:s3:::bucket"}})",
         "kms:Encrypt",
         {{"aws:sourcearn", {"not-an-arn"}}},
         'P'},
        {"Deny ArnNotLike applies to a malformed ARN",
         R"("Effect":"Deny","Principal":"*","Condition":{"ArnNotLike":{"kms:GranteePrincipal":"arn:aws:iam::111122223333:*"}})",
         "kms:CreateGrant",
         {{"kms:granteeprincipal", {"dynamodb.amazonaws.com"}}},
         'D'},
        {"ArnNotEquals policy value that is not an ARN",
         R"("Condition":{"ArnNotEquals":{"aws:PrincipalArn":"alice"}})",
         "kms:Encrypt",
         {{"aws:principalarn", {kAlice}}},
         'P'},
        {"ArnNotLike other resource",
         R"("Condition":{"ArnNotLike":{"aws:PrincipalArn":"arn:aws:iam::*:user/bob"}})",
         "kms:Encrypt",
         {{"aws:principalarn", {kAlice}}},
         'P'},
        {"ArnLike request alias",
         R"("Condition":{"StringLike":{"kms:RequestAlias":"alias/app-*"}})",
         "kms:Encrypt",
         {{"kms:requestalias", {"alias/app-prod"}}},
         'P'},
        {"ResourceAliases ForAnyValue",
         R"("Condition":{"ForAnyValue:StringLike":{"kms:ResourceAliases":"alias/finance-*"}})",
         "kms:Encrypt",
         {{"kms:resourcealiases", {"alias/hr", "alias/finance-key"}}},
         'P'},
        // Other condition keys
        {"KeySpec",
         R"("Condition":{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT"}})",
         "kms:Encrypt",
         {{"kms:keyspec", {"SYMMETRIC_DEFAULT"}}},
         'P'},
        {"KeyUsage",
         R"("Condition":{"StringEquals":{"kms:KeyUsage":"SIGN_VERIFY"}})",
         "kms:Encrypt",
         {{"kms:keyusage", {"ENCRYPT_DECRYPT"}}},
         'N'},
        // The twin of each 'N' row above and below: the same condition holds with the value it
        // names, so the 'N' comes from the value, not from a misspelt key.
        {"KeyUsage matching",
         R"("Condition":{"StringEquals":{"kms:KeyUsage":"SIGN_VERIFY"}})",
         "kms:Sign",
         {{"kms:keyusage", {"SIGN_VERIFY"}}},
         'P'},
        {"SigningAlgorithm",
         R"("Condition":{"StringEquals":{"kms:SigningAlgorithm":"ECDSA_SHA_256"}})",
         "kms:Sign",
         {{"kms:signingalgorithm", {"ECDSA_SHA_256"}}},
         'P'},
        {"SigningAlgorithm other",
         R"("Condition":{"StringEquals":{"kms:SigningAlgorithm":"ECDSA_SHA_256"}})",
         "kms:Sign",
         {{"kms:signingalgorithm", {"RSASSA_PSS_SHA_256"}}},
         'N'},
        {"EncryptionAlgorithm",
         R"("Condition":{"StringEquals":{"kms:EncryptionAlgorithm":"SYMMETRIC_DEFAULT"}})",
         "kms:Decrypt",
         {{"kms:encryptionalgorithm", {"SYMMETRIC_DEFAULT"}}},
         'P'},
        {"PrincipalAccount",
         R"("Condition":{"StringEquals":{"aws:PrincipalAccount":"111122223333"}})",
         "kms:Encrypt",
         {{"aws:principalaccount", {"111122223333"}}},
         'P'},
        {"SourceIp",
         R"("Condition":{"StringLike":{"aws:SourceIp":"127.0.0.*"}})",
         "kms:Encrypt",
         {{"aws:sourceip", {"127.0.0.1"}}},
         'P'},
        {"RequestTag",
         R"("Condition":{"StringEquals":{"aws:RequestTag/env":"prod"}})",
         "kms:TagResource",
         {{"aws:requesttag/env", {"prod"}}},
         'P'},
        {"ResourceTag",
         R"("Condition":{"StringEquals":{"aws:ResourceTag/env":"prod"}})",
         "kms:Encrypt",
         {{"aws:resourcetag/env", {"dev"}}},
         'N'},
        {"ResourceTag matching",
         R"("Condition":{"StringEquals":{"aws:ResourceTag/env":"prod"}})",
         "kms:Encrypt",
         {{"aws:resourcetag/env", {"prod"}}},
         'P'},
        {"TagKeys ForAllValues",
         R"("Condition":{"ForAllValues:StringEquals":{"aws:TagKeys":["env","team"]}})",
         "kms:TagResource",
         {{"aws:tagkeys", {"env"}}},
         'P'},
        {"GrantConstraintType",
         R"("Condition":{"StringEquals":{"kms:GrantConstraintType":"EncryptionContextSubset"}})",
         "kms:CreateGrant",
         {{"kms:grantconstrainttype", {"EncryptionContextSubset"}}},
         'P'},
        {"IfExists with Not",
         R"("Condition":{"StringNotEqualsIfExists":{"kms:ViaService":"s3.us-east-1.amazonaws.com"}})",
         "kms:Encrypt",
         {},
         'P'},
    };
    for (const auto& c : cases) {
        INFO(c.name);
        auto policy = Policy::Parse(
            R"({"Version":"2012-10-17","Statement":[)" + Stmt(c.statement) + "]}", true);
        REQUIRE(policy.ok());
        RequestContext req{c.action, kKey, c.principal, "111122223333", {}};
        for (const auto& [k, v] : c.keys) req.keys[k] = v;
        CHECK(Outcome(policy->Evaluate(req)) == c.expected);
    }
    CHECK(cases.size() >= 100);
}

TEST_CASE("IpAddress and NotIpAddress match CIDRs", "[api][authz]") {
    auto eval = [](const char* cond, const char* ip) {
        auto p = Policy::Parse(std::string(R"({"Statement":[{"Effect":"Allow","Principal":"*",)") +
                                   R"("Action":"kms:*","Resource":"*","Condition":)" + cond + "}]}",
                               true)
                     .value();
        RequestContext rc{"kms:Encrypt", kKey, kAlice, "111122223333", {}};
        if (*ip) rc.keys["aws:sourceip"] = {ip};
        return p.Evaluate(rc).allow_principal;
    };
    const char* v4 = R"({"IpAddress":{"aws:SourceIp":["10.0.0.0/8","192.0.2.7"]}})";
    CHECK(eval(v4, "10.200.3.4"));
    CHECK(eval(v4, "192.0.2.7"));
    CHECK_FALSE(eval(v4, "192.0.2.8"));
    CHECK_FALSE(eval(v4, "11.0.0.1"));
    CHECK_FALSE(eval(v4, ""));
    CHECK_FALSE(eval(v4, "not-an-ip"));
    CHECK(eval(R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/25"}})", "203.0.113.127"));
    CHECK_FALSE(eval(R"({"IpAddress":{"aws:SourceIp":"203.0.113.0/25"}})", "203.0.113.128"));
    CHECK(eval(R"({"IpAddress":{"aws:SourceIp":"2001:db8::/32"}})", "2001:db8:1::5"));
    CHECK_FALSE(eval(R"({"IpAddress":{"aws:SourceIp":"2001:db8::/32"}})", "2001:db9::5"));
    CHECK(eval(R"({"NotIpAddress":{"aws:SourceIp":"10.0.0.0/8"}})", "127.0.0.1"));
    CHECK_FALSE(eval(R"({"NotIpAddress":{"aws:SourceIp":"127.0.0.0/8"}})", "127.0.0.1"));
}

TEST_CASE("deny in one statement beats allow in another", "[api][authz]") {
    auto p = Policy::Parse(
        R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"},
        {"Effect":"Deny","Principal":"*","Action":"kms:Encrypt","Resource":"*"}]})",
        true);
    REQUIRE(p.ok());
    CHECK(Outcome(p->Evaluate({"kms:Encrypt", kKey, kAlice, "111122223333", {}})) == 'D');
    CHECK(Outcome(p->Evaluate({"kms:Decrypt", kKey, kAlice, "111122223333", {}})) == 'P');
}

TEST_CASE("malformed policies are refused", "[api][authz]") {
    for (
        const char* bad :
        {"not json", "[]", R"({"Version":"2012-10-17"})", R"({"Statement":[]})",
         R"({"Statement":[{"Effect":"Maybe","Principal":"*","Action":"kms:*","Resource":"*"}]})",
         R"({"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]})",
         R"({"Statement":[{"Effect":"Allow","Principal":"alice","Action":"kms:*","Resource":"*"}]})",
         R"({"Statement":[{"Effect":"Allow","Principal":{"AWS":"alice"},"Action":"kms:*","Resource":"*"}]})",
         R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","NotAction":"kms:x","Resource":"*"}]})",
         R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*","Condition":{"StringEqualz":{"a":"b"}}}]})",
         R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":{"a":1},"Resource":"*"}]})"}) {
        INFO(bad);
        auto p = Policy::Parse(bad, true);
        REQUIRE_FALSE(p.ok());
        CHECK(p.status().code() == ErrorCode::kMalformedPolicy);
    }
    CHECK(
        Policy::Parse(R"({"Statement":{"Effect":"Allow","Action":"kms:*","Resource":"*"}})", false)
            .ok());
}

TEST_CASE("wildcards", "[api][authz]") {
    CHECK(WildcardMatch("a*c", "abbbc", false));
    CHECK(WildcardMatch("*", "", false));
    CHECK(WildcardMatch("a?c", "abc", false));
    CHECK_FALSE(WildcardMatch("a?c", "ac", false));
    CHECK(WildcardMatch("*:key/*", "arn:aws:kms:r:a:key/x", false));
    CHECK_FALSE(WildcardMatch("ABC", "abc", false));
    CHECK(WildcardMatch("ABC", "abc", true));
}

TEST_CASE("identity policies may not name principals", "[api][authz]") {
    for (
        const char* bad :
        {R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}]})",
         R"({"Statement":{"Effect":"Deny","NotPrincipal":{"AWS":"111122223333"},"Action":"kms:*","Resource":"*"}})"}) {
        INFO(bad);
        auto p = Policy::Parse(bad, /*require_principal=*/false);
        REQUIRE_FALSE(p.ok());
        CHECK(p.status().code() == ErrorCode::kMalformedPolicy);
        CHECK(p.status().message() == "Policy document should not specify a principal.");
        CHECK(Policy::Parse(bad, /*require_principal=*/true).ok());  // fine in a key policy
    }
}

TEST_CASE("policy nesting is bounded before anything walks it", "[api][authz]") {
    const std::string deep(32768, '[');
    auto p = Policy::Parse(deep, true);
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().code() == ErrorCode::kMalformedPolicy);
    CHECK(p.status().message() ==
          "The policy document nests arrays and objects deeper than 32 levels.");
    CHECK(api::CheckKeyPolicy(deep, nullptr).code() == ErrorCode::kMalformedPolicy);
    CHECK(api::FormatPolicy(deep) == deep);  // returned as stored, never walked

    // Deep inside an otherwise valid policy (a Condition value), and a balanced one.
    std::string nested(40, '[');
    nested += "\"x\"" + std::string(40, ']');
    const std::string in_condition =
        R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*",)"
        R"("Condition":{"StringEquals":{"kms:CallerAccount":)" +
        nested + "}}}]}";
    p = Policy::Parse(in_condition, true);
    REQUIRE_FALSE(p.ok());
    CHECK(p.status().message() ==
          "The policy document nests arrays and objects deeper than 32 levels.");
    CHECK(api::FormatPolicy(in_condition) == in_condition);
    // Brackets inside strings do not count.
    const std::string in_string =
        R"({"Statement":[{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*",)"
        R"("Sid":")" +
        std::string(100, '[') + R"("}]})";
    CHECK(Policy::Parse(in_string, true).ok());
}
