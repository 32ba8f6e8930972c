// The C ABI: argument checks, status translation, and a catch-all so that no
// C++ exception ever crosses the boundary. All the work is in core/.

#include "libcache/cache.h"

#include <cstring>
#include <memory>
#include <new>
#include <string_view>
#include <type_traits>

#include "capi/src/abi_util.h"
#include "core/cache.h"
#include "libcache/cache_experimental.h"

using libcache::Cache;
using libcache::Status;

static_assert(static_cast<int>(Status::kOk) == CACHE_OK);
static_assert(static_cast<int>(Status::kNotFound) == CACHE_NOT_FOUND);
static_assert(static_cast<int>(Status::kExists) == CACHE_EXISTS);
static_assert(static_cast<int>(Status::kInvalid) == CACHE_E_INVALID);
static_assert(static_cast<int>(Status::kNoMem) == CACHE_E_NOMEM);
static_assert(static_cast<int>(Status::kTooLarge) == CACHE_E_TOO_LARGE);
static_assert(static_cast<int>(Status::kBufferTooSmall) == CACHE_E_BUFFER_TOO_SMALL);
static_assert(static_cast<int>(Status::kInternal) == CACHE_E_INTERNAL);
static_assert(libcache::kMaxKeySize == CACHE_MAX_KEY_SIZE);
static_assert(libcache::kTtlDefault == CACHE_TTL_DEFAULT && libcache::kTtlNone == CACHE_TTL_NONE);


namespace {

using libcache::abi::BadBytes;
using libcache::abi::Bytes;
using libcache::abi::Guarded;
using libcache::abi::PolicyOf;
using libcache::abi::WriteModeOf;

// cache_t and cache_value_t are never defined: they are the core's objects.
Cache *AsCache(cache_t *c) { return reinterpret_cast<Cache *>(c); }
const Cache *AsCache(const cache_t *c) { return reinterpret_cast<const Cache *>(c); }
const libcache::Value *AsValue(const cache_value_t *v) {
  return reinterpret_cast<const libcache::Value *>(v);
}

int ToInt(Status s) { return static_cast<int>(s); }




int Write(cache_t *cache, const void *key, size_t klen, const void *val, size_t vlen,
          int64_t ttl_ms, libcache::WriteMode mode) {
  if (cache == nullptr || BadBytes(key, klen) || BadBytes(val, vlen)) return CACHE_E_INVALID;
  return Guarded([&] {
    return ToInt(AsCache(cache)->Write(Bytes(key, klen), Bytes(val, vlen), ttl_ms, mode));
  });
}

}  // namespace

