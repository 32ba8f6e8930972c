// libcache link: write-behind and read-through between a cache and a store
// (<libcache/cache_store.h>: a table of C callbacks; Redis is one).
//
// ## What it is
// A Link belongs to one cache. Every successful local write is turned into an
// operation (PUT key value expire_at, DELETE key, EXPIRE key expire_at) and
// queued; one flusher thread hands the queue to store->write_batch in batches
// and deals with what comes back. On a local miss, reads look at the queue,
// then load the key from the store (read-through, single-flight).
//
// ## The queue's states
// One Node per key that has work, found by the cache's key hash (an open
// addressing index, slots_). A node holds at most two operations of its key:
//   pending   waiting to be sent: the newest state of the key not yet sent;
//   inflight  part of the batch the flusher is sending now.
// and sits on one of two lists when it has a pending operation:
//   ready_    FIFO, oldest first: what the next batch takes from the front;
//   delayed_  rejected operations waiting for their retry time (not_before).
// A node with neither operation nor sync waiter is freed.
//
//   write ──► pending ──(batch built)──► inflight ──(store: applied)──► done
//                ▲  ▲                       │  │
//                │  └──(I/O error, unknown: merged back under newer)────┘  │
//                └──(rejected, retries left: delayed, then ready)──────────┘
//                                     rejected, no retries left ──► dead letter
//
// ## Ordering and coalescing rules
// - Per key, operations reach the store in the order the cache applied them:
//   the engine enqueues while holding the key's shard lock, so the queue sees
//   one key's writes in the order the cache applied them; a batch never holds
//   two operations of one key, and batches are sent one at a time, so an
//   operation sent later was written later.
// - Coalescing (Combine): a newer PUT or DELETE replaces the waiting
//   operation (a delete after a set leaves only the delete); an EXPIRE over a
//   waiting PUT changes the PUT's expiry; over a waiting DELETE it is dropped
//   (the key is gone in the store's future anyway).
// - A batch whose outcome is unknown (write_batch failed: I/O, timeout) is
//   merged back: each operation becomes pending again, unless its key has a
//   newer pending operation, which is combined over it by the same rule (so a
//   resend never carries an operation a newer write replaced). Resends are
//   safe because every operation is idempotent: PUT and EXPIRE carry absolute
//   wall-clock expiry times (expire_at_ms), never relative TTLs.
// - Across keys there is no order.
//
// ## What is acknowledged when
// A local write returns once it is applied locally and queued; it reaches the
// store later (cache_store_flush waits for it). Flush uses epochs: every
// operation records the flush epoch of the oldest write it carries; a flush
// starts a new epoch and waits until no operation of an older epoch remains
// (counts per epoch in epochs_). Sync writes (cache_store_set_sync) are
// operations with a waiter: the caller is told when the store answered, and
// only then applies the write locally (see "Sync writes" in link.cc).
//
// ## Bounds
// used_ packs the queue's bytes (low 40 bits) and operation count (high 24)
// of every queued or reserved operation; a writer reserves its charge with one
// CAS before it takes the shard lock (Reserve), so a write that does not fit
// is refused (FAIL) or waits (BLOCK, up to its timeout) before the cache
// changes, and the bounds are never exceeded. An operation is charged
// Charge(klen, vlen) = its key, its value and kOpOverhead. Charges of
// operations that leave the queue (sent, or replaced by a newer write) are
// subtracted in bulk, under mu_ (unsettled_: up to 1/8 of each bound, at
// once when a writer waits for room, and before a reservation that did not
// fit is refused or waits), so that a coalescing write costs one atomic on
// used_, not two; used_ may overstate the queue, never understate it. A PUT holds the
// cache's own entry (one more reference: no copy); an entry evicted before it
// is flushed stays alive, in the queue's bytes, until it is sent. Dead letters
// are not charged (a poison key must not block writes); at most
// kMaxHeldDeadLetters are held, the oldest released first, all counted.
//
// ## Failure cases
// - Store down (write_batch fails): the batch is merged back and resent after
//   a capped, jittered exponential backoff; nothing is dropped; writers meet
//   the bound and its policy.
// - Store rejects an operation: retried after a backoff up to max_retries
//   times, then a dead letter; other keys keep flowing meanwhile.
// - Store hangs: bounded by the store's own timeouts; flush and close wait at
//   most their timeout plus one store call.
// - fork(): the child's copy is inert (detached from the child's cache, never
//   sends); see Cache::ForkChild.
//
// ## Changes made elsewhere (coherence)
// A store that learns of other processes' writes calls Invalidate,
// InvalidateAll or SetCoherent (cache_store_invalidate and friends). Only
// clean local copies are dropped: a key whose node has a non-sync pending
// operation keeps its value (our write reaches the store later and wins
// there; a conflict); a key whose only operation is in flight keeps it until
// the store answers, then drops it (drop_after_ack: the remote write may have
// been ordered after ours). Sync waiters of an invalidated key are
// superseded (they do not apply locally). Fill tokens: every load records the
// key's generation stripe (gen_) and the coherence epoch (coh_epoch_) before
// it asks the store, and Shard::Fill keeps the value only if neither moved
// and the link is coherent; an invalidation bumps the key's stripe under the
// key's shard lock, InvalidateAll and SetCoherent bump the epoch before they
// walk the shards. A refused fill whose key now has a local value serves that
// value; otherwise the load is repeated (at most kFillAttempts loads), so that
// a reply that raced an invalidation is never served after it. While not
// coherent, loads are served but not kept, and acknowledged writes drop their
// key's local copy (as does a write acknowledged in a batch sent under an
// older epoch), so that no clean copy is served until the store vouches again.
//
// ## Locks
// Shard lock, then mu_ (the engine enqueues with the shard lock held); the
// flusher never takes a shard lock, and calls the store with no lock held.
// A writer waits for mu_ while holding its shard lock, so the flusher holds
// mu_ for at most kChunkNodes nodes at a time: it takes and settles a batch
// in chunks, filling the store's view and releasing applied entries (the
// frees) between them, outside mu_.

