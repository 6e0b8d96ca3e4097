#include "api/json.h"

#include <set>
#include <vector>

#include "common/json_limits.h"

namespace kmsd::api {

Result<Json> ParseRequestBody(std::string_view body) {
    // Checked before parsing: everything that walks the value afterwards (validation, dump(),
    // the destructor) may then recurse without a client choosing how deep.
    if (!JsonNestingWithin(body))
        return Error(ErrorCode::kSerialization,
                     "JSON nesting exceeds the maximum depth of " + std::to_string(kMaxJsonDepth));
    // One set of member names per open object: a repeated name is a SerializationException,
    // where nlohmann alone would silently keep the last value.
    std::vector<std::set<SecureString>> open;
    bool duplicate = false;
    auto callback = [&](int /*depth*/, Json::parse_event_t event, Json& parsed) {
        switch (event) {
            case Json::parse_event_t::object_start:
                open.emplace_back();
                break;
            case Json::parse_event_t::object_end:
                if (!open.empty()) open.pop_back();
                break;
            case Json::parse_event_t::key:
                if (!open.empty() &&
                    !open.back().insert(parsed.get_ref<const SecureString&>()).second)
                    duplicate = true;
                break;
            default:
                break;
        }
        return true;
    };
    Json j = Json::parse(body.begin(), body.end(), callback, /*allow_exceptions=*/false);
    if (j.is_discarded() || duplicate || !j.is_object())
        return Error(ErrorCode::kSerialization,
                     duplicate ? "Duplicate member in JSON object" : "Malformed JSON request body");
    return j;
}

namespace {

bool Plain(const SecureString& s) {
    for (const char c : s)
        if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') return false;
    return true;
}

void AppendString(const SecureString& s, SecureString& out) {
    if (!Plain(s)) {
        out += Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
        return;
    }
    out.push_back('"');
    out.append(s);
    out.push_back('"');
}

void AppendJson(const Json& j, SecureString& out) {
    switch (j.type()) {
        case Json::value_t::string:
            return AppendString(j.get_ref<const SecureString&>(), out);
        case Json::value_t::object: {
            out.push_back('{');
            bool first = true;
            for (const auto& [key, value] : j.items()) {
                if (!first) out.push_back(',');
                first = false;
                AppendString(key, out);
                out.push_back(':');
                AppendJson(value, out);
            }
            out.push_back('}');
            return;
        }
        case Json::value_t::array: {
            out.push_back('[');
            bool first = true;
            for (const auto& value : j) {
                if (!first) out.push_back(',');
                first = false;
                AppendJson(value, out);
            }
            out.push_back(']');
            return;
        }
        default:  // numbers, booleans, null: nlohmann's formatting, exactly
            out += j.dump(-1, ' ', false, Json::error_handler_t::replace);
    }
}

}  // namespace

SecureString Serialize(const Json& j) {
    SecureString out;
    out.reserve(1024);
    AppendJson(j, out);
    return out;
}

}  // namespace kmsd::api
