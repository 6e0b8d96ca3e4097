#include "src/console.h"

#include <cstdlib>

#include "api/audit.h"
#include "api/json.h"
#include "api/ops/common.h"
#include "api/policy_format.h"
#include "common/url_query.h"

namespace kmsd {
namespace {

using api::Json;
using api::Str;

// The page: src/console_page.inc holds it as one raw string literal (kConsolePage).
#include "src/console_page.inc"

AdminReply ErrorReply(int status, const std::string& message) {
    nlohmann::json body = {{"error", message}};
    return {status, body.dump()};
}

AdminReply Reply(const Json& body) {
    const SecureString text = api::Serialize(body);
    return {200, std::string(text.data(), text.size())};
}

Json TagsOf(const storage::KeyRecord& key) {
    Json tags = Json::array();
    for (const auto& [k, v] : key.tags)
        tags.push_back(Json{{"TagKey", Str(k)}, {"TagValue", Str(v)}});
    return tags;
}

// What the key list shows of a key.
Json Summary(const App& app, const storage::KeyRecord& key) {
    Json aliases = Json::array();
    for (const auto& alias : app.services().catalog.AliasesOf(key.scoped()))
        aliases.push_back(Str(alias->alias_name));
    Json out = {{"KeyMetadata", api::ops::KeyMetadata(key)},
                {"Aliases", std::move(aliases)},
                {"Tags", TagsOf(key)},
                {"KeyRotationEnabled", key.rotation_enabled}};
    if (key.rotation_enabled) {
        out["RotationPeriodInDays"] = key.rotation_period_days;
        if (key.next_rotation_date)
            out["NextRotationDate"] = api::ops::Timestamp(*key.next_rotation_date);
    }
    return out;
}

std::string Decode(std::string_view text) {
    auto params = ParseUrlQuery("v=" + std::string(text));
    if (!params.ok() || params->empty()) return "";
    return params->front().second;
}

}  // namespace

AdminReply ConsolePage() { return {200, kConsolePage, "text/html; charset=utf-8"}; }

AdminReply ListKeysForConsole(const App& app, std::string_view query) {
    auto params = ParseUrlQuery(query);
    if (!params.ok()) return ErrorReply(400, params.status().message());
    long limit = 100;
    std::size_t offset = 0;
    for (const auto& [name, value] : *params) {
        char* end = nullptr;
        const long n = std::strtol(value.c_str(), &end, 10);
        const bool number = !value.empty() && value.size() <= 12 && *end == '\0';
        if (name == "limit") {
            if (!number || n < 1 || n > kMaxConsoleKeys)
                return ErrorReply(400, "limit must be 1 to " + std::to_string(kMaxConsoleKeys));
            limit = n;
        } else if (name == "marker") {
            if (!number || n < 0) return ErrorReply(400, "marker must be a NextMarker");
            offset = static_cast<std::size_t>(n);
        } else {
            return ErrorReply(400, "unknown parameter (limit, marker)");
        }
    }
    // Every key in (account, Region, key ID) order; the marker is a position in that order.
    const std::vector<storage::KeyPtr> keys = app.services().catalog.AllKeys();
    Json list = Json::array();
    std::size_t i = offset;
    for (; i < keys.size() && list.size() < static_cast<std::size_t>(limit); ++i)
        list.push_back(Summary(app, *keys[i]));
    Json out = {{"Keys", std::move(list)}, {"Truncated", i < keys.size()}};
    if (i < keys.size()) out["NextMarker"] = Str(std::to_string(i));
    return Reply(out);
}

AdminReply KeyForConsole(const App& app, std::string_view arn_text) {
    const std::string arn = Decode(arn_text);
    // arn:aws:kms:<region>:<account>:key/<id>
    const auto parts = [&arn] {
        std::vector<std::string> out;
        std::size_t start = 0;
        for (int i = 0; i < 5; ++i) {
            const auto colon = arn.find(':', start);
            if (colon == std::string::npos) return std::vector<std::string>{};
            out.push_back(arn.substr(start, colon - start));
            start = colon + 1;
        }
        out.push_back(arn.substr(start));
        return out;
    }();
    if (parts.size() != 6 || parts[0] != "arn" || parts[2] != "kms" ||
        parts[5].rfind("key/", 0) != 0)
        return ErrorReply(
            400, "name a key by its ARN: /_kmsd/keys/arn:aws:kms:<region>:<account>:key/<id>");
    const storage::KeyPtr key =
        app.services().catalog.FindKey(storage::ScopedName{parts[4], parts[3], parts[5].substr(4)});
    if (!key) return ErrorReply(404, "no such key");
    Json out = Summary(app, *key);
    out["Policy"] = Str(api::FormatPolicy(key->policy));
    Json grants = Json::array();
    for (const auto& g : app.services().catalog.GrantsOf(key->scoped())) {
        Json grant = {{"GrantId", Str(g->grant_id)},
                      {"CreationDate", api::ops::Timestamp(g->creation_date)},
                      {"GranteePrincipal", Str(g->grantee_principal)},
                      {"IssuingAccount", Str(g->issuing_account)},
                      {"Operations", Json::array()}};
        if (!g->name.empty()) grant["Name"] = Str(g->name);
        if (!g->retiring_principal.empty()) grant["RetiringPrincipal"] = Str(g->retiring_principal);
        for (const auto& op : g->operations) grant["Operations"].push_back(Str(op));
        if (!g->constraint_type.empty()) {
            Json context = Json::object();
            for (const auto& [k, v] : g->constraint_context) context[api::ToSecure(k)] = Str(v);
            Json constraints = Json::object();
            constraints[api::ToSecure(g->constraint_type)] = std::move(context);
            grant["Constraints"] = std::move(constraints);
        }
        grants.push_back(std::move(grant));
    }
    out["Grants"] = std::move(grants);
    Json materials = Json::array();
    for (const auto& m : key->materials) {
        Json material = {{"KeyMaterialId", Str(m.material_id)},
                         {"CreationDate", api::ops::Timestamp(m.creation_date)},
                         {"Current", m.material_id == key->current_material_id()}};
        if (!m.rotation_type.empty()) material["RotationType"] = Str(m.rotation_type);
        if (!m.import_state.empty()) material["ImportState"] = Str(m.import_state);
        if (!m.expiration_model.empty()) material["ExpirationModel"] = Str(m.expiration_model);
        if (m.valid_to) material["ValidTo"] = api::ops::Timestamp(*m.valid_to);
        materials.push_back(std::move(material));
    }
    out["KeyMaterials"] = std::move(materials);
    // The key's newest audit records, formatted as GET /_kmsd/audit gives them.
    AuditLog::Query q;
    q.key_arn = key->arn;
    q.limit = 20;
    nlohmann::ordered_json records = nlohmann::ordered_json::array();
    for (const auto& event : app.audit().Find(q)) records.push_back(api::FormatCloudTrail(event));
    SecureString text = api::Serialize(out);
    // Splice the records in as the last member: they are ordered_json, the rest is kmsd's Json.
    std::string body(text.data(), text.size() - 1);
    body += ",\"Audit\":";
    body += records.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
    body += "}";
    return {200, std::move(body)};
}

}  // namespace kmsd