#ifndef LIBCACHE_CORE_SRC_LINK_H_
#define LIBCACHE_CORE_SRC_LINK_H_

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/cache.h"
#include "core/src/cond.h"
#include "core/src/entry.h"
#include "core/src/mutex.h"
#include "core/src/thread_annotations.h"
#include "libcache/cache_store.h"

namespace libcache::detail {

enum class OpKind : uint8_t { kPut = CACHE_STORE_PUT, kDelete = CACHE_STORE_DELETE, kExpire = CACHE_STORE_EXPIRE };

struct LinkOptions {
  uint64_t flush_interval_ms = 5;
  uint32_t batch_max_ops = 512;
  uint64_t batch_max_bytes = uint64_t{4} << 20;
  uint64_t max_queue_bytes = uint64_t{64} << 20;
  uint64_t max_queue_ops = uint64_t{1} << 20;
  bool block_when_full = true;
  int64_t block_timeout_ms = 1000;
  bool read_through = true;
  int64_t read_timeout_ms = 100;
  uint32_t max_retries = 3;
  uint64_t backoff_min_ms = 10;
  uint64_t backoff_max_ms = 2000;
};
inline constexpr uint64_t kMaxQueueBytesLimit = (uint64_t{1} << 40) - 1;
inline constexpr uint64_t kMaxQueueOpsLimit = (uint64_t{1} << 24) - 1;
inline constexpr uint64_t kOpOverhead = 64;
inline constexpr size_t kMaxHeldDeadLetters = 4096;

struct LinkStats {
  uint64_t queued_ops, queued_bytes, flushed_ops, batches, retries, store_errors, dead_letters,
      refused_full, coalesced, oldest_pending_ms, read_hits, read_misses, read_errors;
  uint64_t invalidations, invalidated, conflicts, fills_refused, coherent;
};

// One operation of the queue. Owns one reference to entry.
struct Op {
  Entry *entry = nullptr;  // PUT: the value's entry; otherwise a key-only entry
  int64_t expire_at_ms = 0;
  uint64_t charge = 0;       // counted in used_
  uint64_t epoch = 0;        // flush epoch of the oldest write it carries
  int64_t enqueued_ms = 0;   // MonotonicMs of the oldest write it carries
  uint32_t attempts = 0;     // rejections so far
  OpKind kind = OpKind::kPut;
  bool sync_only = false;    // carries only a sync write (not applied locally)
  bool live() const { return entry != nullptr; }
  // A local write whose value the cache holds (or whose delete it applied):
  // an invalidation does not drop its key. An EXPIRE only moved a TTL: the
  // value under it is as clean as before.
  bool holds_local_value() const { return live() && !sync_only && kind != OpKind::kExpire; }
};

struct SyncWaiter;
struct Flight;

// The first cache line holds what a coalescing write reads and writes
// (Link::EnqueueLocked's fast path), so that it costs one miss on the node.
struct alignas(64) Node {
  Op pending;
  SyncWaiter *waiters = nullptr;
  enum : uint8_t { kOff, kReady, kDelayed } where = kOff;
  bool in_overflow = false;  // on overflow_ (rare: the index could not grow), not in a slot
  // Second line on.
  uint64_t hash = 0;
  Node *bucket_next = nullptr;            // on overflow_
  Node *prev = nullptr, *next = nullptr;  // on ready_ or delayed_
  int64_t not_before_ms = 0;              // kDelayed
  Entry *key_hold = nullptr;  // a reference for the key while only waiters remain
  Op inflight;
  bool drop_after_ack = false;  // invalidated while inflight was the key's only write
  const Entry *key_entry() const {
    return pending.live() ? pending.entry : inflight.live() ? inflight.entry : key_hold;
  }
  std::string_view key() const { return key_entry()->key(); }
};
static_assert(offsetof(Node, in_overflow) < 64, "the fast path's fields share one cache line");

class Link;

// Gives the calling thread a spare queue node if it has none; false when out
// of memory. A linked write calls it before taking any lock. The spare is a
// plain pointer with the initial-exec model: one load at a fixed offset from
// the thread pointer, no call (link.cc frees it at thread exit).
extern __thread Node *t_spare_node __attribute__((tls_model("initial-exec")));
bool EnsureSpareNodeSlow();
inline bool EnsureSpareNode() { return t_spare_node != nullptr || EnsureSpareNodeSlow(); }

// What a linked write asks the shard to do once it applied the write, under
// its lock (Shard::Insert and friends call Applied only on success).
struct WriteHook {
  Link *link;
  OpKind kind;
  Entry *holder;  // the reference the queue takes
  uint64_t charge;
  bool sync = false;
  SyncWaiter *waiter = nullptr;
  void Applied(uint64_t hash, uint64_t ttl_ms);  // REQUIRES: the key's shard lock
};

class Link {
 public:
  // Builds a link and starts its flusher. store is copied.
  static Status Create(Cache *cache, const cache_store_t &store, const LinkOptions &opts,
                       Link **out);
  ~Link();

