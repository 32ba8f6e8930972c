// The Redis store: a cache_store_t (<libcache/cache_store.h>) over hiredis.
//
// ## What it is
// The callbacks a link calls: write_batch (the flusher thread's batches, one
// pipeline each), load (read-through, any thread), forked and destroy. The
// queue, coalescing, retries, backoff and dead letters are the generic link's
// (core/); this file only turns operations into Redis commands and replies
// into statuses, and owns the connections.
//
// ## Commands
//   PUT     SET <prefix><key> <value> PXAT <expire_at_ms>   (SET without PXAT: no expiry,
//           which also clears an older TTL)
//   DELETE  DEL <prefix><key>
//   EXPIRE  PEXPIREAT <prefix><key> <expire_at_ms>            (PERSIST for 0)
//   load    MULTI, GET, PTTL, EXEC of <prefix><key>
// All are idempotent: expiry times are absolute, so a resend never extends a
// TTL. A load runs GET and PTTL in one MULTI/EXEC so that the value and the
// TTL are of the same version of the key (a plain pipeline lets another
// client's write fall between them).
//
// ## Replies
// Each operation's reply gives its status: an error reply makes it
// CACHE_STORE_REJECTED with the reply's text as the reason (NOPERM for a key
// the ACL user may not write, for example). Error replies that say the
// server, not the operation, is the problem (LOADING after a restart, BUSY,
// MASTERDOWN, READONLY after a failover, OOM, MISCONF, TRYAGAIN, CLUSTERDOWN,
// NOREPLICAS, NOAUTH) fail the whole batch as an I/O error instead, so the
// link retries it with backoff and without a retry limit: they would
// otherwise turn every key of a restarting Redis into a dead letter.
//
// ## Connections
// One writer connection, used by write_batch (the link never calls it twice
// at once) and, with coherence on, by the coherence thread to (re)enable
// tracking on it (EnsureTracking; writer_mu_ serialises the two), and a pool
// of up to kMaxLoadConnections for loads and cache_redis_command
// (mutex-protected; a load that finds all of them busy waits for one until
// its timeout; an idle one the server closed is replaced before use). Each
// connection is set up the same way after every connect: socket timeouts,
// AUTH [user] password, SELECT db (hiredis's redisReconnect would do none of
// this). An I/O error, an EOF, a timeout or a malformed
// reply closes the connection at once, so a late reply is never read as the
// answer to a later command; the next call connects again (once per call:
// the link's backoff spaces the calls).
//
// ## Fencing the lost writer connection
// A batch that timed out may still be in flight: in the kernel's buffers, on
// the network, or read by Redis but not yet run (Redis blocked by a slow
// command, DEBUG SLEEP, CLIENT PAUSE). The link resends it, minus operations
// that newer writes replaced, on a new connection; if the old connection's
// commands ran after the new ones, an old value would overwrite a newer one.
// So every writer connection records its CLIENT ID and the server's run_id
// (INFO server) when it connects, and a new writer connection, before it
// sends any write, runs CLIENT KILL ID <id> SKIPME yes for every lost
// connection of the same server run that has not been killed yet. Redis runs
// commands one at a time: once CLIENT KILL has answered, the old client is
// gone, and whatever of its input Redis had not yet run is discarded with it
// (bytes still on the way meet a closed socket). What Redis had run already
// came before the new connection's writes. Either way nothing of the old
// connection runs after the new one's writes.
//
// Why it is enough, and what it needs:
//  - The server run: client IDs restart at 1 when Redis restarts, so an old
//    ID is killed only when INFO's run_id is the one it was recorded with
//    (after a restart the old connection died with the old process). This
//    keeps the adapter from killing an unrelated client that got the number.
//  - A lost connection stays on the list until a kill of it is answered (a
//    new connection that dies before its kill leaves two to kill).
//  - It assumes the adapter talks to the Redis server itself. Behind a proxy
//    (twemproxy, Envoy) the proxy may hold the commands, and the ID is the
//    proxy's; after a failover to another server, the old primary may still
//    run them on data that is no longer the primary's. Neither is fenced.
//  - The ACL user must be allowed CLIENT ID, CLIENT KILL and INFO besides the
//    data commands (SET, DEL, PEXPIREAT, PERSIST, GET, PTTL, MULTI, EXEC,
//    SELECT when db != 0): for example `+@read +@write +multi +exec +info
//    +client|id +client|kill +select`. A connection whose CLIENT ID or
//    CLIENT KILL is refused fails (the adapter never writes unfenced); the
//    first connect (cache_redis_attach) says so. With coherence on (the
//    default of cache_redis_attach) it also needs CLIENT TRACKING on the
//    writer, SUBSCRIBE and the channel __redis__:invalidate for the
//    subscription, and CLIENT LIST and PING for the health check:
//    `+client|tracking +subscribe +client|list +ping &__redis__:invalidate`
//    (since Redis 7 a new ACL user has no channel until given one);
//    cache_redis_attach fails with CACHE_E_IO and says which is missing.
//
// ## Tracking on the writer connection (coherence.h has the protocol)
// With coherence on, the writer connection is also the tracking client:
// CLIENT TRACKING on REDIRECT <subscription id> BCAST [PREFIX <prefix>]
// NOLOOP, so that this process's own writes (write-behind and sync) bring no
// invalidation back. It is the last step of the writer's connect sequence
// whenever the coherence thread has published a subscription id
// (redirect_), and the coherence thread (re)enables it itself, through
// EnsureTracking, when the subscription got a new id or the writer is down
// while the flusher is idle. writer_mu_ serialises the two threads on the
// writer connection. Every loss of the writer connection counts in
// writer_losses_ and wakes the coherence thread (an eventfd write: nothing
// that takes a lock of the cache, so it is safe inside write_batch), which
// treats it as a loss of tracking: between the old connection's end and the
// new one's CLIENT TRACKING nobody tracked the keys.
//
// ## Signals, fork, credentials
// No SIGPIPE: connection.h sends with MSG_NOSIGNAL and never lets hiredis
// write. forked() (in the child) closes every socket by number without
// sending anything and marks the store closed; the contexts are abandoned,
// not freed (the parent's threads may have been using them). Errors name the
// server by host, port, socket path and db only, never by user or password;
// reasons are Redis's error texts.
#ifndef LIBCACHE_REDIS_SRC_REDIS_STORE_H_
#define LIBCACHE_REDIS_SRC_REDIS_STORE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "libcache/cache_store.h"
#include "redis/src/connection.h"
#include "redis/src/url.h"

