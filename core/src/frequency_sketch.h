// The adaptive policy's frequency sketch: how often a key was used lately,
// approximately, in 4 bits (core/src/adaptive_policy.h).
//
// A count-min sketch: 4 rows of 4-bit counters, `width` counters per row (a
// power of two, at least 4 per entry the cache holds: fewer made gli:500 lose
// 9 points to collisions in bench/policy_sim.cc), two counters per byte.
// Blocked, as Caffeine's: a key's 4 counters lie in one 64-byte block (one
// 32-counter quarter of it per row), so counting or estimating a key costs one
// cache line instead of four; the block is chosen by one hash of the key, the
// counter in each quarter by other bits of another.
// Increment is the conservative update (only the row counters equal to the
// minimum grow, up to 15); Estimate is the minimum over the rows. Aging: after
// 10 increments per entry of capacity, every counter halves, so that
// frequencies follow a workload that changes. Not thread-safe: the shard's
// whole lock guards it (it is written only by writes, never by reads).

#ifndef LIBCACHE_CORE_SRC_FREQUENCY_SKETCH_H_
#define LIBCACHE_CORE_SRC_FREQUENCY_SKETCH_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdint>
#include <cstring>

#include "core/src/alloc.h"

namespace libcache::detail {

class FrequencySketch {
 public:
  static constexpr uint32_t kDepth = 4;
  static constexpr uint32_t kMinWidth = 64;
  static constexpr uint32_t kCountersPerEntry = 4;
  static constexpr uint32_t kAgingPerEntry = 10;
  static constexpr uint32_t kMaxCount = 15;

  FrequencySketch() = default;
  FrequencySketch(const FrequencySketch &) = delete;
  FrequencySketch &operator=(const FrequencySketch &) = delete;
  ~FrequencySketch() { Free(); }

  // Sized for `capacity` entries, all counters zero. False when out of
  // memory (the sketch keeps its previous size and counts).
  bool Resize(const Allocator *alloc, uint64_t capacity) {
    uint64_t w = kMinWidth;
    while (w < capacity * kCountersPerEntry && w < (uint64_t{1} << 31)) w <<= 1;
    // One more block, to start the table at a 64-byte boundary.
    auto *raw = static_cast<uint8_t *>(alloc->alloc(kDepth * w / 2 + kBlockBytes));
    if (raw == nullptr) return false;
    Free();
    alloc_ = alloc;
    raw_ = raw;
    table_ = raw + (-reinterpret_cast<uintptr_t>(raw) & (kBlockBytes - 1));
    std::memset(table_, 0, kDepth * w / 2);
    width_ = static_cast<uint32_t>(w);
    const uint64_t blocks = kDepth * w / 2 / kBlockBytes;  // w >= kMinWidth = 64: at least 2
    shift_ = 64 - __builtin_ctzll(blocks);
    hint_table_.store(table_, std::memory_order_relaxed);
    hint_shift_.store(shift_, std::memory_order_relaxed);
    capacity_ = std::max<uint64_t>(capacity, 1);
    aging_period_ = std::max<uint64_t>(capacity_, 16) * kAgingPerEntry;
    increments_ = 0;
    return true;
  }

  // The capacity it was sized for.
  uint64_t capacity() const { return capacity_; }
  uint64_t bytes() const { return table_ == nullptr ? 0 : table_bytes() + kBlockBytes; }
  uint64_t increments() const { return increments_; }
  uint64_t aging_period() const { return aging_period_; }

  // Starts loading the key's block (a cache line) for a count or estimate
  // that follows.
  void Prefetch(uint64_t key) const {
    if (table_ != nullptr) __builtin_prefetch(Block(key));
  }
  // The same without the lock (a writer about to take it): from copies of the
  // table's address and shift. relaxed: a stale pair only prefetches a
  // useless line, and a prefetch never faults.
  void PrefetchUnlocked(uint64_t key) const {
    const uint8_t *t = hint_table_.load(std::memory_order_relaxed);
    if (t != nullptr) {
      const uint64_t h = (key ^ (key >> 29)) * 0x9e3779b97f4a7c15ULL;
      __builtin_prefetch(t + (h >> hint_shift_.load(std::memory_order_relaxed)) * kBlockBytes);
    }
  }

