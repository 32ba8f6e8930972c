// Cache-aside in C++ with <libcache/cache.hpp>: a bounded libcache in front
// of a deliberately slow lookup (what examples/slow_lookup.c does with the C
// ABI, shorter).
//
// A "database" answers each key after lookup_us microseconds of work. A
// skewed stream of requests (Zipf 0.99 over `keys` keys) goes through
// Lookup(): the cache first, the database on a miss, its answer then kept for
// 30 s. The cache holds a tenth of the key space. Prints the hit ratio, the
// time per request with and without the cache, and what the cache holds.
//
// Usage: cache_aside [requests] [keys] [lookup_us]
#include <libcache/cache.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The slow source of truth: spins for lookup_us, then builds the row.
std::string SlowLookup(uint64_t id, unsigned lookup_us) {
  const auto until = Clock::now() + std::chrono::microseconds(lookup_us);
  while (Clock::now() < until) {
  }
  return "row " + std::to_string(id) + ": name=user" + std::to_string(id) +
         " balance=" + std::to_string(id * 7919 % 100000);
}

// Cache-aside: the cached row, or the database's, stored for next time. A
// row too large for the cache (errc::too_large) is still the answer; any
// other failure to cache it is too (the cache is an optimisation), so the
// write uses the error_code overload and ignores what it says.
std::string Lookup(libcache::Cache &cache, uint64_t id, unsigned lookup_us) {
  const std::string key = "user:" + std::to_string(id);
  if (std::optional<std::string> hit = cache.get(key)) return *std::move(hit);
  std::string row = SlowLookup(id, lookup_us);
  std::error_code ignored;
  cache.set(key, row, 30s, ignored);
  return row;
}

// n ranks in [0, keys) drawn from Zipf(s), with a fixed seed.
std::vector<uint64_t> ZipfSequence(size_t n, uint64_t keys, double s) {
  std::vector<double> cdf(keys);
  double sum = 0;
  for (uint64_t k = 0; k < keys; ++k) cdf[k] = (sum += 1.0 / std::pow(double(k + 1), s));
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, sum);
  std::vector<uint64_t> seq(n);
  for (uint64_t &x : seq) x = std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin();
  return seq;
}

double MicrosPer(Clock::duration d, size_t n) {
  return std::chrono::duration<double, std::micro>(d).count() / double(n);
}

}  // namespace

int main(int argc, char **argv) {
  const size_t requests = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  const uint64_t keys = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 100000;
  const unsigned lookup_us = argc > 3 ? unsigned(std::strtoul(argv[3], nullptr, 10)) : 50;
  if (requests == 0 || keys == 0) {
    std::fprintf(stderr, "usage: cache_aside [requests] [keys] [lookup_us]\n");
    return 2;
  }
  const std::vector<uint64_t> seq = ZipfSequence(requests, keys, 0.99);

  try {
    libcache::Cache cache = libcache::Cache::Open(libcache::Options().max_entries(keys / 10 + 1));

    // Without the cache: a sample of the stream straight to the database.
    const size_t sample = std::min<size_t>(requests, 2000);
    auto start = Clock::now();
    for (size_t i = 0; i < sample; ++i) SlowLookup(seq[i], lookup_us);
    const double direct_us = MicrosPer(Clock::now() - start, sample);

    // With the cache: the whole stream, then a sample of answers checked
    // against the database's rows.
    start = Clock::now();
    for (uint64_t id : seq) Lookup(cache, id, lookup_us);
    const double cached_us = MicrosPer(Clock::now() - start, requests);
    size_t wrong = 0;
    for (size_t i = 0; i < sample; ++i) wrong += Lookup(cache, seq[i], lookup_us) != SlowLookup(seq[i], 0);

    const libcache::Stats s = cache.stats();  // (the check's reads included)
    const double hit_ratio = double(s.hits) / double(s.hits + s.misses);
    std::printf("requests %zu over %llu keys (Zipf 0.99), lookup %u us, cache bound %llu entries\n",
                requests, static_cast<unsigned long long>(keys), lookup_us,
                static_cast<unsigned long long>(keys / 10 + 1));
    std::printf("hit ratio %.3f, evictions %llu, entries %llu, bytes %llu\n", hit_ratio,
                static_cast<unsigned long long>(s.evictions), static_cast<unsigned long long>(s.entries),
                static_cast<unsigned long long>(s.bytes));
    std::printf("per request: %.1f us without the cache, %.1f us with it (%.1fx)\n", direct_us, cached_us,
                direct_us / cached_us);
    if (wrong != 0) {
      std::fprintf(stderr, "%zu answers did not match the database\n", wrong);
      return 1;
    }
  } catch (const libcache::Error &e) {
    std::fprintf(stderr, "libcache: %s\n", e.what());
    return 1;
  }
  return 0;
}
