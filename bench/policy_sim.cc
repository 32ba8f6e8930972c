// policy_sim: standalone hit-ratio simulator for the adaptive, frequency-aware
// CLOCK eviction policy ("AW-TinyLFU-CLOCK") proposed for the libcache engine,
// next to exact LRU and classic CLOCK.
//
//   g++ -O2 -std=c++17 bench/policy_sim.cc -lz -o /tmp/policy_sim
//   /tmp/policy_sim <traces dir> oltp:250 gli:500 ...   trace rows
//   /tmp/policy_sim --synthetic                         three generated workloads
//   options (anywhere): --set name=value  (a Config field, see kConfigFields)
//                       --fixed           also print each fixed window fraction
//
// Replay model (shared/traces/README.md): every request is a get; a hit when
// the key is present; on a miss the key is inserted; capacity = entries.
//
// The adaptive policy is written as the engine would hold it, so it ports line
// by line:
//   * Entry {hash, referenced, segment, ring_pos}: the only per-entry state.
//   * Read path (a hit): sets entry->referenced = 1, nothing else; and, for the
//     hash-sampled keys (hash & sample_mask) == 0, appends (hash, hit) to a
//     per-shard buffer that the write path drains (here: delivered at once).
//   * Write path (under the shard lock): OnInsert / OnUpdate / OnRemove /
//     EvictOne / OnSampledAccess (drained buffer + sampled inserts).
//   * Three CLOCK rings (window, probation, protected): circular arrays of
//     Entry*, push at tail, hand at head, holes = nullptr, compaction on grow.
//   * A count-min sketch (4-bit counters, depth 4, halving aging) that is only
//     written under the writer's lock: on insert, and when a hand finds an
//     entry referenced and clears the bit.
//   * Shadow caches (same policy, fixed window fractions, fed the sampled key
//     slice) race each epoch; the winner's window fraction is adopted.

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

namespace {

// ---------------------------------------------------------------------------
// Hashing. The engine uses XXH3 of the key bytes; the sim uses splitmix64 of
// the integer key with a fixed seed. All routing/sampling/sketch indices are
// derived from this one 64-bit hash:
//   shard      = hash >> (64 - log2(shards))   (top bits)
//   sampled    = (hash & sample_mask) == 0     (low bits)
//   sketch row = multiplicative remix per row  (all bits)
// ---------------------------------------------------------------------------
uint64_t g_hash_seed = 0x6c69626361636865ULL;  // --set hash_seed=N to vary

inline uint64_t SplitMix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
inline uint64_t KeyHash(uint64_t key) { return SplitMix64(key + SplitMix64(g_hash_seed)); }

// ---------------------------------------------------------------------------
// Tunables. Every constant of the policy lives here (printed with --set).
// ---------------------------------------------------------------------------
struct Config {
  // Window fraction candidates raced by the shadows (fractions of capacity).
  std::vector<double> fractions = {0.01, 0.10, 0.30, 0.80};
  double initial_fraction = 0.01;  // used until the first epoch decides
  double protected_share = 0.90;   // protected ring max = share * main size
  int sample_shift = 4;            // sampled slice = 1/16 of keys (hash & 15 == 0)
  uint32_t min_shadow = 64;        // shadows smaller than this: sample more keys
  uint32_t min_adapt_capacity = 16;  // below: no shadows, fixed initial fraction
  double epoch_mult = 10.0;        // epoch = epoch_mult * shadow capacity sampled accesses
  double score_decay = 0.5;        // shadow score = decay * old + hits in epoch
  int sketch_width_mult = 4;       // counters per row = nextpow2(capacity) * mult (min 64)
  int sketch_depth = 4;
  double aging_mult = 10.0;        // halve all counters after aging_mult * capacity increments
  int window_clock = 1;            // 1: window is a CLOCK (second chance); 0: FIFO
  int window_ref_to_main = 0;      // 1: a referenced window head skips admission -> probation
  int conservative_update = 1;     // count-min conservative update
  int adapt = 1;                   // 0: fixed initial_fraction, no shadows
  int diag_count_hits = 0;         // DIAGNOSTIC ONLY (not portable): sketch counts every hit
};

Config g_config;

// ---------------------------------------------------------------------------
// Entry: exactly the per-entry policy state the engine keeps.
// ---------------------------------------------------------------------------
enum Segment : uint8_t { kNone = 0, kWindow = 1, kProbation = 2, kProtected = 3 };

struct Entry {
  uint64_t hash = 0;
  uint8_t referenced = 0;  // the only thing the read path writes
  uint8_t segment = kNone;  // 2 bits in the engine
  uint32_t ring_pos = 0;    // slot index in its segment's ring
};

// ---------------------------------------------------------------------------
// Ring: a CLOCK ring as a circular array of Entry*. Push at tail, the hand is
// at head; removal leaves a hole (nullptr) that the hand skips; when the array
// is full it is compacted (holes dropped) into an array of twice the live
// count plus 8, rewriting ring_pos of the live entries.
// ---------------------------------------------------------------------------
class Ring {
 public:
  uint32_t size() const { return live_; }

