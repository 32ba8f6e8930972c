/* libcache must never replace the host program's malloc.
 *
 * Built twice, against libcache.so and against libcache.a. In both, the
 * process-wide malloc/free/calloc/realloc (what dlsym(RTLD_DEFAULT) and the
 * program's own references resolve to) must live in libc.so.6, before and after
 * the cache has loaded its allocator; mimalloc's own symbols must not be
 * visible in the global scope; and the engine must still report "mimalloc"
 * when the build uses it (LIBCACHE_TEST_EXPECT_MIMALLOC), which proves the
 * library was loaded, privately (RTLD_LOCAL, see core/src/alloc.h).
 *
 * In sanitizer builds (LIBCACHE_TEST_SANITIZED) the sanitizer runtime
 * legitimately interposes malloc, so libasan/libtsan are accepted as well. */

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libcache/cache.h"
#include "libcache/cache_experimental.h"

static int failures = 0;

#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fputc('\n', stderr);                                 \
      ++failures;                                          \
    }                                                      \
  } while (0)

/* The file name (without directories) of the object holding addr. */
static const char *object_of(void *addr) {
  Dl_info info;
  if (addr == NULL || dladdr(addr, &info) == 0 || info.dli_fname == NULL) return "(unknown)";
  const char *slash = strrchr(info.dli_fname, '/');
  return slash != NULL ? slash + 1 : info.dli_fname;
}

#if defined(LIBCACHE_TEST_SANITIZED)
static int starts_with(const char *s, const char *prefix) {
  return strncmp(s, prefix, strlen(prefix)) == 0;
}
#endif

static int allowed_malloc_owner(const char *object) {
  if (strcmp(object, "libc.so.6") == 0) return 1;
#if defined(LIBCACHE_TEST_SANITIZED)
  if (starts_with(object, "libasan.so") || starts_with(object, "libtsan.so") ||
      starts_with(object, "libubsan.so")) {
    return 1;
  }
#endif
  return 0;
}

static void check_global_malloc(const char *when) {
  static const char *const names[] = {"malloc", "free", "calloc", "realloc"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
    void *sym = dlsym(RTLD_DEFAULT, names[i]);
    const char *owner = object_of(sym);
    CHECK(sym != NULL, "%s: dlsym(RTLD_DEFAULT, \"%s\") is NULL", when, names[i]);
    CHECK(allowed_malloc_owner(owner), "%s: %s resolves to %s, not libc.so.6", when, names[i],
          owner);
  }
  /* The program's own calls go where the global scope says. */
  void *(*volatile own_malloc)(size_t) = malloc;
  CHECK((void *)own_malloc == dlsym(RTLD_DEFAULT, "malloc"),
        "%s: the program's malloc (%s) is not the global one", when, object_of((void *)own_malloc));
  /* mimalloc's API is private to libcache. */
  CHECK(dlsym(RTLD_DEFAULT, "mi_malloc") == NULL, "%s: mi_malloc is in the global scope (%s)", when,
        object_of(dlsym(RTLD_DEFAULT, "mi_malloc")));
}

static void use_cache(void) {
  cache_t *c = NULL;
  CHECK(cache_open(NULL, &c) == CACHE_OK, "cache_open failed");
  if (c == NULL) return;
  char key[32], buf[64];
  for (int i = 0; i < 1000; ++i) {
    int n = snprintf(key, sizeof key, "key:%d", i);
    CHECK(cache_set(c, key, (size_t)n, key, (size_t)n, CACHE_TTL_NONE) == CACHE_OK, "set %s", key);
  }
  size_t len = 0;
  CHECK(cache_get(c, "key:7", 5, buf, sizeof buf, &len) == CACHE_OK && len == 5 &&
            memcmp(buf, "key:7", 5) == 0,
        "get key:7");
  /* Host allocations still work and are libc's to free after the cache is up. */
  char *p = malloc(100);
  CHECK(p != NULL, "malloc(100)");
  free(p);
  cache_close(c);
}

int main(void) {
  check_global_malloc("before any cache");
  use_cache();
  check_global_malloc("after using a cache");

  const char *name = cache_allocator_name();
#if defined(LIBCACHE_TEST_EXPECT_MIMALLOC)
  CHECK(strcmp(name, "mimalloc") == 0, "cache_allocator_name() = %s, want mimalloc", name);
  /* Loaded (RTLD_NOLOAD finds it) yet invisible to RTLD_DEFAULT above. */
  void *h = dlopen("libmimalloc.so.2", RTLD_LAZY | RTLD_NOLOAD);
  CHECK(h != NULL, "libmimalloc.so.2 is not loaded although the engine uses it");
  if (h != NULL) dlclose(h);
#else
  CHECK(strcmp(name, "libc") == 0, "cache_allocator_name() = %s, want libc", name);
#endif

  if (failures != 0) {
    fprintf(stderr, "%d failure(s)\n", failures);
    return 1;
  }
  printf("ok: malloc is %s, libcache allocates with %s\n", object_of(dlsym(RTLD_DEFAULT, "malloc")),
         name);
  return 0;
}
