// Near-cache coherence of the Redis adapter (redis/src/coherence.h), one
// process against a real redis-server, with the harness's admin connection
// as "another server": remote writes, deletes and FLUSHALL stop local copies
// from being served (also of keys this process wrote but never read); this
// process's own writes bring no invalidation back; CLIENT KILL of the
// subscription and of the writer, SIGSTOP, kill -9 and restart each lose
// tracking (counted, local copies dropped, reads go to Redis meanwhile) and
// get it back; an unflushed local write survives a remote invalidation; a
// load reply delayed (by a proxy) behind an invalidation is not kept;
// cache_redis_command; attach's refusals.
//
// No timing is asserted: every wait polls for an outcome up to a generous
// deadline (Eventually).
#include <gtest/gtest.h>
#include <libcache/cache.h>
#include <libcache/cache_redis.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/redis/redis_server.h"
#include "tests/redis/tcp_proxy.h"

namespace {

using libcache_test::RedisServer;
using libcache_test::Reply;
using libcache_test::TcpProxy;

constexpr char kPrefix[] = "c:";

std::string Str(const Reply &r) {
  if (r == nullptr) return "<no reply>";
  if (r->type == REDIS_REPLY_NIL) return "<nil>";
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  return std::string(r->str, r->len);
}

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Polls pred every 2 ms until it holds or 10 s passed (sanitizer builds and
// a loaded machine are slow; a pass is usually a few ms).
bool Eventually(const std::function<bool()> &pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

struct Options {
  std::string url;
  bool coherence = true;
  int64_t health_ms = 50;
  int64_t command_ms = 300;
  uint64_t flush_interval_ms = 1;
  int64_t read_timeout_ms = 1000;
};

struct Adapter {
  cache_t *cache = nullptr;
  cache_redis_t *redis = nullptr;
  ~Adapter() { cache_close(cache); }

  cache_redis_stats_t Stats() const {
    cache_redis_stats_t s;
    memset(&s, 0, sizeof s);
    EXPECT_EQ(cache_redis_stats(redis, &s, sizeof s), CACHE_OK);
    return s;
  }
  // cache_get: the local copy or read-through; "<absent>" for a miss.
  std::string Get(const std::string &k) const {
    char buf[256];
    size_t n = 0;
    int rc = cache_get(cache, k.data(), k.size(), buf, sizeof buf, &n);
    if (rc == CACHE_NOT_FOUND) return "<absent>";
    if (rc != CACHE_OK) return "<error " + std::to_string(rc) + ">";
    return std::string(buf, n);
  }
  void Set(const std::string &k, const std::string &v) const {
    ASSERT_EQ(cache_set(cache, k.data(), k.size(), v.data(), v.size(), CACHE_TTL_NONE), CACHE_OK);
  }
};

int OpenCache(cache_t **out) {
  cache_options_t *o = cache_options_new();
  cache_options_set_max_bytes(o, 64u << 20);
  int rc = cache_open(o, out);
  cache_options_free(o);
  return rc;
}

// Attaches to a cache (opened here unless a->cache is set already).
int AttachRaw(const Options &opt, Adapter *a) {
  if (a->cache == nullptr && OpenCache(&a->cache) != CACHE_OK) return CACHE_E_NOMEM;
  cache_redis_options_t *ro = cache_redis_options_new();
  cache_redis_options_set_url(ro, opt.url.c_str());
  cache_redis_options_set_prefix(ro, kPrefix, strlen(kPrefix));
  cache_redis_options_set_timeouts(ro, 500, opt.command_ms);
  cache_redis_options_set_coherence(ro, opt.coherence ? 1 : 0, opt.health_ms);
  cache_store_options_t *so = cache_redis_options_store_options(ro);
  cache_store_options_set_flush_interval_ms(so, opt.flush_interval_ms);
  cache_store_options_set_backoff(so, 5, 100);
  cache_store_options_set_read_through(so, 1, opt.read_timeout_ms);
  int rc = cache_redis_attach(a->cache, ro, &a->redis);
  cache_redis_options_free(ro);
  return rc;
}

::testing::AssertionResult Attach(const Options &opt, Adapter *a) {
  int rc = AttachRaw(opt, a);
  if (rc != CACHE_OK) {
    return ::testing::AssertionFailure()
           << "cache_redis_attach: " << cache_strerror(rc) << ": " << cache_redis_errmsg();
  }
  return ::testing::AssertionSuccess();
}

// The CLIENT LIST lines of the server's clients other than the admin's.
std::vector<std::string> Clients(RedisServer &server) {
  std::vector<std::string> out;
  int64_t me = server.Cmd({"CLIENT", "ID"})->integer;
  std::string all = Str(server.Cmd({"CLIENT", "LIST"}));
  size_t p = 0;
  while (p < all.size()) {
    size_t end = all.find('\n', p);
    if (end == std::string::npos) end = all.size();
    std::string line = all.substr(p, end - p);
    p = end + 1;
    if (line.rfind("id=" + std::to_string(me) + " ", 0) == 0 || line.empty()) continue;
    out.push_back(line);
  }
  return out;
}

// The value of a CLIENT LIST field other than the first (id).
std::string FieldOf(const std::string &line, const std::string &name) {
  size_t p = line.find(" " + name + "=");
  if (p == std::string::npos) return "";
  p += name.size() + 2;
  return line.substr(p, line.find(' ', p) - p);
}

// The id of the client whose CLIENT LIST flags contain flag ("" if none).
std::string ClientWithFlag(RedisServer &server, char flag) {
  for (const std::string &l : Clients(server)) {
    if (FieldOf(l, "flags").find(flag) != std::string::npos) return l.substr(3, l.find(' ') - 3);
  }
  return "";
}

class CoherenceTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }
  Options Opt() {
    Options o;
    o.url = server_.url();
    return o;
  }
  void RemoteSet(const std::string &k, const std::string &v) {
    ASSERT_EQ(Str(server_.Cmd({"SET", kPrefix + k, v})), "OK");
  }
  RedisServer server_;
};

TEST_F(CoherenceTest, AttachEstablishesTrackingAndCountsNothingYet) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  cache_redis_stats_t s = a.Stats();
  EXPECT_EQ(s.coherence, 1u);
  EXPECT_EQ(s.tracking, 1u);
  EXPECT_EQ(s.tracking_resets, 0u);
  EXPECT_EQ(s.invalidation_messages, 0u);
  EXPECT_GE(s.health_check_age_ms, 0);
  EXPECT_EQ(s.link.coherent, 1u);
  // The writer tracks for the subscription, with BCAST, the prefix and NOLOOP.
  std::string writer = ClientWithFlag(server_, 't');
  ASSERT_NE(writer, "");
  std::string sub = ClientWithFlag(server_, 'P');
  ASSERT_NE(sub, "");
  for (const std::string &l : Clients(server_)) {
    if (l.rfind("id=" + writer + " ", 0) == 0) {
      EXPECT_EQ(FieldOf(l, "redir"), sub) << l;
    }
  }
}

