#include "src/xks/transport.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <ctime>
#include <mutex>
#include <thread>
#include <vector>

#include "auth/sigv4.h"

namespace kmsd::xks {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using api::xks::Failure;

namespace {

constexpr std::string_view kScheme = "https://";
constexpr std::string_view kService = "kms-xks-proxy";
// The largest answer the specification allows is a few KB (4300 bytes of ciphertext in base64
// and its fields); more is not read.
constexpr std::size_t kMaxAnswerBytes = 64 * 1024;

// How far a call got: what failed, when it fails.
enum class Stage { kConnect, kHandshake, kExchange, kDone };

Failure FailureAt(Stage stage) {
    switch (stage) {
        case Stage::kHandshake:
            return Failure::kTls;
        case Stage::kDone:
            return Failure::kNone;
        default:
            return Failure::kUnreachable;
    }
}

// Name resolution runs on a thread of its own, waited for at most the call's timeout: getaddrinfo
// cannot be cancelled, and a machine without a name server can keep it for seconds. Such
// threads are few (kMaxResolving); beyond that a call fails as unreachable at once.
constexpr int kMaxResolving = 16;
std::atomic<int> resolving{0};

struct Resolution {
    std::mutex mu;
    std::condition_variable done_cv;
    bool done = false;
    std::vector<tcp::endpoint> endpoints;
};

std::vector<tcp::endpoint> Resolve(const std::string& host, const std::string& port,
                                   std::chrono::milliseconds timeout) {
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(host, ec);
    if (!ec) return {tcp::endpoint(ip, static_cast<unsigned short>(std::stoi(port)))};
    if (resolving.fetch_add(1) >= kMaxResolving) {
        resolving.fetch_sub(1);
        return {};
    }
    auto state = std::make_shared<Resolution>();
    std::thread thread;
    try {
        thread = std::thread([state, host, port] {
            std::vector<tcp::endpoint> found;
            asio::io_context ioc;
            tcp::resolver resolver(ioc);
            boost::system::error_code rec;
            for (const auto& entry : resolver.resolve(host, port, rec))
                found.push_back(entry.endpoint());
            {
                std::lock_guard lock(state->mu);
                state->endpoints = std::move(found);
                state->done = true;
            }
            state->done_cv.notify_all();
            resolving.fetch_sub(1);
        });
    } catch (const std::system_error&) {
        resolving.fetch_sub(1);  // no thread: nothing will give the slot back
        return {};
    }
    thread.detach();
    std::unique_lock lock(state->mu);
    state->done_cv.wait_for(lock, timeout, [&] { return state->done; });
    return state->endpoints;
}

}  // namespace

Status AddEndpointMapping(TransportOptions& options, std::string_view mapping) {
    const auto eq = mapping.find('=');
    const auto colon = mapping.rfind(':');
    if (eq == std::string_view::npos || eq == 0 || colon == std::string_view::npos ||
        colon < eq + 2 || colon + 1 == mapping.size())
        return Error(ErrorCode::kValidation, "--xks-endpoint-map wants host=address:port, not '" +
                                                 std::string(mapping) + "'");
    const std::string_view port = mapping.substr(colon + 1);
    const bool digits = port.size() <= 5 && std::all_of(port.begin(), port.end(), [](char c) {
                            return c >= '0' && c <= '9';
                        });
    if (!digits || std::stoi(std::string(port)) < 1 || std::stoi(std::string(port)) > 65535)
        return Error(ErrorCode::kValidation, "--xks-endpoint-map: the port of '" +
                                                 std::string(mapping) + "' is not 1-65535");
    options.endpoint_map[std::string(mapping.substr(0, eq))] = std::string(mapping.substr(eq + 1));
    return Status::Ok();
}

std::string AmzDateNow() {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
    return buf;
}

std::string XksAuthorization(const api::xks::Endpoint& endpoint, std::string_view host,
                             std::string_view target, std::string_view amz_date,
                             std::string_view body) {
    auth::SignedRequest req;
    req.method = "POST";
    req.target = std::string(target);
    req.headers = {{"host", std::string(host)}, {"x-amz-date", std::string(amz_date)}};
    req.body = body;
    auth::Credential scope;
    scope.access_key_id = endpoint.access_key_id;
    scope.date = std::string(amz_date.substr(0, 8));
    scope.region = endpoint.region;
    scope.service = std::string(kService);
    scope.signed_headers = {"host", "x-amz-date"};
    const std::string canonical = auth::CanonicalRequest(req, scope.signed_headers);
    const std::string signature =
        auth::Sign(std::string_view(endpoint.secret.data(), endpoint.secret.size()),
                   std::string(amz_date), scope, canonical);
    return "AWS4-HMAC-SHA256 Credential=" + scope.access_key_id + "/" + scope.date + "/" +
           scope.region + "/" + scope.service + "/aws4_request, SignedHeaders=host;x-amz-date, " +
           "Signature=" + signature;
}

namespace {

// The client's TLS settings: TLS 1.2 or later (the specification's minimum for a proxy), the
// peer verified against the system's CAs and `ca_file`'s.
Result<std::unique_ptr<ssl::context>> MakeTlsContext(const std::string& ca_file) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    ctx->set_default_verify_paths(ec);
    if (!ca_file.empty()) {
        ctx->load_verify_file(ca_file, ec);
        if (ec)
            return Error(
                ErrorCode::kValidation,
                "--xks-ca-file " + ca_file + ": cannot load certificates (" + ec.message() + ")");
    }
    ctx->set_verify_mode(ssl::verify_peer);
    return ctx;
}

}  // namespace

