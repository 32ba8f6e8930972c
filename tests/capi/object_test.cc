// Objects held by reference (<libcache/cache_object.h>): identity, every way
// an entry leaves releasing exactly once and outside every lock, the byte
// bound with the writer's charge, bytes calls meeting an object, upgrade,
// take, visit, a store that is sent the encoded form, and threads.

#include "libcache/cache_object.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "libcache/cache_store.h"
#include "tests/capi/test_util.h"
#include "tests/store/fake_store.h"

namespace {

using libcache_test::CachePtr;
using libcache_test::FakeClock;
using libcache_test::OptionsPtr;

// A reference-counted object, as a binding's would be.
struct Obj {
  std::atomic<int> refs{1};  // the test's own
  int id = 0;
};

// The hooks' context: counts, and optional re-entrant calls from release.
struct Hooks {
  std::atomic<long> retains{0}, releases{0};
  cache_t *cache = nullptr;
  bool reenter = false;  // release calls the cache (would deadlock under a lock)
  static void Retain(void *ctx, void *o) {
    static_cast<Hooks *>(ctx)->retains.fetch_add(1, std::memory_order_relaxed);
    static_cast<Obj *>(o)->refs.fetch_add(1, std::memory_order_relaxed);
  }
  static void Release(void *ctx, void *o) {
    auto *h = static_cast<Hooks *>(ctx);
    h->releases.fetch_add(1, std::memory_order_relaxed);
    static_cast<Obj *>(o)->refs.fetch_sub(1, std::memory_order_acq_rel);
    if (h->reenter && h->cache != nullptr) {
      // Every kind of call, from inside a release: a write that evicts, a
      // read, a delete, stats.
      const std::string k = "reentered";
      cache_set(h->cache, k.data(), k.size(), "v", 1, CACHE_TTL_NONE);
      char buf[8];
      size_t n;
      cache_get(h->cache, k.data(), k.size(), buf, sizeof buf, &n);
      cache_delete(h->cache, k.data(), k.size());
      cache_stats_t s;
      cache_stats(h->cache, &s, sizeof s);
    }
  }
};

class ObjectTest : public ::testing::Test {
 protected:
  void Open(uint64_t max_bytes, uint64_t max_entries = 0, uint32_t shards = 1,
            FakeClock *clock = nullptr) {
    OptionsPtr o(cache_options_new());
    cache_options_set_max_bytes(o.get(), max_bytes);
    cache_options_set_max_entries(o.get(), max_entries);
    cache_options_set_shards(o.get(), shards);
    if (clock != nullptr) cache_options_set_clock(o.get(), FakeClock::Read, clock);
    ASSERT_EQ(cache_options_set_object_hooks(o.get(), Hooks::Retain, Hooks::Release, &hooks),
              CACHE_OK);
    cache_t *c = nullptr;
    ASSERT_EQ(cache_open(o.get(), &c), CACHE_OK);
    cache.reset(c);
    hooks.cache = c;
  }
  // Stores o (the cache takes one of the test's references: the test adds
  // it first, as a binding's writer would).
  int Put(const std::string &k, Obj *o, uint64_t charge = 100, int64_t ttl = CACHE_TTL_NONE,
          int mode = CACHE_WRITE_SET) {
    o->refs.fetch_add(1);
    const int rc = cache_set_object(cache.get(), k.data(), k.size(), o, charge, nullptr, 0, ttl,
                                    mode);
    if (rc != CACHE_OK) o->refs.fetch_sub(1);  // the writer keeps its reference
    return rc;
  }
  // The object read (retained for us, released here), or nullptr.
  Obj *Get(const std::string &k, int *rc_out = nullptr) {
    void *obj = nullptr;
    const int rc = cache_get_object(cache.get(), k.data(), k.size(), 0, &obj, nullptr);
    if (rc_out != nullptr) *rc_out = rc;
    if (obj != nullptr) static_cast<Obj *>(obj)->refs.fetch_sub(1);
    return static_cast<Obj *>(obj);
  }
  cache_stats_t Stats() {
    cache_stats_t s{};
    cache_stats(cache.get(), &s, sizeof s);
    return s;
  }
  void CheckInvariants() {
    const char *broken = nullptr;
    EXPECT_EQ(cache_check_invariants(cache.get(), &broken), CACHE_OK) << broken;
  }

