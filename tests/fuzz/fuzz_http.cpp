// The whole request path: HTTP bytes → Beast's request parser (with the server's limits) → the
// server's per-request work (admin endpoints, authentication, Dispatch) over a real in-memory
// Catalog and HSM. An input may hold several pipelined requests; they share one App, so a
// CreateKey can be followed by requests on the seeded keys (tests/fuzz/fuzz_common.h).
#include <boost/asio/buffer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "api/errors.h"
#include "fuzz/fuzz_common.h"
#include "src/admin.h"
#include "src/server/server.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using namespace kmsd;

using SecureBody = http::basic_string_body<char, std::char_traits<char>, CleansingAllocator<char>>;
using Request = http::request<SecureBody>;

constexpr int kMaxRequestsPerInput = 8;

std::string_view Sv(beast::string_view s) { return {s.data(), s.size()}; }

// What src/server/server.cpp's Session::Handle does with one parsed request, minus the socket.
void Handle(App& app, const Request& req) {
    const std::string_view path = Sv(req.target());
    if (IsAdminPath(path)) {
        AdminReply reply =
            HandleAdmin(app, Sv(req.method_string()), path, Sv(req[http::field::authorization]),
                        std::string_view(req.body().data(), req.body().size()));
        if (std::getenv("KMSD_FUZZ_VERBOSE") != nullptr)
            std::fprintf(stderr, "%s %d %s\n", std::string(path).c_str(), reply.http_status,
                         reply.body.c_str());
        return;
    }
    auth::SignedRequest signed_parts;
    signed_parts.headers.emplace_back("authorization",
                                      std::string(Sv(req[http::field::authorization])));
    auto caller = app.Authenticate(signed_parts);
    if (!caller.ok()) return;
    caller->source_ip = "127.0.0.1";
    const std::string_view body(req.body().data(), req.body().size());
    api::Response out =
        req.method() == http::verb::post
            ? app.dispatcher().Dispatch(*caller, Sv(req["X-Amz-Target"]),
                                        Sv(req[http::field::content_type]), body, "fuzz")
            : app.dispatcher().Dispatch(*caller, "", "", "", "fuzz");
    if (std::getenv("KMSD_FUZZ_VERBOSE") != nullptr)
        std::fprintf(stderr, "%s %d %.200s\n", std::string(Sv(req["X-Amz-Target"])).c_str(),
                     out.http_status, std::string(out.body.data(), out.body.size()).c_str());
    // Dispatch turns exceptions into KMSInternalException: for client input that is a bug.
    if (out.http_status >= 500)
        fuzz::Fail("KMSInternalException for a request: " +
                   std::string(out.body.data(), out.body.size()));
}

// Feeds `data` to Beast's parser request by request, as a connection would.
void Feed(App& app, const std::uint8_t* data, std::size_t size) {
    boost::asio::const_buffer rest(data, size);
    for (int i = 0; i < kMaxRequestsPerInput && rest.size() > 0; ++i) {
        http::request_parser<SecureBody> parser;
        parser.eager(true);
        parser.body_limit(kMaxBodyBytes);
        parser.header_limit(16 * 1024);
        beast::error_code ec;
        while (rest.size() > 0 && !parser.is_done()) {
            const std::size_t used = parser.put(rest, ec);
            rest += used;
            if (ec == http::error::need_more) {
                if (rest.size() == 0) break;
                ec = {};
                if (used == 0) break;  // the parser wants more than there is
                continue;
            }
            if (ec) break;
        }
        if (!parser.is_done() && (!ec || ec == http::error::need_more)) {
            ec = {};
            parser.put_eof(ec);
        }
        if (ec || !parser.is_done()) return;  // the server answers 400 and closes
        Handle(app, parser.get());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static bool quiet = (fuzz::Quiet(), true);
    (void)quiet;
    // A fresh App every 32 inputs: opening one costs several milliseconds under ASan (a fresh
    // one per input runs at a few dozen inputs a second), and 32 inputs cannot grow it much.
    // When a finding does not reproduce from its input alone, KMSD_FUZZ_REOPEN_EVERY=1.
    static fuzz::FuzzApp app(fuzz::ReopenEvery(32));
    Feed(app.Get(), data, size);
    app.Done();
    return 0;
}
