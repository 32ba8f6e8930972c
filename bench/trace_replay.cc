// trace_replay: hit ratios of the real engine on the shared cache traces, next
// to an exact LRU simulator in the same program, with each eviction policy.
//
//   trace_replay <traces dir> <trace>:<capacity>[:<best>] ...   (e.g. oltp:250:21.7)
//
// <best>: the best reference policy's hit ratio on that row (the traces'
// README), for the adaptive policy's check.
//
// Each <trace>.keys.gz holds one key per line. Every request is replayed
// single-threaded as shared/traces/README.md describes: a get, and on a miss a
// set of the key; capacity is a number of entries. libcache is driven through
// the C ABI with max_entries = capacity and no byte bound (zero-byte values,
// so that only the policy decides what stays), with each policy (CLOCK, the
// default, and the adaptive policy), three ways:
//   1 shard        cache_options_set_shards(1): the policy alone
//   default        shards chosen automatically, as a user gets them
//   8 shards       forced, for information: what splitting a small capacity
//                  across shards costs (not a default at these sizes)
// The LRU simulator is a list in recency order plus a hash map. Prints one
// JSON object on stdout and a PASS/FAIL line per row on stderr: PASS when
//   CLOCK, with one shard and with the default shards, is within kTolerance
//   points of LRU or better, and
//   the adaptive policy is, with one shard, within kAdaptiveBest points of
//   <best> and at most kAdaptiveLru below LRU; with the default shards, within
//   kAdaptiveBestSharded and kAdaptiveLruSharded (shared/PERFORMANCE.md).

#include <libcache/cache.h>
#include <libcache/cache_experimental.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <list>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

constexpr double kTolerance = 0.5;  // percentage points below LRU
constexpr double kAdaptiveBest = 2.0, kAdaptiveLru = 1.0;
constexpr double kAdaptiveBestSharded = 3.0, kAdaptiveLruSharded = 2.0;
constexpr uint32_t kForcedShards = 8;
constexpr uint64_t kHashSeed = 0x7472616365736565ULL;  // fixed: reproducible shard choice

// A trace held in memory: its decompressed text and one view per line.
struct Trace {
  std::string text;
  std::vector<std::string_view> keys;
  size_t unique = 0;
};

bool LoadTrace(const std::string &path, Trace *t) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) t->text.append(buf, static_cast<size_t>(n));
  const bool ok = n == 0;
  gzclose(f);
  if (!ok) return false;
  size_t start = 0;
  while (start < t->text.size()) {
    size_t end = t->text.find('\n', start);
    if (end == std::string::npos) end = t->text.size();
    size_t len = end - start;
    if (len != 0 && t->text[start + len - 1] == '\r') --len;
    if (len != 0) t->keys.emplace_back(t->text.data() + start, len);
    start = end + 1;
  }
  std::unordered_map<std::string_view, char> seen(t->keys.size());
  for (const auto k : t->keys) seen.emplace(k, 0);
  t->unique = seen.size();
  return true;
}

// Exact LRU: percentage of requests that hit.
double SimulateLru(const Trace &t, uint64_t capacity) {
  std::list<std::string_view> order;  // most recent first
  std::unordered_map<std::string_view, std::list<std::string_view>::iterator> where(capacity * 2);
  uint64_t hits = 0;
  for (const auto k : t.keys) {
    const auto it = where.find(k);
    if (it != where.end()) {
      ++hits;
      order.splice(order.begin(), order, it->second);
      continue;
    }
    if (where.size() >= capacity) {
      where.erase(order.back());
      order.pop_back();
    }
    order.push_front(k);
    where.emplace(k, order.begin());
  }
  return 100.0 * static_cast<double>(hits) / static_cast<double>(t.keys.size());
}

