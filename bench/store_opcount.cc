// store_opcount: instructions per cache_set with and without a write-behind
// link, counted by callgrind (repeatable where timings are noisy; the
// instruction-count companion of store_bench).
//
//   valgrind --tool=callgrind --collect-atstart=no
//       build-bench/bench/store_opcount <mode> [keys] [ops]
//
// mode 0: no link; 1: a link to a no-op store with default options (the
// flusher runs, its instructions on its own thread are counted too: callgrind
// counts every thread); 2: the link with a flusher that never runs (what
// enqueueing itself costs). The cache and the key stream are those of
// store_bench (16-byte keys, 100-byte values, Zipf 0.99); N sets run
// uncollected to warm up, then N more with collection on.

#include <libcache/cache.h>
#include <libcache/cache_experimental.h>
#include <libcache/cache_store.h>
#include <valgrind/callgrind.h>

#include <cstdio>
#include <cstdlib>

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

__attribute__((noinline)) int Run(cache_t *c, const std::vector<cache_bench::Key> &keys,
                                  uint32_t start, uint64_t n) {
  static char value[kValueSize] = {};
  int failures = 0;
  uint32_t i = start;
  for (uint64_t k = 0; k < n; ++k) {
    const auto &key = keys[i];
    i = (i + 1) & kSeqMask;
    failures += cache_set(c, key.bytes, kKeySize, value, kValueSize, CACHE_TTL_NONE) != CACHE_OK;
  }
  return failures;
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s 0|1|2 [keys] [ops]\n", argv[0]);
    return 2;
  }
  const int mode = std::atoi(argv[1]);
  const auto keys_n = static_cast<uint32_t>(argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 32768);
  const uint64_t n = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 200000;
  cache_options_t *o = cache_options_new();
  cache_options_set_max_bytes(o, uint64_t{keys_n} * 400 + (uint64_t{64} << 20));
  cache_options_set_hash_seed(o, 1);
  cache_t *c = nullptr;
  if (cache_open(o, &c) != CACHE_OK) return 1;
  cache_options_free(o);
  cache_link_t *link = nullptr;
  if (mode != 0) {
    cache_store_t store{};
    store.struct_size = sizeof store;
    store.write_batch = &NoopWrite;
    cache_store_options_t *so = cache_store_options_new();
    if (mode == 2) {
      cache_store_options_set_flush_interval_ms(so, uint64_t{1} << 40);
      cache_store_options_set_max_queue(so, uint64_t{1} << 32, uint64_t{1} << 23);
      cache_store_options_set_batch(so, 65536, uint64_t{1} << 30);
    }
    const int rc = cache_store_attach(c, &store, so, &link);
    cache_store_options_free(so);
    if (rc != CACHE_OK) return 1;
  }
  const auto &keys = cache_bench::KeyStream(keys_n, Dist::kZipf99, /*miss=*/false);
  int failures = Run(c, keys, 0, n);  // warm-up, not collected
  CALLGRIND_TOGGLE_COLLECT;
  failures += Run(c, keys, static_cast<uint32_t>(n & kSeqMask), n);
  CALLGRIND_TOGGLE_COLLECT;
  std::printf("mode=%d keys=%u ops=%llu failures=%d\n", mode, keys_n,
              static_cast<unsigned long long>(n), failures);
  cache_close(c);
  return failures != 0;
}
