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
// only a few mi_* functions through pointers. If the library is absent at run
// time, or the build disabled it (sanitizer builds, where the sanitizer must
// see every allocation), or the environment variable LIBCACHE_ALLOCATOR is
// "libc" when the allocator is first used (for valgrind, and to compare),
// entries come from libc.
//
// mimalloc options: when it loads mimalloc, libcache sets
// mi_option_decommit_delay to 0, so that pages freed by evictions go back to
// the system at once instead of after a delay that steady frees keep
// extending (docs/benchmarks.md, "RSS when value sizes shift": with
// mimalloc's default, RSS held 1.6-1.9x max_bytes). Options are process-wide
// in the loaded library: a host program that itself uses libmimalloc.so.2
// shares that instance (the dynamic loader loads a soname once), so the
// option applies to its allocations too, unless the host sets
// MIMALLOC_DECOMMIT_DELAY in its environment, which libcache then leaves as
// it is.

#ifndef LIBCACHE_CORE_SRC_ALLOC_H_
#define LIBCACHE_CORE_SRC_ALLOC_H_

#include <cstddef>

namespace libcache::detail {

struct Allocator {
  void *(*alloc)(size_t);
  void (*free)(void *);
  // What block p (from alloc(n)) really holds, asked of the allocator
  // (mi_usable_size, malloc_usable_size): never less than n, and exactly n
  // where a checker's malloc gives what was asked (ASan, valgrind, which also
  // replaces mimalloc's). Reads the block's page: off the hot path.
  size_t (*usable_size)(const void *p, size_t n);
  // The size class a request of n bytes is served from, from n alone: never
  // less than what a block of alloc(n) holds (mimalloc: mi_good_size, which
  // is exactly that; libc: glibc's chunk rounding, 16-byte steps including
  // the 8-byte size word; blocks that glibc maps one by one, of 128 KiB and
  // more, hold up to a page more). This is what an entry is charged
  // (Shard::Charge): the same for an entry whenever it is computed, whatever
  // block holds it.
  size_t (*size_class)(size_t n);
  // Gives memory freed by this thread and by exited threads back to the
  // system (mimalloc: mi_collect(true); libc: malloc_trim(0)). Called after a
  // cache is cleared or closed. May be null.
  void (*collect)();
  const char *name;
};

// Resolved once, on first use; thread-safe.
const Allocator &GetAllocator();

// Entry blocks go through these two, which keep one spare block per thread:
// ReleaseBlock keeps the block it is given (freeing the previous spare), and
// AllocateBlock hands the spare back to a request of n bytes when the block
// really holds n (its usable_size, asked once, when it became the spare) and
// is no bigger than n's size class: so an entry never lands in a block
// smaller than it, and its charge (the class of its size) is never less than
// the block it got. With mimalloc, exactly when both requests are of one size
// class.
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