  static uint64_t Charge(size_t klen, size_t vlen) { return klen + vlen + kOpOverhead; }

  // Hints a linked write gives early, without any lock, so that the queue's
  // index slot and then the key's node are in cache by the time it enqueues
  // (the slot first; the node once the slot has had time to arrive).
  void PrefetchSlot(uint64_t hash) const;
  void PrefetchNode(uint64_t hash) const;

  // ---- The engine's hooks (core/src/cache.cc) ----
  // Reserves room for one operation of `charge` bytes: kOk, kFull (refused,
  // counted), or kClosed (the link is closing: write locally only).
  Status Reserve(uint64_t charge) EXCLUDES(mu_) {
    uint64_t cur = used_.load(std::memory_order_relaxed);
    while (__builtin_expect(Fits(cur, charge), 1)) {
      // seq_cst, with the load of state_ after it and Close's store of state_
      // before it reads used_: either Close sees this reservation and waits
      // for it, or this sees Close and backs out.
      if (used_.compare_exchange_weak(cur, cur + Pack(charge, 1))) {
        if (__builtin_expect(state_.load() == kOpen, 1)) return Status::kOk;
        Unreserve(charge);
        return Status::kClosed;
      }
    }
    return ReserveSlow(charge);
  }
  void Unreserve(uint64_t charge) EXCLUDES(mu_);
  void UnreserveLocked(uint64_t charge) REQUIRES(mu_);
  // Queues an operation whose room was reserved. REQUIRES: the key's shard
  // lock. Takes over one reference to holder.
  void EnqueueLocked(OpKind kind, Entry *holder, uint64_t hash, int64_t expire_at_ms,
                     uint64_t charge) EXCLUDES(mu_);
  // Counter bumped by every local write of keys hashing to this stripe, under
  // the shard lock (a fill checks that it did not move).
  const std::atomic<uint64_t> &Generation(uint64_t hash) const { return gen_[hash & kGenMask]; }
  bool reads_through() const { return store_.load != nullptr && opts_.read_through; }
  // Read-through after a local miss: the pending value, or the store's
  // (filling the cache), pinned; nullptr for a miss. REQUIRES: no shard lock.
  Entry *ReadThrough(std::string_view key, uint64_t hash) EXCLUDES(mu_);
  // The sync waiter's last step, under the key's shard lock: true when the
  // write should be applied locally (the store applied it and no newer local
  // write of the key exists). Unregisters the waiter.
  bool FinishSyncLocked(SyncWaiter *w, uint64_t hash) EXCLUDES(mu_);

