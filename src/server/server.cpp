#include "src/server/server.h"

#include <pthread.h>
#include <sched.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/secure_bytes.h"
#include "src/server/handler.h"
#include "src/server/placement.h"

namespace kmsd {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Largest request head (request line and headers). SigV4 requests are well under 4 KiB.
constexpr std::uint32_t kMaxHeaderBytes = 16 * 1024;
// Largest read buffer of a connection: a head plus two 64 KiB reads. The parser bounds heads and
// bodies, not the buffer: without this, an endless chunk extension (`1;aaaa...`) grows it until
// the request timeout, hundreds of megabytes on loopback.
constexpr std::size_t kMaxReadBufferBytes = kMaxHeaderBytes + 128 * 1024;
// The read buffer a connection keeps between requests, and the reply buffer between replies
// (both wiped): enough for a signed request, or a reply, with a few KiB of body.
constexpr std::size_t kKeptBufferBytes = 4096;
// How long a closing connection keeps reading (and discarding) what the client still sends, so
// that the kernel does not answer unread data with a reset that destroys the reply just sent.
constexpr auto kLingerTime = std::chrono::seconds(2);
// SIGTERM/SIGINT: how long in-flight requests get to finish before the process exits anyway.
constexpr auto kDrainTime = std::chrono::seconds(5);
// Request bodies being read at once, in bytes, over all connections. Each connection may send up
// to kMaxBodyBytes (and Beast reserves the declared length up front), so without a shared budget
// --max-connections clients could make kmsd hold gigabytes. 64 MiB is 2,000 concurrent 32 KB key
// policies; a request beyond it gets 503 (SDKs retry it). Bodies up to kSmallBodyBytes (every
// Encrypt of up to 4 KiB of plaintext, most requests) are not charged, so a flood of large bodies
// never holds up ordinary requests: at most --max-connections x 16 KiB of them are in flight.
constexpr std::uint64_t kMaxBodyBytesInFlight = 64 * 1024 * 1024;
constexpr std::uint64_t kSmallBodyBytes = 16 * 1024;

// How often each worker looks for connections past their deadline. A request timeout of T
// seconds ends a connection between T and T + 0.25 s after its deadline was set.
constexpr auto kSweepInterval = std::chrono::milliseconds(250);

// The raw bytes read from a connection hold base64 plaintext: wiped when the buffer grows or goes.
using SecureFlatBuffer = beast::basic_flat_buffer<CleansingAllocator<char>>;
using Clock = std::chrono::steady_clock;

class Worker;

// What the acceptor, the workers and their sessions share.
struct ServerState {
    explicit ServerState(App& a)
        : app(a),
          request_timeout(a.options().server.request_timeout_seconds),
          max_connections(a.options().server.max_connections),
          connections(a.metrics().open_connections),
          moved(a.metrics().connections_moved) {}
    App& app;
    const std::chrono::seconds request_timeout;
    const int max_connections;
    std::atomic<int>& connections;      // the metrics' gauge: one count, two readers
    std::atomic<std::uint64_t>& moved;  // the metrics' counter of Session::MoveTo
    std::atomic<bool> draining{false};
    std::atomic<std::uint64_t> body_bytes{0};  // charged against kMaxBodyBytesInFlight
    std::vector<Worker*> workers;              // set before any worker runs, then read-only

