#include "core/src/alloc.h"

#include <dlfcn.h>
#include <malloc.h>

#include <cstdlib>

#if defined(LIBCACHE_WITH_MIMALLOC)
#include <mimalloc.h>  // for the signatures only: we never link it
#endif

namespace libcache::detail {
namespace {

#if defined(LIBCACHE_WITH_MIMALLOC)
decltype(&mi_good_size) good_size = nullptr;  // set once, before first use
#endif

Allocator LibcAllocator() {
  return Allocator{&std::malloc, &std::free,
                   [](const void *p, size_t) { return malloc_usable_size(const_cast<void *>(p)); },
                   "libc"};
}

Allocator Resolve() {
#if defined(LIBCACHE_WITH_MIMALLOC)
  // RTLD_LOCAL: mimalloc's exported malloc/free must not join the global scope.
  void *lib = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
  if (lib != nullptr) {
    Allocator a{};
    a.alloc = reinterpret_cast<decltype(&mi_malloc)>(dlsym(lib, "mi_malloc"));
    a.free = reinterpret_cast<decltype(&mi_free)>(dlsym(lib, "mi_free"));
    good_size = reinterpret_cast<decltype(&mi_good_size)>(dlsym(lib, "mi_good_size"));
    a.usable_size = [](const void *, size_t n) { return good_size(n); };
    a.name = "mimalloc";
    if (a.alloc != nullptr && a.free != nullptr && good_size != nullptr) {
      return a;  // the handle is kept for the life of the process on purpose
    }
    dlclose(lib);
  }
#endif
  return LibcAllocator();
}

}  // namespace

const Allocator &GetAllocator() {
  static const Allocator allocator = Resolve();  // thread-safe static init
  return allocator;
}

}  // namespace libcache::detail
