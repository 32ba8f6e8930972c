// What _core.cc (the cache) shares with store.cc (its link to a store: Redis).
//
// ## Who may call the engine without the GIL
// _core.Cache holds the GIL for every engine call, which also serialises
// close() against every other call. A cache linked to a store has calls that
// may wait: a read-through miss waits for Redis (up to its read timeout), a
// write under on_full="block" for room in the queue (up to its block
// timeout), and the store's flush, set_sync, delete_sync and close for Redis
// (up to their timeouts, which may be unlimited). Those release the GIL, so
// another thread's close() could free the cache under them. The rule that
// prevents it: every engine call made without the GIL counts itself in
// LinkState::users (incremented with the GIL held, decremented as the call's
// last use of the cache), and Cache.close() first closes the link (which
// wakes every call waiting on it: flushes, sync writes, blocked writers), then
// waits for users to drop to 0, then closes the cache.
//
// ## The link for the queue, the adapter for stats and commands
// The store is attached with cache_redis_attach (only that adapter keeps the
// cache coherent: it holds the link its invalidations go to), and every
// call on the queue (flush, set_sync, delete_sync, close, stats of the link,
// dead letters, invalidate) goes to the link, cache_redis_link(r). A closed
// link stays allocated, inert, until cache_close (<libcache/cache_store.h>),
// so a call that races a close still meets valid memory and returns
// CACHE_E_CLOSED. The adapter r itself is freed by the link's close, and a
// call entering cache_redis_flush(r) in another thread at that moment would
// read freed memory: nothing outside the adapter can tell when that call has
// got past its use of r. So r is used for two calls only, which the binding
// keeps apart from a close: cache_redis_stats (quick, with the GIL held,
// never once the store or cache is marked closed) and cache_redis_command
// (which may wait for Redis without the GIL: counted in
// LinkState::adapter_users, and every close of the link first marks it
// closed, with the GIL, then waits for adapter_users to drop to 0; a command
// ends within its timeout, so that wait is bounded).
#ifndef LIBCACHE_BINDINGS_PYTHON_SRC_BINDING_H_
#define LIBCACHE_BINDINGS_PYTHON_SRC_BINDING_H_

#include <Python.h>
#include <libcache/cache.h>
#include <libcache/cache_store.h>
#include <pybind11/pybind11.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace libcache_py {

// A cache's link to its store, as _core.Cache sees it. Every field but users
// is read and written with the GIL held.
struct LinkState {
  cache_link_t *link = nullptr;  // the attached, open link; null when none
  bool release_reads = false;    // read-through on: a get may wait for the store
  bool release_writes = false;   // on_full="block": a write may wait for room
  // An object cache's writes carry their encoded form (for the store) while
  // this is set: from attach until the link's close has returned, which
  // spans the close's final flush, when link is already null but the engine
  // still queues writes.
  bool encode_writes = false;
  // Engine calls in progress without the GIL (see above). Incremented with
  // the GIL held (so ordered before a close by the GIL); decremented with
  // release, read by close with acquire, so that a call's last use of the
  // cache happens before cache_close.
  std::atomic<int> users{0};
  // Of those, calls that use the adapter (cache_redis_t) rather than the
  // link: cache_redis_command (see above). Same orders as users; a close of
  // the link waits for 0 before it calls cache_store_close.
  std::atomic<int> adapter_users{0};

  LinkState();   // registers it for the fork handler
  ~LinkState();  // unregisters it
  LinkState(const LinkState &) = delete;
  LinkState &operator=(const LinkState &) = delete;
};

// Bumped in every forked child (pthread_atfork), which also resets every
// LinkState there: the child's cache has dropped its link (its copy is
// inert), and the threads that were counted in users do not exist.
uint64_t ForkGeneration();

// Closes the link of state (if any) with no wait, then waits for its users;
// first for the adapter's (its commands), whom the link's close would free
// it under.
// REQUIRES: the GIL, which it releases while it waits.
void CloseLinkAndWait(LinkState *state);

// ---- _core.Cache's pieces, for store.cc (each sets a Python exception and
// returns null / false on failure) ----

// The open cache of a libcache.Cache (CacheClosed if closed, TypeError if
// not a cache); *state (may be null) = its link state.
cache_t *OpenCacheOf(PyObject *cache, LinkState **state);
// A key, as _core.Cache takes it (str as UTF-8, or bytes), that a write may use.
bool WritableKeyOf(PyObject *key, const char **data, size_t *size);
// value as the cache stores it: its type tag, then its payload (codec values
// encoded with the cache's codec). May run Python code (the codec).
bool EncodeTagged(PyObject *cache, PyObject *value, std::string *out);
// ttl= in seconds as the writes take it, in ms (CACHE_TTL_DEFAULT for None).
bool TtlArg(PyObject *ttl, int64_t *ms);

// Runs an engine call that may wait, without the GIL, counted in
// state->users. interruptible (the main thread only: signals reach no other):
// the call runs in a helper thread while this one waits in 20 ms slices and
// runs the signal handlers between them; when one raises (Ctrl-C:
// KeyboardInterrupt), returns false with it set at once, and the helper
// finishes the call on its own (still counted in users, so a close wakes it
// and waits for it). REQUIRES: the GIL. fn runs without it and must not touch
// Python objects: it owns copies of what it needs.
bool RunWaiting(LinkState *state, bool interruptible, std::function<int()> fn, int *rc);

// ---- Object values (Cache(values="object"), <libcache/cache_object.h>), for
// cached.cc (@cached's compiled wrapper) ----

// Looks key up in cache (a libcache.Cache of either kind) as cache.get(key)
// would, with the key given as bytes: 1 found (*out: a new reference to the
// value: the stored object itself for an object entry, the decoded value for
// a bytes entry, which an object cache then keeps in place of its bytes), 0
// absent, -1 with an exception set (CacheClosed, a codec error...).
// REQUIRES: the GIL. May release it (read-through) and may run Python code
// (a codec), like get.
int LookupValue(PyObject *cache, const char *key, size_t klen, PyObject **out);

// Defines _core.StoreLink and _core.attach_redis (store.cc).
void BindStore(pybind11::module_ &m);

// Defines _core.CachedFunction (@cached's compiled wrapper) and
// _core._cached_key (its argument encoding, for tests) (cached.cc).
void BindCached(pybind11::module_ &m);

}  // namespace libcache_py

#endif  // LIBCACHE_BINDINGS_PYTHON_SRC_BINDING_H_
