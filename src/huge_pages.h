// Transparent huge pages for a large catalog (issue 13: startup with 100,000 keys).
#pragma once

namespace kmsd {

// From now on, memory the allocator (jemalloc) maps for the calling thread's arena in steps of
// kHugeExtentBytes or more is advised for transparent huge pages (madvise MADV_HUGEPAGE, which
// the kernel's default "madvise" mode honours). main calls it before the catalog loads, so a
// large catalog (100,000 keys: 185 MB) lands mostly in 2 MB pages. jemalloc grows an arena's
// memory in steps of about 25% from 2 MB, so a small heap (a few MB when idle) stays in 4 KB
// pages: huge pages for the whole heap (jemalloc's thp:always) take idle RSS from 15 to 27 MB.
// Why: loading is mostly first touches of new memory, and in a VM each 4 KB page fault costs
// several microseconds. With 100,000 keys, startup went from 1.6-2.3 s to 1.2-1.7 s on this
// 2-core VM (interleaved runs, one core). Returns whether the hook is in place: false without
// jemalloc (sanitizer builds) or if the allocator refused. main calls it early, and each serving
// thread as it starts: keys made at runtime (a test suite's CreateKey calls) are allocated in the
// arena of the worker that served the call. Thread-safe; a second call for an arena does nothing.
bool AdviseHugePagesForLargeHeaps();

// Gives the pages the allocator holds free back to the kernel now (jemalloc would otherwise
// keep them for its decay time, and an idle server allocates nothing that would trigger it).
// main calls it once startup's temporary memory (migration, catalog load) is freed.
void ReturnFreePages();

}  // namespace kmsd
