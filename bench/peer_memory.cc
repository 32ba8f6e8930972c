// peer_memory: the memory one engine uses per entry beyond key and value, as
// the operating system sees it. Run once per engine, each in its own process
// (scripts/benchmarks.sh), so that no engine's freed or cached memory counts
// against another:
//
//   peer_memory <engine> [entries, default 1048576] [value bytes, default 100]
//
// engine: libcache, libcache-adaptive (the adaptive policy,
// CACHE_POLICY_ADAPTIVE), rocksdb-hcc, rocksdb-lru, leveldb-lru, mutex-lru.
// The cache gets the capacity peer_bench's resident workloads give it
// (bench/peers.h), so that nothing is evicted; keys are built one at a time
// (bench/workload.h KeyAt), so no key array sits in the measured memory.
// Resident set size is read from /proc/self/statm before the cache is opened
// and after every entry is loaded and checked present; the difference divided
// by the entries, minus key and value bytes, is the overhead per entry. It
// includes everything the engine allocated for those entries: headers,
// allocator rounding and page-level slack, tables (RocksDB's HyperClockCache
// allocates its whole table when opened), the peers' value blocks.
// The engine's own accounting (what it charges against its capacity) is
// reported beside it; for libcache (either policy) the two must agree within
// 10%.
// Filling without evicting leaves out what the adaptive policy builds at its
// first eviction (its shadow caches), so for libcache-adaptive a second
// measurement follows, reported as the field "after_eviction": in a child
// process (which shares the loaded cache's pages, so only what it adds counts),
// a second adaptive cache bounded by the bytes the first was charged for its n
// entries is filled until it evicts, then with 10% more keys; RSS, entries and
// charged bytes are all read at that point.
// Prints one JSON object on stdout.

#include <sys/wait.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

#include "bench/engines.h"
#include "bench/mutex_lru.h"
#include "bench/peers.h"
#include "bench/workload.h"

