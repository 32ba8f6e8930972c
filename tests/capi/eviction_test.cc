// Eviction semantics of the C ABI: bounds under churn, counter accounting,
// CLOCK's resistance to one-time scans, pinned values outliving their
// entries, and a Zipf hit ratio compared with an exact LRU.
//
// The suites whose assertions hold for any eviction policy (bounds, staleness,
// accounting, pinned values) run under each (CACHE_POLICY_CLOCK and
// CACHE_POLICY_ADAPTIVE); the two that assert which entries CLOCK keeps (the
// scan test and the hit ratio against LRU) run under CLOCK only.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <list>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "libcache/cache.h"
#include "libcache/cache_experimental.h"
#include "tests/capi/test_util.h"

namespace {

using libcache_test::CachePtr;
using libcache_test::FakeClock;
using libcache_test::OptionsPtr;
using libcache_test::PolicyName;

struct Config {
  uint64_t max_bytes = 0;
  uint64_t max_entries = 0;
  uint32_t shards = 1;
  FakeClock *clock = nullptr;
  int policy = CACHE_POLICY_CLOCK;
};

CachePtr OpenCache(const Config &cfg) {
  OptionsPtr opts(cache_options_new());
  EXPECT_EQ(cache_options_set_max_bytes(opts.get(), cfg.max_bytes), CACHE_OK);
  EXPECT_EQ(cache_options_set_max_entries(opts.get(), cfg.max_entries), CACHE_OK);
  EXPECT_EQ(cache_options_set_shards(opts.get(), cfg.shards), CACHE_OK);
  EXPECT_EQ(cache_options_set_hash_seed(opts.get(), 0x5eed), CACHE_OK);  // reproducible runs
  EXPECT_EQ(cache_options_set_policy(opts.get(), cfg.policy), CACHE_OK);
  if (cfg.clock != nullptr) {
    EXPECT_EQ(cache_options_set_clock(opts.get(), &FakeClock::Read, cfg.clock), CACHE_OK);
  }
  cache_t *c = nullptr;
  EXPECT_EQ(cache_open(opts.get(), &c), CACHE_OK);
  return CachePtr(c);
}

int Set(cache_t *c, std::string_view k, std::string_view v, int64_t ttl = CACHE_TTL_NONE) {
  return cache_set(c, k.data(), k.size(), v.data(), v.size(), ttl);
}

// CACHE_OK or CACHE_NOT_FOUND from a get that copies into *out.
int GetInto(cache_t *c, std::string_view k, std::string *out) {
  out->resize(4096);
  size_t n = 0;
  const int rc = cache_get(c, k.data(), k.size(), out->data(), out->size(), &n);
  if (rc == CACHE_OK) out->resize(n);
  return rc;
}

bool Present(cache_t *c, std::string_view k) {  // without marking it used
  int64_t remaining;
  return cache_ttl(c, k.data(), k.size(), &remaining) == CACHE_OK;
}

cache_stats_t Stats(cache_t *c) {
  cache_stats_t s{};
  EXPECT_EQ(cache_stats(c, &s, sizeof s), CACHE_OK);
  return s;
}

std::string Key(int i) { return "key:" + std::to_string(i); }

// A value whose bytes depend on the key and on the write that made it.
std::string ValueFor(int key, uint32_t version, size_t size) {
  std::string v(size, '\0');
  for (size_t i = 0; i < size; ++i) v[i] = static_cast<char>((key * 131 + version * 31 + i) & 0xFF);
  return v;
}

// ---- Bounds under churn ---------------------------------------------------------

// Parameters: an eviction policy and a shard count.
using PolicyShards = std::tuple<int, uint32_t>;

std::string PolicyShardsName(const ::testing::TestParamInfo<PolicyShards> &info) {
  return std::string(PolicyName(std::get<0>(info.param))) + "_" +
         std::to_string(std::get<1>(info.param)) + "shards";
}

std::string PolicyOnlyName(const ::testing::TestParamInfo<int> &info) {
  return PolicyName(info.param);
}

class ChurnTest : public ::testing::TestWithParam<PolicyShards> {
 protected:
  int policy() const { return std::get<0>(GetParam()); }
  uint32_t shards() const { return std::get<1>(GetParam()); }
};

// Random sets, adds, replaces, gets and deletes on a cache bounded both ways:
// after every operation both bounds hold, and a read returns either the last
// value written for the key or NOT_FOUND (never a stale or foreign value).
TEST_P(ChurnTest, BoundsHoldAndReadsAreNeverStale) {
  const Config cfg{384 << 10, 1600, shards(), nullptr, policy()};
  CachePtr cache = OpenCache(cfg);
  cache_t *c = cache.get();
  std::mt19937_64 rng(shards());
  constexpr int kKeys = 4000, kOps = 50000;
  std::unordered_map<int, std::pair<uint32_t, size_t>> model;  // key -> (version, size)
  uint32_t version = 0;
  std::string got;
  auto size_of = [&] { return rng() % 10 < 7 ? rng() % 64 : 64 + rng() % 1500; };
  for (int op = 0; op < kOps; ++op) {
    const int k = static_cast<int>(rng() % kKeys);
    const std::string key = Key(k);
    const auto it = model.find(k);
    const unsigned dice = rng() % 100;
    if (dice < 50) {  // set
      const size_t size = size_of();
      ASSERT_EQ(Set(c, key, ValueFor(k, ++version, size)), CACHE_OK);
      model[k] = {version, size};
      ASSERT_TRUE(Present(c, key)) << "a write never evicts its own entry";
    } else if (dice < 55) {  // add
      const size_t size = size_of();
      const int rc = cache_add(c, key.data(), key.size(), ValueFor(k, version + 1, size).data(),
                               size, CACHE_TTL_NONE);
      if (it == model.end()) ASSERT_EQ(rc, CACHE_OK) << "nothing can hold an absent key";
      if (rc == CACHE_OK) {
        model[k] = {++version, size};
      } else {
        ASSERT_EQ(rc, CACHE_EXISTS);
      }
    } else if (dice < 60) {  // replace
      const size_t size = size_of();
      const int rc = cache_replace(c, key.data(), key.size(), ValueFor(k, version + 1, size).data(),
                                   size, CACHE_TTL_NONE);
      if (it == model.end()) ASSERT_EQ(rc, CACHE_NOT_FOUND);
      if (rc == CACHE_OK) {
        model[k] = {++version, size};
      } else {
        ASSERT_EQ(rc, CACHE_NOT_FOUND);
      }
    } else if (dice < 90) {  // get
      const int rc = GetInto(c, key, &got);
      if (rc == CACHE_OK) {
        ASSERT_NE(it, model.end()) << "a deleted or unwritten key was returned";
        ASSERT_EQ(got, ValueFor(k, it->second.first, it->second.second)) << "stale value";
      } else {
        ASSERT_EQ(rc, CACHE_NOT_FOUND);
      }
    } else {  // delete
      const int rc = cache_delete(c, key.data(), key.size());
      if (it == model.end()) {
        ASSERT_EQ(rc, CACHE_NOT_FOUND);
      } else {
        ASSERT_TRUE(rc == CACHE_OK || rc == CACHE_NOT_FOUND) << rc;
      }
      model.erase(k);
    }
    const cache_stats_t s = Stats(c);
    ASSERT_LE(s.entries, cfg.max_entries) << "after op " << op;
    ASSERT_LE(s.bytes, cfg.max_bytes) << "after op " << op;
  }
  const cache_stats_t s = Stats(c);
  EXPECT_GT(s.evictions, 1000u) << "the bounds were under pressure";
  EXPECT_GT(s.entries, 100u);
}

INSTANTIATE_TEST_SUITE_P(PolicyShards, ChurnTest,
                         ::testing::Combine(::testing::ValuesIn(libcache_test::kPolicies),
                                            ::testing::Values(1u, 4u, 16u)),
                         PolicyShardsName);

// The ring doubles while every other entry is referenced, so the hand passes
// them all before it comes back to the new entry: the bytes bound must still
// hold after the write (the new entry must not stop the sweep). Swept over
// bounds so that some write lands its ring growth just past the limit. Under
// each policy: whatever arrays a policy grows, the bound holds.
class BoundsTest : public ::testing::TestWithParam<int> {};

TEST_P(BoundsTest, BytesBoundHoldsWhenTheRingGrowsWhileEverythingIsReferenced) {
  const std::string value(100, 'v');
  std::string got;
  for (uint64_t max_bytes = 2000; max_bytes <= 6000; max_bytes += 16) {
    CachePtr cache = OpenCache({max_bytes, 0, 1, nullptr, GetParam()});
    cache_t *c = cache.get();
    for (int i = 0; i < 48; ++i) {
      for (int j = 0; j < i; ++j) GetInto(c, Key(j), &got);  // reference everything present
      ASSERT_EQ(Set(c, Key(i), value), CACHE_OK);
      const cache_stats_t s = Stats(c);
      ASSERT_LE(s.bytes, max_bytes)
          << "max_bytes " << max_bytes << ", write " << i << " (" << s.entries << " entries)";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, BoundsTest, ::testing::ValuesIn(libcache_test::kPolicies),
                         PolicyOnlyName);

// sets - deletes - evictions - expirations == entries, when no write lands
// on a live key: every entry that left is accounted for exactly once.
class AccountingTest : public ChurnTest {};

TEST_P(AccountingTest, EveryDepartureIsCounted) {
  FakeClock clock;
  CachePtr cache = OpenCache({128 << 10, 500, shards(), &clock, policy()});
  cache_t *c = cache.get();
  std::mt19937_64 rng(shards() + 7);
  int next = 0;  // keys are never reused
  std::string got;
  for (int op = 0; op < 20000; ++op) {
    const unsigned dice = rng() % 100;
    const std::string old = Key(next == 0 ? 0 : static_cast<int>(rng() % next));
    if (dice < 45) {
      const int64_t ttl = rng() % 10 < 3 ? static_cast<int64_t>(1 + rng() % 200) : CACHE_TTL_NONE;
      const std::string key = Key(next++);
      ASSERT_EQ(Set(c, key, std::string(rng() % 400, 'x'), ttl), CACHE_OK);
    } else if (dice < 55) {
      const std::string key = Key(next++);
      ASSERT_EQ(cache_add(c, key.data(), key.size(), "a", 1, CACHE_TTL_DEFAULT), CACHE_OK);
    } else if (dice < 70) {
      cache_delete(c, old.data(), old.size());
    } else if (dice < 90) {
      GetInto(c, old, &got);
    } else if (dice < 95) {
      clock.now += rng() % 50;
    } else if (dice < 98) {
      cache_touch(c, old.data(), old.size(), static_cast<int64_t>(rng() % 100));
    } else {
      ASSERT_EQ(cache_purge_expired(c, nullptr), CACHE_OK);
    }
    const cache_stats_t s = Stats(c);
    ASSERT_EQ(s.sets - s.deletes - s.evictions - s.expirations, s.entries) << "after op " << op;
  }
  const cache_stats_t s = Stats(c);
  EXPECT_GT(s.evictions, 0u);
  EXPECT_GT(s.expirations, 0u);
  EXPECT_GT(s.deletes, 0u);
}

INSTANTIATE_TEST_SUITE_P(PolicyShards, AccountingTest,
                         ::testing::Combine(::testing::ValuesIn(libcache_test::kPolicies),
                                            ::testing::Values(1u, 8u)),
                         PolicyShardsName);

// ---- CLOCK keeps a re-referenced hot set through a scan ------------------------

// CLOCK only: it asserts which entries CLOCK evicts (only scan keys). The
// adaptive policy keeps a hot set by other means, with other victims.
TEST(Clock, HotSetSurvivesAOneTimeScan) {
  constexpr int kCap = 1024, kHot = kCap / 4, kScan = 10 * kCap, kReadEvery = kCap / 8;
  CachePtr cache = OpenCache({0, kCap, 1, nullptr});
  cache_t *c = cache.get();
  std::string got;
  auto hot = [](int i) { return "hot:" + std::to_string(i); };
  // The same sequence against FIFO, to show the test tells the two apart.
  std::deque<std::string> fifo;
  std::unordered_set<std::string> fifo_set;
  auto fifo_insert = [&](const std::string &k) {
    if (fifo.size() == kCap) {
      fifo_set.erase(fifo.front());
      fifo.pop_front();
    }
    fifo.push_back(k);
    fifo_set.insert(k);
  };
  for (int i = 0; i < kHot; ++i) {
    ASSERT_EQ(Set(c, hot(i), "h"), CACHE_OK);
    fifo_insert(hot(i));
  }
  for (int i = 0; i < kHot; ++i) ASSERT_EQ(GetInto(c, hot(i), &got), CACHE_OK);
  for (int s = 0; s < kScan; ++s) {
    const std::string key = "scan:" + std::to_string(s);
    ASSERT_EQ(Set(c, key, "s"), CACHE_OK);
    fifo_insert(key);
    if ((s + 1) % kReadEvery != 0) continue;
    for (int i = 0; i < kHot; ++i) {
      ASSERT_EQ(GetInto(c, hot(i), &got), CACHE_OK) << "hot key " << i << " lost at scan " << s;
    }
  }
  for (int i = 0; i < kHot; ++i) EXPECT_TRUE(Present(c, hot(i))) << i;
  const cache_stats_t st = Stats(c);
  EXPECT_EQ(st.entries, uint64_t{kCap});
  EXPECT_EQ(st.evictions, uint64_t{kHot + kScan - kCap}) << "only scan keys were evicted";
  int fifo_hot = 0;
  for (int i = 0; i < kHot; ++i) fifo_hot += fifo_set.count(hot(i)) ? 1 : 0;
  EXPECT_EQ(fifo_hot, 0) << "FIFO would have lost the hot set";
}

// ---- Pinned values outlive their entries ---------------------------------------

class PinnedValueTest : public ::testing::TestWithParam<int> {
 protected:
  static constexpr size_t kSize = 4096;
  void SetUp() override {
    cache_ = OpenCache({1 << 20, 8, 1, &clock_, GetParam()});
    expected_ = ValueFor(42, 1, kSize);
    ASSERT_EQ(Set(c(), "pinned", expected_, 1000), CACHE_OK);
    ASSERT_EQ(cache_get_value(c(), "pinned", 6, &value_), CACHE_OK);
    ASSERT_NE(value_, nullptr);
    ExpectIntact();
  }
  void TearDown() override { cache_value_release(value_); }
  cache_t *c() { return cache_.get(); }
  // Reads every byte (so that ASan sees any use after free).
  void ExpectIntact() {
    ASSERT_EQ(cache_value_size(value_), kSize);
    const auto *p = static_cast<const char *>(cache_value_data(value_));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(std::string(p, kSize), expected_);
  }
  FakeClock clock_;
  CachePtr cache_;
  cache_value_t *value_ = nullptr;
  std::string expected_;
};

// Other keys are written, and written again, until the pinned entry is
// evicted: a frequency-aware policy may keep it through the first round (it
// was read once; the new keys were not yet), never through keys written many
// times more often.
TEST_P(PinnedValueTest, SurvivesEviction) {
  constexpr int kRounds = 50;
  int round = 0;
  for (; round < kRounds && Present(c(), "pinned"); ++round) {
    for (int i = 0; i < 100; ++i) ASSERT_EQ(Set(c(), Key(i), ValueFor(i, 2, kSize)), CACHE_OK);
  }
  ASSERT_FALSE(Present(c(), "pinned")) << "still cached after " << kRounds << " rounds";
  ASSERT_GT(Stats(c()).evictions, 0u);
  ExpectIntact();
}

TEST_P(PinnedValueTest, SurvivesReplacement) {
  const std::string next = ValueFor(43, 2, kSize);
  ASSERT_EQ(Set(c(), "pinned", next), CACHE_OK);
  ExpectIntact();
  std::string got;
  ASSERT_EQ(GetInto(c(), "pinned", &got), CACHE_OK);
  EXPECT_EQ(got, next);
  ASSERT_EQ(cache_replace(c(), "pinned", 6, "short", 5, CACHE_TTL_NONE), CACHE_OK);
  ExpectIntact();
}

TEST_P(PinnedValueTest, SurvivesDeletion) {
  ASSERT_EQ(cache_delete(c(), "pinned", 6), CACHE_OK);
  ExpectIntact();
}

TEST_P(PinnedValueTest, SurvivesExpiry) {
  clock_.now += 1000;
  ASSERT_EQ(cache_purge_expired(c(), nullptr), CACHE_OK);
  ASSERT_EQ(Stats(c()).expirations, 1u);
  ExpectIntact();
}

TEST_P(PinnedValueTest, SurvivesClear) {
  ASSERT_EQ(cache_clear(c()), CACHE_OK);
  ExpectIntact();
}

TEST_P(PinnedValueTest, SurvivesClose) {
  cache_.reset();
  ExpectIntact();
}

TEST_P(PinnedValueTest, EachHandleIsReleasedSeparately) {
  cache_value_t *second = nullptr;
  ASSERT_EQ(cache_get_value(c(), "pinned", 6, &second), CACHE_OK);
  EXPECT_EQ(cache_value_data(second), cache_value_data(value_)) << "zero-copy";
  ASSERT_EQ(cache_delete(c(), "pinned", 6), CACHE_OK);
  cache_value_release(second);
  ExpectIntact();
  cache_.reset();
  ExpectIntact();
}

INSTANTIATE_TEST_SUITE_P(Policies, PinnedValueTest, ::testing::ValuesIn(libcache_test::kPolicies),
                         PolicyOnlyName);

// ---- Hit ratio: CLOCK tracks LRU on a Zipf workload ----------------------------

// Ranks 0..n-1 with P(rank i) proportional to 1 / (i + 1)^theta.
class Zipf {
 public:
  Zipf(int n, double theta) : cdf_(n) {
    double sum = 0;
    for (int i = 0; i < n; ++i) cdf_[i] = sum += 1.0 / std::pow(i + 1, theta);
    for (double &x : cdf_) x /= sum;
  }
  int operator()(std::mt19937_64 &rng) const {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;
    return static_cast<int>(std::upper_bound(cdf_.begin(), cdf_.end() - 1, u) - cdf_.begin());
  }

 private:
  std::vector<double> cdf_;
};

class Lru {
 public:
  explicit Lru(size_t capacity) : capacity_(capacity) {}
  bool Access(int key) {  // true on a hit; inserts on a miss
    const auto it = index_.find(key);
    if (it != index_.end()) {
      order_.splice(order_.begin(), order_, it->second);
      return true;
    }
    if (order_.size() == capacity_) {
      index_.erase(order_.back());
      order_.pop_back();
    }
    order_.push_front(key);
    index_[key] = order_.begin();
    return false;
  }

 private:
  size_t capacity_;
  std::list<int> order_;
  std::unordered_map<int, std::list<int>::iterator> index_;
};

// CLOCK only: a hit-ratio bound is a property of the policy (the adaptive
// policy's are measured by bench/, not asserted here).
TEST(HitRatio, ClockTracksLruOnZipf) {
  constexpr int kKeys = 10000, kRequests = 100000, kCap = 1000;
  CachePtr cache = OpenCache({0, kCap, 1, nullptr});
  cache_t *c = cache.get();
  const Zipf zipf(kKeys, 0.99);
  Lru lru(kCap);
  std::mt19937_64 rng(99);
  std::string got;
  int clock_hits = 0, lru_hits = 0;
  for (int r = 0; r < kRequests; ++r) {
    const int k = zipf(rng);
    const std::string key = Key(k);
    lru_hits += lru.Access(k) ? 1 : 0;
    const int rc = GetInto(c, key, &got);
    if (rc == CACHE_OK) {
      ++clock_hits;
    } else {
      ASSERT_EQ(rc, CACHE_NOT_FOUND);
      ASSERT_EQ(Set(c, key, "v"), CACHE_OK);
    }
  }
  const double clock_ratio = static_cast<double>(clock_hits) / kRequests;
  const double lru_ratio = static_cast<double>(lru_hits) / kRequests;
  EXPECT_NEAR(clock_ratio, lru_ratio, 0.02);
  EXPECT_GT(lru_ratio, 0.3) << "the workload is skewed enough to matter";
  EXPECT_EQ(Stats(c).hits, static_cast<uint64_t>(clock_hits));
  EXPECT_EQ(Stats(c).entries, uint64_t{kCap});
  std::printf("hit ratio: CLOCK %.4f, LRU %.4f\n", clock_ratio, lru_ratio);
}

}  // namespace
