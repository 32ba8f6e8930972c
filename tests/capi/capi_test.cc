// Semantics of the C ABI (libcache/cache.h): versions, statuses, options,
// open, every read and write call, argument checking and statistics. TTL and
// eviction have their own files (ttl_test.cc, eviction_test.cc).

#include <gtest/gtest.h>

#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "capi/src/abi_util.h"  // cache_options_s, for one white-box check of the options
#include "libcache/cache.h"
#include "libcache/cache_experimental.h"
#include "tests/capi/test_util.h"

namespace {

using libcache_test::CachePtr;
using libcache_test::OptionsPtr;

struct Config {
  uint64_t max_bytes = uint64_t{1} << 20;
  uint64_t max_entries = 0;
  uint32_t shards = 1;
};

CachePtr OpenCache(const Config &cfg) {
  OptionsPtr opts(cache_options_new());
  EXPECT_NE(opts, nullptr);
  EXPECT_EQ(cache_options_set_max_bytes(opts.get(), cfg.max_bytes), CACHE_OK);
  EXPECT_EQ(cache_options_set_max_entries(opts.get(), cfg.max_entries), CACHE_OK);
  EXPECT_EQ(cache_options_set_shards(opts.get(), cfg.shards), CACHE_OK);
  cache_t *c = nullptr;
  EXPECT_EQ(cache_open(opts.get(), &c), CACHE_OK);
  EXPECT_NE(c, nullptr);
  return CachePtr(c);
}

// cache_open's status for the given bounds and shard count.
int OpenStatus(uint64_t max_bytes, uint64_t max_entries, uint32_t shards) {
  OptionsPtr opts(cache_options_new());
  EXPECT_EQ(cache_options_set_max_bytes(opts.get(), max_bytes), CACHE_OK);
  EXPECT_EQ(cache_options_set_max_entries(opts.get(), max_entries), CACHE_OK);
  EXPECT_EQ(cache_options_set_shards(opts.get(), shards), CACHE_OK);
  cache_t *c = nullptr;
  const int rc = cache_open(opts.get(), &c);
  cache_close(c);
  return rc;
}

int Set(cache_t *c, std::string_view k, std::string_view v, int64_t ttl = CACHE_TTL_NONE) {
  return cache_set(c, k.data(), k.size(), v.data(), v.size(), ttl);
}
int Add(cache_t *c, std::string_view k, std::string_view v, int64_t ttl = CACHE_TTL_NONE) {
  return cache_add(c, k.data(), k.size(), v.data(), v.size(), ttl);
}
int Replace(cache_t *c, std::string_view k, std::string_view v, int64_t ttl = CACHE_TTL_NONE) {
  return cache_replace(c, k.data(), k.size(), v.data(), v.size(), ttl);
}

// The value for k, or nullopt on NOT_FOUND (any other status fails the test).
std::optional<std::string> Get(cache_t *c, std::string_view k) {
  size_t n = 0;
  int rc = cache_get(c, k.data(), k.size(), nullptr, 0, &n);
  if (rc == CACHE_NOT_FOUND) return std::nullopt;
  if (rc == CACHE_OK) return std::string();
  EXPECT_EQ(rc, CACHE_E_BUFFER_TOO_SMALL);
  std::string out(n, '\0');
  size_t m = 0;
  rc = cache_get(c, k.data(), k.size(), out.data(), out.size(), &m);
  EXPECT_EQ(rc, CACHE_OK);
  EXPECT_EQ(m, n);
  return rc == CACHE_OK ? std::optional<std::string>(out) : std::nullopt;
}

cache_stats_t Stats(cache_t *c) {
  cache_stats_t s;
  std::memset(&s, 0xEE, sizeof s);
  EXPECT_EQ(cache_stats(c, &s, sizeof s), CACHE_OK);
  return s;
}

void ExpectInvariants(const cache_t *c) {
  const char *what = nullptr;
  EXPECT_EQ(cache_check_invariants(c, &what), CACHE_OK) << (what != nullptr ? what : "");
}

bool SameStats(const cache_stats_t &a, const cache_stats_t &b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

// ---- Version and statuses ----------------------------------------------------

TEST(Version, MacrosMatchTheLoadedLibrary) {
  EXPECT_EQ(CACHE_VERSION_NUMBER,
            CACHE_VERSION_MAJOR * 10000 + CACHE_VERSION_MINOR * 100 + CACHE_VERSION_PATCH);
  EXPECT_EQ(cache_version_number(), static_cast<unsigned>(CACHE_VERSION_NUMBER));
  char expected[32];
  std::snprintf(expected, sizeof expected, "%d.%d.%d", CACHE_VERSION_MAJOR, CACHE_VERSION_MINOR,
                CACHE_VERSION_PATCH);
  ASSERT_NE(cache_version_string(), nullptr);
  EXPECT_STREQ(cache_version_string(), expected);
  EXPECT_STREQ(cache_version_string(), "1.6.0");
  EXPECT_EQ(cache_version_string(), cache_version_string()) << "a static string";
}

TEST(Status, ValuesArePinned) {
  EXPECT_EQ(CACHE_OK, 0);
  EXPECT_EQ(CACHE_NOT_FOUND, 1);
  EXPECT_EQ(CACHE_EXISTS, 2);
  EXPECT_EQ(CACHE_E_INVALID, -1);
  EXPECT_EQ(CACHE_E_NOMEM, -2);
  EXPECT_EQ(CACHE_E_TOO_LARGE, -3);
  EXPECT_EQ(CACHE_E_BUFFER_TOO_SMALL, -4);
  EXPECT_EQ(CACHE_E_IO, -5);
  EXPECT_EQ(CACHE_E_FULL, -6);
  EXPECT_EQ(CACHE_E_TIMEOUT, -7);
  EXPECT_EQ(CACHE_E_CLOSED, -8);
  EXPECT_EQ(CACHE_E_INTERNAL, -9);
  EXPECT_EQ(CACHE_TTL_DEFAULT, -1);
  EXPECT_EQ(CACHE_TTL_NONE, 0);
  EXPECT_EQ(CACHE_MAX_KEY_SIZE, 65535u);
}

TEST(Status, StrerrorDescribesEveryStatus) {
  const std::string unknown = "unknown libcache status";
  const int known[] = {
      CACHE_OK,          CACHE_NOT_FOUND,          CACHE_EXISTS, CACHE_E_INVALID, CACHE_E_NOMEM,
      CACHE_E_TOO_LARGE, CACHE_E_BUFFER_TOO_SMALL, CACHE_E_IO,   CACHE_E_FULL,    CACHE_E_TIMEOUT,
      CACHE_E_CLOSED,    CACHE_E_INTERNAL,         CACHE_E_WRONG_KIND};
  std::set<std::string> seen;
  for (int status : known) {
    const char *s = cache_strerror(status);
    ASSERT_NE(s, nullptr) << status;
    EXPECT_GT(std::strlen(s), 0u) << status;
    EXPECT_NE(s, unknown) << status;
    EXPECT_EQ(s, cache_strerror(status)) << "static string for " << status;
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), std::size(known)) << "each status has its own description";
  for (int status : {3, 4, 100, -11, -12, -100, INT_MAX, INT_MIN}) {
    ASSERT_NE(cache_strerror(status), nullptr) << status;
    EXPECT_EQ(cache_strerror(status), unknown) << status;
  }
}

// ---- Options ---------------------------------------------------------------

TEST(Options, NullOptionsAreInvalid) {
  EXPECT_EQ(cache_options_set_max_bytes(nullptr, 1 << 20), CACHE_E_INVALID);
  EXPECT_EQ(cache_options_set_max_entries(nullptr, 100), CACHE_E_INVALID);
  EXPECT_EQ(cache_options_set_default_ttl_ms(nullptr, 100), CACHE_E_INVALID);
  EXPECT_EQ(cache_options_set_shards(nullptr, 4), CACHE_E_INVALID);
  EXPECT_EQ(cache_options_set_clock(nullptr, nullptr, nullptr), CACHE_E_INVALID);
  EXPECT_EQ(cache_options_set_hash_seed(nullptr, 1), CACHE_E_INVALID);
  EXPECT_EQ(cache_options_set_policy(nullptr, CACHE_POLICY_CLOCK), CACHE_E_INVALID);
  EXPECT_EQ(cache_options_set_policy(nullptr, CACHE_POLICY_ADAPTIVE), CACHE_E_INVALID);
  EXPECT_EQ(cache_options_set_policy(nullptr, 99), CACHE_E_INVALID);
}

TEST(Options, FreeNullIsANoOp) {
  cache_options_free(nullptr);
  cache_close(nullptr);
  cache_value_release(nullptr);
  EXPECT_EQ(cache_shard_count(nullptr), 0u);
}

TEST(Options, ShardCounts) {
  OptionsPtr opts(cache_options_new());
  ASSERT_NE(opts, nullptr);
  for (uint32_t n = 1; n <= 1024; n *= 2)
    EXPECT_EQ(cache_options_set_shards(opts.get(), n), CACHE_OK);
  EXPECT_EQ(cache_options_set_shards(opts.get(), 0), CACHE_OK) << "0 = automatic";
  ASSERT_EQ(cache_options_set_shards(opts.get(), 8), CACHE_OK);
  for (uint32_t bad : {3u, 6u, 12u, 1000u, 1023u, 1025u, 2048u, 4096u, 0x80000000u, UINT32_MAX}) {
    EXPECT_EQ(cache_options_set_shards(opts.get(), bad), CACHE_E_INVALID) << bad;
  }
  // A refused value leaves the previous one in place.
  ASSERT_EQ(cache_options_set_max_bytes(opts.get(), 8 << 20), CACHE_OK);
  cache_t *c = nullptr;
  ASSERT_EQ(cache_open(opts.get(), &c), CACHE_OK);
  CachePtr cache(c);
  EXPECT_EQ(cache_shard_count(c), 8u);
}

TEST(Options, PolicyValuesArePinned) {
  EXPECT_EQ(CACHE_POLICY_CLOCK, 0);
  EXPECT_EQ(CACHE_POLICY_ADAPTIVE, 1);
}

// The policy a cache_options_t holds is not readable through the ABI, so this
// test looks inside (capi/src/abi_util.h defines cache_options_s as the
// engine's Options): a refused value must leave the previous one in place.
TEST(Options, UnknownPolicyIsInvalidAndLeavesTheOptionsUnchanged) {
  OptionsPtr opts(cache_options_new());
  ASSERT_NE(opts, nullptr);
  EXPECT_EQ(opts->opts.policy, libcache::PolicyKind::kClock) << "CLOCK is the default";
  ASSERT_EQ(cache_options_set_max_entries(opts.get(), 1000), CACHE_OK);
  ASSERT_EQ(cache_options_set_shards(opts.get(), 4), CACHE_OK);
  for (const int set : libcache_test::kPolicies) {
    ASSERT_EQ(cache_options_set_policy(opts.get(), set), CACHE_OK);
    const libcache::PolicyKind want =
        set == CACHE_POLICY_CLOCK ? libcache::PolicyKind::kClock : libcache::PolicyKind::kAdaptive;
    EXPECT_EQ(opts->opts.policy, want);
    for (const int bad : {-1, 2, 3, 255, 256, 257, 1000, INT_MAX, INT_MIN}) {
      EXPECT_EQ(cache_options_set_policy(opts.get(), bad), CACHE_E_INVALID) << bad;
      EXPECT_EQ(opts->opts.policy, want) << "after " << bad;
    }
    EXPECT_EQ(opts->opts.max_entries, 1000u);
    EXPECT_EQ(opts->opts.shards, 4u);
    cache_t *c = nullptr;
    ASSERT_EQ(cache_open(opts.get(), &c), CACHE_OK) << "the options still open a cache";
    CachePtr cache(c);
    EXPECT_EQ(cache_shard_count(c), 4u);
    EXPECT_EQ(Set(c, "k", "v"), CACHE_OK);
    EXPECT_EQ(Get(c, "k"), "v");
  }
}

TEST(Options, DefaultTtlRange) {
  OptionsPtr opts(cache_options_new());
  EXPECT_EQ(cache_options_set_default_ttl_ms(opts.get(), 0), CACHE_OK);
  EXPECT_EQ(cache_options_set_default_ttl_ms(opts.get(), uint64_t{1} << 62), CACHE_OK);
  EXPECT_EQ(cache_options_set_default_ttl_ms(opts.get(), (uint64_t{1} << 62) + 1), CACHE_E_INVALID);
  EXPECT_EQ(cache_options_set_default_ttl_ms(opts.get(), UINT64_MAX), CACHE_E_INVALID);
}

TEST(Options, CacheKeepsNoReferenceToOptions) {
  OptionsPtr opts(cache_options_new());
  ASSERT_EQ(cache_options_set_max_bytes(opts.get(), 1 << 20), CACHE_OK);
  ASSERT_EQ(cache_options_set_shards(opts.get(), 2), CACHE_OK);
  cache_t *a = nullptr, *b = nullptr;
  ASSERT_EQ(cache_open(opts.get(), &a), CACHE_OK);
  ASSERT_EQ(cache_open(opts.get(), &b), CACHE_OK) << "options are reusable";
  CachePtr ca(a), cb(b);
  opts.reset();  // freed: the caches must not notice
  EXPECT_EQ(cache_shard_count(a), 2u);
  EXPECT_EQ(Set(a, "k", "a"), CACHE_OK);
  EXPECT_EQ(Set(b, "k", "b"), CACHE_OK);
  EXPECT_EQ(Get(a, "k"), "a");
  EXPECT_EQ(Get(b, "k"), "b") << "two caches share nothing";
}

// ---- Open --------------------------------------------------------------------

TEST(Open, NullOutIsInvalid) {
  EXPECT_EQ(cache_open(nullptr, nullptr), CACHE_E_INVALID);
  OptionsPtr opts(cache_options_new());
  EXPECT_EQ(cache_open(opts.get(), nullptr), CACHE_E_INVALID);
}

TEST(Open, NullOptionsMeanDefaults) {
  cache_t *c = nullptr;
  ASSERT_EQ(cache_open(nullptr, &c), CACHE_OK);
  CachePtr cache(c);
  const uint32_t shards = cache_shard_count(c);
  EXPECT_GE(shards, 1u);
  EXPECT_LE(shards, 1024u);
  EXPECT_EQ(shards & (shards - 1), 0u) << "a power of two";
  // No default TTL.
  ASSERT_EQ(Set(c, "k", "v", CACHE_TTL_DEFAULT), CACHE_OK);
  int64_t remaining = 0;
  ASSERT_EQ(cache_ttl(c, "k", 1, &remaining), CACHE_OK);
  EXPECT_EQ(remaining, -1);
  // No entry bound.
  for (int i = 0; i < 20000; ++i) ASSERT_EQ(Set(c, "n" + std::to_string(i), "x"), CACHE_OK);
  EXPECT_EQ(Stats(c).entries, 20001u);
  EXPECT_EQ(Stats(c).evictions, 0u);
  // 64 MiB in all: more than a shard's share fits (borrowed), the whole does not.
  const uint64_t max_bytes = uint64_t{64} << 20;
  EXPECT_EQ(Set(c, "big", std::string(max_bytes / shards + 1, 'b')), CACHE_OK);
  EXPECT_EQ(Set(c, "big", std::string(max_bytes, 'b')), CACHE_E_TOO_LARGE);
  const std::string mib(1 << 20, 'm');
  for (int i = 0; i < 96; ++i) {
    ASSERT_EQ(Set(c, "m" + std::to_string(i), mib), CACHE_OK);
    ASSERT_LE(Stats(c).bytes, max_bytes);
  }
  EXPECT_GT(Stats(c).evictions, 0u);
}

TEST(Open, BothBoundsZeroIsInvalid) {
  EXPECT_EQ(OpenStatus(0, 0, 1), CACHE_E_INVALID);
  EXPECT_EQ(OpenStatus(0, 0, 0), CACHE_E_INVALID);
  EXPECT_EQ(OpenStatus(0, 100, 1), CACHE_OK) << "an entry bound alone is enough";
  EXPECT_EQ(OpenStatus(1 << 20, 0, 1), CACHE_OK) << "a byte bound alone is enough";
}

TEST(Open, BoundsTooSmallForTheShardsAreInvalid) {
  EXPECT_EQ(OpenStatus(0, 3, 4), CACHE_E_INVALID) << "fewer entries than shards";
  EXPECT_EQ(OpenStatus(0, 4, 4), CACHE_OK);
  EXPECT_EQ(OpenStatus(0, 1023, 1024), CACHE_E_INVALID);
  EXPECT_EQ(OpenStatus(0, 1024, 1024), CACHE_OK);
  EXPECT_EQ(OpenStatus(1, 0, 1), CACHE_E_INVALID) << "one byte holds no entry";
  EXPECT_EQ(OpenStatus(100, 0, 1), CACHE_E_INVALID);
  EXPECT_EQ(OpenStatus(100 * 1024, 0, 1024), CACHE_E_INVALID) << "100 bytes per shard";
  EXPECT_EQ(OpenStatus(100 * 1024, 0, 1), CACHE_OK) << "the same bytes in one shard";
  EXPECT_EQ(OpenStatus(4096 * 1024, 0, 1024), CACHE_OK);
}

TEST(Open, EntryBoundAbove32BitsPerShardIsInvalid) {
  EXPECT_EQ(OpenStatus(0, uint64_t{1} << 33, 1), CACHE_E_INVALID);
  EXPECT_EQ(OpenStatus(0, uint64_t{UINT32_MAX}, 1), CACHE_OK);
  EXPECT_EQ(OpenStatus(0, uint64_t{1} << 33, 4), CACHE_OK) << "2^31 per shard";
}

// ---- Reads and writes ------------------------------------------------------

class CapiTest : public ::testing::Test {
 protected:
  void SetUp() override { cache_ = OpenCache(Config{}); }
  cache_t *c() { return cache_.get(); }
  CachePtr cache_;
};

TEST_F(CapiTest, FreshCacheHasZeroCounters) {
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.hits, 0u);
  EXPECT_EQ(s.misses, 0u);
  EXPECT_EQ(s.sets, 0u);
  EXPECT_EQ(s.deletes, 0u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.expirations, 0u);
  EXPECT_EQ(s.entries, 0u);
  EXPECT_GT(s.bytes, 0u) << "the table and ring are charged";
  EXPECT_LE(s.bytes, uint64_t{1} << 20);
}

