/* libcache: experimental calls. Unlike <libcache/cache.h>, these may change or
 * disappear in a minor release. They exist for tests, benchmarks and tools. */
#ifndef LIBCACHE_CACHE_EXPERIMENTAL_H
#define LIBCACHE_CACHE_EXPERIMENTAL_H

#include "libcache/cache.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A clock returning monotonic milliseconds. It is called with any shard lock
 * held, from any thread, so it must be thread-safe, cheap and non-decreasing. */
typedef uint64_t (*cache_clock_fn)(void *ctx);

/* Replaces the engine's monotonic clock, for deterministic TTL tests.
 * fn = NULL restores the real clock. CACHE_E_INVALID on NULL opts. */
CACHE_API int cache_options_set_clock(cache_options_t *opts, cache_clock_fn fn, void *ctx);

/* Fixes the hash seed instead of drawing a random one per cache, so that runs
 * are reproducible (benchmarks, trace replays). CACHE_E_INVALID on NULL opts. */
CACHE_API int cache_options_set_hash_seed(cache_options_t *opts, uint64_t seed);

/* The number of shards the cache uses (after automatic choice); 0 on NULL. */
CACHE_API uint32_t cache_shard_count(const cache_t *cache);

/* The allocator that holds entries: "mimalloc" or "libc". */
CACHE_API const char *cache_allocator_name(void);

/* Debug: checks the engine's invariants (core/src/shard.h: every entry indexed
 * in its shard's table exactly when it is in the shard's CLOCK ring, bytes
 * equal to the sum of the entries' charges, every shard within its limits,
 * the shards' byte limits adding up to max_bytes). O(entries); takes each
 * shard's lock in turn, so it may run concurrently with any call.
 * CACHE_OK; CACHE_E_INTERNAL with *what (if what is not NULL) set to a static
 * description of the first broken invariant; CACHE_E_INVALID on NULL cache. */
CACHE_API int cache_check_invariants(const cache_t *cache, const char **what);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LIBCACHE_CACHE_EXPERIMENTAL_H */