TEST_F(CoherenceTest, CoherenceOffRunsNoTracking) {
  Options o = Opt();
  o.coherence = false;
  Adapter a;
  ASSERT_TRUE(Attach(o, &a));
  cache_redis_stats_t s = a.Stats();
  EXPECT_EQ(s.coherence, 0u);
  EXPECT_EQ(s.tracking, 0u);
  EXPECT_EQ(s.health_check_age_ms, -1);
  EXPECT_EQ(ClientWithFlag(server_, 't'), "");
  EXPECT_EQ(ClientWithFlag(server_, 'P'), "");
  RemoteSet("k", "v1");
  EXPECT_EQ(a.Get("k"), "v1");
  RemoteSet("k", "v2");
  EXPECT_EQ(a.Get("k"), "v1");  // without coherence the local copy stays
}

TEST_F(CoherenceTest, RemoteWritesAndDeletesStopTheLocalCopy) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  RemoteSet("k", "v1");
  ASSERT_EQ(a.Get("k"), "v1");  // loaded, kept
  auto t0 = std::chrono::steady_clock::now();
  RemoteSet("k", "v2");  // returns once Redis applied it
  EXPECT_TRUE(Eventually([&] { return a.Get("k") == "v2"; }));
  printf("a remote write's acknowledgement to the local copy's change: %.2f ms\n", MsSince(t0));
  ASSERT_EQ(Str(server_.Cmd({"DEL", "c:k"})), "1");
  EXPECT_TRUE(Eventually([&] { return a.Get("k") == "<absent>"; }));
  // Several keys in one command: one message, every key.
  RemoteSet("a", "1");
  RemoteSet("b", "1");
  ASSERT_EQ(a.Get("a"), "1");
  ASSERT_EQ(a.Get("b"), "1");
  ASSERT_EQ(Str(server_.Cmd({"MSET", "c:a", "2", "c:b", "2"})), "OK");
  EXPECT_TRUE(Eventually([&] { return a.Get("a") == "2" && a.Get("b") == "2"; }));
  cache_redis_stats_t s = a.Stats();
  EXPECT_GE(s.invalidation_messages, 4u);
  EXPECT_GE(s.link.invalidations, 5u);
  EXPECT_GE(s.link.invalidated, 4u);
  EXPECT_EQ(s.tracking_resets, 0u);
}