  // ---- Coherence (see "Changes made elsewhere") ----
  // Under the key's shard lock: an invalidation of key; true when its local
  // copy is clean and must be dropped (the caller drops it and calls
  // CountInvalidated). Bumps the key's generation stripe.
  bool InvalidateKeyLocked(uint64_t hash, std::string_view key) EXCLUDES(mu_);
  // Under the key's shard lock, for a walk of InvalidateAll: true when the
  // local copy of key is clean (a write in flight is marked drop_after_ack).
  bool CleanForWalkLocked(uint64_t hash, std::string_view key) EXCLUDES(mu_);
  // Under the key's shard lock, after the store acknowledged a write that
  // must not stay cached: true when no newer local write of key is queued.
  bool CleanAfterAckLocked(uint64_t hash, std::string_view key) EXCLUDES(mu_);
  void CountInvalidated(uint64_t n) { invalidated_.fetch_add(n, std::memory_order_relaxed); }
  // Whether a load that began with (gen0, epoch0) may be kept. REQUIRES: the
  // key's shard lock (the stripe's bumps are made under it).
  enum class FillVerdict { kKeep, kMoved, kIncoherent };
  FillVerdict FillVerdictLocked(uint64_t hash, uint64_t gen0, uint64_t epoch0) const {
    if (gen_[hash & kGenMask].load(std::memory_order_relaxed) != gen0) return FillVerdict::kMoved;
    // seq_cst: ordered with the bump InvalidateAll makes before its walk.
    if (coh_epoch_.load() != epoch0) return FillVerdict::kMoved;
    return coherent_.load() ? FillVerdict::kKeep : FillVerdict::kIncoherent;
  }
  // The C ABI's calls (cache_store_invalidate, _invalidate_all, _set_coherent).
  Status Invalidate(std::string_view key) EXCLUDES(mu_);
  Status InvalidateAll() EXCLUDES(mu_);
  Status SetCoherent(bool coherent) EXCLUDES(mu_);

  // ---- The C ABI's calls ----
  Status Flush(int64_t timeout_ms) EXCLUDES(mu_);
  Status SetSync(std::string_view key, std::string_view value, int64_t ttl_ms,
                 int64_t timeout_ms) EXCLUDES(mu_);
  Status DeleteSync(std::string_view key, int64_t timeout_ms) EXCLUDES(mu_);
  LinkStats GetStats() EXCLUDES(mu_);
  using DeadLetterFn = void (*)(void *ctx, const cache_store_op_t *op, const char *reason);
  uint64_t DrainDeadLetters(DeadLetterFn fn, void *ctx) EXCLUDES(mu_);
  // Stops and detaches the link (it stays allocated, inert, until the cache
  // closes). *unflushed = operations not applied. kOk, kTimeout, kClosed.
  Status Close(int64_t timeout_ms, uint64_t *unflushed) EXCLUDES(mu_);

  // ---- fork() (core/src/fork.cc through Cache) ----
  void ForkPrepare() ACQUIRE(mu_) { mu_.lock(); }
  void ForkParent() RELEASE(mu_) { mu_.unlock(); }
  void ForkChild() RELEASE(mu_);

  Link *retired_next = nullptr;  // the cache's list of detached links (Cache::links_mu_)
  bool retired = false;          // on that list (Cache::links_mu_)
  bool closed() const { return state_.load() == kClosed; }
  // Closing or closed: writes go to the local cache only.
  bool closing() const { return state_.load() != kOpen; }

 private:
  Link(Cache *cache, const cache_store_t &store, const LinkOptions &opts);
  enum State : int { kOpen, kClosing, kClosed };
  static constexpr int kBytesBits = 40;
  static uint64_t Pack(uint64_t bytes, uint64_t ops) { return (ops << kBytesBits) | bytes; }
  static uint64_t BytesOf(uint64_t packed) { return packed & kMaxQueueBytesLimit; }
  static uint64_t OpsOf(uint64_t packed) { return packed >> kBytesBits; }
  bool Fits(uint64_t used, uint64_t charge) const {
    return BytesOf(used) + charge <= opts_.max_queue_bytes && OpsOf(used) + 1 <= opts_.max_queue_ops;
  }
  Status ReserveSlow(uint64_t charge) EXCLUDES(mu_);
  // Releases an operation's charge from used_ later, in one subtraction for
  // many (see "Bounds"); SettleLocked subtracts what is pending now.
  void ReleaseLaterLocked(uint64_t charge) REQUIRES(mu_);
  void SettleLocked() REQUIRES(mu_);

