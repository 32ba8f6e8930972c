// The write-behind and read-through link (<libcache/cache_store.h>) against
// an in-memory store (fake_store.h). Each test drives the flusher through the
// store's gates or cache_store_flush, never by sleeping.

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <string>
#include <chrono>
#include <thread>
#include <vector>

#include "libcache/cache.h"
#include "libcache/cache_experimental.h"
#include "libcache/cache_store.h"
#include "tests/capi/test_util.h"
#include "tests/store/fake_store.h"

namespace libcache_test {
namespace {

constexpr uint64_t kNever = uint64_t{1} << 40;  // a flush interval no test waits out

struct LinkOpts {
  uint64_t flush_interval_ms = kNever;
  uint64_t max_queue_bytes = uint64_t{64} << 20;
  uint64_t max_queue_ops = uint64_t{1} << 20;
  int on_full = CACHE_STORE_ON_FULL_BLOCK;
  int64_t block_timeout_ms = 1000;
  int read_through = 1;
  int64_t read_timeout_ms = 10000;
  uint32_t max_retries = 3;
  uint32_t batch_ops = 512;
};

class Fixture {
 public:
  explicit Fixture(const LinkOpts &lo = LinkOpts(), uint64_t max_entries = 0,
                   uint32_t shards = 0) {
    OptionsPtr o(cache_options_new());
    if (max_entries != 0) {
      cache_options_set_max_entries(o.get(), max_entries);
      cache_options_set_max_bytes(o.get(), 0);
    }
    if (shards != 0) cache_options_set_shards(o.get(), shards);
    cache_t *c = nullptr;
    EXPECT_EQ(cache_open(o.get(), &c), CACHE_OK);
    cache.reset(c);
    Attach(lo);
  }
  void Attach(const LinkOpts &lo) {
    cache_store_options_t *so = cache_store_options_new();
    cache_store_options_set_flush_interval_ms(so, lo.flush_interval_ms);
    cache_store_options_set_max_queue(so, lo.max_queue_bytes, lo.max_queue_ops);
    cache_store_options_set_on_full(so, lo.on_full, lo.block_timeout_ms);
    cache_store_options_set_read_through(so, lo.read_through, lo.read_timeout_ms);
    cache_store_options_set_max_retries(so, lo.max_retries);
    cache_store_options_set_backoff(so, 1, 4);
    cache_store_options_set_batch(so, lo.batch_ops, uint64_t{4} << 20);
    const cache_store_t table = store.Table();
    EXPECT_EQ(cache_store_attach(cache.get(), &table, so, &link), CACHE_OK);
    cache_store_options_free(so);
  }
  cache_t *c() { return cache.get(); }
  int Set(const std::string &k, const std::string &v, int64_t ttl = CACHE_TTL_NONE) {
    return cache_set(c(), k.data(), k.size(), v.data(), v.size(), ttl);
  }
  int Del(const std::string &k) { return cache_delete(c(), k.data(), k.size()); }
  // The local value (or "<none>"), read without read-through: cache_ttl
  // says whether the key is local, then a get reads it.
  std::string Local(const std::string &k) {
    int64_t ttl;
    if (cache_ttl(c(), k.data(), k.size(), &ttl) != CACHE_OK) return "<none>";
    return Get(k);
  }
  std::string Get(const std::string &k) {
    char buf[256];
    size_t n = 0;
    const int rc = cache_get(c(), k.data(), k.size(), buf, sizeof buf, &n);
    return rc == CACHE_OK ? std::string(buf, n) : "<none>";
  }
  std::string Stored(const std::string &k) {
    std::string v;
    return store.Get(k, &v) ? v : "<none>";
  }
  cache_link_stats_t Stats() {
    cache_link_stats_t s{};
    EXPECT_EQ(cache_store_stats(link, &s, sizeof s), CACHE_OK);
    return s;
  }

