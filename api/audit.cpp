#include "api/audit.h"

#include <array>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "api/context.h"
#include "api/errors.h"
#include "api/json.h"
#include "api/resolve.h"
#include "api/validate.h"
#include "common/clock.h"
#include "hsm/blob.h"
#include "hsm/crypto.h"

namespace kmsd::api {
namespace {

using OJson = nlohmann::ordered_json;

bool StartsWith(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

// CloudTrail's readOnly: reads, and the cryptographic operations (they change no resource).
bool ReadOnly(std::string_view op) {
    for (std::string_view prefix : {"Get", "List", "Describe", "Generate"})
        if (StartsWith(op, prefix)) return true;
    for (std::string_view name :
         {"Encrypt", "Decrypt", "ReEncrypt", "Sign", "Verify", "VerifyMac", "DeriveSharedSecret"})
        if (op == name) return true;
    return false;
}

std::string S(const Json& v) {
    if (!v.is_string()) return "";
    const auto& s = v.get_ref<const SecureString&>();
    return std::string(s.data(), s.size());
}

std::string LowerCamel(std::string_view name) {
    // AWS lower-cases the first letter only: AWSAccountId becomes aWSAccountId.
    std::string out(name);
    if (!out.empty() && out[0] >= 'A' && out[0] <= 'Z') out[0] = static_cast<char>(out[0] + 32);
    return out;
}

// Which key's ARN AWS adds as responseElements.keyId for operations that return nothing.
enum class KeyArn { kNone, kKey, kTarget };

// What CloudTrail's responseElements keep of each operation's output (the output's members,
// then the key ARN AWS adds). Operations not listed record null.
struct ResponseRule {
    std::string_view operation;
    std::array<std::string_view, 4> members;
    KeyArn key_arn = KeyArn::kNone;
};
constexpr ResponseRule kResponseRules[] = {
    {"CancelKeyDeletion", {"KeyId"}},
    {"CreateAlias", {}, KeyArn::kTarget},
    {"CreateGrant", {"GrantId"}, KeyArn::kKey},  // never the grant token
    {"CreateKey", {"KeyMetadata"}},
    {"DeleteAlias", {}, KeyArn::kKey},
    {"DeleteImportedKeyMaterial", {"KeyId", "KeyMaterialId"}},
    {"DisableKey", {}, KeyArn::kKey},
    {"EnableKey", {}, KeyArn::kKey},
    {"EnableKeyRotation", {}, KeyArn::kKey},
    {"ImportKeyMaterial", {"KeyId", "KeyMaterialId"}},
    {"ReplicateKey", {"ReplicaKeyMetadata", "ReplicaPolicy", "ReplicaTags"}},
    {"RotateKeyOnDemand", {"KeyId"}},
    {"ScheduleKeyDeletion", {"KeyId", "KeyState", "DeletionDate", "PendingWindowInDays"}},
    {"TagResource", {}, KeyArn::kKey},
    {"UntagResource", {}, KeyArn::kKey},
    {"UpdateAlias", {}, KeyArn::kTarget},
    {"UpdatePrimaryRegion", {}, KeyArn::kKey},
};

const ResponseRule* FindResponseRule(std::string_view op) {
    for (const auto& rule : kResponseRules)
        if (rule.operation == op) return &rule;
    return nullptr;
}

Json RecordedResponse(const CallOutcome& call) {
    const ResponseRule* rule = FindResponseRule(call.operation);
    if (rule == nullptr || call.output == nullptr) return nullptr;
    Json out = Json::object();
    if (call.output->is_object())
        for (std::string_view member : rule->members) {
            if (member.empty()) break;
            auto it = call.output->find(member);
            if (it != call.output->end() && !it->is_null()) out[ToSecure(member)] = *it;
        }
    const auto& key = rule->key_arn == KeyArn::kTarget ? call.target : call.key;
    if (rule->key_arn != KeyArn::kNone && key) out["KeyId"] = Str(key->arn);
    return out;
}

// What AWS records beyond what the caller sent: the defaults it applied. Added when a record is
// formatted, not on the request path.
void AddDefaults(const AuditEvent& e, Json& request) {
    const auto set_default = [&request](const char* member, std::string_view value) {
        if (!request.contains(member)) request[member] = Str(value);
    };
    const std::string& op = e.event_name;
    if (op == "Encrypt") {
        set_default("EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
    } else if (op == "Decrypt") {
        set_default("EncryptionAlgorithm", "SYMMETRIC_DEFAULT");
        if (!e.resources.empty()) set_default("KeyId", e.resources.front());
    } else if (op == "ReEncrypt") {
        set_default("SourceEncryptionAlgorithm", "SYMMETRIC_DEFAULT");
        set_default("DestinationEncryptionAlgorithm", "SYMMETRIC_DEFAULT");
    } else if (op == "CreateKey") {
        const std::string spec = request.contains("KeySpec") ? S(request["KeySpec"])
                                 : request.contains("CustomerMasterKeySpec")
                                     ? S(request["CustomerMasterKeySpec"])
                                     : "SYMMETRIC_DEFAULT";
        set_default("KeySpec", spec);
        // The deprecated member exists only for the specs it always had.
        if (!StartsWith(spec, "ML_DSA") && spec != "ECC_NIST_EDWARDS25519")
            set_default("CustomerMasterKeySpec", spec);
        set_default("KeyUsage", "ENCRYPT_DECRYPT");
        set_default("Origin", "AWS_KMS");
        set_default("Description", "");
        if (!request.contains("BypassPolicyLockoutSafetyCheck"))
            request["BypassPolicyLockoutSafetyCheck"] = false;
    }
}

// The request as recorded, written into `out`: no blob, sensitive or grant-token member.
void AssignRequest(const CallOutcome& call, SecureString& out) {
    out.clear();
    const Json& request = call.input;
    if (!request.is_object() || call.operation == "GenerateRandom") return;
    // Grant tokens are bearer secrets: never recorded either.
    AppendRecordedRequest(call.operation_index, request, out);
}

OJson RequestParameters(const AuditEvent& e) {
    if (e.kind == AuditEvent::Kind::kServiceEvent || e.event_name == "GenerateRandom")
        return nullptr;
    Json request = Json::object();
    if (!e.request.empty()) {
        auto parsed = ParseRequestBody(std::string_view(e.request.data(), e.request.size()));
        if (parsed.ok() && parsed->is_object()) request = std::move(*parsed);
    }
    AddDefaults(e, request);
    if (request.empty()) return nullptr;
    return CloudTrailParameters(e.event_name, request);
}

// additionalEventData's values, assigned into `e` (empty where the operation has none).
void AssignAdditional(const CallOutcome& call, const Json& request, AuditEvent& e) {
    e.key_material_id.clear();
    e.source_key_material_id.clear();
    e.grant_id.clear();
    const auto copy = [&call](const char* member, std::string& to) {
        if (call.output == nullptr || !call.output->is_object()) return;
        auto it = call.output->find(member);
        if (it != call.output->end() && it->is_string()) {
            const auto& v = it->get_ref<const SecureString&>();
            to.assign(v.data(), v.size());
        }
    };
    if (call.operation == "ReEncrypt") {
        copy("DestinationKeyMaterialId", e.key_material_id);
        copy("SourceKeyMaterialId", e.source_key_material_id);
    } else if (call.operation == "Encrypt") {
        if (call.output != nullptr && call.key && call.key->key_spec == "SYMMETRIC_DEFAULT")
            e.key_material_id.assign(call.key->current_material_id());
    } else if (call.operation == "RetireGrant") {
        if (request.is_object())
            if (auto it = request.find("GrantId"); it != request.end() && it->is_string()) {
                const auto& v = it->get_ref<const SecureString&>();
                e.grant_id.assign(v.data(), v.size());
            }
    } else if (!call.material_id.empty()) {
        e.key_material_id.assign(call.material_id);
    } else {
        copy("KeyMaterialId", e.key_material_id);
    }
}

OJson AdditionalEventData(const AuditEvent& e) {
    OJson out = OJson::object();
    if (e.event_name == "ReEncrypt") {
        if (!e.key_material_id.empty()) out["destinationKeyMaterialId"] = e.key_material_id;
        if (!e.source_key_material_id.empty())
            out["sourceKeyMaterialId"] = e.source_key_material_id;
    } else if (!e.key_material_id.empty()) {
        out["keyMaterialId"] = e.key_material_id;
    }
    if (!e.grant_id.empty()) out["grantId"] = e.grant_id;
    return out;
}

// The record's resources, assigned into `out` (its strings keep their storage).
void AssignResources(const Caller& caller, const CallOutcome& call, const Json& request,
                     std::vector<std::string>& out) {
    std::size_t n = 0;
    const auto next = [&out, &n]() -> std::string& {
        if (n == out.size()) out.emplace_back();
        return out[n++];
    };
    const auto add = [&next](const std::shared_ptr<const storage::KeyRecord>& key) {
        if (key) next().assign(key->arn);
    };
    const auto add_alias = [&] {
        if (!request.is_object()) return;
        auto it = request.find("AliasName");
        if (it == request.end() || !it->is_string()) return;
        std::string& arn = next();
        arn.assign("arn:aws:kms:").append(caller.region).append(":").append(caller.account);
        arn.append(":").append(S(*it));
    };
    if (call.operation == "CreateAlias") {
        add(call.target);
        add_alias();
    } else if (call.operation == "UpdateAlias") {
        add_alias();
        add(call.target);
    } else if (call.operation == "DeleteAlias") {
        add_alias();
        add(call.key);
    } else if (call.operation == "CreateKey") {
        if (call.output != nullptr && call.output->contains("KeyMetadata"))
            next().assign(S((*call.output)["KeyMetadata"].value("Arn", Str(""))));
    } else {
        add(call.key);
        if (call.target && (!call.key || call.target->arn != call.key->arn)) add(call.target);
    }
    // A call that failed before its key was resolved (IncorrectKeyException, say) still names
    // the key it asked for, as AWS records it: a key ARN, or a key ID in the caller's account.
    if (n == 0 && call.failure != nullptr && request.is_object() && request.contains("KeyId")) {
        const std::string id = S(request["KeyId"]);
        if (StartsWith(id, "arn:") && id.find(":key/") != std::string::npos)
            next().assign(id);
        else if (IsKeyIdForm(id))
            next().assign("arn:aws:kms:" + caller.region + ":" + caller.account + ":key/" + id);
    }
    out.resize(n);
}

// arn:aws:kms:<region>:<account>:key/<id>: the account is the fifth field.
std::string ArnAccount(std::string_view arn) {
    std::size_t pos = 0;
    for (int i = 0; i < 4; ++i) {
        pos = arn.find(':', pos);
        if (pos == std::string_view::npos) return "";
        ++pos;
    }
    const auto end = arn.find(':', pos);
    return end == std::string_view::npos ? "" : std::string(arn.substr(pos, end - pos));
}

// A principal ID as IAM shows them (a 4-letter prefix and 17 characters), derived from the ARN
// so the same principal always has the same ID.
std::string PrincipalId(std::string_view prefix, std::string_view arn) {
    static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const Bytes digest =
        hsm::Sha256({reinterpret_cast<const std::uint8_t*>(arn.data()), arn.size()});
    std::string out(prefix);
    for (std::size_t i = 0; i < 17; ++i) out += kAlphabet[digest[i] & 31];
    return out;
}

OJson UserIdentity(const AuditEvent& e) {
    OJson id = OJson::object();
    const std::string& arn = e.principal_arn;
    constexpr std::string_view kRole = ":assumed-role/";
    const auto role_at = arn.find(kRole);
    const auto slash =
        role_at == std::string::npos ? std::string::npos : arn.find('/', role_at + kRole.size());
    if (slash != std::string::npos) {
        // arn:aws:sts::<acct>:assumed-role/<role>/<session>
        const std::string role = arn.substr(role_at + kRole.size(), slash - role_at - kRole.size());
        const std::string role_arn = "arn:aws:iam::" + e.account + ":role/" + role;
        const std::string role_id = PrincipalId("AROA", role_arn);
        id["type"] = "AssumedRole";
        id["principalId"] = role_id + ":" + arn.substr(slash + 1);
        id["arn"] = arn;
        id["accountId"] = e.account;
        id["accessKeyId"] = e.access_key_id;
        id["sessionContext"] = {
            {"sessionIssuer",
             {{"type", "Role"},
              {"principalId", role_id},
              {"arn", role_arn},
              {"accountId", e.account},
              {"userName", role}}},
            {"webIdFederationData", OJson::object()},
            {"attributes",
             {{"creationDate", CloudTrailTime(e.time)}, {"mfaAuthenticated", "false"}}}};
    } else if (arn.find(":user/") != std::string::npos) {
        id["type"] = "IAMUser";
        id["principalId"] = PrincipalId("AIDA", arn);
        id["arn"] = arn;
        id["accountId"] = e.account;
        id["accessKeyId"] = e.access_key_id;
        id["userName"] = arn.substr(arn.rfind('/') + 1);  // users may have paths
    } else {
        id["type"] = "Root";
        id["principalId"] = e.account;
        id["arn"] = arn;
        id["accountId"] = e.account;
        id["accessKeyId"] = e.access_key_id;
    }
    return id;
}

bool IsDateMember(std::string_view name) {
    return name == "ValidTo" || (name.size() > 4 && name.substr(name.size() - 4) == "Date");
}

bool IsMapMember(std::string_view name) {
    return name.find("EncryptionContext") != std::string_view::npos;
}

// kmsd's own output (bounded depth: KeyMetadata nests three levels) with member names in
// lowerCamelCase and dates in CloudTrail's format. Map members (encryption context) keep keys.
OJson CloudTrailShape(const Json& v, std::string_view member) {
    if (v.is_object()) {
        OJson out = OJson::object();
        for (auto it = v.begin(); it != v.end(); ++it) {
            const std::string_view key(it.key().data(), it.key().size());
            out[IsMapMember(member) ? std::string(key) : LowerCamel(key)] =
                CloudTrailShape(it.value(), key);
        }
        return out;
    }
    if (v.is_array()) {
        OJson out = OJson::array();
        for (const auto& e : v) out.push_back(CloudTrailShape(e, member));
        return out;
    }
    if (v.is_number() && IsDateMember(member)) return CloudTrailDate(v.get<double>());
    if (v.is_string()) return S(v);
    if (v.is_boolean()) return v.get<bool>();
    if (v.is_number_unsigned()) return v.get<unsigned long long>();
    if (v.is_number_integer()) return v.get<long long>();
    if (v.is_number()) return v.get<double>();
    return nullptr;
}

OJson ResponseElements(const AuditEvent& e) {
    if (!e.response.is_object()) return nullptr;
    OJson out = OJson::object();
    // The rule's order, then the key ARN AWS adds.
    if (const ResponseRule* rule = FindResponseRule(e.event_name))
        for (std::string_view member : rule->members) {
            if (member.empty()) break;
            auto it = e.response.find(member);
            if (it != e.response.end()) out[LowerCamel(member)] = CloudTrailShape(*it, member);
        }
    if (auto it = e.response.find("KeyId"); it != e.response.end() && !out.contains("keyId"))
        out["keyId"] = S(*it);
    return out;
}

}  // namespace

void CaptureCall(const Services& services, const Caller& caller, CallOutcome& call, AuditEvent& e) {
    e.kind = AuditEvent::Kind::kApiCall;
    e.time = services.clock.Now();
    e.event_name.assign(call.operation);
    e.request_id.assign(call.request_id);
    e.account.assign(caller.account);
    e.region.assign(caller.region);
    e.principal_arn.assign(caller.principal_arn);
    e.access_key_id.assign(caller.access_key_id);
    e.source_ip.assign(caller.source_ip);
    e.user_agent.assign(caller.user_agent);
    e.recipient_account.assign(call.key ? call.key->account : caller.account);
    AssignRequest(call, e.request);
    AssignResources(caller, call, call.input, e.resources);
    AssignAdditional(call, call.input, e);
    e.details = nullptr;
    if (call.failure != nullptr) {
        WireError wire = ToWire(*call.failure);
        // CloudTrail names a denial AccessDenied; other failures by their exception.
        e.error_code.assign(wire.type == "AccessDeniedException" ? "AccessDenied" : wire.type);
        e.error_message.assign(wire.message);
        e.response = nullptr;
    } else {
        e.error_code.clear();
        e.error_message.clear();
        e.response = RecordedResponse(call);
    }
}

AuditEvent ServiceEvent(const char* name, const storage::KeyRecord& key, double when,
                        OJson details) {
    AuditEvent e;
    e.kind = AuditEvent::Kind::kServiceEvent;
    e.time = when;
    e.event_name = name;
    e.request_id = NewUuid();
    e.account = key.account;
    e.region = key.region;
    e.recipient_account = key.account;
    e.resources.push_back(key.arn);
    // AWS adds the key ARN to DeleteKey's record (December 2022); its 2025 RotateKey example
    // still has null.
    if (e.event_name == "DeleteKey") e.response = Json{{"KeyId", Str(key.arn)}};
    e.details = std::move(details);
    return e;
}

std::string CloudTrailEventId(std::string_view request_id) {
    std::string label = "kmsd-event:";
    label += request_id;
    const std::string hex = hsm::ToHex(hsm::Sha256(View(label)));
    return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-4" + hex.substr(13, 3) + "-a" +
           hex.substr(17, 3) + "-" + hex.substr(20, 12);
}

std::string CloudTrailTime(double seconds) {
    return FormatUtc(std::floor(seconds), "%Y-%m-%dT%H:%M:%SZ");
}

std::string CloudTrailDate(double seconds) {
    const auto t = static_cast<std::time_t>(std::floor(seconds));
    std::tm tm{};
    gmtime_r(&t, &tm);
    static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const int hour12 = tm.tm_hour % 12 == 0 ? 12 : tm.tm_hour % 12;
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s %d, %d, %d:%02d:%02d %s", kMonths[tm.tm_mon], tm.tm_mday,
                  tm.tm_year + 1900, hour12, tm.tm_min, tm.tm_sec, tm.tm_hour < 12 ? "AM" : "PM");
    return buf;
}

OJson FormatCloudTrail(const AuditEvent& e) {
    const bool service = e.kind == AuditEvent::Kind::kServiceEvent;
    OJson r = OJson::object();
    r["eventVersion"] = "1.11";
    if (service)
        r["userIdentity"] = {{"accountId", e.account}, {"invokedBy", "AWS Internal"}};
    else
        r["userIdentity"] = UserIdentity(e);
    r["eventTime"] = CloudTrailTime(e.time);
    r["eventSource"] = "kms.amazonaws.com";
    r["eventName"] = e.event_name;
    r["awsRegion"] = e.region;
    r["sourceIPAddress"] = service ? "AWS Internal" : e.source_ip;
    r["userAgent"] = service ? "AWS Internal" : e.user_agent;
    if (!e.error_code.empty()) {
        r["errorCode"] = e.error_code;
        r["errorMessage"] = e.error_message;
    }
    r["requestParameters"] = RequestParameters(e);
    r["responseElements"] = ResponseElements(e);
    if (OJson additional = AdditionalEventData(e); !additional.empty())
        r["additionalEventData"] = std::move(additional);
    if (!service) r["requestID"] = e.request_id;
    r["eventID"] = CloudTrailEventId(e.request_id);
    r["readOnly"] = !service && ReadOnly(e.event_name);
    OJson resources = OJson::array();
    for (const auto& arn : e.resources)
        resources.push_back(
            {{"accountId", ArnAccount(arn)}, {"type", "AWS::KMS::Key"}, {"ARN", arn}});
    r["resources"] = std::move(resources);
    r["eventType"] = service ? "AwsServiceEvent" : "AwsApiCall";
    r["managementEvent"] = true;
    r["recipientAccountId"] = e.recipient_account.empty() ? e.account : e.recipient_account;
    if (!e.details.is_null()) r["serviceEventDetails"] = e.details;
    r["eventCategory"] = "Management";
    return r;
}

}  // namespace kmsd::api