  // Queue internals; all REQUIRES(mu_).
  Node *FindLocked(uint64_t hash, std::string_view key) REQUIRES(mu_);
  Node *NewNodeLocked(uint64_t hash) REQUIRES(mu_);
  Node *FindSlowLocked(uint64_t hash, std::string_view key) REQUIRES(mu_);
  bool GrowSlotsLocked() REQUIRES(mu_);
  void EraseNodeLocked(Node *n) REQUIRES(mu_);
  void MaybeFreeNodeLocked(Node *n) REQUIRES(mu_);
  void ListPushBack(Node *n, bool ready) REQUIRES(mu_);
  void ListPushFront(Node *n) REQUIRES(mu_);
  void ListRemove(Node *n) REQUIRES(mu_);
  void DelayLocked(Node *n, int64_t not_before_ms) REQUIRES(mu_);
  void ReleaseOpLocked(Op *op) REQUIRES(mu_);  // drops its reference and its charge
  void CountEpochLocked(uint64_t epoch, int delta) REQUIRES(mu_);
  // Combines newer over the older operation in *slot (see "Ordering").
  void CombineLocked(Op *slot, Op *newer) REQUIRES(mu_);
  void SetPendingLocked(Node *n, Op *op) REQUIRES(mu_);
  void ReplacePendingLocked(Node *n, Entry *holder, OpKind kind, int64_t expire_at_ms,
                            uint64_t charge) REQUIRES(mu_);
  // Queues an operation (a sync write's when waiter is set); n: the key's
  // node as FindLocked found it, or nullptr.
  void EnqueueInnerLocked(OpKind kind, Entry *holder, uint64_t hash, int64_t expire_at_ms,
                          uint64_t charge, SyncWaiter *waiter, Node *n) REQUIRES(mu_);
  void BumpGenerationLocked(uint64_t hash) REQUIRES(mu_);
  void UnregisterWaiterLocked(SyncWaiter *w) REQUIRES(mu_);
  void MoveWaitersLocked(Node *n, int from, int to, int status) REQUIRES(mu_);
  void UncountOpLocked(Op *op) REQUIRES(mu_);
  void PromoteDelayedLocked(int64_t now) REQUIRES(mu_);
  int64_t OldestPendingLocked() REQUIRES(mu_);
  void SupersedeWaitersLocked(Node *n) REQUIRES(mu_);
  bool FlushedThroughLocked(uint64_t epoch) REQUIRES(mu_);
  // Starts a new flush epoch; returns the last one a flush must wait for.
  uint64_t StartEpochLocked() REQUIRES(mu_);
  bool KeyBusyLocked(Node *n) REQUIRES(mu_);
  Status SyncWrite(OpKind kind, std::string_view key, std::string_view value, int64_t ttl_ms,
                   int64_t timeout_ms) EXCLUDES(mu_);
  // Loads key from the store and fills the cache with it: the value pinned
  // (one reference for the caller, one for its flight), or nullptr; *status =
  // the load's status.
  static constexpr int kFillAttempts = 3;
  Entry *LoadAndFill(std::string_view key, uint64_t hash, int *status) EXCLUDES(mu_);
  // Drops the local copies of acknowledged writes that must not stay cached
  // (drop_after_ack, or not coherent); each entry holds one reference, which
  // this releases. REQUIRES: no lock.
  void DropAcked(std::vector<std::pair<Entry *, uint64_t>> *drops) EXCLUDES(mu_);
  bool Usable() const { return !forked_ && state_.load() == kOpen; }
  void FreeQueueLocked() REQUIRES(mu_);

