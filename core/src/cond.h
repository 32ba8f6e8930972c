// A condition variable over detail::Mutex (core/src/mutex.h), on a futex.
//
// Why not std::condition_variable: it needs std::mutex, and the link's lock
// must be a detail::Mutex for the thread-safety analysis; and after fork() a
// glibc condition variable that parent threads were waiting on keeps their
// bookkeeping, so signalling or destroying it in the child can block forever.
// This one keeps none: a sequence word that NotifyAll bumps, and a count of
// sleepers so that a notify with nobody waiting costs two loads and no
// syscall. Waits may wake spuriously; callers loop on their condition.

#ifndef LIBCACHE_CORE_SRC_COND_H_
#define LIBCACHE_CORE_SRC_COND_H_

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstdint>

#include "core/src/mutex.h"
#include "core/src/thread_annotations.h"

namespace libcache::detail {

// Milliseconds on CLOCK_MONOTONIC_COARSE (the link's own clock, 1-4 ms
// resolution and a few ns a read: timeouts are real time, whatever clock the
// cache was given for TTLs).
inline int64_t MonotonicMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// Milliseconds since the Unix epoch, coarse (1-4 ms, as the TTL clock).
inline int64_t RealtimeMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

// The deadline timeout_ms from now; -1 (no limit) stays -1.
inline int64_t DeadlineAfter(int64_t timeout_ms) {
  return timeout_ms < 0 ? -1 : MonotonicMs() + timeout_ms;
}

class CondVar {
 public:
  CondVar() = default;
  CondVar(const CondVar &) = delete;
  CondVar &operator=(const CondVar &) = delete;

  // Releases mu, sleeps until notified or until deadline_ms (MonotonicMs; -1:
  // none), takes mu again. False when the deadline has passed.
  bool WaitUntil(Mutex &mu, int64_t deadline_ms) REQUIRES(mu) NO_THREAD_SAFETY_ANALYSIS {
    timespec rel;
    timespec *timeout = nullptr;
    if (deadline_ms >= 0) {
      const int64_t left = deadline_ms - MonotonicMs();
      if (left <= 0) return false;
      rel.tv_sec = left / 1000;
      rel.tv_nsec = (left % 1000) * 1000000;
      timeout = &rel;
    }
    // seq_cst (with NotifyAll's): a notifier that saw no sleeper made its
    // change under mu before we took it, so we saw the change and are not here.
    sleepers_.fetch_add(1);
    const uint32_t seq = seq_.load();
    mu.unlock();
    syscall(SYS_futex, reinterpret_cast<uint32_t *>(&seq_), FUTEX_WAIT_PRIVATE, seq, timeout,
            nullptr, 0);
    mu.lock();
    sleepers_.fetch_sub(1);
    return deadline_ms < 0 || MonotonicMs() < deadline_ms;
  }

  // Wakes every sleeper. Call it after changing, under mu, what they wait for.
  void NotifyAll() {
    if (sleepers_.load() == 0) return;
    seq_.fetch_add(1);
    syscall(SYS_futex, reinterpret_cast<uint32_t *>(&seq_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
  }

 private:
  std::atomic<uint32_t> seq_{0};
  std::atomic<uint32_t> sleepers_{0};
};

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_COND_H_
