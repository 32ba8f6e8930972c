// TTL semantics of the C ABI on a fake clock (cache_options_set_clock): exact
// deadlines, lazy expiry on every call, default TTL, sliding TTL (touch),
// cache_ttl, cache_purge_expired, and the CLOCK hand reclaiming expired
// entries before it evicts live ones.
//
// Every test runs under each eviction policy (PolicyTtlTest, ExpiredEntryTest,
// TtlClockTest), except the two that assert which entries CLOCK's hand takes
// (TtlTest, CLOCK only).

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <tuple>

#include "libcache/cache.h"
#include "libcache/cache_experimental.h"
#include "tests/capi/test_util.h"

namespace {

using libcache_test::CachePtr;
using libcache_test::FakeClock;
using libcache_test::OptionsPtr;
using libcache_test::PolicyName;

struct Config {
  uint64_t max_bytes = uint64_t{4} << 20;
  uint64_t max_entries = 0;
  uint32_t shards = 1;
  uint64_t default_ttl_ms = 0;
  int policy = CACHE_POLICY_CLOCK;
};

CachePtr OpenWithClock(FakeClock *clock, const Config &cfg) {
  OptionsPtr opts(cache_options_new());
  EXPECT_EQ(cache_options_set_max_bytes(opts.get(), cfg.max_bytes), CACHE_OK);
  EXPECT_EQ(cache_options_set_max_entries(opts.get(), cfg.max_entries), CACHE_OK);
  EXPECT_EQ(cache_options_set_shards(opts.get(), cfg.shards), CACHE_OK);
  EXPECT_EQ(cache_options_set_default_ttl_ms(opts.get(), cfg.default_ttl_ms), CACHE_OK);
  EXPECT_EQ(cache_options_set_clock(opts.get(), &FakeClock::Read, clock), CACHE_OK);
  EXPECT_EQ(cache_options_set_policy(opts.get(), cfg.policy), CACHE_OK);
  cache_t *c = nullptr;
  EXPECT_EQ(cache_open(opts.get(), &c), CACHE_OK);
  return CachePtr(c);
}

int Set(cache_t *c, std::string_view k, std::string_view v, int64_t ttl) {
  return cache_set(c, k.data(), k.size(), v.data(), v.size(), ttl);
}

std::optional<std::string> Get(cache_t *c, std::string_view k) {
  char buf[256];
  size_t n = 0;
  const int rc = cache_get(c, k.data(), k.size(), buf, sizeof buf, &n);
  if (rc == CACHE_NOT_FOUND) return std::nullopt;
  EXPECT_EQ(rc, CACHE_OK);
  return std::string(buf, n);
}

// cache_ttl's answer: remaining ms, -1 for no expiry, nullopt for NOT_FOUND.
std::optional<int64_t> Ttl(cache_t *c, std::string_view k) {
  int64_t remaining = -12345;
  const int rc = cache_ttl(c, k.data(), k.size(), &remaining);
  if (rc == CACHE_NOT_FOUND) return std::nullopt;
  EXPECT_EQ(rc, CACHE_OK);
  return remaining;
}

cache_stats_t Stats(cache_t *c) {
  cache_stats_t s{};
  EXPECT_EQ(cache_stats(c, &s, sizeof s), CACHE_OK);
  return s;
}

std::string Key(const char *prefix, int i) { return prefix + std::to_string(i); }

// A cache on a fake clock under one eviction policy; Open() replaces it.
class TtlFixture : public ::testing::Test {
 protected:
  explicit TtlFixture(int policy) : policy_(policy) {}
  void Open(Config cfg) {
    cfg.policy = policy_;
    cache_ = OpenWithClock(&clock_, cfg);
  }
  void SetUp() override { Open(Config{}); }
  cache_t *c() { return cache_.get(); }
  const int policy_;
  FakeClock clock_;
  CachePtr cache_;
};

// CLOCK only: for the tests of what CLOCK's hand takes.
class TtlTest : public TtlFixture {
 protected:
  TtlTest() : TtlFixture(CACHE_POLICY_CLOCK) {}
};

// Each policy (the parameter).
class PolicyTtlTest : public TtlFixture, public ::testing::WithParamInterface<int> {
 protected:
  PolicyTtlTest() : TtlFixture(GetParam()) {}
};

std::string PolicyOnlyName(const ::testing::TestParamInfo<int> &info) {
  return PolicyName(info.param);
}

INSTANTIATE_TEST_SUITE_P(Policies, PolicyTtlTest, ::testing::ValuesIn(libcache_test::kPolicies),
                         PolicyOnlyName);

TEST_P(PolicyTtlTest, ExpiresExactlyAtTheDeadline) {
  const uint64_t empty_bytes = Stats(c()).bytes;
  ASSERT_EQ(Set(c(), "k", "v", 100), CACHE_OK);  // deadline 1100
  EXPECT_EQ(Ttl(c(), "k"), 100);
  clock_.Advance(99);
  EXPECT_EQ(Get(c(), "k"), "v") << "deadline - 1 still hits";
  EXPECT_EQ(Ttl(c(), "k"), 1);
  EXPECT_EQ(Stats(c()).expirations, 0u);
  clock_.Advance(1);
  EXPECT_EQ(Get(c(), "k"), std::nullopt) << "at the deadline it is gone";
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.expirations, 1u);
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.bytes, empty_bytes) << "its charge is returned";
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.hits, 1u);
}

