// One connection to Redis over hiredis's synchronous context, with every
// exchange bounded by a deadline and no SIGPIPE.
//
// hiredis 0.14 writes with write(2) (redisBufferWrite), which raises SIGPIPE
// on a connection the server closed. This class never lets hiredis write: it
// formats commands itself (RESP2) and sends them with send(MSG_NOSIGNAL), so
// no signal is raised in any thread that uses it, the adapter's or the
// caller's, and no signal mask is touched. hiredis only parses replies: after
// poll(2) says the socket is readable, redisBufferRead reads once and
// redisGetReplyFromReader takes the replies. Every wait is a poll with the
// time left to the exchange's deadline, so an exchange never outlives it; the
// socket timeouts (redisSetTimeout) are set too, as a second guard.
//
// After a failed exchange (I/O error, EOF, timeout, a malformed reply) the
// connection is closed at once: a reply that arrives late can never be taken
// for the answer to a later command.
//
// A wait may also watch an abort fd (an eventfd that a closing adapter makes
// readable): the exchange then fails at once, so that the thread that runs it
// stops promptly (coherence.h). Send and ReadAvailable serve a connection
// whose replies are not one per command (the subscription: pushed messages).
#ifndef LIBCACHE_REDIS_SRC_CONNECTION_H_
#define LIBCACHE_REDIS_SRC_CONNECTION_H_

#include <hiredis/hiredis.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "redis/src/url.h"

namespace libcache {
namespace redis {

using Clock = std::chrono::steady_clock;

struct ReplyDeleter {
  void operator()(redisReply *r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

// Appends commands to a pipeline buffer in RESP2.
class CommandBuffer {
 public:
  void Begin(int argc);  // then argc calls of Arg
  void Arg(const void *data, size_t len);
  void Arg(const std::string &s) { Arg(s.data(), s.size()); }
  void Arg2(const std::string &a, const void *b, size_t blen);  // a + b as one argument
  void ArgNumber(int64_t v);
  // A whole command of string arguments.
  void Command(std::initializer_list<std::string> args);
  // Appends the whole commands of other.
  void Append(const CommandBuffer &other) {
    buf_ += other.buf_;
    commands_ += other.commands_;
  }

  const std::string &data() const { return buf_; }
  size_t commands() const { return commands_; }
  void Clear() {
    buf_.clear();
    commands_ = 0;
  }

 private:
  std::string buf_;
  size_t commands_ = 0;
};

class Connection {
 public:
  Connection() = default;
  ~Connection() { Close(); }
  Connection(const Connection &) = delete;
  Connection &operator=(const Connection &) = delete;

  // Connects to t within connect_ms (the socket's timeouts become command_ms).
  // False with *error set when it cannot; the connection stays closed.
  bool Connect(const Target &t, int64_t connect_ms, int64_t command_ms, std::string *error);

  // Sends cmds and reads cmds.commands() replies into *replies, all before
  // deadline. False with *error set (and the connection closed) on an I/O
  // error, EOF, timeout (*timed_out = true) or a protocol error.
  // abort_fd (-1: none): readable = give up now (closed, *error "stopped").
  bool Exchange(const CommandBuffer &cmds, Clock::time_point deadline, std::vector<Reply> *replies,
                std::string *error, bool *timed_out = nullptr, int abort_fd = -1);
  // Sends cmds before deadline without waiting for their replies (whatever
  // arrives meanwhile is buffered: ReadAvailable returns it). False with
  // *error set (and the connection closed) as Exchange.
  bool Send(const CommandBuffer &cmds, Clock::time_point deadline, std::string *error,
            int abort_fd = -1);
  // Appends to *replies every complete reply buffered, after one read of
  // what the socket holds when read is true (call it when poll(2) says the
  // fd is readable: it does not wait). False with *error set (and the
  // connection closed) on EOF, an I/O error or a malformed reply.
  bool ReadAvailable(bool read, std::vector<Reply> *replies, std::string *error);

  bool connected() const { return ctx_ != nullptr; }
  // True when an idle connection is readable (EOF: the server closed it;
  // or bytes nobody asked for) or failed: it cannot serve a command.
  bool PeerClosed() const;
  int fd() const { return ctx_ ? ctx_->fd : -1; }
  // The fd of the open socket is kept in *slot (-1 while closed), for a
  // forked child to close by number (RedisStore::Forked).
  void set_fork_slot(std::atomic<int> *slot) { fork_slot_ = slot; }
  void Close();  // frees the context, closing its socket
  // Forgets the context without closing its socket or freeing it (after
  // fork(), when the child has closed the fd by number already).
  void Abandon() { ctx_ = nullptr; }

 private:
  bool Fail(const std::string &what, std::string *error);
  // Sends all of out before deadline, buffering replies that arrive meanwhile.
  bool SendAll(const std::string &out, Clock::time_point deadline, std::string *error,
               bool *timed_out, int abort_fd);
  // Waits for events on the socket (or the abort fd) until deadline: 1 ready
  // (*revents set), 0 timed out, -1 failed (closed, *error set).
  int Wait(short events, Clock::time_point deadline, int abort_fd, short *revents,
           std::string *error);

  redisContext *ctx_ = nullptr;
  std::atomic<int> *fork_slot_ = nullptr;
};

// Milliseconds left until deadline (0 when past; capped at INT32_MAX).
int RemainingMs(Clock::time_point deadline);

}  // namespace redis
}  // namespace libcache

#endif  // LIBCACHE_REDIS_SRC_CONNECTION_H_
