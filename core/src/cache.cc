// Cache: options, sharding and hashing; each operation is one shard's business.

#include "core/cache.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <thread>
#include <new>
#include <utility>

#include "core/src/alloc.h"
#include "core/src/time_source.h"
#include "core/src/entry.h"
#include "core/src/fork.h"
#include "core/src/hash.h"
#include "core/src/link.h"
#include "core/src/object.h"
#include "core/src/shard.h"

namespace libcache {
namespace {

using detail::Entry;
using detail::HashTable;
using detail::Shard;
using detail::ShardLimits;

constexpr uint64_t kUnbounded = std::numeric_limits<uint64_t>::max();
constexpr uint32_t kAutoMaxShards = 64;
constexpr uint64_t kAutoMinShardBytes = uint64_t{256} << 10;
constexpr uint64_t kAutoMinShardEntries = 1024;
constexpr uint32_t kMinRing = 16;
constexpr uint64_t kMaxPresizedEntries = uint64_t{1} << 18;  // per shard: 4 MiB of arrays
// Fixed per-shard memory with the smallest table and ring, plus the smallest
// possible entry: a shard must afford at least this much.
constexpr uint64_t kMinShardBytes =
    HashTable::kMinCapacity * sizeof(uint64_t) + kMinRing * sizeof(void *) + 32;

bool IsPowerOfTwo(uint64_t x) { return x != 0 && (x & (x - 1)) == 0; }

uint64_t NextPowerOfTwo(uint64_t x) {
  uint64_t p = 1;
  while (p < x) p <<= 1;
  return p;
}

uint32_t AutoShards(const Options &opts) {
  const uint64_t cores = std::max(1u, std::thread::hardware_concurrency());
  auto n = static_cast<uint32_t>(std::min<uint64_t>(NextPowerOfTwo(cores * 16), kAutoMaxShards));
  while (n > 1 && ((opts.max_bytes != 0 && opts.max_bytes / n < kAutoMinShardBytes) ||
                   (opts.max_entries != 0 && opts.max_entries / n < kAutoMinShardEntries))) {
    n /= 2;
  }
  return n;
}

// One reader stripe per core (rounded up to a power of two), at most
// StripeLock::kMaxStripes: more would only make writes lock more stripes.
uint32_t ReaderStripes() {
  const uint64_t cores = std::max(1u, std::thread::hardware_concurrency());
  return static_cast<uint32_t>(
      std::min<uint64_t>(NextPowerOfTwo(cores), detail::StripeIndex::kMaxStripes));
}

uint64_t RandomSeed() {
  try {
    std::random_device rd;
    return (uint64_t{rd()} << 32) ^ rd();
  } catch (...) {  // no entropy source: still differs per cache and process
    const auto t =
        static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    return detail::HashKey(std::string_view(reinterpret_cast<const char *>(&t), sizeof(t)),
                           reinterpret_cast<uintptr_t>(&t));
  }
}

// The share of `total` given to shard i of n (the remainders go to the first
// shards, so the shares add up to exactly `total`).
uint64_t ShareOf(uint64_t total, uint32_t n, uint32_t i) {
  if (total == 0) return kUnbounded;
  return total / n + (i < total % n ? 1 : 0);
}

ShardLimits LimitsFor(const Options &opts, uint32_t n, uint32_t i) {
  ShardLimits l{ShareOf(opts.max_bytes, n, i), ShareOf(opts.max_entries, n, i),
                HashTable::kMinCapacity, kMinRing};
  if (l.max_entries <= kMaxPresizedEntries) {
    // Presize for the entry bound, unless that would eat over 1/8 of the
    // bytes; a larger bound (often a stand-in for "unbounded") grows on demand
    // instead of reserving memory for entries that may never come.
    const uint64_t table =
        std::max<uint64_t>(NextPowerOfTwo(l.max_entries * 4 / 3 + 1), HashTable::kMinCapacity);
    const uint64_t ring = std::max<uint64_t>(NextPowerOfTwo(l.max_entries), kMinRing);
    if ((table + ring) * 8 <= l.max_bytes / 8) {
      l.table_capacity = static_cast<uint32_t>(table);
      l.ring_capacity = static_cast<uint32_t>(ring);
    }
  }
  return l;
}

}  // namespace

void detail::ShardDeleter::operator()(Shard *s) const { delete[] s; }

const char *AllocatorName() { return detail::GetAllocator().name; }

const char *ValueData(const Value *v) { return reinterpret_cast<const Entry *>(v)->value_data(); }
size_t ValueSize(const Value *v) { return reinterpret_cast<const Entry *>(v)->vlen; }
void ReleaseValue(const Value *v) {
  Entry *e = const_cast<Entry *>(reinterpret_cast<const Entry *>(v));
  // Only an object entry's last reference defers a release (read before the
  // unref, which may free the entry).
  const bool object = e->is_object();
  e->Unref(detail::GetAllocator());
  if (__builtin_expect(object, 0)) detail::ReleaseDeferredObjects();
}

Status Cache::Open(const Options &opts, std::unique_ptr<Cache> *out) {
  if (out == nullptr) return Status::kInvalid;
  if (opts.max_bytes == 0 && opts.max_entries == 0) return Status::kInvalid;
  if (opts.default_ttl_ms > kMaxTtlMs) return Status::kInvalid;
  if (opts.shards != 0 && (!IsPowerOfTwo(opts.shards) || opts.shards > kMaxShards)) {
    return Status::kInvalid;
  }
  const uint32_t n = opts.shards != 0 ? opts.shards : AutoShards(opts);
  if (opts.max_bytes != 0 && opts.max_bytes / n < kMinShardBytes) return Status::kInvalid;
  if (opts.max_entries != 0 && opts.max_entries < n) return Status::kInvalid;
  if (opts.max_entries / n > std::numeric_limits<uint32_t>::max()) return Status::kInvalid;
  if ((opts.objects.retain == nullptr) != (opts.objects.release == nullptr)) {
    return Status::kInvalid;
  }

  // On any failure below, the unique_ptrs free what was made: shards whose
  // Init failed part-way, or never ran, destroy cleanly (Shard::~Shard).
  std::unique_ptr<Cache> cache(new (std::nothrow) Cache);
  if (cache == nullptr) return Status::kNoMem;
  cache->shard_mask_ = n - 1;
  cache->seed_ = opts.fixed_seed ? opts.seed : RandomSeed();
  cache->default_ttl_ms_ = opts.default_ttl_ms;
  cache->max_bytes_ = opts.max_bytes == 0 ? kUnbounded : opts.max_bytes;
  cache->fair_share_ = opts.max_bytes / n;
  cache->can_borrow_ = opts.max_bytes != 0 && n > 1;
  cache->starved_below_ = cache->can_borrow_ ? cache->fair_share_ / 2 : 0;
  cache->alloc_ = opts.allocator != nullptr ? opts.allocator : &detail::GetAllocator();
  if (opts.objects.retain != nullptr) {
    cache->objects_ = new (std::nothrow) detail::ObjectOwner{opts.objects, cache->alloc_};
    if (cache->objects_ == nullptr) return Status::kNoMem;
  }
  cache->shards_.reset(new (std::nothrow) Shard[n]);
  if (cache->shards_ == nullptr) return Status::kNoMem;
  const detail::TimeSource clock(opts.clock, opts.clock_ctx);
  const uint32_t stripes = ReaderStripes();
  for (uint32_t i = 0; i < n; ++i) {
    if (!cache->shards_.get()[i].Init(cache->alloc_, clock, cache->seed_, LimitsFor(opts, n, i),
                                      stripes, opts.policy)) {
      return Status::kNoMem;
    }
  }
  if (!detail::RegisterForFork(cache.get())) return Status::kNoMem;
  cache->registered_ = true;
  *out = std::move(cache);
  return Status::kOk;
}

Cache::~Cache() {
  // Close the link first: its flusher must stop before the cache goes, and
  // what it still holds is released into this cache's allocator.
  if (detail::Link *l = link_.load(std::memory_order_acquire)) l->Close(0, nullptr);
  for (detail::Link *l = retired_links_, *next; l != nullptr; l = next) {
    next = l->retired_next;
    if (!l->closed()) l->Close(0, nullptr);  // a fork child's inherited link
    delete l;
  }
  if (registered_) detail::UnregisterForFork(this);
  shards_.reset();  // frees the entries, then gives their memory back (alloc.h)
  // The objects of the entries just freed, released with no lock held; only
  // then may the hooks' owner go.
  detail::ReleaseDeferredObjects();
  delete objects_;
  if (alloc_ != nullptr && alloc_->collect != nullptr) alloc_->collect();
}

Status Cache::AttachLink(const cache_store_s &store, const detail::LinkOptions &opts,
                         detail::Link **out) {
  std::lock_guard<std::mutex> g(links_mu_);
  if (link_.load(std::memory_order_relaxed) != nullptr) return Status::kExists;
  detail::Link *l = nullptr;
  const Status st = detail::Link::Create(this, store, opts, &l);
  if (st != Status::kOk) return st;
  link_.store(l, std::memory_order_release);
  *out = l;
  return Status::kOk;
}

void Cache::DetachLink(detail::Link *l) {
  std::lock_guard<std::mutex> g(links_mu_);
  if (link_.load(std::memory_order_relaxed) == l) link_.store(nullptr, std::memory_order_release);
  if (!l->retired) {
    l->retired = true;
    l->retired_next = retired_links_;
    retired_links_ = l;
  }
}

uint64_t Cache::Hash(std::string_view key) const { return detail::HashKey(key, seed_); }

bool Cache::ResolveTtl(int64_t ttl_ms, uint64_t *out) const {
  if (ttl_ms == kTtlDefault) {
    *out = default_ttl_ms_;
    return true;
  }
  if (ttl_ms < 0 || static_cast<uint64_t>(ttl_ms) > kMaxTtlMs) return false;
  *out = static_cast<uint64_t>(ttl_ms);
  return true;
}

Status Cache::InsertAndBalance(Shard &shard, Entry *e, uint64_t hash, WriteMode mode,
                                     uint64_t ttl, detail::WriteHook *hook) {
  Status st = shard.Insert(e, hash, mode, ttl, hook);
  if (__builtin_expect(st == Status::kOk, 1)) {
    // A shard that lent most of its limit takes it back from shards holding
    // more than their share, so that limits drift back to even.
    if (__builtin_expect(shard.limit_hint() < starved_below_, 0)) {
      const uint64_t need = fair_share_ - shard.limit_hint();
      Borrow(shard, need, need, /*only_surplus=*/true);
    }
    return st;
  }
  if (st == Status::kTooLarge && can_borrow_) st = InsertBorrowing(shard, e, hash, mode, ttl, hook);
  return st;
}

Status Cache::Write(std::string_view key, const std::string_view *parts, size_t nparts,
                    int64_t ttl_ms, WriteMode mode) {
  detail::ReleaseScope release_after;  // object releases, once the locks are gone
  uint64_t ttl;
  if (!ResolveTtl(ttl_ms, &ttl)) return Status::kInvalid;
  size_t vlen = 0;
  for (size_t i = 0; i < nparts; ++i) {
    vlen += parts[i].size();
    if (vlen < parts[i].size()) return Status::kTooLarge;  // wrapped around
  }
  if (key.size() > kMaxKeySize || vlen > std::numeric_limits<uint32_t>::max()) {
    return Status::kTooLarge;
  }
  const uint64_t h = Hash(key);
  Shard &shard = ShardFor(h);
  // Refuse hopeless sizes before allocating (the shard makes the exact check).
  if (Entry::SizeFor(key.size(), vlen) > max_bytes_) return Status::kTooLarge;
  detail::Link *link = link_.load(std::memory_order_acquire);
  if (__builtin_expect(link != nullptr, 0)) {
    const Status st = WriteLinked(link, key, parts, nparts, vlen, h, ttl, mode);
    if (st != Status::kClosed) return st;  // kClosed: the link is closing, write locally
  }
  Entry *e = Entry::Create(*alloc_, key, h, parts, nparts, vlen);
  if (e == nullptr) return Status::kNoMem;
  if (!HashTable::Encodable(e)) {
    e->Unref(*alloc_);
    return Status::kNoMem;
  }
  const Status st = InsertAndBalance(shard, e, h, mode, ttl, nullptr);
  if (st != Status::kOk) e->Unref(*alloc_);
  return st;
}

Status Cache::WriteLinked(detail::Link *link, std::string_view key, const std::string_view *parts,
                          size_t nparts, size_t vlen, uint64_t hash, uint64_t ttl, WriteMode mode,
                          Entry *object) {
  const uint64_t charge = detail::Link::Charge(key.size(), vlen);
  link->PrefetchSlot(hash);
  const Status r = link->Reserve(charge);
  if (r != Status::kOk) return r;  // kFull: refused, the cache unchanged
  // The queue's entry. A bytes write's is the table's too: two owners, no
  // copy of the value for the queue.
  const uint32_t owners = object == nullptr ? 2 : 1;
  Entry *holder = Entry::Create(*alloc_, key, hash, parts, nparts, vlen, owners);
  Entry *e = object != nullptr ? object : holder;
  const auto undo = [&] {
    for (uint32_t i = 0; i < owners; ++i) holder->Unref(*alloc_);
    link->Unreserve(charge);
  };
  if (holder == nullptr) {
    link->Unreserve(charge);
    return Status::kNoMem;
  }
  if (!HashTable::Encodable(e) || !detail::EnsureSpareNode()) {
    undo();
    return Status::kNoMem;
  }
  link->PrefetchNode(hash);
  detail::WriteHook hook{link, detail::OpKind::kPut, holder, charge};
  const Status st = InsertAndBalance(ShardFor(hash), e, hash, mode, ttl, &hook);
  if (st != Status::kOk) undo();
  return st;
}

Status Cache::InsertBorrowing(Shard &shard, Entry *e, uint64_t hash, WriteMode mode,
                              uint64_t ttl, detail::WriteHook *hook) {
  // Larger than this shard can hold alone: borrow limit from the others. Two
  // rounds, in case writes to this shard grew its arrays in between.
  Status st = Status::kTooLarge;
  for (int round = 0; round < 2 && st == Status::kTooLarge; ++round) {
    const uint64_t need = shard.Shortfall(shard.Charge(e));
    // Ask for a fair share on top, so that the shard keeps room for its small
    // entries (otherwise its next write would evict the large one, the only
    // entry left); settle for what the entry needs if the others are short.
    if (need != 0 && Borrow(shard, need, need + fair_share_, /*only_surplus=*/false) == 0) break;
    st = shard.Insert(e, hash, mode, ttl, hook);
  }
  return st;
}

uint64_t Cache::Borrow(Shard &to, uint64_t need, uint64_t want, bool only_surplus) {
  Shard *shards = shards_.get();
  const uint32_t n = shard_mask_ + 1;
  // What the others could give, richest first (hints, read without locks).
  // Refuse before evicting anything when they cannot give enough.
  // No exception may leave a write (the caller still owns its entry).
  std::unique_ptr<std::pair<uint64_t, uint32_t>[]> order(
      new (std::nothrow) std::pair<uint64_t, uint32_t>[n]);
  if (order == nullptr) return 0;
  uint32_t count = 0;
  uint64_t available = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (&shards[i] == &to) continue;
    const uint64_t limit = shards[i].limit_hint();
    const uint64_t floor = only_surplus ? fair_share_ : detail::kShardReserveBytes;
    if (limit <= floor) continue;
    order[count++] = {limit, i};
    available += limit - floor;
  }
  if (available < (only_surplus ? 1 : need)) return 0;
  if (available >= want) need = want;
  std::sort(order.get(), order.get() + count, std::greater<>());
  borrows_in_flight_.fetch_add(1);
  borrow_gen_.fetch_add(1);
  // Spread the loan: each lender gives an equal part of what is still needed
  // (the richest first, the later ones making up any shortfall), so that one
  // large entry leaves no shard starved (a starved shard would take the limit
  // back at once and evict the entry); a second pass takes what is left.
  uint64_t got = 0;
  for (int pass = 0; pass < 2 && got < need; ++pass) {
    for (uint32_t k = 0; k < count && got < need; ++k) {
      const auto [limit, i] = order[k];
      uint64_t want = pass == 0 ? (need - got + (count - k - 1)) / (count - k) : need - got;
      if (only_surplus) want = std::min(want, limit > fair_share_ ? limit - fair_share_ : 0);
      got += shards[i].GiveBytes(want);
    }
  }
  if (got != 0) to.AddBytes(got);  // always: the limits must keep adding up
  borrow_gen_.fetch_add(1);
  borrows_in_flight_.fetch_sub(1);
  return got;
}

