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
  const char *name;
};

// Resolved once, on first use; thread-safe.
const Allocator &GetAllocator();

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_ALLOC_H_