TEST_F(CoherenceTest, KeysThisProcessWroteButNeverReadAreInvalidatedToo) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  a.Set("w", "mine");
  ASSERT_EQ(cache_redis_flush(a.redis, 10000), CACHE_OK);
  ASSERT_EQ(Str(server_.Cmd({"GET", "c:w"})), "mine");
  RemoteSet("w", "theirs");
  EXPECT_TRUE(Eventually([&] { return a.Get("w") == "theirs"; }));
}

// Redis sends one client's invalidations in order: once the marker's has
// arrived, any invalidation of the writes before it would have too.
TEST_F(CoherenceTest, OwnWritesBringNoInvalidationBack) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  for (int i = 0; i < 200; ++i) a.Set("o" + std::to_string(i), "v");
  ASSERT_EQ(cache_delete(a.cache, "o0", 2), CACHE_OK);
  ASSERT_EQ(cache_touch(a.cache, "o1", 2, 60000), CACHE_OK);
  ASSERT_EQ(cache_redis_set_sync(a.redis, "s", 1, "v", 1, CACHE_TTL_NONE, 5000), CACHE_OK);
  ASSERT_EQ(cache_redis_delete_sync(a.redis, "o2", 2, 5000), CACHE_OK);
  ASSERT_EQ(cache_redis_flush(a.redis, 10000), CACHE_OK);
  // (attach's invalidate_all is counted in link.invalidations)
  const uint64_t before = a.Stats().link.invalidations;
  RemoteSet("marker", "1");
  ASSERT_TRUE(Eventually([&] { return a.Stats().invalidation_messages >= 1; }));
  cache_redis_stats_t s = a.Stats();
  EXPECT_EQ(s.invalidation_messages, 1u);
  EXPECT_EQ(s.link.invalidations, before + 1);
  EXPECT_EQ(a.Get("o3"), "v");  // still local
}

TEST_F(CoherenceTest, FlushallDropsEverything) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  for (int i = 0; i < 20; ++i) RemoteSet("f" + std::to_string(i), "remote");
  for (int i = 0; i < 20; ++i) ASSERT_EQ(a.Get("f" + std::to_string(i)), "remote");
  a.Set("mine", "v");
  ASSERT_EQ(cache_redis_flush(a.redis, 10000), CACHE_OK);
  ASSERT_EQ(Str(server_.Cmd({"FLUSHALL"})), "OK");
  ASSERT_TRUE(Eventually([&] { return a.Stats().flushall_messages == 1; }));
  for (int i = 0; i < 20; ++i) EXPECT_EQ(a.Get("f" + std::to_string(i)), "<absent>");
  EXPECT_EQ(a.Get("mine"), "<absent>");
  EXPECT_EQ(a.Stats().tracking_resets, 0u);
}

