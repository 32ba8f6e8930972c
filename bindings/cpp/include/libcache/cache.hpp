// libcache: the header-only C++ API, over the stable C ABI of <libcache/cache.h>.
//
// Move-only RAII types around the C handles, std::string_view keys and values
// (and std::span<const std::byte> under C++20), std::chrono TTLs, a miss as an
// empty std::optional, and errors both ways, as <filesystem> offers them: each
// fallible call throws libcache::Error (a std::system_error), and has an
// overload taking a std::error_code& that never throws. It includes only the
// C headers and calls only the exported cache_* functions, so it works with
// libcache.so.1 of any 1.x release at least as new as the header it was
// written against (1.6), and with libcache::cache_static. C++17 is the floor.
//
// Example:
//
//   #include <libcache/cache.hpp>
//   using namespace std::chrono_literals;
//
//   libcache::Cache cache = libcache::Cache::Open(
//       libcache::Options().max_bytes(64 << 20).default_ttl(60s));
//   cache.set("user:42", R"({"name":"Ada"})");           // the default TTL: 60 s
//   cache.set("session:7", "...", 30min);                // an explicit TTL
//   if (std::optional<std::string> v = cache.get("user:42")) use(*v);
//   if (auto pinned = cache.get_value("big")) write(pinned->view());  // no copy
//
//   std::error_code ec;                                  // the non-throwing style
//   if (!cache.add("user:42", "{}", std::nullopt, ec) && !ec) { /* it existed */ }
//
// Model, threads and errors are those of <libcache/cache.h>: a Cache may be
// used from any number of threads at once (it is a handle to a thread-safe
// engine; only its destruction, a move from it and close() must not race with
// other calls on it), a Value may be read and destroyed from any thread, and
// an error leaves the cache unchanged. "Not found" and "exists" are results,
// not errors: get returns an empty optional, add and replace return false.
#ifndef LIBCACHE_CACHE_HPP
#define LIBCACHE_CACHE_HPP

#include <libcache/cache.h>
#include <libcache/cache_experimental.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#if __cplusplus >= 202002L && __has_include(<span>)
#include <span>
#define LIBCACHE_HPP_HAS_SPAN 1
#else
#define LIBCACHE_HPP_HAS_SPAN 0
#endif

namespace libcache {

// ---- Errors -----------------------------------------------------------------

// The C ABI's statuses other than CACHE_OK, with their values: the negative
// CACHE_E_* errors, and the two results (not_found, exists) that the
// error_code overloads of take, touch... never report as errors but that a
// caller may meet through make_error_code. The names are those of the
// conformance suite (tests/conformance/README.md).
enum class errc : int {
  not_found = CACHE_NOT_FOUND,
  exists = CACHE_EXISTS,
  invalid = CACHE_E_INVALID,
  no_mem = CACHE_E_NOMEM,
  too_large = CACHE_E_TOO_LARGE,
  buffer_too_small = CACHE_E_BUFFER_TOO_SMALL,
  io = CACHE_E_IO,
  full = CACHE_E_FULL,
  timeout = CACHE_E_TIMEOUT,
  closed = CACHE_E_CLOSED,
  internal = CACHE_E_INTERNAL,
  wrong_kind = CACHE_E_WRONG_KIND,
};

namespace detail {

class ErrorCategory final : public std::error_category {
 public:
  const char *name() const noexcept override { return "libcache"; }
  // cache_strerror's static text for the status.
  std::string message(int status) const override { return cache_strerror(status); }
  // Portable conditions, so that `ec == std::errc::invalid_argument` works.
  std::error_condition default_error_condition(int status) const noexcept override {
    switch (status) {
      case CACHE_E_INVALID:
        return std::errc::invalid_argument;
      case CACHE_E_NOMEM:
        return std::errc::not_enough_memory;
      case CACHE_E_TOO_LARGE:
        return std::errc::value_too_large;
      case CACHE_E_BUFFER_TOO_SMALL:
        return std::errc::no_buffer_space;
      case CACHE_E_IO:
        return std::errc::io_error;
      case CACHE_E_TIMEOUT:
        return std::errc::timed_out;
      default:
        return std::error_condition(status, *this);
    }
  }
};

}  // namespace detail

// The category of every libcache error_code: name() "libcache", message() is
// cache_strerror() of the value. One object per program (a function-local
// static of an inline function).
inline const std::error_category &error_category() noexcept {
  static const detail::ErrorCategory category;
  return category;
}

inline std::error_code make_error_code(errc e) noexcept {
  return std::error_code(static_cast<int>(e), error_category());
}

// The exception every throwing call throws: code() is in error_category(),
// what() names the call and cache_strerror's text. Allocation failures of the
// C++ side throw std::bad_alloc as usual; those of the engine are
// Error(errc::no_mem).
class Error : public std::system_error {
 public:
  using std::system_error::system_error;
};

}  // namespace libcache

