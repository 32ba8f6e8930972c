// The Redis adapter end to end (<libcache/cache_redis.h> over the generic link
// of <libcache/cache_store.h>), against a real redis-server, with faults:
// kill -9 and restart during writes, SIGSTOP, CLIENT PAUSE WRITE, CLIENT KILL,
// DEBUG SLEEP, a poison key, close with Redis down, fork.
#include <gtest/gtest.h>
#include <libcache/cache.h>
#include <libcache/cache_redis.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>

#include <atomic>
#include <chrono>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/redis/redis_server.h"

namespace {

using libcache_test::RedisServer;
using libcache_test::Reply;
using libcache_test::WallMs;

#if defined(LIBCACHE_TEST_SANITIZED)
constexpr int kScale = 5;  // sanitizers: a fifth of the work
#else
constexpr int kScale = 1;
#endif

std::string Str(const Reply &r) {
  if (r == nullptr) return "<no reply>";
  if (r->type == REDIS_REPLY_NIL) return "<nil>";
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  return std::string(r->str, r->len);
}

struct Adapter {
  cache_t *cache = nullptr;
  cache_redis_t *redis = nullptr;
  ~Adapter() {
    cache_close(cache);  // closes redis too
  }
};

struct Config {
  std::string url;
  std::string prefix = "t:";
  uint64_t max_queue_bytes = 64u << 20;
  int on_full = CACHE_REDIS_ON_FULL_BLOCK;
  int64_t block_ms = 1000;
  int64_t command_ms = 500;
  uint32_t max_retries = 2;
  bool read_through = true;
  bool coherence = true;
};

::testing::AssertionResult Attach(const Config &cfg, Adapter *a) {
  cache_options_t *o = cache_options_new();
  cache_options_set_max_bytes(o, 256u << 20);
  int rc = cache_open(o, &a->cache);
  cache_options_free(o);
  if (rc != CACHE_OK) return ::testing::AssertionFailure() << "cache_open " << rc;
  cache_redis_options_t *ro = cache_redis_options_new();
  cache_redis_options_set_url(ro, cfg.url.c_str());
  cache_redis_options_set_prefix(ro, cfg.prefix.data(), cfg.prefix.size());
  cache_redis_options_set_timeouts(ro, 500, cfg.command_ms);
  cache_store_options_t *so = cache_redis_options_store_options(ro);
  cache_store_options_set_flush_interval_ms(so, 1);
  cache_store_options_set_max_queue(so, cfg.max_queue_bytes, 1u << 20);
  cache_store_options_set_on_full(so, cfg.on_full, cfg.block_ms);
  cache_store_options_set_max_retries(so, cfg.max_retries);
  cache_store_options_set_backoff(so, 5, 100);
  cache_store_options_set_read_through(so, cfg.read_through ? 1 : 0, 200);
  cache_redis_options_set_coherence(ro, cfg.coherence ? 1 : 0, 100);
  rc = cache_redis_attach(a->cache, ro, &a->redis);
  cache_redis_options_free(ro);
  if (rc != CACHE_OK) {
    return ::testing::AssertionFailure()
           << "cache_redis_attach: " << cache_strerror(rc) << ": " << cache_redis_errmsg();
  }
  return ::testing::AssertionSuccess();
}

// What the local cache holds for key: value and remaining TTL (-1: none), or
// found = false.
struct Local {
  bool found = false;
  std::string value;
  int64_t ttl = -1;
};
Local LocalOf(cache_t *c, const std::string &k) {
  Local l;
  char buf[256];
  size_t n = 0;
  if (cache_get(c, k.data(), k.size(), buf, sizeof buf, &n) != CACHE_OK) return l;
  l.found = true;
  l.value.assign(buf, n);
  int64_t ttl = 0;
  if (cache_ttl(c, k.data(), k.size(), &ttl) == CACHE_OK) l.ttl = ttl;
  return l;
}

// Redis holds exactly the local state of every key in keys (prefix added):
// the same value, or absent when absent locally; expiring at the local
// deadline (PEXPIRETIME against now + the local remaining TTL, within the
// clock resolution plus the time the check takes).
void ExpectRedisEqualsLocal(RedisServer &server, cache_t *c, const std::string &prefix,
                            const std::vector<std::string> &keys) {
  std::vector<std::vector<std::string>> cmds;
  for (const std::string &k : keys) {
    cmds.push_back({"GET", prefix + k});
    cmds.push_back({"PEXPIRETIME", prefix + k});
  }
  int64_t before = WallMs();
  std::vector<Reply> r = server.Pipeline(cmds);
  ASSERT_EQ(r.size(), cmds.size());
  int mismatches = 0;
  for (size_t i = 0; i < keys.size() && mismatches < 10; ++i) {
    Local l = LocalOf(c, keys[i]);
    int64_t after = WallMs();
    const Reply &v = r[2 * i];
    const Reply &t = r[2 * i + 1];
    if (!l.found) {
      if (v->type != REDIS_REPLY_NIL) {
        ++mismatches;
        ADD_FAILURE() << keys[i] << ": absent locally, Redis has " << Str(v);
      }
      continue;
    }
    if (Str(v) != l.value) {
      ++mismatches;
      ADD_FAILURE() << keys[i] << ": local " << l.value << ", Redis " << Str(v);
      continue;
    }
    if (l.ttl <= 0) {
      if (t->integer != -1) {
        ++mismatches;
        ADD_FAILURE() << keys[i] << ": no local TTL, Redis expires at " << t->integer;
      }
    } else if (t->integer < before + l.ttl - 50 || t->integer > after + l.ttl + 50) {
      ++mismatches;
      ADD_FAILURE() << keys[i] << ": local deadline ~" << before + l.ttl << ", Redis "
                    << t->integer;
    }
  }
}

// After a fault the adapter's coherence may still be re-establishing
// tracking: loads are then served but not kept, and the local TTL that
// ExpectRedisEqualsLocal reads would be missing. Waits (up to 20 s) until
// tracking is back, when coherence is on.
void WaitCoherent(const Adapter &a) {
  for (int i = 0; i < 10000; ++i) {
    cache_redis_stats_t s;
    if (cache_redis_stats(a.redis, &s, sizeof s) != CACHE_OK) return;
    if (s.coherence == 0 || s.tracking == 1) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ADD_FAILURE() << "tracking did not come back";
}

class AdapterTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }
  Config Cfg() {
    Config c;
    c.url = server_.url();
    return c;
  }
  RedisServer server_;
};