  void PushTail(Entry *e, Segment seg) {
    if (tail_ - head_ == slots_.size()) Compact();
    const uint32_t pos = static_cast<uint32_t>(tail_ % slots_.size());
    slots_[pos] = e;
    e->ring_pos = pos;
    e->segment = seg;
    ++tail_;
    ++live_;
  }

  void Remove(Entry *e) {  // leaves a hole
    slots_[e->ring_pos] = nullptr;
    e->segment = kNone;
    --live_;
  }

  // The live entry under the hand (skipping holes), or nullptr when empty.
  Entry *Head() {
    while (head_ != tail_) {
      Entry *e = slots_[head_ % slots_.size()];
      if (e != nullptr) return e;
      ++head_;
    }
    return nullptr;
  }

  // Remove the head entry (the caller has just read it with Head()).
  Entry *PopHead() {
    Entry *e = Head();
    if (e == nullptr) return nullptr;
    slots_[head_ % slots_.size()] = nullptr;
    ++head_;
    e->segment = kNone;
    --live_;
    return e;
  }

 private:
  void Compact() {
    std::vector<Entry *> next(std::max<size_t>(8, 2 * static_cast<size_t>(live_) + 8));
    uint64_t n = 0;
    for (uint64_t i = head_; i != tail_; ++i) {
      Entry *e = slots_.empty() ? nullptr : slots_[i % slots_.size()];
      if (e == nullptr) continue;
      e->ring_pos = static_cast<uint32_t>(n);
      next[n++] = e;
    }
    slots_.swap(next);
    head_ = 0;
    tail_ = n;
  }

  std::vector<Entry *> slots_;
  uint64_t head_ = 0, tail_ = 0;  // monotonically increasing; index = % size
  uint32_t live_ = 0;
};

// ---------------------------------------------------------------------------
// Count-min sketch: depth rows of width 4-bit counters (two per byte).
// Increment uses conservative update (only the minimal counters grow).
// Aging: after aging_period increments, every counter is halved.
// ---------------------------------------------------------------------------
class Sketch {
 public:
  explicit Sketch(uint32_t capacity) {
    uint32_t w = 64;
    const uint64_t want = static_cast<uint64_t>(capacity) * g_config.sketch_width_mult;
    while (w < want) w <<= 1;
    width_ = w;
    log2w_ = 0;
    while ((1u << log2w_) < w) ++log2w_;
    depth_ = g_config.sketch_depth;
    table_.assign(static_cast<size_t>(depth_) * w / 2, 0);
    aging_period_ = static_cast<uint64_t>(g_config.aging_mult * std::max<uint32_t>(capacity, 16));
  }

  uint32_t Estimate(uint64_t hash) const {
    uint32_t m = 15;
    for (int r = 0; r < depth_; ++r) m = std::min(m, Get(r, Index(r, hash)));
    return m;
  }

  void Increment(uint64_t hash) {
    uint32_t idx[8], val[8];
    uint32_t m = 15;
    for (int r = 0; r < depth_; ++r) {
      idx[r] = Index(r, hash);
      val[r] = Get(r, idx[r]);
      m = std::min(m, val[r]);
    }
    if (m < 15) {
      for (int r = 0; r < depth_; ++r) {
        if (!g_config.conservative_update || val[r] == m) Set(r, idx[r], std::min<uint32_t>(val[r] + 1, 15));
      }
    }
    if (++increments_ >= aging_period_) Age();
  }

