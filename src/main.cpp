// kmsd: parse options, open storage, unlock the HSM, serve.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <iostream>
#include <string_view>

#include "src/app.h"
#include "src/huge_pages.h"
#include "src/logging.h"
#include "src/options.h"
#include "src/server/server.h"
#include "src/xks/proxy.h"

namespace {

// `kmsd healthcheck`: for images without curl. A plain socket and one status line: an HTTP client
// library here would cost the build more than the server's own I/O code does.
int HealthCheck(int port) {
    using Clock = std::chrono::steady_clock;
    const auto deadline = Clock::now() + std::chrono::seconds(3);
    auto wait_for = [&](int fd, short events) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        pollfd p{fd, events, 0};
        return left.count() > 0 && poll(&p, 1, static_cast<int>(left.count())) == 1;
    };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return 1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = false;
    if ((connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 ||
         errno == EINPROGRESS) &&
        wait_for(fd, POLLOUT)) {
        int err = 0;
        socklen_t len = sizeof err;
        constexpr std::string_view kRequest =
            "GET /_kmsd/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0 &&
            send(fd, kRequest.data(), kRequest.size(), MSG_NOSIGNAL) ==
                static_cast<ssize_t>(kRequest.size())) {
            // Only the status line matters: "HTTP/1.1 200 ".
            char head[16] = {};
            std::size_t got = 0;
            while (got < 13 && wait_for(fd, POLLIN)) {
                ssize_t n = recv(fd, head + got, 13 - got, 0);
                if (n <= 0) break;
                got += static_cast<std::size_t>(n);
            }
            ok = got == 13 && std::memcmp(head, "HTTP/1.1 200 ", 13) == 0;
        }
    }
    close(fd);
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    // kmsd never prints OpenSSL's error texts (its errors are KMS's), so the tables of them are
    // not loaded into hash tables at the first OpenSSL call: less memory and startup work.
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CRYPTO_STRINGS, nullptr);
    OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_SSL_STRINGS, nullptr);
    if (argc > 1 && std::string_view(argv[1]) == "xks-proxy")
        return kmsd::xks::RunProxyCommand(argc, argv);
    int exit_code = 0;
    auto options = kmsd::ParseOptions(argc, argv, exit_code);
    if (!options.ok()) return exit_code;
    if (options->healthcheck) return HealthCheck(options->server.port);

    // Thousands of keep-alive clients need descriptors: raise the soft limit to the hard one.
    if (rlimit lim{}; getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    kmsd::SetUpLogging(options->log_level, options->log_format);
    // Before the catalog loads: a large one is the heap this is for.
    const bool huge_pages = kmsd::AdviseHugePagesForLargeHeaps();
    spdlog::debug("huge pages for large heaps: {}", huge_pages ? "advised" : "not available");

    auto app = kmsd::App::Open(*options);
    if (!app.ok()) {
        spdlog::critical("cannot start: {}", app.status().message());
        std::cerr << "kmsd: cannot start: " << app.status().message() << "\n";
        return 1;
    }
    kmsd::ReturnFreePages();
    // The serving threads' arenas too: they hold the keys made at runtime. Under a random key of
    // 100,000 such keys, each request's record, usage slot and material had been TLB misses in
    // 4 KB pages.
    return kmsd::RunServer(**app, [] { kmsd::AdviseHugePagesForLargeHeaps(); });
}
