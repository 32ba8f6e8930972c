// Window TinyLFU over three CLOCK rings: the eviction order of the adaptive
// policy (core/src/adaptive_policy.h), and of each of its shadow caches.
//
//   window     a small CLOCK ring every new entry joins;
//   probation  a CLOCK ring for entries admitted from the window, and
//              protected entries that went unused for a lap;
//   protected  a CLOCK ring for probation entries used again (at most 90% of
//              the main part, probation + protected).
// Frequencies come from a FrequencySketch written only here, under the
// shard's whole lock: on insert, and whenever a hand finds an entry's
// reference bit set and clears it (so a read still only sets that bit).
//
// Eviction (Evict), with C the capacity the cache is held to at that moment
// (the entries it holds, counting one about to be added) and W = round(f * C)
// the window's target (at least 1, at most C - 1):
//   - While the window is over W: its hand picks a candidate (a set bit buys
//     a second lap in the window). While the main part is under C - W
//     (warm-up, or after the window target shrank) the candidate moves to
//     probation unopposed. Otherwise it meets probation's victim (that hand
//     promotes used entries to protected, and protected's hand demotes
//     entries unused for a lap to probation): the candidate is admitted, and
//     the victim evicted, only if the sketch finds the candidate strictly
//     more frequent; else the candidate is evicted. Ties reject the newcomer,
//     which keeps loops larger than the cache from washing it out.
//   - Otherwise probation's victim is evicted (the window's, if main is empty).
// An expired entry any hand meets is taken first instead (Expiry::Check).
// `keep` (the entry a write just indexed) is passed over, never chosen.
// A move from one ring to another that cannot allocate leaves the entry where
// it was (it gets another lap in its ring), so eviction never fails for
// memory. A set is always stored: new entries join the window unconditionally.
//
// Node: Entry or the shadows' nodes (ring_pos_segment, referenced, and
// SketchKeyOf(node)).

#ifndef LIBCACHE_CORE_SRC_WINDOW_TINYLFU_H_
#define LIBCACHE_CORE_SRC_WINDOW_TINYLFU_H_

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/src/entry_ring.h"
#include "core/src/frequency_sketch.h"

namespace libcache::detail {

template <class Node>
class WindowTinyLfu {
 public:
  enum Segment : uint32_t { kWindow = 0, kProbation = 1, kProtected = 2 };
  static constexpr double kProtectedShare = 0.9;

  bool Init(const Allocator *alloc, uint32_t ring_capacity, uint64_t capacity_hint,
            double window_fraction) {
    alloc_ = alloc;
    fraction_ = window_fraction;
    const uint32_t small = std::min<uint32_t>(ring_capacity, 16);
    const bool ok = window_.Init(alloc, small, kWindow) &&
                    probation_.Init(alloc, ring_capacity, kProbation) &&
                    protected_.Init(alloc, small, kProtected) && sketch_.Resize(alloc, capacity_hint);
    Recount();
    return ok;
  }

  double window_fraction() const { return fraction_; }
  void set_window_fraction(double f) { fraction_ = f; }
  uint64_t size() const {
    return uint64_t{window_.size()} + probation_.size() + protected_.size();
  }
  uint32_t window_size() const { return window_.size(); }
  uint32_t probation_size() const { return probation_.size(); }
  uint32_t protected_size() const { return protected_.size(); }
  const FrequencySketch &sketch() const { return sketch_; }
  // The rings' arrays and the sketch, as of the last call that may have
  // resized one (Init, Add, Evict, Trim): the shard asks on every bound check.
  uint64_t bytes() const { return bytes_; }