TEST_F(CapiTest, SetGetOverwrite) {
  const uint64_t empty_bytes = Stats(c()).bytes;
  EXPECT_EQ(Get(c(), "k"), std::nullopt);
  ASSERT_EQ(Set(c(), "k", "first"), CACHE_OK);
  EXPECT_EQ(Get(c(), "k"), "first");
  const uint64_t one_bytes = Stats(c()).bytes;
  EXPECT_GE(one_bytes, empty_bytes + 1 + 5) << "key and value are charged";
  ASSERT_EQ(Set(c(), "k", "second"), CACHE_OK);
  EXPECT_EQ(Get(c(), "k"), "second");
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.sets, 2u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.evictions, 0u);
}

TEST_F(CapiTest, GetCopiesAndCountsHitsAndMisses) {
  ASSERT_EQ(Set(c(), "key", "value"), CACHE_OK);
  char buf[16];
  std::memset(buf, '#', sizeof buf);
  size_t n = 0;
  ASSERT_EQ(cache_get(c(), "key", 3, buf, sizeof buf, &n), CACHE_OK);
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(std::string_view(buf, 5), "value");
  EXPECT_EQ(buf[5], '#') << "nothing written past the value";
  ASSERT_EQ(cache_get(c(), "key", 3, buf, 5, nullptr), CACHE_OK) << "exact fit, vlen NULL";
  EXPECT_EQ(cache_get(c(), "nope", 4, buf, sizeof buf, &n), CACHE_NOT_FOUND);
  EXPECT_EQ(cache_get(c(), "ke", 2, buf, sizeof buf, &n), CACHE_NOT_FOUND) << "a prefix";
  EXPECT_EQ(cache_get(c(), "keyy", 4, buf, sizeof buf, &n), CACHE_NOT_FOUND);
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 3u);
}

