// <libcache/cache.hpp>: every call, both error styles (exceptions and
// std::error_code), move semantics, a Value outliving its Cache, and the
// error category. Built twice: as C++17 (the floor) and as C++20 (the
// std::span overloads).
#include <gtest/gtest.h>
#include <libcache/cache.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

using namespace std::chrono_literals;
using libcache::Cache;
using libcache::errc;
using libcache::Options;
using libcache::Value;

static_assert(!std::is_copy_constructible_v<Cache> && std::is_nothrow_move_constructible_v<Cache>);
static_assert(!std::is_copy_constructible_v<Options> && std::is_nothrow_move_constructible_v<Options>);
static_assert(!std::is_copy_constructible_v<Value> && std::is_nothrow_move_constructible_v<Value>);
static_assert(std::is_nothrow_move_assignable_v<Cache> && std::is_nothrow_move_assignable_v<Value>);
static_assert(std::is_base_of_v<std::system_error, libcache::Error>);
static_assert(std::is_error_code_enum_v<errc>);

// A clock the engine reads (Options::experimental_clock), moved by the test.
struct TestClock {
  std::atomic<uint64_t> ms{1'000'000};
  static uint64_t Read(void *ctx) { return static_cast<TestClock *>(ctx)->ms.load(); }
  void Advance(std::chrono::milliseconds d) { ms += static_cast<uint64_t>(d.count()); }
};

Cache OpenWithClock(TestClock *clock, Options opts = Options()) {
  return Cache::Open(opts.experimental_clock(&TestClock::Read, clock));
}

template <typename Fn>
std::error_code ThrownCode(Fn &&fn) {
  try {
    fn();
  } catch (const libcache::Error &e) {
    return e.code();
  }
  return {};
}

TEST(CacheHppTest, OpenWithDefaultsAndBasicReadWrite) {
  Cache cache = Cache::Open();
  ASSERT_TRUE(cache.is_open());
  ASSERT_TRUE(static_cast<bool>(cache));
  ASSERT_NE(cache.native_handle(), nullptr);
  cache.set("k", "v");
  EXPECT_EQ(cache.get("k"), std::optional<std::string>("v"));
  EXPECT_EQ(cache.get("absent"), std::nullopt);
  cache.set("k", "v2");
  EXPECT_EQ(cache.get("k").value(), "v2");
  EXPECT_EQ(cache.stats().entries, 1u);
}

TEST(CacheHppTest, KeysAndValuesAreBytes) {
  Cache cache = Cache::Open();
  const std::string key("a\0b", 3);
  const std::string value("\xff\x00\xfe", 3);
  cache.set(key, value);
  EXPECT_EQ(cache.get(key), value);
  EXPECT_EQ(cache.get(std::string_view("a")), std::nullopt);  // stops at the NUL: another key
  cache.set(std::string_view(), std::string_view());           // empty key, empty value
  std::optional<std::string> empty = cache.get("");
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
  cache.set(libcache::BytesView(value.data(), 2), "two bytes");
  EXPECT_EQ(cache.get(std::string("\xff\x00", 2)), "two bytes");
}

#if LIBCACHE_HPP_HAS_SPAN
TEST(CacheHppTest, ByteSpans) {
  Cache cache = Cache::Open();
  const std::byte key[] = {std::byte{0}, std::byte{1}};
  const std::byte value[] = {std::byte{0xde}, std::byte{0xad}, std::byte{0}};
  cache.set(std::span<const std::byte>(key), std::span<const std::byte>(value));
  std::optional<Value> v = cache.get_value(std::span<const std::byte>(key));
  ASSERT_TRUE(v.has_value());
  std::span<const std::byte> bytes = v->bytes();
  ASSERT_EQ(bytes.size(), 3u);
  EXPECT_EQ(bytes[1], std::byte{0xad});
}
#endif

TEST(CacheHppTest, AddAndReplaceReportResultsNotErrors) {
  Cache cache = Cache::Open();
  EXPECT_TRUE(cache.add("k", "1"));
  EXPECT_FALSE(cache.add("k", "2"));
  EXPECT_EQ(cache.get("k"), "1");
  EXPECT_TRUE(cache.replace("k", "3"));
  EXPECT_FALSE(cache.replace("absent", "4"));
  EXPECT_EQ(cache.get("absent"), std::nullopt);
  std::error_code ec = make_error_code(errc::internal);
  EXPECT_FALSE(cache.add("k", "5", ec));
  EXPECT_FALSE(ec);  // a result, not an error: ec cleared
  EXPECT_TRUE(cache.replace("k", "6", 1s, ec));
  EXPECT_FALSE(ec);
  EXPECT_EQ(cache.stats().sets, 3u);
}