  size_t bytes() const { return table_.size(); }

 private:
  static constexpr uint64_t kRowMul[8] = {
      0x9e3779b97f4a7c15ULL, 0xc2b2ae3d27d4eb4fULL, 0x165667b19e3779f9ULL, 0xd6e8feb86659fd93ULL,
      0xff51afd7ed558ccdULL, 0xc4ceb9fe1a85ec53ULL, 0xa0761d6478bd642fULL, 0xe7037ed1a0b428dbULL};

  uint32_t Index(int r, uint64_t hash) const {
    return static_cast<uint32_t>(((hash ^ (hash >> 29)) * kRowMul[r] + kRowMul[7 - r]) >> (64 - log2w_));
  }
  uint32_t Get(int r, uint32_t i) const {
    const uint8_t b = table_[(static_cast<size_t>(r) * width_ + i) >> 1];
    return (i & 1) ? (b >> 4) : (b & 15);
  }
  void Set(int r, uint32_t i, uint32_t v) {
    uint8_t &b = table_[(static_cast<size_t>(r) * width_ + i) >> 1];
    b = (i & 1) ? static_cast<uint8_t>((b & 0x0f) | (v << 4)) : static_cast<uint8_t>((b & 0xf0) | v);
  }
  void Age() {
    // Halve every 4-bit counter: shift the byte right and drop the bit that
    // crossed from the high nibble into the low one.
    for (auto &b : table_) b = static_cast<uint8_t>((b >> 1) & 0x77);
    increments_ /= 2;
  }

  std::vector<uint8_t> table_;
  uint32_t width_ = 0, log2w_ = 0;
  int depth_ = 4;
  uint64_t increments_ = 0, aging_period_ = 0;
};
constexpr uint64_t Sketch::kRowMul[8];

// ---------------------------------------------------------------------------
// The core policy (no shadows): window CLOCK -> TinyLFU admission ->
// segmented CLOCK main (probation + protected). Used both for the real shard
// and for each shadow.
// ---------------------------------------------------------------------------
class WTinyLfuClock {
 public:
  WTinyLfuClock(uint32_t capacity, double window_fraction) : capacity_(capacity), sketch_(capacity) {
    SetWindowFraction(window_fraction);
  }

  void SetWindowFraction(double f) {
    fraction_ = f;
    // Window at least 1 entry; main at least 1 entry when capacity > 1.
    uint32_t w = static_cast<uint32_t>(std::lround(f * capacity_));
    w = std::max<uint32_t>(w, 1);
    if (capacity_ > 1) w = std::min<uint32_t>(w, capacity_ - 1);
    window_target_ = w;
    const uint32_t main = capacity_ - w;
    protected_max_ = static_cast<uint32_t>(g_config.protected_share * main);
  }
  double fraction() const { return fraction_; }
  uint32_t size() const { return window_.size() + probation_.size() + protected_.size(); }

  // A new key was stored (after a miss, or a set of an absent key).
  void OnInsert(Entry *e) {
    sketch_.Increment(e->hash);
    e->referenced = 0;
    window_.PushTail(e, kWindow);
  }

  // A set of a present key: a use, exactly what a read hit does.
  void OnUpdate(Entry *e) { e->referenced = 1; }

  // Explicit delete: leave a hole in its ring.
  void OnRemove(Entry *e) { RingOf(e)->Remove(e); }

  // Called while size() > capacity: choose a victim, unlink it, return it.
  Entry *EvictOne() {
    for (;;) {
      const uint32_t main_size = probation_.size() + protected_.size();
      if (window_.size() > window_target_ || main_size == 0) {
        Entry *cand = WindowCandidate();
        if (cand == nullptr) return MainVictimPop();  // window empty (cannot happen when main empty)
        if (main_size < capacity_ - window_target_ || main_size == 0) {
          // Main has room (warm-up or a window shrink just happened): no contest.
          probation_.PushTail(cand, kProbation);
          continue;
        }
        Entry *victim = ProbationVictim();  // an unreferenced probation entry (stays linked)
        if (victim == nullptr) {
          probation_.PushTail(cand, kProbation);
          continue;
        }
        // TinyLFU admission: the candidate must be strictly more frequent.
        if (sketch_.Estimate(cand->hash) > sketch_.Estimate(victim->hash)) {
          probation_.Remove(victim);
          probation_.PushTail(cand, kProbation);
          return victim;
        }
        return cand;
      }
      return MainVictimPop();
    }
  }