TEST_F(CapiTest, BufferTooSmallStoresTheNeededSize) {
  const std::string value(1000, 'v');
  ASSERT_EQ(Set(c(), "k", value), CACHE_OK);
  std::vector<char> buf(999, '#');
  size_t n = 0;
  EXPECT_EQ(cache_get(c(), "k", 1, buf.data(), buf.size(), &n), CACHE_E_BUFFER_TOO_SMALL);
  EXPECT_EQ(n, 1000u);
  EXPECT_EQ(std::string(buf.begin(), buf.end()), std::string(999, '#')) << "nothing copied";
  n = 0;
  EXPECT_EQ(cache_get(c(), "k", 1, nullptr, 0, &n), CACHE_E_BUFFER_TOO_SMALL) << "size query";
  EXPECT_EQ(n, 1000u);
  EXPECT_EQ(cache_get(c(), "k", 1, nullptr, 0, nullptr), CACHE_E_BUFFER_TOO_SMALL);
  EXPECT_EQ(cache_get(c(), "k", 1, buf.data(), 0, &n), CACHE_E_BUFFER_TOO_SMALL);
  EXPECT_EQ(Get(c(), "k"), value) << "the entry is untouched";
}

TEST_F(CapiTest, EmptyKeyAndEmptyValue) {
  ASSERT_EQ(cache_set(c(), nullptr, 0, "empty-key", 9, CACHE_TTL_NONE), CACHE_OK);
  EXPECT_EQ(Get(c(), ""), "empty-key");
  EXPECT_EQ(Get(c(), std::string_view("x", 0)), "empty-key") << "non-NULL key, length 0";
  ASSERT_EQ(cache_set(c(), "ev", 2, nullptr, 0, CACHE_TTL_NONE), CACHE_OK);
  size_t n = 99;
  EXPECT_EQ(cache_get(c(), "ev", 2, nullptr, 0, &n), CACHE_OK) << "an empty value fits in 0";
  EXPECT_EQ(n, 0u);
  char buf[4] = {'#', '#', '#', '#'};
  n = 99;
  EXPECT_EQ(cache_get(c(), "ev", 2, buf, sizeof buf, &n), CACHE_OK);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(buf[0], '#');
  ASSERT_EQ(cache_set(c(), "", 0, "", 0, CACHE_TTL_NONE), CACHE_OK) << "both empty";
  EXPECT_EQ(Get(c(), ""), "");
  EXPECT_EQ(Stats(c()).entries, 2u);
  EXPECT_EQ(cache_delete(c(), nullptr, 0), CACHE_OK);
  EXPECT_EQ(Get(c(), ""), std::nullopt);
  EXPECT_EQ(Get(c(), "ev"), "");
}

TEST_F(CapiTest, BinaryKeysAndValues) {
  const std::string keys[] = {std::string("a\0b", 3),
                              std::string("a\0c", 3),
                              std::string("a", 1),
                              std::string("a\0", 2),
                              std::string("\0", 1),
                              std::string("\0\0", 2),
                              std::string("\xff\xfe\x00\x01", 4)};
  for (size_t i = 0; i < std::size(keys); ++i) {
    std::string value = "v" + std::to_string(i);
    value += std::string("\0\xff\0", 3);
    ASSERT_EQ(Set(c(), keys[i], value), CACHE_OK);
  }
  EXPECT_EQ(Stats(c()).entries, std::size(keys)) << "keys differing after a NUL are distinct";
  for (size_t i = 0; i < std::size(keys); ++i) {
    std::string value = "v" + std::to_string(i);
    value += std::string("\0\xff\0", 3);
    EXPECT_EQ(Get(c(), keys[i]), value) << i;
  }
  EXPECT_EQ(Get(c(), std::string("a\0d", 3)), std::nullopt);
  EXPECT_EQ(cache_delete(c(), "a\0b", 3), CACHE_OK);
  EXPECT_EQ(Get(c(), std::string("a\0c", 3)), std::string("v1\0\xff\0", 5));
}

