// SigV4 (kms-reference §1.2): parsing the Authorization header, and in strict mode verifying the
// signature exactly as AWS computes it (canonical request → string to sign → HMAC chain).
// Pure functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace kmsd::auth {

struct Credential {
    std::string access_key_id;
    std::string date;  // YYYYMMDD
    std::string region;
    std::string service;  // "kms"
    std::vector<std::string> signed_headers;
    std::string signature;  // 64 lower-case hex
    // The scope's last element. Defaulted so that a Credential built in code is well formed.
    std::string terminator = "aws4_request";
};

// Parses "AWS4-HMAC-SHA256 Credential=AK/20240101/us-east-1/kms/aws4_request,
// SignedHeaders=host;x-amz-date, Signature=<hex>". nullopt if it is not that shape (five
// scope elements; the terminator is checked by CheckCredentialScope, with AWS's message).
std::optional<Credential> ParseAuthorization(std::string_view header);

// The same parse, as views into `header` (SignedHeaders unsplit): what open mode reads of every
// request, without the allocations of a Credential. Accepts exactly what ParseAuthorization does.
struct CredentialView {
    std::string_view access_key_id, date, region, service, terminator;
    std::string_view signed_headers;  // "host;x-amz-date"
    std::string_view signature;
};
std::optional<CredentialView> ParseAuthorizationView(std::string_view header);

// IncompleteSignatureException's text for a header ParseAuthorization refused, in the words of
// AWS's SigV4 front end: a part without '=' is named; otherwise one sentence per missing
// parameter (Credential, Signature, SignedHeaders), then the missing date header if
// `has_date_header` is false, then "Authorization=<header>".
std::string IncompleteAuthorizationMessage(std::string_view header, bool has_date_header);

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
std::string Sign(std::string_view secret, const std::string& amz_date, const Credential& scope,
                 const std::string& canonical_request);

// The value of header `lower_name` (lower case) in `req`, any name case; "" when absent.
std::string HeaderValue(const SignedRequest& req, std::string_view lower_name);
// The same as a view into `req`.
std::string_view HeaderView(const SignedRequest& req, std::string_view lower_name);

// The header that dates the request as AWS reads it: "x-amz-date", else "date", else "" when
// the request has neither.
std::string_view DateHeaderName(const SignedRequest& req);

// Strict mode: SignedHeaders must cover `host` and the request's date header, as AWS requires,
// and, stricter than AWS, `x-amz-target` and (when sent) `x-amz-security-token`, so that a
// captured signature cannot be replayed as another operation or with another session.
// InvalidSignatureException "'<Header>' must be a 'SignedHeader' in the AWS Authorization."
Status CheckSignedHeaders(const Credential& cred, const SignedRequest& req);

// Strict mode: the credential scope names a Region (the KMS model's pattern
// ^([a-z]+-){2,3}\d+$), the service kms, the terminator aws4_request and the date of
// `request_date` (YYYYMMDD'T'HHMMSS'Z'). Every violation in one InvalidSignatureException, in
// AWS's order and words.
Status CheckCredentialScope(const Credential& cred, std::string_view request_date);

// Whether `s` matches the KMS model's Region pattern ^([a-z]+-){2,3}\d+$ (us-east-1,
// us-gov-west-1, cn-north-1), by hand.
bool IsRegionName(std::string_view s);

// Whether the session token sent equals the one on file, in time independent of where they
// differ and of their lengths (both are hashed first).
bool SessionTokenMatches(std::string_view presented, std::string_view expected);

}  // namespace kmsd::auth