Entry *Cache::MissThrough(std::string_view key, uint64_t hash) {
  detail::Link *link = link_.load(std::memory_order_acquire);
  if (link == nullptr || !link->reads_through() || key.size() > kMaxKeySize) return nullptr;
  return link->ReadThrough(key, hash);
}

Status Cache::Get(std::string_view key, void *buf, size_t cap, size_t *vlen) {
  const uint64_t h = Hash(key);
  const Status st = ShardFor(h).Get(key, h, buf, cap, vlen);
  if (__builtin_expect(st != Status::kNotFound, 1)) return st;
  // Only a miss drops entries: an expired one it reclaimed, a read-through's
  // copy. Their objects are released once this call's locks are gone.
  detail::ReleaseScope release_after;
  Entry *e = MissThrough(key, h);
  if (e == nullptr) return st;
  if (e->is_object()) {  // a local write of an object came during the load
    e->Unref(*alloc_);
    return Status::kWrongKind;
  }
  Status out = Status::kOk;
  if (vlen != nullptr) *vlen = e->vlen;
  if (e->vlen > cap) {
    out = Status::kBufferTooSmall;
  } else if (e->vlen != 0) {
    std::memcpy(buf, e->value_data(), e->vlen);
  }
  e->Unref(*alloc_);
  return out;
}

