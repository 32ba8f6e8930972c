// rss_shift: what the process really holds when the sizes of a cache's values
// shift over time, next to what the cache charges (stats.bytes).
//
//   rss_shift [--threads N] [--dist zipf|uniform] [--max-mib M] [--passes P]
//             [--phases 40,2048,30720,100] [--markdown]
//
// One cache of M MiB (default 64) through the C ABI of the shared library.
// Each phase stores values of one size under its own keys (16 bytes, a phase
// prefix and the key's rank): N threads (default 1) run get-then-set-on-miss
// over a key space of 4x what the cache holds at that size, ranks drawn from
// Zipf 0.99 (or uniformly, drawn afresh for each operation), until the phase has set P (default 4) times
// max_bytes of entries. Threads live through every phase and through
// cache_clear and cache_close, as a server's would: an idle thread is the
// worst case for allocators that only tidy a thread's memory when it
// allocates again.
//
// Resident set size is read from /proc/self/statm before cache_open (the
// baseline, after the samplers' tables are built and every thread has started),
// every 16384 operations of each thread (the peak) and at the end of each
// phase; then after cache_clear, cache_close, and the threads' exit.
// "RSS delta" is RSS minus the baseline; "ratio" is RSS delta / max_bytes.
// Prints a table, one row per phase (Markdown with --markdown).

#include <libcache/cache.h>
#include <libcache/cache_experimental.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/workload.h"

namespace {

uint64_t ResidentBytes() {
  FILE *f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int got = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return got == 2 ? resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

struct Config {
  int threads = 1;
  cache_bench::Dist dist = cache_bench::Dist::kZipf99;
  uint64_t max_bytes = uint64_t{64} << 20;
  double passes = 4;
  std::vector<size_t> phases = {40, 2048, 30720, 100};
  bool markdown = false;
};

// Ranks in [0, n): Zipf 0.99 by inverting its CDF (a binary search, drawn
// afresh for every operation: a fixed sequence replayed in a loop would touch
// a fixed set of keys, which would all end up resident), or uniform.
class Sampler {
 public:
  Sampler(uint32_t n, cache_bench::Dist dist) : n_(n) {
    if (dist == cache_bench::Dist::kUniform) return;
    cdf_.resize(n);
    double sum = 0;
    for (uint32_t r = 0; r < n; ++r) {
      sum += 1.0 / std::pow(static_cast<double>(r) + 1.0, 0.99);
      cdf_[r] = sum;
    }
  }
  uint32_t Draw(std::mt19937_64 &rng) const {
    const uint64_t x = rng();
    if (cdf_.empty()) return static_cast<uint32_t>((x >> 32) * n_ >> 32);
    const double u = static_cast<double>(x >> 11) * 0x1.0p-53 * cdf_.back();
    const auto it = std::upper_bound(cdf_.begin(), cdf_.end(), u);
    return static_cast<uint32_t>(std::min<size_t>(it - cdf_.begin(), n_ - 1));
  }

 private:
  uint32_t n_;
  std::vector<double> cdf_;
};

// A phase's work, shared by the threads.
struct Phase {
  size_t value_size = 0;
  uint32_t keys = 0;
  const Sampler *sampler = nullptr;
  uint64_t target_bytes = 0;  // stop once this many bytes of entries were set
  char prefix = 'a';
};

constexpr size_t kKeyBytes = 16;
constexpr uint32_t kSampleEvery = 16384;

void KeyFor(char prefix, uint32_t rank, char out[kKeyBytes]) {
  char tmp[kKeyBytes + 1];
  std::snprintf(tmp, sizeof tmp, "%c%015" PRIx32, prefix, rank);
  std::memcpy(out, tmp, kKeyBytes);
}

class Runner {
 public:
  explicit Runner(const Config &cfg) : cfg_(cfg) {}
  void set_cache(cache_t *c) { cache_ = c; }  // before the first Run

  // Starts the threads; they wait for phases.
  void Start() {
    for (int t = 0; t < cfg_.threads; ++t) workers_.emplace_back([this, t] { Loop(t); });
  }

  // Runs one phase on every thread and waits for all of them.
  void Run(const Phase &p) {
    std::unique_lock<std::mutex> lock(mu_);
    phase_ = p;
    set_bytes_.store(0);
    peak_.store(0);
    done_ = 0;
    ++generation_;
    cv_.notify_all();
    cv_done_.wait(lock, [this] { return done_ == cfg_.threads; });
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      ++generation_;
    }
    cv_.notify_all();
    for (auto &w : workers_) w.join();
  }

  uint64_t peak() const { return peak_.load(); }

 private:
  void Loop(int t) {
    uint64_t seen = 0;
    std::vector<char> value(cache_bench::kMaxValueSize);
    for (;;) {
      Phase p;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (stop_) return;
        p = phase_;
      }
      if (value.size() < p.value_size) value.resize(p.value_size);
      for (size_t i = 0; i < p.value_size; ++i) value[i] = static_cast<char>('a' + i % 26);
      std::mt19937_64 rng(cache_bench::kZipfSeed + static_cast<uint64_t>(t) * 7919 + p.prefix);
      const uint64_t entry = kKeyBytes + p.value_size;
      char key[kKeyBytes];
      uint32_t ops = 0;
      while (set_bytes_.load(std::memory_order_relaxed) < p.target_bytes) {
        KeyFor(p.prefix, p.sampler->Draw(rng), key);
        if (cache_read(cache_, key, kKeyBytes, nullptr, nullptr) == CACHE_NOT_FOUND) {
          if (cache_set(cache_, key, kKeyBytes, value.data(), p.value_size, CACHE_TTL_DEFAULT) !=
              CACHE_OK) {
            std::fprintf(stderr, "rss_shift: cache_set of %zu bytes failed\n", p.value_size);
            std::exit(1);
          }
          set_bytes_.fetch_add(entry, std::memory_order_relaxed);
        }
        if (++ops % kSampleEvery == 0) UpdatePeak(ResidentBytes());
      }
      UpdatePeak(ResidentBytes());
      std::lock_guard<std::mutex> lock(mu_);
      if (++done_ == cfg_.threads) cv_done_.notify_one();
    }
  }

