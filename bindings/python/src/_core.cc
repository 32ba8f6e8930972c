// libcache._core: the Python binding's compiled half, over the C ABI.
//
// One class, _core.Cache, which libcache.Cache (bindings/python/libcache/
// _cache.py) subclasses; for tests, _core.FakeClock, a clock the engine reads
// (Cache(_clock=...)); and _core._ttl_ms, the TTL rule for Python callers. pybind11 builds the class and binds the methods whose
// cost does not matter (construction, close, stats, ttl, touch, delete,
// clear). The hot methods, get/set/add/replace and the mapping slots
// (c[k], c[k] = v, del c[k], k in c, len(c)), are plain CPython C-API entries
// installed on the type before PyType_Ready (pybind11's custom_type_setup): a
// pybind11-dispatched call costs 100-160 ns before it does anything, a
// METH_FASTCALL method or a slot about what a C function call costs
// (../shared/PERFORMANCE.md). Because the slots exist before PyType_Ready,
// Python subclasses inherit them as-is.
//
// Values carry a one-byte type tag in front of the payload, so that bytes,
// str, int, float, bool and None come back with their type (the tag table is
// in bindings/python/libcache/_cache.py's docstring). A get builds the result
// inside cache_read's callback, copying the stored bytes once, straight into
// the new bytes/str object; a set writes tag and payload with cache_setv,
// copying the payload once, into the entry. Other objects go through the
// cache's codec (tag 'c'), called outside any engine lock.
//
// Every call holds the GIL: the engine's critical sections are tens of
// nanoseconds, far less than a GIL hand-off. That also serialises close()
// against every other call on the same object. The exception is a cache
// linked to a store (store.cc, Cache.attach_redis): its reads (with
// read-through) and its writes (with on_full="block") may wait for the
// store, and release the GIL; binding.h says how close() stays safe.

#include <Python.h>
#include <libcache/cache.h>
#include <libcache/cache_experimental.h>
#include <libcache/cache_object.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "binding.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

namespace py = pybind11;

namespace {

// Py_NewRef is 3.10+; the package supports 3.9.
inline PyObject *NewRef(PyObject *o) {
  Py_INCREF(o);
  return o;
}

// ---- Errors: libcache._errors.STATUS_ERRORS maps C statuses to classes -------

PyObject *g_status_errors = nullptr;  // dict: int status -> exception class
PyObject *g_error = nullptr;          // libcache.Error
PyObject *g_closed = nullptr;         // libcache.CacheClosed
PyObject *g_key_too_large = nullptr;  // libcache.KeyTooLarge
PyObject *g_unsupported = nullptr;    // libcache.UnsupportedValue
PyObject *g_codec_error = nullptr;    // libcache.CodecError
PyObject *g_unsupported_message = nullptr;  // libcache._codecs.unsupported_message
PyObject *g_dumps = nullptr;          // "dumps", interned
PyObject *g_loads = nullptr;          // "loads", interned

// Sets the exception for a failed C status, with the caller's context.
void SetStatusError(int status, const std::string &what) {
  PyObject *key = PyLong_FromLong(status);
  PyObject *cls = key != nullptr ? PyDict_GetItemWithError(g_status_errors, key) : nullptr;
  Py_XDECREF(key);
  if (PyErr_Occurred()) return;
  if (cls == nullptr) cls = g_error;
  PyErr_Format(cls, "%s (%s)", what.c_str(), cache_strerror(status));
}

// Turns the pending exception, raised by a codec's dumps() or loads() or by
// the conversion of their data, into CodecError("<what> (<Type>: <message>)")
// with the original as __cause__, as `raise CodecError(...) from e` does. A
// CodecError, a MemoryError and what is not an Exception (KeyboardInterrupt,
// SystemExit) stay as they are. With nothing pending, raises CodecError(what).
void ChainCodecError(const std::string &what) {
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  if (type == nullptr) {
    PyErr_SetString(g_codec_error, what.c_str());
    return;
  }
  PyErr_NormalizeException(&type, &value, &tb);
  if (!PyErr_GivenExceptionMatches(type, PyExc_Exception) ||
      PyErr_GivenExceptionMatches(type, g_codec_error) ||
      PyErr_GivenExceptionMatches(type, PyExc_MemoryError)) {
    PyErr_Restore(type, value, tb);
    return;
  }
  if (tb != nullptr) PyException_SetTraceback(value, tb);
  Py_DECREF(type);
  Py_XDECREF(tb);
  PyObject *msg =
      PyUnicode_FromFormat("%s (%s: %S)", what.c_str(), Py_TYPE(value)->tp_name, value);
  PyObject *exc = msg != nullptr ? PyObject_CallFunctionObjArgs(g_codec_error, msg, nullptr)
                                 : nullptr;
  Py_XDECREF(msg);
  if (exc == nullptr) {  // that failure is the exception now
    Py_DECREF(value);
    return;
  }
  PyException_SetContext(exc, NewRef(value));  // steals
  PyException_SetCause(exc, value);            // steals; sets __suppress_context__
  PyErr_Restore(NewRef(reinterpret_cast<PyObject *>(Py_TYPE(exc))), exc, nullptr);
}

// ---- The test clock: _core.FakeClock, for Cache(_clock=...) -------------------
//
// Milliseconds in an atomic, which the engine reads as its clock through
// cache_options_set_clock (<libcache/cache_experimental.h>), and which a test
// moves with advance(). The engine calls its clock with a shard lock held,
// from any thread: reading the atomic runs no Python code and takes no lock.
// A Python callable there would need the GIL under the shard lock, while a
// thread that holds the GIL may be waiting for that shard lock: a deadlock.
struct FakeClock {
  std::atomic<uint64_t> ms;

  explicit FakeClock(uint64_t start_ms) : ms(start_ms) {}

  // cache_clock_fn. Relaxed: the value is all that is read; a test orders its
  // advance() before its next cache call through the GIL, which both hold.
  static uint64_t Read(void *ctx) {
    return static_cast<const FakeClock *>(ctx)->ms.load(std::memory_order_relaxed);
  }
};

// ---- The object behind _core.Cache -----------------------------------------

struct Core {
  cache_t *cache = nullptr;
  PyObject *codec = nullptr;  // strong reference: None or an object with dumps/loads
  PyObject *clock = nullptr;  // strong reference to the FakeClock the engine reads, or null
  // values="object": entries hold the Python objects themselves
  // (<libcache/cache_object.h>); sizer: None, or the size= callable that
  // charges each against max_bytes (strong reference).
  bool objects = false;
  PyObject *sizer = nullptr;
  uint64_t max_bytes = 0;
  uint32_t shards = 0;
  int policy = CACHE_POLICY_CLOCK;  // the eviction policy it was opened with
  mutable libcache_py::LinkState link;  // the store link's state (binding.h)
  // Reads the binding made for itself, not for the caller (pop's look at the
  // value before it takes it), which stats() takes back out of the engine's
  // hit and miss counts: a pop counts one delete, as cache_take does.
  std::atomic<uint64_t> own_hits{0}, own_misses{0};

