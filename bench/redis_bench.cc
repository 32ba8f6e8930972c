// redis_bench: the write-behind link to a live Redis, for issue 9's "Speed"
// targets (bench/redis_bench.sh starts the Redis, runs redis-benchmark next
// to this in the same run and prints the medians).
//
//   redis_bench <url> throughput <writes> <reps> [batch ops]
//     Sustained write-behind throughput: one thread writes <writes> distinct
//     16-byte keys with 100-byte values (no TTL) into a warm cache (the keys
//     written once before the link is attached) linked to Redis
//     with the default link options (5 ms flush interval, 512-op batches,
//     64 MiB / 1M-op queue, BLOCK when full, here with a 60 s timeout so no
//     write is refused), then cache_redis_flush waits until Redis acknowledged
//     all of them. Rate = writes / (time from the first write to the end of
//     the flush). Each repetition uses a fresh cache and adapter. [batch ops]:
//     batches of that many operations (and up to 64 MiB) instead of 512.
//   redis_bench <url> added <reps>
//     What the adapter adds to a local cache_set: store_bench's workload
//     (16-byte keys, 100-byte values, 32768 keys in a Zipf 0.99 stream, a
//     cache that holds them all) into a cache without a link and one linked
//     to Redis (default options: its flusher sends to Redis meanwhile), the
//     two timed alternately, 1M sets per sample; wall-clock time, and the
//     writing thread's CPU time (CLOCK_THREAD_CPUTIME_ID: without the time it
//     spent preempted by the flusher or redis-server on a small machine).
//
// Output: one line per sample, "<name> <value>", then "median <name> <value>"
// lines; the script reads the medians.

#include <libcache/cache.h>
#include <libcache/cache_experimental.h>
#include <libcache/cache_redis.h>
#include <libcache/cache_store.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "bench/workload.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

cache_t *OpenCache(uint64_t max_bytes) {
  cache_options_t *o = cache_options_new();
  cache_options_set_max_bytes(o, max_bytes);
  cache_options_set_hash_seed(o, 1);
  cache_t *c = nullptr;
  const int rc = cache_open(o, &c);
  cache_options_free(o);
  if (rc != CACHE_OK) {
    std::fprintf(stderr, "redis_bench: cache_open: %s\n", cache_strerror(rc));
    std::exit(1);
  }
  return c;
}

cache_redis_t *Attach(cache_t *c, const char *url, uint32_t batch_ops = 0) {
  cache_redis_options_t *ro = cache_redis_options_new();
  if (batch_ops != 0) {
    cache_store_options_set_batch(cache_redis_options_store_options(ro), batch_ops,
                                  uint64_t{64} << 20);
  }
  cache_redis_options_set_url(ro, url);
  cache_redis_options_set_prefix(ro, "bench:", 6);
  cache_store_options_set_on_full(cache_redis_options_store_options(ro), CACHE_REDIS_ON_FULL_BLOCK,
                                  60000);
  cache_redis_t *r = nullptr;
  const int rc = cache_redis_attach(c, ro, &r);
  cache_redis_options_free(ro);
  if (rc != CACHE_OK) {
    std::fprintf(stderr, "redis_bench: cache_redis_attach: %s (%s)\n", cache_strerror(rc),
                 cache_redis_errmsg());
    std::exit(1);
  }
  return r;
}

