// libcache's Node.js addon: the engine's C ABI (<libcache/cache.h>) under
// Node-API, through node-addon-api. Never the C++ engine (core/): only the
// cache_* functions, as every binding.
//
// What lives here and what lives in JavaScript (../lib/cache.js). Here: the
// calls that touch the engine, the conversion of keys and values, and the
// type tag of values. There: option checks, codecs' JSON calls, fetch()'s
// single flight, the error classes (made by a factory that lib/ hands in at
// load, so that a thrown error is an instance of the package's classes).
//
// Value format (docs/value-format.md): a one-byte type tag, then the payload;
// the same tags as the Python binding (bindings/python/src/_core.cc), so
// that both read each other's values through one Redis:
//   'b' bytes (a Buffer), 's' a UTF-8 string, 'c' the codec's bytes (JSON),
//   and, read only: 'i' int64 LE, 'I' big int (two's complement LE), 'd'
//   double LE, 'T' true, 'F' false, 'N' null (Python's int, float, bool, None).
//
// Threads. Every call here runs on the JavaScript thread of its environment
// (main thread or a worker), except the Redis workers (redis.cc). The engine
// is thread-safe; a Cache object is used from the one thread that made it.
#include "addon.h"

#include <cmath>
#include <cstring>
#include <string>

namespace libcache_node {

// ---- Errors -------------------------------------------------------------------

// Throws the package's error for a C ABI status (lib/errors.js's makeError).
void ThrowStatus(Napi::Env env, int status, const char *what) {
  AddonData *d = env.GetInstanceData<AddonData>();
  std::string msg = std::string(what) + ": " + cache_strerror(status);
  if (d != nullptr && !d->make_error.IsEmpty()) {
    Napi::Value err = d->make_error.Call({Napi::Number::New(env, status), Napi::String::New(env, msg)});
    if (err.IsObject()) throw Napi::Error(env, err);
  }
  throw Napi::Error::New(env, msg);
}

Napi::Value MakeStatusError(Napi::Env env, int status, const std::string &msg) {
  AddonData *d = env.GetInstanceData<AddonData>();
  if (d != nullptr && !d->make_error.IsEmpty())
    return d->make_error.Call({Napi::Number::New(env, status), Napi::String::New(env, msg)});
  return Napi::Error::New(env, msg).Value();
}

[[noreturn]] void ThrowType(Napi::Env env, const std::string &msg) {
  Napi::TypeError e = Napi::TypeError::New(env, msg);
  e.Set("code", Napi::String::New(env, "ERR_INVALID_ARG_TYPE"));
  throw e;
}

[[noreturn]] void ThrowCodec(Napi::Env env, const std::string &msg) {
  // CODEC_STATUS is no C status: lib/errors.js maps it to CodecError.
  throw Napi::Error(env, MakeStatusError(env, kCodecStatus, msg));
}

// ---- Keys and values ----------------------------------------------------------------

// Reads a key (a string, as UTF-8, or a Uint8Array/Buffer, as its bytes).
// Returns false (after throwing a TypeError) for anything else.
void Bytes::From(Napi::Env env, napi_value v, const char *what) {
  napi_valuetype t;
  napi_typeof(env, v, &t);
  if (t == napi_string) {
    size_t n = 0;
    napi_get_value_string_utf8(env, v, stack_, sizeof stack_, &n);
    if (n + 1 < sizeof stack_) {
      data = stack_;
      size = n;
      return;
    }
    napi_get_value_string_utf8(env, v, nullptr, 0, &n);
    heap_.resize(n + 1);
    napi_get_value_string_utf8(env, v, heap_.data(), n + 1, &n);
    data = heap_.data();
    size = n;
    return;
  }
  if (t == napi_object) {
    bool is_ta = false;
    napi_is_typedarray(env, v, &is_ta);
    if (is_ta) {
      napi_typedarray_type tt;
      size_t len;
      void *p;
      napi_get_typedarray_info(env, v, &tt, &len, &p, nullptr, nullptr);
      if (tt == napi_uint8_array) {
        data = static_cast<const char *>(p);
        size = len;
        is_string = false;
        return;
      }
    }
  }
  ThrowType(env, std::string(what) + " must be a string or a Buffer (Uint8Array)");
}

namespace {

thread_local std::string t_scratch;  // one get's value, copied under the shard lock

void CopyOut(void *ctx, const void *val, size_t vlen) {
  auto *s = static_cast<std::string *>(ctx);
  s->assign(static_cast<const char *>(val), vlen);
}

uint64_t LoadLe64(const char *p) {
  uint64_t u = 0;
  for (int i = 7; i >= 0; --i) u = (u << 8) | static_cast<unsigned char>(p[i]);
  return u;
}

// A Python big int (int.to_bytes(..., "little", signed=True)) as a BigInt.
Napi::Value BigIntFromLe(Napi::Env env, const char *p, size_t n) {
  std::vector<unsigned char> b(p, p + n);
  const bool neg = n > 0 && (b[n - 1] & 0x80);
  if (neg) {  // two's complement -> magnitude
    int carry = 1;
    for (size_t i = 0; i < n; ++i) {
      int x = static_cast<unsigned char>(~b[i]) + carry;
      b[i] = static_cast<unsigned char>(x);
      carry = x >> 8;
    }
  }
  std::vector<uint64_t> words((n + 7) / 8 + 1, 0);
  for (size_t i = 0; i < n; ++i) words[i / 8] |= uint64_t{b[i]} << (8 * (i % 8));
  return Napi::BigInt::New(env, neg ? 1 : 0, words.size(), words.data());
}

}  // namespace

Napi::Value DecodeValue(Napi::Env env, const AddonData *d, napi_value parse, const char *p,
                        size_t n) {
  if (n == 0) ThrowCodec(env, "the stored bytes are not a libcache value (empty): was the key written by another program?");
  const char *q = p + 1;
  const size_t m = n - 1;
  switch (p[0]) {
    case kTagBytes:
      return Napi::Buffer<char>::Copy(env, q, m);
    case kTagStr: {
      napi_value s;
      if (napi_create_string_utf8(env, q, m, &s) != napi_ok) throw Napi::Error::New(env);
      return Napi::Value(env, s);
    }
    case kTagCodec: {
      if (parse == nullptr)
        ThrowCodec(env,
                   "the value was stored through a codec, and this cache has none: open it with "
                   "{ codec: \"json\" }");
      napi_value s, r, undef;
      napi_create_string_utf8(env, q, m, &s);
      napi_get_undefined(env, &undef);
      if (napi_call_function(env, undef, parse, 1, &s, &r) != napi_ok) {
        napi_value exc;
        napi_get_and_clear_last_exception(env, &exc);
        ThrowCodec(env, "the stored JSON could not be parsed");
      }
      return Napi::Value(env, r);
    }
    case kTagInt:
      if (m == 8) {
        const int64_t x = static_cast<int64_t>(LoadLe64(q));
        if (x >= -(int64_t{1} << 53) && x <= (int64_t{1} << 53))
          return Napi::Number::New(env, static_cast<double>(x));
        return Napi::BigInt::New(env, x);
      }
      break;
    case kTagBigInt:
      return BigIntFromLe(env, q, m);
    case kTagFloat:
      if (m == 8) {
        const uint64_t u = LoadLe64(q);
        double x;
        std::memcpy(&x, &u, 8);
        return Napi::Number::New(env, x);
      }
      break;
    case kTagTrue:
    case kTagFalse:
      if (m == 0) return Napi::Boolean::New(env, p[0] == kTagTrue);
      break;
    case kTagNone:
      if (m == 0) return env.Null();
      break;
    default:
      break;
  }
  (void)d;
  ThrowCodec(env, "the stored bytes are not a libcache value: was the key written by another program?");
}

// ---- FakeClock ----------------------------------------------------------------------
//
// Milliseconds in an atomic that the engine reads as its clock
// (cache_options_set_clock), moved by a test with advance(). The engine calls
// the clock with a shard lock held, from any thread: reading an atomic runs
// no JavaScript and takes no lock. Relaxed: the value is all that is read; a
// test orders advance() before its next cache call on the same thread.

Napi::Function FakeClock::Init(Napi::Env env) {
  return DefineClass(env, "FakeClock",
                     {InstanceMethod<&FakeClock::Advance>("advance"),
                      InstanceAccessor<&FakeClock::Now>("now")});
}

FakeClock::FakeClock(const Napi::CallbackInfo &info) : Napi::ObjectWrap<FakeClock>(info) {
  double start = 1000000;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsNumber()) ThrowType(info.Env(), "FakeClock(start): start must be a number of ms");
    start = info[0].As<Napi::Number>().DoubleValue();
  }
  if (!(start >= 0 && start < 9007199254740992.0)) {
    Napi::RangeError e = Napi::RangeError::New(info.Env(), "FakeClock(start): start must be >= 0 ms");
    e.Set("code", Napi::String::New(info.Env(), "ERR_OUT_OF_RANGE"));
    throw e;
  }
  state_->ms.store(static_cast<uint64_t>(start), std::memory_order_relaxed);
}

