/* libcache: a backing store behind a cache (write-behind and read-through).
 *
 * A store is anything that can hold the cache's keys for longer or for more
 * processes than one cache does: Redis (<libcache/cache_redis.h> is one store
 * built on this interface), a database, a file. The caller describes it with a
 * table of C callbacks (cache_store_t) and links it to an open cache with
 * cache_store_attach(); the cache then
 *
 *  - queues every successful write (cache_set, cache_add, cache_replace,
 *    cache_setv, cache_delete, cache_take, cache_touch) and a background
 *    flusher thread hands them to the store in ordered batches (write-behind).
 *    A later write of a key that is still waiting replaces the earlier one
 *    (coalescing); per-key order is never broken, also across retries; an
 *    entry evicted locally before it is flushed is still flushed. The queue is
 *    bounded in bytes and entries; when full, a write either waits (with a
 *    timeout) or fails with CACHE_E_FULL, leaving the cache unchanged; a write
 *    is never dropped silently;
 *  - on a local miss (cache_get, cache_read, cache_get_value), when
 *    read-through is on, answers from the pending queue if the key waits
 *    there (a process always reads its own writes), else loads the key from the
 *    store with its remaining TTL, fills the local cache with it (without
 *    queueing it back) and returns it; concurrent misses of one key make one
 *    load (single-flight). A store that does not answer within the read
 *    timeout gives a miss (CACHE_NOT_FOUND), never a hang;
 *  - retries operations the store could not apply: I/O failures (the outcome
 *    is unknown: the batch is resent, minus operations a newer write of the
 *    same key replaced, after a capped, jittered exponential backoff) and
 *    rejections (the store refused this operation: retried up to a bounded
 *    number of times, then kept as a dead letter, counted and drainable; a
 *    rejected key never blocks other keys).
 *
 * Operations are idempotent by construction: a PUT carries an absolute expiry
 * time on the wall clock (never a relative TTL that a resend would extend), so
 * that resending a batch whose outcome is unknown is always safe.
 *
 * Threads. Every function here may be called from any thread. The flusher is
 * one thread per link; it blocks SIGPIPE. After fork() the child's copy of a
 * link is inert: it never flushes the parent's queue (its writes go to the
 * local cache only, and cache_store_flush returns CACHE_E_CLOSED); the child
 * may attach a link of its own after cache_store_close-ing the inherited one
 * (which in the child frees its memory without calling the store, except
 * forked(), called once in the child before anything else).
 *
 * Since 1.3 (version node LIBCACHE_1.3).
 */
#ifndef LIBCACHE_CACHE_STORE_H
#define LIBCACHE_CACHE_STORE_H

#include "libcache/cache.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- What the cache asks of a store ----------------------------------------- */

/* The kinds of operation a batch holds. */
#define CACHE_STORE_PUT 1    /* key = value, expiring at expire_at_ms (0: never) */
#define CACHE_STORE_DELETE 2 /* remove key (absent is fine) */
#define CACHE_STORE_EXPIRE 3 /* change the expiry of key, if present (0: persist) */

/* A status a store gives one operation: it will not apply it, for a reason that
 * a resend will probably not change (a permission error, a value too large). */
#define CACHE_STORE_REJECTED 100

/* One queued operation. The cache fills every field but status and reason;
 * the bytes are valid until write_batch returns. */
typedef struct cache_store_op_s {
  int kind;           /* CACHE_STORE_PUT, _DELETE or _EXPIRE */
  const void *key;    /* the cache's key, as written (no prefix added) */
  size_t klen;
  const void *value;  /* PUT: the value's bytes; NULL otherwise */
  size_t vlen;
  int64_t expire_at_ms; /* PUT, EXPIRE: absolute time, ms since the Unix epoch
                           (CLOCK_REALTIME), matching the local deadline to clock
                           resolution; 0 = no expiry */
  /* Out, set by write_batch for each operation it answers: CACHE_OK (applied)
   * or CACHE_STORE_REJECTED (refused; reason says why). */
  int status;
  /* Out, with CACHE_STORE_REJECTED: a NUL-terminated reason (an error reply),
   * valid until the next call on the store; copied by the cache. It must not
   * contain credentials. */
  const char *reason;
} cache_store_op_t;

/* Receives the value of a loaded key: ttl_ms is its remaining time to live in
 * ms, or -1 when it does not expire. Called at most once per load. */
typedef void (*cache_store_value_fn)(void *fn_ctx, const void *value, size_t vlen,
                                     int64_t ttl_ms);

