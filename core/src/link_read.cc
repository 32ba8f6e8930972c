// Read-through and sync writes of the link (core/src/link.h).
//
// ## Read-through
// A local miss (cache_get, cache_read, cache_get_value) asks the link:
// 1. the queue: a waiting or in-flight PUT of the key is served (a process
//    reads its own writes; sync-only writes, not yet acknowledged, are not);
//    a waiting DELETE answers a miss. An EXPIRE says nothing of the value.
// 2. else one load per key at a time (single-flight, flights_): the first
//    caller calls store->load with the read timeout, outside every lock;
//    the others wait for its answer up to the same timeout. A timeout or an
//    error is a miss (counted in read_errors), never a hang.
// 3. the loaded value fills the cache with the store's remaining TTL, through
//    Shard::Fill, which does not queue it back, and only if no local write of
//    the key's generation stripe (gen_) happened since the load began: a load
//    that races a local write or delete never overwrites the newer state.
//
// ## Sync writes (write-through)
// cache_store_set_sync queues its PUT without touching the cache, as a
// "sync-only" operation carrying a SyncWaiter, and waits. It first waits for
// the key's queued local writes to leave the queue (so that a rejected sync
// write, which is dropped, can never take an acknowledged local write with
// it). When the store applied it, the caller applies it locally under the
// key's shard lock, unless a newer write of the key was queued meanwhile
// (superseded): that one is newer in both places. Rejected: nothing changed
// locally. Timed out: nothing changed locally; the operation stays queued and
// may still reach the store (its outcome is unknown to the caller).

#include <new>
#include <string>

#include "core/src/link.h"
#include "core/src/link_internal.h"