TEST_F(CoherenceTest, WhatTheCacheHeldBeforeAttachIsNotTrusted) {
  Adapter a;
  ASSERT_EQ(OpenCache(&a.cache), CACHE_OK);
  a.Set("pre", "local-before-attach");
  RemoteSet("pre", "redis");
  ASSERT_TRUE(Attach(Opt(), &a));
  EXPECT_EQ(a.Get("pre"), "redis");
}

// CLIENT KILL TYPE pubsub: the subscription ends (EOF), found at once.
TEST_F(CoherenceTest, SubscriptionKilledResetsAndComesBack) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  RemoteSet("k", "v1");
  ASSERT_EQ(a.Get("k"), "v1");
  uint64_t dropped = a.Stats().link.invalidated;
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Str(server_.Cmd({"CLIENT", "KILL", "TYPE", "pubsub"})), "1");
  ASSERT_TRUE(Eventually([&] { return a.Stats().tracking_resets == 1; }));
  EXPECT_GT(a.Stats().link.invalidated, dropped);  // the clean copy went
  ASSERT_TRUE(Eventually([&] { return a.Stats().tracking == 1; }));
  printf("the subscription killed: tracking lost and back within %.1f ms\n", MsSince(t0));
  EXPECT_EQ(a.Stats().link.coherent, 1u);
  ASSERT_EQ(a.Get("k"), "v1");
  RemoteSet("k", "v2");  // invalidations flow again, to the new subscription
  EXPECT_TRUE(Eventually([&] { return a.Get("k") == "v2"; }));
  EXPECT_EQ(a.Stats().tracking_resets, 1u);
}

// The subscription's channel taken away: Redis ends the subscription, and
// re-subscribing is refused until it is given back. Meanwhile every read
// goes to Redis (no invalidation could tell of a change).
TEST_F(CoherenceTest, WhileTrackingIsDownReadsGoToRedis) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  RemoteSet("k", "v1");
  ASSERT_EQ(a.Get("k"), "v1");
  ASSERT_EQ(Str(server_.Cmd({"ACL", "SETUSER", "default", "resetchannels"})), "OK");
  ASSERT_TRUE(Eventually([&] { return a.Stats().tracking_resets == 1; }));
  cache_redis_stats_t s = a.Stats();
  EXPECT_EQ(s.tracking, 0u);
  EXPECT_EQ(s.link.coherent, 0u);
  for (int i = 2; i < 6; ++i) {
    RemoteSet("k", "v" + std::to_string(i));
    EXPECT_EQ(a.Get("k"), "v" + std::to_string(i));  // at once: not kept locally
  }
  char err[512];
  cache_redis_last_error(a.redis, err, sizeof err);
  EXPECT_NE(std::string(err).find("coherence"), std::string::npos) << err;
  ASSERT_EQ(Str(server_.Cmd({"ACL", "SETUSER", "default", "allchannels"})), "OK");
  ASSERT_TRUE(Eventually([&] { return a.Stats().tracking == 1; }));
  ASSERT_EQ(a.Get("k"), "v5");
  RemoteSet("k", "v6");
  EXPECT_TRUE(Eventually([&] { return a.Get("k") == "v6"; }));
  EXPECT_EQ(a.Stats().tracking_resets, 1u);
}