Result<std::unique_ptr<HttpsTransport>> HttpsTransport::Create(TransportOptions options) {
    // A bad CA file stops the start; the context itself is made on the first call (loading the
    // system's CAs costs startup time and memory that a server without external key stores
    // never needs).
    if (!options.ca_file.empty()) KMSD_RETURN_IF_ERROR(MakeTlsContext(options.ca_file).status());
    return std::unique_ptr<HttpsTransport>(new HttpsTransport(std::move(options)));
}

Result<ssl::context*> HttpsTransport::Tls() {
    std::lock_guard lock(tls_mu_);
    if (!tls_) {
        KMSD_ASSIGN_OR_RETURN(tls_, MakeTlsContext(options_.ca_file));
    }
    return tls_.get();
}

Failure HttpsTransport::Post(const api::xks::Endpoint& endpoint, std::string_view path,
                             std::string_view body, int& status, std::string& answer) {
    // Nothing a proxy (or the machine: no thread, no memory) does may escape as an exception: the
    // caller may be the scheduler's thread.
    try {
        return Exchange(endpoint, path, body, status, answer);
    } catch (const std::exception&) {
        return Failure::kUnreachable;
    }
}

Failure HttpsTransport::Exchange(const api::xks::Endpoint& endpoint, std::string_view path,
                                 std::string_view body, int& status, std::string& answer) {
    if (endpoint.uri_endpoint.compare(0, kScheme.size(), kScheme) != 0)
        return Failure::kUnreachable;
    const std::string host = endpoint.uri_endpoint.substr(kScheme.size());
    std::string address = host;
    std::string port = "443";
    if (auto it = options_.endpoint_map.find(host); it != options_.endpoint_map.end()) {
        const auto colon = it->second.rfind(':');
        address = it->second.substr(0, colon);
        port = it->second.substr(colon + 1);
    }
    const std::string target = endpoint.uri_path + std::string(path);
    const std::string amz_date = AmzDateNow();

    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, host);
    req.set("x-amz-date", amz_date);
    req.set(http::field::authorization, XksAuthorization(endpoint, host, target, amz_date, body));
    req.set(http::field::content_type, "application/json");
    req.set(http::field::user_agent, "kmsd-xks-client");
    req.set(http::field::connection, "close");
    req.body() = std::string(body);
    req.prepare_payload();

    const auto started = std::chrono::steady_clock::now();
    const std::vector<tcp::endpoint> endpoints = Resolve(address, port, options_.timeout);
    if (endpoints.empty()) return Failure::kUnreachable;
    const auto left = options_.timeout - std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::steady_clock::now() - started);
    if (left.count() <= 0) return Failure::kTimeout;

    // What the coroutine and its completion write: declared before the io_context, so they
    // outlive the handlers that ~io_context destroys (unrun) after a timeout.
    Stage stage = Stage::kConnect;
    bool finished = false;
    bool garbled = false;  // bytes came back, but not an HTTP answer within the limits
    // A read buffer of bounded size: a chunk-size line without end (`1;aaaa...`) is not bounded
    // by the parser's limits, and would grow an unbounded buffer until the timeout.
    beast::flat_buffer buffer(kMaxAnswerBytes + 16 * 1024);
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxAnswerBytes);
    // Declared before the objects whose operations it runs: destroyed after them.
    asio::io_context ioc;
    auto tls = Tls();
    if (!tls.ok()) return Failure::kTls;
    ssl::stream<beast::tcp_stream> stream(ioc, **tls);

    SSL* handle = stream.native_handle();
    SSL_set_tlsext_host_name(handle, host.c_str());  // SNI
    X509_VERIFY_PARAM_set1_host(SSL_get0_param(handle), host.c_str(), host.size());

    auto exchange = [&]() -> asio::awaitable<void> {
        co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
        stage = Stage::kHandshake;
        co_await stream.async_handshake(ssl::stream_base::client, asio::use_awaitable);
        stage = Stage::kExchange;
        co_await http::async_write(stream, req, asio::use_awaitable);
        co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
        stage = Stage::kDone;
    };
    asio::co_spawn(ioc, exchange(), [&](std::exception_ptr error) {
        finished = true;
        if (!error) return;
        try {
            std::rethrow_exception(error);
        } catch (const boost::system::system_error& e) {
            garbled = e.code().category() ==
                          boost::system::error_code(http::error::bad_version).category() &&
                      e.code() != http::error::end_of_stream &&
                      e.code() != http::error::partial_message;
        } catch (...) {
        }
    });
    ioc.run_for(left);
    if (!finished) {
        ioc.stop();
        return Failure::kTimeout;
    }
    if (garbled) return Failure::kMalformed;
    if (stage != Stage::kDone) return FailureAt(stage);
    status = static_cast<int>(parser.get().result_int());
    answer = std::move(parser.get().body());
    return Failure::kNone;
}

}  // namespace kmsd::xks