uint64_t FakeClock::Read(void *ctx) {
  return static_cast<const ClockState *>(ctx)->ms.load(std::memory_order_relaxed);
}

Napi::Value FakeClock::Advance(const Napi::CallbackInfo &info) {
  if (info.Length() < 1 || !info[0].IsNumber()) ThrowType(info.Env(), "advance(ms): ms must be a number");
  const double ms = info[0].As<Napi::Number>().DoubleValue();
  if (!(ms >= 0 && ms < 9007199254740992.0)) {
    Napi::RangeError e = Napi::RangeError::New(info.Env(), "advance(ms): ms must be >= 0 (the clock never goes back)");
    e.Set("code", Napi::String::New(info.Env(), "ERR_OUT_OF_RANGE"));
    throw e;
  }
  state_->ms.fetch_add(static_cast<uint64_t>(ms), std::memory_order_relaxed);
  return info.Env().Undefined();
}

Napi::Value FakeClock::Now(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(),
                           static_cast<double>(state_->ms.load(std::memory_order_relaxed)));
}

// ---- Pinned values (Cache.getView) ---------------------------------------------------
//
// A pin has two owners: the ArrayBuffer over its bytes (its finalizer) and
// the PinHandle (its destructor). Whichever of release(), the ArrayBuffer's
// finalizer or the handle's finalizer comes first releases the engine's
// pin; the last owner frees the struct. release() detaches the ArrayBuffer
// first, so that no JavaScript can read the bytes after they are freed (the
// Buffer over it then has length 0).