  // Objects live in the fixture, declared before the cache: closing the
  // cache (at the latest when the fixture goes) releases into live objects.
  Obj &New() { return pool_.emplace_back(); }
  std::vector<Obj *> NewMany(int n) {
    std::vector<Obj *> v;
    for (int i = 0; i < n; ++i) v.push_back(&New());
    return v;
  }

  Hooks hooks;
  std::deque<Obj> pool_;
  CachePtr cache;
};

TEST_F(ObjectTest, AHitReturnsTheSameObjectRetainedOnce) {
  Open(1 << 20);
  Obj &a = New();
  ASSERT_EQ(Put("a", &a), CACHE_OK);
  EXPECT_EQ(a.refs.load(), 2);  // ours and the cache's
  void *obj = nullptr;
  cache_value_t *bytes = nullptr;
  ASSERT_EQ(cache_get_object(cache.get(), "a", 1, 0, &obj, &bytes), CACHE_OK);
  EXPECT_EQ(obj, &a);
  EXPECT_EQ(bytes, nullptr);
  EXPECT_EQ(a.refs.load(), 3);
  EXPECT_EQ(hooks.retains.load(), 1);
  a.refs.fetch_sub(1);
  EXPECT_EQ(Stats().hits, 1u);
  EXPECT_EQ(cache_get_object(cache.get(), "b", 1, 0, &obj, &bytes), CACHE_NOT_FOUND);
  EXPECT_EQ(obj, nullptr);
  EXPECT_EQ(Stats().misses, 1u);
  EXPECT_EQ(hooks.releases.load(), 0);
}

TEST_F(ObjectTest, EveryWayOutReleasesExactlyOnce) {
  FakeClock clock;
  Open(1 << 20, 0, 1, &clock);
  Obj &replaced = New();
  Obj &deleted = New();
  Obj &expired = New();
  Obj &cleared1 = New();
  Obj &cleared2 = New();
  Obj &closed = New();
  Obj &newer = New();
  ASSERT_EQ(Put("r", &replaced), CACHE_OK);
  ASSERT_EQ(Put("r", &newer), CACHE_OK);
  EXPECT_EQ(replaced.refs.load(), 1);
  EXPECT_EQ(hooks.releases.load(), 1);

  ASSERT_EQ(Put("d", &deleted), CACHE_OK);
  ASSERT_EQ(cache_delete(cache.get(), "d", 1), CACHE_OK);
  EXPECT_EQ(deleted.refs.load(), 1);
  EXPECT_EQ(hooks.releases.load(), 2);

  ASSERT_EQ(Put("e", &expired, 100, 50), CACHE_OK);
  clock.Advance(51);
  EXPECT_EQ(Get("e"), nullptr);  // the read that meets it reclaims it
  EXPECT_EQ(expired.refs.load(), 1);
  EXPECT_EQ(hooks.releases.load(), 3);
  EXPECT_EQ(Stats().expirations, 1u);

  ASSERT_EQ(Put("c1", &cleared1), CACHE_OK);
  ASSERT_EQ(Put("c2", &cleared2), CACHE_OK);
  ASSERT_EQ(cache_clear(cache.get()), CACHE_OK);
  EXPECT_EQ(cleared1.refs.load(), 1);
  EXPECT_EQ(cleared2.refs.load(), 1);
  EXPECT_EQ(newer.refs.load(), 1);
  EXPECT_EQ(hooks.releases.load(), 6);

  ASSERT_EQ(Put("x", &closed), CACHE_OK);
  cache.reset();
  EXPECT_EQ(closed.refs.load(), 1);
  EXPECT_EQ(hooks.releases.load(), 7);
}

TEST_F(ObjectTest, PurgeAndEvictionRelease) {
  FakeClock clock;
  Open(0, 4, 1, &clock);
  auto objs = NewMany(10);
  ASSERT_EQ(Put("p", objs[0], 1, 10), CACHE_OK);
  clock.Advance(11);
  uint64_t purged = 0;
  ASSERT_EQ(cache_purge_expired(cache.get(), &purged), CACHE_OK);
  EXPECT_EQ(purged, 1u);
  EXPECT_EQ(objs[0]->refs.load(), 1);
  for (int i = 1; i < 10; ++i) ASSERT_EQ(Put("k" + std::to_string(i), objs[i]), CACHE_OK);
  EXPECT_EQ(Stats().entries, 4u);
  EXPECT_EQ(Stats().evictions, 5u);
  int held = 0;
  for (int i = 1; i < 10; ++i) held += objs[i]->refs.load() - 1;
  EXPECT_EQ(held, 4);  // exactly the 4 entries left hold a reference
  EXPECT_EQ(hooks.releases.load(), 6);
}

TEST_F(ObjectTest, AFailedWriteLeavesTheReferenceWithTheWriter) {
  Open(1 << 20);
  Obj &a = New();
  Obj &b = New();
  ASSERT_EQ(Put("a", &a), CACHE_OK);
  EXPECT_EQ(Put("a", &b, 100, CACHE_TTL_NONE, CACHE_WRITE_ADD), CACHE_EXISTS);
  EXPECT_EQ(Put("z", &b, 100, CACHE_TTL_NONE, CACHE_WRITE_REPLACE), CACHE_NOT_FOUND);
  EXPECT_EQ(Put("a", &b, uint64_t{1} << 30), CACHE_E_TOO_LARGE);  // the charge cannot fit
  EXPECT_EQ(Put("a", &b, uint64_t{1} << 48), CACHE_E_TOO_LARGE);
  EXPECT_EQ(b.refs.load(), 1);
  EXPECT_EQ(hooks.releases.load(), 0);
  EXPECT_EQ(Get("a"), &a);  // unchanged
  // Bad arguments.
  EXPECT_EQ(cache_set_object(cache.get(), "a", 1, nullptr, 1, nullptr, 0, 0, CACHE_WRITE_SET),
            CACHE_E_INVALID);
  EXPECT_EQ(cache_set_object(cache.get(), "a", 1, &b, 1, nullptr, 0, 0, 7), CACHE_E_INVALID);
  EXPECT_EQ(cache_set_object(cache.get(), "a", 1, &b, 1, nullptr, 0, -5, CACHE_WRITE_SET),
            CACHE_E_INVALID);
  EXPECT_EQ(cache_set_object(nullptr, "a", 1, &b, 1, nullptr, 0, 0, CACHE_WRITE_SET),
            CACHE_E_INVALID);
  void *obj;
  EXPECT_EQ(cache_get_object(cache.get(), "a", 1, 0, nullptr, nullptr), CACHE_E_INVALID);
  EXPECT_EQ(cache_get_object(cache.get(), "a", 1, 8, &obj, nullptr), CACHE_E_INVALID);
  EXPECT_EQ(cache_visit_objects(cache.get(), nullptr, nullptr), CACHE_E_INVALID);
  EXPECT_EQ(b.refs.load(), 1);
}

TEST_F(ObjectTest, ACacheWithoutHooksRefusesObjects) {
  cache_t *c = nullptr;
  ASSERT_EQ(cache_open(nullptr, &c), CACHE_OK);
  CachePtr plain(c);
  Obj &a = New();
  EXPECT_EQ(cache_set_object(c, "a", 1, &a, 1, nullptr, 0, 0, CACHE_WRITE_SET), CACHE_E_INVALID);
  ASSERT_EQ(cache_set(c, "a", 1, "xyz", 3, 0), CACHE_OK);
  void *obj = nullptr;
  EXPECT_EQ(cache_get_object(c, "a", 1, 0, &obj, nullptr), CACHE_E_WRONG_KIND);
  cache_value_t *v = nullptr;
  ASSERT_EQ(cache_get_object(c, "a", 1, 0, &obj, &v), CACHE_OK);
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(std::string(static_cast<const char *>(cache_value_data(v)), cache_value_size(v)),
            "xyz");
  EXPECT_EQ(cache_upgrade_object(c, "a", 1, v, &a, 1), CACHE_E_INVALID);
  cache_value_release(v);
  OptionsPtr o(cache_options_new());
  EXPECT_EQ(cache_options_set_object_hooks(o.get(), nullptr, Hooks::Release, nullptr),
            CACHE_E_INVALID);
  EXPECT_EQ(cache_options_set_object_hooks(nullptr, Hooks::Retain, Hooks::Release, nullptr),
            CACHE_E_INVALID);
}

TEST_F(ObjectTest, BytesCallsMeetingAnObjectGetWrongKindAndChangeNothing) {
  Open(1 << 20);
  Obj &a = New();
  ASSERT_EQ(Put("a", &a), CACHE_OK);
  const cache_stats_t before = Stats();
  char buf[64];
  size_t n = 0;
  EXPECT_EQ(cache_get(cache.get(), "a", 1, buf, sizeof buf, &n), CACHE_E_WRONG_KIND);
  EXPECT_EQ(cache_read(cache.get(), "a", 1, nullptr, nullptr), CACHE_E_WRONG_KIND);
  cache_value_t *v = nullptr;
  EXPECT_EQ(cache_get_value(cache.get(), "a", 1, &v), CACHE_E_WRONG_KIND);
  EXPECT_EQ(v, nullptr);
  EXPECT_EQ(cache_take(cache.get(), "a", 1, &v), CACHE_E_WRONG_KIND);
  EXPECT_EQ(v, nullptr);
  const cache_stats_t after = Stats();
  EXPECT_EQ(after.hits, before.hits);
  EXPECT_EQ(after.deletes, before.deletes);
  EXPECT_EQ(after.entries, 1u);
  EXPECT_EQ(Get("a"), &a);
  // The calls that treat both kinds alike.
  int64_t ttl = 0;
  EXPECT_EQ(cache_touch(cache.get(), "a", 1, 5000), CACHE_OK);
  EXPECT_EQ(cache_ttl(cache.get(), "a", 1, &ttl), CACHE_OK);
  EXPECT_GT(ttl, 4000);
  EXPECT_EQ(hooks.releases.load(), 0);
}

TEST_F(ObjectTest, TheChargeCountsAgainstTheByteBound) {
  Open(64 << 10);  // one shard of 64 KiB
  const uint64_t base = Stats().bytes;  // the shard's arrays
  Obj &a = New();
  ASSERT_EQ(Put("a", &a, 10000), CACHE_OK);
  const uint64_t one = Stats().bytes - base;
  EXPECT_GE(one, 10000u + 24 + 1 + 24);  // header, key, payload, charge
  EXPECT_LT(one, 10000u + 128);
  // Objects of 10000 bytes each: never more than max_bytes held.
  auto objs = NewMany(20);
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(Put("o" + std::to_string(i), objs[i], 10000), CACHE_OK);
    EXPECT_LE(Stats().bytes, uint64_t{64} << 10);
    CheckInvariants();
  }
  EXPECT_LT(Stats().entries, 7u);
  EXPECT_GT(Stats().evictions, 10u);
}

