// The C ABI of libcache_redis.so.1 (<libcache/cache_redis.h>): options, the
// store table, and the adapter, which is the store plus its link. Every entry
// point catches every exception (none crosses the ABI).
#include "libcache/cache_redis.h"

#include <string.h>

#include <memory>
#include <new>
#include <string>

#include "redis/src/coherence.h"
#include "redis/src/redis_store.h"

using libcache::redis::Coherence;
using libcache::redis::RedisStore;
using libcache::redis::StoreConfig;
using libcache::redis::Target;

struct cache_redis_options_s {
  Target target;
  std::string prefix;
  int64_t connect_ms = 1000;
  int64_t command_ms = 1000;
  bool coherence = true;
  int64_t health_interval_ms = 100;
  cache_store_options_t *store = nullptr;  // owned
};

// The adapter: the store is the link's ctx, and its destroy callback frees
// the whole adapter, so closing the cache (which closes the link) frees it.
// The coherence thread (when on) stops first: it uses the store and the link.
struct cache_redis_s {
  explicit cache_redis_s(StoreConfig c) : store(std::move(c)) {}
  ~cache_redis_s() { coherence.reset(); }
  RedisStore store;
  std::unique_ptr<Coherence> coherence;  // NULL: coherence off
  cache_link_t *link = nullptr;
};

namespace {

thread_local std::string tls_errmsg;

int Fail(int status, const std::string &why) {
  try {
    tls_errmsg = why;
  } catch (...) {
  }
  return status;
}

void Clear() { tls_errmsg.clear(); }

bool EqualsIgnoreCase(const void *a, size_t alen, const char *b) {
  size_t n = strlen(b);
  if (alen != n) return false;
  const char *s = static_cast<const char *>(a);
  for (size_t i = 0; i < n; ++i) {
    char c = s[i];
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    if (c != b[i]) return false;
  }
  return true;
}

// A command that would leave a shared load connection in another state than
// it found it (a later load would read the wrong replies or the wrong db).
bool IsConnectionStateCommand(int argc, const void *const *argv, const size_t *argvlen) {
  static const char *const kRefused[] = {
      "SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE",
      "MONITOR",   "SELECT",     "AUTH",       "HELLO",       "MULTI",        "EXEC",
      "DISCARD",   "WATCH",      "UNWATCH",    "RESET",       "QUIT",         "SYNC",
      "PSYNC",     "REPLCONF"};
  for (const char *c : kRefused) {
    if (EqualsIgnoreCase(argv[0], argvlen[0], c)) return true;
  }
  if (argc >= 2 && EqualsIgnoreCase(argv[0], argvlen[0], "CLIENT")) {
    for (const char *sub : {"REPLY", "TRACKING", "CACHING"}) {
      if (EqualsIgnoreCase(argv[1], argvlen[1], sub)) return true;
    }
  }
  return false;
}

StoreConfig ConfigOf(const cache_redis_options_t *o) {
  StoreConfig c;
  c.target = o->target;
  c.prefix = o->prefix;
  c.connect_ms = o->connect_ms;
  c.command_ms = o->command_ms;
  return c;
}

int CbWriteBatch(void *ctx, cache_store_op_t *ops, size_t n) {
  try {
    return static_cast<cache_redis_t *>(ctx)->store.WriteBatch(ops, n);
  } catch (const std::bad_alloc &) {
    return CACHE_E_NOMEM;
  } catch (...) {
    return CACHE_E_INTERNAL;
  }
}

int CbLoad(void *ctx, const void *key, size_t klen, int64_t timeout_ms, cache_store_value_fn fn,
           void *fn_ctx) {
  try {
    return static_cast<cache_redis_t *>(ctx)->store.Load(key, klen, timeout_ms, fn, fn_ctx);
  } catch (const std::bad_alloc &) {
    return CACHE_E_NOMEM;
  } catch (...) {
    return CACHE_E_INTERNAL;
  }
}

void CbForked(void *ctx) {
  cache_redis_t *r = static_cast<cache_redis_t *>(ctx);
  r->store.Forked();
  if (r->coherence != nullptr) r->coherence->Forked();
}

void CbDestroy(void *ctx) { delete static_cast<cache_redis_t *>(ctx); }

void FillTable(cache_redis_t *r, cache_store_t *out) {
  memset(out, 0, sizeof *out);
  out->struct_size = sizeof *out;
  out->ctx = r;
  out->write_batch = CbWriteBatch;
  out->load = CbLoad;
  out->dead_letter = nullptr;
  out->forked = CbForked;
  out->destroy = CbDestroy;
}

}  // namespace

