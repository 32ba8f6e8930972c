// A ring of entries in the order a hand visits them: the building block of
// the eviction policies (one ring for CLOCK, three for the adaptive policy:
// core/src/policy.h). Not thread-safe: the owning shard's lock guards every
// call.

#ifndef LIBCACHE_CORE_SRC_ENTRY_RING_H_
#define LIBCACHE_CORE_SRC_ENTRY_RING_H_

#include <cstdint>
#include <cstring>

#include "core/src/alloc.h"
#include "core/src/entry.h"

namespace libcache::detail {

// The ring holds the entries in the order the hand will visit them: the hand
// is at head_, new entries join at tail_ (just behind the hand), and an entry
// given a second chance moves from head_ to tail_. That is CLOCK exactly, with
// a variable number of entries. head_ and tail_ are free-running counters
// (physical slot = counter & mask_); removing an entry anywhere else leaves a
// hole (nullptr) that the hand skips. Holes are squeezed out when the buffer
// fills and they make up an eighth of it; otherwise the buffer doubles.
// Each ring of a policy has its own segment number, which PushBack writes in
// the entry along with its position.
// Invariant: for every entry e in the ring, slots_[e->ring_pos()] == e and
// e->segment() == segment().
// Node: Entry, or the adaptive policy's shadow nodes; it has the fields
// ring_pos_segment (position << 2 | segment) and the accessors of Entry's.
template <class Node>
class Ring {
 public:
  Ring() = default;
  Ring(const Ring &) = delete;
  Ring &operator=(const Ring &) = delete;
  ~Ring() { Destroy(); }

  // capacity: a power of two. False when out of memory.
  bool Init(const Allocator *alloc, uint32_t capacity, uint32_t segment = 0) {
    alloc_ = alloc;
    segment_ = segment;
    Node **slots = Allocate(capacity);
    if (slots == nullptr) return false;
    slots_ = slots;
    mask_ = capacity - 1;
    Reset();
    return true;
  }
  void Destroy() {
    if (slots_ != nullptr) alloc_->free(slots_);
    slots_ = nullptr;
    mask_ = 0;
    Reset();
  }

  // Appends e behind the hand (and marks it as this ring's). False when out
  // of memory and no hole to reuse.
  bool PushBack(Node *e) {
    if (used() == capacity()) {
      // Squeeze holes when they are worth an O(n) pass (amortized), or when
      // growing is impossible; otherwise double.
      const bool worth_compacting = holes_ > 0 && holes_ >= capacity() / 8;
      if (worth_compacting || !Resize(capacity() * 2)) {
        if (holes_ == 0) return false;
        Compact();
      }
    }
    const uint32_t pos = tail_++ & mask_;
    slots_[pos] = e;
    e->ring_pos_segment = pos << 2 | segment_;
    return true;
  }
  // Halves the array while the entries and holes fill at most a quarter of
  // it (a ring that once held many entries: the adaptive policy's window
  // after warm-up). Keeps the array when the smaller one cannot be allocated.
  void MaybeShrink() {
    while (capacity() > kMinCapacity && used() <= capacity() / 4 && Resize(capacity() / 2)) {
    }
  }
  // Takes e out of the ring, leaving a hole.
  void Remove(Node *e) {
    slots_[e->ring_pos()] = nullptr;
    ++holes_;
  }
  // Puts e where old is, keeping its place in the hand's order.
  void Replace(const Node *old, Node *e) {
    e->ring_pos_segment = old->ring_pos_segment;
    slots_[e->ring_pos()] = e;
  }
  // The entry under the hand, skipping holes; nullptr when the ring is empty.
  Node *Front() {
    while (head_ != tail_) {
      Node *e = slots_[head_ & mask_];
      // The hand reads every entry it passes: start loading the ones a few
      // places ahead (the ring itself is read sequentially). Past the tail or
      // on a hole this prefetches a stale pointer or null: harmless.
      __builtin_prefetch(slots_[(head_ + kLookahead) & mask_]);
      if (e != nullptr) return e;
      ++head_;
      --holes_;
    }
    return nullptr;
  }
  // Second chance: the entry under the hand goes to the back.
  // REQUIRES: Front() returned non-null just before.
  void MoveFrontToBack() {
    Node *e = slots_[head_ & mask_];
    slots_[head_ & mask_] = nullptr;  // the same slot may be reused just below
    ++head_;
    const uint32_t pos = tail_++ & mask_;
    slots_[pos] = e;
    e->set_ring_pos(pos);
  }
  // The entry under the hand leaves the ring (for another ring, or for
  // good), without leaving a hole. REQUIRES: Front() returned it just before.
  void PopFront() {
    slots_[head_ & mask_] = nullptr;
    ++head_;
  }
  // Calls fn(Entry*) for each entry in hand order; fn may Remove() it.
  template <typename Fn>
  void ForEach(Fn fn) {
    for (uint32_t r = head_; r != tail_; ++r) {
      Node *e = slots_[r & mask_];
      if (e != nullptr) fn(e);
    }
  }
  // Forgets every entry (the caller owns them).
  void Reset() { head_ = tail_ = holes_ = 0; }