TEST_F(ObjectTest, ReleaseRunsOutsideEveryLockAndMayCallTheCache) {
  Open(0, 8, 1);
  hooks.reenter = true;
  auto objs = NewMany(64);
  for (int i = 0; i < 64; ++i) ASSERT_EQ(Put("k" + std::to_string(i), objs[i]), CACHE_OK);
  ASSERT_EQ(cache_delete(cache.get(), "k63", 3), CACHE_OK);
  ASSERT_EQ(cache_clear(cache.get()), CACHE_OK);
  EXPECT_EQ(hooks.releases.load(), 64);
  for (Obj *o : objs) EXPECT_EQ(o->refs.load(), 1);
  CheckInvariants();
}

TEST_F(ObjectTest, UpgradeReplacesTheBytesSeenKeepingTheDeadline) {
  FakeClock clock;
  Open(1 << 20, 0, 1, &clock);
  ASSERT_EQ(cache_set(cache.get(), "a", 1, "encoded", 7, 1000), CACHE_OK);
  void *obj = nullptr;
  cache_value_t *seen = nullptr;
  ASSERT_EQ(cache_get_object(cache.get(), "a", 1, 0, &obj, &seen), CACHE_OK);
  ASSERT_NE(seen, nullptr);
  Obj &a = New();
  a.refs.fetch_add(1);  // the cache's, on success
  ASSERT_EQ(cache_upgrade_object(cache.get(), "a", 1, seen, &a, 50), CACHE_OK);
  cache_value_release(seen);
  EXPECT_EQ(Get("a"), &a);
  int64_t ttl = 0;
  ASSERT_EQ(cache_ttl(cache.get(), "a", 1, &ttl), CACHE_OK);
  EXPECT_EQ(ttl, 1000);
  EXPECT_EQ(Stats().sets, 1u);  // an upgrade is not a set
  // Seen no more: replaced since the read.
  ASSERT_EQ(cache_set(cache.get(), "b", 1, "one", 3, 0), CACHE_OK);
  ASSERT_EQ(cache_get_object(cache.get(), "b", 1, 0, &obj, &seen), CACHE_OK);
  ASSERT_EQ(cache_set(cache.get(), "b", 1, "two", 3, 0), CACHE_OK);
  Obj &b = New();
  EXPECT_EQ(cache_upgrade_object(cache.get(), "b", 1, seen, &b, 50), CACHE_EXISTS);
  cache_value_release(seen);
  // Too large for the cache: the bytes entry stays.
  ASSERT_EQ(cache_get_object(cache.get(), "b", 1, 0, &obj, &seen), CACHE_OK);
  EXPECT_EQ(cache_upgrade_object(cache.get(), "b", 1, seen, &b, uint64_t{1} << 47),
            CACHE_E_TOO_LARGE);
  cache_value_release(seen);
  EXPECT_EQ(b.refs.load(), 1);
  char buf[8];
  size_t n = 0;
  EXPECT_EQ(cache_get(cache.get(), "b", 1, buf, sizeof buf, &n), CACHE_OK);
  clock.Advance(1001);
  EXPECT_EQ(Get("a"), nullptr);
  EXPECT_EQ(a.refs.load(), 1);
  CheckInvariants();
}