namespace libcache {
namespace redis {

struct StoreConfig {
  Target target;
  std::string prefix;
  int64_t connect_ms = 1000;
  int64_t command_ms = 1000;
};

struct StoreCounters {
  uint64_t connects = 0;        // successful connections (writer and loads)
  uint64_t connect_errors = 0;  // failed attempts (connect, AUTH, SELECT, fencing)
  uint64_t fenced = 0;          // lost writer connections killed by CLIENT KILL
};

class RedisStore {
 public:
  static constexpr int kMaxLoadConnections = 4;

  explicit RedisStore(StoreConfig config);
  ~RedisStore();
  RedisStore(const RedisStore &) = delete;
  RedisStore &operator=(const RedisStore &) = delete;

  // Connects the writer connection if it is not connected (CACHE_OK, or
  // CACHE_E_IO with *error saying why). Any thread (takes writer_mu_).
  int Connect(std::string *error);

  // The cache_store_t callbacks (see <libcache/cache_store.h>).
  int WriteBatch(cache_store_op_t *ops, size_t n);
  int Load(const void *key, size_t klen, int64_t timeout_ms, cache_store_value_fn fn, void *fn_ctx);
  void Forked();

  // cache_redis_command: one command on a load connection (see the header).
  int Command(int argc, const void *const *argv, const size_t *argvlen, int64_t timeout_ms,
              void (*fn)(void *, const redisReply *), void *ctx);

  // ---- Coherence (coherence.h) ----
  // The eventfd that a lost writer connection wakes (-1: none). Before the
  // store is linked.
  void set_event_fd(int fd) { event_fd_.store(fd, std::memory_order_relaxed); }
  // Makes the writer connection track for sub_id (the subscription's CLIENT
  // ID; -1 stops asking for tracking on new connections): connects it if it
  // is down (fenced, as the flusher would), else sends CLIENT TRACKING off
  // and on with the new redirect. On CACHE_OK, *writer_id is the tracking
  // connection's CLIENT ID and *losses the writer_losses() value it goes
  // with. CACHE_E_IO (or CACHE_E_CLOSED after fork) with *error. Waits for
  // writer_mu_ (a batch in flight). abort_fd: as Connection::Exchange.
  int EnsureTracking(int64_t sub_id, int abort_fd, int64_t *writer_id, uint64_t *losses,
                     std::string *error);
  // New writer connections no longer ask for tracking (the subscription is
  // gone). Does not wait for writer_mu_.
  void StopTracking() { redirect_.store(-1, std::memory_order_relaxed); }
  // Writer connections lost (or found without tracking) so far; acquire:
  // pairs with the release increment under writer_mu_.
  uint64_t writer_losses() const { return writer_losses_.load(std::memory_order_acquire); }
  // Records a failure for cache_redis_last_error.
  void ReportError(const std::string &e) { SetError(e); }
  const StoreConfig &config() const { return config_; }
  // True in a fork child (the store is inert there).
  bool forked() const { return forked_.load(std::memory_order_relaxed); }

