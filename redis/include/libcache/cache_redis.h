/* libcache-redis: Redis as the shared tier behind a libcache cache.
 *
 * A separate library (libcache_redis.so.1, pkg-config libcache-redis, CMake
 * find_package(libcache COMPONENTS redis) -> libcache::redis) over hiredis,
 * so that libcache.so itself never depends on hiredis. It is one store of
 * <libcache/cache_store.h>: everything said there (write-behind, coalescing,
 * per-key order, bounded queue, retries, dead letters, read-through,
 * single-flight, fork) holds here, with Redis as the store:
 *
 *   PUT     SET <prefix><key> <value> PXAT <expire_at_ms>  (or SET without expiry)
 *   DELETE  DEL <prefix><key>
 *   EXPIRE  PEXPIREAT <prefix><key> <expire_at_ms>  (PERSIST for no expiry)
 *   load    GET and PTTL of <prefix><key>, pipelined
 *
 * Every command is idempotent (absolute expiry times only), so a batch whose
 * outcome is unknown after an I/O error is resent after reconnecting. Before
 * resending, the adapter makes sure that the lost connection's commands can
 * no longer run late (CLIENT KILL of the old connection's id on the new one),
 * so a late reply or a late write never reorders a key. After each reconnect
 * (capped, jittered exponential backoff) it re-applies timeouts, AUTH and
 * SELECT. Its threads block SIGPIPE. Credentials never appear in errors,
 * dead-letter reasons or stats.
 *
 * Coherence (since 1.4; redis/src/coherence.h has the protocol). With
 * coherence on (the default), when any other client (another process's
 * adapter, redis-cli, a script) changes, deletes or expires a key under the
 * prefix, or flushes the database, this cache stops serving its old local
 * copy. The adapter uses Redis's client-side caching in RESP2 redirect mode:
 * its writer connection runs CLIENT TRACKING on REDIRECT <id> BCAST PREFIX
 * <prefix> NOLOOP (every key under the prefix, also keys this process wrote
 * but never read; none of its own writes), a thread of its own holds the
 * connection <id> subscribed to __redis__:invalidate and calls
 * cache_store_invalidate for each key (cache_store_invalidate_all for a
 * FLUSHALL / FLUSHDB), and health-checks both every health_interval_ms
 * (PING on the subscription; CLIENT LIST ID of the writer: tracking on,
 * redirect not broken). The link's rules apply (<libcache/cache_store.h>):
 * a local write not yet flushed survives a remote invalidation (it reaches
 * Redis later and wins there: counted in conflicts), and a load in flight
 * when its key is invalidated is not kept.
 *
 * When tracking is lost (the subscription or the writer connection dropped
 * or was killed, a health check failed or timed out, Redis paused, killed or
 * restarted, the redirect broken), the adapter at once drops every clean
 * local copy and, until tracking is re-established with a new connection
 * (and checked), serves reads from Redis without keeping them
 * (cache_store_set_coherent); counted in tracking_resets. Re-establishing
 * backs off from 10 ms to 1 s, jittered.
 *
 * The guarantee: invalidations received are applied at once, in the order
 * Redis ran the writes, so a process that received the invalidation of a
 * write never returns the value that write replaced again. After writes
 * stop, every process has flushed, and every process reports tracking up
 * (stats.tracking == 1), every process's cache returns exactly what Redis
 * holds, for every key (tests/redis/coherence_multi_test.cc, also with sync
 * writes that timed out and landed later, and touches). The window in which a
 * changed key may still be served from a local copy is the delivery of its
 * invalidation (Redis sends it as it runs the write), or, when tracking
 * broke silently (the writer connection killed while this process was not
 * writing, Redis unreachable without a reset), up to health_interval_ms
 * plus the command timeout. Tracking is not per database: a write of the
 * same key name in another db invalidates too (a needless drop). Needs
 * Redis >= 6.2 and, with ACLs, +client|tracking +subscribe +client|list
 * +ping and the channel &__redis__:invalidate (see cache_redis_attach).
 *
 * Example:
 *
 *   cache_redis_options_t *ro = cache_redis_options_new();
 *   cache_redis_options_set_url(ro, "redis://127.0.0.1:6379/0");
 *   cache_redis_options_set_prefix(ro, "app:", 4);
 *   cache_redis_t *r;
 *   int rc = cache_redis_attach(cache, ro, &r);
 *   cache_redis_options_free(ro);
 *   cache_set(cache, "k", 1, "v", 1, 60000);   // local now, Redis within ms
 *   cache_redis_flush(r, 1000);                // wait until Redis has it
 *   cache_close(cache);                        // also closes r
 *
 * Since libcache 1.3.
 */
