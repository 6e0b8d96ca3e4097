// [metrics]: the counters, the Prometheus text format, and GET /_kmsd/metrics after real requests
// through HandleHttpRequest. (promtool checks the page's format in the Python integration test.)
#include "src/metrics.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api/validate.h"
#include "src/app.h"
#include "src/server/handler.h"
#include "support/http_app.h"

namespace {

namespace http = boost::beast::http;

using kmsd::testing::OpenInMemoryApp;

kmsd::Response Send(kmsd::App& app, const std::string& bytes) {
    return kmsd::testing::SendHttp(app, bytes);
}

kmsd::Response Kms(kmsd::App& app, const std::string& op, const std::string& body) {
    return Send(app, kmsd::testing::KmsRequestBytes(op, body));
}

// The page's samples: "name{labels}" -> value.
std::map<std::string, double> Samples(const std::string& page) {
    std::map<std::string, double> out;
    std::size_t pos = 0;
    while (pos < page.size()) {
        std::size_t end = page.find('\n', pos);
        REQUIRE(end != std::string::npos);  // every line ends with a newline
        const std::string line = page.substr(pos, end - pos);
        pos = end + 1;
        if (line.empty() || line[0] == '#') continue;
        const std::size_t space = line.rfind(' ');
        REQUIRE(space != std::string::npos);
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

}  // namespace

TEST_CASE("counters add up over threads and shards", "[metrics]") {
    kmsd::metrics::Counters<3> c;
    std::vector<std::thread> threads;
    for (int t = 0; t < 12; ++t)  // more threads than shards: some share one
        threads.emplace_back([&c] {
            for (int i = 0; i < 1000; ++i) c.Add(1);
            c.Add(2, 5);
        });
    for (auto& t : threads) t.join();
    CHECK(c.Sum(0) == 0);
    CHECK(c.Sum(1) == 12000);
    CHECK(c.Sum(2) == 60);
}

namespace {

long ResidentAnonKb() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line))
        if (line.rfind("RssAnon:", 0) == 0) return std::stol(line.substr(8));
    return -1;
}

}  // namespace

TEST_CASE("a large counter table holds no memory until its counters are used", "[metrics]") {
    // The request table is kOperations x kErrorTypes counters per shard (256 KB in all), most of
    // which an idle server, or any server, never adds to.
    using Table = kmsd::metrics::Counters<kmsd::RequestMetrics::kOperations *
                                          kmsd::RequestMetrics::kErrorTypes>;
    const long before = ResidentAnonKb();
    REQUIRE(before > 0);
    auto table = std::make_unique<Table>();
    CHECK(ResidentAnonKb() - before < 64);  // was 256 KB when the table was zeroed on creation
    table->Add(7);
    table->Add(Table::size() - 1, 3);
    CHECK(table->Sum(7) == 1);
    CHECK(table->Sum(Table::size() - 1) == 3);
    CHECK(table->Sum(8) == 0);
}

TEST_CASE("histograms are cumulative, end in +Inf and count what they saw", "[metrics]") {
    kmsd::metrics::Histogram h;
    for (double s : {0.00001, 0.00005, 0.0003, 0.002, 20.0}) h.Observe(s);
    kmsd::metrics::TextWriter out;
    out.Family("x_seconds", "histogram", "test");
    out.WriteHistogram("x_seconds", kmsd::metrics::Label("a", "b"), h.counters(), 0);
    auto s = Samples(out.text());
    CHECK(s.at("x_seconds_bucket{a=\"b\",le=\"5e-05\"}") == 2);  // bounds are inclusive
    CHECK(s.at("x_seconds_bucket{a=\"b\",le=\"0.0001\"}") == 2);
    CHECK(s.at("x_seconds_bucket{a=\"b\",le=\"0.0005\"}") == 3);
    CHECK(s.at("x_seconds_bucket{a=\"b\",le=\"0.0025\"}") == 4);
    CHECK(s.at("x_seconds_bucket{a=\"b\",le=\"10\"}") == 4);
    CHECK(s.at("x_seconds_bucket{a=\"b\",le=\"+Inf\"}") == 5);
    CHECK(s.at("x_seconds_count{a=\"b\"}") == 5);
    CHECK(s.at("x_seconds_sum{a=\"b\"}") == Approx(20.00236).epsilon(1e-6));
    CHECK(out.text().rfind("# HELP x_seconds test\n# TYPE x_seconds histogram\n", 0) == 0);
}

