/* libcache: symbol visibility for the C ABI.
 *
 * The shared library is built with -fvisibility=hidden and LIBCACHE_BUILDING
 * defined, so only functions marked CACHE_API are exported. Users of the static
 * library define LIBCACHE_STATIC (the libcache::cache_static CMake target does
 * it for them; with pkg-config it only matters on Windows) so that the
 * declarations carry no visibility or import attributes. */
#ifndef LIBCACHE_EXPORT_H
#define LIBCACHE_EXPORT_H

#if defined(LIBCACHE_STATIC)
#define CACHE_API
#elif defined(_WIN32)
#if defined(LIBCACHE_BUILDING)
#define CACHE_API __declspec(dllexport)
#else
#define CACHE_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define CACHE_API __attribute__((visibility("default")))
#else
#define CACHE_API
#endif

#endif /* LIBCACHE_EXPORT_H */
