// libcache shard: the table, the eviction policy and the expiry of one lock
// stripe.
//
// ## What it is
// A cache is 2^k shards (core/src/cache.cc picks one by hash bits 40..49).
// Each shard is a bounded cache behind its own striped reader-writer lock
// (see "Locking"): a Robin Hood hash table indexing the entries, an eviction
// policy ordering them (core/src/policy.h: CLOCK, or the adaptive policy),
// counters (core/src/counters.h), and its limits.
//
// ## Where things are
//   entry.h            the entry: header, key, value; reference counting
//   table.h            the index (Robin Hood hash table of tagged pointers)
//   policy.h           the eviction policies' interface; clock_policy.h,
//                      adaptive_policy.h (window_tinylfu.h, frequency_sketch.h)
//                      implement it over entry_ring.h's rings
//   expiry.h/.cc       deadlines, lazy reclamation, purge, touch, ttl
//   time_source.h      the clock TTLs are measured on
//   stripe_lock.h      the shard lock; counters.h what readers count in it
//   object.h           language objects held by reference
//   link.h             the write-behind / read-through link to a store
//
// ## Bounds
// max_entries is split evenly across the shards, fixed. max_bytes starts split
// evenly too, but each shard's byte limit (byte_limit_) can move: a write whose
// entry does not fit its shard even with every other entry evicted borrows
// limit from the other shards, spread evenly (Cache::Borrow: each lender, under
// its own lock, lowers its limit and evicts what no longer fits, then the
// borrower's limit rises by what was given; never two shard locks at once).
// A shard whose limit fell below half its fair share takes limit back from
// shards above theirs on its next write, so limits drift back to even. The
// limits always add up to at most max_bytes (exactly, between borrows), and
// each shard's bytes stay within its limit, so the cache never exceeds
// max_bytes. The rule users see: an entry of up to max_bytes / 8 always fits
// (up to max_bytes less the shards' arrays, at the cost of evicting as much).
//
// ## Entry lifecycle and invariants
// An entry is allocated and filled outside the lock (Entry::Create, refs = 1,
// owned by the writer, with 24 bits of its key's hash), then, under the
// shard's whole lock, either indexed (the table's reference: it is then in the
// table and in one ring of the policy) or handed
// back to the writer, who frees it. It leaves the index by replacement,
// delete, take, eviction, expiry reclaim or clear, each under the whole lock,
// which drops the table's reference; pins (cache_value_t) hold more, and the
// last reference frees the block, with or without a lock. An object entry's
// last reference instead queues the block on the thread's list of objects to
// release, and the Cache call ends by calling the release hook of each, with
// no lock held (core/src/object.h): an object's release may run any code,
// including calls into this cache. Reads of the other kind (a bytes read of an
// object entry) change nothing and count no hit (kWrongKind). Invariants, checked
// by CheckInvariants() (called by the stress test and the tests):
// - an entry is indexed in the table if and only if it is in the policy (in
//   exactly one ring: the one its segment names, at its ring_pos), and its
//   stored hash bits are its key's;
// - entry_bytes_ is the sum of Charge(e) over indexed entries (an object
//   entry's charge includes its writer's estimate of the object), and
//   BytesLocked() (entries plus the table and the policy's arrays, sketch
//   and shadows) <= byte_limit_;
// - table_.size() <= limits_.max_entries;
// - key and value bytes of a published entry never change.
//
// ## When a write fails
// Every refusal is decided before the index changes: kTooLarge (the entry
// cannot fit even alone, after borrowing), kExists / kNotFound (add and
// replace), kNoMem (the entry, a table growth or a ring growth could not be
// allocated). The writer then frees its entry, and the key keeps its previous
// value. Eviction itself never fails for memory (a policy whose ring cannot
// grow leaves the entry where it was). Only evictions already made to make room stay done: a kNoMem from a
// table or ring growth, or a kTooLarge found after the arrays grew, may
// follow evictions of other entries (tests/core/oom_test.cc fails every
// allocation in turn and checks the invariants after each).
//
// ## Hot path (Get, hit)
//   hash = XXH3(key, seed)                         ~3-5 ns, before the lock
//   lock this thread's stripe of the shard lock    one uncontended CAS, on a
//                                                  line no other reader writes
//   probe table: slot = home; compare 8-bit tag    1 cache line, usually
//   compare key bytes in the entry                 1 dependent load
//   if deadline != 0: compare with coarse clock    vDSO read, only for TTL entries
//   if !ref: ref = 1                               relaxed store; none on re-hits
//   if the policy samples reads and the key is in  one load and a predictable
//   the slice: record its hash in the stripe       branch (adaptive policy only)
//   count the hit in the stripe, memcpy the value, unlock the stripe
// The read path is the same for both policies: a policy learns about hits
// only from the reference bits its hands clear (and the sampled hashes).
// The home slot is prefetched before the lock is taken, and the value's
// second line while the key compares.
// Pin (zero-copy) replaces the memcpy with a relaxed increment of the entry's
// reference count (safe because the table's own reference, held under the
// lock, keeps the entry alive while we add ours); Read (cache_read) with a call
// of the caller's function, which builds its own copy (a Python bytes object)
// without an intermediate buffer or an atomic increment.
//
// ## Layout
// Entry (core/src/entry.h): 24-byte header, then key, then value, in one
// allocation from mimalloc (core/src/alloc.h).
//   | refs:31+kind:1 | vlen:32 | deadline:48 | klen:16 | ring_pos:30+segment:2 | hash:24 | ref:8 | key | value |
// An object entry (kind kObjectEntry, core/src/object.h) has a 24-byte value:
// the object's pointer, its cache's hooks, and the charge its writer gave,
// which Charge() adds to the block's size.
// Table slot (core/src/table.h): 64 bits, 0 = empty.
//   | tag:8 | distance:12 | entry pointer >> 4 : 44 |
// Ring slot (core/src/entry_ring.h): one Entry*, or nullptr for a hole.
//
// ## Eviction
// The shard asks its policy (core/src/policy.h) for a victim when a write
// needs room, and tells it of every entry indexed, replaced or removed. A
// write to a live key is a use: the new entry takes the old one's table slot
// and policy place, with its bit set. Whatever the policy, an expired entry a
// hand meets is reclaimed first (counted as an expiration), and the entry the
// write is indexing is never the victim.
//   CLOCK (core/src/clock_policy.h, the default): one ring, second chance;
//     close to LRU (within half a point on the shared traces).
//   Adaptive (core/src/adaptive_policy.h): window TinyLFU over three CLOCK
//     rings with a frequency sketch, its window share raced by shadow caches;
//     within 2 points of the best published policy on every shared trace.
// A victim's table slot is found from its stored hash bits (no re-hash).
//
// ## Expiry
// Each entry carries a deadline in ms on a monotonic clock (coarse, 1-4 ms
// resolution; replaceable for tests). Expiry is lazy: any operation that meets
// an expired entry frees it, counts an expiration and treats the key as
// absent; the hands reclaim expired entries they pass before evicting live
// ones; PurgeExpired() sweeps a shard on demand. No thread is needed. Every
// rule is in core/src/expiry.h; the shard's side in core/src/expiry.cc.
//
// ## Locking
// Each shard has a big-reader lock (core/src/stripe_lock.h): one futex mutex
// (core/src/mutex.h) per reader stripe, one stripe per core rounded up to a
// power of two, at most StripeLock::kMaxStripes (8). Get and Pin
// lock only the calling thread's stripe, so concurrent readers share no
// written cache line (2 threads: 2.06x one thread on a resident hot set, where
// a single mutex per shard gave 1.2x). Everything else (writes, delete, touch,
// ttl, purge, clear, stats, reclaiming an expired entry a reader met) locks all
// stripes in index order and so excludes readers. Readers write only their
// stripe's counters and the entries' atomic ref bits; Entry::refs is atomic
// because pins are released without any lock; key and value bytes are
// immutable once published. No operation locks two shards, except the fork
// handlers, which take every stripe of every shard in order.
//
// ## Costs
// Memory per entry (CLOCK): 24 bytes of header + allocator rounding (mimalloc
// size classes, up to 1/8 of the block) + a table slot (8 bytes at load factor
// 3/8..3/4) + a ring slot (8 bytes, ring 1/2..1 full) = roughly 45-75 bytes
// beyond key and value (docs/benchmarks.md has the measured figure). The
// adaptive policy adds its sketch (8-16 bytes per entry), its other two
// rings' slots, and its shadows (bounded: adaptive_policy.h). All of it is
// charged against max_bytes: an
// entry costs its usable allocation size (mimalloc's size class, computed from the size alone), and
// the shard also charges its table and ring arrays. A set allocates and copies outside the lock
// (usually into the block of the entry its thread last evicted: core/src/alloc.h); inside, it
// probes, maybe evicts (usually one entry), and inserts (shifting a short Robin Hood run). Table
// growth rehashes one shard under its lock: O(n/shards), rare, and avoided altogether when
// max_entries presizes the table.
//
// ## Known weaknesses
// - Readers still lock (their stripe): two threads that share a stripe (more
//   threads than stripes) share its line again, and a write pays one lock
//   per stripe. A lock-free read path (seqlock plus epoch reclamation, as in
//   RocksDB's HyperClockCache) would remove both, at a much higher cost in
//   complexity.
// - CLOCK, the default, has no frequency or admission filter: scans and loops
//   larger than the cache wash it out exactly as they do LRU; the adaptive
//   policy (an option) is for those, at a cost in memory and writes.
// - Byte limits move between shards only for entries that do not fit their
//   shard, and back when a shard fell below half its share: an uneven key
//   distribution can still evict from a full shard while another has room.
//   A borrow locks and evicts in many shards in turn: a large write costs
//   O(evicted entries + shards).
// - Tables grow but never shrink; pinned values evicted from the cache are not
//   counted in `bytes` while the caller holds them.
// - Expired entries in a shard that sees no traffic stay until PurgeExpired().
// - The header stores 24 hash bits: a shard whose table passes 2^24 slots
//   (12M entries) hashes a victim's key again to find its slot.
// - Each thread that ever freed an entry keeps one spare block of up to 4 KiB
//   (core/src/alloc.h), outside every cache's byte count, until it exits.