  FakeStore store;  // outlives the cache (declared first, destroyed last)
  CachePtr cache;
  cache_link_t *link = nullptr;
};

// ---- Write-behind ---------------------------------------------------------------

TEST(Store, AttachTwiceIsRefusedAndBadStoresAreInvalid) {
  Fixture f;
  FakeStore other;
  cache_store_t t = other.Table();
  cache_link_t *l = nullptr;
  EXPECT_EQ(cache_store_attach(f.c(), &t, nullptr, &l), CACHE_EXISTS);
  t.write_batch = nullptr;
  EXPECT_EQ(cache_store_attach(f.c(), &t, nullptr, &l), CACHE_E_INVALID);
  t = other.Table();
  t.struct_size = 8;
  EXPECT_EQ(cache_store_attach(f.c(), &t, nullptr, &l), CACHE_E_INVALID);
}

TEST(Store, WritesReachTheStoreWithAbsoluteExpiry) {
  Fixture f;
  const int64_t before = WallMs();
  ASSERT_EQ(f.Set("a", "1", 60000), CACHE_OK);
  ASSERT_EQ(f.Set("b", "2"), CACHE_OK);
  ASSERT_EQ(cache_add(f.c(), "c", 1, "3", 1, CACHE_TTL_NONE), CACHE_OK);
  ASSERT_EQ(cache_add(f.c(), "c", 1, "4", 1, CACHE_TTL_NONE), CACHE_EXISTS);  // not queued
  ASSERT_EQ(cache_touch(f.c(), "b", 1, 30000), CACHE_OK);
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  std::string v;
  int64_t at = 0;
  ASSERT_TRUE(f.store.Get("a", &v, &at));
  EXPECT_EQ(v, "1");
  EXPECT_GE(at, before + 60000 - 10);
  EXPECT_LE(at, WallMs() + 60000 + 10);
  ASSERT_TRUE(f.store.Get("b", &v, &at));
  EXPECT_EQ(v, "2");
  EXPECT_GE(at, before + 30000 - 10);  // the touch moved the PUT's expiry
  EXPECT_EQ(f.Stored("c"), "3");
  EXPECT_EQ(f.Stats().flushed_ops, 3u);
}

TEST(Store, LaterWritesOfAWaitingKeyReplaceIt) {
  Fixture f;
  for (int i = 0; i < 5; ++i) ASSERT_EQ(f.Set("k", std::to_string(i)), CACHE_OK);
  ASSERT_EQ(f.Set("gone", "x"), CACHE_OK);
  ASSERT_EQ(f.Del("gone"), CACHE_OK);
  f.store.Put("never-local", "old");
  ASSERT_EQ(f.Del("never-local"), CACHE_NOT_FOUND);  // still deleted in the store
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  ASSERT_EQ(f.store.BatchCount(), 1u);
  const auto &b = f.store.batches[0];
  ASSERT_EQ(b.size(), 3u);
  int puts = 0, deletes = 0;
  for (const auto &op : b) {
    if (op.key == "k") {
      EXPECT_EQ(op.kind, CACHE_STORE_PUT);
      EXPECT_EQ(op.value, "4");
      ++puts;
    } else {
      EXPECT_EQ(op.kind, CACHE_STORE_DELETE) << op.key;
      ++deletes;
    }
  }
  EXPECT_EQ(puts, 1);
  EXPECT_EQ(deletes, 2);
  EXPECT_EQ(f.Stats().coalesced, 5u);
  EXPECT_EQ(f.Stored("k"), "4");
  EXPECT_EQ(f.Stored("never-local"), "<none>");
}

TEST(Store, AnUnknownOutcomeIsResentWithoutWhatANewerWriteReplaced) {
  Fixture f;
  ASSERT_EQ(f.Set("a", "1"), CACHE_OK);
  ASSERT_EQ(f.Set("b", "1"), CACHE_OK);
  f.store.SetHoldWrites(true);
  {
    std::lock_guard<std::mutex> g(f.store.mu);
    f.store.fail_batches = 1;
  }
  std::thread flusher([&] { EXPECT_EQ(cache_store_flush(f.link, -1), CACHE_OK); });
  f.store.AwaitHeldWrite();  // batch 0 (a=1, b=1) is in flight
  ASSERT_EQ(f.Set("a", "2"), CACHE_OK);
  f.store.SetHoldWrites(false);  // batch 0 fails: outcome unknown
  flusher.join();
  ASSERT_GE(f.store.BatchCount(), 2u);
  const auto &resent = f.store.batches[1];
  ASSERT_EQ(resent.size(), 2u);
  for (const auto &op : resent) {
    if (op.key == "a") EXPECT_EQ(op.value, "2");  // never a=1 again
    if (op.key == "b") EXPECT_EQ(op.value, "1");
  }
  EXPECT_EQ(f.Stored("a"), "2");
  EXPECT_EQ(f.Stored("b"), "1");
  const cache_link_stats_t s = f.Stats();
  EXPECT_EQ(s.store_errors, 1u);
  EXPECT_GE(s.retries, 2u);
}

TEST(Store, PutDeleteStormsOnFewKeysEndWithTheStoreEqualToTheCache) {
  LinkOpts lo;
  lo.flush_interval_ms = 0;
  lo.batch_ops = 4;
  Fixture f(lo);
  constexpr int kKeys = 6;
  std::atomic<bool> stop{false};
  // The store fails every few batches, half the time after applying them.
  std::thread chaos([&] {
    for (int i = 0; !stop.load(); ++i) {
      {
        std::lock_guard<std::mutex> g(f.store.mu);
        if (f.store.fail_batches == 0) {
          f.store.fail_batches = 1;
          f.store.fail_after_applying = i % 2 == 0;
        }
      }
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < 3; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937 rng(t);
      // At least 3000 writes each, and on until a batch has failed: with
      // cheap coalescing writes, 9000 can be over before the flusher sent
      // any batch while the chaos thread had armed a failure.
      for (int i = 0; i < 3000 || (i < 3000000 && (i % 64 != 0 || f.Stats().store_errors == 0));
           ++i) {
        const std::string k = "k" + std::to_string(rng() % kKeys);
        if (rng() % 3 == 0) {
          f.Del(k);
        } else {
          EXPECT_EQ(f.Set(k, std::to_string(t) + ":" + std::to_string(i)), CACHE_OK);
        }
      }
    });
  }
  for (auto &w : writers) w.join();
  stop = true;
  chaos.join();
  {
    std::lock_guard<std::mutex> g(f.store.mu);
    f.store.fail_batches = 0;
  }
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  for (int i = 0; i < kKeys; ++i) {
    const std::string k = "k" + std::to_string(i);
    EXPECT_EQ(f.Stored(k), f.Local(k)) << k;
  }
  EXPECT_GT(f.Stats().store_errors, 0u);
}

TEST(Store, ARejectedKeyBecomesADeadLetterWhileOtherKeysFlush) {
  LinkOpts lo;
  lo.max_retries = 2;
  Fixture f(lo);
  f.store.reject.insert("poison");
  ASSERT_EQ(f.Set("poison", "p"), CACHE_OK);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(f.Set("k" + std::to_string(i), "v"), CACHE_OK);
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);  // a dead letter counts as answered
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(f.Stored("k" + std::to_string(i)), "v");
  int sends = 0;
  for (const auto &b : f.store.batches) {
    for (const auto &op : b) sends += op.key == "poison";
  }
  EXPECT_EQ(sends, 3);  // once, then max_retries more
  const cache_link_stats_t s = f.Stats();
  EXPECT_EQ(s.dead_letters, 1u);
  EXPECT_EQ(s.queued_ops, 0u);
  struct Drained {
    std::vector<std::string> keys, reasons;
  } d;
  uint64_t n = 0;
  ASSERT_EQ(cache_store_drain_dead_letters(
                f.link,
                [](void *ctx, const cache_store_op_t *op, const char *why) {
                  auto *dd = static_cast<Drained *>(ctx);
                  dd->keys.emplace_back(static_cast<const char *>(op->key), op->klen);
                  dd->reasons.emplace_back(why);
                },
                &d, &n),
            CACHE_OK);
  EXPECT_EQ(n, 1u);
  ASSERT_EQ(d.keys.size(), 1u);
  EXPECT_EQ(d.keys[0], "poison");
  EXPECT_NE(d.reasons[0].find("NOPERM"), std::string::npos);
  ASSERT_EQ(cache_store_drain_dead_letters(f.link, nullptr, nullptr, &n), CACHE_OK);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(f.Local("poison"), "p");  // the local write stands
}

TEST(Store, AFullQueueRefusesWithFailAndLeavesTheCacheUnchanged) {
  LinkOpts lo;
  lo.on_full = CACHE_STORE_ON_FULL_FAIL;
  lo.max_queue_ops = 8;
  lo.max_queue_bytes = 8 * (64 + 16);
  Fixture f(lo);
  ASSERT_EQ(f.Set("old", "v0"), CACHE_OK);
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  f.store.SetHoldWrites(true);
  int accepted = 0, refused = 0;
  for (int i = 0; i < 40; ++i) {
    const int rc = f.Set("k" + std::to_string(i), "v");
    if (rc == CACHE_OK) ++accepted;
    if (rc == CACHE_E_FULL) {
      ++refused;
      EXPECT_EQ(f.Local("k" + std::to_string(i)), "<none>");
    }
    const cache_link_stats_t s = f.Stats();
    EXPECT_LE(s.queued_ops, lo.max_queue_ops);
    EXPECT_LE(s.queued_bytes, lo.max_queue_bytes);
  }
  EXPECT_EQ(accepted + refused, 40);
  EXPECT_GT(refused, 0);
  EXPECT_EQ(f.Set("old", "v1"), CACHE_E_FULL);
  EXPECT_EQ(f.Local("old"), "v0");
  EXPECT_EQ(f.Del("old"), CACHE_E_FULL);
  EXPECT_EQ(f.Local("old"), "v0");
  EXPECT_EQ(f.Stats().refused_full, static_cast<uint64_t>(refused) + 2);
  f.store.SetHoldWrites(false);
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  for (int i = 0; i < 40; ++i) {
    const std::string k = "k" + std::to_string(i);
    EXPECT_EQ(f.Stored(k), f.Local(k)) << k;  // everything accepted was flushed
  }
}

TEST(Store, AFullQueueBlocksThenTimesOutOrProceeds) {
  LinkOpts lo;
  lo.max_queue_ops = 2;
  lo.block_timeout_ms = 20;
  Fixture f(lo);
  f.store.SetHoldWrites(true);
  ASSERT_EQ(f.Set("a", "1"), CACHE_OK);
  ASSERT_EQ(f.Set("b", "1"), CACHE_OK);
  EXPECT_EQ(f.Set("c", "1"), CACHE_E_FULL);  // waited 20 ms, no room
  EXPECT_EQ(f.Local("c"), "<none>");
  EXPECT_EQ(f.Stats().refused_full, 1u);
  // A write that waits gets in once the store drains the queue.
  std::thread flush([&] { EXPECT_EQ(cache_store_flush(f.link, -1), CACHE_OK); });
  f.store.AwaitHeldWrite();
  std::atomic<int> rc{1};
  std::thread writer([&] {
    LinkOpts unused;
    (void)unused;
    // Block without limit this time: reattaching is not needed, the timeout
    // is per link, so loop until it is let in.
    int r;
    while ((r = f.Set("d", "1")) == CACHE_E_FULL) {
    }
    rc = r;
  });
  f.store.SetHoldWrites(false);
  writer.join();
  flush.join();
  EXPECT_EQ(rc.load(), CACHE_OK);
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  EXPECT_EQ(f.Stored("d"), "1");
}

TEST(Store, AnEntryEvictedBeforeItIsFlushedIsStillFlushed) {
  Fixture f(LinkOpts(), /*max_entries=*/64, /*shards=*/1);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(f.Set("k" + std::to_string(i), "v" + std::to_string(i)), CACHE_OK);
  cache_stats_t cs;
  ASSERT_EQ(cache_stats(f.c(), &cs, sizeof cs), CACHE_OK);
  ASSERT_GT(cs.evictions, 900u);
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(f.Stored("k" + std::to_string(i)), "v" + std::to_string(i));
  }
}

