#include "common/metrics.h"

#include <sys/mman.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

namespace kmsd::metrics {

ZeroedBlock::ZeroedBlock(std::size_t bytes) : bytes_(bytes), mapped_(bytes >= 64 * 1024) {
    if (mapped_) {
        data_ = ::mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (data_ == MAP_FAILED) throw std::bad_alloc();
    } else {
        // Shards are cache-line aligned; aligned_alloc wants a multiple of the alignment.
        data_ = std::aligned_alloc(64, (bytes_ + 63) / 64 * 64);
        if (data_ == nullptr) throw std::bad_alloc();
        std::memset(data_, 0, bytes_);
    }
}

ZeroedBlock::~ZeroedBlock() {
    if (mapped_)
        ::munmap(data_, bytes_);
    else
        std::free(data_);
}

std::size_t ThisShard() {
    static std::atomic<std::size_t> next{0};
    thread_local const std::size_t shard = next.fetch_add(1, std::memory_order_relaxed) % kShards;
    return shard;
}

namespace {

void AppendNumber(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
    } else if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
    } else {
        // Shortest %g form, as Prometheus' own clients write bounds ("0.0001", "5e-05").
        char buf[32];
        auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general);
        out.append(buf, ec == std::errc() ? end : buf);
    }
}

void AppendNumber(std::string& out, std::uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, ec == std::errc() ? end : buf);
}

template <class T>
void AppendSample(std::string& out, std::string_view name, std::string_view labels, T value) {
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    AppendNumber(out, value);
    out += '\n';
}

}  // namespace

std::string Label(std::string_view name, std::string_view value) {
    std::string out(name);
    out += "=\"";
    for (char c : value) {
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    out += '"';
    return out;
}

void TextWriter::Family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
}

void TextWriter::Sample(std::string_view name, std::string_view labels, double value) {
    AppendSample(out_, name, labels, value);
}

void TextWriter::Sample(std::string_view name, std::string_view labels, std::uint64_t value) {
    AppendSample(out_, name, labels, value);
}

void TextWriter::Histogram(std::string_view name, const std::string& labels,
                           const std::array<std::uint64_t, kHistogramSlots>& slots) {
    const std::string bucket = std::string(name) + "_bucket";
    const std::string sep = labels.empty() ? "" : labels + ",";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < kLatencyBounds.size(); ++i) {
        cumulative += slots[i];
        std::string le;
        AppendNumber(le, kLatencyBounds[i]);
        AppendSample(out_, bucket, sep + Label("le", le), cumulative);
    }
    cumulative += slots[kLatencyBounds.size()];
    AppendSample(out_, bucket, sep + Label("le", "+Inf"), cumulative);
    AppendSample(out_, std::string(name) + "_sum", labels,
                 static_cast<double>(slots[kLatencyBounds.size() + 1]) / 1e9);
    AppendSample(out_, std::string(name) + "_count", labels, cumulative);
}

}  // namespace kmsd::metrics
