// The web console (GET /_kmsd/ui) and the read-only admin JSON endpoints it reads, which a script
// can read as well (README, "Admin endpoints"):
//   GET /_kmsd/keys?limit=&marker=  every key (all accounts and Regions) with its aliases, tags
//                                   and rotation; pages of `limit` (1-1000, default 100)
//   GET /_kmsd/keys/<key ARN>       one key: metadata, aliases, tags, policy, grants, key
//                                   materials and its newest audit records
// The page is static (HTML, CSS and JS embedded in the binary, no CDN) and builds every element
// with textContent, so a description or tag holding markup shows as text.
#pragma once

#include <string_view>

#include "src/admin.h"
#include "src/app.h"

namespace kmsd {

AdminReply ConsolePage();
AdminReply ListKeysForConsole(const App& app, std::string_view query);
// `arn` is the part of the path after /_kmsd/keys/ (percent-encoded or not).
AdminReply KeyForConsole(const App& app, std::string_view arn);

inline constexpr long kMaxConsoleKeys = 1000;

}  // namespace kmsd
