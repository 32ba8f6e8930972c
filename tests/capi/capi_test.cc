#include "libcache/cache.h"

#include <gtest/gtest.h>

TEST(Smoke, SetGet) {
  cache_t *c = nullptr;
  ASSERT_EQ(cache_open(nullptr, &c), CACHE_OK);
  ASSERT_EQ(cache_set(c, "k", 1, "v", 1, CACHE_TTL_DEFAULT), CACHE_OK);
  char buf[8];
  size_t n = 0;
  ASSERT_EQ(cache_get(c, "k", 1, buf, sizeof buf, &n), CACHE_OK);
  EXPECT_EQ(n, 1u);
  cache_close(c);
}