/* The store: a table of callbacks. struct_size lets it grow; set it to
 * sizeof(cache_store_t). Callbacks marked optional may be NULL. */
typedef struct cache_store_s {
  size_t struct_size;
  void *ctx; /* passed to every callback */

  /* Applies ops[0..n) in order (per-key order matters: a pipeline in order is
   * right). Returns CACHE_OK when it answered every operation (each status is
   * CACHE_OK or CACHE_STORE_REJECTED); any other status (CACHE_E_IO,
   * CACHE_E_TIMEOUT) when it could not tell: the cache treats the outcome of
   * every operation of the batch as unknown, waits, and calls again (a store
   * reconnects on the next call; resends are idempotent). It must return
   * within its own timeouts. Called by the flusher thread only, never twice at
   * once. Required. */
  int (*write_batch)(void *ctx, cache_store_op_t *ops, size_t n);

  /* Loads key: calls fn(fn_ctx, value, vlen, ttl_ms) and returns CACHE_OK;
   * returns CACHE_NOT_FOUND (absent), CACHE_E_TIMEOUT (no answer within
   * timeout_ms) or CACHE_E_IO. May be called from any thread, concurrently with
   * itself and with write_batch. Optional (NULL: no read-through). A ttl_ms of
   * 0 (about to expire) is served but not kept locally. Any status but
   * CACHE_OK is a miss for the reader (counted in read_misses when
   * CACHE_NOT_FOUND, else in read_errors). */
  int (*load)(void *ctx, const void *key, size_t klen, int64_t timeout_ms, cache_store_value_fn fn,
              void *fn_ctx);

  /* Tells the store that an operation became a dead letter (for its own logs
   * or metrics). Optional. */
  void (*dead_letter)(void *ctx, const cache_store_op_t *op, const char *reason);

  /* Called in the child after fork(), before anything else: drop connections
   * without sending anything (close the sockets only). Optional. */
  void (*forked)(void *ctx);

  /* Releases ctx. Called exactly once, when the link is detached (also by
   * cache_close). Optional. */
  void (*destroy)(void *ctx);
} cache_store_t;

/* ---- Linking a store to a cache ---------------------------------------------- */

/* What is queued, exactly:
 *  - cache_set, cache_add, cache_replace, cache_setv: a PUT, when the write
 *    succeeded (a cache_add that found the key queues nothing);
 *  - cache_delete and cache_take: a DELETE, also when the key was not in the
 *    local cache (the store may hold it: a local eviction does not remove it
 *    there);
 *  - cache_touch: an EXPIRE, when the key was live locally.
 * Not queued: evictions and expiry (the store expires PUTs on its own, at
 * expire_at_ms), cache_clear and cache_purge_expired (local housekeeping), and
 * values filled by read-through. A write made while cache_store_close runs, or
 * after it, goes to the local cache only.
 */

/* Options of a link (write-behind and read-through); see the setters for the
 * defaults. Never shared with the link: it copies them. */
typedef struct cache_store_options_s cache_store_options_t;

/* What a full queue does to a write (cache_store_options_set_on_full). */
#define CACHE_STORE_ON_FULL_BLOCK 0 /* wait up to the timeout for room, then CACHE_E_FULL */
#define CACHE_STORE_ON_FULL_FAIL 1  /* CACHE_E_FULL at once */

CACHE_API cache_store_options_t *cache_store_options_new(void);
CACHE_API void cache_store_options_free(cache_store_options_t *opts);
/* How long a write may wait before the flusher sends it (default 5 ms; 0 sends
 * as soon as the flusher is free). */
CACHE_API int cache_store_options_set_flush_interval_ms(cache_store_options_t *opts,
                                                        uint64_t interval_ms);
/* The most operations (1 to 65536) and bytes (keys plus values) one batch
 * holds (defaults 512 and 4 MiB); a single larger operation is sent alone. */
CACHE_API int cache_store_options_set_batch(cache_store_options_t *opts, uint32_t max_ops,
                                            uint64_t max_bytes);
/* The queue's bounds: waiting and in-flight operations' bytes (keys, values
 * and 64 bytes of overhead per operation) and count (defaults 64 MiB and 1M;
 * at most 2^40-1 bytes and 2^24-1 operations). Every write reserves its room
 * before it changes the cache, also one that will replace a waiting write of
 * its key. Dead letters are not counted (a poison key must not stop writes):
 * up to 4096 are held, the oldest released first (all are counted in
 * cache_link_stats_t.dead_letters and reported to the store's dead_letter). */
