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
// binding.h explains who may call the engine without the GIL and why the
// store is linked with cache_store_attach (not cache_redis_attach).

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
    s->release_reads = false;
    s->release_writes = false;
    s->users.store(0, std::memory_order_relaxed);
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

void CloseLinkAndWait(LinkState *state) {
  cache_link_t *link = state->link;
  state->link = nullptr;
  state->release_reads = false;
  state->release_writes = false;
  Py_BEGIN_ALLOW_THREADS
  // Wakes every call waiting on the link: flushes and sync writes (they
  // return CACHE_E_CLOSED), writers blocked on a full queue (they write
  // locally); returns within one store call's timeout.
  if (link != nullptr) cache_store_close(link, 0, nullptr);
  // The calls still counted end within their own bounds: a load within its
  // read timeout, the others at once now that the link is closed.
  while (state->users.load(std::memory_order_acquire) != 0) usleep(200);
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
  PyObject *cache = nullptr;     // strong reference to the libcache.Cache
  cache_link_t *link = nullptr;  // allocated until the cache closes (a closed link is inert)
  uint64_t fork_gen = 0;         // ForkGeneration() when attached
  bool closed = false;

  StoreLink() = default;
  StoreLink(const StoreLink &) = delete;
  StoreLink &operator=(const StoreLink &) = delete;
  ~StoreLink() { Py_XDECREF(cache); }  // pybind11 destroys holders with the GIL held
};

bool Inherited(const StoreLink &s) { return s.fork_gen != ForkGeneration(); }

