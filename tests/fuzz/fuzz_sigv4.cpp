// SigV4 (src/auth/sigv4.h, and Authenticate in strict mode): the input is an HTTP request as
// text ("METHOD TARGET", header lines "Name: value", an empty line, the body). It is
// authenticated as sent (header parsing, date checks, canonical request, signature comparison),
// then again with the signature kmsd computes for it, so the success path is reached too.
#include "fuzz/fuzz_common.h"
#include "src/auth/identity.h"
#include "src/auth/sigv4.h"

namespace {

using namespace kmsd;

constexpr char kPrincipals[] = R"(accounts:
  "111122223333":
    root: {access_key_id: AKIDEXAMPLE, secret_access_key: wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY}
    roles:
      - name: app
        access_key_id: ASIAAPP11111EXAMPLE
        secret_access_key: app-secret
        session_token: app-token
)";
// 2024-01-01T00:00:00Z: the corpus requests are signed at this time.
constexpr double kNow = 1704067200;

auth::SignedRequest ParseRequest(std::string_view in, std::string& body_out) {
    auth::SignedRequest req;
    const std::string_view first = fuzz::TakeLine(in);
    const auto space = first.find(' ');
    req.method = std::string(first.substr(0, space));
    req.target = space == std::string_view::npos ? "" : std::string(first.substr(space + 1));
    while (!in.empty()) {
        std::string_view line = fuzz::TakeLine(in);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;
        const auto colon = line.find(':');
        std::string_view value =
            colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        req.headers.emplace_back(std::string(line.substr(0, colon)), std::string(value));
    }
    body_out = std::string(in);
    return req;
}

// Whether header `name` is `lower` (given in lower case), in any case.
bool Named(std::string_view name, std::string_view lower) {
    if (name.size() != lower.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(name[i])) != lower[i]) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auth::IdentityStore ids =
        auth::IdentityStore::LoadFromString(kPrincipals, "fuzz").value();
    static const auth::AuthDefaults strict{auth::AuthMode::kStrict, fuzz::kAccount, fuzz::kRegion};
    static const auth::AuthDefaults open{auth::AuthMode::kOpen, fuzz::kAccount, fuzz::kRegion};

    std::string body;
    auth::SignedRequest req = ParseRequest(fuzz::AsText(data, size), body);
    req.body = body;
    (void)auth::Authenticate(ids, open, req, kNow);
    auto as_sent = auth::Authenticate(ids, strict, req, kNow);
    if (std::getenv("KMSD_FUZZ_VERBOSE") != nullptr)
        std::fprintf(
            stderr, "as sent: %s\n",
            as_sent.ok() ? as_sent->principal_arn.c_str() : as_sent.status().message().c_str());

    // Re-sign with the key the header names (when the file has it) and authenticate again.
    for (auto& [name, value] : req.headers) {
        if (!Named(name, "authorization")) continue;
        auto cred = auth::ParseAuthorization(value);
        if (!cred) continue;
        const auth::Principal* p = ids.Find(cred->access_key_id);
        const auto at = value.find("Signature=");
        if (p == nullptr || at == std::string::npos) continue;
        std::string amz_date;
        for (const auto& [n, v] : req.headers)
            if (Named(n, "x-amz-date")) amz_date = v;
        const std::string canonical = auth::CanonicalRequest(req, cred->signed_headers);
        const std::string signature = auth::Sign(p->secret_access_key, amz_date, *cred, canonical);
        const auto end = value.find_first_of(", ", at);
        value.replace(at + 10, end == std::string::npos ? std::string::npos : end - at - 10,
                      signature);
        (void)auth::Authenticate(ids, strict, req, kNow);
        break;
    }
    return 0;
}
