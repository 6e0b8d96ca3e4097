// The HTTP sessions of a real Server on a loopback port, driven byte by byte by a plain POSIX
// client: keep-alive, pipelining, Expect: 100-continue, the head and body limits, the request
// timeout, clients that vanish mid-reply, --max-connections and draining. What the Python
// suites check through the whole binary, here without it, so that the server can be reworked
// (performance issue) with these as the guard.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "src/app.h"
#include "src/server/placement.h"
#include "src/server/server.h"

namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;
using Reply = http::response<http::string_body>;

struct Running {
    std::unique_ptr<kmsd::App> app;
    std::unique_ptr<kmsd::Server> server;
};

Running StartServer(const std::function<void(kmsd::Options&)>& tweak = {},
                    kmsd::Server::ThreadStart on_thread_start = nullptr) {
    kmsd::Options options;
    options.storage.in_memory = true;
    options.server.port = 0;
    options.server.threads = 2;
    if (tweak) tweak(options);
    Running r;
    auto app = kmsd::App::Open(options);
    REQUIRE(app.ok());
    r.app = std::move(*app);
    auto server = kmsd::Server::Start(*r.app, on_thread_start);
    REQUIRE(server.ok());
    r.server = std::move(*server);
    REQUIRE(r.server->port() != 0);
    return r;
}

// Polls `done` every 5 ms for at most 5 s.
bool WaitUntil(const std::function<bool()>& done) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!done()) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(5ms);
    }
    return true;
}

