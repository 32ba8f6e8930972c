// Cache: options, sharding and hashing; each operation is one shard's business.

#include "core/cache.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <limits>
#include <random>
#include <thread>
#include <new>
#include <utility>

#include "core/src/alloc.h"
#include "core/src/clock.h"
#include "core/src/entry.h"
#include "core/src/fork.h"
#include "core/src/hash.h"
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
      std::min<uint64_t>(NextPowerOfTwo(cores), detail::StripeLock::kMaxStripes));
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
  const_cast<Entry *>(reinterpret_cast<const Entry *>(v))->Unref(detail::GetAllocator());
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
  cache->shards_.reset(new (std::nothrow) Shard[n]);
  if (cache->shards_ == nullptr) return Status::kNoMem;
  const detail::Clock clock(opts.clock, opts.clock_ctx);
  const uint32_t stripes = ReaderStripes();
  for (uint32_t i = 0; i < n; ++i) {
    if (!cache->shards_.get()[i].Init(cache->alloc_, clock, cache->seed_, LimitsFor(opts, n, i),
                                      stripes)) {
      return Status::kNoMem;
    }
  }
  if (!detail::RegisterForFork(cache.get())) return Status::kNoMem;
  cache->registered_ = true;
  *out = std::move(cache);
  return Status::kOk;
}

Cache::~Cache() {
  if (registered_) detail::UnregisterForFork(this);
  shards_.reset();  // frees the entries, then gives their memory back (alloc.h)
  if (alloc_ != nullptr && alloc_->collect != nullptr) alloc_->collect();
}

inline detail::Shard &Cache::ShardFor(uint64_t hash) const {
  return shards_.get()[(hash >> kShardShift) & shard_mask_];
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

Status Cache::Write(std::string_view key, const std::string_view *parts, size_t nparts,
                    int64_t ttl_ms, WriteMode mode) {
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
  Entry *e = Entry::Create(*alloc_, key, parts, nparts, vlen, 0);
  if (e == nullptr) return Status::kNoMem;
  if (!HashTable::Encodable(e)) {
    e->Unref(*alloc_);
    return Status::kNoMem;
  }
  Status st = shard.Insert(e, h, mode, ttl);
  if (__builtin_expect(st == Status::kOk, 1)) {
    // A shard that lent most of its limit takes it back from shards holding
    // more than their share, so that limits drift back to even.
    if (__builtin_expect(shard.limit_hint() < starved_below_, 0)) {
      const uint64_t need = fair_share_ - shard.limit_hint();
      Borrow(shard, need, need, /*only_surplus=*/true);
    }
    return st;
  }
  if (st == Status::kTooLarge && can_borrow_) st = InsertBorrowing(shard, e, h, mode, ttl);
  if (st != Status::kOk) e->Unref(*alloc_);
  return st;
}

Status Cache::InsertBorrowing(Shard &shard, Entry *e, uint64_t hash, WriteMode mode,
                              uint64_t ttl) {
  // Larger than this shard can hold alone: borrow limit from the others. Two
  // rounds, in case writes to this shard grew its arrays in between.
  Status st = Status::kTooLarge;
  for (int round = 0; round < 2 && st == Status::kTooLarge; ++round) {
    const uint64_t need = shard.Shortfall(shard.Charge(e));
    // Ask for a fair share on top, so that the shard keeps room for its small
    // entries (otherwise its next write would evict the large one, the only
    // entry left); settle for what the entry needs if the others are short.
    if (need != 0 && Borrow(shard, need, need + fair_share_, /*only_surplus=*/false) == 0) break;
    st = shard.Insert(e, hash, mode, ttl);
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

Status Cache::Get(std::string_view key, void *buf, size_t cap, size_t *vlen) {
  const uint64_t h = Hash(key);
  return ShardFor(h).Get(key, h, buf, cap, vlen);
}

Status Cache::Read(std::string_view key, ReadFn fn, void *ctx) {
  const uint64_t h = Hash(key);
  return ShardFor(h).Read(key, h, fn, ctx);
}

Status Cache::Pin(std::string_view key, const Value **out) {
  const uint64_t h = Hash(key);
  const Entry *e = nullptr;
  const Status st = ShardFor(h).Pin(key, h, &e);
  *out = reinterpret_cast<const Value *>(e);
  return st;
}

Status Cache::Delete(std::string_view key) {
  const uint64_t h = Hash(key);
  return ShardFor(h).Delete(key, h);
}

Status Cache::Take(std::string_view key, const Value **out) {
  const uint64_t h = Hash(key);
  const Entry *e = nullptr;
  const Status st = ShardFor(h).Take(key, h, &e);
  *out = reinterpret_cast<const Value *>(e);
  return st;
}

Status Cache::Touch(std::string_view key, int64_t ttl_ms) {
  uint64_t ttl;
  if (!ResolveTtl(ttl_ms, &ttl)) return Status::kInvalid;
  const uint64_t h = Hash(key);
  return ShardFor(h).Touch(key, h, ttl);
}

Status Cache::Ttl(std::string_view key, int64_t *remaining_ms) {
  const uint64_t h = Hash(key);
  return ShardFor(h).Ttl(key, h, remaining_ms);
}

void Cache::Clear() {
  for (uint32_t i = 0; i <= shard_mask_; ++i) shards_.get()[i].Clear();
  if (alloc_->collect != nullptr) alloc_->collect();  // gives the memory back (alloc.h)
}

uint64_t Cache::PurgeExpired() {
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

void Cache::LockAllShards() {
  for (uint32_t i = 0; i <= shard_mask_; ++i) shards_.get()[i].Lock();
}

void Cache::UnlockAllShards() {
  for (uint32_t i = 0; i <= shard_mask_; ++i) shards_.get()[i].Unlock();
}

}  // namespace libcache
