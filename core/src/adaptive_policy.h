// The adaptive policy (PolicyKind::kAdaptive, CACHE_POLICY_ADAPTIVE): window
// TinyLFU over three CLOCK rings (core/src/window_tinylfu.h) whose window size
// follows the workload.
//
// Why: CLOCK (like LRU) keeps what was used last; on database, search and
// looping workloads what was used most often is the better bet, by 5 to 97
// points of hit ratio on the shared traces. A fixed split cannot serve both:
// a 1% window (Caffeine's default) loses 5 points to LRU on sprite and 50 on
// an LRU-friendly synthetic workload, an 80% window gives up most of the
// frequency gain. So the window's share of the shard is chosen, and re-chosen,
// by racing shadow caches.
//
// Adaptation: once the shard first evicts (its capacity C in entries is then
// known, whatever bounds it), the policy samples the reads of a slice of the
// keys (1/16, more for small shards so that each shadow has at least 64
// entries, fewer for large ones so that none has more than 1024: SampledHash
// in core/src/policy.h), which readers record in their stripe's buffer and the
// next write hands over (the read path gains one predictable branch). Four
// shadow caches, each a WindowTinyLfu of C times the sampled fraction entries
// with its own sketch, run on that slice with window shares of 1%, 10%, 30%
// and 80%. Every 10 x (shadow entries) sampled reads (about 10 x C requests),
// each shadow's score becomes half its old score plus its hits in the epoch,
// and the policy takes the window share of the best (staying put on a tie).
// The window then grows or drains lazily, at evictions. The shadows are built
// again when C moves by more than 2x.
//
// Costs: nothing on a hit beyond CLOCK's (the sampled branch). Writes: the
// sketch (4 counter updates per insert and per cleared bit), moves between
// rings, and on sampled keys the shadows' work. Memory beyond CLOCK's ring:
// two more rings (usually small), the sketch (8-16 bytes per entry: 4 rows of
// 4 four-bit counters per entry, rounded up to a power of two) and the shadows
// (about 60 bytes per shadow entry: 4 x C/16 entries, at most 4 x 1024, and
// at most 1/16 of the shard's byte bound: a small byte bound samples fewer
// keys, or gets no shadows and keeps the 1% window), all charged to the shard.
// Weaknesses: the shard's capacity in entries is learned from the first
// eviction, so the shadows wait for it; an epoch is about 10 x C requests, so a
// workload that changes faster than that is served by the last epoch's choice;
// with many small shards each shard adapts on its own slice (less data per
// decision); shards under 16 entries keep a fixed 1% window (1 entry).

#ifndef LIBCACHE_CORE_SRC_ADAPTIVE_POLICY_H_
#define LIBCACHE_CORE_SRC_ADAPTIVE_POLICY_H_

#include <atomic>
#include <cstdint>
#include <memory>

#include "core/src/entry.h"
#include "core/src/policy.h"
#include "core/src/window_tinylfu.h"

namespace libcache::detail {

// The sketch's key of an entry: the hash bits it stores.
inline uint64_t SketchKeyOf(const Entry *e) { return e->hash24(); }

// A shadow cache's entry: a key hash and its place in the rings.
struct ShadowNode {
  uint64_t hash;
  uint32_t ring_pos_segment;
  std::atomic<uint8_t> referenced;  // atomic to share WindowTinyLfu with Entry; under the lock
  uint32_t ring_pos() const { return ring_pos_segment >> 2; }
  uint32_t segment() const { return ring_pos_segment & 3; }
  void set_ring_pos(uint32_t pos) { ring_pos_segment = pos << 2 | segment(); }
};
inline uint64_t SketchKeyOf(const ShadowNode *n) { return n->hash; }

class AdaptivePolicy final : public Policy {
 public:
  static constexpr double kWindowShares[] = {0.01, 0.10, 0.30, 0.80};
  static constexpr uint32_t kShadows = sizeof kWindowShares / sizeof kWindowShares[0];
  static constexpr double kInitialShare = 0.01;
  static constexpr uint32_t kMinAdaptCapacity = 16;
  static constexpr uint32_t kSampleShift = 4;
  static constexpr uint32_t kMaxSampleShift = 12;  // SampledHash looks at 12 bits
  static constexpr uint32_t kMinShadow = 64;
  static constexpr uint32_t kMaxShadow = 1024;
  static constexpr uint32_t kEpochPerShadowEntry = 10;
  // The shadows may take at most this share of the shard's byte bound, at an
  // estimated kShadowEntryBytes per shadow entry; below kMinShadowFloor
  // entries per shadow (a small byte bound), there are none.
  static constexpr uint64_t kShadowBudgetShare = 16;
  static constexpr uint64_t kShadowEntryBytes = 64;
  static constexpr uint32_t kMinShadowFloor = 16;

  AdaptivePolicy();
  ~AdaptivePolicy() override;

  bool Init(const Allocator *alloc, uint32_t capacity, uint64_t max_entries,
            uint64_t max_bytes) override;
  bool Add(Entry *e, uint64_t) override { return core_.Add(e); }
  void Replace(const Entry *old, Entry *e) override { core_.Replace(old, e); }
  void Remove(Entry *e) override { core_.Remove(e); }
  Entry *Evict(const Entry *keep, Expiry::Check &is_expired, bool *expired) override;
  void Reset() override { core_.Reset(); }
  void ForEach(void (*fn)(void *, Entry *), void *ctx) override {
    core_.ForEach([&](Entry *e) { fn(ctx, e); });
  }
  uint64_t size() const override { return core_.size(); }
  uint64_t bytes() const override { return core_.bytes() + shadow_bytes_; }
  const char *Check() const override { return core_.Check(); }
  uint32_t sample_mask() const override { return sample_mask_; }
  void OnSampledReads(const uint64_t *hashes, uint32_t n) override;

  // Starts loading what adding this key's entry will touch (its sketch
  // block), before the shard lock is taken. Callable without the lock.
  void PrefetchForAdd(uint64_t hash) const { core_.sketch().PrefetchUnlocked(hash & Entry::kHashMask); }

  // For tests and benchmarks.
  const WindowTinyLfu<Entry> &core() const { return core_; }
  double window_share() const { return core_.window_fraction(); }
  uint32_t shadow_capacity() const { return shadow_capacity_; }
  uint64_t epochs() const { return epochs_; }
  uint64_t shadow_bytes() const;

 private:
  class Shadow;
  // (Re)builds the shadows for a shard of `capacity` entries, or drops them
  // (a shard too small, or no memory: the window share stays as it is).
  void SetUpShadows(uint64_t capacity);
  void EndEpoch();

  const Allocator *alloc_ = nullptr;
  WindowTinyLfu<Entry> core_;
  std::unique_ptr<Shadow> shadows_[kShadows];
  double scores_[kShadows] = {};
  uint32_t sample_mask_ = kNoSampling;
  uint32_t shadow_capacity_ = 0;
  uint64_t shadow_bytes_ = 0;  // shadow_bytes(), as of their last change
  uint64_t shadow_budget_ = UINT64_MAX;  // bytes the shadows may take
  uint64_t shadow_basis_ = 0;  // the shard capacity the shadows were built for
  uint64_t capacity_ = 0;      // the shard's capacity, as its last eviction saw it
  uint64_t epoch_length_ = 0;
  uint64_t epoch_reads_ = 0;
  uint64_t epochs_ = 0;
  uint64_t evictions_ = 0;
};

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_ADAPTIVE_POLICY_H_