  size_t sketch_bytes() const { return sketch_.bytes(); }
  void DiagCountHit(Entry *e) { sketch_.Increment(e->hash); }

 private:
  Ring *RingOf(Entry *e) {
    switch (e->segment) {
      case kWindow: return &window_;
      case kProbation: return &probation_;
      default: return &protected_;
    }
  }

  // Pops the window head as the admission candidate. With a CLOCK window a
  // referenced head gets a second chance (bit cleared, sketch incremented).
  Entry *WindowCandidate() {
    for (;;) {
      Entry *e = window_.Head();
      if (e == nullptr) return nullptr;
      if (e->referenced) {
        e->referenced = 0;
        sketch_.Increment(e->hash);
        if (g_config.window_ref_to_main) {
          window_.PopHead();
          probation_.PushTail(e, kProbation);
          continue;
        }
        if (g_config.window_clock) {
          window_.PopHead();
          window_.PushTail(e, kWindow);
          continue;
        }
      }
      window_.PopHead();
      return e;
    }
  }

  // Advances the probation hand: referenced entries are promoted to protected
  // (bit cleared, sketch incremented); returns the first unreferenced one
  // (still linked). Refills probation from protected when it runs dry.
  Entry *ProbationVictim() {
    for (;;) {
      Entry *e = probation_.Head();
      if (e == nullptr) {
        if (!DemoteOne()) return nullptr;
        continue;
      }
      if (!e->referenced) return e;
      e->referenced = 0;
      sketch_.Increment(e->hash);
      probation_.PopHead();
      protected_.PushTail(e, kProtected);
      while (protected_.size() > protected_max_) DemoteOne();
    }
  }

  // Protected hand: a referenced head gets a second chance (bit cleared,
  // sketch incremented, moved to the protected tail); the first unreferenced
  // one is demoted to the probation tail. Used on protected overflow and to
  // refill an empty probation. Returns false when protected is empty.
  bool DemoteOne() {
    for (;;) {
      Entry *e = protected_.Head();
      if (e == nullptr) return false;
      protected_.PopHead();
      if (e->referenced) {
        e->referenced = 0;
        sketch_.Increment(e->hash);
        protected_.PushTail(e, kProtected);
        continue;
      }
      probation_.PushTail(e, kProbation);
      return true;
    }
  }

  Entry *MainVictimPop() {
    Entry *v = ProbationVictim();
    if (v != nullptr) {
      probation_.Remove(v);
      return v;
    }
    return window_.PopHead();
  }

  uint32_t capacity_;
  double fraction_ = 0;
  uint32_t window_target_ = 1, protected_max_ = 0;
  Ring window_, probation_, protected_;
  Sketch sketch_;
};

// ---------------------------------------------------------------------------
// A shadow: a tiny cache (own map, own entries) running WTinyLfuClock at a
// fixed window fraction, fed the sampled key slice. Counts hits per epoch.
// ---------------------------------------------------------------------------
class Shadow {
 public:
  Shadow(uint32_t capacity, double fraction) : capacity_(capacity), policy_(capacity, fraction) {}

  void Access(uint64_t hash) {
    auto it = map_.find(hash);
    if (it != map_.end()) {
      it->second->referenced = 1;
      ++hits_;
      return;
    }
    Entry *e = new Entry;
    e->hash = hash;
    map_.emplace(hash, e);
    policy_.OnInsert(e);
    while (policy_.size() > capacity_) {
      Entry *v = policy_.EvictOne();
      map_.erase(v->hash);
      delete v;
    }
  }
  ~Shadow() {
    for (auto &kv : map_) delete kv.second;
  }

  uint64_t TakeHits() {
    const uint64_t h = hits_;
    hits_ = 0;
    return h;
  }
  double fraction() const { return policy_.fraction(); }
  size_t sketch_bytes() const { return policy_.sketch_bytes(); }