TEST(Store, FlushTimesOutWhileTheStoreIsHeld) {
  Fixture f;
  f.store.SetHoldWrites(true);
  ASSERT_EQ(f.Set("k", "v"), CACHE_OK);
  EXPECT_EQ(cache_store_flush(f.link, 20), CACHE_E_TIMEOUT);
  EXPECT_GE(f.Stats().queued_ops, 1u);
  f.store.SetHoldWrites(false);
  EXPECT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  EXPECT_EQ(f.Stored("k"), "v");
}

TEST(Store, CloseWithAHungStoreReturnsAndReportsWhatWasNotFlushed) {
  Fixture f;
  {
    std::lock_guard<std::mutex> g(f.store.mu);
    f.store.hold_writes = true;
    f.store.hang_writes_ms = 50;  // the store's own timeout
  }
  for (int i = 0; i < 10; ++i) ASSERT_EQ(f.Set("k" + std::to_string(i), "v"), CACHE_OK);
  uint64_t unflushed = 0;
  EXPECT_EQ(cache_store_close(f.link, 30, &unflushed), CACHE_E_TIMEOUT);
  EXPECT_EQ(unflushed, 10u);
  EXPECT_EQ(f.store.destroyed, 1);
  EXPECT_EQ(cache_store_close(f.link, 0, nullptr), CACHE_E_CLOSED);
  EXPECT_EQ(cache_store_flush(f.link, 0), CACHE_E_CLOSED);
  // The cache works on, locally, and takes a new link.
  EXPECT_EQ(f.Set("after", "x"), CACHE_OK);
  EXPECT_EQ(f.Local("after"), "x");
  f.store.hang_writes_ms = -1;
  f.store.hold_writes = false;
  f.Attach(LinkOpts());
  ASSERT_NE(f.link, nullptr);
  EXPECT_EQ(f.Set("again", "y"), CACHE_OK);
  EXPECT_EQ(cache_store_close(f.link, -1, &unflushed), CACHE_OK);
  EXPECT_EQ(unflushed, 0u);
  EXPECT_EQ(f.Stored("again"), "y");
}