TEST_F(CapiTest, AddOnlyWhenAbsent) {
  ASSERT_EQ(Add(c(), "k", "one"), CACHE_OK);
  EXPECT_EQ(Add(c(), "k", "two"), CACHE_EXISTS);
  EXPECT_EQ(Get(c(), "k"), "one") << "EXISTS changes nothing";
  EXPECT_EQ(Stats(c()).sets, 1u) << "only successful writes count";
  ASSERT_EQ(cache_delete(c(), "k", 1), CACHE_OK);
  EXPECT_EQ(Add(c(), "k", "three"), CACHE_OK);
  EXPECT_EQ(Get(c(), "k"), "three");
  EXPECT_EQ(Stats(c()).sets, 2u);
}

TEST_F(CapiTest, ReplaceOnlyWhenPresent) {
  EXPECT_EQ(Replace(c(), "k", "one"), CACHE_NOT_FOUND);
  EXPECT_EQ(Get(c(), "k"), std::nullopt) << "NOT_FOUND creates nothing";
  EXPECT_EQ(Stats(c()).sets, 0u);
  EXPECT_EQ(Stats(c()).entries, 0u);
  ASSERT_EQ(Set(c(), "k", "one"), CACHE_OK);
  EXPECT_EQ(Replace(c(), "k", "two"), CACHE_OK);
  EXPECT_EQ(Get(c(), "k"), "two");
  EXPECT_EQ(Stats(c()).sets, 2u);
  EXPECT_EQ(Stats(c()).entries, 1u);
}

TEST_F(CapiTest, DeleteCountsOnlySuccesses) {
  ASSERT_EQ(Set(c(), "k", "v"), CACHE_OK);
  ASSERT_EQ(Set(c(), "other", "w"), CACHE_OK);
  const uint64_t bytes_before = Stats(c()).bytes;
  EXPECT_EQ(cache_delete(c(), "k", 1), CACHE_OK);
  EXPECT_EQ(cache_delete(c(), "k", 1), CACHE_NOT_FOUND);
  EXPECT_EQ(cache_delete(c(), "never", 5), CACHE_NOT_FOUND);
  EXPECT_EQ(Get(c(), "k"), std::nullopt);
  EXPECT_EQ(Get(c(), "other"), "w");
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.deletes, 1u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_LT(s.bytes, bytes_before) << "the entry's charge is returned";
}

TEST_F(CapiTest, TakeRemovesAndHandsOverTheValue) {
  const std::string value("taken\0bytes", 11);
  ASSERT_EQ(Set(c(), "k", value), CACHE_OK);
  ASSERT_EQ(Set(c(), "other", "w"), CACHE_OK);
  const uint64_t bytes_before = Stats(c()).bytes;
  cache_value_t *v = nullptr;
  ASSERT_EQ(cache_take(c(), "k", 1, &v), CACHE_OK);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(Get(c(), "k"), std::nullopt) << "taken means gone";
  ASSERT_EQ(Set(c(), "k", "new"), CACHE_OK);  // a later write does not touch the taken value
  ASSERT_EQ(cache_value_size(v), value.size());
  EXPECT_EQ(std::memcmp(cache_value_data(v), value.data(), value.size()), 0);
  cache_value_release(v);
  cache_value_t *miss = reinterpret_cast<cache_value_t *>(&v);  // garbage to be overwritten
  EXPECT_EQ(cache_take(c(), "absent", 6, &miss), CACHE_NOT_FOUND);
  EXPECT_EQ(miss, nullptr);
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.deletes, 1u) << "a take counts as a delete";
  EXPECT_EQ(s.entries, 2u);
  EXPECT_GT(s.bytes, 0u);
  EXPECT_LE(s.bytes, bytes_before + 64);
}

TEST_F(CapiTest, GetValuePinsTheValue) {
  const std::string value("pinned\0bytes", 12);
  ASSERT_EQ(Set(c(), "k", value), CACHE_OK);
  cache_value_t *v = nullptr;
  ASSERT_EQ(cache_get_value(c(), "k", 1, &v), CACHE_OK);
  ASSERT_NE(v, nullptr);
  ASSERT_EQ(cache_value_size(v), value.size());
  EXPECT_EQ(std::memcmp(cache_value_data(v), value.data(), value.size()), 0);
  cache_value_release(v);
  cache_value_t *miss = reinterpret_cast<cache_value_t *>(&v);  // garbage to be overwritten
  EXPECT_EQ(cache_get_value(c(), "absent", 6, &miss), CACHE_NOT_FOUND);
  EXPECT_EQ(miss, nullptr);
  ASSERT_EQ(cache_set(c(), "e", 1, nullptr, 0, CACHE_TTL_NONE), CACHE_OK);
  ASSERT_EQ(cache_get_value(c(), "e", 1, &v), CACHE_OK);
  EXPECT_EQ(cache_value_size(v), 0u);
  cache_value_release(v);
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 1u);
}

// cache_read hands the callback the stored bytes in place, once per hit.
TEST_F(CapiTest, ReadCallsTheCallbackWithTheValue) {
  ASSERT_EQ(Set(c(), "key", "value"), CACHE_OK);
  struct Seen {
    int calls = 0;
    std::string bytes;
  } seen;
  const cache_read_fn record = [](void *ctx, const void *val, size_t vlen) {
    auto *s = static_cast<Seen *>(ctx);
    ++s->calls;
    s->bytes.assign(static_cast<const char *>(val), vlen);
  };
  ASSERT_EQ(cache_read(c(), "key", 3, record, &seen), CACHE_OK);
  EXPECT_EQ(seen.calls, 1);
  EXPECT_EQ(seen.bytes, "value");
  EXPECT_EQ(cache_read(c(), "nope", 4, record, &seen), CACHE_NOT_FOUND);
  EXPECT_EQ(seen.calls, 1) << "no call on a miss";
  EXPECT_EQ(cache_read(c(), "key", 3, nullptr, nullptr), CACHE_OK) << "NULL fn: a presence test";
  ASSERT_EQ(Set(c(), "empty", ""), CACHE_OK);
  ASSERT_EQ(cache_read(c(), "empty", 5, record, &seen), CACHE_OK);
  EXPECT_EQ(seen.calls, 2);
  EXPECT_EQ(seen.bytes, "");
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.hits, 3u);
  EXPECT_EQ(s.misses, 1u);
}

// cache_setv stores its parts back to back, with each write mode's rules.
TEST_F(CapiTest, SetvJoinsThePartsInEveryMode) {
  const cache_iovec_t parts[] = {{"ab", 2}, {nullptr, 0}, {"cde", 3}};
  ASSERT_EQ(cache_setv(c(), "k", 1, parts, 3, CACHE_TTL_NONE, CACHE_WRITE_SET), CACHE_OK);
  EXPECT_EQ(Get(c(), "k"), "abcde");
  EXPECT_EQ(cache_setv(c(), "k", 1, parts, 1, CACHE_TTL_NONE, CACHE_WRITE_ADD), CACHE_EXISTS);
  EXPECT_EQ(Get(c(), "k"), "abcde") << "a refused add changes nothing";
  ASSERT_EQ(cache_setv(c(), "k", 1, parts + 2, 1, CACHE_TTL_NONE, CACHE_WRITE_REPLACE), CACHE_OK);
  EXPECT_EQ(Get(c(), "k"), "cde");
  EXPECT_EQ(cache_setv(c(), "new", 3, parts, 3, CACHE_TTL_NONE, CACHE_WRITE_REPLACE),
            CACHE_NOT_FOUND);
  EXPECT_EQ(Get(c(), "new"), std::nullopt);
  ASSERT_EQ(cache_setv(c(), "new", 3, parts, 3, 60000, CACHE_WRITE_ADD), CACHE_OK);
  EXPECT_EQ(Get(c(), "new"), "abcde");
  int64_t remaining = 0;
  ASSERT_EQ(cache_ttl(c(), "new", 3, &remaining), CACHE_OK);
  EXPECT_GT(remaining, 0);
  EXPECT_LE(remaining, 60000) << "the TTL argument applies";
  ASSERT_EQ(cache_setv(c(), "none", 4, nullptr, 0, CACHE_TTL_NONE, CACHE_WRITE_SET), CACHE_OK);
  EXPECT_EQ(Get(c(), "none"), "") << "no parts: an empty value";
  // More parts than the wrapper converts on the stack.
  std::vector<cache_iovec_t> many;
  std::string expect;
  for (int i = 0; i < 40; ++i) {
    many.push_back({&"0123456789"[i % 10], 1});
    expect += static_cast<char>('0' + i % 10);
  }
  ASSERT_EQ(cache_setv(c(), "many", 4, many.data(), many.size(), CACHE_TTL_NONE, CACHE_WRITE_SET),
            CACHE_OK);
  EXPECT_EQ(Get(c(), "many"), expect);
}