TEST_F(AdapterTest, WritesReachRedisWithTheirTtls) {
  Adapter a;
  ASSERT_TRUE(Attach(Cfg(), &a));
  ASSERT_EQ(cache_set(a.cache, "a", 1, "1", 1, 60000), CACHE_OK);
  ASSERT_EQ(cache_set(a.cache, "b", 1, "2", 1, CACHE_TTL_NONE), CACHE_OK);
  ASSERT_EQ(cache_set(a.cache, "c", 1, "3", 1, CACHE_TTL_NONE), CACHE_OK);
  ASSERT_EQ(cache_delete(a.cache, "c", 1), CACHE_OK);
  ASSERT_EQ(cache_set(a.cache, "d", 1, "4", 1, CACHE_TTL_NONE), CACHE_OK);
  ASSERT_EQ(cache_touch(a.cache, "d", 1, 30000), CACHE_OK);
  ASSERT_EQ(cache_redis_flush(a.redis, 10000), CACHE_OK);
  ExpectRedisEqualsLocal(server_, a.cache, "t:", {"a", "b", "c", "d"});
  cache_redis_stats_t s;
  ASSERT_EQ(cache_redis_stats(a.redis, &s, sizeof s), CACHE_OK);
  EXPECT_GE(s.link.flushed_ops, 4u);
  EXPECT_EQ(s.connect_errors, 0u);
  EXPECT_EQ(s.link.store_errors, 0u);
}

TEST_F(AdapterTest, ReadThroughFillsTheLocalCacheWithTheRedisTtl) {
  Adapter a;
  ASSERT_TRUE(Attach(Cfg(), &a));
  server_.Cmd({"SET", "t:r", "remote", "PX", "40000"});
  char buf[16];
  size_t n = 0;
  ASSERT_EQ(cache_get(a.cache, "r", 1, buf, sizeof buf, &n), CACHE_OK);
  EXPECT_EQ(std::string(buf, n), "remote");
  int64_t ttl = 0;
  ASSERT_EQ(cache_ttl(a.cache, "r", 1, &ttl), CACHE_OK);
  EXPECT_GT(ttl, 30000);
  EXPECT_LE(ttl, 40000);
  EXPECT_EQ(cache_get(a.cache, "absent", 6, buf, sizeof buf, &n), CACHE_NOT_FOUND);
}