Status Cache::Read(std::string_view key, ReadFn fn, void *ctx) {
  const uint64_t h = Hash(key);
  const Status st = ShardFor(h).Read(key, h, fn, ctx);
  if (__builtin_expect(st != Status::kNotFound, 1)) return st;
  // Only a miss drops entries: an expired one it reclaimed, a read-through's
  // copy. Their objects are released once this call's locks are gone.
  detail::ReleaseScope release_after;
  Entry *e = MissThrough(key, h);
  if (e == nullptr) return st;
  if (e->is_object()) {
    e->Unref(*alloc_);
    return Status::kWrongKind;
  }
  if (fn != nullptr) fn(ctx, e->value_data(), e->vlen);
  e->Unref(*alloc_);
  return Status::kOk;
}

Status Cache::Pin(std::string_view key, const Value **out) {
  const uint64_t h = Hash(key);
  const Entry *e = nullptr;
  Status st = ShardFor(h).Pin(key, h, &e);
  if (__builtin_expect(st == Status::kNotFound, 0)) {
    detail::ReleaseScope release_after;  // as in Get
    Entry *loaded = MissThrough(key, h);  // pinned for the caller
    if (loaded != nullptr && loaded->is_object()) {
      loaded->Unref(*alloc_);
      return Status::kWrongKind;
    }
    e = loaded;
    if (e != nullptr) st = Status::kOk;
  }
  *out = reinterpret_cast<const Value *>(e);
  return st;
}

