#include "core/src/entry_ring.h"

#include <cstring>

namespace libcache::detail {

bool EntryRing::Init(const Allocator *alloc, uint32_t capacity, uint32_t segment) {
  alloc_ = alloc;
  segment_ = segment;
  auto *slots = static_cast<Entry **>(alloc->alloc(size_t{capacity} * sizeof(Entry *)));
  if (slots == nullptr) return false;
  std::memset(slots, 0, size_t{capacity} * sizeof(Entry *));  // Front() prefetches ahead
  slots_ = slots;
  mask_ = capacity - 1;
  Reset();
  return true;
}

void EntryRing::Destroy() {
  if (slots_ != nullptr) alloc_->free(slots_);
  slots_ = nullptr;
  mask_ = 0;
  Reset();
}

bool EntryRing::PushBack(Entry *e) {
  if (used() == capacity()) {
    // Squeeze holes when they are worth an O(n) pass (amortized), or when
    // growing is impossible; otherwise double.
    const bool worth_compacting = holes_ > 0 && holes_ >= capacity() / 8;
    if (worth_compacting || !Grow()) {
      if (holes_ == 0) return false;
      Compact();
    }
  }
  const uint32_t pos = tail_++ & mask_;
  slots_[pos] = e;
  e->ring_pos_segment = pos << 2 | segment_;
  return true;
}

void EntryRing::Compact() {
  // In place and in order: the write cursor never passes the read cursor.
  uint32_t w = head_;
  for (uint32_t r = head_; r != tail_; ++r) {
    Entry *e = slots_[r & mask_];
    if (e == nullptr) continue;
    const uint32_t pos = w++ & mask_;
    slots_[pos] = e;
    e->set_ring_pos(pos);
  }
  tail_ = w;
  holes_ = 0;
}

bool EntryRing::Grow() {
  if (capacity() >= (uint32_t{1} << 30)) return false;  // positions have 30 bits
  const uint32_t cap = capacity() * 2;
  auto *slots = static_cast<Entry **>(alloc_->alloc(size_t{cap} * sizeof(Entry *)));
  if (slots == nullptr) return false;
  std::memset(slots, 0, size_t{cap} * sizeof(Entry *));
  uint32_t n = 0;
  for (uint32_t r = head_; r != tail_; ++r) {
    Entry *e = slots_[r & mask_];
    if (e == nullptr) continue;
    slots[n] = e;
    e->set_ring_pos(n++);
  }
  alloc_->free(slots_);
  slots_ = slots;
  mask_ = cap - 1;
  head_ = 0;
  tail_ = n;
  holes_ = 0;
  return true;
}

}  // namespace libcache::detail