TEST_F(CapiTest, TouchAndTtlOnEntriesWithoutExpiry) {
  int64_t remaining = 12345;
  EXPECT_EQ(cache_ttl(c(), "k", 1, &remaining), CACHE_NOT_FOUND);
  EXPECT_EQ(cache_touch(c(), "k", 1, 1000), CACHE_NOT_FOUND);
  EXPECT_EQ(Get(c(), "k"), std::nullopt) << "touch does not create";
  ASSERT_EQ(Set(c(), "k", "v"), CACHE_OK);
  ASSERT_EQ(cache_ttl(c(), "k", 1, &remaining), CACHE_OK);
  EXPECT_EQ(remaining, -1);
  ASSERT_EQ(cache_touch(c(), "k", 1, 3600 * 1000), CACHE_OK);
  ASSERT_EQ(cache_ttl(c(), "k", 1, &remaining), CACHE_OK);
  EXPECT_GT(remaining, 3590 * 1000) << "a real clock: only roughly";
  EXPECT_LE(remaining, 3600 * 1000);
  ASSERT_EQ(cache_touch(c(), "k", 1, CACHE_TTL_NONE), CACHE_OK);
  ASSERT_EQ(cache_ttl(c(), "k", 1, &remaining), CACHE_OK);
  EXPECT_EQ(remaining, -1);
  EXPECT_EQ(Get(c(), "k"), "v") << "touch keeps the value";
}

TEST_F(CapiTest, ClearEmptiesTheCache) {
  for (int i = 0; i < 100; ++i) ASSERT_EQ(Set(c(), "k" + std::to_string(i), "v"), CACHE_OK);
  const cache_stats_t before = Stats(c());
  ASSERT_EQ(cache_clear(c()), CACHE_OK);
  const cache_stats_t s = Stats(c());
  EXPECT_EQ(s.entries, 0u);
  EXPECT_LT(s.bytes, before.bytes);
  EXPECT_EQ(s.sets, before.sets) << "counters are since open";
  for (int i = 0; i < 100; ++i) EXPECT_EQ(Get(c(), "k" + std::to_string(i)), std::nullopt);
  ASSERT_EQ(Set(c(), "k0", "again"), CACHE_OK) << "usable after clear";
  EXPECT_EQ(Get(c(), "k0"), "again");
  EXPECT_EQ(cache_clear(c()), CACHE_OK);
  EXPECT_EQ(cache_clear(c()), CACHE_OK) << "clearing an empty cache";
}

TEST_F(CapiTest, PurgeWithNothingExpired) {
  ASSERT_EQ(Set(c(), "k", "v"), CACHE_OK);
  uint64_t reclaimed = 77;
  EXPECT_EQ(cache_purge_expired(c(), &reclaimed), CACHE_OK);
  EXPECT_EQ(reclaimed, 0u);
  EXPECT_EQ(cache_purge_expired(c(), nullptr), CACHE_OK) << "reclaimed may be NULL";
  EXPECT_EQ(Get(c(), "k"), "v");
}

TEST_F(CapiTest, StatsCopiesOnlyOutSize) {
  ASSERT_EQ(Set(c(), "k", "v"), CACHE_OK);
  char b[4];
  ASSERT_EQ(cache_get(c(), "k", 1, b, sizeof b, nullptr), CACHE_OK);
  ASSERT_EQ(cache_get(c(), "x", 1, b, sizeof b, nullptr), CACHE_NOT_FOUND);
  const cache_stats_t full = Stats(c());
  ASSERT_EQ(full.hits, 1u);
  ASSERT_EQ(full.misses, 1u);
  // A caller built against an older, shorter struct; an odd size on purpose.
  for (size_t size : {size_t{0}, size_t{1}, offsetof(cache_stats_t, sets),
                      offsetof(cache_stats_t, deletes) + 3, sizeof(cache_stats_t) - 1}) {
    unsigned char buf[sizeof(cache_stats_t) + 16];
    std::memset(buf, 0xA5, sizeof buf);
    ASSERT_EQ(cache_stats(c(), reinterpret_cast<cache_stats_t *>(buf), size), CACHE_OK) << size;
    EXPECT_EQ(std::memcmp(buf, &full, size), 0) << size;
    for (size_t i = size; i < sizeof buf; ++i) ASSERT_EQ(buf[i], 0xA5) << size << " byte " << i;
  }
  // A caller built against a longer, future struct: only what we have.
  unsigned char big[sizeof(cache_stats_t) + 16];
  std::memset(big, 0xA5, sizeof big);
  ASSERT_EQ(cache_stats(c(), reinterpret_cast<cache_stats_t *>(big), sizeof big), CACHE_OK);
  EXPECT_EQ(std::memcmp(big, &full, sizeof full), 0);
  for (size_t i = sizeof full; i < sizeof big; ++i) ASSERT_EQ(big[i], 0xA5) << i;
}

TEST_F(CapiTest, KeySizeLimit) {
  const std::string longest(CACHE_MAX_KEY_SIZE, 'k');
  const std::string too_long(CACHE_MAX_KEY_SIZE + 1, 'k');
  ASSERT_EQ(Set(c(), longest, "v"), CACHE_OK);
  EXPECT_EQ(Get(c(), longest), "v");
  const cache_stats_t before = Stats(c());
  EXPECT_EQ(Set(c(), too_long, "v"), CACHE_E_TOO_LARGE);
  EXPECT_EQ(Add(c(), too_long, "v"), CACHE_E_TOO_LARGE);
  EXPECT_EQ(Replace(c(), too_long, "v"), CACHE_E_TOO_LARGE);
  EXPECT_EQ(Set(c(), std::string(1 << 20, 'k'), "v"), CACHE_E_TOO_LARGE);
  EXPECT_TRUE(SameStats(Stats(c()), before));
  EXPECT_EQ(Get(c(), longest), "v");
}

TEST(TooLarge, ValueLargerThanTheCacheKeepsThePreviousValue) {
  // 1 MiB over 4 shards: an entry may borrow the other shards' limits, but
  // nothing of 1 MiB or more (plus its header and the shards' arrays) fits.
  CachePtr cache = OpenCache({uint64_t{1} << 20, 0, 4});
  cache_t *c = cache.get();
  ASSERT_EQ(Set(c, "k", "old"), CACHE_OK);
  const cache_stats_t before = Stats(c);
  for (size_t size : {size_t{1} << 20, (size_t{1} << 20) + 1, size_t{8} << 20}) {
    const std::string big(size, 'B');
    EXPECT_EQ(Set(c, "k", big), CACHE_E_TOO_LARGE) << size;
    EXPECT_EQ(Replace(c, "k", big), CACHE_E_TOO_LARGE) << size;
    EXPECT_EQ(Add(c, "new", big), CACHE_E_TOO_LARGE) << size;
    EXPECT_EQ(Get(c, "k"), "old") << size;
  }
  cache_stats_t after = Stats(c);
  after.hits = before.hits;  // the Get() calls above
  EXPECT_TRUE(SameStats(after, before)) << "a refused write changes nothing";
  EXPECT_EQ(Get(c, "new"), std::nullopt);
  ExpectInvariants(c);
// Well below a shard's share (allowing for allocator rounding) fits.
  const std::string fits(size_t{120} << 10, 'F');
  ASSERT_EQ(Set(c, "k", fits), CACHE_OK);
  EXPECT_EQ(Get(c, "k"), fits);
}

