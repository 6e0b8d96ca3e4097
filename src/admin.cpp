#include "src/admin.h"

#include <nlohmann/json.hpp>

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

namespace {

AdminReply ClockReply(const App& app) {
    nlohmann::json out = {{"now", app.Now()}, {"offset_seconds", app.ClockOffset()}};
    return {200, out.dump()};
}

AdminReply MoveClock(App& app, std::string_view body) {
    auto req = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (req.is_discarded() || !req.is_object()) return JsonError(400, "body must be a JSON object");
    double offset = app.ClockOffset();
    if (auto it = req.find("advance_seconds"); it != req.end() && it->is_number()) {
        if (it->get<double>() < 0) return JsonError(400, "the clock can only move forward");
        offset += it->get<double>();
    } else if (auto now = req.find("now"); now != req.end() && now->is_number()) {
        // "now" names a KMS time; the offset is what lies between it and wall time.
        const double target = now->get<double>();
        if (target < app.Now()) return JsonError(400, "the clock can only move forward");
        offset += target - app.Now();
    } else {
        return JsonError(400, "give advance_seconds or now (numbers)");
    }
    Status st = app.MoveClock(offset);
    if (st.code() == ErrorCode::kValidation) return JsonError(400, st.message());
    if (!st.ok()) return JsonError(500, "scheduled work failed");
    return ClockReply(app);
}

}  // namespace

AdminReply HandleAdmin(App& app, std::string_view method, std::string_view path,
                       std::string_view authorization, std::string_view body) {
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
    if (path == "/_kmsd/clock") {
        if (method == "GET") return ClockReply(app);
        if (method == "POST") return MoveClock(app, body);
        return JsonError(405, "method not allowed");
    }
    return JsonError(404, "no such admin endpoint");
}

}  // namespace kmsd
