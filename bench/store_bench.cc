// store_bench: what a write-behind link adds to a local cache_set.
//
// BM_Set/<mode>/<keys>: cache_set of 16-byte keys and 100-byte values over
// a key space of <keys> (Zipf 0.99 stream, bench/workload.h), into a cache
// that holds them all, with
//   mode 0: no link;
//   mode 1: a link to a store that accepts every batch and does nothing
//           (default options: the flusher runs every 5 ms), so the cost is
//           queueing plus what the flusher takes from the writer (the queue
//           lock while it builds and retires batches, the shared cores);
//   mode 2: the same link with a flush interval no run reaches and 64k-op
//           batches: the flusher sleeps (on the 32k key space), and the difference to mode 0 is what enqueueing itself
//           adds (reservation, queue lock, per-key node or coalescing).
// One thread, real time; run with --benchmark_repetitions and compare medians
// (the "Speed" target of issue 9: at most 30 ns median).

#include <benchmark/benchmark.h>
#include <libcache/cache.h>
#include <libcache/cache_experimental.h>
#include <libcache/cache_store.h>

#include <cstdint>

#include "bench/workload.h"

namespace {

using cache_bench::Dist;
using cache_bench::kKeySize;
using cache_bench::kSeqMask;
using cache_bench::kValueSize;

int NoopWrite(void *, cache_store_op_t *ops, size_t n) {
  for (size_t i = 0; i < n; ++i) ops[i].status = CACHE_OK;
  return CACHE_OK;
}

void BM_Set(benchmark::State &state) {
  const int64_t mode = state.range(0);
  const bool linked = mode != 0;
  const auto n = static_cast<uint32_t>(state.range(1));
  cache_options_t *o = cache_options_new();
  cache_options_set_max_bytes(o, uint64_t{n} * 400 + (uint64_t{64} << 20));
  cache_options_set_hash_seed(o, 1);
  cache_t *c = nullptr;
  if (cache_open(o, &c) != CACHE_OK) return state.SkipWithError("cache_open");
  cache_options_free(o);
  cache_link_t *link = nullptr;
  if (linked) {
    cache_store_t store{};
    store.struct_size = sizeof store;
    store.write_batch = &NoopWrite;
    cache_store_options_t *so = cache_store_options_new();
    if (mode == 2) {
      cache_store_options_set_flush_interval_ms(so, uint64_t{1} << 40);
      cache_store_options_set_max_queue(so, uint64_t{1} << 32, uint64_t{1} << 23);
      cache_store_options_set_batch(so, 65536, uint64_t{1} << 30);  // no full batch either
    }
    const int rc = cache_store_attach(c, &store, so, &link);
    cache_store_options_free(so);
    if (rc != CACHE_OK) return state.SkipWithError("cache_store_attach");
  }
  const auto &keys = cache_bench::KeyStream(n, Dist::kZipf99, /*miss=*/false);
  static char value[kValueSize] = {};
  for (const auto &k : keys) {  // warm: the stream's keys present, the arrays grown
    cache_set(c, k.bytes, kKeySize, value, kValueSize, CACHE_TTL_NONE);
  }
  if (link != nullptr && mode == 1) cache_store_flush(link, -1);
  uint32_t i = 0;
  int64_t failures = 0;
  for (auto _ : state) {
    const auto &k = keys[i];
    i = (i + 1) & kSeqMask;
    failures += cache_set(c, k.bytes, kKeySize, value, kValueSize, CACHE_TTL_NONE) != CACHE_OK;
  }
  state.SetItemsProcessed(state.iterations());
  if (link != nullptr) {
    cache_link_stats_t s{};
    cache_store_stats(link, &s, sizeof s);
    state.counters["coalesced/op"] =
        benchmark::Counter(static_cast<double>(s.coalesced), benchmark::Counter::kAvgIterations);
  }
  cache_close(c);
  if (failures != 0) state.SkipWithError("a set failed");
}

BENCHMARK(BM_Set)->ArgsProduct({{0, 1, 2}, {32768, 1048576}})->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
