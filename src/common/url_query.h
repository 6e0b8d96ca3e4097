// The query string of an admin URL ("eventName=Encrypt&limit=10"): name=value pairs split on
// '&', percent-escapes and '+' decoded. Work is linear in the input; the HTTP parser's header
// limit bounds the input.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace kmsd {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

// kValidation for a malformed escape ("%4", "%zz"). A pair without '=' has an empty value.
Result<QueryParams> ParseUrlQuery(std::string_view query);

}  // namespace kmsd
