#include "src/admin.h"

#include <cmath>
#include <cstdlib>
#include <ctime>
#include <nlohmann/json.hpp>

#include "api/key_stores.h"
#include "common/json_limits.h"
#include "common/url_query.h"
#include "hsm/crypto.h"
#include "src/console.h"
#include "src/metrics.h"
#include "src/seed.h"

namespace kmsd {
namespace {

AdminReply JsonError(int status, const std::string& message) {
    // Escaped: a message may quote what the client sent.
    return {status, nlohmann::json{{"error", message}}.dump(
                        -1, ' ', false, nlohmann::json::error_handler_t::replace)};
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
    if (!JsonNestingWithin(body)) return JsonError(400, "body must be a JSON object");
    auto req = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (req.is_discarded() || !req.is_object()) return JsonError(400, "body must be a JSON object");
    const auto advance = req.find("advance_seconds");
    const auto at = req.find("now");
    const bool by_advance = advance != req.end() && advance->is_number();
    if (!by_advance && !(at != req.end() && at->is_number()))
        return JsonError(400, "give advance_seconds or now (numbers)");
    const double value = by_advance ? advance->get<double>() : at->get<double>();
    // Computed from the offset current under App's clock lock: concurrent advances add up.
    Status st = app.MoveClock([&](double offset) -> Result<double> {
        if (!std::isfinite(value))
            return Error(ErrorCode::kValidation, "the clock can only move forward");
        if (by_advance) {
            if (value < 0) return Error(ErrorCode::kValidation, "the clock can only move forward");
            offset += value;
        } else {
            // "now" names a KMS time; the offset is what lies between it and wall time.
            const double now = app.Now();
            if (value < now)
                return Error(ErrorCode::kValidation, "the clock can only move forward");
            offset += value - now;
        }
        if (offset > kMaxClockOffsetSeconds)
            return Error(ErrorCode::kValidation,
                         "the clock can move at most 100 years (3155760000 seconds) ahead of "
                         "wall time");
        return offset;
    });
    if (st.code() == ErrorCode::kValidation) return JsonError(400, st.message());
    if (!st.ok()) return JsonError(500, "scheduled work failed");
    return ClockReply(app);
}

// GET lists the simulated CloudHSM clusters; POST declares one (api/key_stores.h).
AdminReply CloudHsmClusters(App& app, std::string_view method, std::string_view body) {
    if (method == "GET") {
        nlohmann::ordered_json list = nlohmann::ordered_json::array();
        for (const auto& cluster : app.services().catalog.AllClusters())
            list.push_back(api::ClusterJson(*cluster));
        return {200, nlohmann::ordered_json{{"Clusters", std::move(list)}}.dump()};
    }
    if (method != "POST") return JsonError(405, "method not allowed");
    if (!JsonNestingWithin(body)) return JsonError(400, "body must be a JSON object");
    auto spec = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (spec.is_discarded()) return JsonError(400, "body must be a JSON object");
    auto cluster = api::DeclareCluster(app.services(), spec, app.options().identity.account_id,
                                       app.options().identity.region);
    if (cluster.status().code() == ErrorCode::kValidation)
        return JsonError(400, cluster.status().message());
    if (!cluster.ok()) return JsonError(500, "declaring the cluster failed");
    return {200, cluster->dump()};
}

// "2026-11-30T08:00:00Z" (the Z optional) or epoch seconds, as a KMS time.
std::optional<double> ParseSince(const std::string& text) {
    if (text.empty() || text.size() > 32) return std::nullopt;
    if (text.find('T') != std::string::npos) {
        std::tm tm{};
        const char* end = strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
        if (end == nullptr || (*end != '\0' && std::string_view(end) != "Z")) return std::nullopt;
        return static_cast<double>(timegm(&tm));
    }
    char* end = nullptr;
    const double value = std::strtod(text.c_str(), &end);
    if (end == text.c_str() || *end != '\0' || !std::isfinite(value)) return std::nullopt;
    return value;
}

// GET /_kmsd/audit?eventName=&keyArn=&since=&limit=: the ring's CloudTrail records, newest
// first, as a CloudTrail log file holds them ({"Records": [...]}).
AdminReply AuditRecords(const App& app, std::string_view query) {
    auto params = ParseUrlQuery(query);
    if (!params.ok()) return JsonError(400, params.status().message());
    AuditLog::Query q;
    for (const auto& [name, value] : *params) {
        if (value.size() > 2048) return JsonError(400, name + " is too long");
        if (name == "eventName") {
            q.event_name = value;
        } else if (name == "keyArn") {
            q.key_arn = value;
        } else if (name == "since") {
            auto since = ParseSince(value);
            if (!since)
                return JsonError(400, "since must be epoch seconds or 2006-01-02T15:04:05Z");
            q.since = *since;
        } else if (name == "limit") {
            char* end = nullptr;
            const long n = std::strtol(value.c_str(), &end, 10);
            if (value.empty() || *end != '\0' || n < 1 || n > kMaxAuditLimit)
                return JsonError(400, "limit must be 1 to " + std::to_string(kMaxAuditLimit));
            q.limit = static_cast<std::size_t>(n);
        } else {
            return JsonError(400, "unknown parameter (eventName, keyArn, since, limit)");
        }
    }
    // Formatted outside the ring's lock, from the events Find returned.
    nlohmann::ordered_json records = nlohmann::ordered_json::array();
    for (const auto& event : app.audit().Find(q)) records.push_back(api::FormatCloudTrail(event));
    nlohmann::ordered_json out = {{"Records", std::move(records)}};
    return {200, out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)};
}

bool LoopbackOrAddress(std::string_view host) {
    // Host is "name[:port]" or "[v6]:port".
    if (!host.empty() && host.front() == '[') return true;  // an IPv6 literal
    if (auto colon = host.rfind(':'); colon != std::string_view::npos) host = host.substr(0, colon);
    if (host == "localhost") return true;
    return !host.empty() && host.find_first_not_of("0123456789.") == std::string_view::npos;
}

// See AdminRequest: the checks that keep web pages away from state-changing admin calls.
std::optional<AdminReply> RefuseFromBrowser(const AdminRequest& req) {
    if (!req.origin.empty()) {
        const bool own = req.origin.substr(0, 7) == "http://" && req.origin.substr(7) == req.host &&
                         LoopbackOrAddress(req.host);
        if (!own) return JsonError(403, "cross-origin admin requests are refused");
    }
    if (!req.body.empty()) {
        std::string_view media = req.content_type.substr(0, req.content_type.find(';'));
        while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
        if (media != "application/json")
            return JsonError(415, "admin requests with a body need Content-Type application/json");
    }
    return std::nullopt;
}

}  // namespace

