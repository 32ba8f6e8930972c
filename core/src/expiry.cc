// Expiry, the shard's side (the rules: core/src/expiry.h): reclaiming an
// expired entry met on the way, purging a shard, touch and ttl. The eviction
// hand's reclaims are in Shard::EvictOneLocked (shard.cc), which the policies
// feed through Expiry::Check.

#include "core/src/expiry.h"

#include "core/src/shard.h"

namespace libcache::detail {

bool Shard::ReclaimIfExpiredLocked(size_t slot, Entry *e) {
  if (!expiry_.ExpiredNow(e)) return false;
  UnlinkLocked(slot, e);
  ++counts_.expirations;
  return true;
}

void Shard::ReclaimExpired(std::string_view key, uint64_t hash) {
  LockGuard lock(lock_);
  LookupLocked(key, hash, nullptr);  // reclaims the entry if it is (still) expired
}

uint64_t Shard::PurgeExpired() {
  LockGuard lock(lock_);
  const uint64_t now = expiry_.NowMs();
  uint64_t reclaimed = 0;
  // Not analysed: the analysis does not carry the lock held here into lambdas.
  ForEachEntryLocked([&](Entry *e) NO_THREAD_SAFETY_ANALYSIS {
    if (!expiry_.Expired(e, now)) return;
    UnlinkEntryLocked(e);  // the policy's ForEach tolerates it
    ++reclaimed;
  });
  counts_.expirations += reclaimed;
  return reclaimed;
}

Status Shard::Touch(std::string_view key, uint64_t hash, uint64_t ttl_ms, WriteHook *hook) {
  LockGuard lock(lock_);
  size_t slot;
  Entry *e = LookupLocked(key, hash, &slot);
  if (e == nullptr) return Status::kNotFound;
  e->set_deadline(expiry_.DeadlineIn(ttl_ms));
  if (__builtin_expect(hook != nullptr, 0)) hook->Applied(hash, ttl_ms);
  return Status::kOk;
}

Status Shard::Ttl(std::string_view key, uint64_t hash, int64_t *remaining_ms) {
  LockGuard lock(lock_);
  size_t slot;
  Entry *e = LookupLocked(key, hash, &slot);
  if (e == nullptr) return Status::kNotFound;
  // The clock may have passed the deadline since the lookup read it: the entry
  // was live then, so it has 0 ms left (never -1, which means "no TTL").
  *remaining_ms = expiry_.RemainingMs(e);
  return Status::kOk;
}

}  // namespace libcache::detail
