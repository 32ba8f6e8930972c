// The peers peer_bench and peer_memory compare libcache with, behind the
// interface of bench/engines.h, each used the way its documentation
// recommends:
//   RocksHyperClock  RocksDB's HyperClockCache (HyperClockCacheOptions with
//                    estimated_entry_charge = the workload's value charge,
//                    MakeSharedCache(); default shard bits)
//   RocksLru         RocksDB's LRUCache (NewLRUCache(capacity), default shard
//                    bits, default options)
//   LevelDbLru       LevelDB's NewLRUCache(capacity) (16 shards, fixed)
// All three are handle-based: they store a caller-owned void* and call a
// deleter when the entry leaves. A value is therefore a Blob, one malloc'd
// block of its length and bytes, and a get is Lookup + copy + Release, so that
// every engine does the same work as libcache's cache_get (copy the value out).
//
// What each engine is charged against the same capacity in bytes:
//   RocksDB (both)  charge = the Blob's size (8 + value bytes); RocksDB adds its
//                   own metadata (kFullChargeCacheMetadata, the default): the
//                   LRU handle with the key, or HyperClockCache's 64-byte
//                   table slots, charged for the whole table up front.
//   LevelDB         keeps no metadata accounting, so charge = Blob + key +
//                   kLevelDbHandleBytes (its LRUHandle, 72 bytes + 8 of malloc
//                   header, and a hash-table slot).
// Built only when the peer's headers and library were found (bench/CMakeLists.txt
// defines LIBCACHE_BENCH_ROCKSDB / LIBCACHE_BENCH_LEVELDB).

#ifndef LIBCACHE_BENCH_PEERS_H_
#define LIBCACHE_BENCH_PEERS_H_

#include <libcache/cache.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "bench/engines.h"
#include "bench/mutex_lru.h"

#if LIBCACHE_BENCH_ROCKSDB
#include <rocksdb/cache.h>
#endif
#if LIBCACHE_BENCH_LEVELDB
#include <leveldb/cache.h>
#endif

namespace cache_bench {

// A value as the handle-based peers hold it: one allocation, length first.
struct Blob {
  size_t size;

  static size_t AllocSize(size_t vlen) { return sizeof(Blob) + vlen; }
  static Blob *Make(const void *val, size_t vlen) {
    auto *b = static_cast<Blob *>(std::malloc(AllocSize(vlen)));
    if (b == nullptr) return nullptr;
    b->size = vlen;
    if (vlen != 0) std::memcpy(b->data(), val, vlen);
    return b;
  }
  char *data() { return reinterpret_cast<char *>(this + 1); }
  const char *data() const { return reinterpret_cast<const char *>(this + 1); }

  // cache_get's contract: CACHE_OK with the value copied, or
  // CACHE_E_BUFFER_TOO_SMALL with nothing copied; *vlen set either way.
  int CopyTo(void *buf, size_t cap, size_t *vlen) const {
    *vlen = size;
    if (size > cap) return CACHE_E_BUFFER_TOO_SMALL;
    std::memcpy(buf, data(), size);
    return CACHE_OK;
  }
};

#if LIBCACHE_BENCH_ROCKSDB
namespace rocks_detail {

inline void DeleteBlob(const rocksdb::Slice & /*key*/, void *value) { std::free(value); }

inline int Get(rocksdb::Cache *cache, const void *key, size_t klen, void *buf, size_t cap,
               size_t *vlen) {
  rocksdb::Cache::Handle *h = cache->Lookup(rocksdb::Slice(static_cast<const char *>(key), klen));
  if (h == nullptr) return CACHE_NOT_FOUND;
  const int st = static_cast<const Blob *>(cache->Value(h))->CopyTo(buf, cap, vlen);
  cache->Release(h);
  return st;
}

// Inserts a copy of the value; on failure RocksDB has already freed it.
inline int Insert(rocksdb::Cache *cache, const rocksdb::Slice &key, const void *val, size_t vlen) {
  Blob *b = Blob::Make(val, vlen);
  if (b == nullptr) return CACHE_E_NOMEM;
  return cache->Insert(key, b, Blob::AllocSize(vlen), &DeleteBlob).ok() ? CACHE_OK : CACHE_E_NOMEM;
}

inline uint64_t CountEntries(rocksdb::Cache *cache) {
  uint64_t n = 0;
  cache->ApplyToAllEntries(
      [&n](const rocksdb::Slice &, void *, size_t, rocksdb::Cache::DeleterFn) { ++n; }, {});
  return n;
}

}  // namespace rocks_detail

class RocksHyperClock {
 public:
  explicit RocksHyperClock(const Capacity &cap) {
    // The recommended estimate: the average charge of an entry.
    rocksdb::HyperClockCacheOptions opts(cap.bytes, Blob::AllocSize(cap.value_size));
    cache_ = opts.MakeSharedCache();
  }
  bool ok() const { return cache_ != nullptr; }
  int Get(const void *key, size_t klen, void *buf, size_t cap, size_t *vlen) {
    return rocks_detail::Get(cache_.get(), key, klen, buf, cap, vlen);
  }
  // HyperClockCache keeps the entry already there when a key is inserted again
  // (a block cache's key names immutable bytes) and drops the new value, so a
  // write that must replace the value erases the key first.
  int Set(const void *key, size_t klen, const void *val, size_t vlen) {
    const rocksdb::Slice k(static_cast<const char *>(key), klen);
    cache_->Erase(k);
    return rocks_detail::Insert(cache_.get(), k, val, vlen);
  }
  // GetOccupancyCount() answers 0 in RocksDB 7.8; counted by a walk (setup only).
  uint64_t Entries() { return rocks_detail::CountEntries(cache_.get()); }
  uint64_t ChargedBytes() { return cache_->GetUsage(); }
  uint64_t TableSlots() { return cache_->GetTableAddressCount(); }