struct Pin {
  std::atomic<cache_value_t *> value;
  std::atomic<int> owners{2};
  explicit Pin(cache_value_t *v) : value(v) {}
  void ReleaseValue() {
    if (cache_value_t *v = value.exchange(nullptr, std::memory_order_acq_rel)) cache_value_release(v);
  }
  void Drop() {
    ReleaseValue();
    if (owners.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

Napi::Function PinHandle::Init(Napi::Env env) {
  return DefineClass(env, "PinHandle", {InstanceMethod<&PinHandle::Release>("release")});
}

PinHandle::PinHandle(const Napi::CallbackInfo &info) : Napi::ObjectWrap<PinHandle>(info) {
  // Made only by NativeCache::Pin (with an External holding the Pin*).
  if (info.Length() != 1 || !info[0].IsExternal()) ThrowType(info.Env(), "PinHandle is not constructible");
  pin_ = info[0].As<Napi::External<Pin>>().Data();
  cache_value_t *v = pin_->value.load(std::memory_order_relaxed);
  const char *p = static_cast<const char *>(cache_value_data(v));
  const size_t n = cache_value_size(v);
  Pin *pin = pin_;
  // Skips the type tag: the view is the payload's bytes.
  Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(
      info.Env(), const_cast<char *>(p + 1), n - 1, [pin](Napi::Env, void *) { pin->Drop(); });
  Value().Set("arrayBuffer", ab);
  Value().Set("tag", Napi::String::New(info.Env(), p, 1));
}

PinHandle::~PinHandle() {
  if (pin_ != nullptr) pin_->Drop();
}

Napi::Value PinHandle::Release(const Napi::CallbackInfo &info) {
  if (pin_ == nullptr || pin_->value.load(std::memory_order_relaxed) == nullptr)
    return Napi::Boolean::New(info.Env(), false);
  Napi::Value ab = Value().Get("arrayBuffer");
  if (ab.IsArrayBuffer()) {
    Napi::ArrayBuffer buf = ab.As<Napi::ArrayBuffer>();
    if (!buf.IsDetached()) buf.Detach();
  }
  pin_->ReleaseValue();
  return Napi::Boolean::New(info.Env(), true);
}

// ---- NativeCache ------------------------------------------------------------------------

Napi::Function NativeCache::Init(Napi::Env env) {
  return DefineClass(
      env, "NativeCache",
      {InstanceMethod<&NativeCache::Get>("get"),
       InstanceMethod<&NativeCache::GetInto>("getInto"),
       InstanceMethod<&NativeCache::Decode>("decode"),
       InstanceMethod<&NativeCache::Set>("set"),
       InstanceMethod<&NativeCache::Has>("has"),
       InstanceMethod<&NativeCache::Delete>("delete"),
       InstanceMethod<&NativeCache::Take>("take"),
       InstanceMethod<&NativeCache::Touch>("touch"),
       InstanceMethod<&NativeCache::Ttl>("ttl"),
       InstanceMethod<&NativeCache::Clear>("clear"),
       InstanceMethod<&NativeCache::PurgeExpired>("purgeExpired"),
       InstanceMethod<&NativeCache::Stats>("stats"),
       InstanceMethod<&NativeCache::PinValue>("pin"),
       InstanceMethod<&NativeCache::ShardCount>("shardCount"),
       InstanceMethod<&NativeCache::Close>("close"),
       InstanceMethod<&NativeCache::AttachRedis>("attachRedis"),
       InstanceMethod<&NativeCache::GetAsync>("getAsync"),
       InstanceMethod<&NativeCache::Closed>("closed")});
}

namespace {

uint64_t U64Option(Napi::Object o, const char *name) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined()) return 0;
  return static_cast<uint64_t>(v.As<Napi::Number>().DoubleValue());
}

}  // namespace

// new NativeCache({maxBytes, maxEntries, ttl, shards, policy, clock, parse}):
// options already checked by lib/cache.js (numbers in range).
NativeCache::NativeCache(const Napi::CallbackInfo &info) : Napi::ObjectWrap<NativeCache>(info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  cache_options_t *opt = cache_options_new();
  if (opt == nullptr) ThrowStatus(env, CACHE_E_NOMEM, "new Cache()");
  int rc = CACHE_OK;
  if (!o.Get("maxBytes").IsUndefined()) rc = cache_options_set_max_bytes(opt, U64Option(o, "maxBytes"));
  if (rc == CACHE_OK && !o.Get("maxEntries").IsUndefined())
    rc = cache_options_set_max_entries(opt, U64Option(o, "maxEntries"));
  if (rc == CACHE_OK && !o.Get("ttl").IsUndefined())
    rc = cache_options_set_default_ttl_ms(opt, U64Option(o, "ttl"));
  if (rc == CACHE_OK && !o.Get("shards").IsUndefined())
    rc = cache_options_set_shards(opt, static_cast<uint32_t>(U64Option(o, "shards")));
  if (rc == CACHE_OK && !o.Get("policy").IsUndefined())
    rc = cache_options_set_policy(opt, static_cast<int>(U64Option(o, "policy")));
  Napi::Value clock = o.Get("clock");
  if (rc == CACHE_OK && clock.IsObject()) {
    FakeClock *fc = nullptr;
    Napi::Object co = clock.As<Napi::Object>();
    if (co.InstanceOf(env.GetInstanceData<AddonData>()->fake_clock.Value())) fc = FakeClock::Unwrap(co);
    if (fc == nullptr) {
      cache_options_free(opt);
      ThrowType(env, "_clock must be a FakeClock");
    }
    clock_ = fc->state();  // shared: the clock outlives the cache whatever JS drops first
    rc = cache_options_set_clock(opt, &FakeClock::Read, clock_.get());
  }
  Napi::Value parse = o.Get("parse");
  if (parse.IsFunction()) parse_ = Napi::Persistent(parse.As<Napi::Function>());
  if (rc == CACHE_OK) rc = cache_open(opt, &cache_);
  cache_options_free(opt);
  if (rc != CACHE_OK) {
    cache_ = nullptr;
    ThrowStatus(env, rc, "new Cache()");
  }
}

NativeCache::~NativeCache() { FinishClose(); }

void NativeCache::CloseNow() {
  closed_ = true;
  if (workers_ == 0) FinishClose();
}

void NativeCache::FinishClose() {
  if (cache_ == nullptr) return;
  if (redis_ != nullptr) RedisCacheClosing(redis_);  // cache_close frees the adapter
  cache_close(cache_);
  cache_ = nullptr;
}

void NativeCache::EndWork() {
  if (--workers_ == 0 && closed_) FinishClose();
}

cache_t *NativeCache::Open(Napi::Env env) {
  if (closed_ || cache_ == nullptr)
    throw Napi::Error(env, MakeStatusError(env, CACHE_E_CLOSED, "the cache is closed (close() was called)"));
  return cache_;
}

napi_value NativeCache::ParseFn() { return parse_.IsEmpty() ? nullptr : static_cast<napi_value>(parse_.Value()); }

Napi::Value NativeCache::Get(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  cache_t *c = Open(env);
  const Bytes key(env, info[0], "key");
  const int rc = cache_read(c, key.data, key.size, CopyOut, &t_scratch);
  if (rc == CACHE_NOT_FOUND) return env.Undefined();
  if (rc != CACHE_OK) ThrowStatus(env, rc, "get");
  return DecodeValue(env, env.GetInstanceData<AddonData>(), ParseFn(), t_scratch.data(), t_scratch.size());
}

namespace {

// Where cache_read copies a value for getInto: into the caller's scratch
// Uint8Array when it fits, else into t_scratch.
struct IntoScratch {
  char *dst;
  size_t cap;
  size_t n = 0;
  bool fit = false;
};

void CopyInto(void *ctx, const void *val, size_t vlen) {
  auto *s = static_cast<IntoScratch *>(ctx);
  s->n = vlen;
  // Only Buffers go through the scratch: a string made here is cheaper than
  // one decoded in JavaScript (452 against 698 ns a get, bench/bench.js's
  // setup), a Buffer twice as dear (1551 against 736).
  s->fit = vlen + 4 <= s->cap && vlen != 0 && static_cast<const char *>(val)[0] == kTagBytes;
  if (s->fit) {
    // The length (32 bits, little-endian) first, then the bytes.
    const auto n = static_cast<uint32_t>(vlen);
    const unsigned char len[4] = {static_cast<unsigned char>(n), static_cast<unsigned char>(n >> 8),
                                  static_cast<unsigned char>(n >> 16),
                                  static_cast<unsigned char>(n >> 24)};
    std::memcpy(s->dst, len, 4);
    std::memcpy(s->dst + 4, val, vlen);
  } else {
    t_scratch.assign(static_cast<const char *>(val), vlen);
  }
}

}  // namespace

// getInto(key, scratch, inScratch): get() for lib/cache.js's fast path. A
// Buffer value's stored bytes (type tag first) are copied into scratch (a
// Uint8Array) after their length (4 bytes, little-endian) when they fit, and
// inScratch (a symbol of the caller's, which no decoded value can be) is
// returned: the JavaScript side then makes the
// Buffer itself, about twice as cheap as one made here (Node-API gives every
// Buffer its own allocation; Buffer.from uses Node's pool). Any other value
// (a string, codec output, a Buffer too large for scratch) is decoded here
// and returned; a miss is undefined.
Napi::Value NativeCache::GetInto(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  cache_t *c = Open(env);
  const Bytes key(env, info[0], "key");
  napi_typedarray_type tt;
  size_t len = 0;
  void *p = nullptr;
  bool is_ta = false;
  napi_is_typedarray(env, info[1], &is_ta);
  if (!is_ta || napi_get_typedarray_info(env, info[1], &tt, &len, &p, nullptr, nullptr) != napi_ok ||
      tt != napi_uint8_array) {
    ThrowType(env, "getInto: scratch must be a Uint8Array");
  }
  IntoScratch s{static_cast<char *>(p), len};
  const int rc = cache_read(c, key.data, key.size, CopyInto, &s);
  if (rc == CACHE_NOT_FOUND) return env.Undefined();
  if (rc != CACHE_OK) ThrowStatus(env, rc, "get");
  if (s.fit) return info[2];
  return DecodeValue(env, env.GetInstanceData<AddonData>(), ParseFn(), t_scratch.data(), t_scratch.size());
}

// decode(bytes): a stored value's bytes (type tag first) as get() returns it.
Napi::Value NativeCache::Decode(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Bytes b;
  b.From(env, info[0], "bytes");
  return DecodeValue(env, env.GetInstanceData<AddonData>(), ParseFn(), b.data, b.size);
}

// set(key, value, ttl, mode, tag): value a string or a Uint8Array; tag the
// type tag ('b' or 's' from the value's type unless given: 'c' for codec
// output). mode: CACHE_WRITE_*. Returns true when written, false when add
// found a live entry or replace found none.
Napi::Value NativeCache::Set(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  cache_t *c = Open(env);
  Bytes key, val;
  key.From(env, info[0], "key");
  val.From(env, info[1], "value");
  const int64_t ttl = info[2].As<Napi::Number>().Int64Value();
  const int mode = info[3].As<Napi::Number>().Int32Value();
  char tag = val.is_string ? kTagStr : kTagBytes;
  if (info.Length() > 4 && info[4].IsString()) tag = kTagCodec;
  const cache_iovec_t parts[2] = {{&tag, 1}, {val.data, val.size}};
  const int rc = cache_setv(c, key.data, key.size, parts, 2, ttl, mode);
  if (rc == CACHE_OK) return Napi::Boolean::New(env, true);
  if (rc == CACHE_EXISTS || rc == CACHE_NOT_FOUND) return Napi::Boolean::New(env, false);
  if (rc == CACHE_E_TOO_LARGE && key.size > CACHE_MAX_KEY_SIZE)
    ThrowStatus(env, rc, "set: the key is longer than 65535 bytes");
  ThrowStatus(env, rc, "set");
}

namespace {
// The answer of a call that says whether the key was there: CACHE_OK true,
// CACHE_NOT_FOUND false; any other status is thrown.
Napi::Value Found(Napi::Env env, int rc, const char *what) {
  if (rc != CACHE_OK && rc != CACHE_NOT_FOUND) ThrowStatus(env, rc, what);
  return Napi::Boolean::New(env, rc == CACHE_OK);
}
}  // namespace

Napi::Value NativeCache::Has(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  cache_t *c = Open(env);
  const Bytes key(env, info[0], "key");
  return Found(env, cache_read(c, key.data, key.size, nullptr, nullptr), "has");
}

Napi::Value NativeCache::Delete(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  cache_t *c = Open(env);
  const Bytes key(env, info[0], "key");
  return Found(env, cache_delete(c, key.data, key.size), "delete");
}

Napi::Value NativeCache::Take(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  cache_t *c = Open(env);
  const Bytes key(env, info[0], "key");
  cache_value_t *v = nullptr;
  const int rc = cache_take(c, key.data, key.size, &v);
  if (rc == CACHE_NOT_FOUND) return env.Undefined();
  if (rc != CACHE_OK) ThrowStatus(env, rc, "take");
  struct Releaser {
    cache_value_t *v;
    ~Releaser() { cache_value_release(v); }
  } guard{v};
  return DecodeValue(env, env.GetInstanceData<AddonData>(), ParseFn(),
                     static_cast<const char *>(cache_value_data(v)), cache_value_size(v));
}

Napi::Value NativeCache::Touch(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  cache_t *c = Open(env);
  const Bytes key(env, info[0], "key");
  const int64_t ttl = info[1].As<Napi::Number>().Int64Value();
  return Found(env, cache_touch(c, key.data, key.size, ttl), "touch");
}

// Remaining ms; Infinity for no expiry; undefined when absent.
Napi::Value NativeCache::Ttl(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  cache_t *c = Open(env);
  const Bytes key(env, info[0], "key");
  int64_t ms = 0;
  const int rc = cache_ttl(c, key.data, key.size, &ms);
  if (rc == CACHE_NOT_FOUND) return env.Undefined();
  if (rc != CACHE_OK) ThrowStatus(env, rc, "getRemainingTTL");
  if (ms < 0) return Napi::Number::New(env, INFINITY);
  return Napi::Number::New(env, static_cast<double>(ms));
}

Napi::Value NativeCache::Clear(const Napi::CallbackInfo &info) {
  const int rc = cache_clear(Open(info.Env()));
  if (rc != CACHE_OK) ThrowStatus(info.Env(), rc, "clear");
  return info.Env().Undefined();
}

Napi::Value NativeCache::PurgeExpired(const Napi::CallbackInfo &info) {
  uint64_t n = 0;
  const int rc = cache_purge_expired(Open(info.Env()), &n);
  if (rc != CACHE_OK) ThrowStatus(info.Env(), rc, "purgeExpired");
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

Napi::Value NativeCache::Stats(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  cache_stats_t s{};
  const int rc = cache_stats(Open(env), &s, sizeof s);
  if (rc != CACHE_OK) ThrowStatus(env, rc, "stats");
  Napi::Object o = Napi::Object::New(env);
  auto put = [&](const char *name, uint64_t v) { o.Set(name, Napi::Number::New(env, static_cast<double>(v))); };
  put("hits", s.hits);
  put("misses", s.misses);
  put("sets", s.sets);
  put("deletes", s.deletes);
  put("evictions", s.evictions);
  put("expirations", s.expirations);
  put("entries", s.entries);
  put("bytes", s.bytes);
  return o;
}

Napi::Value NativeCache::PinValue(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  cache_t *c = Open(env);
  const Bytes key(env, info[0], "key");
  cache_value_t *v = nullptr;
  const int rc = cache_get_value(c, key.data, key.size, &v);
  if (rc == CACHE_NOT_FOUND) return env.Undefined();
  if (rc != CACHE_OK) ThrowStatus(env, rc, "getView");
  if (cache_value_size(v) == 0) {
    cache_value_release(v);
    ThrowCodec(env, "the stored bytes are not a libcache value (empty)");
  }
  Pin *pin = new Pin(v);
  Napi::Object h;
  try {
    h = env.GetInstanceData<AddonData>()->pin_handle.New({Napi::External<Pin>::New(env, pin)});
  } catch (...) {
    // The handle was not made: if the ArrayBuffer was, its finalizer drops
    // one owner; the handle's share is dropped here.
    pin->Drop();
    throw;
  }
  return h;
}

Napi::Value NativeCache::ShardCount(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), cache_shard_count(Open(info.Env())));
}

