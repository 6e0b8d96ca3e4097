// Admin endpoints under /_kmsd/ (design.md §7): health, reset (also at /moto-api/reset for
// suites written against moto) and the KMS clock (GET, or POST {"advance_seconds": N} /
// {"now": <epoch seconds>}; time only moves forward and due work runs before the reply). With
// --admin-token, all but GET /_kmsd/health need "Authorization: Bearer <token>".
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "src/app.h"

namespace kmsd {

struct AdminReply {
    int http_status = 200;
    std::string body;  // JSON
};

// True if `path` belongs to the admin surface rather than the KMS API.
bool IsAdminPath(std::string_view path);

AdminReply HandleAdmin(App& app, std::string_view method, std::string_view path,
                       std::string_view authorization, std::string_view body);

}  // namespace kmsd