TEST_P(PolicyTtlTest, ExpiredButNotReclaimedStillCountsAsAnEntry) {
  ASSERT_EQ(Set(c(), "k", "v", 10), CACHE_OK);
  clock_.Advance(10);
  EXPECT_EQ(Stats(c()).entries, 1u) << "expiry is lazy";
  EXPECT_EQ(Stats(c()).expirations, 0u);
  EXPECT_EQ(Get(c(), "k"), std::nullopt);
  EXPECT_EQ(Stats(c()).entries, 0u);
  EXPECT_EQ(Stats(c()).expirations, 1u);
}

class TtlClockTest : public ::testing::TestWithParam<int> {
 protected:
  Config WithPolicy() const {
    Config cfg;
    cfg.policy = GetParam();
    return cfg;
  }
};

INSTANTIATE_TEST_SUITE_P(Policies, TtlClockTest, ::testing::ValuesIn(libcache_test::kPolicies),
                         PolicyOnlyName);

// A fake clock near 2^64: now + ttl saturates instead of wrapping into the
// past (which would expire the entry at once).
TEST_P(TtlClockTest, DeadlinesSaturateNearTheEndOfTime) {
  FakeClock clock;
  clock.now = UINT64_MAX - 10;
  CachePtr cache = OpenWithClock(&clock, WithPolicy());
  ASSERT_EQ(Set(cache.get(), "k", "v", 100), CACHE_OK);
  ASSERT_EQ(Set(cache.get(), "t", "v", CACHE_TTL_NONE), CACHE_OK);
  ASSERT_EQ(cache_touch(cache.get(), "t", 1, 1000), CACHE_OK);
  EXPECT_EQ(Get(cache.get(), "k"), "v");
  EXPECT_EQ(Get(cache.get(), "t"), "v");
  EXPECT_EQ(Ttl(cache.get(), "k"), 10) << "what is left before the clock's end";
  clock.Advance(9);
  EXPECT_EQ(Get(cache.get(), "k"), "v");
  EXPECT_EQ(Get(cache.get(), "t"), "v");
  EXPECT_EQ(Stats(cache.get()).expirations, 0u);
}

TEST_P(TtlClockTest, WorksFromTimeZero) {
  FakeClock clock;
  clock.now = 0;
  CachePtr cache = OpenWithClock(&clock, WithPolicy());
  ASSERT_EQ(Set(cache.get(), "k", "v", 5), CACHE_OK);
  clock.Advance(4);
  EXPECT_EQ(Get(cache.get(), "k"), "v");
  clock.Advance(1);
  EXPECT_EQ(Get(cache.get(), "k"), std::nullopt);
}

// Every call that meets an expired entry treats it as absent and reclaims it.
enum class Op { kGet, kGetValue, kTtl, kTouch, kDelete, kTake, kReplace, kAdd, kSet };