  Core() = default;
  Core(const Core &) = delete;
  Core &operator=(const Core &) = delete;
  ~Core() {
    Close();            // the engine reads the clock until here
    Py_XDECREF(codec);  // pybind11 destroys holders with the GIL held
    Py_XDECREF(clock);
    Py_XDECREF(sizer);
  }
  // Closes the cache: new calls raise CacheClosed at once; its store link is
  // closed with no wait, and the calls in progress without the GIL are
  // waited for (binding.h), before cache_close. REQUIRES: the GIL (released
  // while waiting).
  void Close() {
    cache_t *c = cache;
    if (c == nullptr) return;
    cache = nullptr;
    libcache_py::CloseLinkAndWait(&link);
    cache_close(c);
  }
};

// Runs f() (an engine call that may wait for the store) without the GIL,
// counted in core->link.users (binding.h).
template <class F>
int Released(const Core *core, F &&f) {
  core->link.users.fetch_add(1, std::memory_order_relaxed);  // GIL held: ordered with close
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = f();
  Py_END_ALLOW_THREADS
  core->link.users.fetch_sub(1, std::memory_order_release);
  return rc;
}

// The Core of self without pybind11's dispatch: a class with one C++ base and a
// pointer-sized holder keeps the value pointer in simple_value_holder[0]
// (checked once at import by CheckSimpleLayout). null when __init__ has not
// run (Cache.__new__ alone, or a subclass that skipped super().__init__()).
inline Core *CoreOf(PyObject *self) {
  auto *inst = reinterpret_cast<py::detail::instance *>(self);
  return static_cast<Core *>(inst->simple_value_holder[0]);
}

// The open cache of core (CoreOf(self)), or nullptr with CacheClosed set.
inline cache_t *OpenCache(const Core *core) {
  if (core != nullptr && core->cache != nullptr) [[likely]] {
    return core->cache;
  }
  PyErr_SetString(core == nullptr ? g_error : g_closed,
                  core == nullptr ? "Cache.__init__() was not called"
                                  : "the cache is closed: create a new Cache to go on");
  return nullptr;
}

// ---- Keys ------------------------------------------------------------------

struct Key {
  const char *data;
  Py_ssize_t size;
};

// str keys are their UTF-8 bytes, so "a" and b"a" are the same key.
inline bool KeyOf(PyObject *k, Key *out) {
  if (PyUnicode_CheckExact(k) && PyUnicode_IS_COMPACT_ASCII(k)) [[likely]] {
    out->data = static_cast<const char *>(PyUnicode_DATA(k));
    out->size = PyUnicode_GET_LENGTH(k);
    return true;
  }
  if (PyUnicode_Check(k)) {
    out->data = PyUnicode_AsUTF8AndSize(k, &out->size);  // cached in the str
    return out->data != nullptr;
  }
  if (PyBytes_Check(k)) {
    out->data = PyBytes_AS_STRING(k);
    out->size = PyBytes_GET_SIZE(k);
    return true;
  }
  PyErr_Format(PyExc_TypeError,
               "cache keys must be str or bytes, not %.100s: build a string key from the "
               "object (e.g. f\"user:{user_id}\"), or let @cached build keys from the "
               "function's arguments",
               Py_TYPE(k)->tp_name);
  return false;
}

// Writes need a key the engine can store (reads of a longer key simply miss).
inline bool WritableKey(const Key &k) {
  if (static_cast<size_t>(k.size) <= CACHE_MAX_KEY_SIZE) [[likely]] {
    return true;
  }
  PyErr_Format(g_key_too_large, "a key of %zd bytes is longer than the limit of %u bytes", k.size,
               CACHE_MAX_KEY_SIZE);
  return false;
}

// ---- TTLs: seconds in Python, milliseconds in the C ABI --------------------
//
// The package's one rule for a duration in seconds, used by every entry point:
// ttl= of set/add/replace (and so of get_or_set and @cached), touch(), the
// constructor's default_ttl and SessionStore's idle_ttl and absolute_ttl (the
// last three through _core._ttl_ms). Accepted: int, float, and any other real
// number float() converts without parsing a string (decimal.Decimal,
// fractions.Fraction, numpy scalars). Refused with TypeError: bool, complex,
// str, bytes and anything else; with ValueError: NaN, infinities, negative
// values, and durations over 2**62 ms. Converted to whole milliseconds,
// rounded down (an entry never outlives what was asked) from the nearest
// microsecond (so that 1.001 s is 1001 ms, not the 1000 its binary float
// would floor to), but at least 1 for a positive duration (a tiny TTL must not
// become 0, "never expires").

enum class TtlUse {
  kTtl,      // ttl=, touch: None = the cache's default (CACHE_TTL_DEFAULT), 0 = never
  kDefault,  // default_ttl: None or 0 = never (0)
  kTimeout,  // SessionStore timeouts: > 0, None refused
};

bool SecondsToMs(PyObject *v, const char *name, TtlUse use, int64_t *out) {
  const char *none_is = use == TtlUse::kTtl       ? " or None (the cache's default_ttl)"
                        : use == TtlUse::kDefault ? " or None (never expires)"
                                                  : "";
  const char *zero_is = use == TtlUse::kTtl ? "0 = never expires, None = the cache's default_ttl"
                                            : "0 or None = never expires";
  const char *forever = use == TtlUse::kTtl       ? " (use ttl=0 for never expires)"
                        : use == TtlUse::kDefault ? " (use None for never expires)"
                                                  : "";
  if (v == nullptr || v == Py_None) {
    if (use != TtlUse::kTimeout) {
      *out = use == TtlUse::kTtl ? CACHE_TTL_DEFAULT : 0;
      return true;
    }
  } else if (!PyBool_Check(v) && !PyComplex_Check(v) &&
             (PyFloat_Check(v) || PyLong_Check(v) || PyNumber_Check(v))) {
    const double s = PyFloat_AsDouble(v);  // may run Python code (__float__)
    if (s == -1.0 && PyErr_Occurred()) {
      if (PyErr_ExceptionMatches(PyExc_OverflowError)) {  // an int beyond a double
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "%s %R is too large%s", name, v, forever);
        return false;
      }
      if (!PyErr_ExceptionMatches(PyExc_TypeError)) return false;  // __float__ raised
      PyErr_Clear();  // a number float() does not take: refused below
    } else if (std::isnan(s) || s < 0 || (s == 0 && use == TtlUse::kTimeout)) {
      if (use == TtlUse::kTimeout) {
        PyErr_Format(PyExc_ValueError, "%s must be > 0 seconds; got %R", name, v);
      } else {
        PyErr_Format(PyExc_ValueError, "%s must be >= 0 seconds (%s); got %R", name, zero_is, v);
      }
      return false;
    } else {
      // To the nearest microsecond first, then down to the millisecond: a
      // decimal like 1.001 is 1.000999... as a double, whose * 1000 would
      // round down to 1000 ms (11,806 of the first 2M millisecond values).
      const double ms = s == 0 ? 0 : std::max(1.0, std::floor(std::nearbyint(s * 1e6) / 1000.0));
      if (ms > static_cast<double>(uint64_t{1} << 62)) {  // also infinity
        PyErr_Format(PyExc_ValueError, "%s %R is too large%s", name, v, forever);
        return false;
      }
      *out = static_cast<int64_t>(ms);
      return true;
    }
  }
  PyErr_Format(PyExc_TypeError,
               "%s must be a number of seconds (int, float or another real number such as "
               "Decimal)%s, not %.100s",
               name, none_is, Py_TYPE(v == nullptr ? Py_None : v)->tp_name);
  return false;
}

// ttl= of the writes and touch.
inline bool TtlMs(PyObject *ttl, int64_t *out) {
  return SecondsToMs(ttl, "ttl", TtlUse::kTtl, out);
}

// ---- Values: a type tag, then the payload -----------------------------------

enum Tag : char {
  kBytes = 'b',
  kStr = 's',
  kInt = 'i',     // int64, 8 bytes little-endian
  kBigInt = 'I',  // beyond 64 bits: two's complement, little-endian (int.to_bytes)
  kFloat = 'd',   // IEEE double, 8 bytes little-endian
  kTrue = 'T',
  kFalse = 'F',
  kNone = 'N',
  kCodec = 'c',  // the cache codec's dumps() output
};

struct Encoded {
  char tag;
  const char *data = nullptr;
  Py_ssize_t size = 0;
  char scalar[8];
  PyObject *owner = nullptr;  // keeps data alive (codec output, big int digits)
  ~Encoded() { Py_XDECREF(owner); }
};