  // A new entry: counted once in the sketch, and into the window. The sketch
  // grows (counts reset) when the cache outgrows it. False when out of memory.
  bool Add(Node *e) {
    if (!window_.PushBack(e)) return false;
    if (size() > sketch_.capacity() * 2) sketch_.Resize(alloc_, size());  // may fail: keep counting
    sketch_.Increment(SketchKeyOf(e));
    Recount();
    return true;
  }
  void Replace(const Node *old, Node *e) { RingOf(old).Replace(old, e); }
  void Remove(Node *e) { RingOf(e).Remove(e); }
  void Reset() {
    window_.Reset();
    probation_.Reset();
    protected_.Reset();
  }
  template <class Fn>
  void ForEach(Fn fn) {
    window_.ForEach(fn);
    probation_.ForEach(fn);
    protected_.ForEach(fn);
  }
  const char *Check() const {
    if (!window_.PositionsConsistent() || !probation_.PositionsConsistent() ||
        !protected_.PositionsConsistent()) {
      return "an entry's ring position or segment does not match its ring";
    }
    return nullptr;
  }
  // Returns unused ring memory (rings never shrink on their own).
  void Trim() {
    window_.MaybeShrink();
    probation_.MaybeShrink();
    protected_.MaybeShrink();
    Recount();
  }

  // See the top of this file. incoming: whether the eviction makes room for
  // an entry not yet added (it counts in C and in the window). Returns the
  // entry taken out of every ring (*expired: an expired one), or nullptr when
  // nothing but keep is left.
  template <class IsExpired>
  Node *Evict(const Node *keep, bool incoming, IsExpired &&is_expired, bool *expired) {
    Node *e = EvictOne(keep, incoming, is_expired, expired);
    Recount();  // a move between rings may have grown one
    return e;
  }

 private:
  void Recount() {
    bytes_ = window_.bytes() + probation_.bytes() + protected_.bytes() + sketch_.bytes();
  }

  template <class IsExpired>
  Node *EvictOne(const Node *keep, bool incoming, IsExpired &is_expired, bool *expired) {
    *expired = false;
    const uint64_t in = incoming ? 1 : 0;
    for (;;) {
      const uint64_t cap = size() + in - (size() + in > 0 ? 1 : 0);
      const uint64_t w_target = WindowTarget(cap);
      const uint64_t main = uint64_t{probation_.size()} + protected_.size();
      if (window_.size() + in > w_target || main == 0) {
        Node *cand = WindowCandidate(keep, is_expired, expired);
        if (*expired) return cand;
        if (cand != nullptr) {
          if (main == 0 || main < cap - w_target) {  // room in main: no contest
            if (Move(window_, probation_, cand)) continue;
            window_.PopFront();  // no memory to move it: it goes
            return cand;
          }
          sketch_.Prefetch(SketchKeyOf(cand));  // overlaps the probation hand's walk
          Node *victim = ProbationVictim(keep, ProtectedMax(cap, w_target), is_expired, expired);
          if (*expired) return victim;
          if (victim == nullptr) {
            if (Move(window_, probation_, cand)) continue;
            window_.PopFront();
            return cand;
          }
          if (sketch_.Estimate(SketchKeyOf(cand)) > sketch_.Estimate(SketchKeyOf(victim))) {
            probation_.Remove(victim);  // a hole: the move below needs no memory
            Move(window_, probation_, cand);
            return victim;
          }
          window_.PopFront();
          return cand;
        }
        // Nothing in the window but keep: take from main.
      }
      Node *victim = ProbationVictim(keep, ProtectedMax(cap, w_target), is_expired, expired);
      if (*expired) return victim;
      if (victim != nullptr) {
        probation_.Remove(victim);
        return victim;
      }
      Node *cand = WindowCandidate(keep, is_expired, expired);
      if (cand != nullptr && !*expired) window_.PopFront();
      return cand;
    }
  }

  uint64_t WindowTarget(uint64_t cap) const {
    uint64_t w = static_cast<uint64_t>(std::llround(fraction_ * static_cast<double>(cap)));
    w = std::max<uint64_t>(w, 1);
    if (cap > 1) w = std::min<uint64_t>(w, cap - 1);
    return w;
  }
  static uint64_t ProtectedMax(uint64_t cap, uint64_t w_target) {
    return static_cast<uint64_t>(kProtectedShare * static_cast<double>(cap - std::min(cap, w_target)));
  }

