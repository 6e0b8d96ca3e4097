// Key policy text as AWS returns it from GetKeyPolicy (kms-reference §6.1): the default policy,
// and user policies re-serialised with member order kept by Jackson's default pretty printer
// (two-space indent, " : " separators, arrays inline as "[ a, b ]", objects on their own lines).
#pragma once

#include <string>

#include "common/status.h"

namespace kmsd::api {

std::string DefaultKeyPolicy(const std::string& partition, const std::string& account);

// Checks a policy document the way this scope requires (JSON object, size, characters)
// and returns it unchanged; MalformedPolicyDocumentException / LimitExceededException otherwise.
Status CheckPolicyDocument(const std::string& policy);

// Pretty-prints `policy` (valid JSON) in AWS's layout, keeping member order.
std::string FormatPolicy(const std::string& policy);

}  // namespace kmsd::api
