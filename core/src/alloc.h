// The engine's allocator: mimalloc, loaded so that it never replaces the host
// program's malloc.
//
// Why dlopen: Debian ships mimalloc only as an overriding shared object
// (libmimalloc.so.2 exports malloc/free). Linking it into libcache.so is safe
// (the executable's own dependency on libc comes first in the breadth-first
// symbol search), but a program linking the static libcache.a would then carry
// libmimalloc.so ahead of libc in its own DT_NEEDED list, and mimalloc's malloc
// would silently become the program's. Loading it with RTLD_LOCAL keeps every
// mimalloc symbol out of the global scope for both library variants; we call
// only mi_malloc/mi_free/mi_usable_size through pointers. If the library is
// absent at run time, or the build disabled it (sanitizer builds, where the
// sanitizer must see every allocation), entries come from libc.

#ifndef LIBCACHE_CORE_SRC_ALLOC_H_
#define LIBCACHE_CORE_SRC_ALLOC_H_

#include <cstddef>

namespace libcache::detail {

struct Allocator {
  void *(*alloc)(size_t);
  void (*free)(void *);
  // Bytes really reserved for block p of requested size n. mimalloc answers
  // from n alone (its size classes), without touching the block's page.
  size_t (*usable_size)(const void *p, size_t n);
  // The size class a request of n bytes is served from: two requests with the
  // same class may share a block. mimalloc: mi_good_size; libc: glibc's chunk
  // rounding (16-byte steps).
  size_t (*size_class)(size_t n);
  const char *name;
};

// Resolved once, on first use; thread-safe.
const Allocator &GetAllocator();

// Entry blocks go through these two, which keep one spare block per thread:
// ReleaseBlock keeps the block it is given (freeing the previous spare), and
// AllocateBlock hands the spare back when the size class matches.
//
// Why: a set usually evicts one entry and the next set allocates one of the
// same size. mimalloc never returns a just-freed block to the next malloc
// (frees go to a page's local or cross-thread list, and allocation comes from
// its free list until that is empty), so each new entry lands in a block last
// touched long ago, and the set pays cache misses writing it; worse after
// other threads freed this thread's blocks. The spare is the victim the
// eviction just read, so it is warm, and a set that evicts one entry calls
// neither malloc nor free. Measured with bench/peer_bench against the build
// without it, 3 interleaved rounds: write-only workloads 1.24-2.15x faster
// (median of each), 75/25 mixes 0.9-1.5x (docs/benchmarks.md has the run).
//
// The spare is bounded (blocks up to kMaxSpareBytes, one per thread) and
// freed when the thread exits. Blocks must come from a's alloc and be
// released with their requested size n.
inline constexpr size_t kMaxSpareBytes = 4096;
void *AllocateBlock(const Allocator &a, size_t n);
void ReleaseBlock(const Allocator &a, void *p, size_t n);

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_ALLOC_H_
