// A consumer of the header-only C++ API, <libcache/cache.hpp>, built through
// add_subdirectory, find_package and pkg-config (tests/packaging/
// consumer_test.sh). Exits 0 when the header and the library work together.
#include <libcache/cache.hpp>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <system_error>

int main() {
  using namespace std::chrono_literals;
  try {
    libcache::Cache cache = libcache::Cache::Open(libcache::Options().max_bytes(1 << 20).default_ttl(60s));
    cache.set("answer", "42");
    const std::optional<std::string> got = cache.get("answer");
    if (got != std::string("42")) return 1;
    std::optional<libcache::Value> pinned = cache.get_value("answer");
    if (!pinned || pinned->view() != "42") return 1;
    const std::string long_key(libcache::kMaxKeySize + 1, 'k');
    std::error_code ec;
    cache.set(long_key, "v", std::nullopt, ec);
    if (ec != libcache::errc::too_large) return 1;
    if (libcache::LibraryVersion() / 10000 != libcache::kHeaderVersion / 10000) return 1;
  } catch (const libcache::Error &e) {
    std::fprintf(stderr, "libcache error: %s\n", e.what());
    return 1;
  }
  std::printf("C++ header consumer ok: libcache %s\n", cache_version_string());
  return 0;
}