#ifndef LIBCACHE_CORE_SRC_SHARD_H_
#define LIBCACHE_CORE_SRC_SHARD_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string_view>

#include "core/cache.h"
#include "core/src/alloc.h"
#include "core/src/counters.h"
#include "core/src/entry.h"
#include "core/src/expiry.h"
#include "core/src/link.h"
#include "core/src/adaptive_policy.h"
#include "core/src/clock_policy.h"
#include "core/src/policy.h"
#include "core/src/stripe_lock.h"
#include "core/src/time_source.h"
#include "core/src/table.h"
#include "core/src/thread_annotations.h"

namespace libcache::detail {

// Every shard keeps at least this much limit beyond its arrays, so that it can
// always hold a few small entries whatever it lends to other shards.
inline constexpr uint64_t kShardReserveBytes = 4096;

struct ShardLimits {
  uint64_t max_bytes;    // UINT64_MAX when unbounded
  uint64_t max_entries;  // UINT64_MAX when unbounded
  uint32_t table_capacity;
  uint32_t ring_capacity;
};

class alignas(64) Shard {
  using Stripe = StripeLock<StripeData>::Stripe;

 public:
  Shard() = default;
  ~Shard();
  Shard(const Shard &) = delete;
  Shard &operator=(const Shard &) = delete;

