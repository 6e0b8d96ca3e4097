// The admin request parser: HandleAdmin with the method, path, Authorization, Content-Type,
// Origin and Host headers taken from the input, one per line (the rest of the input is the
// body), on an App that has an admin token ("fuzz-token"), so both sides of the token check are
// reachable.
#include "fuzz/fuzz_common.h"
#include "src/admin.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace kmsd;
    static bool quiet = (fuzz::Quiet(), true);
    (void)quiet;
    // Reopened every 32 inputs (as in fuzz_http.cpp): clock moves stay in the App until then.
    static fuzz::FuzzApp app(fuzz::ReopenEvery(32), "fuzz-token");
    std::string_view in = fuzz::AsText(data, size);
    AdminRequest req;
    req.method = fuzz::TakeLine(in);
    req.path = fuzz::TakeLine(in);
    req.authorization = fuzz::TakeLine(in);
    req.content_type = fuzz::TakeLine(in);
    req.origin = fuzz::TakeLine(in);
    req.host = fuzz::TakeLine(in);
    req.body = in;
    AdminReply reply = HandleAdmin(app.Get(), req);
    app.Done();
    if (reply.http_status >= 500) fuzz::Fail("admin answered " + reply.body);
    return 0;
}
