// The write-behind queue and its flusher (the design comment is in
// core/src/link.h). Read-through and sync writes are in link_read.cc.

#include "core/src/link.h"

#include <sched.h>
#include <signal.h>

#include <algorithm>
#include <new>

#include "core/src/link_internal.h"

namespace libcache::detail {

namespace {

// Frees the calling thread's spare node when the thread exits. Touched only
// when a spare is allocated: a thread_local with a destructor is reached
// through a guard variable and __tls_get_addr in a shared library, which
// cost a call on every write when the spare itself lived in it.
struct SpareNodeOwner {
  ~SpareNodeOwner() {
    delete t_spare_node;
    t_spare_node = nullptr;
  }
};
thread_local SpareNodeOwner t_spare_owner;

constexpr size_t kMaxFreeNodes = 4096;
constexpr uint64_t kInitialSlots = 2048;

}  // namespace

__thread Node *t_spare_node __attribute__((tls_model("initial-exec"))) = nullptr;

bool EnsureSpareNodeSlow() {
  t_spare_node = new (std::nothrow) Node;
  [[maybe_unused]] volatile SpareNodeOwner *touch = &t_spare_owner;  // registers its destructor
  return t_spare_node != nullptr;
}

void WriteHook::Applied(uint64_t hash, uint64_t ttl_ms) {
  const int64_t expire_at =
      ttl_ms == 0 || kind == OpKind::kDelete ? 0 : RealtimeMs() + static_cast<int64_t>(ttl_ms);
  link->EnqueueLocked(kind, holder, hash, expire_at, charge);
}

Link::Link(Cache *cache, const cache_store_t &store, const LinkOptions &opts)
    : cache_(cache),
      store_(store),
      opts_(opts),
      settle_bytes_(std::max<uint64_t>(opts.max_queue_bytes / 8, 1)),
      settle_ops_(std::max<uint64_t>(opts.max_queue_ops / 8, 1)) {}

Link::~Link() NO_THREAD_SAFETY_ANALYSIS {
  // The index arrays, the current one and those it grew out of (see slots_).
  for (std::atomic<uint64_t> *a = slots_, *older; a != nullptr; a = older) {
    older = reinterpret_cast<std::atomic<uint64_t> *>(a[slot_mask_ + 1].load());
    delete[] a;
    slot_mask_ /= 2;
  }
}

Status Link::Create(Cache *cache, const cache_store_t &store, const LinkOptions &opts,
                    Link **out) {
  std::unique_ptr<Link> l(new (std::nothrow) Link(cache, store, opts));
  if (l == nullptr) return Status::kNoMem;
  {
    LockGuard<Mutex> g(l->mu_);
    if (!l->GrowSlotsLocked()) return Status::kNoMem;
    try {
      l->epochs_.emplace_back(0, 0);
      l->batch_nodes_.reserve(opts.batch_max_ops);
      l->batch_ops_.reserve(opts.batch_max_ops);
      l->free_nodes_.reserve(64);
    } catch (const std::bad_alloc &) {
      return Status::kNoMem;
    }
  }
  // The flusher blocks every signal (SIGPIPE from a store's socket above all):
  // it inherits the mask in force when it is created.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const int rc = pthread_create(&l->flusher_, nullptr, &Link::FlusherMain, l.get());
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) return Status::kNoMem;
  l->flusher_started_ = true;
  *out = l.release();
  return Status::kOk;
}

// ---- Reservations -------------------------------------------------------------

Status Link::ReserveSlow(uint64_t charge) {
  LockGuard<Mutex> g(mu_);
  if (state_.load() != kOpen) return Status::kClosed;
  SettleLocked();  // the fast path may have failed for charges already released
  const bool hopeless = charge > opts_.max_queue_bytes;
  const int64_t deadline = DeadlineAfter(opts_.block_timeout_ms);
  // Counted before the first look at used_, so that an Unreserve that
  // lowers it after that look sees us and wakes us (both seq_cst).
  room_waiters_.fetch_add(1);
  Status st = Status::kFull;
  for (;;) {
    uint64_t cur = used_.load();
    if (Fits(cur, charge)) {
      if (used_.compare_exchange_strong(cur, cur + Pack(charge, 1))) {
        st = Status::kOk;
        break;
      }
      continue;
    }
    if (hopeless || !opts_.block_when_full) break;
    if (!room_cv_.WaitUntil(mu_, deadline)) break;
    if (state_.load() != kOpen) {
      st = Status::kClosed;
      break;
    }
  }
  room_waiters_.fetch_sub(1);
  if (st == Status::kFull) ++stats_.refused_full;
  return st;
}

void Link::Unreserve(uint64_t charge) {
  used_.fetch_sub(Pack(charge, 1));  // seq_cst: see ReserveSlow
  if (room_waiters_.load() != 0) {
    LockGuard<Mutex> g(mu_);
    room_cv_.NotifyAll();
  }
}