CACHE_API int cache_store_options_set_max_queue(cache_store_options_t *opts, uint64_t max_bytes,
                                                uint64_t max_ops);
/* policy: CACHE_STORE_ON_FULL_BLOCK (default, timeout 1000 ms) or _FAIL. */
CACHE_API int cache_store_options_set_on_full(cache_store_options_t *opts, int policy,
                                              int64_t block_timeout_ms);
/* Read-through on (default) or off, and how long a load may take (default
 * 100 ms). */
CACHE_API int cache_store_options_set_read_through(cache_store_options_t *opts, int on,
                                                   int64_t timeout_ms);
/* How many times a rejected operation is retried before it becomes a dead
 * letter (default 3). */
CACHE_API int cache_store_options_set_max_retries(cache_store_options_t *opts, uint32_t retries);
/* The backoff after a failed batch: from min_ms doubling to max_ms, each wait
 * jittered (defaults 10 ms and 2000 ms). */
CACHE_API int cache_store_options_set_backoff(cache_store_options_t *opts, uint64_t min_ms,
                                              uint64_t max_ms);

/* A cache's link to its store. */
typedef struct cache_link_s cache_link_t;

/* Links store to cache (a cache has at most one link: CACHE_EXISTS otherwise)
 * and starts the flusher. The cache owns the link: cache_close() closes it
 * (draining it with no wait: see cache_store_close). On failure the store's
 * destroy is not called. CACHE_OK, CACHE_E_INVALID, CACHE_EXISTS,
 * CACHE_E_NOMEM. */
CACHE_API int cache_store_attach(cache_t *cache, const cache_store_t *store,
                                 const cache_store_options_t *opts, cache_link_t **out);

/* Returns once every write made before the call has been answered by the store
 * (applied, or turned into a dead letter), or CACHE_E_TIMEOUT after timeout_ms
 * (-1: no limit). CACHE_OK, CACHE_E_TIMEOUT, CACHE_E_CLOSED, CACHE_E_INVALID. */
CACHE_API int cache_store_flush(cache_link_t *link, int64_t timeout_ms);

/* Write-through: sends key = value to the store and, once the store applied
 * it, writes it in the cache and returns CACHE_OK (the local write is skipped
 * when a newer write of the key was made meanwhile: that one is newer in both
 * places). Otherwise returns an error and leaves the local cache as it was:
 * CACHE_STORE_REJECTED (not retried, not a dead letter), CACHE_E_TIMEOUT
 * (timeout_ms, -1: no limit; the write stays queued and may still reach the
 * store later, but never the local cache: if it does, the key's older local copy
 * is dropped then), CACHE_E_FULL, CACHE_E_CLOSED, or
 * the errors of cache_set. Ordered with the queued writes of the key: it is
 * sent after them (it waits for them to be answered first, within
 * timeout_ms), and a later local write of the key is sent after it. */
CACHE_API int cache_store_set_sync(cache_link_t *link, const void *key, size_t klen,
                                   const void *val, size_t vlen, int64_t ttl_ms,
                                   int64_t timeout_ms);
/* The same for a delete: CACHE_OK when the store removed it (absent counts). */
CACHE_API int cache_store_delete_sync(cache_link_t *link, const void *key, size_t klen,
                                      int64_t timeout_ms);

typedef struct cache_link_stats_s {
  uint64_t queued_ops;       /* operations waiting or in flight */
  uint64_t queued_bytes;     /* their bytes, as counted against max_queue */
  uint64_t flushed_ops;      /* operations the store applied */
  uint64_t batches;          /* write_batch calls */
  uint64_t retries;          /* operations sent again (unknown outcome or rejected) */
  uint64_t store_errors;     /* write_batch calls that failed (I/O, timeout) */
  uint64_t dead_letters;     /* operations given up (total, drained or not) */
  uint64_t refused_full;     /* writes refused with CACHE_E_FULL */
  uint64_t coalesced;        /* waiting operations replaced by newer writes */
  uint64_t oldest_pending_ms; /* age of the oldest waiting operation; 0 if none */
  uint64_t read_hits;        /* read-through loads that found the key (store or queue) */
  uint64_t read_misses;      /* loads that did not */
  uint64_t read_errors;      /* loads that failed or timed out (answered as misses) */
  /* Since 1.4 (coherence: see cache_store_invalidate). */
  uint64_t invalidations;    /* cache_store_invalidate calls, plus _invalidate_all and
                                set_coherent(0) calls */
  uint64_t invalidated;      /* clean local copies they dropped (also those dropped once
                                an in-flight write was acknowledged) */
  uint64_t conflicts;        /* invalidations of a key with a local write waiting or in
                                flight (the local write is kept: see below) */
  uint64_t fills_refused;    /* loaded values served but not kept: an invalidation or a
                                local write came while the load was in flight, or the
                                link was not coherent */
  uint64_t coherent;         /* 1 while the link is coherent (cache_store_set_coherent) */
} cache_link_stats_t;

