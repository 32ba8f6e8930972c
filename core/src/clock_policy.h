// CLOCK: the default eviction policy (core/src/policy.h).
//
// One ring lists the entries in hand order; new entries join at the tail,
// just behind the hand. A write to a live key takes the old entry's ring
// place, with its bit set (a use). When a write needs room, the hand looks at
// the head: an expired entry is reclaimed first; an entry with its bit set
// has it cleared and moves to the tail (second chance); the first entry found
// with a clear bit is evicted. Each visited entry either leaves or loses its
// bit, so one eviction visits at most every entry once plus one: the worst
// case is a full pass over the shard (every entry had its bit set), under the
// writers' lock; amortized it is O(1), since each pass clears the bits it
// passes. Table positions play no part in the order, which is why this
// behaves like textbook CLOCK (and close to LRU: within about half a point on
// the shared traces) rather than like a hash-ordered sweep that would evict
// new entries that happen to land just ahead of the hand.
//
// Weakness: no frequency: scans and loops larger than the cache wash it out
// exactly as they do LRU (the adaptive policy is for those workloads).

#ifndef LIBCACHE_CORE_SRC_CLOCK_POLICY_H_
#define LIBCACHE_CORE_SRC_CLOCK_POLICY_H_

#include "core/src/entry_ring.h"
#include "core/src/policy.h"

namespace libcache::detail {

class ClockPolicy final : public Policy {
 public:
  ~ClockPolicy() override { ring_.Destroy(); }

  bool Init(const Allocator *alloc, uint32_t capacity, uint64_t, uint64_t) override {
    return ring_.Init(alloc, capacity);
  }
  bool Add(Entry *e, uint64_t) override { return ring_.PushBack(e); }
  void Replace(const Entry *old, Entry *e) override { ring_.Replace(old, e); }
  void Remove(Entry *e) override { ring_.Remove(e); }
  Entry *Evict(const Entry *keep, Expiry::Check &is_expired, bool *expired) override;
  uint32_t sample_mask() const override { return kNoSampling; }
  void Reset() override { ring_.Reset(); }
  void ForEach(void (*fn)(void *, Entry *), void *ctx) override {
    ring_.ForEach([&](Entry *e) { fn(ctx, e); });
  }
  uint64_t size() const override { return ring_.size(); }
  uint64_t bytes() const override { return ring_.bytes(); }
  const char *Check() const override {
    return ring_.PositionsConsistent() ? nullptr : "an entry's ring position does not point at it";
  }

 private:
  EntryRing ring_;
};

// Inline: the shard calls it directly (Shard::WithPolicy), not through the
// vtable, so that CLOCK's eviction costs what it did before policies had an
// interface.
inline Entry *ClockPolicy::Evict(const Entry *keep, Expiry::Check &is_expired, bool *expired) {
  for (;;) {
    Entry *e = ring_.Front();
    if (e == nullptr) return nullptr;
    if (e == keep) {  // pass over it; after one lap the others have lost their bits
      if (ring_.size() == 1) return nullptr;
      ring_.MoveFrontToBack();
      continue;
    }
    if (is_expired(e)) {
      ring_.PopFront();
      *expired = true;
      return e;
    }
    if (e->referenced.load(std::memory_order_relaxed) != 0) {
      e->referenced.store(0, std::memory_order_relaxed);
      ring_.MoveFrontToBack();
      continue;
    }
    ring_.PopFront();
    *expired = false;
    return e;
  }
}

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_CLOCK_POLICY_H_