// The link of s for a call, with the cache's state; raises CacheClosed when
// the store or its cache is closed, or s was inherited through fork().
cache_link_t *Usable(const StoreLink &s, LinkState **state, bool allow_closed_store = false) {
  if (Inherited(s)) {
    Raise("CacheClosed",
          "this store was attached in the parent process: after fork() the child's copy is inert "
          "(the parent flushes its own writes); attach a store of its own with "
          "cache.attach_redis()");
  }
  if (s.closed && !allow_closed_store) Raise("CacheClosed", "the store is closed");
  if (OpenCacheOf(s.cache, state) == nullptr) throw py::error_already_set();
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

// Connects once with the adapter's own checks (AUTH, SELECT, CLIENT ID and
// KILL, INFO), on a throwaway cache, so that a wrong URL, password or ACL is
// reported at attach with the adapter's reason (cache_redis_store_new itself
// connects only on the first write). GIL released.
int Probe(const cache_redis_options_t *opts, std::string *why) {
  cache_options_t *co = cache_options_new();
  cache_t *tmp = nullptr;
  int rc = co == nullptr ? CACHE_E_NOMEM : cache_options_set_max_entries(co, 16);
  if (rc == CACHE_OK) rc = cache_open(co, &tmp);
  cache_options_free(co);
  if (rc != CACHE_OK) return rc;
  cache_redis_t *r = nullptr;
  rc = cache_redis_attach(tmp, opts, &r);
  if (rc != CACHE_OK) *why = cache_redis_errmsg();
  cache_close(tmp);  // closes r too
  return rc;
}

std::unique_ptr<StoreLink> AttachRedis(py::handle cache, const std::string &url, py::bytes prefix,
                                       uint64_t flush_interval_ms, uint32_t batch_ops,
                                       uint64_t batch_bytes, uint64_t max_queue_bytes,
                                       uint64_t max_queue_ops, bool on_full_fail,
                                       int64_t block_timeout_ms, bool read_through,
                                       int64_t read_timeout_ms, int64_t connect_ms,
                                       int64_t command_ms, uint32_t max_retries,
                                       uint64_t backoff_min_ms, uint64_t backoff_max_ms) {
  LinkState *state = nullptr;
  if (OpenCacheOf(cache.ptr(), &state) == nullptr) throw py::error_already_set();
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
  int rc;
  {
    py::gil_scoped_release nogil;
    rc = Probe(opts.get(), &why);
  }
  if (rc == CACHE_E_IO) Raise("BackendError", "cannot use Redis: " + why);
  if (rc == CACHE_E_INVALID) Raise("InvalidArgument", "cannot use Redis: " + why);
  if (rc != CACHE_OK) Raise("Error", std::string("cannot use Redis: ") + cache_strerror(rc));

  // The probe ran without the GIL: the cache may have been closed, or linked.
  cache_t *c = OpenCacheOf(cache.ptr(), &state);
  if (c == nullptr) throw py::error_already_set();
  if (state->link != nullptr) {
    Raise("Error", "the cache has a store attached already: close it first (store.close())");
  }
  cache_store_t table;
  rc = cache_redis_store_new(opts.get(), &table);
  if (rc != CACHE_OK) Raise("Error", std::string("cache_redis_store_new: ") + cache_strerror(rc));
  cache_link_t *link = nullptr;
  rc = cache_store_attach(c, &table, so, &link);
  if (rc != CACHE_OK) {
    table.destroy(table.ctx);  // the link never took it
    Raise(rc == CACHE_E_NOMEM ? "OutOfMemory" : "Error",
          std::string("cache_store_attach: ") + cache_strerror(rc));
  }
  auto s = std::make_unique<StoreLink>();
  s->cache = py::reinterpret_borrow<py::object>(cache).release().ptr();
  s->link = link;
  s->fork_gen = ForkGeneration();
  state->link = link;
  state->release_reads = read_through;
  state->release_writes = !on_full_fail;
  return s;
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
        py::arg("backoff_min_ms"), py::arg("backoff_max_ms"),
        "Links a Redis store to cache (libcache.Cache.attach_redis parses the arguments).");
#else
  m.attr("HAS_REDIS") = false;
#endif

  py::class_<StoreLink> cls(m, "StoreLink", "A cache's link to its store; see libcache.RedisStore.");
  cls.def("flush", [](StoreLink &s, int64_t timeout_ms, bool interruptible) {
    LinkState *state;
    cache_link_t *link = Usable(s, &state);
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
    Usable(s, &state);
    std::string k = BytesOfKey(key);
    int64_t ttl_ms;
    if (!TtlArg(ttl.ptr(), &ttl_ms)) throw py::error_already_set();
    std::string v;
    if (!EncodeTagged(s.cache, value.ptr(), &v)) throw py::error_already_set();
    cache_link_t *link = Usable(s, &state);  // again: the codec is Python code
    int rc;
    auto call = [link, k = std::move(k), v = std::move(v), ttl_ms, timeout_ms] {
      return cache_store_set_sync(link, k.data(), k.size(), v.data(), v.size(), ttl_ms, timeout_ms);
    };
    if (!RunWaiting(state, interruptible, std::move(call), &rc)) throw py::error_already_set();
    return rc;
  });
  cls.def("delete_sync", [](StoreLink &s, py::handle key, int64_t timeout_ms, bool interruptible) {
    LinkState *state;
    cache_link_t *link = Usable(s, &state);
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
    if (OpenCacheOf(s.cache, &state) == nullptr) {
      PyErr_Clear();
      s.closed = true;
      return std::make_tuple(int{CACHE_E_CLOSED}, uint64_t{0});
    }
    s.closed = true;
    if (state->link == s.link) {  // new calls keep the GIL from now on
      state->link = nullptr;
      state->release_reads = false;
      state->release_writes = false;
    }
    auto unflushed = std::make_shared<uint64_t>(0);
    cache_link_t *link = s.link;
    int rc;
    auto call = [link, timeout_ms, unflushed] {
      return cache_store_close(link, timeout_ms, unflushed.get());
    };
    if (!RunWaiting(state, interruptible, std::move(call), &rc)) throw py::error_already_set();
    return std::make_tuple(rc, *unflushed);
  });
  cls.def("stats", [](StoreLink &s) {
    LinkState *state;
    cache_link_t *link = Usable(s, &state, /*allow_closed_store=*/true);
    cache_link_stats_t st{};
    const int rc = cache_store_stats(link, &st, sizeof st);
    if (rc != CACHE_OK) Raise("InternalError", std::string("stats: ") + cache_strerror(rc));
    return py::make_tuple(st.queued_ops, st.queued_bytes, st.flushed_ops, st.batches, st.retries,
                          st.store_errors, st.dead_letters, st.refused_full, st.coalesced,
                          st.oldest_pending_ms, st.read_hits, st.read_misses, st.read_errors);
  });
  // [(kind, key, reason)], oldest first; forgets them.
  cls.def("drain", [](StoreLink &s) {
    LinkState *state;
    cache_link_t *link = Usable(s, &state, /*allow_closed_store=*/true);
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
  cls.def_property_readonly("closed", [](const StoreLink &s) {
    LinkState *state;
    if (s.closed || Inherited(s)) return true;
    if (OpenCacheOf(s.cache, &state) == nullptr) {
      PyErr_Clear();
      return true;
    }
    return false;
  });
  cls.def_property_readonly("inherited", [](const StoreLink &s) { return Inherited(s); });
}

}  // namespace libcache_py
