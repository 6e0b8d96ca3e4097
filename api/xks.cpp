#include "api/xks.h"

#include <algorithm>
#include <array>

#include "api/json.h"
#include "common/base64.h"
#include "common/json_limits.h"
#include "hsm/crypto.h"

namespace kmsd::api::xks {
namespace {

// The specification's limits on what a proxy may answer.
constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kMaxMetadataBytes = 20;
constexpr std::size_t kMaxKeyUsages = 10;
constexpr std::size_t kMaxFleet = 10;
// An answer bigger than any the specification allows (4300 bytes of ciphertext in base64, a
// health report of ten HSMs) is not read as JSON at all.
constexpr std::size_t kMaxAnswerBytes = 64 * 1024;

struct ErrorName {
    std::string_view name;
    Failure failure;
};
constexpr std::array<ErrorName, 12> kErrorNames = {{
    {"ValidationException", Failure::kValidation},
    {"InvalidStateException", Failure::kInvalidState},
    {"InvalidCiphertextException", Failure::kInvalidCiphertext},
    {"InvalidKeyUsageException", Failure::kInvalidKeyUsage},
    {"AuthenticationFailedException", Failure::kAuthenticationFailed},
    {"AccessDeniedException", Failure::kAccessDenied},
    {"KeyNotFoundException", Failure::kKeyNotFound},
    {"InvalidUriPathException", Failure::kInvalidUriPath},
    {"ThrottlingException", Failure::kThrottling},
    {"InternalException", Failure::kInternal},
    {"UnsupportedOperationException", Failure::kUnsupportedOperation},
    {"DependencyTimeoutException", Failure::kDependencyTimeout},
}};

Json Metadata(const RequestMetadata& meta) {
    Json m = Json::object();
    if (!meta.aws_principal_arn.empty()) m["awsPrincipalArn"] = Str(meta.aws_principal_arn);
    if (!meta.kms_key_arn.empty()) m["kmsKeyArn"] = Str(meta.kms_key_arn);
    m["kmsOperation"] = Str(meta.kms_operation);
    m["kmsRequestId"] = Str(meta.kms_request_id);
    return m;
}

Json B64(ByteView bytes) { return Json(Base64EncodeSecure(bytes)); }

// The answer's JSON object, or null when it is not one (then the answer is malformed).
std::optional<Json> ObjectOf(const Answer& answer) {
    if (answer.body.size() > kMaxAnswerBytes || !JsonNestingWithin(answer.body)) return {};
    auto parsed = ParseRequestBody(answer.body);
    if (!parsed.ok()) return {};
    return std::move(*parsed);
}

// A base64 member of `obj` decoded into `out`, of a size `fits` accepts; false otherwise.
template <typename Out, typename Fits>
bool Member(const Json& obj, const char* name, Out& out, Fits fits) {
    auto it = obj.find(name);
    if (it == obj.end() || !it->is_string()) return false;
    const auto& text = it->template get_ref<const SecureString&>();
    auto decoded = Base64Decode(std::string_view(text.data(), text.size()));
    if (!decoded || !fits(decoded->size())) return false;
    out.assign(decoded->begin(), decoded->end());
    return true;
}

std::string Text(const Json& obj, const char* name) {
    auto it = obj.find(name);
    return it != obj.end() && it->is_string() ? ToStd(it->get_ref<const SecureString&>()) : "";
}

void Append(Bytes& out, ByteView part) { out.insert(out.end(), part.begin(), part.end()); }

}  // namespace

std::string KeyPath(std::string_view xks_key_id, std::string_view operation) {
    return "/keys/" + std::string(xks_key_id) + "/" + std::string(operation);
}

SecureString HealthRequest(const RequestMetadata& meta) {
    Json body = Json::object();
    body["requestMetadata"] = Metadata(meta);
    return Serialize(body);
}

SecureString KeyMetadataRequest(const RequestMetadata& meta) { return HealthRequest(meta); }

SecureString EncryptRequest(const RequestMetadata& meta, ByteView plaintext, ByteView aad) {
    Json body = Json::object();
    body["requestMetadata"] = Metadata(meta);
    body["plaintext"] = B64(plaintext);
    if (!aad.empty()) body["additionalAuthenticatedData"] = B64(aad);
    body["encryptionAlgorithm"] = "AES_GCM";
    body["ciphertextDataIntegrityValueAlgorithm"] = "SHA_256";
    return Serialize(body);
}

SecureString DecryptRequest(const RequestMetadata& meta, const Ciphertext& ct, ByteView aad) {
    Json body = Json::object();
    body["requestMetadata"] = Metadata(meta);
    body["ciphertext"] = B64(ct.ciphertext);
    body["initializationVector"] = B64(ct.iv);
    body["authenticationTag"] = B64(ct.tag);
    if (!ct.metadata.empty()) body["ciphertextMetadata"] = B64(ct.metadata);
    if (!aad.empty()) body["additionalAuthenticatedData"] = B64(aad);
    body["encryptionAlgorithm"] = "AES_GCM";
    return Serialize(body);
}

Failure ErrorOf(const Answer& answer) {
    auto obj = ObjectOf(answer);
    if (!obj || !obj->is_object()) return Failure::kMalformed;
    const std::string name = Text(*obj, "errorName");
    for (const auto& e : kErrorNames)
        if (e.name == name) return e.failure;
    return Failure::kMalformed;
}

Failure ParseKeyMetadata(const Answer& answer, KeyMetadata& out) {
    if (answer.status != 200) return ErrorOf(answer);
    auto obj = ObjectOf(answer);
    if (!obj) return Failure::kMalformed;
    out.key_spec = Text(*obj, "keySpec");
    out.key_status = Text(*obj, "keyStatus");
    auto usage = obj->find("keyUsage");
    if (out.key_spec.empty() || out.key_status.empty() || usage == obj->end() ||
        !usage->is_array() || usage->size() > kMaxKeyUsages)
        return Failure::kMalformed;
    out.key_usage.clear();
    for (const auto& u : *usage) {
        if (!u.is_string()) return Failure::kMalformed;
        out.key_usage.push_back(ToStd(u.get_ref<const SecureString&>()));
    }
    return Failure::kNone;
}

Failure ParseEncrypt(const Answer& answer, ByteView aad, std::size_t plaintext_size,
                     Ciphertext& out) {
    if (answer.status != 200) return ErrorOf(answer);
    auto obj = ObjectOf(answer);
    if (!obj) return Failure::kMalformed;
    // GCM keeps the length; IVs of 12 or 16 bytes; a 16-byte tag; at most 20 bytes of metadata.
    if (!Member(*obj, "ciphertext", out.ciphertext,
                [&](std::size_t n) { return n == plaintext_size; }) ||
        !Member(*obj, "initializationVector", out.iv,
                [](std::size_t n) { return n == 12 || n == 16; }) ||
        !Member(*obj, "authenticationTag", out.tag, [](std::size_t n) { return n == kTagBytes; }))
        return Failure::kMalformed;
    out.metadata.clear();
    if (obj->contains("ciphertextMetadata") &&
        !Member(*obj, "ciphertextMetadata", out.metadata,
                [](std::size_t n) { return n <= kMaxMetadataBytes; }))
        return Failure::kMalformed;
    // Asked for, so required; a mismatch means the answer is not the encryption it claims.
    const std::string cdiv = Text(*obj, "ciphertextDataIntegrityValue");
    const std::string expected = IntegrityValue(aad, out);
    if (cdiv.size() != expected.size() ||
        !hsm::ConstantTimeEquals(
            ByteView(reinterpret_cast<const std::uint8_t*>(cdiv.data()), cdiv.size()),
            ByteView(reinterpret_cast<const std::uint8_t*>(expected.data()), expected.size())))
        return Failure::kMalformed;
    return Failure::kNone;
}

Failure ParseDecrypt(const Answer& answer, std::size_t ciphertext_size, SecureBytes& out) {
    if (answer.status != 200) return ErrorOf(answer);
    auto obj = ObjectOf(answer);
    if (!obj ||
        !Member(*obj, "plaintext", out, [&](std::size_t n) { return n == ciphertext_size; }))
        return Failure::kMalformed;
    return Failure::kNone;
}

Failure ParseHealth(const Answer& answer) {
    if (answer.status != 200) return ErrorOf(answer);
    auto obj = ObjectOf(answer);
    if (!obj) return Failure::kMalformed;
    auto size = obj->find("xksProxyFleetSize");
    auto fleet = obj->find("ekmFleetDetails");
    if (size == obj->end() || !size->is_number_integer() || size->get<long long>() < 1 ||
        Text(*obj, "xksProxyVendor").empty() || Text(*obj, "xksProxyModel").empty() ||
        Text(*obj, "ekmVendor").empty() || fleet == obj->end() || !fleet->is_array() ||
        fleet->empty() || fleet->size() > kMaxFleet)
        return Failure::kMalformed;
    bool any_available = false;
    for (const auto& hsm : *fleet) {
        if (!hsm.is_object()) return Failure::kMalformed;
        const std::string health = Text(hsm, "healthStatus");
        if (health != "ACTIVE" && health != "DEGRADED" && health != "UNAVAILABLE")
            return Failure::kMalformed;
        any_available = any_available || health != "UNAVAILABLE";
    }
    return any_available ? Failure::kNone : Failure::kUnhealthy;
}

std::string IntegrityValue(ByteView aad, const Ciphertext& ct) {
    Bytes all;
    all.reserve(aad.size() + ct.metadata.size() + ct.iv.size() + ct.ciphertext.size() +
                ct.tag.size());
    Append(all, aad);
    Append(all, ct.metadata);
    Append(all, ct.iv);
    Append(all, ct.ciphertext);
    Append(all, ct.tag);
    return Base64Encode(hsm::Sha256(all));
}

Status ToKmsError(Failure failure, Context context) {
    struct Row {
        Failure failure;
        ErrorCode key_store;  // CreateCustomKeyStore, UpdateCustomKeyStore
        ErrorCode create_key;
        std::string_view message;
    };
    using E = ErrorCode;
    static constexpr Row kRows[] = {
        {Failure::kValidation, E::kXksProxyInvalidResponse, E::kCustomKeyStoreInvalidState,
         "AWS KMS cannot interpret the response from the external key store proxy. If you see "
         "this error repeatedly, report it to your external key store proxy administrator."},
        {Failure::kMalformed, E::kXksProxyInvalidResponse, E::kCustomKeyStoreInvalidState,
         "AWS KMS cannot interpret the response from the external key store proxy. If you see "
         "this error repeatedly, report it to your external key store proxy administrator."},
        {Failure::kInvalidState, E::kXksProxyInvalidResponse, E::kXksKeyInvalidConfiguration,
         "The external key associated with this KMS key in an external key store is not enabled "
         "in the external key manager. Enable the external key in the external key manager and "
         "retry the request."},
        {Failure::kInvalidCiphertext, E::kXksProxyInvalidResponse, E::kCustomKeyStoreInvalidState,
         "The external key store proxy rejected the request because the specified ciphertext or "
         "additional authenticated data is corrupted, missing, or otherwise invalid."},
        {Failure::kInvalidKeyUsage, E::kXksProxyInvalidResponse, E::kXksKeyInvalidConfiguration,
         "The external key associated with this KMS key in an external key store does not "
         "support the requested operation. Enable the operation on the key in your external key "
         "manager, and try the request again."},
        {Failure::kAuthenticationFailed, E::kXksProxyIncorrectAuthenticationCredential,
         E::kCustomKeyStoreInvalidState,
         "The external key store proxy rejected the request because it could not authenticate "
         "AWS KMS. Verify the XKS proxy authentication credentials for your external key store "
         "and update if necessary."},
        {Failure::kAccessDenied, E::kXksProxyInvalidResponse, E::kCustomKeyStoreInvalidState,
         "The external key store proxy denied access to the operation. Verify that the user and "
         "the external key are both authorized for this operation, and try the request again."},
        {Failure::kKeyNotFound, E::kXksProxyInvalidResponse, E::kXksKeyNotFound,
         "The external key store proxy rejected the request because it could not find the "
         "external key."},
        {Failure::kInvalidUriPath, E::kXksProxyInvalidConfiguration, E::kCustomKeyStoreInvalidState,
         "The external key store proxy rejected the request because of an invalid URI path. "
         "Verify the URI path for your external key store and update if necessary."},
        {Failure::kThrottling, E::kXksProxyUriUnreachable, E::kCustomKeyStoreInvalidState,
         "The external key store proxy rejected the request due to a very high request rate. "
         "Reduce the frequency of your calls using KMS keys in this external key store."},
        {Failure::kInternal, E::kXksProxyInvalidResponse, E::kCustomKeyStoreInvalidState,
         "The external key store proxy rejected the request because it cannot communicate with "
         "the external key manager. Verify that the external key store proxy configuration is "
         "correct and that the external key manager is available."},
        {Failure::kUnsupportedOperation, E::kUnsupportedOperation, E::kCustomKeyStoreInvalidState,
         "The external key store proxy rejected the request because it does not support the "
         "requested operation. If you see this error repeatedly, report it to your external key "
         "store proxy administrator."},
        {Failure::kDependencyTimeout, E::kXksProxyUriUnreachable, E::kCustomKeyStoreInvalidState,
         "The external key store proxy did not respond to the request in the time allotted. Retry "
         "the request. If you see this error repeatedly, report it to your external key store "
         "proxy administrator."},
        {Failure::kUnreachable, E::kXksProxyUriUnreachable, E::kCustomKeyStoreInvalidState,
         "AWS KMS cannot communicate with the external key store proxy. This might be a transient "
         "network issue. If you see this error repeatedly, verify that your external key store "
         "proxy is active and is connected to the network, and that its endpoint URI is correct "
         "in your external keystore."},
        {Failure::kTls, E::kXksProxyUriUnreachable, E::kCustomKeyStoreInvalidState,
         "AWS KMS cannot establish a TLS connection to the external key store proxy. Verify the "
         "TLS configuration, including its certificate."},
        {Failure::kTimeout, E::kXksProxyUriUnreachable, E::kCustomKeyStoreInvalidState,
         "AWS KMS rejected the request because the external key store proxy did not respond in "
         "time. Retry the request. If you see this error repeatedly, report it to your external "
         "key store proxy administrator."},
        {Failure::kUnhealthy, E::kXksProxyUriUnreachable, E::kCustomKeyStoreInvalidState,
         "The external key store proxy is in an unhealthy state. If you see this message "
         "repeatedly, notify your external key store proxy administrator."},
    };
    if (failure == Failure::kNone) return Status::Ok();
    for (const auto& row : kRows) {
        if (row.failure != failure) continue;
        const ErrorCode code = context == Context::kKeyStore    ? row.key_store
                               : context == Context::kCreateKey ? row.create_key
                                                                : ErrorCode::kInvalidState;
        return Error(code, std::string(row.message));
    }
    return Error(ErrorCode::kInternal, "unknown external key store proxy failure");
}

std::string ConnectionErrorCode(Failure failure) {
    switch (failure) {
        case Failure::kNone:
            return "";
        case Failure::kAuthenticationFailed:
            return "INVALID_CREDENTIALS";
        case Failure::kAccessDenied:
            return "XKS_PROXY_ACCESS_DENIED";
        case Failure::kInvalidUriPath:
            return "XKS_PROXY_INVALID_CONFIGURATION";
        case Failure::kTls:
            return "XKS_PROXY_INVALID_TLS_CONFIGURATION";
        case Failure::kUnreachable:
        case Failure::kUnhealthy:
            return "XKS_PROXY_NOT_REACHABLE";
        case Failure::kTimeout:
        case Failure::kDependencyTimeout:
        case Failure::kThrottling:
            return "XKS_PROXY_TIMED_OUT";
        default:
            return "XKS_PROXY_INVALID_RESPONSE";
    }
}

Status CheckNewKeyMetadata(const KeyMetadata& meta) {
    const auto invalid = [](std::string message) {
        return Error(ErrorCode::kXksKeyInvalidConfiguration, std::move(message));
    };
    if (meta.key_spec != "AES_256")
        return invalid(
            "The key spec of the external key must be AES_256. The key spec of "
            "specified external key is " +
            meta.key_spec + ".");
    if (meta.key_status != "ENABLED")
        return invalid(
            "The status of the external key must be ENABLED. The status of specified "
            "external key is " +
            meta.key_status + ".");
    const auto has = [&](std::string_view u) {
        return std::find(meta.key_usage.begin(), meta.key_usage.end(), u) != meta.key_usage.end();
    };
    if (!has("ENCRYPT") || !has("DECRYPT")) {
        std::string usage;
        for (const auto& u : meta.key_usage) usage += (usage.empty() ? "" : ", ") + u;
        return invalid(
            "The key usage of the external key must include ENCRYPT and DECRYPT. The "
            "key use of specified external key is " +
            usage + ".");
    }
    return Status::Ok();
}

}  // namespace kmsd::api::xks
