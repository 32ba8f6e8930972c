// The C ABI of <libcache/cache_store.h>: argument checks and status
// translation around the link (core/src/link.h); no exception crosses.

#include "libcache/cache_store.h"

#include <cstddef>
#include <cstring>
#include <new>
#include <string_view>

#include "capi/src/abi_util.h"
#include "core/cache.h"
#include "core/src/link.h"

using libcache::Cache;
using libcache::Status;
using libcache::detail::Link;
using libcache::detail::LinkOptions;

static_assert(static_cast<int>(Status::kIo) == CACHE_E_IO);
static_assert(static_cast<int>(Status::kFull) == CACHE_E_FULL);
static_assert(static_cast<int>(Status::kTimeout) == CACHE_E_TIMEOUT);
static_assert(static_cast<int>(Status::kClosed) == CACHE_E_CLOSED);
static_assert(static_cast<int>(Status::kRejected) == CACHE_STORE_REJECTED);
static_assert(sizeof(cache_link_stats_t) == sizeof(libcache::detail::LinkStats));

struct cache_store_options_s {
  LinkOptions opts;
};

namespace {

using libcache::abi::BadBytes;
using libcache::abi::Bytes;
using libcache::abi::Guarded;

Link *AsLink(cache_link_t *l) { return reinterpret_cast<Link *>(l); }




constexpr uint32_t kMaxBatchOps = 65536;

}  // namespace

