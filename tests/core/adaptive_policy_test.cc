// The adaptive policy's parts (core/src/frequency_sketch.h,
// core/src/window_tinylfu.h, core/src/adaptive_policy.h), driven directly: the
// sketch's counting and aging, the rings' segment sizes and invariants, the
// admission rule, `keep` and expired entries, and the window share following
// the workload. (The whole engine runs the policy in tests/capi, the stress
// test and the out-of-memory test; hit ratios on real traces are measured by
// bench/trace_replay.)

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/src/adaptive_policy.h"
#include "core/src/alloc.h"
#include "core/src/expiry.h"
#include "core/src/frequency_sketch.h"
#include "core/src/hash.h"
#include "core/src/window_tinylfu.h"

namespace libcache::detail {
namespace {

const Allocator &Alloc() { return GetAllocator(); }

// ---- FrequencySketch --------------------------------------------------------

TEST(FrequencySketch, CountsNeverUnderestimateAndSaturateAt15) {
  FrequencySketch s;
  ASSERT_TRUE(s.Resize(&Alloc(), 1000));
  for (uint64_t k = 1; k <= 50; ++k) {
    for (uint64_t i = 0; i < k % 12; ++i) s.Increment(k * 0x9E3779B97F4A7C15ULL);
  }
  for (uint64_t k = 1; k <= 50; ++k) {
    EXPECT_GE(s.Estimate(k * 0x9E3779B97F4A7C15ULL), k % 12) << "key " << k;
  }
  for (int i = 0; i < 100; ++i) s.Increment(42);
  EXPECT_EQ(s.Estimate(42), FrequencySketch::kMaxCount);
  EXPECT_EQ(s.Estimate(4242), 0u) << "an unseen key in a sparse sketch";
}

TEST(FrequencySketch, AgesByHalvingAfterTenIncrementsPerEntry) {
  FrequencySketch s;
  ASSERT_TRUE(s.Resize(&Alloc(), 100));
  ASSERT_EQ(s.aging_period(), 100u * FrequencySketch::kAgingPerEntry);
  for (int i = 0; i < 12; ++i) s.Increment(7);
  ASSERT_EQ(s.Estimate(7), 12u);
  // Other keys' increments bring the total to the aging period.
  uint64_t k = 1000;
  while (s.increments() < s.aging_period() - 1) s.Increment(++k * 0x9E3779B97F4A7C15ULL);
  EXPECT_EQ(s.Estimate(7), 12u) << "not aged yet";
  s.Increment(++k * 0x9E3779B97F4A7C15ULL);
  EXPECT_EQ(s.Estimate(7), 6u) << "every counter halves at the aging period";
  EXPECT_EQ(s.increments(), s.aging_period() / 2);
}

TEST(FrequencySketch, GrowsWithTheCapacity) {
  FrequencySketch s;
  ASSERT_TRUE(s.Resize(&Alloc(), 10));
  // 2 counters per byte, plus a block's slack for alignment.
  EXPECT_EQ(s.bytes(), FrequencySketch::kDepth * FrequencySketch::kMinWidth / 2 + 64);
  ASSERT_TRUE(s.Resize(&Alloc(), 1000));
  EXPECT_EQ(s.bytes(), FrequencySketch::kDepth * 4096 / 2 + 64) << "4 counters per entry per row";
}

// ---- WindowTinyLfu over test nodes -----------------------------------------

struct Node {
  uint64_t hash = 0;
  uint32_t ring_pos_segment = 0;
  std::atomic<uint8_t> referenced{0};
  uint32_t ring_pos() const { return ring_pos_segment >> 2; }
  uint32_t segment() const { return ring_pos_segment & 3; }
  void set_ring_pos(uint32_t pos) { ring_pos_segment = pos << 2 | segment(); }
};
uint64_t SketchKeyOf(const Node *n) { return n->hash; }

// A cache of `capacity` keys over WindowTinyLfu, as a shard drives it: a hit
// sets the bit; a miss adds the key after making room (incoming = true).
class Sim {
 public:
  Sim(uint32_t capacity, double share) : capacity_(capacity) {
    EXPECT_TRUE(p_.Init(&Alloc(), 16, capacity, share));
  }
  bool Access(uint64_t key) {
    auto it = map_.find(key);
    if (it != map_.end()) {
      it->second->referenced.store(1);
      return true;
    }
    while (p_.size() + 1 > capacity_) {
      bool expired;
      Node *v = p_.Evict(nullptr, true, [](const Node *) { return false; }, &expired);
      EXPECT_NE(v, nullptr);
      EXPECT_FALSE(expired);
      if (v == nullptr) break;
      map_.erase(v->hash);
      nodes_.erase(v->hash);
    }
    auto n = std::make_unique<Node>();
    n->hash = key;
    EXPECT_TRUE(p_.Add(n.get()));
    map_[key] = n.get();
    nodes_[key] = std::move(n);
    return false;
  }
  bool Contains(uint64_t key) const { return map_.count(key) != 0; }
  WindowTinyLfu<Node> &policy() { return p_; }