const char *OpName(Op op) {
  switch (op) {
    case Op::kGet:
      return "Get";
    case Op::kGetValue:
      return "GetValue";
    case Op::kTtl:
      return "Ttl";
    case Op::kTouch:
      return "Touch";
    case Op::kDelete:
      return "Delete";
    case Op::kTake:
      return "Take";
    case Op::kReplace:
      return "Replace";
    case Op::kAdd:
      return "Add";
    case Op::kSet:
      return "Set";
  }
  return "?";
}
// For test names (gtest and ctest) and failure messages.
void PrintTo(Op op, std::ostream *os) { *os << OpName(op); }

// Parameters: an eviction policy and the call that meets the expired entry.
class ExpiredEntryTest : public TtlFixture,
                         public ::testing::WithParamInterface<std::tuple<int, Op>> {
 protected:
  ExpiredEntryTest() : TtlFixture(std::get<0>(GetParam())) {}
  Op op() const { return std::get<1>(GetParam()); }
};

TEST_P(ExpiredEntryTest, IsNeverReturnedAndIsReclaimed) {
  ASSERT_EQ(Set(c(), "k", "old", 50), CACHE_OK);
  ASSERT_EQ(Set(c(), "live", "x", CACHE_TTL_NONE), CACHE_OK);
  clock_.Advance(50);
  const cache_stats_t before = Stats(c());
  ASSERT_EQ(before.entries, 2u);
  switch (op()) {
    case Op::kGet: {
      char buf[8];
      size_t n = 0;
      EXPECT_EQ(cache_get(c(), "k", 1, buf, sizeof buf, &n), CACHE_NOT_FOUND);
      EXPECT_EQ(cache_get(c(), "k", 1, nullptr, 0, &n), CACHE_NOT_FOUND) << "nor its size";
      break;
    }
    case Op::kGetValue: {
      cache_value_t *v = nullptr;
      EXPECT_EQ(cache_get_value(c(), "k", 1, &v), CACHE_NOT_FOUND);
      EXPECT_EQ(v, nullptr);
      cache_value_release(v);
      break;
    }
    case Op::kTtl:
      EXPECT_EQ(Ttl(c(), "k"), std::nullopt);
      break;
    case Op::kTouch:
      EXPECT_EQ(cache_touch(c(), "k", 1, CACHE_TTL_NONE), CACHE_NOT_FOUND) << "no revival";
      EXPECT_EQ(cache_touch(c(), "k", 1, 1000), CACHE_NOT_FOUND);
      break;
    case Op::kDelete:
      EXPECT_EQ(cache_delete(c(), "k", 1), CACHE_NOT_FOUND);
      EXPECT_EQ(Stats(c()).deletes, 0u);
      break;
    case Op::kTake: {
      cache_value_t *v = nullptr;
      EXPECT_EQ(cache_take(c(), "k", 1, &v), CACHE_NOT_FOUND);
      EXPECT_EQ(v, nullptr);
      EXPECT_EQ(Stats(c()).deletes, 0u);
      break;
    }
    case Op::kReplace:
      EXPECT_EQ(cache_replace(c(), "k", 1, "new", 3, CACHE_TTL_NONE), CACHE_NOT_FOUND);
      EXPECT_EQ(Stats(c()).sets, before.sets);
      break;
    case Op::kAdd:
      EXPECT_EQ(cache_add(c(), "k", 1, "new", 3, 30), CACHE_OK) << "add over an expired entry";
      EXPECT_EQ(Stats(c()).sets, before.sets + 1);
      break;
    case Op::kSet:
      EXPECT_EQ(cache_set(c(), "k", 1, "new", 3, 30), CACHE_OK);
      break;
  }
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.expirations, 1u);
  const bool rewritten = op() == Op::kAdd || op() == Op::kSet;
  if (rewritten) {
    EXPECT_EQ(s.entries, 2u);
    EXPECT_EQ(Get(c(), "k"), "new");
    EXPECT_EQ(Ttl(c(), "k"), 30) << "the new entry's own TTL";
  } else {
    EXPECT_EQ(s.entries, 1u);
    EXPECT_LT(s.bytes, before.bytes);
    EXPECT_EQ(Get(c(), "k"), std::nullopt);
    EXPECT_EQ(Ttl(c(), "k"), std::nullopt);
  }
  EXPECT_EQ(Get(c(), "live"), "x");
  EXPECT_EQ(Stats(c()).expirations, 1u) << "reclaimed once";
}