// The writer (the tracking client) killed while the flusher is idle: the
// health check finds it gone; tracking comes back on a new writer.
TEST_F(CoherenceTest, WriterKilledWhileIdleResetsAndComesBack) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  RemoteSet("k", "v1");
  ASSERT_EQ(a.Get("k"), "v1");
  std::string writer = ClientWithFlag(server_, 't');
  ASSERT_NE(writer, "");
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(Str(server_.Cmd({"CLIENT", "KILL", "ID", writer})), "1");
  RemoteSet("k", "v2");  // nobody tracks now: only the reset can drop v1
  ASSERT_TRUE(Eventually([&] { return a.Stats().tracking_resets == 1; }));
  printf("the writer killed while idle, found by the health check (every 50 ms) after %.1f ms\n",
         MsSince(t0));
  ASSERT_TRUE(Eventually([&] { return a.Stats().tracking == 1; }));
  EXPECT_EQ(a.Get("k"), "v2");
  std::string again = ClientWithFlag(server_, 't');
  EXPECT_NE(again, "");
  EXPECT_NE(again, writer);
  RemoteSet("k", "v3");
  EXPECT_TRUE(Eventually([&] { return a.Get("k") == "v3"; }));
  // Writes still flow on the new writer.
  a.Set("w", "x");
  ASSERT_EQ(cache_redis_flush(a.redis, 10000), CACHE_OK);
  EXPECT_EQ(Str(server_.Cmd({"GET", "c:w"})), "x");
}

// The writer killed, then found lost by the flusher's next batch (the loss
// is handed to the coherence thread, never acted on inside write_batch).
TEST_F(CoherenceTest, WriterLostInsideABatchResets) {
  Options o = Opt();
  o.health_ms = 60000;  // so that the flusher, not the health check, finds it
  Adapter a;
  ASSERT_TRUE(Attach(o, &a));
  std::string writer = ClientWithFlag(server_, 't');
  ASSERT_NE(writer, "");
  ASSERT_EQ(Str(server_.Cmd({"CLIENT", "KILL", "ID", writer})), "1");
  a.Set("w", "x");
  ASSERT_EQ(cache_redis_flush(a.redis, 10000), CACHE_OK);
  ASSERT_TRUE(Eventually([&] { return a.Stats().tracking_resets == 1; }));
  ASSERT_TRUE(Eventually([&] { return a.Stats().tracking == 1; }));
  RemoteSet("k", "v1");
  ASSERT_EQ(a.Get("k"), "v1");
  RemoteSet("k", "v2");
  EXPECT_TRUE(Eventually([&] { return a.Get("k") == "v2"; }));
}

TEST_F(CoherenceTest, RedisPausedLongerThanTheHealthIntervalLosesTracking) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  RemoteSet("k", "v1");
  ASSERT_EQ(a.Get("k"), "v1");
  auto t0 = std::chrono::steady_clock::now();
  server_.Pause();
  bool lost = Eventually([&] { return a.Stats().tracking_resets == 1; });
  printf("Redis paused: tracking found lost after %.1f ms (health check 50 ms, command timeout "
         "300 ms)\n",
         MsSince(t0));
  EXPECT_EQ(a.Stats().link.coherent, 0u);
  server_.Resume();
  ASSERT_TRUE(lost);
  ASSERT_TRUE(Eventually([&] { return a.Stats().tracking == 1; }));
  RemoteSet("k", "v2");
  EXPECT_TRUE(Eventually([&] { return a.Get("k") == "v2"; }));
}

TEST_F(CoherenceTest, Kill9AndRestartComesBackCoherent) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  RemoteSet("k", "v1");
  ASSERT_EQ(a.Get("k"), "v1");
  server_.Kill9();
  ASSERT_TRUE(Eventually([&] { return a.Stats().tracking_resets == 1; }));
  a.Set("down", "written while Redis was down");
  ASSERT_TRUE(server_.Start());
  ASSERT_TRUE(Eventually([&] { return a.Stats().tracking == 1; }));
  ASSERT_EQ(cache_redis_flush(a.redis, 20000), CACHE_OK);
  EXPECT_EQ(Str(server_.Cmd({"GET", "c:down"})), "written while Redis was down");
  ASSERT_EQ(Str(server_.Cmd({"GET", "c:k"})), "v1");
  ASSERT_EQ(a.Get("k"), "v1");
  RemoteSet("k", "v2");
  EXPECT_TRUE(Eventually([&] { return a.Get("k") == "v2"; }));
}

