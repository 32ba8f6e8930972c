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
// so repetitions and thread counts share them.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "bench/engines.h"
#include "bench/mutex_lru.h"
#include "bench/workload.h"

namespace cache_bench {
namespace {

// Caches built once per (engine, kind, size) and kept for the process; a
// failed build is remembered too, so every run reports the same error.
template <class E>
E *Memoize(const std::string &what, uint32_t n,
           std::unique_ptr<E> (*build)(uint32_t, std::string *), std::string *err) {
  static std::mutex mu;
  static std::map<std::pair<std::string, uint32_t>, std::unique_ptr<E>> built;
  static std::map<std::pair<std::string, uint32_t>, std::string> errors;
  std::lock_guard<std::mutex> lock(mu);
  const auto id = std::make_pair(what, n);
  if (built.count(id) == 0 && errors.count(id) == 0) {
    std::string e;
    auto c = build(n, &e);
    if (c != nullptr) {
      built[id] = std::move(c);
    } else {
      errors[id] = e;
    }
  }
  if (errors.count(id) != 0) {
    *err = errors[id];
    return nullptr;
  }
  return built[id].get();
}

template <class E>
E *ResidentCache(uint32_t n, std::string *err) {
  return Memoize<E>("resident", n, &BuildResident<E>, err);
}

template <class E>
E *EvictingCache(uint32_t n, std::string *err) {
  return Memoize<E>("evicting", n, &BuildEvicting<E>, err);
}

// Where each thread walks the Zipf sequence. A run's threads start evenly
// spaced around it (thread t at base + t * kSeqLen / threads), so that however
// long the run, they never walk the same ranks in lockstep and a rank recurs no
// sooner than about kSeqLen operations later, as it does for one thread. Each
// run continues from where the previous one stopped (Google Benchmark's
// iteration-count probes, repetitions, thread counts) instead of replaying the
// sequence's prefix, which would inflate the hit ratio of the evicting workload.
// One base per workload and engine. Every thread reads it before the start
// barrier; thread 0 advances it after the stop barrier.
class SequenceWalk {
 public:
  uint32_t Start(const benchmark::State &state) const {
    const uint64_t offset = static_cast<uint64_t>(state.thread_index()) * kSeqLen / state.threads();
    return static_cast<uint32_t>((base_.load(std::memory_order_relaxed) + offset) & kSeqMask);
  }
  void Finish(const benchmark::State &state) {
    if (state.thread_index() == 0) {
      base_.fetch_add(static_cast<uint64_t>(state.iterations()), std::memory_order_relaxed);
    }
  }

 private:
  // relaxed: the barriers of the benchmark's threads order the accesses.
  std::atomic<uint64_t> base_{0};
};

// Skips the run; the loop must still be entered so the threads' barriers match.
void Skip(benchmark::State &state, const std::string &why) {
  state.SkipWithError(why.c_str());
  for (auto _ : state) {
  }
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

// The fastest repetition, reported beside mean, median, stddev and cv: on a
// shared VM it shows what the code can do when nothing else interferes.
double Min(const std::vector<double> &v) { return *std::min_element(v.begin(), v.end()); }

void OneAndTwoThreads(benchmark::internal::Benchmark *b) {
  b->Threads(1)->Threads(2)->UseRealTime()->ComputeStatistics("min", &Min);
}

// Each libcache family is followed by its baseline, so that without
// --benchmark_enable_random_interleaving (run_bench.sh sets it) the pair still
// runs close together in time on a noisy machine.
BENCHMARK_TEMPLATE(BM_Get_Hit, Libcache)->Arg(kSmallKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Get_Hit, MutexLru)->Arg(kSmallKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Get_Hit, Libcache)->Arg(kLargeKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Get_Hit, MutexLru)->Arg(kLargeKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Get_Miss, Libcache)->Arg(kSmallKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Get_Miss, MutexLru)->Arg(kSmallKeys)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Set_Evict, Libcache)->Arg(kEvictKeySpace)->Apply(OneAndTwoThreads);
BENCHMARK_TEMPLATE(BM_Set_Evict, MutexLru)->Arg(kEvictKeySpace)->Apply(OneAndTwoThreads);

void AddContext() {
  benchmark::AddCustomContext("libcache_version", cache_version_string());
  benchmark::AddCustomContext("libcache_allocator", cache_allocator_name());
  benchmark::AddCustomContext("libcache_link", "shared library (calls through the PLT)");
  benchmark::AddCustomContext("workload", "16-byte keys, 100-byte values, Zipf 0.99, fixed seeds");
  const Libcache small(uint64_t{kSmallKeys} * 5 / 4), large(uint64_t{kLargeKeys} * 5 / 4),
      evict(kEvictKeySpace / 10);
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
