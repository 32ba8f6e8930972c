// libcache's Node.js addon: the Redis adapter (<libcache/cache_redis.h>) and
// the calls that may wait for it, each run on a worker thread of libuv's pool
// (Napi::AsyncWorker) behind a Promise, so that none blocks the event loop:
// flush, stats, command, setSync, close, and Cache.getAsync (a read that may
// go through to Redis).
//
// Lifetimes. A RedisHandle holds a strong reference to its cache's JS object
// for its whole life, so the NativeCache outlives it; each worker holds its
// handle (AsyncWorker's receiver) and counts in the cache's workers_, so a
// cache close() during a worker only marks the cache closed, and the engine's
// cache (and with it the adapter) is closed when the last worker ends. The
// adapter's own close waits the same way for the workers that use r (stats,
// command: the header says they must not run while the adapter closes);
// flush and setSync use the link, which stays valid, inert once closed,
// until the cache closes.
#include "addon.h"

#include <functional>
#include <string>
#include <vector>

#ifdef LIBCACHE_NODE_REDIS
#include "libcache/cache_redis.h"
#include "libcache/cache_store.h"
#endif

namespace libcache_node {

namespace {

// Runs work() on a pool thread, then settles a Promise on the JS thread with
// done(env) (or the package's error for a nonzero status left in status).
class Job : public Napi::AsyncWorker {
 public:
  Job(Napi::Object receiver, NativeCache *cache, std::function<int()> work,
      std::function<Napi::Value(Napi::Env)> done, std::function<void()> after = nullptr)
      : Napi::AsyncWorker(receiver.Env(), "libcache"),
        receiver_(Napi::Persistent(receiver)),
        deferred_(Napi::Promise::Deferred::New(receiver.Env())),
        cache_(cache),
        work_(std::move(work)),
        done_(std::move(done)),
        after_(std::move(after)) {
    cache_->BeginWork();
  }
  Napi::Promise Promise() { return deferred_.Promise(); }
  std::string what = "redis";

