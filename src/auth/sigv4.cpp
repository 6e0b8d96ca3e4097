#include "src/auth/sigv4.h"

#include <openssl/crypto.h>

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

// Views into `s` (every request's Authorization header is split: no copies).
std::vector<std::string_view> Split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
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
        std::string name(part.substr(0, eq));
        std::string value(eq == std::string_view::npos ? "" : part.substr(eq + 1));
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

std::string Sign(std::string_view secret, const std::string& amz_date, const Credential& scope,
                 const std::string& canonical_request) {
    const std::string scope_text =
        scope.date + "/" + scope.region + "/" + scope.service + "/aws4_request";
    const std::string to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope_text + "\n" +
                                HexOf(hsm::Sha256(View(canonical_request)));
    // The secret and the keys derived from it are wiped once the signature is made.
    SecureString k_secret("AWS4");
    k_secret.append(secret.data(), secret.size());
    Bytes k = hsm::HmacSha256(kmsd::View(k_secret), View(scope.date));
    const auto next = [&k](ByteView data) {
        Bytes derived = hsm::HmacSha256(k, data);
        OPENSSL_cleanse(k.data(), k.size());
        k = std::move(derived);
    };
    next(View(scope.region));
    next(View(scope.service));
    next(View(std::string("aws4_request")));
    next(View(to_sign));
    std::string signature = HexOf(k);
    OPENSSL_cleanse(k.data(), k.size());
    return signature;
}

namespace {

// The next piece of `s` up to `sep` (all of it when there is none), consumed from `s`; false
// once `s` is used up (after its last piece).
bool NextPiece(std::string_view& s, bool& done, char sep, std::string_view& piece) {
    if (done) return false;
    const auto pos = s.find(sep);
    piece = s.substr(0, pos);
    if (pos == std::string_view::npos)
        done = true;
    else
        s.remove_prefix(pos + 1);
    return true;
}

}  // namespace

std::optional<CredentialView> ParseAuthorizationView(std::string_view header) {
    constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
    header = Trim(header);
    if (header.substr(0, kAlgorithm.size()) != kAlgorithm) return std::nullopt;
    header.remove_prefix(kAlgorithm.size());
    CredentialView c;
    bool have_credential = false, have_headers = false, have_signature = false;
    std::string_view part;
    for (bool done = false; NextPiece(header, done, ',', part);) {
        std::string_view kv = Trim(part);
        auto eq = kv.find('=');
        if (eq == std::string_view::npos) return std::nullopt;
        std::string_view name = kv.substr(0, eq), value = kv.substr(eq + 1);
        if (name == "Credential") {
            // Exactly five elements: four slashes.
            std::string_view scope[5];
            std::size_t n = 0;
            std::string_view element;
            for (bool end = false; NextPiece(value, end, '/', element);) {
                if (n == 5) return std::nullopt;
                scope[n++] = element;
            }
            if (n != 5 || scope[0].empty()) return std::nullopt;
            c.access_key_id = scope[0];
            c.date = scope[1];
            c.region = scope[2];
            c.service = scope[3];
            c.terminator = scope[4];
            have_credential = true;
        } else if (name == "SignedHeaders") {
            c.signed_headers = value;  // a repeated SignedHeaders= replaces
            have_headers = true;
        } else if (name == "Signature") {
            c.signature = value;
            have_signature = true;
        }
    }
    if (!have_credential || !have_headers || !have_signature || c.region.empty())
        return std::nullopt;
    return c;
}

std::optional<Credential> ParseAuthorization(std::string_view header) {
    const auto view = ParseAuthorizationView(header);
    if (!view) return std::nullopt;
    Credential c;
    c.access_key_id = view->access_key_id;
    c.date = view->date;
    c.region = view->region;
    c.service = view->service;
    c.terminator = view->terminator;
    for (const auto header_name : Split(view->signed_headers, ';'))
        c.signed_headers.emplace_back(header_name);
    c.signature = view->signature;
    return c;
}

std::string IncompleteAuthorizationMessage(std::string_view header, bool has_date_header) {
    constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";
    const std::string_view trimmed = Trim(header);
    bool credential = false, signature = false, signed_headers = false;
    if (trimmed.substr(0, kAlgorithm.size()) == kAlgorithm) {
        for (const auto& part : Split(trimmed.substr(kAlgorithm.size()), ',')) {
            std::string_view kv = Trim(part);
            if (kv.empty()) continue;
            auto eq = kv.find('=');
            if (eq == std::string_view::npos)
                return "'" + std::string(kv) +
                       "' not a valid key=value pair (missing equal-sign) in Authorization "
                       "header: '" +
                       std::string(header) + "'.";
            std::string_view name = kv.substr(0, eq);
            credential |= name == "Credential";
            signature |= name == "Signature";
            signed_headers |= name == "SignedHeaders";
        }
    }
    std::string message;
    auto require = [&](bool present, std::string_view name) {
        if (!present)
            message += "Authorization header requires '" + std::string(name) + "' parameter. ";
    };
    require(credential, "Credential");
    require(signature, "Signature");
    require(signed_headers, "SignedHeaders");
    // All three present: the Credential is not five '/'-separated elements. AWS's words for that
    // are not recorded; this names what is expected.
    if (message.empty())
        message =
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' "
            "parameters, the Credential as <key>/<date>/<region>/<service>/aws4_request. ";
    if (!has_date_header)
        message +=
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            "header. ";
    return message + "Authorization=" + std::string(header);
}