TEST_CASE("label values are escaped as the text format requires", "[metrics]") {
    CHECK(kmsd::metrics::Label("k", "a\"b\\c\nd") == "k=\"a\\\"b\\\\c\\nd\"");
}

TEST_CASE("every model operation has its own row of request counters", "[metrics]") {
    CHECK(kmsd::api::OperationCount() + 1 <= kmsd::RequestMetrics::kOperations);
    for (std::size_t i = 0; i < kmsd::api::OperationCount(); ++i)
        CHECK(kmsd::api::OperationIndex(kmsd::api::OperationName(i)) == static_cast<int>(i));
    CHECK(kmsd::api::OperationIndex("NoSuchOperation") == -1);
}

TEST_CASE("GET /_kmsd/metrics counts requests by operation and __type", "[metrics][server]") {
    auto app = OpenInMemoryApp();
    REQUIRE(Kms(*app, "CreateKey", "{}").result_int() == 200);
    REQUIRE(Kms(*app, "CreateKey", R"({"KeySpec":"HMAC_256","KeyUsage":"GENERATE_VERIFY_MAC"})")
                .result_int() == 200);
    for (int i = 0; i < 3; ++i)
        REQUIRE(Kms(*app, "GenerateRandom", R"({"NumberOfBytes":8})").result_int() == 200);
    REQUIRE(Kms(*app, "DescribeKey", R"({"KeyId":"alias/none"})").result_int() == 400);
    REQUIRE(Kms(*app, "NoSuchThing", "{}").result_int() == 400);

    const kmsd::Response res = Send(*app, "GET /_kmsd/metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
    REQUIRE(res.result_int() == 200);
    CHECK(res[http::field::content_type] == "text/plain; version=0.0.4; charset=utf-8");
    const std::string page(res.body().data(), res.body().size());
    auto s = Samples(page);
    CHECK(s.at("kmsd_requests_total{operation=\"CreateKey\",error_type=\"none\"}") == 2);
    CHECK(s.at("kmsd_requests_total{operation=\"GenerateRandom\",error_type=\"none\"}") == 3);
    CHECK(s.at("kmsd_requests_total{operation=\"DescribeKey\",error_type=\"NotFoundException\"}") ==
          1);
    CHECK(s.at("kmsd_requests_total{operation=\"unknown\",error_type="
               "\"UnknownOperationException\"}") == 1);
    CHECK(s.at("kmsd_request_duration_seconds_count{operation=\"GenerateRandom\"}") == 3);
    CHECK(s.at("kmsd_request_duration_seconds_bucket{operation=\"GenerateRandom\",le=\"+Inf\"}") ==
          3);
    CHECK(s.count("kmsd_request_duration_seconds_count{operation=\"Encrypt\"}") == 0);  // unused
    CHECK(s.at("kmsd_keys{state=\"Enabled\",key_spec=\"SYMMETRIC_DEFAULT\",origin=\"AWS_KMS\"}") ==
          1);
    CHECK(s.at("kmsd_keys{state=\"Enabled\",key_spec=\"HMAC_256\",origin=\"AWS_KMS\"}") == 1);
    CHECK(s.at("kmsd_sqlite_write_duration_seconds_count") >= 2);  // a write per CreateKey
    CHECK(s.at("kmsd_open_connections") == 0);                     // no server here
    CHECK(s.at("kmsd_scheduler_runs_total") >= 1);                 // the run before serving
    CHECK(s.count("kmsd_scheduled_work_total{kind=\"rotation\"}") == 1);
    // Each call of a model operation is an audit record (NoSuchThing is not one); no file.
    CHECK(s.at("kmsd_audit_ring_records") == 6);
    CHECK(s.at("kmsd_audit_queue_depth") == 0);
    CHECK(s.at("kmsd_audit_dropped_total") == 0);
    CHECK(s.at("kmsd_audit_written_total") == 0);
    // The admin surface is not counted as KMS requests.
    CHECK(page.find("_kmsd") == std::string::npos);

    // Only GET; with a token set, only with the token.
    CHECK(Send(*app, "POST /_kmsd/metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").result_int() ==
          405);
}

TEST_CASE("GET /_kmsd/metrics needs the admin token when one is set", "[metrics][server]") {
    kmsd::Options options;
    options.storage.in_memory = true;
    options.server.admin_token = "s3cret";
    auto app = kmsd::App::Open(options);
    REQUIRE(app.ok());
    CHECK(Send(**app, "GET /_kmsd/metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").result_int() ==
          401);
    CHECK(Send(**app,
               "GET /_kmsd/metrics HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
               "s3cret\r\n\r\n")
              .result_int() == 200);
}
