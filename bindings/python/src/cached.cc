// _core.CachedFunction: the compiled wrapper of @cached (bindings/python/
// libcache/_decorator.py), and _core._cached_key, its argument encoding.
//
// A hit of @cached used to build its key in Python (pickle) and go through
// Cache.get_or_set: ~6 us, against ~70 ns for a functools.lru_cache hit. Here
// a call builds the key in C, in a stack buffer, from the exact built-in types
// that make up most arguments, and asks the cache once (LookupValue). Only a
// miss, or arguments this encoder does not take, go back to Python: the
// `miss` callable, which loads single-flight (Cache.get_or_set), stores and
// counts, and builds the slower pickle key itself when it gets key None.
//
// Raw CPython C-API rather than pybind11: the hit path is a handful of
// instructions around one engine lookup, and pybind11's dispatcher (argument
// casters, overload resolution, a py::args tuple) would cost more than all of
// it. The type is a vectorcall callable, so a call allocates nothing: no
// argument tuple, no kwargs dict.
//
// ## The key
// name + b"@" + str(generation) + b":" + the encoded arguments, as
// _decorator.make_key builds its keys, so that both kinds share one
// namespace per function and cache_clear() (generation + 1) retires both.
//
// ## The argument encoding
// A prefix-free code (so that no two argument lists give the same bytes, e.g.
// ("ab",) and ("a", "b")), one tag byte per value, then:
//   i  int that fits in 64 bits: 8 bytes, two's complement, little-endian
//   I  any other int: 1 length byte, its hex digits (as hex(), "-0x..")
//   f  float: 8 bytes, the IEEE double, little-endian (NaN canonical, -0.0 as 0.0)
//   t  str: 1 length byte, its UTF-8
//   b  bytes: 1 length byte, the bytes
//   n  None
//   T, F  True, False (typed=True only)
//   (  tuple: 1 byte of item count, the items (nested at most kMaxDepth deep)
//   k  after the positional arguments, if there are keyword arguments: 1 byte
//      of count, then each (name: 1 length byte + UTF-8, value), sorted by name
// typed=False (the default, as lru_cache): a bool is the int 0 or 1 and a
// float with an integral value is that int (1.0 is 1, 1e20 is 10**20, -0.0 is
// 0), so f(1), f(1.0) and f(True) share a key, as they share an lru_cache
// entry; NaN and the infinities stay floats. typed=True: int, float and bool
// never share a key. As with lru_cache, f(1) and f(x=1) are different keys
// (the encoder does not know the signature), and so are f(a=1, b=2) and
// f(1, b=2); keyword order does not matter (f(a=1, b=2) is f(b=2, a=1)).
//
// Only exact types: a subclass (an IntEnum, a str Enum, a namedtuple) may
// compare, hash or pickle differently, so it goes to the fallback, as do other
// types, a str that UTF-8 cannot encode (a lone surrogate), encodings over
// kMaxArgsKey bytes (the fallback digests long keys) and more than
// kMaxKeywords keyword arguments. No encoding starts with b"p", b"u", b"h"
// or b"s", the first bytes of the fallback's keys, so the two never collide.
#include <Python.h>
#include <structmember.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <vector>

#include "binding.h"

namespace libcache_py {
namespace {

// Longest encoding of the arguments that is used as it is; the same bound
// (_MAX_PLAIN_KEY) over which the Python side digests its keys.
constexpr Py_ssize_t kMaxArgsKey = 256;
constexpr int kMaxDepth = 8;          // tuples in tuples
constexpr Py_ssize_t kMaxKeywords = 32;
constexpr Py_ssize_t kStackKey = 512;  // name@generation: + arguments, without the heap

// ---- The encoder ------------------------------------------------------------
// Each function returns 1 (encoded), 0 (the fallback's: unsupported or too
// long, no exception set) or -1 (an exception set, e.g. MemoryError).

struct Writer {
  char *p;
  char *end;