  // The flusher (link.cc).
  static void *FlusherMain(void *self);
  void FlusherLoop() EXCLUDES(mu_);
  static constexpr size_t kChunkNodes = 32;  // nodes taken or settled per hold of mu_
  bool TakeChunkLocked() REQUIRES(mu_);
  void FillBatchOps() EXCLUDES(mu_);
  void StartFinishLocked(int rc) REQUIRES(mu_);
  bool FinishChunkLocked(int rc, size_t begin, size_t end, int64_t now,
                         std::vector<std::pair<Op, std::string>> *dead,
                         std::vector<Entry *> *unref,
                         std::vector<std::pair<Entry *, uint64_t>> *drops) REQUIRES(mu_);
  int64_t BackoffMs(uint32_t failures) REQUIRES(mu_);

  Cache *const cache_;
  cache_store_t store_;  // immutable after Create
  const LinkOptions opts_;

  // Pack(bytes, ops) of queued and reserved operations, plus unsettled_.
  std::atomic<uint64_t> used_{0};
  // Charges of operations that left the queue, not yet subtracted from used_:
  // at most settle_bytes_ / settle_ops_ (1/8 of the bounds), and none while a
  // writer waits for room; a reservation that does not fit settles them first.
  uint64_t unsettled_ GUARDED_BY(mu_) = 0;
  const uint64_t settle_bytes_, settle_ops_;
  std::atomic<int> state_{kOpen};  // seq_cst with used_: see Reserve and Close
  bool forked_ = false;            // this copy is a fork child's: inert

  static constexpr uint64_t kGenStripes = 1024, kGenMask = kGenStripes - 1;
  // relaxed: bumped and read under the key's shard lock, which orders them.
  std::atomic<uint64_t> gen_[kGenStripes] = {};
  // Coherence: bumped by InvalidateAll and SetCoherent before their walks
  // (seq_cst, see FillVerdictLocked); coherent_ set by SetCoherent.
  std::atomic<uint64_t> coh_epoch_{0};
  std::atomic<bool> coherent_{true};
  // relaxed: counters only.
  std::atomic<uint64_t> invalidations_{0}, invalidated_{0}, conflicts_{0}, fills_refused_{0};
  uint64_t batch_epoch_ = 0;  // coh_epoch_ when the flusher took its batch (flusher only)

  mutable Mutex mu_;
  CondVar work_cv_;  // the flusher waits for work
  CondVar room_cv_;  // blocked writers wait for room
  CondVar done_cv_;  // flush, sync waiters, flights and close wait for progress