    // Where requests that may wait on an external key store proxy run (design.md §2: nothing
    // that can block runs on a serving thread). Made on first use: a server without external
    // key stores never starts these threads.
    asio::thread_pool& Blocking() {
        std::lock_guard lock(blocking_mu);
        if (!blocking) blocking = std::make_unique<asio::thread_pool>(kBlockingThreads);
        return *blocking;
    }
    // After the workers stopped: lets running requests end, drops queued ones.
    void StopBlocking() {
        std::unique_ptr<asio::thread_pool> pool;
        {
            std::lock_guard lock(blocking_mu);
            pool = std::move(blocking);
        }
        if (!pool) return;
        pool->stop();
        pool->join();
    }

private:
    // Each proxy call is bounded (--xks-timeout-ms, 250 ms by default), so 8 threads serve at
    // least 32 such requests a second even when every proxy is at its timeout, and thousands
    // when proxies answer on time.
    static constexpr std::size_t kBlockingThreads = 8;
    std::mutex blocking_mu;
    std::unique_ptr<asio::thread_pool> blocking;
};

class Session;

// The scheduling slice a serving thread asks for. Clients of an emulator usually share its
// machine (a test suite, a load generator) and wait for each reply. With the kernel's default
// slice (1.4 ms on two cores), a request that arrives while a client thread runs may wait for that
// slice to end. Since Linux 6.12 (EEVDF) a task may ask for a shorter slice, which also lets it
// preempt a task with a longer one when it wakes. Measured on our two cores (wrk 2x32, Encrypt, six
// alternating rounds): p99 3.3 ms with the default, 2.4 ms with 100 us, the same throughput. Its
// share of the CPU does not change, only how soon it gets it. Older kernels ignore the value.
constexpr std::uint64_t kWorkerSliceNs = 100'000;

// The kernel's struct sched_attr (SCHED_ATTR_SIZE_VER0): <linux/sched/types.h> cannot be
// included next to glibc's <sched.h>, and glibc 2.36 has no wrapper for the calls.
constexpr std::uint64_t kSchedFlagResetOnFork = 0x01;  // SCHED_FLAG_RESET_ON_FORK
struct SchedAttr {
    std::uint32_t size;
    std::uint32_t sched_policy;
    std::uint64_t sched_flags;
    std::int32_t sched_nice;
    std::uint32_t sched_priority;
    std::uint64_t sched_runtime;
    std::uint64_t sched_deadline;
    std::uint64_t sched_period;
};
static_assert(sizeof(SchedAttr) == 48 && offsetof(SchedAttr, sched_flags) == 8 &&
              offsetof(SchedAttr, sched_nice) == 16 && offsetof(SchedAttr, sched_runtime) == 24);

// Names the calling serving thread (for top -H, perf, /proc) and asks for kWorkerSliceNs. Keeps
// the thread's policy and nice value (sched_setattr sets both): a kmsd started with `nice` stays
// nice, and a policy other than the normal one is left alone. Failing (seccomp, an old kernel
// without the call) changes nothing but latency, so it is only logged at debug level.
void PrepareWorkerThread(std::size_t index) {
    const std::string name = "kmsd-worker-" + std::to_string(index);
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    SchedAttr attr{};
    if (syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0) != 0 ||
        attr.sched_policy != SCHED_OTHER) {
        spdlog::debug("{}: scheduling slice left as it is", name);
        return;
    }
    attr.size = sizeof attr;
    attr.sched_flags &= kSchedFlagResetOnFork;  // kept; the others are requests, not settings
    attr.sched_runtime = kWorkerSliceNs;
    if (syscall(SYS_sched_setattr, 0, &attr, 0) != 0)
        spdlog::debug("{}: cannot set the scheduling slice: errno {}", name, errno);
}

// Every worker's CPU and open connections at one moment, for PlaceConnection.
struct Placement {
    std::vector<int> cpus;
    std::vector<int> loads;
    std::size_t turn = 0;
    void Read(const std::vector<Worker*>& workers);
    std::size_t Place(int cpu) { return PlaceConnection(cpu, cpus, loads, turn++); }
};

// Where the connection's client last sent from (see PlaceConnection), -1 if unknown.
int IncomingCpu(tcp::socket& socket) {
    int cpu = -1;
    socklen_t len = sizeof cpu;
    if (getsockopt(socket.native_handle(), SOL_SOCKET, SO_INCOMING_CPU, &cpu, &len) != 0) return -1;
    return cpu;
}

// One serving thread: an io_context that this thread alone runs, so a connection's handlers
// never race and need no strand, and the connections it serves. Instead of a timer per read and
// write (a timer queue operation and a cancellation each), every connection carries a deadline
// that a sweep checks every kSweepInterval.
class Worker {
public:
    Worker(std::shared_ptr<ServerState> state, std::size_t index)
        : state_(std::move(state)), index_(index), ioc_(1), sweep_(ioc_) {}

    asio::io_context& ioc() { return ioc_; }
    ServerState& state() { return *state_; }

    std::size_t index() const { return index_; }

    // Its open connections, for placing connections: counted up when one is handed to it, down
    // when one ends or moves away.
    std::atomic<int>& open() { return open_; }
    // The CPU its thread ran on at its last two sweeps, -1 if they differ or before them.
    int cpu() const { return cpu_.load(std::memory_order_relaxed); }

    // Runs until Stop(); the pending sweep keeps run() from returning when no connection is open.
    void Run() {
        Sweep();
        ioc_.run();
    }
    void Stop() { ioc_.stop(); }

