/* libcache: an embedded, bounded, thread-safe in-process cache.
 *
 * This is the stable C ABI. Every language binding wraps it; nothing here
 * changes once published: new calls are added (`_v2`), status values are never
 * renumbered, and the one struct a caller fills (cache_stats_t) only grows at
 * its end and is copied with an explicit size.
 *
 * Example:
 *
 *   #include <libcache/cache.h>
 *
 *   cache_options_t *opt = cache_options_new();
 *   cache_options_set_max_bytes(opt, 64u << 20);      // bound memory to 64 MiB
 *   cache_options_set_default_ttl_ms(opt, 60 * 1000); // entries live 60 s
 *   cache_t *c;
 *   int rc = cache_open(opt, &c);
 *   cache_options_free(opt);
 *   if (rc != CACHE_OK) { fprintf(stderr, "%s\n", cache_strerror(rc)); return 1; }
 *
 *   cache_set(c, "user:42", 7, "{\"name\":\"Ada\"}", 14, CACHE_TTL_DEFAULT);
 *   char buf[256]; size_t n;
 *   if (cache_get(c, "user:42", 7, buf, sizeof buf, &n) == CACHE_OK) use(buf, n);
 *   cache_close(c);
 *
 * Model. A cache maps byte-string keys (0 to CACHE_MAX_KEY_SIZE bytes) to
 * byte-string values. It holds at most max_entries entries and at most max_bytes
 * bytes, where an entry is charged for its key, its value and the engine's own
 * memory for it (allocation header and rounding, table and CLOCK-ring slots), so
 * that max_bytes bounds real memory. When a write would exceed a bound, the
 * engine evicts entries chosen by its eviction policy: CLOCK (second chance)
 * by default, or ADAPTIVE (cache_options_set_policy). Entries may carry a
 * time-to-live measured on a monotonic clock; an expired entry is never
 * returned.
 *
 * Threads. Every function may be called from any number of threads at once on
 * the same cache_t, except cache_close(), which must not race with other calls
 * on the same cache. cache_value_t handles may be used and released from any
 * thread. No function blocks for longer than a shard lock is held (a hash-table
 * operation, or an eviction sweep of that shard).
 *
 * Errors. Fallible functions return an int status: CACHE_OK (0) on success,
 * a positive result code (CACHE_NOT_FOUND, CACHE_EXISTS) when the operation was
 * valid but found nothing to do, or a negative CACHE_E_* error. An error leaves
 * the cache unchanged. cache_strerror() describes any status.
 */
#ifndef LIBCACHE_CACHE_H
#define LIBCACHE_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "libcache/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version --------------------------------------------------------------- */

#define CACHE_VERSION_MAJOR 1
#define CACHE_VERSION_MINOR 6
#define CACHE_VERSION_PATCH 0
#define CACHE_VERSION_NUMBER \
  (CACHE_VERSION_MAJOR * 10000 + CACHE_VERSION_MINOR * 100 + CACHE_VERSION_PATCH)
/* "MAJOR.MINOR.PATCH" of this header, as a string literal. */
#define CACHE_VERSION_STRING "1.6.0"

/* The version of the library actually loaded, as CACHE_VERSION_NUMBER computes
 * it. Compare with the macro to check that header and library agree. */
CACHE_API unsigned cache_version_number(void);
/* The version of the library actually loaded as a static string, the
 * CACHE_VERSION_STRING it was built with (for example "1.6.0"). Never free
 * it. */
CACHE_API const char *cache_version_string(void);

/* ---- Status codes (values pinned forever) ---------------------------------- */

#define CACHE_OK 0
#define CACHE_NOT_FOUND 1 /* result: no live entry for the key */
#define CACHE_EXISTS 2    /* result: cache_add found a live entry */

#define CACHE_E_INVALID (-1)          /* bad argument: NULL handle, NULL key with length, bad TTL */
#define CACHE_E_NOMEM (-2)            /* memory allocation failed */
#define CACHE_E_TOO_LARGE (-3)        /* key or entry can never fit in the cache's bounds */
#define CACHE_E_BUFFER_TOO_SMALL (-4) /* cache_get: *vlen holds the size needed */
#define CACHE_E_IO (-5)               /* I/O error (integrations such as the Redis writer) */
#define CACHE_E_FULL (-6)             /* a bounded queue or table is full */
#define CACHE_E_TIMEOUT (-7)          /* an operation timed out */
#define CACHE_E_CLOSED (-8)           /* the object was closed */
#define CACHE_E_INTERNAL (-9)         /* a bug: please report it */
#define CACHE_E_WRONG_KIND (-10)      /* the entry holds a language object, not bytes
                                         (<libcache/cache_object.h>); since 1.5 */