template <>
struct std::is_error_code_enum<libcache::errc> : std::true_type {};

namespace libcache {

namespace detail {

// A C status as an error_code: CACHE_OK and the results are success.
inline std::error_code StatusCode(int status) noexcept {
  return status < 0 ? std::error_code(status, error_category()) : std::error_code();
}

// ec = status as an error_code (cleared for CACHE_OK and the results).
inline void Assign(std::error_code &ec, int status) noexcept { ec = StatusCode(status); }

[[noreturn]] inline void Throw(std::error_code ec, const char *what) {
  throw Error(ec, what);
}

inline void ThrowIf(const std::error_code &ec, const char *what) {
  if (ec) Throw(ec, what);
}

}  // namespace detail

// ---- Versions and limits ------------------------------------------------------

// The C ABI version this header was written against, as CACHE_VERSION_NUMBER.
inline constexpr unsigned kHeaderVersion = CACHE_VERSION_NUMBER;
// The version of the library actually loaded (cache_version_number()): same
// major as kHeaderVersion when header and library agree.
inline unsigned LibraryVersion() noexcept { return cache_version_number(); }
// Longest key, in bytes: longer keys make writes fail with errc::too_large,
// and reads find nothing.
inline constexpr std::size_t kMaxKeySize = CACHE_MAX_KEY_SIZE;

// ---- Bytes ------------------------------------------------------------------

// A borrowed run of bytes: every key and value argument. Built implicitly from
// std::string_view, std::string, a C string, and under C++20 from
// std::span<const std::byte> (and std::span<std::byte>). Borrowed for the
// call only: the cache copies what it keeps.
class BytesView {
 public:
  constexpr BytesView() noexcept = default;
  constexpr BytesView(std::string_view s) noexcept : data_(s.data()), size_(s.size()) {}
  BytesView(const std::string &s) noexcept : data_(s.data()), size_(s.size()) {}
  constexpr BytesView(const char *s) noexcept : BytesView(std::string_view(s)) {}
  constexpr BytesView(const void *data, std::size_t size) noexcept : data_(data), size_(size) {}
#if LIBCACHE_HPP_HAS_SPAN
  template <typename B, std::size_t N,
            typename = std::enable_if_t<std::is_same_v<std::remove_const_t<B>, std::byte>>>
  constexpr BytesView(std::span<B, N> s) noexcept : data_(s.data()), size_(s.size()) {}
#endif

  constexpr const void *data() const noexcept { return data_; }
  constexpr std::size_t size() const noexcept { return size_; }

