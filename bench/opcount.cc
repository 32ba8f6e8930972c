// cache_opcount: runs exactly N operations of one cache_bench workload with
// callgrind collecting only those operations, so that instructions per
// operation can be counted repeatably on a noisy machine (bench/opcount.sh
// runs it for every workload and prints the table).
//
//   valgrind --tool=callgrind --collect-atstart=no
//       build-bench/bench/cache_opcount get-hit-32k libcache 200000
//
// Workloads: get-hit-32k, get-hit-1m, get-miss, set-evict; engines: libcache,
// libcache-adaptive (CACHE_POLICY_ADAPTIVE), mutex-lru. The cache is built and warmed exactly as cache_bench does, then
// N operations run untimed (to warm caches and branch predictors), then N more
// run with collection on. Callgrind's total divided by N is the cost of one
// operation, including the loop.

#include <valgrind/callgrind.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "bench/engines.h"
#include "bench/mutex_lru.h"
#include "bench/workload.h"

namespace cache_bench {
namespace {

enum class Op { kGet, kSet };

struct Workload {
  const char *name;
  Op op;
  bool resident;  // BuildResident, else BuildEvicting
  uint32_t n;
  bool miss_keys;
};

constexpr Workload kWorkloads[] = {
    {"get-hit-32k", Op::kGet, true, kSmallKeys, false},
    {"get-hit-1m", Op::kGet, true, kLargeKeys, false},
    {"get-miss", Op::kGet, true, kSmallKeys, true},
    {"set-evict", Op::kSet, false, kEvictKeySpace, false},
};

// Runs n operations from position start of the sequence; returns how many
// gets found their key (0 for sets) so the work cannot be optimized away.
template <class E>
__attribute__((noinline)) uint64_t Run(E *c, const Workload &w, uint32_t start, uint64_t n) {
  const Key *stream = KeyStream(w.n, w.miss_keys).data();
  uint32_t i = start;
  char buf[128];
  size_t vlen = 0;
  uint64_t found = 0;
  for (uint64_t k = 0; k < n; ++k) {
    const Key &key = stream[i];
    i = (i + 1) & kSeqMask;
    if (w.op == Op::kGet) {
      found += c->Get(key.bytes, kKeySize, buf, sizeof buf, &vlen) == 0;
    } else {
      c->Set(key.bytes, kKeySize, kValue, kValueSize);
    }
  }
  return found;
}

template <class E>
int Main(const Workload &w, uint64_t n) {
  std::string err;
  // The capacities cache_bench uses (in entries).
  std::unique_ptr<E> c = w.resident
                             ? BuildResident<E>(w.n, Capacity{uint64_t{w.n} * 5 / 4}, &err)
                             : BuildEvicting<E>(w.n, Dist::kZipf99, Capacity{w.n / 10}, &err);
  if (c == nullptr) {
    std::fprintf(stderr, "cache_opcount: %s\n", err.c_str());
    return 1;
  }
  const uint64_t evictions_before_warm = c->Evictions();
  Run(c.get(), w, 0, n);  // warm-up, not collected
  const uint64_t evictions_before = c->Evictions();
  CALLGRIND_TOGGLE_COLLECT;
  const uint64_t found = Run(c.get(), w, static_cast<uint32_t>(n & kSeqMask), n);
  CALLGRIND_TOGGLE_COLLECT;
  const uint64_t evictions = c->Evictions() - evictions_before;
  std::printf("workload=%s ops=%llu found=%llu evictions=%llu warmup_evictions=%llu\n", w.name,
              static_cast<unsigned long long>(n), static_cast<unsigned long long>(found),
              static_cast<unsigned long long>(evictions),
              static_cast<unsigned long long>(evictions_before - evictions_before_warm));
  return 0;
}

}  // namespace
}  // namespace cache_bench

int main(int argc, char **argv) {
  using namespace cache_bench;
  if (argc < 3) {
    std::fprintf(stderr,
                 "usage: %s get-hit-32k|get-hit-1m|get-miss|set-evict libcache|libcache-adaptive|mutex-lru [ops]\n",
                 argv[0]);
    return 2;
  }
  const uint64_t n = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 200000;
  for (const Workload &w : kWorkloads) {
    if (std::strcmp(argv[1], w.name) != 0) continue;
    if (std::strcmp(argv[2], "libcache") == 0) return Main<Libcache>(w, n);
    if (std::strcmp(argv[2], "libcache-adaptive") == 0) return Main<LibcacheAdaptive>(w, n);
    if (std::strcmp(argv[2], "mutex-lru") == 0) return Main<MutexLru>(w, n);
  }
  std::fprintf(stderr, "cache_opcount: unknown workload or engine\n");
  return 2;
}
