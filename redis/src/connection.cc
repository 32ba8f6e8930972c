#include "redis/src/connection.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include <climits>

namespace libcache {
namespace redis {

int RemainingMs(Clock::time_point deadline) {
  auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  if (left <= 0) return 0;
  return left > INT_MAX ? INT_MAX : static_cast<int>(left);
}

namespace {

struct timeval ToTimeval(int64_t ms) {
  struct timeval tv;
  tv.tv_sec = static_cast<time_t>(ms / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms % 1000) * 1000);
  return tv;
}

}  // namespace

void CommandBuffer::Begin(int argc) {
  buf_ += '*';
  buf_ += std::to_string(argc);
  buf_ += "\r\n";
  ++commands_;
}

void CommandBuffer::Arg(const void *data, size_t len) {
  buf_ += '$';
  buf_ += std::to_string(len);
  buf_ += "\r\n";
  buf_.append(static_cast<const char *>(data), len);
  buf_ += "\r\n";
}

void CommandBuffer::Arg2(const std::string &a, const void *b, size_t blen) {
  buf_ += '$';
  buf_ += std::to_string(a.size() + blen);
  buf_ += "\r\n";
  buf_ += a;
  buf_.append(static_cast<const char *>(b), blen);
  buf_ += "\r\n";
}

void CommandBuffer::ArgNumber(int64_t v) { Arg(std::to_string(v)); }

void CommandBuffer::Command(std::initializer_list<std::string> args) {
  Begin(static_cast<int>(args.size()));
  for (const std::string &a : args) Arg(a);
}

bool Connection::Connect(const Target &t, int64_t connect_ms, int64_t command_ms,
                         std::string *error) {
  Close();
  struct timeval tv = ToTimeval(connect_ms);
  redisContext *c = t.unix_path.empty() ? redisConnectWithTimeout(t.host.c_str(), t.port, tv)
                                        : redisConnectUnixWithTimeout(t.unix_path.c_str(), tv);
  if (c == nullptr) {
    *error = "out of memory connecting to " + t.Describe();
    return false;
  }
  if (c->err) {
    *error = "cannot connect to " + t.Describe() + ": " + c->errstr;
    redisFree(c);
    return false;
  }
  ctx_ = c;
  // relaxed: see RedisStore::fork_fds_
  if (fork_slot_ != nullptr) fork_slot_->store(c->fd, std::memory_order_relaxed);
  if (redisSetTimeout(c, ToTimeval(command_ms)) != REDIS_OK) {
    return Fail("cannot set the socket timeouts of the connection to " + t.Describe(), error);
  }
  if (t.unix_path.empty()) redisEnableKeepAlive(c);  // a dead peer is found even when idle
  return true;
}

bool Connection::Fail(const std::string &what, std::string *error) {
  *error = what;
  Close();
  return false;
}

bool Connection::PeerClosed() const {
  if (ctx_ == nullptr) return true;
  struct pollfd p = {ctx_->fd, POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  return r != 0;
}

void Connection::Close() {
  if (ctx_ != nullptr) {
    if (fork_slot_ != nullptr) fork_slot_->store(-1, std::memory_order_relaxed);
    redisFree(ctx_);
    ctx_ = nullptr;
  }
}

int Connection::Wait(short events, Clock::time_point deadline, int abort_fd, short *revents,
                     std::string *error) {
  for (;;) {
    struct pollfd p[2] = {{ctx_->fd, events, 0}, {abort_fd, POLLIN, 0}};
    int ms = RemainingMs(deadline);
    if (ms == 0) return 0;
    int r = poll(p, abort_fd >= 0 ? 2 : 1, ms);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      Fail(std::string("poll failed: ") + strerror(errno), error);
      return -1;
    }
    if (r == 0) return 0;
    if (abort_fd >= 0 && (p[1].revents & POLLIN)) {
      Fail("stopped (the adapter is closing)", error);
      return -1;
    }
    *revents = p[0].revents;
    return 1;
  }
}

bool Connection::SendAll(const std::string &out, Clock::time_point deadline, std::string *error,
                         bool *timed_out, int abort_fd) {
  if (timed_out != nullptr) *timed_out = false;
  if (ctx_ == nullptr) {
    *error = "not connected";
    return false;
  }
  size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = send(ctx_->fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      return Fail(std::string("connection lost writing to Redis: ") + strerror(errno), error);
    }
    // The send buffer is full: wait for room, and take replies meanwhile so
    // that neither side waits for the other.
    short revents = 0;
    int w = Wait(POLLOUT | POLLIN, deadline, abort_fd, &revents, error);
    if (w < 0) return false;
    if (w == 0) {
      if (timed_out != nullptr) *timed_out = true;
      return Fail("timed out writing to Redis", error);
    }
    if ((revents & POLLIN) && redisBufferRead(ctx_) != REDIS_OK) {
      return Fail(std::string("connection lost reading from Redis: ") + ctx_->errstr, error);
    }
    if (revents & (POLLERR | POLLNVAL)) return Fail("connection lost writing to Redis", error);
  }
  return true;
}

bool Connection::Send(const CommandBuffer &cmds, Clock::time_point deadline, std::string *error,
                      int abort_fd) {
  return SendAll(cmds.data(), deadline, error, nullptr, abort_fd);
}

bool Connection::ReadAvailable(bool read, std::vector<Reply> *replies, std::string *error) {
  if (ctx_ == nullptr) {
    *error = "not connected";
    return false;
  }
  if (read && redisBufferRead(ctx_) != REDIS_OK) {
    return Fail(std::string("connection lost reading from Redis: ") + ctx_->errstr, error);
  }
  for (;;) {
    void *reply = nullptr;
    if (redisGetReplyFromReader(ctx_, &reply) != REDIS_OK) {
      return Fail(std::string("malformed reply from Redis: ") + ctx_->errstr, error);
    }
    if (reply == nullptr) return true;
    replies->emplace_back(static_cast<redisReply *>(reply));
  }
}

bool Connection::Exchange(const CommandBuffer &cmds, Clock::time_point deadline,
                          std::vector<Reply> *replies, std::string *error, bool *timed_out,
                          int abort_fd) {
  replies->clear();
  if (!SendAll(cmds.data(), deadline, error, timed_out, abort_fd)) return false;
  replies->reserve(cmds.commands());
  while (replies->size() < cmds.commands()) {
    void *reply = nullptr;
    if (redisGetReplyFromReader(ctx_, &reply) != REDIS_OK) {
      return Fail(std::string("malformed reply from Redis: ") + ctx_->errstr, error);
    }
    if (reply != nullptr) {
      replies->emplace_back(static_cast<redisReply *>(reply));
      continue;
    }
    short revents = 0;
    int w = Wait(POLLIN, deadline, abort_fd, &revents, error);
    if (w < 0) return false;
    if (w == 0) {
      if (timed_out != nullptr) *timed_out = true;
      return Fail("timed out waiting for Redis", error);
    }
    if (redisBufferRead(ctx_) != REDIS_OK) {
      return Fail(std::string("connection lost reading from Redis: ") + ctx_->errstr, error);
    }
  }
  return true;
}

}  // namespace redis
}  // namespace libcache