  void UpdatePeak(uint64_t rss) {
    uint64_t cur = peak_.load(std::memory_order_relaxed);
    while (rss > cur && !peak_.compare_exchange_weak(cur, rss)) {
    }
  }

  const Config &cfg_;
  cache_t *cache_ = nullptr;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_, cv_done_;
  Phase phase_;
  uint64_t generation_ = 0;
  int done_ = 0;
  bool stop_ = false;
  std::atomic<uint64_t> set_bytes_{0};
  std::atomic<uint64_t> peak_{0};
};

bool ParseArgs(int argc, char **argv, Config *cfg) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--markdown") {
      cfg->markdown = true;
    } else if (a == "--threads" && v != nullptr) {
      cfg->threads = std::atoi(v);
      ++i;
    } else if (a == "--dist" && v != nullptr) {
      if (std::strcmp(v, "zipf") == 0) {
        cfg->dist = cache_bench::Dist::kZipf99;
      } else if (std::strcmp(v, "uniform") == 0) {
        cfg->dist = cache_bench::Dist::kUniform;
      } else {
        return false;
      }
      ++i;
    } else if (a == "--max-mib" && v != nullptr) {
      cfg->max_bytes = std::strtoull(v, nullptr, 10) << 20;
      ++i;
    } else if (a == "--passes" && v != nullptr) {
      cfg->passes = std::atof(v);
      ++i;
    } else if (a == "--phases" && v != nullptr) {
      cfg->phases.clear();
      for (const char *s = v; *s != '\0';) {
        char *end;
        cfg->phases.push_back(std::strtoul(s, &end, 10));
        s = *end == ',' ? end + 1 : end;
        if (end == s && *s != '\0') return false;
      }
      ++i;
    } else {
      return false;
    }
  }
  return cfg->threads >= 1 && cfg->max_bytes > 0 && cfg->passes > 0 && !cfg->phases.empty() &&
         std::all_of(cfg->phases.begin(), cfg->phases.end(),
                     [](size_t s) { return s <= (size_t{1} << 20); });
}

}  // namespace