// A local write still waiting (a long flush interval) keeps its value when
// another client writes the key: it reaches Redis later and wins there too.
TEST_F(CoherenceTest, UnflushedLocalWriteSurvivesARemoteInvalidation) {
  Options o = Opt();
  o.flush_interval_ms = 60000;
  Adapter a;
  ASSERT_TRUE(Attach(o, &a));
  a.Set("k", "mine");
  RemoteSet("k", "theirs");
  ASSERT_TRUE(Eventually([&] { return a.Stats().link.conflicts >= 1; }));
  EXPECT_EQ(a.Get("k"), "mine");
  ASSERT_EQ(cache_redis_flush(a.redis, 10000), CACHE_OK);
  EXPECT_EQ(Str(server_.Cmd({"GET", "c:k"})), "mine");
  EXPECT_EQ(a.Get("k"), "mine");
}

// A sync write that timed out (Redis slow, tracking intact) may still land
// later; NOLOOP brings no invalidation of it back, so the local copy from
// before it must not survive it (the link drops it when the orphaned sync
// write is acknowledged).
TEST_F(CoherenceTest, ASyncWriteThatTimedOutAndLandedLeavesNoStaleCopy) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  RemoteSet("k", "old");
  ASSERT_EQ(a.Get("k"), "old");
  ASSERT_TRUE(server_.SleepFor(0.2));  // below the command timeout: no loss
  EXPECT_EQ(cache_redis_set_sync(a.redis, "k", 1, "new", 3, CACHE_TTL_NONE, 20),
            CACHE_E_TIMEOUT);
  server_.WaitAwake();
  ASSERT_EQ(cache_redis_flush(a.redis, 10000), CACHE_OK);
  ASSERT_EQ(Str(server_.Cmd({"GET", "c:k"})), "new");
  EXPECT_EQ(a.Get("k"), "new") << "resets " << a.Stats().tracking_resets;
}

// A waiting cache_touch (an EXPIRE: it carries no value) must not keep the
// local value over a remote write: in Redis the remote value stays (the
// EXPIRE only moves its TTL), so the local copy would be stale for good.
TEST_F(CoherenceTest, AWaitingTouchDoesNotKeepTheLocalValueOverARemoteWrite) {
  Options o = Opt();
  o.flush_interval_ms = 60000;
  Adapter a;
  ASSERT_TRUE(Attach(o, &a));
  RemoteSet("k", "old");
  ASSERT_EQ(a.Get("k"), "old");
  ASSERT_EQ(cache_touch(a.cache, "k", 1, 90000), CACHE_OK);
  RemoteSet("k", "new");
  ASSERT_TRUE(Eventually([&] { return a.Stats().invalidation_messages >= 1; }));
  ASSERT_EQ(cache_redis_flush(a.redis, 10000), CACHE_OK);
  EXPECT_EQ(Str(server_.Cmd({"GET", "c:k"})), "new");
  EXPECT_EQ(a.Get("k"), "new");
}

// The read/invalidation race, made to happen: the load's reply is held by a
// proxy after Redis ran it (the old value is in the proxy), another client
// writes the key, its invalidation arrives, then the reply is released. The
// late value must not be kept: neither this read nor any later one returns
// it.
TEST_F(CoherenceTest, ALoadReplyDelayedBehindAnInvalidationIsNotKept) {
  TcpProxy proxy(server_.port());
  Options o = Opt();
  o.url = "redis://127.0.0.1:" + std::to_string(proxy.port());
  o.read_timeout_ms = 10000;
  Adapter a;
  ASSERT_TRUE(Attach(o, &a));
  RemoteSet("r", "old");
  ASSERT_EQ(a.Get("warm"), "<absent>");  // a load connection, idle in the pool now
  std::string load_port;
  for (const std::string &l : Clients(server_)) {
    if (FieldOf(l, "cmd") == "exec") {
      std::string addr = FieldOf(l, "addr");
      load_port = addr.substr(addr.rfind(':') + 1);
    }
  }
  ASSERT_NE(load_port, "");
  proxy.HoldReplies(std::stoi(load_port));
  std::string got;
  std::thread reader([&] { got = a.Get("r"); });
  // Redis ran the load: its reply, with the old value, waits in the proxy.
  bool held = Eventually([&] { return proxy.HeldReplies().find("old") != std::string::npos; });
  uint64_t before = a.Stats().link.invalidations;
  if (held) RemoteSet("r", "new");
  bool invalidated = Eventually([&] { return a.Stats().link.invalidations > before; });
  proxy.ReleaseReplies();
  reader.join();
  ASSERT_TRUE(held);
  ASSERT_TRUE(invalidated);
  EXPECT_NE(got, "old");
  EXPECT_EQ(a.Get("r"), "new");
  EXPECT_EQ(a.Get("r"), "new");
  EXPECT_GE(a.Stats().link.fills_refused, 1u);
}