// One blocking TCP connection. Every read gives up after 5 s, so a server that hangs fails the
// test instead of hanging it.
class Client {
public:
    explicit Client(unsigned short port, int receive_buffer = 0) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        REQUIRE(fd_ >= 0);
        if (receive_buffer > 0)
            ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
        timeval tv{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    ~Client() {
        if (fd_ >= 0) ::close(fd_);
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool connected() const { return connected_; }

    // False when the connection is gone.
    bool Send(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // The next response, or nullopt when the connection ends (EOF or reset) before a whole one
    // arrives. A read that waits 5 s fails the test.
    std::optional<Reply> Read() {
        http::response_parser<http::string_body> parser;
        parser.eager(true);
        parser.body_limit(8 * 1024 * 1024);
        for (;;) {
            if (!pending_.empty()) {
                boost::beast::error_code ec;
                const std::size_t used = parser.put(boost::asio::buffer(pending_), ec);
                pending_.erase(0, used);
                if (ec && ec != http::error::need_more) FAIL("unparsable reply: " << ec.message());
                if (parser.is_done()) return parser.release();
                if (used > 0 && !pending_.empty()) continue;
            }
            const int n = Receive();
            if (n <= 0) return std::nullopt;
        }
    }

    // True when the server ends the connection (EOF or reset) within 5 s, whatever it sends first.
    bool Closed() {
        pending_.clear();
        for (;;) {
            const int n = Receive();
            if (n == 0 || n == -ECONNRESET) return true;
            if (n < 0) return false;
            pending_.clear();
        }
    }

    // Goes away with a reset, unread replies and all.
    void Reset() {
        linger lin{1, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &lin, sizeof lin);
        ::close(fd_);
        fd_ = -1;
    }

private:
    // Appends what arrives to pending_: > 0 bytes, 0 at EOF, -errno on an error. A timeout fails.
    int Receive() {
        char buf[16384];
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            FAIL("no reply within 5 s");
        }
        if (n < 0) return -errno;
        pending_.append(buf, static_cast<std::size_t>(n));
        return static_cast<int>(n);
    }

    int fd_ = -1;
    bool connected_ = false;
    std::string pending_;
};

std::string KmsRequest(const std::string& op, const std::string& body,
                       const std::string& extra_headers = "") {
    return "POST / HTTP/1.1\r\nHost: localhost\r\nX-Amz-Target: TrentService." + op +
           "\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

std::string Random(int bytes, const std::string& extra_headers = "") {
    return KmsRequest("GenerateRandom", R"({"NumberOfBytes": )" + std::to_string(bytes) + "}",
                      extra_headers);
}

// The head of a GenerateRandom request that asks for 100 Continue; the body (`body_size`
// bytes) is sent separately.
std::string ExpectContinueHead(std::size_t body_size) {
    return "POST / HTTP/1.1\r\nHost: localhost\r\n"
           "X-Amz-Target: TrentService.GenerateRandom\r\n"
           "Content-Type: application/x-amz-json-1.1\r\n"
           "Expect: 100-continue\r\nContent-Length: " +
           std::to_string(body_size) + "\r\n\r\n";
}

// The number of random bytes a GenerateRandom reply carries (base64 decoded length).
std::size_t RandomBytes(const Reply& reply) {
    const auto doc = nlohmann::json::parse(reply.body());
    const std::string b64 = doc.at("Plaintext").get<std::string>();
    std::size_t pad = 0;
    while (pad < b64.size() && b64[b64.size() - 1 - pad] == '=') ++pad;
    return b64.size() / 4 * 3 - pad;
}

std::string Type(const Reply& reply) {
    return nlohmann::json::parse(reply.body()).value("__type", std::string());
}

}  // namespace

TEST_CASE("one connection serves request after request (keep-alive)", "[server]") {
    auto r = StartServer();
    Client c(r.server->port());
    REQUIRE(c.connected());
    std::set<std::string> ids;
    for (int i = 1; i <= 200; ++i) {
        REQUIRE(c.Send(Random(i % 64 + 1)));
        auto reply = c.Read();
        REQUIRE(reply);
        REQUIRE(reply->result_int() == 200);
        CHECK(reply->keep_alive());
        CHECK(RandomBytes(*reply) == static_cast<std::size_t>(i % 64 + 1));
        ids.insert(std::string((*reply)["x-amzn-RequestId"]));
    }
    CHECK(ids.size() == 200);
    CHECK(r.server->connections() == 1);
    // An error reply keeps the connection too, as AWS's does.
    REQUIRE(c.Send(KmsRequest("NoSuchOperation", "{}")));
    auto bad = c.Read();
    REQUIRE(bad);
    CHECK(bad->result_int() == 400);
    CHECK(Type(*bad) == "UnknownOperationException");
    CHECK(bad->keep_alive());
    REQUIRE(c.Send(Random(3)));
    auto after = c.Read();
    REQUIRE(after);
    CHECK(after->result_int() == 200);
}

TEST_CASE("pipelined requests are answered in order", "[server]") {
    auto r = StartServer();
    Client c(r.server->port());
    std::string burst;
    for (int i = 1; i <= 20; ++i) burst += i == 10 ? KmsRequest("Bogus", "{}") : Random(i);
    burst += Random(21, "Connection: close\r\n");
    REQUIRE(c.Send(burst));
    for (int i = 1; i <= 21; ++i) {
        auto reply = c.Read();
        REQUIRE(reply);
        INFO("reply " << i);
        if (i == 10) {
            CHECK(reply->result_int() == 400);
            CHECK(Type(*reply) == "UnknownOperationException");
            continue;
        }
        REQUIRE(reply->result_int() == 200);
        CHECK(RandomBytes(*reply) == static_cast<std::size_t>(i));
        CHECK(reply->keep_alive() == (i != 21));
    }
    CHECK(c.Closed());
}

TEST_CASE("Expect: 100-continue is answered before the body is sent", "[server]") {
    auto r = StartServer();
    Client c(r.server->port());
    const std::string body = R"({"NumberOfBytes": 32})";
    REQUIRE(c.Send(ExpectContinueHead(body.size())));
    auto interim = c.Read();
    REQUIRE(interim);
    CHECK(interim->result_int() == 100);
    REQUIRE(c.Send(body));
    auto reply = c.Read();
    REQUIRE(reply);
    CHECK(reply->result_int() == 200);
    CHECK(RandomBytes(*reply) == 32);
    // The same connection goes on, without Expect: no interim reply.
    REQUIRE(c.Send(Random(5)));
    auto next = c.Read();
    REQUIRE(next);
    CHECK(next->result_int() == 200);
    CHECK(RandomBytes(*next) == 5);
}

TEST_CASE("heads and bodies over their limits are refused and the connection closes", "[server]") {
    auto r = StartServer();
    SECTION("a declared body over the limit: 413 before it is sent") {
        Client c(r.server->port());
        REQUIRE(
            c.Send("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.Encrypt\r\n"
                   "Content-Length: " +
                   std::to_string(kmsd::kMaxBodyBytes + 1) + "\r\n\r\n"));
        auto reply = c.Read();
        REQUIRE(reply);
        CHECK(reply->result_int() == 413);
        CHECK_FALSE(reply->keep_alive());
        CHECK(c.Closed());
    }
    SECTION("a body at the limit is read (and refused as a request, not by size)") {
        Client c(r.server->port());
        REQUIRE(c.Send(KmsRequest("Encrypt", std::string(kmsd::kMaxBodyBytes, ' '))));
        auto reply = c.Read();
        REQUIRE(reply);
        CHECK(reply->result_int() == 400);
        CHECK(Type(*reply) == "SerializationException");
        CHECK(reply->keep_alive());
    }
    SECTION("a chunked body that grows past the limit: 413") {
        Client c(r.server->port());
        REQUIRE(
            c.Send("POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.Encrypt\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n"));
        const std::string chunk = "10000\r\n" + std::string(0x10000, 'a') + "\r\n";
        bool refused = false;
        for (int i = 0; i < 9 && !refused; ++i) refused = !c.Send(chunk);
        auto reply = c.Read();
        REQUIRE(reply);
        CHECK(reply->result_int() == 413);
        CHECK(c.Closed());
    }
    SECTION("a head over the limit: 431") {
        Client c(r.server->port());
        REQUIRE(
            c.Send("POST / HTTP/1.1\r\nHost: x\r\nX-Pad: " + std::string(20000, 'p') + "\r\n\r\n"));
        auto reply = c.Read();
        REQUIRE(reply);
        CHECK(reply->result_int() == 431);
        CHECK(c.Closed());
    }
    SECTION("bytes that are not HTTP: 400") {
        Client c(r.server->port());
        REQUIRE(c.Send("HELLO THERE\r\n\r\n"));
        auto reply = c.Read();
        REQUIRE(reply);
        CHECK(reply->result_int() == 400);
        CHECK(c.Closed());
    }
    // Whatever came before, the server still serves.
    Client after(r.server->port());
    REQUIRE(after.Send(Random(8)));
    auto reply = after.Read();
    REQUIRE(reply);
    CHECK(reply->result_int() == 200);
}

TEST_CASE("a request that does not arrive in time is cut off", "[server]") {
    auto r = StartServer([](kmsd::Options& o) { o.server.request_timeout_seconds = 1; });
    // Cut off, but not before the second of the timeout has passed.
    const auto started = std::chrono::steady_clock::now();
    const auto waited = [&] { return std::chrono::steady_clock::now() - started; };
    SECTION("a head that never ends") {
        Client c(r.server->port());
        REQUIRE(c.Send("POST / HTTP/1.1\r\nHost: x\r\n"));
        CHECK(c.Closed());
        CHECK(waited() >= 900ms);
    }
    SECTION("a body that never comes") {
        Client c(r.server->port());
        REQUIRE(c.Send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n{"));
        CHECK(c.Closed());
        CHECK(waited() >= 900ms);
    }
    SECTION("a trickled head, a byte every 200 ms") {
        Client c(r.server->port());
        const std::string head = "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: TrentService.";
        bool cut = false;
        for (char ch : head) {
            if (!c.Send(std::string_view(&ch, 1))) {
                cut = true;
                break;
            }
            std::this_thread::sleep_for(200ms);
            if (r.server->connections() == 0) {
                cut = true;
                break;
            }
        }
        CHECK(cut);
        CHECK(waited() >= 900ms);
    }
    SECTION("an idle keep-alive connection") {
        Client c(r.server->port());
        REQUIRE(c.Send(Random(4)));
        auto reply = c.Read();
        REQUIRE(reply);
        CHECK(reply->result_int() == 200);
        CHECK(c.Closed());
        CHECK(waited() >= 900ms);
    }
    CHECK(WaitUntil([&] { return r.server->connections() == 0; }));
}

TEST_CASE("a client that goes away mid-reply disturbs no one", "[server]") {
    auto r = StartServer();
    Client steady(r.server->port());
    REQUIRE(steady.Send(Random(1)));
    REQUIRE(steady.Read());
    {
        // About 1.4 MB of replies to a client that reads one of them and resets: the server is
        // blocked writing to it when it goes.
        Client gone(r.server->port(), 4096);
        std::string burst;
        for (int i = 0; i < 1000; ++i) burst += Random(1024);
        REQUIRE(gone.Send(burst));
        auto first = gone.Read();
        REQUIRE(first);
        CHECK(first->result_int() == 200);
        REQUIRE(WaitUntil([&] { return r.server->connections() == 2; }));
        gone.Reset();
    }
    CHECK(WaitUntil([&] { return r.server->connections() == 1; }));
    for (int i = 0; i < 10; ++i) {
        REQUIRE(steady.Send(Random(16)));
        auto reply = steady.Read();
        REQUIRE(reply);
        CHECK(RandomBytes(*reply) == 16);
    }
}

TEST_CASE("connections over --max-connections are closed, the others served", "[server]") {
    auto r = StartServer([](kmsd::Options& o) { o.server.max_connections = 3; });
    std::vector<std::unique_ptr<Client>> open;
    for (int i = 0; i < 3; ++i) {
        open.push_back(std::make_unique<Client>(r.server->port()));
        REQUIRE(open.back()->Send(Random(2)));
        REQUIRE(open.back()->Read());
    }
    CHECK(r.server->connections() == 3);
    Client extra(r.server->port());
    extra.Send(Random(2));  // may already fail: the server has closed it
    CHECK(extra.Closed());
    for (auto& c : open) {
        REQUIRE(c->Send(Random(7)));
        auto reply = c->Read();
        REQUIRE(reply);
        CHECK(RandomBytes(*reply) == 7);
    }
    // A closed connection makes room for a new one.
    open.pop_back();
    REQUIRE(WaitUntil([&] { return r.server->connections() == 2; }));
    Client next(r.server->port());
    REQUIRE(next.Send(Random(9)));
    auto reply = next.Read();
    REQUIRE(reply);
    CHECK(RandomBytes(*reply) == 9);
}

TEST_CASE("draining closes idle connections and answers the request in flight", "[server]") {
    auto r = StartServer();
    Client idle(r.server->port());
    REQUIRE(idle.Send(Random(2)));
    REQUIRE(idle.Read());
    // A request whose head has been read (the 100 Continue says so) and whose body is still to
    // come when the drain begins.
    Client busy(r.server->port());
    const std::string body = R"({"NumberOfBytes": 12})";
    REQUIRE(busy.Send(ExpectContinueHead(body.size())));
    auto interim = busy.Read();
    REQUIRE(interim);
    REQUIRE(interim->result_int() == 100);

    r.server->BeginDrain();
    CHECK(idle.Closed());
    REQUIRE(busy.Send(body));
    auto reply = busy.Read();
    REQUIRE(reply);
    CHECK(reply->result_int() == 200);
    CHECK(RandomBytes(*reply) == 12);
    CHECK_FALSE(reply->keep_alive());
    CHECK(busy.Closed());
    CHECK(r.server->WaitIdle(std::chrono::milliseconds(5000)));
    // No new connection is accepted.
    CHECK(WaitUntil([&] { return !Client(r.server->port()).connected(); }));
    r.server->Stop();
}

namespace {

// The scheduling slice of thread `tid` in ns (sched_getattr's sched_runtime), or 0.
std::uint64_t SliceOf(pid_t tid) {
    // struct sched_attr, SCHED_ATTR_SIZE_VER0: sched_runtime is at offset 24.
    alignas(8) unsigned char attr[48] = {};
    if (::syscall(SYS_sched_getattr, tid, attr, sizeof attr, 0) != 0) return 0;
    std::uint64_t runtime = 0;
    std::memcpy(&runtime, attr + 24, sizeof runtime);
    return runtime;
}

// Whether this kernel keeps a slice a thread asks for (Linux 6.12 and later).
bool KernelKeepsSlices() {
    std::uint64_t kept = 0;
    std::thread probe([&] {
        alignas(8) unsigned char attr[48] = {};
        if (::syscall(SYS_sched_getattr, 0, attr, sizeof attr, 0) != 0) return;
        const std::uint32_t size = sizeof attr;
        const std::uint64_t want = 200'000;
        std::memcpy(attr, &size, sizeof size);
        std::memcpy(attr + 24, &want, sizeof want);
        if (::syscall(SYS_sched_setattr, 0, attr, 0) == 0) kept = SliceOf(::gettid());
    });
    probe.join();
    return kept == 200'000;
}

// The threads of this process named `kmsd-worker-*`, by name.
std::map<std::string, pid_t> WorkerThreads() {
    std::map<std::string, pid_t> found;
    for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
        std::ifstream comm(task.path() / "comm");
        std::string name;
        if (std::getline(comm, name) && name.starts_with("kmsd-worker-"))
            found[name] = static_cast<pid_t>(std::stoi(task.path().filename().string()));
    }
    return found;
}

}  // namespace

TEST_CASE("serving threads are named and ask for a short scheduling slice", "[server]") {
    auto r = StartServer();
    // The threads name themselves as they start.
    REQUIRE(WaitUntil([] { return WorkerThreads().size() == 2; }));
    const auto workers = WorkerThreads();
    CHECK(workers.count("kmsd-worker-0") == 1);
    CHECK(workers.count("kmsd-worker-1") == 1);
    if (!KernelKeepsSlices()) {
        WARN("this kernel has no per-task slices (Linux < 6.12): only the names are checked");
    } else {
        // 100 us; this thread, which never asked, keeps the kernel's default.
        for (const auto& [name, tid] : workers) CHECK(SliceOf(tid) == 100'000);
        CHECK(SliceOf(::gettid()) != 100'000);
    }
    r.server->Stop();
    // The threads are gone with the server.
    // (A joined thread can stay listed in /proc for a moment after join returns.)
    CHECK(WaitUntil([] { return WorkerThreads().empty(); }));
}

namespace {
std::mutex started_mu;
std::vector<std::string> started;  // the names of the threads that called RecordThreadStart
void RecordThreadStart() {
    char name[16] = {};
    pthread_getname_np(pthread_self(), name, sizeof name);
    std::lock_guard lock(started_mu);
    started.emplace_back(name);
}
}  // namespace

// main passes the hook that advises huge pages for each worker's arena (src/huge_pages.h).
TEST_CASE("each serving thread calls the start hook once before it serves", "[server]") {
    {
        std::lock_guard lock(started_mu);
        started.clear();
    }
    auto r = StartServer({}, &RecordThreadStart);
    REQUIRE(WaitUntil([] {
        std::lock_guard lock(started_mu);
        return started.size() >= 2;
    }));
    Client c(r.server->port());
    REQUIRE(c.Send(Random(8)));
    auto reply = c.Read();
    REQUIRE(reply);
    CHECK(reply->result_int() == 200);
    r.server->Stop();
    std::lock_guard lock(started_mu);
    std::sort(started.begin(), started.end());
    CHECK(started == std::vector<std::string>{"kmsd-worker-0", "kmsd-worker-1"});
}

TEST_CASE("a connection is placed on the worker on its client's CPU, within a slack", "[server]") {
    using kmsd::kPlacementSlack;
    using kmsd::PlaceConnection;
    using Loads = std::vector<int>;
    const std::vector<int> cpus{3, 5};  // worker 0 last ran on CPU 3, worker 1 on CPU 5
    for (std::size_t turn = 0; turn < 4; ++turn) {
        INFO("turn " << turn);
        CHECK(PlaceConnection(5, cpus, Loads{0, 0}, turn) == 1);
        CHECK(PlaceConnection(3, cpus, Loads{2, 0}, turn) == 0);
        // Up to the slack over the least loaded worker; past it, the least loaded.
        CHECK(PlaceConnection(5, cpus, Loads{0, kPlacementSlack}, turn) == 1);
        CHECK(PlaceConnection(5, cpus, Loads{0, kPlacementSlack + 1}, turn) == 0);
        CHECK(PlaceConnection(3, cpus, Loads{kPlacementSlack + 2, 2}, turn) == 0);
        CHECK(PlaceConnection(3, cpus, Loads{kPlacementSlack + 3, 2}, turn) == 1);
        // An unknown CPU, or one no worker ran on: the least loaded.
        CHECK(PlaceConnection(-1, cpus, Loads{4, 2}, turn) == 1);
        CHECK(PlaceConnection(7, cpus, Loads{2, 4}, turn) == 0);
        // Two workers on the client's CPU: the less loaded of them.
        CHECK(PlaceConnection(3, std::vector<int>{3, 3, 5}, Loads{2, 1, 0}, turn) == 1);
        // An unknown client CPU (-1) does not pair with a worker whose CPU is unknown (-1):
        // were it paired, worker 0 (within the slack) would be the answer.
        CHECK(PlaceConnection(-1, std::vector<int>{-1, 5}, Loads{3, 1}, turn) == 1);
        // One worker takes everything.
        CHECK(PlaceConnection(5, std::vector<int>{3}, Loads{100}, turn) == 0);
    }
    // Equal workers take turns.
    std::set<std::size_t> picked;
    for (std::size_t turn = 0; turn < 3; ++turn)
        picked.insert(PlaceConnection(-1, std::vector<int>{-1, -1, -1}, Loads{1, 1, 1}, turn));
    CHECK(picked == std::set<std::size_t>{0, 1, 2});
}

namespace {

// Pins thread `tid` (0: the calling thread) to `cpu`.
bool PinTo(pid_t tid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return ::sched_setaffinity(tid, sizeof set, &set) == 0;
}

// Whether SO_INCOMING_CPU of an accepted loopback connection names the CPU its client sent from,
// as the placement needs: not so under some sandboxes (gVisor) or with RPS steering on lo.
bool IncomingCpuNamesTheSender(int cpu) {
    if (!PinTo(0, cpu)) return false;
    const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    bool named = false;
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::listen(listener, 1) == 0 &&
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        const int client = ::socket(AF_INET, SOCK_STREAM, 0);
        if (::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
            ::send(client, "x", 1, 0) == 1) {
            const int accepted = ::accept(listener, nullptr, nullptr);
            char byte = 0;
            int incoming = -1;
            socklen_t size = sizeof incoming;
            named = accepted >= 0 && ::recv(accepted, &byte, 1, 0) == 1 &&
                    ::getsockopt(accepted, SOL_SOCKET, SO_INCOMING_CPU, &incoming, &size) == 0 &&
                    incoming == cpu;
            if (accepted >= 0) ::close(accepted);
        }
        ::close(client);
    }
    ::close(listener);
    return named;
}

}  // namespace

TEST_CASE("a connection goes to the serving thread on its client's CPU, and follows its client",
          "[server]") {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    REQUIRE(::sched_getaffinity(0, sizeof allowed, &allowed) == 0);
    std::vector<int> cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
    if (cpus.size() < 2) {
        WARN("one CPU: no connection has anywhere to go");
        return;
    }
    struct RestoreAffinity {
        cpu_set_t set;
        ~RestoreAffinity() { ::sched_setaffinity(0, sizeof set, &set); }
    } restore{allowed};
    const int a = cpus[0], b = cpus[1];
    if (!IncomingCpuNamesTheSender(b)) {
        WARN("SO_INCOMING_CPU does not name the sending CPU here: placement cannot work");
        return;
    }

    auto r = StartServer();
    REQUIRE(WaitUntil([] { return WorkerThreads().size() == 2; }));
    auto workers = WorkerThreads();
    REQUIRE(PinTo(workers["kmsd-worker-0"], a));
    REQUIRE(PinTo(workers["kmsd-worker-1"], b));
    // A worker's CPU counts once two of its sweeps (every 250 ms) ran there.
    std::this_thread::sleep_for(1s);

    // Connected from b: served by the worker on b (worker 1; turn in a tie would give worker 0).
    REQUIRE(PinTo(0, b));
    Client c(r.server->port());
    REQUIRE(c.connected());
    // Two requests at a time, pipelined: a connection moves only with nothing read ahead.
    int n = 0;
    auto exchange = [&] {
        ++n;
        REQUIRE(c.Send(Random(n % 50 + 1) + Random(n % 50 + 2)));
        for (int k = 1; k <= 2; ++k) {
            auto reply = c.Read();
            REQUIRE(reply);
            REQUIRE(reply->result_int() == 200);
            CHECK(RandomBytes(*reply) == static_cast<std::size_t>(n % 50 + k));
        }
    };
    exchange();
    CHECK(r.server->connections_by_worker() == std::vector<int>{0, 1});
    CHECK(r.app->metrics().connections_moved.load() == 0);

    // The client now runs on a; once two sweeps saw it there, its connection follows.
    REQUIRE(PinTo(0, a));
    CHECK(WaitUntil([&] {
        exchange();
        return r.server->connections_by_worker() == std::vector<int>{1, 0} &&
               r.app->metrics().connections_moved.load() == 1;
    }));
    for (int i = 0; i < 20; ++i) exchange();
    CHECK(r.server->connections() == 1);
    CHECK(r.server->connections_by_worker() == std::vector<int>{1, 0});
    CHECK(r.app->metrics().connections_moved.load() == 1);
}