  int Byte(char c) {
    if (p == end) return 0;
    *p++ = c;
    return 1;
  }
  int Fixed8(char tag, uint64_t v) {
    if (end - p < 9) return 0;
    *p++ = tag;
    for (int i = 0; i < 8; ++i) *p++ = static_cast<char>(v >> (8 * i));
    return 1;
  }
  // [tag] + 1 length byte + data; a length over 255 would exceed kMaxArgsKey
  // with anything in front of it, so it is the fallback's too.
  int Sized(char tag, const char *data, Py_ssize_t n) {
    if (n > 255 || end - p < n + (tag != 0 ? 2 : 1)) return 0;
    if (tag != 0) *p++ = tag;
    *p++ = static_cast<char>(n);
    std::memcpy(p, data, static_cast<size_t>(n));
    p += n;
    return 1;
  }
};

// *s, *n: the UTF-8 of str; 0 if UTF-8 cannot encode it (lone surrogates).
int Utf8Of(PyObject *str, const char **s, Py_ssize_t *n) {
  *s = PyUnicode_AsUTF8AndSize(str, n);
  if (*s != nullptr) return 1;
  if (!PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) return -1;
  PyErr_Clear();
  return 0;
}

int EncodeInt(Writer *w, PyObject *v) {
  int overflow = 0;
  const long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
  if (overflow == 0) {
    if (x == -1 && PyErr_Occurred()) return -1;
    return w->Fixed8('i', static_cast<uint64_t>(x));
  }
  PyObject *hex = PyNumber_ToBase(v, 16);  // rare: no need for the private byte-array API
  if (hex == nullptr) return -1;
  const char *s;
  Py_ssize_t n;
  int rc = Utf8Of(hex, &s, &n);
  if (rc == 1) rc = w->Sized('I', s, n);
  Py_DECREF(hex);
  return rc;
}

int EncodeFloat(Writer *w, PyObject *v, bool typed) {
  double d = PyFloat_AS_DOUBLE(v);
  if (!typed && std::isfinite(d) && d == std::floor(d)) {
    // An integral float is the int of the same value, as 1.0 == 1 (and their
    // hashes are equal) in lru_cache's dict.
    if (d >= -0x1p63 && d < 0x1p63) {
      return w->Fixed8('i', static_cast<uint64_t>(static_cast<long long>(d)));
    }
    PyObject *big = PyLong_FromDouble(d);
    if (big == nullptr) return -1;
    const int rc = EncodeInt(w, big);
    Py_DECREF(big);
    return rc;
  }
  if (d == 0) d = 0.0;  // -0.0 == 0.0
  if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  return w->Fixed8('f', bits);
}

int EncodeValue(Writer *w, PyObject *v, bool typed, int depth) {
  PyTypeObject *t = Py_TYPE(v);
  if (t == &PyUnicode_Type) {
    const char *s;
    Py_ssize_t n;
    const int rc = Utf8Of(v, &s, &n);
    return rc == 1 ? w->Sized('t', s, n) : rc;
  }
  if (t == &PyLong_Type) return EncodeInt(w, v);
  if (v == Py_None) return w->Byte('n');
  if (t == &PyBytes_Type) return w->Sized('b', PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
  if (t == &PyFloat_Type) return EncodeFloat(w, v, typed);
  if (t == &PyBool_Type) {
    if (typed) return w->Byte(v == Py_True ? 'T' : 'F');
    return w->Fixed8('i', v == Py_True ? 1 : 0);
  }
  if (t == &PyTuple_Type) {
    const Py_ssize_t n = PyTuple_GET_SIZE(v);
    if (depth >= kMaxDepth || n > 255) return 0;
    if (w->Byte('(') == 0 || w->Byte(static_cast<char>(n)) == 0) return 0;
    for (Py_ssize_t i = 0; i < n; ++i) {
      const int rc = EncodeValue(w, PyTuple_GET_ITEM(v, i), typed, depth + 1);
      if (rc != 1) return rc;
    }
    return 1;
  }
  return 0;
}

// The arguments of a vectorcall: args[0:nargs] positional, then one value per
// name in kwnames (null or empty: none).
int EncodeArgs(Writer *w, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
               bool typed) {
  for (Py_ssize_t i = 0; i < nargs; ++i) {
    const int rc = EncodeValue(w, args[i], typed, 0);
    if (rc != 1) return rc;
  }
  const Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  if (nkw == 0) return 1;
  if (nkw > kMaxKeywords) return 0;
  struct Name {
    const char *s;
    Py_ssize_t n;
    PyObject *value;
  };
  Name names[kMaxKeywords];
  for (Py_ssize_t j = 0; j < nkw; ++j) {
    PyObject *name = PyTuple_GET_ITEM(kwnames, j);
    if (!PyUnicode_CheckExact(name)) return 0;
    const int rc = Utf8Of(name, &names[j].s, &names[j].n);
    if (rc != 1) return rc;
    names[j].value = args[nargs + j];
  }
  // By name (bytewise UTF-8, which is code point order): a few names, so an
  // insertion sort. Names in one call are distinct.
  for (Py_ssize_t j = 1; j < nkw; ++j) {
    const Name x = names[j];
    Py_ssize_t k = j;
    for (; k > 0; --k) {
      const Name &y = names[k - 1];
      const int c = std::memcmp(y.s, x.s, static_cast<size_t>(y.n < x.n ? y.n : x.n));
      if (c < 0 || (c == 0 && y.n < x.n)) break;
      names[k] = y;
    }
    names[k] = x;
  }
  if (w->Byte('k') == 0 || w->Byte(static_cast<char>(nkw)) == 0) return 0;
  for (Py_ssize_t j = 0; j < nkw; ++j) {
    if (w->Sized(0, names[j].s, names[j].n) == 0) return 0;
    const int rc = EncodeValue(w, names[j].value, typed, 0);
    if (rc != 1) return rc;
  }
  return 1;
}

// ---- CachedFunction ---------------------------------------------------------

struct CachedFunction {
  PyObject_HEAD
  vectorcallfunc vectorcall;
  PyObject *fn;     // the function (its results are miss's business; kept for repr)
  PyObject *cache;  // a libcache.Cache
  PyObject *name;   // bytes: the function's name in keys
  PyObject *miss;   // miss(key or None, args, kwargs or None)
  PyObject *dict;   // __dict__: functools.update_wrapper's attributes, cache_info, ...
  PyObject *weakrefs;
  char *prefix;  // name@generation: (PyMem), rebuilt when generation is set
  Py_ssize_t prefix_len;
  unsigned long long generation;
  Py_ssize_t hits;  // hits of the fast path, and what miss counts through _count
  Py_ssize_t misses;
  char typed;
};

// Rebuilds self->prefix for gen. Returns false with MemoryError set.
bool SetPrefix(CachedFunction *self, unsigned long long gen) {
  char digits[24];
  const int nd = std::snprintf(digits, sizeof digits, "%llu", gen);
  const Py_ssize_t nn = PyBytes_GET_SIZE(self->name);
  char *p = static_cast<char *>(PyMem_Malloc(static_cast<size_t>(nn + nd + 2)));
  if (p == nullptr) {
    PyErr_NoMemory();
    return false;
  }
  std::memcpy(p, PyBytes_AS_STRING(self->name), static_cast<size_t>(nn));
  p[nn] = '@';
  std::memcpy(p + nn + 1, digits, static_cast<size_t>(nd));
  p[nn + 1 + nd] = ':';
  PyMem_Free(self->prefix);
  self->prefix = p;
  self->prefix_len = nn + nd + 2;
  self->generation = gen;
  return true;
}

// miss(key, args, kwargs): the Python side's load, for a miss (key: bytes) or
// arguments the encoder does not take (key: None). Steals key.
PyObject *CallMiss(CachedFunction *self, PyObject *key, PyObject *const *args, Py_ssize_t nargs,
                   PyObject *kwnames) {
  PyObject *tuple = PyTuple_New(nargs);
  if (tuple == nullptr) {
    Py_DECREF(key);
    return nullptr;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) {
    Py_INCREF(args[i]);
    PyTuple_SET_ITEM(tuple, i, args[i]);
  }
  PyObject *kwargs = Py_None;
  Py_INCREF(kwargs);
  const Py_ssize_t nkw = kwnames == nullptr ? 0 : PyTuple_GET_SIZE(kwnames);
  if (nkw > 0) {
    Py_SETREF(kwargs, PyDict_New());
    for (Py_ssize_t j = 0; kwargs != nullptr && j < nkw; ++j) {
      if (PyDict_SetItem(kwargs, PyTuple_GET_ITEM(kwnames, j), args[nargs + j]) < 0) {
        Py_CLEAR(kwargs);
      }
    }
  }
  PyObject *result = nullptr;
  if (kwargs != nullptr) {
    PyObject *miss = self->miss;
    Py_INCREF(miss);  // a reentrant tp_clear cannot free it under the call
    PyObject *call[3] = {key, tuple, kwargs};
    result = PyObject_Vectorcall(miss, call, 3, nullptr);
    Py_DECREF(miss);
  }
  Py_DECREF(key);
  Py_DECREF(tuple);
  Py_XDECREF(kwargs);
  return result;
}

PyObject *CachedCall(PyObject *obj, PyObject *const *args, size_t nargsf, PyObject *kwnames) {
  auto *self = reinterpret_cast<CachedFunction *>(obj);
  const Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
  if (self->cache == nullptr || self->miss == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "this @cached function was cleared");
    return nullptr;
  }
  char stack[kStackKey];
  char *buf = stack;
  const Py_ssize_t cap = self->prefix_len + kMaxArgsKey;
  if (cap > kStackKey) {  // a name of some 250 bytes or more
    buf = static_cast<char *>(PyMem_Malloc(static_cast<size_t>(cap)));
    if (buf == nullptr) return PyErr_NoMemory();
  }
  std::memcpy(buf, self->prefix, static_cast<size_t>(self->prefix_len));
  Writer w{buf + self->prefix_len, buf + cap};
  const int rc = EncodeArgs(&w, args, nargs, kwnames, self->typed != 0);
  PyObject *key;
  if (rc == 1) {
    const size_t klen = static_cast<size_t>(w.p - buf);
    PyObject *cache = self->cache;
    Py_INCREF(cache);  // the lookup may run Python code (a codec)
    PyObject *value = nullptr;
    const int found = LookupValue(cache, buf, klen, &value);
    Py_DECREF(cache);
    if (found != 0) {
      if (buf != stack) PyMem_Free(buf);
      if (found == 1) ++self->hits;
      return value;  // the hit, or null with the exception set
    }
    key = PyBytes_FromStringAndSize(buf, static_cast<Py_ssize_t>(klen));
  } else {
    key = rc == 0 ? Py_None : nullptr;  // the fallback's, or the encoder's exception
    Py_XINCREF(key);
  }
  if (buf != stack) PyMem_Free(buf);
  if (key == nullptr) return nullptr;
  return CallMiss(self, key, args, nargs, kwnames);
}

PyObject *CachedNew(PyTypeObject *type, PyObject *args, PyObject *kwds) {
  static const char *kwlist[] = {"fn", "cache", "name", "typed", "miss", nullptr};
  PyObject *fn, *cache, *name, *miss;
  int typed;
  if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOO!pO:CachedFunction",
                                   const_cast<char **>(kwlist), &fn, &cache, &PyBytes_Type, &name,
                                   &typed, &miss)) {
    return nullptr;
  }
  if (!PyCallable_Check(fn) || !PyCallable_Check(miss)) {
    PyErr_SetString(PyExc_TypeError, "CachedFunction: fn and miss must be callable");
    return nullptr;
  }
  auto *self = reinterpret_cast<CachedFunction *>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  self->vectorcall = CachedCall;
  Py_INCREF(fn);
  self->fn = fn;
  Py_INCREF(cache);
  self->cache = cache;
  Py_INCREF(name);
  self->name = name;
  Py_INCREF(miss);
  self->miss = miss;
  self->typed = static_cast<char>(typed);
  if (!SetPrefix(self, 0)) {
    Py_DECREF(self);
    return nullptr;
  }
  return reinterpret_cast<PyObject *>(self);
}