namespace libcache::detail {

namespace {

struct LoadCtx {
  const Allocator *alloc;
  std::string_view key;
  uint64_t hash;
  Entry *entry = nullptr;
  int64_t ttl_ms = -1;
};

void OnLoaded(void *p, const void *value, size_t vlen, int64_t ttl_ms) {
  auto *c = static_cast<LoadCtx *>(p);
  if (c->entry != nullptr || vlen > UINT32_MAX || (value == nullptr && vlen != 0)) return;
  const std::string_view part(static_cast<const char *>(value), vlen);
  // Three owners: the caller, the flight (for its waiters) and the table.
  c->entry = Entry::Create(*c->alloc, c->key, c->hash, &part, 1, vlen, /*owners=*/3);
  c->ttl_ms = ttl_ms;
}

}  // namespace

Entry *Link::LoadAndFill(std::string_view key, uint64_t hash, int *status) {
  for (int attempt = 1;; ++attempt) {
    // The fill token. relaxed/seq_cst: see FillVerdictLocked; a stale gen0
    // only refuses a fill that could have been kept.
    const uint64_t gen0 = gen_[hash & kGenMask].load(std::memory_order_relaxed);
    const uint64_t epoch0 = coh_epoch_.load();
    LoadCtx ctx{cache_->alloc_, key, hash};
    const int st =
        store_.load(store_.ctx, key.data(), key.size(), opts_.read_timeout_ms, &OnLoaded, &ctx);
    Entry *e = ctx.entry;
    *status = st == CACHE_OK && e == nullptr ? CACHE_E_NOMEM : st;
    if (st != CACHE_OK || e == nullptr) {
      if (e != nullptr) {
        for (int i = 0; i < 3; ++i) e->Unref(*cache_->alloc_);
      }
      return nullptr;
    }
    // ttl_ms: -1 never expires; 0 is about to expire (served, not kept).
    if (ctx.ttl_ms == 0) {
      e->Unref(*cache_->alloc_);
      return e;
    }
    const uint64_t ttl = ctx.ttl_ms < 0 ? 0 : std::min<uint64_t>(ctx.ttl_ms, kMaxTtlMs);
    Entry *current = nullptr;
    const Status fill = cache_->FillFromStore(e, hash, ttl, *this, gen0, epoch0, &current);
    if (fill == Status::kOk) return e;
    if (fill == Status::kExists || fill == Status::kClosed) {
      fills_refused_.fetch_add(1, std::memory_order_relaxed);
    }
    if (current != nullptr) {
      // A local write came while the load was in flight: its value is newer.
      // Served pinned twice, like a loaded entry (the caller's and the flight's).
      for (int i = 0; i < 3; ++i) e->Unref(*cache_->alloc_);
      current->refs.fetch_add(1, std::memory_order_relaxed);  // relaxed: our pin holds it
      return current;
    }
    if (fill != Status::kExists || attempt == kFillAttempts) {
      // Not coherent, not storable, or the key keeps changing: served, not kept.
      e->Unref(*cache_->alloc_);
      return e;
    }
    // An invalidation (or a local delete) came while the load was in flight:
    // the reply may predate it, so it is served to nobody.
    for (int i = 0; i < 3; ++i) e->Unref(*cache_->alloc_);
    // Else load again, unless a local write of the key now waits in the
    // queue (a DELETE answers a miss, a PUT its value).
    LockGuard<Mutex> g(mu_);
    if (Node *n = FindLocked(hash, key); n != nullptr && KeyBusyLocked(n)) {
      const Op &op = n->pending.live() && !n->pending.sync_only ? n->pending : n->inflight;
      if (op.kind == OpKind::kPut && !(op.expire_at_ms != 0 && op.expire_at_ms <= RealtimeMs())) {
        op.entry->refs.fetch_add(2, std::memory_order_relaxed);  // relaxed: the queue's ref holds it
        return op.entry;
      }
      if (op.kind != OpKind::kExpire) {
        *status = CACHE_NOT_FOUND;
        return nullptr;
      }
    }
  }
}

// Not analysed: mu_ is released around the load.
Entry *Link::ReadThrough(std::string_view key, uint64_t hash) NO_THREAD_SAFETY_ANALYSIS {
  const int64_t deadline = DeadlineAfter(opts_.read_timeout_ms);
  mu_.lock();
  if (forked_ || state_.load() != kOpen) {
    mu_.unlock();
    return nullptr;
  }
  if (Node *n = FindLocked(hash, key)) {
    const Op *op = n->pending.live() && !n->pending.sync_only     ? &n->pending
                   : n->inflight.live() && !n->inflight.sync_only ? &n->inflight
                                                                  : nullptr;
    if (op != nullptr && op->kind != OpKind::kExpire) {
      Entry *e = nullptr;
      const bool expired = op->expire_at_ms != 0 && op->expire_at_ms <= RealtimeMs();
      if (op->kind == OpKind::kPut && !expired) {
        e = op->entry;
        e->refs.fetch_add(1, std::memory_order_relaxed);  // relaxed: the queue's ref holds it
        ++stats_.read_hits;
      } else {
        ++stats_.read_misses;
      }
      mu_.unlock();
      return e;
    }
  }
  std::string k;
  Flight *f = nullptr;
  try {
    k.assign(key.data(), key.size());
    auto it = flights_.find(k);
    if (it != flights_.end()) {
      f = it->second;
    } else {
      f = new Flight;
      try {
        flights_.emplace(k, f);
      } catch (...) {
        delete f;
        throw;
      }
      f->refs = 1;
      ++loads_;
      mu_.unlock();
      int st = CACHE_OK;
      Entry *e = LoadAndFill(key, hash, &st);
      mu_.lock();
      --loads_;
      flights_.erase(k);
      f->done = true;
      if (e != nullptr) {
        f->result = e;  // the flight's reference (made with three owners)
        ++stats_.read_hits;
      } else if (st == CACHE_NOT_FOUND) {
        ++stats_.read_misses;
      } else {
        ++stats_.read_errors;
      }
      if (--f->refs == 0) {
        if (f->result != nullptr) f->result->Unref(*cache_->alloc_);
        delete f;
      }
      done_cv_.NotifyAll();
      mu_.unlock();
      return e;
    }
  } catch (...) {
    mu_.unlock();
    throw;
  }
  ++f->refs;
  while (!f->done && done_cv_.WaitUntil(mu_, deadline)) {
  }
  Entry *e = nullptr;
  if (!f->done) {
    ++stats_.read_errors;
  } else if (f->result != nullptr) {
    e = f->result;
    e->refs.fetch_add(1, std::memory_order_relaxed);  // relaxed: the flight's ref holds it
    ++stats_.read_hits;
  } else {
    ++stats_.read_misses;
  }
  if (--f->refs == 0) {
    if (f->result != nullptr) f->result->Unref(*cache_->alloc_);
    delete f;
  }
  mu_.unlock();
  return e;
}

bool Link::KeyBusyLocked(Node *n) {
  return (n->pending.live() && !n->pending.sync_only) ||
         (n->inflight.live() && !n->inflight.sync_only);
}

bool Link::FinishSyncLocked(SyncWaiter *w, uint64_t hash) {
  LockGuard<Mutex> g(mu_);
  // Not while incoherent, nor when the epoch moved since it was queued: the
  // value might be stale by the time it is applied (see link.h, coherence).
  const bool apply = w->node != nullptr && !w->superseded && w->status == CACHE_OK &&
                     coherent_.load() && coh_epoch_.load() == w->coh_epoch0;
  if (apply) {
    // A local write: a fill that began before it must not land.
    std::atomic<uint64_t> &gen = gen_[hash & kGenMask];
    gen.store(gen.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  UnregisterWaiterLocked(w);
  return apply;
}

Status Link::SyncWrite(OpKind kind, std::string_view key, std::string_view value, int64_t ttl_ms,
                       int64_t timeout_ms) {
  uint64_t ttl = 0;
  if (kind == OpKind::kPut && !cache_->ResolveTtl(ttl_ms, &ttl)) return Status::kInvalid;
  if (key.size() > kMaxKeySize || value.size() > UINT32_MAX) return Status::kTooLarge;
  if (kind == OpKind::kPut && Entry::SizeFor(key.size(), value.size()) > cache_->max_bytes_) {
    return Status::kTooLarge;
  }
  const int64_t deadline = DeadlineAfter(timeout_ms);
  const uint64_t charge = Charge(key.size(), value.size());
  const Status r = Reserve(charge);
  if (r != Status::kOk) return r;
  // Two owners: the queue and the local cache once acknowledged.
  const uint64_t hash = cache_->Hash(key);
  Entry *e = Entry::Create(*cache_->alloc_, key, hash, &value, 1, value.size(), 2);
  if (e == nullptr || !EnsureSpareNode()) {
    if (e != nullptr) {
      e->Unref(*cache_->alloc_);
      e->Unref(*cache_->alloc_);
    }
    Unreserve(charge);
    return Status::kNoMem;
  }
  SyncWaiter w;
  int status = CACHE_OK;
  {
    LockGuard<Mutex> g(mu_);
    ++urgent_;  // send the key's queued writes, then this one, at once
    work_cv_.NotifyAll();
    bool ok = true;
    for (;;) {
      if (state_.load() != kOpen) {
        status = CACHE_E_CLOSED;
        break;
      }
      Node *n = FindLocked(hash, key);
      if (n == nullptr || !KeyBusyLocked(n)) break;
      if (!done_cv_.WaitUntil(mu_, deadline)) {
        ok = false;
        break;
      }
    }
    if (!ok || status != CACHE_OK) {
      --urgent_;
      e->Unref(*cache_->alloc_);
      e->Unref(*cache_->alloc_);
      UnreserveLocked(charge);
      return ok ? Status::kClosed : Status::kTimeout;
    }
    const int64_t expire_at = ttl == 0 ? 0 : RealtimeMs() + static_cast<int64_t>(ttl);
    w.coh_epoch0 = coh_epoch_.load();
    BumpGenerationLocked(hash);
    EnqueueInnerLocked(kind, e, hash, expire_at, charge, &w,
                       FindLocked(hash, key));  // takes the queue's reference
    work_cv_.NotifyAll();
    while (w.slot != SyncWaiter::kDone && done_cv_.WaitUntil(mu_, deadline)) {
    }
    --urgent_;
    if (w.slot != SyncWaiter::kDone) {
      UnregisterWaiterLocked(&w);  // the operation stays queued
      e->Unref(*cache_->alloc_);
      return Status::kTimeout;
    }
    status = w.status;
    if (status != CACHE_OK || w.node == nullptr) {
      UnregisterWaiterLocked(&w);
      e->Unref(*cache_->alloc_);
      if (status == CACHE_OK) return Status::kClosed;  // applied by the store, not locally
      return status == CACHE_STORE_REJECTED ? Status::kRejected : Status::kClosed;
    }
  }
  // Applied by the store: apply locally unless a newer write exists (this
  // takes the key's shard lock, then FinishSyncLocked takes mu_).
  cache_->ApplySync(kind == OpKind::kPut ? e : nullptr, key, hash, ttl, this, &w);
  if (kind != OpKind::kPut) e->Unref(*cache_->alloc_);
  return Status::kOk;
}

Status Link::SetSync(std::string_view key, std::string_view value, int64_t ttl_ms,
                     int64_t timeout_ms) {
  return SyncWrite(OpKind::kPut, key, value, ttl_ms, timeout_ms);
}

Status Link::DeleteSync(std::string_view key, int64_t timeout_ms) {
  return SyncWrite(OpKind::kDelete, key, std::string_view(), CACHE_TTL_NONE, timeout_ms);
}

// ---- Coherence (link.h, "Changes made elsewhere") -------------------------------

bool Link::InvalidateKeyLocked(uint64_t hash, std::string_view key) {
  LockGuard<Mutex> g(mu_);
  BumpGenerationLocked(hash);  // a load of the key in flight is not kept
  Node *n = FindLocked(hash, key);
  if (n == nullptr) return true;
  SupersedeWaitersLocked(n);  // a sync write in flight is not applied locally
  if (n->pending.holds_local_value()) {
    conflicts_.fetch_add(1, std::memory_order_relaxed);  // ours is sent later: it wins
    return false;
  }
  if (n->inflight.holds_local_value()) {
    // Sent, not answered: the remote write may have been ordered after ours.
    conflicts_.fetch_add(1, std::memory_order_relaxed);
    n->drop_after_ack = true;
    return false;
  }
  return true;
}

bool Link::CleanForWalkLocked(uint64_t hash, std::string_view key) {
  LockGuard<Mutex> g(mu_);
  Node *n = FindLocked(hash, key);
  if (n == nullptr) return true;
  SupersedeWaitersLocked(n);
  if (n->pending.holds_local_value()) return false;
  if (n->inflight.holds_local_value()) {
    n->drop_after_ack = true;
    return false;
  }
  return true;
}

bool Link::CleanAfterAckLocked(uint64_t hash, std::string_view key) {
  LockGuard<Mutex> g(mu_);
  BumpGenerationLocked(hash);
  Node *n = FindLocked(hash, key);
  return n == nullptr || (!n->pending.holds_local_value() && !n->inflight.holds_local_value());
}

void Link::DropAcked(std::vector<std::pair<Entry *, uint64_t>> *drops) {
  uint64_t n = 0;
  for (auto &[e, hash] : *drops) {
    n += cache_->DropAckedFromStore(this, e->key(), hash);
    e->Unref(*cache_->alloc_);
  }
  drops->clear();
  CountInvalidated(n);
}

Status Link::Invalidate(std::string_view key) {
  if (key.size() > kMaxKeySize) return Status::kTooLarge;
  if (!Usable()) return Status::kClosed;
  invalidations_.fetch_add(1, std::memory_order_relaxed);
  CountInvalidated(cache_->InvalidateFromStore(this, key, cache_->Hash(key)));
  return Status::kOk;
}

Status Link::InvalidateAll() {
  if (!Usable()) return Status::kClosed;
  invalidations_.fetch_add(1, std::memory_order_relaxed);
  coh_epoch_.fetch_add(1);  // seq_cst, before the walk: see FillVerdictLocked
  CountInvalidated(cache_->InvalidateAllFromStore(this));
  return Status::kOk;
}

Status Link::SetCoherent(bool coherent) {
  if (!Usable()) return Status::kClosed;
  if (!coherent) {
    coherent_.store(false);
    return InvalidateAll();
  }
  coh_epoch_.fetch_add(1);  // loads begun while incoherent are not kept
  coherent_.store(true);
  return Status::kOk;
}

}  // namespace libcache::detail