// libcache through the C ABI; shards 0 = automatic. Returns the hit
// percentage, or a negative number on error; *used = the shard count.
double ReplayLibcache(const Trace &t, uint64_t capacity, uint32_t shards, int policy,
                      uint32_t *used) {
  cache_options_t *opts = cache_options_new();
  if (opts == nullptr) return -1;
  if (cache_options_set_policy(opts, policy) != CACHE_OK) {
    cache_options_free(opts);
    return -1;
  }
  cache_options_set_max_bytes(opts, 0);
  cache_options_set_max_entries(opts, capacity);
  cache_options_set_shards(opts, shards);
  cache_options_set_hash_seed(opts, kHashSeed);
  cache_t *c = nullptr;
  const int rc = cache_open(opts, &c);
  cache_options_free(opts);
  if (rc != CACHE_OK) {
    std::fprintf(stderr, "trace_replay: cache_open: %s\n", cache_strerror(rc));
    return -1;
  }
  *used = cache_shard_count(c);
  uint64_t hits = 0;
  for (const auto k : t.keys) {
    size_t vlen = 0;
    const int st = cache_get(c, k.data(), k.size(), nullptr, 0, &vlen);
    if (st == CACHE_OK) {
      ++hits;
    } else if (st == CACHE_NOT_FOUND) {
      if (cache_set(c, k.data(), k.size(), nullptr, 0, CACHE_TTL_NONE) != CACHE_OK) {
        cache_close(c);
        return -1;
      }
    } else {
      cache_close(c);
      return -1;
    }
  }
  cache_stats_t st{};
  cache_stats(c, &st, sizeof st);
  cache_close(c);
  if (st.hits != hits || st.entries > capacity) return -1;  // the engine's own count must agree
  return 100.0 * static_cast<double>(hits) / static_cast<double>(t.keys.size());
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s <traces dir> <trace>:<capacity> ...\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  std::map<std::string, Trace> traces;
  bool all_pass = true;
  std::printf("{\"tolerance_points\": %.1f, \"forced_shards\": %u, \"rows\": [", kTolerance,
              kForcedShards);
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t colon = arg.find(':');
    const uint64_t capacity =
        colon == std::string::npos ? 0 : std::strtoull(arg.c_str() + colon + 1, nullptr, 10);
    const size_t colon2 = colon == std::string::npos ? colon : arg.find(':', colon + 1);
    const double best = colon2 == std::string::npos ? -1 : std::strtod(arg.c_str() + colon2 + 1, nullptr);
    if (capacity == 0) {
      std::fprintf(stderr, "trace_replay: bad row %s (want trace:capacity)\n", arg.c_str());
      return 2;
    }
    const std::string name = arg.substr(0, colon);
    Trace &t = traces[name];
    if (t.keys.empty() && !LoadTrace(dir + "/" + name + ".keys.gz", &t)) {
      std::fprintf(stderr, "trace_replay: cannot read %s/%s.keys.gz\n", dir.c_str(), name.c_str());
      return 1;
    }
    uint32_t one = 0, dflt = 0, forced = 0;
    const double lru = SimulateLru(t, capacity);
    const double single = ReplayLibcache(t, capacity, 1, CACHE_POLICY_CLOCK, &one);
    const double automatic = ReplayLibcache(t, capacity, 0, CACHE_POLICY_CLOCK, &dflt);
    const double split = ReplayLibcache(t, capacity, kForcedShards, CACHE_POLICY_CLOCK, &forced);
    const double a_single = ReplayLibcache(t, capacity, 1, CACHE_POLICY_ADAPTIVE, &one);
    const double a_automatic = ReplayLibcache(t, capacity, 0, CACHE_POLICY_ADAPTIVE, &dflt);
    const double a_split =
        ReplayLibcache(t, capacity, kForcedShards, CACHE_POLICY_ADAPTIVE, &forced);
    if (single < 0 || automatic < 0 || split < 0 || a_single < 0 || a_automatic < 0 ||
        a_split < 0) {
      std::fprintf(stderr, "trace_replay: replay of %s failed\n", arg.c_str());
      return 1;
    }
    const bool clock_pass = single >= lru - kTolerance && automatic >= lru - kTolerance;
    const bool adaptive_pass =
        a_single >= lru - kAdaptiveLru && a_automatic >= lru - kAdaptiveLruSharded &&
        (best < 0 || (a_single >= best - kAdaptiveBest && a_automatic >= best - kAdaptiveBestSharded));
    const bool pass = clock_pass && adaptive_pass;
    all_pass = all_pass && pass;
    std::fprintf(stderr,
                 "%-8s %6llu  LRU %5.2f  best %5.1f | CLOCK 1 shard %5.2f  default (%u) %5.2f  "
                 "%u shards %5.2f | adaptive %5.2f  %5.2f  %5.2f  %s\n",
                 name.c_str(), static_cast<unsigned long long>(capacity), lru, best, single, dflt,
                 automatic, forced, split, a_single, a_automatic, a_split, pass ? "PASS" : "FAIL");
    std::printf(
        "%s\n  {\"trace\": \"%s\", \"capacity\": %llu, \"requests\": %zu, \"unique\": %zu, "
        "\"lru_sim\": %.4f, \"best_reference\": %.1f, \"libcache_1shard\": %.4f, "
        "\"libcache_default\": %.4f, \"default_shards\": %u, \"libcache_forced\": %.4f, "
        "\"adaptive_1shard\": %.4f, \"adaptive_default\": %.4f, \"adaptive_forced\": %.4f, "
        "\"clock_pass\": %s, \"adaptive_pass\": %s, \"pass\": %s}",
        i == 2 ? "" : ",", name.c_str(), static_cast<unsigned long long>(capacity), t.keys.size(),
        t.unique, lru, best, single, automatic, dflt, split, a_single, a_automatic, a_split,
        clock_pass ? "true" : "false", adaptive_pass ? "true" : "false", pass ? "true" : "false");
  }
  std::printf("\n], \"all_pass\": %s}\n", all_pass ? "true" : "false");
  return 0;
}
