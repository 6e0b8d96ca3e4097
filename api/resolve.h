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
// A hint that the key `ref` names (a key ID or key ARN; an alias is ignored) is looked up soon:
// the catalog starts loading where that lookup begins. Never fails and changes nothing; any
// text is accepted, as it runs before the request is validated.
void PrefetchKey(const Services& services, const Caller& caller, std::string_view ref);

// Finds the key `ref` names (an ID, a key ARN and, if `aliases` allows, an alias name or alias
// ARN) in the caller's Region, with AWS's NotFoundException texts (kms-reference §2.3). Key ARNs
// and alias ARNs of other accounts resolve only when `cross_account`; alias names are always the
// caller's. Nothing is authorized here: OpContext::Key applies a route's declaration, and code
// that must find a key without asking for permission on it (a condition key's value) calls this.
// `alias` receives the alias the key was named by.
Result<storage::KeyPtr> LookupKey(const OpContext& ctx, const std::string& ref, AliasRefs aliases,
                                  bool cross_account, std::string* alias = nullptr);

// Key-state gates. Crypto operations need Enabled; DisabledException only for Disabled.
Status RequireEnabled(const storage::KeyRecord& key);
// Metadata changes that PendingDeletion forbids (CreateAlias, TagResource, ...).
Status RequireNotPendingDeletion(const storage::KeyRecord& key);
// The gate a route declares (api/route.h), with AWS's error for each state.
Status CheckKeyState(const storage::KeyRecord& key, KeyStates states);

}  // namespace kmsd::api
