// The Redis store alone (redis/src/redis_store.h), against a real
// redis-server: the commands each operation becomes, per-operation statuses,
// AUTH, SELECT, unix sockets, URLs, timeouts, reconnects and fencing.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "redis/src/redis_store.h"
#include "redis/src/url.h"
#include "tests/redis/redis_server.h"
#include "tests/redis/tcp_proxy.h"

namespace {

using libcache::redis::ParseUrl;
using libcache::redis::RedisStore;
using libcache::redis::StoreConfig;
using libcache::redis::Target;
using libcache_test::RedisServer;
using libcache_test::Reply;
using libcache_test::WallMs;

// The bytes of the operations' keys and values, kept for the whole test
// program (an operation only points at them). Main thread only.
const std::string &Keep(const std::string &s) {
  static std::deque<std::string> *kept = new std::deque<std::string>;
  kept->push_back(s);
  return kept->back();
}

cache_store_op_t Put(const std::string &key, const std::string &val, int64_t expire_at_ms = 0) {
  const std::string &k = Keep(key), &v = Keep(val);
  cache_store_op_t op = {};
  op.kind = CACHE_STORE_PUT;
  op.key = k.data();
  op.klen = k.size();
  op.value = v.data();
  op.vlen = v.size();
  op.expire_at_ms = expire_at_ms;
  return op;
}
cache_store_op_t Del(const std::string &key) {
  const std::string &k = Keep(key);
  cache_store_op_t op = {};
  op.kind = CACHE_STORE_DELETE;
  op.key = k.data();
  op.klen = k.size();
  return op;
}
cache_store_op_t Expire(const std::string &key, int64_t expire_at_ms) {
  const std::string &k = Keep(key);
  cache_store_op_t op = {};
  op.kind = CACHE_STORE_EXPIRE;
  op.key = k.data();
  op.klen = k.size();
  op.expire_at_ms = expire_at_ms;
  return op;
}

std::unique_ptr<RedisStore> MakeStore(const std::string &url, const std::string &prefix = "",
                                      int64_t connect_ms = 2000, int64_t command_ms = 2000) {
  StoreConfig c;
  std::string error;
  EXPECT_TRUE(ParseUrl(url, &c.target, &error)) << error;
  c.prefix = prefix;
  c.connect_ms = connect_ms;
  c.command_ms = command_ms;
  return std::make_unique<RedisStore>(c);
}

struct Loaded {
  int calls = 0;
  std::string value;
  int64_t ttl = -5;
};
void OnValue(void *ctx, const void *v, size_t n, int64_t ttl) {
  Loaded *l = static_cast<Loaded *>(ctx);
  ++l->calls;
  l->value.assign(static_cast<const char *>(v), n);
  l->ttl = ttl;
}

std::string Str(const Reply &r) {
  if (r == nullptr) return "<no reply>";
  if (r->type == REDIS_REPLY_NIL) return "<nil>";
  if (r->type == REDIS_REPLY_INTEGER) return std::to_string(r->integer);
  return std::string(r->str, r->len);
}
long long Int(const Reply &r) {
  return r != nullptr && r->type == REDIS_REPLY_INTEGER ? r->integer : -999;
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(server_.Start()); }
  RedisServer server_;
};

TEST_F(StoreTest, PutSetsValueAndAbsoluteExpiry) {
  auto store = MakeStore(server_.url());
  int64_t at = WallMs() + 60000;
  std::vector<cache_store_op_t> ops = {Put("a", "1", at), Put("b", "2")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK) << store->last_error();
  EXPECT_EQ(ops[0].status, CACHE_OK);
  EXPECT_EQ(ops[1].status, CACHE_OK);
  EXPECT_EQ(Str(server_.Cmd({"GET", "a"})), "1");
  EXPECT_EQ(Int(server_.Cmd({"PEXPIRETIME", "a"})), at);  // exactly the local deadline
  EXPECT_EQ(Str(server_.Cmd({"GET", "b"})), "2");
  EXPECT_EQ(Int(server_.Cmd({"PTTL", "b"})), -1);
  // A resend of the same batch leaves the same absolute expiry (idempotent).
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  EXPECT_EQ(Int(server_.Cmd({"PEXPIRETIME", "a"})), at);
}

