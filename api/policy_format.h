// Key policy text as AWS returns it from GetKeyPolicy (kms-reference §6.1): the default policy,
// and user policies re-serialised with member order kept by Jackson's default pretty printer
// (two-space indent, " : " separators, arrays inline as "[ a, b ]", objects on their own lines).
#pragma once

#include <string>

#include "common/status.h"

namespace kmsd::api {

std::string DefaultKeyPolicy(const std::string& partition, const std::string& account);

// Checks a key policy for CreateKey/PutKeyPolicy: size (LimitExceededException), the policy
// language (MalformedPolicyDocumentException), and unless `bypass_lockout`, that the policy still
// lets `caller` call PutKeyPolicy on `key_arn` (the lockout safety check, kms-reference §6.3).
Status CheckKeyPolicy(const std::string& policy, const std::string& key_arn,
                      const std::string& caller_arn, const std::string& caller_account,
                      bool bypass_lockout);

// Pretty-prints `policy` (valid JSON) in AWS's layout, keeping member order.
std::string FormatPolicy(const std::string& policy);

}  // namespace kmsd::api
