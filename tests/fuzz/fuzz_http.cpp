// The whole request path: HTTP bytes → Beast's request parser (with the server's limits) → the
// server's per-request function (HandleHttpRequest: admin endpoints, authentication, Dispatch)
// over a real in-memory Catalog and HSM. An input may hold several pipelined requests; they share
// one App, so a CreateKey can be followed by requests on the seeded keys
// (tests/fuzz/fuzz_common.h).
#include <boost/asio/buffer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "fuzz/fuzz_common.h"
#include "src/server/handler.h"
#include "src/server/server.h"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using namespace kmsd;

constexpr int kMaxRequestsPerInput = 8;

// What the server's session does with one parsed request, minus the socket.
void Handle(App& app, Request& req) {
    (void)MayWaitOnProxy(app, req);  // which thread: a scan of the body before any parse
    Response res = HandleHttpRequest(app, req, "127.0.0.1");
    const std::string_view body(res.body().data(), res.body().size());
    if (std::getenv("KMSD_FUZZ_VERBOSE") != nullptr)
        std::fprintf(stderr, "%.*s %.*s -> %u %.*s\n", static_cast<int>(req.target().size()),
                     req.target().data(), static_cast<int>(req["X-Amz-Target"].size()),
                     req["X-Amz-Target"].data(), res.result_int(),
                     static_cast<int>(std::min<std::size_t>(body.size(), 200)), body.data());
    // HandleHttpRequest and Dispatch turn exceptions into 500s: for client input that is a bug.
    if (res.result_int() >= 500)
        fuzz::Fail("HTTP " + std::to_string(res.result_int()) + " " + std::string(body));
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
        if (ec || !parser.is_done()) {
            // The server answers 400 (413 over the body limit) and closes.
            (void)HttpErrorResponse(ec == http::error::body_limit ? http::status::payload_too_large
                                                                  : http::status::bad_request);
            return;
        }
        Request req = parser.release();
        Handle(app, req);
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
