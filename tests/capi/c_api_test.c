/* The C ABI from C: compiled as C99 (-std=c99 -pedantic -Werror) against
 * <libcache/cache.h> and <libcache/cache_experimental.h>, linked to the shared
 * library. Prints "N passed, M failed" and exits non-zero on any failure. */

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "libcache/cache.h"
#include "libcache/cache_experimental.h"
#include "libcache/cache_object.h"

static int passed = 0;
static int failed = 0;

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (cond) {                                                                \
      ++passed;                                                                \
    } else {                                                                   \
      ++failed;                                                                \
      fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
    }                                                                          \
  } while (0)

#define CHECK_RC(expr, want)                                                                   \
  do {                                                                                         \
    int rc_ = (expr);                                                                          \
    if (rc_ == (want)) {                                                                       \
      ++passed;                                                                                \
    } else {                                                                                   \
      ++failed;                                                                                \
      fprintf(stderr, "%s:%d: %s returned %d (%s), want %d\n", __FILE__, __LINE__, #expr, rc_, \
              cache_strerror(rc_), (int)(want));                                               \
    }                                                                                          \
  } while (0)

/* A clock the test moves by hand. */
static uint64_t fake_now = 5000;
static uint64_t fake_clock(void *ctx) { return *(const uint64_t *)ctx; }

static cache_stats_t stats_of(cache_t *c) {
  cache_stats_t s;
  memset(&s, 0, sizeof s);
  CHECK_RC(cache_stats(c, &s, sizeof s), CACHE_OK);
  return s;
}

static cache_t *open_cache(uint64_t max_bytes, uint64_t max_entries, uint32_t shards,
                           uint64_t default_ttl) {
  cache_options_t *opt = cache_options_new();
  cache_t *c = NULL;
  CHECK(opt != NULL);
  CHECK_RC(cache_options_set_max_bytes(opt, max_bytes), CACHE_OK);
  CHECK_RC(cache_options_set_max_entries(opt, max_entries), CACHE_OK);
  CHECK_RC(cache_options_set_shards(opt, shards), CACHE_OK);
  CHECK_RC(cache_options_set_default_ttl_ms(opt, default_ttl), CACHE_OK);
  CHECK_RC(cache_options_set_clock(opt, fake_clock, &fake_now), CACHE_OK);
  CHECK_RC(cache_open(opt, &c), CACHE_OK);
  cache_options_free(opt);
  return c;
}

static void test_version_and_status(void) {
  char want[32];
  unsigned major = 0, minor = 0, patch = 0;
  char end = 0;
  sprintf(want, "%d.%d.%d", CACHE_VERSION_MAJOR, CACHE_VERSION_MINOR, CACHE_VERSION_PATCH);
  /* The header's string, its numbers and the loaded library all agree. */
  CHECK(strcmp(CACHE_VERSION_STRING, want) == 0);
  CHECK(sscanf(CACHE_VERSION_STRING, "%u.%u.%u%c", &major, &minor, &patch, &end) == 3);
  CHECK(major * 10000 + minor * 100 + patch == CACHE_VERSION_NUMBER);
  CHECK(cache_version_number() == CACHE_VERSION_NUMBER);
  CHECK(strcmp(cache_version_string(), CACHE_VERSION_STRING) == 0);
#if defined(LIBCACHE_TEST_PROJECT_VERSION)
  /* ... and with project(VERSION) in CMakeLists.txt (libcache.pc, the config file). */
  CHECK(strcmp(CACHE_VERSION_STRING, LIBCACHE_TEST_PROJECT_VERSION) == 0);
#endif
  CHECK(strcmp(cache_strerror(CACHE_OK), "ok") == 0);
  CHECK(strcmp(cache_strerror(CACHE_E_INVALID), cache_strerror(CACHE_E_NOMEM)) != 0);
  CHECK(strcmp(cache_strerror(12345), "unknown libcache status") == 0);
  CHECK(strcmp(cache_strerror(INT_MIN), "unknown libcache status") == 0);
  CHECK(strcmp(cache_strerror(CACHE_E_CLOSED), "unknown libcache status") != 0);
  CHECK(strcmp(cache_allocator_name(), "mimalloc") == 0 ||
        strcmp(cache_allocator_name(), "libc") == 0);
}

