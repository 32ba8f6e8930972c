// The engines cache_bench compares, behind one small interface, and how each
// workload's cache is built for any of them:
//   explicit E(uint64_t max_entries); bool ok() const;
//   int Get(key, klen, buf, cap, size_t *vlen);  // libcache status values
//   int Set(key, klen, val, vlen);               // 0 on success
//   uint64_t Evictions();

#ifndef LIBCACHE_BENCH_ENGINES_H_
#define LIBCACHE_BENCH_ENGINES_H_

#include <libcache/cache.h>
#include <libcache/cache_experimental.h>

#include <cstdint>
#include <memory>
#include <string>

#include "bench/mutex_lru.h"
#include "bench/workload.h"

namespace cache_bench {

constexpr uint64_t kHashSeed = 0x6c69626361636865ULL;  // fixed: reproducible runs

// The C ABI, called through the shared library as a user would.
class Libcache {
 public:
  explicit Libcache(uint64_t max_entries) {
    cache_options_t *opts = cache_options_new();
    if (opts == nullptr) return;
    cache_options_set_max_bytes(opts, 0);  // bound by entries only, like the baseline
    cache_options_set_max_entries(opts, max_entries);
    cache_options_set_hash_seed(opts, kHashSeed);
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
  uint64_t Evictions() {
    cache_stats_t st{};
    cache_stats(cache_, &st, sizeof st);
    return st.evictions;
  }

 private:
  cache_t *cache_ = nullptr;
};

// Keys 0..n-1 of HitKeys() resident, capacity n * 5/4 entries (slack for
// uneven shards), every key checked present with its full value.
// nullptr and *err set on failure.
template <class E>
std::unique_ptr<E> BuildResident(uint32_t n, std::string *err) {
  auto c = std::make_unique<E>(uint64_t{n} * 5 / 4);
  if (!c->ok()) return *err = "cache_open failed", nullptr;
  const auto &keys = HitKeys();
  for (uint32_t i = 0; i < n; ++i) {
    if (c->Set(keys[i].bytes, kKeySize, kValue, kValueSize) != 0) {
      return *err = "set failed while loading", nullptr;
    }
  }
  char buf[kValueSize];
  for (uint32_t i = 0; i < n; ++i) {
    size_t vlen = 0;
    if (c->Get(keys[i].bytes, kKeySize, buf, sizeof buf, &vlen) != 0 || vlen != kValueSize) {
      return *err = "a loaded key is not resident (evicted?)", nullptr;
    }
  }
  if (c->Evictions() != 0) return *err = "evictions while loading", nullptr;
  return c;
}

// Capacity n/10 entries, warmed to steady state by one pass of the Zipf
// sequence over keys 0..n-1. nullptr and *err set on failure.
template <class E>
std::unique_ptr<E> BuildEvicting(uint32_t n, std::string *err) {
  auto c = std::make_unique<E>(uint64_t{n} / 10);
  if (!c->ok()) return *err = "cache_open failed", nullptr;
  const auto &keys = HitKeys();
  for (const uint32_t rank : ZipfSequence(n)) {
    if (c->Set(keys[rank].bytes, kKeySize, kValue, kValueSize) != 0) {
      return *err = "set failed while warming", nullptr;
    }
  }
  return c;
}

}  // namespace cache_bench

#endif  // LIBCACHE_BENCH_ENGINES_H_