AdminReply HandleAdmin(App& app, const AdminRequest& req) {
    std::string_view path = req.path;
    if (auto q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);
    if (path == "/_kmsd/health") {
        if (req.method != "GET" && req.method != "HEAD")
            return JsonError(405, "method not allowed");
        return {200, "{\"status\":\"ok\"}"};
    }
    // The console page holds no data: a browser opening the URL cannot send a token, so the
    // page asks for it and sends it on the requests it makes itself.
    if (path == "/_kmsd/ui" || path == "/_kmsd/ui/") {
        if (req.method != "GET" && req.method != "HEAD")
            return JsonError(405, "method not allowed");
        return ConsolePage();
    }
    const std::string& token = app.options().server.admin_token;
    if (!token.empty() && !TokenMatches(token, req.authorization))
        return JsonError(401, "admin token required");
    if (req.method == "POST")
        if (auto refused = RefuseFromBrowser(req)) return *refused;
    if (path == "/_kmsd/reset" || path == "/moto-api/reset") {
        if (req.method != "POST") return JsonError(405, "method not allowed");
        Status st = app.Reset();
        if (!st.ok()) return JsonError(500, "reset failed");
        return {200, "{\"status\":\"reset\"}"};
    }
    if (path == "/_kmsd/export") {
        if (req.method != "GET") return JsonError(405, "method not allowed");
        auto seed = ExportSeed(app.services(), app.options().allow_export_material);
        if (!seed.ok()) return JsonError(500, "export failed");
        return {200, std::move(seed.value())};
    }
    if (path == "/_kmsd/metrics") {
        if (req.method != "GET") return JsonError(405, "method not allowed");
        return {200, RenderMetrics(app), "text/plain; version=0.0.4; charset=utf-8"};
    }
    if (path == "/_kmsd/audit") {
        if (req.method != "GET") return JsonError(405, "method not allowed");
        const auto q = req.path.find('?');
        return AuditRecords(app, q == std::string_view::npos ? "" : req.path.substr(q + 1));
    }
    if (path == "/_kmsd/keys" || path.substr(0, 12) == "/_kmsd/keys/") {
        if (req.method != "GET") return JsonError(405, "method not allowed");
        if (path.size() > 12) return KeyForConsole(app, path.substr(12));
        const auto q = req.path.find('?');
        return ListKeysForConsole(app, q == std::string_view::npos ? "" : req.path.substr(q + 1));
    }
    if (path == "/_kmsd/cloudhsm-clusters") return CloudHsmClusters(app, req.method, req.body);
    if (path == "/_kmsd/clock") {
        if (req.method == "GET") return ClockReply(app);
        if (req.method == "POST") return MoveClock(app, req.body);
        return JsonError(405, "method not allowed");
    }
    return JsonError(404, "no such admin endpoint");
}

}  // namespace kmsd