// The rule: with any shard count, an entry of up to 1/8 of max_bytes is
// accepted (a shard lends it the others' limits); larger ones up to the whole
// bound minus the shards' arrays are too, at the price of evicting that much.
TEST(LargeEntries, AnEighthOfMaxBytesFitsWhateverTheShardCount) {
  for (const Config &cfg : {Config{uint64_t{64} << 20, 0, 0}, Config{uint64_t{16} << 20, 0, 0},
                            Config{uint64_t{16} << 20, 0, 64}, Config{uint64_t{4} << 20, 0, 16},
                            Config{uint64_t{1} << 20, 0, 1}}) {
    CachePtr cache = OpenCache(cfg);
    cache_t *c = cache.get();
    const uint64_t max_bytes = cfg.max_bytes;
    // Fill with small entries first, so the large ones must evict to fit.
    const std::string small(max_bytes / 8192, 's');
    for (int i = 0; i % 64 != 0 || Stats(c).evictions == 0; ++i) {
      ASSERT_EQ(Set(c, "small" + std::to_string(i), small), CACHE_OK);
    }
    // A large entry in use survives a stream of small writes: the loan is
    // spread, so no shard is starved into taking it back.
    const std::string hot(max_bytes / 8, 'H');
    ASSERT_EQ(Set(c, "hot", hot), CACHE_OK);
    for (int i = 0; i < 4096; ++i) {
      ASSERT_EQ(Set(c, "churn" + std::to_string(i), small), CACHE_OK);
      if (i % 16 == 0) ASSERT_TRUE(Get(c, "hot") == hot) << "write " << i;
    }
    for (uint64_t size : {max_bytes / 8, max_bytes / 4, max_bytes / 2}) {
      const std::string big(size, 'L');
      const std::string key = "big" + std::to_string(size);
      ASSERT_EQ(Set(c, key, big), CACHE_OK)
          << size << " bytes, max_bytes " << max_bytes << ", " << cache_shard_count(c) << " shards";
      EXPECT_TRUE(Get(c, key) == big) << size;
      EXPECT_LE(Stats(c).bytes, max_bytes);
      ExpectInvariants(c);
    }
    EXPECT_EQ(Set(c, "whole", std::string(max_bytes, 'W')), CACHE_E_TOO_LARGE);

    // Small writes afterwards still use the whole bound.
    for (int i = 0; i < 100000 && (i % 64 != 0 || Stats(c).bytes < max_bytes / 10 * 9); ++i) {
      ASSERT_EQ(Set(c, "after" + std::to_string(i), small), CACHE_OK);
    }
    EXPECT_GE(Stats(c).bytes, max_bytes / 10 * 9) << cache_shard_count(c) << " shards";
    EXPECT_LE(Stats(c).bytes, max_bytes);
    ExpectInvariants(c);
  }
}

// Borrowing under threads: writers of large and small entries race; the
// bound holds at every sample and the limits still add up.
TEST(LargeEntries, BorrowingRacesKeepTheBound) {
  // 4 MiB over 16 shards: 256 KiB each, so every 300 KiB entry borrows.
  constexpr uint64_t kMaxBytes = uint64_t{4} << 20;
  CachePtr cache = OpenCache({kMaxBytes, 0, 16});
  cache_t *c = cache.get();
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      const std::string big((size_t{300} << 10) + t, 'x'), small(500, 's');
      for (int i = 0; i < 1500; ++i) {
        const std::string key = "t" + std::to_string(t) + "-" + std::to_string(i % 500);
        EXPECT_EQ(Set(c, key, i % 17 == 0 ? big : small), CACHE_OK);
      }
    });
  }
  // The checker tests the bound (and the limits' sum) on every pass that no
  // borrow overlapped; a plain stats sample could straddle one.
  threads.emplace_back([&] {
    while (!stop.load()) ExpectInvariants(c);
  });
  for (int t = 0; t < 3; ++t) threads[t].join();
  stop.store(true);
  threads.back().join();
  ExpectInvariants(c);
  EXPECT_LE(Stats(c).bytes, kMaxBytes);
  EXPECT_GT(Stats(c).evictions, 0u);
}

// ---- Invalid arguments -------------------------------------------------------

class InvalidArgTest : public CapiTest {
 protected:
  void SetUp() override {
    CapiTest::SetUp();
    ASSERT_EQ(Set(c(), "key", "value"), CACHE_OK);
    before_ = Stats(c());
  }
  // The cache is exactly as SetUp() (or the last check) left it.
  void ExpectUnchanged() {
    EXPECT_TRUE(SameStats(Stats(c()), before_));
    char buf[16];
    size_t n = 0;
    ASSERT_EQ(cache_get(c(), "key", 3, buf, sizeof buf, &n), CACHE_OK);
    EXPECT_EQ(std::string_view(buf, n), "value");
    ++before_.hits;
    EXPECT_TRUE(SameStats(Stats(c()), before_)) << "only the check's own hit";
  }
  cache_stats_t before_{};
};

TEST_F(InvalidArgTest, Writes) {
  using WriteFn = int (*)(cache_t *, const void *, size_t, const void *, size_t, int64_t);
  for (WriteFn w : {&cache_set, &cache_add, &cache_replace}) {
    EXPECT_EQ(w(nullptr, "key", 3, "x", 1, CACHE_TTL_NONE), CACHE_E_INVALID);
    EXPECT_EQ(w(c(), nullptr, 3, "x", 1, CACHE_TTL_NONE), CACHE_E_INVALID) << "NULL key, klen 3";
    EXPECT_EQ(w(c(), "key", 3, nullptr, 1, CACHE_TTL_NONE), CACHE_E_INVALID) << "NULL val, vlen 1";
    for (int64_t ttl : {int64_t{-2}, int64_t{-1000}, INT64_MIN}) {
      EXPECT_EQ(w(c(), "key", 3, "x", 1, ttl), CACHE_E_INVALID) << ttl;
      EXPECT_EQ(w(c(), "new", 3, "x", 1, ttl), CACHE_E_INVALID) << ttl;
    }
    ExpectUnchanged();
  }
  const cache_iovec_t ok[] = {{"x", 1}};
  const cache_iovec_t null_part[] = {{"x", 1}, {nullptr, 2}};
  EXPECT_EQ(cache_setv(nullptr, "key", 3, ok, 1, CACHE_TTL_NONE, CACHE_WRITE_SET), CACHE_E_INVALID);
  EXPECT_EQ(cache_setv(c(), nullptr, 3, ok, 1, CACHE_TTL_NONE, CACHE_WRITE_SET), CACHE_E_INVALID);
  EXPECT_EQ(cache_setv(c(), "key", 3, nullptr, 1, CACHE_TTL_NONE, CACHE_WRITE_SET), CACHE_E_INVALID)
      << "NULL parts, nparts 1";
  EXPECT_EQ(cache_setv(c(), "key", 3, null_part, 2, CACHE_TTL_NONE, CACHE_WRITE_SET),
            CACHE_E_INVALID)
      << "a NULL part with size 2";
  for (int mode : {-1, 3, 1000}) {
    EXPECT_EQ(cache_setv(c(), "key", 3, ok, 1, CACHE_TTL_NONE, mode), CACHE_E_INVALID) << mode;
  }
  EXPECT_EQ(cache_setv(c(), "key", 3, ok, 1, -2, CACHE_WRITE_SET), CACHE_E_INVALID);
  ExpectUnchanged();
}

TEST_F(InvalidArgTest, Reads) {
  char buf[16];
  size_t n = 0;
  EXPECT_EQ(cache_get(nullptr, "key", 3, buf, sizeof buf, &n), CACHE_E_INVALID);
  EXPECT_EQ(cache_get(c(), nullptr, 3, buf, sizeof buf, &n), CACHE_E_INVALID);
  EXPECT_EQ(cache_get(c(), "key", 3, nullptr, 16, &n), CACHE_E_INVALID) << "NULL buf, cap 16";
  cache_value_t *v = nullptr;
  EXPECT_EQ(cache_get_value(nullptr, "key", 3, &v), CACHE_E_INVALID);
  EXPECT_EQ(cache_get_value(c(), nullptr, 3, &v), CACHE_E_INVALID);
  EXPECT_EQ(cache_get_value(c(), "key", 3, nullptr), CACHE_E_INVALID) << "NULL out";
  EXPECT_EQ(cache_read(nullptr, "key", 3, nullptr, nullptr), CACHE_E_INVALID);
  EXPECT_EQ(cache_read(c(), nullptr, 3, nullptr, nullptr), CACHE_E_INVALID);
  int64_t remaining = 0;
  EXPECT_EQ(cache_ttl(nullptr, "key", 3, &remaining), CACHE_E_INVALID);
  EXPECT_EQ(cache_ttl(c(), nullptr, 3, &remaining), CACHE_E_INVALID);
  EXPECT_EQ(cache_ttl(c(), "key", 3, nullptr), CACHE_E_INVALID);
  ExpectUnchanged();  // no hit or miss counted either
}

