#include "src/audit_log.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdint>
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

namespace {

// The packed form: the kind as one byte, the time as 8, then each string member as a 4-byte
// length and its bytes, in AuditEvent's order (response and details as JSON text, "" for null),
// and the resources as a count and strings. Native byte order: it never leaves the process.
// Written at a cursor into a buffer sized once: an append per piece (a capacity check and a
// call each, and the buffer's growth) was half of what a record cost the request.
class Packer {
public:
    explicit Packer(char* at) : at_(at) {}
    void Bytes(const void* p, std::size_t n) {
        std::memcpy(at_, p, n);
        at_ += n;
    }
    void String(std::string_view s) {
        const auto n = static_cast<std::uint32_t>(s.size());
        Bytes(&n, sizeof n);
        Bytes(s.data(), s.size());
    }
    const char* at() const { return at_; }

private:
    char* at_;
};

std::size_t PackedSize(std::string_view s) { return sizeof(std::uint32_t) + s.size(); }

class Unpacker {
public:
    explicit Unpacker(std::string_view in) : in_(in) {}
    bool Bytes(void* p, std::size_t n) {
        if (!ok_ || in_.size() < n) return ok_ = false;
        std::memcpy(p, in_.data(), n);
        in_.remove_prefix(n);
        return true;
    }
    std::string_view String() {
        std::uint32_t n = 0;
        if (!Bytes(&n, sizeof n) || in_.size() < n) {
            ok_ = false;
            return {};
        }
        const std::string_view s = in_.substr(0, n);
        in_.remove_prefix(n);
        return s;
    }
    template <class S>
    void String(S& to) {
        const std::string_view s = String();
        to.assign(s.data(), s.size());
    }
    bool ok() const { return ok_; }
    bool done() const { return ok_ && in_.empty(); }

private:
    std::string_view in_;
    bool ok_ = true;
};

}  // namespace

void PackAuditEvent(const api::AuditEvent& e, SecureString& out) {
    // The response and details as text first, so that the whole size is known.
    thread_local SecureString response;
    response.clear();
    if (!e.response.is_null()) api::AppendJson(e.response, response);
    const std::string details = e.details.is_null() ? std::string() : e.details.dump();
    const std::string* const head[] = {&e.event_name, &e.request_id,    &e.account,
                                       &e.region,     &e.principal_arn, &e.access_key_id,
                                       &e.source_ip,  &e.user_agent,    &e.recipient_account};
    const std::string* const tail[] = {&e.key_material_id, &e.source_key_material_id, &e.grant_id};
    const auto kind = static_cast<std::uint8_t>(e.kind);
    const auto count = static_cast<std::uint32_t>(e.resources.size());
    std::size_t size = sizeof kind + sizeof e.time + PackedSize(e.request) + PackedSize(response) +
                       PackedSize(details) + PackedSize(e.error_code) +
                       PackedSize(e.error_message) + sizeof count;
    for (const std::string* s : head) size += PackedSize(*s);
    for (const std::string* s : tail) size += PackedSize(*s);
    for (const auto& r : e.resources) size += PackedSize(r);
    // Every byte is written below: the old contents need no clearing.
    out.resize(size);
    Packer p(out.data());
    p.Bytes(&kind, sizeof kind);
    p.Bytes(&e.time, sizeof e.time);
    for (const std::string* s : head) p.String(*s);
    p.String(e.request);
    p.String(response);
    for (const std::string* s : tail) p.String(*s);
    p.String(details);
    p.String(e.error_code);
    p.String(e.error_message);
    p.Bytes(&count, sizeof count);
    for (const auto& r : e.resources) p.String(r);
    assert(p.at() == out.data() + out.size());
}

bool UnpackAuditEvent(std::string_view packed, api::AuditEvent& e) {
    Unpacker in(packed);
    std::uint8_t kind = 0;
    in.Bytes(&kind, sizeof kind);
    e.kind = kind == 0 ? api::AuditEvent::Kind::kApiCall : api::AuditEvent::Kind::kServiceEvent;
    in.Bytes(&e.time, sizeof e.time);
    for (std::string* s : {&e.event_name, &e.request_id, &e.account, &e.region, &e.principal_arn,
                           &e.access_key_id, &e.source_ip, &e.user_agent, &e.recipient_account})
        in.String(*s);
    in.String(e.request);
    const std::string_view response = in.String();
    e.response = response.empty() ? api::Json() : api::Json::parse(response, nullptr, false);
    for (std::string* s : {&e.key_material_id, &e.source_key_material_id, &e.grant_id})
        in.String(*s);
    const std::string_view details = in.String();
    e.details = details.empty() ? nlohmann::ordered_json()
                                : nlohmann::ordered_json::parse(details, nullptr, false);
    in.String(e.error_code);
    in.String(e.error_message);
    std::uint32_t count = 0;
    in.Bytes(&count, sizeof count);
    e.resources.clear();
    for (std::uint32_t i = 0; i < count && in.ok(); ++i) e.resources.emplace_back(in.String());
    return in.done() && !e.response.is_discarded() && !e.details.is_discarded();
}

void AuditLog::Record(api::AuditFill fill) {
    if (ring_size_ == 0 && file_.empty()) return;
    // Filled and packed outside the lock into this thread's scratch event and buffer; the
    // buffer is then swapped with the ring's oldest slot, whose storage serves the next record.
    thread_local api::AuditEvent scratch;
    thread_local SecureString packed;
    fill(scratch);
    PackAuditEvent(scratch, packed);
    if (!file_.empty()) Enqueue(std::make_shared<const SecureString>(packed));
    if (ring_size_ == 0) return;
    std::lock_guard lock(ring_mu_);
    if (ring_.size() < ring_size_) {
        ring_.push_back(std::move(packed));
        packed = SecureString();  // a moved-from string is valid but unspecified
    } else {
        std::swap(ring_[next_], packed);
        next_ = (next_ + 1) % ring_size_;
    }
}

std::vector<api::AuditEvent> AuditLog::Find(const Query& query) const {
    std::vector<api::AuditEvent> out;
    std::lock_guard lock(ring_mu_);
    const std::size_t n = ring_.size();
    // Newest first: the slot before next_ once the ring is full, else the last pushed.
    const std::size_t newest = n < ring_size_ ? n : next_ + n;
    api::AuditEvent e;
    for (std::size_t i = 0; i < n && out.size() < query.limit; ++i) {
        if (!UnpackAuditEvent(ring_[(newest - 1 - i) % n], e)) continue;  // never: Pack made it
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
    std::vector<SecureString> old;  // freed outside the lock
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
        api::AuditEvent e;
        for (const auto& packed : batch) {
            if (!UnpackAuditEvent(*packed, e)) continue;  // never: Pack made it
            text += api::FormatCloudTrail(e).dump(-1, ' ', false,
                                                  nlohmann::ordered_json::error_handler_t::replace);
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
