/* A C consumer of the public headers (also compiled by consumer_test.sh with
 * the flags pkg-config gives). Exits 0 when the library works. */
#include <libcache/cache.h>
#include <libcache/cache_experimental.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  if (cache_version_number() != CACHE_VERSION_NUMBER) {
    fprintf(stderr, "header %d, library %u\n", CACHE_VERSION_NUMBER, cache_version_number());
    return 1;
  }
  cache_options_t *opts = cache_options_new();
  cache_options_set_max_bytes(opts, 1u << 20);
  cache_t *c = NULL;
  int rc = cache_open(opts, &c);
  cache_options_free(opts);
  if (rc != CACHE_OK) {
    fprintf(stderr, "cache_open: %s\n", cache_strerror(rc));
    return 1;
  }
  char buf[16];
  size_t n = 0;
  rc = cache_set(c, "greeting", 8, "hello", 5, CACHE_TTL_NONE);
  if (rc == CACHE_OK) rc = cache_get(c, "greeting", 8, buf, sizeof buf, &n);
  cache_close(c);
  if (rc != CACHE_OK || n != 5 || memcmp(buf, "hello", 5) != 0) {
    fprintf(stderr, "set/get failed: %s\n", cache_strerror(rc));
    return 1;
  }
  printf("C consumer ok: libcache %s (%s)\n", cache_version_string(), cache_allocator_name());
  return 0;
}
