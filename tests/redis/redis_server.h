// A real redis-server for tests: started on a free loopback port (and a unix
// socket) in a temporary directory, with
//   --save '' --appendonly yes --appendfsync always --enable-debug-command local
// so that what it acknowledged survives kill -9. It can be stopped, killed
// (-9), paused (SIGSTOP) and resumed, and restarted on the same port and
// directory. The destructor stops it and removes the directory, so a test that
// fails still leaves no server behind; the server also gets SIGKILL if the
// test process dies (PR_SET_PDEATHSIG).
//
// Start servers from the test's main thread (the death signal is tied to the
// thread that forked).
#ifndef LIBCACHE_TESTS_REDIS_REDIS_SERVER_H_
#define LIBCACHE_TESTS_REDIS_REDIS_SERVER_H_

#include <hiredis/hiredis.h>
#include <sys/types.h>

#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace libcache_test {

struct ReplyFree {
  void operator()(redisReply *r) const {
    if (r != nullptr) freeReplyObject(r);
  }
};
using Reply = std::unique_ptr<redisReply, ReplyFree>;

class RedisServer {
 public:
  RedisServer();
  ~RedisServer();
  RedisServer(const RedisServer &) = delete;
  RedisServer &operator=(const RedisServer &) = delete;

  // Starts the server (a free port the first time, the same port and
  // directory after) and waits until it answers PING with PONG (after
  // loading its AOF). False when it could not (the reason on stderr).
  bool Start();
  void Stop();    // SHUTDOWN-like: SIGTERM (SIGCONT first if paused), wait
  void Kill9();   // SIGKILL, wait
  void Pause();   // SIGSTOP
  void Resume();  // SIGCONT
  bool Restart() {
    Stop();
    return Start();
  }
  bool running() const { return pid_ > 0; }

  int port() const { return port_; }
  const std::string &dir() const { return dir_; }
  std::string unix_path() const { return dir_ + "/redis.sock"; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

  // A command on the admin connection (reconnected when needed; 10 s
  // timeout). NULL when the server does not answer.
  Reply Cmd(std::initializer_list<std::string> args);
  Reply CmdArgv(const std::vector<std::string> &args);
  // Many commands pipelined on the admin connection; empty on an I/O error.
  std::vector<Reply> Pipeline(const std::vector<std::vector<std::string>> &cmds);

  // Sends DEBUG SLEEP seconds on a connection of its own and returns once the
  // server is asleep (a PING on another connection goes unanswered).
  bool SleepFor(double seconds);
  // Waits for the reply of the last SleepFor (the server is awake again).
  void WaitAwake();

 private:
  bool Spawn();
  bool WaitReady();
  void Reap();
  redisContext *Admin();

  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool paused_ = false;
  redisContext *admin_ = nullptr;
  redisContext *sleeper_ = nullptr;
};

// Now on the wall clock (CLOCK_REALTIME), in ms since the Unix epoch.
int64_t WallMs();

}  // namespace libcache_test

#endif  // LIBCACHE_TESTS_REDIS_REDIS_SERVER_H_