TEST_F(AdapterTest, SetSyncAndDeleteSync) {
  Adapter a;
  ASSERT_TRUE(Attach(Cfg(), &a));
  ASSERT_EQ(cache_redis_set_sync(a.redis, "s", 1, "v", 1, CACHE_TTL_NONE, 5000), CACHE_OK);
  EXPECT_EQ(Str(server_.Cmd({"GET", "t:s"})), "v");
  ASSERT_EQ(cache_redis_delete_sync(a.redis, "s", 1, 5000), CACHE_OK);
  EXPECT_EQ(Str(server_.Cmd({"EXISTS", "t:s"})), "0");
}

// kill -9 and restart 20 times during 100k+ writes over 10k keys from 4
// threads, with deletes and TTLs: after flush, Redis holds exactly the last
// local value of every key, with its TTL, and no deleted key.
TEST_F(AdapterTest, Kill9AndRestartDuringWritesLosesNothing) {
  Adapter a;
  ASSERT_TRUE(Attach(Cfg(), &a));
  const int kKeys = 10000, kThreads = 4, kWritesPerThread = 30000 / kScale;
  const int kRestarts = 20 / kScale;
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) keys.push_back("k" + std::to_string(i));
  std::atomic<int> failed{0};
  std::atomic<bool> restarts_done{false};
  std::atomic<long> writes{0};
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      std::mt19937 rng(t);
      // At least kWritesPerThread each, and on until the last restart.
      for (int i = 0; i < kWritesPerThread || !restarts_done.load(); ++i) {
        ++writes;
        const std::string &k = keys[rng() % kKeys];
        std::string v = std::to_string(t) + ":" + std::to_string(i);
        unsigned dice = rng() % 10;
        int rc;
        if (dice == 0) {
          rc = cache_delete(a.cache, k.data(), k.size());
          if (rc == CACHE_NOT_FOUND) rc = CACHE_OK;
        } else if (dice < 4) {
          rc = cache_set(a.cache, k.data(), k.size(), v.data(), v.size(), 120000 + rng() % 60000);
        } else {
          rc = cache_set(a.cache, k.data(), k.size(), v.data(), v.size(), CACHE_TTL_NONE);
        }
        if (rc != CACHE_OK) ++failed;
      }
    });
  }
  bool started = true;
  for (int r = 0; r < kRestarts && started; ++r) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // let writes pile up
    server_.Kill9();
    started = server_.Start();
  }
  restarts_done = true;
  for (auto &w : writers) w.join();
  ASSERT_TRUE(started);
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GE(writes.load(), static_cast<long>(kThreads) * kWritesPerThread);
  ASSERT_EQ(cache_redis_flush(a.redis, 60000), CACHE_OK);
  WaitCoherent(a);
  ExpectRedisEqualsLocal(server_, a.cache, "t:", keys);
  cache_redis_stats_t s;
  ASSERT_EQ(cache_redis_stats(a.redis, &s, sizeof s), CACHE_OK);
  EXPECT_GT(s.connects,
            1u);  // a restart during the flusher's backoff needs no reconnect of its own
  EXPECT_EQ(s.link.dead_letters, 0u);
  printf("%ld writes, %llu connects, %llu failed batches, %llu ops resent, %llu coalesced\n",
         writes.load(), (unsigned long long)s.connects, (unsigned long long)s.link.store_errors,
         (unsigned long long)s.link.retries, (unsigned long long)s.link.coalesced);
}

TEST_F(AdapterTest, ClientKillAndDebugSleepThenEverythingFlushes) {
  Config cfg = Cfg();
  cfg.command_ms = 200;
  Adapter a;
  ASSERT_TRUE(Attach(cfg, &a));
  std::vector<std::string> keys;
  for (int i = 0; i < 200; ++i) keys.push_back("k" + std::to_string(i));
  for (const auto &k : keys) cache_set(a.cache, k.data(), k.size(), "1", 1, CACHE_TTL_NONE);
  ASSERT_EQ(cache_redis_flush(a.redis, 10000), CACHE_OK);
  server_.Cmd({"CLIENT", "KILL", "TYPE", "normal"});  // the adapter's, not the admin's
  for (const auto &k : keys) cache_set(a.cache, k.data(), k.size(), "2", 1, CACHE_TTL_NONE);
  ASSERT_TRUE(server_.SleepFor(1));
  for (const auto &k : keys) cache_set(a.cache, k.data(), k.size(), "3", 1, 90000);
  server_.WaitAwake();
  ASSERT_EQ(cache_redis_flush(a.redis, 10000), CACHE_OK);
  WaitCoherent(a);
  ExpectRedisEqualsLocal(server_, a.cache, "t:", keys);
}