 protected:
  void Execute() override { status_ = work_(); }
  void OnOK() override {
    Napi::Env env = Env();
    Finish();
    if (status_ != CACHE_OK) {
      deferred_.Reject(MakeStatusError(env, status_, what + ": " + cache_strerror(status_)));
      return;
    }
    try {
      deferred_.Resolve(done_(env));
    } catch (const Napi::Error &e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error &e) override {
    Finish();
    deferred_.Reject(e.Value());
  }

 private:
  void Finish() {
    if (after_) after_();
    cache_->EndWork();
  }
  Napi::ObjectReference receiver_;  // keeps the handle (and so its cache) alive
  Napi::Promise::Deferred deferred_;
  NativeCache *cache_;
  std::function<int()> work_;
  std::function<Napi::Value(Napi::Env)> done_;
  std::function<void()> after_;
  int status_ = CACHE_OK;
};

thread_local std::string t_async_scratch;

void CopyInto(void *ctx, const void *val, size_t vlen) {
  static_cast<std::string *>(ctx)->assign(static_cast<const char *>(val), vlen);
}

}  // namespace

// getAsync(key): the read on a pool thread (with a Redis adapter attached and
// read-through on, a miss waits for Redis there, not on the event loop).
Napi::Value NativeCache::GetAsync(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  cache_t *c = Open(env);
  const Bytes key(env, info[0], "key");
  auto k = std::make_shared<std::string>(key.data, key.size);
  auto out = std::make_shared<std::string>();
  auto found = std::make_shared<bool>(false);
  auto *job = new Job(
      Value(), this,
      [c, k, out, found]() {
        const int rc = cache_read(c, k->data(), k->size(), CopyInto, out.get());
        *found = rc == CACHE_OK;
        return rc == CACHE_NOT_FOUND ? CACHE_OK : rc;
      },
      [this, out, found](Napi::Env e) -> Napi::Value {
        if (!*found) return e.Undefined();
        return DecodeValue(e, e.GetInstanceData<AddonData>(), ParseFn(), out->data(), out->size());
      });
  job->what = "getAsync";
  Napi::Promise p = job->Promise();
  job->Queue();
  return p;
}

#ifdef LIBCACHE_NODE_REDIS

class RedisLink : public Napi::ObjectWrap<RedisLink> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "RedisHandle",
                       {InstanceMethod<&RedisLink::Flush>("flush"),
                        InstanceMethod<&RedisLink::Stats>("stats"),
                        InstanceMethod<&RedisLink::Command>("command"),
                        InstanceMethod<&RedisLink::SetSync>("setSync"),
                        InstanceMethod<&RedisLink::Invalidate>("invalidate"),
                        InstanceMethod<&RedisLink::Close>("close"),
                        InstanceMethod<&RedisLink::IsClosed>("closed")});
  }

  // Made by NativeCache::AttachRedis: (cache object, External<cache_redis_t>).
  explicit RedisLink(const Napi::CallbackInfo &info) : Napi::ObjectWrap<RedisLink>(info) {
    if (info.Length() != 2 || !info[1].IsExternal()) ThrowType(info.Env(), "RedisHandle is not constructible");
    cache_obj_ = Napi::Persistent(info[0].As<Napi::Object>());
    cache_ = NativeCache::Unwrap(info[0].As<Napi::Object>());
    r_ = info[1].As<Napi::External<cache_redis_t>>().Data();
    link_ = cache_redis_link(r_);
  }
  ~RedisLink() override {
    if (cache_ != nullptr) cache_->ForgetRedis();
  }

  // The cache is closing (no worker running): cache_close frees the adapter.
  void CacheClosing() {
    r_ = nullptr;
    link_ = nullptr;
    closed_ = true;
  }

 private:
  void CheckOpen(Napi::Env env) {
    if (closed_ || closing_ || link_ == nullptr)
      throw Napi::Error(env, MakeStatusError(env, CACHE_E_CLOSED, "the Redis store is closed"));
    cache_->Open(env);
  }

  Napi::Value Queue(Job *job, const char *what) {
    job->what = what;
    Napi::Promise p = job->Promise();
    job->Queue();
    return p;
  }

  Napi::Value Flush(const Napi::CallbackInfo &info) {
    CheckOpen(info.Env());
    const int64_t timeout = info[0].As<Napi::Number>().Int64Value();
    cache_link_t *link = link_;
    return Queue(new Job(Value(), cache_, [link, timeout]() { return cache_store_flush(link, timeout); },
                         [](Napi::Env e) -> Napi::Value { return e.Undefined(); }),
                 "flush");
  }

  Napi::Value Stats(const Napi::CallbackInfo &info) {
    CheckOpen(info.Env());
    cache_redis_t *r = r_;
    auto s = std::make_shared<cache_redis_stats_t>();
    ++r_users_;
    return Queue(new Job(
                     Value(), cache_, [r, s]() { return cache_redis_stats(r, s.get(), sizeof *s); },
                     [s](Napi::Env e) -> Napi::Value {
                       Napi::Object o = Napi::Object::New(e);
                       auto put = [&](const char *n, double v) { o.Set(n, Napi::Number::New(e, v)); };
                       const cache_link_stats_t &l = s->link;
                       put("queuedOps", l.queued_ops);
                       put("queuedBytes", l.queued_bytes);
                       put("flushedOps", l.flushed_ops);
                       put("batches", l.batches);
                       put("retries", l.retries);
                       put("storeErrors", l.store_errors);
                       put("deadLetters", l.dead_letters);
                       put("refusedFull", l.refused_full);
                       put("coalesced", l.coalesced);
                       put("oldestPendingMs", l.oldest_pending_ms);
                       put("readHits", l.read_hits);
                       put("readMisses", l.read_misses);
                       put("readErrors", l.read_errors);
                       put("invalidations", l.invalidations);
                       put("invalidated", l.invalidated);
                       put("conflicts", l.conflicts);
                       put("fillsRefused", l.fills_refused);
                       put("coherent", l.coherent);
                       put("connects", s->connects);
                       put("connectErrors", s->connect_errors);
                       put("fenced", s->fenced);
                       put("coherence", s->coherence);
                       put("tracking", s->tracking);
                       put("trackingResets", s->tracking_resets);
                       put("invalidationMessages", s->invalidation_messages);
                       put("healthCheckAgeMs", static_cast<double>(s->health_check_age_ms));
                       return o;
                     },
                     [this]() { EndRUse(); }),
                 "stats");
  }

  // command([arg Buffers], timeout): the reply as null, a number, a Buffer
  // (string or status), or an error (RedisReplyError); arrays give their
  // length only (the C ABI hands no elements).
  Napi::Value Command(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    Napi::Array a = info[0].As<Napi::Array>();
    auto args = std::make_shared<std::vector<std::string>>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Bytes b;
      b.From(env, a.Get(i), "a command argument");
      args->emplace_back(b.data, b.size);
    }
    const int64_t timeout = info[1].As<Napi::Number>().Int64Value();
    struct Reply {
      int type = 0;
      std::string str;
      int64_t integer = 0;
    };
    auto reply = std::make_shared<Reply>();
    cache_redis_t *r = r_;
    ++r_users_;
    return Queue(new Job(
                     Value(), cache_,
                     [r, args, timeout, reply]() {
                       std::vector<const void *> argv;
                       std::vector<size_t> lens;
                       for (const std::string &s : *args) {
                         argv.push_back(s.data());
                         lens.push_back(s.size());
                       }
                       return cache_redis_command(
                           r, static_cast<int>(argv.size()), argv.data(), lens.data(), timeout,
                           [](void *ctx, int type, const char *str, size_t len, int64_t integer) {
                             auto *rp = static_cast<Reply *>(ctx);
                             rp->type = type;
                             if (str != nullptr) rp->str.assign(str, len);
                             rp->integer = integer;
                           },
                           reply.get());
                     },
                     [reply](Napi::Env e) -> Napi::Value {
                       switch (reply->type) {
                         case CACHE_REDIS_REPLY_STRING:
                         case CACHE_REDIS_REPLY_STATUS:
                           return Napi::Buffer<char>::Copy(e, reply->str.data(), reply->str.size());
                         case CACHE_REDIS_REPLY_INTEGER:
                         case CACHE_REDIS_REPLY_ARRAY:
                           return Napi::Number::New(e, static_cast<double>(reply->integer));
                         case CACHE_REDIS_REPLY_ERROR:
                           throw Napi::Error(e, MakeStatusError(e, -1001, reply->str));
                         default:
                           return e.Null();
                       }
                     },
                     [this]() { EndRUse(); }),
                 "command");
  }

  // setSync(key, value, tagged, ttl, timeout): write-through (the value as the
  // cache stores it: tag 'b' or 's' from its type).
  Napi::Value SetSync(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    Bytes key, val;
    key.From(env, info[0], "key");
    val.From(env, info[1], "value");
    auto k = std::make_shared<std::string>(key.data, key.size);
    auto v = std::make_shared<std::string>(1, val.is_string ? kTagStr : kTagBytes);
    v->append(val.data, val.size);
    const int64_t ttl = info[2].As<Napi::Number>().Int64Value();
    const int64_t timeout = info[3].As<Napi::Number>().Int64Value();
    cache_link_t *link = link_;
    return Queue(new Job(
                     Value(), cache_,
                     [link, k, v, ttl, timeout]() {
                       return cache_store_set_sync(link, k->data(), k->size(), v->data(), v->size(), ttl, timeout);
                     },
                     [](Napi::Env e) -> Napi::Value { return e.Undefined(); }),
                 "setSync");
  }

  // invalidate(key): this cache stops serving its copy of key (a change made
  // in Redis by a command). Takes the cache's locks only: synchronous.
  Napi::Value Invalidate(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    CheckOpen(env);
    const Bytes key(env, info[0], "key");
    const int rc = cache_store_invalidate(link_, key.data, key.size);
    if (rc != CACHE_OK) ThrowStatus(env, rc, "invalidate");
    return env.Undefined();
  }

  // close(timeout): flushes up to timeout ms, closes; resolves to the number
  // of writes not flushed. Waits for running stats/command workers first.
  Napi::Value Close(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (closed_ || closing_ || cache_->closed_) {
      auto d = Napi::Promise::Deferred::New(env);
      d.Resolve(Napi::Number::New(env, 0));
      return d.Promise();
    }
    closing_ = true;
    close_timeout_ = info[0].As<Napi::Number>().Int64Value();
    close_deferred_ = std::make_unique<Napi::Promise::Deferred>(env);
    Napi::Promise p = close_deferred_->Promise();
    if (r_users_ == 0) StartClose(env);
    return p;
  }

  void StartClose(Napi::Env env) {
    cache_redis_t *r = r_;
    const int64_t timeout = close_timeout_;
    auto unflushed = std::make_shared<uint64_t>(0);
    auto *job = new Job(
        Value(), cache_, [r, timeout, unflushed]() {
          cache_redis_close(r, timeout, unflushed.get());
          return CACHE_OK;  // closed whatever it returned
        },
        [unflushed](Napi::Env e) -> Napi::Value { return Napi::Number::New(e, static_cast<double>(*unflushed)); },
        [this]() {
          r_ = nullptr;
          closed_ = true;
        });
    job->what = "close";
    Napi::Promise inner = job->Promise();
    job->Queue();
    // Hand the inner promise's outcome to the one close() returned.
    auto *d = close_deferred_.release();
    Napi::Function resolve = Napi::Function::New(env, [d](const Napi::CallbackInfo &i) {
      d->Resolve(i[0]);
      delete d;
    });
    Napi::Function reject = Napi::Function::New(env, [d](const Napi::CallbackInfo &i) {
      d->Reject(i[0]);
      delete d;
    });
    inner.Get("then").As<Napi::Function>().Call(inner, {resolve, reject});
  }

  void EndRUse() {
    if (--r_users_ == 0 && closing_ && close_deferred_ && r_ != nullptr) StartClose(Env());
  }

  Napi::Value IsClosed(const Napi::CallbackInfo &info) {
    return Napi::Boolean::New(info.Env(), closed_ || closing_ || cache_->closed_);
  }

  Napi::ObjectReference cache_obj_;  // keeps the NativeCache alive
  NativeCache *cache_ = nullptr;
  cache_redis_t *r_ = nullptr;    // freed by cache_redis_close or the cache's close
  cache_link_t *link_ = nullptr;  // valid until the cache's close
  bool closing_ = false;
  bool closed_ = false;
  int r_users_ = 0;  // stats/command workers running (they use r_)
  int64_t close_timeout_ = 0;
  std::unique_ptr<Napi::Promise::Deferred> close_deferred_;
};