static void test_options_and_open(void) {
  cache_options_t *opt = cache_options_new();
  cache_t *c = NULL;
  CHECK_RC(cache_options_set_shards(opt, 3), CACHE_E_INVALID);
  CHECK_RC(cache_options_set_shards(opt, 2048), CACHE_E_INVALID);
  CHECK_RC(cache_options_set_shards(opt, 1024), CACHE_OK);
  CHECK_RC(cache_options_set_shards(NULL, 4), CACHE_E_INVALID);
  CHECK_RC(cache_options_set_max_bytes(NULL, 1), CACHE_E_INVALID);
  CHECK_RC(cache_options_set_max_entries(NULL, 1), CACHE_E_INVALID);
  CHECK_RC(cache_options_set_default_ttl_ms(NULL, 1), CACHE_E_INVALID);
  CHECK_RC(cache_options_set_clock(NULL, fake_clock, NULL), CACHE_E_INVALID);
  CHECK_RC(cache_options_set_hash_seed(NULL, 1), CACHE_E_INVALID);
  CHECK_RC(cache_options_set_max_bytes(opt, 0), CACHE_OK);
  CHECK_RC(cache_open(opt, &c), CACHE_E_INVALID); /* both bounds 0 */
  CHECK_RC(cache_options_set_max_entries(opt, 1023), CACHE_OK);
  CHECK_RC(cache_open(opt, &c), CACHE_E_INVALID); /* fewer entries than shards */
  CHECK_RC(cache_options_set_max_entries(opt, 1024), CACHE_OK);
  /* The eviction policy (since 1.6): an unknown one or NULL options refused. */
  CHECK_RC(cache_options_set_policy(opt, CACHE_POLICY_ADAPTIVE), CACHE_OK);
  CHECK_RC(cache_options_set_policy(opt, 2), CACHE_E_INVALID);
  CHECK_RC(cache_options_set_policy(NULL, CACHE_POLICY_CLOCK), CACHE_E_INVALID);
  CHECK_RC(cache_open(opt, &c), CACHE_OK);
  CHECK(cache_shard_count(c) == 1024);
  CHECK_RC(cache_set(c, "k", 1, "v", 1, CACHE_TTL_NONE), CACHE_OK);
  {
    char got[4];
    size_t got_len = 0;
    CHECK_RC(cache_get(c, "k", 1, got, sizeof got, &got_len), CACHE_OK);
    CHECK(got_len == 1 && got[0] == 'v');
  }
  cache_close(c);
  CHECK_RC(cache_open(opt, NULL), CACHE_E_INVALID);
  cache_options_free(opt);
  CHECK_RC(cache_open(NULL, &c), CACHE_OK);
  CHECK(c != NULL && cache_shard_count(c) >= 1);
  cache_close(c);
  cache_options_free(NULL);
  cache_close(NULL);
  cache_value_release(NULL);
}