namespace cache_bench {
namespace {

constexpr double kAgreement = 0.10;  // libcache: |accounted - RSS| / RSS

uint64_t ResidentBytes() {
  FILE *f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int got = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

// Loads n keys; false (and a message when loud) when one did not stay resident.
template <class E>
bool Load(E *c, uint32_t n, size_t value_size, bool loud = true) {
  const char *value = ValueBytes();
  for (uint32_t i = 0; i < n; ++i) {
    const Key k = KeyAt(i, "key:");
    if (c->Set(k.bytes, kKeySize, value, value_size) != 0) {
      if (loud) std::fprintf(stderr, "peer_memory: set %u failed\n", i);
      return false;
    }
  }
  char buf[kMaxValueSize];
  for (uint32_t i = 0; i < n; i += 97) {  // a sample: the entry count covers the rest
    const Key k = KeyAt(i, "key:");
    size_t vlen = 0;
    if (c->Get(k.bytes, kKeySize, buf, sizeof buf, &vlen) != 0 || vlen != value_size) {
      if (loud) std::fprintf(stderr, "peer_memory: key %u not resident\n", i);
      return false;
    }
  }
  if (c->Entries() != n) {
    if (loud)
      std::fprintf(stderr, "peer_memory: %" PRIu64 " entries held, %u loaded\n", c->Entries(), n);
    return false;
  }
  return true;
}

// The capacity an engine is measured at: peer_bench's resident capacity,
// which every engine's memory is independent of, except HyperClockCache's.
template <class E>
Capacity MemoryCapacity(uint32_t n, size_t value_size) {
  return ResidentCapacity(n, value_size);
}

#if LIBCACHE_BENCH_ROCKSDB
// HyperClockCache allocates and charges its whole table when opened, sized
// from the capacity (capacity / (0.7 x estimated charge + 64 bytes) slots per
// shard, rounded up to a power of two), so given the generous resident
// capacity it would be measured with a mostly empty table. It is measured at
// the smallest capacity, in 2% steps, whose table and remaining charge hold
// all n entries with 3% to spare for uneven shards (the table admits
// entries up to 84% of its slots), checked by loading them. The search runs
// in a child process, so that none of its tables count in the measurement.
template <>
Capacity MemoryCapacity<RocksHyperClock>(uint32_t n, size_t value_size) {
  int fds[2];
  if (pipe(fds) != 0) return ResidentCapacity(n, value_size);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    const double charge = static_cast<double>(Blob::AllocSize(value_size));
    const double want = n * 1.03;
    for (double bytes = n * charge; bytes < 1e12; bytes *= 1.02) {
      const Capacity cap{0, static_cast<uint64_t>(bytes), value_size};
      {
        RocksHyperClock probe(cap);
        const double slots = static_cast<double>(probe.TableSlots());
        const double room = bytes - static_cast<double>(probe.ChargedBytes());
        if (0.84 * slots < want || room / charge < want) continue;
      }
      RocksHyperClock check(cap);
      if (!Load(&check, n, value_size, /*loud=*/false)) continue;
      const bool sent = write(fds[1], &cap.bytes, sizeof cap.bytes) == sizeof cap.bytes;
      _exit(sent ? 0 : 1);
    }
    _exit(1);
  }
  close(fds[1]);
  Capacity cap = ResidentCapacity(n, value_size);
  uint64_t bytes = 0;
  if (pid > 0 && read(fds[0], &bytes, sizeof bytes) == sizeof bytes) cap.bytes = bytes;
  close(fds[0]);
  if (pid > 0) waitpid(pid, nullptr, 0);
  return cap;
}
#endif

// What a measurement after eviction found (see the header comment).
struct Evicted {
  uint64_t keys = 0;         // keys inserted
  uint64_t fit = 0;          // keys inserted when the first eviction was seen
  uint64_t entries = 0;      // entries held at the end
  uint64_t evictions = 0;    // evictions at the end
  uint64_t rss_delta = 0;    // RSS added by the cache
  uint64_t charged = 0;      // bytes it charged at the end
};

bool IsLibcache(const char *engine) { return std::strncmp(engine, "libcache", 8) == 0; }

// libcache-adaptive's second measurement, in a child process: a cache of the
// same kind bounded by `bytes`, filled until it evicts and then with 10% more
// keys. False if the child failed.
template <class E>
bool MeasureEvicting(uint64_t bytes, size_t value_size, Evicted *out) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return false;
  }
  if (pid == 0) {
    close(fds[0]);
    Evicted r;
    const uint64_t before = ResidentBytes();
    {
      E c(Capacity{0, bytes, value_size});
      if (!c.ok()) _exit(1);
      const char *value = ValueBytes();
      constexpr uint64_t kCheckEvery = 1024;  // cache_stats sums every shard
      uint64_t stop = UINT64_MAX;
      for (uint64_t i = 0; i < stop; ++i) {
        const Key k = KeyAt(i, "evc:");
        if (c.Set(k.bytes, kKeySize, value, value_size) != 0) _exit(1);
        if (r.fit == 0 && (i + 1) % kCheckEvery == 0 && c.Evictions() != 0) {
          r.fit = i + 1;
          stop = r.fit + r.fit / 10;
        }
        if (i > (uint64_t{1} << 34)) _exit(1);  // never evicts
      }
      r.keys = stop;
      r.entries = c.Entries();
      r.evictions = c.Evictions();
      r.charged = c.ChargedBytes();
      const uint64_t after = ResidentBytes();
      r.rss_delta = after > before ? after - before : 0;
      const bool sent = write(fds[1], &r, sizeof r) == sizeof r;
      _exit(sent ? 0 : 1);  // the cache is not closed: nothing to free in a child
    }
  }
  close(fds[1]);
  const bool got = read(fds[0], out, sizeof *out) == sizeof *out;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return got && WIFEXITED(status) && WEXITSTATUS(status) == 0 && out->entries != 0;
}

