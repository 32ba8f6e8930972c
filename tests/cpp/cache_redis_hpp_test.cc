// <libcache/cache_redis.hpp>: libcache::RedisStore against a real
// redis-server on a free port (tests/redis/redis_server.h starts one per
// test): attach, write-behind reaching Redis, read-through, flush, stats,
// close, and the errors of a bad URL, an unreachable server and a second
// attach.
#include <gtest/gtest.h>
#include <libcache/cache_redis.hpp>

#include <chrono>
#include <string>
#include <system_error>
#include <utility>

#include "tests/redis/redis_server.h"

namespace {

using namespace std::chrono_literals;
using libcache::Cache;
using libcache::errc;
using libcache::RedisOptions;
using libcache::RedisStore;
using libcache_test::RedisServer;

std::string Get(RedisServer &server, const std::string &key) {
  libcache_test::Reply r = server.Cmd({"GET", key});
  if (r == nullptr) return "<no reply>";
  if (r->type == REDIS_REPLY_NIL) return "<nil>";
  return std::string(r->str, r->len);
}

class CacheHppRedisTest : public testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }
  RedisServer server_;
};

TEST_F(CacheHppRedisTest, WritesReachRedisAndMissesReadThrough) {
  Cache cache = Cache::Open();
  RedisStore redis = RedisStore::Attach(cache, server_.url(), std::move(RedisOptions().prefix("cpp:")));
  ASSERT_TRUE(redis.is_open());
  cache.set("k", "v", 60s);
  redis.flush(5s);
  EXPECT_EQ(Get(server_, "cpp:k"), "v");
  ASSERT_NE(server_.Cmd({"SET", "cpp:remote", "from redis"}), nullptr);
  EXPECT_EQ(cache.get("remote"), "from redis");  // a local miss reads through
  cache.erase("k");
  redis.flush(5s);
  EXPECT_EQ(Get(server_, "cpp:k"), "<nil>");
  const libcache::RedisStats s = redis.stats();
  EXPECT_GE(s.link.flushed_ops, 2u);
  EXPECT_GE(s.connects, 1u);
  EXPECT_EQ(redis.close(5s), 0u);
  EXPECT_FALSE(redis.is_open());
  EXPECT_EQ(redis.close(5s), 0u);  // closing again is a no-op
  cache.set("after", "close");     // the cache goes on without Redis
  EXPECT_EQ(cache.get("after"), "close");
}

TEST_F(CacheHppRedisTest, CacheCloseClosesTheAdapter) {
  Cache cache = Cache::Open();
  RedisStore redis = RedisStore::Attach(cache, server_.url());
  cache.set("k", "v");
  redis.flush(5s);
  RedisStore moved(std::move(redis));
  EXPECT_FALSE(redis.is_open());  // NOLINT(bugprone-use-after-move)
  EXPECT_TRUE(moved.is_open());
  cache.close();  // closes the adapter too; the handle must not be used after
  EXPECT_EQ(Get(server_, "k"), "v");
}

TEST_F(CacheHppRedisTest, Errors) {
  Cache cache = Cache::Open();
  std::error_code ec;
  RedisStore bad = RedisStore::Attach(cache, "http://nope", RedisOptions(), ec);
  EXPECT_EQ(ec, errc::invalid);
  EXPECT_FALSE(bad.is_open());
  try {
    RedisStore::Attach(cache, "redis://127.0.0.1:1/0",
                       std::move(RedisOptions().timeouts(200ms, 200ms)));
    FAIL() << "attached to a closed port";
  } catch (const libcache::Error &e) {
    EXPECT_EQ(e.code(), errc::io);
    EXPECT_GT(std::string(e.what()).size(), std::string("libcache::RedisStore::Attach").size())
        << "what() should say why: " << e.what();
  }
  RedisStore bad_option = RedisStore::Attach(cache, server_.url(),
                                             std::move(RedisOptions().timeouts(0ms, 0ms)), ec);
  EXPECT_EQ(ec, errc::invalid);
  RedisStore first = RedisStore::Attach(cache, server_.url());
  RedisStore second = RedisStore::Attach(cache, server_.url(), RedisOptions(), ec);
  EXPECT_EQ(ec, errc::exists);
  EXPECT_FALSE(second.is_open());
  EXPECT_TRUE(first.is_open());
}

}  // namespace