  // stripes: reader stripes of the shard lock (see core/src/stripe_lock.h).
  // Not analysed: it fills the members before the shard is shared, unlocked.
  bool Init(const Allocator *alloc, const TimeSource &time, uint64_t seed,
            const ShardLimits &limits, uint32_t stripes, PolicyKind policy) NO_THREAD_SAFETY_ANALYSIS;

  // The bytes an entry is charged: the allocator's size class for its size,
  // which holds at least its block (core/src/alloc.h) and depends on the
  // entry alone, so it is the same when the entry is linked and unlinked.
  // An object entry adds its writer's charge (core/src/object.h).
  uint64_t Charge(const Entry *e) const {
    const uint64_t block = alloc_->size_class(Entry::SizeFor(e->klen, e->vlen));
    return __builtin_expect(e->is_object(), 0) ? block + e->object().charge : block;
  }

  // The hot path, inline (see "Hot path" above).
  Status Get(std::string_view key, uint64_t hash, void *buf, size_t cap, size_t *vlen)
      EXCLUDES(lock_) {
    Status st = Status::kOk;
    const Status found = Visit(key, hash, [&](const Entry *e) {
      if (__builtin_expect(e->is_object(), 0)) {
        st = Status::kWrongKind;
        return false;
      }
      const uint32_t n = e->vlen;
      if (vlen != nullptr) *vlen = n;
      if (n > cap) {
        st = Status::kBufferTooSmall;
      } else if (n != 0) {
        std::memcpy(buf, e->value_data(), n);
      }
      return true;
    });
    return found == Status::kOk ? st : found;
  }
  Status Read(std::string_view key, uint64_t hash, ReadFn fn, void *ctx) EXCLUDES(lock_) {
    Status st = Status::kOk;
    const Status found = Visit(key, hash, [&](const Entry *e) {
      if (__builtin_expect(e->is_object(), 0)) {
        st = Status::kWrongKind;
        return false;
      }
      if (fn != nullptr) fn(ctx, e->value_data(), e->vlen);
      return true;
    });
    return found == Status::kOk ? st : found;
  }
  // Objects (core/src/object.h): an object entry's object retained for the
  // caller (the hooks' retain, under this thread's reader stripe) in *obj;
  // a bytes entry pinned in *bytes, or kWrongKind (no hit) if bytes is null.
  Status GetObject(std::string_view key, uint64_t hash, void **obj, const Entry **bytes)
      EXCLUDES(lock_) {
    Status st = Status::kOk;
    const Status found = Visit(key, hash, [&](Entry *e) {
      if (e->is_object()) {
        const ObjectPayload p = e->object();
        p.owner->hooks.retain(p.owner->hooks.ctx, p.obj);
        *obj = p.obj;
        return true;
      }
      if (bytes == nullptr) {
        st = Status::kWrongKind;
        return false;
      }
      // relaxed: the table's reference (held under the lock) keeps e alive meanwhile.
      e->refs.fetch_add(1, std::memory_order_relaxed);
      *bytes = e;
      return true;
    });
    return found == Status::kOk ? st : found;
  }
  // Puts e (an object entry) in place of seen if seen is still key's live
  // entry, keeping its deadline and ring place: kOk (the shard owns e),
  // kExists, or kTooLarge (e cannot fit this shard); else the caller owns e.
  Status Upgrade(std::string_view key, uint64_t hash, const Entry *seen, Entry *e)
      EXCLUDES(lock_);
  // Calls fn for the object of each object entry, under the whole lock.
  int VisitObjects(int (*fn)(void *ctx, void *obj), void *ctx) EXCLUDES(lock_);
  Status Pin(std::string_view key, uint64_t hash, const Entry **out) EXCLUDES(lock_);
  // Indexes e with a deadline ttl_ms from now (0 = never expires).
  // On kOk the shard owns e; otherwise the caller still does.
  // hook (a linked write, core/src/link.h): called under the lock once the
  // write is applied, so that the link queues the key's writes in the order
  // they are applied; only on kOk. The same for Delete, Take and Touch,
  // where Delete and Take call it also when the key is absent locally (the
  // store may hold it), so they always consume the hook.
  Status Insert(Entry *e, uint64_t hash, WriteMode mode, uint64_t ttl_ms,
                WriteHook *hook = nullptr) EXCLUDES(lock_);
  // Inserts a value loaded from the store (never queued) if its fill token
  // (gen0, epoch0) still holds (Link::FillVerdictLocked): kOk. Otherwise the
  // entry is not taken: kExists when the key's stripe or the epoch moved
  // since the load began (*current: the key's live local entry, pinned, if
  // one exists), kClosed when the link is not coherent.
  Status Fill(Entry *e, uint64_t hash, uint64_t ttl_ms, const Link &link, uint64_t gen0,
              uint64_t epoch0, Entry **current) EXCLUDES(lock_);
  // Coherence (core/src/link.h, "Changes made elsewhere"): drops the local
  // copy of key if the link says it is clean; true when one was dropped.
  bool Invalidate(std::string_view key, uint64_t hash, Link *link) EXCLUDES(lock_);
  // Drops every clean local copy (InvalidateAll's walk); returns how many.
  uint64_t InvalidateAll(Link *link) EXCLUDES(lock_);
  // Drops the copy of an acknowledged write if no newer write is queued.
  bool DropAcked(std::string_view key, uint64_t hash, Link *link) EXCLUDES(lock_);
  // Applies an acknowledged sync write (e, or a delete of key when e is
  // null) if link->FinishSyncLocked says so; takes e's reference either way.
  void ApplySync(Entry *e, std::string_view key, uint64_t hash, uint64_t ttl_ms, Link *link,
                 SyncWaiter *w) EXCLUDES(lock_);
  // ---- The byte limit, moved between shards (see "Bounds" above) ----
  // This shard's current byte limit. relaxed: read without the lock only to
  // choose which shard to borrow from; exact under the lock.
  uint64_t limit_hint() const { return byte_limit_.load(std::memory_order_relaxed); }
  // Lowers the limit by up to `want` bytes, never below the shard's arrays plus
  // kShardReserveBytes, evicting what no longer fits. Returns the bytes given.
  uint64_t GiveBytes(uint64_t want) EXCLUDES(lock_);
  // Raises the limit by n bytes (given up by other shards).
  void AddBytes(uint64_t n) EXCLUDES(lock_);
  // The limit an entry charged `charge` lacks to fit this shard with every
  // other entry evicted: 0 if it fits now.
  uint64_t Shortfall(uint64_t charge) EXCLUDES(lock_);
  // Debug: checks the invariants listed in "Invariants" above, under the lock.
  // nullptr when they hold, else a description of the first broken one.
  // Stores the limit in *limit_out and adds the bytes held to *bytes_out.
  const char *CheckInvariants(uint64_t *limit_out, uint64_t *bytes_out) EXCLUDES(lock_);
  Status Delete(std::string_view key, uint64_t hash, WriteHook *hook = nullptr) EXCLUDES(lock_);
  // Unlinks the live entry and gives the table's reference to *out.
  // bytes_only: an object entry is kWrongKind, with nothing changed and the
  // hook not consumed.
  Status Take(std::string_view key, uint64_t hash, const Entry **out, WriteHook *hook = nullptr,
              bool bytes_only = true) EXCLUDES(lock_);
  // ttl_ms: 0 = never expires.
  Status Touch(std::string_view key, uint64_t hash, uint64_t ttl_ms,
               WriteHook *hook = nullptr) EXCLUDES(lock_);
  Status Ttl(std::string_view key, uint64_t hash, int64_t *remaining_ms) EXCLUDES(lock_);
  void Clear() EXCLUDES(lock_);
  uint64_t PurgeExpired() EXCLUDES(lock_);
  void AddStats(Stats *out) EXCLUDES(lock_);