    // On this worker's thread only.
    std::list<Session*>::iterator Add(Session* s) { return sessions_.insert(sessions_.end(), s); }
    void Remove(std::list<Session*>::iterator it) { sessions_.erase(it); }

    // Closes the idle connections (from any thread).
    void Drain();

private:
    void Sweep();

    std::shared_ptr<ServerState> state_;
    // Declared before ioc_: handlers still pending when ioc_ is destroyed release their sessions,
    // which unlink themselves from this list.
    std::list<Session*> sessions_;
    const std::size_t index_;
    std::atomic<int> open_{0};
    std::atomic<int> cpu_{-1};
    int last_cpu_ = -1;    // the previous sweep's sched_getcpu()
    Placement placement_;  // the sweep's view of every worker
    asio::io_context ioc_;
    asio::steady_timer sweep_;
};

bool MoveSocket(tcp::socket& socket, Worker& to);
// `moved_peer_ip`: set for a connection moved from another worker (its peer's address).
void StartSession(Worker& to, tcp::socket socket,
                  std::optional<std::string> moved_peer_ip = std::nullopt);

class Session : public std::enable_shared_from_this<Session> {
public:
    // A new connection: its peer's address is read and Nagle's algorithm turned off.
    Session(tcp::socket&& socket, Worker& worker)
        : socket_(std::move(socket)), worker_(worker), state_(worker.state()) {
        beast::error_code ec;
        auto peer = socket_.remote_endpoint(ec);
        if (!ec) peer_ip_ = peer.address().to_string();  // aws:SourceIp
        socket_.set_option(tcp::no_delay(true), ec);
    }
    // A connection moved from another worker (MoveTo): already set up.
    Session(tcp::socket&& socket, Worker& worker, std::string peer_ip)
        : socket_(std::move(socket)),
          worker_(worker),
          state_(worker.state()),
          peer_ip_(std::move(peer_ip)) {}
    ~Session() {
        ReleaseBody();
        if (registered_) worker_.Remove(self_);
        if (handed_off_) return;  // the connection lives on in another worker's session
        worker_.open().fetch_sub(1, std::memory_order_relaxed);
        state_.connections.fetch_sub(1, std::memory_order_relaxed);
    }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

    // On the worker's thread, like every other member.
    void Start() {
        self_ = worker_.Add(this);
        registered_ = true;
        DoRead();
    }

    // The sweep: a connection past its deadline is cut off at once.
    void Expire(Clock::time_point now) {
        if (now >= deadline_) Abort();
    }

    // Draining: a connection waiting for a new request is closed now; one in the middle of a
    // request finishes it (its reply says Connection: close).
    void Drain() {
        if (idle_ && buffer_.size() == 0) Abort();
    }

    // The sweep: decides whether this connection should move to the worker on its client's CPU
    // (PlaceConnection), after its current reply. Only connections that served a request since
    // the last sweep are looked at (idle ones cost no syscall), and a move needs the client seen
    // on that CPU at two sweeps in a row: a client thread the scheduler moved for a moment is
    // not followed. `view` is updated as if the move was done, so one sweep does not send every
    // connection of a client across and past the slack.
    void CheckPlacement(Placement& view) {
        // A decision is only good until the next sweep: an idle connection, or one whose client
        // moved on, keeps none.
        move_to_ = nullptr;
        if (served_ == 0 || view.loads.size() < 2 || !socket_.is_open()) {
            seen_cpu_ = -1;
            served_ = 0;
            return;
        }
        served_ = 0;
        const int cpu = IncomingCpu(socket_);
        const std::size_t here = worker_.index();
        // Placed as if it were new: its own worker's load without it, or a move could leave the
        // two workers further apart than the slack allows a new connection.
        --view.loads[here];
        const std::size_t to = view.Place(cpu);
        const bool elsewhere =
            cpu >= 0 && to != here && view.cpus[here] != cpu && view.cpus[to] == cpu;
        const bool confirmed = elsewhere && seen_cpu_ == cpu;
        seen_cpu_ = elsewhere ? cpu : -1;
        if (!confirmed) {
            ++view.loads[here];
            return;
        }
        move_to_ = state_.workers[to];
        ++view.loads[to];
    }

private:
    void DoRead() {
        // Draining: answer only what was already sent (pipelined), accept no new request.
        if (state_.draining.load(std::memory_order_relaxed) && buffer_.size() == 0) return Abort();
        parser_.emplace();
        parser_->body_limit(kMaxBodyBytes);
        parser_->header_limit(kMaxHeaderBytes);
        // The whole request (headers and body) must arrive within the timeout: a client that
        // never finishes its headers, or trickles its body, is cut off. It also bounds how long
        // an idle keep-alive connection stays open.
        deadline_ = Clock::now() + state_.request_timeout;
        idle_ = true;
        http::async_read_header(
            socket_, buffer_, *parser_,
            beast::bind_front_handler(&Session::OnReadHeader, shared_from_this()));
    }

