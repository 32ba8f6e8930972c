// The adaptive policy's frequency sketch: how often a key was used lately,
// approximately, in 4 bits (core/src/adaptive_policy.h).
//
// A count-min sketch: 4 rows of 4-bit counters, `width` counters per row (a
// power of two, at least 4 per entry the cache holds: fewer made gli:500 lose
// 9 points to collisions in bench/policy_sim.cc), two counters per byte.
// Increment is the conservative update (only the row counters equal to the
// minimum grow, up to 15); Estimate is the minimum over the rows. Aging: after
// 10 increments per entry of capacity, every counter halves, so that
// frequencies follow a workload that changes. Not thread-safe: the shard's
// whole lock guards it (it is written only by writes, never by reads).

#ifndef LIBCACHE_CORE_SRC_FREQUENCY_SKETCH_H_
#define LIBCACHE_CORE_SRC_FREQUENCY_SKETCH_H_

#include <algorithm>
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
    auto *table = static_cast<uint8_t *>(alloc->alloc(kDepth * w / 2));
    if (table == nullptr) return false;
    std::memset(table, 0, kDepth * w / 2);
    Free();
    alloc_ = alloc;
    table_ = table;
    width_ = static_cast<uint32_t>(w);
    shift_ = 64 - __builtin_ctzll(w);
    capacity_ = std::max<uint64_t>(capacity, 1);
    aging_period_ = std::max<uint64_t>(capacity_, 16) * kAgingPerEntry;
    increments_ = 0;
    return true;
  }

  // The capacity it was sized for.
  uint64_t capacity() const { return capacity_; }
  uint64_t bytes() const { return table_ == nullptr ? 0 : uint64_t{kDepth} * width_ / 2; }
  uint64_t increments() const { return increments_; }
  uint64_t aging_period() const { return aging_period_; }

  uint32_t Estimate(uint64_t key) const {
    if (table_ == nullptr) return 0;
    uint32_t m = kMaxCount;
    for (uint32_t r = 0; r < kDepth; ++r) m = std::min(m, Get(r, Index(r, key)));
    return m;
  }

  void Increment(uint64_t key) {
    if (table_ == nullptr) return;
    uint32_t idx[kDepth], val[kDepth];
    uint32_t m = kMaxCount;
    for (uint32_t r = 0; r < kDepth; ++r) {
      idx[r] = Index(r, key);
      val[r] = Get(r, idx[r]);
      m = std::min(m, val[r]);
    }
    if (m < kMaxCount) {
      for (uint32_t r = 0; r < kDepth; ++r) {
        if (val[r] == m) Set(r, idx[r], m + 1);
      }
    }
    if (++increments_ >= aging_period_) Age();
  }

  // Halves every counter (each byte's two nibbles at once).
  void Age() {
    for (uint64_t i = 0; i < bytes(); ++i) table_[i] = static_cast<uint8_t>((table_[i] >> 1) & 0x77);
    increments_ /= 2;
  }

 private:
  static constexpr uint64_t kRowMul[8] = {
      0x9e3779b97f4a7c15ULL, 0xc2b2ae3d27d4eb4fULL, 0x165667b19e3779f9ULL, 0xd6e8feb86659fd93ULL,
      0xff51afd7ed558ccdULL, 0xc4ceb9fe1a85ec53ULL, 0xa0761d6478bd642fULL, 0xe7037ed1a0b428dbULL};

  uint32_t Index(uint32_t r, uint64_t key) const {
    return static_cast<uint32_t>(((key ^ (key >> 29)) * kRowMul[r] + kRowMul[7 - r]) >> shift_);
  }
  uint32_t Get(uint32_t r, uint32_t i) const {
    const uint8_t b = table_[(uint64_t{r} * width_ + i) >> 1];
    return (i & 1) != 0 ? (b >> 4) : (b & 15);
  }
  void Set(uint32_t r, uint32_t i, uint32_t v) {
    uint8_t &b = table_[(uint64_t{r} * width_ + i) >> 1];
    b = (i & 1) != 0 ? static_cast<uint8_t>((b & 0x0f) | (v << 4))
                     : static_cast<uint8_t>((b & 0xf0) | v);
  }
  void Free() {
    if (table_ != nullptr) alloc_->free(table_);
    table_ = nullptr;
  }

  const Allocator *alloc_ = nullptr;
  uint8_t *table_ = nullptr;
  uint32_t width_ = 0;
  uint32_t shift_ = 64;
  uint64_t capacity_ = 0;
  uint64_t increments_ = 0;
  uint64_t aging_period_ = 0;
};

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_FREQUENCY_SKETCH_H_
