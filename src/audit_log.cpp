#include "src/audit_log.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace kmsd {

AuditLog::AuditLog(std::size_t ring_size, std::string file)
    : ring_size_(ring_size), file_(std::move(file)) {
    ring_.reserve(ring_size_ < 4096 ? ring_size_ : 4096);  // grows to ring_size_ as used
}

AuditLog::~AuditLog() {
    if (writer_.joinable()) {
        {
            std::lock_guard lock(queue_mu_);
            stopping_ = true;
        }
        queue_cv_.notify_all();
        writer_.join();
    }
    if (fd_ >= 0) ::close(fd_);
}

Status AuditLog::Start() {
    if (file_.empty()) return Status::Ok();
    fd_ = ::open(file_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ < 0)
        return Error(ErrorCode::kInternal,
                     "cannot open the audit log " + file_ + ": " + std::strerror(errno));
    writer_ = std::thread([this] { WriterLoop(); });
    return Status::Ok();
}

void AuditLog::Enqueue(EventPtr event) {
    bool wake = false;
    {
        std::lock_guard lock(queue_mu_);
        if (queue_.size() >= kQueueLimit) {
            ++dropped_;
            return;
        }
        wake = queue_.empty();
        queue_.push_back(std::move(event));
        ++enqueued_;
    }
    if (wake) queue_cv_.notify_one();
}

void AuditLog::Record(api::AuditFill fill) {
    if (ring_size_ == 0) {
        if (file_.empty()) return;
        auto event = std::make_shared<api::AuditEvent>();
        fill(*event);
        Enqueue(std::move(event));
        return;
    }
    // Filled outside the lock into this thread's scratch event, then swapped into the ring's
    // slot: the lock is held for a swap of pointers, and the scratch takes the slot's old strings
    // (their storage serves the next record) and its old request, freed at the next fill.
    thread_local auto scratch = std::make_unique<api::AuditEvent>();
    if (!scratch) scratch = std::make_unique<api::AuditEvent>();  // given to a growing ring
    fill(*scratch);
    EventPtr copy;
    if (!file_.empty()) copy = std::make_shared<const api::AuditEvent>(*scratch);
    {
        std::lock_guard lock(ring_mu_);
        if (ring_.size() < ring_size_) {
            ring_.push_back(std::move(scratch));
        } else {
            std::swap(ring_[next_], scratch);
            next_ = (next_ + 1) % ring_size_;
        }
    }
    if (copy) Enqueue(std::move(copy));
}

std::vector<api::AuditEvent> AuditLog::Find(const Query& query) const {
    std::vector<api::AuditEvent> out;
    std::lock_guard lock(ring_mu_);
    const std::size_t n = ring_.size();
    // Newest first: the slot before next_ once the ring is full, else the last pushed.
    const std::size_t newest = n < ring_size_ ? n : next_ + n;
    for (std::size_t i = 0; i < n && out.size() < query.limit; ++i) {
        const api::AuditEvent& e = *ring_[(newest - 1 - i) % n];
        if (e.time < query.since) continue;
        if (!query.event_name.empty() && e.event_name != query.event_name) continue;
        if (!query.key_arn.empty()) {
            bool found = false;
            for (const auto& arn : e.resources) found = found || arn == query.key_arn;
            if (!found) continue;
        }
        out.push_back(e);
    }
    return out;
}

void AuditLog::Clear() {
    std::vector<std::unique_ptr<api::AuditEvent>> old;  // freed outside the lock
    {
        std::lock_guard lock(ring_mu_);
        old.swap(ring_);
        next_ = 0;
    }
}

void AuditLog::Sync() {
    std::unique_lock lock(queue_mu_);
    if (fd_ < 0) return;
    const std::uint64_t target = enqueued_;
    synced_cv_.wait(lock, [&] { return done_ >= target || !writer_.joinable(); });
}

std::size_t AuditLog::ring_records() const {
    std::lock_guard lock(ring_mu_);
    return ring_.size();
}
std::size_t AuditLog::queue_depth() const {
    std::lock_guard lock(queue_mu_);
    return queue_.size();
}
std::uint64_t AuditLog::dropped() const {
    std::lock_guard lock(queue_mu_);
    return dropped_;
}
std::uint64_t AuditLog::written() const {
    std::lock_guard lock(queue_mu_);
    return written_;
}
std::uint64_t AuditLog::write_errors() const {
    std::lock_guard lock(queue_mu_);
    return write_errors_;
}

namespace {

bool WriteAll(int fd, const std::string& text) {
    std::size_t off = 0;
    while (off < text.size()) {
        const ssize_t n = ::write(fd, text.data() + off, text.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        off += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

void AuditLog::WriterLoop() {
    std::deque<EventPtr> batch;
    for (;;) {
        {
            std::unique_lock lock(queue_mu_);
            queue_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and everything is written
            batch.swap(queue_);
        }
        // Formatting happens here, off the request path: one JSON line per record.
        std::string text;
        for (const auto& e : batch) {
            text += api::FormatCloudTrail(*e).dump(
                -1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
            text += '\n';
        }
        const bool ok = WriteAll(fd_, text) && ::fsync(fd_) == 0;
        if (!ok) spdlog::error("writing the audit log {} failed: {}", file_, std::strerror(errno));
        {
            std::lock_guard lock(queue_mu_);
            done_ += batch.size();
            (ok ? written_ : write_errors_) += batch.size();
        }
        synced_cv_.notify_all();
        batch.clear();
    }
}

}  // namespace kmsd