void Link::UnreserveLocked(uint64_t charge) {
  used_.fetch_sub(Pack(charge, 1));
  if (room_waiters_.load() != 0) room_cv_.NotifyAll();
}

void Link::ReleaseLaterLocked(uint64_t charge) {
  unsettled_ += Pack(charge, 1);
  // seq_cst: see ReserveSlow (a waiter counted itself under mu_ before it
  // looked at used_, so it is seen here and woken with the room settled).
  if (room_waiters_.load() != 0 || BytesOf(unsettled_) >= settle_bytes_ ||
      OpsOf(unsettled_) >= settle_ops_) {
    SettleLocked();
  }
}

void Link::SettleLocked() {
  if (unsettled_ != 0) {
    used_.fetch_sub(unsettled_);  // seq_cst: see ReserveSlow
    unsettled_ = 0;
  }
  if (room_waiters_.load() != 0) room_cv_.NotifyAll();
}

// ---- The index, the lists and the counts --------------------------------------

Node *Link::FindSlowLocked(uint64_t hash, std::string_view key) {
  for (Node *n = overflow_; n != nullptr; n = n->bucket_next) {
    if (n->hash == hash && n->key_entry()->KeyEquals(key)) return n;
  }
  return nullptr;
}

// Doubles the index (the first call makes it); false when out of memory.
bool Link::GrowSlotsLocked() {
  const uint64_t cap = slots_ == nullptr ? kInitialSlots : (slot_mask_ + 1) * 2;
  auto *grown = new (std::nothrow) std::atomic<uint64_t>[cap + 1]();  // + the older arrays' link
  if (grown == nullptr) return false;
  for (uint64_t i = 0; slots_ != nullptr && i <= slot_mask_; ++i) {
    const uint64_t w = slots_[i].load(std::memory_order_relaxed);
    if (w == 0) continue;
    uint64_t j = SlotHome(w, cap - 1);
    while (grown[j].load(std::memory_order_relaxed) != 0) j = (j + 1) & (cap - 1);
    grown[j].store(w, std::memory_order_relaxed);
  }
  grown[cap].store(reinterpret_cast<uintptr_t>(slots_), std::memory_order_relaxed);
  slots_ = grown;
  slot_mask_ = cap - 1;
  // release, pointer before mask: a prefetching writer that reads the new
  // mask reads the new (larger) array; an old mask fits either.
  slots_hint_.store(grown, std::memory_order_release);
  slot_mask_hint_.store(cap - 1, std::memory_order_release);
  return true;
}

Node *Link::NewNodeLocked(uint64_t hash) {
  Node *n;
  if (!free_nodes_.empty()) {
    n = free_nodes_.back();
    free_nodes_.pop_back();
  } else {
    n = t_spare_node;  // EnsureSpareNode() ran before the locks
    t_spare_node = nullptr;
  }
  *n = Node();
  n->hash = hash;
  // Grow at half full (short probes); a failed growth never fails a write:
  // the slots fill up to all but one (which ends every probe), and past that
  // nodes go on overflow_.
  if ((in_slots_ + 1) * 2 > slot_mask_ + 1) GrowSlotsLocked();
  if (in_slots_ + 1 < slot_mask_ + 1 && Slottable(n)) {
    uint64_t i = hash & slot_mask_;
    while (slots_[i].load(std::memory_order_relaxed) != 0) i = (i + 1) & slot_mask_;
    slots_[i].store(SlotWord(hash, n), std::memory_order_relaxed);
    ++in_slots_;
  } else {
    n->in_overflow = true;
    n->bucket_next = overflow_;
    overflow_ = n;
  }
  ++nodes_;
  return n;
}

// Linear probing's deletion by backward shift: later slots of the run move
// up unless their home lies cyclically in (hole, their slot].
void Link::EraseNodeLocked(Node *n) {
  if (n->in_overflow) {
    for (Node **p = &overflow_; *p != nullptr; p = &(*p)->bucket_next) {
      if (*p == n) {
        *p = n->bucket_next;
        break;
      }
    }
    return;
  }
  uint64_t i = n->hash & slot_mask_;
  while (SlotNode(slots_[i].load(std::memory_order_relaxed)) != n) i = (i + 1) & slot_mask_;
  for (uint64_t j = i;;) {
    j = (j + 1) & slot_mask_;
    const uint64_t w = slots_[j].load(std::memory_order_relaxed);
    if (w == 0) break;
    const uint64_t home = SlotHome(w, slot_mask_);
    const bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
    if (stays) continue;
    slots_[i].store(w, std::memory_order_relaxed);
    i = j;
  }
  slots_[i].store(0, std::memory_order_relaxed);
  --in_slots_;
}

void Link::MaybeFreeNodeLocked(Node *n) {
  if (n->pending.live() || n->inflight.live() || n->waiters != nullptr) return;
  EraseNodeLocked(n);
  --nodes_;
  if (free_nodes_.size() < kMaxFreeNodes && free_nodes_.size() < free_nodes_.capacity()) {
    free_nodes_.push_back(n);  // never reallocates
  } else if (free_nodes_.size() < kMaxFreeNodes) {
    try {
      free_nodes_.push_back(n);
    } catch (const std::bad_alloc &) {
      delete n;
    }
  } else {
    delete n;
  }
}

