// Key policy text as AWS returns it from GetKeyPolicy (kms-reference §6.1): the default policy,
// and user policies re-serialised with member order kept by Jackson's default pretty printer
// (two-space indent, " : " separators, arrays inline as "[ a, b ]", objects on their own lines).
#pragma once

#include <functional>
#include <string>

#include "common/status.h"

namespace kmsd::api {

std::string DefaultKeyPolicy(const std::string& partition, const std::string& account);

// Checks a key policy for CreateKey/PutKeyPolicy: size (LimitExceededException), the policy
// language and, when `principal_exists` is set (strict mode), that every principal it names
// exists (MalformedPolicyDocumentException). The lockout safety check needs the caller's
// identity and is ops::CheckNewKeyPolicy's.
Status CheckKeyPolicy(const std::string& policy,
                      const std::function<bool(const std::string&)>& principal_exists);

// Pretty-prints `policy` (valid JSON) in AWS's layout, keeping member order.
std::string FormatPolicy(const std::string& policy);

}  // namespace kmsd::api
