// Typed, read-only access to a request body that ValidateInput has already accepted, so members
// have the right JSON types and blobs are valid base64.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/json.h"
#include "common/base64.h"
#include "hsm/hsm.h"

namespace kmsd::api {

class Request {
public:
    explicit Request(const Json& body) : body_(body) {}

    // The member, unless absent or null. One map lookup per access: every accessor below
    // goes through it once.
    const Json* Find(const char* name) const {
        auto it = body_.find(name);
        return it == body_.end() || it->is_null() ? nullptr : &*it;
    }
    bool Has(const char* name) const { return Find(name) != nullptr; }
    std::optional<std::string> OptString(const char* name) const {
        const Json* v = Find(name);
        if (v == nullptr) return std::nullopt;
        return ToStd(v->get_ref<const SecureString&>());
    }
    std::string String(const char* name, const std::string& fallback = "") const {
        return OptString(name).value_or(fallback);
    }
    // A view of a string member (valid while the request body lives), without a copy.
    std::string_view StringView(const char* name, std::string_view fallback) const {
        const Json* v = Find(name);
        if (v == nullptr) return fallback;
        const auto& s = v->get_ref<const SecureString&>();
        return {s.data(), s.size()};
    }
    std::optional<long long> OptInt(const char* name) const {
        const Json* v = Find(name);
        if (v == nullptr) return std::nullopt;
        return v->get<long long>();
    }
    // A number or timestamp member (epoch seconds).
    std::optional<double> OptNumber(const char* name) const {
        const Json* v = Find(name);
        if (v == nullptr) return std::nullopt;
        return v->get<double>();
    }
    bool Bool(const char* name) const {
        const Json* v = Find(name);
        return v != nullptr && v->get<bool>();
    }
    // Decoded bytes of a blob member (empty when absent).
    SecureBytes Blob(const char* name) const {
        const Json* v = Find(name);
        if (v == nullptr) return {};
        return Base64Decode(v->get_ref<const SecureString&>()).value_or(SecureBytes());
    }
    std::vector<std::string> StringList(const char* name) const {
        std::vector<std::string> out;
        if (const Json* list = Find(name))
            for (const auto& v : *list) out.push_back(ToStd(v.get_ref<const SecureString&>()));
        return out;
    }
    const Json& At(const char* name) const { return body_.at(name); }

private:
    const Json& body_;
};

}  // namespace kmsd::api
