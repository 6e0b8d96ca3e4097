// The server's audit log (design.md §7): the CloudTrail record of every KMS call and service
// event, kept in a bounded ring (--audit-ring N: the newest N; 0 keeps none) and, with
// --audit-log FILE, appended to FILE as JSON lines by a writer thread that formats them and
// fsyncs each batch. Record() is what the request path pays: a thread's scratch event is filled
// and packed into one buffer (PackAuditEvent), which is swapped with the ring's oldest slot under
// a short lock; the slot's old buffer is the thread's next one, so a record costs no allocation
// (with a file, one copy for the writer). One buffer per event, written front to back, rather
// than an event's twenty strings and JSON tree: with many keys in use, the ring's memory is no
// longer in the cache when its slot comes round again, and each separate piece was a cache miss
// (1.4 of Encrypt's 6.4 us in-process with 30,000 keys; kmsd_bench_dispatch). Find() unpacks.
// Record() never waits for the disk: past kQueueLimit events not yet written, events miss the
// file (still in the ring) and are counted as dropped. Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "api/audit.h"
#include "common/status.h"

namespace kmsd {

// An event as one buffer and back: the ring's and the writer queue's form. Unpack returns false
// (and leaves `e` unspecified) for a buffer Pack did not make.
void PackAuditEvent(const api::AuditEvent& e, SecureString& out);
bool UnpackAuditEvent(std::string_view packed, api::AuditEvent& e);

class AuditLog : public api::AuditSink {
public:
    using EventPtr = std::shared_ptr<const SecureString>;  // a packed event
    // Events waiting for the file beyond which new ones are dropped (for the file only).
    static constexpr std::size_t kQueueLimit = 65536;

    AuditLog(std::size_t ring_size, std::string file);
    ~AuditLog() override;  // writes what is queued, then stops the writer

    // Opens the file (appending, created 0600) and starts the writer; without a file, nothing.
    Status Start();
    // Whether anything is kept: a ring or a file (else the request path skips capturing).
    bool enabled() const { return ring_size_ > 0 || !file_.empty(); }

    using api::AuditSink::Record;
    void Record(api::AuditFill fill) override;

    struct Query {
        std::string event_name;  // "" matches every event
        std::string key_arn;     // "" matches every event; else one of its resources
        double since = 0;        // KMS time: events at or after it
        std::size_t limit = 50;
    };
    // Copies of the ring's events that match, newest first.
    std::vector<api::AuditEvent> Find(const Query& query) const;
    // Empties the ring (POST /_kmsd/reset); the file keeps what it has.
    void Clear();
    // Returns once every event recorded before the call is in the file and fsync'd (tests,
    // shutdown). Returns at once without a file.
    void Sync();

    std::size_t ring_size() const { return ring_size_; }
    std::size_t ring_records() const;
    std::size_t queue_depth() const;
    std::uint64_t dropped() const;
    std::uint64_t written() const;
    std::uint64_t write_errors() const;

private:
    void WriterLoop();
    void Enqueue(EventPtr event);

    const std::size_t ring_size_;
    const std::string file_;

    mutable std::mutex ring_mu_;
    // Packed events, circular once full; next_ is the oldest slot. A record swaps two buffers
    // under the lock.
    std::vector<SecureString> ring_;
    std::size_t next_ = 0;

    mutable std::mutex queue_mu_;
    std::condition_variable queue_cv_;   // the writer waits for events
    std::condition_variable synced_cv_;  // Sync waits for the writer
    std::deque<EventPtr> queue_;
    std::uint64_t enqueued_ = 0;  // events ever queued
    std::uint64_t done_ = 0;      // of those, written (or failed) and fsync'd
    std::uint64_t dropped_ = 0;
    std::uint64_t written_ = 0;
    std::uint64_t write_errors_ = 0;
    bool stopping_ = false;
    int fd_ = -1;
    std::thread writer_;
};

}  // namespace kmsd