extern "C" {

cache_redis_options_t *cache_redis_options_new(void) {
  Clear();
  cache_redis_options_t *o = new (std::nothrow) cache_redis_options_t;
  if (o == nullptr) return nullptr;
  o->store = cache_store_options_new();
  if (o->store == nullptr) {
    delete o;
    return nullptr;
  }
  return o;
}

void cache_redis_options_free(cache_redis_options_t *opts) {
  if (opts == nullptr) return;
  cache_store_options_free(opts->store);
  delete opts;
}

int cache_redis_options_set_url(cache_redis_options_t *opts, const char *url) {
  Clear();
  if (opts == nullptr || url == nullptr) return Fail(CACHE_E_INVALID, "NULL options or URL");
  try {
    Target t;
    std::string error;
    if (!libcache::redis::ParseUrl(url, &t, &error)) {
      return Fail(CACHE_E_INVALID, "bad Redis URL: " + error);
    }
    opts->target = std::move(t);
    return CACHE_OK;
  } catch (...) {
    return Fail(CACHE_E_NOMEM, "out of memory");
  }
}

int cache_redis_options_set_prefix(cache_redis_options_t *opts, const void *prefix, size_t len) {
  Clear();
  if (opts == nullptr || (prefix == nullptr && len > 0)) {
    return Fail(CACHE_E_INVALID, "NULL options, or a NULL prefix with a length");
  }
  try {
    opts->prefix.assign(static_cast<const char *>(prefix), len);
    return CACHE_OK;
  } catch (...) {
    return Fail(CACHE_E_NOMEM, "out of memory");
  }
}

int cache_redis_options_set_timeouts(cache_redis_options_t *opts, int64_t connect_ms,
                                     int64_t command_ms) {
  Clear();
  // The upper bound keeps deadlines (now + a few timeouts) far from overflow.
  const int64_t kMax = int64_t{1} << 40;
  if (opts == nullptr || connect_ms <= 0 || command_ms <= 0 || connect_ms > kMax ||
      command_ms > kMax) {
    return Fail(CACHE_E_INVALID, "timeouts must be > 0 ms (and below 2^40)");
  }
  opts->connect_ms = connect_ms;
  opts->command_ms = command_ms;
  return CACHE_OK;
}

int cache_redis_options_set_coherence(cache_redis_options_t *opts, int on,
                                      int64_t health_interval_ms) {
  Clear();
  if (opts == nullptr || health_interval_ms <= 0 || health_interval_ms > (int64_t{1} << 40)) {
    return Fail(CACHE_E_INVALID, "NULL options, or a health interval not > 0 ms (and below 2^40)");
  }
  opts->coherence = on != 0;
  opts->health_interval_ms = health_interval_ms;
  return CACHE_OK;
}

cache_store_options_t *cache_redis_options_store_options(cache_redis_options_t *opts) {
  return opts == nullptr ? nullptr : opts->store;
}

int cache_redis_store_new(const cache_redis_options_t *opts, cache_store_t *out) {
  Clear();
  if (opts == nullptr || out == nullptr) return Fail(CACHE_E_INVALID, "NULL options or output");
  try {
    cache_redis_t *r = new cache_redis_t(ConfigOf(opts));
    FillTable(r, out);
    return CACHE_OK;
  } catch (...) {
    return Fail(CACHE_E_NOMEM, "out of memory");
  }
}

int cache_redis_attach(cache_t *cache, const cache_redis_options_t *opts, cache_redis_t **out) {
  Clear();
  if (cache == nullptr || opts == nullptr || out == nullptr) {
    return Fail(CACHE_E_INVALID, "NULL cache, options or output");
  }
  cache_redis_t *r = nullptr;
  try {
    r = new cache_redis_t(ConfigOf(opts));
    std::string error;
    int rc = r->store.Connect(&error);
    if (rc == CACHE_OK && opts->coherence) {
      // Subscription and tracking before the link (coherence.h, "attach").
      r->coherence = std::make_unique<Coherence>(&r->store, opts->health_interval_ms);
      rc = r->coherence->Establish(&error);
    }
    if (rc != CACHE_OK) {
      delete r;
      return Fail(rc, error);
    }
  } catch (...) {
    delete r;
    return Fail(CACHE_E_NOMEM, "out of memory");
  }
  cache_store_t table;
  FillTable(r, &table);
  int rc = cache_store_attach(cache, &table, opts->store, &r->link);
  if (rc != CACHE_OK) {
    delete r;  // the link never took it (its destroy is not called on failure)
    return Fail(rc, rc == CACHE_EXISTS ? "the cache has a store attached already"
                                       : std::string("cache_store_attach: ") + cache_strerror(rc));
  }
  if (r->coherence != nullptr) {
    // What the cache held before it was linked was never tracked.
    cache_store_invalidate_all(r->link);
    if (r->coherence->Start(r->link) != CACHE_OK) {
      cache_store_close(r->link, 0, nullptr);  // destroys r
      return Fail(CACHE_E_NOMEM, "cannot start the coherence thread");
    }
  }
  *out = r;
  return CACHE_OK;
}

cache_link_t *cache_redis_link(cache_redis_t *r) { return r == nullptr ? nullptr : r->link; }

int cache_redis_flush(cache_redis_t *r, int64_t timeout_ms) {
  Clear();
  if (r == nullptr) return Fail(CACHE_E_INVALID, "NULL adapter");
  return cache_store_flush(r->link, timeout_ms);
}

int cache_redis_set_sync(cache_redis_t *r, const void *key, size_t klen, const void *val,
                         size_t vlen, int64_t ttl_ms, int64_t timeout_ms) {
  Clear();
  if (r == nullptr) return Fail(CACHE_E_INVALID, "NULL adapter");
  return cache_store_set_sync(r->link, key, klen, val, vlen, ttl_ms, timeout_ms);
}

int cache_redis_delete_sync(cache_redis_t *r, const void *key, size_t klen, int64_t timeout_ms) {
  Clear();
  if (r == nullptr) return Fail(CACHE_E_INVALID, "NULL adapter");
  return cache_store_delete_sync(r->link, key, klen, timeout_ms);
}

int cache_redis_drain_dead_letters(cache_redis_t *r, cache_dead_letter_fn fn, void *ctx,
                                   uint64_t *count) {
  Clear();
  if (r == nullptr) return Fail(CACHE_E_INVALID, "NULL adapter");
  return cache_store_drain_dead_letters(r->link, fn, ctx, count);
}

int cache_redis_close(cache_redis_t *r, int64_t timeout_ms, uint64_t *unflushed) {
  Clear();
  if (r == nullptr) return Fail(CACHE_E_INVALID, "NULL adapter");
  return cache_store_close(r->link, timeout_ms, unflushed);  // destroys r
}

int cache_redis_stats(cache_redis_t *r, cache_redis_stats_t *out, size_t out_size) {
  Clear();
  if (r == nullptr || out == nullptr) return Fail(CACHE_E_INVALID, "NULL adapter or output");
  cache_redis_stats_t s;
  memset(&s, 0, sizeof s);
  int rc = cache_store_stats(r->link, &s.link, sizeof s.link);
  if (rc != CACHE_OK) return rc;
  libcache::redis::StoreCounters c = r->store.counters();
  s.connects = c.connects;
  s.connect_errors = c.connect_errors;
  s.fenced = c.fenced;
  s.health_check_age_ms = -1;
  if (r->coherence != nullptr) {
    libcache::redis::CoherenceCounters k = r->coherence->counters();
    s.coherence = 1;
    s.tracking = k.tracking ? 1 : 0;
    s.tracking_resets = k.resets;
    s.invalidation_messages = k.messages;
    s.flushall_messages = k.flushall;
    s.health_check_age_ms = k.health_age_ms;
  }
  memcpy(out, &s, out_size < sizeof s ? out_size : sizeof s);
  return CACHE_OK;
}

size_t cache_redis_last_error(cache_redis_t *r, char *buf, size_t size) {
  if (r == nullptr) return 0;
  try {
    std::string e = r->store.last_error();
    if (buf != nullptr && size > 0) {
      size_t n = e.size() < size - 1 ? e.size() : size - 1;
      memcpy(buf, e.data(), n);
      buf[n] = '\0';
    }
    return e.size();
  } catch (...) {
    return 0;
  }
}

const char *cache_redis_errmsg(void) { return tls_errmsg.c_str(); }

int cache_redis_command(cache_redis_t *r, int argc, const void *const *argv,
                        const size_t *argvlen, int64_t timeout_ms, cache_redis_reply_fn fn,
                        void *ctx) {
  Clear();
  if (r == nullptr || argc <= 0 || argv == nullptr || argvlen == nullptr || fn == nullptr) {
    return Fail(CACHE_E_INVALID, "NULL adapter, arguments or callback, or argc <= 0");
  }
  for (int i = 0; i < argc; ++i) {
    if (argv[i] == nullptr && argvlen[i] > 0) {
      return Fail(CACHE_E_INVALID, "a NULL argument with a length");
    }
  }
  if (IsConnectionStateCommand(argc, argv, argvlen)) {
    return Fail(CACHE_E_INVALID,
                "cache_redis_command runs one command on a shared connection: commands that "
                "change the connection's state (SUBSCRIBE, MONITOR, SELECT, AUTH, HELLO, MULTI, "
                "EXEC, DISCARD, WATCH, UNWATCH, RESET, QUIT, CLIENT REPLY/TRACKING/CACHING) are "
                "refused");
  }
  try {
    struct Call {
      cache_redis_reply_fn fn;
      void *ctx;
    } call = {fn, ctx};
    int rc = r->store.Command(
        argc, argv, argvlen, timeout_ms,
        [](void *c, const redisReply *x) {
          Call *k = static_cast<Call *>(c);
          switch (x->type) {
            case REDIS_REPLY_STRING:
              k->fn(k->ctx, CACHE_REDIS_REPLY_STRING, x->str, x->len, 0);
              break;
            case REDIS_REPLY_STATUS:
              k->fn(k->ctx, CACHE_REDIS_REPLY_STATUS, x->str, x->len, 0);
              break;
            case REDIS_REPLY_ERROR:
              k->fn(k->ctx, CACHE_REDIS_REPLY_ERROR, x->str, x->len, 0);
              break;
            case REDIS_REPLY_INTEGER:
              k->fn(k->ctx, CACHE_REDIS_REPLY_INTEGER, nullptr, 0, x->integer);
              break;
            case REDIS_REPLY_ARRAY:
              k->fn(k->ctx, CACHE_REDIS_REPLY_ARRAY, nullptr, 0,
                    static_cast<int64_t>(x->elements));
              break;
            default:
              k->fn(k->ctx, CACHE_REDIS_REPLY_NIL, nullptr, 0, 0);
              break;
          }
        },
        &call);
    if (rc != CACHE_OK) {
      std::string e = r->store.last_error();
      return Fail(rc, rc == CACHE_E_CLOSED ? std::string("the adapter was inherited through fork()")
                                           : e.empty() ? std::string(cache_strerror(rc)) : e);
    }
    return CACHE_OK;
  } catch (...) {
    return Fail(CACHE_E_NOMEM, "out of memory");
  }
}

}  // extern "C"