    void OnReadHeader(beast::error_code ec, std::size_t bytes) {
        idle_ = false;
        if (ec) return OnRead(ec, bytes);
        if (!ChargeBody()) return SendError(http::status::service_unavailable);
        // Beast reads at most the buffer's free capacity (512 bytes from a fresh buffer) per
        // call: a large body is read in 64 KiB steps instead. Handle() frees the buffer again.
        if (auto length = parser_->content_length(); length && *length > 4096)
            buffer_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(*length, 64 * 1024)));
        if (!beast::iequals(parser_->get()[http::field::expect], "100-continue")) return ReadBody();
        // The client waits for this before it sends the body (curl does for bodies > 1 KiB).
        static const std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        asio::async_write(socket_, asio::buffer(kContinue.data(), kContinue.size()),
                          [self = shared_from_this()](beast::error_code wec, std::size_t) {
                              if (wec) return self->Close();
                              self->ReadBody();
                          });
    }

    void ReadBody() {
        // Nearly always the whole body arrived with the headers: parse it from the buffer here,
        // as Beast's read operation would, instead of starting one more asynchronous read (a
        // composed operation and a trip through the scheduler per request).
        parser_->eager(true);
        while (buffer_.size() > 0 && !parser_->is_done()) {
            beast::error_code ec;
            const std::size_t used = parser_->put(buffer_.data(), ec);
            buffer_.consume(used);
            if (ec == http::error::need_more) break;
            if (ec) return OnRead(ec, 0);
            if (used == 0) break;  // nothing parsed: let the read operation decide
        }
        if (parser_->is_done()) return OnRead({}, 0);
        http::async_read(socket_, buffer_, *parser_,
                         beast::bind_front_handler(&Session::OnRead, shared_from_this()));
    }

    // Charges what the body may take (its declared length; the limit when it is chunked) to the
    // shared budget. False when the budget has no room for it.
    bool ChargeBody() {
        auto length = parser_->content_length();
        const std::uint64_t charge = length ? *length : parser_->chunked() ? kMaxBodyBytes : 0;
        if (charge <= kSmallBodyBytes) return true;
        if (state_.body_bytes.fetch_add(charge) + charge > kMaxBodyBytesInFlight) {
            state_.body_bytes.fetch_sub(charge);
            spdlog::warn("{} bytes of request bodies in flight: refusing a body of {} bytes",
                         state_.body_bytes.load(), charge);
            return false;
        }
        charged_ = charge;
        return true;
    }

    void ReleaseBody() {
        if (charged_ == 0) return;
        state_.body_bytes.fetch_sub(charged_);
        charged_ = 0;
    }

    void OnRead(beast::error_code ec, std::size_t /*bytes*/) {
        if (ec) ReleaseBody();
        // Cut off by the sweep or by a drain: the socket is closed already.
        if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) return;
        if (ec == http::error::end_of_stream || ec == asio::error::connection_reset ||
            ec == asio::error::eof)
            return Close();
        if (ec == http::error::body_limit) return SendError(http::status::payload_too_large);
        if (ec == http::error::header_limit)
            return SendError(http::status::request_header_fields_too_large);
        if (ec) return SendError(http::status::bad_request);
        Handle(parser_->release());
    }

    void SendError(http::status status) { Write(HttpErrorResponse(status)); }

    void Handle(Request req) {
        // Nothing is left of this request in the read buffer: wipe it rather than keep the
        // bytes around for as long as the connection stays open. A buffer of an ordinary size is
        // wiped in place and kept for the next request (freeing it cost an allocation, a wipe
        // and a free per request); a large one is freed, so idle connections stay small.
        if (buffer_.size() == 0) {
            if (buffer_.capacity() <= kKeptBufferBytes) {
                const auto storage = buffer_.prepare(buffer_.capacity());
                SecureWipe(storage.data(), storage.size());
            } else {
                buffer_.shrink_to_fit();
            }
        }
        ++served_;
        if (MayWaitOnProxy(state_.app, req)) return HandleElsewhere(std::move(req));
        Response res = HandleHttpRequest(state_.app, req, peer_ip_);
        req = Request{};  // the body is no longer needed: wiped and freed before the reply is sent
        Reply(std::move(res));
    }

    // A request that may wait on an external key store proxy runs on the blocking pool; its
    // reply comes back to this connection's thread. The connection's deadline allows for it.
    void HandleElsewhere(Request req) {
        deadline_ = Clock::now() + state_.request_timeout;
        asio::post(state_.Blocking(), [self = shared_from_this(), req = std::move(req),
                                       executor = socket_.get_executor()]() mutable {
            Response res = HandleHttpRequest(self->state_.app, req, self->peer_ip_);
            req = Request{};
            asio::post(executor, [self = std::move(self), res = std::move(res)]() mutable {
                self->Reply(std::move(res));
            });
        });
    }

    void Reply(Response res) {
        ReleaseBody();
        if (state_.draining.load(std::memory_order_relaxed)) res.keep_alive(false);
        Write(std::move(res));
    }

    void Write(Response res) {
        // The reply gets a deadline of its own: a request that arrived just in time still gets
        // its answer, and a client that never reads it is cut off.
        deadline_ = Clock::now() + state_.request_timeout;
        const bool keep_alive = res.keep_alive();
        Serialize(res, out_);
        res = Response{};  // the body is in out_ now: wiped and freed
        asio::async_write(
            socket_, asio::buffer(out_.data(), out_.size()),
            beast::bind_front_handler(&Session::OnWrite, shared_from_this(), keep_alive));
    }

    // The reply as bytes on the wire, as Beast's serializer writes a message with a
    // Content-Length: status line, the fields in the order they were set, a blank line, the
    // body. Written into one buffer the connection keeps: Beast's serializer cost as much CPU
    // per request as Dispatch() (a view over the header pieces, a state machine step per
    // write), where this is a few appends and one send.
    static void Serialize(const Response& res, SecureString& out) {
        out.clear();
        const auto reason = res.reason();
        std::size_t size = 32 + reason.size() + res.body().size();
        for (const auto& field : res) size += field.name_string().size() + field.value().size() + 4;
        out.reserve(size);
        // "HTTP/1.1 200 ": to_chars, not snprintf (a format parse per reply).
        char line[32] = {'H', 'T', 'T', 'P', '/'};
        char* end = line + 5;
        *end++ = static_cast<char>('0' + res.version() / 10 % 10);
        *end++ = '.';
        *end++ = static_cast<char>('0' + res.version() % 10);
        *end++ = ' ';
        end = std::to_chars(end, line + sizeof line - 1, res.result_int()).ptr;
        *end++ = ' ';
        out.append(line, static_cast<std::size_t>(end - line));
        out.append(reason.data(), reason.size());
        out.append("\r\n");
        for (const auto& field : res) {
            out.append(field.name_string().data(), field.name_string().size());
            out.append(": ");
            out.append(field.value().data(), field.value().size());
            out.append("\r\n");
        }
        out.append("\r\n");
        out.append(res.body().data(), res.body().size());
    }

    void OnWrite(bool keep_alive, beast::error_code ec, std::size_t /*bytes*/) {
        // The reply is sent: wipe it (it may hold plaintext or a data key). A buffer of an
        // ordinary size is kept for the next reply; a large one is freed.
        SecureWipe(out_.data(), out_.size());
        out_.clear();
        if (out_.capacity() > kKeptBufferBytes) SecureString().swap(out_);
        if (ec || !keep_alive) return Close();
        if (move_to_ && buffer_.size() == 0 && !state_.draining.load(std::memory_order_relaxed))
            return MoveTo(*std::exchange(move_to_, nullptr));
        DoRead();
    }

    // Between requests, with nothing read ahead: the connection continues in a new session on
    // `to`, this one ends without closing it.
    void MoveTo(Worker& to) {
        tcp::socket socket = std::move(socket_);
        if (!MoveSocket(socket, to)) return;  // closed; this session ends and counts it out
        handed_off_ = true;
        worker_.open().fetch_sub(1, std::memory_order_relaxed);
        state_.moved.fetch_add(1, std::memory_order_relaxed);
        StartSession(to, std::move(socket), std::move(peer_ip_));
    }

    // Ends the connection after a reply (or when the client is done): no more sends, then read
    // and drop what the client still sends until it closes, for at most kLingerTime.
    void Close() {
        beast::error_code ec;
        socket_.shutdown(tcp::socket::shutdown_send, ec);
        if (ec) return Abort();
        deadline_ = Clock::now() + kLingerTime;
        idle_ = false;
        Linger();
    }

    void Linger() {
        buffer_.consume(buffer_.size());
        socket_.async_read_some(buffer_.prepare(512),
                                [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                    if (!ec) return self->Linger();
                                    self->Abort();
                                });
    }

    // Ends the connection at once; pending operations complete with operation_aborted.
    void Abort() {
        if (!socket_.is_open()) return;
        beast::error_code ec;
        socket_.shutdown(tcp::socket::shutdown_both, ec);
        socket_.close(ec);
    }

    tcp::socket socket_;
    Worker& worker_;
    ServerState& state_;
    SecureFlatBuffer buffer_{kMaxReadBufferBytes};
    std::optional<http::request_parser<SecureBody>> parser_;
    SecureString out_;  // the reply being sent
    std::list<Session*>::iterator self_;
    bool registered_ = false;
    Clock::time_point deadline_ = Clock::time_point::max();
    std::uint64_t charged_ = 0;  // this request's share of ServerState::body_bytes
    bool idle_ = false;          // waiting for the first byte of a request (with buffer_ empty)
    std::string peer_ip_;
    // Placement (CheckPlacement): requests since the last sweep, the client's CPU seen then, the
    // worker to move to after the current reply.
    std::uint32_t served_ = 0;
    int seen_cpu_ = -1;
    Worker* move_to_ = nullptr;
    bool handed_off_ = false;  // moved to another worker: its session counts the connection
};