/* A static, human-readable description of any status; never NULL, never free
 * it. Unknown values yield "unknown libcache status". */
CACHE_API const char *cache_strerror(int status);

/* ---- Limits and TTL conventions ------------------------------------------- */

/* Longest key accepted, in bytes. Writes with longer keys get
 * CACHE_E_TOO_LARGE; reads and other calls simply find no such key. */
#define CACHE_MAX_KEY_SIZE 65535u

/* ttl_ms arguments: a positive number of milliseconds, or one of these. */
#define CACHE_TTL_DEFAULT (-1) /* the cache's default TTL (cache_options_set_default_ttl_ms) */
#define CACHE_TTL_NONE 0       /* never expires */

/* ---- Options ---------------------------------------------------------------- */

typedef struct cache_options_s cache_options_t;

/* A new options object holding the defaults: max_bytes 64 MiB, no entry bound,
 * no default TTL, shards chosen automatically, the CLOCK policy. NULL if out of
 * memory.
 * Free it with cache_options_free() once cache_open() has returned; the cache
 * keeps no reference to it. */
CACHE_API cache_options_t *cache_options_new(void);
/* Frees options; NULL is a no-op. */
CACHE_API void cache_options_free(cache_options_t *opts);

/* Upper bound on memory held by entries, engine overhead included.
 * 0 = no byte bound (then max_entries must be set). CACHE_E_INVALID on NULL. */
CACHE_API int cache_options_set_max_bytes(cache_options_t *opts, uint64_t max_bytes);
/* Upper bound on the number of entries. 0 = no entry bound (the default).
 * CACHE_E_INVALID on NULL (cache_open refuses 2^32 or more entries per shard). */
CACHE_API int cache_options_set_max_entries(cache_options_t *opts, uint64_t max_entries);
/* TTL applied when a write passes CACHE_TTL_DEFAULT. 0 = no expiry (the default).
 * CACHE_E_INVALID on NULL or above 2^62 ms. */
CACHE_API int cache_options_set_default_ttl_ms(cache_options_t *opts, uint64_t ttl_ms);
/* Number of lock shards: a power of two up to 1024, or 0 for automatic (scaled
 * to the core count and capped so each shard keeps a useful share of the
 * bounds). Bounds are split evenly across shards, so the largest entry a cache
 * accepts is a little under max_bytes / shards (the allocator's rounding of the
 * entry and the shard's own arrays count). CACHE_E_INVALID on NULL or a bad
 * count. */
CACHE_API int cache_options_set_shards(cache_options_t *opts, uint32_t shards);

/* Eviction policies (cache_options_set_policy; since 1.6). */
#define CACHE_POLICY_CLOCK 0    /* one CLOCK ring per shard, second chance; the default */
#define CACHE_POLICY_ADAPTIVE 1 /* frequency-aware: window TinyLFU over three CLOCK rings */

/* Which entries leave when a write would exceed a bound (policy, a
 * CACHE_POLICY_* value). Both policies keep every promise of this header
 * (bounds, TTLs, statistics); they differ only in which entries they evict.
 *   CACHE_POLICY_CLOCK, the default: one ring per shard, second chance (a hit
 *     sets a bit, the hand clears it or evicts); tracks LRU's hit ratio within
 *     about half a point.
 *   CACHE_POLICY_ADAPTIVE: frequency-aware, a window TinyLFU of three CLOCK
 *     rings that tunes its window to the workload: wins 5 to 97 points of hit
 *     ratio over CLOCK on database, search and looping workloads, and stays
 *     within about a point of LRU on recency-heavy ones. The same read path (a
 *     hit sets one bit); writes cost a little more, and a frequency sketch of
 *     a few bytes per entry is charged against max_bytes.
 * CACHE_E_INVALID on NULL opts or an unknown policy (opts unchanged).
 * Since 1.6. */
CACHE_API int cache_options_set_policy(cache_options_t *opts, int policy);

/* ---- Lifetime ---------------------------------------------------------------- */

typedef struct cache_s cache_t;

/* Opens a cache configured by opts (NULL = defaults) and stores it in *out.
 * Returns CACHE_OK, CACHE_E_INVALID (NULL out, both bounds 0, or bounds too
 * small for one entry per shard) or CACHE_E_NOMEM. */