TEST_F(InvalidArgTest, OtherCalls) {
  cache_value_t *v = reinterpret_cast<cache_value_t *>(&v);
  EXPECT_EQ(cache_take(nullptr, "key", 3, &v), CACHE_E_INVALID);
  EXPECT_EQ(v, nullptr) << "out is cleared even on a refused call";
  EXPECT_EQ(cache_take(c(), nullptr, 3, &v), CACHE_E_INVALID);
  EXPECT_EQ(cache_take(c(), "key", 3, nullptr), CACHE_E_INVALID);
  EXPECT_EQ(cache_delete(nullptr, "key", 3), CACHE_E_INVALID);
  EXPECT_EQ(cache_delete(c(), nullptr, 3), CACHE_E_INVALID);
  EXPECT_EQ(cache_touch(nullptr, "key", 3, 100), CACHE_E_INVALID);
  EXPECT_EQ(cache_touch(c(), nullptr, 3, 100), CACHE_E_INVALID);
  for (int64_t ttl : {int64_t{-2}, int64_t{-1000}, INT64_MIN}) {
    EXPECT_EQ(cache_touch(c(), "key", 3, ttl), CACHE_E_INVALID) << ttl;
  }
  EXPECT_EQ(cache_clear(nullptr), CACHE_E_INVALID);
  uint64_t reclaimed = 5;
  EXPECT_EQ(cache_purge_expired(nullptr, &reclaimed), CACHE_E_INVALID);
  cache_stats_t s;
  EXPECT_EQ(cache_stats(nullptr, &s, sizeof s), CACHE_E_INVALID);
  EXPECT_EQ(cache_stats(c(), nullptr, sizeof s), CACHE_E_INVALID);
  ExpectUnchanged();
  int64_t remaining = 0;
  ASSERT_EQ(cache_ttl(c(), "key", 3, &remaining), CACHE_OK);
  EXPECT_EQ(remaining, -1) << "a refused touch keeps the TTL";
}

// ---- Eviction policies: the same contract under each ------------------------
//
// These tests hold for any policy: what a policy changes is which entries it
// evicts, so nothing here depends on a victim (tests that do are in
// eviction_test.cc and ttl_test.cc, CLOCK only).

class PolicyTest : public ::testing::TestWithParam<int> {
 protected:
  CachePtr Open(uint64_t max_bytes, uint64_t max_entries, uint32_t shards,
                uint64_t default_ttl_ms = 0) {
    OptionsPtr opts(cache_options_new());
    EXPECT_NE(opts, nullptr);
    EXPECT_EQ(cache_options_set_policy(opts.get(), GetParam()), CACHE_OK);
    EXPECT_EQ(cache_options_set_max_bytes(opts.get(), max_bytes), CACHE_OK);
    EXPECT_EQ(cache_options_set_max_entries(opts.get(), max_entries), CACHE_OK);
    EXPECT_EQ(cache_options_set_shards(opts.get(), shards), CACHE_OK);
    EXPECT_EQ(cache_options_set_default_ttl_ms(opts.get(), default_ttl_ms), CACHE_OK);
    EXPECT_EQ(cache_options_set_clock(opts.get(), &libcache_test::FakeClock::Read, &clock_),
              CACHE_OK);
    cache_t *c = nullptr;
    EXPECT_EQ(cache_open(opts.get(), &c), CACHE_OK);
    EXPECT_NE(c, nullptr);
    return CachePtr(c);
  }
  // The value for k by one cache_get (one hit or one miss), or nullopt.
  static std::optional<std::string> Read(cache_t *c, std::string_view k) {
    char buf[1024];
    size_t n = 0;
    const int rc = cache_get(c, k.data(), k.size(), buf, sizeof buf, &n);
    if (rc == CACHE_NOT_FOUND) return std::nullopt;
    EXPECT_EQ(rc, CACHE_OK);
    return std::string(buf, rc == CACHE_OK ? n : 0);
  }
  libcache_test::FakeClock clock_;
};

TEST_P(PolicyTest, OpensWithTheDefaults) {
  OptionsPtr opts(cache_options_new());
  ASSERT_EQ(cache_options_set_policy(opts.get(), GetParam()), CACHE_OK);
  cache_t *c = nullptr;
  ASSERT_EQ(cache_open(opts.get(), &c), CACHE_OK);
  CachePtr cache(c);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(Set(c, "k" + std::to_string(i), "v"), CACHE_OK);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(Get(c, "k" + std::to_string(i)), "v") << i;
  const cache_stats_t s = Stats(c);
  EXPECT_EQ(s.entries, 1000u);
  EXPECT_EQ(s.evictions, 0u) << "far below the default 64 MiB";
  ExpectInvariants(c);
}

TEST_P(PolicyTest, SetThenGetFindsTheKey) {
  CachePtr cache = Open(1 << 20, 0, 1);
  cache_t *c = cache.get();
  EXPECT_EQ(Get(c, "k"), std::nullopt);
  ASSERT_EQ(Set(c, "k", "v1"), CACHE_OK);
  EXPECT_EQ(Get(c, "k"), "v1");
  ASSERT_EQ(Set(c, "k", "v2"), CACHE_OK);
  EXPECT_EQ(Get(c, "k"), "v2") << "an overwrite";
  EXPECT_EQ(Add(c, "k", "v3"), CACHE_EXISTS);
  EXPECT_EQ(Add(c, "a", "added"), CACHE_OK);
  EXPECT_EQ(Replace(c, "absent", "x"), CACHE_NOT_FOUND);
  EXPECT_EQ(Replace(c, "a", "replaced"), CACHE_OK);
  EXPECT_EQ(Get(c, "a"), "replaced");
  cache_value_t *v = nullptr;
  ASSERT_EQ(cache_get_value(c, "k", 1, &v), CACHE_OK);
  EXPECT_EQ(std::string(static_cast<const char *>(cache_value_data(v)), cache_value_size(v)), "v2");
  cache_value_release(v);
  ASSERT_EQ(cache_delete(c, "k", 1), CACHE_OK);
  EXPECT_EQ(Get(c, "k"), std::nullopt);
  EXPECT_EQ(cache_delete(c, "k", 1), CACHE_NOT_FOUND);
  ASSERT_EQ(cache_take(c, "a", 1, &v), CACHE_OK);
  EXPECT_EQ(std::string(static_cast<const char *>(cache_value_data(v)), cache_value_size(v)),
            "replaced");
  cache_value_release(v);
  EXPECT_EQ(Stats(c).entries, 0u);
  ExpectInvariants(c);
}

// max_entries = 100 and 1000 distinct keys: the bound holds after every write,
// and the key just written is always readable (a write never evicts its own
// entry), whatever the shard count.
TEST_P(PolicyTest, EntryBoundHoldsAndTheLastWriteIsReadable) {
  for (const uint32_t shards : {1u, 4u}) {
    SCOPED_TRACE("shards " + std::to_string(shards));
    CachePtr cache = Open(0, 100, shards);
    cache_t *c = cache.get();
    for (int i = 0; i < 1000; ++i) {
      const std::string key = "key:" + std::to_string(i), value = "value:" + std::to_string(i);
      ASSERT_EQ(Set(c, key, value), CACHE_OK) << i;
      ASSERT_EQ(Read(c, key), value) << "just written: " << i;
      ASSERT_LE(Stats(c).entries, 100u) << "after write " << i;
    }
    const cache_stats_t s = Stats(c);
    EXPECT_EQ(s.sets, 1000u);
    EXPECT_EQ(s.sets - s.evictions, s.entries) << "every departure is an eviction";
    EXPECT_GE(s.evictions, 900u);
    EXPECT_EQ(s.hits, 1000u);
    ExpectInvariants(c);
  }
}

