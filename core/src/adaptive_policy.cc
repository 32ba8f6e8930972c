#include "core/src/adaptive_policy.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace libcache::detail {

// A shadow cache: the sampled keys' hashes in a WindowTinyLfu of its own, at
// a fixed window share, counting its hits. Nodes come from one array (no
// allocation per access); an open-addressing table (linear probing, deletion
// by backward shift) maps a hash to its node.
class AdaptivePolicy::Shadow {
 public:
  Shadow() = default;
  Shadow(const Shadow &) = delete;
  Shadow &operator=(const Shadow &) = delete;
  ~Shadow() {
    if (nodes_ != nullptr) alloc_->free(nodes_);
    if (free_ != nullptr) alloc_->free(free_);
    if (table_ != nullptr) alloc_->free(table_);
  }

  bool Init(const Allocator *alloc, uint32_t capacity, double share) {
    alloc_ = alloc;
    capacity_ = capacity;
    const uint32_t nodes = capacity + 1;  // one more than fits, before its eviction
    uint32_t slots = 16;
    while (slots < nodes * 2) slots <<= 1;
    nodes_ = static_cast<ShadowNode *>(alloc->alloc(sizeof(ShadowNode) * nodes));
    free_ = static_cast<uint32_t *>(alloc->alloc(sizeof(uint32_t) * nodes));
    table_ = static_cast<uint32_t *>(alloc->alloc(sizeof(uint32_t) * slots));
    if (nodes_ == nullptr || free_ == nullptr || table_ == nullptr) return false;
    for (uint32_t i = 0; i < nodes; ++i) {
      new (&nodes_[i]) ShadowNode{0, 0, {0}};
      free_[i] = nodes - 1 - i;
    }
    nfree_ = nodes;
    std::memset(table_, 0, sizeof(uint32_t) * slots);
    mask_ = slots - 1;
    bytes_ = (sizeof(ShadowNode) + sizeof(uint32_t)) * uint64_t{nodes} + sizeof(uint32_t) * uint64_t{slots};
    return core_.Init(alloc, 16, capacity, share);
  }

  void Access(uint64_t hash) {
    uint32_t i = Home(hash);
    for (; table_[i] != 0; i = (i + 1) & mask_) {
      ShadowNode &n = nodes_[table_[i] - 1];
      if (n.hash == hash) {
        n.referenced.store(1, std::memory_order_relaxed);
        ++hits_;
        return;
      }
    }
    const uint32_t idx = free_[--nfree_];
    ShadowNode *n = &nodes_[idx];
    n->hash = hash;
    n->referenced.store(0, std::memory_order_relaxed);
    if (!core_.Add(n)) {  // no memory for a ring: the access is not simulated
      free_[nfree_++] = idx;
      return;
    }
    table_[i] = idx + 1;
    while (core_.size() > capacity_) {
      bool expired;
      ShadowNode *v = core_.Evict(nullptr, false, [](const ShadowNode *) { return false; }, &expired);
      if (v == nullptr) break;
      Erase(v);
    }
  }

  uint64_t TakeHits() {
    const uint64_t h = hits_;
    hits_ = 0;
    return h;
  }
  double share() const { return core_.window_fraction(); }
  uint64_t bytes() const { return bytes_ + core_.bytes(); }

 private:
  uint32_t Home(uint64_t hash) const { return static_cast<uint32_t>(hash) & mask_; }

  void Erase(ShadowNode *v) {
    uint32_t i = Home(v->hash);
    const uint32_t idx = static_cast<uint32_t>(v - nodes_);
    while (table_[i] != idx + 1) i = (i + 1) & mask_;
    // Backward shift: pull later members of the run back over the gap when
    // their home is not between the gap and them.
    for (uint32_t j = (i + 1) & mask_; table_[j] != 0; j = (j + 1) & mask_) {
      const uint32_t home = Home(nodes_[table_[j] - 1].hash);
      const bool movable = ((j - home) & mask_) >= ((j - i) & mask_);
      if (movable) {
        table_[i] = table_[j];
        i = j;
      }
    }
    table_[i] = 0;
    free_[nfree_++] = idx;
  }

  const Allocator *alloc_ = nullptr;
  uint32_t capacity_ = 0;
  ShadowNode *nodes_ = nullptr;
  uint32_t *free_ = nullptr;
  uint32_t nfree_ = 0;
  uint32_t *table_ = nullptr;  // node index + 1; 0 = empty
  uint32_t mask_ = 0;
  uint64_t bytes_ = 0;
  uint64_t hits_ = 0;
  WindowTinyLfu<ShadowNode> core_;
};

AdaptivePolicy::AdaptivePolicy() = default;
AdaptivePolicy::~AdaptivePolicy() = default;