  // Debug (the invariant checker): every entry between the hand and the tail
  // has slots_[ring_pos] == itself and this ring's segment, and holes_ counts
  // the holes there.
  bool PositionsConsistent() const {
    uint32_t holes = 0;
    for (uint32_t r = head_; r != tail_; ++r) {
      const Node *e = slots_[r & mask_];
      if (e == nullptr) {
        ++holes;
      } else if (e->ring_pos() != (r & mask_) || e->segment() != segment_) {
        return false;
      }
    }
    return holes == holes_;
  }

  uint32_t capacity() const { return mask_ + 1; }
  uint32_t size() const { return used() - holes_; }  // entries in the ring
  uint32_t segment() const { return segment_; }
  uint64_t bytes() const { return slots_ == nullptr ? 0 : uint64_t{capacity()} * sizeof(Node *); }

 private:
  static constexpr uint32_t kLookahead = 4;
  uint32_t used() const { return tail_ - head_; }  // live entries plus holes
  static constexpr uint32_t kMinCapacity = 16;
  Node **Allocate(uint32_t capacity) {
    auto *slots = static_cast<Node **>(alloc_->alloc(size_t{capacity} * sizeof(Node *)));
    // Zeroed: Front() prefetches ahead, past the tail too.
    if (slots != nullptr) std::memset(slots, 0, size_t{capacity} * sizeof(Node *));
    return slots;
  }
  void Compact() {
    // In place and in order: the write cursor never passes the read cursor.
    uint32_t w = head_;
    for (uint32_t r = head_; r != tail_; ++r) {
      Node *e = slots_[r & mask_];
      if (e == nullptr) continue;
      const uint32_t pos = w++ & mask_;
      slots_[pos] = e;
      e->set_ring_pos(pos);
    }
    for (uint32_t r = w; r != tail_; ++r) slots_[r & mask_] = nullptr;
    tail_ = w;
    holes_ = 0;
  }
  // Moves the entries, in order and without holes, to an array of cap slots.
  // REQUIRES: cap a power of two >= size(). False when out of memory.
  bool Resize(uint32_t cap) {
    if (cap > (uint32_t{1} << 30)) return false;  // positions have 30 bits
    Node **slots = Allocate(cap);
    if (slots == nullptr) return false;
    uint32_t n = 0;
    for (uint32_t r = head_; r != tail_; ++r) {
      Node *e = slots_[r & mask_];
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

  const Allocator *alloc_ = nullptr;
  Node **slots_ = nullptr;
  uint32_t mask_ = 0;
  uint32_t head_ = 0;  // the hand
  uint32_t tail_ = 0;
  uint32_t holes_ = 0;  // nullptr slots between head_ and tail_
  uint32_t segment_ = 0;
};

using EntryRing = Ring<Entry>;

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_ENTRY_RING_H_
