// Shared helpers for tests that drive a whole in-memory App through HandleHttpRequest without a
// socket: raw HTTP bytes go through Beast's parser, as the request-path fuzz target drives them.
#pragma once

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <memory>
#include <string>

#include "src/app.h"
#include "src/server/handler.h"
#include "src/server/server.h"

namespace kmsd::testing {

inline std::unique_ptr<App> OpenInMemoryApp(Options options = {}) {
    options.storage.in_memory = true;
    auto app = App::Open(options);
    REQUIRE(app.ok());
    return std::move(*app);
}

// The raw bytes of a KMS JSON 1.1 request; `extra_headers` are whole "Name: value\r\n" lines.
inline std::string KmsRequestBytes(const std::string& op, const std::string& body,
                                   const std::string& extra_headers = "") {
    return "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: TrentService." + op +
           "\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

inline Request ParseHttpRequest(const std::string& bytes) {
    boost::beast::http::request_parser<SecureBody> parser;
    parser.body_limit(kMaxBodyBytes);
    parser.eager(true);
    boost::beast::error_code ec;
    parser.put(boost::asio::buffer(bytes), ec);
    REQUIRE(!ec);
    REQUIRE(parser.is_done());
    return parser.release();
}

inline Response SendHttp(App& app, const std::string& bytes) {
    Request req = ParseHttpRequest(bytes);
    return HandleHttpRequest(app, req, "127.0.0.1");
}

inline std::string BodyOf(const Response& res) {
    return std::string(res.body().data(), res.body().size());
}

}  // namespace kmsd::testing
