// Eviction policies: which entry leaves when a shard needs room.
//
// Every indexed entry of a shard is in exactly one ring of the shard's policy
// (core/src/entry_ring.h; its segment names which). The shard calls the policy
// under its whole lock for every change of the index (Add, Replace, Remove,
// Reset) and to choose what leaves (Evict). Readers never call it: a hit only
// sets the entry's reference bit, a relaxed store under the reader's stripe,
// which the policy's hands read and clear. So both policies have the same
// read path, and the cost of a policy is paid by writes.
//
//   ClockPolicy     core/src/clock_policy.h     CLOCK: one ring, second chance.
//   AdaptivePolicy  core/src/adaptive_policy.h  window TinyLFU of three CLOCK
//                                               rings, frequency-aware, tuning
//                                               its window to the workload.
//
// The policy's arrays and state are charged to the shard (bytes()), so the
// byte bound includes them.

#ifndef LIBCACHE_CORE_SRC_POLICY_H_
#define LIBCACHE_CORE_SRC_POLICY_H_

#include <cstdint>
#include <memory>

#include "core/cache.h"
#include "core/src/alloc.h"
#include "core/src/entry.h"
#include "core/src/expiry.h"

namespace libcache::detail {

class Policy {
 public:
  virtual ~Policy() = default;

  // capacity: the initial ring capacity (a power of two); max_entries and
  // max_bytes: the shard's bounds (UINT64_MAX when unbounded). False when out
  // of memory.
  virtual bool Init(const Allocator *alloc, uint32_t capacity, uint64_t max_entries,
                    uint64_t max_bytes) = 0;
  // A newly indexed entry (its key was absent; hash is the key's). False
  // when out of memory, with nothing changed.
  virtual bool Add(Entry *e, uint64_t hash) = 0;
  // e (same key) takes old's place and segment: a write to a live key or an
  // upgrade. The shard sets e's reference bit as it wants it.
  virtual void Replace(const Entry *old, Entry *e) = 0;
  // e leaves the index other than by Evict (delete, take, expiry, clear of a
  // clean copy).
  virtual void Remove(Entry *e) = 0;
  // The next entry to leave, never `keep`, already taken out of the policy:
  // an expired entry a hand met (*expired = true), else the policy's victim.
  // nullptr when no other entry is left.
  virtual Entry *Evict(const Entry *keep, Expiry::Check &is_expired, bool *expired) = 0;
  // Forgets every entry (the caller owns them).
  virtual void Reset() = 0;
  // Calls fn(ctx, e) for every entry; fn may Remove(e).
  virtual void ForEach(void (*fn)(void *ctx, Entry *e), void *ctx) = 0;
  // Entries held.
  virtual uint64_t size() const = 0;
  // Bytes the policy holds (rings, sketch, shadows), charged to the shard.
  virtual uint64_t bytes() const = 0;
  // Debug: nullptr when the policy's own invariants hold, else the first
  // broken one.
  virtual const char *Check() const = 0;

  // Sampled reads. A policy that wants to see a slice of the reads (the
  // adaptive policy's shadows do) returns its sample mask here: reads of keys
  // with SampledHash(hash, mask) are recorded by the reader, under its own
  // stripe, in a small per-stripe buffer (lossy when full), and handed to
  // OnSampledReads by the next write, under the whole lock. kNoSampling: none
  // (CLOCK). Read by the shard after every call that may change it (Init,
  // OnSampledReads, Add).
  static constexpr uint32_t kNoSampling = ~uint32_t{0};
  virtual uint32_t sample_mask() const { return kNoSampling; }
  virtual void OnSampledReads(const uint64_t *hashes, uint32_t n) {
    (void)hashes;
    (void)n;
  }
};

// Whether a read of this key hash is in the sampled slice: hash bits 52..63,
// above the bits the table (0..39) and the shard choice (40..49) use.
inline bool SampledHash(uint64_t hash, uint32_t mask) { return ((hash >> 52) & mask) == 0; }

// A policy of this kind, or nullptr when out of memory.
std::unique_ptr<Policy> MakePolicy(PolicyKind kind);

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_POLICY_H_