TEST_F(ObjectTest, TakeHandsTheObjectOver) {
  Open(1 << 20);
  Obj &a = New();
  ASSERT_EQ(Put("a", &a), CACHE_OK);
  ASSERT_EQ(cache_set(cache.get(), "b", 1, "bb", 2, 0), CACHE_OK);
  void *obj = nullptr;
  cache_value_t *bytes = nullptr;
  ASSERT_EQ(cache_take_object(cache.get(), "a", 1, &obj, &bytes), CACHE_OK);
  EXPECT_EQ(obj, &a);
  EXPECT_EQ(bytes, nullptr);
  EXPECT_EQ(a.refs.load(), 2);  // ours, and the one taken
  a.refs.fetch_sub(1);
  ASSERT_EQ(cache_take_object(cache.get(), "b", 1, &obj, &bytes), CACHE_OK);
  EXPECT_EQ(obj, nullptr);
  ASSERT_NE(bytes, nullptr);
  EXPECT_EQ(cache_value_size(bytes), 2u);
  cache_value_release(bytes);
  EXPECT_EQ(cache_take_object(cache.get(), "a", 1, &obj, &bytes), CACHE_NOT_FOUND);
  EXPECT_EQ(Stats().entries, 0u);
  EXPECT_EQ(Stats().deletes, 2u);
}

