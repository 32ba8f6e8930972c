// The time source for TTLs: monotonic milliseconds. (Named for what it is:
// "CLOCK" in this engine is the eviction policy, core/src/clock_policy.h.)

#ifndef LIBCACHE_CORE_SRC_TIME_SOURCE_H_
#define LIBCACHE_CORE_SRC_TIME_SOURCE_H_

#include <time.h>

#include <cstdint>

#include "core/cache.h"

namespace libcache::detail {

// CLOCK_MONOTONIC_COARSE costs a few ns through the vDSO (no syscall) and
// ticks at the kernel's jiffy (1-4 ms), which is the TTL resolution we
// promise. A test may install its own function (cache_options_set_clock).
class TimeSource {
 public:
  TimeSource() = default;
  TimeSource(ClockFn fn, void *ctx) : fn_(fn), ctx_(ctx) {}
  uint64_t NowMs() const {
    if (fn_ != nullptr) return fn_(ctx_);
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
  }

 private:
  ClockFn fn_ = nullptr;
  void *ctx_ = nullptr;
};

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_TIME_SOURCE_H_
