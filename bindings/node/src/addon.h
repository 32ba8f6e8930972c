// libcache's Node.js addon: shared declarations (addon.cc: the cache;
// redis.cc: the Redis adapter).
#ifndef LIBCACHE_NODE_ADDON_H
#define LIBCACHE_NODE_ADDON_H

#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "libcache/cache.h"
#include "libcache/cache_experimental.h"

namespace libcache_node {

// The type tags of stored values (docs/value-format.md; the same as the Python
// binding's, bindings/python/src/_core.cc).
constexpr char kTagBytes = 'b';
constexpr char kTagStr = 's';
constexpr char kTagCodec = 'c';
constexpr char kTagInt = 'i';
constexpr char kTagBigInt = 'I';
constexpr char kTagFloat = 'd';
constexpr char kTagTrue = 'T';
constexpr char kTagFalse = 'F';
constexpr char kTagNone = 'N';

// Not a C ABI status: a value that no codec can read (lib/errors.js: CodecError).
constexpr int kCodecStatus = -1000;

#ifdef LIBCACHE_NODE_REDIS
constexpr bool kHasRedis = true;
#else
constexpr bool kHasRedis = false;
#endif

// Per-environment data (main thread and each worker have their own).
struct AddonData {
  Napi::FunctionReference make_error;  // lib/errors.js: (status, message) => Error
  Napi::FunctionReference fake_clock;
  Napi::FunctionReference pin_handle;
  Napi::FunctionReference redis_handle;
};

[[noreturn]] void ThrowStatus(Napi::Env env, int status, const char *what);
[[noreturn]] void ThrowType(Napi::Env env, const std::string &msg);
Napi::Value MakeStatusError(Napi::Env env, int status, const std::string &msg);

// A key or value's bytes: a string's UTF-8 (copied: on the stack when short),
// or a Uint8Array's bytes (borrowed; valid during the call).
struct Bytes {
  Bytes() = default;
  Bytes(Napi::Env env, napi_value v, const char *what) { From(env, v, what); }
  Bytes(const Bytes &) = delete;  // data may point into stack_
  Bytes &operator=(const Bytes &) = delete;

  const char *data = nullptr;
  size_t size = 0;
  bool is_string = true;
  void From(Napi::Env env, napi_value v, const char *what);  // TypeError otherwise

 private:
  char stack_[512];
  std::string heap_;
};

Napi::Value DecodeValue(Napi::Env env, const AddonData *d, napi_value parse, const char *p, size_t n);

struct ClockState {
  std::atomic<uint64_t> ms{0};
};

class FakeClock : public Napi::ObjectWrap<FakeClock> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit FakeClock(const Napi::CallbackInfo &info);
  static uint64_t Read(void *ctx);  // cache_clock_fn
  std::shared_ptr<ClockState> state() const { return state_; }

 private:
  Napi::Value Advance(const Napi::CallbackInfo &info);
  Napi::Value Now(const Napi::CallbackInfo &info);
  std::shared_ptr<ClockState> state_ = std::make_shared<ClockState>();
};

struct Pin;
class PinHandle : public Napi::ObjectWrap<PinHandle> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit PinHandle(const Napi::CallbackInfo &info);
  ~PinHandle() override;

 private:
  Napi::Value Release(const Napi::CallbackInfo &info);
  Pin *pin_ = nullptr;
};

class RedisLink;  // redis.cc

class NativeCache : public Napi::ObjectWrap<NativeCache> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit NativeCache(const Napi::CallbackInfo &info);
  ~NativeCache() override;
  cache_t *Open(Napi::Env env);  // CacheClosed error when closed
  void ForgetRedis() { redis_ = nullptr; }
  // A worker thread uses the cache (getAsync, the Redis adapter's promises):
  // close() then only marks it closed, and the engine's cache is closed when
  // the last worker ends (EndWork, on the JavaScript thread).
  void BeginWork() { ++workers_; }
  void EndWork();
  napi_value ParseFn();

 private:
  Napi::Value Get(const Napi::CallbackInfo &info);
  Napi::Value GetInto(const Napi::CallbackInfo &info);
  Napi::Value Decode(const Napi::CallbackInfo &info);
  Napi::Value Set(const Napi::CallbackInfo &info);
  Napi::Value Has(const Napi::CallbackInfo &info);
  Napi::Value Delete(const Napi::CallbackInfo &info);
  Napi::Value Take(const Napi::CallbackInfo &info);
  Napi::Value Touch(const Napi::CallbackInfo &info);
  Napi::Value Ttl(const Napi::CallbackInfo &info);
  Napi::Value Clear(const Napi::CallbackInfo &info);
  Napi::Value PurgeExpired(const Napi::CallbackInfo &info);
  Napi::Value Stats(const Napi::CallbackInfo &info);
  Napi::Value PinValue(const Napi::CallbackInfo &info);
  Napi::Value ShardCount(const Napi::CallbackInfo &info);
  Napi::Value Close(const Napi::CallbackInfo &info);
  Napi::Value Closed(const Napi::CallbackInfo &info);
  Napi::Value AttachRedis(const Napi::CallbackInfo &info);  // redis.cc
  Napi::Value GetAsync(const Napi::CallbackInfo &info);     // redis.cc
  void CloseNow();
  void FinishClose();

  cache_t *cache_ = nullptr;
  bool closed_ = false;  // close() was called (cache_ may live on until workers_ is 0)
  int workers_ = 0;      // worker threads using cache_ now
  std::shared_ptr<ClockState> clock_;  // the FakeClock the engine reads, if any
  Napi::FunctionReference parse_;      // JSON.parse for codec values, if a codec
  RedisLink *redis_ = nullptr;         // owned by its JS handle (redis.cc)
  friend class RedisLink;
};

void InitRedis(Napi::Env env, Napi::Object exports);
// The cache is closing (close() or its finalizer): the adapter waits for its
// workers, then lets go of the cache (cache_close closes the adapter itself).
void RedisCacheClosing(RedisLink *link);

}  // namespace libcache_node

#endif  // LIBCACHE_NODE_ADDON_H
