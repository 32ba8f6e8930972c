// Expiry: every rule about deadlines, in one place.
//
// - An entry's deadline is absolute, in ms on the cache's time source
//   (core/src/time_source.h), stored in the header as 48 bits relative to the
//   moment the cache opened (Expiry::base), 0 meaning "never expires". 2^48 ms
//   is 8900 years: a deadline further out is clamped there, one before the
//   open time (a test's clock set backwards) to just after it.
// - now + ttl saturates at 2^64 - 1 instead of wrapping into the past (a fake
//   clock near the end of time).
// - Expiry is lazy. An entry is expired when now >= deadline; whatever meets
//   an expired entry reclaims it and counts an expiration: a read (under the
//   whole lock, after dropping its stripe: Shard::ReclaimExpired), any locked
//   lookup (Shard::LookupLocked -> ReclaimIfExpiredLocked), the eviction hand
//   (an expired entry it passes goes before any live one: the policies ask
//   Expiry::Check, below), and Shard::PurgeExpired (cache_purge_expired), which
//   sweeps a shard. No thread runs for expiry.
// - The shard side of these rules (reclaim, purge, touch, ttl) is
//   core/src/expiry.cc.

#ifndef LIBCACHE_CORE_SRC_EXPIRY_H_
#define LIBCACHE_CORE_SRC_EXPIRY_H_

#include <algorithm>
#include <cstdint>

#include "core/src/entry.h"
#include "core/src/time_source.h"

namespace libcache::detail {

class Expiry {
 public:
  static constexpr uint64_t kMaxRelative = (uint64_t{1} << 48) - 1;

  Expiry() = default;
  explicit Expiry(const TimeSource &time) : time_(time), base_(time.NowMs()) {}

  uint64_t NowMs() const { return time_.NowMs(); }

  // The header value of a deadline ttl_ms from now (0: never expires).
  uint64_t DeadlineIn(uint64_t ttl_ms) const {
    if (ttl_ms == 0) return 0;
    const uint64_t now = NowMs();
    const uint64_t abs = now > UINT64_MAX - ttl_ms ? UINT64_MAX : now + ttl_ms;
    if (abs <= base_) return 1;
    return std::min(abs - base_, kMaxRelative);
  }
  bool Expired(const Entry *e, uint64_t now) const {
    const uint64_t d = e->deadline();
    return d != 0 && now >= base_ + d;  // base_ + d <= 2^64 - 1: d was clamped to it
  }
  bool ExpiredNow(const Entry *e) const { return e->deadline() != 0 && Expired(e, NowMs()); }
  // Remaining ms, -1 for no deadline; 0 once passed (a lookup found it live).
  int64_t RemainingMs(const Entry *e) const {
    const uint64_t d = e->deadline();
    if (d == 0) return -1;
    const uint64_t abs = base_ + d;
    return static_cast<int64_t>(abs - std::min(abs, NowMs()));
  }

  // What the eviction hand uses: reads the time once, and only for an entry
  // that has a deadline.
  class Check {
   public:
    explicit Check(const Expiry &x) : x_(x) {}
    bool operator()(const Entry *e) {
      if (e->deadline() == 0) return false;
      if (!read_) {
        now_ = x_.NowMs();
        read_ = true;
      }
      return x_.Expired(e, now_);
    }

   private:
    const Expiry &x_;
    uint64_t now_ = 0;
    bool read_ = false;
  };

 private:
  TimeSource time_;
  uint64_t base_ = 0;
};

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_EXPIRY_H_