 private:
  const void *data_ = nullptr;
  std::size_t size_ = 0;
};

// ---- Value --------------------------------------------------------------------

// A pinned, immutable value read without a copy (Cache::get_value, Cache::take):
// the bytes stay valid, unchanged, until the Value is destroyed, even after
// its entry is replaced, deleted, evicted or expired, and after its Cache is
// closed. Move-only; a moved-from Value is empty (size 0, data nullptr).
// Holding many Values holds their memory outside the cache's max_bytes.
class Value {
 public:
  Value() noexcept = default;
  // Adopts a handle from cache_get_value or cache_take (released here).
  explicit Value(cache_value_t *handle) noexcept : handle_(handle) {}
  Value(Value &&other) noexcept : handle_(std::exchange(other.handle_, nullptr)) {}
  Value &operator=(Value &&other) noexcept {
    if (this != &other) {
      cache_value_release(handle_);
      handle_ = std::exchange(other.handle_, nullptr);
    }
    return *this;
  }
  Value(const Value &) = delete;
  Value &operator=(const Value &) = delete;
  ~Value() { cache_value_release(handle_); }

  // The bytes (not NUL-terminated); nullptr only for an empty (moved-from) Value.
  const char *data() const noexcept { return static_cast<const char *>(cache_value_data(handle_)); }
  std::size_t size() const noexcept { return cache_value_size(handle_); }
  bool empty() const noexcept { return size() == 0; }
  std::string_view view() const noexcept { return std::string_view(data(), size()); }
  operator std::string_view() const noexcept { return view(); }
  // A copy of the bytes.
  std::string str() const { return std::string(data(), size()); }
#if LIBCACHE_HPP_HAS_SPAN
  std::span<const std::byte> bytes() const noexcept {
    return {reinterpret_cast<const std::byte *>(data()), size()};
  }
#endif

  const char *begin() const noexcept { return data(); }
  const char *end() const noexcept { return data() + size(); }

  // The C handle, still owned by this Value.
  cache_value_t *native_handle() const noexcept { return handle_; }
  // Gives the C handle up: the caller releases it with cache_value_release.
  cache_value_t *release() noexcept { return std::exchange(handle_, nullptr); }

 private:
  cache_value_t *handle_ = nullptr;
};

// ---- Options --------------------------------------------------------------------

// Eviction policies (cache_options_set_policy): which entries leave when a
// write would exceed a bound. Both keep every other promise (bounds, TTLs,
// statistics).
enum class Policy : int {
  kClock = CACHE_POLICY_CLOCK,        // CLOCK, second chance; the default
  kAdaptive = CACHE_POLICY_ADAPTIVE,  // frequency-aware: window TinyLFU over CLOCK rings
};

// The configuration of Cache::Open, builder style:
//
//   libcache::Options opts;
//   opts.max_bytes(256 << 20).shards(16).policy(libcache::Policy::kAdaptive);
//
// Defaults: max_bytes 64 MiB, no entry bound, no default TTL, automatic
// shards, the CLOCK policy. Setters never throw: the first one that fails
// (an invalid value, as cache_options_set_* judges it) is remembered, the
// later ones are ignored, and Cache::Open reports it (status() tells it at
// once). Move-only (it owns a cache_options_t); Cache::Open copies what it
// needs, so an Options may be reused or destroyed after it. Not thread-safe.
class Options {
 public:
  Options() noexcept : opts_(cache_options_new()) {
    if (opts_ == nullptr) error_ = make_error_code(errc::no_mem);
  }
  Options(Options &&other) noexcept
      : opts_(std::exchange(other.opts_, nullptr)), error_(other.error_) {}
  Options &operator=(Options &&other) noexcept {
    if (this != &other) {
      cache_options_free(opts_);
      opts_ = std::exchange(other.opts_, nullptr);
      error_ = other.error_;
    }
    return *this;
  }
  Options(const Options &) = delete;
  Options &operator=(const Options &) = delete;
  ~Options() { cache_options_free(opts_); }

