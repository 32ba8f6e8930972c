// peer_bench: libcache next to the caches a user would pick instead, on the
// same workloads, in the same run (scripts/benchmarks.sh runs it and writes
// docs/benchmarks.md):
//   libcache     the C ABI, through the shared library
//   rocksdb-hcc  RocksDB's HyperClockCache      (bench/peers.h)
//   rocksdb-lru  RocksDB's LRUCache             (bench/peers.h)
//   leveldb-lru  LevelDB's NewLRUCache          (bench/peers.h)
//   mutex-lru    std::mutex + unordered_map + list (bench/mutex_lru.h)
//
// One benchmark per engine and workload, named
//   Mix/<engine>/<distribution>/keys:<n>/write:<percent>/value:<bytes>
// and run at 1 and 2 threads on one shared cache, timed in real time, so
// items_per_second is aggregate throughput. Keys are 16 bytes; the key stream
// of each distribution (Zipf 0.99, Zipf 0.8, uniform over the n keys) and the
// write mask are precomputed (bench/workload.h), so the timed loop does no RNG
// and no allocation of its own. An operation is a write when the mask says so
// (write:5 = 5% writes at random positions), else a get that copies the value
// out.
//   write < 100  all n keys resident (loaded and checked in setup); writes
//                replace existing values, so every get must hit (reported as
//                get_misses when a peer's replace leaves a window).
//   write = 100  sets only, with eviction: capacity for about 10% of the keys,
//                warmed by one pass of the sequence; reports the entries the
//                engine holds at the end (and the capacity in bytes).
// Every engine gets the same capacity in bytes (ResidentCapacity,
// EvictingCapacity); what each charges for an entry is in bench/peers.h.
// Caches are built on first use and kept for the process.

#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/engines.h"
#include "bench/harness.h"
#include "bench/mutex_lru.h"
#include "bench/peers.h"
#include "bench/workload.h"

#if LIBCACHE_BENCH_ROCKSDB
#include <rocksdb/version.h>
#endif
#if LIBCACHE_BENCH_LEVELDB
#include <leveldb/db.h>
#endif

namespace cache_bench {
namespace {

struct Mix {
  uint32_t keys;
  Dist dist;
  int write_pct;  // 100: evicting; else resident
  size_t value_size;