bool UseOwnerBytes(Encoded *e) {
  if (PyBytes_Check(e->owner)) {
    e->data = PyBytes_AS_STRING(e->owner);
    e->size = PyBytes_GET_SIZE(e->owner);
    return true;
  }
  if (PyUnicode_Check(e->owner)) {
    e->data = PyUnicode_AsUTF8AndSize(e->owner, &e->size);
    if (e->data == nullptr) {
      ChainCodecError("the codec's dumps() returned a str that cannot be encoded as UTF-8");
    }
    return e->data != nullptr;
  }
  PyErr_Format(g_codec_error, "the codec's dumps() returned %.100s; it must return bytes or str",
               Py_TYPE(e->owner)->tp_name);
  return false;
}

// obj.name(*args, signed=True), for int.to_bytes / int.from_bytes (signed is
// keyword-only). Steals args; null with an exception set on failure.
PyObject *CallSigned(PyObject *obj, const char *name, PyObject *args) {
  PyObject *method = args != nullptr ? PyObject_GetAttrString(obj, name) : nullptr;
  PyObject *kwargs = method != nullptr ? Py_BuildValue("{s:O}", "signed", Py_True) : nullptr;
  PyObject *result = kwargs != nullptr ? PyObject_Call(method, args, kwargs) : nullptr;
  Py_XDECREF(kwargs);
  Py_XDECREF(method);
  Py_XDECREF(args);
  return result;
}

bool Encode(const Core *core, PyObject *v, Encoded *e) {
  if (PyBytes_CheckExact(v)) [[likely]] {
    e->tag = kBytes;
    e->data = PyBytes_AS_STRING(v);
    e->size = PyBytes_GET_SIZE(v);
    return true;
  }
  if (PyUnicode_CheckExact(v)) {
    e->tag = kStr;
    if (PyUnicode_IS_COMPACT_ASCII(v)) {
      e->data = static_cast<const char *>(PyUnicode_DATA(v));
      e->size = PyUnicode_GET_LENGTH(v);
      return true;
    }
    e->data = PyUnicode_AsUTF8AndSize(v, &e->size);
    return e->data != nullptr;
  }
  if (v == Py_None || v == Py_True || v == Py_False) {
    e->tag = v == Py_None ? kNone : v == Py_True ? kTrue : kFalse;
    return true;
  }
  if (PyLong_CheckExact(v)) {
    int overflow = 0;
    const long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (n == -1 && PyErr_Occurred()) return false;
    if (overflow == 0) {
      e->tag = kInt;
      const uint64_t u = static_cast<uint64_t>(n);
      for (int i = 0; i < 8; ++i) e->scalar[i] = static_cast<char>(u >> (8 * i));
      e->data = e->scalar;
      e->size = 8;
      return true;
    }
    // No decimal string: int <-> str conversions are capped at 4300 digits.
    e->tag = kBigInt;
    const size_t bits = _PyLong_NumBits(v);
    if (bits == static_cast<size_t>(-1)) return false;
    e->owner = CallSigned(v, "to_bytes", Py_BuildValue("(ns)", bits / 8 + 1, "little"));
    if (e->owner == nullptr) return false;
    return UseOwnerBytes(e);
  }
  if (PyFloat_CheckExact(v)) {
    e->tag = kFloat;
    const double d = PyFloat_AS_DOUBLE(v);
    uint64_t u;
    std::memcpy(&u, &d, 8);
    for (int i = 0; i < 8; ++i) e->scalar[i] = static_cast<char>(u >> (8 * i));
    e->data = e->scalar;
    e->size = 8;
    return true;
  }
  if (core->codec == Py_None) {
    // Only exact types are stored as they are (a subclass would come back as
    // its base type); the message, which says so for subclasses and numpy
    // scalars, is built in Python: _codecs.unsupported_message.
    PyObject *msg = PyObject_CallFunctionObjArgs(g_unsupported_message, v, nullptr);
    if (msg != nullptr) PyErr_SetObject(g_unsupported, msg);
    Py_XDECREF(msg);
    return false;
  }
  e->tag = kCodec;
  e->owner = PyObject_CallMethodObjArgs(core->codec, g_dumps, v, nullptr);
  if (e->owner == nullptr) {
    ChainCodecError(std::string("the codec's dumps() failed on a ") + Py_TYPE(v)->tp_name);
    return false;
  }
  return UseOwnerBytes(e);
}

// The state of one read, filled in by cache_read's callback (under the
// engine's read lock: it only allocates the result object, which runs no
// Python code and never re-enters the cache).
struct Decoded {
  PyObject *value = nullptr;  // new reference; null with an exception set
  // kCodec / kBigInt: value is the bytes to turn into the object after the
  // engine's lock is released.
  enum { kDone, kCodec, kBigInt } kind = kDone;
};

uint64_t LoadLe64(const char *p) {
  uint64_t u = 0;
  for (int i = 7; i >= 0; --i) u = u << 8 | static_cast<unsigned char>(p[i]);
  return u;
}

void DecodeInPlace(void *ctx, const void *data, size_t size) {
  auto *out = static_cast<Decoded *>(ctx);
  const char *p = static_cast<const char *>(data);
  const Py_ssize_t n = static_cast<Py_ssize_t>(size) - 1;
  if (size == 0) {
    out->value = nullptr;  // reported by Finish
    return;
  }
  switch (p[0]) {
    case kBytes:
      out->value = PyBytes_FromStringAndSize(p + 1, n);
      return;
    case kStr:
      out->value = PyUnicode_DecodeUTF8(p + 1, n, "strict");
      return;
    case kInt:
      if (n == 8) out->value = PyLong_FromLongLong(static_cast<long long>(LoadLe64(p + 1)));
      return;
    case kBigInt:
      out->kind = Decoded::kBigInt;  // converted by Finish, after the lock
      out->value = PyBytes_FromStringAndSize(p + 1, n);
      return;
    case kFloat:
      if (n == 8) {
        const uint64_t u = LoadLe64(p + 1);
        double d;
        std::memcpy(&d, &u, 8);
        out->value = PyFloat_FromDouble(d);
      }
      return;
    case kTrue:
    case kFalse:
    case kNone:
      if (n == 0)
        out->value = NewRef(p[0] == kTrue ? Py_True : p[0] == kFalse ? Py_False : Py_None);
      return;
    case kCodec:
      out->kind = Decoded::kCodec;
      out->value = PyBytes_FromStringAndSize(p + 1, n);
      return;
    default:
      return;
  }
}

// Turns a read's result into the stored object: loads codec values, reports
// bytes that no libcache binding wrote.
PyObject *Finish(const Core *core, Decoded *d) {
  if (d->value == nullptr) {
    // Stored bytes that no libcache binding wrote: an unknown tag or a bad
    // size (nothing pending), or a str that is not UTF-8 (UnicodeDecodeError).
    ChainCodecError(
        "the stored bytes are not a libcache value: was the key written by another program?");
    return nullptr;
  }
  if (d->kind == Decoded::kDone) return d->value;
  PyObject *raw = d->value;
  d->value = nullptr;
  if (d->kind == Decoded::kBigInt) {
    PyObject *v = CallSigned(reinterpret_cast<PyObject *>(&PyLong_Type), "from_bytes",
                             Py_BuildValue("(Os)", raw, "little"));
    Py_DECREF(raw);
    if (v == nullptr) ChainCodecError("a stored big int could not be read back");
    return v;
  }
  if (core->codec == Py_None) {
    Py_DECREF(raw);
    PyErr_SetString(g_codec_error,
                    "the value was stored through a codec, and this cache has none: open it "
                    "with the codec that wrote the value");
    return nullptr;
  }
  PyObject *v = PyObject_CallMethodObjArgs(core->codec, g_loads, raw, nullptr);
  Py_DECREF(raw);
  if (v == nullptr) ChainCodecError("the codec's loads() failed on the stored bytes");
  return v;
}