TEST_F(StoreTest, PutWithoutExpiryClearsAnOlderTtl) {
  auto store = MakeStore(server_.url());
  std::vector<cache_store_op_t> ops = {Put("k", "old", WallMs() + 60000), Put("k", "new")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "new");
  EXPECT_EQ(Int(server_.Cmd({"PTTL", "k"})), -1);
}

TEST_F(StoreTest, BinaryKeysAndValues) {
  auto store = MakeStore(server_.url());
  std::string k("k\0\r\n$*", 6), v("\0\1\2\r\n", 5);
  std::vector<cache_store_op_t> ops = {Put(k, v)};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  EXPECT_EQ(Str(server_.CmdArgv({"GET", k})), v);
  Loaded l;
  ASSERT_EQ(store->Load(k.data(), k.size(), 1000, OnValue, &l), CACHE_OK);
  EXPECT_EQ(l.value, v);
}

TEST_F(StoreTest, DeleteAndExpireAndPersist) {
  auto store = MakeStore(server_.url());
  server_.Cmd({"SET", "gone", "x"});
  server_.Cmd({"SET", "ttl", "x"});
  server_.Cmd({"SET", "keep", "x", "PX", "60000"});
  int64_t at = WallMs() + 30000;
  std::vector<cache_store_op_t> ops = {Del("gone"), Del("never-there"), Expire("ttl", at),
                                       Expire("keep", 0), Expire("absent", at)};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  for (const auto &op : ops) EXPECT_EQ(op.status, CACHE_OK);
  EXPECT_EQ(Int(server_.Cmd({"EXISTS", "gone"})), 0);
  EXPECT_EQ(Int(server_.Cmd({"PEXPIRETIME", "ttl"})), at);
  EXPECT_EQ(Int(server_.Cmd({"PTTL", "keep"})), -1);
  EXPECT_EQ(Int(server_.Cmd({"EXISTS", "absent"})), 0);
}

TEST_F(StoreTest, PerKeyOrderWithinABatch) {
  auto store = MakeStore(server_.url());
  std::vector<cache_store_op_t> ops = {Put("k", "1"), Del("k"), Put("k", "3"), Put("j", "1"),
                                       Del("j")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "3");
  EXPECT_EQ(Int(server_.Cmd({"EXISTS", "j"})), 0);
}

TEST_F(StoreTest, PrefixOnEveryKey) {
  auto store = MakeStore(server_.url(), "app:");
  std::vector<cache_store_op_t> ops = {Put("a", "1"), Put("b", "2"), Del("b"),
                                       Expire("a", WallMs() + 50000)};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  EXPECT_EQ(Str(server_.Cmd({"GET", "app:a"})), "1");
  EXPECT_GT(Int(server_.Cmd({"PTTL", "app:a"})), 0);
  EXPECT_EQ(Int(server_.Cmd({"EXISTS", "a"})), 0);
  EXPECT_EQ(Int(server_.Cmd({"DBSIZE"})), 1);
  server_.Cmd({"SET", "app:c", "3"});
  server_.Cmd({"SET", "c", "wrong"});
  Loaded l;
  ASSERT_EQ(store->Load("c", 1, 1000, OnValue, &l), CACHE_OK);
  EXPECT_EQ(l.value, "3");
}