/* Copies min(out_size, sizeof *out) bytes of the counters. */
CACHE_API int cache_store_stats(cache_link_t *link, cache_link_stats_t *out, size_t out_size);

/* Receives one dead letter: the operation (its bytes valid during the call)
 * and the store's last reason. */
typedef void (*cache_dead_letter_fn)(void *ctx, const cache_store_op_t *op, const char *reason);
/* Calls fn for every dead letter held, oldest first, and forgets them; *count
 * (may be NULL) = how many. fn must not call cache_store_* on this link. */
CACHE_API int cache_store_drain_dead_letters(cache_link_t *link, cache_dead_letter_fn fn, void *ctx,
                                             uint64_t *count);

/* ---- Changes made elsewhere (coherence) --------------------------------------
 *
 * A store that learns that keys changed behind this cache's back (another
 * process wrote them: Redis's invalidation messages, a database's change
 * notifications) tells the link, so that the cache stops serving its old
 * local copies. A local copy is "clean" when its key has no local write
 * waiting or in flight to the store; only clean copies are dropped:
 *
 *  - a key with a local write still waiting (not yet sent) keeps its local
 *    value: that write reaches the store after the remote one, and wins there
 *    too (counted in conflicts);
 *  - a key whose write was sent but not yet acknowledged keeps its local value
 *    until the store answers, and then drops it (the remote write may have
 *    been ordered after ours by the store; counted in conflicts); a sync write
 *    in flight is not applied locally when it returns;
 *  - a load of the key in flight is not kept when it lands (a fill token per
 *    key: the late reply is served to nobody; the readers load again, up to
 *    three times, and then get the last value loaded, not kept).
 *
 * All three may be called from any thread, also from a store's own thread
 * (never from inside write_batch or load: they take the cache's locks).
 * Since 1.4 (version node LIBCACHE_1.4). */

/* key changed elsewhere. CACHE_OK (also when the key was not cached),
 * CACHE_E_INVALID, CACHE_E_TOO_LARGE (a key over the cache's key limit),
 * CACHE_E_CLOSED (the link is closed or detached). */
CACHE_API int cache_store_invalidate(cache_link_t *link, const void *key, size_t klen);
/* Every key may have changed elsewhere (the store was flushed, or the
 * store's notifications may have been missed): drops every clean local copy,
 * with the rules above, and no load in flight is kept. Takes each shard's lock
 * once. CACHE_OK, CACHE_E_INVALID, CACHE_E_CLOSED. */
CACHE_API int cache_store_invalidate_all(cache_link_t *link);
/* coherent = 0: the store can no longer vouch for the cache's clean copies
 * (its notifications stopped: a connection dropped, a health check failed):
 * as cache_store_invalidate_all, and until it is set back to 1, loaded values
 * are served but not kept, and a local write's copy is dropped once the store
 * acknowledged it, so that every read of a key without a local write waiting
 * goes to the store. coherent = 1 (the default, and for a store that sends no
 * notifications): loads are kept again, except those in flight when it was
 * set. CACHE_OK, CACHE_E_INVALID, CACHE_E_CLOSED. */
CACHE_API int cache_store_set_coherent(cache_link_t *link, int coherent);

/* Stops write-behind: flushes what it can within timeout_ms (0: no wait, -1: no
 * limit), stops the flusher, calls the store's destroy, detaches the link from
 * the cache and frees it. *unflushed (may be NULL) = operations that were not
 * applied (still queued, or dead letters never drained). Never hangs beyond
 * the timeout plus one store call's own timeout. CACHE_OK when everything was
 * flushed, CACHE_E_TIMEOUT otherwise (the link is closed either way). */
CACHE_API int cache_store_close(cache_link_t *link, int64_t timeout_ms, uint64_t *unflushed);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LIBCACHE_CACHE_STORE_H */
