// Key references: parsing key IDs, key ARNs, alias names and alias ARNs, and resolving them in the
// Catalog with AWS's exact NotFound messages (kms-reference §2.3), plus the key-state checks
// every operation shares (§5.2).
#pragma once

#include <string>
#include <string_view>

#include "api/context.h"
#include "common/status.h"
#include "storage/catalog.h"

namespace kmsd::api {

// "aws", "aws-cn" or "aws-us-gov" for a Region.
std::string Partition(const std::string& region);
std::string KeyArn(const std::string& region, const std::string& account, const std::string& id);
std::string AliasArn(const std::string& region, const std::string& account,
                     const std::string& alias_name);
// A lower-case random UUID v4.
std::string NewUuid();
// True for a UUID-form key ID or an mrk- multi-Region key ID.
bool IsKeyIdForm(const std::string& s);

enum class AliasRefs { kAllowed, kRejected };

// Resolves `ref` (ID, key ARN and, if allowed, alias name or alias ARN) to a key of the caller's
// Region and authorizes kms:<action> on it (action defaults to the running operation; IAM-only
// operations and internal callers without an operation are not checked against the key).
// Key ARNs of other accounts resolve for the actions AWS allows across accounts; aliases never
// do. Errors are NotFoundException with AWS's text, then AccessDeniedException.
// ResolveKey without the authorization: for code that must find a key without asking for
// permission on it (a condition key's value). `alias` receives the alias the key was named by.
Result<storage::KeyPtr> LookupKey(const OpContext& ctx, const std::string& ref, AliasRefs aliases,
                                  std::string_view action, std::string* alias = nullptr);

Result<storage::KeyPtr> ResolveKey(const OpContext& ctx, const std::string& ref, AliasRefs aliases,
                                   std::string_view action = {});

// Key-state gates. Crypto operations need Enabled; DisabledException only for Disabled.
Status RequireEnabled(const storage::KeyRecord& key);
// Metadata changes that PendingDeletion forbids (CreateAlias, TagResource, ...).
Status RequireNotPendingDeletion(const storage::KeyRecord& key);

}  // namespace kmsd::api
