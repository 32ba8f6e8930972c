// Shared helpers for the C ABI tests: RAII owners, a hand-driven clock and the
// list of eviction policies.

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

// The eviction policies (cache_options_set_policy), for suites parametrized
// over both: INSTANTIATE_TEST_SUITE_P(..., ::testing::ValuesIn(kPolicies)).
inline constexpr int kPolicies[] = {CACHE_POLICY_CLOCK, CACHE_POLICY_ADAPTIVE};

// "Clock" or "Adaptive", for test names.
inline const char *PolicyName(int policy) {
  switch (policy) {
    case CACHE_POLICY_CLOCK:
      return "Clock";
    case CACHE_POLICY_ADAPTIVE:
      return "Adaptive";
    default:
      return "Unknown";
  }
}

}  // namespace libcache_test

#endif  // LIBCACHE_TESTS_CAPI_TEST_UTIL_H_
