// HandleHttpRequest and HttpErrorResponse without a socket: bytes through Beast's parser, as the
// request-path fuzz target drives them.
#include "src/server/server.h"

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "src/app.h"
#include "src/server/handler.h"
#include "support/http_app.h"

namespace {

namespace http = boost::beast::http;
using kmsd::Request;
using kmsd::Response;

using kmsd::testing::BodyOf;
using kmsd::testing::KmsRequestBytes;
using kmsd::testing::OpenInMemoryApp;
using kmsd::testing::ParseHttpRequest;

}  // namespace

TEST_CASE("HandleHttpRequest answers a KMS request with AWS's headers", "[server]") {
    auto app = OpenInMemoryApp();
    Request req = ParseHttpRequest(KmsRequestBytes("GenerateRandom", R"({"NumberOfBytes": 16})"));
    Response res = kmsd::HandleHttpRequest(*app, req, "127.0.0.1");
    CHECK(res.result_int() == 200);
    CHECK(res[http::field::content_type] == "application/x-amz-json-1.1");
    CHECK(res["x-amzn-RequestId"].size() == 36);
    CHECK(!res[http::field::date].empty());
    CHECK(res[http::field::content_length] == std::to_string(res.body().size()));
    CHECK(res.keep_alive());
    auto doc = nlohmann::json::parse(BodyOf(res));
    CHECK(doc["Plaintext"].get<std::string>().size() == 24);  // base64 of 16 bytes
}

TEST_CASE("HandleHttpRequest reports errors with x-amzn-ErrorType", "[server]") {
    auto app = OpenInMemoryApp();
    Request req = ParseHttpRequest(KmsRequestBytes("GenerateRandom", "{\"NumberOfBytes\": "));
    Response res = kmsd::HandleHttpRequest(*app, req, "");
    CHECK(res.result_int() == 400);
    CHECK(res["x-amzn-ErrorType"] == "SerializationException");
    CHECK(nlohmann::json::parse(BodyOf(res))["__type"] == "SerializationException");

    Request get = ParseHttpRequest("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    Response res2 = kmsd::HandleHttpRequest(*app, get, "");
    // README: anything but POST / with a TrentService target is UnknownOperationException.
    CHECK(res2.result_int() == 400);
    CHECK(res2["x-amzn-ErrorType"] == "UnknownOperationException");
    CHECK(nlohmann::json::parse(BodyOf(res2))["__type"] == "UnknownOperationException");
}

TEST_CASE("HandleHttpRequest finds its headers in any case, the first of a repeated one",
          "[server]") {
    auto app = OpenInMemoryApp();
    const std::string body = R"({"NumberOfBytes": 16})";
    const auto bytes = [&body](const std::string& headers) {
        return "POST / HTTP/1.1\r\nHost: localhost\r\n" + headers +
               "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    };
    const auto send = [&](const std::string& headers) {
        Request req = ParseHttpRequest(bytes(headers));
        return kmsd::HandleHttpRequest(*app, req, "");
    };
    const std::string target = "x-amz-target: TrentService.GenerateRandom\r\n";
    const std::string other = "X-AMZ-TARGET: TrentService.CreateCustomKeyStore\r\n";
    const std::string json = "content-type: application/x-amz-json-1.1\r\n";
    const std::string text = "CONTENT-TYPE: text/plain\r\n";
    Response ok = send(target + other + json + text);
    CHECK(ok.result_int() == 200);
    CHECK(nlohmann::json::parse(BodyOf(ok))["Plaintext"].get<std::string>().size() == 24);
    // With the other first, CreateCustomKeyStore runs (and refuses the body); a text/plain
    // content type first is refused.
    CHECK(send(other + target + json)["x-amzn-ErrorType"] == "ValidationException");
    CHECK(send(target + text + json)["x-amzn-ErrorType"] == "UnknownOperationException");
    // The store operations may reach a proxy: run off the serving threads, whatever the case.
    CHECK(kmsd::MayWaitOnProxy(*app, ParseHttpRequest(bytes(other + target))));
    CHECK_FALSE(kmsd::MayWaitOnProxy(*app, ParseHttpRequest(bytes(target + other))));
}

TEST_CASE("HandleHttpRequest serves the admin surface", "[server]") {
    auto app = OpenInMemoryApp();
    Request req = ParseHttpRequest("GET /_kmsd/health HTTP/1.0\r\n\r\n");
    Response res = kmsd::HandleHttpRequest(*app, req, "");
    CHECK(res.result_int() == 200);
    CHECK(res[http::field::content_type] == "application/json");
    CHECK(nlohmann::json::parse(BodyOf(res)) == nlohmann::json{{"status", "ok"}});
    CHECK(!res.keep_alive());  // HTTP/1.0 without keep-alive
}

TEST_CASE("HttpErrorResponse closes the connection with a JSON message", "[server]") {
    for (auto [status, message] :
         {std::pair{http::status::payload_too_large, "Request body too large"},
          std::pair{http::status::request_header_fields_too_large,
                    "Request header fields too large"},
          std::pair{http::status::bad_request, "Bad request"},
          std::pair{http::status::service_unavailable,
                    "Too many large requests in flight; retry"}}) {
        Response res = kmsd::HttpErrorResponse(status);
        CHECK(res.result() == status);
        CHECK(!res.keep_alive());
        CHECK(res[http::field::content_type] == "application/json");
        CHECK(res[http::field::content_length] == std::to_string(res.body().size()));
        CHECK(nlohmann::json::parse(BodyOf(res))["message"] == message);
        CHECK((res[http::field::retry_after] == "1") ==
              (status == http::status::service_unavailable));
    }
}