extern "C" {

cache_store_options_t *cache_store_options_new(void) {
  return new (std::nothrow) cache_store_options_s();
}

void cache_store_options_free(cache_store_options_t *opts) { delete opts; }

int cache_store_options_set_flush_interval_ms(cache_store_options_t *opts, uint64_t interval_ms) {
  if (opts == nullptr || interval_ms > (uint64_t{1} << 40)) return CACHE_E_INVALID;
  opts->opts.flush_interval_ms = interval_ms;
  return CACHE_OK;
}

int cache_store_options_set_batch(cache_store_options_t *opts, uint32_t max_ops,
                                  uint64_t max_bytes) {
  if (opts == nullptr || max_ops == 0 || max_ops > kMaxBatchOps || max_bytes == 0) {
    return CACHE_E_INVALID;
  }
  opts->opts.batch_max_ops = max_ops;
  opts->opts.batch_max_bytes = max_bytes;
  return CACHE_OK;
}

int cache_store_options_set_max_queue(cache_store_options_t *opts, uint64_t max_bytes,
                                      uint64_t max_ops) {
  if (opts == nullptr || max_bytes == 0 || max_ops == 0 ||
      max_bytes > libcache::detail::kMaxQueueBytesLimit ||
      max_ops > libcache::detail::kMaxQueueOpsLimit) {
    return CACHE_E_INVALID;
  }
  opts->opts.max_queue_bytes = max_bytes;
  opts->opts.max_queue_ops = max_ops;
  return CACHE_OK;
}

int cache_store_options_set_on_full(cache_store_options_t *opts, int policy,
                                    int64_t block_timeout_ms) {
  if (opts == nullptr || (policy != CACHE_STORE_ON_FULL_BLOCK && policy != CACHE_STORE_ON_FULL_FAIL) ||
      (policy == CACHE_STORE_ON_FULL_BLOCK && block_timeout_ms < -1)) {
    return CACHE_E_INVALID;
  }
  opts->opts.block_when_full = policy == CACHE_STORE_ON_FULL_BLOCK;
  opts->opts.block_timeout_ms = policy == CACHE_STORE_ON_FULL_BLOCK ? block_timeout_ms : 0;
  return CACHE_OK;
}

int cache_store_options_set_read_through(cache_store_options_t *opts, int on, int64_t timeout_ms) {
  if (opts == nullptr || timeout_ms < 0) return CACHE_E_INVALID;
  opts->opts.read_through = on != 0;
  opts->opts.read_timeout_ms = timeout_ms;
  return CACHE_OK;
}

int cache_store_options_set_max_retries(cache_store_options_t *opts, uint32_t retries) {
  if (opts == nullptr) return CACHE_E_INVALID;
  opts->opts.max_retries = retries;
  return CACHE_OK;
}

int cache_store_options_set_backoff(cache_store_options_t *opts, uint64_t min_ms, uint64_t max_ms) {
  if (opts == nullptr || min_ms == 0 || max_ms < min_ms || max_ms > (uint64_t{1} << 40)) {
    return CACHE_E_INVALID;
  }
  opts->opts.backoff_min_ms = min_ms;
  opts->opts.backoff_max_ms = max_ms;
  return CACHE_OK;
}

int cache_store_attach(cache_t *cache, const cache_store_t *store,
                       const cache_store_options_t *opts, cache_link_t **out) {
  if (out != nullptr) *out = nullptr;
  if (cache == nullptr || store == nullptr || out == nullptr) return CACHE_E_INVALID;
  // A store table from an older header is shorter: the missing callbacks are NULL.
  constexpr size_t kMinSize = offsetof(cache_store_t, write_batch) + sizeof(store->write_batch);
  if (store->struct_size < kMinSize) return CACHE_E_INVALID;
  cache_store_t copy;
  std::memset(&copy, 0, sizeof copy);
  std::memcpy(&copy, store, store->struct_size < sizeof copy ? store->struct_size : sizeof copy);
  copy.struct_size = sizeof copy;
  if (copy.write_batch == nullptr) return CACHE_E_INVALID;
  return Guarded([&] {
    const LinkOptions defaults;
    Link *link = nullptr;
    const Status st = reinterpret_cast<Cache *>(cache)->AttachLink(
        copy, opts != nullptr ? opts->opts : defaults, &link);
    if (st == Status::kOk) *out = reinterpret_cast<cache_link_t *>(link);
    return static_cast<int>(st);
  });
}

int cache_store_flush(cache_link_t *link, int64_t timeout_ms) {
  if (link == nullptr || timeout_ms < -1) return CACHE_E_INVALID;
  return Guarded([&] { return static_cast<int>(AsLink(link)->Flush(timeout_ms)); });
}

int cache_store_set_sync(cache_link_t *link, const void *key, size_t klen, const void *val,
                         size_t vlen, int64_t ttl_ms, int64_t timeout_ms) {
  if (link == nullptr || BadBytes(key, klen) || BadBytes(val, vlen) || timeout_ms < -1) {
    return CACHE_E_INVALID;
  }
  return Guarded([&] {
    return static_cast<int>(
        AsLink(link)->SetSync(Bytes(key, klen), Bytes(val, vlen), ttl_ms, timeout_ms));
  });
}

int cache_store_delete_sync(cache_link_t *link, const void *key, size_t klen, int64_t timeout_ms) {
  if (link == nullptr || BadBytes(key, klen) || timeout_ms < -1) return CACHE_E_INVALID;
  return Guarded(
      [&] { return static_cast<int>(AsLink(link)->DeleteSync(Bytes(key, klen), timeout_ms)); });
}

int cache_store_stats(cache_link_t *link, cache_link_stats_t *out, size_t out_size) {
  if (link == nullptr || out == nullptr) return CACHE_E_INVALID;
  return Guarded([&] {
    const libcache::detail::LinkStats s = AsLink(link)->GetStats();
    cache_link_stats_t full = {s.queued_ops,   s.queued_bytes, s.flushed_ops,  s.batches,
                               s.retries,      s.store_errors, s.dead_letters, s.refused_full,
                               s.coalesced,    s.oldest_pending_ms, s.read_hits, s.read_misses,
                               s.read_errors,  s.invalidations, s.invalidated, s.conflicts,
                               s.fills_refused, s.coherent};
    std::memcpy(out, &full, out_size < sizeof(full) ? out_size : sizeof(full));
    return CACHE_OK;
  });
}

int cache_store_invalidate(cache_link_t *link, const void *key, size_t klen) {
  if (link == nullptr || BadBytes(key, klen)) return CACHE_E_INVALID;
  return Guarded([&] { return static_cast<int>(AsLink(link)->Invalidate(Bytes(key, klen))); });
}

int cache_store_invalidate_all(cache_link_t *link) {
  if (link == nullptr) return CACHE_E_INVALID;
  return Guarded([&] { return static_cast<int>(AsLink(link)->InvalidateAll()); });
}

int cache_store_set_coherent(cache_link_t *link, int coherent) {
  if (link == nullptr || (coherent != 0 && coherent != 1)) return CACHE_E_INVALID;
  return Guarded([&] { return static_cast<int>(AsLink(link)->SetCoherent(coherent == 1)); });
}

int cache_store_drain_dead_letters(cache_link_t *link, cache_dead_letter_fn fn, void *ctx,
                                   uint64_t *count) {
  if (count != nullptr) *count = 0;
  if (link == nullptr) return CACHE_E_INVALID;
  return Guarded([&] {
    const uint64_t n = AsLink(link)->DrainDeadLetters(fn, ctx);
    if (count != nullptr) *count = n;
    return CACHE_OK;
  });
}

int cache_store_close(cache_link_t *link, int64_t timeout_ms, uint64_t *unflushed) {
  if (unflushed != nullptr) *unflushed = 0;
  if (link == nullptr || timeout_ms < -1) return CACHE_E_INVALID;
  return Guarded([&] { return static_cast<int>(AsLink(link)->Close(timeout_ms, unflushed)); });
}

}  // extern "C"
