// A C++ consumer of the public headers. Exits 0 when the library works.
#include <libcache/cache.h>

#include <cstdio>
#include <memory>
#include <string>

namespace {

struct CacheCloser {
  void operator()(cache_t *c) const { cache_close(c); }
};

}  // namespace

int main() {
  cache_t *raw = nullptr;
  if (cache_open(nullptr, &raw) != CACHE_OK) return 1;
  const std::unique_ptr<cache_t, CacheCloser> c(raw);
  const std::string key = "answer", value = "42";
  if (cache_set(c.get(), key.data(), key.size(), value.data(), value.size(), 1000) != CACHE_OK) {
    return 1;
  }
  cache_value_t *v = nullptr;
  if (cache_get_value(c.get(), key.data(), key.size(), &v) != CACHE_OK) return 1;
  const std::string got(static_cast<const char *>(cache_value_data(v)), cache_value_size(v));
  cache_value_release(v);
  if (got != value) return 1;
  std::printf("C++ consumer ok: libcache %s\n", cache_version_string());
  return 0;
}