INSTANTIATE_TEST_SUITE_P(
    AllCalls, ExpiredEntryTest,
    ::testing::Combine(::testing::ValuesIn(libcache_test::kPolicies),
                       ::testing::Values(Op::kGet, Op::kGetValue, Op::kTtl, Op::kTouch, Op::kDelete,
                                         Op::kTake, Op::kReplace, Op::kAdd, Op::kSet)),
    [](const ::testing::TestParamInfo<std::tuple<int, Op>> &info) {
      return std::string(PolicyName(std::get<0>(info.param))) + "_" +
             OpName(std::get<1>(info.param));
    });

TEST_P(PolicyTtlTest, DefaultTtlAppliesToCacheTtlDefaultOnly) {
  Open({uint64_t{4} << 20, 0, 1, 500});
  ASSERT_EQ(Set(c(), "default", "v", CACHE_TTL_DEFAULT), CACHE_OK);
  ASSERT_EQ(Set(c(), "none", "v", CACHE_TTL_NONE), CACHE_OK);
  ASSERT_EQ(Set(c(), "explicit", "v", 50), CACHE_OK);
  ASSERT_EQ(cache_add(c(), "added", 5, "v", 1, CACHE_TTL_DEFAULT), CACHE_OK);
  ASSERT_EQ(Set(c(), "replaced", "v", CACHE_TTL_NONE), CACHE_OK);
  ASSERT_EQ(cache_replace(c(), "replaced", 8, "w", 1, CACHE_TTL_DEFAULT), CACHE_OK);
  EXPECT_EQ(Ttl(c(), "default"), 500);
  EXPECT_EQ(Ttl(c(), "none"), -1);
  EXPECT_EQ(Ttl(c(), "explicit"), 50);
  EXPECT_EQ(Ttl(c(), "added"), 500);
  EXPECT_EQ(Ttl(c(), "replaced"), 500);
  clock_.Advance(50);
  EXPECT_EQ(Get(c(), "explicit"), std::nullopt);
  EXPECT_EQ(Ttl(c(), "default"), 450);
  clock_.Advance(450);
  EXPECT_EQ(Get(c(), "default"), std::nullopt);
  EXPECT_EQ(Get(c(), "added"), std::nullopt);
  EXPECT_EQ(Get(c(), "replaced"), std::nullopt);
  EXPECT_EQ(Get(c(), "none"), "v");
  clock_.Advance(uint64_t{1} << 40);
  EXPECT_EQ(Get(c(), "none"), "v") << "CACHE_TTL_NONE overrides the default";
  EXPECT_EQ(Stats(c()).expirations, 4u);
}

TEST_P(PolicyTtlTest, OverwriteTakesTheNewTtl) {
  ASSERT_EQ(Set(c(), "k", "v1", 100), CACHE_OK);
  clock_.Advance(60);
  ASSERT_EQ(Set(c(), "k", "v2", CACHE_TTL_NONE), CACHE_OK);
  EXPECT_EQ(Ttl(c(), "k"), -1);
  ASSERT_EQ(Set(c(), "k", "v3", 100), CACHE_OK);
  EXPECT_EQ(Ttl(c(), "k"), 100) << "counted from the write, not the first one";
  clock_.Advance(99);
  EXPECT_EQ(Get(c(), "k"), "v3");
}

TEST_P(PolicyTtlTest, TouchSlidesTheDeadline) {
  ASSERT_EQ(Set(c(), "s", "session", 100), CACHE_OK);
  for (int i = 0; i < 10; ++i) {
    clock_.Advance(60);
    ASSERT_EQ(cache_touch(c(), "s", 1, 100), CACHE_OK) << i;
    ASSERT_EQ(Ttl(c(), "s"), 100) << i;
  }
  EXPECT_EQ(Get(c(), "s"), "session") << "600 ms after a 100 ms TTL, kept alive by touches";
  clock_.Advance(99);
  EXPECT_EQ(Get(c(), "s"), "session");
  clock_.Advance(1);
  EXPECT_EQ(Get(c(), "s"), std::nullopt);
  EXPECT_EQ(Stats(c()).expirations, 1u);
}

