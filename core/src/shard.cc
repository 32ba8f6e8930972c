#include "core/src/shard.h"

#include <algorithm>
#include <cstring>

#include "core/src/hash.h"

namespace libcache::detail {

bool Shard::Init(const Allocator *alloc, const TimeSource &time, uint64_t seed,
                 const ShardLimits &limits, uint32_t stripes, PolicyKind policy) {
  alloc_ = alloc;
  expiry_ = Expiry(time);
  seed_ = seed;
  limits_ = limits;
  byte_limit_.store(limits.max_bytes, std::memory_order_relaxed);
  // Each step leaves the shard destructible if a later one fails.
  policy_ = MakePolicy(policy);
  adaptive_ = policy == PolicyKind::kAdaptive;
  if (policy_ == nullptr || !lock_.Init(stripes) || !table_.Init(*alloc, limits.table_capacity) ||
      !policy_->Init(alloc, limits.ring_capacity, limits.max_entries, limits.max_bytes)) {
    return false;
  }
  sample_mask_.store(policy_->sample_mask(), std::memory_order_relaxed);
  return true;
}

void Shard::DrainSamplesLocked() {
  lock_.ForEachStripe([this](StripeData &d) NO_THREAD_SAFETY_ANALYSIS {
    if (d.nsamples == 0) return;
    policy_->OnSampledReads(d.samples, d.nsamples);
    d.nsamples = 0;
  });
  sample_mask_.store(policy_->sample_mask(), std::memory_order_relaxed);
}

// No lock: destruction never races with other calls (Cache's contract), and a
// shard whose Init failed part-way has no stripes to lock. An empty or never
// allocated ring visits nothing; Destroy skips arrays never allocated.
Shard::~Shard() NO_THREAD_SAFETY_ANALYSIS {
  if (policy_ != nullptr) ForEachEntryLocked([this](Entry *e) { e->Unref(*alloc_); });
  if (alloc_ != nullptr) table_.Destroy(*alloc_);
  policy_.reset();
}

void Shard::UnlinkLocked(size_t slot, Entry *e) {
  table_.EraseAt(slot);
  WithPolicy([e](auto &p) { p.Remove(e); });
  entry_bytes_ -= Charge(e);
  e->Unref(*alloc_);
}

void Shard::UnlinkEntryLocked(Entry *e) { UnlinkLocked(table_.FindEntry(e, seed_), e); }

void Shard::DropEvictedLocked(Entry *e) {
  table_.EraseAt(table_.FindEntry(e, seed_));
  entry_bytes_ -= Charge(e);
  e->Unref(*alloc_);
}

Status Shard::Pin(std::string_view key, uint64_t hash, const Entry **out) {
  Status st = Status::kOk;
  const Status found = Visit(key, hash, [&](Entry *e) {
    if (__builtin_expect(e->is_object(), 0)) {
      st = Status::kWrongKind;
      return false;
    }
    // relaxed: the table's reference (held under the lock) keeps e alive meanwhile.
    e->refs.fetch_add(1, std::memory_order_relaxed);
    *out = e;
    return true;
  });
  return found == Status::kOk ? st : found;
}

Status Shard::Upgrade(std::string_view key, uint64_t hash, const Entry *seen, Entry *e) {
  LockGuard lock(lock_);
  const uint64_t charge = Charge(e);
  size_t slot;
  Entry *old = LookupLocked(key, hash, &slot);
  if (old == nullptr || old != seen) return Status::kExists;
  // It must fit with every other entry evicted (the old one goes).
  if (charge > LimitLocked() || ArrayBytesLocked() > LimitLocked() - charge) {
    return Status::kTooLarge;
  }
  e->set_deadline(old->deadline());
  e->referenced.store(old->referenced.load(std::memory_order_relaxed), std::memory_order_relaxed);
  table_.ReplaceAt(slot, e);
  WithPolicy([old, e](auto &p) { p.Replace(old, e); });
  entry_bytes_ = entry_bytes_ - Charge(old) + charge;
  old->Unref(*alloc_);
  // A larger charge may have pushed the shard over; e fits alone (checked
  // above, and a replacement never grows the arrays).
  EvictWhileOverLocked(0, 0, e);
  return Status::kOk;
}

int Shard::VisitObjects(int (*fn)(void *ctx, void *obj), void *ctx) {
  LockGuard lock(lock_);
  int rc = 0;
  ForEachEntryLocked([&](Entry *e) {
    if (rc != 0 || !e->is_object()) return;
    rc = fn(ctx, e->object().obj);
  });
  return rc;
}

Status Shard::Insert(Entry *e, uint64_t hash, WriteMode mode, uint64_t ttl_ms, WriteHook *hook) {
  PrefetchHome(hash);
  // Not under the lock: PrefetchForAdd reads only atomic hints; policy_ and
  // adaptive_ are immutable after Init.
  if (adaptive_) static_cast<const AdaptivePolicy &>(*policy_).PrefetchForAdd(hash);
  LockGuard lock(lock_);
  return InsertLocked(e, hash, mode, ttl_ms, hook);
}

Status Shard::Fill(Entry *e, uint64_t hash, uint64_t ttl_ms, const Link &link, uint64_t gen0,
                   uint64_t epoch0, Entry **current) {
  LockGuard lock(lock_);
  switch (link.FillVerdictLocked(hash, gen0, epoch0)) {
    case Link::FillVerdict::kKeep:
      return InsertLocked(e, hash, WriteMode::kSet, ttl_ms, nullptr);
    case Link::FillVerdict::kIncoherent:
      return Status::kClosed;
    case Link::FillVerdict::kMoved:
      break;
  }
  if (Entry *now = LookupLocked(e->key(), hash, nullptr)) {
    // relaxed: the table's reference (held under the lock) keeps it alive meanwhile.
    now->refs.fetch_add(1, std::memory_order_relaxed);
    *current = now;
  }
  return Status::kExists;
}

bool Shard::Invalidate(std::string_view key, uint64_t hash, Link *link) {
  LockGuard lock(lock_);
  if (!link->InvalidateKeyLocked(hash, key)) return false;
  size_t slot;
  Entry *e = LookupLocked(key, hash, &slot);
  if (e == nullptr) return false;
  UnlinkLocked(slot, e);
  return true;
}

uint64_t Shard::InvalidateAll(Link *link) {
  LockGuard lock(lock_);
  uint64_t dropped = 0;
  // Not analysed: the analysis does not carry the lock held here into lambdas.
  ForEachEntryLocked([&](Entry *e) NO_THREAD_SAFETY_ANALYSIS {
    if (!link->CleanForWalkLocked(HashKey(e->key(), seed_), e->key())) return;
    UnlinkEntryLocked(e);  // the policy's ForEach tolerates it
    ++dropped;
  });
  return dropped;
}

bool Shard::DropAcked(std::string_view key, uint64_t hash, Link *link) {
  LockGuard lock(lock_);
  if (!link->CleanAfterAckLocked(hash, key)) return false;
  size_t slot;
  Entry *e = LookupLocked(key, hash, &slot);
  if (e == nullptr) return false;
  UnlinkLocked(slot, e);
  return true;
}

void Shard::ApplySync(Entry *e, std::string_view key, uint64_t hash, uint64_t ttl_ms, Link *link,
                      SyncWaiter *w) {
  LockGuard lock(lock_);
  const bool apply = link->FinishSyncLocked(w, hash);
  if (e == nullptr) {
    size_t slot;
    Entry *old = apply ? LookupLocked(key, hash, &slot) : nullptr;
    if (old != nullptr) {
      UnlinkLocked(slot, old);
      ++counts_.deletes;
    }
    return;
  }
  if (!apply || InsertLocked(e, hash, WriteMode::kSet, ttl_ms, nullptr) != Status::kOk) {
    e->Unref(*alloc_);
  }
}

Status Shard::InsertLocked(Entry *e, uint64_t hash, WriteMode mode, uint64_t ttl_ms,
                           WriteHook *hook) {
  const uint64_t charge = Charge(e);
  // The entry must fit with nothing else in the shard; checked before any change.
  if (charge > LimitLocked() || ArrayBytesLocked() > LimitLocked() - charge) {
    return Status::kTooLarge;
  }
  size_t slot;
  Entry *old = LookupLocked(e->key(), hash, &slot);
  if (mode == WriteMode::kAdd && old != nullptr) return Status::kExists;
  if (mode == WriteMode::kReplace && old == nullptr) return Status::kNotFound;
  e->set_deadline(expiry_.DeadlineIn(ttl_ms));
  if (old != nullptr) {
    // An update takes the old entry's table slot and policy place (no probe,
    // no hole) and counts as a use, as a hit would.
    e->referenced.store(1, std::memory_order_relaxed);
    table_.ReplaceAt(slot, e);
    WithPolicy([old, e](auto &p) { p.Replace(old, e); });
    entry_bytes_ -= Charge(old);
    old->Unref(*alloc_);
  } else {
    const Status st = LinkNewLocked(e, hash, charge);
    if (st != Status::kOk) return st;
  }
  entry_bytes_ += charge;
  // A larger value, or ring or table growth, may have pushed the shard over.
  EvictWhileOverLocked(0, 0, e);
  if (OverLocked(0, 0)) {
    // Only e is left, and the arrays grew while it was linked: it no longer
    // fits (an update never grows them, so old was not replaced).
    e->refs.fetch_add(1, std::memory_order_relaxed);  // the caller's again, once unlinked
    UnlinkEntryLocked(e);
    return Status::kTooLarge;
  }
  ++counts_.sets;
  if (__builtin_expect(hook != nullptr, 0)) hook->Applied(hash, ttl_ms);
  return Status::kOk;
}

Status Shard::LinkNewLocked(Entry *e, uint64_t hash, uint64_t charge) {
  if (__builtin_expect(sample_mask_.load(std::memory_order_relaxed) != Policy::kNoSampling, 0)) {
    DrainSamplesLocked();
  }
  EvictWhileOverLocked(charge, 1, nullptr);
  if (table_.NeedsGrow()) {
    // A failure here changes nothing but the evictions above.
    if (!table_.Grow(*alloc_, seed_)) return Status::kNoMem;
    EvictWhileOverLocked(charge, 1, nullptr);
  }
  if (!WithPolicy([e, hash](auto &p) { return p.Add(e, hash); })) return Status::kNoMem;
  while (!table_.Insert(e, hash)) {  // probe distance overflow: pathological
    if (!table_.Grow(*alloc_, seed_)) {
      WithPolicy([e](auto &p) { p.Remove(e); });
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
  Expiry::Check is_expired(expiry_);  // reads the time lazily: only for deadlines
  bool expired = false;
  Entry *e = WithPolicy(
      [&](auto &p) NO_THREAD_SAFETY_ANALYSIS { return p.Evict(keep, is_expired, &expired); });
  // The policy may start (or change) sampling reads once it evicts.
  const uint32_t mask = WithPolicy([](const auto &p) { return p.sample_mask(); });
  if (mask != sample_mask_.load(std::memory_order_relaxed)) {
    sample_mask_.store(mask, std::memory_order_relaxed);
  }
  if (e == nullptr) return false;
  DropEvictedLocked(e);
  ++(expired ? counts_.expirations : counts_.evictions);
  return true;
}

Status Shard::Delete(std::string_view key, uint64_t hash, WriteHook *hook) {
  LockGuard lock(lock_);
  if (__builtin_expect(hook != nullptr, 0)) hook->Applied(hash, 0);
  size_t slot;
  Entry *e = LookupLocked(key, hash, &slot);
  if (e == nullptr) return Status::kNotFound;
  UnlinkLocked(slot, e);
  ++counts_.deletes;
  return Status::kOk;
}

Status Shard::Take(std::string_view key, uint64_t hash, const Entry **out, WriteHook *hook,
                   bool bytes_only) {
  LockGuard lock(lock_);
  size_t slot;
  Entry *e = LookupLocked(key, hash, &slot);
  if (e != nullptr && bytes_only && e->is_object()) return Status::kWrongKind;
  if (__builtin_expect(hook != nullptr, 0)) hook->Applied(hash, 0);
  if (e == nullptr) return Status::kNotFound;
  // relaxed: the table's reference (held under the lock) keeps e alive; the
  // unlink below drops that one, and ours becomes the only one.
  e->refs.fetch_add(1, std::memory_order_relaxed);
  UnlinkLocked(slot, e);
  ++counts_.deletes;
  *out = e;
  return Status::kOk;
}

uint64_t Shard::GiveBytes(uint64_t want) {
  LockGuard lock(lock_);
  const uint64_t floor = ArrayBytesLocked() + kShardReserveBytes;
  const uint64_t limit = LimitLocked();
  if (limit <= floor) return 0;
  const uint64_t give = std::min(want, limit - floor);
  byte_limit_.store(limit - give, std::memory_order_relaxed);
  EvictWhileOverLocked(0, 0, nullptr);  // evicting everything leaves the arrays, <= floor
  return give;
}

void Shard::AddBytes(uint64_t n) {
  LockGuard lock(lock_);
  byte_limit_.store(LimitLocked() + n, std::memory_order_relaxed);
}

uint64_t Shard::Shortfall(uint64_t charge) {
  LockGuard lock(lock_);
  const uint64_t needed = ArrayBytesLocked() + charge;
  return needed > LimitLocked() ? needed - LimitLocked() : 0;
}

const char *Shard::CheckInvariants(uint64_t *limit_out, uint64_t *bytes_out) {
  LockGuard lock(lock_);
  *limit_out = LimitLocked();
  *bytes_out += BytesLocked();
  uint64_t live = 0, charges = 0;
  const char *broken = nullptr;
  // Not analysed: the analysis does not carry the lock held here into lambdas.
  ForEachEntryLocked([&](Entry *e) NO_THREAD_SAFETY_ANALYSIS {
    ++live;
    charges += Charge(e);
    if (broken != nullptr) return;
    if (e->owners() == 0) broken = "an indexed entry has no owner";
    const uint64_t hash = HashKey(e->key(), seed_);
    if (e->hash24() != (hash & Entry::kHashMask)) broken = "an entry's stored hash is wrong";
    const size_t slot = table_.Find(e->key(), hash);
    if (slot == HashTable::kNone || table_.At(slot) != e) broken = "a policy entry is not indexed";
  });
  if (broken != nullptr) return broken;
  if (const char *p = policy_->Check()) return p;
  if (live != table_.size()) return "the table and the policy hold different entry counts";
  if (live != policy_->size()) return "the policy miscounts its entries";
  if (charges != entry_bytes_) return "entry bytes differ from the sum of the entries' charges";
  if (table_.size() > limits_.max_entries) return "more entries than the entry bound";
  if (BytesLocked() > LimitLocked()) return "more bytes than the shard's limit";
  return nullptr;
}

void Shard::Clear() {
  LockGuard lock(lock_);
  ForEachEntryLocked([this](Entry *e) { e->Unref(*alloc_); });
  policy_->Reset();
  table_.Reset();
  entry_bytes_ = 0;
}

void Shard::AddStats(Stats *out) {
  LockGuard lock(lock_);
  lock_.ForEachStripe([out](const StripeData &d) {
    out->hits += d.counts.hits;
    out->misses += d.counts.misses;
  });
  out->sets += counts_.sets;
  out->deletes += counts_.deletes;
  out->evictions += counts_.evictions;
  out->expirations += counts_.expirations;
  out->entries += table_.size();
  out->bytes += BytesLocked();
}

}  // namespace libcache::detail
