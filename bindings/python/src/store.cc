// libcache._core's link to a store: _core.attach_redis and _core.StoreLink,
// which libcache.RedisStore (bindings/python/libcache/_redis.py) wraps.
//
// The Redis adapter's sources (redis/) are compiled into _core, over a static
// hiredis when the system has one (Debian's libhiredis-dev ships
// libhiredis.a, built position-independent), so the wheel needs no
// libhiredis at run time and `import libcache` works everywhere; see
// bindings/python/CMakeLists.txt. Without hiredis at build time, _core has no
// Redis support (HAS_REDIS is False) and attach_redis says so.
//
// binding.h explains who may call the engine without the GIL, and which
// calls go to the link and which to the adapter (and why).

#include <pthread.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <tuple>
#include <unordered_set>
#include <vector>

#include "binding.h"
#ifdef LIBCACHE_PY_REDIS
#include <libcache/cache_redis.h>
#endif

namespace py = pybind11;

namespace libcache_py {

// ---- fork: every LinkState is reset in the child ------------------------------

namespace {

struct Registry {
  std::mutex mu;
  std::unordered_set<LinkState *> states;  // GUARDED_BY(mu)
  std::atomic<uint64_t> generation{0};     // relaxed: written only in a child with one thread
};

Registry &Reg() {
  static Registry *r = new Registry;  // never destroyed: fork handlers outlive static destruction
  return *r;
}

void ForkPrepare() { Reg().mu.lock(); }
void ForkParent() { Reg().mu.unlock(); }
void ForkChild() {
  Registry &r = Reg();
  // The child's engine has dropped every link (its copy is inert, freed by
  // cache_close), and the threads counted in users are gone.
  for (LinkState *s : r.states) {
    s->link = nullptr;
    s->encode_writes = false;
    s->release_reads = false;
    s->release_writes = false;
    s->users.store(0, std::memory_order_relaxed);
    s->adapter_users.store(0, std::memory_order_relaxed);
  }
  r.generation.fetch_add(1, std::memory_order_relaxed);
  r.mu.unlock();  // this thread locked it in ForkPrepare
}

}  // namespace

LinkState::LinkState() {
  std::lock_guard<std::mutex> g(Reg().mu);
  Reg().states.insert(this);
}

LinkState::~LinkState() {
  std::lock_guard<std::mutex> g(Reg().mu);
  Reg().states.erase(this);
}

uint64_t ForkGeneration() { return Reg().generation.load(std::memory_order_relaxed); }

namespace {

void SpinUntilZero(const std::atomic<int> &n) {
  while (n.load(std::memory_order_acquire) != 0) usleep(200);
}

}  // namespace

void CloseLinkAndWait(LinkState *state) {
  cache_link_t *link = state->link;
  state->link = nullptr;
  state->release_reads = false;
  state->release_writes = false;
  Py_BEGIN_ALLOW_THREADS
  // The adapter's commands first: the link's close frees the adapter. No new
  // one starts (the cache is marked closed), and each ends within its timeout.
  SpinUntilZero(state->adapter_users);
  // Wakes every call waiting on the link: flushes and sync writes (they
  // return CACHE_E_CLOSED), writers blocked on a full queue (they write
  // locally); returns within one store call's timeout.
  if (link != nullptr) cache_store_close(link, 0, nullptr);
  // The calls still counted end within their own bounds: a load within its
  // read timeout, the others at once now that the link is closed.
  SpinUntilZero(state->users);
  Py_END_ALLOW_THREADS
}

// ---- Waiting without the GIL ----------------------------------------------------

namespace {

struct Job {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;  // GUARDED_BY(mu)
  int rc = 0;         // GUARDED_BY(mu)
  std::function<int()> fn;
};

}  // namespace

bool RunWaiting(LinkState *state, bool interruptible, std::function<int()> fn, int *rc) {
  std::atomic<int> *users = &state->users;
  users->fetch_add(1, std::memory_order_relaxed);  // GIL held: ordered with close
  std::shared_ptr<Job> job;
  if (interruptible) {
    try {
      job = std::make_shared<Job>();
      job->fn = std::move(fn);
      std::thread([job, users] {
        const int r = job->fn();
        job->fn = nullptr;  // its copies go before the cache may
        {
          std::lock_guard<std::mutex> g(job->mu);
          job->rc = r;
          job->done = true;
        }
        job->cv.notify_all();
        users->fetch_sub(1, std::memory_order_release);  // the last use of the cache's state
      }).detach();
    } catch (const std::exception &) {  // no thread: wait here, uninterruptibly
      if (job != nullptr && job->fn) fn = std::move(job->fn);
      job = nullptr;
    }
  }
  if (job == nullptr) {
    int r;
    Py_BEGIN_ALLOW_THREADS
    r = fn();
    Py_END_ALLOW_THREADS
    users->fetch_sub(1, std::memory_order_release);
    *rc = r;
    return true;
  }
  for (;;) {
    bool done;
    Py_BEGIN_ALLOW_THREADS {
      std::unique_lock<std::mutex> l(job->mu);
      done = job->cv.wait_for(l, std::chrono::milliseconds(20), [&job] { return job->done; });
    }
    Py_END_ALLOW_THREADS
    if (done) {
      std::lock_guard<std::mutex> g(job->mu);
      *rc = job->rc;
      return true;
    }
    if (PyErr_CheckSignals() < 0) return false;  // the helper goes on alone
  }
}

// ---- _core.StoreLink ----------------------------------------------------------

namespace {

PyObject *g_errors = nullptr;  // libcache._errors (a strong reference, never released)

[[noreturn]] void Raise(const char *cls, const std::string &msg) {
  py::object type = py::reinterpret_borrow<py::object>(g_errors).attr(cls);
  PyErr_SetString(type.ptr(), msg.c_str());
  throw py::error_already_set();
}

struct StoreLink {
  // A weak reference to the libcache.Cache: the cache holds its RedisStore
  // (cache.redis_store), which holds the cache and this; a strong reference
  // here would make a cycle through an object the garbage collector cannot
  // see into, and a cache nobody closed would never be freed. Each call
  // holds a strong reference for its duration (Usable's keep).
  PyObject *cache_ref = nullptr;
  cache_link_t *link = nullptr;  // allocated until the cache closes (a closed link is inert)
  uint64_t fork_gen = 0;         // ForkGeneration() when attached
  bool closed = false;
#ifdef LIBCACHE_PY_REDIS
  // Freed by the link's close: used only while the store and its cache are
  // open, for stats (GIL held) and commands (counted in adapter_users).
  cache_redis_t *adapter = nullptr;
  cache_redis_stats_t at_close{};  // the adapter's counters when store.close() began
#endif