  StoreCounters counters() const;
  // The last connection or command failure, without credentials ("" if none).
  std::string last_error() const;

  // For tests: the writer connection's CLIENT ID (-1 when not connected).
  int64_t writer_client_id() const { return writer_id_.load(std::memory_order_relaxed); }

  // Connects c within connect_ms, then sends AUTH and SELECT, then extra,
  // all answered before deadline; extra's replies go to *extra_replies (may
  // be NULL when extra is empty). False with *error set: c is closed. For the
  // store's connections and the coherence thread's own.
  bool Open(Connection *c, int64_t connect_ms, Clock::time_point deadline,
            const CommandBuffer &extra, std::vector<Reply> *extra_replies, std::string *error,
            int abort_fd = -1);
  void CountConnect() { connects_.fetch_add(1, std::memory_order_relaxed); }

 private:
  struct Lost {  // a writer connection to kill on the next connect
    std::string run_id;
    int64_t id;
  };
  struct LoadConnection {
    Connection conn;
    int slot = 0;  // its place in slot_used_ and fork_fds_
  };

  int ConnectLocked(int abort_fd, std::string *error);  // REQUIRES(writer_mu_)
  // CLIENT TRACKING on the writer for redirect_ (after CLIENT TRACKING off
  // when off_first: a second "on" with the same prefix is refused). False
  // with *error: the reply (the writer stays up, without tracking), or the
  // I/O error (the writer is lost). REQUIRES(writer_mu_)
  bool TrackLocked(bool off_first, int abort_fd, std::string *error);
  void LoseWriter(const std::string &why);  // REQUIRES(writer_mu_)
  void WakeCoherence();
  void AddKey(CommandBuffer *b, const void *key, size_t klen) const;
  void SetError(const std::string &e);
  std::unique_ptr<LoadConnection> AcquireLoad(Clock::time_point deadline, int *status);
  void ReleaseLoad(std::unique_ptr<LoadConnection> lc, bool keep);

  const StoreConfig config_;

  // Writer state: the flusher's (inside write_batch) and the coherence
  // thread's (EnsureTracking), one at a time.
  std::mutex writer_mu_;
  // The subscription id that new writer connections track for (-1: none);
  // set by the coherence thread, also while a batch holds writer_mu_ (a
  // loss must not wait for it). Relaxed: read once per connect, and a stale
  // value only makes CLIENT TRACKING fail or track for a dead subscription,
  // both of which the coherence thread checks before it trusts tracking.
  std::atomic<int64_t> redirect_{-1};
  int64_t writer_redirect_ = -1;  // GUARDED_BY(writer_mu_): the connection tracks for it
  // Incremented (release, under writer_mu_) when the writer connection is
  // lost or comes up without the tracking asked for.
  std::atomic<uint64_t> writer_losses_{0};
  std::atomic<int> event_fd_{-1};  // relaxed: set before linking, -1 in a fork child
  Connection writer_;
  std::string writer_run_id_;
  std::deque<Lost> lost_;
  bool probed_ = false;  // CLIENT KILL was allowed once
  CommandBuffer batch_;
  std::vector<size_t> sent_;  // the op of each command in batch_
  std::vector<Reply> replies_;
  std::deque<std::string> reasons_;  // the last batch's rejection reasons
  // relaxed: read by tests and stats only
  std::atomic<int64_t> writer_id_{-1};

  // Load pool.
  std::mutex pool_mu_;
  std::condition_variable pool_cv_;
  std::vector<std::unique_ptr<LoadConnection>> idle_;  // GUARDED_BY(pool_mu_)
  int open_loads_ = 0;                                 // GUARDED_BY(pool_mu_)
  bool slot_used_[kMaxLoadConnections] = {};           // GUARDED_BY(pool_mu_)

  // Every open socket by number, for forked(): slot 0 the writer's, then the
  // loads'. -1 when closed. A connection stores its fd after connecting and
  // -1 before closing; relaxed is enough, forked() runs in a child with one
  // thread, on a copy of memory taken at fork().
  std::atomic<int> fork_fds_[1 + kMaxLoadConnections];
  std::atomic<bool> forked_{false};  // relaxed: set in the child before anything else

  // relaxed: counters only
  std::atomic<uint64_t> connects_{0}, connect_errors_{0}, fenced_{0};
  mutable std::mutex error_mu_;
  std::string last_error_;  // GUARDED_BY(error_mu_)
};

}  // namespace redis
}  // namespace libcache

#endif  // LIBCACHE_REDIS_SRC_REDIS_STORE_H_
