/* The main job: a bounded libcache in front of a deliberately slow lookup.
 *
 * A "database" answers each key after LOOKUP_US microseconds of work. A
 * skewed (Zipf 0.99) stream of requests over KEYS keys is replayed twice:
 * once straight against the database (a sample, since it is slow), once
 * cache-aside through a cache bounded to a tenth of the key space. It prints
 * hit ratio, latency percentiles with and without the cache, evictions and the
 * cache's memory. Every value served from the cache is checked against the
 * database's answer.
 *
 * Usage: slow_lookup [requests] [keys] [cache_entries] [lookup_us]
 */
#define _POSIX_C_SOURCE 200809L
#include <libcache/cache.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VALUE_SIZE 100

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The slow source of truth: spins for lookup_us, then builds the row. */
static void slow_lookup(uint64_t id, unsigned lookup_us, char *out) {
  const uint64_t until = now_ns() + (uint64_t)lookup_us * 1000u;
  while (now_ns() < until) {
  }
  memset(out, '.', VALUE_SIZE);
  snprintf(out, VALUE_SIZE, "row %llu: name=user%llu balance=%llu", (unsigned long long)id,
           (unsigned long long)id, (unsigned long long)(id * 7919 % 100000));
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double next_uniform(void) { /* xorshift64*, fixed seed: reproducible runs */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (double)((rng_state * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

/* Draws n Zipf(s) ranks over [0, keys) by inverting the CDF. */
static uint64_t *zipf_sequence(size_t n, uint64_t keys, double s) {
  double *cdf = malloc(keys * sizeof *cdf);
  uint64_t *seq = malloc(n * sizeof *seq);
  if (cdf == NULL || seq == NULL) exit(1);
  double sum = 0;
  for (uint64_t k = 0; k < keys; ++k) cdf[k] = (sum += 1.0 / pow((double)(k + 1), s));
  for (size_t i = 0; i < n; ++i) {
    const double u = next_uniform() * sum;
    uint64_t lo = 0, hi = keys - 1;
    while (lo < hi) {
      const uint64_t mid = (lo + hi) / 2;
      if (cdf[mid] < u)
        lo = mid + 1;
      else
        hi = mid;
    }
    /* Scatter ranks over ids so that hot keys are not adjacent numbers. */
    seq[i] = (lo * 2654435761u) % keys;
  }
  free(cdf);
  return seq;
}

static int cmp_u64(const void *a, const void *b) {
  const uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static void print_latency(const char *label, uint64_t *lat, size_t n) {
  uint64_t total = 0;
  for (size_t i = 0; i < n; ++i) total += lat[i];
  qsort(lat, n, sizeof *lat, cmp_u64);
  printf("  %-14s mean %9.2f us   p50 %9.2f us   p99 %9.2f us   (%zu requests)\n", label,
         (double)total / (double)n / 1000.0, (double)lat[n / 2] / 1000.0,
         (double)lat[n * 99 / 100] / 1000.0, n);
}

int main(int argc, char **argv) {
  const size_t requests = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
  const uint64_t keys = argc > 2 ? strtoull(argv[2], NULL, 10) : 100000;
  const uint64_t capacity = argc > 3 ? strtoull(argv[3], NULL, 10) : keys / 10;
  const unsigned lookup_us = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 20;
  if (requests < 100 || keys < 10 || capacity < 1) {
    fprintf(stderr, "usage: %s [requests>=100] [keys>=10] [cache_entries>=1] [lookup_us]\n",
            argv[0]);
    return 2;
  }

  printf("libcache %s: cache-aside in front of a %u us lookup\n", cache_version_string(),
         lookup_us);
  printf("workload: %zu requests, Zipf 0.99 over %llu keys, cache bounded to %llu entries\n\n",
         requests, (unsigned long long)keys, (unsigned long long)capacity);
  uint64_t *seq = zipf_sequence(requests, keys, 0.99);
  uint64_t *lat = malloc(requests * sizeof *lat);
  if (lat == NULL) return 1;
  char row[VALUE_SIZE], got[VALUE_SIZE], key[32];

  /* 1. Without a cache (a sample: every request pays the lookup). */
  const size_t sample = requests < 5000 ? requests : 5000;
  for (size_t i = 0; i < sample; ++i) {
    const uint64_t t0 = now_ns();
    slow_lookup(seq[i], lookup_us, row);
    lat[i] = now_ns() - t0;
  }
  printf("latency per request\n");
  print_latency("no cache", lat, sample);

  /* 2. Cache-aside: get; on a miss, look up and set. */
  cache_options_t *opt = cache_options_new();
  cache_options_set_max_entries(opt, capacity);
  cache_options_set_max_bytes(opt, 0); /* bounded by entries only */
  cache_t *cache;
  int rc = cache_open(opt, &cache);
  cache_options_free(opt);
  if (rc != CACHE_OK) {
    fprintf(stderr, "cache_open: %s\n", cache_strerror(rc));
    return 1;
  }
  size_t wrong = 0;
  const uint64_t start = now_ns();
  for (size_t i = 0; i < requests; ++i) {
    const int klen = snprintf(key, sizeof key, "user:%llu", (unsigned long long)seq[i]);
    const uint64_t t0 = now_ns();
    size_t n;
    rc = cache_get(cache, key, (size_t)klen, got, sizeof got, &n);
    if (rc == CACHE_NOT_FOUND) {
      slow_lookup(seq[i], lookup_us, got);
      rc = cache_set(cache, key, (size_t)klen, got, VALUE_SIZE, CACHE_TTL_NONE);
      if (rc != CACHE_OK) {
        fprintf(stderr, "cache_set: %s\n", cache_strerror(rc));
        return 1;
      }
    } else if (rc != CACHE_OK) {
      fprintf(stderr, "cache_get: %s\n", cache_strerror(rc));
      return 1;
    }
    lat[i] = now_ns() - t0;
    if (i % 64 == 0) { /* spot-check served values against the source of truth */
      slow_lookup(seq[i], 0, row);
      wrong += memcmp(row, got, VALUE_SIZE) != 0;
    }
  }
  const double seconds = (double)(now_ns() - start) / 1e9;
  print_latency("with libcache", lat, requests);

  cache_stats_t st;
  cache_stats(cache, &st, sizeof st);
  const double hit_ratio = (double)st.hits / (double)(st.hits + st.misses);
  printf("\ncache\n");
  printf("  hit ratio      %.1f%% (%llu hits, %llu misses)\n", 100.0 * hit_ratio,
         (unsigned long long)st.hits, (unsigned long long)st.misses);
  printf("  evictions      %llu\n", (unsigned long long)st.evictions);
  printf("  entries        %llu of %llu allowed\n", (unsigned long long)st.entries,
         (unsigned long long)capacity);
  printf("  memory         %.2f MiB charged (%.1f bytes per entry, %d of them key+value)\n",
         (double)st.bytes / 1048576.0, (double)st.bytes / (double)st.entries, VALUE_SIZE + 10);
  printf("  replay         %.2f s for %zu requests; %zu wrong values\n", seconds, requests, wrong);
  cache_close(cache);
  free(seq);
  free(lat);
  return wrong == 0 ? 0 : 1;
}
