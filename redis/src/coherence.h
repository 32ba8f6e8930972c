// Near-cache coherence for the Redis adapter: Redis's server-assisted
// client-side caching (CLIENT TRACKING, RESP2 redirect mode) turned into
// cache_store_invalidate / _invalidate_all / _set_coherent calls on the link
// (<libcache/cache_store.h>, "Changes made elsewhere").
//
// ## What it is
// One thread per adapter (cache_redis_attach with coherence on) and two
// connections of its own:
//   subscription  CLIENT ID (-> sub_id), then SUBSCRIBE __redis__:invalidate;
//                 read continuously: every invalidation message, and the
//                 PONGs of its health checks;
//   control       CLIENT LIST ID <writer id>: the health check of tracking.
// Tracking itself is enabled on the store's writer connection (the one the
// flusher writes with; redis_store.h, "Tracking on the writer connection"):
//   CLIENT TRACKING on REDIRECT <sub_id> BCAST [PREFIX <prefix>] NOLOOP
// BCAST: every key under the prefix, also those this process wrote but never
// read (default tracking only reports keys the tracking client read; the
// writer reads nothing). NOLOOP: no invalidation for the writer's own writes
// (write-behind and sync), which the local cache has already. An empty prefix
// tracks every key (no PREFIX argument). Loads and cache_redis_command run on
// other connections, so their writes come back as any other client's do.
//
// ## Messages (RESP2 pubsub on the subscription)
//   ["message", "__redis__:invalidate", [key, ...]]  each key under the prefix
//       (the prefix stripped) -> cache_store_invalidate; others are ignored;
//   ["message", "__redis__:invalidate", nil]  FLUSHALL / FLUSHDB (of any db:
//       tracking knows no databases) -> cache_store_invalidate_all;
//   ["pong", ""]  the health check's PING.
// Redis sends one client's invalidations in the order it ran the writes, so
// an invalidation that arrived proves every earlier one did (tests rely on it).
// Tracking is not per database either: a write of the same key name in
// another db invalidates here too (a needless drop, never a stale read).
// Keys that expire in Redis are invalidated too (Redis sends it when it
// deletes them). A subscription too slow for Redis's pubsub output-buffer
// limit is disconnected by Redis: a loss like any other.
//
// ## What "tracking is up" means, and the health check
// Up = the subscription is connected and subscribed, and the writer
// connection that Redis knows as writer_id tracks with redir=sub_id, and
// that writer connection has not been lost since (store->writer_losses()
// unchanged). Every health_interval_ms the thread sends PING on the
// subscription and, on the control connection, CLIENT LIST ID <writer_id>
// (Redis >= 6.2): the writer must exist, with flag t (tracking), without
// flag R (redirect broken: Redis found the redirect target gone when it had
// an invalidation to send; in RESP2 nothing else tells the tracking client)
// and with redir=sub_id. The check passes when the control answer is right
// and the PONG arrives within the command timeout; health_check_age_ms is the
// time since the last check that passed began.
//
// ## Losing it (any failure is a loss, never a retry in place)
// A loss is: the subscription's or control's EOF or I/O error, a timeout
// (no PONG, no answer to CLIENT LIST: Redis paused by SIGSTOP, DEBUG SLEEP,
// a dead network), a wrong CLIENT LIST answer (writer gone, as after a CLIENT
// KILL of it; no t; R; another redir), a malformed message, or a lost writer
// connection (the flusher's write_batch lost it, or it came up without
// tracking: writer_losses() moved; the flusher wakes this thread through an
// eventfd, so a loss inside write_batch never calls into the cache there:
// cache_store_* take the cache's locks and must not run inside write_batch
// or load). On a loss the thread at once calls cache_store_set_coherent(link,
// 0): every clean local copy is dropped, loads are served but not kept, so
// reads go to Redis; it counts tracking_resets and closes its connections.
// Invalidations lost in the gap cannot matter: nothing they would have
// dropped survived set_coherent(0), and nothing loaded before the new
// tracking is kept.
//
// ## Re-establishing
// New control and subscription connections (a new sub_id), then
// store->EnsureTracking(sub_id): under the writer's mutex, CLIENT TRACKING
// off + on with the new redirect on the writer if it is up (a socket found
// dead there is a lost writer: reconnected, fenced as the flusher would),
// else a new writer connection whose connect sequence ends with CLIENT
// TRACKING; then one health check as above, waited for. Only then
// cache_store_set_coherent(link, 1). Order of the proof: tracking was on
// (verified) before set_coherent(1); loads in flight at set_coherent(1) are
// not kept (the core's rule); every load kept was read by Redis after
// tracking was on, so any later write of its key sends an invalidation, or
// the loss of tracking is found and everything is dropped again. Failed
// attempts back off (10 ms doubling to 1 s, jittered, waiting on the stop
// eventfd: never a busy loop, never a late stop).
//
// ## The windows (what the guarantee is)
// Invalidations received are applied at once, in Redis's order. What can be
// served stale: a key changed by another client while tracking was broken
// but not yet found broken. Found at once: the subscription's or control's
// EOF (CLIENT KILL of them, Redis killed), a lost writer seen by the
// flusher. Found by the next health check (at most health_interval_ms plus
// the command timeout later): a CLIENT KILL of the writer while the flusher
// is idle, Redis paused or unreachable without a reset. Redis restarted:
// every connection's EOF. After writes stop and tracking is up in every
// process (stats.tracking == 1 after their last reset), every invalidation
// of every write has been delivered or dropped everything: every process's
// cache returns what Redis holds.
//
// ## attach
// cache_redis_attach establishes (the steps above, on the caller's thread)
// before it links: Redis refusing any step (an ACL without +client|tracking,
// +subscribe, &__redis__:invalidate, +client|list, +ping; Redis < 6.2)
// fails the attach with CACHE_E_IO and says which. Then, once linked,
// cache_store_invalidate_all once: what the cache held before it had a link
// was never tracked, so it cannot be vouched for. Only then the thread starts
// (messages that arrived meanwhile wait in the socket).
//
// ## Stop, fork, signals
// The destructor (the link's destroy callback, after the flusher stopped and
// the link closed: cache_store_* answer CACHE_E_CLOSED then) writes the stop
// eventfd, which every wait of the thread polls (its exchanges use it as
// their abort fd), and joins. A blocking connect is bounded by connect_ms.
// forked() (in the child) closes both sockets and both eventfds by number;
// the child has no thread and never joins it (the link calls no destroy in
// the child). The thread blocks every signal.
#ifndef LIBCACHE_REDIS_SRC_COHERENCE_H_
#define LIBCACHE_REDIS_SRC_COHERENCE_H_

