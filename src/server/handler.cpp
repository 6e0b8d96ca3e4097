#include "src/server/handler.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>
#include <optional>
#include <string>

#include "api/errors.h"
#include "api/resolve.h"
#include "api/validate.h"
#include "common/base64.h"
#include "common/clock.h"
#include "hsm/blob.h"
#include "src/admin.h"
#include "src/auth/sigv4.h"

namespace kmsd {
namespace {

namespace http = boost::beast::http;

std::string_view View(boost::beast::string_view s) { return {s.data(), s.size()}; }

// The headers the API path reads, found in one pass over the request's fields: req[name] is a
// search of Beast's name-ordered set, about 400 instructions each, and a request needed five.
// The first of a repeated header counts, as with req[name].
struct ApiHeaders {
    std::string_view target, content_type, authorization, user_agent;
};

ApiHeaders ApiHeadersOf(const Request& req) {
    ApiHeaders out;
    bool target = false, content_type = false, authorization = false, user_agent = false;
    const auto take = [](bool& seen, std::string_view& to, boost::beast::string_view value) {
        if (seen) return;
        seen = true;
        to = View(value);
    };
    for (const auto& field : req) {
        switch (field.name()) {
            case http::field::content_type:
                take(content_type, out.content_type, field.value());
                break;
            case http::field::authorization:
                take(authorization, out.authorization, field.value());
                break;
            case http::field::user_agent:
                take(user_agent, out.user_agent, field.value());
                break;
            case http::field::unknown:
                if (boost::beast::iequals(field.name_string(), "X-Amz-Target"))
                    take(target, out.target, field.value());
                break;
            default:
                break;
        }
    }
    return out;
}

// What SigV4 covers of `req`. Open mode reads only the Authorization header, so the hot path
// copies no other headers.
auth::SignedRequest SignedPartsOf(const App& app, const Request& req,
                                  std::string_view authorization) {
    auth::SignedRequest out;
    if (!app.strict_auth()) {
        out.headers.emplace_back("authorization", std::string(authorization));
        return out;
    }
    out.method = std::string(req.method_string());
    out.target = std::string(req.target());
    for (const auto& field : req)
        out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    out.body = std::string_view(req.body().data(), req.body().size());
    return out;
}

}  // namespace

const std::string& HttpDate() {
    // Formatted once per second per thread: strftime is a tenth of a microsecond per reply.
    thread_local std::time_t formatted_at = -1;
    thread_local std::string formatted;
    const std::time_t now = std::time(nullptr);
    if (now != formatted_at) {
        formatted = FormatUtc(static_cast<double>(now), "%a, %d %b %Y %H:%M:%S GMT");
        formatted_at = now;
    }
    return formatted;
}

Response HttpErrorResponse(http::status status) {
    Response res{status, 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::date, HttpDate());
    res.set("x-amzn-RequestId", api::NewUuid());
    res.keep_alive(false);
    switch (status) {
        case http::status::payload_too_large:
            res.body() = "{\"message\":\"Request body too large\"}";
            break;
        case http::status::service_unavailable:
            res.set(http::field::retry_after, "1");
            res.body() = "{\"message\":\"Too many large requests in flight; retry\"}";
            break;
        case http::status::request_header_fields_too_large:
            res.body() = "{\"message\":\"Request header fields too large\"}";
            break;
        default:
            res.body() = "{\"message\":\"Bad request\"}";
    }
    res.prepare_payload();
    return res;
}

namespace {

Response HandleRequest(App& app, Request& req, std::string_view peer_ip) {
    const auto started = std::chrono::steady_clock::now();
    const std::string request_id = api::NewUuid();
    std::string_view path = View(req.target());
    Response res{http::status::ok, req.version()};
    res.set(http::field::date, HttpDate());
    res.set("x-amzn-RequestId", request_id);
    res.keep_alive(req.keep_alive());
    if (IsAdminPath(path)) {
        AdminReply reply = HandleAdmin(
            app,
            {View(req.method_string()), path, View(req[http::field::authorization]),
             View(req[http::field::content_type]), View(req[http::field::origin]),
             View(req[http::field::host]), std::string_view(req.body().data(), req.body().size())});
        res.result(static_cast<unsigned>(reply.http_status));
        res.set(http::field::content_type, reply.content_type);
        res.body() = SecureString(reply.body.data(), reply.body.size());
        res.prepare_payload();
        return res;
    }
    const ApiHeaders headers = ApiHeadersOf(req);
    const std::string_view target = headers.target;
    api::Response out;
    auto caller = app.Authenticate(SignedPartsOf(app, req, headers.authorization));
    if (caller.ok()) {
        caller->source_ip = std::string(peer_ip);
        // Only the audit record reads it: not copied when nothing keeps records.
        if (app.services().audit != nullptr) caller->user_agent = std::string(headers.user_agent);
    }
    if (!caller.ok()) {
        api::WireError wire = api::ToWire(caller.status());
        out = {wire.http_status, std::move(wire.body), std::move(wire.type), nullptr,
               api::OperationIndexOfTarget(target)};
    } else if (req.method() == http::verb::post) {
        out = app.dispatcher().Dispatch(*caller, target, headers.content_type,
                                        std::string_view(req.body().data(), req.body().size()),
                                        request_id);
    } else {
        // KMS is POST only; any other method cannot name an operation.
        out = app.dispatcher().Dispatch(*caller, "", "", "", request_id);
    }
    res.result(static_cast<unsigned>(out.http_status));
    res.set(http::field::content_type, "application/x-amz-json-1.1");
    if (!out.error_type.empty()) res.set("x-amzn-ErrorType", out.error_type);
    res.body() = std::move(out.body);
    res.prepare_payload();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    app.metrics().Record(out.operation, out.error_type, seconds);
    // One line per request at debug: never a body, a plaintext or key material.
    spdlog::debug("request {} {} {} {} {}us key={} caller={}", request_id, target, out.http_status,
                  out.error_type.empty() ? "OK" : out.error_type,
                  static_cast<long long>(seconds * 1e6), out.key ? out.key->arn : "-",
                  caller.ok() ? caller->principal_arn : "-");
    return res;
}

}  // namespace

namespace {

// The text of the string member `"name": "..."` of a JSON object's text, found by a linear scan
// rather than a parse (MayWaitOnProxy runs before the body is parsed). nullopt when the member is
// not there; "?" when it is there but not as a plain string (an escape, another type): the
// caller then assumes the worst. What it finds only decides which thread runs the request.
std::optional<std::string_view> ScanStringMember(std::string_view body, std::string_view name) {
    const std::string quoted = "\"" + std::string(name) + "\"";
    std::size_t at = body.find(quoted);
    if (at == std::string_view::npos) return std::nullopt;
    at += quoted.size();
    const auto skip_space = [&] {
        while (at < body.size() &&
               (body[at] == ' ' || body[at] == '\t' || body[at] == '\n' || body[at] == '\r'))
            ++at;
    };
    skip_space();
    if (at >= body.size() || body[at] != ':') return "?";
    ++at;
    skip_space();
    if (at >= body.size() || body[at] != '"') return "?";
    const std::size_t start = ++at;
    const std::size_t end = body.find_first_of("\"\\", start);
    if (end == std::string_view::npos || body[end] != '"') return "?";
    return body.substr(start, end - start);
}

// Whether the key `member` names may be in an external key store: a key ID or key ARN of one,
// or an alias (not resolved here).
bool NamesExternalKey(const App& app, std::string_view body, std::string_view member) {
    const auto ref = ScanStringMember(body, member);
    if (!ref) return false;  // no key named: the request fails before any proxy
    if (*ref == "?" || ref->find("alias/") != std::string_view::npos) return true;
    const std::size_t slash = ref->rfind('/');
    return app.services().catalog.IsExternalKeyId(
        slash == std::string_view::npos ? *ref : ref->substr(slash + 1));
}

// Whether CiphertextBlob is a blob of a key in an external key store (its third byte,
// hsm/blob.h's kXksEnvelopeKind): the first four base64 characters tell.
bool CarriesExternalCiphertext(std::string_view body) {
    const auto blob = ScanStringMember(body, "CiphertextBlob");
    if (!blob) return false;
    if (blob->size() < 4) return *blob == "?";
    const auto head = Base64Decode(blob->substr(0, 4));
    return !head || head->size() != 3 || (*head)[2] == hsm::kXksEnvelopeKind;
}

}  // namespace

bool MayWaitOnProxy(const App& app, const Request& req) {
    const std::string_view target = ApiHeadersOf(req).target;
    if (!app.services().catalog.HasExternalStores()) {
        // The store operations that reach a proxy before any external key store exists.
        return target == "TrentService.CreateCustomKeyStore" ||
               target == "TrentService.UpdateCustomKeyStore";
    }
    constexpr std::string_view kPrefix = "TrentService.";
    const std::string_view body(req.body().data(), req.body().size());
    if (target.substr(0, kPrefix.size()) == kPrefix) {
        const std::string_view op = target.substr(kPrefix.size());
        if (op == "CreateCustomKeyStore" || op == "UpdateCustomKeyStore") return true;
        if (op == "CreateKey") return body.find("EXTERNAL_KEY_STORE") != std::string_view::npos;
        if (op == "Encrypt" || op == "GenerateDataKey" || op == "GenerateDataKeyWithoutPlaintext")
            return NamesExternalKey(app, body, "KeyId");
        if (op == "Decrypt") return CarriesExternalCiphertext(body);
        if (op == "ReEncrypt")
            return CarriesExternalCiphertext(body) ||
                   NamesExternalKey(app, body, "DestinationKeyId");
        return false;
    }
    // Advancing the clock finishes connections, which asks proxies for their health.
    std::string_view path = View(req.target());
    path = path.substr(0, path.find('?'));
    return path == "/_kmsd/clock" && req.method() == http::verb::post;
}

Response HandleHttpRequest(App& app, Request& req, std::string_view peer_ip) {
    // An exception that left a session's handler would end io_context::run and the process with
    // it; one request's failure must stay that request's 500. (Dispatch catches its own; this
    // also covers the admin surface, authentication and building the reply.)
    try {
        return HandleRequest(app, req, peer_ip);
    } catch (const std::exception& e) {
        spdlog::error("request failed: {}", e.what());
    } catch (...) {
        spdlog::error("request failed: unknown exception");
    }
    api::WireError wire = api::ToWire(Error(ErrorCode::kInternal));
    Response res{http::status::internal_server_error, 11};
    res.set(http::field::date, HttpDate());
    res.set("x-amzn-RequestId", api::NewUuid());
    res.set(http::field::content_type, "application/x-amz-json-1.1");
    res.set("x-amzn-ErrorType", wire.type);
    res.keep_alive(false);
    res.body() = std::move(wire.body);
    res.prepare_payload();
    return res;
}

}  // namespace kmsd