void Placement::Read(const std::vector<Worker*>& workers) {
    cpus.resize(workers.size());
    loads.resize(workers.size());
    for (std::size_t i = 0; i < workers.size(); ++i) {
        cpus[i] = workers[i]->cpu();
        loads[i] = workers[i]->open().load(std::memory_order_relaxed);
    }
}

// Gives `socket` to `to`'s io_context (it stays open). False if that failed: then it is closed.
// Registering a descriptor with another thread's io_context is safe because the workers'
// io_contexts keep their locks (concurrency hint 1, not one of the UNSAFE hints).
bool MoveSocket(tcp::socket& socket, Worker& to) {
    if (&to.ioc() == &socket.get_executor().context()) return true;
    beast::error_code ec;
    const auto protocol = socket.local_endpoint(ec).protocol();
    tcp::socket moved(to.ioc());
    const int fd = ec ? -1 : socket.release(ec);
    if (!ec) moved.assign(protocol, fd, ec);
    if (ec) {
        spdlog::debug("cannot move a connection to worker {}: {}", to.index(), ec.message());
        if (fd >= 0) ::close(fd);
        socket.close(ec);
        return false;
    }
    socket = std::move(moved);
    return true;
}

// A new session for `socket` on `to`'s thread. Counted at once, so that placements made before
// it runs see it. (A start dropped by a stopping io_context leaves the count up; nothing reads it
// then.)
void StartSession(Worker& to, tcp::socket socket, std::optional<std::string> moved_peer_ip) {
    to.open().fetch_add(1, std::memory_order_relaxed);
    asio::post(to.ioc(), [&to, s = std::move(socket), ip = std::move(moved_peer_ip)]() mutable {
        auto session = ip ? std::make_shared<Session>(std::move(s), to, std::move(*ip))
                          : std::make_shared<Session>(std::move(s), to);
        session->Start();
    });
}

