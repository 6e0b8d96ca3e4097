#include "api/errors.h"

namespace kmsd::api {

const char* ExceptionName(ErrorCode code) {
    switch (code) {
        case ErrorCode::kOk:
            return "";
        case ErrorCode::kNotFound:
            return "NotFoundException";
        case ErrorCode::kDisabled:
            return "DisabledException";
        case ErrorCode::kInvalidState:
            return "KMSInvalidStateException";
        case ErrorCode::kInvalidCiphertext:
            return "InvalidCiphertextException";
        case ErrorCode::kIncorrectKey:
            return "IncorrectKeyException";
        case ErrorCode::kInvalidKeyUsage:
            return "InvalidKeyUsageException";
        case ErrorCode::kAlreadyExists:
            return "AlreadyExistsException";
        case ErrorCode::kLimitExceeded:
            return "LimitExceededException";
        case ErrorCode::kTag:
            return "TagException";
        case ErrorCode::kUnsupportedOperation:
            return "UnsupportedOperationException";
        case ErrorCode::kMalformedPolicy:
            return "MalformedPolicyDocumentException";
        case ErrorCode::kInvalidArn:
            return "InvalidArnException";
        case ErrorCode::kInvalidAliasName:
            return "InvalidAliasNameException";
        case ErrorCode::kInvalidMarker:
            return "InvalidMarkerException";
        case ErrorCode::kDryRun:
            return "DryRunOperationException";
        case ErrorCode::kValidation:
            return "ValidationException";
        case ErrorCode::kSerialization:
            return "SerializationException";
        case ErrorCode::kUnknownOperation:
            return "UnknownOperationException";
        case ErrorCode::kAccessDenied:
            return "AccessDeniedException";
        case ErrorCode::kUnrecognizedClient:
            return "UnrecognizedClientException";
        case ErrorCode::kInvalidSignature:
            return "InvalidSignatureException";
        case ErrorCode::kKmsInvalidSignature:
            return "KMSInvalidSignatureException";
        case ErrorCode::kKmsInvalidMac:
            return "KMSInvalidMacException";
        case ErrorCode::kIncompleteSignature:
            return "IncompleteSignatureException";
        case ErrorCode::kMissingAuthenticationToken:
            return "MissingAuthenticationTokenException";
        case ErrorCode::kNotAuthorized:
            return "NotAuthorizedException";
        case ErrorCode::kInvalidGrantToken:
            return "InvalidGrantTokenException";
        case ErrorCode::kInvalidGrantId:
            return "InvalidGrantIdException";
        case ErrorCode::kCustomKeyStoreNotFound:
            return "CustomKeyStoreNotFoundException";
        case ErrorCode::kCustomKeyStoreNameInUse:
            return "CustomKeyStoreNameInUseException";
        case ErrorCode::kCustomKeyStoreInvalidState:
            return "CustomKeyStoreInvalidStateException";
        case ErrorCode::kCustomKeyStoreHasCmks:
            return "CustomKeyStoreHasCMKsException";
        case ErrorCode::kCloudHsmClusterNotFound:
            return "CloudHsmClusterNotFoundException";
        case ErrorCode::kCloudHsmClusterInUse:
            return "CloudHsmClusterInUseException";
        case ErrorCode::kCloudHsmClusterNotActive:
            return "CloudHsmClusterNotActiveException";
        case ErrorCode::kCloudHsmClusterInvalidConfiguration:
            return "CloudHsmClusterInvalidConfigurationException";
        case ErrorCode::kCloudHsmClusterNotRelated:
            return "CloudHsmClusterNotRelatedException";
        case ErrorCode::kIncorrectTrustAnchor:
            return "IncorrectTrustAnchorException";
        case ErrorCode::kXksProxyInvalidResponse:
            return "XksProxyInvalidResponseException";
        case ErrorCode::kXksProxyIncorrectAuthenticationCredential:
            return "XksProxyIncorrectAuthenticationCredentialException";
        case ErrorCode::kXksProxyInvalidConfiguration:
            return "XksProxyInvalidConfigurationException";
        case ErrorCode::kXksProxyUriUnreachable:
            return "XksProxyUriUnreachableException";
        case ErrorCode::kXksKeyInvalidConfiguration:
            return "XksKeyInvalidConfigurationException";
        case ErrorCode::kXksKeyNotFound:
            return "XksKeyNotFoundException";
        case ErrorCode::kXksKeyAlreadyInUse:
            return "XksKeyAlreadyInUseException";
        case ErrorCode::kXksProxyUriInUse:
            return "XksProxyUriInUseException";
        case ErrorCode::kXksProxyUriEndpointInUse:
            return "XksProxyUriEndpointInUseException";
        case ErrorCode::kXksProxyVpcEndpointServiceInUse:
            return "XksProxyVpcEndpointServiceInUseException";
        case ErrorCode::kThrottling:
            return "ThrottlingException";
        case ErrorCode::kInvalidImportToken:
            return "InvalidImportTokenException";
        case ErrorCode::kExpiredImportToken:
            return "ExpiredImportTokenException";
        case ErrorCode::kIncorrectKeyMaterial:
            return "IncorrectKeyMaterialException";
        case ErrorCode::kConflict:
            return "ConflictException";
        case ErrorCode::kInternal:
        case ErrorCode::kStorage:
            return "KMSInternalException";
    }
    return "KMSInternalException";
}

int HttpStatusOf(ErrorCode code) {
    return (code == ErrorCode::kInternal || code == ErrorCode::kStorage) ? 500 : 400;
}

WireError ToWire(const Status& status) {
    WireError out;
    out.http_status = HttpStatusOf(status.code());
    out.type = ExceptionName(status.code());
    Json body = Json::object();
    body["__type"] = Str(out.type);
    // Internal details (SQLite errors, ...) stay in the log, never in the response.
    const bool internal = out.http_status == 500;
    if (internal)
        out.message = "An internal error occurred.";
    else
        out.message = status.message();
    if (!out.message.empty()) body["message"] = Str(out.message);
    // Messages may quote what a client sent; bytes that are not UTF-8 become U+FFFD instead of
    // failing the reply.
    out.body = Serialize(body);
    return out;
}

}  // namespace kmsd::api
