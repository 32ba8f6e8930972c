// A TCP proxy on a free loopback port in front of a server, for tests that
// need bytes to be late: Hold() keeps what the clients of the connections
// open now send (the server does not see it, as if it were stuck on the
// network), also after the client has closed its side; Release() delivers it
// on the same server connection. Connections made after Hold() pass freely.
// HoldReplies(port) does the same the other way for one connection: what the
// server sends on the connection whose server-side socket has local port
// `port` (the address Redis shows in CLIENT LIST) is kept until
// ReleaseReplies(), so a reply can be made to arrive after something else.
#ifndef LIBCACHE_TESTS_REDIS_TCP_PROXY_H_
#define LIBCACHE_TESTS_REDIS_TCP_PROXY_H_

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace libcache_test {

class TcpProxy {
 public:
  explicit TcpProxy(int upstream_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy &) = delete;
  TcpProxy &operator=(const TcpProxy &) = delete;

  int port() const { return port_; }
  void Hold();  // returns once held
  // Delivers what was held and returns once it is written to the server.
  void Release();
  // Holds the server's bytes to one connection (returns once held).
  void HoldReplies(int upstream_local_port);
  // A copy of the server's bytes held so far.
  std::string HeldReplies();
  // Delivers them to the client and passes the connection's bytes freely
  // again (returns once written).
  void ReleaseReplies();

 private:
  struct Pair {
    int client = -1, server = -1;
    bool held = false, client_eof = false;
    std::string pending;  // client -> server bytes not yet written
    int upstream_local_port = 0;
    bool replies_held = false;
    std::string held_replies;  // server -> client bytes not yet written
  };
  void Run();
  void Wake();

  int upstream_port_;
  int listen_fd_ = -1, port_ = 0;
  int wake_[2] = {-1, -1};
  std::mutex mu_;
  bool hold_ = false, release_ = false, stop_ = false;  // GUARDED_BY(mu_)
  int held_ = 0, released_ = 0;                         // GUARDED_BY(mu_)
  int hold_replies_port_ = 0;                           // GUARDED_BY(mu_): a request
  bool release_replies_ = false;                        // GUARDED_BY(mu_): a request
  int replies_requests_done_ = 0;                       // GUARDED_BY(mu_)
  std::string held_replies_copy_;                       // GUARDED_BY(mu_)
  std::vector<Pair> pairs_;                             // the proxy thread's
  std::thread thread_;
};

}  // namespace libcache_test

#endif  // LIBCACHE_TESTS_REDIS_TCP_PROXY_H_
