#include "api/dispatcher.h"

#include <spdlog/spdlog.h>

#include <exception>

#include "api/authorize.h"
#include "api/errors.h"
#include "api/json.h"
#include "api/ops/common.h"
#include "api/validate.h"

namespace kmsd::api {
namespace {

constexpr std::string_view kTargetPrefix = "TrentService.";

struct Route {
    std::string_view name;
    ops::Handler handler;
};

// One row per implemented operation. Model operations missing here answer
// UnsupportedOperationException until their issue lands.
constexpr Route kRoutes[] = {
    {"CancelKeyDeletion", &ops::CancelKeyDeletion},
    {"CreateAlias", &ops::CreateAlias},
    {"CreateGrant", &ops::CreateGrant},
    {"CreateKey", &ops::CreateKey},
    {"Decrypt", &ops::Decrypt},
    {"DeleteAlias", &ops::DeleteAlias},
    {"DescribeKey", &ops::DescribeKey},
    {"DisableKey", &ops::DisableKey},
    {"DisableKeyRotation", &ops::DisableKeyRotation},
    {"EnableKey", &ops::EnableKey},
    {"EnableKeyRotation", &ops::EnableKeyRotation},
    {"Encrypt", &ops::Encrypt},
    {"GenerateDataKey", &ops::GenerateDataKey},
    {"GenerateDataKeyWithoutPlaintext", &ops::GenerateDataKeyWithoutPlaintext},
    {"GenerateRandom", &ops::GenerateRandom},
    {"GetKeyLastUsage", &ops::GetKeyLastUsage},
    {"GetKeyPolicy", &ops::GetKeyPolicy},
    {"GetKeyRotationStatus", &ops::GetKeyRotationStatus},
    {"ListAliases", &ops::ListAliases},
    {"ListGrants", &ops::ListGrants},
    {"ListKeyPolicies", &ops::ListKeyPolicies},
    {"ListKeyRotations", &ops::ListKeyRotations},
    {"ListKeys", &ops::ListKeys},
    {"ListResourceTags", &ops::ListResourceTags},
    {"ListRetirableGrants", &ops::ListRetirableGrants},
    {"PutKeyPolicy", &ops::PutKeyPolicy},
    {"ReEncrypt", &ops::ReEncrypt},
    {"RetireGrant", &ops::RetireGrant},
    {"RevokeGrant", &ops::RevokeGrant},
    {"RotateKeyOnDemand", &ops::RotateKeyOnDemand},
    {"ScheduleKeyDeletion", &ops::ScheduleKeyDeletion},
    {"TagResource", &ops::TagResource},
    {"UntagResource", &ops::UntagResource},
    {"UpdateAlias", &ops::UpdateAlias},
    {"UpdateKeyDescription", &ops::UpdateKeyDescription},
};

ops::Handler FindRoute(std::string_view op) {
    for (const auto& r : kRoutes)
        if (r.name == op) return r.handler;
    return nullptr;
}

bool AcceptedContentType(std::string_view ct) {
    // Parameters such as "; charset=utf-8" are allowed after the media type.
    auto semi = ct.find(';');
    auto media = ct.substr(0, semi);
    while (!media.empty() && media.back() == ' ') media.remove_suffix(1);
    return media == "application/x-amz-json-1.1" || media == "application/x-amz-json-1.0";
}

Result<Json> Run(const Services& services, const Caller& caller, std::string_view target,
                 std::string_view content_type, std::string_view body,
                 const std::string& request_id) {
    if (target.substr(0, kTargetPrefix.size()) != kTargetPrefix ||
        !AcceptedContentType(content_type))
        return Error(ErrorCode::kUnknownOperation);
    const std::string op(target.substr(kTargetPrefix.size()));
    if (!IsModelOperation(op)) return Error(ErrorCode::kUnknownOperation);
    KMSD_ASSIGN_OR_RETURN(Json input, ParseRequestBody(body));
    KMSD_RETURN_IF_ERROR(ValidateInput(op, input));
    ops::Handler handler = FindRoute(op);
    if (handler == nullptr)
        return Error(ErrorCode::kUnsupportedOperation, op + " is not supported by kmsd yet.");
    const Request req(input);
    OpContext ctx{services, caller, request_id, op, &req};
    KMSD_RETURN_IF_ERROR(CheckGrantTokens(ctx));
    // Operations on a key are authorized where the key is resolved; the others here.
    if (IsIamOnlyOperation(op)) KMSD_RETURN_IF_ERROR(AuthorizeIam(ctx, op, "*"));
    return handler(ctx, req);
}

}  // namespace

Response Dispatcher::Dispatch(const Caller& caller, std::string_view target,
                              std::string_view content_type, std::string_view body,
                              const std::string& request_id) const {
    Status failure;
    try {
        Result<Json> result = Run(services_, caller, target, content_type, body, request_id);
        if (result.ok()) {
            Response out;
            if (!result->is_null())
                out.body = result->dump(-1, ' ', false, Json::error_handler_t::replace);
            return out;
        }
        failure = result.status();
    } catch (const std::exception& e) {
        // The backstop: nothing a client sends may crash the server.
        spdlog::error("request {} failed unexpectedly: {}", request_id, e.what());
        failure = Error(ErrorCode::kInternal, "unexpected exception");
    } catch (...) {
        spdlog::error("request {} failed unexpectedly", request_id);
        failure = Error(ErrorCode::kInternal, "unexpected exception");
    }
    if (failure.code() == ErrorCode::kInternal || failure.code() == ErrorCode::kStorage)
        spdlog::error("request {}: {}", request_id, failure.message());
    WireError wire = ToWire(failure);
    return Response{wire.http_status, std::move(wire.body), std::move(wire.type)};
}

}  // namespace kmsd::api
