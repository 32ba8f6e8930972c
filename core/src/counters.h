// A shard's counters (cache_stats): reads count in the reader's own stripe of
// the shard lock, so that counting shares no written cache line between
// readers; everything else counts under the whole lock. Shard::AddStats sums
// them under the whole lock.

#ifndef LIBCACHE_CORE_SRC_COUNTERS_H_
#define LIBCACHE_CORE_SRC_COUNTERS_H_

#include <cstdint>

namespace libcache::detail {

// Per reader stripe (core/src/stripe_lock.h), written with that stripe held.
struct ReadCounters {
  uint64_t hits = 0;
  uint64_t misses = 0;
};

// What a reader stripe holds: its counters and the hashes of the sampled
// reads it saw since the last write (core/src/policy.h, "Sampled reads").
struct StripeData {
  static constexpr uint32_t kSamples = 14;
  ReadCounters counts;
  uint32_t nsamples = 0;
  uint64_t samples[kSamples];
  // Out of line and cold: the read path only tests whether to call it.
  __attribute__((noinline, cold)) void Sample(uint64_t hash) {
    if (nsamples < kSamples) samples[nsamples++] = hash;
  }
};

// Per shard, written with the whole shard lock held.
struct WriteCounters {
  uint64_t sets = 0;
  uint64_t deletes = 0;
  uint64_t evictions = 0;
  uint64_t expirations = 0;
};

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_COUNTERS_H_