 private:
  std::shared_ptr<rocksdb::Cache> cache_;
};

class RocksLru {
 public:
  explicit RocksLru(const Capacity &cap) : cache_(rocksdb::NewLRUCache(cap.bytes)) {}
  bool ok() const { return cache_ != nullptr; }
  int Get(const void *key, size_t klen, void *buf, size_t cap, size_t *vlen) {
    return rocks_detail::Get(cache_.get(), key, klen, buf, cap, vlen);
  }
  // Insert replaces an existing entry for the key.
  int Set(const void *key, size_t klen, const void *val, size_t vlen) {
    return rocks_detail::Insert(cache_.get(), rocksdb::Slice(static_cast<const char *>(key), klen),
                                val, vlen);
  }
  // LRUCache does not report its entry count; counted by a walk (setup only).
  uint64_t Entries() { return rocks_detail::CountEntries(cache_.get()); }
  uint64_t ChargedBytes() { return cache_->GetUsage(); }

 private:
  std::shared_ptr<rocksdb::Cache> cache_;
};
#endif  // LIBCACHE_BENCH_ROCKSDB

#if LIBCACHE_BENCH_LEVELDB
class LevelDbLru {
 public:
  // LevelDB's per-entry metadata, which it does not charge itself:
  // sizeof(LRUHandle) (72, the key follows it in the same block) + 8 bytes of
  // malloc header + one 8-byte bucket of its chained hash table.
  static constexpr size_t kLevelDbHandleBytes = 88;

  explicit LevelDbLru(const Capacity &cap)
      : cache_(leveldb::NewLRUCache(cap.bytes)), value_size_(cap.value_size) {}
  bool ok() const { return cache_ != nullptr; }
  int Get(const void *key, size_t klen, void *buf, size_t cap, size_t *vlen) {
    leveldb::Cache::Handle *h =
        cache_->Lookup(leveldb::Slice(static_cast<const char *>(key), klen));
    if (h == nullptr) return CACHE_NOT_FOUND;
    const int st = static_cast<const Blob *>(cache_->Value(h))->CopyTo(buf, cap, vlen);
    cache_->Release(h);
    return st;
  }
  // Insert replaces an existing entry and always returns a handle to release.
  int Set(const void *key, size_t klen, const void *val, size_t vlen) {
    Blob *b = Blob::Make(val, vlen);
    if (b == nullptr) return CACHE_E_NOMEM;
    const size_t charge = Charge(klen, vlen);
    cache_->Release(cache_->Insert(leveldb::Slice(static_cast<const char *>(key), klen), b, charge,
                                   &DeleteBlob));
    return CACHE_OK;
  }
  // Every benchmark entry has the same key and value sizes, so the total
  // charge divided by one entry's charge is the entry count.
  uint64_t Entries() { return cache_->TotalCharge() / Charge(kKeySize, value_size_); }
  uint64_t ChargedBytes() { return cache_->TotalCharge(); }

 private:
  static size_t Charge(size_t klen, size_t vlen) {
    return Blob::AllocSize(vlen) + klen + kLevelDbHandleBytes;
  }
  static void DeleteBlob(const leveldb::Slice & /*key*/, void *value) { std::free(value); }

  std::unique_ptr<leveldb::Cache> cache_;
  const size_t value_size_;
};
#endif  // LIBCACHE_BENCH_LEVELDB

// The same capacity in bytes for every engine (peer_bench, peer_memory).
// Resident caches: room for every key with key + value + kResidentOverhead
// bytes each, plus a quarter for uneven shards, so that no engine evicts (the
// largest per-entry overhead among the engines is the baseline's).
constexpr uint64_t kResidentOverhead = MutexLru::kNodeBytes + 32;
// Evicting caches: a tenth of the keys at key + value + kEvictingOverhead
// bytes each, about what the lean engines charge; each engine then holds what
// its own accounting lets it (peer_bench reports it as entries).
constexpr uint64_t kEvictingOverhead = 96;

inline Capacity ResidentCapacity(uint32_t n, size_t value_size) {
  return Capacity{0, uint64_t{n} * (kKeySize + value_size + kResidentOverhead) * 5 / 4, value_size};
}

inline Capacity EvictingCapacity(uint32_t n, size_t value_size) {
  return Capacity{0, uint64_t{n} / 10 * (kKeySize + value_size + kEvictingOverhead), value_size};
}

}  // namespace cache_bench

#endif  // LIBCACHE_BENCH_PEERS_H_