int CachedTraverse(PyObject *obj, visitproc visit, void *arg) {
  auto *self = reinterpret_cast<CachedFunction *>(obj);
  Py_VISIT(self->fn);
  Py_VISIT(self->cache);
  Py_VISIT(self->miss);
  Py_VISIT(self->dict);
  return 0;
}

int CachedClear(PyObject *obj) {
  auto *self = reinterpret_cast<CachedFunction *>(obj);
  Py_CLEAR(self->fn);
  Py_CLEAR(self->cache);
  Py_CLEAR(self->miss);
  Py_CLEAR(self->dict);
  return 0;
}

void CachedDealloc(PyObject *obj) {
  auto *self = reinterpret_cast<CachedFunction *>(obj);
  PyObject_GC_UnTrack(obj);
  if (self->weakrefs != nullptr) PyObject_ClearWeakRefs(obj);
  CachedClear(obj);
  Py_CLEAR(self->name);
  PyMem_Free(self->prefix);
  Py_TYPE(obj)->tp_free(obj);
}

// Binds like a function: obj.f is a bound method (f, obj), C.f is f.
PyObject *CachedDescrGet(PyObject *self, PyObject *obj, PyObject * /*type*/) {
  if (obj == nullptr || obj == Py_None) {
    Py_INCREF(self);
    return self;
  }
  return PyMethod_New(self, obj);
}