int Throughput(const char *url, uint64_t writes, int reps, uint32_t batch_ops) {
  static char value[100];
  std::memset(value, 'v', sizeof value);
  std::vector<double> rates;
  for (int rep = 0; rep < reps; ++rep) {
    cache_t *c = OpenCache(writes * 400 + (uint64_t{64} << 20));
    char key[17];
    // Warm, before linking: the keys present and the table grown, so that
    // the timed writes cost what a warm cache's do (replacing a value), not
    // the first touch of its memory (page faults, table growth).
    for (uint64_t i = 0; i < writes; ++i) {
      std::snprintf(key, sizeof key, "key:%012llu", static_cast<unsigned long long>(i));
      cache_set(c, key, 16, value, sizeof value, CACHE_TTL_NONE);
    }
    cache_redis_t *r = Attach(c, url, batch_ops);
    uint64_t refused = 0;
    const Clock::time_point t0 = Clock::now();
    for (uint64_t i = 0; i < writes; ++i) {
      std::snprintf(key, sizeof key, "key:%012llu", static_cast<unsigned long long>(i));
      refused += cache_set(c, key, 16, value, sizeof value, CACHE_TTL_NONE) != CACHE_OK;
    }
    const Clock::time_point t1 = Clock::now();
    const int frc = cache_redis_flush(r, 120000);
    const Clock::time_point t2 = Clock::now();
    cache_redis_stats_t s{};
    cache_redis_stats(r, &s, sizeof s);
    if (frc != CACHE_OK || refused != 0 || s.link.flushed_ops != writes) {
      std::fprintf(stderr, "redis_bench: flush %s, refused %llu, flushed %llu of %llu\n",
                   cache_strerror(frc), static_cast<unsigned long long>(refused),
                   static_cast<unsigned long long>(s.link.flushed_ops),
                   static_cast<unsigned long long>(writes));
      return 1;
    }
    const double rate = static_cast<double>(writes) / Seconds(t0, t2);
    rates.push_back(rate);
    std::printf("throughput %.0f  (writes %.3f s, flush %.3f s, %llu batches, %.0f ops/batch)\n",
                rate, Seconds(t0, t1), Seconds(t1, t2),
                static_cast<unsigned long long>(s.link.batches),
                static_cast<double>(s.link.flushed_ops) /
                    static_cast<double>(std::max<uint64_t>(s.link.batches, 1)));
    std::fflush(stdout);
    cache_close(c);
  }
  std::printf("median throughput %.0f\n", Median(rates));
  return 0;
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct SetCost {
  double real_ns, cpu_ns;  // per set: wall clock, and the writing thread's CPU time
};

// The cost of one cache_set over `n` sets from the key stream.
SetCost TimeSets(cache_t *c, const std::vector<cache_bench::Key> &keys, uint32_t *pos,
                 uint64_t n) {
  static char value[cache_bench::kValueSize] = {};
  uint32_t i = *pos;
  uint64_t failures = 0;
  const double cpu0 = ThreadCpuSeconds();
  const Clock::time_point t0 = Clock::now();
  for (uint64_t k = 0; k < n; ++k) {
    const auto &key = keys[i];
    i = (i + 1) & cache_bench::kSeqMask;
    failures += cache_set(c, key.bytes, cache_bench::kKeySize, value, cache_bench::kValueSize,
                          CACHE_TTL_NONE) != CACHE_OK;
  }
  const Clock::time_point t1 = Clock::now();
  const double cpu1 = ThreadCpuSeconds();
  *pos = i;
  if (failures != 0) {
    std::fprintf(stderr, "redis_bench: %llu sets failed\n",
                 static_cast<unsigned long long>(failures));
    std::exit(1);
  }
  return {Seconds(t0, t1) * 1e9 / static_cast<double>(n), (cpu1 - cpu0) * 1e9 / static_cast<double>(n)};
}

int Added(const char *url, int reps) {
  constexpr uint32_t kKeys = 32768;
  constexpr uint64_t kSample = 1000000;
  const auto &keys = cache_bench::KeyStream(kKeys, cache_bench::Dist::kZipf99, /*miss=*/false);
  const uint64_t max_bytes = uint64_t{kKeys} * 400 + (uint64_t{64} << 20);
  cache_t *plain = OpenCache(max_bytes);
  cache_t *linked = OpenCache(max_bytes);
  cache_redis_t *r = Attach(linked, url);
  uint32_t pos_plain = 0, pos_linked = 0;
  TimeSets(plain, keys, &pos_plain, kSample);  // warm: every key present, arrays grown
  TimeSets(linked, keys, &pos_linked, kSample);
  cache_redis_flush(r, 60000);
  std::vector<double> p, l, d, pc, lc, dc;
  for (int rep = 0; rep < reps; ++rep) {
    SetCost a, b;
    if (rep % 2 == 0) {
      a = TimeSets(plain, keys, &pos_plain, kSample);
      b = TimeSets(linked, keys, &pos_linked, kSample);
    } else {
      b = TimeSets(linked, keys, &pos_linked, kSample);
      a = TimeSets(plain, keys, &pos_plain, kSample);
    }
    p.push_back(a.real_ns);
    l.push_back(b.real_ns);
    d.push_back(b.real_ns - a.real_ns);
    pc.push_back(a.cpu_ns);
    lc.push_back(b.cpu_ns);
    dc.push_back(b.cpu_ns - a.cpu_ns);
    std::printf("set_ns real: no_link %.1f linked %.1f added %.1f; writer cpu: no_link %.1f "
                "linked %.1f added %.1f\n",
                a.real_ns, b.real_ns, b.real_ns - a.real_ns, a.cpu_ns, b.cpu_ns,
                b.cpu_ns - a.cpu_ns);
    std::fflush(stdout);
  }
  if (cache_redis_flush(r, 60000) != CACHE_OK) {
    std::fprintf(stderr, "redis_bench: the final flush failed\n");
    return 1;
  }
  cache_redis_stats_t s{};
  cache_redis_stats(r, &s, sizeof s);
  std::printf("linked: %llu flushed in %llu batches, %llu coalesced\n",
              static_cast<unsigned long long>(s.link.flushed_ops),
              static_cast<unsigned long long>(s.link.batches),
              static_cast<unsigned long long>(s.link.coalesced));
  std::printf("median no_link_ns %.1f\nmedian linked_ns %.1f\nmedian added_ns %.1f\n", Median(p),
              Median(l), Median(d));
  std::printf("median no_link_cpu_ns %.1f\nmedian linked_cpu_ns %.1f\nmedian added_cpu_ns %.1f\n",
              Median(pc), Median(lc), Median(dc));
  cache_close(linked);
  cache_close(plain);
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc >= 5 && std::strcmp(argv[2], "throughput") == 0) {
    return Throughput(argv[1], std::strtoull(argv[3], nullptr, 10), std::atoi(argv[4]),
                      argc > 5 ? static_cast<uint32_t>(std::strtoul(argv[5], nullptr, 10)) : 0);
  }
  if (argc >= 4 && std::strcmp(argv[2], "added") == 0) return Added(argv[1], std::atoi(argv[3]));
  std::fprintf(stderr,
               "usage: %s <redis url> throughput <writes> <reps> [batch ops]\n"
               "       %s <redis url> added <reps>\n",
               argv[0], argv[0]);
  return 2;
}