  Ring<Node> &RingOf(const Node *e) {
    switch (e->segment()) {
      case kWindow:
        return window_;
      case kProbation:
        return probation_;
      default:
        return protected_;
    }
  }

  // Moves e, the front of `from`, to the back of `to`. False (e stays at
  // from's front) when `to` cannot allocate.
  static bool Move(Ring<Node> &from, Ring<Node> &to, Node *e) {
    if (!to.PushBack(e)) return false;
    from.PopFront();
    return true;
  }
  // Clears e's bit (a use the hand saw) and counts it.
  bool TakeUse(Node *e) {
    if (e->referenced.load(std::memory_order_relaxed) == 0) return false;
    e->referenced.store(0, std::memory_order_relaxed);
    sketch_.Increment(SketchKeyOf(e));
    return true;
  }

  // A CLOCK hand over `ring`: the first entry not used since its last lap,
  // left at the ring's front; used ones get another lap (their use counted in
  // the sketch) and keep is passed over. An expired entry it meets is popped
  // and returned with *expired set. nullptr: the ring holds nothing but keep.
  template <class IsExpired>
  Node *Hand(Ring<Node> &ring, const Node *keep, IsExpired &is_expired, bool *expired) {
    for (;;) {
      Node *e = ring.Front();
      if (e == nullptr) return nullptr;
      if (e == keep) {
        if (ring.size() == 1) return nullptr;
        ring.MoveFrontToBack();
        continue;
      }
      if (is_expired(e)) {
        ring.PopFront();
        *expired = true;
        return e;
      }
      if (TakeUse(e)) {
        ring.MoveFrontToBack();
        continue;
      }
      return e;
    }
  }

  // The window hand: the eviction candidate, at the window's front.
  template <class IsExpired>
  Node *WindowCandidate(const Node *keep, IsExpired &is_expired, bool *expired) {
    return Hand(window_, keep, is_expired, expired);
  }

  // The probation hand: used entries are promoted to protected (whose hand
  // demotes while it is over protected_max); the first unused one is
  // returned, still linked. When probation runs dry, protected's hand demotes
  // one. An expired entry met is popped and returned with *expired set.
  template <class IsExpired>
  Node *ProbationVictim(const Node *keep, uint64_t protected_max, IsExpired &is_expired,
                        bool *expired) {
    for (;;) {
      Node *e = probation_.Front();
      if (e == nullptr || (e == keep && probation_.size() == 1)) {
        Node *d = DemoteOne(keep, is_expired, expired);
        if (*expired) return d;
        if (d == nullptr) return nullptr;
        continue;
      }
      if (e == keep) {
        probation_.MoveFrontToBack();
        continue;
      }
      if (is_expired(e)) {
        probation_.PopFront();
        *expired = true;
        return e;
      }
      if (!TakeUse(e)) return e;
      if (!Move(probation_, protected_, e)) {
        probation_.MoveFrontToBack();  // no memory: another lap in probation
        continue;
      }
      while (protected_.size() > protected_max) {
        Node *d = DemoteOne(keep, is_expired, expired);
        if (*expired) return d;
        if (d == nullptr) break;
      }
    }
  }

  // The protected hand: the first unused entry moves to probation's back and
  // is returned. nullptr when protected holds nothing else than keep, or the
  // move cannot allocate.
  template <class IsExpired>
  Node *DemoteOne(const Node *keep, IsExpired &is_expired, bool *expired) {
    Node *e = Hand(protected_, keep, is_expired, expired);
    if (e == nullptr || *expired) return e;
    return Move(protected_, probation_, e) ? e : nullptr;
  }

  const Allocator *alloc_ = nullptr;
  double fraction_ = 0.01;
  Ring<Node> window_, probation_, protected_;
  FrequencySketch sketch_;
  uint64_t bytes_ = 0;
};

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_WINDOW_TINYLFU_H_