TEST_F(AdapterTest, StormsOnFewKeysEndEqual) {
  Adapter a;
  ASSERT_TRUE(Attach(Cfg(), &a));
  std::vector<std::string> keys = {"s0", "s1", "s2", "s3"};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(100 + t);
      for (int i = 0; i < 20000 / kScale; ++i) {
        const std::string &k = keys[rng() % keys.size()];
        if (rng() % 3 == 0) {
          cache_delete(a.cache, k.data(), k.size());
        } else {
          std::string v = std::to_string(t * 1000000 + i);
          cache_set(a.cache, k.data(), k.size(), v.data(), v.size(), CACHE_TTL_NONE);
        }
      }
    });
  }
  for (auto &t : threads) t.join();
  ASSERT_EQ(cache_redis_flush(a.redis, 10000), CACHE_OK);
  ExpectRedisEqualsLocal(server_, a.cache, "t:", keys);
}

struct DeadLetters {
  std::vector<std::string> keys, reasons;
};
void OnDeadLetter(void *ctx, const cache_store_op_t *op, const char *reason) {
  auto *d = static_cast<DeadLetters *>(ctx);
  d->keys.emplace_back(static_cast<const char *>(op->key), op->klen);
  d->reasons.emplace_back(reason ? reason : "");
}

TEST_F(AdapterTest, PoisonKeyBecomesADeadLetterWhileOthersFlush) {
  ASSERT_EQ(Str(server_.Cmd({"ACL", "SETUSER", "app", "on", ">pw", "~t:ok*",
                                   "&__redis__:invalidate", "+@all"})), "OK");
  Config cfg = Cfg();
  cfg.url = "redis://app:pw@127.0.0.1:" + std::to_string(server_.port());
  Adapter a;
  ASSERT_TRUE(Attach(cfg, &a));
  std::vector<std::string> keys;
  for (int i = 0; i < 10000; ++i) keys.push_back("ok" + std::to_string(i));
  for (size_t i = 0; i < keys.size(); ++i) {
    cache_set(a.cache, keys[i].data(), keys[i].size(), "v", 1, CACHE_TTL_NONE);
    if (i == 10) cache_set(a.cache, "poison", 6, "x", 1, CACHE_TTL_NONE);
  }
  ASSERT_EQ(cache_redis_flush(a.redis, 30000), CACHE_OK);
  ExpectRedisEqualsLocal(server_, a.cache, "t:", keys);
  DeadLetters d;
  uint64_t count = 0;
  ASSERT_EQ(cache_redis_drain_dead_letters(a.redis, OnDeadLetter, &d, &count), CACHE_OK);
  ASSERT_EQ(count, 1u);
  EXPECT_EQ(d.keys[0], "poison");
  EXPECT_EQ(d.reasons[0].rfind("NOPERM", 0), 0u) << d.reasons[0];
  EXPECT_EQ(d.reasons[0].find("pw"), std::string::npos);
}

TEST_F(AdapterTest, CloseWithRedisStoppedReturnsWithinItsTimeoutWithTheCount) {
  Config cfg = Cfg();
  cfg.command_ms = 200;
  Adapter a;
  ASSERT_TRUE(Attach(cfg, &a));
  server_.Pause();  // SIGSTOP: connections hang rather than fail
  for (int i = 0; i < 100; ++i) {
    std::string k = "c" + std::to_string(i);
    ASSERT_EQ(cache_set(a.cache, k.data(), k.size(), "v", 1, CACHE_TTL_NONE), CACHE_OK);
  }
  uint64_t unflushed = 0;
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(cache_redis_close(a.redis, 300, &unflushed), CACHE_E_TIMEOUT);
  // Its timeout plus one store call's own (connect + 3 commands), with slack.
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_EQ(unflushed, 100u);
  a.redis = nullptr;
  server_.Resume();
}

