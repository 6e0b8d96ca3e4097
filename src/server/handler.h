// One HTTP request in, one HTTP response out, no socket: the admin surface or the KMS API
// (Authenticate, Dispatch) and the headers every reply carries. The server's sessions only do
// I/O around this; the request-path fuzz target calls it directly on parsed bytes.
#pragma once

#include <boost/beast/http.hpp>
#include <string_view>

#include "common/secure_bytes.h"
#include "src/app.h"

namespace kmsd {

// Bodies use the cleansing allocator: plaintext and data keys are wiped when the strings go.
using SecureBody =
    boost::beast::http::basic_string_body<char, std::char_traits<char>, CleansingAllocator<char>>;
using Request = boost::beast::http::request<SecureBody>;
using Response = boost::beast::http::response<SecureBody>;

// The reply to `req` from a client at `peer_ip` (aws:SourceIp; empty if unknown). The reply's
// keep-alive follows the request's; its payload is prepared. Never throws for any request.
Response HandleHttpRequest(App& app, Request& req, std::string_view peer_ip);

// Whether handling `req` may wait on an external key store proxy (then the server runs it off its
// serving threads): the key store operations that reach a proxy, and, once an external key store
// exists, CreateKey, the encryption operations and the clock's advance (it connects stores).
bool MayWaitOnProxy(const App& app, const Request& req);

// The reply to a request the parser refused before it was complete: 413 for a body over the
// limit, 431 for a head over its limit, 503 when the server is short of room for the body, 400
// otherwise. Always closes the connection (the rest of the stream cannot be trusted).
Response HttpErrorResponse(boost::beast::http::status status);

// The HTTP Date header value for now: this thread's copy, valid until its next call (a
// reference, so a reply's header takes it without an intermediate string).
const std::string& HttpDate();

}  // namespace kmsd