 private:
  uint32_t capacity_;
  WTinyLfuClock policy_;
  std::unordered_map<uint64_t, Entry *> map_;
  uint64_t hits_ = 0;
};

// ---------------------------------------------------------------------------
// AdaptivePolicy: one per shard. The core policy plus the shadow race.
// ---------------------------------------------------------------------------
class AdaptivePolicy {
 public:
  explicit AdaptivePolicy(uint32_t capacity) : capacity_(capacity), core_(capacity, g_config.initial_fraction) {
    if (!g_config.adapt || capacity < g_config.min_adapt_capacity) {
      sample_mask_ = ~0ULL;  // nothing sampled: fixed fraction
      return;
    }
    // Sample 1/2^shift of the keys, but keep each shadow >= min_shadow
    // entries: tiny shards sample a larger slice (shift 0 = every key).
    int shift = g_config.sample_shift;
    while (shift > 0 && (capacity >> shift) < g_config.min_shadow) --shift;
    sample_mask_ = (1ULL << shift) - 1;
    const uint32_t shadow_cap = std::max<uint32_t>(1, capacity >> shift);
    for (double f : g_config.fractions) shadows_.emplace_back(new Shadow(shadow_cap, f));
    scores_.assign(shadows_.size(), 0.0);
    epoch_len_ = static_cast<uint64_t>(g_config.epoch_mult * shadow_cap);
    shadow_cap_ = shadow_cap;
  }

  // Read path decides with this whether to append (hash, hit) to the buffer.
  bool Sampled(uint64_t hash) const { return (hash & sample_mask_) == 0; }

  void OnInsert(Entry *e) { core_.OnInsert(e); }
  void OnUpdate(Entry *e) { core_.OnUpdate(e); }
  void OnRemove(Entry *e) { core_.OnRemove(e); }
  Entry *EvictOne() { return core_.EvictOne(); }
  uint32_t size() const { return core_.size(); }
  void DiagCountHit(Entry *e) { core_.DiagCountHit(e); }

  // A sampled access (drained from the read buffer, or a sampled insert on
  // the write path). Feeds every shadow; at an epoch's end adopts the window
  // fraction of the shadow with the best decayed score.
  void OnSampledAccess(uint64_t hash, bool /*hit*/) {
    if (shadows_.empty()) return;
    for (auto &s : shadows_) s->Access(hash);
    if (++epoch_accesses_ < epoch_len_) return;
    epoch_accesses_ = 0;
    size_t best = 0;
    for (size_t i = 0; i < shadows_.size(); ++i) {
      scores_[i] = g_config.score_decay * scores_[i] + static_cast<double>(shadows_[i]->TakeHits());
      if (scores_[i] > scores_[best]) best = i;
    }
    // Keep the current fraction on a tie with it.
    for (size_t i = 0; i < shadows_.size(); ++i)
      if (shadows_[i]->fraction() == core_.fraction() && scores_[i] >= scores_[best]) best = i;
    if (shadows_[best]->fraction() != core_.fraction()) {
      core_.SetWindowFraction(shadows_[best]->fraction());
      ++switches_;
    }
  }

  double fraction() const { return core_.fraction(); }
  uint64_t switches() const { return switches_; }
  size_t extra_bytes() const {
    // sketch + per shadow: sketch, entries (16 B), map slot (~16 B), ring slot (~8 B x2 slack)
    size_t b = core_.sketch_bytes();
    for (auto &s : shadows_) b += s->sketch_bytes() + static_cast<size_t>(shadow_cap_) * (16 + 16 + 16);
    return b;
  }

