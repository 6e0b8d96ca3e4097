// The XKS Proxy API (AWS's External Key Store Proxy API Specification, v1): the request bodies
// kmsd sends to an external key store proxy, the checks of every answer, and the KMS exception
// and message AWS gives its caller for each way a proxy call can fail. No I/O here: the
// transport (HTTPS, SigV4 for service kms-xks-proxy, timeouts) is the caller's.
// Every answer is outside input: a parser here never trusts a size, an encoding or a field.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/secure_bytes.h"
#include "common/status.h"

namespace kmsd::api::xks {

// requestMetadata. Empty members are left out (kmsKeyArn for CreateKey's GetKeyMetadata, the
// principal for GetHealthStatus).
struct RequestMetadata {
    std::string aws_principal_arn;
    std::string kms_key_arn;
    std::string kms_operation;   // the KMS operation the call serves, e.g. Encrypt
    std::string kms_request_id;  // the x-amzn-RequestId of that KMS call
};

// Paths below the store's XksProxyUriPath.
inline constexpr std::string_view kHealthPath = "/health";
std::string KeyPath(std::string_view xks_key_id, std::string_view operation);

// What the proxy keeps of an encryption, all of it needed to decrypt.
struct Ciphertext {
    Bytes ciphertext;
    Bytes iv;        // 12 or 16 bytes
    Bytes tag;       // 16 bytes
    Bytes metadata;  // ciphertextMetadata: 0-20 bytes, the proxy's own
};

SecureString HealthRequest(const RequestMetadata& meta);
SecureString KeyMetadataRequest(const RequestMetadata& meta);
// AES_GCM, asking for the SHA_256 ciphertext data integrity value.
SecureString EncryptRequest(const RequestMetadata& meta, ByteView plaintext, ByteView aad);
SecureString DecryptRequest(const RequestMetadata& meta, const Ciphertext& ct, ByteView aad);

// How a proxy call failed: the errorName the proxy answered, or what kmsd found.
enum class Failure {
    kNone,
    // errorName values (their HTTP status in the specification):
    kValidation,            // 400
    kInvalidState,          // 400
    kInvalidCiphertext,     // 400
    kInvalidKeyUsage,       // 400
    kAuthenticationFailed,  // 401
    kAccessDenied,          // 403
    kKeyNotFound,           // 404
    kInvalidUriPath,        // 404
    kThrottling,            // 429
    kInternal,              // 500
    kUnsupportedOperation,  // 501
    kDependencyTimeout,     // 503
    // found by kmsd:
    kMalformed,    // not an answer the specification allows
    kUnreachable,  // no TCP connection
    kTls,          // no TLS session (certificate, protocol)
    kTimeout,      // no answer in time
    kUnhealthy,    // GetHealthStatus: every external key manager UNAVAILABLE
};

// An HTTP answer from the proxy.
struct Answer {
    int status = 0;
    std::string_view body;
};

// What an error answer (or a 200 that is not one) means.
Failure ErrorOf(const Answer& answer);

struct KeyMetadata {
    std::string key_spec;
    std::vector<std::string> key_usage;
    std::string key_status;
};
Failure ParseKeyMetadata(const Answer& answer, KeyMetadata& out);
// Checks the lengths, and the integrity value against `aad` and `plaintext_size`.
Failure ParseEncrypt(const Answer& answer, ByteView aad, std::size_t plaintext_size,
                     Ciphertext& out);
Failure ParseDecrypt(const Answer& answer, std::size_t ciphertext_size, SecureBytes& out);
Failure ParseHealth(const Answer& answer);

// The ciphertext data integrity value: base64 of SHA-256(aad || metadata || iv || ciphertext ||
// tag).
std::string IntegrityValue(ByteView aad, const Ciphertext& ct);

// Where and as whom kmsd reaches one key store's proxy.
struct Endpoint {
    std::string uri_endpoint;  // https://<host>, no port (AWS always uses 443)
    std::string uri_path;      // [/<prefix>]/kms/xks/v1
    std::string access_key_id;
    SecureString secret;  // RawSecretAccessKey
    std::string region;   // of the key store: the SigV4 scope's Region
};

// What reaches proxies: one SigV4-signed HTTPS POST per call, bounded in time
// (src/xks_transport.h; tests substitute their own). Thread-safe.
class Transport {
public:
    virtual ~Transport() = default;
    // POSTs `body` to uri_path + `path`. kNone with the answer (any HTTP status) in `status` and
    // `answer`; kUnreachable, kTls or kTimeout when there is no answer.
    virtual Failure Post(const Endpoint& endpoint, std::string_view path, std::string_view body,
                         int& status, std::string& answer) = 0;
};

// A failed GetHealthStatus of ConnectCustomKeyStore as the store's ConnectionErrorCode.
std::string ConnectionErrorCode(Failure failure);

// Where the failure happened, which decides the KMS exception (the message is the same).
enum class Context {
    kKeyStore,   // CreateCustomKeyStore, UpdateCustomKeyStore
    kCreateKey,  // CreateKey's GetKeyMetadata
    kCrypto,     // Encrypt, Decrypt, ReEncrypt, GenerateDataKey*
};
// AWS's exception and message for `failure` (kNone is OK).
Status ToKmsError(Failure failure, Context context);
// GetKeyMetadata's answer for a new key: AES_256, ENCRYPT and DECRYPT, ENABLED
// (XksKeyInvalidConfigurationException otherwise, with AWS's text).
Status CheckNewKeyMetadata(const KeyMetadata& meta);

}  // namespace kmsd::api::xks