static void test_reads_and_writes(void) {
  cache_t *c = open_cache(1u << 20, 0, 1, 0);
  char buf[32];
  size_t n = 0;
  cache_value_t *v = NULL;
  cache_stats_t s;
  CHECK_RC(cache_set(c, "k", 1, "v1", 2, CACHE_TTL_NONE), CACHE_OK);
  CHECK_RC(cache_add(c, "k", 1, "v2", 2, CACHE_TTL_NONE), CACHE_EXISTS);
  CHECK_RC(cache_replace(c, "absent", 6, "v", 1, CACHE_TTL_NONE), CACHE_NOT_FOUND);
  CHECK_RC(cache_get(c, "k", 1, buf, sizeof buf, &n), CACHE_OK);
  CHECK(n == 2 && memcmp(buf, "v1", 2) == 0);
  CHECK_RC(cache_replace(c, "k", 1, "value-three", 11, CACHE_TTL_NONE), CACHE_OK);
  memset(buf, '#', sizeof buf);
  CHECK_RC(cache_get(c, "k", 1, buf, 10, &n), CACHE_E_BUFFER_TOO_SMALL);
  CHECK(n == 11 && buf[0] == '#');
  CHECK_RC(cache_get(c, "k", 1, NULL, 0, NULL), CACHE_E_BUFFER_TOO_SMALL);
  CHECK_RC(cache_get(c, "k", 1, buf, 11, NULL), CACHE_OK);
  CHECK(memcmp(buf, "value-three", 11) == 0);
  /* Binary keys: bytes after a NUL matter. */
  CHECK_RC(cache_set(c, "a\0b", 3, "x\0y", 3, CACHE_TTL_NONE), CACHE_OK);
  CHECK_RC(cache_get(c, "a\0c", 3, buf, sizeof buf, &n), CACHE_NOT_FOUND);
  CHECK_RC(cache_get(c, "a", 1, buf, sizeof buf, &n), CACHE_NOT_FOUND);
  CHECK_RC(cache_get(c, "a\0b", 3, buf, sizeof buf, &n), CACHE_OK);
  CHECK(n == 3 && memcmp(buf, "x\0y", 3) == 0);
  /* Empty key, empty value. */
  CHECK_RC(cache_set(c, NULL, 0, NULL, 0, CACHE_TTL_NONE), CACHE_OK);
  n = 99;
  CHECK_RC(cache_get(c, "", 0, NULL, 0, &n), CACHE_OK);
  CHECK(n == 0);
  /* Pinned values. */
  CHECK_RC(cache_get_value(c, "k", 1, &v), CACHE_OK);
  CHECK(v != NULL && cache_value_size(v) == 11);
  CHECK_RC(cache_delete(c, "k", 1), CACHE_OK);
  CHECK(v != NULL && memcmp(cache_value_data(v), "value-three", 11) == 0);
  cache_value_release(v);
  CHECK_RC(cache_get_value(c, "k", 1, &v), CACHE_NOT_FOUND);
  CHECK_RC(cache_delete(c, "k", 1), CACHE_NOT_FOUND);
  /* Take: read and delete as one operation. */
  CHECK_RC(cache_set(c, "t", 1, "taken", 5, CACHE_TTL_NONE), CACHE_OK);
  CHECK_RC(cache_take(c, "t", 1, &v), CACHE_OK);
  CHECK(v != NULL && cache_value_size(v) == 5 && memcmp(cache_value_data(v), "taken", 5) == 0);
  cache_value_release(v);
  CHECK_RC(cache_take(c, "t", 1, &v), CACHE_NOT_FOUND);
  CHECK(v == NULL);
  s = stats_of(c);
  CHECK(s.sets == 5 && s.deletes == 2 && s.entries == 2 && s.evictions == 0);
  CHECK_RC(cache_clear(c), CACHE_OK);
  CHECK(stats_of(c).entries == 0);
  cache_close(c);
}

static void test_value_handles(void) {
  cache_t *c = open_cache(1u << 20, 0, 1, 0);
  cache_value_t *v = NULL;
  /* A NULL handle: no bytes, no length, release is a no-op. */
  CHECK(cache_value_data(NULL) == NULL);
  CHECK(cache_value_size(NULL) == 0);
  cache_value_release(NULL);
  /* An empty value still has a non-NULL data pointer. */
  CHECK_RC(cache_set(c, "empty", 5, NULL, 0, CACHE_TTL_NONE), CACHE_OK);
  CHECK_RC(cache_get_value(c, "empty", 5, &v), CACHE_OK);
  CHECK(v != NULL && cache_value_data(v) != NULL && cache_value_size(v) == 0);
  cache_value_release(v);
  cache_close(c);
}