  // The whole shard lock, for the fork handlers (core/src/fork.cc), which hold
  // every shard's from one handler to the next. Neither annotated nor analysed:
  // the analysis cannot follow locks taken in a loop over the shards and held
  // past the function that took them.
  void Lock() NO_THREAD_SAFETY_ANALYSIS { lock_.lock(); }
  void Unlock() NO_THREAD_SAFETY_ANALYSIS { lock_.unlock(); }

 private:
  // Calls f(entry) for the live entry with this thread's reader stripe held:
  // kOk if it did, kNotFound otherwise. f returns whether the read counts as
  // a hit (false: the entry was of the other kind, the read did nothing).
  // Not analysed (nor is FindLiveShared): the stripe is released on one of two
  // paths inside FindLiveShared, which the analysis cannot follow.
  template <class F>
  Status Visit(std::string_view key, uint64_t hash, F &&f)
      EXCLUDES(lock_) NO_THREAD_SAFETY_ANALYSIS {
    table_.PrefetchHome(hash);
    Stripe *stripe = lock_.LockShared();
    Entry *e = FindLiveShared(key, hash, stripe);
    if (e == nullptr) return Status::kNotFound;  // stripe already unlocked
    if (__builtin_expect(!f(e), 0)) --stripe->data.counts.hits;
    stripe->mu.unlock();
    return Status::kOk;
  }