TEST_F(StoreTest, LoadGivesValueAndRemainingTtl) {
  auto store = MakeStore(server_.url());
  server_.Cmd({"SET", "t", "v", "PX", "50000"});
  server_.Cmd({"SET", "p", "w"});
  Loaded l;
  ASSERT_EQ(store->Load("t", 1, 1000, OnValue, &l), CACHE_OK) << store->last_error();
  EXPECT_EQ(l.calls, 1);
  EXPECT_EQ(l.value, "v");
  EXPECT_GT(l.ttl, 0);
  EXPECT_LE(l.ttl, 50000);
  Loaded p;
  ASSERT_EQ(store->Load("p", 1, 1000, OnValue, &p), CACHE_OK);
  EXPECT_EQ(p.ttl, -1);
  Loaded none;
  EXPECT_EQ(store->Load("absent", 6, 1000, OnValue, &none), CACHE_NOT_FOUND);
  EXPECT_EQ(none.calls, 0);
  server_.Cmd({"HSET", "hash", "f", "v"});  // not a string: refused, not a value
  EXPECT_EQ(store->Load("hash", 4, 1000, OnValue, &none), CACHE_E_IO);
  EXPECT_EQ(none.calls, 0);
}

TEST_F(StoreTest, ConcurrentLoadsShareAFewConnections) {
  auto store = MakeStore(server_.url());
  server_.Cmd({"SET", "k", "v"});
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        Loaded l;
        if (store->Load("k", 1, 5000, OnValue, &l) == CACHE_OK && l.value == "v") ++ok;
      }
    });
  }
  for (auto &t : threads) t.join();
  EXPECT_EQ(ok.load(), 8 * 200);
  EXPECT_LE(store->counters().connects, static_cast<uint64_t>(RedisStore::kMaxLoadConnections));
}

TEST_F(StoreTest, RejectedOperationsGetTheReplyAndTheRestApplies) {
  // An ACL user that may write only keys under ok:.
  ASSERT_EQ(Str(server_.Cmd({"ACL", "SETUSER", "limited", "on", ">s3cret", "~ok:*", "+@all"})),
            "OK");
  auto store = MakeStore("redis://limited:s3cret@127.0.0.1:" + std::to_string(server_.port()));
  std::vector<cache_store_op_t> ops = {Put("ok:a", "1"), Put("no:b", "2"), Del("no:c"),
                                       Put("ok:c", "3")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK) << store->last_error();
  EXPECT_EQ(ops[0].status, CACHE_OK);
  ASSERT_EQ(ops[1].status, CACHE_STORE_REJECTED);
  ASSERT_NE(ops[1].reason, nullptr);
  EXPECT_EQ(std::string(ops[1].reason).rfind("NOPERM", 0), 0u) << ops[1].reason;
  EXPECT_EQ(std::string(ops[1].reason).find("s3cret"), std::string::npos);
  EXPECT_EQ(ops[2].status, CACHE_STORE_REJECTED);
  EXPECT_EQ(ops[3].status, CACHE_OK);
  EXPECT_EQ(Str(server_.Cmd({"GET", "ok:a"})), "1");
  EXPECT_EQ(Str(server_.Cmd({"GET", "ok:c"})), "3");
  EXPECT_EQ(Int(server_.Cmd({"EXISTS", "no:b"})), 0);
}

TEST_F(StoreTest, AuthWithUserAndPercentEncodedPassword) {
  ASSERT_EQ(Str(server_.Cmd({"ACL", "SETUSER", "app", "on", ">p@ss/w:rd%", "~*", "+@all"})), "OK");
  std::string port = std::to_string(server_.port());
  auto store = MakeStore("redis://app:p%40ss%2Fw%3Ard%25@127.0.0.1:" + port);
  std::vector<cache_store_op_t> ops = {Put("k", "v")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK) << store->last_error();
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "v");

  // A wrong password: an I/O error that names neither the password nor the user.
  auto bad = MakeStore("redis://app:wrong-pw-xyz@127.0.0.1:" + port);
  std::string error;
  EXPECT_EQ(bad->Connect(&error), CACHE_E_IO);
  EXPECT_NE(error.find("refused AUTH"), std::string::npos) << error;
  EXPECT_EQ(error.find("wrong-pw-xyz"), std::string::npos) << error;
  EXPECT_EQ(bad->last_error().find("wrong-pw-xyz"), std::string::npos);
  EXPECT_EQ(bad->WriteBatch(ops.data(), ops.size()), CACHE_E_IO);
  EXPECT_EQ(bad->counters().connects, 0u);

  // Password only (the default user's requirepass).
  ASSERT_EQ(Str(server_.Cmd({"CONFIG", "SET", "requirepass", "topsecret"})), "OK");
  auto pw = MakeStore("redis://:topsecret@127.0.0.1:" + port);
  ASSERT_EQ(pw->WriteBatch(ops.data(), ops.size()), CACHE_OK) << pw->last_error();
  auto none = MakeStore(server_.url());
  EXPECT_EQ(none->Connect(&error), CACHE_E_IO);  // NOAUTH
  server_.Cmd({"CONFIG", "SET", "requirepass", ""});
}

