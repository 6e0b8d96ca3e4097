// The admin request parser: HandleAdmin with the method, path, Authorization, Content-Type,
// Origin and Host headers taken from the input, one per line (the rest of the input is the
// body), on an App that has an admin token ("fuzz-token"), so both sides of the token check are
// reachable. GET /_kmsd/audit's query parser and record formatting are reached through it (two
// KMS calls leave records first).
#include "fuzz/fuzz_common.h"
#include "src/admin.h"
#include "src/app.h"

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
    App& kms = app.Get();
    if (req.path.find("audit") != std::string_view::npos) {
        // Records for GET /_kmsd/audit to filter and format: a success and a failure.
        const api::Caller root{"111122223333", "us-east-1", "arn:aws:iam::111122223333:root",
                               "AKIAFUZZ",     nullptr,     "127.0.0.1",
                               "fuzz"};
        const std::string ct = "application/x-amz-json-1.1";
        kms.dispatcher().Dispatch(root, "TrentService.ListKeys", ct, "{}", "fuzz-1");
        kms.dispatcher().Dispatch(root, "TrentService.DescribeKey", ct, R"({"KeyId":"alias/none"})",
                                  "fuzz-2");
    }
    AdminReply reply = HandleAdmin(kms, req);
    app.Done();
    if (reply.http_status >= 500) fuzz::Fail("admin answered " + reply.body);
    return 0;
}