// ---- Object values (Cache(values="object")) ------------------------------------
//
// The engine holds one strong reference per entry (<libcache/cache_object.h>).
// retain runs in the reading thread under a shard lock, and that thread holds
// the GIL (every object read is made with it: reads through a store go by
// cache_get_value without it, then read locally again with it). release runs
// with no engine lock held, in whichever thread made the entry leave (a
// Python thread, or a store link's thread): it takes the GIL if this thread
// lacks it. During interpreter finalization a thread without the GIL cannot
// take it: the reference is left (the process is exiting).

void RetainObject(void *, void *obj) { Py_INCREF(static_cast<PyObject *>(obj)); }

void ReleaseObject(void *, void *obj) {
  if (PyGILState_Check()) {
    Py_DECREF(static_cast<PyObject *>(obj));
    return;
  }
#if PY_VERSION_HEX >= 0x030D0000
  if (Py_IsFinalizing()) return;
#else
  if (_Py_IsFinalizing()) return;
#endif
  const PyGILState_STATE st = PyGILState_Ensure();
  Py_DECREF(static_cast<PyObject *>(obj));
  PyGILState_Release(st);
}

// What an object is charged against max_bytes: size(value) when the cache
// has a size= callable, else a shallow size like sys.getsizeof's (exact for
// bytes, str, int, float and the other scalars, the container alone for
// tuples, lists, dicts and other objects: what they refer to is not counted).
// false with an exception set.
bool ObjectCharge(const Core *core, PyObject *v, uint64_t *out) {
  if (core->sizer != nullptr) {
    PyObject *n = PyObject_CallOneArg(core->sizer, v);
    if (n == nullptr) return false;
    const unsigned long long u = PyLong_Check(n) ? PyLong_AsUnsignedLongLong(n) : 0;
    const bool ok = PyLong_Check(n) && !(u == static_cast<unsigned long long>(-1) && PyErr_Occurred());
    Py_DECREF(n);
    if (!ok) {
      PyErr_Clear();
      PyErr_SetString(PyExc_ValueError, "size= must return an int from 0 to 2**48 - 1");
      return false;
    }
    *out = u;
    return true;
  }
  PyTypeObject *t = Py_TYPE(v);
  if (t == &PyBytes_Type) {
    *out = static_cast<uint64_t>(t->tp_basicsize + PyBytes_GET_SIZE(v));
  } else if (t == &PyUnicode_Type && PyUnicode_IS_COMPACT_ASCII(v)) {
    *out = static_cast<uint64_t>(t->tp_basicsize + PyUnicode_GET_LENGTH(v) + 1);
  } else if (t->tp_itemsize == 0 && t->tp_dictoffset == 0 && !PyType_IS_GC(t)) {
    *out = static_cast<uint64_t>(t->tp_basicsize);  // float, None, bool's base...
  } else {
    static PyObject *sizeof_name = PyUnicode_InternFromString("__sizeof__");
    PyObject *n = sizeof_name != nullptr ? PyObject_CallMethodNoArgs(v, sizeof_name) : nullptr;
    if (n == nullptr) {
      PyErr_Clear();  // no __sizeof__: charge the type's basic size
      *out = static_cast<uint64_t>(t->tp_basicsize);
    } else {
      const long long z = PyLong_AsLongLong(n);
      Py_DECREF(n);
      if (z < 0) PyErr_Clear();
      *out = static_cast<uint64_t>(z < 0 ? t->tp_basicsize : z) + (PyType_IS_GC(t) ? 16 : 0);
    }
  }
  return true;
}

// The engine's bytes value v (tagged, as bytes caches store them) decoded;
// null with an exception set.
PyObject *DecodePinned(const Core *core, const cache_value_t *v) {
  Decoded d;
  DecodeInPlace(&d, cache_value_data(v), cache_value_size(v));
  return Finish(core, &d);
}

// The slow part of an object cache's read: a bytes value (read through from
// the store, or written by a sync write), decoded once and put in the
// entry's place (cache_upgrade_object). Releases bytes.
PyObject *DecodeAndUpgrade(const Core *core, const Key &k, cache_value_t *bytes) {
  PyObject *v = DecodePinned(core, bytes);
  uint64_t charge = 0;
  // The codec or size= may have closed the cache (core->cache is then null).
  if (v != nullptr && core->cache != nullptr) {
    if (ObjectCharge(core, v, &charge)) {
      Py_INCREF(v);  // the cache's, if it keeps it
      if (cache_upgrade_object(core->cache, k.data, static_cast<size_t>(k.size), bytes, v,
                               charge) != CACHE_OK) {
        Py_DECREF(v);  // not kept (replaced meanwhile, too large): still what this read saw
      }
    } else {
      PyErr_Clear();  // a failing size= only means the decoded value is not kept
    }
  }
  cache_value_release(bytes);
  return v;
}

// The slow paths of an object cache's read: through the store, without the
// GIL, as bytes; an object that a write put in place meanwhile is read
// locally again, with the GIL (retain needs it). Then errors and decoding.
[[gnu::noinline]] int LookupObjectSlow(const Core *core, cache_t *c, const Key &k, int rc,
                                       PyObject **out) {
  const size_t klen = static_cast<size_t>(k.size);
  void *obj = nullptr;
  cache_value_t *bytes = nullptr;
  for (int attempt = 0; core->link.release_reads && rc == CACHE_NOT_FOUND && attempt < 3;
       ++attempt) {
    rc = Released(core, [&] { return cache_get_value(c, k.data, klen, &bytes); });
    if (rc != CACHE_E_WRONG_KIND) break;
    rc = cache_get_object(c, k.data, klen, CACHE_GET_LOCAL, &obj, &bytes);
    if (obj != nullptr) {
      *out = static_cast<PyObject *>(obj);
      return 1;
    }
  }
  if (rc == CACHE_NOT_FOUND) return 0;
  if (rc != CACHE_OK) {
    SetStatusError(rc, "get failed");
    return -1;
  }
  *out = DecodeAndUpgrade(core, k, bytes);
  return *out != nullptr ? 1 : -1;
}

// An object cache's read of k: 1 found (*out: new reference), 0 absent, -1
// error. A hit is one engine call that retains the object (with the GIL).
inline int LookupObject(const Core *core, cache_t *c, const Key &k, PyObject **out) {
  void *obj = nullptr;
  cache_value_t *bytes = nullptr;
  const int rc = cache_get_object(c, k.data, static_cast<size_t>(k.size),
                                  core->link.release_reads ? CACHE_GET_LOCAL : 0, &obj, &bytes);
  if (obj != nullptr) [[likely]] {
    *out = static_cast<PyObject *>(obj);
    return 1;
  }
  if (rc == CACHE_OK) {  // bytes
    *out = DecodeAndUpgrade(core, k, bytes);
    return *out != nullptr ? 1 : -1;
  }
  if (rc == CACHE_NOT_FOUND && !core->link.release_reads) return 0;
  return LookupObjectSlow(core, c, k, rc, out);
}

// ---- The hot methods -------------------------------------------------------

// A read that may go through to the store (read-through on): without the
// GIL, the value pinned, then decoded (d may be null: presence only) with the
// GIL back, before the call stops counting as a user of the cache.
int ReadReleased(const Core *core, cache_t *c, const Key &k, Decoded *d) {
  core->link.users.fetch_add(1, std::memory_order_relaxed);
  cache_value_t *v = nullptr;
  int rc;
  Py_BEGIN_ALLOW_THREADS
  rc = cache_get_value(c, k.data, static_cast<size_t>(k.size), &v);
  Py_END_ALLOW_THREADS
  if (rc == CACHE_OK) {
    if (d != nullptr) DecodeInPlace(d, cache_value_data(v), cache_value_size(v));
    cache_value_release(v);
  }
  core->link.users.fetch_sub(1, std::memory_order_release);
  return rc;
}