void Worker::Sweep() {
    const auto now = Clock::now();
    // The CPU counts once two sweeps in a row ran on it: a worker the scheduler moved for a
    // moment does not pull connections after it.
    const int cpu = sched_getcpu();
    cpu_.store(cpu == last_cpu_ ? cpu : -1, std::memory_order_relaxed);
    last_cpu_ = cpu;
    placement_.Read(state_->workers);
    for (Session* s : sessions_) {
        s->Expire(now);
        s->CheckPlacement(placement_);
    }
    sweep_.expires_after(kSweepInterval);
    sweep_.async_wait([this](beast::error_code ec) {
        if (!ec) Sweep();
    });
}

void Worker::Drain() {
    asio::post(ioc_, [this] {
        for (Session* s : sessions_) s->Drain();
    });
}

// One listening socket; each accepted connection goes to the worker PlaceConnection picks (and
// may move later, see Session::CheckPlacement). (One SO_REUSEPORT acceptor per worker would let the
// kernel spread them instead, but it would also let a second kmsd bind the same port silently and
// take half the connections; the accept path is not where the time goes with keep-alive clients.)
class Listener : public std::enable_shared_from_this<Listener> {
public:
    Listener(std::vector<std::unique_ptr<Worker>>& workers, std::shared_ptr<ServerState> state)
        : workers_(workers),
          acceptor_(workers.front()->ioc()),
          retry_(workers.front()->ioc()),
          state_(std::move(state)) {}