bool AdaptivePolicy::Init(const Allocator *alloc, uint32_t capacity, uint64_t max_entries,
                          uint64_t max_bytes) {
  alloc_ = alloc;
  shadow_budget_ = max_bytes == UINT64_MAX ? UINT64_MAX : max_bytes / kShadowBudgetShare;
  // The sketch starts at the ring's presized capacity (the entry bound, when
  // the shard presized for it) and grows with the shard.
  return core_.Init(alloc, capacity, std::min<uint64_t>(capacity, max_entries), kInitialShare);
}

uint64_t AdaptivePolicy::shadow_bytes() const {
  uint64_t b = 0;
  for (const auto &s : shadows_) {
    if (s != nullptr) b += s->bytes();
  }
  return b;
}

// (bytes(): the shadows' bytes are summed when they change, built or fed
// (their rings grow as they fill), not on every call: the shard asks on every
// bound check.)

Entry *AdaptivePolicy::Evict(const Entry *keep, Expiry::Check &is_expired, bool *expired) {
  // keep == nullptr: the shard makes room for an entry it is about to add
  // (Shard::LinkNewLocked), which counts in the capacity.
  const bool incoming = keep == nullptr;
  capacity_ = core_.size() + (incoming ? 1 : 0);
  if (capacity_ > 0) --capacity_;
  if (shadow_basis_ == 0 && capacity_ >= kMinAdaptCapacity) SetUpShadows(capacity_);
  Entry *e = core_.Evict(keep, incoming, is_expired, expired);
  if ((++evictions_ & 4095) == 0) core_.Trim();
  return e;
}

void AdaptivePolicy::SetUpShadows(uint64_t capacity) {
  for (auto &s : shadows_) s.reset();
  shadow_bytes_ = 0;
  sample_mask_ = kNoSampling;
  shadow_capacity_ = 0;
  shadow_basis_ = capacity;  // tried once per capacity, even if it fails
  epoch_reads_ = 0;
  std::fill(std::begin(scores_), std::end(scores_), 0.0);
  if (capacity < kMinAdaptCapacity) return;
  uint32_t shift = kSampleShift;
  while (shift > 0 && (capacity >> shift) < kMinShadow) --shift;
  while (shift < kMaxSampleShift && (capacity >> shift) > kMaxShadow) ++shift;
  while (shift < kMaxSampleShift &&
         kShadows * kShadowEntryBytes * (capacity >> shift) > shadow_budget_) {
    ++shift;
  }
  const auto cap = static_cast<uint32_t>(capacity >> shift);
  if (cap < kMinShadowFloor || kShadows * kShadowEntryBytes * cap > shadow_budget_) return;
  for (uint32_t i = 0; i < kShadows; ++i) {
    shadows_[i].reset(new (std::nothrow) Shadow);
    if (shadows_[i] == nullptr || !shadows_[i]->Init(alloc_, cap, kWindowShares[i])) {
      for (auto &s : shadows_) s.reset();
      shadow_bytes_ = 0;
      return;
    }
  }
  shadow_capacity_ = cap;
  shadow_bytes_ = shadow_bytes();
  epoch_length_ = uint64_t{kEpochPerShadowEntry} * cap;
  sample_mask_ = (uint32_t{1} << shift) - 1;
}

void AdaptivePolicy::OnSampledReads(const uint64_t *hashes, uint32_t n) {
  if (shadows_[0] == nullptr) return;
  for (uint32_t k = 0; k < n; ++k) {
    if (!SampledHash(hashes[k], sample_mask_)) continue;  // sampled under an older mask
    for (auto &s : shadows_) s->Access(hashes[k]);
    if (++epoch_reads_ >= epoch_length_) {
      EndEpoch();
      if (shadows_[0] == nullptr) return;  // rebuilt, and that failed
    }
  }
  shadow_bytes_ = shadow_bytes();
}

void AdaptivePolicy::EndEpoch() {
  epoch_reads_ = 0;
  ++epochs_;
  uint32_t best = 0;
  for (uint32_t i = 0; i < kShadows; ++i) {
    scores_[i] = 0.5 * scores_[i] + static_cast<double>(shadows_[i]->TakeHits());
    if (scores_[i] > scores_[best]) best = i;
  }
  // Stay with the current share when it ties the best.
  for (uint32_t i = 0; i < kShadows; ++i) {
    if (shadows_[i]->share() == core_.window_fraction() && scores_[i] >= scores_[best]) best = i;
  }
  core_.set_window_fraction(shadows_[best]->share());
  // The shard's capacity moved by over 2x (a byte bound with entry sizes
  // that changed): shadows of the new size, sampling a new slice.
  if (capacity_ > 2 * shadow_basis_ || 2 * capacity_ < shadow_basis_) SetUpShadows(capacity_);
}

}  // namespace libcache::detail
