// Out of memory: every allocation that Cache::Open, a write and table or ring
// growth make is failed in turn, and each must end in kNoMem (or, for a write,
// kTooLarge/kOk where no allocation was needed), with nothing leaked, no crash,
// and the cache as it was. Linked against the static library: the engine's
// blocks come from a counting allocator given through Options::allocator, and
// everything else (shard arrays, lock stripes, the fork registry) from the
// global operator new, replaced below with one that fails on demand.

#include <gtest/gtest.h>
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "core/cache.h"
#include "core/src/alloc.h"

namespace {

// One countdown for both allocators: the allocation that brings it to zero
// fails; -1 disarms. Only the armed thread's allocations count, so gtest's own
// are never failed.
thread_local long countdown = -1;
thread_local long allocations = 0;  // armed allocations made, failed or not

bool ShouldFail() {
  if (countdown < 0) return false;
  ++allocations;
  return countdown-- == 0;
}

std::atomic<long> live_blocks{0};

void *CountingAlloc(size_t n) {
  if (ShouldFail()) return nullptr;
  void *p = std::malloc(n);
  if (p != nullptr) live_blocks.fetch_add(1);
  return p;
}
void CountingFree(void *p) {
  if (p == nullptr) return;
  live_blocks.fetch_sub(1);
  std::free(p);
}

const libcache::detail::Allocator &FailingAllocator() {
  static const libcache::detail::Allocator a = [] {
    libcache::detail::Allocator x{};
    x.alloc = &CountingAlloc;
    x.free = &CountingFree;
    x.usable_size = [](const void *p, size_t) { return malloc_usable_size(const_cast<void *>(p)); };
    x.size_class = [](size_t n) { return n + 8 <= 32 ? size_t{32} : (n + 8 + 15) & ~size_t{15}; };
    x.name = "failing";
    return x;
  }();
  return a;
}

// Arms the countdown for one scope.
struct FailAt {
  explicit FailAt(long n) {
    allocations = 0;
    countdown = n;
  }
  ~FailAt() { countdown = -1; }
};

}  // namespace

