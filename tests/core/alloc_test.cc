// The engine's allocator layer (core/src/alloc.h): size classes and the
// per-thread spare entry block. Linked against the static library, whose
// internals a test may call (hidden visibility only hides them from dynamic
// export).

#include "core/src/alloc.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <malloc.h>

#include <cstring>
#include <thread>

namespace libcache::detail {
namespace {

const Allocator &A() { return GetAllocator(); }

// A request of n bytes gets a block of its size class, and the class is what
// an entry of that size is charged: for mimalloc, exactly what the block
// holds (mi_usable_size); for libc, a chunk that holds it.
TEST(Allocator, SizeClassIsWhatTheBlockHolds) {
  size_t (*mi_usable)(const void *) = nullptr;
  if (std::strcmp(A().name, "mimalloc") == 0) {
    void *lib = dlopen("libmimalloc.so.2", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    ASSERT_NE(lib, nullptr);
    mi_usable = reinterpret_cast<size_t (*)(const void *)>(dlsym(lib, "mi_usable_size"));
    ASSERT_NE(mi_usable, nullptr);
    dlclose(lib);  // drops the reference NOLOAD took; the library stays loaded
  }
  for (size_t n = 1; n <= 3 * kMaxSpareBytes; ++n) {
    void *p = A().alloc(n);
    ASSERT_NE(p, nullptr);
    const size_t cls = A().size_class(n);
    if (mi_usable != nullptr) {
      ASSERT_EQ(cls, mi_usable(p)) << "n=" << n;
      ASSERT_EQ(A().usable_size(p, n), cls) << "n=" << n;
    } else {
      ASSERT_GE(cls, n) << "n=" << n;
      ASSERT_GE(malloc_usable_size(p), n) << "n=" << n;
    }
    if (n > 1) ASSERT_GE(cls, A().size_class(n - 1)) << "n=" << n;
    A().free(p);
  }
}

// A released block comes back to the next request of its size class on the
// same thread, and only then.
TEST(Allocator, SpareBlockServesTheSameClassOnly) {
  void *p = AllocateBlock(A(), 200);
  ASSERT_NE(p, nullptr);
  ReleaseBlock(A(), p, 200);
  void *other = AllocateBlock(A(), 2000);  // another class: not the spare
  EXPECT_NE(other, p);
  void *again = AllocateBlock(A(), 200);
  EXPECT_EQ(again, p);
  void *fresh = AllocateBlock(A(), 200);  // the spare was taken
  EXPECT_NE(fresh, p);
  ReleaseBlock(A(), other, 2000);
  ReleaseBlock(A(), again, 200);              // frees the previous spare (other)
  ReleaseBlock(A(), fresh, 200);              // frees again
  EXPECT_EQ(AllocateBlock(A(), 200), fresh);  // the newest release is the spare
  A().free(fresh);
}

// A spare is handed out only for requests it can hold, whatever the class
// (with a sanitizer's malloc a block holds exactly what was asked).
TEST(Allocator, SpareHoldsTheRequest) {
  void *p = AllocateBlock(A(), 27);
  ReleaseBlock(A(), p, 27);
  void *q = AllocateBlock(A(), 30);
  if (q == p) EXPECT_GE(A().usable_size(q, 30), 30u);
  std::memset(q, 1, 30);  // ASan reports an overflow if q holds less
  A().free(q);
  if (q != p) A().free(AllocateBlock(A(), 27));  // takes and frees the spare
}

TEST(Allocator, LargeBlocksAreNotKept) {
  void *big = AllocateBlock(A(), kMaxSpareBytes + 1);
  ASSERT_NE(big, nullptr);
  std::memset(big, 1, kMaxSpareBytes + 1);
  ReleaseBlock(A(), big, kMaxSpareBytes + 1);  // freed at once (ASan checks)
  void *small = AllocateBlock(A(), 64);
  ReleaseBlock(A(), small, 64);
  void *next = AllocateBlock(A(), kMaxSpareBytes + 1);
  EXPECT_NE(next, small);
  A().free(next);
  A().free(AllocateBlock(A(), 64));  // takes and frees the spare
}

// Each thread has its own spare, freed when the thread exits (LeakSanitizer
// would report it otherwise).
TEST(Allocator, SpareIsPerThreadAndFreedAtExit) {
  void *mine = AllocateBlock(A(), 300);
  ReleaseBlock(A(), mine, 300);
  void *theirs = nullptr;
  std::thread t([&] {
    theirs = AllocateBlock(A(), 300);                 // not this thread's spare
    ReleaseBlock(A(), AllocateBlock(A(), 300), 300);  // left as the thread's spare
  });
  t.join();
  EXPECT_NE(theirs, mine);
  A().free(theirs);
  EXPECT_EQ(AllocateBlock(A(), 300), mine);
  A().free(mine);
}

}  // namespace
}  // namespace libcache::detail
