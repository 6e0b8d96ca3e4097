// The HTTP server (Boost.Beast): N worker threads, each running an io_context of its own, so a
// connection's handlers run on one thread at a time and need no strand; one acceptor handing
// each connection to the worker on its client's CPU, and connections that follow their client
// to another worker between requests (placement.h); keep-alive, a fresh parser per request with
// head and body limits, a deadline per request and per reply that a sweep enforces (no timer per
// operation), a shared budget for large bodies in flight, and a bounded drain on SIGINT/SIGTERM. It
// only does I/O: HandleHttpRequest (handler.h) turns each request into Dispatch() calls and admin
// replies.
#pragma once

#include <chrono>
#include <memory>
#include <vector>

#include "src/app.h"

namespace kmsd {

// Largest request body: key policies go up to 32 KB, the largest blobs (ImportKeyMaterial,
// attestation documents) are far below; 512 KiB leaves headroom and stops abuse.
constexpr std::size_t kMaxBodyBytes = 512 * 1024;

// A running server: its threads serve from Start() until Stop(). RunServer drives one from the
// signals; the [server] unit tests drive one over loopback sockets.
class Server {
public:
    // Binds options().server.bind:port (port 0: a free port, see port()) and serves on
    // options().server.threads threads (0: one per core), each calling `on_thread_start` (if
    // set) before it serves. An error when it cannot bind.
    using ThreadStart = void (*)();
    static Result<std::unique_ptr<Server>> Start(App& app, ThreadStart on_thread_start = nullptr);
    ~Server();  // Stop()
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    unsigned short port() const;
    // Open connections, counted from accept to close.
    int connections() const;
    // The same by worker thread (worker 0 first): where connections are served now.
    std::vector<int> connections_by_worker() const;
    // Stops accepting and closes idle connections; a request in flight (or already pipelined)
    // is still answered, with Connection: close. Thread-safe, idempotent.
    void BeginDrain();
    // Waits until no connection is left or `limit` has passed; true when none is left.
    bool WaitIdle(std::chrono::milliseconds limit) const;
    // Stops serving and joins the threads; connections still open are dropped. Idempotent.
    void Stop();

    struct Impl;

private:
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Runs the server until SIGINT/SIGTERM, then drains: the port closes, idle connections close,
// requests in flight finish (at most 5 s; a second signal stops at once). Returns 0, or 2 when
// the address cannot be bound. `on_thread_start` as for Server::Start.
int RunServer(App& app, Server::ThreadStart on_thread_start = nullptr);

}  // namespace kmsd
