// libcache core: the C++ engine behind the C ABI.
//
// This header is the engine's whole C++ surface. It is internal to the
// library: the stable interface is <libcache/cache.h> (the C ABI), which every
// binding wraps. Nothing here is a template; the table, the CLOCK ring and the
// shard logic live in core/src/.

#ifndef LIBCACHE_CORE_CACHE_H_
#define LIBCACHE_CORE_CACHE_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

struct cache_store_s;

namespace libcache {

// Same numbers as the C ABI's CACHE_* statuses (checked by static_assert in
// capi/src/cache.cc).
enum class Status : int {
  kOk = 0,
  kNotFound = 1,
  kExists = 2,
  kInvalid = -1,
  kNoMem = -2,
  kTooLarge = -3,
  kBufferTooSmall = -4,
  kIo = -5,
  kFull = -6,
  kTimeout = -7,
  kClosed = -8,
  kInternal = -9,
  kWrongKind = -10,  // the entry holds the other kind of value (an object, or bytes)
  kRejected = 100,  // CACHE_STORE_REJECTED: a store refused the operation
};

// A clock returning monotonic milliseconds; see cache_options_set_clock.
using ClockFn = uint64_t (*)(void *ctx);

// Hooks of a cache that holds language objects by reference
// (<libcache/cache_object.h>): retain adds a reference for a reader, release
// drops the cache's. Both null: the cache holds bytes only.
struct ObjectHooks {
  void (*retain)(void *ctx, void *obj) = nullptr;
  void (*release)(void *ctx, void *obj) = nullptr;
  void *ctx = nullptr;
};

namespace detail {
class Shard;
class Link;
struct LinkOptions;
struct SyncWaiter;
struct WriteHook;
struct Allocator;
struct Entry;
struct ObjectOwner;
struct ShardDeleter {
  void operator()(Shard *s) const;
};
}  // namespace detail

// The eviction policy (core/src/policy.h).
enum class PolicyKind : uint8_t { kClock, kAdaptive };

struct Options {
  uint64_t max_bytes = uint64_t{64} << 20;  // 0 = unbounded in bytes
  uint64_t max_entries = 0;                 // 0 = unbounded in entries
  uint64_t default_ttl_ms = 0;              // 0 = no expiry
  uint32_t shards = 0;                      // 0 = automatic; else a power of two <= kMaxShards
  ClockFn clock = nullptr;                  // nullptr = CLOCK_MONOTONIC_COARSE
  void *clock_ctx = nullptr;
  PolicyKind policy = PolicyKind::kClock;
  bool fixed_seed = false;  // false = a random hash seed per cache
  uint64_t seed = 0;
  // nullptr = the engine's (core/src/alloc.h). Tests pass one that fails on
  // demand; it must outlive the cache and every value pinned from it.
  const detail::Allocator *allocator = nullptr;
  ObjectHooks objects;  // see ObjectHooks
};

inline constexpr uint32_t kMaxShards = 1024;
inline constexpr size_t kMaxKeySize = 65535;
inline constexpr int64_t kTtlDefault = -1;
inline constexpr int64_t kTtlNone = 0;
inline constexpr uint64_t kMaxTtlMs = uint64_t{1} << 62;

struct Stats {
  uint64_t hits = 0, misses = 0, sets = 0, deletes = 0, evictions = 0, expirations = 0;
  uint64_t entries = 0, bytes = 0;
};

enum class WriteMode { kSet, kAdd, kReplace };

// Receives a live value inside Cache::Read; see cache_read in <libcache/cache.h>.
// Exactly cache_read_fn's signature, so the C ABI passes the caller's function
// through without a cast (calling through a cast function type is undefined).
using ReadFn = void (*)(void *ctx, const void *data, size_t size);

// A pinned value: immutable bytes that outlive their entry until released.
struct Value;
const char *ValueData(const Value *v);
size_t ValueSize(const Value *v);
void ReleaseValue(const Value *v);  // REQUIRES: v was returned by Cache::Pin

// The name of the allocator that holds entries ("mimalloc" or "libc").
const char *AllocatorName();

// Thread-safety: every method may be called concurrently from any threads,
// except destruction, which must not race with other calls.
class Cache {
 public:
  // Validates opts and builds a cache. kInvalid for bad options, kNoMem.
  static Status Open(const Options &opts, std::unique_ptr<Cache> *out);
  ~Cache();
  Cache(const Cache &) = delete;
  Cache &operator=(const Cache &) = delete;