// The same with a byte bound only, and values of mixed sizes.
TEST_P(PolicyTest, ByteBoundHoldsAndTheLastWriteIsReadable) {
  constexpr uint64_t kMaxBytes = 64 << 10;
  for (const uint32_t shards : {1u, 4u}) {
    SCOPED_TRACE("shards " + std::to_string(shards));
    CachePtr cache = Open(kMaxBytes, 0, shards);
    cache_t *c = cache.get();
    for (int i = 0; i < 2000; ++i) {
      const std::string key = "key:" + std::to_string(i);
      const std::string value(static_cast<size_t>(i * 37 % 900), static_cast<char>('a' + i % 26));
      ASSERT_EQ(Set(c, key, value), CACHE_OK) << i;
      ASSERT_EQ(Read(c, key), value) << "just written: " << i;
      ASSERT_LE(Stats(c).bytes, kMaxBytes) << "after write " << i;
    }
    const cache_stats_t s = Stats(c);
    EXPECT_GT(s.evictions, 0u);
    EXPECT_EQ(s.sets - s.evictions, s.entries);
    ExpectInvariants(c);
  }
}

TEST_P(PolicyTest, TtlExpiresOnTheFakeClock) {
  CachePtr cache = Open(1 << 20, 0, 1, /*default_ttl_ms=*/500);
  cache_t *c = cache.get();
  ASSERT_EQ(Set(c, "short", "v", 100), CACHE_OK);
  ASSERT_EQ(Set(c, "default", "v", CACHE_TTL_DEFAULT), CACHE_OK);
  ASSERT_EQ(Set(c, "never", "v", CACHE_TTL_NONE), CACHE_OK);
  ASSERT_EQ(Set(c, "touched", "v", 100), CACHE_OK);
  int64_t remaining = 0;
  ASSERT_EQ(cache_ttl(c, "default", 7, &remaining), CACHE_OK);
  EXPECT_EQ(remaining, 500);
  clock_.Advance(99);
  EXPECT_EQ(Read(c, "short"), "v") << "deadline - 1 still hits";
  ASSERT_EQ(cache_touch(c, "touched", 7, 1000), CACHE_OK);
  clock_.Advance(1);
  EXPECT_EQ(Read(c, "short"), std::nullopt) << "at the deadline it is gone";
  EXPECT_EQ(Read(c, "touched"), "v") << "touch moved its deadline";
  EXPECT_EQ(Stats(c).expirations, 1u);
  clock_.Advance(400);
  EXPECT_EQ(Read(c, "default"), std::nullopt);
  EXPECT_EQ(Read(c, "touched"), "v");
  clock_.Advance(599);
  uint64_t reclaimed = 0;
  ASSERT_EQ(cache_purge_expired(c, &reclaimed), CACHE_OK);
  EXPECT_EQ(reclaimed, 1u) << "touched, by the purge";
  EXPECT_EQ(Read(c, "never"), "v");
  const cache_stats_t s = Stats(c);
  EXPECT_EQ(s.expirations, 3u);
  EXPECT_EQ(s.entries, 1u);
  EXPECT_EQ(s.evictions, 0u);
  ExpectInvariants(c);
}

// Every counter, on a scripted sequence with max_entries = 4 in one shard:
// the counts do not depend on which entries the policy evicts.
TEST_P(PolicyTest, StatsCounters) {
  CachePtr cache = Open(0, 4, 1);
  cache_t *c = cache.get();
  for (const char *k : {"a", "b", "c", "d"}) ASSERT_EQ(Set(c, k, "v"), CACHE_OK);
  EXPECT_EQ(Read(c, "a"), "v");                  // hit
  EXPECT_EQ(Read(c, "x"), std::nullopt);         // miss
  ASSERT_EQ(cache_delete(c, "b", 1), CACHE_OK);  // delete
  ASSERT_EQ(Set(c, "e", "v"), CACHE_OK);         // fills the room the delete left
  ASSERT_EQ(Set(c, "f", "v"), CACHE_OK);         // evicts one
  ASSERT_EQ(Set(c, "g", "v", 10), CACHE_OK);     // evicts one
  EXPECT_EQ(Add(c, "g", "w"), CACHE_EXISTS);     // no write
  EXPECT_EQ(Replace(c, "y", "w"), CACHE_NOT_FOUND);
  clock_.Advance(10);
  EXPECT_EQ(Read(c, "g"), std::nullopt);  // miss, and an expiration
  const cache_stats_t s = Stats(c);
  EXPECT_EQ(s.sets, 7u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.deletes, 1u);
  EXPECT_EQ(s.evictions, 2u);
  EXPECT_EQ(s.expirations, 1u);
  EXPECT_EQ(s.entries, 3u);
  EXPECT_GT(s.bytes, 0u);
  ASSERT_EQ(cache_clear(c), CACHE_OK);
  EXPECT_EQ(Stats(c).entries, 0u);
  ASSERT_EQ(Set(c, "after-clear", "v"), CACHE_OK);
  EXPECT_EQ(Read(c, "after-clear"), "v");
  ExpectInvariants(c);
}

INSTANTIATE_TEST_SUITE_P(Policies, PolicyTest, ::testing::ValuesIn(libcache_test::kPolicies),
                         [](const ::testing::TestParamInfo<int> &info) {
                           return std::string(libcache_test::PolicyName(info.param));
                         });

// ---- Experimental calls ----------------------------------------------------

TEST(Experimental, AllocatorName) {
  const std::string name = cache_allocator_name();
  EXPECT_TRUE(name == "mimalloc" || name == "libc") << name;
}

// Runs a fixed workload on a sharded, bounded cache and returns its stats and
// which keys survived.
std::pair<cache_stats_t, std::string> RunSeeded(uint64_t seed) {
  OptionsPtr opts(cache_options_new());
  EXPECT_EQ(cache_options_set_max_entries(opts.get(), 400), CACHE_OK);
  EXPECT_EQ(cache_options_set_max_bytes(opts.get(), 0), CACHE_OK);
  EXPECT_EQ(cache_options_set_shards(opts.get(), 8), CACHE_OK);
  EXPECT_EQ(cache_options_set_hash_seed(opts.get(), seed), CACHE_OK);
  cache_t *raw = nullptr;
  EXPECT_EQ(cache_open(opts.get(), &raw), CACHE_OK);
  CachePtr c(raw);
  for (int i = 0; i < 2000; ++i) EXPECT_EQ(Set(raw, "key" + std::to_string(i), "v"), CACHE_OK);
  std::string present;
  for (int i = 0; i < 2000; ++i) {
    int64_t r;
    const std::string k = "key" + std::to_string(i);
    present += cache_ttl(raw, k.data(), k.size(), &r) == CACHE_OK ? '1' : '0';
  }
  return {Stats(raw), present};
}

TEST(Experimental, FixedHashSeedIsReproducible) {
  const auto a = RunSeeded(42), b = RunSeeded(42);
  EXPECT_TRUE(SameStats(a.first, b.first));
  EXPECT_EQ(a.second, b.second) << "the same keys survive";
  EXPECT_GT(a.first.evictions, 0u);
  EXPECT_LE(a.first.entries, 400u);
}

}  // namespace

namespace {

// A huge entry bound (a common stand-in for "unbounded") must not reserve
// table memory for entries that never come: arrays grow on demand instead.
TEST(CapiOpen, HugeEntryBoundReservesNoMemoryUpFront) {
  libcache_test::OptionsPtr opt(cache_options_new());
  ASSERT_EQ(cache_options_set_max_bytes(opt.get(), 0), CACHE_OK);
  ASSERT_EQ(cache_options_set_max_entries(opt.get(), 4000000000ull), CACHE_OK);
  cache_t *raw = nullptr;
  ASSERT_EQ(cache_open(opt.get(), &raw), CACHE_OK);
  libcache_test::CachePtr c(raw);
  cache_stats_t st;
  ASSERT_EQ(cache_stats(c.get(), &st, sizeof st), CACHE_OK);
  EXPECT_LT(st.bytes, uint64_t{1} << 20);
  for (int i = 0; i < 10000; ++i) {
    const std::string k = "k" + std::to_string(i);
    ASSERT_EQ(cache_set(c.get(), k.data(), k.size(), "v", 1, CACHE_TTL_NONE), CACHE_OK);
  }
  ASSERT_EQ(cache_stats(c.get(), &st, sizeof st), CACHE_OK);
  EXPECT_EQ(st.entries, 10000u);
  EXPECT_EQ(st.evictions, 0u);
}

}  // namespace