TEST_F(ObjectTest, VisitSeesEveryObject) {
  Open(1 << 20, 0, 4);
  auto objs = NewMany(20);
  for (int i = 0; i < 20; ++i) ASSERT_EQ(Put("k" + std::to_string(i), objs[i]), CACHE_OK);
  ASSERT_EQ(cache_set(cache.get(), "bytes", 5, "b", 1, 0), CACHE_OK);
  std::vector<void *> seen;
  auto visit = [](void *ctx, void *o) {
    static_cast<std::vector<void *> *>(ctx)->push_back(o);
    return 0;
  };
  ASSERT_EQ(cache_visit_objects(cache.get(), visit, &seen), 0);
  EXPECT_EQ(seen.size(), 20u);
  auto stop = [](void *, void *) { return 7; };
  EXPECT_EQ(cache_visit_objects(cache.get(), stop, nullptr), 7);
}

TEST_F(ObjectTest, ThreadsWithEvictionLeakNothing) {
  Open(0, 64, 4);
  constexpr int kThreads = 4, kOps = 20000, kKeys = 256;
  auto objs = NewMany(kKeys);
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      uint32_t x = 12345u + t;
      for (int i = 0; i < kOps; ++i) {
        x = x * 1103515245u + 12345u;
        const int k = static_cast<int>((x >> 8) % kKeys);
        const std::string key = "k" + std::to_string(k);
        switch ((x >> 20) % 4) {
          case 0:
          case 1: {
            Obj *o = Get(key);
            if (o != nullptr) EXPECT_EQ(o, objs[k]);
            break;
          }
          case 2:
            Put(key, objs[k]);
            break;
          default:
            cache_delete(cache.get(), key.data(), key.size());
        }
      }
    });
  }
  for (auto &t : ts) t.join();
  CheckInvariants();
  cache.reset();
  for (Obj *o : objs) EXPECT_EQ(o->refs.load(), 1);
  EXPECT_GT(hooks.releases.load(), 0);
}