PyObject *CachedRepr(PyObject *obj) {
  auto *self = reinterpret_cast<CachedFunction *>(obj);
  if (self->fn == nullptr) return PyUnicode_FromString("<@cached (cleared)>");
  return PyUnicode_FromFormat("<@cached %R>", self->fn);
}

PyObject *GetGeneration(PyObject *obj, void * /*closure*/) {
  return PyLong_FromUnsignedLongLong(reinterpret_cast<CachedFunction *>(obj)->generation);
}

int SetGeneration(PyObject *obj, PyObject *value, void * /*closure*/) {
  if (value == nullptr || !PyLong_Check(value)) {
    PyErr_SetString(PyExc_TypeError, "generation must be an int");
    return -1;
  }
  const unsigned long long gen = PyLong_AsUnsignedLongLong(value);
  if (gen == static_cast<unsigned long long>(-1) && PyErr_Occurred()) return -1;
  return SetPrefix(reinterpret_cast<CachedFunction *>(obj), gen) ? 0 : -1;
}

// _count(loaded): the Python side's count of a call that went through miss
// (loaded: a miss; else a hit, e.g. served by another thread's load). A C
// call, so that it is one step under the GIL, like the fast path's ++hits:
// `f.hits += 1` in Python is a read and a write that a thread switch may split.
PyObject *CachedCount(PyObject *obj, PyObject *loaded) {
  auto *self = reinterpret_cast<CachedFunction *>(obj);
  const int truth = PyObject_IsTrue(loaded);
  if (truth < 0) return nullptr;
  ++(truth ? self->misses : self->hits);
  Py_RETURN_NONE;
}