#ifndef LIBCACHE_CACHE_REDIS_H
#define LIBCACHE_CACHE_REDIS_H

#include "libcache/cache.h"
#include "libcache/cache_store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cache_redis_options_s cache_redis_options_t;
typedef struct cache_redis_s cache_redis_t;

#define CACHE_REDIS_ON_FULL_BLOCK CACHE_STORE_ON_FULL_BLOCK
#define CACHE_REDIS_ON_FULL_FAIL CACHE_STORE_ON_FULL_FAIL

/* Options of an adapter: where Redis is, the key prefix, timeouts, and the
 * link's options (write-behind and read-through). Not thread-safe; copied by
 * cache_redis_attach and cache_redis_store_new, so it may be freed after. */
CACHE_API cache_redis_options_t *cache_redis_options_new(void);
CACHE_API void cache_redis_options_free(cache_redis_options_t *opts); /* NULL: no-op */
/* redis://[[user]:password@]host[:port][/db] or
 * unix://[[user]:password@]/path/to/redis.sock[?db=N]
 * (default redis://127.0.0.1:6379/0). The user, password and socket path are
 * percent-decoded (%40 for '@'); an IPv6 host goes in brackets; with a user,
 * AUTH user password (an ACL user), without one AUTH password. CACHE_E_INVALID
 * for a malformed URL (cache_redis_errmsg says what is wrong, never repeating
 * the credentials), leaving opts unchanged. TLS (rediss://) is not supported. */
CACHE_API int cache_redis_options_set_url(cache_redis_options_t *opts, const char *url);
/* Prepended to every key in Redis (default empty; copied). */
CACHE_API int cache_redis_options_set_prefix(cache_redis_options_t *opts, const void *prefix,
                                             size_t len);
/* Connect and per-call command timeouts in ms, each > 0 (defaults 1000 and
 * 1000). A batch's whole pipeline (send and every reply) must finish within
 * command_ms, or the connection is closed and the batch is retried; one
 * write_batch takes at most connect_ms + 3 * command_ms (connect, log in and
 * fence, send). */
CACHE_API int cache_redis_options_set_timeouts(cache_redis_options_t *opts, int64_t connect_ms,
                                               int64_t command_ms);
/* The link's options inside opts (owned by opts, valid until
 * cache_redis_options_free): set them with cache_store_options_set_*
 * (flush interval, batch size, queue bounds, queue-full policy, read-through
 * and its timeout, retries of rejected writes, backoff). Refinement of the
 * first draft's set_store_options: the link options are opaque and have no
 * copy call, so opts holds one and lends it. NULL for a NULL opts. */
CACHE_API cache_store_options_t *cache_redis_options_store_options(cache_redis_options_t *opts);

/* Near-cache coherence (since 1.4): on (the default), the adapter keeps the
 * cache's local copies coherent with Redis: when any other client changes or
 * deletes a key under the prefix, this cache stops serving its old copy (see
 * "Coherence" above). It costs a thread and two connections per adapter.
 * off: for a process that only writes (read-through off; its local copies
 * are then only its own writes, which another process's write makes stale:
 * keep coherence on if it reads them). The adapter cannot see the link's
 * read-through option, so it does not turn coherence off by itself.
 * health_interval_ms (> 0, default 100): how often the invalidation path is
 * checked (PING on the subscription, the writer's tracking state); a loss
 * found by it is at most this (plus the command timeout) old. Only
 * cache_redis_attach runs coherence (cache_redis_store_new has no link to
 * tell). CACHE_OK, CACHE_E_INVALID. */