// 1 found (*out: new reference), 0 absent, -1 error.
// k's value in the open cache c of core (either kind of values).
inline int LookupOpen(const Core *core, cache_t *c, const Key &k, PyObject **out) {
  if (core->objects) return LookupObject(core, c, k, out);
  Decoded d;
  const int rc = core->link.release_reads ? ReadReleased(core, c, k, &d)
                                          : cache_read(c, k.data, static_cast<size_t>(k.size),
                                                       DecodeInPlace, &d);
  if (rc == CACHE_NOT_FOUND) return 0;
  if (rc != CACHE_OK) {
    Py_XDECREF(d.value);
    SetStatusError(rc, "get failed");
    return -1;
  }
  *out = Finish(core, &d);
  return *out != nullptr ? 1 : -1;
}

inline int Lookup(PyObject *self, PyObject *key, PyObject **out) {
  const Core *core = CoreOf(self);
  cache_t *c = OpenCache(core);
  Key k;
  if (c == nullptr || !KeyOf(key, &k)) return -1;
  return LookupOpen(core, c, k, out);
}

// Parses (key, [second], *, name=) of a FASTCALL|KEYWORDS call: positional
// args first, then at most one keyword (the second parameter's name, or
// "ttl" for writes). Returns false with TypeError set.
bool ParseArgs(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               int required, const char *const *names, int nnames, PyObject **out) {
  for (int i = 0; i < nnames; ++i) out[i] = nullptr;
  if (nargs > nnames) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", fname, nnames,
                 nargs);
    return false;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) out[i] = args[i];
  const Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  for (Py_ssize_t j = 0; j < nkw; ++j) {
    PyObject *name = PyTuple_GET_ITEM(kwnames, j);
    int slot = -1;
    for (int i = 0; i < nnames; ++i) {
      if (PyUnicode_CompareWithASCIIString(name, names[i]) == 0) slot = i;
    }
    if (slot < 0) {
      PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", fname, name);
      return false;
    }
    if (out[slot] != nullptr) {
      PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname,
                   names[slot]);
      return false;
    }
    out[slot] = args[nargs + j];
  }
  for (int i = 0; i < required; ++i) {
    if (out[i] == nullptr) {
      PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname, names[i]);
      return false;
    }
  }
  return true;
}

// get(key, default=None)
PyObject *Get(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  PyObject *key, *dflt = Py_None;
  if (nargs >= 1 && nargs <= 2 && kwnames == nullptr) [[likely]] {
    key = args[0];
    if (nargs == 2) dflt = args[1];
  } else {
    static const char *const kNames[] = {"key", "default"};
    PyObject *a[2];
    if (!ParseArgs("get", args, nargs, kwnames, 1, kNames, 2, a)) return nullptr;
    key = a[0];
    if (a[1] != nullptr) dflt = a[1];
  }
  PyObject *v;
  const int found = Lookup(self, key, &v);
  if (found > 0) return v;
  return found == 0 ? NewRef(dflt) : nullptr;
}

// The one write path: set/add/replace and c[k] = v. Returns the C status
// (CACHE_OK, CACHE_EXISTS, CACHE_NOT_FOUND) or -100 with an exception set.
constexpr int kRaised = -100;

// An object cache's write: the object itself, by reference, charged by
// ObjectCharge; with a store linked, its encoded form too (what Redis gets).
int WriteObject(const Core *core, const Key &k, PyObject *value, int64_t ttl_ms, int mode,
                uint64_t *charge) {
  if (!ObjectCharge(core, value, charge)) return kRaised;
  std::string enc;
  const bool linked = core->link.link != nullptr || core->link.encode_writes;
  if (linked) {
    Encoded e;
    if (!Encode(core, value, &e)) return kRaised;
    try {
      enc.reserve(static_cast<size_t>(e.size) + 1);
      enc.push_back(e.tag);
      enc.append(e.data, static_cast<size_t>(e.size));
    } catch (const std::bad_alloc &) {
      PyErr_NoMemory();
      return kRaised;
    }
  }
  // Fetched again: size= and the codec are Python code, which may have
  // closed the cache.
  cache_t *c = OpenCache(core);
  if (c == nullptr) return kRaised;
  Py_INCREF(value);  // the cache's, on success
  const auto write = [&] {
    return cache_set_object(c, k.data, static_cast<size_t>(k.size), value, *charge,
                            linked ? enc.data() : nullptr, enc.size(), ttl_ms, mode);
  };
  const int rc = core->link.release_writes ? Released(core, write) : write();
  if (rc != CACHE_OK) Py_DECREF(value);
  return rc;
}

int Write(PyObject *self, PyObject *key, PyObject *value, PyObject *ttl, int mode) {
  const Core *core = CoreOf(self);
  Key k;
  int64_t ttl_ms;
  if (OpenCache(core) == nullptr || !KeyOf(key, &k) || !WritableKey(k) || !TtlMs(ttl, &ttl_ms)) {
    return kRaised;
  }
  Encoded e;
  int rc;
  uint64_t charge = 0;
  if (core->objects) {
    rc = WriteObject(core, k, value, ttl_ms, mode, &charge);
    if (rc == kRaised) return kRaised;
  } else {
    if (!Encode(core, value, &e)) return kRaised;
    // Fetched again: a ttl's __float__ or the codec's dumps() is Python code,
    // which may have closed the cache.
    cache_t *c = OpenCache(core);
    if (c == nullptr) return kRaised;
    const cache_iovec_t parts[2] = {{&e.tag, 1}, {e.data, static_cast<size_t>(e.size)}};
    const auto write = [&] {
      return cache_setv(c, k.data, static_cast<size_t>(k.size), parts, 2, ttl_ms, mode);
    };
    rc = core->link.release_writes ? Released(core, write) : write();
    charge = static_cast<uint64_t>(e.size) + 1;
  }
  if (rc >= 0) [[likely]] {
    return rc;
  }
  if (rc == CACHE_E_FULL) {
    SetStatusError(rc, "write refused, the cache is unchanged: the store's write-behind queue "
                       "is full (max_queue_bytes / max_queue_ops; on_full=\"block\" waits "
                       "block_timeout for room)");
  } else if (rc == CACHE_E_TOO_LARGE) {
    SetStatusError(rc, "an entry of " + std::to_string(k.size) + " key bytes and " +
                           std::to_string(charge) +
                           (core->objects ? " bytes charged for its object" : " value bytes") +
                           " cannot fit: one entry may take at most max_bytes (" +
                           std::to_string(core->max_bytes) +
                           " bytes) less the engine's overhead and its shards' arrays (entries "
                           "up to max_bytes / 8 always fit); raise max_bytes");
  } else {
    SetStatusError(rc, "write failed");
  }
  return kRaised;
}

PyObject *WriteMethod(const char *fname, int mode, PyObject *self, PyObject *const *args,
                      Py_ssize_t nargs, PyObject *kwnames) {
  PyObject *a[3] = {nullptr, nullptr, nullptr};
  if ((nargs == 2 || nargs == 3) && kwnames == nullptr) [[likely]] {
    a[0] = args[0];
    a[1] = args[1];
    if (nargs == 3) a[2] = args[2];
  } else {
    static const char *const kNames[] = {"key", "value", "ttl"};
    if (!ParseArgs(fname, args, nargs, kwnames, 2, kNames, 3, a)) return nullptr;
  }
  const int rc = Write(self, a[0], a[1], a[2], mode);
  if (rc == kRaised) return nullptr;
  if (mode == CACHE_WRITE_SET) Py_RETURN_NONE;
  return NewRef(rc == CACHE_OK ? Py_True : Py_False);
}

PyObject *Set(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  return WriteMethod("set", CACHE_WRITE_SET, self, args, nargs, kwnames);
}
PyObject *Add(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  return WriteMethod("add", CACHE_WRITE_ADD, self, args, nargs, kwnames);
}
PyObject *Replace(PyObject *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames) {
  return WriteMethod("replace", CACHE_WRITE_REPLACE, self, args, nargs, kwnames);
}