  bool evicting() const { return write_pct == 100; }
  std::string Name() const {
    return std::string(DistName(dist)) + "/keys:" + std::to_string(keys) +
           "/write:" + std::to_string(write_pct) + "/value:" + std::to_string(value_size);
  }
};

template <class E>
E *CacheFor(const Mix &mix, std::string *err) {
  if (mix.evicting()) {
    return Memoize<E>(
        "evicting/" + mix.Name(),
        [mix](std::string *e) {
          return BuildEvicting<E>(mix.keys, mix.dist, EvictingCapacity(mix.keys, mix.value_size),
                                  e);
        },
        err);
  }
  // Resident caches serve every distribution and mix of one size: writes
  // store the same bytes again.
  return Memoize<E>(
      "resident/" + std::to_string(mix.keys) + "/" + std::to_string(mix.value_size),
      [mix](std::string *e) {
        return BuildResident<E>(mix.keys, ResidentCapacity(mix.keys, mix.value_size), e);
      },
      err);
}

template <class E>
void BM_Mix(benchmark::State &state, const Mix &mix, SequenceWalk *walk) {
  std::string err;
  E *c = CacheFor<E>(mix, &err);
  if (c == nullptr) return Skip(state, err);
  const Key *stream = KeyStream(mix.keys, mix.dist, /*miss=*/false).data();
  const uint8_t *writes = WriteMask(mix.write_pct).data();
  const char *value = ValueBytes();
  uint32_t i = walk->Start(state);
  char buf[kMaxValueSize];
  size_t vlen = 0;
  int64_t gets = 0, hits = 0, failures = 0;
  for (auto _ : state) {
    const Key &k = stream[i];
    if (writes[i]) {
      failures += c->Set(k.bytes, kKeySize, value, mix.value_size) != 0;
    } else {
      ++gets;
      hits += c->Get(k.bytes, kKeySize, buf, sizeof buf, &vlen) == 0;
      benchmark::DoNotOptimize(buf);
    }
    i = (i + 1) & kSeqMask;
  }
  walk->Finish(state);
  state.SetItemsProcessed(state.iterations());
  if (gets != 0) {
    // Summed over the threads.
    state.counters["gets"] = static_cast<double>(gets);
    state.counters["get_misses"] = static_cast<double>(gets - hits);
  }
  // Thread 0 reads the entry count after the stop barrier, when no thread is
  // in its timed loop.
  if (mix.evicting() && state.thread_index() == 0) {
    state.counters["entries"] = static_cast<double>(c->Entries());
    state.counters["capacity_bytes"] =
        static_cast<double>(EvictingCapacity(mix.keys, mix.value_size).bytes);
  }
  if (failures != 0) {
    state.SkipWithError("a set failed");
  } else if ((gets - hits) * 100 > gets) {
    state.SkipWithError("over 1% of gets missed a resident key (evicted?)");
  }
}

// The workloads: every working set, distribution and mix with 100-byte
// values, then a subset with 1 KiB values (reads and a 25% write mix on the
// resident 32k keys, sets with eviction over 1M keys), Zipf 0.99.
std::vector<Mix> Workloads() {
  std::vector<Mix> out;
  for (const uint32_t keys : {kSmallKeys, kLargeKeys}) {
    for (const Dist d : {Dist::kZipf99, Dist::kZipf80, Dist::kUniform}) {
      for (const int w : {0, 5, 25, 100}) out.push_back(Mix{keys, d, w, kValueSize});
    }
  }
  out.push_back(Mix{kSmallKeys, Dist::kZipf99, 0, kMaxValueSize});
  out.push_back(Mix{kSmallKeys, Dist::kZipf99, 25, kMaxValueSize});
  out.push_back(Mix{kLargeKeys, Dist::kZipf99, 100, kMaxValueSize});
  return out;
}

template <class E>
void Register(const char *engine, const Mix &mix) {
  // One walk per benchmark, alive for the process.
  auto *walk = new SequenceWalk;
  const std::string name = std::string("Mix/") + engine + "/" + mix.Name();
  benchmark::RegisterBenchmark(name.c_str(),
                               [mix, walk](benchmark::State &s) { BM_Mix<E>(s, mix, walk); })
      ->Threads(1)
      ->Threads(2)
      ->UseRealTime()
      ->ComputeStatistics("min", &Min);
}

// The engines of each workload are registered next to each other, so that
// without --benchmark_enable_random_interleaving (scripts/benchmarks.sh sets
// it) they still run close together in time on a noisy machine.
void RegisterAll() {
  for (const Mix &mix : Workloads()) {
    Register<Libcache>("libcache", mix);
#if LIBCACHE_BENCH_ROCKSDB
    Register<RocksHyperClock>("rocksdb-hcc", mix);
    Register<RocksLru>("rocksdb-lru", mix);
#endif
#if LIBCACHE_BENCH_LEVELDB
    Register<LevelDbLru>("leveldb-lru", mix);
#endif
    Register<MutexLru>("mutex-lru", mix);
  }
}

void AddContext() {
  benchmark::AddCustomContext("libcache_version", cache_version_string());
  benchmark::AddCustomContext("libcache_allocator", cache_allocator_name());
  std::string peers;
#if LIBCACHE_BENCH_ROCKSDB
  peers += "rocksdb " + std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." +
           std::to_string(ROCKSDB_PATCH) + "; ";
#endif
#if LIBCACHE_BENCH_LEVELDB
  peers += "leveldb " + std::to_string(leveldb::kMajorVersion) + "." +
           std::to_string(leveldb::kMinorVersion) + "; ";
#endif
  benchmark::AddCustomContext("peers", peers + "mutex-lru (in this binary)");
  const auto shards = [](const Capacity &cap) { return std::to_string(Libcache(cap).shards()); };
  benchmark::AddCustomContext(
      "libcache_shards", "resident 32k: " + shards(ResidentCapacity(kSmallKeys, kValueSize)) +
                             ", resident 1M: " + shards(ResidentCapacity(kLargeKeys, kValueSize)) +
                             ", evicting 32k: " + shards(EvictingCapacity(kSmallKeys, kValueSize)) +
                             ", evicting 1M: " + shards(EvictingCapacity(kLargeKeys, kValueSize)));
  benchmark::AddCustomContext("capacity", "resident: keys x (16 + value + " +
                                              std::to_string(kResidentOverhead) +
                                              ") x 5/4 bytes; evicting: keys/10 x (16 + value + " +
                                              std::to_string(kEvictingOverhead) + ") bytes");
}

}  // namespace
}  // namespace cache_bench

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  cache_bench::RegisterAll();
  cache_bench::AddContext();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