Status Cache::Delete(std::string_view key) {
  detail::ReleaseScope release_after;  // object releases, once the locks are gone
  const uint64_t h = Hash(key);
  detail::Link *link = link_.load(std::memory_order_acquire);
  if (__builtin_expect(link != nullptr, 0)) {
    const Status st = DeleteLinked(link, key, h);
    if (st != Status::kClosed) return st;
  }
  return ShardFor(h).Delete(key, h);
}

Status Cache::Take(std::string_view key, const Value **out) {
  detail::ReleaseScope release_after;  // object releases, once the locks are gone
  const Entry *e = nullptr;
  const Status st = TakeEntry(key, &e, /*bytes_only=*/true);
  *out = reinterpret_cast<const Value *>(e);
  return st;
}

Status Cache::TakeEntry(std::string_view key, const Entry **out, bool bytes_only) {
  const uint64_t h = Hash(key);
  detail::Link *link = link_.load(std::memory_order_acquire);
  if (__builtin_expect(link != nullptr, 0)) {
    const Value *v = nullptr;
    const Status st = TakeLinked(link, key, h, &v, bytes_only);
    *out = reinterpret_cast<const Entry *>(v);
    if (st != Status::kClosed) return st;
  }
  return ShardFor(h).Take(key, h, out, nullptr, bytes_only);
}

