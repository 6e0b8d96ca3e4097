// Admin endpoints under /_kmsd/ (design.md §7): health, reset (also at /moto-api/reset for
// suites written against moto), the KMS clock (GET, or POST {"advance_seconds": N} /
// {"now": <epoch seconds>}; time only moves forward and due work runs before the reply) and
// metrics (GET, Prometheus text format), audit (GET, CloudTrail records: see AuditRecords), keys
// and keys/<ARN> (GET, for the console) and ui (the web console page, src/console.h). With
// --admin-token, all but GET /_kmsd/health and the ui page need "Authorization: Bearer <token>".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "src/app.h"

namespace kmsd {

struct AdminReply {
    int http_status = 200;
    std::string body;
    std::string content_type = "application/json";
};

// True if `path` belongs to the admin surface rather than the KMS API.
bool IsAdminPath(std::string_view path);

// What the admin endpoints read of an HTTP request.
struct AdminRequest {
    std::string_view method;
    std::string_view path;  // the request target, query string included
    std::string_view authorization;
    std::string_view content_type;
    std::string_view origin;  // empty when the request has no Origin header
    std::string_view host;    // the Host header
    std::string_view body;
};

// No web page may reset or move a kmsd on localhost (a browser sends Origin on every cross-site
// POST, and cannot send Content-Type application/json across sites without a preflight kmsd
// never answers): a POST with a body needs Content-Type application/json, and a request with an
// Origin needs kmsd's own (http://<Host>, with Host a loopback name or an IP address, which a
// DNS-rebinding page cannot claim). A body-less POST without Origin (moto's reset) is fine.
AdminReply HandleAdmin(App& app, const AdminRequest& req);

// Most records one GET /_kmsd/audit returns (limit=); 50 without a limit.
inline constexpr long kMaxAuditLimit = 1000;

// Largest move of the KMS clock ahead of wall time: 100 years. Far enough for any rotation or
// deletion test, near enough that every date stays a four-digit year.
inline constexpr double kMaxClockOffsetSeconds = 100.0 * 365.25 * 86400.0;

}  // namespace kmsd
