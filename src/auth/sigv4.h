// SigV4 (kms-reference §1.2): parsing the Authorization header, and in strict mode verifying the
// signature exactly as AWS computes it (canonical request → string to sign → HMAC chain).
// Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
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

// What SigV4 signs of an HTTP request.
struct SignedRequest {
    std::string method;
    std::string target;                                        // path and query, as sent
    std::vector<std::pair<std::string, std::string>> headers;  // every header, any name case
    std::string_view body;
};

// The canonical request over `signed_headers` (lower-case names, in the order given).
std::string CanonicalRequest(const SignedRequest& req,
                             const std::vector<std::string>& signed_headers);

// The signature (64 lower-case hex) of `canonical_request` for this credential scope.
std::string Sign(const std::string& secret, const std::string& amz_date, const Credential& scope,
                 const std::string& canonical_request);

}  // namespace kmsd::auth
