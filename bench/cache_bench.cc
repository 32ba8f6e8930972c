// cache_bench: libcache against a std::mutex + unordered_map + list LRU, on the
// same workloads, in the same run (see bench/run_bench.sh and
// shared/PERFORMANCE.md).
//
// Workloads: 16-byte keys, 100-byte values, Zipf 0.99 key streams precomputed
// once with fixed seeds (bench/workload.h); the timed loops do no RNG and no
// allocation of their own.
//   BM_Get_Hit<E>/N      N keys resident (nothing evicted, checked in setup),
//                        gets into a stack buffer; every get must hit.
//   BM_Get_Miss<E>/32768 gets of never-inserted keys against the 32k cache.
//   BM_Set_Evict<E>/N    sets over a key space of N with capacity N/10
//                        (max_entries), warmed to steady state in setup;
//                        reports evictions/op.
// Each runs at 1 and 2 threads on one shared cache, timed in real time, so
// items_per_second is aggregate throughput. Caches are built lazily on first
// use (under a mutex, before the timed loop) and kept for the whole process,
// so repetitions and thread counts share them. peer_bench runs the peers.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include "bench/engines.h"
#include "bench/harness.h"
#include "bench/mutex_lru.h"
#include "bench/workload.h"

namespace cache_bench {
namespace {

// Capacities in entries, as the baseline counts them: resident caches have
// room for n * 5/4 entries (slack for uneven shards), evicting ones for n/10.
template <class E>
E *ResidentCache(uint32_t n, std::string *err) {
  return Memoize<E>(
      "resident/" + std::to_string(n),
      [n](std::string *e) { return BuildResident<E>(n, Capacity{uint64_t{n} * 5 / 4}, e); }, err);
}

template <class E>
E *EvictingCache(uint32_t n, std::string *err) {
  return Memoize<E>(
      "evicting/" + std::to_string(n),
      [n](std::string *e) {
        return BuildEvicting<E>(n, Dist::kZipf99, Capacity{uint64_t{n} / 10}, e);
      },
      err);
}

template <class E>
void BM_Get_Hit(benchmark::State &state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  std::string err;
  E *c = ResidentCache<E>(n, &err);
  if (c == nullptr) return Skip(state, err);
  const Key *stream = KeyStream(n, /*miss=*/false).data();
  static SequenceWalk walk;
  uint32_t i = walk.Start(state);
  char buf[128];
  size_t vlen = 0;
  int64_t hits = 0;
  for (auto _ : state) {
    const Key &k = stream[i];
    i = (i + 1) & kSeqMask;
    hits += c->Get(k.bytes, kKeySize, buf, sizeof buf, &vlen) == 0;
    benchmark::DoNotOptimize(buf);
  }
  walk.Finish(state);
  state.SetItemsProcessed(state.iterations());
  if (hits != state.iterations()) state.SkipWithError("a get in the hit workload missed");
}

template <class E>
void BM_Get_Miss(benchmark::State &state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  std::string err;
  E *c = ResidentCache<E>(n, &err);
  if (c == nullptr) return Skip(state, err);
  const Key *stream = KeyStream(n, /*miss=*/true).data();
  static SequenceWalk walk;
  uint32_t i = walk.Start(state);
  char buf[128];
  size_t vlen = 0;
  int64_t misses = 0;
  for (auto _ : state) {
    const Key &k = stream[i];
    i = (i + 1) & kSeqMask;
    misses += c->Get(k.bytes, kKeySize, buf, sizeof buf, &vlen) == CACHE_NOT_FOUND;
    benchmark::DoNotOptimize(buf);
  }
  walk.Finish(state);
  state.SetItemsProcessed(state.iterations());
  if (misses != state.iterations()) state.SkipWithError("a get in the miss workload hit");
}

template <class E>
void BM_Set_Evict(benchmark::State &state) {
  const auto n = static_cast<uint32_t>(state.range(0));
  std::string err;
  E *c = EvictingCache<E>(n, &err);
  if (c == nullptr) return Skip(state, err);
  const Key *stream = KeyStream(n, /*miss=*/false).data();
  static SequenceWalk walk;
  uint32_t i = walk.Start(state);
  // Thread 0 reads the eviction count before the start barrier and after the
  // stop barrier, when no thread is in its timed loop.
  const uint64_t evictions_before = state.thread_index() == 0 ? c->Evictions() : 0;
  int64_t failures = 0;
  for (auto _ : state) {
    const Key &k = stream[i];
    i = (i + 1) & kSeqMask;
    failures += c->Set(k.bytes, kKeySize, kValue, kValueSize) != 0;
  }
  walk.Finish(state);
  state.SetItemsProcessed(state.iterations());
  if (state.thread_index() == 0) {
    // kAvgIterations divides by the iterations of all threads together.
    state.counters["evictions/op"] = benchmark::Counter(
        static_cast<double>(c->Evictions() - evictions_before), benchmark::Counter::kAvgIterations);
  }
  if (failures != 0) state.SkipWithError("a set failed");
}

void OneAndTwoThreads(benchmark::internal::Benchmark *b) {
  b->Threads(1)->Threads(2)->UseRealTime()->ComputeStatistics("min", &Min);
}

// Each libcache family is followed by its baseline, so that without
// --benchmark_enable_random_interleaving (run_bench.sh sets it) the pair still
// runs close together in time on a noisy machine.
BENCHMARK_TEMPLATE(BM_Get_Hit, Libcache)->Arg(kSmallKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Get_Hit, LibcacheAdaptive)->Arg(kSmallKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Get_Hit, MutexLru)->Arg(kSmallKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Get_Hit, Libcache)->Arg(kLargeKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Get_Hit, LibcacheAdaptive)->Arg(kLargeKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Get_Hit, MutexLru)->Arg(kLargeKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Get_Miss, Libcache)->Arg(kSmallKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Get_Miss, LibcacheAdaptive)->Arg(kSmallKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Get_Miss, MutexLru)->Arg(kSmallKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Set_Evict, Libcache)->Arg(kEvictKeySpace)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Set_Evict, LibcacheAdaptive)->Arg(kEvictKeySpace)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Set_Evict, MutexLru)->Arg(kEvictKeySpace)->Apply(OneAndTwoThreads);

void AddContext() {
  benchmark::AddCustomContext("libcache_version", cache_version_string());
  benchmark::AddCustomContext("libcache_allocator", cache_allocator_name());
  benchmark::AddCustomContext("libcache_link", "shared library (calls through the PLT)");
  benchmark::AddCustomContext("workload", "16-byte keys, 100-byte values, Zipf 0.99, fixed seeds");
  const Libcache small(Capacity{uint64_t{kSmallKeys} * 5 / 4}),
      large(Capacity{uint64_t{kLargeKeys} * 5 / 4}), evict(Capacity{kEvictKeySpace / 10});
  benchmark::AddCustomContext("libcache_shards",
                              "hit 32k: " + std::to_string(small.shards()) +
                                  ", hit 1M: " + std::to_string(large.shards()) +
                                  ", set-evict: " + std::to_string(evict.shards()));
}

}  // namespace
}  // namespace cache_bench

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  cache_bench::AddContext();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