    // Binds and listens; `port` is the port bound (the one asked for, or a free one for 0).
    beast::error_code Listen(const tcp::endpoint& endpoint, unsigned short& port) {
        beast::error_code ec;
        acceptor_.open(endpoint.protocol(), ec);
        if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
        if (!ec) acceptor_.bind(endpoint, ec);
        if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
        if (!ec) port = acceptor_.local_endpoint(ec).port();
        return ec;
    }

    void DoAccept() {
        if (stopped_) return;
        acceptor_.async_accept(
            [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                self->OnAccept(ec, std::move(socket));
            });
    }

    // Closes the listening socket (new connections are refused). Thread-safe: it runs on the
    // first worker's thread, like every other use of the acceptor.
    void Stop() {
        asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
            self->stopped_ = true;
            self->retry_.cancel();
            beast::error_code ec;
            self->acceptor_.close(ec);
        });
    }

private:
    void OnAccept(beast::error_code ec, tcp::socket socket) {
        if (stopped_ || ec == asio::error::operation_aborted) return;  // stopping
        if (ec) {
            // EMFILE and friends: never stop accepting; wait a little and try again. Logged once
            // per streak: a flood would otherwise log twenty lines a second.
            if (!accept_failing_) spdlog::warn("accept failed: {}", ec.message());
            accept_failing_ = true;
            retry_.expires_after(std::chrono::milliseconds(50));
            retry_.async_wait([self = shared_from_this()](beast::error_code wec) {
                if (!wec) self->DoAccept();
            });
            return;
        }
        accept_failing_ = false;
        if (state_->connections.fetch_add(1, std::memory_order_relaxed) >=
            state_->max_connections) {
            state_->connections.fetch_sub(1, std::memory_order_relaxed);
            beast::error_code ignored;
            socket.close(ignored);
        } else {
            HandOver(std::move(socket));
        }
        DoAccept();
    }

    // The accepted socket is registered with the first worker's io_context; it moves to the
    // worker that will serve it.
    void HandOver(tcp::socket socket) {
        const int cpu = workers_.size() > 1 ? IncomingCpu(socket) : -1;
        placement_.Read(state_->workers);
        Worker& worker = *workers_[placement_.Place(cpu)];
        if (!MoveSocket(socket, worker)) {
            state_->connections.fetch_sub(1, std::memory_order_relaxed);
            return;
        }
        StartSession(worker, std::move(socket));
    }

    std::vector<std::unique_ptr<Worker>>& workers_;
    tcp::acceptor acceptor_;
    asio::steady_timer retry_;
    std::shared_ptr<ServerState> state_;
    Placement placement_;
    bool stopped_ = false;  // on the first worker's thread
    bool accept_failing_ = false;
};

// Every connection is a descriptor: without room for --max-connections, accept fails with EMFILE
// and clients wait in the backlog. Raises the soft limit as far as the hard limit allows.
void RaiseDescriptorLimit(int max_connections) {
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
    const rlim_t want = static_cast<rlim_t>(std::max(max_connections, 0)) + 256;
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? want : std::min(want, rl.rlim_max);
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
        spdlog::warn(
            "open-file limit {} is below --max-connections {}: connections beyond it "
            "wait until others close",
            rl.rlim_cur, max_connections);
}

}  // namespace