TEST_F(StoreTest, AclUserWithoutClientKillIsRefusedAtConnect) {
  ASSERT_EQ(
      Str(server_.Cmd({"ACL", "SETUSER", "nokill", "on", ">pw", "~*", "+@all", "-client|kill"})),
      "OK");
  auto store = MakeStore("redis://nokill:pw@127.0.0.1:" + std::to_string(server_.port()));
  std::string error;
  EXPECT_EQ(store->Connect(&error), CACHE_E_IO);
  EXPECT_NE(error.find("CLIENT KILL"), std::string::npos) << error;
}

TEST_F(StoreTest, SelectDatabase) {
  auto store = MakeStore(server_.url() + "/3");
  std::vector<cache_store_op_t> ops = {Put("k", "in3")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  EXPECT_EQ(Int(server_.Cmd({"EXISTS", "k"})), 0);
  server_.Cmd({"SELECT", "3"});
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "in3");
  server_.Cmd({"SELECT", "0"});
  Loaded l;
  ASSERT_EQ(store->Load("k", 1, 1000, OnValue, &l), CACHE_OK);
  EXPECT_EQ(l.value, "in3");
  auto bad = MakeStore(server_.url() + "/99");  // databases 0..15
  std::string error;
  EXPECT_EQ(bad->Connect(&error), CACHE_E_IO);
  EXPECT_NE(error.find("SELECT 99"), std::string::npos) << error;
}

TEST_F(StoreTest, UnixSocketUrl) {
  auto store = MakeStore("unix://" + server_.unix_path() + "?db=2");
  std::vector<cache_store_op_t> ops = {Put("k", "sock")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK) << store->last_error();
  server_.Cmd({"SELECT", "2"});
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "sock");
  server_.Cmd({"SELECT", "0"});
}

TEST(UrlTest, GoodUrls) {
  Target t;
  std::string e;
  ASSERT_TRUE(ParseUrl("redis://localhost", &t, &e)) << e;
  EXPECT_EQ(t.host, "localhost");
  EXPECT_EQ(t.port, 6379);
  EXPECT_EQ(t.db, 0);
  EXPECT_FALSE(t.has_password);
  ASSERT_TRUE(ParseUrl("redis://u:p%3A%40@10.0.0.1:7000/5", &t, &e)) << e;
  EXPECT_EQ(t.user, "u");
  EXPECT_EQ(t.password, "p:@");
  EXPECT_EQ(t.host, "10.0.0.1");
  EXPECT_EQ(t.port, 7000);
  EXPECT_EQ(t.db, 5);
  ASSERT_TRUE(ParseUrl("redis://:only@h/", &t, &e)) << e;
  EXPECT_TRUE(t.user.empty());
  EXPECT_EQ(t.password, "only");
  ASSERT_TRUE(ParseUrl("redis://:pa@ss/word@h:1", &t, &e)) << e;  // the last '@' ends it
  EXPECT_EQ(t.password, "pa@ss/word");
  EXPECT_EQ(t.host, "h");
  ASSERT_TRUE(ParseUrl("redis://[::1]:6380/1", &t, &e)) << e;
  EXPECT_EQ(t.host, "::1");
  EXPECT_EQ(t.port, 6380);
  ASSERT_TRUE(ParseUrl("unix:///run/redis%20x.sock?db=4", &t, &e)) << e;
  EXPECT_EQ(t.unix_path, "/run/redis x.sock");
  EXPECT_EQ(t.db, 4);
  ASSERT_TRUE(ParseUrl("unix://u:pw@/s.sock", &t, &e)) << e;
  EXPECT_EQ(t.user, "u");
  EXPECT_EQ(t.unix_path, "/s.sock");
  EXPECT_EQ(t.Describe().find("pw"), std::string::npos);
}