  // Bound on the memory the entries hold, engine overhead included (0 = no
  // byte bound: then max_entries must be set).
  Options &max_bytes(std::uint64_t bytes) noexcept { return Note(cache_options_set_max_bytes(opts_, bytes)); }
  // Bound on the number of entries (0 = none, the default).
  Options &max_entries(std::uint64_t entries) noexcept {
    return Note(cache_options_set_max_entries(opts_, entries));
  }
  // Lock shards: a power of two up to 1024, or 0 for automatic.
  Options &shards(std::uint32_t count) noexcept { return Note(cache_options_set_shards(opts_, count)); }
  // TTL of writes that pass no TTL (std::nullopt); 0 or kNoExpiry = never
  // expires (the default). Negative: errc::invalid.
  Options &default_ttl(std::chrono::milliseconds ttl) noexcept {
    if (ttl.count() < 0) return Note(CACHE_E_INVALID);
    if (ttl == std::chrono::milliseconds::max()) ttl = std::chrono::milliseconds(0);
    return Note(cache_options_set_default_ttl_ms(opts_, static_cast<std::uint64_t>(ttl.count())));
  }
  Options &policy(Policy p) noexcept { return Note(cache_options_set_policy(opts_, static_cast<int>(p))); }
  // Experimental (<libcache/cache_experimental.h>, may change in a minor
  // release): the engine reads fn(ctx) (monotonic ms; thread-safe, cheap,
  // non-decreasing) instead of its clock, for deterministic TTL tests. fn =
  // nullptr restores the real clock. ctx must outlive the cache.
  Options &experimental_clock(cache_clock_fn fn, void *ctx) noexcept {
    return Note(cache_options_set_clock(opts_, fn, ctx));
  }
  // Experimental: a fixed hash seed instead of a random one per cache.
  Options &experimental_hash_seed(std::uint64_t seed) noexcept {
    return Note(cache_options_set_hash_seed(opts_, seed));
  }

  // The first setter's failure (or errc::no_mem if the options could not be
  // allocated); empty when every setter succeeded.
  std::error_code status() const noexcept { return error_; }
  // The C options (nullptr after a failed allocation or a move), still owned here.
  const cache_options_t *native_handle() const noexcept { return opts_; }

 private:
  Options &Note(int status) noexcept {
    if (!error_ && status != CACHE_OK) error_ = detail::StatusCode(status);
    return *this;
  }

  cache_options_t *opts_;
  std::error_code error_;
};

// ---- Cache ----------------------------------------------------------------------

// Counters since Cache::Open (cache_stats_t): summed shard by shard without a
// global lock, so approximate under concurrent writes.
struct Stats {
  std::uint64_t hits = 0;         // reads that found a live entry
  std::uint64_t misses = 0;       // reads that found none
  std::uint64_t sets = 0;         // successful writes (set, add, replace)
  std::uint64_t deletes = 0;      // successful erase and take calls
  std::uint64_t evictions = 0;    // live entries removed to make room
  std::uint64_t expirations = 0;  // expired entries reclaimed
  std::uint64_t entries = 0;      // entries held now (expired ones not yet reclaimed included)
  std::uint64_t bytes = 0;        // bytes charged now: entries plus table and ring memory
};

// What Cache::ttl returns for an entry that never expires.
inline constexpr std::chrono::milliseconds kNoExpiry = std::chrono::milliseconds::max();


// A cache: a move-only handle that closes the engine's cache in its
// destructor. Pinned Values stay valid after that. A default-constructed or
// moved-from Cache holds no cache: every call on it fails with errc::invalid
// (is_open() tells).
class Cache {
 public:
  // A TTL argument: std::nullopt = the cache's default TTL
  // (Options::default_ttl), 0 or kNoExpiry = never expires, > 0 = that many
  // milliseconds (at most 2^62); negative: errc::invalid. Any std::chrono
  // duration converts (30s, 5min; finer ones with std::chrono::floor).
  using Ttl = std::optional<std::chrono::milliseconds>;

  Cache() noexcept = default;
  // Adopts a cache from cache_open (closed here).
  explicit Cache(cache_t *handle) noexcept : cache_(handle) {}
  Cache(Cache &&other) noexcept : cache_(std::exchange(other.cache_, nullptr)) {}
  Cache &operator=(Cache &&other) noexcept {
    if (this != &other) {
      cache_close(cache_);
      cache_ = std::exchange(other.cache_, nullptr);
    }
    return *this;
  }
  Cache(const Cache &) = delete;
  Cache &operator=(const Cache &) = delete;
  // REQUIRES: no other call on this cache is running (cache_close).
  ~Cache() { cache_close(cache_); }

