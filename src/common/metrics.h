// Counters and histograms for GET /_kmsd/metrics, cheap enough for the request path: each thread
// adds to its own shard (relaxed atomics on cache lines no other thread writes, in the common
// case), and a scrape sums the shards. A scrape may see one request's count without its latency
// yet; Prometheus tolerates that, and nothing here is used for decisions.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace kmsd::metrics {

inline constexpr std::size_t kShards = 8;

// This thread's shard: threads take shards in turn, so the I/O workers (started together) get
// different ones.
std::size_t ThisShard();

// Zero-filled memory for counters. A block of 64 KB or more comes straight from the kernel
// (mmap), whose pages cost nothing until a counter on them is first added to: most of a
// per-operation, per-error table is never used, and an idle server should not hold it.
class ZeroedBlock {
public:
    explicit ZeroedBlock(std::size_t bytes);
    ~ZeroedBlock();
    ZeroedBlock(const ZeroedBlock&) = delete;
    ZeroedBlock& operator=(const ZeroedBlock&) = delete;
    void* data() const { return data_; }

private:
    void* data_;
    std::size_t bytes_;
    bool mapped_;
};

// N counters, summed over the shards when read. Plain integers in zeroed memory, read and added
// to as atomics (std::atomic_ref), so nothing has to write the zeros.
template <std::size_t N>
class Counters {
public:
    void Add(std::size_t i, std::uint64_t n = 1) {
        std::atomic_ref(shards_[ThisShard()].v[i]).fetch_add(n, std::memory_order_relaxed);
    }
    std::uint64_t Sum(std::size_t i) const {
        std::uint64_t total = 0;
        for (std::size_t s = 0; s < kShards; ++s)
            total += std::atomic_ref(shards_[s].v[i]).load(std::memory_order_relaxed);
        return total;
    }
    static constexpr std::size_t size() { return N; }

private:
    struct alignas(64) Shard {
        std::uint64_t v[N];
    };
    static_assert(std::atomic_ref<std::uint64_t>::required_alignment <= alignof(std::uint64_t));
    ZeroedBlock block_{sizeof(Shard) * kShards};
    Shard* const shards_ = static_cast<Shard*>(block_.data());
};

// Upper bounds (seconds) of the latency buckets: 50 µs to 10 s, the range between an in-memory
// Encrypt and an RSA-4096 key generation on a slow machine.
inline constexpr std::array<double, 16> kLatencyBounds = {
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025,   0.05,   0.1,     0.25,   0.5,   1.0,    2.5,   10.0};

// Where each histogram keeps its numbers inside a Counters block: one per bucket (not
// cumulative; the text format adds them up), then one for beyond the last bound, then the sum
// of the observations in nanoseconds. The count is the buckets' total, so +Inf always equals it.
inline constexpr std::size_t kHistogramSlots = kLatencyBounds.size() + 2;

// Records one observation of `seconds` into the histogram at `base` of `counters`.
template <std::size_t N>
void Observe(Counters<N>& counters, std::size_t base, double seconds) {
    std::size_t bucket = 0;
    while (bucket < kLatencyBounds.size() && seconds > kLatencyBounds[bucket]) ++bucket;
    counters.Add(base + bucket);
    counters.Add(base + kLatencyBounds.size() + 1,
                 seconds > 0 ? static_cast<std::uint64_t>(seconds * 1e9) : 0);
}

// One histogram of its own (SQLite write latency, say).
class Histogram {
public:
    void Observe(double seconds) { metrics::Observe(c_, 0, seconds); }
    const Counters<kHistogramSlots>& counters() const { return c_; }

private:
    Counters<kHistogramSlots> c_;
};

// Prometheus text exposition format 0.0.4.
class TextWriter {
public:
    // "# HELP" and "# TYPE" lines; once per metric name, before its samples.
    void Family(std::string_view name, std::string_view type, std::string_view help);
    // A sample: `labels` is the inside of {} (already escaped with Label), or empty.
    void Sample(std::string_view name, std::string_view labels, double value);
    void Sample(std::string_view name, std::string_view labels, std::uint64_t value);
    // name_bucket{labels,le="..."}, name_sum and name_count of the histogram at `base`.
    template <std::size_t N>
    void WriteHistogram(std::string_view name, const std::string& labels, const Counters<N>& c,
                        std::size_t base);
    std::string& text() { return out_; }

private:
    void Histogram(std::string_view name, const std::string& labels,
                   const std::array<std::uint64_t, kHistogramSlots>& slots);
    std::string out_;
};

// name="value", the value escaped as the format requires (backslash, quote, newline).
std::string Label(std::string_view name, std::string_view value);

template <std::size_t N>
void TextWriter::WriteHistogram(std::string_view name, const std::string& labels,
                                const Counters<N>& c, std::size_t base) {
    std::array<std::uint64_t, kHistogramSlots> slots{};
    for (std::size_t i = 0; i < kHistogramSlots; ++i) slots[i] = c.Sum(base + i);
    Histogram(name, labels, slots);
}

}  // namespace kmsd::metrics
