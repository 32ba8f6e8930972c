// An in-memory store for the link tests (<libcache/cache_store.h>): a
// thread-safe map that records every batch, and can be told to fail batches
// with CACHE_E_IO (applying them first or not), to hold write_batch or load
// until the test opens a gate (or, for load, until its timeout), and to
// reject chosen keys.

#ifndef LIBCACHE_TESTS_STORE_FAKE_STORE_H_
#define LIBCACHE_TESTS_STORE_FAKE_STORE_H_

#include <time.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "libcache/cache_store.h"

namespace libcache_test {

inline int64_t WallMs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

struct StoredOp {
  int kind;
  std::string key, value;
  int64_t expire_at_ms;
};

struct Record {
  std::string value;
  int64_t expire_at_ms = 0;  // 0: never
};

class FakeStore {
 public:
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, Record> data;
  std::vector<std::vector<StoredOp>> batches;  // every write_batch call, answered or not
  int fail_batches = 0;            // the next N batches fail with CACHE_E_IO
  bool fail_after_applying = false;  // ...after applying them (an outcome that did land)
  std::set<std::string> reject;    // keys answered CACHE_STORE_REJECTED
  bool hold_writes = false;        // write_batch waits while true
  int writes_waiting = 0;          // write_batch calls waiting on hold_writes
  int64_t hang_writes_ms = -1;     // >= 0: a held write_batch gives up (CACHE_E_TIMEOUT) after this
  bool hold_loads = false;         // load waits while true, up to its timeout
  int loads = 0;                   // load calls
  int loads_waiting = 0;
  std::string stale_on_load;       // non-empty: load answers this value instead
  int stale_loads = -1;            // >= 0: only the next N loads answer stale_on_load
  int destroyed = 0;
  int forked = 0;

  cache_store_t Table() {
    cache_store_t t{};
    t.struct_size = sizeof t;
    t.ctx = this;
    t.write_batch = &WriteBatch;
    t.load = &Load;
    t.dead_letter = nullptr;
    t.forked = [](void *ctx) { ++static_cast<FakeStore *>(ctx)->forked; };
    t.destroy = [](void *ctx) { ++static_cast<FakeStore *>(ctx)->destroyed; };
    return t;
  }

  void Put(const std::string &k, const std::string &v, int64_t expire_at_ms = 0) {
    std::lock_guard<std::mutex> g(mu);
    data[k] = Record{v, expire_at_ms};
  }
  bool Get(const std::string &k, std::string *v, int64_t *expire_at = nullptr) {
    std::lock_guard<std::mutex> g(mu);
    auto it = data.find(k);
    if (it == data.end()) return false;
    if (v != nullptr) *v = it->second.value;
    if (expire_at != nullptr) *expire_at = it->second.expire_at_ms;
    return true;
  }
  size_t BatchCount() {
    std::lock_guard<std::mutex> g(mu);
    return batches.size();
  }
  void SetHoldWrites(bool on) {
    std::lock_guard<std::mutex> g(mu);
    hold_writes = on;
    cv.notify_all();
  }
  void SetHoldLoads(bool on) {
    std::lock_guard<std::mutex> g(mu);
    hold_loads = on;
    cv.notify_all();
  }
  // Waits until a write_batch call is held at the gate.
  void AwaitHeldWrite() {
    std::unique_lock<std::mutex> g(mu);
    cv.wait(g, [this] { return writes_waiting > 0; });
  }
  void AwaitLoads(int n) {
    std::unique_lock<std::mutex> g(mu);
    cv.wait(g, [this, n] { return loads >= n; });
  }

 private:
  static int WriteBatch(void *ctx, cache_store_op_t *ops, size_t n) {
    auto *s = static_cast<FakeStore *>(ctx);
    std::unique_lock<std::mutex> g(s->mu);
    std::vector<StoredOp> rec;
    for (size_t i = 0; i < n; ++i) {
      rec.push_back({ops[i].kind, std::string(static_cast<const char *>(ops[i].key), ops[i].klen),
                     ops[i].value == nullptr
                         ? std::string()
                         : std::string(static_cast<const char *>(ops[i].value), ops[i].vlen),
                     ops[i].expire_at_ms});
    }
    s->batches.push_back(rec);
    ++s->writes_waiting;
    s->cv.notify_all();
    bool gave_up = false;
    if (s->hang_writes_ms >= 0) {
      gave_up = !s->cv.wait_for(g, std::chrono::milliseconds(s->hang_writes_ms),
                                [s] { return !s->hold_writes; });
    } else {
      s->cv.wait(g, [s] { return !s->hold_writes; });
    }
    --s->writes_waiting;
    if (gave_up) return CACHE_E_TIMEOUT;
    const bool fail = s->fail_batches > 0;
    if (fail) --s->fail_batches;
    if (fail && !s->fail_after_applying) return CACHE_E_IO;
    for (size_t i = 0; i < n; ++i) {
      const StoredOp &o = rec[i];
      if (s->reject.count(o.key) != 0) {
        ops[i].status = CACHE_STORE_REJECTED;
        ops[i].reason = "NOPERM this user has no permissions to access the key";
        continue;
      }
      if (o.kind == CACHE_STORE_PUT) {
        s->data[o.key] = Record{o.value, o.expire_at_ms};
      } else if (o.kind == CACHE_STORE_DELETE) {
        s->data.erase(o.key);
      } else if (o.kind == CACHE_STORE_EXPIRE) {
        auto it = s->data.find(o.key);
        if (it != s->data.end()) it->second.expire_at_ms = o.expire_at_ms;
      }
      ops[i].status = CACHE_OK;
    }
    return fail ? CACHE_E_IO : CACHE_OK;
  }

  static int Load(void *ctx, const void *key, size_t klen, int64_t timeout_ms,
                  cache_store_value_fn fn, void *fn_ctx) {
    auto *s = static_cast<FakeStore *>(ctx);
    std::unique_lock<std::mutex> g(s->mu);
    ++s->loads;
    ++s->loads_waiting;
    s->cv.notify_all();
    const bool answered = s->cv.wait_for(g, std::chrono::milliseconds(timeout_ms),
                                         [s] { return !s->hold_loads; });
    --s->loads_waiting;
    if (!answered) return CACHE_E_TIMEOUT;
    auto it = s->data.find(std::string(static_cast<const char *>(key), klen));
    if (it == s->data.end()) return CACHE_NOT_FOUND;
    const int64_t ttl = it->second.expire_at_ms == 0 ? -1 : it->second.expire_at_ms - WallMs();
    if (ttl != -1 && ttl <= 0) return CACHE_NOT_FOUND;
    bool stale = !s->stale_on_load.empty() && s->stale_loads != 0;
    if (stale && s->stale_loads > 0) --s->stale_loads;
    const std::string v = stale ? s->stale_on_load : it->second.value;
    fn(fn_ctx, v.data(), v.size(), ttl);
    return CACHE_OK;
  }
};

}  // namespace libcache_test

#endif  // LIBCACHE_TESTS_STORE_FAKE_STORE_H_