static void test_invalid_arguments(void) {
  cache_t *c = open_cache(1u << 20, 0, 1, 0);
  char buf[8];
  size_t n;
  int64_t ttl;
  cache_value_t *v = NULL;
  cache_stats_t before, after;
  CHECK_RC(cache_set(c, "k", 1, "v", 1, CACHE_TTL_NONE), CACHE_OK);
  before = stats_of(c);
  CHECK_RC(cache_set(NULL, "k", 1, "v", 1, 0), CACHE_E_INVALID);
  CHECK_RC(cache_set(c, NULL, 1, "v", 1, 0), CACHE_E_INVALID);
  CHECK_RC(cache_set(c, "k", 1, NULL, 1, 0), CACHE_E_INVALID);
  CHECK_RC(cache_set(c, "k", 1, "w", 1, -2), CACHE_E_INVALID);
  CHECK_RC(cache_add(c, "n", 1, "w", 1, -5), CACHE_E_INVALID);
  CHECK_RC(cache_replace(c, "k", 1, "w", 1, INT64_MIN), CACHE_E_INVALID);
  CHECK_RC(cache_get(NULL, "k", 1, buf, sizeof buf, &n), CACHE_E_INVALID);
  CHECK_RC(cache_get(c, NULL, 1, buf, sizeof buf, &n), CACHE_E_INVALID);
  CHECK_RC(cache_get(c, "k", 1, NULL, 8, &n), CACHE_E_INVALID);
  CHECK_RC(cache_get_value(c, "k", 1, NULL), CACHE_E_INVALID);
  CHECK_RC(cache_get_value(NULL, "k", 1, &v), CACHE_E_INVALID);
  CHECK_RC(cache_delete(c, NULL, 1), CACHE_E_INVALID);
  CHECK_RC(cache_touch(c, "k", 1, -2), CACHE_E_INVALID);
  CHECK_RC(cache_ttl(c, "k", 1, NULL), CACHE_E_INVALID);
  CHECK_RC(cache_clear(NULL), CACHE_E_INVALID);
  CHECK_RC(cache_purge_expired(NULL, NULL), CACHE_E_INVALID);
  CHECK_RC(cache_stats(c, NULL, sizeof after), CACHE_E_INVALID);
  after = stats_of(c);
  CHECK(memcmp(&before, &after, sizeof before) == 0);
  CHECK_RC(cache_get(c, "k", 1, buf, sizeof buf, &n), CACHE_OK);
  CHECK(n == 1 && buf[0] == 'v');
  CHECK_RC(cache_ttl(c, "k", 1, &ttl), CACHE_OK);
  CHECK(ttl == -1);
  cache_close(c);
}

static void test_ttl(void) {
  cache_t *c = open_cache(1u << 20, 0, 1, 300);
  char buf[8];
  int64_t ttl = 0;
  uint64_t reclaimed = 0;
  fake_now = 5000;
  CHECK_RC(cache_set(c, "d", 1, "v", 1, CACHE_TTL_DEFAULT), CACHE_OK);
  CHECK_RC(cache_set(c, "n", 1, "v", 1, CACHE_TTL_NONE), CACHE_OK);
  CHECK_RC(cache_set(c, "e", 1, "v", 1, 100), CACHE_OK);
  CHECK_RC(cache_ttl(c, "d", 1, &ttl), CACHE_OK);
  CHECK(ttl == 300);
  CHECK_RC(cache_ttl(c, "n", 1, &ttl), CACHE_OK);
  CHECK(ttl == -1);
  fake_now += 99;
  CHECK_RC(cache_get(c, "e", 1, buf, sizeof buf, NULL), CACHE_OK);
  fake_now += 1;
  CHECK_RC(cache_get(c, "e", 1, buf, sizeof buf, NULL), CACHE_NOT_FOUND);
  CHECK_RC(cache_add(c, "e", 1, "w", 1, 50), CACHE_OK);
  CHECK_RC(cache_touch(c, "d", 1, 1000), CACHE_OK); /* sliding */
  fake_now += 999;
  CHECK_RC(cache_get(c, "d", 1, buf, sizeof buf, NULL), CACHE_OK);
  CHECK_RC(cache_purge_expired(c, &reclaimed), CACHE_OK);
  CHECK(reclaimed == 1); /* "e", added again with 50 ms */
  fake_now += 1;
  CHECK_RC(cache_touch(c, "d", 1, CACHE_TTL_NONE), CACHE_NOT_FOUND);
  CHECK(stats_of(c).expirations == 3);
  CHECK(stats_of(c).entries == 1);
  cache_close(c);
}