  // Opens a cache configured by options. Throws Error: errc::invalid (a
  // setter refused a value, no bound at all, bounds too small for one entry
  // per shard), errc::no_mem.
  static Cache Open(const Options &options = Options()) {
    std::error_code ec;
    Cache c = Open(options, ec);
    detail::ThrowIf(ec, "libcache::Cache::Open");
    return c;
  }
  // The same, never throwing: on failure ec is set and the Cache is empty.
  static Cache Open(const Options &options, std::error_code &ec) noexcept {
    ec = options.status();
    if (ec) return Cache();
    cache_t *raw = nullptr;
    ec = detail::StatusCode(cache_open(options.native_handle(), &raw));
    return Cache(ec ? nullptr : raw);
  }

  bool is_open() const noexcept { return cache_ != nullptr; }
  explicit operator bool() const noexcept { return is_open(); }
  // The C handle, still owned here: for the calls this header does not wrap
  // (<libcache/cache_object.h>, cache_setv) and for RedisStore.
  cache_t *native_handle() const noexcept { return cache_; }
  // Closes the cache now (as the destructor does); the Cache is then empty,
  // and closing it again does nothing.
  // REQUIRES: no other call on this cache is running.
  void close() noexcept { cache_close(std::exchange(cache_, nullptr)); }

  // ---- Writes: copies of key and value, evicting as needed to stay in bounds.
  // Errors: errc::invalid (negative TTL, TTL over 2^62 ms, empty Cache),
  // errc::too_large (key over 65535 bytes, or an entry that can never fit: a
  // previous value stays), errc::no_mem.

  // Stores value under key, replacing any entry for the key.
  void set(BytesView key, BytesView value, Ttl ttl = std::nullopt) {
    std::error_code ec;
    set(key, value, ttl, ec);
    detail::ThrowIf(ec, "libcache::Cache::set");
  }
  void set(BytesView key, BytesView value, std::error_code &ec) noexcept {
    set(key, value, std::nullopt, ec);
  }
  void set(BytesView key, BytesView value, Ttl ttl, std::error_code &ec) noexcept {
    ec = detail::StatusCode(Write(cache_set, key, value, ttl));
  }
  // Stores value only when no live entry exists for key: true if it did,
  // false (and nothing changed) if one existed.
  bool add(BytesView key, BytesView value, Ttl ttl = std::nullopt) {
    std::error_code ec;
    const bool added = add(key, value, ttl, ec);
    detail::ThrowIf(ec, "libcache::Cache::add");
    return added;
  }
  bool add(BytesView key, BytesView value, std::error_code &ec) noexcept {
    return add(key, value, std::nullopt, ec);
  }
  bool add(BytesView key, BytesView value, Ttl ttl, std::error_code &ec) noexcept {
    const int rc = Write(cache_add, key, value, ttl);
    ec = detail::StatusCode(rc);
    return rc == CACHE_OK;
  }
  // Stores value only when a live entry exists for key: true if it did,
  // false (and nothing changed) if none existed.
  bool replace(BytesView key, BytesView value, Ttl ttl = std::nullopt) {
    std::error_code ec;
    const bool replaced = replace(key, value, ttl, ec);
    detail::ThrowIf(ec, "libcache::Cache::replace");
    return replaced;
  }
  bool replace(BytesView key, BytesView value, std::error_code &ec) noexcept {
    return replace(key, value, std::nullopt, ec);
  }
  bool replace(BytesView key, BytesView value, Ttl ttl, std::error_code &ec) noexcept {
    const int rc = Write(cache_replace, key, value, ttl);
    ec = detail::StatusCode(rc);
    return rc == CACHE_OK;
  }