// Pickled by reference, as a function is (and as lru_cache's wrapper is).
PyObject *CachedReduce(PyObject *obj, PyObject * /*unused*/) {
  return PyObject_GetAttrString(obj, "__qualname__");
}

PyMemberDef g_members[] = {
    {"hits", T_PYSSIZET, offsetof(CachedFunction, hits), 0, "calls served from the cache"},
    {"misses", T_PYSSIZET, offsetof(CachedFunction, misses), 0, "calls that ran the function"},
    {nullptr, 0, 0, 0, nullptr}};

PyGetSetDef g_getset[] = {
    {"generation", GetGeneration, SetGeneration,
     "part of every key; cache_clear() bumps it, so older results are never asked for again",
     nullptr},
    {"__dict__", PyObject_GenericGetDict, PyObject_GenericSetDict, nullptr, nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyMethodDef g_methods[] = {
    {"_count", CachedCount, METH_O, "counts a call that went through miss: a miss if loaded"},
    {"__reduce__", CachedReduce, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr}};

PyTypeObject g_cached_type = {PyVarObject_HEAD_INIT(nullptr, 0)};

// _cached_key(args, kwargs, typed): the encoding of the arguments (bytes), or
// None where the fallback would build the key.
PyObject *CachedKey(PyObject * /*module*/, PyObject *const *args, Py_ssize_t nargs) {
  if (nargs != 3 || !PyTuple_Check(args[0]) || (args[1] != Py_None && !PyDict_Check(args[1]))) {
    PyErr_SetString(PyExc_TypeError, "_cached_key(args: tuple, kwargs: dict | None, typed: bool)");
    return nullptr;
  }
  const int typed = PyObject_IsTrue(args[2]);
  if (typed < 0) return nullptr;
  // The vectorcall layout: positional values, then keyword values (strong
  // references: the encoder may allocate, and a collection run Python code),
  // and a tuple of the names.
  PyObject *tuple = args[0];
  const Py_ssize_t npos = PyTuple_GET_SIZE(tuple);
  std::vector<PyObject *> stack;
  for (Py_ssize_t i = 0; i < npos; ++i) stack.push_back(PyTuple_GET_ITEM(tuple, i));
  PyObject *kwnames = nullptr;
  if (args[1] != Py_None && PyDict_GET_SIZE(args[1]) > 0) {
    kwnames = PyTuple_New(PyDict_GET_SIZE(args[1]));
    if (kwnames == nullptr) return nullptr;
    Py_ssize_t pos = 0, j = 0;
    PyObject *k, *v;
    while (j < PyTuple_GET_SIZE(kwnames) && PyDict_Next(args[1], &pos, &k, &v)) {
      Py_INCREF(k);
      PyTuple_SET_ITEM(kwnames, j++, k);
      Py_INCREF(v);
      stack.push_back(v);
    }
  }
  char buf[kMaxArgsKey];
  Writer w{buf, buf + kMaxArgsKey};
  const int rc = EncodeArgs(&w, stack.data(), npos, kwnames, typed != 0);
  for (size_t i = static_cast<size_t>(npos); i < stack.size(); ++i) Py_DECREF(stack[i]);
  Py_XDECREF(kwnames);
  if (rc < 0) return nullptr;
  if (rc == 0) Py_RETURN_NONE;
  return PyBytes_FromStringAndSize(buf, w.p - buf);
}

PyMethodDef g_key_def = {
    "_cached_key", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(CachedKey)),
    METH_FASTCALL,
    "_cached_key(args, kwargs, typed): @cached's encoding of the arguments (bytes), or None "
    "when the arguments need the fallback key"};

}  // namespace