Status Cache::Touch(std::string_view key, int64_t ttl_ms) {
  detail::ReleaseScope release_after;  // object releases, once the locks are gone
  uint64_t ttl;
  if (!ResolveTtl(ttl_ms, &ttl)) return Status::kInvalid;
  const uint64_t h = Hash(key);
  detail::Link *link = link_.load(std::memory_order_acquire);
  if (__builtin_expect(link != nullptr, 0)) {
    const Status st = TouchLinked(link, key, h, ttl);
    if (st != Status::kClosed) return st;
  }
  return ShardFor(h).Touch(key, h, ttl);
}

namespace {

// The key-only entry a DELETE or EXPIRE holds in the queue, with the queue's
// room reserved for it. kClosed: the link is closing (write locally only).
Status ReserveKeyOp(detail::Link *link, const detail::Allocator &a, std::string_view key,
                    uint64_t *charge, Entry **holder) {
  *charge = detail::Link::Charge(key.size(), 0);
  const Status r = link->Reserve(*charge);
  if (r != Status::kOk) return r;
  *holder = Entry::Create(a, key, 0, nullptr, 0, 0);  // queued only, never indexed
  if (*holder == nullptr || !detail::EnsureSpareNode()) {
    if (*holder != nullptr) (*holder)->Unref(a);
    link->Unreserve(*charge);
    return Status::kNoMem;
  }
  return Status::kOk;
}

}  // namespace