struct Server::Impl {
    std::shared_ptr<ServerState> state;
    std::vector<std::unique_ptr<Worker>> workers;
    std::shared_ptr<Listener> listener;
    std::vector<std::thread> threads;
    unsigned short port = 0;
    std::mutex stop_mu;  // Stop() from two threads joins once
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() { Stop(); }

Result<std::unique_ptr<Server>> Server::Start(App& app, ThreadStart on_thread_start) {
    const auto& opts = app.options().server;
    const int threads = opts.threads > 0
                            ? opts.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    RaiseDescriptorLimit(opts.max_connections);
    beast::error_code ec;
    auto address = asio::ip::make_address(opts.bind, ec);
    if (ec)
        return Status(ErrorCode::kInternal,
                      "bad --bind address " + opts.bind + ": " + ec.message());
    auto impl = std::make_unique<Impl>();
    impl->state = std::make_shared<ServerState>(app);
    for (int i = 0; i < threads; ++i)
        impl->workers.push_back(std::make_unique<Worker>(impl->state, static_cast<std::size_t>(i)));
    for (auto& w : impl->workers) impl->state->workers.push_back(w.get());
    impl->listener = std::make_shared<Listener>(impl->workers, impl->state);
    if ((ec =
             impl->listener->Listen({address, static_cast<unsigned short>(opts.port)}, impl->port)))
        return Status(ErrorCode::kInternal, "cannot listen on " + opts.bind + ":" +
                                                std::to_string(opts.port) + ": " + ec.message());
    impl->listener->DoAccept();
    for (std::size_t i = 0; i < impl->workers.size(); ++i)
        impl->threads.emplace_back([i, w = impl->workers[i].get(), on_thread_start] {
            PrepareWorkerThread(i);
            if (on_thread_start != nullptr) on_thread_start();
            w->Run();
        });
    spdlog::info("kmsd listening on {}:{} ({} threads)", opts.bind, impl->port, threads);
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

unsigned short Server::port() const { return impl_->port; }

int Server::connections() const { return impl_->state->connections.load(); }

std::vector<int> Server::connections_by_worker() const {
    std::vector<int> open;
    for (const auto& w : impl_->workers) open.push_back(w->open().load());
    return open;
}

void Server::BeginDrain() {
    if (impl_->state->draining.exchange(true)) return;
    impl_->listener->Stop();
    for (auto& w : impl_->workers) w->Drain();
}

bool Server::WaitIdle(std::chrono::milliseconds limit) const {
    // Sessions end on their own threads; a short poll is simpler than a count that signals back
    // from destructors, and it only runs while stopping.
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (connections() > 0) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
}

void Server::Stop() {
    std::lock_guard lock(impl_->stop_mu);
    if (impl_->threads.empty()) return;
    impl_->listener->Stop();
    for (auto& w : impl_->workers) w->Stop();
    for (auto& t : impl_->threads) t.join();
    impl_->threads.clear();
    impl_->state->StopBlocking();
}

int RunServer(App& app, Server::ThreadStart on_thread_start) {
    auto server = Server::Start(app, on_thread_start);
    if (!server.ok()) {
        spdlog::critical("{}", server.status().message());
        return 2;
    }
    // SIGTERM/SIGINT: stop accepting, close idle connections, let the others finish their
    // request, stop when none is left or kDrainTime has passed. A second signal stops at once.
    // The signals are handled here, on the main thread, apart from the serving threads.
    asio::io_context control{1};
    asio::signal_set signals(control, SIGINT, SIGTERM);
    asio::steady_timer poll(control);
    std::chrono::steady_clock::time_point deadline;
    std::function<void()> poll_once = [&] {
        const int left = (*server)->connections();
        if (left == 0 || std::chrono::steady_clock::now() >= deadline) {
            if (left > 0) spdlog::warn("stopping with {} connections still busy", left);
            control.stop();
            return;
        }
        poll.expires_after(std::chrono::milliseconds(20));
        poll.async_wait([&](beast::error_code ec) {
            if (!ec) poll_once();
        });
    };
    std::function<void(beast::error_code, int)> on_signal = [&](beast::error_code ec, int sig) {
        if (ec) return;
        if (deadline != std::chrono::steady_clock::time_point{}) {
            spdlog::info("signal {}: stopping now", sig);
            control.stop();
            return;
        }
        spdlog::info("signal {}: draining {} connections (at most {} s)", sig,
                     (*server)->connections(),
                     std::chrono::duration_cast<std::chrono::seconds>(kDrainTime).count());
        deadline = std::chrono::steady_clock::now() + kDrainTime;
        (*server)->BeginDrain();
        signals.async_wait(on_signal);  // for a second signal
        poll_once();
    };
    signals.async_wait(on_signal);
    control.run();
    (*server)->Stop();
    return 0;
}

}  // namespace kmsd