struct Replies {
  std::vector<int> types;
  std::vector<std::string> strs;
  std::vector<int64_t> ints;
};
void OnReply(void *ctx, int type, const char *str, size_t len, int64_t integer) {
  auto *r = static_cast<Replies *>(ctx);
  r->types.push_back(type);
  r->strs.emplace_back(str == nullptr ? "" : std::string(str, len));
  r->ints.push_back(integer);
}
int Command(cache_redis_t *r, const std::vector<std::string> &args, Replies *out) {
  std::vector<const void *> argv;
  std::vector<size_t> lens;
  for (const std::string &a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  return cache_redis_command(r, static_cast<int>(args.size()), argv.data(), lens.data(), 0,
                             OnReply, out);
}

TEST_F(CoherenceTest, CommandRunsOneCommandAndItsWritesInvalidateHereToo) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  RemoteSet("k", "v1");
  ASSERT_EQ(a.Get("k"), "v1");
  Replies r;
  ASSERT_EQ(Command(a.redis, {"SET", "c:k", "v2"}, &r), CACHE_OK);
  ASSERT_EQ(Command(a.redis, {"INCR", "c:n"}, &r), CACHE_OK);
  ASSERT_EQ(Command(a.redis, {"GET", "c:absent"}, &r), CACHE_OK);
  ASSERT_EQ(Command(a.redis, {"MGET", "c:k", "c:n", "c:absent"}, &r), CACHE_OK);
  ASSERT_EQ(Command(a.redis, {"GET", "c:k"}, &r), CACHE_OK);
  ASSERT_EQ(Command(a.redis, {"NOSUCHCOMMAND"}, &r), CACHE_OK);  // an error reply is a reply
  ASSERT_EQ(r.types.size(), 6u);
  EXPECT_EQ(r.types[0], CACHE_REDIS_REPLY_STATUS);
  EXPECT_EQ(r.strs[0], "OK");
  EXPECT_EQ(r.types[1], CACHE_REDIS_REPLY_INTEGER);
  EXPECT_EQ(r.ints[1], 1);
  EXPECT_EQ(r.types[2], CACHE_REDIS_REPLY_NIL);
  EXPECT_EQ(r.types[3], CACHE_REDIS_REPLY_ARRAY);
  EXPECT_EQ(r.ints[3], 3);
  EXPECT_EQ(r.types[4], CACHE_REDIS_REPLY_STRING);
  EXPECT_EQ(r.strs[4], "v2");
  EXPECT_EQ(r.types[5], CACHE_REDIS_REPLY_ERROR);
  EXPECT_EQ(r.strs[5].rfind("ERR", 0), 0u) << r.strs[5];
  // Its write is another client's for tracking: the local copy goes.
  EXPECT_TRUE(Eventually([&] { return a.Get("k") == "v2"; }));
  // Commands that would change a shared connection's state are refused.
  for (const std::vector<std::string> &bad :
       {std::vector<std::string>{"SUBSCRIBE", "x"}, {"select", "1"}, {"MULTI"},
        {"client", "tracking", "on"}}) {
    EXPECT_EQ(Command(a.redis, bad, &r), CACHE_E_INVALID) << bad[0];
  }
  EXPECT_EQ(cache_redis_command(a.redis, 0, nullptr, nullptr, 0, OnReply, &r), CACHE_E_INVALID);
  EXPECT_EQ(r.types.size(), 6u);
}

