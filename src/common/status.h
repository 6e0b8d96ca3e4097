// Status and Result<T>: errors as values, from the dispatcher down to hsm/ and storage/.
// An ErrorCode names a KMS exception one to one; api/errors.cpp is the one place that turns a
// Status into the wire form ({"__type", "message"} and the HTTP status).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace kmsd {

enum class ErrorCode {
    kOk,
    kNotFound,                             // NotFoundException
    kDisabled,                             // DisabledException
    kInvalidState,                         // KMSInvalidStateException
    kInvalidCiphertext,                    // InvalidCiphertextException (never carries a message)
    kIncorrectKey,                         // IncorrectKeyException
    kInvalidKeyUsage,                      // InvalidKeyUsageException
    kAlreadyExists,                        // AlreadyExistsException
    kLimitExceeded,                        // LimitExceededException
    kTag,                                  // TagException
    kUnsupportedOperation,                 // UnsupportedOperationException
    kMalformedPolicy,                      // MalformedPolicyDocumentException
    kInvalidArn,                           // InvalidArnException
    kInvalidAliasName,                     // InvalidAliasNameException
    kInvalidMarker,                        // InvalidMarkerException
    kDryRun,                               // DryRunOperationException
    kValidation,                           // ValidationException
    kSerialization,                        // SerializationException
    kUnknownOperation,                     // UnknownOperationException
    kAccessDenied,                         // AccessDeniedException
    kUnrecognizedClient,                   // UnrecognizedClientException
    kInvalidSignature,                     // InvalidSignatureException (SigV4)
    kKmsInvalidSignature,                  // KMSInvalidSignatureException (Verify; never a message)
    kKmsInvalidMac,                        // KMSInvalidMacException (VerifyMac; never a message)
    kIncompleteSignature,                  // IncompleteSignatureException
    kMissingAuthenticationToken,           // MissingAuthenticationTokenException
    kNotAuthorized,                        // NotAuthorizedException
    kInvalidGrantToken,                    // InvalidGrantTokenException
    kInvalidGrantId,                       // InvalidGrantIdException
    kCustomKeyStoreNotFound,               // CustomKeyStoreNotFoundException
    kCustomKeyStoreNameInUse,              // CustomKeyStoreNameInUseException
    kCustomKeyStoreInvalidState,           // CustomKeyStoreInvalidStateException
    kCustomKeyStoreHasCmks,                // CustomKeyStoreHasCMKsException
    kCloudHsmClusterNotFound,              // CloudHsmClusterNotFoundException
    kCloudHsmClusterInUse,                 // CloudHsmClusterInUseException
    kCloudHsmClusterNotActive,             // CloudHsmClusterNotActiveException
    kCloudHsmClusterInvalidConfiguration,  // CloudHsmClusterInvalidConfigurationException
    kCloudHsmClusterNotRelated,            // CloudHsmClusterNotRelatedException
    kIncorrectTrustAnchor,                 // IncorrectTrustAnchorException
    kXksProxyInvalidResponse,              // XksProxyInvalidResponseException
    kXksProxyIncorrectAuthenticationCredential,  // XksProxyIncorrectAuthenticationCredentialException
    kXksProxyInvalidConfiguration,               // XksProxyInvalidConfigurationException
    kXksProxyUriUnreachable,                     // XksProxyUriUnreachableException
    kXksKeyInvalidConfiguration,                 // XksKeyInvalidConfigurationException
    kXksKeyNotFound,                             // XksKeyNotFoundException
    kXksKeyAlreadyInUse,                         // XksKeyAlreadyInUseException
    kXksProxyUriInUse,                           // XksProxyUriInUseException
    kXksProxyUriEndpointInUse,                   // XksProxyUriEndpointInUseException
    kXksProxyVpcEndpointServiceInUse,            // XksProxyVpcEndpointServiceInUseException
    kInvalidImportToken,                         // InvalidImportTokenException
    kExpiredImportToken,                         // ExpiredImportTokenException
    kIncorrectKeyMaterial,                       // IncorrectKeyMaterialException
    kConflict,                                   // ConflictException
    kThrottling,                                 // ThrottlingException
    kInternal,                                   // KMSInternalException (HTTP 500)
    kStorage,  // storage failure; reported as KMSInternalException
};

// A Status is either OK or an error code with a message. Cheap to move; copyable.
class [[nodiscard]] Status {
public:
    Status() = default;
    Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

    static Status Ok() { return Status(); }

    // Returns true iff the status indicates success.
    bool ok() const { return code_ == ErrorCode::kOk; }
    ErrorCode code() const { return code_; }
    const std::string& message() const { return message_; }

private:
    ErrorCode code_ = ErrorCode::kOk;
    std::string message_;
};

inline Status Error(ErrorCode code, std::string message = {}) {
    return Status(code, std::move(message));
}

// Result<T> holds a T or a non-OK Status (Tink's StatusOr, LevelDB's Status combined).
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design
    Result(Status status) : v_(std::move(status)) {  // NOLINT
        assert(!std::get<Status>(v_).ok());
    }

    bool ok() const { return std::holds_alternative<T>(v_); }
    const Status& status() const {
        static const Status kOk;
        return ok() ? kOk : std::get<Status>(v_);
    }
    T& value() & { return std::get<T>(v_); }
    const T& value() const& { return std::get<T>(v_); }
    T&& value() && { return std::get<T>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

private:
    std::variant<T, Status> v_;
};

}  // namespace kmsd

#define KMSD_CONCAT_INNER(a, b) a##b
#define KMSD_CONCAT(a, b) KMSD_CONCAT_INNER(a, b)

// Propagate a non-OK Status from an expression returning Status.
#define KMSD_RETURN_IF_ERROR(expr) \
    KMSD_RETURN_IF_ERROR_IMPL(KMSD_CONCAT(kmsd_st_, __COUNTER__), expr)
#define KMSD_RETURN_IF_ERROR_IMPL(tmp, expr) \
    do {                                     \
        ::kmsd::Status tmp = (expr);         \
        if (!tmp.ok()) return tmp;           \
    } while (0)

// Declare `lhs` from a Result-returning expression or return its Status.
#define KMSD_ASSIGN_OR_RETURN(lhs, expr) \
    KMSD_ASSIGN_OR_RETURN_IMPL(KMSD_CONCAT(kmsd_res_, __COUNTER__), lhs, expr)
#define KMSD_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
    auto tmp = (expr);                             \
    if (!tmp.ok()) return tmp.status();            \
    lhs = std::move(tmp).value()
