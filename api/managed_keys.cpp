#include "api/managed_keys.h"

#include <algorithm>
#include <span>

#include "api/lifecycle.h"
#include "api/ops/common.h"
#include "api/resolve.h"

namespace kmsd::api {
namespace {

// What the AWS managed key of one service looks like, as AWS's own keys show it (their
// GetKeyPolicy and DescribeKey output; README: AWS managed keys, for the texts that are guesses).
// The policy: `sid` lets the account's callers use the key through the service (kms:ViaService
// `via`.<region>.amazonaws.com, kms:CallerAccount), then the account may read the key's metadata
// (and revoke its grants, `revoke`), then optional statements of the service's own.
enum class Extra {
    kNone,
    kDescriber,         // the service principal may describe the key directly (`describer`)
    kAnyRegionDataKey,  // Secrets Manager: GenerateDataKey* through the service in any Region
    kServerless,        // Redshift: the same statement again for redshift-serverless
};

struct ManagedService {
    std::string_view name;      // the alias suffix
    std::string_view protects;  // "Default key that protects my <protects> when no other ..."
    bool predefined;            // listed by ListAliases before its key exists
    std::string_view id;        // the policy's Id
    std::string_view sid;       // the first statement's Sid
    std::string_view via;       // kms:ViaService's first label
    std::span<const std::string_view> actions;
    bool revoke = true;           // the account may RevokeGrant
    bool via_any_region = false;  // DynamoDB: kms:ViaService "dynamodb.*.amazonaws.com"
    Extra extra = Extra::kNone;
    std::string_view describer_sid = {};
    std::string_view describer = {};
};

constexpr std::string_view kUse[] = {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                                     "kms:GenerateDataKey*", "kms:DescribeKey"};
constexpr std::string_view kUseAndGrant[] = {"kms:Encrypt",     "kms:Decrypt",
                                             "kms:ReEncrypt*",  "kms:GenerateDataKey*",
                                             "kms:CreateGrant", "kms:DescribeKey"};
constexpr std::string_view kUseGrantAndList[] = {
    "kms:Encrypt",     "kms:Decrypt",    "kms:ReEncrypt*", "kms:GenerateDataKey*",
    "kms:CreateGrant", "kms:ListGrants", "kms:DescribeKey"};
constexpr std::string_view kSecretsManagerUse[] = {"kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*",
                                                   "kms:CreateGrant", "kms:DescribeKey"};
constexpr std::string_view kSnsUse[] = {"kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant",
                                        "kms:ListGrants", "kms:DescribeKey"};
constexpr std::string_view kBackupUse[] = {"kms:CreateGrant", "kms:Decrypt",
                                           "kms:GenerateDataKey*"};

// Sorted by name (ListAliases' order). ACM's first statement is not of the common form.
constexpr ManagedService kServices[] = {
    {"acm", "ACM private keys", true, "auto-acm-4", "", "acm", {}},
    {"backup", "Backup data", false, "auto-backup-1",
     "Allow access through Backup for all principals in the account that are authorized to use "
     "Backup Storage",
     "backup", kBackupUse},
    {"codecommit", "CodeCommit repositories", false, "auto-codecommit-2",
     "Allow access through CodeCommit for all principals in the account that are authorized to "
     "use CodeCommit",
     "codecommit", kUse, false},
    {"dynamodb", "DynamoDB data", true, "auto-dynamodb-3",
     "Allow access through Amazon DynamoDB for all principals in the account that are authorized "
     "to use Amazon DynamoDB",
     "dynamodb", kUseAndGrant, true, true, Extra::kDescriber,
     "Allow DynamoDB to directly describe the key", "dynamodb.amazonaws.com"},
    {"ebs", "EBS volumes", true, "auto-ebs-2",
     "Allow access through EBS for all principals in the account that are authorized to use EBS",
     "ec2", kUseAndGrant},
    {"elasticfilesystem", "EFS filesystems", true, "auto-elasticfilesystem-1",
     "Allow access to EFS for all principals in the account that are authorized to use EFS",
     "elasticfilesystem", kUseAndGrant},
    {"es", "Amazon OpenSearch Service (successor to Amazon Elasticsearch Service) data", true,
     "auto-es-2",
     "Allow access through OpenSearch Service for all principals in the account that are "
     "authorized to use OpenSearch Service",
     "es", kUseAndGrant, true, false, Extra::kDescriber,
     "Allow OpenSearch service principals to describe the key directly", "es.amazonaws.com"},
    {"glue", "Glue data", true, "auto-glue-1",
     "Allow access through Glue for all principals in the account that are authorized to use "
     "Glue",
     "glue", kUseAndGrant},
    {"kinesis", "Kinesis data", false, "auto-kinesis-1",
     "Allow access through Amazon Kinesis for all principals in the account that are authorized "
     "to use Amazon Kinesis",
     "kinesis", kUse, false},
    {"kinesisvideo", "kinesis video data", true, "auto-kinesisvideo-1",
     "Allow access through Kinesis Video Streams for all principals in the account that are "
     "authorized to use Kinesis Video Streams",
     "kinesisvideo", kUseAndGrant},
    {"lambda", "Lambda functions", true, "auto-awslambda",
     "Allow access through AWS Lambda for all principals in the account that are authorized to "
     "use AWS Lambda",
     "lambda", kUseAndGrant},
    {"rds", "RDS database volumes", true, "auto-rds-2",
     "Allow access through RDS for all principals in the account that are authorized to use RDS",
     "rds", kUseGrantAndList},
    {"redshift", "Redshift data", true, "auto-redshift-3",
     "Allow access through RedShift for all principals in the account that are authorized to use "
     "RedShift",
     "redshift", kUseAndGrant, true, false, Extra::kServerless},
    {"s3", "S3 objects", true, "auto-s3-2",
     "Allow access through S3 for all principals in the account that are authorized to use S3",
     "s3", kUse, false},
    {"secretsmanager", "Secrets Manager data", true, "auto-secretsmanager-2",
     "Allow access through AWS Secrets Manager for all principals in the account that are "
     "authorized to use AWS Secrets Manager",
     "secretsmanager", kSecretsManagerUse, true, false, Extra::kAnyRegionDataKey},
    {"sns", "SNS data", false, "auto-sns-1",
     "Allow access through SNS for all principals in the account that are authorized to use SNS",
     "sns", kSnsUse},
    {"sqs", "SQS messages", false, "auto-sqs-1",
     "Allow access through Simple Queue Service (SQS) for all principals in the account that are "
     "authorized to use SQS",
     "sqs", kUseAndGrant},
    {"ssm", "SSM parameters", true, "auto-ssm-1",
     "Allow access through SSM for all principals in the account that are authorized to use SSM",
     "ssm", kUse, false},
    {"xray", "X-Ray data", true, "auto-xray-1",
     "Allow access through X-Ray for all principals in the account that are authorized to use "
     "X-Ray",
     "xray", kUseAndGrant, true, false, Extra::kDescriber,
     "Allow X-Ray Service with service principal name xray.amazonaws.com to describe the key "
     "directly",
     "xray.amazonaws.com"},
};

// AWS rotates AWS managed keys every year (kms-reference §5.4).
constexpr int kRotationDays = 365;

const ManagedService* FindService(std::string_view name) {
    for (const auto& s : kServices)
        if (s.name == name) return &s;
    return nullptr;
}

const ManagedService* ServiceOfAlias(std::string_view alias_name) {
    if (alias_name.substr(0, kManagedAliasPrefix.size()) != kManagedAliasPrefix) return nullptr;
    return FindService(alias_name.substr(kManagedAliasPrefix.size()));
}

nlohmann::ordered_json Strings(std::span<const std::string_view> items) {
    auto out = nlohmann::ordered_json::array();
    for (auto s : items) out.push_back(std::string(s));
    return out;
}

}  // namespace

bool IsManagedAlias(std::string_view alias_name) { return ServiceOfAlias(alias_name) != nullptr; }

std::vector<std::string> ManagedAliasNames() {
    std::vector<std::string> out;
    for (const auto& s : kServices)
        if (s.predefined) out.push_back(std::string(kManagedAliasPrefix) + std::string(s.name));
    return out;
}

namespace {

using Policy = nlohmann::ordered_json;

// A statement for any principal ("AWS": "*") with `condition`.
Policy AnyPrincipal(std::string_view sid, std::string_view effect, Policy action,
                    Policy condition) {
    return {{"Sid", sid},
            {"Effect", effect},
            {"Principal", {{"AWS", "*"}}},
            {"Action", std::move(action)},
            {"Resource", "*"},
            {"Condition", std::move(condition)}};
}

Policy Statement(std::string_view sid, Policy principal,
                 std::span<const std::string_view> actions) {
    return {{"Sid", sid},
            {"Effect", "Allow"},
            {"Principal", std::move(principal)},
            {"Action", Strings(actions)},
            {"Resource", "*"}};
}

Policy CallerAndService(const std::string& account, const std::string& via) {
    return {{"StringEquals", {{"kms:CallerAccount", account}, {"kms:ViaService", via}}}};
}

// ACM's key (auto-acm-4): grants for ACM's own resources, the owner's metadata calls, no
// re-encryption to another key, Decrypt through ACM.
Policy AcmStatements(const std::string& account, const std::string& via) {
    auto grants = [&](std::string_view sid, Policy operations) {
        Policy condition = CallerAndService(account, via);
        condition["ForAllValues:StringEquals"] = {{"kms:GrantOperations", std::move(operations)}};
        condition["Bool"] = {{"kms:GrantIsForAWSResource", "true"}};
        return AnyPrincipal(sid, "Allow", "kms:CreateGrant", std::move(condition));
    };
    return Policy::array(
        {grants("Allow creation of decryption grants", "Decrypt"),
         grants("Allow creation of encryption grant",
                Policy::array({"Encrypt", "ReEncryptFrom", "ReEncryptTo"})),
         AnyPrincipal("Allowed operations for the key owner", "Allow",
                      Policy::array({"kms:DescribeKey", "kms:ListGrants", "kms:RevokeGrant",
                                     "kms:GetKeyPolicy"}),
                      {{"StringEquals", {{"kms:CallerAccount", account}}}}),
         AnyPrincipal("Deny re-encryption to any other key", "Deny", "kms:ReEncrypt*",
                      {{"Bool", {{"kms:ReEncryptOnSameKey", "false"}}}}),
         AnyPrincipal("Allow decrypt", "Allow", "kms:Decrypt", CallerAndService(account, via))});
}

constexpr std::string_view kMetadata[] = {"kms:Describe*", "kms:Get*", "kms:List*"};
constexpr std::string_view kMetadataAndRevoke[] = {"kms:Describe*", "kms:Get*", "kms:List*",
                                                   "kms:RevokeGrant"};

Policy ServiceStatements(const ManagedService& s, const std::string& partition,
                         const std::string& account, const std::string& region) {
    const std::string via = std::string(s.via) + "." + region + ".amazonaws.com";
    if (s.name == "acm") return AcmStatements(account, via);
    const std::string any_region = std::string(s.via) + ".*.amazonaws.com";
    Policy condition = s.via_any_region ? Policy{{"StringEquals", {{"kms:CallerAccount", account}}},
                                                 {"StringLike", {{"kms:ViaService", any_region}}}}
                                        : CallerAndService(account, via);
    Policy out =
        Policy::array({AnyPrincipal(s.sid, "Allow", Strings(s.actions), std::move(condition))});
    if (s.extra == Extra::kAnyRegionDataKey)
        out.push_back(AnyPrincipal(s.sid, "Allow", "kms:GenerateDataKey*",
                                   {{"StringEquals", {{"kms:CallerAccount", account}}},
                                    {"StringLike", {{"kms:ViaService", any_region}}}}));
    if (s.extra == Extra::kServerless)
        out.push_back(AnyPrincipal(
            "Allow access through RedShift-Serverless for all principals in the account that are "
            "authorized to use RedShift-Serverless",
            "Allow", Strings(s.actions),
            CallerAndService(account, "redshift-serverless." + region + ".amazonaws.com")));
    out.push_back(Statement("Allow direct access to key metadata to the account",
                            {{"AWS", "arn:" + partition + ":iam::" + account + ":root"}},
                            s.revoke ? std::span<const std::string_view>(kMetadataAndRevoke)
                                     : std::span<const std::string_view>(kMetadata)));
    if (s.extra == Extra::kDescriber)
        out.push_back(Statement(s.describer_sid, {{"Service", s.describer}}, kMetadata));
    return out;
}

}  // namespace

std::string ManagedKeyPolicy(std::string_view service, const std::string& partition,
                             const std::string& account, const std::string& region) {
    const ManagedService* s = FindService(service);
    if (s == nullptr) return "";
    Policy policy = {{"Version", "2012-10-17"},
                     {"Id", s->id},
                     {"Statement", ServiceStatements(*s, partition, account, region)}};
    return policy.dump();
}

Result<storage::KeyPtr> FindOrCreateManagedKey(const OpContext& ctx,
                                               const std::string& alias_name) {
    const ManagedService* service = ServiceOfAlias(alias_name);
    const std::string& account = ctx.caller.account;
    const std::string& region = ctx.caller.region;
    if (service == nullptr)
        return Error(ErrorCode::kNotFound,
                     "Alias " + AliasArn(region, account, alias_name) + " is not found.");
    auto key = std::make_shared<storage::KeyRecord>();
    key->account = account;
    key->region = region;
    key->key_id = NewUuid();
    key->arn = KeyArn(region, account, key->key_id);
    key->creation_date = ops::Timestamp(ctx.Now());
    key->description = "Default key that protects my " + std::string(service->protects) +
                       " when no other key is defined";
    key->aws_managed = true;
    key->policy = ManagedKeyPolicy(service->name, Partition(region), account, region);
    key->rotation_enabled = true;
    key->rotation_period_days = kRotationDays;
    key->next_rotation_date = ops::Timestamp(key->creation_date + kRotationDays * kSecondsPerDay);
    KMSD_ASSIGN_OR_RETURN(hsm::SealedMaterial material,
                          ctx.services.hsm.GenerateKey(key->arn, key->key_spec));
    storage::Change change;
    storage::AddMaterial(change, *key, {material.material_id, key->creation_date, ""},
                         std::move(material.sealed));
    change.put_keys.push_back(key);
    auto alias = std::make_shared<storage::AliasRecord>();
    alias->account = account;
    alias->region = region;
    alias->alias_name = alias_name;
    alias->key_id = key->key_id;
    alias->creation_date = alias->last_updated = key->creation_date;
    change.put_aliases.push_back(alias);

    storage::KeyPtr out = key;
    KMSD_RETURN_IF_ERROR(ctx.services.catalog.Write([&]() -> Result<storage::Change> {
        // Another request may have made it meanwhile: then that one is the key.
        if (auto existing = ctx.services.catalog.FindAlias({account, region, alias_name})) {
            out = ctx.services.catalog.FindKey({account, region, existing->key_id});
            if (!out) return Error(ErrorCode::kInternal, "alias without its key");
            return storage::Change{};
        }
        return std::move(change);
    }));
    return out;
}

std::optional<std::string> ViaServiceOf(const OpContext& ctx, const storage::KeyRecord& key) {
    if (!key.aws_managed || !ctx.services.managed_keys_via_service) return std::nullopt;
    for (const auto& alias : ctx.services.catalog.AliasesOf(key.scoped()))
        if (const ManagedService* s = ServiceOfAlias(alias->alias_name))
            return std::string(s->via) + "." + key.region + ".amazonaws.com";
    return std::nullopt;
}

}  // namespace kmsd::api