CACHE_API int cache_redis_options_set_coherence(cache_redis_options_t *opts, int on,
                                                int64_t health_interval_ms);

/* Connects (failing with CACHE_E_IO if Redis cannot be reached, refuses AUTH
 * or SELECT, or refuses CLIENT ID, CLIENT KILL or INFO, within the connect
 * and command timeouts, so that a wrong URL or ACL is found at once;
 * cache_redis_errmsg says why). With coherence on, it also subscribes to
 * __redis__:invalidate, enables tracking on the writer connection and checks
 * it once (CLIENT LIST), failing with CACHE_E_IO when Redis refuses any of
 * it (an ACL user without +client|tracking, +subscribe,
 * &__redis__:invalidate, +client|list or +ping; Redis < 6.2); then links the
 * adapter to cache and drops every local copy the cache held (they were
 * never tracked; local writes made before attach are not queued either). The cache
 * owns the adapter: cache_close(cache) closes it, after which *out is
 * invalid. CACHE_OK, CACHE_E_INVALID, CACHE_E_IO, CACHE_EXISTS (the cache has
 * a store already), CACHE_E_NOMEM. */
CACHE_API int cache_redis_attach(cache_t *cache, const cache_redis_options_t *opts,
                                 cache_redis_t **out);

/* The adapter's link (<libcache/cache_store.h>), for a caller that makes its
 * cache_store_* calls on the link itself: unlike r, which cache_redis_close
 * (and the cache's close) frees, the link stays allocated, inert once
 * closed, until cache_close(cache), so a call that races a close of the
 * adapter meets valid memory and returns CACHE_E_CLOSED. A binding that
 * shares the adapter between threads uses it for everything but
 * cache_redis_stats and cache_redis_command, and keeps those two from
 * running while it closes the adapter. NULL for a NULL r. Since 1.4. */
CACHE_API cache_link_t *cache_redis_link(cache_redis_t *r);

/* As cache_store_flush, cache_store_set_sync, cache_store_delete_sync,
 * cache_store_drain_dead_letters and cache_store_close, for the adapter's link.
 * cache_redis_close frees r (whatever it returns). */
CACHE_API int cache_redis_flush(cache_redis_t *r, int64_t timeout_ms);
CACHE_API int cache_redis_set_sync(cache_redis_t *r, const void *key, size_t klen, const void *val,
                                   size_t vlen, int64_t ttl_ms, int64_t timeout_ms);
CACHE_API int cache_redis_delete_sync(cache_redis_t *r, const void *key, size_t klen,
                                      int64_t timeout_ms);
CACHE_API int cache_redis_drain_dead_letters(cache_redis_t *r, cache_dead_letter_fn fn, void *ctx,
                                             uint64_t *count);
CACHE_API int cache_redis_close(cache_redis_t *r, int64_t timeout_ms, uint64_t *unflushed);

typedef struct cache_redis_stats_s {
  cache_link_stats_t link; /* the write-behind and read-through counters */
  uint64_t connects;       /* successful connections (writer and loads), the first included */
  uint64_t connect_errors; /* failed connection attempts (connect, AUTH, SELECT, fencing) */
  uint64_t fenced;         /* lost writer connections killed (CLIENT KILL) before a resend */
  /* Since 1.4 (coherence). The link's own counters (invalidations, invalidated,
   * conflicts, fills_refused, coherent) are in link. */
  uint64_t coherence;        /* 1 when coherence is on for this adapter */
  uint64_t tracking;         /* 1 while tracking is established and checked (0 from
                                a loss until it is back) */
  uint64_t tracking_resets;  /* times tracking was lost and local copies dropped */
  uint64_t invalidation_messages; /* invalidation messages received (FLUSHALL included) */
  uint64_t flushall_messages;     /* of them, whole-database invalidations (nil payload) */
  int64_t health_check_age_ms;    /* since the last passed health check began; -1: none
                                     (coherence off); grows while tracking is down */
} cache_redis_stats_t;
/* Copies min(out_size, sizeof *out) bytes of the counters. CACHE_OK,
 * CACHE_E_INVALID. */
