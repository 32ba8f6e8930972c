/* A C consumer of the Redis adapter (<libcache/cache_redis.h>), built through
 * find_package(libcache COMPONENTS redis), add_subdirectory and
 * pkg-config libcache-redis. Needs no Redis: it checks that both libraries
 * link and answer (a bad URL is refused with a message; attaching to a port
 * where nothing listens fails with CACHE_E_IO). Exits 0 when they do. */
#include <libcache/cache.h>
#include <libcache/cache_redis.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  cache_redis_options_t *ro = cache_redis_options_new();
  if (ro == NULL) return 1;
  int rc = cache_redis_options_set_url(ro, "http://127.0.0.1");
  if (rc != CACHE_E_INVALID || strstr(cache_redis_errmsg(), "redis://") == NULL) {
    fprintf(stderr, "a bad URL: %s, '%s'\n", cache_strerror(rc), cache_redis_errmsg());
    return 1;
  }
  if (cache_redis_options_set_url(ro, "redis://127.0.0.1:1/0") != CACHE_OK ||
      cache_redis_options_set_timeouts(ro, 500, 500) != CACHE_OK ||
      cache_store_options_set_flush_interval_ms(cache_redis_options_store_options(ro), 1) !=
          CACHE_OK) {
    fprintf(stderr, "options: %s\n", cache_redis_errmsg());
    return 1;
  }
  cache_options_t *opts = cache_options_new();
  cache_t *c = NULL;
  rc = cache_open(opts, &c);
  cache_options_free(opts);
  if (rc != CACHE_OK) return 1;
  cache_redis_t *r = NULL;
  rc = cache_redis_attach(c, ro, &r);
  cache_redis_options_free(ro);
  cache_close(c);
  if (rc != CACHE_E_IO || r != NULL) {
    fprintf(stderr, "attach to a closed port: %s\n", cache_strerror(rc));
    return 1;
  }
  printf("consumer_redis: ok (%s)\n", cache_redis_errmsg());
  return 0;
}
