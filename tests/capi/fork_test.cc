// fork() while other threads are inside the cache: the child must get a
// working cache (core/src/fork.h takes every shard lock across fork).

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "libcache/cache.h"

namespace {

// In the child: touch every shard (many keys), then exit 0; a lock copied in
// the held state would hang here, and the alarm turns that into a failure.
[[noreturn]] void ChildUsesCache(cache_t *c) {
  alarm(10);
  for (int i = 0; i < 4096; ++i) {
    const std::string k = "child:" + std::to_string(i);
    if (cache_set(c, k.data(), k.size(), "v", 1, CACHE_TTL_NONE) != CACHE_OK) _exit(2);
    char buf[4];
    size_t n = 0;
    if (cache_get(c, k.data(), k.size(), buf, sizeof buf, &n) != CACHE_OK || n != 1) _exit(3);
  }
  cache_stats_t st;
  if (cache_stats(c, &st, sizeof st) != CACHE_OK) _exit(4);
  _exit(0);
}

TEST(Fork, ChildGetsAWorkingCacheWhileOtherThreadsHoldShardLocks) {
#if defined(LIBCACHE_TEST_TSAN)
  GTEST_SKIP() << "ThreadSanitizer does not support fork() with running threads";
#endif
  cache_options_t *opt = cache_options_new();
  cache_options_set_max_entries(opt, 2048);
  cache_options_set_max_bytes(opt, 0);
  cache_options_set_shards(opt, 4);  // few shards: the busy threads hold them often
  cache_t *c = nullptr;
  ASSERT_EQ(cache_open(opt, &c), CACHE_OK);
  cache_options_free(opt);

  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int t = 0; t < 2; ++t) {
    busy.emplace_back([&, t] {
      std::string v(200, 'x');
      for (uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const std::string k = std::to_string(t) + ":" + std::to_string(i % 10000);
        cache_set(c, k.data(), k.size(), v.data(), v.size(), CACHE_TTL_NONE);  // evicts
        char buf[256];
        size_t n;
        cache_get(c, k.data(), k.size(), buf, sizeof buf, &n);
      }
    });
  }
  for (int round = 0; round < 50; ++round) {
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) ChildUsesCache(c);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status)) << "child died or hung (signal " << WTERMSIG(status) << ")";
    ASSERT_EQ(WEXITSTATUS(status), 0);
  }
  stop = true;
  for (auto &t : busy) t.join();
  // The parent's cache still works and kept its bounds.
  cache_stats_t st;
  ASSERT_EQ(cache_stats(c, &st, sizeof st), CACHE_OK);
  EXPECT_LE(st.entries, 2048u);
  EXPECT_GT(st.evictions, 0u);
  cache_close(c);
}

}  // namespace
