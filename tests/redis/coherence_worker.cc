// One process of the multi-process coherence test (coherence_multi_test.cc):
// its own cache and Redis adapter (coherence on), driven by line commands on
// stdin, answering on stdout:
//
//   run        start the workload: a seeded random mix over keys k0..k999 of
//              cache_set (with and without TTL), cache_delete, cache_touch,
//              cache_redis_set_sync, cache_redis_delete_sync and cache_get;
//              and the version check over v0..v49 (below)          -> "running"
//   stop       stop the workload, then cache_redis_flush           -> "stopped <rc>"
//   status     "status tracking=T resets=R messages=M coherent=C age=A
//              sync_timeouts=S conflicts=N"
//   dump       one line "<key> <value>" per key (cache_get: the local copy or
//              read-through; "-" when absent), then "end"
//   violations "violations N" then up to 10 lines saying which
//   history K  the last operations of key K (for a failure's report), "end"
//   quit       close the cache and exit 0
//
// The version check (the running guarantee: a process never returns a value
// older than one it returned already). Worker 0 is the only writer of
// v0..v49: each write carries a number from one increasing counter, so in
// Redis every v key's number only grows (or the key is absent, after a
// FLUSHALL). The other workers read v keys and count a violation when a read
// returns a smaller number than one an earlier read of that key returned.
//
// Usage: coherence_worker URL PREFIX SEED ID
#include <libcache/cache.h>
#include <libcache/cache_redis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int kKeys = 1000;
constexpr int kVersioned = 50;

cache_t *g_cache = nullptr;
cache_redis_t *g_redis = nullptr;
std::atomic<bool> g_stop{false};
std::atomic<long> g_sync_timeouts{0};  // sync writes that timed out (and may land later)
std::mutex g_mu;
std::vector<std::string> g_violations;  // guarded by g_mu
long g_violation_count = 0;             // guarded by g_mu

// The last operations of each key, for a failure's report.
struct History {
  std::mutex mu;
  std::vector<std::string> events;
};
History g_history[kKeys];

double NowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void Record(int key, const std::string &what) {
  if (key < 0 || key >= kKeys) return;
  History &h = g_history[key];
  char t[32];
  snprintf(t, sizeof t, "%.1f ", NowMs());
  std::lock_guard<std::mutex> l(h.mu);
  if (h.events.size() >= 12) h.events.erase(h.events.begin());
  h.events.push_back(t + what);
}

bool Get(const std::string &k, std::string *v) {
  char buf[512];
  size_t n = 0;
  if (cache_get(g_cache, k.data(), k.size(), buf, sizeof buf, &n) != CACHE_OK) return false;
  v->assign(buf, n);
  return true;
}