 private:
  uint32_t capacity_;
  WTinyLfuClock core_;
  uint64_t sample_mask_ = ~0ULL;
  std::vector<std::unique_ptr<Shadow>> shadows_;
  std::vector<double> scores_;
  uint64_t epoch_len_ = 0, epoch_accesses_ = 0, switches_ = 0;
  uint32_t shadow_cap_ = 0;
};

// ---------------------------------------------------------------------------
// Simulated caches (the harness owns the key->entry map, as the engine does).
// ---------------------------------------------------------------------------
struct Result {
  uint64_t hits = 0, requests = 0;
  double pct() const { return requests ? 100.0 * hits / requests : 0.0; }
};

Result RunLru(const std::vector<uint64_t> &keys, uint32_t capacity) {
  std::list<uint64_t> order;  // front = most recent
  std::unordered_map<uint64_t, std::list<uint64_t>::iterator> map;
  map.reserve(capacity * 2);
  Result r;
  for (uint64_t k : keys) {
    ++r.requests;
    auto it = map.find(k);
    if (it != map.end()) {
      ++r.hits;
      order.splice(order.begin(), order, it->second);
      continue;
    }
    order.push_front(k);
    map.emplace(k, order.begin());
    if (map.size() > capacity) {
      map.erase(order.back());
      order.pop_back();
    }
  }
  return r;
}

Result RunClock(const std::vector<uint64_t> &keys, uint32_t capacity) {
  std::unordered_map<uint64_t, Entry *> map;
  Ring ring;
  Result r;
  for (uint64_t k : keys) {
    ++r.requests;
    auto it = map.find(k);
    if (it != map.end()) {
      ++r.hits;
      it->second->referenced = 1;
      continue;
    }
    Entry *e = new Entry;
    e->hash = k;
    map.emplace(k, e);
    ring.PushTail(e, kWindow);
    while (map.size() > capacity) {
      Entry *h = ring.PopHead();
      if (h->referenced) {
        h->referenced = 0;
        ring.PushTail(h, kWindow);
        continue;
      }
      map.erase(h->hash);
      delete h;
    }
  }
  for (auto &kv : map) delete kv.second;
  return r;
}

struct AdaptiveStats {
  Result r;
  double final_fraction = 0;
  uint64_t switches = 0;
  double extra_bytes_per_entry = 0;
};

// Adaptive policy over `shards` shards (capacity split evenly, remainder to
// the first shards), keys routed by the top hash bits.
AdaptiveStats RunAdaptive(const std::vector<uint64_t> &keys, uint32_t capacity, int shards) {
  int shard_bits = 0;
  while ((1 << shard_bits) < shards) ++shard_bits;
  struct Shard {
    uint32_t capacity;
    std::unique_ptr<AdaptivePolicy> policy;
    std::unordered_map<uint64_t, Entry *> map;
  };
  std::vector<Shard> s(shards);
  for (int i = 0; i < shards; ++i) {
    s[i].capacity = capacity / shards + (static_cast<uint32_t>(i) < capacity % shards ? 1 : 0);
    s[i].policy.reset(new AdaptivePolicy(std::max<uint32_t>(1, s[i].capacity)));
  }
  AdaptiveStats st;
  for (uint64_t k : keys) {
    ++st.r.requests;
    const uint64_t h = KeyHash(k);
    Shard &sh = s[shard_bits ? (h >> (64 - shard_bits)) : 0];
    AdaptivePolicy &p = *sh.policy;
    auto it = sh.map.find(h);
    if (it != sh.map.end()) {
      ++st.r.hits;
      it->second->referenced = 1;                       // read path: the one bit
      if (g_config.diag_count_hits) p.DiagCountHit(it->second);
      if (p.Sampled(h)) p.OnSampledAccess(h, true);     // read path: sampled buffer
      continue;
    }
    // Miss: the set (write path, under the shard lock).
    Entry *e = new Entry;
    e->hash = h;
    sh.map.emplace(h, e);
    p.OnInsert(e);
    if (p.Sampled(h)) p.OnSampledAccess(h, false);
    while (p.size() > sh.capacity) {
      Entry *v = p.EvictOne();
      sh.map.erase(v->hash);
      delete v;
    }
  }
  size_t extra = 0;
  for (auto &x : s) {
    st.final_fraction += x.policy->fraction() / shards;
    st.switches += x.policy->switches();
    extra += x.policy->extra_bytes();
    for (auto &kv : x.map) delete kv.second;
  }
  st.extra_bytes_per_entry = static_cast<double>(extra) / capacity;
  return st;
}

// ---------------------------------------------------------------------------
// Traces and synthetic workloads.
// ---------------------------------------------------------------------------
bool LoadTrace(const std::string &path, std::vector<uint64_t> *out) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char line[256];
  while (gzgets(f, line, sizeof line) != nullptr) {
    if (line[0] < '0' || line[0] > '9') continue;
    out->push_back(std::strtoull(line, nullptr, 10));
  }
  gzclose(f);
  return true;
}