// A key longer than any write accepts cannot be in the cache or the store:
// the link is not told (and a DELETE could not hold it).
Status Cache::DeleteLinked(detail::Link *link, std::string_view key, uint64_t hash) {
  if (key.size() > kMaxKeySize) return Status::kClosed;
  uint64_t charge;
  Entry *holder = nullptr;
  const Status r = ReserveKeyOp(link, *alloc_, key, &charge, &holder);
  if (r != Status::kOk) return r;
  detail::WriteHook hook{link, detail::OpKind::kDelete, holder, charge};
  return ShardFor(hash).Delete(key, hash, &hook);  // queued whether found or not
}

Status Cache::TakeLinked(detail::Link *link, std::string_view key, uint64_t hash,
                         const Value **out, bool bytes_only) {
  if (key.size() > kMaxKeySize) return Status::kClosed;
  uint64_t charge;
  Entry *holder = nullptr;
  const Status r = ReserveKeyOp(link, *alloc_, key, &charge, &holder);
  if (r != Status::kOk) return r;
  detail::WriteHook hook{link, detail::OpKind::kDelete, holder, charge};
  const Entry *e = nullptr;
  // Queued whether found or not; not on kWrongKind, which changes nothing.
  const Status st = ShardFor(hash).Take(key, hash, &e, &hook, bytes_only);
  if (st == Status::kWrongKind) {
    holder->Unref(*alloc_);
    link->Unreserve(charge);
  }
  *out = reinterpret_cast<const Value *>(e);
  return st;
}

Status Cache::TouchLinked(detail::Link *link, std::string_view key, uint64_t hash, uint64_t ttl) {
  if (key.size() > kMaxKeySize) return Status::kClosed;
  uint64_t charge;
  Entry *holder = nullptr;
  const Status r = ReserveKeyOp(link, *alloc_, key, &charge, &holder);
  if (r != Status::kOk) return r;
  detail::WriteHook hook{link, detail::OpKind::kExpire, holder, charge};
  const Status st = ShardFor(hash).Touch(key, hash, ttl, &hook);
  if (st != Status::kOk) {  // not applied, so not queued
    holder->Unref(*alloc_);
    link->Unreserve(charge);
  }
  return st;
}

Status Cache::FillFromStore(Entry *e, uint64_t hash, uint64_t ttl, const detail::Link &link,
                            uint64_t gen0, uint64_t epoch0, Entry **current) {
  detail::ReleaseScope release_after;  // object releases, once the locks are gone
  if (!HashTable::Encodable(e)) return Status::kNoMem;
  return ShardFor(hash).Fill(e, hash, ttl, link, gen0, epoch0, current);
}

uint64_t Cache::InvalidateFromStore(detail::Link *link, std::string_view key, uint64_t hash) {
  detail::ReleaseScope release_after;  // object releases, once the locks are gone
  return ShardFor(hash).Invalidate(key, hash, link) ? 1 : 0;
}

uint64_t Cache::InvalidateAllFromStore(detail::Link *link) {
  detail::ReleaseScope release_after;  // object releases, once the locks are gone
  uint64_t n = 0;
  for (uint32_t i = 0; i <= shard_mask_; ++i) n += shards_.get()[i].InvalidateAll(link);
  return n;
}

uint64_t Cache::DropAckedFromStore(detail::Link *link, std::string_view key, uint64_t hash) {
  detail::ReleaseScope release_after;  // object releases, once the locks are gone
  return ShardFor(hash).DropAcked(key, hash, link) ? 1 : 0;
}

