// Shared helpers for the C ABI tests: RAII owners and a hand-driven clock.

#ifndef LIBCACHE_TESTS_CAPI_TEST_UTIL_H_
#define LIBCACHE_TESTS_CAPI_TEST_UTIL_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "libcache/cache.h"
#include "libcache/cache_experimental.h"

namespace libcache_test {

struct CacheCloser {
  void operator()(cache_t *c) const { cache_close(c); }
};
using CachePtr = std::unique_ptr<cache_t, CacheCloser>;

struct OptionsFreer {
  void operator()(cache_options_t *o) const { cache_options_free(o); }
};
using OptionsPtr = std::unique_ptr<cache_options_t, OptionsFreer>;

// A clock the test advances by hand (cache_options_set_clock).
struct FakeClock {
  std::atomic<uint64_t> now{1000};
  static uint64_t Read(void *ctx) {
    return static_cast<FakeClock *>(ctx)->now.load(std::memory_order_relaxed);
  }
  void Advance(uint64_t ms) { now.fetch_add(ms, std::memory_order_relaxed); }
};

}  // namespace libcache_test

#endif  // LIBCACHE_TESTS_CAPI_TEST_UTIL_H_
