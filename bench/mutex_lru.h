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
//
// Bounded in entries (cache_bench) or in bytes (peer_bench). The baseline
// keeps no allocator statistics, so in bytes it charges each entry its key and
// value plus kNodeBytes: what its list node, map node, bucket and two heap
// strings cost beyond key and value on glibc, as bench/peer_memory measured it
// (231 bytes at 1M entries of 16-byte keys and 100-byte values).

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

#include "bench/engines.h"

namespace cache_bench {

class MutexLru {
 public:
  static constexpr size_t kNodeBytes = 232;

  explicit MutexLru(const Capacity &cap)
      : max_entries_(cap.entries != 0 ? cap.entries : UINT64_MAX),
        max_bytes_(cap.bytes != 0 ? cap.bytes : UINT64_MAX) {
    map_.reserve(cap.entries != 0 ? cap.entries
                                  : cap.bytes / (kKeySize + cap.value_size + kNodeBytes));
  }

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
      bytes_ += v.size() - it->second->value.size();
      it->second->value.assign(v);
      lru_.splice(lru_.begin(), lru_, it->second);
      EvictWhileOver(0, 0);
      return 0;
    }
    const uint64_t charge = Charge(k.size(), v.size());
    EvictWhileOver(1, charge);
    lru_.push_front(Node{std::string(k), std::string(v)});
    map_.emplace(lru_.front().key, lru_.begin());
    bytes_ += charge;
    return 0;
  }

  uint64_t Evictions() {
    std::lock_guard<std::mutex> lock(mu_);
    return evictions_;
  }

  uint64_t Entries() {
    std::lock_guard<std::mutex> lock(mu_);
    return map_.size();
  }

  // What the byte bound counts (an estimate, see above).
  uint64_t ChargedBytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
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

  static uint64_t Charge(size_t klen, size_t vlen) { return klen + vlen + kNodeBytes; }

  // REQUIRES: mu_ held. Evicts from the back (never the front, the entry just
  // written) until extra_entries and extra_bytes more would fit.
  void EvictWhileOver(uint64_t extra_entries, uint64_t extra_bytes) {
    while (!lru_.empty() &&
           (map_.size() + extra_entries > max_entries_ || bytes_ + extra_bytes > max_bytes_)) {
      if (extra_entries == 0 && lru_.size() == 1) return;
      const Node &victim = lru_.back();
      bytes_ -= Charge(victim.key.size(), victim.value.size());
      map_.erase(victim.key);
      lru_.pop_back();
      ++evictions_;
    }
  }

  const uint64_t max_entries_;
  const uint64_t max_bytes_;
  std::mutex mu_;
  std::list<Node> lru_;  // GUARDED_BY(mu_): most recently used first
  std::unordered_map<std::string, std::list<Node>::iterator, Hash, std::equal_to<>>
      map_;                 // GUARDED_BY(mu_)
  uint64_t evictions_ = 0;  // GUARDED_BY(mu_)
  uint64_t bytes_ = 0;      // GUARDED_BY(mu_): sum of Charge() of the entries
};

}  // namespace cache_bench

#endif  // LIBCACHE_BENCH_MUTEX_LRU_H_