  // ---- Reads. A hit or a miss is counted in stats(); a key over 65535 bytes
  // simply misses.

  // A copy of key's live value; std::nullopt on a miss. Copies once, straight
  // from the entry into the string (cache_read).
  std::optional<std::string> get(BytesView key) const {
    std::error_code ec;
    std::optional<std::string> v = get(key, ec);
    detail::ThrowIf(ec, ec == errc::no_mem ? "libcache::Cache::get: out of memory for the copy"
                                           : "libcache::Cache::get");
    return v;
  }
  std::optional<std::string> get(BytesView key, std::error_code &ec) const noexcept {
    struct Ctx {
      std::string *out;
      bool failed;
    };
    std::optional<std::string> out(std::in_place);
    Ctx ctx{&*out, false};
    // The callback runs under the shard's read lock and must not unwind.
    const int rc = cache_read(
        cache_, key.data(), key.size(),
        [](void *p, const void *val, std::size_t vlen) {
          auto *c = static_cast<Ctx *>(p);
          try {
            c->out->assign(static_cast<const char *>(val), vlen);
          } catch (...) {
            c->failed = true;
          }
        },
        &ctx);
    ec = detail::StatusCode(rc);
    if (rc == CACHE_OK && ctx.failed) ec = make_error_code(errc::no_mem);
    if (rc != CACHE_OK || ctx.failed) out.reset();
    return out;
  }
  // key's live value pinned, without a copy; std::nullopt on a miss.
  std::optional<Value> get_value(BytesView key) const {
    std::error_code ec;
    std::optional<Value> v = get_value(key, ec);
    detail::ThrowIf(ec, "libcache::Cache::get_value");
    return v;
  }
  std::optional<Value> get_value(BytesView key, std::error_code &ec) const noexcept {
    cache_value_t *v = nullptr;
    const int rc = cache_get_value(cache_, key.data(), key.size(), &v);
    ec = detail::StatusCode(rc);
    if (rc != CACHE_OK) return std::nullopt;
    return Value(v);
  }
  // Whether key has a live entry (counted as a read: a hit or a miss).
  bool contains(BytesView key) const {
    std::error_code ec;
    const bool found = contains(key, ec);
    detail::ThrowIf(ec, "libcache::Cache::contains");
    return found;
  }
  bool contains(BytesView key, std::error_code &ec) const noexcept {
    const int rc = cache_read(cache_, key.data(), key.size(), nullptr, nullptr);
    ec = detail::StatusCode(rc);
    return rc == CACHE_OK;
  }

  // ---- Other operations.