 private:
  uint32_t capacity_;
  WindowTinyLfu<Node> p_;
  std::unordered_map<uint64_t, Node *> map_;
  std::unordered_map<uint64_t, std::unique_ptr<Node>> nodes_;
};

uint64_t Key(uint64_t i) { return (i + 1) * 0x9E3779B97F4A7C15ULL; }

TEST(WindowTinyLfu, SegmentsKeepTheirSizes) {
  for (double share : {0.01, 0.10, 0.30, 0.80}) {
    constexpr uint32_t kCap = 400;
    Sim sim(kCap, share);
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<uint64_t> keys(0, 3 * kCap);
    for (int i = 0; i < 20000; ++i) {
      sim.Access(Key(keys(rng)));
      WindowTinyLfu<Node> &p = sim.policy();
      ASSERT_EQ(p.Check(), nullptr) << "access " << i;
      ASSERT_LE(p.size(), kCap);
      if (i < 4 * static_cast<int>(kCap)) continue;  // past warm-up, full
      ASSERT_EQ(p.size(), kCap);
      // The window is at its target (the entry just added may be over it
      // by one until the next eviction).
      const auto w_target = static_cast<uint32_t>(std::max(1.0, share * kCap + 0.5));
      EXPECT_LE(p.window_size(), w_target + 1) << "share " << share;
      const auto main = kCap - std::min(kCap, w_target);
      EXPECT_LE(p.protected_size(), static_cast<uint32_t>(0.9 * main) + 1) << "share " << share;
      EXPECT_EQ(p.window_size() + p.probation_size() + p.protected_size(), p.size());
    }
  }
}

TEST(WindowTinyLfu, FrequentKeysSurviveAScanLargerThanTheCache) {
  constexpr uint32_t kCap = 200;
  Sim sim(kCap, 0.01);
  for (int round = 0; round < 20; ++round) {
    for (uint64_t k = 0; k < 100; ++k) sim.Access(Key(k));
  }
  for (uint64_t k = 0; k < 10 * kCap; ++k) sim.Access(Key(100000 + k));  // one-time scan
  int kept = 0;
  for (uint64_t k = 0; k < 100; ++k) kept += sim.Contains(Key(k)) ? 1 : 0;
  // CLOCK (or LRU) keeps none of them. A few may go: the sketch learns the
  // hot keys' uses only as hands clear their bits, halves its counts during
  // the scan, and collides some scan keys with them.
  EXPECT_GE(kept, 85) << "the scan's one-time keys lose admission to the hot set";
}

TEST(WindowTinyLfu, AnLruFriendlyWorkloadIsServedByALargeWindow) {
  // Each key is used a few times just after its first use, then never again:
  // recency is all there is. A large window keeps them; admission by frequency
  // with a 1% window does not.
  auto run = [](double share) {
    Sim sim(500, share);
    uint64_t hits = 0, next = 0;
    std::deque<uint64_t> recent;
    std::mt19937_64 rng(3);
    for (int i = 0; i < 100000; ++i) {
      uint64_t k;
      if (!recent.empty() && rng() % 10 < 7) {
        k = recent[rng() % recent.size()];
      } else {
        k = Key(next++);
        recent.push_back(k);
        if (recent.size() > 400) recent.pop_front();
      }
      hits += sim.Access(k) ? 1 : 0;
    }
    return hits;
  };
  EXPECT_GT(run(0.80), run(0.01) * 3 / 2);
}

TEST(WindowTinyLfu, NeverEvictsKeepAndTakesExpiredEntriesFirst) {
  WindowTinyLfu<Node> p;
  ASSERT_TRUE(p.Init(&Alloc(), 16, 8, 0.25));
  Node nodes[8];
  for (int i = 0; i < 8; ++i) {
    nodes[i].hash = Key(i);
    ASSERT_TRUE(p.Add(&nodes[i]));
  }
  // keep is the only entry left: nothing to evict.
  for (int i = 0; i < 7; ++i) {
    bool expired;
    Node *v = p.Evict(&nodes[7], false, [](const Node *) { return false; }, &expired);
    ASSERT_NE(v, nullptr);
    ASSERT_NE(v, &nodes[7]);
  }
  bool expired;
  EXPECT_EQ(p.Evict(&nodes[7], false, [](const Node *) { return false; }, &expired), nullptr);
  EXPECT_EQ(p.size(), 1u);
  // An expired entry goes before any other, wherever the hands find it.
  Node more[4];
  for (int i = 0; i < 4; ++i) {
    more[i].hash = Key(100 + i);
    ASSERT_TRUE(p.Add(&more[i]));
    more[i].referenced.store(1);
  }
  Node *v = p.Evict(nullptr, false, [&](const Node *n) { return n == &more[2]; }, &expired);
  EXPECT_EQ(v, &more[2]);
  EXPECT_TRUE(expired);
  EXPECT_EQ(p.Check(), nullptr);
}

// ---- AdaptivePolicy: the window share follows the workload ----------------

// A shard's use of the policy, with real entries: reads of sampled keys are
// handed over as a shard's write does.
class PolicyDriver {
 public:
  explicit PolicyDriver(uint32_t capacity) : capacity_(capacity) {
    EXPECT_TRUE(policy_.Init(&Alloc(), 16, capacity, UINT64_MAX));
  }
  ~PolicyDriver() {
    for (auto &kv : map_) kv.second->Unref(Alloc());
  }
  void Access(uint64_t i) {
    const std::string key = std::to_string(i);
    const uint64_t h = HashKey(key, 1);
    if (policy_.sample_mask() != Policy::kNoSampling && SampledHash(h, policy_.sample_mask())) {
      samples_.push_back(h);
    }
    auto it = map_.find(key);
    if (it != map_.end()) {
      it->second->referenced.store(1);
      return;
    }
    policy_.OnSampledReads(samples_.data(), static_cast<uint32_t>(samples_.size()));
    samples_.clear();
    Expiry x;
    Expiry::Check never(x);
    while (policy_.size() + 1 > capacity_) {
      bool expired;
      Entry *v = policy_.Evict(nullptr, never, &expired);
      ASSERT_NE(v, nullptr);
      map_.erase(std::string(v->key()));
      v->Unref(Alloc());
    }
    Entry *e = Entry::Create(Alloc(), key, h, nullptr, 0, 0);
    ASSERT_TRUE(policy_.Add(e, h));
    map_[key] = e;
  }
  AdaptivePolicy &policy() { return policy_; }