std::string HeaderValue(const SignedRequest& req, std::string_view lower_name) {
    return std::string(HeaderView(req, lower_name));
}

std::string_view HeaderView(const SignedRequest& req, std::string_view lower_name) {
    for (const auto& [k, v] : req.headers) {
        if (k.size() != lower_name.size()) continue;
        bool same = true;
        for (std::size_t i = 0; i < k.size() && same; ++i)
            same = std::tolower(static_cast<unsigned char>(k[i])) == lower_name[i];
        if (same) return v;
    }
    return {};
}

std::string_view DateHeaderName(const SignedRequest& req) {
    // AWS looks for X-Amz-Date first and falls back to Date (SigV4 "Handling dates").
    if (!HeaderValue(req, "x-amz-date").empty()) return "x-amz-date";
    if (!HeaderValue(req, "date").empty()) return "date";
    return {};
}

Status CheckSignedHeaders(const Credential& cred, const SignedRequest& req) {
    auto is_signed = [&](std::string_view name) {
        return std::find(cred.signed_headers.begin(), cred.signed_headers.end(), name) !=
               cred.signed_headers.end();
    };
    auto unsigned_error = [](std::string_view shown) {
        return Error(
            ErrorCode::kInvalidSignature,
            "'" + std::string(shown) + "' must be a 'SignedHeader' in the AWS Authorization.");
    };
    // AWS's own text for a request that does not sign its host.
    if (!is_signed("host"))
        return Error(ErrorCode::kInvalidSignature,
                     "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
    const std::string_view date = DateHeaderName(req);
    if (date == "x-amz-date" && !is_signed(date)) return unsigned_error("X-Amz-Date");
    if (date == "date" && !is_signed(date)) return unsigned_error("Date");
    // kmsd's own requirements (AWS signs these when SDKs send them but does not insist): the
    // operation and the session are part of what the signature vouches for.
    if (!is_signed("x-amz-target")) return unsigned_error("X-Amz-Target");
    if (!HeaderValue(req, "x-amz-security-token").empty() && !is_signed("x-amz-security-token"))
        return unsigned_error("X-Amz-Security-Token");
    return Status::Ok();
}

bool IsRegionName(std::string_view s) {
    // ^([a-z]+-){2,3}\d+$: two or three runs of lower-case letters each followed by '-', then
    // digits to the end. Taking a third group whenever there is one never needs undoing: after
    // two groups a letter cannot start the digits.
    std::size_t i = 0;
    int groups = 0;
    while (groups < 3) {
        std::size_t j = i;
        while (j < s.size() && s[j] >= 'a' && s[j] <= 'z') ++j;
        if (j == i || j == s.size() || s[j] != '-') break;
        i = j + 1;
        ++groups;
    }
    if (groups < 2) return false;
    const std::size_t digits = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
    return i > digits && i == s.size();
}

Status CheckCredentialScope(const Credential& cred, std::string_view request_date) {
    // AWS (Coral) checks the four scope elements together and reports every mismatch in one
    // message, in this order, each sentence ending in ". " except the date's.
    std::string message;
    if (!IsRegionName(cred.region))
        message += "Credential should be scoped to a valid region, not '" + cred.region + "'. ";
    if (cred.service != "kms") message += "Credential should be scoped to correct service: 'kms'. ";
    if (cred.terminator != "aws4_request")
        message += "Credential should be scoped with a valid terminator: 'aws4_request', not '" +
                   cred.terminator + "'. ";
    const std::string_view day = request_date.substr(0, 8);
    if (cred.date != day)
        message +=
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of "
            "date from HTTP: '" +
            cred.date + "' != '" + std::string(day) + "', from '" + std::string(request_date) +
            "'.";
    if (message.empty()) return Status::Ok();
    return Error(ErrorCode::kInvalidSignature, message);
}

bool SessionTokenMatches(std::string_view presented, std::string_view expected) {
    // Hash first so that the comparison takes the same time whatever the lengths: a plain
    // length check would tell a prober how long the token on file is.
    const auto a =
        hsm::Sha256({reinterpret_cast<const std::uint8_t*>(presented.data()), presented.size()});
    const auto b =
        hsm::Sha256({reinterpret_cast<const std::uint8_t*>(expected.data()), expected.size()});
    return hsm::ConstantTimeEquals(a, b);
}

}  // namespace kmsd::auth
