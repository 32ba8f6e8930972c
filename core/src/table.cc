#include "core/src/table.h"

#include <cstring>

#include "core/src/hash.h"

namespace libcache::detail {

bool HashTable::Init(const Allocator &alloc, uint32_t capacity) {
  auto *slots = static_cast<uint64_t *>(alloc.alloc(size_t{capacity} * sizeof(uint64_t)));
  if (slots == nullptr) return false;
  std::memset(slots, 0, size_t{capacity} * sizeof(uint64_t));
  slots_ = slots;
  mask_ = capacity - 1;
  size_ = 0;
  grow_at_ = capacity / 4 * 3;
  PublishHints();
  return true;
}

void HashTable::Destroy(const Allocator &alloc) {
  if (slots_ != nullptr) alloc.free(slots_);
  slots_ = nullptr;
  mask_ = size_ = grow_at_ = 0;
  PublishHints();
}

void HashTable::Reset() {
  std::memset(slots_, 0, size_t{capacity()} * sizeof(uint64_t));
  size_ = 0;
}

uint64_t HashTable::HashKeyWithSeed(std::string_view key, uint64_t seed) {
  return HashKey(key, seed);
}

size_t HashTable::FindEntry(const Entry *e, uint64_t seed) const {
  const uint64_t hash = mask_ > Entry::kHashMask ? HashKey(e->key(), seed) : e->hash24();
  size_t i = hash & mask_;
  while (EntryOf(slots_[i]) != e) i = (i + 1) & mask_;
  return i;
}

bool HashTable::InsertInto(uint64_t *slots, uint32_t mask, const Entry *e, uint64_t hash) {
  // Robin Hood as "find the spot, then shift the run right by one": the first
  // slot whose resident is closer to its home than we are to ours is where the
  // new entry goes; every resident from there to the next empty slot moves one
  // step and grows its distance by one. Checking distances before moving
  // anything keeps the table unchanged on overflow.
  size_t p = hash & mask;
  uint64_t d = 0;
  while (slots[p] != 0 && Dist(slots[p]) >= d) {
    p = (p + 1) & mask;
    ++d;
  }
  if (d > kMaxDist) return false;
  size_t q = p;
  while (slots[q] != 0) {
    if (Dist(slots[q]) == kMaxDist) return false;
    q = (q + 1) & mask;
  }
  while (q != p) {
    const size_t prev = (q - 1) & mask;
    slots[q] = slots[prev] + kDistOne;
    q = prev;
  }
  slots[p] = MakeSlot(e, d, hash);
  return true;
}

bool HashTable::Insert(Entry *e, uint64_t hash) {
  if (!InsertInto(slots_, mask_, e, hash)) return false;
  ++size_;
  return true;
}

void HashTable::EraseAt(size_t i) {
  // Backward-shift deletion: successors that are away from home move back one.
  size_t j = i;
  for (;;) {
    const size_t n = (j + 1) & mask_;
    const uint64_t s = slots_[n];
    if (s == 0 || Dist(s) == 0) break;
    slots_[j] = s - kDistOne;
    j = n;
  }
  slots_[j] = 0;
  --size_;
}

bool HashTable::Grow(const Allocator &alloc, uint64_t seed) {
  for (uint64_t cap = uint64_t{capacity()} * 2; cap <= (uint64_t{1} << 31); cap *= 2) {
    auto *slots = static_cast<uint64_t *>(alloc.alloc(cap * sizeof(uint64_t)));
    if (slots == nullptr) return false;
    std::memset(slots, 0, cap * sizeof(uint64_t));
    const auto mask = static_cast<uint32_t>(cap - 1);
    bool ok = true;
    for (uint32_t i = 0; i <= mask_ && ok; ++i) {
      if (slots_[i] == 0) continue;
      ok = InsertInto(slots, mask, EntryOf(slots_[i]), SlotHash(slots_[i], mask, seed));
    }
    if (!ok) {  // pathological clustering: try a larger table
      alloc.free(slots);
      continue;
    }
    alloc.free(slots_);
    slots_ = slots;
    mask_ = mask;
    grow_at_ = static_cast<uint32_t>(cap / 4 * 3);
    PublishHints();
    return true;
  }
  return false;
}

}  // namespace libcache::detail
