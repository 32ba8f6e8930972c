#include "tests/redis/tcp_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>

namespace libcache_test {
namespace {

sockaddr_in Loopback(int port) {
  sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

}  // namespace

TcpProxy::TcpProxy(int upstream_port) : upstream_port_(upstream_port) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a = Loopback(0);
  socklen_t len = sizeof a;
  bind(listen_fd_, reinterpret_cast<sockaddr *>(&a), sizeof a);
  listen(listen_fd_, 64);
  getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&a), &len);
  port_ = ntohs(a.sin_port);
  if (pipe(wake_) != 0) wake_[0] = wake_[1] = -1;
  thread_ = std::thread([this] { Run(); });
}

TcpProxy::~TcpProxy() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  Wake();
  thread_.join();
  for (Pair &p : pairs_) {
    if (p.client >= 0) close(p.client);
    if (p.server >= 0) close(p.server);
  }
  close(listen_fd_);
  close(wake_[0]);
  close(wake_[1]);
}

void TcpProxy::Wake() {
  char c = 1;
  if (write(wake_[1], &c, 1) < 0) {
  }
}

void TcpProxy::Hold() {
  int target;
  {
    std::lock_guard<std::mutex> l(mu_);
    hold_ = true;
    target = held_ + 1;
  }
  Wake();
  for (;;) {  // returns once the proxy thread holds the connections
    {
      std::lock_guard<std::mutex> l(mu_);
      if (held_ >= target) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void TcpProxy::Release() {
  int target;
  {
    std::lock_guard<std::mutex> l(mu_);
    release_ = true;
    target = released_ + 1;
  }
  Wake();
  for (;;) {  // the proxy thread counts a release once it has written everything
    {
      std::lock_guard<std::mutex> l(mu_);
      if (released_ >= target) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void TcpProxy::HoldReplies(int upstream_local_port) {
  int target;
  {
    std::lock_guard<std::mutex> l(mu_);
    hold_replies_port_ = upstream_local_port;
    held_replies_copy_.clear();
    target = replies_requests_done_ + 1;
  }
  Wake();
  for (;;) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (replies_requests_done_ >= target) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

std::string TcpProxy::HeldReplies() {
  std::lock_guard<std::mutex> l(mu_);
  return held_replies_copy_;
}

void TcpProxy::ReleaseReplies() {
  int target;
  {
    std::lock_guard<std::mutex> l(mu_);
    release_replies_ = true;
    target = replies_requests_done_ + 1;
  }
  Wake();
  for (;;) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (replies_requests_done_ >= target) return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void TcpProxy::Run() {
  char buf[65536];
  for (;;) {
    bool hold, release, stop, release_replies;
    int hold_replies_port;
    {
      std::lock_guard<std::mutex> l(mu_);
      hold = hold_;
      release = release_;
      stop = stop_;
      hold_ = release_ = false;
      hold_replies_port = hold_replies_port_;
      release_replies = release_replies_;
      hold_replies_port_ = 0;
      release_replies_ = false;
    }
    if (stop) return;
    if (hold_replies_port != 0) {
      for (Pair &p : pairs_) {
        if (p.upstream_local_port == hold_replies_port) p.replies_held = true;
      }
      std::lock_guard<std::mutex> l(mu_);
      ++replies_requests_done_;
    }
    if (release_replies) {
      for (Pair &p : pairs_) {
        if (!p.replies_held) continue;
        p.replies_held = false;
        size_t off = 0;
        while (p.client >= 0 && off < p.held_replies.size()) {
          ssize_t n = send(p.client, p.held_replies.data() + off, p.held_replies.size() - off,
                           MSG_NOSIGNAL);
          if (n <= 0) break;
          off += static_cast<size_t>(n);
        }
        p.held_replies.clear();
      }
      std::lock_guard<std::mutex> l(mu_);
      held_replies_copy_.clear();
      ++replies_requests_done_;
    }
    if (hold) {
      for (Pair &p : pairs_) p.held = true;
      std::lock_guard<std::mutex> l(mu_);
      ++held_;
    }
    if (release) {
      for (Pair &p : pairs_) {
        if (!p.held) continue;
        p.held = false;
        if (p.server >= 0 && !p.pending.empty()) {
          // Blocking write of what was held (the server reads it, or the
          // connection is gone and the write fails).
          size_t off = 0;
          while (off < p.pending.size()) {
            ssize_t n =
                send(p.server, p.pending.data() + off, p.pending.size() - off, MSG_NOSIGNAL);
            if (n <= 0) break;
            off += static_cast<size_t>(n);
          }
          p.pending.clear();
        }
        if (p.client_eof && p.server >= 0) {
          shutdown(p.server, SHUT_WR);
        }
      }
      std::lock_guard<std::mutex> l(mu_);
      ++released_;
    }
    std::vector<pollfd> fds;
    fds.push_back({wake_[0], POLLIN, 0});
    fds.push_back({listen_fd_, POLLIN, 0});
    for (Pair &p : pairs_) {
      fds.push_back({p.client >= 0 && !p.client_eof ? p.client : -1, POLLIN, 0});
      fds.push_back({p.server, POLLIN, 0});
    }
    if (poll(fds.data(), fds.size(), 1000) < 0 && errno != EINTR) return;
    if (fds[0].revents & POLLIN) {
      char drain[64];
      if (read(wake_[0], drain, sizeof drain) < 0) {
      }
    }
    if (fds[1].revents & POLLIN) {
      int c = accept(listen_fd_, nullptr, nullptr);
      if (c >= 0) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a = Loopback(upstream_port_);
        if (connect(s, reinterpret_cast<sockaddr *>(&a), sizeof a) == 0) {
          Pair p;
          p.client = c;
          p.server = s;
          sockaddr_in local;
          socklen_t llen = sizeof local;
          if (getsockname(s, reinterpret_cast<sockaddr *>(&local), &llen) == 0) {
            p.upstream_local_port = ntohs(local.sin_port);
          }
          pairs_.push_back(p);
        } else {
          close(s);
          close(c);
        }
      }
      continue;  // fds no longer matches pairs_
    }
    for (size_t i = 0; i < pairs_.size(); ++i) {
      Pair &p = pairs_[i];
      const pollfd &cf = fds[2 + 2 * i], &sf = fds[3 + 2 * i];
      if (p.client >= 0 && (cf.revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = recv(p.client, buf, sizeof buf, 0);
        if (n <= 0) {
          p.client_eof = true;
          if (!p.held && p.server >= 0) shutdown(p.server, SHUT_WR);
        } else if (p.held) {
          p.pending.append(buf, static_cast<size_t>(n));
        } else if (p.server >= 0) {
          send(p.server, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
        }
      }
      if (p.server >= 0 && (sf.revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = recv(p.server, buf, sizeof buf, 0);
        if (n <= 0) {
          close(p.server);
          p.server = -1;
          if (p.client >= 0) {
            close(p.client);
            p.client = -1;
          }
        } else if (p.replies_held) {
          p.held_replies.append(buf, static_cast<size_t>(n));
          std::lock_guard<std::mutex> l(mu_);
          held_replies_copy_.append(buf, static_cast<size_t>(n));
        } else if (p.client >= 0) {
          send(p.client, buf, static_cast<size_t>(n), MSG_NOSIGNAL);
        }
      }
      if (p.client_eof && p.client >= 0 && !p.held) {
        close(p.client);
        p.client = -1;
      }
    }
  }
}

}  // namespace libcache_test