  StoreLink() = default;
  StoreLink(const StoreLink &) = delete;
  StoreLink &operator=(const StoreLink &) = delete;
  ~StoreLink() { Py_XDECREF(cache_ref); }  // pybind11 destroys holders with the GIL held
};

bool Inherited(const StoreLink &s) { return s.fork_gen != ForkGeneration(); }

// A strong reference to s's cache; None once it was freed (which closed the link).
py::object CacheOf(const StoreLink &s) {
  return py::reinterpret_borrow<py::weakref>(s.cache_ref)();
}

// The link of s for a call, with the cache's state; raises CacheClosed when
// the store or its cache is closed, or s was inherited through fork().
// *keep holds the cache for the caller's call.
cache_link_t *Usable(const StoreLink &s, LinkState **state, py::object *keep,
                     bool allow_closed_store = false) {
  if (Inherited(s)) {
    Raise("CacheClosed",
          "this store was attached in the parent process: after fork() the child's copy is inert "
          "(the parent flushes its own writes); attach a store of its own with "
          "cache.attach_redis()");
  }
  if (s.closed && !allow_closed_store) Raise("CacheClosed", "the store is closed");
  *keep = CacheOf(s);
  if (keep->is_none()) Raise("CacheClosed", "the store's cache was closed (garbage-collected)");
  if (OpenCacheOf(keep->ptr(), state) == nullptr) throw py::error_already_set();
  return s.link;
}

std::string BytesOfKey(py::handle key) {
  const char *data;
  size_t size;
  if (!WritableKeyOf(key.ptr(), &data, &size)) throw py::error_already_set();
  return std::string(data, size);
}

void CheckOption(int rc, const char *what) {
  if (rc != CACHE_OK) Raise("InvalidArgument", std::string("invalid ") + what);
}

struct DrainCtx {
  std::vector<std::tuple<int, std::string, std::string>> out;
};

void OnDeadLetter(void *ctx, const cache_store_op_t *op, const char *reason) {
  auto *d = static_cast<DrainCtx *>(ctx);
  try {
    d->out.emplace_back(op->kind, std::string(static_cast<const char *>(op->key), op->klen),
                        reason != nullptr ? reason : "");
  } catch (...) {  // out of memory: that dead letter is lost, the others are kept
  }
}

#ifdef LIBCACHE_PY_REDIS
struct OptionsFree {
  void operator()(cache_redis_options_t *o) const { cache_redis_options_free(o); }
};

// Attaches the adapter to the cache of `cache` without the GIL (connecting
// may take up to the connect and command timeouts), counted in users so that
// a close of the cache meanwhile waits for it; afterwards the cache may have
// been closed (which closed the adapter too). Returns the status and, on
// failure, the adapter's reason (a thread-local string, read in this thread).
int Attach(LinkState *state, cache_t *c, const cache_redis_options_t *opts, cache_redis_t **r,
           std::string *why) {
  state->users.fetch_add(1, std::memory_order_relaxed);  // GIL held: ordered with close
  int rc;
  {
    py::gil_scoped_release nogil;
    rc = cache_redis_attach(c, opts, r);
    if (rc != CACHE_OK) {
      try {
        *why = cache_redis_errmsg();
      } catch (...) {
      }
    }
    state->users.fetch_sub(1, std::memory_order_release);
  }
  return rc;
}

std::unique_ptr<StoreLink> AttachRedis(py::handle cache, const std::string &url, py::bytes prefix,
                                       uint64_t flush_interval_ms, uint32_t batch_ops,
                                       uint64_t batch_bytes, uint64_t max_queue_bytes,
                                       uint64_t max_queue_ops, bool on_full_fail,
                                       int64_t block_timeout_ms, bool read_through,
                                       int64_t read_timeout_ms, int64_t connect_ms,
                                       int64_t command_ms, uint32_t max_retries,
                                       uint64_t backoff_min_ms, uint64_t backoff_max_ms,
                                       bool coherence, int64_t health_interval_ms) {
  LinkState *state = nullptr;
  cache_t *c = OpenCacheOf(cache.ptr(), &state);
  if (c == nullptr) throw py::error_already_set();
  if (state->link != nullptr) {
    Raise("Error", "the cache has a store attached already: close it first (store.close())");
  }
  std::unique_ptr<cache_redis_options_t, OptionsFree> opts(cache_redis_options_new());
  if (opts == nullptr) throw std::bad_alloc();
  if (cache_redis_options_set_url(opts.get(), url.c_str()) != CACHE_OK) {
    Raise("InvalidArgument", cache_redis_errmsg());  // never repeats the credentials
  }
  const std::string pre = prefix;
  CheckOption(cache_redis_options_set_prefix(opts.get(), pre.data(), pre.size()), "prefix");
  if (cache_redis_options_set_timeouts(opts.get(), connect_ms, command_ms) != CACHE_OK) {
    Raise("InvalidArgument", std::string("invalid connect_timeout or command_timeout: ") +
                                 cache_redis_errmsg());
  }
  if (cache_redis_options_set_coherence(opts.get(), coherence ? 1 : 0, health_interval_ms) !=
      CACHE_OK) {
    Raise("InvalidArgument", std::string("invalid health_interval: ") + cache_redis_errmsg());
  }
  cache_store_options_t *so = cache_redis_options_store_options(opts.get());
  CheckOption(cache_store_options_set_flush_interval_ms(so, flush_interval_ms), "flush_interval");
  CheckOption(cache_store_options_set_batch(so, batch_ops, batch_bytes),
              "batch_size or batch_bytes (batch_size: 1 to 65536 operations)");
  CheckOption(cache_store_options_set_max_queue(so, max_queue_bytes, max_queue_ops),
              "max_queue_bytes or max_queue_ops (at most 2**40-1 bytes and 2**24-1 operations)");
  CheckOption(cache_store_options_set_on_full(
                  so, on_full_fail ? CACHE_STORE_ON_FULL_FAIL : CACHE_STORE_ON_FULL_BLOCK,
                  block_timeout_ms),
              "on_full or block_timeout");
  CheckOption(cache_store_options_set_read_through(so, read_through ? 1 : 0, read_timeout_ms),
              "read_timeout");
  CheckOption(cache_store_options_set_max_retries(so, max_retries), "max_retries");
  CheckOption(cache_store_options_set_backoff(so, backoff_min_ms, backoff_max_ms), "retry_backoff");

  std::string why;
  cache_redis_t *r = nullptr;
  const int rc = Attach(state, c, opts.get(), &r, &why);
  // The attach ran without the GIL: the cache may have been closed since,
  // closing (and freeing) the adapter with it.
  if (OpenCacheOf(cache.ptr(), &state) == nullptr) throw py::error_already_set();
  if (rc == CACHE_EXISTS) {
    Raise("Error", "the cache has a store attached already: close it first (store.close())");
  }
  if (rc == CACHE_E_IO) Raise("BackendError", "cannot use Redis: " + why);
  if (rc == CACHE_E_INVALID) Raise("InvalidArgument", "cannot use Redis: " + why);
  if (rc == CACHE_E_NOMEM) Raise("OutOfMemory", "cannot use Redis: " + why);
  if (rc != CACHE_OK) {
    Raise("Error", std::string("cannot use Redis: ") + (why.empty() ? cache_strerror(rc) : why));
  }
  auto s = std::make_unique<StoreLink>();
  s->cache_ref = py::weakref(cache).release().ptr();
  s->link = cache_redis_link(r);
  s->adapter = r;
  s->fork_gen = ForkGeneration();
  state->link = s->link;
  state->encode_writes = true;
  state->release_reads = read_through;
  state->release_writes = !on_full_fail;
  return s;
}

// The adapter of s, for stats or a command: null once the store is closed
// (or being closed), or its cache is, or in a forked child.
cache_redis_t *OpenAdapter(const StoreLink &s) {
  if (s.closed || Inherited(s)) return nullptr;
  py::object c = CacheOf(s);
  if (c.is_none() || OpenCacheOf(c.ptr(), nullptr) == nullptr) {
    PyErr_Clear();
    return nullptr;
  }
  return s.adapter;
}

// One command's reply, copied in the reply callback (which may run in a
// helper thread: see RunWaiting).
struct Reply {
  int type = 0;
  std::string str;
  int64_t integer = 0;
  std::string why;  // cache_redis_errmsg() after a failure, read in the calling thread
  bool failed_copy = false;
};

void OnReply(void *ctx, int type, const char *str, size_t len, int64_t integer) {
  auto *r = static_cast<Reply *>(ctx);
  r->type = type;
  r->integer = integer;
  try {
    if (str != nullptr) r->str.assign(str, len);
  } catch (...) {  // out of memory: reported as such, not as a short reply
    r->failed_copy = true;
  }
}

py::object Command(StoreLink &s, py::sequence args, int64_t timeout_ms, bool interruptible) {
  LinkState *state;
  py::object keep;  // the cache, alive for the call
  Usable(s, &state, &keep);
  auto argv = std::make_shared<std::vector<std::string>>();
  for (py::handle a : args) {
    if (!PyBytes_Check(a.ptr())) Raise("InternalError", "command arguments must be bytes");
    argv->emplace_back(PyBytes_AS_STRING(a.ptr()), static_cast<size_t>(PyBytes_GET_SIZE(a.ptr())));
  }
  Usable(s, &state, &keep);  // again: iterating may have run Python code
  cache_redis_t *r = s.adapter;
  auto reply = std::make_shared<Reply>();
  std::atomic<int> *adapter_users = &state->adapter_users;
  adapter_users->fetch_add(1, std::memory_order_relaxed);  // GIL held: ordered with close
  auto call = [r, argv, reply, timeout_ms, adapter_users] {
    std::vector<const void *> ptrs;
    std::vector<size_t> lens;
    int rc;
    try {
      ptrs.reserve(argv->size());
      lens.reserve(argv->size());
      for (const std::string &a : *argv) {
        ptrs.push_back(a.data());
        lens.push_back(a.size());
      }
      rc = cache_redis_command(r, static_cast<int>(argv->size()), ptrs.data(), lens.data(),
                               timeout_ms, OnReply, reply.get());
      if (rc != CACHE_OK) reply->why = cache_redis_errmsg();
    } catch (...) {
      rc = CACHE_E_NOMEM;
    }
    adapter_users->fetch_sub(1, std::memory_order_release);  // the last use of r
    return rc;
  };
  int rc;
  if (!RunWaiting(state, interruptible, std::move(call), &rc)) throw py::error_already_set();
  if (reply->failed_copy) throw std::bad_alloc();
  return py::make_tuple(rc, reply->type, py::bytes(reply->str), reply->integer,
                        py::reinterpret_steal<py::object>(PyUnicode_DecodeUTF8(
                            reply->why.data(), static_cast<Py_ssize_t>(reply->why.size()),
                            "replace")));
}

void AddAdapterStats(py::dict &d, const cache_redis_stats_t &st) {
  d["connects"] = st.connects;
  d["connect_errors"] = st.connect_errors;
  d["fenced"] = st.fenced;
  d["coherence"] = st.coherence;
  d["tracking"] = st.tracking;
  d["tracking_resets"] = st.tracking_resets;
  d["invalidation_messages"] = st.invalidation_messages;
  d["flushall_messages"] = st.flushall_messages;
  d["health_check_age_ms"] = st.health_check_age_ms;
}
#endif  // LIBCACHE_PY_REDIS

}  // namespace

void BindStore(py::module_ &m) {
  g_errors = py::module_::import("libcache._errors").release().ptr();
  pthread_atfork(ForkPrepare, ForkParent, ForkChild);

#ifdef LIBCACHE_PY_REDIS
  m.attr("HAS_REDIS") = true;
  m.def("attach_redis", &AttachRedis, py::arg("cache"), py::arg("url"), py::arg("prefix"),
        py::arg("flush_interval_ms"), py::arg("batch_ops"), py::arg("batch_bytes"),
        py::arg("max_queue_bytes"), py::arg("max_queue_ops"), py::arg("on_full_fail"),
        py::arg("block_timeout_ms"), py::arg("read_through"), py::arg("read_timeout_ms"),
        py::arg("connect_ms"), py::arg("command_ms"), py::arg("max_retries"),
        py::arg("backoff_min_ms"), py::arg("backoff_max_ms"), py::arg("coherence"),
        py::arg("health_interval_ms"),
        "Links a Redis store to cache (libcache.Cache.attach_redis parses the arguments).");
#else
  m.attr("HAS_REDIS") = false;
#endif

  py::class_<StoreLink> cls(m, "StoreLink", "A cache's link to its store; see libcache.RedisStore.");
  cls.def("flush", [](StoreLink &s, int64_t timeout_ms, bool interruptible) {
    LinkState *state;
    py::object keep;  // the cache, alive for the call
    cache_link_t *link = Usable(s, &state, &keep);
    int rc;
    if (!RunWaiting(state, interruptible,
                    [link, timeout_ms] { return cache_store_flush(link, timeout_ms); }, &rc)) {
      throw py::error_already_set();
    }
    return rc;
  });
  cls.def("set_sync", [](StoreLink &s, py::handle key, py::handle value, py::handle ttl,
                         int64_t timeout_ms, bool interruptible) {
    LinkState *state;
    py::object keep;  // the cache, alive for the call
    Usable(s, &state, &keep);
    std::string k = BytesOfKey(key);
    int64_t ttl_ms;
    if (!TtlArg(ttl.ptr(), &ttl_ms)) throw py::error_already_set();
    std::string v;
    if (!EncodeTagged(keep.ptr(), value.ptr(), &v)) throw py::error_already_set();
    cache_link_t *link = Usable(s, &state, &keep);  // again: the codec is Python code
    int rc;
    auto call = [link, k = std::move(k), v = std::move(v), ttl_ms, timeout_ms] {
      return cache_store_set_sync(link, k.data(), k.size(), v.data(), v.size(), ttl_ms, timeout_ms);
    };
    if (!RunWaiting(state, interruptible, std::move(call), &rc)) throw py::error_already_set();
    return rc;
  });
  cls.def("delete_sync", [](StoreLink &s, py::handle key, int64_t timeout_ms, bool interruptible) {
    LinkState *state;
    py::object keep;  // the cache, alive for the call
    cache_link_t *link = Usable(s, &state, &keep);
    std::string k = BytesOfKey(key);
    int rc;
    auto call = [link, k = std::move(k), timeout_ms] {
      return cache_store_delete_sync(link, k.data(), k.size(), timeout_ms);
    };
    if (!RunWaiting(state, interruptible, std::move(call), &rc)) throw py::error_already_set();
    return rc;
  });
  // (status, unflushed). Closing twice, or after the cache closed (which closed
  // the store without waiting), gives (CACHE_E_CLOSED, 0).
  cls.def("close", [](StoreLink &s, int64_t timeout_ms, bool interruptible) {
    if (s.closed) return std::make_tuple(int{CACHE_E_CLOSED}, uint64_t{0});
    if (Inherited(s)) {  // the child's copy: nothing of its own to flush
      s.closed = true;
      return std::make_tuple(int{CACHE_OK}, uint64_t{0});
    }
    LinkState *state;
    py::object keep = CacheOf(s);  // the cache, alive for the call
    if (keep.is_none() || OpenCacheOf(keep.ptr(), &state) == nullptr) {
      PyErr_Clear();
      s.closed = true;
      return std::make_tuple(int{CACHE_E_CLOSED}, uint64_t{0});
    }
#ifdef LIBCACHE_PY_REDIS
    if (cache_redis_stats(s.adapter, &s.at_close, sizeof s.at_close) != CACHE_OK) s.at_close = {};
    s.at_close.tracking = 0;  // from now on the counters are a snapshot
#endif
    s.closed = true;  // no new command starts on the adapter
    if (state->link == s.link) {  // new calls keep the GIL from now on
      state->link = nullptr;
      state->release_reads = false;
      state->release_writes = false;
    }
    auto unflushed = std::make_shared<uint64_t>(0);
    cache_link_t *link = s.link;
    int rc;
    std::atomic<int> *adapter_users = &state->adapter_users;
    auto call = [link, timeout_ms, unflushed, adapter_users] {
      // The close frees the adapter: the commands on it end first (each
      // within its timeout; none starts once s.closed is set).
      SpinUntilZero(*adapter_users);
      return cache_store_close(link, timeout_ms, unflushed.get());
    };
    const bool waited = RunWaiting(state, interruptible, std::move(call), &rc);
    // Done with the engine's link (or interrupted: then it may still flush,
    // and writes keep their encoded form).
    if (waited && state->link == nullptr) state->encode_writes = false;
    if (!waited) throw py::error_already_set();
    return std::make_tuple(rc, *unflushed);
  });
  cls.def("stats", [](StoreLink &s) {
    LinkState *state;
    py::object keep;  // the cache, alive for the call
    cache_link_t *link = Usable(s, &state, &keep, /*allow_closed_store=*/true);
    cache_link_stats_t st{};
    const int rc = cache_store_stats(link, &st, sizeof st);
    if (rc != CACHE_OK) Raise("InternalError", std::string("stats: ") + cache_strerror(rc));
    py::dict d;
    d["queued_ops"] = st.queued_ops;
    d["queued_bytes"] = st.queued_bytes;
    d["flushed_ops"] = st.flushed_ops;
    d["batches"] = st.batches;
    d["retries"] = st.retries;
    d["store_errors"] = st.store_errors;
    d["dead_letters"] = st.dead_letters;
    d["refused_full"] = st.refused_full;
    d["coalesced"] = st.coalesced;
    d["oldest_pending_ms"] = st.oldest_pending_ms;
    d["read_hits"] = st.read_hits;
    d["read_misses"] = st.read_misses;
    d["read_errors"] = st.read_errors;
    d["invalidations"] = st.invalidations;
    d["invalidated"] = st.invalidated;
    d["conflicts"] = st.conflicts;
    d["fills_refused"] = st.fills_refused;
    d["coherent"] = st.coherent;
#ifdef LIBCACHE_PY_REDIS
    // The adapter's own counters: live while it is open, else as they were
    // when store.close() began (the adapter is freed by the close).
    cache_redis_stats_t rs{};
    cache_redis_t *r = OpenAdapter(s);
    if (r == nullptr || cache_redis_stats(r, &rs, sizeof rs) != CACHE_OK) rs = s.at_close;
    AddAdapterStats(d, rs);
#endif
    return d;
  });
  // [(kind, key, reason)], oldest first; forgets them.
  cls.def("drain", [](StoreLink &s) {
    LinkState *state;
    py::object keep;  // the cache, alive for the call
    cache_link_t *link = Usable(s, &state, &keep, /*allow_closed_store=*/true);
    DrainCtx d;
    const int rc = cache_store_drain_dead_letters(link, OnDeadLetter, &d, nullptr);
    if (rc != CACHE_OK) Raise("InternalError", std::string("dead letters: ") + cache_strerror(rc));
    py::list out;
    for (auto &[kind, key, reason] : d.out) {
      out.append(py::make_tuple(kind, py::bytes(key),
                                py::reinterpret_steal<py::object>(PyUnicode_DecodeUTF8(
                                    reason.data(), static_cast<Py_ssize_t>(reason.size()),
                                    "replace"))));
    }
    return out;
  });
  // cache_store_invalidate of the link: drops the local copy of key unless a
  // local write of it is pending (the link's rules). Quick: keeps the GIL.
  cls.def("invalidate", [](StoreLink &s, py::handle key) {
    LinkState *state;
    py::object keep;  // the cache, alive for the call
    cache_link_t *link = Usable(s, &state, &keep);
    std::string k = BytesOfKey(key);
    return cache_store_invalidate(link, k.data(), k.size());
  });
#ifdef LIBCACHE_PY_REDIS
  // (status, reply type, bytes of a string/status/error reply, integer or
  // array length, the adapter's reason for a failed status).
  cls.def("command", &Command, py::arg("args"), py::arg("timeout_ms"), py::arg("interruptible"));
#endif
  cls.def_property_readonly("closed", [](const StoreLink &s) {
    if (s.closed || Inherited(s)) return true;
    py::object c = CacheOf(s);
    if (c.is_none() || OpenCacheOf(c.ptr(), nullptr) == nullptr) {
      PyErr_Clear();
      return true;
    }
    return false;
  });
  cls.def_property_readonly("inherited", [](const StoreLink &s) { return Inherited(s); });
}

}  // namespace libcache_py
