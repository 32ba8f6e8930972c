#include "redis/src/redis_store.h"

#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <utility>

namespace libcache {
namespace redis {
namespace {

// Error replies that say the server cannot take writes now, whatever the
// operation: the batch is retried as after an I/O error, never rejected.
bool IsServerUnavailable(const redisReply *r) {
  static const char *const kPrefixes[] = {"LOADING",    "BUSY",    "MASTERDOWN", "READONLY",
                                          "OOM",        "MISCONF", "TRYAGAIN",   "CLUSTERDOWN",
                                          "NOREPLICAS", "NOAUTH",  "NOSCRIPT"};
  for (const char *p : kPrefixes) {
    size_t n = strlen(p);
    if (r->len >= n && memcmp(r->str, p, n) == 0 && (r->len == n || r->str[n] == ' ')) {
      return true;
    }
  }
  return false;
}

std::string ReplyText(const redisReply *r) {
  if (r == nullptr) return "no reply";
  if (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS ||
      r->type == REDIS_REPLY_STRING) {
    return std::string(r->str, r->len);
  }
  return "unexpected reply type " + std::to_string(r->type);
}

bool IsError(const redisReply *r) { return r->type == REDIS_REPLY_ERROR; }

// run_id:<40 hex> from INFO server.
std::string FindRunId(const redisReply *r) {
  if (r->type != REDIS_REPLY_STRING) return "";
  std::string info(r->str, r->len);
  size_t p = info.find("run_id:");
  if (p == std::string::npos) return "";
  size_t end = info.find_first_of("\r\n", p);
  return info.substr(p + 7, end == std::string::npos ? std::string::npos : end - p - 7);
}

Clock::time_point After(int64_t ms) { return Clock::now() + std::chrono::milliseconds(ms); }

}  // namespace

RedisStore::RedisStore(StoreConfig config) : config_(std::move(config)) {
  for (auto &fd : fork_fds_) fd.store(-1, std::memory_order_relaxed);
}

RedisStore::~RedisStore() {
  if (forked_.load(std::memory_order_relaxed)) {
    // The sockets are closed already; their numbers may be reused since.
    writer_.Abandon();
    for (auto &lc : idle_) lc->conn.Abandon();
  }
}

StoreCounters RedisStore::counters() const {
  StoreCounters c;
  c.connects = connects_.load(std::memory_order_relaxed);
  c.connect_errors = connect_errors_.load(std::memory_order_relaxed);
  c.fenced = fenced_.load(std::memory_order_relaxed);
  return c;
}

std::string RedisStore::last_error() const {
  std::lock_guard<std::mutex> l(error_mu_);
  return last_error_;
}

void RedisStore::SetError(const std::string &e) {
  std::lock_guard<std::mutex> l(error_mu_);
  last_error_ = e;
}

void RedisStore::AddKey(CommandBuffer *b, const void *key, size_t klen) const {
  b->Arg2(config_.prefix, key, klen);
}

bool RedisStore::Open(Connection *c, int64_t connect_ms, Clock::time_point deadline,
                      const CommandBuffer &extra, std::vector<Reply> *extra_replies,
                      std::string *error, int abort_fd) {
  const Target &t = config_.target;
  if (!c->Connect(t, connect_ms, config_.command_ms, error)) {
    connect_errors_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  CommandBuffer pipeline;
  if (t.has_password) {
    if (t.user.empty()) {
      pipeline.Command({"AUTH", t.password});
    } else {
      pipeline.Command({"AUTH", t.user, t.password});
    }
  }
  if (t.db != 0) pipeline.Command({"SELECT", std::to_string(t.db)});
  size_t setup = pipeline.commands();
  pipeline.Append(extra);
  std::vector<Reply> replies;
  std::string why;
  if (!c->Exchange(pipeline, deadline, &replies, &why, nullptr, abort_fd)) {
    *error = "connection to " + t.Describe() + " failed while logging in: " + why;
    connect_errors_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  size_t i = 0;
  if (t.has_password && IsError(replies[i++].get())) {
    // The reply (WRONGPASS ...) never repeats the credentials.
    *error = "Redis at " + t.Describe() + " refused AUTH: " + ReplyText(replies[i - 1].get());
  } else if (t.db != 0 && IsError(replies[i++].get())) {
    *error = "Redis at " + t.Describe() + " refused SELECT " + std::to_string(t.db) + ": " +
             ReplyText(replies[i - 1].get());
  } else {
    if (extra_replies != nullptr) {
      extra_replies->clear();
      for (size_t k = setup; k < replies.size(); ++k)
        extra_replies->push_back(std::move(replies[k]));
    }
    return true;
  }
  c->Close();
  connect_errors_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

int RedisStore::Connect(std::string *error) {
  std::lock_guard<std::mutex> l(writer_mu_);
  return ConnectLocked(-1, error);
}

int RedisStore::ConnectLocked(int abort_fd, std::string *error) {
  if (forked_.load(std::memory_order_relaxed)) {
    *error = "the store was inherited through fork(): it is closed in the child";
    return CACHE_E_CLOSED;
  }
  if (writer_.connected()) return CACHE_OK;
  const Target &t = config_.target;
  writer_.set_fork_slot(&fork_fds_[0]);
  CommandBuffer extra;
  extra.Command({"CLIENT", "ID"});
  extra.Command({"INFO", "server"});
  std::vector<Reply> r;
  if (!Open(&writer_, config_.connect_ms, After(config_.connect_ms + config_.command_ms), extra, &r,
            error, abort_fd)) {
    SetError(*error);
    return CACHE_E_IO;
  }
  auto fail = [&](const std::string &why) {
    *error = why;
    writer_.Close();
    connect_errors_.fetch_add(1, std::memory_order_relaxed);
    SetError(why);
    return CACHE_E_IO;
  };
  if (r[0]->type != REDIS_REPLY_INTEGER) {
    return fail("Redis at " + t.Describe() +
                " refused CLIENT ID, which the adapter needs to fence lost connections (the ACL "
                "user needs +client|id and +client|kill): " +
                ReplyText(r[0].get()));
  }
  std::string run_id = FindRunId(r[1].get());
  if (run_id.empty()) {
    return fail("Redis at " + t.Describe() +
                " refused INFO server, which the adapter needs to fence lost connections (the "
                "ACL user needs +info): " +
                ReplyText(r[1].get()));
  }
  int64_t id = r[0]->integer;
  // Fence: kill every lost writer connection of this server run before the
  // first write (see the design comment in redis_store.h).
  CommandBuffer kills;
  std::deque<Lost> same_run;
  for (Lost &l : lost_) {
    if (l.run_id != run_id) continue;  // that server run is over: its clients are gone
    kills.Command({"CLIENT", "KILL", "ID", std::to_string(l.id), "SKIPME", "yes"});
    same_run.push_back(l);
  }
  lost_ = std::move(same_run);
  if (!probed_) {
    // Once, on the first connection: a kill that kills nothing, to find a
    // missing +client|kill at attach time rather than after the first loss.
    kills.Command({"CLIENT", "KILL", "ID", std::to_string(id), "SKIPME", "yes"});
  }
  if (kills.commands() > 0) {
    std::vector<Reply> kr;
    std::string why;
    if (!writer_.Exchange(kills, After(config_.command_ms), &kr, &why, nullptr, abort_fd)) {
      return fail("connection to " + t.Describe() + " failed while fencing the lost one: " + why);
    }
    for (const Reply &k : kr) {
      if (k->type == REDIS_REPLY_INTEGER) {
        fenced_.fetch_add(static_cast<uint64_t>(k->integer), std::memory_order_relaxed);
      } else if (!(IsError(k.get()) &&
                   ReplyText(k.get()).find("No such client") != std::string::npos)) {
        return fail("Redis at " + t.Describe() +
                    " refused CLIENT KILL, which the adapter needs to fence a lost connection "
                    "before writing again (the ACL user needs +client|kill): " +
                    ReplyText(k.get()));
      }
    }
    lost_.clear();
    probed_ = true;
  }
  writer_run_id_ = std::move(run_id);
  writer_id_.store(id, std::memory_order_relaxed);
  writer_redirect_ = -1;
  connects_.fetch_add(1, std::memory_order_relaxed);
  if (redirect_.load(std::memory_order_relaxed) >= 0) {
    // The last step: tracking for the subscription (see "Tracking on the
    // writer connection"). A refusal leaves the connection up for writes;
    // the coherence thread learns of it (a loss) and tries again.
    std::string why;
    if (!TrackLocked(false, abort_fd, &why)) {
      if (!writer_.connected()) {
        *error = why;
        return CACHE_E_IO;
      }
      writer_losses_.fetch_add(1, std::memory_order_release);
      WakeCoherence();
    }
  }
  return CACHE_OK;
}

bool RedisStore::TrackLocked(bool off_first, int abort_fd, std::string *error) {
  const Target &t = config_.target;
  CommandBuffer b;
  if (off_first) b.Command({"CLIENT", "TRACKING", "off"});
  const bool prefixed = !config_.prefix.empty();
  b.Begin(prefixed ? 9 : 7);
  for (const char *a : {"CLIENT", "TRACKING", "on", "REDIRECT"}) b.Arg(a, strlen(a));
  const int64_t redirect = redirect_.load(std::memory_order_relaxed);
  if (redirect < 0) {
    *error = "tracking is stopped (the subscription is down)";
    writer_redirect_ = -1;
    return false;
  }
  b.ArgNumber(redirect);
  b.Arg("BCAST", 5);
  if (prefixed) {
    b.Arg("PREFIX", 6);
    b.Arg(config_.prefix);
  }
  b.Arg("NOLOOP", 6);
  std::vector<Reply> r;
  std::string why;
  if (!writer_.Exchange(b, After(config_.command_ms), &r, &why, nullptr, abort_fd)) {
    *error = "connection to " + t.Describe() + " failed while enabling tracking: " + why;
    LoseWriter(*error);
    return false;
  }
  for (const Reply &x : r) {
    if (IsError(x.get())) {
      *error = "Redis at " + t.Describe() +
               " refused CLIENT TRACKING, which coherence needs (the ACL user needs "
               "+client|tracking; or the subscription is gone): " +
               ReplyText(x.get());
      writer_redirect_ = -1;
      SetError(*error);
      return false;
    }
  }
  writer_redirect_ = redirect;
  return true;
}

void RedisStore::WakeCoherence() {
  int fd = event_fd_.load(std::memory_order_relaxed);
  if (fd >= 0) {
    uint64_t one = 1;
    // Non-blocking (EFD_NONBLOCK): a full counter is a pending wake already.
    if (write(fd, &one, sizeof one) < 0) {
    }
  }
}

void RedisStore::LoseWriter(const std::string &why) {
  int64_t id = writer_id_.load(std::memory_order_relaxed);
  if (id >= 0) lost_.push_back(Lost{writer_run_id_, id});
  writer_id_.store(-1, std::memory_order_relaxed);
  writer_redirect_ = -1;
  writer_.Close();
  SetError(why);
  writer_losses_.fetch_add(1, std::memory_order_release);
  WakeCoherence();
}

int RedisStore::EnsureTracking(int64_t sub_id, int abort_fd, int64_t *writer_id, uint64_t *losses,
                               std::string *error) {
  std::lock_guard<std::mutex> l(writer_mu_);
  if (forked_.load(std::memory_order_relaxed)) {
    *error = "the store was inherited through fork(): it is closed in the child";
    return CACHE_E_CLOSED;
  }
  redirect_.store(sub_id, std::memory_order_relaxed);
  if (sub_id < 0) return CACHE_OK;
  if (writer_.connected() && !TrackLocked(true, abort_fd, error) && writer_.connected()) {
    return CACHE_E_IO;  // refused
  }
  // Down, or lost just now (a socket that died while the flusher was idle).
  if (!writer_.connected()) {
    int rc = ConnectLocked(abort_fd, error);
    if (rc != CACHE_OK) return rc;
    if (writer_redirect_ != sub_id) {
      *error = last_error();
      return CACHE_E_IO;
    }
  }
  *writer_id = writer_id_.load(std::memory_order_relaxed);
  *losses = writer_losses_.load(std::memory_order_relaxed);
  return CACHE_OK;
}

int RedisStore::WriteBatch(cache_store_op_t *ops, size_t n) {
  std::lock_guard<std::mutex> l(writer_mu_);
  reasons_.clear();
  std::string error;
  int rc = ConnectLocked(-1, &error);
  if (rc != CACHE_OK) return rc;
  batch_.Clear();
  sent_.clear();
  for (size_t i = 0; i < n; ++i) {
    cache_store_op_t &op = ops[i];
    op.status = CACHE_OK;
    op.reason = nullptr;
    if (op.kind == CACHE_STORE_PUT && op.expire_at_ms > 0) {
      batch_.Begin(5);
      batch_.Arg("SET", 3);
      AddKey(&batch_, op.key, op.klen);
      batch_.Arg(op.value != nullptr ? op.value : "", op.vlen);
      batch_.Arg("PXAT", 4);
      batch_.ArgNumber(op.expire_at_ms);
    } else if (op.kind == CACHE_STORE_PUT && op.expire_at_ms == 0) {
      batch_.Begin(3);
      batch_.Arg("SET", 3);
      AddKey(&batch_, op.key, op.klen);
      batch_.Arg(op.value != nullptr ? op.value : "", op.vlen);
    } else if (op.kind == CACHE_STORE_DELETE) {
      batch_.Begin(2);
      batch_.Arg("DEL", 3);
      AddKey(&batch_, op.key, op.klen);
    } else if (op.kind == CACHE_STORE_EXPIRE && op.expire_at_ms > 0) {
      batch_.Begin(3);
      batch_.Arg("PEXPIREAT", 9);
      AddKey(&batch_, op.key, op.klen);
      batch_.ArgNumber(op.expire_at_ms);
    } else if (op.kind == CACHE_STORE_EXPIRE && op.expire_at_ms == 0) {
      batch_.Begin(2);
      batch_.Arg("PERSIST", 7);
      AddKey(&batch_, op.key, op.klen);
    } else {
      op.status = CACHE_STORE_REJECTED;
      op.reason = "libcache-redis: unknown operation kind or negative expiry time";
      continue;
    }
    sent_.push_back(i);
  }
  if (sent_.empty()) return CACHE_OK;
  bool timed_out = false;
  if (!writer_.Exchange(batch_, After(config_.command_ms), &replies_, &error, &timed_out)) {
    LoseWriter("writing a batch to " + config_.target.Describe() + ": " + error);
    return timed_out ? CACHE_E_TIMEOUT : CACHE_E_IO;
  }
  for (const Reply &r : replies_) {
    if (IsError(r.get()) && IsServerUnavailable(r.get())) {
      LoseWriter("Redis at " + config_.target.Describe() +
                 " cannot take writes now: " + ReplyText(r.get()));
      return CACHE_E_IO;
    }
  }
  for (size_t k = 0; k < sent_.size(); ++k) {
    const redisReply *r = replies_[k].get();
    if (!IsError(r)) continue;
    cache_store_op_t &op = ops[sent_[k]];
    op.status = CACHE_STORE_REJECTED;
    reasons_.push_back(ReplyText(r));
    op.reason = reasons_.back().c_str();
  }
  replies_.clear();
  return CACHE_OK;
}

std::unique_ptr<RedisStore::LoadConnection> RedisStore::AcquireLoad(Clock::time_point deadline,
                                                                    int *status) {
  std::unique_lock<std::mutex> l(pool_mu_);
  while (idle_.empty() && open_loads_ >= kMaxLoadConnections) {
    if (pool_cv_.wait_until(l, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_loads_ >= kMaxLoadConnections) {
      *status = CACHE_E_TIMEOUT;
      return nullptr;
    }
  }
  while (!idle_.empty()) {
    std::unique_ptr<LoadConnection> lc = std::move(idle_.back());
    idle_.pop_back();
    if (!lc->conn.PeerClosed()) return lc;
    // Closed by the server while idle (a restart, CLIENT KILL, its timeout):
    // a load on it would fail, and a failed load is a miss for the reader
    // (after a restart, the first read of every key would miss). A new one.
    lc->conn.Close();
    slot_used_[lc->slot] = false;
    --open_loads_;
  }
  int slot = 0;
  while (slot_used_[slot]) ++slot;  // open_loads_ < kMaxLoadConnections: one is free
  slot_used_[slot] = true;
  ++open_loads_;
  l.unlock();
  auto lc = std::make_unique<LoadConnection>();
  lc->slot = slot;
  lc->conn.set_fork_slot(&fork_fds_[1 + slot]);
  int64_t left = RemainingMs(deadline);
  std::string error;
  if (left == 0 || !Open(&lc->conn, std::min<int64_t>(config_.connect_ms, left), deadline,
                         CommandBuffer(), nullptr, &error)) {
    if (!error.empty()) SetError(error);
    *status = Clock::now() >= deadline ? CACHE_E_TIMEOUT : CACHE_E_IO;
    ReleaseLoad(std::move(lc), false);
    return nullptr;
  }
  connects_.fetch_add(1, std::memory_order_relaxed);
  return lc;
}

void RedisStore::ReleaseLoad(std::unique_ptr<LoadConnection> lc, bool keep) {
  if (!keep) lc->conn.Close();
  std::lock_guard<std::mutex> l(pool_mu_);
  if (keep && lc->conn.connected()) {
    idle_.push_back(std::move(lc));
  } else {
    slot_used_[lc->slot] = false;
    --open_loads_;
  }
  pool_cv_.notify_one();
}

int RedisStore::Load(const void *key, size_t klen, int64_t timeout_ms, cache_store_value_fn fn,
                     void *fn_ctx) {
  if (forked_.load(std::memory_order_relaxed)) return CACHE_E_IO;
  Clock::time_point deadline = After(timeout_ms < 0 ? config_.command_ms : timeout_ms);
  int status = CACHE_OK;
  std::unique_ptr<LoadConnection> lc = AcquireLoad(deadline, &status);
  if (lc == nullptr) return status;
  CommandBuffer b;
  b.Command({"MULTI"});
  b.Begin(2);
  b.Arg("GET", 3);
  AddKey(&b, key, klen);
  b.Begin(2);
  b.Arg("PTTL", 4);
  AddKey(&b, key, klen);
  b.Command({"EXEC"});
  std::vector<Reply> r;
  std::string error;
  bool timed_out = false;
  if (!lc->conn.Exchange(b, deadline, &r, &error, &timed_out)) {
    SetError("loading a key from " + config_.target.Describe() + ": " + error);
    ReleaseLoad(std::move(lc), false);
    return timed_out ? CACHE_E_TIMEOUT : CACHE_E_IO;
  }
  ReleaseLoad(std::move(lc), true);
  const redisReply *exec = r[3].get();
  if (exec->type != REDIS_REPLY_ARRAY || exec->elements != 2) {
    // Refused (NOPERM for GET, say): the first error says why.
    std::string why = ReplyText(exec);
    for (const Reply &x : r) {
      if (IsError(x.get())) {
        why = ReplyText(x.get());
        break;
      }
    }
    SetError("Redis at " + config_.target.Describe() + " refused a load: " + why);
    return CACHE_E_IO;
  }
  const redisReply *v = exec->element[0];
  const redisReply *t = exec->element[1];
  if (v->type == REDIS_REPLY_NIL) return CACHE_NOT_FOUND;
  if (v->type != REDIS_REPLY_STRING || t->type != REDIS_REPLY_INTEGER) {
    SetError("Redis at " + config_.target.Describe() + " refused a load: " + ReplyText(v));
    return CACHE_E_IO;
  }
  int64_t ttl = t->integer;
  if (ttl == 0 || ttl < -1) return CACHE_NOT_FOUND;  // expiring now, or gone
  fn(fn_ctx, v->str, v->len, ttl);
  return CACHE_OK;
}

int RedisStore::Command(int argc, const void *const *argv, const size_t *argvlen,
                        int64_t timeout_ms, void (*fn)(void *, const redisReply *), void *ctx) {
  if (forked_.load(std::memory_order_relaxed)) return CACHE_E_CLOSED;
  Clock::time_point deadline = After(timeout_ms > 0 ? timeout_ms : config_.command_ms);
  int status = CACHE_OK;
  std::unique_ptr<LoadConnection> lc = AcquireLoad(deadline, &status);
  if (lc == nullptr) return status;
  CommandBuffer b;
  b.Begin(argc);
  for (int i = 0; i < argc; ++i) b.Arg(argv[i], argvlen[i]);
  std::vector<Reply> r;
  std::string error;
  bool timed_out = false;
  if (!lc->conn.Exchange(b, deadline, &r, &error, &timed_out)) {
    SetError("running a command on " + config_.target.Describe() + ": " + error);
    ReleaseLoad(std::move(lc), false);
    return timed_out ? CACHE_E_TIMEOUT : CACHE_E_IO;
  }
  ReleaseLoad(std::move(lc), true);
  fn(ctx, r[0].get());
  return CACHE_OK;
}

void RedisStore::Forked() {
  forked_.store(true, std::memory_order_relaxed);
  event_fd_.store(-1, std::memory_order_relaxed);  // the coherence's: it closes it
  for (auto &slot : fork_fds_) {
    int fd = slot.exchange(-1, std::memory_order_relaxed);
    if (fd >= 0) close(fd);  // the child's copy only: the parent's socket stays open
  }
}

}  // namespace redis
}  // namespace libcache