  // REQUIRES: stripe is this thread's stripe, locked (LockShared).
  // The live entry for key, counted as a hit (with stripe still locked), or
  // nullptr, counted as a miss (with stripe unlocked; an expired entry met
  // here is then reclaimed under the whole lock).
  Entry *FindLiveShared(std::string_view key, uint64_t hash,
                        Stripe *stripe) NO_THREAD_SAFETY_ANALYSIS {
    const size_t i = table_.Find(key, hash);
    Entry *e = i == HashTable::kNone ? nullptr : table_.At(i);
    const bool expired =
        e != nullptr && __builtin_expect(e->deadline() != 0, 0) && expiry_.ExpiredNow(e);
    // The policy's sample of the reads (hit or miss): one predictable branch.
    const uint32_t mask = sample_mask_.load(std::memory_order_relaxed);
    if (__builtin_expect(mask != Policy::kNoSampling, 0) && SampledHash(hash, mask)) {
      stripe->data.Sample(hash);
    }
    if (e == nullptr || expired) {
      ++stripe->data.counts.misses;
      stripe->mu.unlock();
      if (expired) ReclaimExpired(key, hash);
      return nullptr;
    }
    ++stripe->data.counts.hits;
    // relaxed: a hint for the hand; skip the store (and the line's
    // invalidation in other cores) on re-hits.
    if (e->referenced.load(std::memory_order_relaxed) == 0) {
      e->referenced.store(1, std::memory_order_relaxed);
    }
    return e;
  }
  void ReclaimExpired(std::string_view key, uint64_t hash) EXCLUDES(lock_);
  // table_.PrefetchHome, before the lock is taken. Not analysed: it reads only
  // the table's atomic prefetch hints, which need no lock.
  void PrefetchHome(uint64_t hash) const NO_THREAD_SAFETY_ANALYSIS { table_.PrefetchHome(hash); }

