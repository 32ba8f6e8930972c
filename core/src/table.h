// A shard's index: an open-addressing Robin Hood hash table of tagged entry
// pointers. Not thread-safe: the owning shard's lock guards every call.
// The layout and its costs are described in core/src/shard.h.

#ifndef LIBCACHE_CORE_SRC_TABLE_H_
#define LIBCACHE_CORE_SRC_TABLE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/src/alloc.h"
#include "core/src/entry.h"

namespace libcache::detail {

class HashTable {
 public:
  static constexpr size_t kNone = ~size_t{0};
  static constexpr uint32_t kMinCapacity = 16;

  // One slot, 64 bits; 0 is empty. Entries are 16-byte aligned user-space
  // pointers below 2^48, so bits 4..47 suffice to store them.
  //   63      56 55          44 43                                  0
  //   +---------+--------------+-------------------------------------+
  //   |  tag:8  |  distance:12 |         entry pointer >> 4          |
  //   +---------+--------------+-------------------------------------+
  // distance: how far the slot is from the key's home slot (Robin Hood).
  // tag:      hash bits 32..39, so most mismatches never touch the entry.
  static constexpr int kDistShift = 44;
  static constexpr int kTagShift = 56;
  static constexpr uint64_t kDistOne = uint64_t{1} << kDistShift;
  static constexpr uint32_t kMaxDist = 0xFFF;

  // Can this pointer be stored in a slot? (Always, on x86-64 and AArch64
  // Linux with mimalloc or glibc; checked anyway before insertion.)
  static bool Encodable(const Entry *e) {
    auto p = reinterpret_cast<uintptr_t>(e);
    return (p & 15) == 0 && (p >> 48) == 0;
  }

  HashTable() = default;
  HashTable(const HashTable &) = delete;
  HashTable &operator=(const HashTable &) = delete;

  // capacity: a power of two >= kMinCapacity. False when out of memory.
  bool Init(const Allocator &alloc, uint32_t capacity);
  void Destroy(const Allocator &alloc);

  // The slot holding the entry whose key equals key, or kNone.
  size_t Find(std::string_view key, uint64_t hash) const { return FindInline(key, hash); }
  // The same, always inlined: the writers' lookup (Shard::LookupLocked), where
  // GCC otherwise calls an out-of-line copy (26 more instructions per set,
  // bench/opcount.sh); the readers' stays as GCC chooses (forcing it there
  // cost the hit path 4).
  __attribute__((always_inline)) size_t FindInline(std::string_view key, uint64_t hash) const {
    const uint64_t tag = (hash >> 32) & 0xFF;
    size_t i = hash & mask_;
    for (uint64_t d = 0;; i = (i + 1) & mask_, ++d) {
      const uint64_t s = slots_[i];
      if (s == 0 || Dist(s) < d) return kNone;
      if ((s >> kTagShift) == tag) {
        const Entry *e = EntryOf(s);
        // The value follows the key: start its lines while the key compares.
        __builtin_prefetch(reinterpret_cast<const char *>(e) + 64);
        if (e->KeyEquals(key)) return i;
      }
    }
  }
  // The slot holding exactly this entry, found from the hash bits it stores
  // (its key is hashed with seed only in a table too large for them).
  // REQUIRES: e is in the table.
  size_t FindEntry(const Entry *e, uint64_t seed) const;
  Entry *At(size_t i) const { return EntryOf(slots_[i]); }

  // Starts loading the key's home slot into cache; callable without the lock
  // (it reads only the prefetch hints, and a prefetch never faults, even on a
  // stale array).
  void PrefetchHome(uint64_t hash) const {
    const uint64_t *slots = hint_slots_.load(std::memory_order_relaxed);
    const uint32_t mask = hint_mask_.load(std::memory_order_relaxed);
    __builtin_prefetch(slots + (hash & mask));
  }

  // Inserts an entry whose key is absent. False, with the table unchanged,
  // when a probe distance would overflow (the caller grows and retries).
  // REQUIRES: !NeedsGrow(), Encodable(e).
  bool Insert(Entry *e, uint64_t hash);
  // Points slot i at e, an entry with the same key (so the same hash).
  // REQUIRES: Encodable(e).
  void ReplaceAt(size_t i, const Entry *e) {
    slots_[i] = (slots_[i] & ~(kDistOne - 1)) | (reinterpret_cast<uintptr_t>(e) >> 4);
  }
  // Removes slot i by shifting its successors back (no tombstones).
  void EraseAt(size_t i);

  bool NeedsGrow() const { return size_ + 1 > grow_at_; }
  // Doubles the capacity and moves every entry, from the hash bits entries
  // and slots store (keys hashed with seed only past 2^24 slots). False when
  // out of memory (unchanged).
  bool Grow(const Allocator &alloc, uint64_t seed);
  // Empties the table without touching the entries.
  void Reset();

  uint32_t size() const { return size_; }
  uint32_t capacity() const { return mask_ + 1; }
  uint64_t bytes() const { return uint64_t{capacity()} * sizeof(uint64_t); }
  // Calls fn(Entry*) for every entry (order unspecified).
  template <typename Fn>
  void ForEach(Fn fn) const {
    for (uint32_t i = 0; i <= mask_; ++i)
      if (slots_[i] != 0) fn(EntryOf(slots_[i]));
  }

 private:
  static uint64_t Dist(uint64_t s) { return (s >> kDistShift) & kMaxDist; }
  static Entry *EntryOf(uint64_t s) { return reinterpret_cast<Entry *>((s & (kDistOne - 1)) << 4); }
  // The hash of a slot's entry as far as a table of `mask` needs it: the home
  // bits, from the entry when it stores enough of them, and the tag.
  static uint64_t SlotHash(uint64_t s, uint32_t mask, uint64_t seed) {
    const Entry *e = EntryOf(s);
    if (mask > Entry::kHashMask) return HashKeyWithSeed(e->key(), seed);
    return e->hash24() | ((s >> kTagShift) << 32);
  }
  static uint64_t HashKeyWithSeed(std::string_view key, uint64_t seed);
  static uint64_t MakeSlot(const Entry *e, uint64_t dist, uint64_t hash) {
    return (((hash >> 32) & 0xFF) << kTagShift) | (dist << kDistShift) |
           (reinterpret_cast<uintptr_t>(e) >> 4);
  }
  void PublishHints() {
    hint_slots_.store(slots_, std::memory_order_relaxed);
    hint_mask_.store(mask_, std::memory_order_relaxed);
  }
  // Inserts into a table of the given storage; false on distance overflow.
  static bool InsertInto(uint64_t *slots, uint32_t mask, const Entry *e, uint64_t hash);

  // 32 bytes, so that a shard's lock, hit counters and table header share one
  // cache line (see Shard).
  uint64_t *slots_ = nullptr;
  uint32_t mask_ = 0;
  uint32_t size_ = 0;
  uint32_t grow_at_ = 0;  // size bound: 3/4 of capacity
  // Copies of slots_ and mask_ for PrefetchHome, read without the lock.
  // relaxed: a stale or mismatched pair only makes a useless prefetch.
  std::atomic<uint32_t> hint_mask_{0};
  std::atomic<const uint64_t *> hint_slots_{nullptr};
};

static_assert(sizeof(HashTable) == 32, "a shard keeps its hot fields in one cache line");

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_TABLE_H_