TEST_F(CoherenceTest, CommandWithRedisPausedTimesOut) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  server_.Pause();
  Replies r;
  std::vector<std::string> args = {"GET", "c:k"};
  const void *argv[] = {args[0].data(), args[1].data()};
  size_t lens[] = {args[0].size(), args[1].size()};
  int rc = cache_redis_command(a.redis, 2, argv, lens, 200, OnReply, &r);
  server_.Resume();
  EXPECT_EQ(rc, CACHE_E_TIMEOUT);
  EXPECT_TRUE(r.types.empty());
  EXPECT_EQ(Command(a.redis, {"PING"}, &r), CACHE_OK);  // a new connection
  EXPECT_EQ(r.strs.back(), "PONG");
}

TEST_F(CoherenceTest, AttachFailsClearlyWhenTheAclForbidsTracking) {
  ASSERT_EQ(Str(server_.Cmd({"ACL", "SETUSER", "notrack", "on", ">pw", "~*",
                             "&__redis__:invalidate", "+@all", "-client|tracking"})),
            "OK");
  ASSERT_EQ(Str(server_.Cmd({"ACL", "SETUSER", "nochannel", "on", ">pw", "~*", "resetchannels",
                             "+@all"})),
            "OK");
  Options o = Opt();
  o.url = "redis://notrack:pw@127.0.0.1:" + std::to_string(server_.port());
  Adapter a;
  EXPECT_EQ(AttachRaw(o, &a), CACHE_E_IO);
  EXPECT_NE(std::string(cache_redis_errmsg()).find("client|tracking"), std::string::npos)
      << cache_redis_errmsg();
  EXPECT_EQ(std::string(cache_redis_errmsg()).find("pw"), std::string::npos);
  o.url = "redis://nochannel:pw@127.0.0.1:" + std::to_string(server_.port());
  EXPECT_EQ(AttachRaw(o, &a), CACHE_E_IO);
  EXPECT_NE(std::string(cache_redis_errmsg()).find("&__redis__:invalidate"), std::string::npos)
      << cache_redis_errmsg();
  o.coherence = false;  // a process that only writes needs none of it
  EXPECT_EQ(AttachRaw(o, &a), CACHE_OK) << cache_redis_errmsg();
}

TEST_F(CoherenceTest, OptionsAreChecked) {
  cache_redis_options_t *ro = cache_redis_options_new();
  EXPECT_EQ(cache_redis_options_set_coherence(ro, 1, 0), CACHE_E_INVALID);
  EXPECT_EQ(cache_redis_options_set_coherence(ro, 1, -5), CACHE_E_INVALID);
  EXPECT_EQ(cache_redis_options_set_coherence(nullptr, 1, 100), CACHE_E_INVALID);
  EXPECT_EQ(cache_redis_options_set_coherence(ro, 0, 100), CACHE_OK);
  cache_redis_options_free(ro);
}

// Closing never waits for the coherence thread's retries: Redis gone for
// good, the thread in its backoff or a connect.
TEST_F(CoherenceTest, CloseWithRedisGoneReturns) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  server_.Kill9();
  ASSERT_TRUE(Eventually([&] { return a.Stats().tracking_resets == 1; }));
  uint64_t unflushed = 0;
  EXPECT_EQ(cache_redis_close(a.redis, 0, &unflushed), CACHE_OK);
  a.redis = nullptr;
}

TEST_F(CoherenceTest, CloseWithRedisPausedReturns) {
  Adapter a;
  ASSERT_TRUE(Attach(Opt(), &a));
  server_.Pause();
  ASSERT_TRUE(Eventually([&] { return a.Stats().tracking_resets == 1; }));
  cache_close(a.cache);  // the thread is in a re-establish waiting for Redis
  a.cache = nullptr;
  server_.Resume();
}

}  // namespace