  // Removes key's entry: true if there was a live one (counted as a delete).
  bool erase(BytesView key) {
    std::error_code ec;
    const bool erased = erase(key, ec);
    detail::ThrowIf(ec, "libcache::Cache::erase");
    return erased;
  }
  bool erase(BytesView key, std::error_code &ec) noexcept {
    const int rc = cache_delete(cache_, key.data(), key.size());
    ec = detail::StatusCode(rc);
    return rc == CACHE_OK;
  }
  // Removes key's live entry and returns its value, pinned, as one operation
  // (no write of key by another thread lands between); std::nullopt if none.
  // Counted as a delete, not as a read.
  std::optional<Value> take(BytesView key) {
    std::error_code ec;
    std::optional<Value> v = take(key, ec);
    detail::ThrowIf(ec, "libcache::Cache::take");
    return v;
  }
  std::optional<Value> take(BytesView key, std::error_code &ec) noexcept {
    cache_value_t *v = nullptr;
    const int rc = cache_take(cache_, key.data(), key.size(), &v);
    ec = detail::StatusCode(rc);
    if (rc != CACHE_OK) return std::nullopt;
    return Value(v);
  }
  // Resets key's TTL to ttl from now (std::nullopt: the default TTL; 0 or
  // kNoExpiry: never expires): true if key had a live entry. Sliding sessions.
  bool touch(BytesView key, Ttl ttl) {
    std::error_code ec;
    const bool touched = touch(key, ttl, ec);
    detail::ThrowIf(ec, "libcache::Cache::touch");
    return touched;
  }
  bool touch(BytesView key, Ttl ttl, std::error_code &ec) noexcept {
    const int rc = TtlValid(ttl) ? cache_touch(cache_, key.data(), key.size(), TtlMs(ttl))
                                 : CACHE_E_INVALID;
    ec = detail::StatusCode(rc);
    return rc == CACHE_OK;
  }
  // What is left of key's TTL: std::nullopt if key has no live entry,
  // kNoExpiry if it never expires. Counted neither as a hit nor as a miss.
  std::optional<std::chrono::milliseconds> ttl(BytesView key) const {
    std::error_code ec;
    auto left = ttl(key, ec);
    detail::ThrowIf(ec, "libcache::Cache::ttl");
    return left;
  }
  std::optional<std::chrono::milliseconds> ttl(BytesView key, std::error_code &ec) const noexcept {
    std::int64_t remaining = 0;
    const int rc = cache_ttl(cache_, key.data(), key.size(), &remaining);
    ec = detail::StatusCode(rc);
    if (rc != CACHE_OK) return std::nullopt;
    return remaining < 0 ? kNoExpiry : std::chrono::milliseconds(remaining);
  }
  // Removes every entry (pinned Values stay valid); counters are kept.
  void clear() {
    std::error_code ec;
    clear(ec);
    detail::ThrowIf(ec, "libcache::Cache::clear");
  }
  void clear(std::error_code &ec) noexcept { ec = detail::StatusCode(cache_clear(cache_)); }
  // Frees every expired entry now; returns how many. One pass over the
  // entries, one shard lock at a time.
  std::uint64_t purge_expired() {
    std::error_code ec;
    const std::uint64_t n = purge_expired(ec);
    detail::ThrowIf(ec, "libcache::Cache::purge_expired");
    return n;
  }
  std::uint64_t purge_expired(std::error_code &ec) noexcept {
    std::uint64_t n = 0;
    ec = detail::StatusCode(cache_purge_expired(cache_, &n));
    return n;
  }
  // The counters now.
  Stats stats() const {
    std::error_code ec;
    Stats s = stats(ec);
    detail::ThrowIf(ec, "libcache::Cache::stats");
    return s;
  }
  Stats stats(std::error_code &ec) const noexcept {
    cache_stats_t c{};
    ec = detail::StatusCode(cache_stats(cache_, &c, sizeof c));
    Stats s;
    s.hits = c.hits;
    s.misses = c.misses;
    s.sets = c.sets;
    s.deletes = c.deletes;
    s.evictions = c.evictions;
    s.expirations = c.expirations;
    s.entries = c.entries;
    s.bytes = c.bytes;
    return s;
  }

 private:
  using WriteFn = int (*)(cache_t *, const void *, std::size_t, const void *, std::size_t,
                          std::int64_t);

  static bool TtlValid(const Ttl &ttl) noexcept { return !ttl || ttl->count() >= 0; }
  static std::int64_t TtlMs(const Ttl &ttl) noexcept {
    if (!ttl) return CACHE_TTL_DEFAULT;
    if (*ttl == kNoExpiry) return CACHE_TTL_NONE;
    return static_cast<std::int64_t>(ttl->count());
  }
  int Write(WriteFn fn, BytesView key, BytesView value, const Ttl &ttl) noexcept {
    // A negative duration would otherwise reach the C ABI as
    // CACHE_TTL_DEFAULT (-1) or as an invalid TTL (< -1): refused alike.
    if (!TtlValid(ttl)) return CACHE_E_INVALID;
    return fn(cache_, key.data(), key.size(), value.data(), value.size(), TtlMs(ttl));
  }

  cache_t *cache_ = nullptr;
};

}  // namespace libcache

#endif  // LIBCACHE_CACHE_HPP
