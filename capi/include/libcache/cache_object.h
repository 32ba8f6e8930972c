/* libcache: language objects stored by reference. Since 1.5.
 *
 * For bindings of reference-counted languages (the Python binding's
 * Cache(values="object")): an entry may hold an opaque object pointer instead
 * of bytes, so that a hit returns the very object that was stored, with no
 * copy and no codec. The engine never looks inside an object; it holds one
 * reference to it, taken over from the writer, and gives it back through the
 * cache's release function when the entry leaves the cache (evicted,
 * replaced, expired, deleted, cleared, invalidated by a store, or the cache
 * closed).
 *
 * ## When release runs
 * Always after every engine lock is released, in the thread whose call made
 * the entry leave: at the end of that cache_* call (a write that evicted, a
 * read that met an expired entry, cache_delete, cache_clear, cache_close...),
 * or in a background thread of the cache's store link (a write-behind flush
 * or an invalidation from the store drops a copy). So release may run any
 * code, including calls into the same cache (not into a cache being closed,
 * and, from a store link's thread, not cache_close or cache_store_close of
 * that cache, which wait for that thread). A binding whose objects need a
 * global lock (Python's GIL) takes it in release as needed.
 *
 * ## Byte bound
 * An object entry is charged its allocation (header and key, as for bytes
 * values) plus the charge its writer gives, the writer's estimate of the
 * object's size; cache_stats's bytes and max_bytes count both. The engine
 * cannot check the estimate.
 *
 * ## Bytes calls meeting an object
 * cache_get, cache_get_value, cache_read and cache_take return
 * CACHE_E_WRONG_KIND for an entry that holds an object, and change nothing
 * (no hit is counted, the entry stays). cache_delete, cache_touch, cache_ttl,
 * cache_clear and cache_purge_expired treat object entries like any other.
 *
 * ## Stores (<libcache/cache_store.h>)
 * An object never reaches a store: cache_set_object takes the object's
 * encoded bytes too, and those are what a linked store is sent. Values the
 * store gives back (read-through fills, acknowledged sync writes) are bytes
 * entries, which cache_get_object returns as pinned bytes for the binding to
 * decode once and put in place of the bytes with cache_upgrade_object.
 */
#ifndef LIBCACHE_CACHE_OBJECT_H
#define LIBCACHE_CACHE_OBJECT_H

#include "libcache/cache.h"