// A close drops what it could not flush: a flush it ends must say so
// (CACHE_E_CLOSED), not report the emptied queue as flushed.
TEST(Store, AFlushEndedByACloseReportsClosed) {
  Fixture f;
  {
    std::lock_guard<std::mutex> g(f.store.mu);
    f.store.hold_writes = true;
    f.store.hang_writes_ms = 20;  // the store's own timeout
  }
  ASSERT_EQ(f.Set("k", "v"), CACHE_OK);
  std::atomic<int> rc{1};
  std::thread t([&] { rc = cache_store_flush(f.link, -1); });
  // Either order gives CACHE_E_CLOSED; the flush usually waits by now.
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  uint64_t unflushed = 0;
  EXPECT_EQ(cache_store_close(f.link, 0, &unflushed), CACHE_E_TIMEOUT);
  t.join();
  EXPECT_EQ(unflushed, 1u);
  EXPECT_EQ(rc.load(), CACHE_E_CLOSED);
}

TEST(Store, CacheCloseClosesTheLink) {
  auto f = std::make_unique<Fixture>();
  ASSERT_EQ(f->Set("k", "v"), CACHE_OK);
  FakeStore *s = &f->store;
  f->cache.reset();  // cache_close: no wait, the store is destroyed once
  EXPECT_EQ(s->destroyed, 1);
}

// ---- Read-through ----------------------------------------------------------------

TEST(Store, AProcessReadsItsOwnQueuedWritesAndAQueuedDeleteIsAMiss) {
  Fixture f(LinkOpts(), /*max_entries=*/16, /*shards=*/1);
  ASSERT_EQ(f.Set("mine", "queued"), CACHE_OK);
  for (int i = 0; i < 200; ++i) ASSERT_EQ(f.Set("x" + std::to_string(i), "v"), CACHE_OK);
  ASSERT_EQ(f.Local("mine"), "<none>");  // evicted, still queued
  EXPECT_EQ(f.Get("mine"), "queued");
  f.store.Put("del", "in-store");
  ASSERT_EQ(f.Del("del"), CACHE_NOT_FOUND);
  EXPECT_EQ(f.Get("del"), "<none>");
  EXPECT_EQ(f.store.loads, 0);
  const cache_link_stats_t s = f.Stats();
  EXPECT_EQ(s.read_hits, 1u);
  EXPECT_EQ(s.read_misses, 1u);
}

TEST(Store, AMissLoadsFromTheStoreAndFillsWithItsTtl) {
  Fixture f;
  f.store.Put("k", "stored", WallMs() + 60000);
  f.store.Put("forever", "f");
  EXPECT_EQ(f.Get("k"), "stored");
  int64_t ttl = 0;
  ASSERT_EQ(cache_ttl(f.c(), "k", 1, &ttl), CACHE_OK);  // filled locally
  EXPECT_GT(ttl, 50000);
  EXPECT_LE(ttl, 60000);
  // cache_read and cache_get_value read through too.
  std::string got;
  ASSERT_EQ(cache_read(f.c(), "forever", 7,
                       [](void *ctx, const void *d, size_t n) {
                         static_cast<std::string *>(ctx)->assign(static_cast<const char *>(d), n);
                       },
                       &got),
            CACHE_OK);
  EXPECT_EQ(got, "f");
  ASSERT_EQ(cache_ttl(f.c(), "forever", 7, &ttl), CACHE_OK);
  EXPECT_EQ(ttl, -1);
  f.store.Put("pinned", "p");
  cache_value_t *v = nullptr;
  ASSERT_EQ(cache_get_value(f.c(), "pinned", 6, &v), CACHE_OK);
  EXPECT_EQ(std::string(static_cast<const char *>(cache_value_data(v)), cache_value_size(v)), "p");
  cache_value_release(v);
  EXPECT_EQ(f.Get("absent"), "<none>");
  EXPECT_EQ(f.store.loads, 4);
  f.Get("k");  // a local hit now
  EXPECT_EQ(f.store.loads, 4);
  // The fill was not queued back.
  EXPECT_EQ(f.Stats().queued_ops, 0u);
  const cache_link_stats_t s = f.Stats();
  EXPECT_EQ(s.read_hits, 3u);
  EXPECT_EQ(s.read_misses, 1u);
}

TEST(Store, ConcurrentMissesOfOneKeyMakeOneLoad) {
  Fixture f;
  f.store.Put("k", "v");
  f.store.SetHoldLoads(true);
  std::vector<std::thread> readers;
  std::atomic<int> got{0}, started{0};
  for (int i = 0; i < 8; ++i) {
    readers.emplace_back([&] {
      ++started;
      got += f.Get("k") == "v";
    });
  }
  f.store.AwaitLoads(1);
  // Every reader must have missed before the load is released, or a late one
  // would start a flight of its own after this one ended (seen on a loaded CI
  // machine: 7 loads). 100 ms after the last one started lets it reach the
  // flight's wait; the load is held meanwhile, so no time-based outcome.
  while (started.load() < 8) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  f.store.SetHoldLoads(false);
  for (auto &r : readers) r.join();
  EXPECT_EQ(got.load(), 8);
  EXPECT_EQ(f.store.loads, 1);
}

