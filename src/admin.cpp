#include "src/admin.h"

#include "hsm/crypto.h"

namespace kmsd {
namespace {

AdminReply JsonError(int status, const std::string& message) {
    return {status, "{\"error\":\"" + message + "\"}"};
}

bool TokenMatches(const std::string& token, std::string_view authorization) {
    constexpr std::string_view kBearer = "Bearer ";
    if (authorization.substr(0, kBearer.size()) != kBearer) return false;
    auto given = authorization.substr(kBearer.size());
    // Constant time, so the token cannot be guessed byte by byte from response times.
    return hsm::ConstantTimeEquals(
        View(token), {reinterpret_cast<const std::uint8_t*>(given.data()), given.size()});
}

}  // namespace

bool IsAdminPath(std::string_view path) {
    return path.substr(0, 7) == "/_kmsd/" || path == "/_kmsd" || path.substr(0, 10) == "/moto-api/";
}

AdminReply HandleAdmin(App& app, std::string_view method, std::string_view path,
                       std::string_view authorization) {
    if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
    if (path == "/_kmsd/health") {
        if (method != "GET" && method != "HEAD") return JsonError(405, "method not allowed");
        return {200, "{\"status\":\"ok\"}"};
    }
    const std::string& token = app.options().server.admin_token;
    if (!token.empty() && !TokenMatches(token, authorization))
        return JsonError(401, "admin token required");
    if (path == "/_kmsd/reset" || path == "/moto-api/reset") {
        if (method != "POST") return JsonError(405, "method not allowed");
        Status st = app.Reset();
        if (!st.ok()) return JsonError(500, "reset failed");
        return {200, "{\"status\":\"reset\"}"};
    }
    return JsonError(404, "no such admin endpoint");
}

}  // namespace kmsd
