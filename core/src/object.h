// Object entries: language objects held by reference (<libcache/cache_object.h>).
//
// ## What it is
// An object entry is an ordinary Entry (core/src/entry.h) whose kind is
// kObjectEntry and whose value bytes are an ObjectPayload: the object's
// pointer, the cache's ObjectOwner (its hooks and allocator), and the charge
// the writer gave. Everything else (table, ring, TTL, counters, bounds) treats
// it like any entry; Shard::Charge adds the payload's charge to the block's.
//
// ## Releasing the object, outside every lock
// The object's release hook may run any code (a Python __del__ calling the
// same cache), so it must never run under an engine lock. When an object
// entry's last reference drops (Entry::Unref, wherever that happens: under a
// shard lock for an eviction, a replacement, an expiry, a delete, a clear),
// the block is not freed: it is pushed on a list of the calling thread
// (intrusive, through the header's last 8 bytes, which nothing reads once
// the entry is unowned: no allocation, so no failure under a lock). Every
// Cache call that may drop an entry ends with a ReleaseScope, whose destructor
// runs after the call's locks are released and, if the list is not empty,
// calls each object's release hook and frees the blocks. The link's threads
// drop local copies through Cache methods that end the same way. A release
// hook that calls into the cache pushes onto the same list, drained by the
// nested call or by the outer loop, which pops one block at a time.
//
// ## Costs
// The bytes path pays one predictable branch in Unref (on the last
// reference only) and one thread-local load per call (initial-exec TLS: a
// load at a fixed offset from the thread pointer).

#ifndef LIBCACHE_CORE_SRC_OBJECT_H_
#define LIBCACHE_CORE_SRC_OBJECT_H_

#include <cstdint>

#include "core/cache.h"

namespace libcache::detail {

struct Allocator;
struct Entry;

// What an object entry needs to give its object back: the cache's hooks and
// the allocator of its block. One per cache, alive until ~Cache has drained.
struct ObjectOwner {
  ObjectHooks hooks;
  const Allocator *alloc = nullptr;
};

// The value bytes of an object entry (read and written with memcpy: the
// value is not aligned).
struct ObjectPayload {
  void *obj;
  const ObjectOwner *owner;
  uint64_t charge;  // the writer's estimate of the object's size, < 2^48
};

inline constexpr uint64_t kMaxObjectCharge = uint64_t{1} << 48;

// Blocks of object entries whose last reference dropped, waiting for their
// release hook (linked through the header's last 8 bytes). Trivial type: no guard.
extern thread_local Entry *t_released_objects __attribute__((tls_model("initial-exec")));

// Pushes e (kind kObjectEntry, no owner left) on this thread's list.
void DeferObjectRelease(Entry *e);
// Calls the release hook of every deferred object and frees the blocks.
// REQUIRES: no engine lock held by this thread.
void RunDeferredReleases();

inline void ReleaseDeferredObjects() {
  if (__builtin_expect(t_released_objects != nullptr, 0)) RunDeferredReleases();
}

// Declared first in a Cache call that may drop entries: its destructor runs
// the deferred releases once the call's locks are gone.
struct ReleaseScope {
  ReleaseScope() = default;
  ReleaseScope(const ReleaseScope &) = delete;
  ReleaseScope &operator=(const ReleaseScope &) = delete;
  ~ReleaseScope() { ReleaseDeferredObjects(); }
};

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_OBJECT_H_