void Link::ListPushBack(Node *n, bool ready) {
  Node *&head = ready ? ready_head_ : delayed_head_;
  Node *&tail = ready ? ready_tail_ : delayed_tail_;
  n->where = ready ? Node::kReady : Node::kDelayed;
  n->next = nullptr;
  n->prev = tail;
  if (tail != nullptr) tail->next = n; else head = n;
  tail = n;
  if (ready) ++ready_ops_;
}

void Link::ListPushFront(Node *n) {
  n->where = Node::kReady;
  n->prev = nullptr;
  n->next = ready_head_;
  if (ready_head_ != nullptr) ready_head_->prev = n; else ready_tail_ = n;
  ready_head_ = n;
  ++ready_ops_;
}

void Link::ListRemove(Node *n) {
  if (n->where == Node::kOff) return;
  const bool ready = n->where == Node::kReady;
  Node *&head = ready ? ready_head_ : delayed_head_;
  Node *&tail = ready ? ready_tail_ : delayed_tail_;
  if (n->prev != nullptr) n->prev->next = n->next; else head = n->next;
  if (n->next != nullptr) n->next->prev = n->prev; else tail = n->prev;
  n->prev = n->next = nullptr;
  n->where = Node::kOff;
  if (ready) --ready_ops_;
}

// Delayed nodes stay sorted by not_before_ms (inserted from the back: the
// backoffs are close to one another, so this is short).
void Link::DelayLocked(Node *n, int64_t not_before_ms) {
  ListRemove(n);
  n->not_before_ms = not_before_ms;
  Node *after = delayed_tail_;
  while (after != nullptr && after->not_before_ms > not_before_ms) after = after->prev;
  n->where = Node::kDelayed;
  n->prev = after;
  n->next = after != nullptr ? after->next : delayed_head_;
  if (n->next != nullptr) n->next->prev = n; else delayed_tail_ = n;
  if (after != nullptr) after->next = n; else delayed_head_ = n;
}

void Link::PromoteDelayedLocked(int64_t now) {
  while (delayed_head_ != nullptr && delayed_head_->not_before_ms <= now) {
    Node *n = delayed_head_;
    ListRemove(n);
    ListPushBack(n, /*ready=*/true);
  }
}

void Link::CountEpochLocked(uint64_t epoch, int delta) {
  // The current epoch is the last entry (see StartEpochLocked). Changing it
  // pops nothing: the list is it alone, or its front is older and counts
  // something (every change below pops the empty front entries).
  if (__builtin_expect(epoch == epoch_, 1)) {
    epochs_.back().second += delta;
    return;
  }
  // An older epoch: it is live (an operation carries it), so its entry
  // exists; there are few (one per flush that overlapped queued writes).
  for (auto &e : epochs_) {
    if (e.first == epoch) {
      e.second += delta;
      break;
    }
  }
  while (epochs_.size() > 1 && epochs_.front().second == 0) epochs_.pop_front();
}

bool Link::FlushedThroughLocked(uint64_t epoch) {
  for (const auto &e : epochs_) {
    if (e.first > epoch) return true;
    if (e.second != 0) return false;
  }
  return true;
}

void Link::UncountOpLocked(Op *op) {
  --queued_ops_;
  queued_bytes_ -= op->charge;
  CountEpochLocked(op->epoch, -1);
  ReleaseLaterLocked(op->charge);
}

void Link::ReleaseOpLocked(Op *op) {
  UncountOpLocked(op);
  op->entry->Unref(*cache_->alloc_);
  op->entry = nullptr;
}

// ---- Queueing -----------------------------------------------------------------

void Link::CombineLocked(Op *slot, Op *newer) {
  const uint64_t epoch = std::min(slot->epoch, newer->epoch);
  const int64_t enqueued = std::min(slot->enqueued_ms, newer->enqueued_ms);
  Op dropped;
  if (newer->kind != OpKind::kExpire || slot->kind == OpKind::kExpire) {
    dropped = *slot;  // replaced: PUT or DELETE over anything, EXPIRE over EXPIRE
    *slot = *newer;
    if (newer->kind == OpKind::kExpire) slot->attempts = dropped.attempts;
  } else if (slot->kind == OpKind::kPut) {
    slot->expire_at_ms = newer->expire_at_ms;  // the PUT now expires as the key does
    slot->sync_only = slot->sync_only && newer->sync_only;
    dropped = *newer;
  } else {
    dropped = *newer;  // EXPIRE over DELETE: the key is gone anyway
  }
  newer->entry = nullptr;
  // The survivor carries the older epoch; counted there before the dropped
  // operation, which still holds that epoch's count, is released.
  if (slot->epoch != epoch) {
    CountEpochLocked(epoch, +1);
    CountEpochLocked(slot->epoch, -1);
    slot->epoch = epoch;
  }
  slot->enqueued_ms = enqueued;
  ReleaseOpLocked(&dropped);
}