void RedisCacheClosing(RedisLink *link) { link->CacheClosing(); }

// attachRedis(url, prefix, connectMs, commandMs, coherence, readThrough,
// loadTimeoutMs, flushIntervalMs): connects (synchronously, within the
// connect and command timeouts: a wrong URL fails here), links the adapter.
Napi::Value NativeCache::AttachRedis(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  cache_t *c = Open(env);
  if (redis_ != nullptr) ThrowStatus(env, CACHE_EXISTS, "attachRedis: the cache has a Redis store already");
  std::string url = info[0].As<Napi::String>().Utf8Value();
  Bytes prefix;
  prefix.From(env, info[1], "prefix");
  cache_redis_options_t *ro = cache_redis_options_new();
  if (ro == nullptr) ThrowStatus(env, CACHE_E_NOMEM, "attachRedis");
  struct Free {
    cache_redis_options_t *o;
    ~Free() { cache_redis_options_free(o); }
  } guard{ro};
  int rc = cache_redis_options_set_url(ro, url.c_str());
  if (rc != CACHE_OK) {
    std::string why = cache_redis_errmsg();
    throw Napi::Error(env, MakeStatusError(env, rc, "attachRedis: " + why));
  }
  rc = cache_redis_options_set_prefix(ro, prefix.data, prefix.size);
  if (rc == CACHE_OK)
    rc = cache_redis_options_set_timeouts(ro, info[2].As<Napi::Number>().Int64Value(),
                                          info[3].As<Napi::Number>().Int64Value());
  const bool read_through = info[5].As<Napi::Boolean>().Value();
  if (rc == CACHE_OK) rc = cache_redis_options_set_coherence(ro, info[4].As<Napi::Boolean>().Value() && read_through, 100);
  cache_store_options_t *so = cache_redis_options_store_options(ro);
  if (rc == CACHE_OK)
    rc = cache_store_options_set_read_through(so, read_through ? 1 : 0, info[6].As<Napi::Number>().Int64Value());
  if (rc == CACHE_OK)
    rc = cache_store_options_set_flush_interval_ms(so, static_cast<uint64_t>(info[7].As<Napi::Number>().Int64Value()));
  if (rc != CACHE_OK) ThrowStatus(env, rc, "attachRedis");
  cache_redis_t *r = nullptr;
  rc = cache_redis_attach(c, ro, &r);
  if (rc != CACHE_OK) {
    std::string why = cache_redis_errmsg();
    throw Napi::Error(env, MakeStatusError(env, rc, "attachRedis: " + (why.empty() ? std::string(cache_strerror(rc)) : why)));
  }
  Napi::Object h = env.GetInstanceData<AddonData>()->redis_handle.New({Value(), Napi::External<cache_redis_t>::New(env, r)});
  redis_ = RedisLink::Unwrap(h);
  return h;
}

void InitRedis(Napi::Env env, Napi::Object) {
  env.GetInstanceData<AddonData>()->redis_handle = Napi::Persistent(RedisLink::Init(env));
}

#else  // no hiredis: no adapter

class RedisLink {};
void RedisCacheClosing(RedisLink *) {}

Napi::Value NativeCache::AttachRedis(const Napi::CallbackInfo &info) {
  ThrowStatus(info.Env(), CACHE_E_INVALID, "attachRedis: this build has no Redis adapter (hiredis was not found)");
}

void InitRedis(Napi::Env, Napi::Object) {}

#endif

}  // namespace libcache_node
