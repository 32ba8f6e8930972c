#include "redis/src/coherence.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>

namespace libcache {
namespace redis {
namespace {

const char kChannel[] = "__redis__:invalidate";

Clock::time_point After(int64_t ms) { return Clock::now() + std::chrono::milliseconds(ms); }

int64_t SteadyMs(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

bool IsString(const redisReply *r, const char *s) {
  size_t n = strlen(s);
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
         r->len == n && memcmp(r->str, s, n) == 0;
}

std::string Text(const redisReply *r) {
  if (r == nullptr) return "no reply";
  if (r->type == REDIS_REPLY_ERROR || r->type == REDIS_REPLY_STATUS ||
      r->type == REDIS_REPLY_STRING) {
    return std::string(r->str, r->len);
  }
  return "unexpected reply type " + std::to_string(r->type);
}

// The value of field name= in one CLIENT LIST line ("" when absent).
std::string Field(const std::string &line, const std::string &name) {
  std::string key = name + "=";
  size_t p = 0;
  while (p < line.size()) {
    size_t end = line.find_first_of(" \r\n", p);
    if (end == std::string::npos) end = line.size();
    if (line.compare(p, key.size(), key) == 0) {
      return line.substr(p + key.size(), end - p - key.size());
    }
    p = end + 1;
  }
  return "";
}

}  // namespace

Coherence::Coherence(RedisStore *store, int64_t health_interval_ms)
    : store_(store),
      interval_ms_(health_interval_ms),
      rng_(static_cast<uint32_t>(reinterpret_cast<uintptr_t>(this) ^
                                 static_cast<uintptr_t>(Clock::now().time_since_epoch().count()))) {
  for (auto &fd : fork_fds_) fd.store(-1, std::memory_order_relaxed);
  sub_.set_fork_slot(&fork_fds_[0]);
  control_.set_fork_slot(&fork_fds_[1]);
}

Coherence::~Coherence() {
  if (forked_.load(std::memory_order_relaxed)) {
    // The sockets and eventfds are closed already (their numbers may be
    // reused since); the parent's thread does not exist here.
    sub_.Abandon();
    control_.Abandon();
    return;
  }
  if (started_) {
    stop_.store(true, std::memory_order_relaxed);
    uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof one) < 0) {
    }
    pthread_join(thread_, nullptr);
  }
  store_->set_event_fd(-1);
  store_->StopTracking();
  CloseConnections();
  if (stop_fd_ >= 0) close(stop_fd_);
  if (event_fd_ >= 0) close(event_fd_);
}

CoherenceCounters Coherence::counters() const {
  CoherenceCounters c;
  c.tracking = tracking_.load(std::memory_order_acquire);
  c.resets = resets_.load(std::memory_order_relaxed);
  c.messages = messages_.load(std::memory_order_acquire);
  c.flushall = flushall_.load(std::memory_order_acquire);
  int64_t last = last_pass_ms_.load(std::memory_order_relaxed);
  c.health_age_ms = last < 0 ? -1 : std::max<int64_t>(SteadyMs(Clock::now()) - last, 0);
  return c;
}

void Coherence::CloseConnections() {
  sub_.Close();
  control_.Close();
  sub_id_ = -1;
  sub_id_pub_.store(-1, std::memory_order_relaxed);
  ping_outstanding_ = false;
}

int Coherence::Establish(std::string *error) {
  if (stop_fd_ < 0) stop_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (event_fd_ < 0) event_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (stop_fd_ < 0 || event_fd_ < 0) {
    *error = std::string("coherence: eventfd: ") + strerror(errno);
    return CACHE_E_NOMEM;
  }
  store_->set_event_fd(event_fd_);
  if (!Reestablish(error)) return store_->forked() ? CACHE_E_CLOSED : CACHE_E_IO;
  established_ = true;
  tracking_.store(true, std::memory_order_relaxed);
  return CACHE_OK;
}

int Coherence::Start(cache_link_t *link) {
  link_ = link;
  // Every signal blocked in the thread (as the link's flusher): signals
  // aimed at the process go to the application's threads.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&thread_, nullptr, &Coherence::Main, this);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (rc != 0) return CACHE_E_NOMEM;
  started_ = true;
  return CACHE_OK;
}

void *Coherence::Main(void *self) {
  static_cast<Coherence *>(self)->Run();
  return nullptr;
}

void Coherence::Forked() {
  forked_.store(true, std::memory_order_relaxed);
  for (auto &slot : fork_fds_) {
    int fd = slot.exchange(-1, std::memory_order_relaxed);
    if (fd >= 0) close(fd);  // the child's copy only
  }
  if (stop_fd_ >= 0) close(stop_fd_);
  if (event_fd_ >= 0) close(event_fd_);
  stop_fd_ = event_fd_ = -1;
}

bool Coherence::WaitStop(int64_t ms) {
  Clock::time_point deadline = After(ms);
  while (!stopping()) {
    int left = RemainingMs(deadline);
    if (left == 0) return false;
    struct pollfd p = {stop_fd_, POLLIN, 0};
    if (poll(&p, 1, left) > 0) break;
  }
  return true;
}

void Coherence::Lose(const std::string &why) {
  const bool was = tracking_.exchange(false, std::memory_order_relaxed);
  established_ = false;
  store_->StopTracking();
  // First: until tracking is back nothing local may be trusted.
  if (link_ != nullptr) cache_store_set_coherent(link_, 0);
  if (was) resets_.fetch_add(1, std::memory_order_relaxed);
  CloseConnections();
  store_->ReportError("coherence: tracking lost: " + why);
}

bool Coherence::Reestablish(std::string *error) {
  CloseConnections();
  const StoreConfig &cfg = store_->config();
  const std::string where = cfg.target.Describe();
  Clock::time_point deadline = After(cfg.connect_ms + cfg.command_ms);
  if (!store_->Open(&control_, cfg.connect_ms, deadline, CommandBuffer(), nullptr, error,
                    stop_fd_)) {
    *error = "coherence: " + *error;
    return false;
  }
  store_->CountConnect();
  CommandBuffer b;
  b.Command({"CLIENT", "ID"});
  b.Command({"SUBSCRIBE", kChannel});
  std::vector<Reply> r;
  deadline = After(cfg.connect_ms + cfg.command_ms);
  if (!store_->Open(&sub_, cfg.connect_ms, deadline, b, &r, error, stop_fd_)) {
    *error = "coherence: " + *error;
    CloseConnections();
    return false;
  }
  store_->CountConnect();
  if (r[0]->type != REDIS_REPLY_INTEGER) {
    *error = "coherence: Redis at " + where +
             " refused CLIENT ID on the invalidation connection (the ACL user needs "
             "+client|id): " + Text(r[0].get());
    CloseConnections();
    return false;
  }
  const redisReply *s = r[1].get();
  if (s->type != REDIS_REPLY_ARRAY || s->elements != 3 || !IsString(s->element[0], "subscribe")) {
    *error = "coherence: Redis at " + where + " refused SUBSCRIBE " + kChannel +
             " (the ACL user needs +subscribe and &" + kChannel + "): " + Text(s);
    CloseConnections();
    return false;
  }
  sub_id_ = r[0]->integer;
  int rc = store_->EnsureTracking(sub_id_, stop_fd_, &writer_id_, &losses_, error);
  if (rc != CACHE_OK) {
    *error = "coherence: " + *error;
    CloseConnections();
    return false;
  }
  sub_id_pub_.store(sub_id_, std::memory_order_relaxed);
  // One check, waited for (messages that come first are delivered: harmless
  // before set_coherent(1), which is what they could otherwise protect).
  if (!StartCheck(error)) {
    CloseConnections();
    return false;
  }
  while (ping_outstanding_) {
    if (store_->writer_losses() != losses_) {
      *error = "coherence: the writer connection was lost while tracking was being checked";
      CloseConnections();
      return false;
    }
    std::vector<Reply> got;
    struct pollfd p[2] = {{sub_.fd(), POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int left = RemainingMs(ping_deadline_);
    int n = left == 0 ? 0 : poll(p, 2, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || (p[1].revents & POLLIN)) {
      *error = n == 0 ? "coherence: no PONG on the invalidation connection from " + where +
                            " within the command timeout"
                      : std::string("coherence: stopped");
      CloseConnections();
      return false;
    }
    if (!sub_.ReadAvailable(true, &got, error) || !Handle(&got, error)) {
      *error = "coherence: the invalidation connection to " + where + ": " + *error;
      CloseConnections();
      return false;
    }
  }
  return true;
}

bool Coherence::StartCheck(std::string *error) {
  const StoreConfig &cfg = store_->config();
  const std::string where = cfg.target.Describe();
  Clock::time_point start = Clock::now();
  Clock::time_point deadline = start + std::chrono::milliseconds(cfg.command_ms);
  CommandBuffer ping;
  ping.Command({"PING"});
  if (!sub_.Send(ping, deadline, error, stop_fd_)) {
    *error = "the invalidation connection to " + where + ": " + *error;
    return false;
  }
  ping_outstanding_ = true;
  ping_sent_ = start;
  ping_deadline_ = deadline;
  CommandBuffer list;
  list.Command({"CLIENT", "LIST", "ID", std::to_string(writer_id_)});
  std::vector<Reply> r;
  if (!control_.Exchange(list, deadline, &r, error, nullptr, stop_fd_)) {
    *error = "the health-check connection to " + where + ": " + *error;
    return false;
  }
  const redisReply *x = r[0].get();
  if (x->type != REDIS_REPLY_STRING) {
    *error = "Redis at " + where +
             " refused CLIENT LIST ID, which the coherence health check needs (Redis >= 6.2; "
             "the ACL user needs +client|list): " +
             Text(x);
    return false;
  }
  std::string line(x->str, x->len);
  const std::string id = std::to_string(writer_id_);
  if (Field(line, "id") != id) {
    *error = "the writer connection (tracking client " + id + ") is gone";
    return false;
  }
  const std::string flags = Field(line, "flags");
  if (flags.find('t') == std::string::npos) {
    *error = "the writer connection " + id + " does not track";
    return false;
  }
  if (flags.find('R') != std::string::npos) {
    *error = "Redis reports the writer connection's redirect broken";
    return false;
  }
  if (Field(line, "redir") != std::to_string(sub_id_)) {
    *error = "the writer connection tracks for client " + Field(line, "redir") + ", not " +
             std::to_string(sub_id_);
    return false;
  }
  return true;
}

bool Coherence::Handle(std::vector<Reply> *replies, std::string *error) {
  const std::string &prefix = store_->config().prefix;
  for (const Reply &rep : *replies) {
    const redisReply *m = rep.get();
    if (m->type == REDIS_REPLY_ARRAY && m->elements == 2 && IsString(m->element[0], "pong")) {
      if (!ping_outstanding_) {
        *error = "a PONG that no PING asked for";
        return false;
      }
      ping_outstanding_ = false;
      last_pass_ms_.store(SteadyMs(ping_sent_), std::memory_order_relaxed);
      next_check_ = ping_sent_ + std::chrono::milliseconds(interval_ms_);
      continue;
    }
    if (m->type != REDIS_REPLY_ARRAY || m->elements != 3 || !IsString(m->element[0], "message") ||
        !IsString(m->element[1], kChannel)) {
      *error = "unexpected message on the invalidation connection: " + Text(m);
      return false;
    }
    // Counted once applied: a reader of the counters that sees a message
    // counted may rely on its invalidations being done (tests do).
    const redisReply *keys = m->element[2];
    if (keys->type == REDIS_REPLY_NIL) {
      if (link_ != nullptr) cache_store_invalidate_all(link_);
      flushall_.fetch_add(1, std::memory_order_release);
      messages_.fetch_add(1, std::memory_order_release);
      continue;
    }
    if (keys->type != REDIS_REPLY_ARRAY) {
      *error = "unexpected invalidation payload: " + Text(keys);
      return false;
    }
    for (size_t i = 0; i < keys->elements; ++i) {
      const redisReply *k = keys->element[i];
      if (k->type != REDIS_REPLY_STRING || k->len < prefix.size() ||
          memcmp(k->str, prefix.data(), prefix.size()) != 0) {
        continue;  // not one of ours
      }
      // CACHE_E_TOO_LARGE: a key the cache cannot hold; CACHE_E_CLOSED: closing.
      if (link_ != nullptr) {
        cache_store_invalidate(link_, k->str + prefix.size(), k->len - prefix.size());
      }
    }
    messages_.fetch_add(1, std::memory_order_release);
  }
  replies->clear();
  return true;
}

void Coherence::Run() {
  std::string why;
  int64_t backoff = 0;
  std::vector<Reply> got;
  while (!stopping()) {
    if (!established_) {
      if (Reestablish(&why)) {
        established_ = true;
        backoff = 0;
        cache_store_set_coherent(link_, 1);
        // After: whoever sees tracking up sees the link coherent too.
        tracking_.store(true, std::memory_order_release);
        continue;
      }
      if (stopping()) break;
      store_->ReportError(why);
      backoff = backoff == 0 ? kBackoffMinMs : std::min(backoff * 2, kBackoffMaxMs);
      // Jittered in [backoff / 2, backoff].
      int64_t wait = backoff / 2 + static_cast<int64_t>(rng_() % (backoff / 2 + 1));
      if (WaitStop(wait)) break;
      continue;
    }
    if (store_->writer_losses() != losses_) {
      Lose("the writer connection (the tracking client) was lost");
      continue;
    }
    Clock::time_point now = Clock::now();
    if (ping_outstanding_ && now >= ping_deadline_) {
      Lose("no PONG on the invalidation connection within the command timeout");
      continue;
    }
    if (!ping_outstanding_ && now >= next_check_) {
      if (!StartCheck(&why)) {
        Lose(why);
        continue;
      }
      // The check may have buffered messages while it waited.
      if (!sub_.ReadAvailable(false, &got, &why) || !Handle(&got, &why)) {
        Lose("the invalidation connection: " + why);
        continue;
      }
      continue;
    }
    struct pollfd p[3] = {
        {stop_fd_, POLLIN, 0}, {event_fd_, POLLIN, 0}, {sub_.fd(), POLLIN, 0}};
    int n = poll(p, 3, RemainingMs(ping_outstanding_ ? ping_deadline_ : next_check_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Lose(std::string("poll failed: ") + strerror(errno));
      continue;
    }
    if (p[0].revents & POLLIN) break;
    if (p[1].revents & POLLIN) {
      uint64_t v;
      if (read(event_fd_, &v, sizeof v) < 0) {
      }
    }
    if (p[2].revents) {
      if (!sub_.ReadAvailable(true, &got, &why) || !Handle(&got, &why)) {
        got.clear();
        Lose("the invalidation connection: " + why);
      }
    }
  }
}

}  // namespace redis
}  // namespace libcache
