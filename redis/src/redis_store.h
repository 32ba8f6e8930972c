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
// One writer connection, used by write_batch only (the link never calls it
// twice at once), and a pool of up to kMaxLoadConnections for loads
// (mutex-protected; a load that finds all of them busy waits for one until
// its timeout). Each connection is set up the same way after every connect:
// socket timeouts, AUTH [user] password, SELECT db (hiredis's redisReconnect
// would do none of this). An I/O error, an EOF, a timeout or a malformed
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
//    first connect (cache_redis_attach) says so.
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
  // CACHE_E_IO with *error saying why). Flusher thread only, or before the
  // store is linked.
  int Connect(std::string *error);

  // The cache_store_t callbacks (see <libcache/cache_store.h>).
  int WriteBatch(cache_store_op_t *ops, size_t n);
  int Load(const void *key, size_t klen, int64_t timeout_ms, cache_store_value_fn fn, void *fn_ctx);
  void Forked();

  StoreCounters counters() const;
  // The last connection or command failure, without credentials ("" if none).
  std::string last_error() const;

  // For tests: the writer connection's CLIENT ID (-1 when not connected).
  int64_t writer_client_id() const { return writer_id_.load(std::memory_order_relaxed); }

 private:
  struct Lost {  // a writer connection to kill on the next connect
    std::string run_id;
    int64_t id;
  };
  struct LoadConnection {
    Connection conn;
    int slot = 0;  // its place in slot_used_ and fork_fds_
  };

  // Connects c within connect_ms, then sends AUTH and SELECT, then extra,
  // all answered before deadline; extra's replies go to *extra_replies (may
  // be NULL when extra is empty). False with *error set: c is closed.
  bool Open(Connection *c, int64_t connect_ms, Clock::time_point deadline,
            const CommandBuffer &extra, std::vector<Reply> *extra_replies, std::string *error);
  void AddKey(CommandBuffer *b, const void *key, size_t klen) const;
  void LoseWriter(const std::string &why);
  void SetError(const std::string &e);
  std::unique_ptr<LoadConnection> AcquireLoad(Clock::time_point deadline, int *status);
  void ReleaseLoad(std::unique_ptr<LoadConnection> lc, bool keep);

  const StoreConfig config_;

  // Writer state: flusher thread only.
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
