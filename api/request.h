// Typed, read-only access to a request body that ValidateInput has already accepted, so members
// have the right JSON types and blobs are valid base64.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/json.h"
#include "common/base64.h"
#include "hsm/hsm.h"

namespace kmsd::api {

class Request {
public:
    explicit Request(const Json& body) : body_(body) {}

    bool Has(const char* name) const {
        auto it = body_.find(name);
        return it != body_.end() && !it->is_null();
    }
    std::optional<std::string> OptString(const char* name) const {
        if (!Has(name)) return std::nullopt;
        return ToStd(body_.at(name).get_ref<const SecureString&>());
    }
    std::string String(const char* name, const std::string& fallback = "") const {
        return OptString(name).value_or(fallback);
    }
    std::optional<long long> OptInt(const char* name) const {
        if (!Has(name)) return std::nullopt;
        return body_.at(name).get<long long>();
    }
    // A number or timestamp member (epoch seconds).
    std::optional<double> OptNumber(const char* name) const {
        if (!Has(name)) return std::nullopt;
        return body_.at(name).get<double>();
    }
    bool Bool(const char* name) const { return Has(name) && body_.at(name).get<bool>(); }
    // Decoded bytes of a blob member (empty when absent).
    SecureBytes Blob(const char* name) const {
        if (!Has(name)) return {};
        return Base64Decode(body_.at(name).get_ref<const SecureString&>()).value_or(SecureBytes());
    }
    std::vector<std::string> StringList(const char* name) const {
        std::vector<std::string> out;
        if (Has(name))
            for (const auto& v : body_.at(name))
                out.push_back(ToStd(v.get_ref<const SecureString&>()));
        return out;
    }
    const Json& At(const char* name) const { return body_.at(name); }

private:
    const Json& body_;
};

}  // namespace kmsd::api
