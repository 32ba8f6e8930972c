// A shard's lock: a "big-reader" lock of per-thread-group stripes.
//
// Why: with one mutex per shard, every get writes the shard's lock line, so
// two threads reading random shards find that line in the other core's cache
// on about half their gets (bench: 1.2x throughput at 2 threads on a
// cache-resident hot set). Here a reader locks only its own stripe, a mutex on
// a cache line that other threads' readers never touch; a writer locks every
// stripe, in index order. Reads stay as cheap as before (one CAS, one exchange)
// and stop sharing written lines; writes pay one lock per stripe. The stripe
// count is the core count rounded up to a power of two, at most kMaxStripes.
//
// Each stripe also holds data of its readers' own (PerStripe: the shard's hit
// and miss counters, core/src/counters.h), on the stripe's line, so that what
// readers write does not bring the sharing back.
//
// For the thread-safety analysis (core/src/thread_annotations.h) the whole
// StripeLock is one capability: lock()/unlock() take and drop it exclusively,
// LockShared()/UnlockShared() shared, which is what holding one stripe means
// (every writer takes every stripe, so a reader's stripe excludes them all,
// and readers exclude only the readers of their own stripe, which the shard's
// data needs no protection from). The analysis cannot name "the stripe of this
// thread" or "every stripe of the array", so the bodies of these functions are
// not checked; callers are.

#ifndef LIBCACHE_CORE_SRC_STRIPE_LOCK_H_
#define LIBCACHE_CORE_SRC_STRIPE_LOCK_H_

#include <atomic>
#include <cstdint>
#include <new>

#include "core/src/mutex.h"
#include "core/src/thread_annotations.h"

namespace libcache::detail {

template <class PerStripe>
struct alignas(64) ReadStripe {
  Mutex mu;
  PerStripe data GUARDED_BY(mu);
};

// Which stripe a thread uses (shared by every StripeLock).
class StripeIndex {
 public:
  static constexpr uint32_t kMaxStripes = 8;

  // A small number per thread, handed out in order of first use, so that the
  // first kMaxStripes threads of a process never share a stripe.
  static uint32_t ThreadIndex() {
    // initial-exec: a fixed offset from the thread pointer, no __tls_get_addr
    // call (4 bytes of static TLS, which dlopen'ed libraries may use).
    static thread_local uint32_t index __attribute__((tls_model("initial-exec"))) = kUnassigned;
    if (__builtin_expect(index == kUnassigned, 0)) index = NextThreadIndex();
    return index;
  }

 private:
  static uint32_t NextThreadIndex();
  static constexpr uint32_t kUnassigned = ~uint32_t{0};
};

template <class PerStripe>
class CAPABILITY("mutex") StripeLock {
 public:
  using Stripe = ReadStripe<PerStripe>;
  static constexpr uint32_t kMaxStripes = StripeIndex::kMaxStripes;

  StripeLock() = default;
  StripeLock(const StripeLock &) = delete;
  StripeLock &operator=(const StripeLock &) = delete;
  ~StripeLock() { delete[] stripes_; }

  // stripes: a power of two in [1, kMaxStripes]. False when out of memory.
  bool Init(uint32_t stripes) {
    stripes_ = new (std::nothrow) Stripe[stripes];
    if (stripes_ == nullptr) return false;
    mask_ = stripes - 1;
    return true;
  }

  // The calling thread's stripe, locked for reading: the lock held shared.
  // Unlock it with UnlockShared(stripe) (or stripe->mu.unlock()).
  // Not analysed: holding the stripe's mutex is holding this lock shared.
  Stripe *LockShared() ACQUIRE_SHARED() NO_THREAD_SAFETY_ANALYSIS {
    Stripe *s = &stripes_[StripeIndex::ThreadIndex() & mask_];
    s->mu.lock();
    return s;
  }
  // REQUIRES: stripe is what this thread's LockShared() returned.
  void UnlockShared(Stripe *stripe) RELEASE_SHARED() NO_THREAD_SAFETY_ANALYSIS {
    stripe->mu.unlock();
  }
  // The whole lock, for writers: every stripe, in index order. Named for
  // LockGuard (core/src/mutex.h). Not analysed: a loop over the stripes.
  __attribute__((always_inline)) void lock() ACQUIRE() NO_THREAD_SAFETY_ANALYSIS {
    for (uint32_t i = 0; i <= mask_; ++i) stripes_[i].mu.lock();
  }
  __attribute__((always_inline)) void unlock() RELEASE() NO_THREAD_SAFETY_ANALYSIS {
    for (uint32_t i = mask_ + 1; i-- > 0;) stripes_[i].mu.unlock();
  }
  // Calls fn(PerStripe &) for every stripe's data. Not analysed: holding the
  // whole lock is holding every stripe's mutex.
  template <class Fn>
  void ForEachStripe(Fn fn) REQUIRES(this) NO_THREAD_SAFETY_ANALYSIS {
    for (uint32_t i = 0; i <= mask_; ++i) fn(stripes_[i].data);
  }

 private:
  Stripe *stripes_ = nullptr;
  uint32_t mask_ = 0;
};

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_STRIPE_LOCK_H_