int main(int argc, char **argv) {
  Config cfg;
  if (!ParseArgs(argc, argv, &cfg)) {
    std::fprintf(stderr,
                 "usage: %s [--threads N] [--dist zipf|uniform] [--max-mib M] [--passes P] "
                 "[--phases 40,2048,30720,100] [--markdown]\n",
                 argv[0]);
    return 2;
  }
  // Key spaces and rank sequences, built before the baseline.
  std::vector<Phase> phases;
  std::vector<std::unique_ptr<Sampler>> samplers;
  for (size_t i = 0; i < cfg.phases.size(); ++i) {
    Phase p;
    p.value_size = cfg.phases[i];
    const uint64_t held = cfg.max_bytes / (kKeyBytes + p.value_size + 40);
    p.keys = static_cast<uint32_t>(std::max<uint64_t>(4 * held, 1024));
    samplers.push_back(std::make_unique<Sampler>(p.keys, cfg.dist));
    p.sampler = samplers.back().get();
    p.target_bytes = static_cast<uint64_t>(cfg.passes * static_cast<double>(cfg.max_bytes));
    p.prefix = static_cast<char>('a' + i % 26);
    phases.push_back(p);
  }

  Runner runner(cfg);
  runner.Start();
  // Warms the allocator once (libcache loads mimalloc on first use), so that
  // one-time costs are not counted.
  {
    cache_options_t *opt = cache_options_new();
    cache_options_set_max_bytes(opt, 1 << 20);
    cache_t *warm = nullptr;
    if (cache_open(opt, &warm) != CACHE_OK) return 1;
    cache_options_free(opt);
    cache_set(warm, "warm", 4, "up", 2, CACHE_TTL_DEFAULT);
    cache_close(warm);
  }
  const uint64_t base = ResidentBytes();
  cache_options_t *opt = cache_options_new();
  cache_options_set_max_bytes(opt, cfg.max_bytes);
  cache_t *c = nullptr;
  const int rc = cache_open(opt, &c);
  cache_options_free(opt);
  if (rc != CACHE_OK) {
    std::fprintf(stderr, "rss_shift: cache_open: %s\n", cache_strerror(rc));
    return 1;
  }
  runner.set_cache(c);

  const double mb = static_cast<double>(cfg.max_bytes);
  auto delta = [base](uint64_t rss) {
    return static_cast<double>(rss > base ? rss - base : 0);
  };
  const char *sep = cfg.markdown ? " | " : "  ";
  std::printf("# rss_shift: allocator %s, max_bytes %.0f MiB, %d thread%s, %s keys, baseline RSS "
              "%.1f MiB\n",
              cache_allocator_name(), mb / (1 << 20), cfg.threads, cfg.threads == 1 ? "" : "s",
              cache_bench::DistName(cfg.dist), static_cast<double>(base) / (1 << 20));
  if (cfg.markdown) {
    std::printf("| step | value bytes | stats.bytes MiB | entries | RSS delta MiB | ratio | peak "
                "ratio |\n|---|---:|---:|---:|---:|---:|---:|\n");
  } else {
    std::printf("%-8s%s%11s%s%15s%s%9s%s%13s%s%6s%s%10s\n", "step", sep, "value bytes", sep,
                "stats.bytes MiB", sep, "entries", sep, "RSS delta MiB", sep, "ratio", sep,
                "peak ratio");
  }
  auto row = [&](const char *step, const char *value, double bytes, double entries, double rss,
                 double peak) {
    char peak_s[32] = "-";
    if (peak >= 0) std::snprintf(peak_s, sizeof peak_s, "%.3f", peak / mb);
    char bytes_s[32] = "-", entries_s[32] = "-";
    if (bytes >= 0) std::snprintf(bytes_s, sizeof bytes_s, "%.1f", bytes / (1 << 20));
    if (entries >= 0) std::snprintf(entries_s, sizeof entries_s, "%.0f", entries);
    if (cfg.markdown) {
      std::printf("| %s | %s | %s | %s | %.1f | %.3f | %s |\n", step, value, bytes_s, entries_s,
                  rss / (1 << 20), rss / mb, peak_s);
    } else {
      std::printf("%-8s%s%11s%s%15s%s%9s%s%13.1f%s%6.3f%s%10s\n", step, sep, value, sep, bytes_s,
                  sep, entries_s, sep, rss / (1 << 20), sep, rss / mb, sep, peak_s);
    }
    std::fflush(stdout);
  };
  auto stats = [c](cache_stats_t *s) { cache_stats(c, s, sizeof *s); };

  for (size_t i = 0; i < phases.size(); ++i) {
    runner.Run(phases[i]);
    cache_stats_t s;
    stats(&s);
    char step[16], value[16];
    std::snprintf(step, sizeof step, "phase %zu", i + 1);
    std::snprintf(value, sizeof value, "%zu", phases[i].value_size);
    row(step, value, static_cast<double>(s.bytes), static_cast<double>(s.entries),
        delta(ResidentBytes()), delta(runner.peak()));
  }
  cache_clear(c);
  {
    cache_stats_t s;
    stats(&s);
    row("clear", "-", static_cast<double>(s.bytes), static_cast<double>(s.entries),
        delta(ResidentBytes()), -1);
  }
  cache_close(c);
  row("close", "-", -1, -1, delta(ResidentBytes()), -1);
  runner.Stop();
  row("exit", "-", -1, -1, delta(ResidentBytes()), -1);
  return 0;
}