TEST(UrlTest, BadUrlsSayWhatIsWrongWithoutTheCredentials) {
  const char *bad[] = {
      "",
      "http://h",
      "rediss://h",
      "redis://",
      "redis://:sekrit@",
      "redis://h:0",
      "redis://h:65536",
      "redis://h:",
      "redis://h:12ab",
      "redis://h/x",
      "redis://h/-1",
      "redis://h?db=1",
      "redis://user-only-sekrit@h",
      "redis://u:sekrit%4@h",
      "redis://u:sekrit%zz@h",
      "redis://u:@h",
      "redis://[::1",
      "redis://[::1]x",
      "redis://h st",
      "unix://",
      "unix://relative.sock",
      "unix:///s.sock?db=x",
      "unix:///s.sock?foo=1",
      "unix:///s%00.sock",
  };
  for (const char *url : bad) {
    Target t;
    std::string e;
    EXPECT_FALSE(ParseUrl(url, &t, &e)) << url;
    EXPECT_FALSE(e.empty()) << url;
    EXPECT_EQ(e.find("sekrit"), std::string::npos) << url << ": " << e;
  }
}

TEST_F(StoreTest, ConnectionRefusedIsAnIoErrorAndCounted) {
  int port = server_.port();
  server_.Stop();
  auto store = MakeStore("redis://127.0.0.1:" + std::to_string(port), "", 500, 500);
  std::vector<cache_store_op_t> ops = {Put("k", "v")};
  EXPECT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_E_IO);
  EXPECT_NE(store->last_error().find("cannot connect"), std::string::npos) << store->last_error();
  EXPECT_EQ(store->counters().connect_errors, 1u);
  Loaded l;
  EXPECT_EQ(store->Load("k", 1, 500, OnValue, &l), CACHE_E_IO);
  ASSERT_TRUE(server_.Start());
  EXPECT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK) << store->last_error();
}

// A listener whose accept queue is full: a connect to it hangs (SYNs are
// dropped), as to a host that does not answer.
class BlackHole {
 public:
  BlackHole() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bind(fd_, reinterpret_cast<sockaddr *>(&a), sizeof a);
    listen(fd_, 0);
    getsockname(fd_, reinterpret_cast<sockaddr *>(&a), &len);
    port_ = ntohs(a.sin_port);
    // Fill the queue (backlog 0 holds one, and a second may complete).
    for (int i = 0; i < 3; ++i) {
      int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      connect(c, reinterpret_cast<sockaddr *>(&a), sizeof a);
      fillers_.push_back(c);
    }
  }
  ~BlackHole() {
    for (int c : fillers_) close(c);
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1, port_ = 0;
  std::vector<int> fillers_;
};