  // Copies key and value into a new entry. ttl_ms: > 0, kTtlDefault or
  // kTtlNone. kAdd fails with kExists on a live entry; kReplace fails with
  // kNotFound without one. kTooLarge if the entry can never fit a shard; on any
  // failure the cache is unchanged.
  Status Write(std::string_view key, std::string_view value, int64_t ttl_ms, WriteMode mode) {
    return Write(key, &value, 1, ttl_ms, mode);
  }
  // The same, with the value given as parts stored back to back.
  Status Write(std::string_view key, const std::string_view *parts, size_t nparts, int64_t ttl_ms,
               WriteMode mode);
  // Copies the value into buf[0, cap); *vlen = its size (vlen may be null).
  Status Get(std::string_view key, void *buf, size_t cap, size_t *vlen);
  // Calls fn(ctx, value) (fn may be null) while the entry is read-locked.
  Status Read(std::string_view key, ReadFn fn, void *ctx);
  // Pins the value without copying; release with ReleaseValue.
  Status Pin(std::string_view key, const Value **out);
  Status Delete(std::string_view key);
  // Removes the live entry and hands its value over pinned (release with
  // ReleaseValue), as one operation under the shard lock.
  Status Take(std::string_view key, const Value **out);
  Status Touch(std::string_view key, int64_t ttl_ms);

  // ---- Objects held by reference (<libcache/cache_object.h>) ----
  // Every bytes read above (Get, Read, Pin, Take) returns kWrongKind for an
  // object entry, changing nothing. kInvalid when the cache has no hooks.
  // Stores obj for key, charged its entry plus `charge`; encoded: what a
  // linked store is sent (required then). On kOk the cache owns the
  // caller's reference; otherwise the caller keeps it.
  Status SetObject(std::string_view key, void *obj, uint64_t charge, const std::string_view *encoded,
                   int64_t ttl_ms, WriteMode mode);
  // kOk with *obj retained (the hooks' retain) or *bytes pinned (a bytes
  // entry, or a value read through; bytes may be null: then kWrongKind);
  // kNotFound. local_only: no read-through.
  Status GetObject(std::string_view key, void **obj, const Value **bytes, bool local_only);
  // Puts obj in place of seen (a bytes value GetObject returned) if seen is
  // still key's entry: kOk (the cache owns obj's reference), kExists if not.
  Status UpgradeObject(std::string_view key, const Value *seen, void *obj, uint64_t charge);
  // Take of either kind: *obj (the cache's reference passes to the caller)
  // or *bytes pinned.
  Status TakeObject(std::string_view key, void **obj, const Value **bytes);
  // Calls fn(ctx, obj) for each object held, shard by shard under its lock;
  // returns fn's first non-zero result, else 0.
  int VisitObjects(int (*fn)(void *ctx, void *obj), void *ctx) const;
  bool holds_objects() const { return objects_ != nullptr; }

  // *remaining_ms = milliseconds left, or -1 if the entry never expires.
  Status Ttl(std::string_view key, int64_t *remaining_ms);
  void Clear();
  uint64_t PurgeExpired();
  Stats GetStats() const;
  // Debug: checks every shard's invariants (core/src/shard.h) and that the
  // shards' byte limits add up to max_bytes. nullptr when they hold, else what
  // is broken. O(entries), under each shard's lock in turn.
  const char *CheckInvariants() const;
  uint32_t shard_count() const { return shard_mask_ + 1; }

  // ---- A store behind the cache (core/src/link.h) ----
  // Links store (copied) and starts its flusher; the cache owns the link
  // (~Cache closes it). kExists when a link is attached, kNoMem.
  Status AttachLink(const cache_store_s &store, const detail::LinkOptions &opts,
                    detail::Link **out);

  // Fork support (see core/src/fork.cc): hold every shard lock (and the
  // link's queue lock) across fork(); in the child, the link goes inert.
  void ForkPrepare();
  void ForkParent();
  void ForkChild();