TEST(Store, AStoreThatDoesNotAnswerInTimeIsAMiss) {
  LinkOpts lo;
  lo.read_timeout_ms = 20;
  Fixture f(lo);
  f.store.Put("k", "v");
  f.store.SetHoldLoads(true);
  EXPECT_EQ(f.Get("k"), "<none>");
  EXPECT_EQ(f.Stats().read_errors, 1u);
  f.store.SetHoldLoads(false);
  EXPECT_EQ(f.Get("k"), "v");
}

TEST(Store, ALocalWriteOrDeleteWinsOverALateLoad) {
  for (const bool del : {false, true}) {
    Fixture f;
    f.store.Put("k", "stale");
    f.store.SetHoldLoads(true);
    std::thread reader([&] { f.Get("k"); });
    f.store.AwaitLoads(1);  // the load began
    if (del) {
      ASSERT_EQ(f.Del("k"), CACHE_NOT_FOUND);
    } else {
      ASSERT_EQ(f.Set("k", "local"), CACHE_OK);
    }
    f.store.SetHoldLoads(false);
    reader.join();
    EXPECT_EQ(f.Local("k"), del ? "<none>" : "local") << "del=" << del;
    EXPECT_EQ(f.Get("k"), del ? "<none>" : "local");  // the queued delete answers
  }
}

// ---- Sync writes ----------------------------------------------------------------

TEST(Store, SyncWritesReturnOnceTheStoreAppliedThem) {
  Fixture f;
  ASSERT_EQ(cache_store_set_sync(f.link, "k", 1, "v", 1, 60000, -1), CACHE_OK);
  EXPECT_EQ(f.Stored("k"), "v");
  EXPECT_EQ(f.Local("k"), "v");
  int64_t ttl;
  ASSERT_EQ(cache_ttl(f.c(), "k", 1, &ttl), CACHE_OK);
  EXPECT_GT(ttl, 50000);
  ASSERT_EQ(cache_store_delete_sync(f.link, "k", 1, -1), CACHE_OK);
  EXPECT_EQ(f.Stored("k"), "<none>");
  EXPECT_EQ(f.Local("k"), "<none>");
}

TEST(Store, ARejectedSyncWriteLeavesTheCacheUnchanged) {
  Fixture f;
  ASSERT_EQ(f.Set("k", "old"), CACHE_OK);
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  f.store.reject.insert("k");
  EXPECT_EQ(cache_store_set_sync(f.link, "k", 1, "new", 3, CACHE_TTL_NONE, -1),
            CACHE_STORE_REJECTED);
  EXPECT_EQ(f.Local("k"), "old");
  EXPECT_EQ(cache_store_delete_sync(f.link, "k", 1, -1), CACHE_STORE_REJECTED);
  EXPECT_EQ(f.Local("k"), "old");
  EXPECT_EQ(f.Stored("k"), "old");
  EXPECT_EQ(f.Stats().dead_letters, 0u);  // the caller was told: not a dead letter
}

TEST(Store, ASyncWriteTimesOutWithTheCacheUnchanged) {
  Fixture f;
  f.store.SetHoldWrites(true);
  EXPECT_EQ(cache_store_set_sync(f.link, "k", 1, "v", 1, CACHE_TTL_NONE, 20), CACHE_E_TIMEOUT);
  EXPECT_EQ(f.Local("k"), "<none>");
  f.store.SetHoldWrites(false);
}

TEST(Store, SyncWritesAreOrderedWithTheQueuedWritesOfTheirKey) {
  Fixture f;
  ASSERT_EQ(f.Set("k", "1"), CACHE_OK);  // queued; the flush interval never passes
  ASSERT_EQ(cache_store_set_sync(f.link, "k", 1, "2", 1, CACHE_TTL_NONE, -1), CACHE_OK);
  std::vector<std::string> order;
  for (const auto &b : f.store.batches) {
    for (const auto &op : b) {
      if (op.key == "k") order.push_back(op.value);
    }
  }
  EXPECT_EQ(order, (std::vector<std::string>{"1", "2"}));
  EXPECT_EQ(f.Stored("k"), "2");
  EXPECT_EQ(f.Local("k"), "2");
  // A local write racing a sync write of the same key: the newer one wins in
  // both places.
  f.store.SetHoldWrites(true);
  std::thread sync([&] {
    EXPECT_EQ(cache_store_set_sync(f.link, "k", 1, "sync", 4, CACHE_TTL_NONE, -1), CACHE_OK);
  });
  f.store.AwaitHeldWrite();
  ASSERT_EQ(f.Set("k", "later"), CACHE_OK);
  f.store.SetHoldWrites(false);
  sync.join();
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  EXPECT_EQ(f.Local("k"), "later");
  EXPECT_EQ(f.Stored("k"), "later");
}

// ---- fork() ----------------------------------------------------------------------

TEST(Store, AForkedChildNeverFlushesTheParentsQueueAndCanAttachItsOwn) {
#if defined(LIBCACHE_TEST_TSAN)
  GTEST_SKIP() << "ThreadSanitizer does not support fork() with running threads";
#endif
  Fixture f;
  ASSERT_EQ(f.Set("parent", "p"), CACHE_OK);  // queued, not flushed
  const size_t batches_at_fork = f.store.BatchCount();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm(10);
    if (f.store.forked != 1) _exit(2);
    if (f.Set("child", "c") != CACHE_OK) _exit(3);  // local only
    if (f.Local("child") != "c") _exit(4);
    if (cache_store_flush(f.link, -1) != CACHE_E_CLOSED) _exit(5);
    uint64_t left = 0;
    cache_store_close(f.link, -1, &left);
    if (f.store.BatchCount() != batches_at_fork || f.store.destroyed != 0) _exit(6);
    FakeStore mine;
    cache_store_t t = mine.Table();
    cache_link_t *l = nullptr;
    if (cache_store_attach(f.c(), &t, nullptr, &l) != CACHE_OK) _exit(7);
    if (f.Set("child2", "c2") != CACHE_OK) _exit(8);
    if (cache_store_flush(l, -1) != CACHE_OK) _exit(9);
    std::string v;
    if (!mine.Get("child2", &v) || v != "c2" || mine.Get("parent", nullptr)) _exit(10);
    if (cache_store_close(l, -1, nullptr) != CACHE_OK) _exit(11);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  EXPECT_EQ(f.Stored("parent"), "p");
  EXPECT_EQ(f.Stored("child"), "<none>");
  EXPECT_EQ(f.Stored("child2"), "<none>");
  int parent_sends = 0;
  for (const auto &b : f.store.batches) {
    for (const auto &op : b) parent_sends += op.key == "parent";
  }
  EXPECT_EQ(parent_sends, 1);
}