TEST(StoreTimeoutTest, ConnectTimeoutToAHostThatDoesNotAnswer) {
  BlackHole hole;
  auto store = MakeStore("redis://127.0.0.1:" + std::to_string(hole.port()), "", 300, 300);
  std::vector<cache_store_op_t> ops = {Put("k", "v")};
  auto start = std::chrono::steady_clock::now();
  int rc = store->WriteBatch(ops.data(), ops.size());
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(rc, CACHE_E_IO) << store->last_error();
  // Bounded by connect + command timeouts (the generous slack is for loaded
  // machines; the point is that it returns at all).
  EXPECT_LT(took, std::chrono::seconds(5));
  Loaded l;
  start = std::chrono::steady_clock::now();
  rc = store->Load("k", 1, 300, OnValue, &l);
  EXPECT_TRUE(rc == CACHE_E_TIMEOUT || rc == CACHE_E_IO) << rc;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(StoreTest, CommandTimeoutWithDebugSleepReturnsAndReconnects) {
  auto store = MakeStore(server_.url(), "", 300, 300);
  std::vector<cache_store_op_t> ops = {Put("k", "v1")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  int64_t first_id = store->writer_client_id();
  ASSERT_TRUE(server_.SleepFor(3));
  auto start = std::chrono::steady_clock::now();
  ops = {Put("k", "v2")};
  EXPECT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_E_TIMEOUT);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
  Loaded l;
  start = std::chrono::steady_clock::now();
  EXPECT_EQ(store->Load("k", 1, 300, OnValue, &l), CACHE_E_TIMEOUT);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
  EXPECT_EQ(l.calls, 0);
  server_.WaitAwake();
  ops = {Put("k", "v3")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK) << store->last_error();
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "v3");
  EXPECT_NE(store->writer_client_id(), first_id);  // a new writer connection
}

TEST_F(StoreTest, ClientKillGivesAnIoErrorThenAReconnect) {
  auto store = MakeStore(server_.url());
  std::vector<cache_store_op_t> ops = {Put("k", "v1")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  int64_t id = store->writer_client_id();
  ASSERT_GT(id, 0);
  ASSERT_EQ(Int(server_.Cmd({"CLIENT", "KILL", "ID", std::to_string(id)})), 1);
  // SIGPIPE at its default action: a write to the killed connection must not
  // raise it (the test process would die).
  struct sigaction dfl = {}, old;
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGPIPE, &dfl, &old);
  std::string big(1 << 20, 'x');
  ops = {Put("k", big), Put("k", "v2")};
  int rc = store->WriteBatch(ops.data(), ops.size());
  sigaction(SIGPIPE, &old, nullptr);
  EXPECT_EQ(rc, CACHE_E_IO);
  EXPECT_EQ(store->writer_client_id(), -1);
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK) << store->last_error();
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "v2");
  EXPECT_NE(store->writer_client_id(), id);
  EXPECT_EQ(store->counters().connects, 2u);
}

TEST_F(StoreTest, Kill9AndRestartThenReconnect) {
  auto store = MakeStore(server_.url(), "", 1000, 1000);
  std::vector<cache_store_op_t> ops = {Put("k", "before")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  server_.Kill9();
  ASSERT_TRUE(server_.Start());
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "before");  // acknowledged, so in the AOF
  ops = {Put("k", "after")};
  EXPECT_NE(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);  // the old connection is dead
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK) << store->last_error();
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "after");
  // A new server run: the lost connection's id is not killed (it may be
  // another client's now).
  EXPECT_EQ(store->counters().fenced, 0u);
}

TEST_F(StoreTest, ServerUnavailableRepliesFailTheBatchInsteadOfRejecting) {
  auto store = MakeStore(server_.url());
  std::vector<cache_store_op_t> ops = {Put("k", "v")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  // MISCONF-like: a replica refuses writes with READONLY.
  ASSERT_EQ(Str(server_.Cmd({"REPLICAOF", "127.0.0.1", "1"})), "OK");
  ops = {Put("k", "w")};
  EXPECT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_E_IO);
  EXPECT_NE(store->last_error().find("READONLY"), std::string::npos) << store->last_error();
  ASSERT_EQ(Str(server_.Cmd({"REPLICAOF", "NO", "ONE"})), "OK");
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK) << store->last_error();
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "w");
}