#include <pthread.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "libcache/cache_store.h"
#include "redis/src/connection.h"
#include "redis/src/redis_store.h"

namespace libcache {
namespace redis {

struct CoherenceCounters {
  bool tracking = false;
  uint64_t resets = 0;
  uint64_t messages = 0;
  uint64_t flushall = 0;
  int64_t health_age_ms = -1;
};

class Coherence {
 public:
  static constexpr int64_t kBackoffMinMs = 10;
  static constexpr int64_t kBackoffMaxMs = 1000;

  // store outlives this object. health_interval_ms > 0.
  Coherence(RedisStore *store, int64_t health_interval_ms);
  ~Coherence();  // stops and joins the thread (not in a fork child)
  Coherence(const Coherence &) = delete;
  Coherence &operator=(const Coherence &) = delete;

  // Opens the eventfds (CACHE_E_NOMEM), then the connections, and enables
  // and checks tracking (CACHE_E_IO, CACHE_E_CLOSED with *error). The
  // caller's thread, before Start.
  int Establish(std::string *error);
  // Starts the thread that delivers to link (after Establish succeeded).
  // CACHE_OK, CACHE_E_NOMEM.
  int Start(cache_link_t *link);
  // In a fork child (the store's forked callback).
  void Forked();

  CoherenceCounters counters() const;
  // For tests: the subscription's CLIENT ID (-1 when down).
  int64_t subscription_id() const { return sub_id_pub_.load(std::memory_order_relaxed); }

 private:
  static void *Main(void *self);
  void Run();
  // Opens both connections, makes the writer track, waits for one passing
  // check. False with *error (the connections closed).
  bool Reestablish(std::string *error);
  // Sends PING on the subscription and checks the writer with CLIENT LIST
  // on the control connection; the PONG is awaited by the caller.
  bool StartCheck(std::string *error);
  // Handles what the subscription delivered; false (*error) on a reply that
  // is neither a message of the channel nor an expected PONG.
  bool Handle(std::vector<Reply> *replies, std::string *error);
  void Lose(const std::string &why);
  void CloseConnections();
  // Waits for the stop eventfd up to ms; true when stopped.
  bool WaitStop(int64_t ms);
  bool stopping() const { return stop_.load(std::memory_order_relaxed); }

  RedisStore *const store_;
  const int64_t interval_ms_;
  cache_link_t *link_ = nullptr;  // set before the thread starts; NULL during Establish

  // The thread's (and Establish's, before it starts).
  Connection sub_, control_;
  int64_t sub_id_ = -1;
  int64_t writer_id_ = -1;  // the tracking writer connection's CLIENT ID
  uint64_t losses_ = 0;     // store_->writer_losses() when tracking was enabled
  bool established_ = false;
  bool ping_outstanding_ = false;
  Clock::time_point ping_sent_, ping_deadline_, next_check_;
  std::minstd_rand rng_;

  int stop_fd_ = -1;   // eventfd: readable once stopping (never read)
  int event_fd_ = -1;  // eventfd: the store's wake-ups (a lost writer); drained by the thread
  pthread_t thread_;
  bool started_ = false;
  // relaxed: a flag polled with the stop eventfd, which carries the wake-up
  std::atomic<bool> stop_{false};
  std::atomic<bool> forked_{false};  // relaxed: set in the child, single-threaded
  // Sockets by number for Forked(): 0 subscription, 1 control (see
  // RedisStore::fork_fds_).
  std::atomic<int> fork_fds_[2];

  // relaxed: counters and test accessors only; messages_ and flushall_ are
  // release/acquire: counted after the message's invalidations were applied
  // (the link's own locks order those anyway; this states the intent).
  std::atomic<bool> tracking_{false};
  std::atomic<uint64_t> resets_{0}, messages_{0}, flushall_{0};
  std::atomic<int64_t> last_pass_ms_{-1};  // steady-clock ms of the last passed check's start
  std::atomic<int64_t> sub_id_pub_{-1};
};

}  // namespace redis
}  // namespace libcache

#endif  // LIBCACHE_REDIS_SRC_COHERENCE_H_