#ifdef __cplusplus
extern "C" {
#endif

/* CACHE_E_WRONG_KIND (<libcache/cache.h>): the entry holds the other kind of
 * value (an object where bytes were asked for, or bytes where only an object
 * is accepted). */

/* Adds one reference to obj for the caller of cache_get_object or
 * cache_take_object, in the caller's thread, usually with the entry's shard
 * lock held: it must be quick, must not block and must not call the cache
 * (Py_INCREF, with the GIL the caller holds). */
typedef void (*cache_object_retain_fn)(void *ctx, void *obj);
/* Drops the cache's reference to obj. Runs with no engine lock held, from
 * any thread (see "When release runs"). */
typedef void (*cache_object_release_fn)(void *ctx, void *obj);

/* Lets the cache hold objects: retain and release (both required) are called
 * with ctx, which must stay valid until cache_close has returned. A cache
 * opened without them refuses cache_set_object (CACHE_E_INVALID).
 * CACHE_E_INVALID on NULL opts or a NULL function. Since 1.5. */
CACHE_API int cache_options_set_object_hooks(cache_options_t *opts,
                                             cache_object_retain_fn retain,
                                             cache_object_release_fn release, void *ctx);

/* Stores obj by reference for key (mode: CACHE_WRITE_SET, _ADD or _REPLACE),
 * charged its entry plus charge bytes (the object's estimated size, below
 * 2^48). encoded/elen: the object's encoded bytes, sent to the cache's store
 * when one is linked (required then: CACHE_E_INVALID if NULL with elen 0 and
 * a link attached; ignored otherwise). TTLs and statuses as cache_setv.
 * On CACHE_OK the cache owns the caller's reference to obj; on any other
 * status the caller keeps it and the cache is unchanged (bar evictions made
 * for room, as for every write). CACHE_E_INVALID also when the cache has no
 * object hooks or obj is NULL. Since 1.5. */
CACHE_API int cache_set_object(cache_t *cache, const void *key, size_t klen, void *obj,
                               uint64_t charge, const void *encoded, size_t elen, int64_t ttl_ms,
                               int mode);

/* flags of cache_get_object. */
#define CACHE_GET_LOCAL 1 /* no read-through: a local miss is CACHE_NOT_FOUND */

/* Reads key. Returns CACHE_OK with *obj the object (retained once for the
 * caller) and *bytes NULL; or CACHE_OK with *obj NULL and *bytes a pinned
 * bytes value (a bytes entry, or a value read through from the cache's
 * store), for the caller to decode, then cache_value_release; or
 * CACHE_NOT_FOUND. bytes may be NULL: a bytes entry is then
 * CACHE_E_WRONG_KIND (no hit counted). A hit marks the entry used, as any
 * read. flags: 0 or CACHE_GET_LOCAL. retain runs in the calling thread, under
 * the entry's shard lock for a local hit, or with no lock held (the entry
 * pinned) for an object a concurrent local write put in place during a
 * read-through: so a binding whose retain needs a global lock (the GIL) calls
 * with CACHE_GET_LOCAL while holding it, and reads through with
 * cache_get_value (which returns CACHE_E_WRONG_KIND if an object came in
 * meanwhile: read locally again). CACHE_E_INVALID on NULL cache or obj, or
 * unknown flags. Since 1.5. */
CACHE_API int cache_get_object(cache_t *cache, const void *key, size_t klen, int flags, void **obj,
                               cache_value_t **bytes);

/* Puts obj (charged as for cache_set_object) in place of key's local entry if
 * that entry is still seen, a bytes value cache_get_object returned: the
 * decoded form of the same value. Keeps the entry's deadline and its place in
 * the eviction order; not sent to the store, not counted as a set. CACHE_OK:
 * the cache owns the caller's reference to obj. CACHE_EXISTS: the key's
 * entry is no longer seen (replaced, deleted, evicted, invalidated, or seen
 * was a read-through value the cache did not keep): the caller keeps obj, and
 * may still return it to its reader, as what the read saw. CACHE_E_TOO_LARGE
 * (the object's charge cannot fit; the bytes entry stays), CACHE_E_NOMEM,
 * CACHE_E_INVALID (NULL argument, no object hooks). Since 1.5. */
CACHE_API int cache_upgrade_object(cache_t *cache, const void *key, size_t klen,
                                   const cache_value_t *seen, void *obj, uint64_t charge);

/* Removes key's live entry and hands its value to the caller, as one
 * operation (as cache_take): CACHE_OK with *obj the object (retained once
 * for the caller, in this thread with no lock held; the cache's own
 * reference is released as for any entry that leaves) and *bytes NULL, or
 * with *obj NULL and *bytes the pinned bytes value of a bytes entry;
 * CACHE_NOT_FOUND (both NULL). Counted as a delete; a linked store is sent a
 * DELETE, as for cache_take. CACHE_E_INVALID on NULL cache, obj or bytes.
 * Since 1.5. */
CACHE_API int cache_take_object(cache_t *cache, const void *key, size_t klen, void **obj,
                                cache_value_t **bytes);

/* Receives each object in cache_visit_objects; a non-zero result stops the
 * walk and is returned. */
typedef int (*cache_visit_fn)(void *ctx, void *obj);

/* Calls fn(ctx, obj) for every object the cache's entries hold, shard by
 * shard with each shard's lock held, for a garbage collector's traversal
 * (Python's tp_traverse). fn must not call the cache. Returns 0 when every
 * object was visited, fn's first non-zero result otherwise, or
 * CACHE_E_INVALID on NULL cache or fn. Since 1.5. */
CACHE_API int cache_visit_objects(cache_t *cache, cache_visit_fn fn, void *ctx);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LIBCACHE_CACHE_OBJECT_H */