CACHE_API int cache_open(const cache_options_t *opts, cache_t **out);
/* Frees the cache and every entry not pinned by a cache_value_t; pinned values
 * stay valid until released. NULL is a no-op. Must not race with other calls
 * on the same cache. */
CACHE_API void cache_close(cache_t *cache);

/* ---- Writes ---------------------------------------------------------------- */

/* Stores a copy of key and value, replacing any entry for the key, evicting
 * other entries as needed to stay within the bounds.
 * key may be NULL only when klen is 0; val may be NULL only when vlen is 0.
 * ttl_ms: > 0 milliseconds (at most 2^62), CACHE_TTL_DEFAULT, or CACHE_TTL_NONE.
 * Returns CACHE_OK; CACHE_E_INVALID (bad argument, ttl_ms < -1 or > 2^62);
 * CACHE_E_TOO_LARGE (key longer than CACHE_MAX_KEY_SIZE, or the entry's charge
 * exceeds what one shard can hold: the previous value, if any, is kept);
 * CACHE_E_NOMEM. */
CACHE_API int cache_set(cache_t *cache, const void *key, size_t klen, const void *val, size_t vlen,
                        int64_t ttl_ms);
/* Like cache_set, but only when no live entry exists for the key; otherwise
 * returns CACHE_EXISTS and changes nothing. */
CACHE_API int cache_add(cache_t *cache, const void *key, size_t klen, const void *val, size_t vlen,
                        int64_t ttl_ms);
/* Like cache_set, but only when a live entry exists for the key; otherwise
 * returns CACHE_NOT_FOUND and changes nothing. */
CACHE_API int cache_replace(cache_t *cache, const void *key, size_t klen, const void *val,
                            size_t vlen, int64_t ttl_ms);

/* One part of a value given in pieces (cache_setv). data may be NULL when size
 * is 0. */
typedef struct cache_iovec_s {
  const void *data;
  size_t size;
} cache_iovec_t;

/* Which write cache_setv performs (since 1.1). */
#define CACHE_WRITE_SET 0     /* as cache_set */
#define CACHE_WRITE_ADD 1     /* as cache_add */
#define CACHE_WRITE_REPLACE 2 /* as cache_replace */

/* Like cache_set, cache_add or cache_replace (mode, a CACHE_WRITE_* value),
 * with the value stored as the nparts parts back to back, copied once: for a
 * header (a type tag, a version) in front of a payload the caller already has.
 * parts may be NULL when nparts is 0 (an empty value). Same statuses; an
 * unknown mode is CACHE_E_INVALID. Since 1.1. */
CACHE_API int cache_setv(cache_t *cache, const void *key, size_t klen, const cache_iovec_t *parts,
                         size_t nparts, int64_t ttl_ms, int mode);

/* ---- Reads ---------------------------------------------------------------- */

/* Copies the value for key into buf (capacity cap bytes) and stores its length
 * in *vlen (vlen may be NULL). buf may be NULL when cap is 0.
 * Returns CACHE_OK; CACHE_NOT_FOUND (absent or expired);
 * CACHE_E_BUFFER_TOO_SMALL (nothing copied; *vlen holds the size needed);
 * CACHE_E_INVALID. A hit marks the entry recently used. */
CACHE_API int cache_get(cache_t *cache, const void *key, size_t klen, void *buf, size_t cap,
                        size_t *vlen);

/* Receives a value inside cache_read. */
typedef void (*cache_read_fn)(void *ctx, const void *val, size_t vlen);

/* Calls fn(ctx, value, vlen) with the live value for key, in place, while the
 * entry's shard is read-locked, so the caller copies it once, straight into
 * its own object (the Python binding builds its bytes object here). fn must be
 * short, must not unwind (longjmp, C++ exception), and must not call any
 * cache_* function, on this cache or any other, since each can deadlock: on
 * this cache a write waits forever for the lock fn runs under; two threads
 * whose callbacks use each other's caches wait for each other; and a callback
 * that uses another cache (or opens or closes one) while a thread forks waits
 * for the fork handler, which holds every shard lock of the caches before it
 * and waits for the one fn runs under. fn may be NULL to test presence.
 * Counts a hit or a miss like cache_get.
 * Returns CACHE_OK (fn was called), CACHE_NOT_FOUND or CACHE_E_INVALID.
 * Since 1.1. */