TEST(CacheHppTest, EraseContainsTakeClear) {
  Cache cache = Cache::Open();
  cache.set("a", "1");
  cache.set("b", "2");
  EXPECT_TRUE(cache.contains("a"));
  EXPECT_TRUE(cache.erase("a"));
  EXPECT_FALSE(cache.erase("a"));
  EXPECT_FALSE(cache.contains("a"));
  std::optional<Value> taken = cache.take("b");
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(taken->view(), "2");
  EXPECT_EQ(cache.take("b"), std::nullopt);
  cache.set("c", "3");
  cache.clear();
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.get("c"), std::nullopt);
  const libcache::Stats s = cache.stats();
  EXPECT_EQ(s.deletes, 2u);  // erase and take
  EXPECT_GE(s.hits, 1u);
}

TEST(CacheHppTest, TtlsOnAManualClock) {
  TestClock clock;
  Cache cache = OpenWithClock(&clock, std::move(Options().default_ttl(10s)));
  cache.set("default", "v");                 // the default TTL
  cache.set("explicit", "v", 2s);            // seconds convert to milliseconds
  cache.set("never", "v", libcache::kNoExpiry);
  cache.set("zero", "v", 0ms);               // 0 = never, as in the C ABI
  EXPECT_EQ(cache.ttl("default"), 10s);
  EXPECT_EQ(cache.ttl("explicit"), 2000ms);
  EXPECT_EQ(cache.ttl("never"), libcache::kNoExpiry);
  EXPECT_EQ(cache.ttl("zero"), libcache::kNoExpiry);
  EXPECT_EQ(cache.ttl("absent"), std::nullopt);
  clock.Advance(1999ms);
  EXPECT_EQ(cache.ttl("explicit"), 1ms);
  EXPECT_TRUE(cache.touch("explicit", 5s));
  EXPECT_FALSE(cache.touch("absent", 5s));
  clock.Advance(4999ms);
  EXPECT_TRUE(cache.contains("explicit"));
  clock.Advance(1ms);
  EXPECT_FALSE(cache.contains("explicit"));  // expires exactly at the deadline
  EXPECT_TRUE(cache.touch("default", libcache::kNoExpiry));
  EXPECT_EQ(cache.ttl("default"), libcache::kNoExpiry);
  cache.set("short", "v", 1ms);
  clock.Advance(1ms);
  EXPECT_EQ(cache.purge_expired(), 1u);
  EXPECT_EQ(cache.purge_expired(), 0u);
  EXPECT_EQ(cache.get("never"), "v");
}

TEST(CacheHppTest, NegativeTtlIsInvalid) {
  Cache cache = Cache::Open();
  cache.set("k", "v");
  // -1 ms would be CACHE_TTL_DEFAULT to the C ABI: the header refuses it.
  EXPECT_EQ(ThrownCode([&] { cache.set("k", "w", -1ms); }), errc::invalid);
  EXPECT_EQ(ThrownCode([&] { cache.touch("k", -5ms); }), errc::invalid);
  std::error_code ec;
  EXPECT_FALSE(cache.add("new", "v", -1ms, ec));
  EXPECT_EQ(ec, errc::invalid);
  EXPECT_EQ(cache.get("k"), "v");
  EXPECT_EQ(cache.get("new"), std::nullopt);
}

TEST(CacheHppTest, ExceptionsCarryTheCode) {
  Cache cache = Cache::Open(std::move(Options().max_bytes(1 << 20).shards(1)));
  const std::string long_key(libcache::kMaxKeySize + 1, 'k');
  try {
    cache.set(long_key, "v");
    FAIL() << "no exception";
  } catch (const libcache::Error &e) {
    EXPECT_EQ(e.code(), errc::too_large);
    EXPECT_EQ(e.code(), std::errc::value_too_large);
    EXPECT_EQ(&e.code().category(), &libcache::error_category());
    EXPECT_NE(std::string(e.what()).find("libcache::Cache::set"), std::string::npos) << e.what();
  }
  const std::string huge(2 << 20, 'x');
  cache.set("k", "small");
  EXPECT_EQ(ThrownCode([&] { cache.set("k", huge); }), errc::too_large);
  EXPECT_EQ(ThrownCode([&] { cache.add("other", huge); }), errc::too_large);
  EXPECT_EQ(ThrownCode([&] { cache.replace("k", huge); }), errc::too_large);
  EXPECT_EQ(cache.get("k"), "small");  // the previous value stays
  // Reads of a long key find nothing; they do not fail.
  EXPECT_EQ(cache.get(long_key), std::nullopt);
  EXPECT_FALSE(cache.contains(long_key));
  EXPECT_FALSE(cache.erase(long_key));
  EXPECT_EQ(cache.take(long_key), std::nullopt);
  EXPECT_EQ(cache.ttl(long_key), std::nullopt);
}

