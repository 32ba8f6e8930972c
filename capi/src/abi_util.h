// Helpers shared by the C ABI's translation units (capi/src/cache.cc,
// capi/src/cache_object.cc, capi/src/cache_store.cc): the options handle, the
// CACHE_WRITE_* and CACHE_POLICY_* mappings, argument checks and the catch-all
// that keeps C++ exceptions from crossing the boundary.

#ifndef LIBCACHE_CAPI_SRC_ABI_UTIL_H_
#define LIBCACHE_CAPI_SRC_ABI_UTIL_H_

#include <cstddef>
#include <new>
#include <string_view>

#include "core/cache.h"
#include "libcache/cache.h"

// What a cache_options_t is: the engine's options.
struct cache_options_s {
  libcache::Options opts;
};

namespace libcache::abi {

// The engine's write mode for a CACHE_WRITE_* value; false if there is none.
inline bool WriteModeOf(int mode, libcache::WriteMode *out) {
  switch (mode) {
    case CACHE_WRITE_SET:
      *out = libcache::WriteMode::kSet;
      return true;
    case CACHE_WRITE_ADD:
      *out = libcache::WriteMode::kAdd;
      return true;
    case CACHE_WRITE_REPLACE:
      *out = libcache::WriteMode::kReplace;
      return true;
    default:
      return false;
  }
}

// The engine's policy for a CACHE_POLICY_* value; false if there is none.
inline bool PolicyOf(int policy, libcache::PolicyKind *out) {
  switch (policy) {
    case CACHE_POLICY_CLOCK:
      *out = libcache::PolicyKind::kClock;
      return true;
    case CACHE_POLICY_ADAPTIVE:
      *out = libcache::PolicyKind::kAdaptive;
      return true;
    default:
      return false;
  }
}

inline bool BadBytes(const void *p, size_t n) { return p == nullptr && n != 0; }

// p may be null when n is 0: the core never passes empty bytes to memcmp/memcpy.
inline std::string_view Bytes(const void *p, size_t n) {
  return std::string_view(static_cast<const char *>(p), n);
}

// Runs fn, turning any exception into a status (none is expected).
template <typename Fn>
int Guarded(Fn fn) noexcept {
  try {
    return fn();
  } catch (const std::bad_alloc &) {
    return CACHE_E_NOMEM;
  } catch (...) {
    return CACHE_E_INTERNAL;
  }
}

}  // namespace libcache::abi

#endif  // LIBCACHE_CAPI_SRC_ABI_UTIL_H_