CACHE_API int cache_read(cache_t *cache, const void *key, size_t klen, cache_read_fn fn, void *ctx);

/* A pinned, immutable, reference-counted value. It stays valid, with the same
 * bytes, after its entry is replaced, deleted, evicted or expired, and after
 * cache_close(), until cache_value_release(). */
typedef struct cache_value_s cache_value_t;

/* Pins the value for key without copying it and stores the handle in *out.
 * Returns CACHE_OK, CACHE_NOT_FOUND or CACHE_E_INVALID. Release every handle
 * exactly once. */
CACHE_API int cache_get_value(cache_t *cache, const void *key, size_t klen, cache_value_t **out);
/* The value's bytes (not NUL-terminated) and length. The bytes are valid until
 * release. cache_value_data() never returns NULL for a handle, not even for an
 * empty value (a pointer that must not be read); cache_value_data(NULL)
 * returns NULL and cache_value_size(NULL) returns 0. */
CACHE_API const void *cache_value_data(const cache_value_t *value);
CACHE_API size_t cache_value_size(const cache_value_t *value);
/* Drops the pin; the memory is freed when no cache or handle refers to it.
 * NULL is a no-op. */
CACHE_API void cache_value_release(cache_value_t *value);

/* ---- Other operations ------------------------------------------------------ */

/* Removes the entry for key. CACHE_OK, CACHE_NOT_FOUND or CACHE_E_INVALID. */
CACHE_API int cache_delete(cache_t *cache, const void *key, size_t klen);
/* Removes the live entry for key and hands its value to the caller, pinned, in
 * *out, as one operation: no write of the key by another thread can land
 * between the read and the removal (a "pop"). Release the handle with
 * cache_value_release. Counted as a delete, not as a hit.
 * Returns CACHE_OK; CACHE_NOT_FOUND (absent or expired; *out is NULL);
 * CACHE_E_INVALID (NULL cache or out). Since 1.2. */
CACHE_API int cache_take(cache_t *cache, const void *key, size_t klen, cache_value_t **out);
/* Resets the TTL of a live entry to ttl_ms from now (CACHE_TTL_DEFAULT and
 * CACHE_TTL_NONE as for writes); used for sliding sessions.
 * CACHE_OK, CACHE_NOT_FOUND or CACHE_E_INVALID. */
CACHE_API int cache_touch(cache_t *cache, const void *key, size_t klen, int64_t ttl_ms);
/* Stores the milliseconds left before the entry expires in *remaining_ms, or
 * -1 when it never expires. CACHE_OK, CACHE_NOT_FOUND or CACHE_E_INVALID. */
CACHE_API int cache_ttl(cache_t *cache, const void *key, size_t klen, int64_t *remaining_ms);
/* Removes every entry (pinned values stay valid). CACHE_OK or CACHE_E_INVALID. */
CACHE_API int cache_clear(cache_t *cache);
/* Frees every expired entry now, in every shard; useful when parts of the key
 * space go cold and no write comes to evict them. Stores the number reclaimed
 * in *reclaimed (may be NULL). Costs one pass over the entries, one shard lock
 * at a time. CACHE_OK or CACHE_E_INVALID. */
CACHE_API int cache_purge_expired(cache_t *cache, uint64_t *reclaimed);

/* ---- Statistics ------------------------------------------------------------ */

/* Counters since cache_open. Fields are only ever appended. */
typedef struct cache_stats_s {
  uint64_t hits;        /* reads that found a live entry */
  uint64_t misses;      /* reads that found none */
  uint64_t sets;        /* successful writes (set, add, replace) */
  uint64_t deletes;     /* successful cache_delete calls */
  uint64_t evictions;   /* live entries removed to make room */
  uint64_t expirations; /* expired entries reclaimed (on access, by the hand, by purge) */
  uint64_t entries;     /* entries held now (expired ones not yet reclaimed included) */
  uint64_t bytes;       /* bytes charged now: entries plus table and ring memory */
  /* later fields appended here, never reordered */
} cache_stats_t;

/* Copies min(out_size, sizeof(cache_stats_t)) bytes of the current statistics
 * into out, so that callers built against an older, shorter struct keep
 * working. Counters are summed shard by shard without a global lock, so a
 * snapshot taken under concurrent writes is approximate.
 * CACHE_OK or CACHE_E_INVALID. */
CACHE_API int cache_stats(cache_t *cache, cache_stats_t *out, size_t out_size);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LIBCACHE_CACHE_H */
