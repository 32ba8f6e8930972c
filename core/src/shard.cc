#include "core/src/shard.h"

#include <algorithm>
#include <cstring>

#include "core/src/hash.h"

namespace libcache::detail {

bool Shard::Init(const Allocator *alloc, const Clock &clock, uint64_t seed,
                 const ShardLimits &limits, uint32_t stripes) {
  if (!lock_.Init(stripes)) return false;
  alloc_ = alloc;
  clock_ = clock;
  seed_ = seed;
  limits_ = limits;
  if (!table_.Init(*alloc, limits.table_capacity)) return false;
  if (!ring_.Init(alloc, limits.ring_capacity)) {
    table_.Destroy(*alloc);
    return false;
  }
  return true;
}

Shard::~Shard() {
  Clear();
  table_.Destroy(*alloc_);
  ring_.Destroy();
}

bool Shard::ReclaimIfExpiredLocked(size_t slot, Entry *e) {
  if (!e->ExpiredAt(clock_.NowMs())) return false;
  UnlinkLocked(slot, e);
  ++expirations_;
  return true;
}

void Shard::UnlinkLocked(size_t slot, Entry *e) {
  table_.EraseAt(slot);
  ring_.Remove(e);
  entry_bytes_ -= Charge(e);
  e->Unref(*alloc_);
}

void Shard::UnlinkEntryLocked(Entry *e) {
  UnlinkLocked(table_.FindEntry(e, HashKey(e->key(), seed_)), e);
}

Status Shard::Pin(std::string_view key, uint64_t hash, const Entry **out) {
  return Visit(key, hash, [out](Entry *e) {
    // relaxed: the table's reference (held under the lock) keeps e alive meanwhile.
    e->refs.fetch_add(1, std::memory_order_relaxed);
    *out = e;
  });
}

void Shard::ReclaimExpired(std::string_view key, uint64_t hash) {
  LockGuard<StripeLock> lock(lock_);
  LookupLocked(key, hash, nullptr);  // reclaims the entry if it is (still) expired
}

Status Shard::Insert(Entry *e, uint64_t hash, WriteMode mode, uint64_t ttl_ms) {
  PrefetchHome(hash);
  LockGuard<StripeLock> lock(lock_);
  return InsertLocked(e, hash, mode, ttl_ms);
}

Status Shard::InsertLocked(Entry *e, uint64_t hash, WriteMode mode, uint64_t ttl_ms) {
  const uint64_t charge = Charge(e);
  // The entry must fit with nothing else in the shard; checked before any change.
  if (charge > limits_.max_bytes || table_.bytes() + ring_.bytes() > limits_.max_bytes - charge) {
    return Status::kTooLarge;
  }
  size_t slot;
  Entry *old = LookupLocked(e->key(), hash, &slot);
  if (mode == WriteMode::kAdd && old != nullptr) return Status::kExists;
  if (mode == WriteMode::kReplace && old == nullptr) return Status::kNotFound;
  e->deadline_ms = ttl_ms == 0 ? 0 : clock_.NowMs() + ttl_ms;
  if (old != nullptr) {
    // An update takes the old entry's table slot and ring place (no probe, no
    // hole) and counts as a use, as a hit would.
    e->referenced.store(1, std::memory_order_relaxed);
    table_.ReplaceAt(slot, e);
    ring_.Replace(old, e);
    entry_bytes_ -= Charge(old);
    old->Unref(*alloc_);
  } else {
    const Status st = LinkNewLocked(e, hash, charge);
    if (st != Status::kOk) return st;
  }
  entry_bytes_ += charge;
  ++sets_;
  // A larger value, or ring or table growth, may have pushed the shard over.
  EvictWhileOverLocked(0, 0, e);
  return Status::kOk;
}

Status Shard::LinkNewLocked(Entry *e, uint64_t hash, uint64_t charge) {
  EvictWhileOverLocked(charge, 1, nullptr);
  if (table_.NeedsGrow()) {
    // A failure here changes nothing but the evictions above.
    if (!table_.Grow(*alloc_, seed_)) return Status::kNoMem;
    EvictWhileOverLocked(charge, 1, nullptr);
  }
  if (!ring_.PushBack(e)) return Status::kNoMem;
  while (!table_.Insert(e, hash)) {  // probe distance overflow: pathological
    if (!table_.Grow(*alloc_, seed_)) {
      ring_.Remove(e);
      return Status::kNoMem;
    }
  }
  return Status::kOk;
}

void Shard::EvictWhileOverLocked(uint64_t extra_bytes, uint64_t extra_entries, const Entry *keep) {
  while (OverLocked(extra_bytes, extra_entries) && EvictOneLocked(keep)) {
  }
}

bool Shard::EvictOneLocked(const Entry *keep) {
  uint64_t now = 0;  // read lazily: only entries with a deadline need it
  for (;;) {
    Entry *e = ring_.Front();
    if (e == nullptr) return false;
    if (e == keep) {  // pass over it; after one lap the others have lost their bits
      if (table_.size() == 1) return false;
      ring_.MoveFrontToBack();
      continue;
    }
    if (e->deadline_ms != 0) {
      if (now == 0) now = clock_.NowMs();
      if (e->ExpiredAt(now)) {
        UnlinkEntryLocked(e);
        ++expirations_;
        return true;
      }
    }
    if (e->referenced.load(std::memory_order_relaxed) != 0) {
      e->referenced.store(0, std::memory_order_relaxed);
      ring_.MoveFrontToBack();
      continue;
    }
    UnlinkEntryLocked(e);
    ++evictions_;
    return true;
  }
}

Status Shard::Delete(std::string_view key, uint64_t hash) {
  LockGuard<StripeLock> lock(lock_);
  size_t slot;
  Entry *e = LookupLocked(key, hash, &slot);
  if (e == nullptr) return Status::kNotFound;
  UnlinkLocked(slot, e);
  ++deletes_;
  return Status::kOk;
}

Status Shard::Touch(std::string_view key, uint64_t hash, uint64_t ttl_ms) {
  LockGuard<StripeLock> lock(lock_);
  size_t slot;
  Entry *e = LookupLocked(key, hash, &slot);
  if (e == nullptr) return Status::kNotFound;
  e->deadline_ms = ttl_ms == 0 ? 0 : clock_.NowMs() + ttl_ms;
  return Status::kOk;
}

Status Shard::Ttl(std::string_view key, uint64_t hash, int64_t *remaining_ms) {
  LockGuard<StripeLock> lock(lock_);
  size_t slot;
  Entry *e = LookupLocked(key, hash, &slot);
  if (e == nullptr) return Status::kNotFound;
  // The clock may have passed the deadline since the lookup read it: the entry
  // was live then, so it has 0 ms left (never -1, which means "no TTL").
  *remaining_ms =
      e->deadline_ms == 0
          ? -1
          : static_cast<int64_t>(e->deadline_ms - std::min(e->deadline_ms, clock_.NowMs()));
  return Status::kOk;
}

void Shard::Clear() {
  LockGuard<StripeLock> lock(lock_);
  ring_.ForEach([this](Entry *e) { e->Unref(*alloc_); });
  ring_.Reset();
  table_.Reset();
  entry_bytes_ = 0;
}

uint64_t Shard::PurgeExpired() {
  LockGuard<StripeLock> lock(lock_);
  const uint64_t now = clock_.NowMs();
  uint64_t reclaimed = 0;
  // Not analysed: the analysis does not carry the lock held here into lambdas.
  ring_.ForEach([&](Entry *e) NO_THREAD_SAFETY_ANALYSIS {
    if (!e->ExpiredAt(now)) return;
    UnlinkEntryLocked(e);  // leaves a hole in the ring, which ForEach tolerates
    ++reclaimed;
  });
  expirations_ += reclaimed;
  return reclaimed;
}

void Shard::AddStats(Stats *out) {
  LockGuard<StripeLock> lock(lock_);
  lock_.SumCounters(&out->hits, &out->misses);
  out->sets += sets_;
  out->deletes += deletes_;
  out->evictions += evictions_;
  out->expirations += expirations_;
  out->entries += table_.size();
  out->bytes += BytesLocked();
}

}  // namespace libcache::detail