// c[key]
PyObject *Subscript(PyObject *self, PyObject *key) {
  PyObject *v;
  const int found = Lookup(self, key, &v);
  if (found > 0) return v;
  if (found == 0) PyErr_SetObject(PyExc_KeyError, key);
  return nullptr;
}

// Deletes key: 1 deleted, 0 absent, -1 error.
int DeleteKey(const Core *core, PyObject *key) {
  cache_t *c = OpenCache(core);
  Key k;
  if (c == nullptr || !KeyOf(key, &k)) return -1;
  const auto del = [&] { return cache_delete(c, k.data, static_cast<size_t>(k.size)); };
  const int rc = core->link.release_writes ? Released(core, del) : del();
  if (rc == CACHE_OK) return 1;
  if (rc == CACHE_NOT_FOUND) return 0;
  SetStatusError(rc, "delete failed");
  return -1;
}

// c[key] = value (no TTL argument: the cache's default_ttl); del c[key]
int AssSubscript(PyObject *self, PyObject *key, PyObject *value) {
  if (value != nullptr) {
    return Write(self, key, value, nullptr, CACHE_WRITE_SET) == kRaised ? -1 : 0;
  }
  const int deleted = DeleteKey(CoreOf(self), key);
  if (deleted == 0) PyErr_SetObject(PyExc_KeyError, key);
  return deleted > 0 ? 0 : -1;
}

// key in c: a live entry exists (counted as a hit or miss, like a get).
int Contains(PyObject *self, PyObject *key) {
  cache_t *c = OpenCache(CoreOf(self));
  Key k;
  if (c == nullptr || !KeyOf(key, &k)) return -1;
  const Core *core = CoreOf(self);
  int rc;
  if (core->objects && !core->link.release_reads) {
    void *obj = nullptr;
    cache_value_t *bytes = nullptr;
    rc = cache_get_object(c, k.data, static_cast<size_t>(k.size), 0, &obj, &bytes);
    Py_XDECREF(static_cast<PyObject *>(obj));
    if (bytes != nullptr) cache_value_release(bytes);
  } else {
    rc = core->link.release_reads
             ? ReadReleased(core, c, k, nullptr)
             : cache_read(c, k.data, static_cast<size_t>(k.size), nullptr, nullptr);
  }
  // An object met by a bytes read (read through, then written meanwhile).
  if (rc == CACHE_OK || rc == CACHE_E_WRONG_KIND) return 1;
  if (rc == CACHE_NOT_FOUND) return 0;
  SetStatusError(rc, "lookup failed");
  return -1;
}

Py_ssize_t Length(PyObject *self) {
  cache_t *c = OpenCache(CoreOf(self));
  if (c == nullptr) return -1;
  cache_stats_t s{};
  const int rc = cache_stats(c, &s, sizeof s);
  if (rc != CACHE_OK) {
    SetStatusError(rc, "len failed");
    return -1;
  }
  return static_cast<Py_ssize_t>(s.entries);
}

PyMethodDef g_fast_methods[] = {
    {"get", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Get)),
     METH_FASTCALL | METH_KEYWORDS,
     "get(key, default=None)\n--\n\nThe value stored for key, or default if there is no live "
     "entry."},
    {"set", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Set)),
     METH_FASTCALL | METH_KEYWORDS,
     "set(key, value, ttl=None)\n--\n\nStores value for key, replacing any previous one. ttl: "
     "seconds; None = the cache's default_ttl, 0 = never expires."},
    {"add", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Add)),
     METH_FASTCALL | METH_KEYWORDS,
     "add(key, value, ttl=None)\n--\n\nStores value only if key has no live entry; True if it "
     "did."},
    {"replace", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(Replace)),
     METH_FASTCALL | METH_KEYWORDS,
     "replace(key, value, ttl=None)\n--\n\nStores value only if key has a live entry; True if "
     "it did."},
    {nullptr, nullptr, 0, nullptr},
};

// Garbage collection: an object cache's entries are references the
// collector must see (a cycle through a cached object is then collectable,
// as with functools.lru_cache). Bytes caches hold only their codec, clock
// and size= callable. traverse never reads a bytes cache's entries: a
// collection may start inside an allocation that a bytes read makes under a
// shard lock (its value's bytes object), and visiting would lock that shard.
int VisitAdapter(void *ctx, void *obj) {
  auto *v = static_cast<std::pair<visitproc, void *> *>(ctx);
  return v->first(static_cast<PyObject *>(obj), v->second);
}

int Traverse(PyObject *self, visitproc visit, void *arg) {
  Py_VISIT(Py_TYPE(self));
  const Core *core = CoreOf(self);
  if (core == nullptr) return 0;
  Py_VISIT(core->codec);
  Py_VISIT(core->clock);
  Py_VISIT(core->sizer);
  if (core->objects && core->cache != nullptr) {
    std::pair<visitproc, void *> v{visit, arg};
    const int rc = cache_visit_objects(core->cache, VisitAdapter, &v);
    if (rc != 0) return rc;
  }
  return 0;
}

// Drops the entries (their release runs after the engine's locks); the
// collector calls it to break a cycle through the cache.
int ClearRefs(PyObject *self) {
  const Core *core = CoreOf(self);
  if (core != nullptr && core->objects && core->cache != nullptr) cache_clear(core->cache);
  return 0;
}

void InstallFastPaths(PyHeapTypeObject *heap) {
  heap->ht_type.tp_flags |= Py_TPFLAGS_HAVE_GC;
  heap->ht_type.tp_traverse = Traverse;
  heap->ht_type.tp_clear = ClearRefs;
  heap->ht_type.tp_methods = g_fast_methods;
  heap->as_mapping.mp_subscript = Subscript;
  heap->as_mapping.mp_ass_subscript = AssSubscript;
  heap->as_mapping.mp_length = Length;
  heap->as_sequence.sq_contains = Contains;
}

// ---- The pybind11 half ------------------------------------------------------

[[noreturn]] void ThrowSet() { throw py::error_already_set(); }

PyTypeObject *g_cache_type = nullptr;  // _core.Cache

// The methods bound with pybind11 take self as a handle and find the Core
// themselves, as the fast paths do: pybind11's own conversion of an instance
// whose __init__ never ran (Cache.__new__(Cache)) does not give a null
// pointer. null when __init__ never ran.
Core *CoreOfChecked(py::handle self) {
  if (!PyObject_TypeCheck(self.ptr(), g_cache_type)) {
    throw py::type_error("expected a libcache.Cache");
  }
  return CoreOf(self.ptr());
}

cache_t *Require(const Core *core) {
  cache_t *c = OpenCache(core);
  if (c == nullptr) ThrowSet();
  return c;
}

Key RequireKey(py::handle key) {
  Key k;
  if (!KeyOf(key.ptr(), &k)) ThrowSet();
  return k;
}

int64_t RequireTtl(py::handle ttl) {
  int64_t ms;
  if (!TtlMs(ttl.ptr(), &ms)) ThrowSet();
  return ms;
}

void Check(int rc, const std::string &what) {
  if (rc < 0) {
    SetStatusError(rc, what);
    ThrowSet();
  }
}

// The object stored in a pinned value, as a read would return it.
py::object DecodeValue(const Core *core, const cache_value_t *v) {
  Decoded d;
  DecodeInPlace(&d, cache_value_data(v), cache_value_size(v));
  PyObject *value = Finish(core, &d);
  if (value == nullptr) ThrowSet();
  return py::reinterpret_steal<py::object>(value);
}

void CheckSimpleLayout(py::handle cls) {
  auto *tinfo = py::detail::get_type_info(reinterpret_cast<PyTypeObject *>(cls.ptr()));
  if (tinfo == nullptr || !tinfo->simple_type || tinfo->holder_size_in_ptrs != 1) {
    throw std::runtime_error("libcache._core: unexpected pybind11 instance layout");
  }
}

}  // namespace