TEST_F(AdapterTest, LongOutageWithBoundedQueueRefusesAndReportsThenFlushesTheRest) {
  Config cfg = Cfg();
  cfg.max_queue_bytes = 256 << 10;
  cfg.on_full = CACHE_REDIS_ON_FULL_FAIL;
  cfg.command_ms = 200;
  cfg.read_through = false;  // the checks of refused writes read missing keys
  // A process that only writes. (With coherence on, the pause loses tracking,
  // and writes acknowledged before it is back drop their local copies: the
  // local view checked below would be empty.)
  cfg.coherence = false;
  Adapter a;
  ASSERT_TRUE(Attach(cfg, &a));
  server_.Pause();
  std::map<std::string, std::string> accepted;
  uint64_t refused = 0;
  std::string value(200, 'v');
  for (int i = 0; i < 5000; ++i) {
    std::string k = "o" + std::to_string(i % 3000);
    value[0] = static_cast<char>('a' + i % 26);
    int rc = cache_set(a.cache, k.data(), k.size(), value.data(), value.size(), CACHE_TTL_NONE);
    if (rc == CACHE_OK) {
      accepted[k] = value;
    } else {
      ASSERT_EQ(rc, CACHE_E_FULL);
      ++refused;
      Local l = LocalOf(a.cache, k);  // a refused write leaves the cache as it was
      EXPECT_EQ(l.found, accepted.count(k) == 1);
      if (l.found) {
        EXPECT_EQ(l.value, accepted[k]);
      }
    }
    if (i % 100 == 0) {
      cache_redis_stats_t s;
      cache_redis_stats(a.redis, &s, sizeof s);
      EXPECT_LE(s.link.queued_bytes, cfg.max_queue_bytes);
    }
  }
  EXPECT_GT(refused, 0u);
  cache_redis_stats_t s;
  cache_redis_stats(a.redis, &s, sizeof s);
  EXPECT_EQ(s.link.refused_full, refused);
  server_.Resume();
  // A write pause next: writes queue while Redis accepts but does not apply.
  ASSERT_EQ(Str(server_.Cmd({"CLIENT", "PAUSE", "500", "WRITE"})), "OK");
  ASSERT_EQ(cache_redis_flush(a.redis, 30000), CACHE_OK);
  std::vector<std::string> keys;
  for (auto &kv : accepted) keys.push_back(kv.first);
  ExpectRedisEqualsLocal(server_, a.cache, "t:", keys);
}

// Not under TSan (its runtime does not support fork with threads running),
// nor under ASan: GCC 12's ASan allocator takes no lock across fork(), so a
// writer thread inside malloc at the fork leaves the child's allocator locked,
// and the child's new flusher thread hangs in its first malloc (seen: about 1
// run in 40 on a loaded machine; the stack was in __sanitizer::Mutex::Lock
// from AsanThread::Init). glibc's malloc, in the other builds, is fork-safe.
#if !defined(LIBCACHE_TEST_TSAN) && !defined(__SANITIZE_ADDRESS__)
TEST_F(AdapterTest, ForkWithBusyWritersChildAttachesItsOwn) {
  Adapter a;
  ASSERT_TRUE(Attach(Cfg(), &a));
  std::atomic<bool> stop{false};
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; !stop.load(); ++i) {
        std::string k = "f" + std::to_string(t) + "-" + std::to_string(i % 500);
        std::string v = std::to_string(i);
        cache_set(a.cache, k.data(), k.size(), v.data(), v.size(), CACHE_TTL_NONE);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The exit status says which step failed (a loaded CI machine is slow:
    // the timeouts are generous, the test is about correctness).
    if (cache_redis_flush(a.redis, 1000) != CACHE_E_CLOSED) _exit(2);
    cache_redis_close(a.redis, 0, nullptr);  // the inherited one: freed, nothing sent
    cache_redis_options_t *ro = cache_redis_options_new();
    cache_redis_options_set_url(ro, server_.url().c_str());
    cache_redis_options_set_prefix(ro, "child:", 6);
    cache_redis_options_set_timeouts(ro, 10000, 10000);
    cache_redis_t *mine = nullptr;
    const int attached = cache_redis_attach(a.cache, ro, &mine);
    cache_redis_options_free(ro);
    if (attached != CACHE_OK) _exit(3);
    if (cache_set(a.cache, "c", 1, "v", 1, CACHE_TTL_NONE) != CACHE_OK) _exit(4);
    const int flushed = cache_redis_flush(mine, 30000);
    _exit(flushed == CACHE_OK ? 0 : flushed == CACHE_E_TIMEOUT ? 5 : 6);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  stop = true;
  for (auto &w : writers) w.join();
  ASSERT_TRUE(WIFEXITED(status)) << "child died: status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: inherited flush not CLOSED, 3: attach, 4: set, "
                                       "5: flush timed out, 6: flush failed";
  EXPECT_EQ(Str(server_.Cmd({"GET", "child:c"})), "v");
  ASSERT_EQ(cache_redis_flush(a.redis, 30000), CACHE_OK);
  WaitCoherent(a);
  std::vector<std::string> keys;
  for (int t = 0; t < 4; ++t) {
    for (int i = 0; i < 500; ++i) keys.push_back("f" + std::to_string(t) + "-" + std::to_string(i));
  }
  ExpectRedisEqualsLocal(server_, a.cache, "t:", keys);
}
#endif

}  // namespace
