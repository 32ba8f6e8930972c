#include "core/src/alloc.h"

#include <dlfcn.h>
#include <malloc.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#if defined(LIBCACHE_WITH_MIMALLOC)
#include <mimalloc.h>  // for the signatures only: we never link it
#endif

namespace libcache::detail {
namespace {

#if defined(LIBCACHE_WITH_MIMALLOC)
decltype(&mi_good_size) good_size = nullptr;  // set once, before first use

// mi_good_size's answers for requests up to kClassMemoMax bytes, by 8-byte
// word count. mimalloc rounds a request up to whole words before it picks a
// size class, so requests with the same word count share a class (the
// allocator test checks every size against mi_usable_size). Every set and
// every eviction asks for a class; the call cost 10% of a set's time.
// Filled once by Resolve(), before the allocator is published.
constexpr size_t kClassMemoMax = 4096;
uint32_t class_memo[kClassMemoMax / 8 + 1];

size_t MimallocClass(size_t n) {
  return n <= kClassMemoMax ? class_memo[(n + 7) >> 3] : good_size(n);
}
#endif

// malloc_trim, one thread at a time. glibc's first malloc_trim initializes
// its allocator when nothing did yet (a sanitizer build, whose malloc is the
// sanitizer's), and that initialization is not thread-safe: two cache_clear
// calls racing there crashed in mtrim on a null arena (the ASan stress test,
// once). Clears are rare; serializing their trims costs nothing.
void TrimLibc() {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  malloc_trim(0);
}

Allocator LibcAllocator() {
  return Allocator{&std::malloc, &std::free,
                   [](const void *p, size_t) { return malloc_usable_size(const_cast<void *>(p)); },
                   // glibc: an 8-byte size word, chunks in 16-byte steps, 32 at least.
                   [](size_t n) { return n + 8 <= 32 ? size_t{32} : (n + 8 + 15) & ~size_t{15}; },
                   TrimLibc, "libc"};
}

#if defined(LIBCACHE_WITH_MIMALLOC)
template <class F>
F Symbol(void *lib, const char *name) {
  return reinterpret_cast<F>(dlsym(lib, name));
}

// Set once, before the allocator is published.
decltype(&mi_usable_size) usable_size = nullptr;
decltype(&mi_collect) collect = nullptr;

bool LoadMimalloc(Allocator *out) {
  // RTLD_LOCAL: mimalloc's exported malloc/free must not join the global scope.
  void *lib = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) return false;
  Allocator a{};
  a.alloc = Symbol<decltype(&mi_malloc)>(lib, "mi_malloc");
  a.free = Symbol<decltype(&mi_free)>(lib, "mi_free");
  usable_size = Symbol<decltype(&mi_usable_size)>(lib, "mi_usable_size");
  good_size = Symbol<decltype(&mi_good_size)>(lib, "mi_good_size");
  collect = Symbol<decltype(&mi_collect)>(lib, "mi_collect");
  const auto option_set = Symbol<decltype(&mi_option_set)>(lib, "mi_option_set");
  if (a.alloc == nullptr || a.free == nullptr || usable_size == nullptr || good_size == nullptr ||
      collect == nullptr || option_set == nullptr) {
    dlclose(lib);
    return false;
  }
  // Freed pages go back to the system at once (see alloc.h), unless the
  // environment chose a delay.
  if (std::getenv("MIMALLOC_DECOMMIT_DELAY") == nullptr) option_set(mi_option_decommit_delay, 0);
  a.usable_size = [](const void *p, size_t) { return usable_size(p); };
  a.size_class = &MimallocClass;
  a.collect = [] { collect(true); };
  a.name = "mimalloc";
  for (size_t i = 0; i <= kClassMemoMax / 8; ++i) {
    class_memo[i] = static_cast<uint32_t>(good_size(i * 8));
  }
  // Where mi_malloc really is mimalloc's, a block holds exactly its size class,
  // and the memo answers usable_size without touching the block (mi_usable_size
  // cost 28 instructions of every evicting set). A tool that replaces malloc
  // (valgrind's, under Debian's alias mi_malloc = malloc) gives exact blocks:
  // then the block's real size is asked.
  bool classes_exact = true;
  for (size_t n : {size_t{1}, size_t{24}, size_t{100}, size_t{1000}, size_t{4000}, size_t{70000}}) {
    void *p = a.alloc(n);
    if (p == nullptr) continue;
    classes_exact = classes_exact && usable_size(p) == MimallocClass(n);
    a.free(p);
  }
  if (classes_exact) a.usable_size = [](const void *, size_t n) { return MimallocClass(n); };
  *out = a;
  return true;  // the handle is kept for the life of the process on purpose
}
#endif

Allocator Resolve() {
  const char *choice = std::getenv("LIBCACHE_ALLOCATOR");
  const bool want_libc = choice != nullptr && std::strcmp(choice, "libc") == 0;
#if defined(LIBCACHE_WITH_MIMALLOC)
  Allocator a;
  if (!want_libc && LoadMimalloc(&a)) return a;
#else
  (void)want_libc;
#endif
  return LibcAllocator();
}

// One thread's spare entry block (see ReleaseBlock). Only its own thread
// touches it, so no synchronisation.
struct Spare {
  void *block = nullptr;
  size_t usable = 0;  // alloc->usable_size of the block: what it can hold
  const Allocator *alloc = nullptr;
  ~Spare() {
    if (block != nullptr) alloc->free(block);
  }
};

// initial-exec, like the whole file (CMakeLists.txt): a fixed offset from the
// thread pointer, for the variable and for the guard the compiler adds to
// register its destructor; a thread's first use registers it.
thread_local Spare spare;

}  // namespace

const Allocator &GetAllocator() {
  static const Allocator allocator = Resolve();  // thread-safe static init
  return allocator;
}

void *AllocateBlock(const Allocator &a, size_t n) {
  Spare &s = spare;
  // The spare serves n when it really holds n and is no bigger than n's class
  // (alloc.h): for mimalloc, exactly when both are of one size class.
  if (s.block != nullptr && s.alloc == &a && n <= s.usable && s.usable <= a.size_class(n)) {
    void *p = s.block;
    s.block = nullptr;
    return p;
  }
  return a.alloc(n);
}

void ReleaseBlock(const Allocator &a, void *p, size_t n) {
  if (n > kMaxSpareBytes) {
    a.free(p);
    return;
  }
  Spare &s = spare;
  if (s.block != nullptr) s.alloc->free(s.block);
  s.block = p;
  s.usable = a.usable_size(p, n);  // the block's real size, asked once
  s.alloc = &a;
}

}  // namespace libcache::detail