// ---- Everything at once -------------------------------------------------------------

TEST(Store, StressFlusherRacesReadsWritesEvictionsAndExpiry) {
  LinkOpts lo;
  lo.flush_interval_ms = 1;
  lo.batch_ops = 16;
  lo.read_timeout_ms = 50;
  lo.max_queue_ops = 512;
  Fixture f(lo, /*max_entries=*/256, /*shards=*/4);
#if defined(LIBCACHE_TEST_SANITIZED)
  constexpr int kOps = 4000;
#else
  constexpr int kOps = 20000;
#endif
  std::atomic<bool> stop{false};
  std::thread chaos([&] {
    for (int i = 0; !stop.load(); ++i) {
      {
        std::lock_guard<std::mutex> g(f.store.mu);
        if (i % 64 == 0) f.store.fail_batches = 1;
        f.store.fail_after_applying = i % 128 == 0;
      }
      if (i % 16 == 0) cache_store_flush(f.link, 5);
      cache_link_stats_t s;
      cache_store_stats(f.link, &s, sizeof s);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      char buf[64];
      size_t n;
      for (int i = 0; i < kOps; ++i) {
        const std::string k = "k" + std::to_string(rng() % 1024);
        switch (rng() % 8) {
          case 0:
            cache_delete(f.c(), k.data(), k.size());
            break;
          case 1:
            cache_touch(f.c(), k.data(), k.size(), 1 + rng() % 5);
            break;
          case 2: {
            cache_value_t *v = nullptr;
            if (cache_take(f.c(), k.data(), k.size(), &v) == CACHE_OK) cache_value_release(v);
            break;
          }
          case 3:
          case 4:
            cache_get(f.c(), k.data(), k.size(), buf, sizeof buf, &n);
            break;
          default:
            cache_set(f.c(), k.data(), k.size(), "value", 5, rng() % 2 ? 2 : CACHE_TTL_NONE);
        }
      }
    });
  }
  for (auto &t : threads) t.join();
  stop = true;
  chaos.join();
  {
    std::lock_guard<std::mutex> g(f.store.mu);
    f.store.fail_batches = 0;
  }
  EXPECT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  const char *what = nullptr;
  EXPECT_EQ(cache_check_invariants(f.c(), &what), CACHE_OK) << (what ? what : "");
  const cache_link_stats_t s = f.Stats();
  EXPECT_EQ(s.queued_ops, 0u);
  EXPECT_EQ(s.queued_bytes, 0u);
}

// ---- Coherence: changes made elsewhere (cache_store_invalidate and friends) ----

TEST(Store, AnInvalidatedCleanCopyIsDroppedAndTheNextReadLoadsTheNewValue) {
  Fixture f;
  f.store.Put("k", "v1");
  EXPECT_EQ(f.Get("k"), "v1");  // loaded and kept
  EXPECT_EQ(f.Local("k"), "v1");
  f.store.Put("k", "v2");  // another process's write
  EXPECT_EQ(f.Local("k"), "v1");
  EXPECT_EQ(cache_store_invalidate(f.link, "k", 1), CACHE_OK);
  EXPECT_EQ(f.Local("k"), "<none>");
  EXPECT_EQ(f.Get("k"), "v2");
  EXPECT_EQ(f.Local("k"), "v2");
  // A key not cached: nothing to drop, still counted as an invalidation.
  EXPECT_EQ(cache_store_invalidate(f.link, "absent", 6), CACHE_OK);
  const cache_link_stats_t s = f.Stats();
  EXPECT_EQ(s.invalidations, 2u);
  EXPECT_EQ(s.invalidated, 1u);
  EXPECT_EQ(s.conflicts, 0u);
  EXPECT_EQ(s.coherent, 1u);
}

TEST(Store, ALocalWriteStillWaitingSurvivesAnInvalidationAndWinsInTheStore) {
  Fixture f;  // flush interval: never, so the write waits
  ASSERT_EQ(f.Set("k", "mine"), CACHE_OK);
  f.store.Put("k", "theirs");
  EXPECT_EQ(cache_store_invalidate(f.link, "k", 1), CACHE_OK);
  EXPECT_EQ(f.Local("k"), "mine");
  EXPECT_EQ(f.Stats().conflicts, 1u);
  EXPECT_EQ(f.Stats().invalidated, 0u);
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  EXPECT_EQ(f.Stored("k"), "mine");  // the last flush wins
  EXPECT_EQ(f.Local("k"), "mine");
}

TEST(Store, AWaitingTouchDoesNotKeepAStaleValueOverAnInvalidation) {
  Fixture f;
  f.store.Put("k", "v1");
  ASSERT_EQ(f.Get("k"), "v1");
  ASSERT_EQ(cache_touch(f.c(), "k", 1, 60000), CACHE_OK);  // an EXPIRE waits
  f.store.Put("k", "v2");
  EXPECT_EQ(cache_store_invalidate(f.link, "k", 1), CACHE_OK);
  EXPECT_EQ(f.Local("k"), "<none>");  // the value was clean: only its TTL moved
  EXPECT_EQ(f.Get("k"), "v2");
  EXPECT_EQ(f.Stats().conflicts, 0u);
}