void Cache::ApplySync(Entry *e, std::string_view key, uint64_t hash, uint64_t ttl,
                      detail::Link *link, detail::SyncWaiter *w) {
  detail::ReleaseScope release_after;  // object releases, once the locks are gone
  if (e != nullptr && !HashTable::Encodable(e)) {
    // Cannot be indexed (never on common platforms): drop the local copy,
    // and any older local value, which the store no longer holds.
    ShardFor(hash).ApplySync(nullptr, key, hash, ttl, link, w);
    e->Unref(*alloc_);
    return;
  }
  ShardFor(hash).ApplySync(e, key, hash, ttl, link, w);
}

Status Cache::Ttl(std::string_view key, int64_t *remaining_ms) {
  detail::ReleaseScope release_after;  // object releases, once the locks are gone
  const uint64_t h = Hash(key);
  return ShardFor(h).Ttl(key, h, remaining_ms);
}

void Cache::Clear() {
  detail::ReleaseScope release_after;  // object releases, once the locks are gone
  for (uint32_t i = 0; i <= shard_mask_; ++i) shards_.get()[i].Clear();
  if (alloc_->collect != nullptr) alloc_->collect();  // gives the memory back (alloc.h)
}

uint64_t Cache::PurgeExpired() {
  detail::ReleaseScope release_after;  // object releases, once the locks are gone
  uint64_t n = 0;
  for (uint32_t i = 0; i <= shard_mask_; ++i) n += shards_.get()[i].PurgeExpired();
  return n;
}

Stats Cache::GetStats() const {
  // A borrow during the pass may let it add one shard's bytes from before the
  // lender evicted to another's from after the borrower used them: retry a
  // few times for a pass that no borrow overlapped (borrows are rare).
  Stats s;
  for (int attempt = 0; attempt < 4; ++attempt) {
    const bool quiet = borrows_in_flight_.load() == 0;
    const uint64_t gen = borrow_gen_.load();
    s = Stats();
    for (uint32_t i = 0; i <= shard_mask_; ++i) shards_.get()[i].AddStats(&s);
    if (quiet && borrow_gen_.load() == gen) break;
  }
  return s;
}

const char *Cache::CheckInvariants() const {
  const bool quiet = borrows_in_flight_.load() == 0;
  const uint64_t gen = borrow_gen_.load();
  uint64_t limits = 0, bytes = 0;
  for (uint32_t i = 0; i <= shard_mask_; ++i) {
    uint64_t limit = 0;
    if (const char *broken = shards_.get()[i].CheckInvariants(&limit, &bytes)) return broken;
    limits += limit;
  }
  // Only a pass that no borrow overlapped saw one consistent set of limits.
  if (max_bytes_ != kUnbounded && quiet && borrow_gen_.load() == gen) {
    if (limits != max_bytes_) return "the shards' byte limits do not add up to max_bytes";
    if (bytes > max_bytes_) return "more bytes than max_bytes";
  }
  return nullptr;
}

void Cache::ForkPrepare() NO_THREAD_SAFETY_ANALYSIS {
  links_mu_.lock();
  LockAllShards();
  if (detail::Link *l = link_.load(std::memory_order_relaxed)) l->ForkPrepare();
}

void Cache::ForkParent() NO_THREAD_SAFETY_ANALYSIS {
  if (detail::Link *l = link_.load(std::memory_order_relaxed)) l->ForkParent();
  UnlockAllShards();
  links_mu_.unlock();
}

void Cache::ForkChild() NO_THREAD_SAFETY_ANALYSIS {
  // The child's cache keeps working, locally only: its inherited link is
  // detached before any other thread exists, and goes inert.
  if (detail::Link *l = link_.load(std::memory_order_relaxed)) {
    l->ForkChild();
    link_.store(nullptr, std::memory_order_relaxed);
    if (!l->retired) {
      l->retired = true;
      l->retired_next = retired_links_;
      retired_links_ = l;
    }
  }
  UnlockAllShards();
  links_mu_.unlock();
}

void Cache::LockAllShards() {
  for (uint32_t i = 0; i <= shard_mask_; ++i) shards_.get()[i].Lock();
}

void Cache::UnlockAllShards() {
  for (uint32_t i = 0; i <= shard_mask_; ++i) shards_.get()[i].Unlock();
}

}  // namespace libcache