// The fence: a batch sent on a connection that then timed out must not run
// after the newer writes of the connection that replaces it. Redis, asleep,
// holds the old batch unread in its socket buffer (filler writes, then the
// key's old value); when it wakes, it reads the old connection 16 KB at a
// time, interleaved with the new connection. The new connection kills the
// old client (CLIENT KILL ID) before it writes, so the unread rest of the old
// batch is dropped, and the key ends with the newer value.
TEST_F(StoreTest, LateCommandsOfALostConnectionNeverLandAfterNewerOnes) {
  auto store = MakeStore(server_.url(), "", 300, 300);
  std::vector<cache_store_op_t> ops = {Put("k", "v0")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  std::vector<std::string> keys;
  std::string filler(4000, 'f');
  for (int i = 0; i < 24; ++i) keys.push_back("filler" + std::to_string(i));
  ops.clear();
  for (const std::string &k : keys) ops.push_back(Put(k, filler));
  ops.push_back(Put("k", "old"));
  ASSERT_TRUE(server_.SleepFor(2));
  EXPECT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_E_TIMEOUT);
  // The link would now retry with the newer value; until Redis wakes up the
  // attempts time out.
  std::vector<cache_store_op_t> newer = {Put("k", "new")};
  int rc = CACHE_E_IO;
  for (int attempt = 0; attempt < 50 && rc != CACHE_OK; ++attempt) {
    rc = store->WriteBatch(newer.data(), newer.size());
  }
  ASSERT_EQ(rc, CACHE_OK) << store->last_error();
  server_.WaitAwake();
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "new");
  // Nothing of the old connection runs later either.
  ASSERT_EQ(Str(server_.Cmd({"PING"})), "PONG");
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "new");
}

// The fence, deterministically: a proxy holds the bytes of the first writer
// connection (a batch stuck on the network) while the store times out,
// reconnects and writes a newer value; then it delivers the old bytes on the
// old server connection. Without CLIENT KILL of the old connection, SET k old
// would run last.
TEST_F(StoreTest, FencingKillsTheLostConnectionBeforeNewerWrites) {
  libcache_test::TcpProxy proxy(server_.port());
  auto store = MakeStore("redis://127.0.0.1:" + std::to_string(proxy.port()), "", 1000, 300);
  std::vector<cache_store_op_t> ops = {Put("k", "v0")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK) << store->last_error();
  proxy.Hold();
  ops = {Put("k", "old")};
  EXPECT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_E_TIMEOUT);
  ops = {Put("k", "new")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK) << store->last_error();
  EXPECT_EQ(store->counters().fenced, 1u);
  proxy.Release();  // the old batch reaches Redis now, on the killed connection
  ASSERT_EQ(Str(server_.Cmd({"PING"})), "PONG");
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "new");
}

TEST_F(StoreTest, ForkedClosesTheSocketsWithoutSendingAndTheParentKeepsItsConnection) {
  auto store = MakeStore(server_.url());
  std::vector<cache_store_op_t> ops = {Put("k", "parent")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  server_.Cmd({"SET", "l", "x"});
  Loaded l;
  ASSERT_EQ(store->Load("l", 1, 1000, OnValue, &l), CACHE_OK);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    store->Forked();
    std::vector<cache_store_op_t> child_ops = {Put("k", "child")};
    int rc = store->WriteBatch(child_ops.data(), child_ops.size());
    Loaded cl;
    int lrc = store->Load("l", 1, 100, OnValue, &cl);
    _exit(rc == CACHE_E_CLOSED && lrc != CACHE_OK && cl.calls == 0 ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "parent");
  int64_t id = store->writer_client_id();
  ops = {Put("k", "parent2")};
  ASSERT_EQ(store->WriteBatch(ops.data(), ops.size()), CACHE_OK);
  EXPECT_EQ(store->writer_client_id(), id);  // the same connection: the child's close did nothing
  EXPECT_EQ(Str(server_.Cmd({"GET", "k"})), "parent2");
  ASSERT_EQ(store->Load("l", 1, 1000, OnValue, &l), CACHE_OK);
}

}  // namespace
