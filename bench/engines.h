// The engines the benchmarks compare, behind one small interface, and how each
// workload's cache is built for any of them:
//   explicit E(const Capacity &cap); bool ok() const;
//   int Get(key, klen, buf, cap, size_t *vlen);  // libcache status values
//   int Set(key, klen, val, vlen);               // 0 on success
//   uint64_t Entries();                          // entries held now
// libcache and the mutex-LRU baseline also count evictions (uint64_t
// Evictions()); the peers (bench/peers.h) do not expose that count.

#ifndef LIBCACHE_BENCH_ENGINES_H_
#define LIBCACHE_BENCH_ENGINES_H_

#include <libcache/cache.h>
#include <libcache/cache_experimental.h>

#include <cstdint>
#include <memory>
#include <string>

#include "bench/workload.h"

namespace cache_bench {

constexpr uint64_t kHashSeed = 0x6c69626361636865ULL;  // fixed: reproducible runs

// How a workload bounds its cache. cache_bench bounds libcache and the
// baseline in entries; peer_bench gives every engine the same bytes.
struct Capacity {
  uint64_t entries = 0;            // 0 = no entry bound
  uint64_t bytes = 0;              // 0 = no byte bound
  size_t value_size = kValueSize;  // the workload's values, for engines that size tables by them
};

// The C ABI, called through the shared library as a user would. libcache
// charges its own overhead against max_bytes (entry allocation with header and
// allocator rounding, table and ring slots).
class Libcache {
 public:
  explicit Libcache(const Capacity &cap, int policy = CACHE_POLICY_CLOCK) {
    cache_options_t *opts = cache_options_new();
    if (opts == nullptr) return;
    cache_options_set_max_bytes(opts, cap.bytes);  // 0 = bound by entries only
    cache_options_set_max_entries(opts, cap.entries);
    cache_options_set_hash_seed(opts, kHashSeed);
    cache_options_set_policy(opts, policy);
    if (cache_open(opts, &cache_) != CACHE_OK) cache_ = nullptr;
    cache_options_free(opts);
  }
  ~Libcache() { cache_close(cache_); }
  Libcache(const Libcache &) = delete;
  Libcache &operator=(const Libcache &) = delete;

  bool ok() const { return cache_ != nullptr; }
  uint32_t shards() const { return cache_shard_count(cache_); }
  int Get(const void *key, size_t klen, void *buf, size_t cap, size_t *vlen) {
    return cache_get(cache_, key, klen, buf, cap, vlen);
  }
  int Set(const void *key, size_t klen, const void *val, size_t vlen) {
    return cache_set(cache_, key, klen, val, vlen, CACHE_TTL_NONE);
  }
  uint64_t Evictions() { return Stats().evictions; }
  uint64_t Entries() { return Stats().entries; }
  // The bytes the engine charges against max_bytes.
  uint64_t ChargedBytes() { return Stats().bytes; }

 private:
  cache_stats_t Stats() {
    cache_stats_t st{};
    cache_stats(cache_, &st, sizeof st);
    return st;
  }

  cache_t *cache_ = nullptr;
};

// libcache with the adaptive policy (CACHE_POLICY_ADAPTIVE).
class LibcacheAdaptive : public Libcache {
 public:
  explicit LibcacheAdaptive(const Capacity &cap) : Libcache(cap, CACHE_POLICY_ADAPTIVE) {}
};

// Keys 0..n-1 of HitKeys() resident with values of value_size bytes, every
// key checked present with its full value and the entry count checked.
// nullptr and *err set on failure.
template <class E>
std::unique_ptr<E> BuildResident(uint32_t n, const Capacity &cap, std::string *err) {
  auto c = std::make_unique<E>(cap);
  if (!c->ok()) return *err = "cache open failed", nullptr;
  const auto &keys = HitKeys();
  const char *value = ValueBytes();
  for (uint32_t i = 0; i < n; ++i) {
    if (c->Set(keys[i].bytes, kKeySize, value, cap.value_size) != 0) {
      return *err = "set failed while loading", nullptr;
    }
  }
  char buf[kMaxValueSize];
  for (uint32_t i = 0; i < n; ++i) {
    size_t vlen = 0;
    if (c->Get(keys[i].bytes, kKeySize, buf, sizeof buf, &vlen) != 0 || vlen != cap.value_size) {
      return *err = "a loaded key is not resident (evicted?)", nullptr;
    }
  }
  if (c->Entries() != n) return *err = "wrong entry count after loading", nullptr;
  return c;
}

// Warmed to steady state by one pass of the d-distributed sequence over keys
// 0..n-1 (the caller makes cap hold a fraction of them). nullptr and *err set
// on failure.
template <class E>
std::unique_ptr<E> BuildEvicting(uint32_t n, Dist d, const Capacity &cap, std::string *err) {
  auto c = std::make_unique<E>(cap);
  if (!c->ok()) return *err = "cache open failed", nullptr;
  const auto &keys = HitKeys();
  const char *value = ValueBytes();
  for (const uint32_t rank : RankSequence(n, d)) {
    if (c->Set(keys[rank].bytes, kKeySize, value, cap.value_size) != 0) {
      return *err = "set failed while warming", nullptr;
    }
  }
  return c;
}

}  // namespace cache_bench

#endif  // LIBCACHE_BENCH_ENGINES_H_
