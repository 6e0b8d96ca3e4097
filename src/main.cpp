// kmsd: parse options, open storage, unlock the HSM, serve.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <iostream>

#include "src/app.h"
#include "src/options.h"
#include "src/server/server.h"

namespace {

// `kmsd healthcheck`: for images without curl.
int HealthCheck(int port) {
    namespace beast = boost::beast;
    namespace http = beast::http;
    try {
        boost::asio::io_context ioc;
        beast::tcp_stream stream(ioc);
        stream.expires_after(std::chrono::seconds(3));
        stream.connect(
            {boost::asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)});
        http::request<http::empty_body> req{http::verb::get, "/_kmsd/health", 11};
        req.set(http::field::host, "127.0.0.1");
        http::write(stream, req);
        beast::flat_buffer buffer;
        http::response<http::string_body> res;
        http::read(stream, buffer, res);
        return res.result() == http::status::ok ? 0 : 1;
    } catch (const std::exception&) {
        return 1;
    }
}

}  // namespace

int main(int argc, char** argv) {
    int exit_code = 0;
    auto options = kmsd::ParseOptions(argc, argv, exit_code);
    if (!options.ok()) return exit_code;
    if (options->healthcheck) return HealthCheck(options->server.port);

    // Thousands of keep-alive clients need descriptors: raise the soft limit to the hard one.
    if (rlimit lim{}; getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    spdlog::set_default_logger(spdlog::stderr_color_mt("kmsd"));
    spdlog::set_level(spdlog::level::from_str(options->log_level));

    auto app = kmsd::App::Open(*options);
    if (!app.ok()) {
        spdlog::critical("cannot start: {}", app.status().message());
        std::cerr << "kmsd: cannot start: " << app.status().message() << "\n";
        return 1;
    }
    return kmsd::RunServer(**app);
}
