// Pieces of the link (core/src/link.h) shared by link.cc and link_read.cc.

#ifndef LIBCACHE_CORE_SRC_LINK_INTERNAL_H_
#define LIBCACHE_CORE_SRC_LINK_INTERNAL_H_

#include "core/src/link.h"

namespace libcache::detail {

// A caller of cache_store_set_sync / delete_sync, registered on its key's
// node from the time its operation is queued until it applied the write
// locally (or gave up). All fields under the link's mu_.
struct SyncWaiter {
  SyncWaiter *prev = nullptr, *next = nullptr;  // on node->waiters
  Node *node = nullptr;                         // nullptr once unregistered or closed
  enum : int { kPending, kInflight, kDone };
  int slot = kPending;  // where the operation carrying its write is
  int status = 0;       // with kDone: CACHE_OK, CACHE_STORE_REJECTED or CACHE_E_CLOSED
  bool superseded = false;  // a newer write of the key was queued after it, or it was invalidated
  uint64_t coh_epoch0 = 0;  // the link's coherence epoch when it was queued
};

// One read-through load in progress (single-flight); under the link's mu_.
struct Flight {
  int refs = 1;  // the loader and each waiter
  bool done = false;
  Entry *result = nullptr;  // one reference, the flight's
};

// The store's view of a queued operation (valid while op holds its entry).
inline cache_store_op_t ToStoreOp(const Op &o) {
  cache_store_op_t op{};
  op.kind = static_cast<int>(o.kind);
  op.key = o.entry->key_data();
  op.klen = o.entry->klen;
  op.value = o.kind == OpKind::kPut ? o.entry->value_data() : nullptr;
  op.vlen = o.kind == OpKind::kPut ? o.entry->vlen : 0;
  op.expire_at_ms = o.expire_at_ms;
  op.status = CACHE_OK;
  op.reason = nullptr;
  return op;
}

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_LINK_INTERNAL_H_
