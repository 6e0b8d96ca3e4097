// CloudTrail-format audit records (design.md §7), shaped after the KMS examples in AWS's
// documentation (ct-*.html). Dispatch captures an AuditEvent per call of a model operation and
// hands it to Services::audit; the scheduler does the same for its service events (RotateKey,
// DeleteKey, DeleteExpiredKeyMaterial). An event holds no secret: the request without its blob,
// sensitive and grant-token members, and of the output only what CloudTrail's responseElements
// keep. FormatCloudTrail turns an event into the record, off the request path (when the audit
// endpoint is read or the audit log file is written).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "api/json.h"
#include "common/status.h"
#include "storage/records.h"

namespace kmsd::api {

struct Caller;
struct Services;

struct AuditEvent {
    enum class Kind { kApiCall, kServiceEvent };
    Kind kind = Kind::kApiCall;
    double time = 0;         // KMS time of the call, or when the service event fell due
    std::string event_name;  // the operation, or RotateKey / DeleteKey / DeleteExpiredKeyMaterial
    std::string request_id;  // x-amzn-RequestId (a fresh UUID for a service event)
    std::string account;     // the caller's account; the key's for a service event
    std::string region;      // where the call went; the key's Region for a service event
    std::string principal_arn;
    std::string access_key_id;
    std::string source_ip;
    std::string user_agent;
    std::string recipient_account;  // the key owner's account (cross-account calls)
    // The recorded request members (PascalCase), as JSON text; "" for none. Text rather than a
    // tree: a tree freed a ring's length later costs more than writing and reparsing it.
    SecureString request;
    Json response;  // the recorded responseElements (PascalCase); null for none
    // additionalEventData: keyMaterialId (ReEncrypt: destinationKeyMaterialId), ReEncrypt's
    // sourceKeyMaterialId, RetireGrant's grantId; "" where there is none.
    std::string key_material_id;
    std::string source_key_material_id;
    std::string grant_id;
    nlohmann::ordered_json details;  // serviceEventDetails, as recorded; null for none
    std::string error_code;          // "" on success
    std::string error_message;
    std::vector<std::string> resources;  // key and alias ARNs, in CloudTrail's order
};

// A call that fills in an event: a reference to a callable, neither owning nor allocating
// (the request path records one event per request).
class AuditFill {
public:
    template <class F>
    AuditFill(F& fill)  // NOLINT(google-explicit-constructor): passed as a lambda
        : context_(&fill), call_([](void* c, AuditEvent& e) { (*static_cast<F*>(c))(e); }) {}
    void operator()(AuditEvent& event) const { call_(context_, event); }

private:
    void* context_;
    void (*call_)(void*, AuditEvent&);
};

// Receives events; the server's audit log (src/audit_log.h) implements it. Thread-safe.
class AuditSink {
public:
    virtual ~AuditSink() = default;
    // Calls `fill` on the event to keep. The event may hold an older record: `fill` assigns
    // every member, so its strings keep their storage and a record costs no allocation.
    virtual void Record(AuditFill fill) = 0;
    void Record(AuditEvent event) {
        auto fill = [&event](AuditEvent& slot) { slot = std::move(event); };
        Record(AuditFill(fill));
    }
};

// What Dispatch knows of one call when it ends.
struct CallOutcome {
    std::string_view operation;  // a model operation
    int operation_index;         // its index in the model (api/validate.h)
    const std::string& request_id;
    const Json& input;                              // the parsed request (null if it did not parse)
    const Json* output = nullptr;                   // the operation's result; null on failure
    const Status* failure = nullptr;                // the error; null on success
    std::shared_ptr<const storage::KeyRecord> key;  // the route's key, if it was resolved
    std::shared_ptr<const storage::KeyRecord> target;  // the route's target key, if it was resolved
    // keyMaterialId of an operation that wrote its reply as text (OpContext::ReplyText); the
    // output's KeyMaterialId otherwise.
    std::string_view material_id = {};
};

// Fills in `out`, every member, with the audit record of a call (an AwsApiCall event).
void CaptureCall(const Services& services, const Caller& caller, CallOutcome& call,
                 AuditEvent& out);

// A service event about `key` (RotateKey, DeleteKey, DeleteExpiredKeyMaterial) at KMS time
// `when`, with its serviceEventDetails.
AuditEvent ServiceEvent(const char* name, const storage::KeyRecord& key, double when,
                        nlohmann::ordered_json details);

// The CloudTrail event ID of a request: a UUID-shaped digest of the request ID, so the same call
// always names the same event (GetKeyLastUsage's CloudTrailEventId is the same value).
std::string CloudTrailEventId(std::string_view request_id);

// The CloudTrail record of `event`, members in CloudTrail's order.
nlohmann::ordered_json FormatCloudTrail(const AuditEvent& event);

// eventTime's format: ISO 8601, UTC, whole seconds ("2026-11-30T08:15:00Z").
std::string CloudTrailTime(double seconds);
// The format of dates inside requestParameters and responseElements (Java's medium US format,
// UTC): "Aug 10, 2022, 10:38:27 PM".
std::string CloudTrailDate(double seconds);

}  // namespace kmsd::api
