#include "src/auth/sigv4.h"

#include <algorithm>

namespace kmsd::auth {
namespace {

std::string_view Trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

std::vector<std::string> Split(std::string_view s, char sep) {
    std::vector<std::string> out;
    std::size_t start = 0;
    for (;;) {
        auto pos = s.find(sep, start);
        out.emplace_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
        if (pos == std::string_view::npos) return out;
        start = pos + 1;
    }
}

}  // namespace

std::optional<Credential> ParseAuthorization(std::string_view header) {
    constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
    header = Trim(header);
    if (header.substr(0, kAlgorithm.size()) != kAlgorithm) return std::nullopt;
    header.remove_prefix(kAlgorithm.size());
    Credential c;
    bool have_credential = false, have_headers = false, have_signature = false;
    for (const auto& part : Split(header, ',')) {
        std::string_view kv = Trim(part);
        auto eq = kv.find('=');
        if (eq == std::string_view::npos) return std::nullopt;
        std::string_view name = kv.substr(0, eq), value = kv.substr(eq + 1);
        if (name == "Credential") {
            auto scope = Split(value, '/');
            if (scope.size() != 5 || scope[0].empty() || scope[4] != "aws4_request")
                return std::nullopt;
            c.access_key_id = scope[0];
            c.date = scope[1];
            c.region = scope[2];
            c.service = scope[3];
            have_credential = true;
        } else if (name == "SignedHeaders") {
            c.signed_headers = Split(value, ';');
            have_headers = true;
        } else if (name == "Signature") {
            c.signature = std::string(value);
            have_signature = true;
        }
    }
    if (!have_credential || !have_headers || !have_signature || c.region.empty())
        return std::nullopt;
    return c;
}

}  // namespace kmsd::auth
