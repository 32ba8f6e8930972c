/* libcache for C++: the Redis tier (<libcache/cache_redis.h>) as
 * libcache::RedisStore. Header-only, over the C ABI; link libcache::redis
 * (find_package(libcache COMPONENTS redis), or `pkg-config --libs
 * libcache-redis`), which brings libcache::cache with it.
 *
 * Example:
 *
 *   #include <libcache/cache_redis.hpp>
 *   using namespace std::chrono_literals;
 *
 *   libcache::Cache cache = libcache::Cache::Open(libcache::Options().max_bytes(64 << 20));
 *   libcache::RedisStore redis = libcache::RedisStore::Attach(
 *       cache, "redis://127.0.0.1:6379/0", libcache::RedisOptions().prefix("app:"));
 *   cache.set("k", "v", 60s);   // local now, in Redis within a few ms (write-behind)
 *   redis.flush(1s);            // wait until Redis has it
 *   redis.close(1s);            // or let cache.close() / ~Cache close it
 *
 * Everything <libcache/cache_redis.h> and <libcache/cache_store.h> promise
 * holds (write-behind with per-key order, read-through on a local miss,
 * near-cache coherence); this header only wraps the calls.
 *
 * Ownership. The Cache owns the adapter: closing (or destroying) the Cache
 * closes it. A RedisStore is a move-only handle to it, valid until its
 * close() or the Cache's close, whichever comes first; destroying a
 * RedisStore closes nothing. REQUIRES: no call on a RedisStore after its
 * Cache is closed.
 */
#ifndef LIBCACHE_CACHE_REDIS_HPP
#define LIBCACHE_CACHE_REDIS_HPP

#include <libcache/cache.hpp>
#include <libcache/cache_redis.h>
#include <libcache/cache_store.h>

#include <chrono>
#include <cstdint>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace libcache {

/* What a full write-behind queue does to a write (cache_store_options_set_on_full). */
enum class OnFull : int {
  kBlock = CACHE_STORE_ON_FULL_BLOCK,  // wait up to the block timeout, then errc::full
  kFail = CACHE_STORE_ON_FULL_FAIL,    // errc::full at once
};

/* How an adapter is attached (cache_redis_options_t and its link options),
 * builder style; defaults as in <libcache/cache_redis.h> and
 * <libcache/cache_store.h>. As with Options, setters never throw: a value
 * the C ABI refuses is remembered and RedisStore::Attach fails with it
 * (status() reports it earlier). The URL is given to Attach, which takes
 * the options by value (move them in). Move-only. */
class RedisOptions {
 public:
  RedisOptions() : opts_(cache_redis_options_new()) {
    if (opts_ == nullptr) throw std::bad_alloc();
  }
  RedisOptions(RedisOptions &&other) noexcept
      : opts_(std::exchange(other.opts_, nullptr)), status_(other.status_) {}
  RedisOptions &operator=(RedisOptions &&other) noexcept {
    if (this != &other) {
      cache_redis_options_free(opts_);
      opts_ = std::exchange(other.opts_, nullptr);
      status_ = other.status_;
    }
    return *this;
  }
  RedisOptions(const RedisOptions &) = delete;
  RedisOptions &operator=(const RedisOptions &) = delete;
  ~RedisOptions() { cache_redis_options_free(opts_); }

  /* Prepended to every key in Redis (copied; default empty). */
  RedisOptions &prefix(BytesView p) noexcept {
    return Note(cache_redis_options_set_prefix(opts_, p.data(), p.size()));
  }
  /* Connect and per-command timeouts (each > 0; defaults 1 s and 1 s). */
  RedisOptions &timeouts(std::chrono::milliseconds connect, std::chrono::milliseconds command) noexcept {
    return Note(cache_redis_options_set_timeouts(opts_, connect.count(), command.count()));
  }
  /* Near-cache coherence on (the default) or off, and its health-check
   * interval (> 0; default 100 ms). */
  RedisOptions &coherence(bool on, std::chrono::milliseconds health_interval =
                                       std::chrono::milliseconds(100)) noexcept {
    return Note(cache_redis_options_set_coherence(opts_, on ? 1 : 0, health_interval.count()));
  }
  /* How long a write may wait before the flusher sends it (default 5 ms). */
  RedisOptions &flush_interval(std::chrono::milliseconds interval) noexcept {
    if (interval.count() < 0) return Note(CACHE_E_INVALID);
    return Note(cache_store_options_set_flush_interval_ms(
        Store(), static_cast<uint64_t>(interval.count())));
  }
  /* The write-behind queue's bounds (bytes and operations) and what a write
   * does when it is full. */
  RedisOptions &max_queue(uint64_t max_bytes, uint64_t max_ops) noexcept {
    return Note(cache_store_options_set_max_queue(Store(), max_bytes, max_ops));
  }
  RedisOptions &on_full(OnFull policy, std::chrono::milliseconds block_timeout =
                                           std::chrono::milliseconds(1000)) noexcept {
    return Note(cache_store_options_set_on_full(Store(), static_cast<int>(policy),
                                                block_timeout.count()));
  }
  /* Read-through on a local miss (default on, 100 ms per load). */
  RedisOptions &read_through(bool on, std::chrono::milliseconds timeout =
                                          std::chrono::milliseconds(100)) noexcept {
    return Note(cache_store_options_set_read_through(Store(), on ? 1 : 0, timeout.count()));
  }

