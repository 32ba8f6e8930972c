#include "tests/redis/redis_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <thread>

namespace libcache_test {
namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len) == 0) {
    port = ntohs(a.sin_port);
  }
  close(fd);
  return port;
}

redisContext *ConnectTo(int port, int timeout_ms) {
  struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c == nullptr) return nullptr;
  if (c->err) {
    redisFree(c);
    return nullptr;
  }
  redisSetTimeout(c, tv);
  return c;
}

}  // namespace

int64_t WallMs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

RedisServer::RedisServer() {
  // SIGPIPE may not kill the test: the adapter must not raise it, and the
  // harness's own hiredis writes could.
  signal(SIGPIPE, SIG_IGN);
  const char *tmp = getenv("TMPDIR");
  std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/libcache-redis-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) != nullptr) dir_ = buf.data();
}

RedisServer::~RedisServer() {
  if (sleeper_ != nullptr) redisFree(sleeper_);
  sleeper_ = nullptr;
  Stop();
  if (!dir_.empty()) {
    std::string cmd = "rm -rf '" + dir_ + "'";
    if (system(cmd.c_str()) != 0) fprintf(stderr, "could not remove %s\n", dir_.c_str());
  }
}

bool RedisServer::Spawn() {
  std::string port = std::to_string(port_);
  std::string sock = unix_path();
  std::string log = dir_ + "/redis.log";
  std::vector<std::string> args = {"redis-server",
                                   "--port",
                                   port,
                                   "--bind",
                                   "127.0.0.1",
                                   "--dir",
                                   dir_,
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "yes",
                                   "--appendfsync",
                                   "always",
                                   "--enable-debug-command",
                                   "local",
                                   "--unixsocket",
                                   sock,
                                   "--unixsocketperm",
                                   "700",
                                   "--daemonize",
                                   "no",
                                   "--logfile",
                                   log};
  std::vector<char *> argv;
  for (std::string &a : args) argv.push_back(&a[0]);
  argv.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execvp("redis-server", argv.data());
    _exit(127);
  }
  pid_ = pid;
  paused_ = false;
  return true;
}

bool RedisServer::WaitReady() {
  for (int i = 0; i < 1000; ++i) {  // up to about 10 s
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;  // exited (port taken?)
    }
    redisContext *c = ConnectTo(port_, 200);
    if (c != nullptr) {
      redisReply *r = static_cast<redisReply *>(redisCommand(c, "PING"));
      bool pong = r != nullptr && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
      if (r != nullptr) freeReplyObject(r);
      redisFree(c);
      if (pong) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

bool RedisServer::Start() {
  if (pid_ > 0) return true;
  if (dir_.empty()) return false;
  bool fresh = port_ == 0;
  for (int attempt = 0; attempt < (fresh ? 5 : 20); ++attempt) {
    if (fresh) port_ = FreePort();
    if (port_ == 0 || !Spawn()) continue;
    if (WaitReady()) return true;
    Kill9();
    if (!fresh) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  fprintf(stderr, "redis-server did not start on port %d (see %s/redis.log)\n", port_,
          dir_.c_str());
  return false;
}

void RedisServer::Reap() {
  if (pid_ <= 0) return;
  for (int i = 0; i < 1000; ++i) {  // up to 10 s, then SIGKILL
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  int status;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

void RedisServer::Stop() {
  if (pid_ <= 0) return;
  if (admin_ != nullptr) {
    redisFree(admin_);
    admin_ = nullptr;
  }
  kill(pid_, SIGTERM);
  if (paused_) kill(pid_, SIGCONT);
  paused_ = false;
  Reap();
}

void RedisServer::Kill9() {
  if (pid_ <= 0) return;
  if (admin_ != nullptr) {
    redisFree(admin_);
    admin_ = nullptr;
  }
  kill(pid_, SIGKILL);
  paused_ = false;
  Reap();
}

void RedisServer::Pause() {
  if (pid_ > 0 && kill(pid_, SIGSTOP) == 0) paused_ = true;
}

void RedisServer::Resume() {
  if (pid_ > 0 && kill(pid_, SIGCONT) == 0) paused_ = false;
}

redisContext *RedisServer::Admin() {
  if (admin_ != nullptr && admin_->err) {
    redisFree(admin_);
    admin_ = nullptr;
  }
  if (admin_ == nullptr) admin_ = ConnectTo(port_, 10000);
  return admin_;
}

Reply RedisServer::CmdArgv(const std::vector<std::string> &args) {
  std::vector<Reply> r = Pipeline({args});
  if (r.empty()) return nullptr;
  return std::move(r[0]);
}

Reply RedisServer::Cmd(std::initializer_list<std::string> args) {
  return CmdArgv(std::vector<std::string>(args));
}

std::vector<Reply> RedisServer::Pipeline(const std::vector<std::vector<std::string>> &cmds) {
  std::vector<Reply> out;
  redisContext *c = Admin();
  if (c == nullptr) return out;
  for (const auto &cmd : cmds) {
    std::vector<const char *> argv;
    std::vector<size_t> lens;
    for (const std::string &a : cmd) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(), lens.data());
  }
  for (size_t i = 0; i < cmds.size(); ++i) {
    void *r = nullptr;
    if (redisGetReply(c, &r) != REDIS_OK) {
      out.clear();
      return out;
    }
    out.emplace_back(static_cast<redisReply *>(r));
  }
  return out;
}

bool RedisServer::SleepFor(double seconds) {
  WaitAwake();
  sleeper_ = ConnectTo(port_, 1000);
  if (sleeper_ == nullptr) return false;
  char arg[32];
  snprintf(arg, sizeof arg, "%.3f", seconds);
  redisAppendCommand(sleeper_, "DEBUG SLEEP %s", arg);
  int done = 0;
  while (!done) {
    if (redisBufferWrite(sleeper_, &done) != REDIS_OK) return false;
  }
  // Asleep once a PING sent after it goes unanswered for a while.
  for (int i = 0; i < 100; ++i) {
    redisContext *probe = ConnectTo(port_, 1000);
    if (probe == nullptr) return false;
    redisAppendCommand(probe, "PING");
    done = 0;
    while (!done) redisBufferWrite(probe, &done);
    struct pollfd p = {probe->fd, POLLIN, 0};
    int r = poll(&p, 1, 100);
    redisFree(probe);
    if (r == 0) return true;
  }
  return false;
}

void RedisServer::WaitAwake() {
  if (sleeper_ == nullptr) return;
  redisSetTimeout(sleeper_, {60, 0});
  void *r = nullptr;
  if (redisGetReply(sleeper_, &r) == REDIS_OK && r != nullptr) {
    freeReplyObject(static_cast<redisReply *>(r));
  }
  redisFree(sleeper_);
  sleeper_ = nullptr;
}

}  // namespace libcache_test