  // The index: open addressing with linear probing, at most half full, so
  // that a lookup reads one run of slots and the matching node only;
  // deletion by backward shift, so no tombstones. A slot is one word: the
  // node's address (bits 6-47: nodes are 64-byte aligned) and the low
  // kHashBits of its hash (in bits 0-5 and 48-63), so that a probe compares
  // hashes, and deletion and growth find a slot's home without touching its
  // node up to 2^22 slots (0: free). Nodes that find no free slot (the index
  // could not grow, or an address does not fit 48 bits; never in practice)
  // are on overflow_, searched when it is set. The slots are atomics only so
  // that a writer may read them without mu_ to prefetch (Prefetch*,
  // relaxed; under mu_ the relaxed accesses are plain moves): slots_ and
  // slot_mask_ are also published for it (release, pointer before mask;
  // read mask first, acquire), and a grown-out array stays allocated until
  // the link is destroyed (its last word links the older arrays), so a
  // stale read is of live memory. Their sizes sum to less than the current.
  static constexpr int kHashBits = 22;
  static constexpr uint64_t kHashMask = (uint64_t{1} << kHashBits) - 1;
  static constexpr uint64_t kPtrMask = ((uint64_t{1} << 48) - 1) & ~uint64_t{63};
  static bool Slottable(const Node *n) {
    return (reinterpret_cast<uintptr_t>(n) & ~kPtrMask) == 0;
  }
  static uint64_t SlotWord(uint64_t hash, const Node *n) {
    return ((hash & kHashMask) >> 6 << 48) | reinterpret_cast<uintptr_t>(n) | (hash & 63);
  }
  static Node *SlotNode(uint64_t w) { return reinterpret_cast<Node *>(w & kPtrMask); }
  static uint64_t SlotHash(uint64_t w) { return (w >> 48 << 6) | (w & 63); }  // low kHashBits
  // The home slot of the node in word w, for an index of mask + 1 slots.
  static uint64_t SlotHome(uint64_t w, uint64_t mask) {
    return (mask <= kHashMask ? SlotHash(w) : SlotNode(w)->hash) & mask;
  }
  std::atomic<uint64_t> *slots_ GUARDED_BY(mu_) = nullptr;  // slot_mask_ + 2 words
  uint64_t slot_mask_ GUARDED_BY(mu_) = 0;
  std::atomic<std::atomic<uint64_t> *> slots_hint_{nullptr};
  std::atomic<uint64_t> slot_mask_hint_{0};
  uint64_t in_slots_ GUARDED_BY(mu_) = 0;
  Node *overflow_ GUARDED_BY(mu_) = nullptr;
  uint64_t nodes_ GUARDED_BY(mu_) = 0;
  std::vector<Node *> free_nodes_ GUARDED_BY(mu_);
  Node *ready_head_ GUARDED_BY(mu_) = nullptr;
  Node *ready_tail_ GUARDED_BY(mu_) = nullptr;
  Node *delayed_head_ GUARDED_BY(mu_) = nullptr;
  Node *delayed_tail_ GUARDED_BY(mu_) = nullptr;
  uint64_t ready_ops_ GUARDED_BY(mu_) = 0;
  uint64_t queued_ops_ GUARDED_BY(mu_) = 0;    // pending + inflight operations
  uint64_t queued_bytes_ GUARDED_BY(mu_) = 0;  // their charges
  uint64_t epoch_ GUARDED_BY(mu_) = 0;         // the current flush epoch
  std::deque<std::pair<uint64_t, uint64_t>> epochs_ GUARDED_BY(mu_);  // (epoch, operations)
  int urgent_ GUARDED_BY(mu_) = 0;  // flushes and sync writes waiting: send at once
  bool flusher_idle_ GUARDED_BY(mu_) = false;
  bool stop_ GUARDED_BY(mu_) = false;
  int64_t backoff_until_ms_ GUARDED_BY(mu_) = 0;
  uint32_t failures_ GUARDED_BY(mu_) = 0;  // consecutive failed batches
  uint64_t rng_ GUARDED_BY(mu_) = 0x9e3779b97f4a7c15ULL;
  int loads_ GUARDED_BY(mu_) = 0;  // store->load calls in progress
  // Writers waiting in ReserveSlow; changed under mu_, read without it by
  // Unreserve (seq_cst with used_: see ReserveSlow).
  std::atomic<int> room_waiters_{0};
  std::unordered_map<std::string, Flight *> flights_ GUARDED_BY(mu_);
  std::deque<std::pair<Op, std::string>> dead_ GUARDED_BY(mu_);  // held dead letters
  int64_t inflight_oldest_ms_ GUARDED_BY(mu_) = 0;
  LinkStats stats_ GUARDED_BY(mu_) = {};

  // The flusher's batch (touched by the flusher only, outside mu_ while sending).
  std::vector<Node *> batch_nodes_;
  std::vector<cache_store_op_t> batch_ops_;
  uint64_t batch_bytes_ = 0;
  pthread_t flusher_{};
  bool flusher_started_ = false;
};

inline Node *Link::FindLocked(uint64_t hash, std::string_view key) {
  const uint64_t low = hash & kHashMask;
  for (uint64_t i = hash & slot_mask_;; i = (i + 1) & slot_mask_) {
    const uint64_t w = slots_[i].load(std::memory_order_relaxed);  // relaxed: see slots_
    if (w == 0) break;
    if (SlotHash(w) == low) {
      Node *n = SlotNode(w);
      if (n->key_entry()->KeyEquals(key)) return n;
    }
  }
  return __builtin_expect(overflow_ == nullptr, 1) ? nullptr : FindSlowLocked(hash, key);
}

inline void Link::PrefetchSlot(uint64_t hash) const NO_THREAD_SAFETY_ANALYSIS {
  const uint64_t mask = slot_mask_hint_.load(std::memory_order_acquire);
  const std::atomic<uint64_t> *slots = slots_hint_.load(std::memory_order_acquire);
  __builtin_prefetch(slots + (hash & mask));
}

inline void Link::PrefetchNode(uint64_t hash) const NO_THREAD_SAFETY_ANALYSIS {
  const uint64_t mask = slot_mask_hint_.load(std::memory_order_acquire);
  const std::atomic<uint64_t> *slots = slots_hint_.load(std::memory_order_acquire);
  // relaxed: a hint; the node may be gone by now (a prefetch never faults).
  const uint64_t w = slots[hash & mask].load(std::memory_order_relaxed);
  if (w != 0 && SlotHash(w) == (hash & kHashMask)) __builtin_prefetch(SlotNode(w));
}

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_LINK_H_
