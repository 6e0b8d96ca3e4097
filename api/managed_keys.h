// AWS managed keys (kms-reference §5.7): the keys behind alias/aws/<service>. In AWS a service
// creates one in an account and Region the first time it needs it; until then ListAliases lists
// the alias without a target. kmsd creates the key the first time a request names the alias
// (DescribeKey, as AWS documents, and any other operation that accepts alias names, as a service
// would on first use). The key's policy is AWS's: the service may use it for callers of the
// account (kms:ViaService), the account may read its metadata, nobody may change it. Nothing here
// bypasses authorization: every restriction on these keys comes from that policy.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/context.h"
#include "common/status.h"
#include "storage/records.h"

namespace kmsd::api {

inline constexpr std::string_view kManagedAliasPrefix = "alias/aws/";

// True when `alias_name` is an alias/aws/<service> name whose key kmsd can make.
bool IsManagedAlias(std::string_view alias_name);

// The predefined alias names (listed before their keys exist), in name order. Other
// alias/aws/<service> names kmsd knows make their key on first use too, as the service would.
std::vector<std::string> ManagedAliasNames();

// The key `alias_name` (a predefined name) stands for in the caller's account and Region:
// the existing one, or a new AWS managed key with that alias, made in one write.
Result<storage::KeyPtr> FindOrCreateManagedKey(const OpContext& ctx, const std::string& alias_name);

// The value of kms:ViaService for a request on `key`, when the server treats calls on AWS
// managed keys as coming through their service (--aws-managed-keys-via-service):
// "<service>.<region>.amazonaws.com". nullopt for other keys, or when the switch is off.
std::optional<std::string> ViaServiceOf(const OpContext& ctx, const storage::KeyRecord& key);

// The key policy of the AWS managed key of `service` (e.g. "s3"), compact JSON.
std::string ManagedKeyPolicy(std::string_view service, const std::string& partition,
                             const std::string& account, const std::string& region);

}  // namespace kmsd::api