class Zipf {
 public:
  Zipf(uint64_t n, double alpha) : cdf_(n) {
    double sum = 0;
    for (uint64_t i = 0; i < n; ++i) cdf_[i] = (sum += 1.0 / std::pow(static_cast<double>(i + 1), alpha));
    for (auto &c : cdf_) c /= sum;
  }
  uint64_t operator()(std::mt19937_64 &rng) {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng);
    return static_cast<uint64_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

constexpr uint64_t kSynthRequests = 1000000;

// (a) recency-heavy: hot set of 1000 keys, Zipf 0.9 inside, replaced by a
// disjoint set every 50k requests.
std::vector<uint64_t> SynthShiftingHotSet() {
  std::mt19937_64 rng(42);
  Zipf z(1000, 0.9);
  std::vector<uint64_t> k;
  for (uint64_t i = 0; i < kSynthRequests; ++i) k.push_back((i / 50000) * 1000 + z(rng));
  return k;
}

// (b) Zipf 0.99 over 100k keys, 20% of requests are one-time scan keys.
std::vector<uint64_t> SynthZipfWithScan() {
  std::mt19937_64 rng(43);
  Zipf z(100000, 0.99);
  std::vector<uint64_t> k;
  uint64_t next_scan = 1ULL << 40;
  for (uint64_t i = 0; i < kSynthRequests; ++i) {
    if (std::uniform_real_distribution<double>(0, 1)(rng) < 0.2)
      k.push_back(next_scan++);
    else
      k.push_back(z(rng));
  }
  return k;
}

// (c) LRU-friendly: with p=0.7 one of the last 500 distinct keys requested
// (uniformly), else a brand-new key.
std::vector<uint64_t> SynthRecentReuse() {
  std::mt19937_64 rng(44);
  std::vector<uint64_t> recent;  // most recent distinct first, at most 500
  std::vector<uint64_t> k;
  uint64_t next = 0;
  for (uint64_t i = 0; i < kSynthRequests; ++i) {
    uint64_t key;
    if (!recent.empty() && std::uniform_real_distribution<double>(0, 1)(rng) < 0.7) {
      const size_t j = std::uniform_int_distribution<size_t>(0, recent.size() - 1)(rng);
      key = recent[j];
      recent.erase(recent.begin() + static_cast<long>(j));
    } else {
      key = next++;
    }
    recent.insert(recent.begin(), key);
    if (recent.size() > 500) recent.pop_back();
    k.push_back(key);
  }
  return k;
}

// ---------------------------------------------------------------------------
// Reference numbers (shared/traces/README.md): best policy and LRU.
// ---------------------------------------------------------------------------
struct Ref {
  const char *row;
  double best, lru;
};
const Ref kRefs[] = {
    {"oltp:250", 21.7, 16.5},   {"oltp:1000", 40.8, 32.8}, {"oltp:2000", 47.0, 42.5},
    {"gli:500", 33.2, 0.9},     {"gli:1000", 50.7, 11.2},  {"loop:500", 48.9, 0.0},
    {"loop:1000", 97.7, 0.0},   {"sprite:500", 78.9, 78.3}, {"multi2:1500", 65.4, 48.3},
    {"web07:2000", 58.0, 55.5}, {"zipf1:100", 67.1, 57.5},
};

struct ConfigField {
  const char *name;
  void (*set)(const char *);
};
#define NUM_FIELD(f) {#f, [](const char *v) { g_config.f = static_cast<decltype(g_config.f)>(std::atof(v)); }}
const ConfigField kConfigFields[] = {
    {"hash_seed", [](const char *v) { g_hash_seed = std::strtoull(v, nullptr, 0); }},
    NUM_FIELD(initial_fraction), NUM_FIELD(protected_share), NUM_FIELD(sample_shift),
    NUM_FIELD(min_shadow),       NUM_FIELD(min_adapt_capacity), NUM_FIELD(epoch_mult),
    NUM_FIELD(score_decay),      NUM_FIELD(sketch_width_mult), NUM_FIELD(sketch_depth),
    NUM_FIELD(aging_mult),       NUM_FIELD(window_clock),   NUM_FIELD(window_ref_to_main),
    NUM_FIELD(conservative_update), NUM_FIELD(adapt), NUM_FIELD(diag_count_hits),
    {"fractions",
     [](const char *v) {
       g_config.fractions.clear();
       for (const char *p = v; *p;) {
         g_config.fractions.push_back(std::atof(p));
         p = std::strchr(p, ',');
         if (!p) break;
         ++p;
       }
     }},
};

void Report(const std::string &name, const std::vector<uint64_t> &keys, uint32_t capacity, double best,
            bool fixed) {
  const double lru = RunLru(keys, capacity).pct();
  const double clk = RunClock(keys, capacity).pct();
  const AdaptiveStats a1 = RunAdaptive(keys, capacity, 1);
  const AdaptiveStats a8 = RunAdaptive(keys, capacity, 8);
  const double ref = best >= 0 ? best : std::max(lru, clk);
  std::printf("%-14s %6s %6.1f %6.1f %7.1f %7.1f %+6.1f %+6.1f %+6.1f %+6.1f  f=%.2f sw=%llu x=%.1fB %s\n",
              name.c_str(), best >= 0 ? std::to_string(best).substr(0, 4).c_str() : "-", lru, clk, a1.r.pct(),
              a8.r.pct(), a1.r.pct() - ref, a1.r.pct() - lru, a8.r.pct() - ref, a8.r.pct() - lru,
              a1.final_fraction, static_cast<unsigned long long>(a1.switches), a1.extra_bytes_per_entry,
              (a1.r.pct() >= ref - 2.0 && a1.r.pct() >= lru - 1.0) ? "ok" : "MISS");
  if (fixed) {
    const Config saved = g_config;
    std::printf("    fixed:");
    for (double f : saved.fractions) {
      g_config.adapt = 0;
      g_config.initial_fraction = f;
      std::printf(" %.2f=%.1f", f, RunAdaptive(keys, capacity, 1).r.pct());
    }
    std::printf("\n");
    g_config = saved;
  }
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char **argv) {
  std::string dir;
  std::vector<std::string> rows;
  bool synthetic = false, fixed = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--synthetic") {
      synthetic = true;
    } else if (a == "--fixed") {
      fixed = true;
    } else if (a == "--set" && i + 1 < argc) {
      std::string kv = argv[++i];
      const size_t eq = kv.find('=');
      bool found = false;
      for (const auto &f : kConfigFields) {
        if (kv.substr(0, eq) == f.name) {
          f.set(kv.c_str() + eq + 1);
          found = true;
        }
      }
      if (!found) {
        std::fprintf(stderr, "unknown config field %s\n", kv.c_str());
        return 2;
      }
    } else if (dir.empty() && a.find(':') == std::string::npos) {
      dir = a;
    } else {
      rows.push_back(a);
    }
  }
  if (rows.empty() && !synthetic) {
    std::fprintf(stderr, "usage: %s <traces dir> trace:capacity ... [--synthetic] [--fixed] [--set k=v]\n", argv[0]);
    return 2;
  }
  std::printf("%-14s %6s %6s %6s %7s %7s %6s %6s %6s %6s\n", "row", "best", "LRU", "CLOCK", "adapt1", "adapt8",
              "1-best", "1-LRU", "8-best", "8-LRU");
  for (const auto &row : rows) {
    const size_t c = row.find(':');
    const std::string trace = row.substr(0, c);
    const uint32_t capacity = static_cast<uint32_t>(std::strtoul(row.c_str() + c + 1, nullptr, 10));
    std::vector<uint64_t> keys;
    if (!LoadTrace(dir + "/" + trace + ".keys.gz", &keys)) {
      std::fprintf(stderr, "cannot read %s/%s.keys.gz\n", dir.c_str(), trace.c_str());
      return 1;
    }
    double best = -1;
    for (const auto &r : kRefs)
      if (row == r.row) best = r.best;
    Report(row, keys, capacity, best, fixed);
  }
  if (synthetic) {
    Report("synth-a:2000", SynthShiftingHotSet(), 2000, -1, fixed);
    Report("synth-b:5000", SynthZipfWithScan(), 5000, -1, fixed);
    Report("synth-c:1000", SynthRecentReuse(), 1000, -1, fixed);
  }
  return 0;
}