CACHE_API int cache_redis_stats(cache_redis_t *r, cache_redis_stats_t *out, size_t out_size);

/* Copies the adapter's last connection or command failure (as seen by its
 * flusher or a load; never with credentials) into buf, NUL-terminated and
 * truncated to size; returns its full length (0: none yet). */
CACHE_API size_t cache_redis_last_error(cache_redis_t *r, char *buf, size_t size);

/* Why the calling thread's last failed cache_redis_* call failed, in words
 * ("" if none): a thread-local string valid until that thread's next
 * cache_redis_* call. Never holds credentials. */
CACHE_API const char *cache_redis_errmsg(void);

/* One command on a connection of the adapter's load pool, with the command
 * timeout of opts (or timeout_ms when > 0): argv[0..argc) with their lengths,
 * keys given whole (the caller adds the prefix). For what the queue cannot
 * say (a Lua script that checks a version, for example). Not ordered with the
 * write-behind queue (cache_redis_flush first when it matters); its writes
 * reach this process's near cache as any other client's do (an invalidation
 * arrives, asynchronously: the local copy may still be served until it
 * does). fn is called once, before the call returns, with the reply: its
 * type (CACHE_REDIS_REPLY_*), the bytes of a string, status or error reply
 * (str, len; NULL and 0 otherwise), the value of an integer (integer), the
 * element count of an array (integer; elements are not given). Each call
 * may use another connection, so commands that change a connection's state
 * are refused with CACHE_E_INVALID: (P|S)SUBSCRIBE and their UNSUBSCRIBEs,
 * MONITOR, SELECT, AUTH, HELLO, MULTI, EXEC, DISCARD, WATCH, UNWATCH, RESET,
 * QUIT, SYNC, PSYNC, REPLCONF, CLIENT REPLY / TRACKING / CACHING (use one
 * Lua script for an atomic check-and-set). An I/O error or a timeout closes
 * the connection (a late reply is never read as another's), and the outcome
 * is then unknown: not retried. CACHE_OK (fn was called: an error reply
 * too), CACHE_E_INVALID, CACHE_E_IO, CACHE_E_TIMEOUT, CACHE_E_CLOSED (the
 * adapter was inherited through fork()). Thread-safe. */
#define CACHE_REDIS_REPLY_STRING 1
#define CACHE_REDIS_REPLY_ARRAY 2
#define CACHE_REDIS_REPLY_INTEGER 3
#define CACHE_REDIS_REPLY_NIL 4
#define CACHE_REDIS_REPLY_STATUS 5
#define CACHE_REDIS_REPLY_ERROR 6
typedef void (*cache_redis_reply_fn)(void *ctx, int type, const char *str, size_t len,
                                     int64_t integer);
CACHE_API int cache_redis_command(cache_redis_t *r, int argc, const void *const *argv,
                                  const size_t *argvlen, int64_t timeout_ms,
                                  cache_redis_reply_fn fn, void *ctx);

/* The Redis store alone, for a caller that links it with cache_store_attach
 * itself (or wraps it): fills *out (struct_size, ctx and callbacks) from
 * opts, without connecting (the first write_batch or load does). Its prefix,
 * URL and timeouts are opts'; opts' link options are not used. The caller
 * owns it until it is attached: out->destroy(out->ctx) frees it. CACHE_OK,
 * CACHE_E_INVALID, CACHE_E_NOMEM. */
CACHE_API int cache_redis_store_new(const cache_redis_options_t *opts, cache_store_t *out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LIBCACHE_CACHE_REDIS_H */