TEST_F(ObjectTest, ThreadsRaceExpiryPurgeTakeAndAStoreFlushing) {
  FakeClock clock;
  Open(0, 128, 4, &clock);
  libcache_test::FakeStore store;
  const cache_store_t table = store.Table();
  cache_store_options_t *so = cache_store_options_new();
  cache_store_options_set_flush_interval_ms(so, 1);
  cache_link_t *link = nullptr;
  ASSERT_EQ(cache_store_attach(cache.get(), &table, so, &link), CACHE_OK);
  cache_store_options_free(so);
  constexpr int kThreads = 4, kOps = 5000, kKeys = 300;
  auto objs = NewMany(kKeys);
  std::atomic<bool> stop{false};
  std::thread ticker([&] {  // time moves while the others work: entries expire
    while (!stop.load()) {
      clock.Advance(1);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      uint32_t x = 777u + t;
      for (int i = 0; i < kOps; ++i) {
        x = x * 1103515245u + 12345u;
        const int k = static_cast<int>((x >> 8) % kKeys);
        const std::string key = "k" + std::to_string(k);
        void *obj = nullptr;
        cache_value_t *bytes = nullptr;
        switch ((x >> 20) % 6) {
          case 0:
          case 1: {
            objs[k]->refs.fetch_add(1);
            const char enc[] = "e";
            if (cache_set_object(cache.get(), key.data(), key.size(), objs[k], 10, enc, 1,
                                 static_cast<int64_t>(x % 20) + 1, CACHE_WRITE_SET) != CACHE_OK) {
              objs[k]->refs.fetch_sub(1);
            }
            break;
          }
          case 2:
            if (cache_get_object(cache.get(), key.data(), key.size(), CACHE_GET_LOCAL, &obj,
                                 &bytes) == CACHE_OK) {
              if (obj != nullptr) static_cast<Obj *>(obj)->refs.fetch_sub(1);
              if (bytes != nullptr) cache_value_release(bytes);
            }
            break;
          case 3:
            if (cache_take_object(cache.get(), key.data(), key.size(), &obj, &bytes) ==
                CACHE_OK) {
              if (obj != nullptr) static_cast<Obj *>(obj)->refs.fetch_sub(1);
              if (bytes != nullptr) cache_value_release(bytes);
            }
            break;
          case 4: {
            uint64_t n;
            cache_purge_expired(cache.get(), &n);
            break;
          }
          default:
            cache_touch(cache.get(), key.data(), key.size(), 5);
        }
      }
    });
  }
  for (auto &th : ts) th.join();
  stop.store(true);
  ticker.join();
  EXPECT_EQ(cache_store_flush(link, 10000), CACHE_OK);
  CheckInvariants();
  cache_store_close(link, 5000, nullptr);
  cache.reset();
  for (Obj *o : objs) EXPECT_EQ(o->refs.load(), 1);
}

