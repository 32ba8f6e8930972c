// Workload data for cache_bench: fixed-shape keys and Zipf index sequences,
// generated once with fixed seeds, outside any timed loop.
//
// Every key is exactly 16 bytes ("key:" or "mis:" plus 12 hex digits). Key i of
// a set encodes (i * an odd constant) mod 2^48, a bijection, so keys are unique
// and scattered without a collision check. A Zipf sequence holds kSeqLen ranks
// in [0, n); rank r names key r. The timed loops read a key stream, the keys of
// a Zipf sequence copied out in order (16 MiB, read sequentially, so hardware
// prefetch keeps it in cache): a caller has its key at hand, and the cache
// miss that indexing a 16 MiB key array at random would cost on the cold tail
// of the 1M-key workloads belongs to the harness, not to the engine.

#ifndef LIBCACHE_BENCH_WORKLOAD_H_
#define LIBCACHE_BENCH_WORKLOAD_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <random>
#include <utility>
#include <vector>

namespace cache_bench {

constexpr size_t kKeySize = 16;
constexpr size_t kValueSize = 100;
constexpr uint32_t kSeqLen = uint32_t{1} << 20;  // ranks per Zipf sequence
constexpr uint32_t kSeqMask = kSeqLen - 1;
constexpr double kZipfS = 0.99;
constexpr uint64_t kZipfSeed = 0x5eed0c0ffee5eedULL;

// Workload sizes.
constexpr uint32_t kSmallKeys = 32768;        // get-hit / get-miss, resident keys
constexpr uint32_t kLargeKeys = 1048576;      // get-hit, resident keys
constexpr uint32_t kEvictKeySpace = 1048576;  // set-evict key space; capacity 1/10 of it

struct Key {
  char bytes[kKeySize];
};

// n keys "<prefix>%012x"; prefix must be 4 characters.
inline std::vector<Key> MakeKeys(size_t n, const char *prefix) {
  std::vector<Key> keys(n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t x = (i * 0x9E3779B97F4A7C15ULL) & ((uint64_t{1} << 48) - 1);
    char tmp[kKeySize + 1];
    std::snprintf(tmp, sizeof tmp, "%.4s%012llx", prefix, static_cast<unsigned long long>(x));
    std::memcpy(keys[i].bytes, tmp, kKeySize);
  }
  return keys;
}

// kSeqLen ranks drawn from Zipf(kZipfS) over [0, n), by inverting the CDF.
inline std::vector<uint32_t> MakeZipfSequence(uint32_t n) {
  std::vector<double> cdf(n);
  double sum = 0;
  for (uint32_t r = 0; r < n; ++r) {
    sum += 1.0 / std::pow(static_cast<double>(r) + 1.0, kZipfS);
    cdf[r] = sum;
  }
  std::mt19937_64 rng(kZipfSeed);
  std::vector<uint32_t> seq(kSeqLen);
  for (auto &rank : seq) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53 * sum;
    const auto it = std::upper_bound(cdf.begin(), cdf.end(), u);
    rank = static_cast<uint32_t>(std::min<size_t>(it - cdf.begin(), n - 1));
  }
  return seq;
}

// The value every set stores.
inline constexpr char kValue[kValueSize + 1] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    "abcdefghijklmnopqrstuvwxyz01";

// The shared key sets and sequences, built on first use and kept for the
// process (thread-safe: function-local statics and a mutex).
inline const std::vector<Key> &HitKeys() {
  static const std::vector<Key> keys = MakeKeys(kLargeKeys, "key:");
  return keys;
}

inline const std::vector<Key> &MissKeys() {
  static const std::vector<Key> keys = MakeKeys(kSmallKeys, "mis:");
  return keys;
}

inline const std::vector<uint32_t> &ZipfSequence(uint32_t n) {
  static std::mutex mu;
  static std::map<uint32_t, std::vector<uint32_t>> seqs;
  std::lock_guard<std::mutex> lock(mu);
  auto &seq = seqs[n];
  if (seq.empty()) seq = MakeZipfSequence(n);
  return seq;
}

// The keys of ZipfSequence(n), in order: from MissKeys() when miss, else
// from HitKeys(). kSeqLen keys, built on first use and kept for the process.
inline const std::vector<Key> &KeyStream(uint32_t n, bool miss) {
  static std::mutex mu;
  static std::map<std::pair<uint32_t, bool>, std::vector<Key>> streams;
  const std::vector<uint32_t> &seq = ZipfSequence(n);
  const std::vector<Key> &keys = miss ? MissKeys() : HitKeys();
  std::lock_guard<std::mutex> lock(mu);
  auto &stream = streams[{n, miss}];
  if (stream.empty()) {
    stream.reserve(seq.size());
    for (const uint32_t rank : seq) stream.push_back(keys[rank]);
  }
  return stream;
}

}  // namespace cache_bench

#endif  // LIBCACHE_BENCH_WORKLOAD_H_