  // All REQUIRES the whole lock (lock_) held.
  // Finds the live entry for key and its slot (slot may be null); an expired
  // one is reclaimed.
  __attribute__((always_inline)) Entry *LookupLocked(std::string_view key, uint64_t hash,
                                                     size_t *slot) REQUIRES(lock_) {
    const size_t i = table_.FindInline(key, hash);
    if (i == HashTable::kNone) return nullptr;
    Entry *e = table_.At(i);
    if (__builtin_expect(e->deadline() != 0, 0) && ReclaimIfExpiredLocked(i, e)) return nullptr;
    if (slot != nullptr) *slot = i;
    return e;
  }
  bool ReclaimIfExpiredLocked(size_t slot, Entry *e) REQUIRES(lock_);
  // Removes the entry in slot from the table and the policy and drops the
  // table's reference.
  void UnlinkLocked(size_t slot, Entry *e) REQUIRES(lock_);
  // The same, finding the slot from the entry's stored hash.
  void UnlinkEntryLocked(Entry *e) REQUIRES(lock_);
  // The same for an entry the policy already let go (Policy::Evict).
  void DropEvictedLocked(Entry *e) REQUIRES(lock_);
  // Calls fn(policy) with the policy as its own (final) class: a direct,
  // inlinable call where a virtual one would cost a CLOCK set about 40
  // instructions (bench/opcount.sh). The branch always goes the same way.
  template <class Fn>
  decltype(auto) WithPolicy(Fn &&fn) const {
    if (__builtin_expect(adaptive_, 0)) return fn(static_cast<AdaptivePolicy &>(*policy_));
    return fn(static_cast<ClockPolicy &>(*policy_));
  }
  // Calls fn(Entry *) for every indexed entry; fn may unlink it.
  template <class Fn>
  void ForEachEntryLocked(Fn &&fn) REQUIRES(lock_) {
    policy_->ForEach([](void *ctx, Entry *e) { (*static_cast<Fn *>(ctx))(e); }, &fn);
  }
  uint64_t BytesLocked() const REQUIRES(lock_) { return entry_bytes_ + ArrayBytesLocked(); }
  // Hands the readers' sampled reads to the policy (a write does, first).
  void DrainSamplesLocked() REQUIRES(lock_);
  uint64_t ArrayBytesLocked() const REQUIRES(lock_) {
    return table_.bytes() + WithPolicy([](const auto &p) { return p.bytes(); });
  }
  uint64_t LimitLocked() const REQUIRES(lock_) {
    return byte_limit_.load(std::memory_order_relaxed);
  }
  bool OverLocked(uint64_t extra_bytes, uint64_t extra_entries) const REQUIRES(lock_) {
    return table_.size() + extra_entries > limits_.max_entries ||
           BytesLocked() + extra_bytes > LimitLocked();
  }
  // Evicts (or reclaims, if expired) the entry the policy chooses, never
  // `keep`. False when nothing else is left.
  bool EvictOneLocked(const Entry *keep) REQUIRES(lock_);
  Status InsertLocked(Entry *e, uint64_t hash, WriteMode mode, uint64_t ttl_ms, WriteHook *hook)
      REQUIRES(lock_);
  // Makes room for, then indexes, an entry whose key is absent.
  Status LinkNewLocked(Entry *e, uint64_t hash, uint64_t charge) REQUIRES(lock_);
  // Evicts (never `keep`) until the extra bytes and entries would fit.
  void EvictWhileOverLocked(uint64_t extra_bytes, uint64_t extra_entries, const Entry *keep)
      REQUIRES(lock_);