TEST(Store, AWriteInFlightWhenInvalidatedIsDroppedLocallyOnceAcknowledged) {
  Fixture f;
  ASSERT_EQ(f.Set("k", "mine"), CACHE_OK);
  f.store.SetHoldWrites(true);
  std::thread flusher([&] { EXPECT_EQ(cache_store_flush(f.link, -1), CACHE_OK); });
  f.store.AwaitHeldWrite();  // sent, not answered
  EXPECT_EQ(cache_store_invalidate(f.link, "k", 1), CACHE_OK);
  EXPECT_EQ(f.Local("k"), "mine");  // kept until the store answers
  f.store.SetHoldWrites(false);
  flusher.join();
  // The remote write may have been ordered after ours: the copy is gone,
  // and the next read asks the store (here: another process's later value).
  EXPECT_EQ(f.Local("k"), "<none>");
  f.store.Put("k", "theirs");
  EXPECT_EQ(f.Get("k"), "theirs");
  EXPECT_EQ(f.Stats().conflicts, 1u);
  EXPECT_EQ(f.Stats().invalidated, 1u);
}

TEST(Store, ALoadInFlightWhenItsKeyIsInvalidatedIsNotKeptNorServed) {
  Fixture f;
  f.store.Put("k", "new");
  {
    std::lock_guard<std::mutex> g(f.store.mu);
    f.store.stale_on_load = "old";  // the first reply predates the invalidation
    f.store.stale_loads = 1;
  }
  f.store.SetHoldLoads(true);
  std::string got;
  std::thread reader([&] { got = f.Get("k"); });
  f.store.AwaitLoads(1);  // the load is in flight
  EXPECT_EQ(cache_store_invalidate(f.link, "k", 1), CACHE_OK);
  f.store.SetHoldLoads(false);
  reader.join();
  EXPECT_EQ(got, "new");  // loaded again after the late reply
  EXPECT_EQ(f.Local("k"), "new");
  const cache_link_stats_t s = f.Stats();
  EXPECT_EQ(s.fills_refused, 1u);
  EXPECT_GE(f.store.loads, 2);
}

TEST(Store, InvalidateAllDropsEveryCleanCopyAndKeepsWaitingWrites) {
  Fixture f;
  for (int i = 0; i < 100; ++i) f.store.Put("r" + std::to_string(i), "stored");
  for (int i = 0; i < 100; ++i) ASSERT_EQ(f.Get("r" + std::to_string(i)), "stored");
  ASSERT_EQ(f.Set("w", "waiting"), CACHE_OK);
  EXPECT_EQ(cache_store_invalidate_all(f.link), CACHE_OK);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(f.Local("r" + std::to_string(i)), "<none>");
  EXPECT_EQ(f.Local("w"), "waiting");
  EXPECT_EQ(f.Stats().invalidated, 100u);
  cache_stats_t cs{};
  ASSERT_EQ(cache_stats(f.c(), &cs, sizeof cs), CACHE_OK);
  EXPECT_EQ(cs.entries, 1u);
}

TEST(Store, WhileNotCoherentNoCleanCopyIsKeptAndCoherenceComesBack) {
  Fixture f;
  f.store.Put("a", "1");
  ASSERT_EQ(f.Get("a"), "1");
  ASSERT_EQ(cache_store_set_coherent(f.link, 0), CACHE_OK);
  EXPECT_EQ(f.Stats().coherent, 0u);
  EXPECT_EQ(f.Local("a"), "<none>");  // dropped at once
  const int loads = f.store.loads;
  EXPECT_EQ(f.Get("a"), "1");  // served from the store...
  EXPECT_EQ(f.Local("a"), "<none>");  // ...not kept
  EXPECT_EQ(f.Get("a"), "1");
  EXPECT_EQ(f.store.loads, loads + 2);
  // A local write is served while it waits, dropped once the store has it.
  ASSERT_EQ(f.Set("b", "mine"), CACHE_OK);
  EXPECT_EQ(f.Local("b"), "mine");
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  EXPECT_EQ(f.Local("b"), "<none>");
  EXPECT_EQ(f.Get("b"), "mine");
  // A sync write is applied in the store, not locally.
  ASSERT_EQ(cache_store_set_sync(f.link, "c", 1, "sync", 4, CACHE_TTL_NONE, -1), CACHE_OK);
  EXPECT_EQ(f.Stored("c"), "sync");
  EXPECT_EQ(f.Local("c"), "<none>");
  ASSERT_EQ(cache_store_set_coherent(f.link, 1), CACHE_OK);
  EXPECT_EQ(f.Stats().coherent, 1u);
  EXPECT_EQ(f.Get("a"), "1");
  EXPECT_EQ(f.Local("a"), "1");  // kept again
  EXPECT_GE(f.Stats().fills_refused, 2u);
}

TEST(Store, ALoadBegunWhileNotCoherentIsNotKeptAfterCoherenceReturns) {
  Fixture f;
  f.store.Put("k", "v");
  ASSERT_EQ(cache_store_set_coherent(f.link, 0), CACHE_OK);
  f.store.SetHoldLoads(true);
  std::string got;
  std::thread reader([&] { got = f.Get("k"); });
  f.store.AwaitLoads(1);
  ASSERT_EQ(cache_store_set_coherent(f.link, 1), CACHE_OK);
  f.store.SetHoldLoads(false);
  reader.join();
  EXPECT_EQ(got, "v");
  // The first reply began before the store vouched again: loaded once more,
  // and only that value is kept.
  EXPECT_EQ(f.Local("k"), "v");
  EXPECT_EQ(f.store.loads, 2);
}

