// SecureBytes: a byte vector whose memory is wiped (SecureWipe) before it is freed.
// Used for every root key, data key and plaintext. The allocator is also used for the
// request/response body strings and the JSON string type so plaintext does not linger in freed
// heap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace kmsd {

// Wipes memory; implemented in secure_bytes.cpp with explicit_bzero so the compiler cannot drop
// it.
void SecureWipe(void* p, std::size_t n);

template <typename T>
struct CleansingAllocator {
    using value_type = T;
    CleansingAllocator() noexcept = default;
    template <typename U>
    CleansingAllocator(const CleansingAllocator<U>&) noexcept {}  // NOLINT
    T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
    void deallocate(T* p, std::size_t n) noexcept {
        SecureWipe(p, n * sizeof(T));
        std::allocator<T>().deallocate(p, n);
    }
    template <typename U>
    bool operator==(const CleansingAllocator<U>&) const noexcept {
        return true;
    }
};

using SecureBytes = std::vector<std::uint8_t, CleansingAllocator<std::uint8_t>>;
using SecureString = std::basic_string<char, std::char_traits<char>, CleansingAllocator<char>>;
using Bytes = std::vector<std::uint8_t>;
using ByteView = std::span<const std::uint8_t>;

inline ByteView View(const std::string& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline ByteView View(const SecureString& s) {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

}  // namespace kmsd
