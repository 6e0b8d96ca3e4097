#include "src/server/server.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "src/server/handler.h"

namespace kmsd {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

class Session : public std::enable_shared_from_this<Session> {
public:
    // `connections` is shared: at shutdown the io_context destroys pending sessions after the
    // listener that counts them is gone.
    Session(tcp::socket&& socket, App& app, std::shared_ptr<std::atomic<int>> connections)
        : stream_(std::move(socket)), app_(app), connections_(std::move(connections)) {
        beast::error_code ec;
        auto peer = stream_.socket().remote_endpoint(ec);
        if (!ec) peer_ip_ = peer.address().to_string();  // aws:SourceIp
    }
    ~Session() { connections_->fetch_sub(1, std::memory_order_relaxed); }

    void Start() {
        // Run on the connection's strand: handlers of one connection never race on the socket.
        asio::dispatch(stream_.get_executor(),
                       beast::bind_front_handler(&Session::DoRead, shared_from_this()));
    }

private:
    void DoRead() {
        parser_.emplace();
        parser_->body_limit(kMaxBodyBytes);
        parser_->header_limit(16 * 1024);
        // The whole request (headers and body) must arrive within the timeout: a client that
        // never finishes its headers is cut off.
        stream_.expires_after(std::chrono::seconds(app_.options().server.request_timeout_seconds));
        http::async_read_header(
            stream_, buffer_, *parser_,
            beast::bind_front_handler(&Session::OnReadHeader, shared_from_this()));
    }

    void OnReadHeader(beast::error_code ec, std::size_t bytes) {
        if (ec) return OnRead(ec, bytes);
        if (!beast::iequals(parser_->get()[http::field::expect], "100-continue")) return ReadBody();
        // The client waits for this before it sends the body (curl does for bodies > 1 KiB).
        continue_ = std::make_unique<http::response<http::empty_body>>(http::status::continue_, 11);
        http::async_write(stream_, *continue_,
                          [self = shared_from_this()](beast::error_code wec, std::size_t) {
                              self->continue_.reset();
                              if (wec) return self->Close();
                              self->ReadBody();
                          });
    }

    void ReadBody() {
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&Session::OnRead, shared_from_this()));
    }

    void OnRead(beast::error_code ec, std::size_t /*bytes*/) {
        if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
            ec == asio::error::connection_reset || ec == asio::error::eof)
            return Close();
        if (ec == http::error::body_limit) return SendError(http::status::payload_too_large);
        if (ec) return SendError(http::status::bad_request);
        Handle(parser_->release());
    }

    void SendError(http::status status) { Write(HttpErrorResponse(status)); }

    void Handle(Request req) { Write(HandleHttpRequest(app_, req, peer_ip_)); }

    void Write(Response res) {
        res_ = std::make_unique<Response>(std::move(res));
        http::async_write(
            stream_, *res_,
            beast::bind_front_handler(&Session::OnWrite, shared_from_this(), res_->keep_alive()));
    }

    void OnWrite(bool keep_alive, beast::error_code ec, std::size_t /*bytes*/) {
        res_.reset();  // frees (and wipes) the response body right after it is sent
        if (ec || !keep_alive) return Close();
        DoRead();
    }

    void Close() {
        beast::error_code ec;
        stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    }

    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<SecureBody>> parser_;
    std::unique_ptr<Response> res_;
    std::unique_ptr<http::response<http::empty_body>> continue_;
    App& app_;
    std::shared_ptr<std::atomic<int>> connections_;
    std::string peer_ip_;
};

class Listener : public std::enable_shared_from_this<Listener> {
public:
    Listener(asio::io_context& ioc, App& app) : ioc_(ioc), acceptor_(ioc), retry_(ioc), app_(app) {}

    beast::error_code Listen(const tcp::endpoint& endpoint) {
        beast::error_code ec;
        acceptor_.open(endpoint.protocol(), ec);
        if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor_.bind(endpoint, ec);
        if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        return ec;
    }

    void DoAccept() {
        // The new connection gets its own strand.
        acceptor_.async_accept(asio::make_strand(ioc_),
                               beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
    }

    void Stop() {
        beast::error_code ec;
        acceptor_.close(ec);
    }

private:
    void OnAccept(beast::error_code ec, tcp::socket socket) {
        if (ec == asio::error::operation_aborted) return;  // stopping
        if (ec) {
            // EMFILE and friends: never stop accepting; wait a little and try again.
            spdlog::warn("accept failed: {}", ec.message());
            retry_.expires_after(std::chrono::milliseconds(50));
            retry_.async_wait([self = shared_from_this()](beast::error_code) { self->DoAccept(); });
            return;
        }
        if (connections_->fetch_add(1, std::memory_order_relaxed) >=
            app_.options().server.max_connections) {
            connections_->fetch_sub(1, std::memory_order_relaxed);
            beast::error_code ignored;
            socket.close(ignored);
        } else {
            std::make_shared<Session>(std::move(socket), app_, connections_)->Start();
        }
        DoAccept();
    }

    asio::io_context& ioc_;
    tcp::acceptor acceptor_;
    asio::steady_timer retry_;
    App& app_;
    std::shared_ptr<std::atomic<int>> connections_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace

int RunServer(App& app) {
    const auto& opts = app.options().server;
    int threads = opts.threads > 0
                      ? opts.threads
                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    asio::io_context ioc{threads};
    beast::error_code ec;
    auto address = asio::ip::make_address(opts.bind, ec);
    if (ec) {
        spdlog::critical("bad --bind address {}: {}", opts.bind, ec.message());
        return 2;
    }
    auto listener = std::make_shared<Listener>(ioc, app);
    if ((ec = listener->Listen({address, static_cast<unsigned short>(opts.port)}))) {
        spdlog::critical("cannot listen on {}:{}: {}", opts.bind, opts.port, ec.message());
        return 2;
    }
    listener->DoAccept();

    asio::signal_set signals(ioc, SIGINT, SIGTERM);
    signals.async_wait([&](beast::error_code, int sig) {
        spdlog::info("signal {}: stopping", sig);
        listener->Stop();
        ioc.stop();
    });
    spdlog::info("kmsd listening on {}:{} ({} threads)", opts.bind, opts.port, threads);

    std::vector<std::thread> pool;
    for (int i = 1; i < threads; ++i) pool.emplace_back([&ioc] { ioc.run(); });
    ioc.run();
    for (auto& t : pool) t.join();
    return 0;
}

}  // namespace kmsd