TEST_P(PolicyTtlTest, TouchCanShortenOrRemoveTheTtl) {
  ASSERT_EQ(Set(c(), "a", "v", 1000), CACHE_OK);
  ASSERT_EQ(cache_touch(c(), "a", 1, 10), CACHE_OK);
  EXPECT_EQ(Ttl(c(), "a"), 10);
  ASSERT_EQ(Set(c(), "b", "v", 10), CACHE_OK);
  ASSERT_EQ(cache_touch(c(), "b", 1, CACHE_TTL_NONE), CACHE_OK);
  EXPECT_EQ(Ttl(c(), "b"), -1);
  ASSERT_EQ(Set(c(), "c", "v", 10), CACHE_OK);
  ASSERT_EQ(cache_touch(c(), "c", 1, CACHE_TTL_DEFAULT), CACHE_OK) << "default: no expiry";
  EXPECT_EQ(Ttl(c(), "c"), -1);
  clock_.Advance(10);
  EXPECT_EQ(Get(c(), "a"), std::nullopt);
  clock_.Advance(uint64_t{1} << 40);
  EXPECT_EQ(Get(c(), "b"), "v");
  EXPECT_EQ(Get(c(), "c"), "v");
}

TEST_P(PolicyTtlTest, TouchWithTheDefaultTtl) {
  Open({uint64_t{4} << 20, 0, 1, 200});
  ASSERT_EQ(Set(c(), "k", "v", CACHE_TTL_NONE), CACHE_OK);
  clock_.Advance(1000);
  ASSERT_EQ(cache_touch(c(), "k", 1, CACHE_TTL_DEFAULT), CACHE_OK);
  EXPECT_EQ(Ttl(c(), "k"), 200);
  clock_.Advance(200);
  EXPECT_EQ(Get(c(), "k"), std::nullopt);
}

TEST_P(PolicyTtlTest, TtlCountsDown) {
  ASSERT_EQ(Set(c(), "k", "v", 1000), CACHE_OK);
  for (int64_t left = 1000; left > 0; left -= 250) {
    EXPECT_EQ(Ttl(c(), "k"), left);
    clock_.Advance(250);
  }
  EXPECT_EQ(Ttl(c(), "k"), std::nullopt);
  EXPECT_EQ(Stats(c()).expirations, 1u) << "cache_ttl reclaims it";
}

TEST_P(PolicyTtlTest, PurgeReclaimsExpiredEntriesInColdShards) {
  Open({uint64_t{64} << 20, 0, 64, 0});
  constexpr int kExpiring = 3000, kLive = 1000;
  for (int i = 0; i < kExpiring; ++i)
    ASSERT_EQ(Set(c(), Key("t", i), "payload", 100 + i % 7), CACHE_OK);
  for (int i = 0; i < kLive; ++i)
    ASSERT_EQ(Set(c(), Key("l", i), "payload", CACHE_TTL_NONE), CACHE_OK);
  const cache_stats_t full = Stats(c());
  ASSERT_EQ(full.entries, uint64_t{kExpiring + kLive});
  uint64_t reclaimed = 99;
  ASSERT_EQ(cache_purge_expired(c(), &reclaimed), CACHE_OK);
  EXPECT_EQ(reclaimed, 0u) << "nothing has expired yet";
  clock_.Advance(103);  // about half of them: TTLs are 100..106
  ASSERT_EQ(cache_purge_expired(c(), &reclaimed), CACHE_OK);
  uint64_t expected = 0;
  for (int i = 0; i < kExpiring; ++i) expected += 100 + i % 7 <= 103 ? 1 : 0;
  EXPECT_EQ(reclaimed, expected);
  clock_.Advance(3);
  ASSERT_EQ(cache_purge_expired(c(), &reclaimed), CACHE_OK);
  EXPECT_EQ(reclaimed, kExpiring - expected);
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.expirations, uint64_t{kExpiring});
  EXPECT_EQ(s.entries, uint64_t{kLive});
  EXPECT_LT(s.bytes, full.bytes);
  EXPECT_EQ(s.evictions, 0u);
  ASSERT_EQ(cache_purge_expired(c(), &reclaimed), CACHE_OK);
  EXPECT_EQ(reclaimed, 0u) << "a second purge finds nothing";
  for (int i = 0; i < kLive; ++i) ASSERT_EQ(Get(c(), Key("l", i)), "payload") << i;
  for (int i = 0; i < kExpiring; i += 97) EXPECT_EQ(Ttl(c(), Key("t", i)), std::nullopt) << i;
  EXPECT_EQ(Stats(c()).expirations, uint64_t{kExpiring}) << "nothing left to reclaim lazily";
}