void Link::SetPendingLocked(Node *n, Op *op) {
  n->pending = *op;
  op->entry = nullptr;
  if (n->where == Node::kOff) ListPushBack(n, /*ready=*/true);
}

void Link::SupersedeWaitersLocked(Node *n) {
  for (SyncWaiter *w = n->waiters; w != nullptr; w = w->next) w->superseded = true;
}

void Link::MoveWaitersLocked(Node *n, int from, int to, int status) {
  for (SyncWaiter *w = n->waiters; w != nullptr; w = w->next) {
    if (w->slot != from) continue;
    w->slot = to;
    w->status = status;
  }
}

void Link::UnregisterWaiterLocked(SyncWaiter *w) {
  Node *n = w->node;
  if (n == nullptr) return;
  if (w->prev != nullptr) w->prev->next = w->next; else n->waiters = w->next;
  if (w->next != nullptr) w->next->prev = w->prev;
  w->node = nullptr;
  if (n->waiters == nullptr && n->key_hold != nullptr) {
    n->key_hold->Unref(*cache_->alloc_);
    n->key_hold = nullptr;
  }
  MaybeFreeNodeLocked(n);
}

// The common coalescing case, CombineLocked's "PUT or DELETE over anything"
// done in place: a local write of a key whose pending operation is of the
// current epoch. The operation count, the epoch's count and the oldest time
// stay; the charge and the reference of the replaced operation go.
inline void Link::ReplacePendingLocked(Node *n, Entry *holder, OpKind kind, int64_t expire_at_ms,
                                uint64_t charge) {
  Op &p = n->pending;
  Entry *old = p.entry;
  const uint64_t old_charge = p.charge;
  p.entry = holder;
  p.kind = kind;
  p.expire_at_ms = expire_at_ms;
  p.charge = charge;
  p.attempts = 0;
  p.sync_only = false;
  queued_bytes_ += charge;
  queued_bytes_ -= old_charge;
  ReleaseLaterLocked(old_charge);
  ++stats_.coalesced;
  if (n->waiters != nullptr) SupersedeWaitersLocked(n);
  // A newer full write resets a rejected operation's retries: send it now.
  if (n->where == Node::kDelayed) {
    ListRemove(n);
    ListPushBack(n, /*ready=*/true);
  }
  old->Unref(*cache_->alloc_);
  if (flusher_idle_ || ready_ops_ == opts_.batch_max_ops) {
    flusher_idle_ = false;
    work_cv_.NotifyAll();
  }
}

// The write path's hook: the common case (a key with a pending operation of
// the current epoch, replaced by a PUT or DELETE) inline; the rest, and sync
// writes, through EnqueueInnerLocked.
void Link::EnqueueLocked(OpKind kind, Entry *holder, uint64_t hash, int64_t expire_at_ms,
                         uint64_t charge) {
  LockGuard<Mutex> g(mu_);
  BumpGenerationLocked(hash);
  Node *n = FindLocked(hash, holder->key());
  if (__builtin_expect(n != nullptr && kind != OpKind::kExpire && n->pending.live() &&
                           n->pending.epoch == epoch_,
                       1)) {
    ReplacePendingLocked(n, holder, kind, expire_at_ms, charge);
    return;
  }
  EnqueueInnerLocked(kind, holder, hash, expire_at_ms, charge, nullptr, n);
}