// The replaced global allocation functions (every form routes here).
void *operator new(size_t n) {
  if (ShouldFail()) throw std::bad_alloc();
  if (void *p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void *operator new(size_t n, const std::nothrow_t &) noexcept {
  if (ShouldFail()) return nullptr;
  return std::malloc(n == 0 ? 1 : n);
}
void *operator new(size_t n, std::align_val_t al) {
  if (ShouldFail()) throw std::bad_alloc();
  void *p = nullptr;
  if (posix_memalign(&p, static_cast<size_t>(al), n == 0 ? 1 : n) != 0) throw std::bad_alloc();
  return p;
}
void *operator new(size_t n, std::align_val_t al, const std::nothrow_t &) noexcept {
  if (ShouldFail()) return nullptr;
  void *p = nullptr;
  return posix_memalign(&p, static_cast<size_t>(al), n == 0 ? 1 : n) == 0 ? p : nullptr;
}
void *operator new[](size_t n) { return operator new(n); }
void *operator new[](size_t n, const std::nothrow_t &t) noexcept { return operator new(n, t); }
void *operator new[](size_t n, std::align_val_t al) { return operator new(n, al); }
void *operator new[](size_t n, std::align_val_t al, const std::nothrow_t &t) noexcept {
  return operator new(n, al, t);
}
void operator delete(void *p) noexcept { std::free(p); }
void operator delete(void *p, size_t) noexcept { std::free(p); }
void operator delete(void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void *p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void *p) noexcept { std::free(p); }
void operator delete[](void *p, size_t) noexcept { std::free(p); }
void operator delete[](void *p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void *p, size_t, std::align_val_t) noexcept { std::free(p); }

namespace libcache {
namespace {

// Every test runs with each eviction policy: the adaptive one allocates more
// (its rings, sketch and shadows), and each of those may fail too.
class OutOfMemory : public testing::TestWithParam<PolicyKind> {
 protected:
  Options SmallOptions(uint32_t shards) const {
    Options o;
    o.max_bytes = 256 << 10;
    o.shards = shards;
    o.allocator = &FailingAllocator();
    o.policy = GetParam();
    return o;
  }
};

std::string Get(Cache &c, const std::string &k) {
  char buf[256];
  size_t n = 0;
  if (c.Get(k, buf, sizeof buf, &n) != Status::kOk) return "<absent>";
  return std::string(buf, n);
}

TEST_P(OutOfMemory, OpenFailsCleanlyAtEveryAllocation) {
  for (uint32_t shards : {1u, 4u, 16u}) {
    long n = 0;
    for (;; ++n) {
      std::unique_ptr<Cache> cache;
      Status st;
      {
        FailAt fail(n);
        st = Cache::Open(SmallOptions(shards), &cache);
      }
      if (st == Status::kOk) {
        ASSERT_NE(cache, nullptr);
        EXPECT_EQ(cache->CheckInvariants(), nullptr);
        break;
      }
      ASSERT_EQ(st, Status::kNoMem) << "allocation " << n << ", " << shards << " shards";
      EXPECT_EQ(cache, nullptr);
      EXPECT_EQ(live_blocks.load(), 0) << "leaked after failing allocation " << n;
    }
    // Each shard allocates its lock stripes, table and ring: the loop must
    // have met all of them.
    EXPECT_GE(n, 2 + 3 * long{shards}) << shards << " shards";
  }
  EXPECT_EQ(live_blocks.load(), 0);
}

// Writes that grow the table and the ring, each failed at every allocation it
// makes until it succeeds: a failure is kNoMem and changes nothing.
TEST_P(OutOfMemory, WritesFailCleanlyAtEveryAllocation) {
  std::unique_ptr<Cache> cache;
  ASSERT_EQ(Cache::Open(SmallOptions(1), &cache), Status::kOk);
  long failures = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "key-" + std::to_string(i);
    const std::string value(static_cast<size_t>(20 + i % 50), static_cast<char>('a' + i % 26));
    for (long n = 0;; ++n) {
      const Stats before = cache->GetStats();
      Status st;
      {
        FailAt fail(n);
        st = cache->Write(key, value, kTtlNone, WriteMode::kSet);
      }
      ASSERT_EQ(cache->CheckInvariants(), nullptr) << key << ", allocation " << n;
      if (st == Status::kOk) break;
      ASSERT_EQ(st, Status::kNoMem) << key << ", allocation " << n;
      ++failures;
      const Stats after = cache->GetStats();
      EXPECT_EQ(after.entries, before.entries) << key;
      EXPECT_EQ(after.sets, before.sets) << key;
      EXPECT_EQ(Get(*cache, key), "<absent>") << key;
      if (i > 0) EXPECT_NE(Get(*cache, "key-" + std::to_string(i - 1)), "<absent>");
    }
    ASSERT_EQ(Get(*cache, key), value);
  }
  // Every write allocates its entry; growth adds more: 200 writes, more failures.
  EXPECT_GT(failures, 200);
  // An update of a live key, failed: the old value stays.
  {
    FailAt fail(0);
    EXPECT_EQ(cache->Write("key-199", "new", kTtlNone, WriteMode::kSet), Status::kNoMem);
  }
  EXPECT_NE(Get(*cache, "key-199"), "new");
  cache.reset();
  EXPECT_LE(live_blocks.load(), 1) << "at most the thread's spare block stays";
}

// With eviction running (the bound is full), failed writes still evict
// nothing they should not and leave every invariant intact.
TEST_P(OutOfMemory, FullCacheWritesFailCleanly) {
  std::unique_ptr<Cache> cache;
  Options o = SmallOptions(4);
  o.max_bytes = 64 << 10;
  ASSERT_EQ(Cache::Open(o, &cache), Status::kOk);
  const std::string value(300, 'v');
  for (int i = 0; i < 2000; ++i) {
    const std::string key = "k" + std::to_string(i);
    Status st;
    {
      FailAt fail(i % 3);  // fail the first, second or third allocation
      st = cache->Write(key, value, kTtlNone, WriteMode::kSet);
    }
    ASSERT_TRUE(st == Status::kOk || st == Status::kNoMem) << static_cast<int>(st);
    ASSERT_EQ(cache->CheckInvariants(), nullptr) << key;
    ASSERT_LE(cache->GetStats().bytes, o.max_bytes);
  }
  EXPECT_GT(cache->GetStats().evictions, 0u);
}

INSTANTIATE_TEST_SUITE_P(Policies, OutOfMemory,
                         testing::Values(PolicyKind::kClock, PolicyKind::kAdaptive),
                         [](const testing::TestParamInfo<PolicyKind> &p) {
                           return std::string(p.param == PolicyKind::kClock ? "Clock" : "Adaptive");
                         });

}  // namespace
}  // namespace libcache