// ---- With a store: the store is sent the encoded form, never the object ----


TEST_F(ObjectTest, AStoreGetsTheEncodedBytesAndReadsThroughComeBackAsBytes) {
  Open(1 << 20);
  libcache_test::FakeStore store;
  const cache_store_t table = store.Table();
  cache_link_t *link = nullptr;
  ASSERT_EQ(cache_store_attach(cache.get(), &table, nullptr, &link), CACHE_OK);
  Obj &a = New();
  a.refs.fetch_add(1);
  // Without its encoded form, an object cannot go to the store.
  EXPECT_EQ(cache_set_object(cache.get(), "a", 1, &a, 10, nullptr, 0, 0, CACHE_WRITE_SET),
            CACHE_E_INVALID);
  ASSERT_EQ(cache_set_object(cache.get(), "a", 1, &a, 10, "enc-a", 5, 0, CACHE_WRITE_SET),
            CACHE_OK);
  ASSERT_EQ(cache_store_flush(link, 5000), CACHE_OK);
  std::string v;
  ASSERT_TRUE(store.Get("a", &v));
  EXPECT_EQ(v, "enc-a");
  EXPECT_EQ(Get("a"), &a);
  // A value only the store has comes back as bytes, for the binding to
  // decode and upgrade.
  store.Put("b", "enc-b");
  void *obj = nullptr;
  cache_value_t *bytes = nullptr;
  ASSERT_EQ(cache_get_object(cache.get(), "b", 1, CACHE_GET_LOCAL, &obj, &bytes), CACHE_NOT_FOUND);
  ASSERT_EQ(cache_get_object(cache.get(), "b", 1, 0, &obj, &bytes), CACHE_OK);
  ASSERT_NE(bytes, nullptr);
  EXPECT_EQ(std::string(static_cast<const char *>(cache_value_data(bytes)),
                        cache_value_size(bytes)),
            "enc-b");
  Obj &b = New();
  b.refs.fetch_add(1);
  const int up = cache_upgrade_object(cache.get(), "b", 1, bytes, &b, 10);
  cache_value_release(bytes);
  if (up == CACHE_OK) {
    EXPECT_EQ(Get("b"), &b);
  } else {
    EXPECT_EQ(up, CACHE_EXISTS);  // a fill the cache did not keep
    b.refs.fetch_sub(1);
  }
  // A delete reaches the store and releases the object.
  ASSERT_EQ(cache_delete(cache.get(), "a", 1), CACHE_OK);
  ASSERT_EQ(cache_store_flush(link, 5000), CACHE_OK);
  EXPECT_FALSE(store.Get("a", &v));
  EXPECT_EQ(a.refs.load(), 1);
  cache_store_close(link, 5000, nullptr);
  cache.reset();
  EXPECT_EQ(b.refs.load(), 1);
}

}  // namespace