static void test_stats_short_copy(void) {
  cache_t *c = open_cache(1u << 20, 0, 1, 0);
  unsigned char raw[sizeof(cache_stats_t) + 8];
  size_t i;
  int untouched = 1;
  CHECK_RC(cache_set(c, "k", 1, "v", 1, CACHE_TTL_NONE), CACHE_OK);
  memset(raw, 0x5A, sizeof raw);
  /* An older caller that knew only hits, misses and sets. */
  CHECK_RC(cache_stats(c, (cache_stats_t *)(void *)raw, 3 * sizeof(uint64_t)), CACHE_OK);
  for (i = 3 * sizeof(uint64_t); i < sizeof raw; ++i) untouched &= raw[i] == 0x5A;
  CHECK(untouched);
  CHECK(((const cache_stats_t *)(const void *)raw)->sets == 1);
  cache_close(c);
}

static void test_eviction(void) {
  cache_t *c = open_cache(0, 64, 1, 0);
  char key[16];
  int i;
  cache_stats_t s;
  for (i = 0; i < 1000; ++i) {
    sprintf(key, "k%d", i);
    CHECK_RC(cache_set(c, key, strlen(key), "v", 1, CACHE_TTL_NONE), CACHE_OK);
  }
  s = stats_of(c);
  CHECK(s.entries == 64);
  CHECK(s.evictions == 1000 - 64);
  CHECK(s.sets - s.evictions == s.entries);
  CHECK_RC(cache_get(c, "k999", 4, NULL, 0, NULL), CACHE_E_BUFFER_TOO_SMALL);
  CHECK_RC(cache_get(c, "k0", 2, NULL, 0, NULL), CACHE_NOT_FOUND);
  cache_close(c);
}

/* Objects by reference (<libcache/cache_object.h>), from C: a counted
 * object, a bytes call meeting it, and its one release. */
struct counted {
  int refs;
};
static int releases = 0;
static void retain_counted(void *ctx, void *obj) {
  (void)ctx;
  ((struct counted *)obj)->refs++;
}
static void release_counted(void *ctx, void *obj) {
  (void)ctx;
  ((struct counted *)obj)->refs--;
  releases++;
}

static void test_objects(void) {
  struct counted a = {1};
  cache_options_t *opt = cache_options_new();
  cache_t *c = NULL;
  void *obj = NULL;
  cache_value_t *bytes = NULL;
  char buf[16];
  size_t n = 0;
  CHECK(opt != NULL);
  CHECK_RC(cache_options_set_object_hooks(opt, retain_counted, release_counted, NULL), CACHE_OK);
  CHECK_RC(cache_open(opt, &c), CACHE_OK);
  cache_options_free(opt);
  a.refs++; /* the cache's */
  CHECK_RC(cache_set_object(c, "k", 1, &a, 64, NULL, 0, CACHE_TTL_NONE, CACHE_WRITE_SET), CACHE_OK);
  CHECK_RC(cache_get_object(c, "k", 1, 0, &obj, &bytes), CACHE_OK);
  CHECK(obj == &a && bytes == NULL && a.refs == 3);
  a.refs--;
  CHECK_RC(cache_get(c, "k", 1, buf, sizeof buf, &n), CACHE_E_WRONG_KIND);
  CHECK(strcmp(cache_strerror(CACHE_E_WRONG_KIND), "unknown libcache status") != 0);
  CHECK(stats_of(c).hits == 1);
  CHECK_RC(cache_delete(c, "k", 1), CACHE_OK);
  CHECK(a.refs == 1 && releases == 1);
  cache_close(c);
}

int main(void) {
  test_version_and_status();
  test_options_and_open();
  test_reads_and_writes();
  test_value_handles();
  test_invalid_arguments();
  test_ttl();
  test_stats_short_copy();
  test_eviction();
  test_objects();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