void Mix(uint32_t seed, int id) {
  std::mt19937 rng(seed);
  for (long i = 0; !g_stop.load(); ++i) {
    const int key = static_cast<int>(rng() % kKeys);
    std::string k = "k" + std::to_string(key);
    std::string v = "w" + std::to_string(id) + ":" + std::to_string(i);
    unsigned dice = rng() % 100;
    int rc;
    if (dice < 25) {
      rc = cache_set(g_cache, k.data(), k.size(), v.data(), v.size(), CACHE_TTL_NONE);
      Record(key, "set " + v + " " + std::to_string(rc));
    } else if (dice < 35) {
      v += "t";
      rc = cache_set(g_cache, k.data(), k.size(), v.data(), v.size(), 60000 + rng() % 60000);
      Record(key, "set " + v + " " + std::to_string(rc));
    } else if (dice < 43) {
      rc = cache_delete(g_cache, k.data(), k.size());
      Record(key, "delete " + std::to_string(rc));
    } else if (dice < 45) {
      rc = cache_touch(g_cache, k.data(), k.size(), 90000 + rng() % 30000);
      Record(key, "touch " + std::to_string(rc));
    } else if (dice < 49) {
      // A short timeout: during a fault some time out and land later
      // (the core then drops the key's older local copy).
      v += "s";  // (the kind of write that made a value shows in a mismatch)
      Record(key, "set_sync " + v + " ...");
      rc = cache_redis_set_sync(g_redis, k.data(), k.size(), v.data(), v.size(), CACHE_TTL_NONE,
                                300);
      Record(key, "set_sync " + v + " " + std::to_string(rc));
      if (rc == CACHE_E_TIMEOUT) ++g_sync_timeouts;
    } else if (dice < 52) {
      Record(key, "delete_sync ...");
      rc = cache_redis_delete_sync(g_redis, k.data(), k.size(), 300);
      Record(key, "delete_sync " + std::to_string(rc));
      if (rc == CACHE_E_TIMEOUT) ++g_sync_timeouts;
    } else {
      std::string got;
      Record(key, Get(k, &got) ? "get " + got : "get -");
    }
    if (i % 64 == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void Versions(uint32_t seed, int id) {
  std::mt19937 rng(seed ^ 0x9e3779b9u);
  std::vector<long> seen(kVersioned, -1);
  for (long i = 1; !g_stop.load(); ++i) {
    int j = static_cast<int>(rng() % kVersioned);
    std::string k = "v" + std::to_string(j);
    if (id == 0) {
      std::string v = std::to_string(i);
      cache_set(g_cache, k.data(), k.size(), v.data(), v.size(), CACHE_TTL_NONE);
    } else {
      std::string got;
      if (Get(k, &got)) {
        long n = strtol(got.c_str(), nullptr, 10);
        if (n < seen[j]) {
          std::lock_guard<std::mutex> l(g_mu);
          if (g_violations.size() < 10) {
            g_violations.push_back(k + " returned " + got + " after " + std::to_string(seen[j]));
          }
          ++g_violation_count;
        }
        if (n > seen[j]) seen[j] = n;
      }
    }
    if (i % 16 == 0) std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
}

}  // namespace

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: coherence_worker URL PREFIX SEED ID\n");
    return 2;
  }
  const std::string prefix = argv[2];
  const uint32_t seed = static_cast<uint32_t>(strtoul(argv[3], nullptr, 10));
  const int id = atoi(argv[4]);
  cache_options_t *o = cache_options_new();
  cache_options_set_max_bytes(o, 64u << 20);
  if (cache_open(o, &g_cache) != CACHE_OK) return 3;
  cache_options_free(o);
  cache_redis_options_t *ro = cache_redis_options_new();
  cache_redis_options_set_url(ro, argv[1]);
  cache_redis_options_set_prefix(ro, prefix.data(), prefix.size());
  cache_redis_options_set_timeouts(ro, 500, 300);
  cache_redis_options_set_coherence(ro, 1, 50);
  cache_store_options_t *so = cache_redis_options_store_options(ro);
  cache_store_options_set_flush_interval_ms(so, 2);
  cache_store_options_set_backoff(so, 5, 200);
  cache_store_options_set_read_through(so, 1, 500);
  int rc = cache_redis_attach(g_cache, ro, &g_redis);
  cache_redis_options_free(ro);
  if (rc != CACHE_OK) {
    fprintf(stderr, "worker %d: attach: %s\n", id, cache_redis_errmsg());
    return 4;
  }
  std::vector<std::thread> threads;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line == "run") {
      g_stop = false;
      threads.emplace_back(Mix, seed * 7919u + static_cast<uint32_t>(id), id);
      threads.emplace_back(Versions, seed * 104729u + static_cast<uint32_t>(id), id);
      printf("running\n");
    } else if (line == "stop") {
      g_stop = true;
      for (auto &t : threads) t.join();
      threads.clear();
      printf("stopped %d\n", cache_redis_flush(g_redis, 60000));
    } else if (line == "status") {
      cache_redis_stats_t s;
      memset(&s, 0, sizeof s);
      cache_redis_stats(g_redis, &s, sizeof s);
      printf("status tracking=%llu resets=%llu messages=%llu coherent=%llu age=%lld "
             "sync_timeouts=%ld conflicts=%llu\n",
             (unsigned long long)s.tracking, (unsigned long long)s.tracking_resets,
             (unsigned long long)s.invalidation_messages, (unsigned long long)s.link.coherent,
             (long long)s.health_check_age_ms, g_sync_timeouts.load(),
             (unsigned long long)s.link.conflicts);
    } else if (line == "dump") {
      std::string out;
      for (int i = 0; i < kKeys + kVersioned; ++i) {
        std::string k = i < kKeys ? "k" + std::to_string(i) : "v" + std::to_string(i - kKeys);
        std::string v;
        out += k + " " + (Get(k, &v) ? v : std::string("-")) + "\n";
      }
      fputs(out.c_str(), stdout);
      printf("end\n");
    } else if (line == "violations") {
      std::lock_guard<std::mutex> l(g_mu);
      printf("violations %ld\n", g_violation_count);
      for (const std::string &v : g_violations) printf("  %s\n", v.c_str());
    } else if (line.rfind("history k", 0) == 0) {
      History &h = g_history[atoi(line.c_str() + 9) % kKeys];
      std::lock_guard<std::mutex> l(h.mu);
      for (const std::string &e : h.events) printf("  %s\n", e.c_str());
      printf("end\n");
    } else if (line == "quit") {
      break;
    }
    fflush(stdout);
  }
  g_stop = true;
  for (auto &t : threads) t.join();
  cache_close(g_cache);
  printf("bye\n");
  fflush(stdout);
  return 0;
}