Napi::Value NativeCache::Close(const Napi::CallbackInfo &info) {
  CloseNow();
  return info.Env().Undefined();
}

Napi::Value NativeCache::Closed(const Napi::CallbackInfo &info) {
  return Napi::Boolean::New(info.Env(), closed_ || cache_ == nullptr);
}

// ---- Module ----------------------------------------------------------------------------

namespace {

Napi::Value SetErrorFactory(const Napi::CallbackInfo &info) {
  if (!info[0].IsFunction()) ThrowType(info.Env(), "the error factory must be a function");
  info.Env().GetInstanceData<AddonData>()->make_error = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

Napi::Value Strerror(const Napi::CallbackInfo &info) {
  return Napi::String::New(info.Env(), cache_strerror(info[0].As<Napi::Number>().Int32Value()));
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto *d = new AddonData();
  env.SetInstanceData<AddonData>(d);
  Napi::Function clock = FakeClock::Init(env);
  d->fake_clock = Napi::Persistent(clock);
  Napi::Function pin = PinHandle::Init(env);
  d->pin_handle = Napi::Persistent(pin);
  exports.Set("NativeCache", NativeCache::Init(env));
  exports.Set("FakeClock", clock);
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory));
  exports.Set("strerror", Napi::Function::New(env, Strerror));
  exports.Set("version", Napi::String::New(env, cache_version_string()));
  exports.Set("hasRedis", Napi::Boolean::New(env, kHasRedis));
  InitRedis(env, exports);
  return exports;
}

}  // namespace libcache_node

static Napi::Object InitLibcache(Napi::Env env, Napi::Object exports) {
  return libcache_node::Init(env, exports);
}
NODE_API_MODULE(libcache, InitLibcache)
