// Authorization of every request (design.md §5, kms-reference §6.2): the key policy, the caller's
// identity policies and the key's grants, combined by authz::Decide. Operations never call the
// evaluator directly: the route table declares what each operation needs (api/route.h) and
// api/access.cpp, the one place that applies a declaration, calls these.
#pragma once

#include <string>
#include <string_view>

#include "api/context.h"
#include "common/status.h"
#include "storage/records.h"

namespace kmsd::api {

// Whether grants on the key may allow the action (RetireGrant's fallback to policies may not:
// a grant's right to retire covers only that grant).
enum class Grants { kConsulted, kIgnored };

// kms:<action> on `key` for the caller of `ctx`. AccessDeniedException with AWS's message when
// denied. `request_alias` is the alias the request named the key by ("" if none).
Status AuthorizeKey(const OpContext& ctx, const storage::KeyRecord& key, std::string_view action,
                    const std::string& request_alias = "", Grants grants = Grants::kConsulted);

// kms:<action> on `resource` ("*" or an alias ARN) by identity policies alone.
Status AuthorizeIam(const OpContext& ctx, std::string_view action, const std::string& resource);

// Every GrantTokens entry of the request is a token this server issued;
// InvalidGrantTokenException otherwise.
Status CheckGrantTokens(const OpContext& ctx);

}  // namespace kmsd::api
