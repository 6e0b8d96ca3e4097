#include "src/auth/identity.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api/resolve.h"
#include "common/clock.h"
#include "hsm/crypto.h"
#include "src/yaml_limits.h"

namespace kmsd::auth {
namespace {

constexpr double kMaxSkewSeconds = 300;
constexpr char kBadToken[] = "The security token included in the request is invalid.";
constexpr char kBadSignature[] =
    "The request signature we calculated does not match the signature you provided. Check your "
    "AWS Secret Access Key and signing method. Consult the service documentation for details.";

// Parses YYYYMMDD'T'HHMMSS'Z' into epoch seconds; NAN if malformed.
double ParseAmzDate(const std::string& s) {
    std::tm tm{};
    if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z' ||
        sscanf(s.c_str(), "%4d%2d%2dT%2d%2d%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec) != 6)
        return NAN;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<double>(timegm(&tm));
}

std::string AmzDate(double t) { return FormatUtc(t, "%Y%m%dT%H%M%SZ"); }

Status Incomplete(const std::string& message) {
    return Error(ErrorCode::kIncompleteSignature, message);
}

// A YAML node as JSON, whatever style it was written in (block or flow). The recursion is as deep
// as the document, which CheckYamlLimits has bounded before any call. Scalars stay strings:
// policies hold strings only ("2012-10-17", "true" in conditions), and the evaluator reads
// numbers and booleans from their text anyway.
nlohmann::json ToJson(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Map: {
            nlohmann::json out = nlohmann::json::object();
            for (const auto& kv : node) out[kv.first.as<std::string>()] = ToJson(kv.second);
            return out;
        }
        case YAML::NodeType::Sequence: {
            nlohmann::json out = nlohmann::json::array();
            for (const auto& e : node) out.push_back(ToJson(e));
            return out;
        }
        case YAML::NodeType::Scalar:
            return node.as<std::string>();
        default:
            return nullptr;
    }
}

// Identity policies as YAML (or JSON, which is YAML) → parsed policies.
Result<std::shared_ptr<const std::vector<api::authz::Policy>>> ParsePolicies(
    const YAML::Node& node, const std::string& arn) {
    auto out = std::make_shared<std::vector<api::authz::Policy>>();
    for (const auto& policy : node["policies"]) {
        // dump() throws on strings that are not UTF-8 (YAML files may hold any bytes); JSON and
        // so policies cannot carry them.
        std::string text;
        try {
            text = ToJson(policy).dump();
        } catch (const nlohmann::json::exception&) {
            return Error(ErrorCode::kValidation,
                         "identity policy of " + arn + ": the policy is not valid UTF-8");
        }
        auto parsed = api::authz::Policy::Parse(text, /*require_principal=*/false);
        if (!parsed.ok())
            return Error(ErrorCode::kValidation,
                         "identity policy of " + arn + ": " + parsed.status().message());
        out->push_back(std::move(*parsed));
    }
    return std::shared_ptr<const std::vector<api::authz::Policy>>(std::move(out));
}

Status AddPrincipal(std::map<std::string, Principal, std::less<>>& out, const YAML::Node& node,
                    Principal p, bool root) {
    if (!root) {
        KMSD_ASSIGN_OR_RETURN(p.policies, ParsePolicies(node, p.arn));
    }
    const std::string key = node["access_key_id"].as<std::string>("");
    if (key.empty()) return Status::Ok();
    p.secret_access_key = node["secret_access_key"].as<std::string>("");
    p.session_token = node["session_token"].as<std::string>("");
    out[key] = std::move(p);
    return Status::Ok();
}

}  // namespace

Result<IdentityStore> IdentityStore::Load(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error(ErrorCode::kValidation, "principals file " + path + ": cannot read it");
    // Not checked: streaming an empty file sets failbit, and an empty file is an empty store.
    std::ostringstream text;
    text << in.rdbuf();
    return LoadFromString(text.str(), path);
}

Result<IdentityStore> IdentityStore::LoadFromString(const std::string& text,
                                                    const std::string& path) {
    IdentityStore store;
    try {
        YAML::Node doc = YAML::Load(text);
        // Before any walk: ToJson recurses once per level and walks aliases again where used.
        if (Status st = CheckYamlLimits(doc); !st.ok())
            return Error(ErrorCode::kValidation, "principals file " + path + ": " + st.message());
        for (const auto& account : doc["accounts"]) {
            const std::string id = account.first.as<std::string>();
            if (id.size() != 12 || id.find_first_not_of("0123456789") != std::string::npos)
                return Error(ErrorCode::kValidation,
                             "principals file " + path + ": account '" + id + "' is not 12 digits");
            const YAML::Node& a = account.second;
            store.known_.insert(id);
            store.known_.insert("arn:aws:iam::" + id + ":root");
            if (a["root"])
                KMSD_RETURN_IF_ERROR(AddPrincipal(store.by_access_key_, a["root"],
                                                  {id, "arn:aws:iam::" + id + ":root", {}, {}, {}},
                                                  /*root=*/true));
            for (const auto& user : a["users"]) {
                const std::string arn =
                    "arn:aws:iam::" + id + ":user/" + user["name"].as<std::string>();
                store.known_.insert(arn);
                KMSD_RETURN_IF_ERROR(
                    AddPrincipal(store.by_access_key_, user, {id, arn, {}, {}, {}}, false));
            }
            for (const auto& role : a["roles"]) {
                const std::string name = role["name"].as<std::string>();
                const std::string session = role["session_name"].as<std::string>(name + "-session");
                const std::string arn =
                    "arn:aws:sts::" + id + ":assumed-role/" + name + "/" + session;
                store.known_.insert("arn:aws:iam::" + id + ":role/" + name);
                store.known_.insert(arn);
                KMSD_RETURN_IF_ERROR(
                    AddPrincipal(store.by_access_key_, role, {id, arn, {}, {}, {}}, false));
            }
        }
    } catch (const YAML::Exception& e) {
        return Error(ErrorCode::kValidation, "principals file " + path + ": " + e.what());
    }
    return store;
}

bool IdentityStore::Knows(const std::string& principal) const {
    return principal == "*" || known_.count(principal) > 0;
}

const Principal* IdentityStore::Find(std::string_view access_key_id) const {
    auto it = by_access_key_.find(access_key_id);
    return it == by_access_key_.end() ? nullptr : &it->second;
}

Result<api::Caller> Authenticate(const IdentityStore& ids, const AuthDefaults& defaults,
                                 const SignedRequest& req, double now) {
    const std::string_view authorization = HeaderView(req, "authorization");
    if (defaults.mode != AuthMode::kStrict) {
        // Open mode: identify, never verify. The Region names where keys live and goes into
        // ARNs and replies, so a scope Region that is not shaped like one (say "local", or bytes
        // that are not UTF-8) means the default Region rather than a Region of its own.
        const auto cred = ParseAuthorizationView(authorization);
        const std::string_view region =
            cred && IsRegionName(cred->region) ? cred->region : std::string_view(defaults.region);
        const Principal* p = cred ? ids.Find(cred->access_key_id) : nullptr;
        const std::string_view account = p ? std::string_view(p->account) : defaults.account;
        std::string root;
        if (!p) {
            root.append("arn:").append(api::Partition(std::string(region)));
            root.append(":iam::").append(account).append(":root");
        }
        return api::Caller{std::string(account),
                           std::string(region),
                           p ? p->arn : std::move(root),
                           cred ? std::string(cred->access_key_id) : std::string(),
                           p ? p->policies : nullptr,
                           {},
                           {}};
    }
    auto cred = ParseAuthorization(authorization);
    if (authorization.empty())
        return Error(ErrorCode::kMissingAuthenticationToken, "Missing Authentication Token");
    if (!cred)
        return Incomplete(
            IncompleteAuthorizationMessage(authorization, !DateHeaderName(req).empty()));
    const std::string amz_date = HeaderValue(req, DateHeaderName(req));
    const double signed_at = ParseAmzDate(amz_date);
    if (std::isnan(signed_at) && !amz_date.empty())
        return Incomplete("Date must be in ISO-8601 'basic format'. Got '" + amz_date +
                          "'. See http://en.wikipedia.org/wiki/ISO_8601");
    if (std::isnan(signed_at))
        return Incomplete(
            "Authorization header requires existence of either a 'X-Amz-Date' or a "
            "'Date' header. Authorization=" +
            std::string(authorization));
    KMSD_RETURN_IF_ERROR(CheckSignedHeaders(*cred, req));
    if (signed_at < now - kMaxSkewSeconds)
        return Error(ErrorCode::kInvalidSignature,
                     "Signature expired: " + amz_date + " is now earlier than " +
                         AmzDate(now - kMaxSkewSeconds) + " (" + AmzDate(now) + " - 5 min.)");
    if (signed_at > now + kMaxSkewSeconds)
        return Error(ErrorCode::kInvalidSignature,
                     "Signature not yet current: " + amz_date + " is still later than " +
                         AmzDate(now + kMaxSkewSeconds) + " (" + AmzDate(now) + " + 5 min.)");
    KMSD_RETURN_IF_ERROR(CheckCredentialScope(*cred, amz_date));
    const Principal* p = ids.Find(cred->access_key_id);
    if (p == nullptr) return Error(ErrorCode::kUnrecognizedClient, kBadToken);
    const std::string expected =
        Sign(p->secret_access_key, amz_date, *cred, CanonicalRequest(req, cred->signed_headers));
    if (!hsm::ConstantTimeEquals(View(expected), View(cred->signature)))
        return Error(ErrorCode::kInvalidSignature, kBadSignature);
    if (!p->session_token.empty() &&
        !SessionTokenMatches(HeaderValue(req, "x-amz-security-token"), p->session_token))
        return Error(ErrorCode::kUnrecognizedClient, kBadToken);
    return api::Caller{p->account, cred->region, p->arn, cred->access_key_id, p->policies, {}, {}};
}

}  // namespace kmsd::auth