// ---- What store.cc uses (binding.h) --------------------------------------------

namespace libcache_py {

cache_t *OpenCacheOf(PyObject *cache, LinkState **state) {
  if (g_cache_type == nullptr || !PyObject_TypeCheck(cache, g_cache_type)) {
    PyErr_SetString(PyExc_TypeError, "expected a libcache.Cache");
    return nullptr;
  }
  Core *core = CoreOf(cache);
  cache_t *c = OpenCache(core);
  if (c != nullptr && state != nullptr) *state = &core->link;
  return c;
}

bool WritableKeyOf(PyObject *key, const char **data, size_t *size) {
  Key k;
  if (!KeyOf(key, &k) || !WritableKey(k)) return false;
  *data = k.data;
  *size = static_cast<size_t>(k.size);
  return true;
}

bool EncodeTagged(PyObject *cache, PyObject *value, std::string *out) {
  const Core *core = OpenCacheOf(cache, nullptr) != nullptr ? CoreOf(cache) : nullptr;
  if (core == nullptr) return false;
  Encoded e;
  if (!Encode(core, value, &e)) return false;
  try {
    out->assign(1, e.tag);
    out->append(e.data, static_cast<size_t>(e.size));
  } catch (const std::bad_alloc &) {
    PyErr_NoMemory();
    return false;
  }
  return true;
}

bool TtlArg(PyObject *ttl, int64_t *ms) { return TtlMs(ttl, ms); }

int LookupValue(PyObject *cache, const char *key, size_t klen, PyObject **out) {
  if (g_cache_type == nullptr || !PyObject_TypeCheck(cache, g_cache_type)) {
    PyErr_SetString(PyExc_TypeError, "expected a libcache.Cache");
    return -1;
  }
  const Core *core = CoreOf(cache);
  cache_t *c = OpenCache(core);
  if (c == nullptr) return -1;
  return LookupOpen(core, c, Key{key, static_cast<Py_ssize_t>(klen)}, out);
}

}  // namespace libcache_py

