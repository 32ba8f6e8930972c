// The C ABI of objects held by reference (<libcache/cache_object.h>) over
// core/cache.h.

#include "libcache/cache_object.h"

#include <string_view>

#include "capi/src/abi_util.h"
#include "core/cache.h"

namespace {

using libcache::Cache;
using libcache::Status;
using libcache::abi::BadBytes;
using libcache::abi::Bytes;
using libcache::abi::Guarded;
using libcache::abi::WriteModeOf;

static_assert(static_cast<int>(Status::kWrongKind) == CACHE_E_WRONG_KIND);

Cache *AsCache(cache_t *c) { return reinterpret_cast<Cache *>(c); }
int ToInt(Status s) { return static_cast<int>(s); }

}  // namespace

extern "C" {

int cache_options_set_object_hooks(cache_options_t *opts, cache_object_retain_fn retain,
                                   cache_object_release_fn release, void *ctx) {
  if (opts == nullptr || retain == nullptr || release == nullptr) return CACHE_E_INVALID;
  opts->opts.objects.retain = retain;
  opts->opts.objects.release = release;
  opts->opts.objects.ctx = ctx;
  return CACHE_OK;
}

int cache_set_object(cache_t *cache, const void *key, size_t klen, void *obj, uint64_t charge,
                     const void *encoded, size_t elen, int64_t ttl_ms, int mode) {
  libcache::WriteMode m;
  if (cache == nullptr || obj == nullptr || !WriteModeOf(mode, &m) || BadBytes(key, klen) ||
      BadBytes(encoded, elen)) {
    return CACHE_E_INVALID;
  }
  return Guarded([&] {
    const std::string_view enc = Bytes(encoded, elen);
    const bool has = encoded != nullptr || elen != 0;
    return ToInt(AsCache(cache)->SetObject(Bytes(key, klen), obj, charge, has ? &enc : nullptr,
                                           ttl_ms, m));
  });
}

int cache_get_object(cache_t *cache, const void *key, size_t klen, int flags, void **obj,
                     cache_value_t **bytes) {
  if (obj != nullptr) *obj = nullptr;
  if (bytes != nullptr) *bytes = nullptr;
  if (cache == nullptr || obj == nullptr || BadBytes(key, klen) || (flags & ~CACHE_GET_LOCAL)) {
    return CACHE_E_INVALID;
  }
  return Guarded([&] {
    const libcache::Value *v = nullptr;
    const Status st = AsCache(cache)->GetObject(Bytes(key, klen), obj, bytes ? &v : nullptr,
                                                (flags & CACHE_GET_LOCAL) != 0);
    if (bytes != nullptr) {
      *bytes = reinterpret_cast<cache_value_t *>(const_cast<libcache::Value *>(v));
    }
    return ToInt(st);
  });
}

int cache_upgrade_object(cache_t *cache, const void *key, size_t klen, const cache_value_t *seen,
                         void *obj, uint64_t charge) {
  if (cache == nullptr || seen == nullptr || obj == nullptr || BadBytes(key, klen)) {
    return CACHE_E_INVALID;
  }
  return Guarded([&] {
    return ToInt(AsCache(cache)->UpgradeObject(
        Bytes(key, klen), reinterpret_cast<const libcache::Value *>(seen), obj, charge));
  });
}

int cache_take_object(cache_t *cache, const void *key, size_t klen, void **obj,
                      cache_value_t **bytes) {
  if (obj != nullptr) *obj = nullptr;
  if (bytes != nullptr) *bytes = nullptr;
  if (cache == nullptr || obj == nullptr || bytes == nullptr || BadBytes(key, klen)) {
    return CACHE_E_INVALID;
  }
  return Guarded([&] {
    const libcache::Value *v = nullptr;
    const Status st = AsCache(cache)->TakeObject(Bytes(key, klen), obj, &v);
    *bytes = reinterpret_cast<cache_value_t *>(const_cast<libcache::Value *>(v));
    return ToInt(st);
  });
}

int cache_visit_objects(cache_t *cache, cache_visit_fn fn, void *ctx) {
  if (cache == nullptr || fn == nullptr) return CACHE_E_INVALID;
  return Guarded([&] { return AsCache(cache)->VisitObjects(fn, ctx); });
}

}  // extern "C"