template <class E>
int Measure(const char *engine, uint32_t n, size_t value_size) {
  const Capacity cap = MemoryCapacity<E>(n, value_size);
  {
    // Opens a small cache of the same kind first, so that one-time costs
    // (libcache loading mimalloc, the allocators' first arenas) are not
    // counted as per-entry memory.
    E warm(ResidentCapacity(1024, value_size));
    Load(&warm, 16, value_size);
  }
  const uint64_t before = ResidentBytes();
  auto c = std::make_unique<E>(cap);
  if (!c->ok()) {
    std::fprintf(stderr, "peer_memory: %s did not open\n", engine);
    return 1;
  }
  if (!Load(c.get(), n, value_size)) return 1;
  const uint64_t after = ResidentBytes();
  const double payload = static_cast<double>(kKeySize + value_size);
  const double rss_per_entry = static_cast<double>(after - before) / n;
  const double charged_per_entry = static_cast<double>(c->ChargedBytes()) / n;
  std::printf(
      "{\"engine\": \"%s\", \"entries\": %u, \"key_bytes\": %zu, \"value_bytes\": %zu, "
      "\"capacity_bytes\": %" PRIu64 ", \"capacity_fitted\": %s, \"rss_before\": %" PRIu64
      ", \"rss_after\": %" PRIu64
      ", \"rss_per_entry\": %.1f, \"rss_overhead\": %.1f, \"charged_per_entry\": %.1f, "
      "\"charged_overhead\": %.1f",
      engine, n, kKeySize, value_size, cap.bytes,
      cap.bytes != ResidentCapacity(n, value_size).bytes ? "true" : "false", before, after,
      rss_per_entry, rss_per_entry - payload, charged_per_entry, charged_per_entry - payload);
  if (IsLibcache(engine)) {
    const double gap = (charged_per_entry - rss_per_entry) / rss_per_entry;
    std::printf(", \"accounting_gap\": %.4f, \"accounting_agrees\": %s", gap,
                gap <= kAgreement && gap >= -kAgreement ? "true" : "false");
  }
  if constexpr (std::is_same_v<E, LibcacheAdaptive>) {
    Evicted ev;
    if (!MeasureEvicting<E>(c->ChargedBytes(), value_size, &ev)) {
      std::fprintf(stderr, "peer_memory: the measurement after eviction failed\n");
      return 1;
    }
    const double entries = static_cast<double>(ev.entries);
    const double rss = static_cast<double>(ev.rss_delta) / entries;
    const double charged = static_cast<double>(ev.charged) / entries;
    const double gap = (charged - rss) / rss;
    std::printf(
        ", \"after_eviction\": {\"capacity_bytes\": %" PRIu64 ", \"keys_inserted\": %" PRIu64
        ", \"keys_at_first_eviction\": %" PRIu64 ", \"entries\": %" PRIu64
        ", \"evictions\": %" PRIu64
        ", \"rss_per_entry\": %.1f, \"rss_overhead\": %.1f, \"charged_per_entry\": %.1f, "
        "\"charged_overhead\": %.1f, \"accounting_gap\": %.4f, \"accounting_agrees\": %s}",
        c->ChargedBytes(), ev.keys, ev.fit, ev.entries, ev.evictions, rss, rss - payload, charged,
        charged - payload, gap, gap <= kAgreement && gap >= -kAgreement ? "true" : "false");
  }
  std::printf("}\n");
  return 0;
}

}  // namespace
}  // namespace cache_bench

int main(int argc, char **argv) {
  using namespace cache_bench;
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s engine [entries] [value bytes]\n", argv[0]);
    return 2;
  }
  const std::string engine = argv[1];
  const auto n = static_cast<uint32_t>(argc > 2 ? std::strtoul(argv[2], nullptr, 10) : kLargeKeys);
  const size_t value_size = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : kValueSize;
  if (n == 0 || value_size > kMaxValueSize) {
    std::fprintf(stderr, "peer_memory: entries must be > 0 and values at most %zu bytes\n",
                 kMaxValueSize);
    return 2;
  }
  if (engine == "libcache") return Measure<Libcache>("libcache", n, value_size);
  if (engine == "libcache-adaptive") {
    return Measure<LibcacheAdaptive>("libcache-adaptive", n, value_size);
  }
  if (engine == "mutex-lru") return Measure<MutexLru>("mutex-lru", n, value_size);
#if LIBCACHE_BENCH_ROCKSDB
  if (engine == "rocksdb-hcc") return Measure<RocksHyperClock>("rocksdb-hcc", n, value_size);
  if (engine == "rocksdb-lru") return Measure<RocksLru>("rocksdb-lru", n, value_size);
#endif
#if LIBCACHE_BENCH_LEVELDB
  if (engine == "leveldb-lru") return Measure<LevelDbLru>("leveldb-lru", n, value_size);
#endif
  std::fprintf(stderr, "peer_memory: unknown engine %s (or not built in)\n", engine.c_str());
  return 2;
}