PYBIND11_MODULE(_core, m) {
  m.doc() = "libcache's compiled core; use the libcache package, not this module.";
  py::module_ errors = py::module_::import("libcache._errors");
  g_status_errors = py::object(errors.attr("STATUS_ERRORS")).release().ptr();
  g_error = py::object(errors.attr("Error")).release().ptr();
  g_closed = py::object(errors.attr("CacheClosed")).release().ptr();
  g_key_too_large = py::object(errors.attr("KeyTooLarge")).release().ptr();
  g_unsupported = py::object(errors.attr("UnsupportedValue")).release().ptr();
  g_codec_error = py::object(errors.attr("CodecError")).release().ptr();
  g_unsupported_message =
      py::object(py::module_::import("libcache._codecs").attr("unsupported_message"))
          .release()
          .ptr();

  g_dumps = PyUnicode_InternFromString("dumps");
  g_loads = PyUnicode_InternFromString("loads");
  if (g_dumps == nullptr || g_loads == nullptr) throw py::error_already_set();
  m.attr("MAX_KEY_SIZE") = CACHE_MAX_KEY_SIZE;
  m.attr("ENGINE_VERSION") = cache_version_string();
  m.attr("ALLOCATOR") = cache_allocator_name();

  // The package's one TTL rule (SecondsToMs), for what Python code parses:
  // default_ttl, SessionStore's timeouts, @cached's ttl at decoration time.
  m.def(
      "_ttl_ms",
      [](py::handle seconds, const std::string &name, const std::string &use) {
        TtlUse u;
        if (use == "ttl") {
          u = TtlUse::kTtl;
        } else if (use == "default") {
          u = TtlUse::kDefault;
        } else if (use == "timeout") {
          u = TtlUse::kTimeout;
        } else {
          throw py::value_error("use must be 'ttl', 'default' or 'timeout'");
        }
        int64_t ms;
        if (!SecondsToMs(seconds.ptr(), name.c_str(), u, &ms)) ThrowSet();
        return ms;
      },
      py::arg("seconds"), py::arg("name") = "ttl", py::arg("use") = "ttl",
      "Milliseconds for a duration in seconds, by the rule every TTL follows; -1 for ttl=None.");

  py::class_<FakeClock>(m, "FakeClock",
                        "A clock for tests: Cache(_clock=c) reads it instead of the monotonic "
                        "clock; c() gives its time in seconds (for SessionStore(clock=c)).")
      .def(py::init([](double start) {
             if (!(start >= 0 && start < 1e15)) {
               throw py::value_error("start must be >= 0 seconds and below 1e15");
             }
             return std::make_unique<FakeClock>(static_cast<uint64_t>(std::llround(start * 1e3)));
           }),
           py::arg("start") = 1.7e9)
      .def(
          "advance",
          [](FakeClock &c, double seconds) {
            if (!(seconds >= 0 && seconds < 1e12)) {
              throw py::value_error("a FakeClock only moves forward: advance(seconds >= 0)");
            }
            c.ms.fetch_add(static_cast<uint64_t>(std::llround(seconds * 1e3)),
                           std::memory_order_relaxed);
          },
          py::arg("seconds"), "Moves the clock forward by seconds, rounded to whole ms.")
      .def("__call__",
           [](const FakeClock &c) {
             return static_cast<double>(c.ms.load(std::memory_order_relaxed)) / 1e3;
           })
      .def_property_readonly(
          "ms", [](const FakeClock &c) { return c.ms.load(std::memory_order_relaxed); })
      .def("__repr__", [](const FakeClock &c) {
        return "<libcache._core.FakeClock ms=" +
               std::to_string(c.ms.load(std::memory_order_relaxed)) + ">";
      });

  py::class_<Core> cls(m, "Cache", py::custom_type_setup(InstallFastPaths));
  g_cache_type = reinterpret_cast<PyTypeObject *>(cls.ptr());
  cls.def(py::init([](uint64_t max_bytes, uint64_t max_entries, uint64_t default_ttl_ms,
                      uint32_t shards, py::object codec, py::object clock, bool objects,
                      py::object size, int policy) {
            FakeClock *fake = nullptr;
            if (!clock.is_none()) {
              if (!py::isinstance<FakeClock>(clock)) {
                throw py::type_error("_clock must be a libcache._core.FakeClock or None, not " +
                                     std::string(Py_TYPE(clock.ptr())->tp_name));
              }
              fake = clock.cast<FakeClock *>();
            }
            auto core = std::make_unique<Core>();
            cache_options_t *opts = cache_options_new();
            if (opts == nullptr) throw std::bad_alloc();
            int rc = cache_options_set_max_bytes(opts, max_bytes);
            if (rc == CACHE_OK) rc = cache_options_set_max_entries(opts, max_entries);
            if (rc == CACHE_OK) rc = cache_options_set_default_ttl_ms(opts, default_ttl_ms);
            if (rc == CACHE_OK && shards != 0) rc = cache_options_set_shards(opts, shards);
            if (rc == CACHE_OK) rc = cache_options_set_policy(opts, policy);
            if (rc == CACHE_OK && fake != nullptr) {
              rc = cache_options_set_clock(opts, FakeClock::Read, fake);
            }
            if (rc == CACHE_OK && objects) {
              rc = cache_options_set_object_hooks(opts, RetainObject, ReleaseObject, nullptr);
            }
            if (rc == CACHE_OK) rc = cache_open(opts, &core->cache);
            cache_options_free(opts);
            Check(rc, "invalid cache options: max_bytes=" + std::to_string(max_bytes) +
                          ", max_entries=" + std::to_string(max_entries) +
                          ", shards=" + std::to_string(shards) +
                          ", policy=" + std::to_string(policy) +
                          " (at least one bound must be set; shards is a power of two up to "
                          "1024, and each shard needs room for its table; policy is 0 (clock) "
                          "or 1 (adaptive))");
            core->codec = codec.release().ptr();
            if (fake != nullptr) core->clock = clock.release().ptr();
            core->objects = objects;
            if (!size.is_none()) core->sizer = size.release().ptr();
            core->max_bytes = max_bytes;
            core->shards = cache_shard_count(core->cache);
            core->policy = policy;
            return core;
          }),
          py::arg("max_bytes"), py::arg("max_entries"), py::arg("default_ttl_ms"),
          py::arg("shards"), py::arg("codec"), py::arg("clock") = py::none(),
          py::arg("objects") = false, py::arg("size") = py::none(),
          py::arg("policy") = CACHE_POLICY_CLOCK);
  cls.def("close", [](py::handle self) {
    Core *core = CoreOfChecked(self);
    if (core == nullptr) return;  // __init__ never ran: nothing to close
    core->Close();
  });
  cls.def_property_readonly("closed", [](py::handle self) {
    Core *core = CoreOfChecked(self);
    return core == nullptr || core->cache == nullptr;
  });
  cls.def("delete", [](py::handle self, py::handle key) {
    Core *core = CoreOfChecked(self);
    const int deleted = DeleteKey(core, key.ptr());
    if (deleted < 0) ThrowSet();
    return deleted > 0;
  });
  cls.def(
      "touch",
      [](py::handle self, py::handle key, py::handle ttl) {
        Core *core = CoreOfChecked(self);
        Require(core);
        const Key k = RequireKey(key);
        const int64_t ms = RequireTtl(ttl);  // may run Python code (__float__)
        cache_t *c = Require(core);
        const auto touch = [&] { return cache_touch(c, k.data, static_cast<size_t>(k.size), ms); };
        const int rc = core->link.release_writes ? Released(core, touch) : touch();
        Check(rc, "touch failed");
        return rc == CACHE_OK;
      },
      py::arg("key"), py::arg("ttl"));
  cls.def("ttl", [](py::handle self, py::handle key) -> std::optional<double> {
    Core *core = CoreOfChecked(self);
    cache_t *c = Require(core);
    const Key k = RequireKey(key);
    int64_t remaining = 0;
    const int rc = cache_ttl(c, k.data, static_cast<size_t>(k.size), &remaining);
    Check(rc, "ttl failed");
    if (rc == CACHE_NOT_FOUND) {
      PyErr_SetObject(PyExc_KeyError, key.ptr());
      ThrowSet();
    }
    if (remaining < 0) return std::nullopt;
    return static_cast<double>(remaining) / 1000.0;
  });
  // A presence test that counts no hit or miss (get_or_set's re-check).
  cls.def("_has", [](py::handle self, py::handle key) {
    Core *core = CoreOfChecked(self);
    cache_t *c = Require(core);
    const Key k = RequireKey(key);
    int64_t remaining = 0;
    const int rc = cache_ttl(c, k.data, static_cast<size_t>(k.size), &remaining);
    Check(rc, "lookup failed");
    return rc == CACHE_OK;
  });
  // pop: removes key's live entry and returns its value; dflt if there is
  // none. The removal is one engine operation (cache_take), so a write of key
  // by another thread lands before it (and is what pop returns) or after it
  // (and stays), never between a read and a delete. The value is decoded
  // before the removal, from a pinned copy, so that one that cannot be
  // decoded raises and stays; if a write replaced it meanwhile, the bytes
  // taken differ and are decoded instead (a failure then is after the removal).
  cls.def("_take", [](py::handle self, py::handle key, py::handle dflt) -> py::object {
    Core *core = CoreOfChecked(self);
    Require(core);
    const Key k = RequireKey(key);
    cache_t *c = Require(core);
    if (core->objects) {
      // One engine call with the GIL held (retain needs it): the object
      // itself, or bytes read through / written by a sync write, decoded.
      void *obj = nullptr;
      cache_value_t *bytes = nullptr;
      const int rc = cache_take_object(c, k.data, static_cast<size_t>(k.size), &obj, &bytes);
      if (rc == CACHE_NOT_FOUND) return py::reinterpret_borrow<py::object>(dflt);
      Check(rc, "pop failed");
      if (obj != nullptr) return py::reinterpret_steal<py::object>(static_cast<PyObject *>(obj));
      std::unique_ptr<cache_value_t, void (*)(cache_value_t *)> pin(bytes, cache_value_release);
      return DecodeValue(core, bytes);
    }
    cache_value_t *seen = nullptr;
    const auto pin = [&] { return cache_get_value(c, k.data, static_cast<size_t>(k.size), &seen); };
    int rc = core->link.release_reads ? Released(core, pin) : pin();
    if (rc == CACHE_OK || rc == CACHE_NOT_FOUND) {
      (rc == CACHE_OK ? core->own_hits : core->own_misses).fetch_add(1, std::memory_order_relaxed);
    }
    if (rc == CACHE_NOT_FOUND) return py::reinterpret_borrow<py::object>(dflt);
    Check(rc, "pop failed");
    std::unique_ptr<cache_value_t, void (*)(cache_value_t *)> seen_pin(seen, cache_value_release);
    py::object value = DecodeValue(core, seen);  // may run the codec, which may close the cache
    cache_value_t *taken = nullptr;
    c = Require(core);
    const auto take = [&] { return cache_take(c, k.data, static_cast<size_t>(k.size), &taken); };
    rc = core->link.release_writes ? Released(core, take) : take();
    // Deleted (or expired) meanwhile: the pop comes after that, and finds nothing.
    if (rc == CACHE_NOT_FOUND) return py::reinterpret_borrow<py::object>(dflt);
    Check(rc, "pop failed");
    std::unique_ptr<cache_value_t, void (*)(cache_value_t *)> taken_pin(taken, cache_value_release);
    const size_t n = cache_value_size(taken);
    if (taken == seen || (n == cache_value_size(seen) &&
                          std::memcmp(cache_value_data(taken), cache_value_data(seen), n) == 0)) {
      return value;
    }
    return DecodeValue(core, taken);
  });
  cls.def("clear", [](py::handle self) {
    Core *core = CoreOfChecked(self);
    Check(cache_clear(Require(core)), "clear failed");
  });
  cls.def("purge_expired", [](py::handle self) {
    Core *core = CoreOfChecked(self);
    uint64_t n = 0;
    Check(cache_purge_expired(Require(core), &n), "purge_expired failed");
    return n;
  });
  cls.def("_counters", [](py::handle self) {
    Core *core = CoreOfChecked(self);
    cache_stats_t s{};
    Check(cache_stats(Require(core), &s, sizeof s), "stats failed");
    // The counts are read shard by shard while other threads work: never
    // take back more than the engine counted.
    const uint64_t own_hits = core->own_hits.load(std::memory_order_relaxed);
    const uint64_t own_misses = core->own_misses.load(std::memory_order_relaxed);
    s.hits -= std::min(s.hits, own_hits);
    s.misses -= std::min(s.misses, own_misses);
    return py::make_tuple(s.hits, s.misses, s.sets, s.deletes, s.evictions, s.expirations,
                          s.entries, s.bytes);
  });
  cls.def_property_readonly("shard_count", [](py::handle self) {
    Core *core = CoreOfChecked(self);
    return cache_shard_count(Require(core));
  });
  cls.def_property_readonly("values", [](py::handle self) {
    Core *core = CoreOfChecked(self);
    return core == nullptr || !core->objects ? "bytes" : "object";
  });
  cls.def_property_readonly("policy", [](py::handle self) {
    Core *core = CoreOfChecked(self);
    return core == nullptr || core->policy == CACHE_POLICY_CLOCK ? "clock" : "adaptive";
  });
  cls.def_property_readonly("codec", [](py::handle self) {
    Core *core = CoreOfChecked(self);
    Require(core);
    return py::reinterpret_borrow<py::object>(core->codec);
  });
  CheckSimpleLayout(cls);
  libcache_py::BindStore(m);
  libcache_py::BindCached(m);
}