extern "C" {

unsigned cache_version_number(void) { return CACHE_VERSION_NUMBER; }

const char *cache_version_string(void) { return CACHE_VERSION_STRING; }

const char *cache_strerror(int status) {
  switch (status) {
    case CACHE_OK:
      return "ok";
    case CACHE_NOT_FOUND:
      return "not found: no live entry for the key";
    case CACHE_EXISTS:
      return "exists: a live entry already holds the key";
    case CACHE_E_INVALID:
      return "invalid argument";
    case CACHE_E_NOMEM:
      return "out of memory";
    case CACHE_E_TOO_LARGE:
      return "too large: the key or entry can never fit in the cache's bounds";
    case CACHE_E_BUFFER_TOO_SMALL:
      return "buffer too small: the needed size was stored in *vlen";
    case CACHE_E_IO:
      return "I/O error";
    case CACHE_E_FULL:
      return "full: a bounded queue or table has no room";
    case CACHE_E_TIMEOUT:
      return "timed out";
    case CACHE_E_CLOSED:
      return "closed";
    case CACHE_E_INTERNAL:
      return "internal error (a libcache bug; please report it)";
    case CACHE_E_WRONG_KIND:
      return "wrong kind: the entry holds a language object, not bytes (or bytes where an "
             "object was required)";
    default:
      return "unknown libcache status";
  }
}

cache_options_t *cache_options_new(void) { return new (std::nothrow) cache_options_s(); }

void cache_options_free(cache_options_t *opts) { delete opts; }

int cache_options_set_max_bytes(cache_options_t *opts, uint64_t max_bytes) {
  if (opts == nullptr) return CACHE_E_INVALID;
  opts->opts.max_bytes = max_bytes;
  return CACHE_OK;
}

int cache_options_set_max_entries(cache_options_t *opts, uint64_t max_entries) {
  if (opts == nullptr) return CACHE_E_INVALID;
  opts->opts.max_entries = max_entries;
  return CACHE_OK;
}

int cache_options_set_default_ttl_ms(cache_options_t *opts, uint64_t ttl_ms) {
  if (opts == nullptr || ttl_ms > libcache::kMaxTtlMs) return CACHE_E_INVALID;
  opts->opts.default_ttl_ms = ttl_ms;
  return CACHE_OK;
}

int cache_options_set_shards(cache_options_t *opts, uint32_t shards) {
  if (opts == nullptr || shards > libcache::kMaxShards || (shards & (shards - 1)) != 0) {
    return CACHE_E_INVALID;
  }
  opts->opts.shards = shards;
  return CACHE_OK;
}

int cache_options_set_policy(cache_options_t *opts, int policy) {
  libcache::PolicyKind kind;
  if (opts == nullptr || !PolicyOf(policy, &kind)) return CACHE_E_INVALID;
  opts->opts.policy = kind;
  return CACHE_OK;
}

int cache_options_set_clock(cache_options_t *opts, cache_clock_fn fn, void *ctx) {
  if (opts == nullptr) return CACHE_E_INVALID;
  opts->opts.clock = fn;
  opts->opts.clock_ctx = ctx;
  return CACHE_OK;
}

int cache_options_set_hash_seed(cache_options_t *opts, uint64_t seed) {
  if (opts == nullptr) return CACHE_E_INVALID;
  opts->opts.fixed_seed = true;
  opts->opts.seed = seed;
  return CACHE_OK;
}

int cache_open(const cache_options_t *opts, cache_t **out) {
  if (out == nullptr) return CACHE_E_INVALID;
  *out = nullptr;
  return Guarded([&] {
    const libcache::Options defaults;
    std::unique_ptr<Cache> cache;
    const Status st = Cache::Open(opts != nullptr ? opts->opts : defaults, &cache);
    if (st == Status::kOk) *out = reinterpret_cast<cache_t *>(cache.release());
    return ToInt(st);
  });
}

void cache_close(cache_t *cache) { delete AsCache(cache); }

int cache_setv(cache_t *cache, const void *key, size_t klen, const cache_iovec_t *parts,
               size_t nparts, int64_t ttl_ms, int mode) {
  libcache::WriteMode m;
  if (!WriteModeOf(mode, &m)) return CACHE_E_INVALID;
  if (cache == nullptr || BadBytes(key, klen) || BadBytes(parts, nparts)) return CACHE_E_INVALID;
  // A few parts (the usual tag + payload) convert on the stack.
  constexpr size_t kStackParts = 8;
  std::string_view stack[kStackParts];
  for (size_t i = 0; i < nparts; ++i) {
    if (BadBytes(parts[i].data, parts[i].size)) return CACHE_E_INVALID;
  }
  return Guarded([&] {
    std::unique_ptr<std::string_view[]> heap;
    std::string_view *views = stack;
    if (nparts > kStackParts) {
      heap.reset(new std::string_view[nparts]);
      views = heap.get();
    }
    for (size_t i = 0; i < nparts; ++i) views[i] = Bytes(parts[i].data, parts[i].size);
    return ToInt(AsCache(cache)->Write(Bytes(key, klen), views, nparts, ttl_ms, m));
  });
}

int cache_set(cache_t *cache, const void *key, size_t klen, const void *val, size_t vlen,
              int64_t ttl_ms) {
  return Write(cache, key, klen, val, vlen, ttl_ms, libcache::WriteMode::kSet);
}

int cache_add(cache_t *cache, const void *key, size_t klen, const void *val, size_t vlen,
              int64_t ttl_ms) {
  return Write(cache, key, klen, val, vlen, ttl_ms, libcache::WriteMode::kAdd);
}

int cache_replace(cache_t *cache, const void *key, size_t klen, const void *val, size_t vlen,
                  int64_t ttl_ms) {
  return Write(cache, key, klen, val, vlen, ttl_ms, libcache::WriteMode::kReplace);
}

int cache_get(cache_t *cache, const void *key, size_t klen, void *buf, size_t cap, size_t *vlen) {
  if (cache == nullptr || BadBytes(key, klen) || BadBytes(buf, cap)) return CACHE_E_INVALID;
  return Guarded([&] { return ToInt(AsCache(cache)->Get(Bytes(key, klen), buf, cap, vlen)); });
}

int cache_read(cache_t *cache, const void *key, size_t klen, cache_read_fn fn, void *ctx) {
  if (cache == nullptr || BadBytes(key, klen)) return CACHE_E_INVALID;
  static_assert(std::is_same_v<cache_read_fn, libcache::ReadFn>, "one signature, no cast");
  return Guarded([&] { return ToInt(AsCache(cache)->Read(Bytes(key, klen), fn, ctx)); });
}

int cache_get_value(cache_t *cache, const void *key, size_t klen, cache_value_t **out) {
  if (out != nullptr) *out = nullptr;
  if (cache == nullptr || BadBytes(key, klen) || out == nullptr) return CACHE_E_INVALID;
  return Guarded([&] {
    const libcache::Value *v = nullptr;
    const Status st = AsCache(cache)->Pin(Bytes(key, klen), &v);
    *out = reinterpret_cast<cache_value_t *>(const_cast<libcache::Value *>(v));
    return ToInt(st);
  });
}

const void *cache_value_data(const cache_value_t *value) {
  return value == nullptr ? nullptr : libcache::ValueData(AsValue(value));
}

size_t cache_value_size(const cache_value_t *value) {
  return value == nullptr ? 0 : libcache::ValueSize(AsValue(value));
}

void cache_value_release(cache_value_t *value) {
  if (value != nullptr) libcache::ReleaseValue(AsValue(value));
}

int cache_delete(cache_t *cache, const void *key, size_t klen) {
  if (cache == nullptr || BadBytes(key, klen)) return CACHE_E_INVALID;
  return Guarded([&] { return ToInt(AsCache(cache)->Delete(Bytes(key, klen))); });
}

int cache_take(cache_t *cache, const void *key, size_t klen, cache_value_t **out) {
  if (out != nullptr) *out = nullptr;
  if (cache == nullptr || BadBytes(key, klen) || out == nullptr) return CACHE_E_INVALID;
  return Guarded([&] {
    const libcache::Value *v = nullptr;
    const Status st = AsCache(cache)->Take(Bytes(key, klen), &v);
    *out = reinterpret_cast<cache_value_t *>(const_cast<libcache::Value *>(v));
    return ToInt(st);
  });
}

int cache_touch(cache_t *cache, const void *key, size_t klen, int64_t ttl_ms) {
  if (cache == nullptr || BadBytes(key, klen)) return CACHE_E_INVALID;
  return Guarded([&] { return ToInt(AsCache(cache)->Touch(Bytes(key, klen), ttl_ms)); });
}

int cache_ttl(cache_t *cache, const void *key, size_t klen, int64_t *remaining_ms) {
  if (cache == nullptr || BadBytes(key, klen) || remaining_ms == nullptr) return CACHE_E_INVALID;
  return Guarded([&] { return ToInt(AsCache(cache)->Ttl(Bytes(key, klen), remaining_ms)); });
}

int cache_clear(cache_t *cache) {
  if (cache == nullptr) return CACHE_E_INVALID;
  return Guarded([&] {
    AsCache(cache)->Clear();
    return CACHE_OK;
  });
}

int cache_purge_expired(cache_t *cache, uint64_t *reclaimed) {
  if (cache == nullptr) return CACHE_E_INVALID;
  return Guarded([&] {
    const uint64_t n = AsCache(cache)->PurgeExpired();
    if (reclaimed != nullptr) *reclaimed = n;
    return CACHE_OK;
  });
}

int cache_stats(cache_t *cache, cache_stats_t *out, size_t out_size) {
  if (cache == nullptr || out == nullptr) return CACHE_E_INVALID;
  return Guarded([&] {
    const libcache::Stats s = AsCache(cache)->GetStats();
    cache_stats_t full = {s.hits,      s.misses,      s.sets,    s.deletes,
                          s.evictions, s.expirations, s.entries, s.bytes};
    std::memcpy(out, &full, out_size < sizeof(full) ? out_size : sizeof(full));
    return CACHE_OK;
  });
}

uint32_t cache_shard_count(const cache_t *cache) {
  return cache == nullptr ? 0 : AsCache(cache)->shard_count();
}

const char *cache_allocator_name(void) { return libcache::AllocatorName(); }

int cache_check_invariants(const cache_t *cache, const char **what) {
  if (what != nullptr) *what = nullptr;
  if (cache == nullptr) return CACHE_E_INVALID;
  return Guarded([&] {
    const char *broken = AsCache(cache)->CheckInvariants();
    if (what != nullptr) *what = broken;
    return broken == nullptr ? CACHE_OK : CACHE_E_INTERNAL;
  });
}

}  // extern "C"
