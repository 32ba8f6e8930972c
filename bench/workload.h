// Workload data for the benchmarks (cache_bench, peer_bench, peer_memory,
// cache_opcount): fixed-shape keys, rank sequences and write masks, generated
// once with fixed seeds, outside any timed loop.
//
// Every key is exactly 16 bytes ("key:" or "mis:" plus 12 hex digits). Key i of
// a set encodes (i * an odd constant) mod 2^48, a bijection, so keys are unique
// and scattered without a collision check. A rank sequence holds kSeqLen ranks
// in [0, n) drawn from one distribution (Zipf 0.99, Zipf 0.8 or uniform); rank
// r names key r. The timed loops read a key stream, the keys of a sequence
// copied out in order (16 MiB, read sequentially, so hardware prefetch keeps it
// in cache): a caller has its key at hand, and the cache miss that indexing a
// 16 MiB key array at random would cost on the cold tail of the 1M-key
// workloads belongs to the harness, not to the engine.

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
#include <tuple>
#include <utility>
#include <vector>

namespace cache_bench {

constexpr size_t kKeySize = 16;
constexpr size_t kValueSize = 100;
constexpr size_t kMaxValueSize = 1024;           // the largest value a workload stores
constexpr uint32_t kSeqLen = uint32_t{1} << 20;  // ranks per sequence
constexpr uint32_t kSeqMask = kSeqLen - 1;
constexpr uint64_t kZipfSeed = 0x5eed0c0ffee5eedULL;
constexpr uint64_t kWriteMaskSeed = 0x77726974656d736bULL;

// How a sequence draws its ranks.
enum class Dist { kZipf99, kZipf80, kUniform };

inline const char *DistName(Dist d) {
  switch (d) {
    case Dist::kZipf99:
      return "zipf0.99";
    case Dist::kZipf80:
      return "zipf0.8";
    case Dist::kUniform:
      return "uniform";
  }
  return "?";
}

// Workload sizes.
constexpr uint32_t kSmallKeys = 32768;        // get-hit / get-miss, resident keys
constexpr uint32_t kLargeKeys = 1048576;      // get-hit, resident keys
constexpr uint32_t kEvictKeySpace = 1048576;  // set-evict key space; capacity 1/10 of it

struct Key {
  char bytes[kKeySize];
};

// Key i of the set named by prefix: "<prefix>%012x"; prefix must be 4
// characters. peer_memory builds keys one at a time with it, so that no key
// array sits in the memory it measures.
inline Key KeyAt(uint64_t i, const char *prefix) {
  const uint64_t x = (i * 0x9E3779B97F4A7C15ULL) & ((uint64_t{1} << 48) - 1);
  char tmp[kKeySize + 1];
  std::snprintf(tmp, sizeof tmp, "%.4s%012llx", prefix, static_cast<unsigned long long>(x));
  Key k;
  std::memcpy(k.bytes, tmp, kKeySize);
  return k;
}

// n keys KeyAt(0..n-1, prefix).
inline std::vector<Key> MakeKeys(size_t n, const char *prefix) {
  std::vector<Key> keys(n);
  for (size_t i = 0; i < n; ++i) keys[i] = KeyAt(i, prefix);
  return keys;
}

// kSeqLen ranks drawn from Zipf(s) over [0, n), by inverting the CDF.
inline std::vector<uint32_t> MakeZipfSequence(uint32_t n, double s) {
  std::vector<double> cdf(n);
  double sum = 0;
  for (uint32_t r = 0; r < n; ++r) {
    sum += 1.0 / std::pow(static_cast<double>(r) + 1.0, s);
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

// kSeqLen ranks drawn uniformly from [0, n).
inline std::vector<uint32_t> MakeUniformSequence(uint32_t n) {
  std::mt19937_64 rng(kZipfSeed);
  std::uniform_int_distribution<uint32_t> pick(0, n - 1);
  std::vector<uint32_t> seq(kSeqLen);
  for (auto &rank : seq) rank = pick(rng);
  return seq;
}

inline std::vector<uint32_t> MakeSequence(uint32_t n, Dist d) {
  switch (d) {
    case Dist::kZipf99:
      return MakeZipfSequence(n, 0.99);
    case Dist::kZipf80:
      return MakeZipfSequence(n, 0.8);
    case Dist::kUniform:
      break;
  }
  return MakeUniformSequence(n);
}

// The value every cache_bench set stores.
inline constexpr char kValue[kValueSize + 1] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    "abcdefghijklmnopqrstuvwxyz01";

// kMaxValueSize bytes of value: a workload with values of size v stores the
// first v of them.
inline const char *ValueBytes() {
  static const std::vector<char> bytes = [] {
    std::vector<char> b(kMaxValueSize);
    for (size_t i = 0; i < b.size(); ++i) b[i] = kValue[i % kValueSize];
    return b;
  }();
  return bytes.data();
}

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

inline const std::vector<uint32_t> &RankSequence(uint32_t n, Dist d) {
  static std::mutex mu;
  static std::map<std::pair<uint32_t, Dist>, std::vector<uint32_t>> seqs;
  std::lock_guard<std::mutex> lock(mu);
  auto &seq = seqs[{n, d}];
  if (seq.empty()) seq = MakeSequence(n, d);
  return seq;
}

inline const std::vector<uint32_t> &ZipfSequence(uint32_t n) {
  return RankSequence(n, Dist::kZipf99);
}

// The keys of RankSequence(n, d), in order: from MissKeys() when miss, else
// from HitKeys(). kSeqLen keys, built on first use and kept for the process.
inline const std::vector<Key> &KeyStream(uint32_t n, Dist d, bool miss) {
  static std::mutex mu;
  static std::map<std::tuple<uint32_t, Dist, bool>, std::vector<Key>> streams;
  const std::vector<uint32_t> &seq = RankSequence(n, d);
  const std::vector<Key> &keys = miss ? MissKeys() : HitKeys();
  std::lock_guard<std::mutex> lock(mu);
  auto &stream = streams[{n, d, miss}];
  if (stream.empty()) {
    stream.reserve(seq.size());
    for (const uint32_t rank : seq) stream.push_back(keys[rank]);
  }
  return stream;
}

// Zipf 0.99, as cache_bench and cache_opcount use.
inline const std::vector<Key> &KeyStream(uint32_t n, bool miss) {
  return KeyStream(n, Dist::kZipf99, miss);
}

// kSeqLen flags, position i set when operation i of a mixed workload is a
// write: each set independently with probability write_pct / 100, so writes
// arrive at random rather than in a pattern the branch predictor learns.
// Built on first use and kept for the process.
inline const std::vector<uint8_t> &WriteMask(int write_pct) {
  static std::mutex mu;
  static std::map<int, std::vector<uint8_t>> masks;
  std::lock_guard<std::mutex> lock(mu);
  auto &mask = masks[write_pct];
  if (mask.empty()) {
    std::mt19937_64 rng(kWriteMaskSeed);
    std::uniform_int_distribution<int> pct(0, 99);
    mask.resize(kSeqLen);
    for (auto &m : mask) m = pct(rng) < write_pct ? 1 : 0;
  }
  return mask;
}

}  // namespace cache_bench

#endif  // LIBCACHE_BENCH_WORKLOAD_H_