  uint32_t Estimate(uint64_t key) const {
    if (table_ == nullptr) return 0;
    uint32_t m = kMaxCount;
    const uint8_t *block = Block(key);
    const uint64_t h = Spread(key);
    for (uint32_t r = 0; r < kDepth; ++r) m = std::min(m, Get(block, Slot(r, h)));
    return m;
  }

  void Increment(uint64_t key) {
    if (table_ == nullptr) return;
    uint8_t *block = Block(key);
    const uint64_t h = Spread(key);
    uint32_t idx[kDepth], val[kDepth];
    uint32_t m = kMaxCount;
    for (uint32_t r = 0; r < kDepth; ++r) {
      idx[r] = Slot(r, h);
      val[r] = Get(block, idx[r]);
      m = std::min(m, val[r]);
    }
    if (m < kMaxCount) {
      for (uint32_t r = 0; r < kDepth; ++r) {
        if (val[r] == m) Set(block, idx[r], m + 1);
      }
    }
    if (++increments_ >= aging_period_) Age();
  }

  // Halves every counter (each byte's two nibbles at once).
  void Age() {
    const uint64_t n = table_bytes();
    for (uint64_t i = 0; i < n; ++i) table_[i] = static_cast<uint8_t>((table_[i] >> 1) & 0x77);
    increments_ /= 2;
  }

 private:
  static constexpr uint32_t kBlockBytes = 64;
  static constexpr uint32_t kQuarter = kBlockBytes * 2 / kDepth;  // counters per row in a block

  // The key's block: the top bits of one multiplicative hash of it.
  uint8_t *Block(uint64_t key) const {
    const uint64_t h = (key ^ (key >> 29)) * 0x9e3779b97f4a7c15ULL;
    return table_ + (h >> shift_) * kBlockBytes;
  }
  // Another hash, whose 5-bit groups pick the counter in each row's quarter.
  static uint64_t Spread(uint64_t key) {
    uint64_t h = (key ^ (key >> 31)) * 0xc2b2ae3d27d4eb4fULL;
    return h ^ (h >> 29);
  }
  static uint32_t Slot(uint32_t r, uint64_t h) {
    return r * kQuarter + static_cast<uint32_t>((h >> (5 * r + 7)) & (kQuarter - 1));
  }
  static uint32_t Get(const uint8_t *block, uint32_t i) {
    const uint8_t b = block[i >> 1];
    return (i & 1) != 0 ? (b >> 4) : (b & 15);
  }
  static void Set(uint8_t *block, uint32_t i, uint32_t v) {
    uint8_t &b = block[i >> 1];
    b = (i & 1) != 0 ? static_cast<uint8_t>((b & 0x0f) | (v << 4))
                     : static_cast<uint8_t>((b & 0xf0) | v);
  }
  uint64_t table_bytes() const { return uint64_t{kDepth} * width_ / 2; }
  void Free() {
    if (raw_ != nullptr) alloc_->free(raw_);
    raw_ = table_ = nullptr;
    hint_table_.store(nullptr, std::memory_order_relaxed);
  }

  const Allocator *alloc_ = nullptr;
  uint8_t *raw_ = nullptr;    // the allocation
  uint8_t *table_ = nullptr;  // its first 64-byte boundary
  std::atomic<const uint8_t *> hint_table_{nullptr};  // table_ and shift_, for PrefetchUnlocked
  std::atomic<uint32_t> hint_shift_{64};
  uint32_t width_ = 0;
  uint32_t shift_ = 64;
  uint64_t capacity_ = 0;
  uint64_t increments_ = 0;
  uint64_t aging_period_ = 0;
};

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_FREQUENCY_SKETCH_H_
