// Pieces shared by the Google Benchmark programs (cache_bench, peer_bench):
// caches built once and kept, how threads walk a key sequence across runs,
// skipping a run, and the "min" statistic.

#ifndef LIBCACHE_BENCH_HARNESS_H_
#define LIBCACHE_BENCH_HARNESS_H_

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

#include "bench/workload.h"

namespace cache_bench {

// The cache named id for engine E, built by build(&err) on first use and kept
// for the process, so that repetitions and thread counts share it; a failed
// build is remembered too, so every run reports the same error. Building
// happens under a mutex, before any timed loop.
template <class E, class Build>
E *Memoize(const std::string &id, Build build, std::string *err) {
  static std::mutex mu;
  static std::map<std::string, std::unique_ptr<E>> built;
  static std::map<std::string, std::string> errors;
  std::lock_guard<std::mutex> lock(mu);
  if (built.count(id) == 0 && errors.count(id) == 0) {
    std::string e;
    std::unique_ptr<E> c = build(&e);
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

// Where each thread walks a kSeqLen sequence. A run's threads start evenly
// spaced around it (thread t at base + t * kSeqLen / threads), so that however
// long the run, they never walk the same ranks in lockstep and a rank recurs no
// sooner than about kSeqLen operations later, as it does for one thread. Each
// run continues from where the previous one stopped (Google Benchmark's
// iteration-count probes, repetitions, thread counts) instead of replaying the
// sequence's prefix, which would inflate the hit ratio of the evicting workload.
// One walk per workload and engine. Every thread reads it before the start
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
inline void Skip(benchmark::State &state, const std::string &why) {
  state.SkipWithError(why.c_str());
  for (auto _ : state) {
  }
}

// The fastest repetition, reported beside mean, median, stddev and cv: on a
// shared VM it shows what the code can do when nothing else interferes.
inline double Min(const std::vector<double> &v) { return *std::min_element(v.begin(), v.end()); }

}  // namespace cache_bench

#endif  // LIBCACHE_BENCH_HARNESS_H_
