// `kmsd xks-proxy`'s request handling (src/xks/proxy.h): the first byte picks the path (one of
// the four operations of a known or unknown key, or a path the proxy does not serve) and whether
// the request is signed correctly; the rest is the body, signed as kmsd would sign it so that the
// JSON and base64 handling behind the signature check is reached. Nothing may crash, every reply
// is an HTTP status the specification lists, and an error reply names an errorName.
#include "fuzz/fuzz_common.h"
#include "src/xks/proxy.h"
#include "src/xks/transport.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace kmsd;
    if (size == 0) return 0;
    static const xks::ProxyCore core = [] {
        xks::ProxyOptions o;
        o.access_key_id = "ABCDEFGHIJKLMNOPQRST";
        o.secret_access_key = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP1234";
        o.keys = {"k1"};
        o.disabled_keys = {"off"};
        return xks::ProxyCore(o, SecureBytes(32, 7));
    }();
    static constexpr const char* kPaths[] = {
        "/kms/xks/v1/health",           "/kms/xks/v1/keys/k1/metadata",
        "/kms/xks/v1/keys/k1/encrypt",  "/kms/xks/v1/keys/k1/decrypt",
        "/kms/xks/v1/keys/off/encrypt", "/kms/xks/v1/keys/nope/decrypt",
        "/kms/xks/v1/keys/k1/other",    "/elsewhere"};
    const std::string target = kPaths[data[0] % std::size(kPaths)];
    const bool well_signed = (data[0] & 0x80) == 0;
    const std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
    api::xks::Endpoint endpoint;
    endpoint.access_key_id = "ABCDEFGHIJKLMNOPQRST";
    endpoint.secret = well_signed ? "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP1234" : "wrong";
    endpoint.region = "us-east-1";
    const std::string date = "20260101T000000Z";
    const std::vector<std::pair<std::string, std::string>> headers = {
        {"Host", "xks.example.com"},
        {"X-Amz-Date", date},
        {"Authorization", xks::XksAuthorization(endpoint, "xks.example.com", target, date, body)}};
    const xks::ProxyReply reply = core.Handle("POST", target, headers, body, 1767225600.0);
    static constexpr int kStatuses[] = {200, 400, 401, 403, 404, 429, 500, 501, 503};
    if (std::find(std::begin(kStatuses), std::end(kStatuses), reply.status) == std::end(kStatuses))
        fuzz::Fail("the proxy answered a status the specification does not list");
    if (reply.status != 200 && reply.body.find("\"errorName\"") == std::string::npos)
        fuzz::Fail("an error reply without an errorName");
    if (!well_signed && reply.status == 200) fuzz::Fail("a badly signed request was served");
    return 0;
}
