// The textbook baseline for cache_bench: one std::mutex around a
// std::unordered_map<std::string, std::list<Node>::iterator> and a std::list
// in recency order. A get moves the node to the front and copies the value out
// under the lock; a set at capacity evicts from the back.
//
// Two choices keep the baseline honest rather than weak: lookups use C++20
// heterogeneous find (a transparent hash), so a get allocates no std::string
// for its 16-byte key (which would not fit libstdc++'s 15-byte SSO buffer);
// and the map reserves its capacity up front. It is compiled into the
// benchmark, so its calls may be inlined, while libcache is called through the
// shared library's PLT.

#ifndef LIBCACHE_BENCH_MUTEX_LRU_H_
#define LIBCACHE_BENCH_MUTEX_LRU_H_

#include <cstdint>
#include <cstring>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace cache_bench {

class MutexLru {
 public:
  explicit MutexLru(uint64_t max_entries) : capacity_(max_entries) { map_.reserve(max_entries); }

  // 0 on a hit (value copied into buf, *vlen set), 1 when absent, -4 when
  // the value does not fit in cap (the libcache status values).
  int Get(const void *key, size_t klen, void *buf, size_t cap, size_t *vlen) {
    const std::string_view k(static_cast<const char *>(key), klen);
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = map_.find(k);
    if (it == map_.end()) return 1;
    lru_.splice(lru_.begin(), lru_, it->second);
    const std::string &v = it->second->value;
    *vlen = v.size();
    if (v.size() > cap) return -4;
    std::memcpy(buf, v.data(), v.size());
    return 0;
  }

  bool ok() const { return true; }

  // Always 0 (the libcache status for success).
  int Set(const void *key, size_t klen, const void *val, size_t vlen) {
    const std::string_view k(static_cast<const char *>(key), klen);
    const std::string_view v(static_cast<const char *>(val), vlen);
    std::lock_guard<std::mutex> lock(mu_);
    const auto it = map_.find(k);
    if (it != map_.end()) {
      it->second->value.assign(v);
      lru_.splice(lru_.begin(), lru_, it->second);
      return 0;
    }
    if (map_.size() >= capacity_) {
      map_.erase(lru_.back().key);
      lru_.pop_back();
      ++evictions_;
    }
    lru_.push_front(Node{std::string(k), std::string(v)});
    map_.emplace(lru_.front().key, lru_.begin());
    return 0;
  }

  uint64_t Evictions() {
    std::lock_guard<std::mutex> lock(mu_);
    return evictions_;
  }

 private:
  struct Node {
    std::string key;
    std::string value;
  };
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  const uint64_t capacity_;
  std::mutex mu_;
  std::list<Node> lru_;  // GUARDED_BY(mu_): most recently used first
  std::unordered_map<std::string, std::list<Node>::iterator, Hash, std::equal_to<>>
      map_;                 // GUARDED_BY(mu_)
  uint64_t evictions_ = 0;  // GUARDED_BY(mu_)
};

}  // namespace cache_bench

#endif  // LIBCACHE_BENCH_MUTEX_LRU_H_
