// Near-cache coherence across processes: 3 coherence_worker processes, each
// with its own cache and adapter on one Redis and one prefix, run a seeded
// random mix of write-behind sets (with and without TTL), deletes, touches,
// write-through set_sync / delete_sync and reads over 1000 keys, while this
// test kills Redis (kill -9, restart on the same port), CLIENT KILLs the
// invalidation connections and the writers (the tracking clients), runs
// FLUSHALL and pauses Redis (SIGSTOP / SIGCONT), in a seeded order.
//
// Then: the workers stop writing and flush; once every worker reports
// tracking up and no invalidation message arrived for a while (quiescence),
// every worker's view of every key (cache_get: its local copy or
// read-through) equals Redis's GET; a mismatch is reported with each
// worker's last operations on the key. While they ran, no worker returned an
// older version of a v key than one it had returned (coherence_worker.cc).
//
// 3 seeds by default (a few seconds each); LIBCACHE_COHERENCE_SEEDS=N runs
// N, LIBCACHE_COHERENCE_SEED=S starts at S.
#include <gtest/gtest.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/redis/redis_server.h"

extern char **environ;

namespace {

using libcache_test::RedisServer;
using libcache_test::Reply;
using Clock = std::chrono::steady_clock;

constexpr int kWorkers = 3;
constexpr char kPrefix[] = "m:";

#if defined(LIBCACHE_TEST_SANITIZED)
constexpr int kTimeScale = 3;  // sanitized workers are slower
#else
constexpr int kTimeScale = 1;
#endif

void SleepMs(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

class Worker {
 public:
  Worker(const std::string &url, uint32_t seed, int id) : id_(id) {
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) return;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    std::string seed_s = std::to_string(seed), id_s = std::to_string(id);
    std::vector<std::string> args = {LIBCACHE_COHERENCE_WORKER, url, kPrefix, seed_s, id_s};
    std::vector<char *> argv;
    for (std::string &a : args) argv.push_back(&a[0]);
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  ~Worker() {
    if (to_ >= 0) close(to_);  // EOF: the worker closes its cache and exits
    if (from_ >= 0) close(from_);
    if (pid_ > 0) {
      int status;
      for (int i = 0; i < 1000 && waitpid(pid_, &status, WNOHANG) == 0; ++i) SleepMs(10);
      if (waitpid(pid_, &status, WNOHANG) == 0) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
    }
  }
  bool ok() const { return pid_ > 0; }
  // Sends quit and returns the exit status (a sanitizer's report at exit,
  // a crash: nonzero), or -1 if it did not exit within 30 s.
  int Quit() {
    Send("quit");
    close(to_);
    to_ = -1;
    int status = 0;
    for (int i = 0; i < 3000; ++i) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      SleepMs(10);
    }
    return -1;
  }
  int id() const { return id_; }

  void Send(const std::string &line) {
    std::string l = line + "\n";
    if (write(to_, l.data(), l.size()) != static_cast<ssize_t>(l.size())) {
      ADD_FAILURE() << "worker " << id_ << ": cannot write " << line;
    }
  }
  // The next line, or "<timeout>" / "<eof>".
  std::string ReadLine(int timeout_ms = 60000) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
      size_t nl = buf_.find('\n');
      if (nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count());
      if (left <= 0) return "<timeout>";
      struct pollfd p = {from_, POLLIN, 0};
      int r = poll(&p, 1, left);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) return "<timeout>";
      char chunk[65536];
      ssize_t n = read(from_, chunk, sizeof chunk);
      if (n <= 0) return "<eof>";
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }
  std::string Ask(const std::string &line, int timeout_ms = 60000) {
    Send(line);
    return ReadLine(timeout_ms);
  }
  // "status tracking=1 resets=2 ..." -> {"tracking": 1, ...}
  std::map<std::string, long long> Status() {
    std::map<std::string, long long> m;
    std::istringstream in(Ask("status", 10000));
    std::string word;
    while (in >> word) {
      size_t eq = word.find('=');
      if (eq != std::string::npos) m[word.substr(0, eq)] = atoll(word.c_str() + eq + 1);
    }
    return m;
  }
  std::map<std::string, std::string> Dump() {
    std::map<std::string, std::string> view;
    Send("dump");
    for (;;) {
      std::string line = ReadLine();
      if (line == "end" || line[0] == '<') break;
      size_t sp = line.find(' ');
      view[line.substr(0, sp)] = line.substr(sp + 1);
    }
    return view;
  }

 private:
  int id_;
  pid_t pid_ = -1;
  int to_ = -1, from_ = -1;
  std::string buf_;
};

std::vector<std::string> AllKeys() {
  std::vector<std::string> keys;
  for (int i = 0; i < 1000; ++i) keys.push_back("k" + std::to_string(i));
  for (int i = 0; i < 50; ++i) keys.push_back("v" + std::to_string(i));
  return keys;
}

class CoherenceMultiTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }

  // The tracking clients (writers) of every worker.
  void KillWriters() {
    std::string all;
    Reply r = server_.Cmd({"CLIENT", "LIST"});
    if (r == nullptr || r->type != REDIS_REPLY_STRING) return;
    all.assign(r->str, r->len);
    std::istringstream in(all);
    std::string line;
    while (std::getline(in, line)) {
      size_t f = line.find(" flags=");
      if (f == std::string::npos) continue;
      std::string flags = line.substr(f + 7, line.find(' ', f + 1) - f - 7);
      if (flags.find('t') == std::string::npos) continue;
      server_.Cmd({"CLIENT", "KILL", "ID", line.substr(3, line.find(' ') - 3)});
    }
  }

  void RunSeed(uint32_t seed);

  RedisServer server_;
};