void Link::BumpGenerationLocked(uint64_t hash) {
  // A local write (or a sync write) of this key: a fill that began before it
  // must not land (relaxed: every bump is made under mu_ and the key's shard
  // lock, or mu_ alone for a sync write, which does not change the cache).
  std::atomic<uint64_t> &gen = gen_[hash & kGenMask];
  gen.store(gen.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void Link::EnqueueInnerLocked(OpKind kind, Entry *holder, uint64_t hash, int64_t expire_at_ms,
                              uint64_t charge, SyncWaiter *waiter, Node *n) {
  Op op;
  op.entry = holder;
  op.kind = kind;
  op.expire_at_ms = expire_at_ms;
  op.charge = charge;
  op.epoch = epoch_;
  // A coalesced write keeps the older time (CombineLocked): no clock read.
  op.enqueued_ms = n != nullptr && n->pending.live() ? n->pending.enqueued_ms : MonotonicMs();
  op.sync_only = waiter != nullptr;
  ++queued_ops_;
  queued_bytes_ += charge;
  CountEpochLocked(epoch_, +1);
  if (n == nullptr) n = NewNodeLocked(hash);
  if (n->waiters != nullptr) SupersedeWaitersLocked(n);
  if (n->pending.live()) {
    CombineLocked(&n->pending, &op);
    ++stats_.coalesced;
    // A newer full write resets a rejected operation's retries: send it now.
    if (n->where == Node::kDelayed && n->pending.attempts == 0) {
      ListRemove(n);
      ListPushBack(n, /*ready=*/true);
    }
  } else {
    SetPendingLocked(n, &op);
  }
  if (waiter != nullptr) {
    waiter->node = n;
    waiter->slot = SyncWaiter::kPending;
    waiter->prev = nullptr;
    waiter->next = n->waiters;
    if (n->waiters != nullptr) n->waiters->prev = waiter;
    n->waiters = waiter;
    if (n->key_hold == nullptr) {
      // relaxed: the caller's reference keeps holder alive meanwhile.
      holder->refs.fetch_add(1, std::memory_order_relaxed);
      n->key_hold = holder;
    }
  }
  if (flusher_idle_ || ready_ops_ == opts_.batch_max_ops) {
    flusher_idle_ = false;
    work_cv_.NotifyAll();
  }
}

// ---- The flusher ----------------------------------------------------------------

void *Link::FlusherMain(void *self) {
  static_cast<Link *>(self)->FlusherLoop();
  return nullptr;
}

int64_t Link::BackoffMs(uint32_t failures) {
  const uint32_t shift = std::min<uint32_t>(failures == 0 ? 0 : failures - 1, 30);
  const uint64_t base = std::min(opts_.backoff_max_ms, opts_.backoff_min_ms << shift);
  rng_ ^= rng_ << 13;  // xorshift64: jitter only
  rng_ ^= rng_ >> 7;
  rng_ ^= rng_ << 17;
  // Full jitter over the upper half: [base/2, base].
  const uint64_t half = base / 2;
  return static_cast<int64_t>(half + (base - half == 0 ? 0 : rng_ % (base - half + 1)));
}

// Moves up to kChunkNodes more nodes from the front of ready_ into the batch
// (pending becomes inflight); true when it stopped for the chunk's size and
// more may follow. Touches only the nodes: the batch's bytes come from the
// charges, and the store's view is filled outside the lock (FillBatchOps).
bool Link::TakeChunkLocked() {
  const size_t stop = std::min<size_t>(batch_nodes_.size() + kChunkNodes, opts_.batch_max_ops);
  while (ready_head_ != nullptr && batch_nodes_.size() < stop) {
    Node *n = ready_head_;
    // Written again since an earlier chunk took it: the batch already holds
    // this key (one operation per key), the rest waits for the next batch.
    if (n->inflight.live()) return false;
    const uint64_t b = n->pending.charge - kOpOverhead;  // key, and value for a PUT
    if (!batch_nodes_.empty() && batch_bytes_ + b > opts_.batch_max_bytes) return false;
    batch_bytes_ += b;
    ListRemove(n);
    n->inflight = n->pending;
    n->pending = Op();
    if (n->waiters != nullptr) {
      MoveWaitersLocked(n, SyncWaiter::kPending, SyncWaiter::kInflight, CACHE_OK);
    }
    const int64_t t = n->inflight.enqueued_ms;
    inflight_oldest_ms_ = inflight_oldest_ms_ == 0 ? t : std::min(inflight_oldest_ms_, t);
    batch_nodes_.push_back(n);  // reserved to batch_max_ops: never reallocates
  }
  return batch_nodes_.size() == stop && stop < opts_.batch_max_ops && ready_head_ != nullptr;
}

// Only the flusher writes a node's inflight operation, and its entry stays
// referenced until FinishChunkLocked: readable without mu_.
void Link::FillBatchOps() NO_THREAD_SAFETY_ANALYSIS {
  for (size_t i = batch_ops_.size(); i < batch_nodes_.size(); ++i) {
    const Op &x = batch_nodes_[i]->inflight;
    cache_store_op_t op = ToStoreOp(x);
    op.status = CACHE_E_INTERNAL;  // unanswered: treated as unknown
    batch_ops_.push_back(op);      // reserved to batch_max_ops: never reallocates
  }
}

void Link::StartFinishLocked(int rc) {
  if (rc == CACHE_OK) {
    failures_ = 0;
    backoff_until_ms_ = 0;
  } else {
    ++stats_.store_errors;
    ++failures_;
    backoff_until_ms_ = MonotonicMs() + BackoffMs(failures_);
  }
}

// Settles batch_nodes_[begin, end), backwards (see FlusherLoop). Entries of
// applied operations go to *unref, released by the caller outside mu_.
// Returns whether an operation's outcome was unknown.
bool Link::FinishChunkLocked(int rc, size_t begin, size_t end, int64_t now,
                             std::vector<std::pair<Op, std::string>> *dead,
                             std::vector<Entry *> *unref,
                             std::vector<std::pair<Entry *, uint64_t>> *drops) {
  bool unknown_any = false;
  // Whether the copies of applied writes must go (see link.h, coherence): the
  // link is not coherent, or was not for part of the batch's flight.
  const bool drop_all = !coherent_.load() || coh_epoch_.load() != batch_epoch_;
  for (size_t i = end; i-- > begin;) {
    Node *n = batch_nodes_[i];
    Op x = n->inflight;
    n->inflight = Op();
    // A sync write whose caller gave up (timed out) is applied by the store
    // and never locally: the local copy is older than the store's, and no
    // invalidation of our own write will come. Drop it too.
    bool orphan_sync = x.sync_only;
    for (SyncWaiter *w = n->waiters; w != nullptr && orphan_sync; w = w->next) {
      if (w->slot == SyncWaiter::kInflight) orphan_sync = false;
    }
    const bool drop = ((!x.sync_only && (n->drop_after_ack || drop_all)) || orphan_sync) &&
                      !n->pending.holds_local_value();
    n->drop_after_ack = false;  // a write still waiting is sent after the remote one: it wins
    const int st = rc == CACHE_OK ? batch_ops_[i].status : CACHE_E_IO;
    if (st == CACHE_OK) {
      ++stats_.flushed_ops;
      if (n->waiters != nullptr) {
        MoveWaitersLocked(n, SyncWaiter::kInflight, SyncWaiter::kDone, CACHE_OK);
      }
      UncountOpLocked(&x);
      // Both reserved to kChunkNodes: never reallocate.
      if (drop) {
        drops->emplace_back(x.entry, n->hash);  // takes the op's reference
      } else {
        unref->push_back(x.entry);
      }
    } else if (st == CACHE_STORE_REJECTED) {
      if (n->waiters != nullptr) {
        MoveWaitersLocked(n, SyncWaiter::kInflight, SyncWaiter::kDone, CACHE_STORE_REJECTED);
      }
      if (x.sync_only) {
        ReleaseOpLocked(&x);  // the caller is told; it was never applied locally
      } else if (n->pending.live()) {
        // A newer write of the key replaces it (or, an EXPIRE, moves its expiry).
        ++x.attempts;
        Op newer = n->pending;
        n->pending = x;
        CombineLocked(&n->pending, &newer);
      } else if (++x.attempts > opts_.max_retries) {
        const char *why = batch_ops_[i].reason != nullptr ? batch_ops_[i].reason : "rejected";
        UncountOpLocked(&x);
        ++stats_.dead_letters;
        if (drop) {
          // Never applied, and the store has a newer remote value.
          x.entry->refs.fetch_add(1, std::memory_order_relaxed);  // relaxed: x holds it
          drops->emplace_back(x.entry, n->hash);
        }
        try {
          dead->emplace_back(x, why);
        } catch (const std::bad_alloc &) {
          x.entry->Unref(*cache_->alloc_);  // counted, but cannot be held
        }
      } else {
        ++stats_.retries;
        n->pending = x;
        DelayLocked(n, now + BackoffMs(x.attempts));
      }
    } else {
      // Unknown outcome: send again, under any newer write of the key.
      unknown_any = true;
      ++stats_.retries;
      if (n->waiters != nullptr) {
        MoveWaitersLocked(n, SyncWaiter::kInflight, SyncWaiter::kPending, CACHE_OK);
      }
      if (n->pending.live()) {
        Op newer = n->pending;
        n->pending = x;
        CombineLocked(&n->pending, &newer);
      } else {
        n->pending = x;
        ListRemove(n);
        ListPushFront(n);
      }
    }
    MaybeFreeNodeLocked(n);
  }
  return unknown_any;
}

// Not analysed: mu_ is released around each store call.
void Link::FlusherLoop() NO_THREAD_SAFETY_ANALYSIS {
  std::vector<std::pair<Op, std::string>> dead;
  std::vector<Entry *> unref;
  unref.reserve(kChunkNodes);
  std::vector<std::pair<Entry *, uint64_t>> drops;
  drops.reserve(kChunkNodes);
  mu_.lock();
  while (!stop_) {
    const int64_t now = MonotonicMs();
    PromoteDelayedLocked(now);
    int64_t wake = -1;
    bool send = false;
    if (ready_head_ != nullptr) {
      const bool hurry = urgent_ > 0 || state_.load() != kOpen;
      if (now < backoff_until_ms_) {
        wake = backoff_until_ms_;
      } else if (hurry || ready_ops_ >= opts_.batch_max_ops ||
                 now - ready_head_->pending.enqueued_ms >=
                     static_cast<int64_t>(opts_.flush_interval_ms)) {
        send = true;
      } else {
        wake = ready_head_->pending.enqueued_ms + static_cast<int64_t>(opts_.flush_interval_ms);
      }
    }
    if (!send) {
      if (delayed_head_ != nullptr && (wake < 0 || delayed_head_->not_before_ms < wake)) {
        wake = delayed_head_->not_before_ms;
      }
      flusher_idle_ = wake < 0;
      work_cv_.WaitUntil(mu_, wake);
      flusher_idle_ = false;
      continue;
    }
    // The batch is taken and settled a chunk at a time, so that writers
    // (which hold their shard lock while they wait for mu_) never wait for
    // a whole batch; the store's view is filled and the applied entries are
    // released between chunks, outside mu_. A batch still never holds two
    // operations of one key, and is settled backwards, so that operations
    // merged back to the front of ready_ keep their order.
    batch_nodes_.clear();
    batch_ops_.clear();
    batch_bytes_ = 0;
    inflight_oldest_ms_ = 0;
    batch_epoch_ = coh_epoch_.load();  // before any of its operations is sent
    ++stats_.batches;  // not empty: ready_head_ is set and nothing is in flight
    while (TakeChunkLocked()) {
      mu_.unlock();
      FillBatchOps();
      mu_.lock();
    }
    mu_.unlock();
    FillBatchOps();
    const int rc = store_.write_batch(store_.ctx, batch_ops_.data(), batch_ops_.size());
    mu_.lock();
    StartFinishLocked(rc);
    const int64_t done_ms = MonotonicMs();
    bool unknown_any = false;
    for (size_t end = batch_nodes_.size(); end > 0;) {
      const size_t begin = end > kChunkNodes ? end - kChunkNodes : 0;
      unknown_any |= FinishChunkLocked(rc, begin, end, done_ms, &dead, &unref, &drops);
      end = begin;
      if (!unref.empty() || !drops.empty()) {
        mu_.unlock();
        for (Entry *e : unref) e->Unref(*cache_->alloc_);
        unref.clear();
        DropAcked(&drops);  // takes shard locks, then mu_
        mu_.lock();
      }
    }
    if (unknown_any && rc == CACHE_OK) {
      // The store answered but left some operations unanswered: back off too.
      backoff_until_ms_ = done_ms + BackoffMs(++failures_);
    }
    inflight_oldest_ms_ = 0;
    batch_nodes_.clear();
    SettleLocked();  // once per batch, not per operation
    if (!dead.empty()) {
      if (store_.dead_letter != nullptr) {
        mu_.unlock();
        for (auto &d : dead) {
          const cache_store_op_t op = ToStoreOp(d.first);
          store_.dead_letter(store_.ctx, &op, d.second.c_str());
        }
        mu_.lock();
      }
      for (auto &d : dead) {
        try {
          dead_.push_back(std::move(d));
        } catch (const std::bad_alloc &) {
          d.first.entry->Unref(*cache_->alloc_);
          continue;
        }
        if (dead_.size() > kMaxHeldDeadLetters) {
          dead_.front().first.entry->Unref(*cache_->alloc_);
          dead_.pop_front();
        }
      }
      dead.clear();
    }
    done_cv_.NotifyAll();
  }
  mu_.unlock();
}

// ---- Flush, stats, dead letters, close -------------------------------------------

Status Link::Flush(int64_t timeout_ms) {
  const int64_t deadline = DeadlineAfter(timeout_ms);
  LockGuard<Mutex> g(mu_);
  if (forked_ || state_.load() != kOpen) return Status::kClosed;
  const uint64_t through = StartEpochLocked();
  ++urgent_;
  work_cv_.NotifyAll();
  bool ok = FlushedThroughLocked(through);
  // Not after a close: its FreeQueueLocked (with kClosed, under mu_) dropped
  // what was still queued, and an empty queue then is no flush.
  while (!ok && state_.load() != kClosed && done_cv_.WaitUntil(mu_, deadline)) {
    if (state_.load() != kClosed) ok = FlushedThroughLocked(through);
  }
  // A last look at the deadline.
  if (!ok && state_.load() != kClosed) ok = FlushedThroughLocked(through);
  --urgent_;
  if (ok) return Status::kOk;
  return state_.load() == kClosed ? Status::kClosed : Status::kTimeout;
}

uint64_t Link::StartEpochLocked() {
  const uint64_t through = epoch_;
  // A new epoch for the writes from now on; the current one is relabelled
  // when it holds nothing, so that epochs_ grows only with what it counts.
  if (epochs_.back().second == 0) {
    epochs_.back().first = ++epoch_;
  } else {
    epochs_.emplace_back(epoch_ + 1, 0);  // may throw bad_alloc: nothing changed yet
    ++epoch_;
  }
  return through;
}

int64_t Link::OldestPendingLocked() {
  int64_t oldest = inflight_oldest_ms_;
  auto older = [&oldest](int64_t t) {
    if (t != 0 && (oldest == 0 || t < oldest)) oldest = t;
  };
  if (ready_head_ != nullptr) older(ready_head_->pending.enqueued_ms);  // FIFO: the oldest
  for (Node *n = delayed_head_; n != nullptr; n = n->next) older(n->pending.enqueued_ms);
  return oldest;
}

LinkStats Link::GetStats() {
  LockGuard<Mutex> g(mu_);
  LinkStats s = stats_;
  s.queued_ops = queued_ops_;
  s.queued_bytes = queued_bytes_;
  const int64_t oldest = OldestPendingLocked();
  s.oldest_pending_ms =
      oldest == 0 ? 0 : static_cast<uint64_t>(std::max<int64_t>(MonotonicMs() - oldest, 0));
  s.invalidations = invalidations_.load(std::memory_order_relaxed);
  s.invalidated = invalidated_.load(std::memory_order_relaxed);
  s.conflicts = conflicts_.load(std::memory_order_relaxed);
  s.fills_refused = fills_refused_.load(std::memory_order_relaxed);
  s.coherent = coherent_.load() ? 1 : 0;
  return s;
}

uint64_t Link::DrainDeadLetters(DeadLetterFn fn, void *ctx) {
  std::deque<std::pair<Op, std::string>> taken;
  {
    LockGuard<Mutex> g(mu_);
    taken.swap(dead_);
  }
  for (auto &d : taken) {
    if (fn != nullptr) {
      const cache_store_op_t op = ToStoreOp(d.first);
      fn(ctx, &op, d.second.c_str());
    }
    d.first.entry->Unref(*cache_->alloc_);
  }
  return taken.size();
}

void Link::FreeQueueLocked() {
  // Every node onto overflow_ (through bucket_next), then all freed.
  for (uint64_t i = 0; i <= slot_mask_; ++i) {
    Node *n = SlotNode(slots_[i].load(std::memory_order_relaxed));
    slots_[i].store(0, std::memory_order_relaxed);
    if (n == nullptr) continue;
    n->bucket_next = overflow_;
    overflow_ = n;
  }
  in_slots_ = 0;
  for (Node *n = overflow_, *next; n != nullptr; n = next) {
    next = n->bucket_next;
    for (Op *op : {&n->pending, &n->inflight}) {
      if (op->live()) op->entry->Unref(*cache_->alloc_);
    }
    if (n->key_hold != nullptr) n->key_hold->Unref(*cache_->alloc_);
    for (SyncWaiter *w = n->waiters; w != nullptr; w = w->next) {
      if (w->slot != SyncWaiter::kDone) w->status = CACHE_E_CLOSED;
      w->slot = SyncWaiter::kDone;
      w->node = nullptr;
    }
    delete n;
  }
  overflow_ = nullptr;
  for (Node *n : free_nodes_) delete n;
  free_nodes_.clear();
  for (auto &d : dead_) d.first.entry->Unref(*cache_->alloc_);
  dead_.clear();
  ready_head_ = ready_tail_ = delayed_head_ = delayed_tail_ = nullptr;
  nodes_ = ready_ops_ = queued_ops_ = queued_bytes_ = 0;
  epochs_.clear();
  epochs_.emplace_back(epoch_, 0);  // capacity kept: does not allocate
  unsettled_ = 0;
  used_.store(0);
}

Status Link::Close(int64_t timeout_ms, uint64_t *unflushed) {
  const int64_t deadline = DeadlineAfter(timeout_ms);
  {
    LockGuard<Mutex> g(mu_);
    if (state_.load() != kOpen) return Status::kClosed;
    state_.store(kClosing);  // seq_cst: see Reserve
    room_cv_.NotifyAll();    // blocked writers give up the link
    done_cv_.NotifyAll();    // so do sync writes waiting for their key (and their room)
  }
  cache_->DetachLink(this);
  // Not analysed from here: mu_ is released while waiting for writers.
  [this, timeout_ms, deadline]() NO_THREAD_SAFETY_ANALYSIS {
    mu_.lock();
    if (!forked_) {
      // Writers that reserved before closing finish their (shard-locked)
      // write and queue it, or give the room back.
      SettleLocked();
      while (used_.load() != Pack(queued_bytes_, queued_ops_)) {
        mu_.unlock();
        sched_yield();
        mu_.lock();
        SettleLocked();
      }
      while (loads_ > 0) done_cv_.WaitUntil(mu_, -1);  // loads end within their timeout
      if (timeout_ms != 0) {
        bool through_ok = false;
        uint64_t through = 0;
        try {
          through = StartEpochLocked();
          through_ok = true;
        } catch (const std::bad_alloc &) {
        }
        ++urgent_;
        work_cv_.NotifyAll();
        while (through_ok && !FlushedThroughLocked(through) && done_cv_.WaitUntil(mu_, deadline)) {
        }
        --urgent_;
      }
      stop_ = true;
      work_cv_.NotifyAll();
    }
    mu_.unlock();
  }();
  if (!forked_ && flusher_started_) pthread_join(flusher_, nullptr);
  uint64_t left;
  {
    LockGuard<Mutex> g(mu_);
    left = queued_ops_ + dead_.size();
    FreeQueueLocked();
    state_.store(kClosed);
    done_cv_.NotifyAll();  // sync waiters learn CACHE_E_CLOSED
  }
  if (!forked_ && store_.destroy != nullptr) store_.destroy(store_.ctx);
  if (unflushed != nullptr) *unflushed = left;
  return left == 0 ? Status::kOk : Status::kTimeout;
}

void Link::ForkChild() {
  // The flusher and every other thread are gone: this copy must never send
  // the parent's queue again. The child's cache has already dropped it.
  forked_ = true;
  mu_.unlock();
  if (store_.forked != nullptr) store_.forked(store_.ctx);
}

}  // namespace libcache::detail