TEST(CacheHppTest, ErrorCodeOverloadsNeverThrow) {
  Cache cache = Cache::Open();
  const std::string long_key(libcache::kMaxKeySize + 1, 'k');
  std::error_code ec;
  static_assert(noexcept(cache.set("k", "v", ec)));
  static_assert(noexcept(cache.get("k", ec)));
  cache.set(long_key, "v", ec);
  EXPECT_EQ(ec, errc::too_large);
  cache.set("k", "v", ec);
  EXPECT_FALSE(ec);
  cache.set("k2", "v", 5s, ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(cache.get("k", ec), "v");
  EXPECT_FALSE(ec);
  EXPECT_TRUE(cache.get_value("k", ec).has_value());
  EXPECT_TRUE(cache.contains("k", ec));
  EXPECT_TRUE(cache.touch("k", 1s, ec));
  EXPECT_EQ(cache.ttl("k", ec), 1s);
  EXPECT_TRUE(cache.erase("k", ec));
  EXPECT_TRUE(cache.take("k2", ec).has_value());
  EXPECT_TRUE(cache.add("k3", "v", ec));
  EXPECT_TRUE(cache.replace("k3", "w", ec));
  EXPECT_EQ(cache.purge_expired(ec), 0u);
  cache.clear(ec);
  EXPECT_FALSE(ec);
  EXPECT_EQ(cache.stats(ec).entries, 0u);
  EXPECT_FALSE(ec);
}

TEST(CacheHppTest, ClosedCacheFailsWithInvalid) {
  Cache cache = Cache::Open();
  cache.set("k", "v");
  cache.close();
  cache.close();  // idempotent
  EXPECT_FALSE(cache.is_open());
  EXPECT_EQ(ThrownCode([&] { cache.set("k", "v"); }), errc::invalid);
  EXPECT_EQ(ThrownCode([&] { (void)cache.get("k"); }), errc::invalid);
  EXPECT_EQ(ThrownCode([&] { (void)cache.stats(); }), errc::invalid);
  std::error_code ec;
  EXPECT_EQ(cache.get_value("k", ec), std::nullopt);
  EXPECT_EQ(ec, errc::invalid);
  Cache never_opened;
  EXPECT_EQ(ThrownCode([&] { never_opened.clear(); }), errc::invalid);
}

TEST(CacheHppTest, BadOptionsFailAtOpen) {
  struct Bad {
    const char *what;
    Options opts;
  };
  std::vector<Bad> bad;
  bad.push_back({"no bound", std::move(Options().max_bytes(0).max_entries(0))});
  bad.push_back({"shards 3", std::move(Options().shards(3))});
  bad.push_back({"shards 2048", std::move(Options().shards(2048))});
  bad.push_back({"unknown policy", std::move(Options().policy(static_cast<libcache::Policy>(7)))});
  bad.push_back({"negative default ttl", std::move(Options().default_ttl(-1ms))});
  for (const Bad &b : bad) {
    SCOPED_TRACE(b.what);
    std::error_code ec;
    Cache c = Cache::Open(b.opts, ec);
    EXPECT_EQ(ec, errc::invalid);
    EXPECT_EQ(ec, std::errc::invalid_argument);
    EXPECT_FALSE(c.is_open());
    EXPECT_EQ(ThrownCode([&] { Cache::Open(b.opts); }), errc::invalid);
  }
  // The first failing setter is remembered; later good ones do not clear it.
  Options o;
  o.shards(3).shards(4);
  EXPECT_EQ(o.status(), errc::invalid);
  EXPECT_FALSE(Options().max_bytes(1 << 20).status());
}

TEST(CacheHppTest, PoliciesAndBounds) {
  for (libcache::Policy p : {libcache::Policy::kClock, libcache::Policy::kAdaptive}) {
    Cache cache = Cache::Open(std::move(Options().max_entries(10).shards(1).policy(p)));
    for (int i = 0; i < 50; ++i) cache.set("key" + std::to_string(i), "v");
    const libcache::Stats s = cache.stats();
    EXPECT_EQ(s.entries, 10u);
    EXPECT_EQ(s.evictions, 40u);
    EXPECT_TRUE(cache.contains("key49"));
  }
}

TEST(CacheHppTest, MoveSemantics) {
  Cache a = Cache::Open();
  a.set("k", "v");
  cache_t *handle = a.native_handle();
  Cache b(std::move(a));
  EXPECT_FALSE(a.is_open());  // NOLINT(bugprone-use-after-move): moved-from is closed
  EXPECT_EQ(b.native_handle(), handle);
  EXPECT_EQ(b.get("k"), "v");
  Cache c = Cache::Open();
  c.set("other", "x");
  c = std::move(b);  // closes c's old cache
  EXPECT_EQ(c.get("k"), "v");
  EXPECT_EQ(c.get("other"), std::nullopt);
  c = std::move(c);  // self-move keeps the cache
  EXPECT_EQ(c.get("k"), "v");

  Options o1;
  o1.max_entries(3);
  Options o2(std::move(o1));
  EXPECT_EQ(o1.native_handle(), nullptr);  // NOLINT(bugprone-use-after-move)
  Cache bounded = Cache::Open(o2);
  for (int i = 0; i < 10; ++i) bounded.set(std::to_string(i), "v");
  EXPECT_LE(bounded.stats().entries, 3u);

  std::optional<Value> v = c.get_value("k");
  ASSERT_TRUE(v.has_value());
  Value moved(std::move(*v));
  EXPECT_EQ(v->native_handle(), nullptr);
  EXPECT_EQ(v->size(), 0u);
  EXPECT_EQ(moved.view(), "v");
  Value assigned;
  assigned = std::move(moved);
  EXPECT_EQ(assigned.str(), "v");
  cache_value_t *raw = assigned.release();
  EXPECT_EQ(assigned.native_handle(), nullptr);
  Value readopted(raw);
  EXPECT_EQ(std::string(readopted.begin(), readopted.end()), "v");
}

TEST(CacheHppTest, ValueOutlivesItsEntryAndItsCache) {
  std::optional<Value> v;
  {
    Cache cache = Cache::Open();
    const std::string big(100000, 'b');
    cache.set("k", big);
    v = cache.get_value("k");
    ASSERT_TRUE(v.has_value());
    cache.set("k", "replaced");
    cache.erase("k");
    cache.clear();
  }  // the cache is closed here
  ASSERT_EQ(v->size(), 100000u);
  EXPECT_EQ(v->view(), std::string(100000, 'b'));
  std::string_view sv = *v;
  EXPECT_EQ(sv.front(), 'b');
  EXPECT_FALSE(v->empty());
}

TEST(CacheHppTest, EmptyValueIsAHitNotAMiss) {
  Cache cache = Cache::Open();
  cache.set("k", "");
  std::optional<Value> v = cache.get_value("k");
  ASSERT_TRUE(v.has_value());
  EXPECT_TRUE(v->empty());
  EXPECT_NE(v->data(), nullptr);  // never NULL for a pinned value
  EXPECT_EQ(cache.get("k"), std::string());
}

TEST(CacheHppTest, ErrorCategory) {
  const std::error_category &cat = libcache::error_category();
  EXPECT_STREQ(cat.name(), "libcache");
  EXPECT_EQ(cat.message(CACHE_E_TOO_LARGE), cache_strerror(CACHE_E_TOO_LARGE));
  std::error_code ec = errc::timeout;  // is_error_code_enum: implicit
  EXPECT_EQ(ec.value(), CACHE_E_TIMEOUT);
  EXPECT_EQ(ec, std::errc::timed_out);
  EXPECT_EQ(make_error_code(errc::no_mem), std::errc::not_enough_memory);
  EXPECT_EQ(make_error_code(errc::io), std::errc::io_error);
  EXPECT_NE(make_error_code(errc::closed), std::errc::invalid_argument);
  EXPECT_EQ(ec.message(), cache_strerror(CACHE_E_TIMEOUT));
  libcache::Error e(errc::full, "queue");
  EXPECT_EQ(e.code(), errc::full);
  EXPECT_NE(std::string(e.what()).find("queue"), std::string::npos);
}

TEST(CacheHppTest, Versions) {
  EXPECT_EQ(libcache::LibraryVersion() / 10000, libcache::kHeaderVersion / 10000);
}

TEST(CacheHppTest, ConcurrentUse) {
  Cache cache = Cache::Open(std::move(Options().max_entries(1000)));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string key = std::to_string((i * 7 + t) % 1500);
        cache.set(key, key);
        if (std::optional<std::string> v = cache.get(key)) {
          EXPECT_EQ(*v, key);
        }
        if (std::optional<Value> p = cache.get_value(key)) {
          EXPECT_EQ(p->view(), key);
        }
        if (i % 10 == 0) cache.erase(key);
      }
    });
  }
  for (std::thread &th : threads) th.join();
  EXPECT_LE(cache.stats().entries, 1000u);
}

}  // namespace
