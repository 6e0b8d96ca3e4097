#include "api/policy_format.h"

#include <nlohmann/json.hpp>

#include "api/authz/policy.h"
#include "common/json_limits.h"

namespace kmsd::api {
namespace {

using Ordered = nlohmann::ordered_json;
constexpr std::size_t kMaxPolicyBytes = 32768;

void Write(const Ordered& v, int depth, std::string& out) {
    auto indent = [&](int d) { out.append(static_cast<std::size_t>(d) * 2, ' '); };
    if (v.is_object()) {
        if (v.empty()) {
            out += "{ }";
            return;
        }
        out += "{\n";
        bool first = true;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (!first) out += ",\n";
            first = false;
            indent(depth + 1);
            out += Ordered(it.key()).dump(-1, ' ', false, Ordered::error_handler_t::replace);
            out += " : ";
            Write(it.value(), depth + 1, out);
        }
        out += "\n";
        indent(depth);
        out += "}";
    } else if (v.is_array()) {
        if (v.empty()) {
            out += "[ ]";
            return;
        }
        // Arrays do not add an indentation level; elements sit inline after "[ ".
        out += "[ ";
        bool first = true;
        for (const auto& e : v) {
            if (!first) out += ", ";
            first = false;
            Write(e, depth, out);
        }
        out += " ]";
    } else {
        out += v.dump(-1, ' ', false, Ordered::error_handler_t::replace);
    }
}

}  // namespace

std::string DefaultKeyPolicy(const std::string& partition, const std::string& account) {
    return "{\n"
           "  \"Version\" : \"2012-10-17\",\n"
           "  \"Id\" : \"key-default-1\",\n"
           "  \"Statement\" : [ {\n"
           "    \"Sid\" : \"Enable IAM User Permissions\",\n"
           "    \"Effect\" : \"Allow\",\n"
           "    \"Principal\" : {\n"
           "      \"AWS\" : \"arn:" +
           partition + ":iam::" + account +
           ":root\"\n"
           "    },\n"
           "    \"Action\" : \"kms:*\",\n"
           "    \"Resource\" : \"*\"\n"
           "  } ]\n"
           "}";
}

Status CheckKeyPolicy(const std::string& policy,
                      const std::function<bool(const std::string&)>& principal_exists) {
    if (policy.size() > kMaxPolicyBytes)
        return Error(ErrorCode::kLimitExceeded,
                     "Policy document exceeds the maximum size of 32768 bytes.");
    KMSD_ASSIGN_OR_RETURN(authz::Policy parsed, authz::Policy::Parse(policy, true));
    if (principal_exists)
        for (const auto& p : parsed.Principals())
            if (!principal_exists(p))
                return Error(ErrorCode::kMalformedPolicy,
                             "Policy contains a statement with one or more invalid principals.");
    return Status::Ok();
}

std::string FormatPolicy(const std::string& policy) {
    // Write recurses once per level: a stored policy passed Policy::Parse's depth check, but
    // this never trusts that (a database written by another build).
    if (!JsonNestingWithin(policy)) return policy;
    Ordered doc = Ordered::parse(policy, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return policy;
    std::string out;
    Write(doc, 0, out);
    return out;
}

}  // namespace kmsd::api
