// SigV4: parsing the Authorization header into the caller's access key and the Region of its
// credential scope (kms-reference §1.2). Signature verification is the strict-mode issue's.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kmsd::auth {

struct Credential {
    std::string access_key_id;
    std::string date;  // YYYYMMDD
    std::string region;
    std::string service;  // "kms"
    std::vector<std::string> signed_headers;
    std::string signature;  // 64 lower-case hex
};

// Parses "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/kms/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=<hex>". nullopt if it is not that shape.
std::optional<Credential> ParseAuthorization(std::string_view header);

}  // namespace kmsd::auth