void CoherenceMultiTest::RunSeed(uint32_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  ASSERT_EQ(server_.Cmd({"FLUSHALL"})->type, REDIS_REPLY_STATUS);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < kWorkers; ++i) {
    workers.push_back(std::make_unique<Worker>(server_.url(), seed, i));
    ASSERT_TRUE(workers.back()->ok());
  }
  for (auto &w : workers) ASSERT_EQ(w->Ask("run", 30000), "running") << "worker " << w->id();
  std::mt19937 rng(seed);
  std::vector<int> faults = {0, 1, 2, 3, 4};
  std::shuffle(faults.begin(), faults.end(), rng);
  std::string order;
  for (int f : faults) {
    SleepMs((200 + static_cast<int>(rng() % 300)) * kTimeScale);
    switch (f) {
      case 0:
        order += "kill-subscriptions ";
        server_.Cmd({"CLIENT", "KILL", "TYPE", "pubsub"});
        break;
      case 1:
        order += "kill-writers ";
        KillWriters();
        break;
      case 2:
        order += "flushall ";
        server_.Cmd({"FLUSHALL"});
        break;
      case 3:
        order += "pause ";
        server_.Pause();
        SleepMs(300);
        server_.Resume();
        break;
      case 4:
        order += "kill-9-restart ";
        server_.Kill9();
        ASSERT_TRUE(server_.Start());
        break;
    }
  }
  SleepMs(300 * kTimeScale);  // writes on the last fault's aftermath
  // Stop writing, flush (all at once).
  for (auto &w : workers) w->Send("stop");
  for (auto &w : workers) ASSERT_EQ(w->ReadLine(), "stopped 0") << "worker " << w->id();
  auto flushed = Clock::now();
  // Quiescence: every worker tracking, and no message for 3 polls in a row.
  long long last_total = -1;
  int quiet = 0;
  std::vector<std::map<std::string, long long>> st(kWorkers);
  while (quiet < 3 && Clock::now() - flushed < std::chrono::seconds(60)) {
    long long total = 0;
    bool tracking = true;
    for (int i = 0; i < kWorkers; ++i) {
      st[i] = workers[i]->Status();
      tracking = tracking && st[i]["tracking"] == 1;
      total += st[i]["messages"];
    }
    quiet = tracking && total == last_total ? quiet + 1 : 0;
    last_total = total;
    if (quiet < 3) SleepMs(100);
  }
  ASSERT_EQ(quiet, 3) << "the workers did not settle: tracking down, or messages still arriving";
  double settle_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - flushed).count() - 300;
  // Every worker's view equals Redis, key by key.
  std::vector<std::string> keys = AllKeys();
  std::vector<std::vector<std::string>> gets;
  for (const std::string &k : keys) gets.push_back({"GET", kPrefix + k});
  std::vector<Reply> redis = server_.Pipeline(gets);
  ASSERT_EQ(redis.size(), keys.size());
  int absent = 0;
  for (auto &w : workers) {
    std::map<std::string, std::string> view = w->Dump();
    int mismatches = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
      const Reply &r = redis[i];
      std::string want = r->type == REDIS_REPLY_NIL ? "-" : std::string(r->str, r->len);
      if (w->id() == 0 && want == "-") ++absent;
      if (view[keys[i]] != want && ++mismatches <= 10) {
        std::string history;
        for (auto &o : workers) {
          if (keys[i][0] != 'k') break;
          o->Send("history " + keys[i]);
          history += "\n worker " + std::to_string(o->id()) + ":";
          for (std::string l = o->ReadLine(5000); l[0] == ' '; l = o->ReadLine(5000)) {
            history += "\n" + l;
          }
        }
        ADD_FAILURE() << "worker " << w->id() << " " << keys[i] << ": " << view[keys[i]]
                      << ", Redis " << want << history;
      }
    }
    EXPECT_EQ(mismatches, 0) << "worker " << w->id() << " (faults: " << order << ")";
    std::string v = w->Ask("violations");
    EXPECT_EQ(v, "violations 0") << "worker " << w->id();
    if (v != "violations 0") {
      for (std::string l = w->ReadLine(200); l[0] == ' '; l = w->ReadLine(200)) ADD_FAILURE() << l;
    }
  }
  long long sync_timeouts = 0, conflicts = 0;
  for (auto &m : st) {
    sync_timeouts += m["sync_timeouts"];
    conflicts += m["conflicts"];
  }
  printf("seed %u: faults %s| resets per worker %lld %lld %lld | %lld sync writes timed out, "
         "%lld conflicts | settled %.0f ms after the flush | %d of %zu keys absent\n",
         seed, order.c_str(), st[0]["resets"], st[1]["resets"], st[2]["resets"], sync_timeouts,
         conflicts, settle_ms, absent, keys.size());
  // The faults were seen (the subscription kill, the writer kill, the pause
  // and the restart each reset every worker, unless one came while a worker
  // was still re-establishing after another).
  for (int i = 0; i < kWorkers; ++i) EXPECT_GE(st[i]["resets"], 2) << "worker " << i;
  for (auto &w : workers) EXPECT_EQ(w->Quit(), 0) << "worker " << w->id() << " exit status";
}

TEST_F(CoherenceMultiTest, AfterQuiescenceEveryProcessSeesWhatRedisHolds) {
  int seeds = 3;
  uint32_t first = 1;
  if (const char *e = getenv("LIBCACHE_COHERENCE_SEEDS")) seeds = std::max(1, atoi(e));
  if (const char *e = getenv("LIBCACHE_COHERENCE_SEED")) first = static_cast<uint32_t>(atoi(e));
  for (int s = 0; s < seeds && !HasFatalFailure(); ++s) RunSeed(first + static_cast<uint32_t>(s));
}

}  // namespace