TEST(Store, ASyncWriteInvalidatedInFlightIsNotAppliedLocally) {
  Fixture f;
  f.store.SetHoldWrites(true);
  int rc = -100;
  std::thread writer(
      [&] { rc = cache_store_set_sync(f.link, "k", 1, "mine", 4, CACHE_TTL_NONE, -1); });
  f.store.AwaitHeldWrite();
  EXPECT_EQ(cache_store_invalidate(f.link, "k", 1), CACHE_OK);
  f.store.SetHoldWrites(false);
  writer.join();
  EXPECT_EQ(rc, CACHE_OK);  // the store applied it...
  EXPECT_EQ(f.Local("k"), "<none>");  // ...and a remote write may have come after
  f.store.Put("k", "theirs");
  EXPECT_EQ(f.Get("k"), "theirs");
}

TEST(Store, ASyncWriteThatTimedOutAndLandedLaterDropsTheOlderLocalCopy) {
  Fixture f;
  f.store.Put("k", "old");
  ASSERT_EQ(f.Get("k"), "old");  // a clean local copy
  f.store.SetHoldWrites(true);
  EXPECT_EQ(cache_store_set_sync(f.link, "k", 1, "new", 3, CACHE_TTL_NONE, 50), CACHE_E_TIMEOUT);
  f.store.AwaitHeldWrite();  // it is still in flight
  EXPECT_EQ(f.Local("k"), "old");  // unchanged, as documented
  f.store.SetHoldWrites(false);
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  EXPECT_EQ(f.Stored("k"), "new");  // it landed...
  EXPECT_EQ(f.Local("k"), "<none>");  // ...so the older copy went
  EXPECT_EQ(f.Get("k"), "new");
}

TEST(Store, CoherenceCallsRefuseBadArguments) {
  Fixture f;
  EXPECT_EQ(cache_store_invalidate(nullptr, "k", 1), CACHE_E_INVALID);
  EXPECT_EQ(cache_store_invalidate(f.link, nullptr, 1), CACHE_E_INVALID);
  const std::string huge(CACHE_MAX_KEY_SIZE + 1, 'k');
  EXPECT_EQ(cache_store_invalidate(f.link, huge.data(), huge.size()), CACHE_E_TOO_LARGE);
  EXPECT_EQ(cache_store_invalidate(f.link, "", 0), CACHE_OK);  // the empty key is a key
  EXPECT_EQ(cache_store_invalidate_all(nullptr), CACHE_E_INVALID);
  EXPECT_EQ(cache_store_set_coherent(nullptr, 1), CACHE_E_INVALID);
  EXPECT_EQ(cache_store_set_coherent(f.link, 2), CACHE_E_INVALID);
  EXPECT_EQ(cache_store_set_coherent(f.link, -1), CACHE_E_INVALID);
  EXPECT_EQ(f.Stats().coherent, 1u);  // unchanged
}

TEST(Store, StressInvalidationsRaceReadsWritesFlushesAndLoads) {
  LinkOpts lo;
  lo.flush_interval_ms = 1;
  lo.batch_ops = 16;
  lo.read_timeout_ms = 50;
  Fixture f(lo, /*max_entries=*/256, /*shards=*/4);
#if defined(LIBCACHE_TEST_SANITIZED)
  constexpr int kOps = 4000;
#else
  constexpr int kOps = 20000;
#endif
  std::atomic<bool> stop{false};
  std::thread remote([&] {  // another process: writes the store, then invalidates
    std::mt19937 rng(7);
    for (int i = 0; !stop.load(); ++i) {
      const std::string k = "k" + std::to_string(rng() % 512);
      f.store.Put(k, "remote" + std::to_string(i));
      cache_store_invalidate(f.link, k.data(), k.size());
      if (i % 500 == 0) cache_store_invalidate_all(f.link);
      if (i % 700 == 0) cache_store_set_coherent(f.link, 0);
      if (i % 700 == 350) cache_store_set_coherent(f.link, 1);
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(200 + t);
      char buf[64];
      size_t n;
      for (int i = 0; i < kOps; ++i) {
        const std::string k = "k" + std::to_string(rng() % 512);
        switch (rng() % 8) {
          case 0:
            cache_delete(f.c(), k.data(), k.size());
            break;
          case 1:
            cache_store_set_sync(f.link, k.data(), k.size(), "sync", 4, CACHE_TTL_NONE, 50);
            break;
          case 2:
          case 3:
          case 4:
            cache_get(f.c(), k.data(), k.size(), buf, sizeof buf, &n);
            break;
          default:
            cache_set(f.c(), k.data(), k.size(), "local", 5, rng() % 2 ? 2 : CACHE_TTL_NONE);
        }
      }
    });
  }
  for (auto &t : threads) t.join();
  stop = true;
  remote.join();
  ASSERT_EQ(cache_store_set_coherent(f.link, 1), CACHE_OK);
  ASSERT_EQ(cache_store_flush(f.link, -1), CACHE_OK);
  const char *what = nullptr;
  EXPECT_EQ(cache_check_invariants(f.c(), &what), CACHE_OK) << (what ? what : "");
  // Quiescent and flushed: every read answers what the store holds.
  ASSERT_EQ(cache_store_invalidate_all(f.link), CACHE_OK);
  for (int i = 0; i < 512; ++i) {
    const std::string k = "k" + std::to_string(i);
    std::string v;
    int64_t expire_at = 0;
    if (!f.store.Get(k, &v, &expire_at) || (expire_at != 0 && expire_at <= WallMs() + 1)) {
      v = "<none>";  // absent, or expired (or about to: TTLs were 2 ms)
    }
    if (v == "<none>" && expire_at != 0) continue;  // may expire between the two reads
    EXPECT_EQ(f.Get(k), v) << k;
  }
  EXPECT_EQ(f.Stats().queued_ops, 0u);
}

}  // namespace
}  // namespace libcache_test