TEST_P(PolicyTtlTest, PurgeWithNullReclaimed) {
  ASSERT_EQ(Set(c(), "k", "v", 10), CACHE_OK);
  clock_.Advance(10);
  EXPECT_EQ(cache_purge_expired(c(), nullptr), CACHE_OK);
  EXPECT_EQ(Stats(c()).entries, 0u);
  EXPECT_EQ(Stats(c()).expirations, 1u);
}

// The hand meets the expired entries first (they are the oldest): new writes
// reclaim them and evict nothing live. CLOCK only, as the next test: which
// entries a policy's hands meet first is the policy's own.
TEST_F(TtlTest, HandReclaimsExpiredEntriesBeforeEvictingLiveOnes) {
  constexpr int kCap = 100, kExpiring = 40;
  Open({0, kCap, 1, 0});
  for (int i = 0; i < kExpiring; ++i) ASSERT_EQ(Set(c(), Key("t", i), "v", 10), CACHE_OK);
  for (int i = kExpiring; i < kCap; ++i)
    ASSERT_EQ(Set(c(), Key("l", i), "v", CACHE_TTL_NONE), CACHE_OK);
  clock_.Advance(10);
  for (int i = 0; i < kExpiring; ++i)
    ASSERT_EQ(Set(c(), Key("n", i), "v", CACHE_TTL_NONE), CACHE_OK);
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.expirations, uint64_t{kExpiring});
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.entries, uint64_t{kCap});
  for (int i = kExpiring; i < kCap; ++i) EXPECT_EQ(Ttl(c(), Key("l", i)), -1) << i;
  for (int i = 0; i < kExpiring; ++i) EXPECT_EQ(Ttl(c(), Key("n", i)), -1) << i;
}

// Expired and live entries interleaved, the live ones in use: the hand gives
// the live ones their second chance and takes the expired ones.
TEST_F(TtlTest, HandPrefersExpiredEntriesToReferencedLiveOnes) {
  constexpr int kCap = 100;
  Open({0, kCap, 1, 0});
  for (int i = 0; i < kCap; ++i) {
    const bool expiring = i % 2 == 0;
    ASSERT_EQ(Set(c(), Key(expiring ? "t" : "l", i), "v", expiring ? 10 : CACHE_TTL_NONE),
              CACHE_OK);
  }
  for (int i = 1; i < kCap; i += 2) ASSERT_EQ(Get(c(), Key("l", i)), "v");
  clock_.Advance(10);
  for (int i = 0; i < kCap / 2; ++i)
    ASSERT_EQ(Set(c(), Key("n", i), "v", CACHE_TTL_NONE), CACHE_OK);
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.expirations, uint64_t{kCap / 2});
  EXPECT_EQ(s.evictions, 0u);
  for (int i = 1; i < kCap; i += 2) EXPECT_EQ(Ttl(c(), Key("l", i)), -1) << i;
  for (int i = 0; i < kCap / 2; ++i) EXPECT_EQ(Ttl(c(), Key("n", i)), -1) << i;
}

// The control for the two tests above: before the deadline, the same writes
// must evict (so expirations there are not an accident of spare room).
TEST_P(PolicyTtlTest, WithoutExpiryTheSameWritesEvict) {
  constexpr int kCap = 100, kExpiring = 40;
  Open({0, kCap, 1, 0});
  for (int i = 0; i < kExpiring; ++i) ASSERT_EQ(Set(c(), Key("t", i), "v", 10), CACHE_OK);
  for (int i = kExpiring; i < kCap; ++i)
    ASSERT_EQ(Set(c(), Key("l", i), "v", CACHE_TTL_NONE), CACHE_OK);
  clock_.Advance(9);
  for (int i = 0; i < kExpiring; ++i)
    ASSERT_EQ(Set(c(), Key("n", i), "v", CACHE_TTL_NONE), CACHE_OK);
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.evictions, uint64_t{kExpiring});
  EXPECT_EQ(s.expirations, 0u);
}

}  // namespace