  // The first cache line holds what a get reads: the lock's stripe array and
  // the table header. Readers write only their own stripe's line.
  StripeLock<StripeData> lock_;  // each reader stripe counts its hits and misses
  HashTable table_ GUARDED_BY(lock_);  // readers hold a stripe (shared), writers all
  // The eviction order; written only with the whole lock. Not GUARDED_BY: the
  // pointer is immutable after Init, what it points to is guarded.
  std::unique_ptr<Policy> policy_;
  bool adaptive_ = false;  // policy_ is an AdaptivePolicy (else a ClockPolicy); immutable
  // policy_->sample_mask(), for readers. relaxed: written under the whole
  // lock; a reader's stale value only samples a read more or less.
  std::atomic<uint32_t> sample_mask_{Policy::kNoSampling};
  uint64_t entry_bytes_ GUARDED_BY(lock_) = 0;  // sum of Charge() of indexed entries
  WriteCounters counts_ GUARDED_BY(lock_);
  const Allocator *alloc_ = nullptr;  // immutable after Init
  Expiry expiry_;                     // immutable after Init
  uint64_t seed_ = 0;                 // immutable after Init
  ShardLimits limits_{};  // immutable after Init; limits_.max_bytes is the initial byte_limit_
  // The byte bound: written only with the whole lock held (relaxed: the lock
  // orders it; lock-free readers use it only as a hint). Not GUARDED_BY: read
  // without the lock by limit_hint(); LimitLocked() is the exact read.
  std::atomic<uint64_t> byte_limit_{0};
};

}  // namespace libcache::detail

namespace libcache {

// The shard of a key hash (bits kShardShift and up). Here rather than in
// cache.cc: every file of Cache's methods inlines it.
inline detail::Shard &Cache::ShardFor(uint64_t hash) const {
  return shards_.get()[(hash >> kShardShift) & shard_mask_];
}

}  // namespace libcache

#endif  // LIBCACHE_CORE_SRC_SHARD_H_