void BindCached(pybind11::module_ &m) {
  PyTypeObject *t = &g_cached_type;
  t->tp_name = "libcache._core.CachedFunction";
  t->tp_basicsize = sizeof(CachedFunction);
  t->tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL |
                Py_TPFLAGS_METHOD_DESCRIPTOR;
  t->tp_doc =
      "CachedFunction(fn, cache, name, typed, miss): @cached's compiled wrapper of fn. A call "
      "encodes its arguments into a key and returns cache's value for it, or miss(key or None, "
      "args, kwargs or None)'s result.";
  t->tp_new = CachedNew;
  t->tp_dealloc = CachedDealloc;
  t->tp_traverse = CachedTraverse;
  t->tp_clear = CachedClear;
  t->tp_call = PyVectorcall_Call;
  t->tp_vectorcall_offset = offsetof(CachedFunction, vectorcall);
  t->tp_descr_get = CachedDescrGet;
  t->tp_repr = CachedRepr;
  t->tp_dictoffset = offsetof(CachedFunction, dict);
  t->tp_weaklistoffset = offsetof(CachedFunction, weakrefs);
  t->tp_members = g_members;
  t->tp_getset = g_getset;
  t->tp_methods = g_methods;
  if (PyType_Ready(t) < 0) throw pybind11::error_already_set();
  Py_INCREF(t);
  if (PyModule_AddObject(m.ptr(), "CachedFunction", reinterpret_cast<PyObject *>(t)) < 0) {
    Py_DECREF(t);
    throw pybind11::error_already_set();
  }
  PyObject *key = PyCFunction_NewEx(&g_key_def, nullptr, m.attr("__name__").ptr());
  if (key == nullptr || PyModule_AddObject(m.ptr(), "_cached_key", key) < 0) {
    Py_XDECREF(key);
    throw pybind11::error_already_set();
  }
}

}  // namespace libcache_py
