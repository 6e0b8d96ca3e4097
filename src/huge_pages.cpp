#include "src/huge_pages.h"

#if defined(KMSD_WITH_JEMALLOC)
#include <jemalloc/jemalloc.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>
#endif

namespace kmsd {

#if defined(KMSD_WITH_JEMALLOC)
namespace {

constexpr std::size_t kHugeExtentBytes = std::size_t{8} << 20;

// jemalloc's own hooks (the same for every arena), and ours: theirs with the allocation wrapped.
// Under mu, with the arenas that have ours.
std::mutex mu;
extent_hooks_t* default_hooks = nullptr;
extent_hooks_t hooks;
std::vector<unsigned> hooked;

void* AllocExtent(extent_hooks_t* /*ours*/, void* new_addr, std::size_t size, std::size_t alignment,
                  bool* zero, bool* commit, unsigned arena) {
    void* p = default_hooks->alloc(default_hooks, new_addr, size, alignment, zero, commit, arena);
    // Advice only: a kernel without THP, or with it off, ignores it (and a failure changes
    // nothing), so the result is not checked.
    if (p != nullptr && size >= kHugeExtentBytes) ::madvise(p, size, MADV_HUGEPAGE);
    return p;
}

}  // namespace

bool AdviseHugePagesForLargeHeaps() {
    // Only the calling thread's arena: setting hooks on every arena would initialize the ones no
    // thread uses yet (+0.6 MB when idle).
    unsigned arena = 0;
    std::size_t size = sizeof arena;
    if (mallctl("thread.arena", &arena, &size, nullptr, 0) != 0) return false;
    std::lock_guard lock(mu);
    if (std::find(hooked.begin(), hooked.end(), arena) != hooked.end()) return true;
    const std::string name = "arena." + std::to_string(arena) + ".extent_hooks";
    extent_hooks_t* current = nullptr;
    size = sizeof current;
    if (mallctl(name.c_str(), &current, &size, nullptr, 0) != 0 || current == nullptr) return false;
    if (default_hooks == nullptr) {
        default_hooks = current;
        hooks = *current;
        hooks.alloc = &AllocExtent;
    }
    extent_hooks_t* ours = &hooks;
    if (current != ours && mallctl(name.c_str(), nullptr, nullptr, &ours, sizeof ours) != 0)
        return false;
    hooked.push_back(arena);
    return true;
}

void ReturnFreePages() {
    // MALLCTL_ARENAS_ALL: every arena.
    const std::string name = "arena." + std::to_string(MALLCTL_ARENAS_ALL) + ".purge";
    (void)mallctl(name.c_str(), nullptr, nullptr, nullptr, 0);
}

#else

bool AdviseHugePagesForLargeHeaps() { return false; }
void ReturnFreePages() {}

#endif

}  // namespace kmsd