 private:
  friend class detail::Link;
  Cache() = default;
  void LockAllShards();
  void UnlockAllShards();
  // The writes with a link attached: reserve queue room before the shard
  // lock, queue under it (out of line: the unlinked path pays one branch).
  // object: for SetObject, the object entry the table gets (the caller's on
  // any failure), parts being its encoded form, which the queue gets; null
  // for a bytes write, whose one entry serves both.
  Status WriteLinked(detail::Link *link, std::string_view key, const std::string_view *parts,
                     size_t nparts, size_t vlen, uint64_t hash, uint64_t ttl, WriteMode mode,
                     detail::Entry *object = nullptr);
  Status DeleteLinked(detail::Link *link, std::string_view key, uint64_t hash);
  Status TakeLinked(detail::Link *link, std::string_view key, uint64_t hash, const Value **out,
                    bool bytes_only);
  // Take for both kinds: the entry taken, or null.
  Status TakeEntry(std::string_view key, const detail::Entry **out, bool bytes_only);
  // A new object entry for key (kNoMem, or kOk with *out).
  Status NewObjectEntry(std::string_view key, uint64_t hash, void *obj, uint64_t charge, detail::Entry **out);
  Status TouchLinked(detail::Link *link, std::string_view key, uint64_t hash, uint64_t ttl);
  // A local miss, asked of the link (read-through): the entry pinned, or null.
  detail::Entry *MissThrough(std::string_view key, uint64_t hash);
  // Inserts a value loaded from the store without queueing it, if its fill
  // token holds (see Shard::Fill).
  Status FillFromStore(detail::Entry *e, uint64_t hash, uint64_t ttl, const detail::Link &link,
                       uint64_t gen0, uint64_t epoch0, detail::Entry **current);
  // Coherence: the shards' parts of Link::Invalidate, InvalidateAll and
  // DropAcked (see Shard); return how many local copies were dropped.
  uint64_t InvalidateFromStore(detail::Link *link, std::string_view key, uint64_t hash);
  uint64_t InvalidateAllFromStore(detail::Link *link);
  uint64_t DropAckedFromStore(detail::Link *link, std::string_view key, uint64_t hash);
  // Applies an acknowledged sync write locally (e: the value, or null for a
  // delete) unless a newer write of the key exists; takes e's reference.
  void ApplySync(detail::Entry *e, std::string_view key, uint64_t hash, uint64_t ttl,
                 detail::Link *link, detail::SyncWaiter *w);
  // Drops the link from the cache (it stays allocated until ~Cache).
  void DetachLink(detail::Link *link);
  detail::Shard &ShardFor(uint64_t hash) const;
  uint64_t Hash(std::string_view key) const;
  // Resolves kTtlDefault; returns false for an invalid ttl.
  bool ResolveTtl(int64_t ttl_ms, uint64_t *out) const;
  // Moves `want` bytes of limit (or at least `need`, when the others cannot
  // spare `want`) from the other shards, spread evenly, richest first, to
  // `to`; only_surplus takes only what they hold above their fair share.
  // Returns the bytes moved. Locks one shard at a time.
  uint64_t Borrow(detail::Shard &to, uint64_t need, uint64_t want, bool only_surplus);
  // Inserts e, which its shard refused as too large, borrowing limit from the
  // other shards.
  // Inserts e into shard; on success rebalances a starved shard's limit, and
  // on kTooLarge borrows (InsertBorrowing).
  Status InsertAndBalance(detail::Shard &shard, detail::Entry *e, uint64_t hash, WriteMode mode,
                          uint64_t ttl, detail::WriteHook *hook);
  Status InsertBorrowing(detail::Shard &shard, detail::Entry *e, uint64_t hash, WriteMode mode,
                         uint64_t ttl, detail::WriteHook *hook);

  static constexpr int kShardShift = 40;  // shard index: hash bits 40..49
  std::unique_ptr<detail::Shard[], detail::ShardDeleter> shards_;
  uint32_t shard_mask_ = 0;
  uint64_t seed_ = 0;
  uint64_t default_ttl_ms_ = 0;
  uint64_t max_bytes_ = 0;  // kUnbounded (UINT64_MAX) when unbounded in bytes
  uint64_t fair_share_ = 0;  // max_bytes_ / shards: what a shard's limit returns to
  uint64_t starved_below_ = 0;  // fair_share_ / 2, or 0 when limits never move
  bool can_borrow_ = false;     // bounded in bytes, with more than one shard
  const detail::Allocator *alloc_ = nullptr;
  bool registered_ = false;  // with the fork handlers (core/src/fork.h)
  // Borrow() bumps borrow_gen_ when it starts and when it ends, and counts the
  // borrows in flight: a reader of every shard in turn (stats, the invariant
  // checker) that sees neither change saw limits that add up to max_bytes.
  // seq_cst: these order the reads of the shards with the borrows.
  mutable std::atomic<uint64_t> borrow_gen_{0};
  mutable std::atomic<uint32_t> borrows_in_flight_{0};
  // The attached link, or null. acquire/release: a writer that sees it sees it
  // built. Links are never freed before ~Cache (closed ones wait on
  // retired_links_), so a writer that loaded the pointer just before a close
  // still touches live memory, and backs out (Link::Reserve).
  // The hooks of a cache that holds objects (null otherwise); object entries
  // point at it (core/src/object.h). Freed by ~Cache, after every entry.
  detail::ObjectOwner *objects_ = nullptr;
  std::atomic<detail::Link *> link_{nullptr};
  std::mutex links_mu_;                       // attach, detach, fork
  detail::Link *retired_links_ = nullptr;     // under links_mu_
};

}  // namespace libcache

#endif  // LIBCACHE_CORE_CACHE_H_