  std::error_code status() const noexcept {
    std::error_code ec;
    detail::Assign(ec, status_);
    return ec;
  }
  const cache_redis_options_t *native_handle() const noexcept { return opts_; }

 private:
  friend class RedisStore;
  cache_store_options_t *Store() noexcept { return cache_redis_options_store_options(opts_); }
  RedisOptions &Note(int status) noexcept {
    if (status_ == CACHE_OK && status < 0) status_ = status;
    return *this;
  }

  cache_redis_options_t *opts_;
  int status_ = CACHE_OK;
};

/* The adapter's counters (cache_redis_stats_t: link, connects, tracking, ...). */
using RedisStats = cache_redis_stats_t;

/* A Redis adapter attached to a Cache (cache_redis_t). See Ownership above.
 * Thread-safe as the C ABI is: flush may be called from any thread; stats
 * and close must not race with close. */
class RedisStore {
 public:
  RedisStore() noexcept = default;
  RedisStore(RedisStore &&other) noexcept : redis_(std::exchange(other.redis_, nullptr)) {}
  RedisStore &operator=(RedisStore &&other) noexcept {
    redis_ = std::exchange(other.redis_, nullptr);  // the Cache still owns the old adapter
    return *this;
  }
  RedisStore(const RedisStore &) = delete;
  RedisStore &operator=(const RedisStore &) = delete;
  ~RedisStore() = default;  // the Cache closes the adapter

  /* Connects to url (redis://[[user]:password@]host[:port][/db] or
   * unix://...), checks it, and links the adapter to cache, which from then
   * on writes behind to Redis and reads through from it. Throws Error:
   * errc::invalid (a malformed URL, a refused option), errc::io (Redis
   * unreachable, AUTH/SELECT/ACL refused; what() says why, never with the
   * credentials), errc::exists (cache already has a store), errc::no_mem. */
  static RedisStore Attach(Cache &cache, const std::string &url, RedisOptions opts = RedisOptions()) {
    std::error_code ec;
    RedisStore r = Attach(cache, url, std::move(opts), ec);
    if (ec) {
      const std::string why = LastReason();
      throw Error(ec, "libcache::RedisStore::Attach" + (why.empty() ? std::string() : ": " + why));
    }
    return r;
  }
  /* As above, reporting failure in ec (a closed RedisStore is returned). */
  static RedisStore Attach(Cache &cache, const std::string &url, RedisOptions opts,
                           std::error_code &ec) noexcept {
    if ((ec = opts.status())) return RedisStore();
    int rc = cache_redis_options_set_url(opts.opts_, url.c_str());
    cache_redis_t *r = nullptr;
    if (rc == CACHE_OK) rc = cache_redis_attach(cache.native_handle(), opts.opts_, &r);
    if (rc != CACHE_OK) {  // CACHE_EXISTS (a store already) too: errc::exists
      ec.assign(rc, error_category());
      return RedisStore();
    }
    ec.clear();
    RedisStore s;
    s.redis_ = r;
    return s;
  }

  bool is_open() const noexcept { return redis_ != nullptr; }
  explicit operator bool() const noexcept { return is_open(); }
  cache_redis_t *native_handle() const noexcept { return redis_; }

  /* Returns once every write made before the call has been answered by
   * Redis; errc::timeout after timeout (negative: no limit). */
  void flush(std::chrono::milliseconds timeout) {
    std::error_code ec;
    flush(timeout, ec);
    if (ec) throw Error(ec, "libcache::RedisStore::flush");
  }
  void flush(std::chrono::milliseconds timeout, std::error_code &ec) noexcept {
    detail::Assign(ec, redis_ == nullptr ? CACHE_E_INVALID : cache_redis_flush(redis_, timeout.count()));
  }
  /* The adapter's counters. */
  RedisStats stats() const {
    std::error_code ec;
    RedisStats s = stats(ec);
    if (ec) throw Error(ec, "libcache::RedisStore::stats");
    return s;
  }
  RedisStats stats(std::error_code &ec) const noexcept {
    RedisStats s{};
    detail::Assign(ec, cache_redis_stats(redis_, &s, sizeof s));
    return s;
  }
  /* Flushes for up to timeout, then detaches and frees the adapter (the
   * Cache goes on without Redis); returns how many writes never reached
   * Redis. The handle is closed afterwards, whatever the outcome. */
  uint64_t close(std::chrono::milliseconds timeout) {
    std::error_code ec;
    const uint64_t n = close(timeout, ec);
    if (ec) throw Error(ec, "libcache::RedisStore::close");
    return n;
  }
  uint64_t close(std::chrono::milliseconds timeout, std::error_code &ec) noexcept {
    uint64_t unflushed = 0;
    if (redis_ == nullptr) {
      ec.clear();
      return 0;
    }
    detail::Assign(ec, cache_redis_close(std::exchange(redis_, nullptr), timeout.count(), &unflushed));
    return unflushed;
  }

  /* Why the calling thread's last failed adapter call failed ("" if none). */
  static const char *LastReason() noexcept { return cache_redis_errmsg(); }

 private:
  cache_redis_t *redis_ = nullptr;
};

}  // namespace libcache

#endif  // LIBCACHE_CACHE_REDIS_HPP