 private:
  uint32_t capacity_;
  AdaptivePolicy policy_;
  std::unordered_map<std::string, Entry *> map_;
  std::vector<uint64_t> samples_;
};

TEST(AdaptivePolicy, ChoosesALargeWindowForRecencyAndASmallOneForLoops) {
  {
    PolicyDriver d(1000);
    std::mt19937_64 rng(5);
    std::deque<uint64_t> recent;
    uint64_t next = 0;
    for (int i = 0; i < 300000; ++i) {
      if (!recent.empty() && rng() % 10 < 7) {
        d.Access(recent[rng() % recent.size()]);
      } else {
        recent.push_back(next);
        d.Access(next++);
        if (recent.size() > 500) recent.pop_front();
      }
    }
    EXPECT_GT(d.policy().epochs(), 5u);
    EXPECT_GE(d.policy().window_share(), 0.30) << "recency: a large window wins";
    EXPECT_EQ(d.policy().core().Check(), nullptr);
  }
  {
    PolicyDriver d(1000);
    for (int i = 0; i < 300000; ++i) d.Access(i % 1100);  // a loop just over the capacity
    EXPECT_GT(d.policy().epochs(), 5u);
    EXPECT_LE(d.policy().window_share(), 0.10) << "a loop: admission by frequency wins";
  }
}

TEST(AdaptivePolicy, ShadowsStayWithinTheirBudgetAndScaleWithTheShard) {
  AdaptivePolicy small;
  ASSERT_TRUE(small.Init(&Alloc(), 16, UINT64_MAX, 16 << 10));  // a 16 KiB shard
  Expiry x;
  Expiry::Check never(x);
  std::vector<Entry *> entries;
  for (int i = 0; i < 200; ++i) {
    const std::string key = "k" + std::to_string(i);
    Entry *e = Entry::Create(Alloc(), key, HashKey(key, 1), nullptr, 0, 0);
    entries.push_back(e);
    ASSERT_TRUE(small.Add(e, 0));
  }
  bool expired;
  Entry *v = small.Evict(nullptr, never, &expired);  // the first eviction sets up the shadows
  ASSERT_NE(v, nullptr);
  EXPECT_LE(small.shadow_bytes(), (16u << 10) / AdaptivePolicy::kShadowBudgetShare * 2)
      << "the estimate per shadow entry may be off, not by 2x";
  small.Reset();
  for (Entry *e : entries) e->Unref(Alloc());
}

}  // namespace
}  // namespace libcache::detail
