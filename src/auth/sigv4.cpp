#include "src/auth/sigv4.h"

#include <algorithm>
#include <map>

#include "hsm/blob.h"
#include "hsm/crypto.h"

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

std::string Lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Trims and collapses runs of spaces, as the canonical header value requires.
std::string CanonicalValue(std::string_view v) {
    std::string out;
    bool space = false;
    for (char c : Trim(v)) {
        if (c == ' ' || c == '\t') {
            space = true;
            continue;
        }
        if (space && !out.empty()) out.push_back(' ');
        space = false;
        out.push_back(c);
    }
    return out;
}

int HexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string UriDecode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
            out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
            i += 2;
        } else {
            out.push_back(s[i] == '+' ? ' ' : s[i]);
        }
    }
    return out;
}

// RFC 3986 encoding with SigV4's unreserved set; '/' kept in paths.
std::string UriEncode(std::string_view s, bool keep_slash) {
    static const char* kHex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' ||
            (keep_slash && c == '/')) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 15]);
        }
    }
    return out;
}

std::string CanonicalQuery(std::string_view query) {
    std::vector<std::pair<std::string, std::string>> params;
    for (const auto& part : Split(query, '&')) {
        if (part.empty()) continue;
        auto eq = part.find('=');
        std::string name = part.substr(0, eq);
        std::string value = eq == std::string::npos ? "" : part.substr(eq + 1);
        params.emplace_back(UriEncode(UriDecode(name), false), UriEncode(UriDecode(value), false));
    }
    std::sort(params.begin(), params.end());
    std::string out;
    for (const auto& [k, v] : params) out += (out.empty() ? "" : "&") + k + "=" + v;
    return out;
}

std::string HexOf(const std::vector<std::uint8_t>& bytes) { return hsm::ToHex(bytes); }

}  // namespace

std::string CanonicalRequest(const SignedRequest& req,
                             const std::vector<std::string>& signed_headers) {
    std::string_view target = req.target;
    auto q = target.find('?');
    std::string_view path = target.substr(0, q);
    std::string_view query = q == std::string_view::npos ? "" : target.substr(q + 1);
    // Values of repeated headers join with ',' in the order received.
    std::map<std::string, std::string> values;
    for (const auto& [name, value] : req.headers) {
        std::string& v = values[Lower(name)];
        v += (v.empty() ? "" : ",") + CanonicalValue(value);
    }
    std::string out = req.method + "\n" + UriEncode(UriDecode(path.empty() ? "/" : path), true) +
                      "\n" + CanonicalQuery(query) + "\n";
    std::string names;
    for (const auto& h : signed_headers) {
        out += h + ":" + values[h] + "\n";
        names += (names.empty() ? "" : ";") + h;
    }
    const std::vector<std::uint8_t> body_hash =
        hsm::Sha256({reinterpret_cast<const std::uint8_t*>(req.body.data()), req.body.size()});
    return out + "\n" + names + "\n" + HexOf(body_hash);
}

std::string Sign(const std::string& secret, const std::string& amz_date, const Credential& scope,
                 const std::string& canonical_request) {
    const std::string scope_text =
        scope.date + "/" + scope.region + "/" + scope.service + "/aws4_request";
    const std::string to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope_text + "\n" +
                                HexOf(hsm::Sha256(View(canonical_request)));
    const std::string k_secret = "AWS4" + secret;
    auto k = hsm::HmacSha256(View(k_secret), View(scope.date));
    k = hsm::HmacSha256(k, View(scope.region));
    k = hsm::HmacSha256(k, View(scope.service));
    k = hsm::HmacSha256(k, View(std::string("aws4_request")));
    return HexOf(hsm::HmacSha256(k, View(to_sign)));
}

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
