// Concurrency stress for the C ABI: many threads mix every operation on one
// cache whose bounds force constant eviction and whose entries expire on a fake
// clock that other threads advance, so eviction and expiry race with reads.
//
// ## What is checked
// - Every value read (copied or pinned) carries its key's hash, the seed of the
//   write that stored it, a payload derived from both and a checksum: a torn,
//   freed-and-reused or misrouted value fails.
// - Pinned values keep their bytes after random delays, after being handed to
//   and released by another thread, after cache_clear() and cache_close().
// - Keys fall in TTL classes (see KeyClass). A "strict" key is never touched,
//   so the writer can publish the latest possible deadline of each write; a
//   read that starts at or after it must not return that write's value.
// - cache_ttl() answers agree with the key's class (-1 only without a TTL,
//   never below -1, never above the longest TTL used).
// - A monitor thread samples cache_stats(): entries <= max_entries,
//   bytes <= max_bytes, and no counter ever decreases.
// - At the end, exactly: hits + misses = reads issued, hits = reads that found
//   a value, sets = successful writes, deletes = successful deletes; both
//   evictions and expirations happened; a clock jump plus purge_expired()
//   leaves no strict key behind; clear() leaves no entry.
//
// ## Time
// Each test runs for a fixed wall time (shorter in sanitizer builds, where
// LIBCACHE_TEST_SANITIZED is defined), multiplied by $LIBCACHE_STRESS_SCALE.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "libcache/cache.h"
#include "libcache/cache_experimental.h"

namespace {

#if defined(LIBCACHE_TEST_SANITIZED)
constexpr double kBaseSeconds = 1.5;
#else
constexpr double kBaseSeconds = 2.0;
#endif

constexpr uint32_t kDefaultTtlMs = 20;  // the cache's default TTL
constexpr uint32_t kMaxTtlMs = 40;      // longest explicit TTL a worker uses
constexpr size_t kReadBuffer = 4096;    // larger than any value
constexpr int kMaxPinsPerThread = 16;
constexpr size_t kMaxExchange = 64;
constexpr uint32_t kPublishSlots = 4096;  // per writer thread, a power of two

double ScaledSeconds() {
  double scale = 1.0;
  if (const char *s = std::getenv("LIBCACHE_STRESS_SCALE")) scale = std::strtod(s, nullptr);
  if (!(scale > 0)) scale = 1.0;
  return kBaseSeconds * scale;
}

// ---- The fake clock ----------------------------------------------------------

// Milliseconds advanced by a ticker thread, and also, every 128th read on a
// thread, by the reader itself, so that time moves while a shard lock is held.
struct FakeClock {
  std::atomic<uint64_t> now{1000};

  static uint64_t Read(void *ctx) {
    auto *self = static_cast<FakeClock *>(ctx);
    thread_local uint32_t reads = 0;
    // relaxed: a single variable, so each thread's reads never go backwards.
    if ((++reads & 127) == 0) return self->now.fetch_add(2, std::memory_order_relaxed) + 2;
    return self->now.load(std::memory_order_relaxed);
  }
  uint64_t Peek() const { return now.load(std::memory_order_relaxed); }
};

// ---- Keys and self-checking values ---------------------------------------------

// The TTL discipline of a key, by id % 4.
enum class KeyClass {
  kNoTtl,   // always written and touched with CACHE_TTL_NONE
  kStrict,  // always written with a TTL, never touched
  kAny,     // anything goes (two ids out of four)
};

KeyClass ClassOf(uint32_t id) {
  switch (id % 4) {
    case 0:
      return KeyClass::kNoTtl;
    case 1:
      return KeyClass::kStrict;
    default:
      return KeyClass::kAny;
  }
}

uint64_t Fnv1a(const void *data, size_t n, uint64_t h = 14695981039346656037ull) {
  const auto *p = static_cast<const unsigned char *>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

uint64_t SplitMix(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

// A value: this header, payload_len bytes of SplitMix(key_hash ^ seed), then
// an 8-byte FNV-1a checksum of everything before it.
struct Header {
  uint64_t key_hash;  // Fnv1a of the key
  uint64_t seed;      // (writer index + 1) << 32 | writer's sequence number
  uint32_t payload_len;
  uint32_t ttl_ms;  // the TTL the write resolved to; 0 = none
};
constexpr size_t kMinValue = sizeof(Header) + sizeof(uint64_t);

void FillPayload(uint64_t state, unsigned char *out, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t w = SplitMix(&state);
    std::memcpy(out + i, &w, std::min<size_t>(8, n - i));
  }
}

std::string MakeValue(uint64_t key_hash, uint64_t seed, uint32_t payload_len, uint32_t ttl_ms) {
  std::string v(kMinValue + payload_len, '\0');
  auto *p = reinterpret_cast<unsigned char *>(&v[0]);
  const Header h{key_hash, seed, payload_len, ttl_ms};
  std::memcpy(p, &h, sizeof h);
  FillPayload(key_hash ^ seed, p + sizeof h, payload_len);
  const uint64_t sum = Fnv1a(p, sizeof h + payload_len);
  std::memcpy(p + sizeof h + payload_len, &sum, sizeof sum);
  return v;
}

// Empty string if data is a well-formed value for a key hashing to key_hash;
// otherwise what is wrong. Fills *out with the header.
std::string CheckValue(const void *data, size_t n, uint64_t key_hash, Header *out) {
  if (data == nullptr && n != 0) return "null data";
  if (n < kMinValue) return "value too short: " + std::to_string(n);
  const auto *p = static_cast<const unsigned char *>(data);
  Header h;
  std::memcpy(&h, p, sizeof h);
  if (h.key_hash != key_hash) return "value belongs to another key";
  if (n != kMinValue + h.payload_len) return "length disagrees with header";
  uint64_t sum;
  std::memcpy(&sum, p + sizeof h + h.payload_len, sizeof sum);
  if (sum != Fnv1a(p, sizeof h + h.payload_len)) return "checksum mismatch (torn value)";
  uint64_t state = key_hash ^ h.seed;
  for (size_t i = 0; i < h.payload_len; i += 8) {
    const uint64_t w = SplitMix(&state);
    if (std::memcmp(p + sizeof h + i, &w, std::min<size_t>(8, h.payload_len - i)) != 0) {
      return "payload mismatch";
    }
  }
  *out = h;
  return {};
}

// ---- Failure collection (gtest assertions from many threads would flood) ----

class Failures {
 public:
  void Add(const char *fmt, ...) __attribute__((format(printf, 2, 3))) {
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    std::lock_guard<std::mutex> lock(mu_);
    if (messages_.size() < 20) messages_.emplace_back(buf);
    count_.fetch_add(1, std::memory_order_relaxed);
  }
  bool Any() const { return count_.load(std::memory_order_relaxed) != 0; }
  void Report() {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto &m : messages_) ADD_FAILURE() << m;
    if (count_ > static_cast<int>(messages_.size())) {
      ADD_FAILURE() << (count_ - static_cast<int>(messages_.size())) << " more failures";
    }
  }

 private:
  std::mutex mu_;
  std::vector<std::string> messages_;  // GUARDED_BY(mu_)
  std::atomic<int> count_{0};
};

// ---- The harness ----------------------------------------------------------------

struct StressConfig {
  uint32_t shards;  // 0 = automatic
  uint64_t max_bytes;
  uint64_t max_entries;
  uint32_t key_space;
  int threads;
  uint32_t max_payload;  // most values are below 256 bytes; 1 in 20 up to this
  int policy = CACHE_POLICY_CLOCK;
};

struct Pinned {
  cache_value_t *value;
  uint32_t key;
  uint64_t seed;
  uint64_t release_at;  // the holder's op count
};

// Per-worker tallies, summed at the end and compared with cache_stats().
struct Tally {
  uint64_t ops = 0, reads = 0, read_hits = 0, writes_ok = 0, deletes_ok = 0;
};

class StressRun {
 public:
  explicit StressRun(const StressConfig &cfg);
  ~StressRun();
  void Run(double seconds);

 private:
  void Prefill();
  void Worker(int index);
  void Ticker();
  void Monitor();
  void CheckInvariants(const char *when);
  void FinalChecks();

  // One random operation; the op helpers return nothing and report failures.
  void DoOp(int index, std::mt19937_64 &rng, Tally *t, std::vector<Pinned> *pins);
  void DoGet(uint32_t id, size_t cap, Tally *t);
  void DoPin(uint32_t id, std::mt19937_64 &rng, Tally *t, std::vector<Pinned> *pins);
  void DoRead(uint32_t id, Tally *t);
  void DoWrite(int index, uint32_t id, int mode, std::mt19937_64 &rng, Tally *t);
  void DoTouch(uint32_t id, std::mt19937_64 &rng);
  void DoTtl(uint32_t id);
  void DoStats();
  void ReleasePins(std::vector<Pinned> *pins, uint64_t op, bool all, std::mt19937_64 &rng);
  void VerifyPin(const Pinned &p, const char *when);
  void VerifyRead(uint32_t id, const void *data, size_t n, uint64_t t0, const char *what);

  int64_t PickTtl(uint32_t id, std::mt19937_64 &rng, uint32_t *resolved);
  std::atomic<uint64_t> &PublishSlot(uint64_t seed) {
    const auto writer = static_cast<size_t>((seed >> 32) - 1);
    return published_[writer][seed & (kPublishSlots - 1)];
  }

  StressConfig cfg_;
  FakeClock clock_;
  cache_t *cache_ = nullptr;
  std::vector<std::string> keys_;
  std::vector<uint64_t> key_hashes_;
  // Per writer: (sequence << 32 | latest possible deadline) of strict writes.
  std::vector<std::unique_ptr<std::atomic<uint64_t>[]>> published_;
  std::atomic<bool> stop_{false};
  Failures failures_;
  std::mutex exchange_mu_;
  std::vector<Pinned> exchange_;  // GUARDED_BY(exchange_mu_): pins any thread may release
  std::mutex tally_mu_;
  Tally total_;  // GUARDED_BY(tally_mu_)
  std::atomic<uint64_t> monitor_samples_{0};
};

StressRun::StressRun(const StressConfig &cfg) : cfg_(cfg) {
  for (uint32_t i = 0; i < cfg.key_space; ++i) {
    keys_.push_back("key:" + std::to_string(i));
    key_hashes_.push_back(Fnv1a(keys_.back().data(), keys_.back().size()));
  }
  for (int i = 0; i <= cfg.threads; ++i) {  // the last one is Prefill()'s
    published_.emplace_back(new std::atomic<uint64_t>[kPublishSlots]);
    for (uint32_t s = 0; s < kPublishSlots; ++s) published_.back()[s].store(0);
  }
  cache_options_t *opts = cache_options_new();
  cache_options_set_max_bytes(opts, cfg.max_bytes);
  cache_options_set_max_entries(opts, cfg.max_entries);
  cache_options_set_shards(opts, cfg.shards);
  cache_options_set_default_ttl_ms(opts, kDefaultTtlMs);
  cache_options_set_clock(opts, &FakeClock::Read, &clock_);
  if (cache_options_set_policy(opts, cfg.policy) != CACHE_OK) failures_.Add("bad policy");
  const int rc = cache_open(opts, &cache_);
  cache_options_free(opts);
  if (rc != CACHE_OK) failures_.Add("cache_open: %s", cache_strerror(rc));
}

StressRun::~StressRun() { cache_close(cache_); }

void StressRun::Run(double seconds) {
  if (cache_ == nullptr) {
    failures_.Report();
    FAIL() << "no cache to stress";
  }
  if (cfg_.shards != 0) {
    ASSERT_EQ(cache_shard_count(cache_), cfg_.shards);
  }
  Prefill();
  std::vector<std::thread> threads;
  for (int i = 0; i < cfg_.threads; ++i) threads.emplace_back([this, i] { Worker(i); });
  threads.emplace_back([this] { Ticker(); });
  threads.emplace_back([this] { Monitor(); });
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end && !failures_.Any()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop_.store(true);
  for (auto &t : threads) t.join();
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  for (const Pinned &p : exchange_) {
    VerifyPin(p, "left in the exchange");
    cache_value_release(p.value);
  }
  exchange_.clear();
  std::printf("[ stress   ] %" PRIu64 " ops by %d threads in %.1f s, %u shards, %" PRIu64
              " monitor samples\n",
              total_.ops, cfg_.threads, elapsed.count(), cache_shard_count(cache_),
              monitor_samples_.load());
  if (!failures_.Any()) FinalChecks();
  failures_.Report();
}

// Writes no-TTL keys until the bounds evict one, so that the workers race on a
// full cache from the start, however slowly they run.
void StressRun::Prefill() {
  std::mt19937_64 rng(std::random_device{}());
  Tally t;
  cache_stats_t s{};
  for (uint32_t id = 0; id < cfg_.key_space && s.evictions == 0 && !failures_.Any(); id += 4) {
    DoWrite(cfg_.threads, id, 0, rng, &t);
    cache_stats(cache_, &s, sizeof s);
  }
  if (s.evictions == 0) failures_.Add("prefill: %u keys never filled the cache", cfg_.key_space);
  std::lock_guard<std::mutex> lock(tally_mu_);
  total_.writes_ok += t.writes_ok;
}

void StressRun::Worker(int index) {
  std::mt19937_64 rng(std::random_device{}() ^ (uint64_t(index) << 40));
  Tally t;
  std::vector<Pinned> pins;
  while (!stop_.load(std::memory_order_relaxed) && !failures_.Any()) {
    DoOp(index, rng, &t, &pins);
    ++t.ops;
    ReleasePins(&pins, t.ops, false, rng);
  }
  ReleasePins(&pins, t.ops, true, rng);
  if (t.ops < 100) failures_.Add("worker %d did only %" PRIu64 " ops", index, t.ops);
  std::lock_guard<std::mutex> lock(tally_mu_);
  total_.ops += t.ops;
  total_.reads += t.reads;
  total_.read_hits += t.read_hits;
  total_.writes_ok += t.writes_ok;
  total_.deletes_ok += t.deletes_ok;
}

void StressRun::DoOp(int index, std::mt19937_64 &rng, Tally *t, std::vector<Pinned> *pins) {
  const uint32_t id = static_cast<uint32_t>(rng() % cfg_.key_space);
  const uint32_t dice = static_cast<uint32_t>(rng() % 100000);
  if (dice < 24000) return DoGet(id, kReadBuffer, t);
  if (dice < 30000) return DoRead(id, t);
  if (dice < 32000) return DoGet(id, 16, t);  // smaller than any value
  if (dice < 44000) return DoPin(id, rng, t, pins);
  if (dice < 64000) return DoWrite(index, id, 0, rng, t);
  if (dice < 70000) return DoWrite(index, id, 1, rng, t);
  if (dice < 76000) return DoWrite(index, id, 2, rng, t);
  if (dice < 79000) {
    // A take is a delete that hands over the value: it must be intact, and
    // gone from the cache.
    const uint64_t t0 = clock_.Peek();
    cache_value_t *v = nullptr;
    const int rc = cache_take(cache_, keys_[id].data(), keys_[id].size(), &v);
    if (rc == CACHE_OK) {
      ++t->deletes_ok;
      VerifyRead(id, cache_value_data(v), cache_value_size(v), t0, "cache_take");
      cache_value_release(v);
    } else if (rc != CACHE_NOT_FOUND || v != nullptr) {
      failures_.Add("cache_take: %d", rc);
    }
    return;
  }
  if (dice < 82000) {
    const int rc = cache_delete(cache_, keys_[id].data(), keys_[id].size());
    if (rc == CACHE_OK) ++t->deletes_ok;
    if (rc != CACHE_OK && rc != CACHE_NOT_FOUND) failures_.Add("cache_delete: %d", rc);
    return;
  }
  if (dice < 88000) return DoTouch(id, rng);
  if (dice < 94000) return DoTtl(id);
  if (dice < 94500) return DoStats();
  if (dice < 94600) {
    uint64_t reclaimed = 0;
    const int rc = cache_purge_expired(cache_, &reclaimed);
    if (rc != CACHE_OK) failures_.Add("cache_purge_expired: %d", rc);
    return;
  }
  if (dice < 94605) {
    if (cache_clear(cache_) != CACHE_OK) failures_.Add("cache_clear failed");
    return;
  }
  if (dice < 94700 && !pins->empty()) {
    // Hold the pins across a pause, so that their entries get evicted,
    // expired or replaced meanwhile, then check them.
    std::this_thread::sleep_for(std::chrono::microseconds(50 + rng() % 250));
    for (const Pinned &p : *pins) VerifyPin(p, "after a pause");
    return;
  }
  std::unique_lock<std::mutex> lock(exchange_mu_);  // release a pin from another thread
  if (exchange_.empty()) return;
  const Pinned p = exchange_.back();
  exchange_.pop_back();
  lock.unlock();
  VerifyPin(p, "taken from another thread");
  cache_value_release(p.value);
}

void StressRun::VerifyRead(uint32_t id, const void *data, size_t n, uint64_t t0, const char *what) {
  Header h;
  const std::string why = CheckValue(data, n, key_hashes_[id], &h);
  if (!why.empty()) {
    failures_.Add("%s %s: %s", what, keys_[id].c_str(), why.c_str());
    return;
  }
  if (ClassOf(id) == KeyClass::kNoTtl && h.ttl_ms != 0) {
    failures_.Add("%s %s: a TTL value for a no-TTL key", what, keys_[id].c_str());
  }
  if (ClassOf(id) != KeyClass::kStrict) return;
  if (h.ttl_ms == 0) failures_.Add("%s %s: a strict key without TTL", what, keys_[id].c_str());
  // acquire: not needed for the value itself (one atomic holds both halves).
  const uint64_t slot = PublishSlot(h.seed).load(std::memory_order_acquire);
  if ((slot >> 32) != (h.seed & 0xFFFFFFFFu)) return;  // not yet published, or reused
  const uint64_t latest_deadline = slot & 0xFFFFFFFFu;
  if (t0 >= latest_deadline) {
    failures_.Add("%s %s: returned an expired value (read began at %" PRIu64
                  " ms, deadline at most %" PRIu64 " ms)",
                  what, keys_[id].c_str(), t0, latest_deadline);
  }
}

void StressRun::DoGet(uint32_t id, size_t cap, Tally *t) {
  unsigned char buf[kReadBuffer];
  size_t n = 0;
  const uint64_t t0 = clock_.Peek();
  const int rc = cache_get(cache_, keys_[id].data(), keys_[id].size(), buf, cap, &n);
  ++t->reads;
  if (rc == CACHE_NOT_FOUND) return;
  ++t->read_hits;
  if (cap < kMinValue) {
    if (rc != CACHE_E_BUFFER_TOO_SMALL || n < kMinValue || n > kMinValue + cfg_.max_payload) {
      failures_.Add("cache_get(cap %zu) %s: rc %d, vlen %zu", cap, keys_[id].c_str(), rc, n);
    }
    return;
  }
  if (rc != CACHE_OK) return failures_.Add("cache_get %s: rc %d", keys_[id].c_str(), rc);
  VerifyRead(id, buf, n, t0, "cache_get");
}

// cache_read: the value is checked inside the callback, under the shard's
// read lock, where a racing write or eviction must not be visible.
void StressRun::DoRead(uint32_t id, Tally *t) {
  struct Ctx {
    StressRun *self;
    uint32_t id;
    uint64_t t0;
  } ctx{this, id, clock_.Peek()};
  const int rc = cache_read(
      cache_, keys_[id].data(), keys_[id].size(),
      [](void *p, const void *val, size_t vlen) {
        auto *c = static_cast<Ctx *>(p);
        c->self->VerifyRead(c->id, val, vlen, c->t0, "cache_read");
      },
      &ctx);
  ++t->reads;
  if (rc == CACHE_NOT_FOUND) return;
  if (rc != CACHE_OK) return failures_.Add("cache_read %s: rc %d", keys_[id].c_str(), rc);
  ++t->read_hits;
}

void StressRun::DoPin(uint32_t id, std::mt19937_64 &rng, Tally *t, std::vector<Pinned> *pins) {
  cache_value_t *v = nullptr;
  const uint64_t t0 = clock_.Peek();
  const int rc = cache_get_value(cache_, keys_[id].data(), keys_[id].size(), &v);
  ++t->reads;
  if (rc == CACHE_NOT_FOUND) {
    if (v != nullptr) failures_.Add("cache_get_value: NOT_FOUND but a handle");
    return;
  }
  ++t->read_hits;
  if (rc != CACHE_OK || v == nullptr) {
    return failures_.Add("cache_get_value %s: rc %d", keys_[id].c_str(), rc);
  }
  VerifyRead(id, cache_value_data(v), cache_value_size(v), t0, "cache_get_value");
  Header h{};
  std::memcpy(&h, cache_value_data(v), std::min(sizeof h, cache_value_size(v)));
  if (pins->size() >= kMaxPinsPerThread) {
    cache_value_release(v);
    return;
  }
  pins->push_back(Pinned{v, id, h.seed, t->ops + 1 + rng() % 2000});
}

void StressRun::VerifyPin(const Pinned &p, const char *when) {
  Header h{};
  const std::string why =
      CheckValue(cache_value_data(p.value), cache_value_size(p.value), key_hashes_[p.key], &h);
  if (!why.empty()) {
    failures_.Add("pinned %s %s: %s", keys_[p.key].c_str(), when, why.c_str());
  } else if (h.seed != p.seed) {
    failures_.Add("pinned %s %s: bytes changed (another write's value)", keys_[p.key].c_str(),
                  when);
  }
}

void StressRun::ReleasePins(std::vector<Pinned> *pins, uint64_t op, bool all, std::mt19937_64 &rng) {
  for (size_t i = 0; i < pins->size();) {
    const Pinned p = (*pins)[i];
    if (!all && p.release_at > op) {
      ++i;
      continue;
    }
    VerifyPin(p, "before release");
    (*pins)[i] = pins->back();
    pins->pop_back();
    if (!all && rng() % 4 == 0) {
      std::lock_guard<std::mutex> lock(exchange_mu_);
      if (exchange_.size() < kMaxExchange) {
        exchange_.push_back(p);  // another thread verifies and releases it
        continue;
      }
    }
    cache_value_release(p.value);
  }
}

int64_t StressRun::PickTtl(uint32_t id, std::mt19937_64 &rng, uint32_t *resolved) {
  const uint32_t r = static_cast<uint32_t>(rng() % 8);
  const KeyClass c = ClassOf(id);
  if (c == KeyClass::kNoTtl || (c == KeyClass::kAny && r == 0)) {
    *resolved = 0;
    return CACHE_TTL_NONE;
  }
  if (r == 1) {
    *resolved = kDefaultTtlMs;
    return CACHE_TTL_DEFAULT;
  }
  *resolved = 1 + static_cast<uint32_t>(rng() % kMaxTtlMs);
  return *resolved;
}

// mode: 0 set, 1 add, 2 replace.
void StressRun::DoWrite(int index, uint32_t id, int mode, std::mt19937_64 &rng, Tally *t) {
  thread_local uint32_t seq = 0;
  const uint64_t seed = (uint64_t(index) + 1) << 32 | ++seq;
  uint32_t ttl = 0;
  const int64_t ttl_arg = PickTtl(id, rng, &ttl);
  const uint32_t payload = static_cast<uint32_t>(
      rng() % 20 == 0 ? rng() % (cfg_.max_payload + 1) : rng() % std::min(256u, cfg_.max_payload));
  const std::string v = MakeValue(key_hashes_[id], seed, payload, ttl);
  const std::string &k = keys_[id];
  int rc;
  if (seq % 4 == 0) {
    // cache_setv, with the value split at a random point into two parts.
    const size_t cut = rng() % (v.size() + 1);
    const cache_iovec_t parts[2] = {{v.data(), cut}, {v.data() + cut, v.size() - cut}};
    rc = cache_setv(cache_, k.data(), k.size(), parts, 2, ttl_arg, mode);
  } else if (mode == 0) {
    rc = cache_set(cache_, k.data(), k.size(), v.data(), v.size(), ttl_arg);
  } else if (mode == 1) {
    rc = cache_add(cache_, k.data(), k.size(), v.data(), v.size(), ttl_arg);
  } else {
    rc = cache_replace(cache_, k.data(), k.size(), v.data(), v.size(), ttl_arg);
  }
  const uint64_t t_after = clock_.Peek();
  const int allowed = mode == 0 ? CACHE_OK : mode == 1 ? CACHE_EXISTS : CACHE_NOT_FOUND;
  if (rc != CACHE_OK && rc != allowed) {
    return failures_.Add("write mode %d %s (%zu bytes): rc %d", mode, k.c_str(), v.size(), rc);
  }
  if (rc != CACHE_OK) return;
  ++t->writes_ok;
  if (ClassOf(id) == KeyClass::kStrict) {
    // The engine set the deadline to its clock during the call plus ttl,
    // which is at most t_after + ttl. release: pairs with VerifyRead's acquire.
    PublishSlot(seed).store((seed & 0xFFFFFFFFu) << 32 | (t_after + ttl),
                            std::memory_order_release);
  }
}

void StressRun::DoTouch(uint32_t id, std::mt19937_64 &rng) {
  const KeyClass c = ClassOf(id);
  if (c == KeyClass::kStrict) return;  // strict keys keep the deadline of their write
  uint32_t unused;
  const int64_t ttl = c == KeyClass::kNoTtl ? CACHE_TTL_NONE : PickTtl(id, rng, &unused);
  const int rc = cache_touch(cache_, keys_[id].data(), keys_[id].size(), ttl);
  if (rc != CACHE_OK && rc != CACHE_NOT_FOUND) failures_.Add("cache_touch: %d", rc);
}

void StressRun::DoTtl(uint32_t id) {
  int64_t left = -12345;
  const int rc = cache_ttl(cache_, keys_[id].data(), keys_[id].size(), &left);
  if (rc == CACHE_NOT_FOUND) return;
  if (rc != CACHE_OK) return failures_.Add("cache_ttl %s: rc %d", keys_[id].c_str(), rc);
  const KeyClass c = ClassOf(id);
  const bool ok = c == KeyClass::kNoTtl    ? left == -1
                  : c == KeyClass::kStrict ? left >= 0 && left <= kMaxTtlMs
                                           : left == -1 || (left >= 0 && left <= kMaxTtlMs);
  if (!ok) {
    failures_.Add("cache_ttl %s (class %d): %" PRId64 " ms left", keys_[id].c_str(),
                  static_cast<int>(c), left);
  }
}

void StressRun::DoStats() {
  cache_stats_t s;
  if (cache_stats(cache_, &s, sizeof s) != CACHE_OK) return failures_.Add("cache_stats failed");
  if (cfg_.max_entries != 0 && s.entries > cfg_.max_entries) {
    failures_.Add("entries %" PRIu64 " > max_entries %" PRIu64, s.entries, cfg_.max_entries);
  }
  if (cfg_.max_bytes != 0 && s.bytes > cfg_.max_bytes) {
    failures_.Add("bytes %" PRIu64 " > max_bytes %" PRIu64, s.bytes, cfg_.max_bytes);
  }
}

void StressRun::Ticker() {
  std::mt19937_64 rng(std::random_device{}());
  while (!stop_.load(std::memory_order_relaxed)) {
    clock_.now.fetch_add(1 + rng() % 3, std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
}

void StressRun::Monitor() {
  cache_stats_t prev{};
  while (!stop_.load(std::memory_order_relaxed)) {
    DoStats();
    cache_stats_t s;
    cache_stats(cache_, &s, sizeof s);
    // Each shard's counters only grow and this thread visits the shards in
    // order, so successive sums cannot decrease.
    const uint64_t now[] = {s.hits, s.misses, s.sets, s.deletes, s.evictions, s.expirations};
    const uint64_t before[] = {prev.hits,    prev.misses,    prev.sets,
                               prev.deletes, prev.evictions, prev.expirations};
    for (size_t i = 0; i < 6; ++i) {
      if (now[i] < before[i]) failures_.Add("stats counter %zu went back", i);
    }
    prev = s;
    // The engine's own invariant checker (table and ring agree, bytes are the
    // sum of charges, limits hold), racing with every operation.
    if ((monitor_samples_.load(std::memory_order_relaxed) & 15) == 0) CheckInvariants("monitor");
    monitor_samples_.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void StressRun::CheckInvariants(const char *when) {
  const char *what = nullptr;
  if (cache_check_invariants(cache_, &what) != CACHE_OK) {
    failures_.Add("invariant broken (%s): %s", when, what != nullptr ? what : "?");
  }
}

void StressRun::FinalChecks() {
  CheckInvariants("at the end");
  cache_stats_t s;
  ASSERT_EQ(cache_stats(cache_, &s, sizeof s), CACHE_OK);
  EXPECT_EQ(s.hits + s.misses, total_.reads);
  EXPECT_EQ(s.hits, total_.read_hits);
  EXPECT_EQ(s.sets, total_.writes_ok);
  EXPECT_EQ(s.deletes, total_.deletes_ok);
  EXPECT_GT(s.evictions, 0u) << "the bounds never forced an eviction";
  EXPECT_GT(s.expirations, 0u) << "no entry ever expired";
  EXPECT_GT(monitor_samples_.load(), 0u);
  if (cfg_.max_entries != 0) {
    EXPECT_LE(s.entries, cfg_.max_entries);
  }
  if (cfg_.max_bytes != 0) {
    EXPECT_LE(s.bytes, cfg_.max_bytes);
  }

  // Pin a few survivors, then jump past every deadline and purge.
  std::vector<Pinned> pins;
  for (uint32_t id = 0; id < cfg_.key_space && pins.size() < 8; ++id) {
    cache_value_t *v = nullptr;
    if (cache_get_value(cache_, keys_[id].data(), keys_[id].size(), &v) != CACHE_OK) continue;
    Header h{};
    ASSERT_TRUE(CheckValue(cache_value_data(v), cache_value_size(v), key_hashes_[id], &h).empty());
    pins.push_back(Pinned{v, id, h.seed, 0});
  }
  clock_.now.fetch_add(1000000);
  uint64_t reclaimed = 0;
  ASSERT_EQ(cache_purge_expired(cache_, &reclaimed), CACHE_OK);
  for (uint32_t id = 1; id < cfg_.key_space; id += 4) {  // the strict keys
    int64_t left;
    EXPECT_EQ(cache_ttl(cache_, keys_[id].data(), keys_[id].size(), &left), CACHE_NOT_FOUND)
        << keys_[id] << " outlived its TTL";
  }
  ASSERT_EQ(cache_clear(cache_), CACHE_OK);
  ASSERT_EQ(cache_stats(cache_, &s, sizeof s), CACHE_OK);
  EXPECT_EQ(s.entries, 0u);
  for (const Pinned &p : pins) VerifyPin(p, "after clear");
  cache_close(cache_);
  cache_ = nullptr;
  for (const Pinned &p : pins) {
    VerifyPin(p, "after cache_close");
    cache_value_release(p.value);
  }
}

// ---- The tests -------------------------------------------------------------------
// Each key space holds at least twice as many no-TTL keys (a quarter of it) as
// the bounds admit, so that eviction is forced even when a slow (sanitizer)
// run lets most TTL entries expire before the cache fills.

// Every scenario runs with each eviction policy: the adaptive policy's rings,
// sketch and shadows (fed by sampled reads) race with readers, eviction and
// expiry like CLOCK's ring does.
class Stress : public testing::TestWithParam<int> {
 protected:
  StressConfig With(StressConfig c) const {
    c.policy = GetParam();
    return c;
  }
};

TEST_P(Stress, MixedAutomaticShards) {
  StressRun s(With({0, 1u << 20, 4096, 32768, 8, 1024}));
  s.Run(ScaledSeconds());
}

TEST_P(Stress, OneShardMaxContention) {
  StressRun s(With({1, 128u << 10, 1024, 8192, 8, 1024}));
  s.Run(ScaledSeconds());
}

TEST_P(Stress, SixtyFourShards) {
  StressRun s(With({64, 1u << 20, 4096, 32768, 8, 1024}));
  s.Run(ScaledSeconds());
}

TEST_P(Stress, EntryBoundOnly) {
  StressRun s(With({8, 0, 2048, 16384, 6, 1024}));
  s.Run(ScaledSeconds());
}

TEST_P(Stress, ByteBoundOnly) {
  StressRun s(With({16, 512u << 10, 0, 16384, 6, 2048}));
  s.Run(ScaledSeconds());
}

INSTANTIATE_TEST_SUITE_P(Policies, Stress,
                         testing::Values(CACHE_POLICY_CLOCK, CACHE_POLICY_ADAPTIVE),
                         [](const testing::TestParamInfo<int> &p) {
                           return std::string(p.param == CACHE_POLICY_CLOCK ? "Clock" : "Adaptive");
                         });

// The clock moving between the two clock reads inside one call (what a
// concurrent tick does) must not make cache_ttl() report a TTL entry as
// "never expires" (-1) or give a negative time. Deterministic: every clock
// read advances time by 2 ms.
uint64_t SteppingClock(void *ctx) {
  return static_cast<std::atomic<uint64_t> *>(ctx)->fetch_add(2) + 2;
}

TEST(StressClock, TtlWhileTheClockMovesDuringTheCall) {
  std::atomic<uint64_t> now{1000};
  cache_options_t *opts = cache_options_new();
  cache_options_set_clock(opts, &SteppingClock, &now);
  cache_options_set_shards(opts, 1);
  cache_t *c = nullptr;
  ASSERT_EQ(cache_open(opts, &c), CACHE_OK);
  cache_options_free(opts);
  for (int64_t ttl = 1; ttl <= 8; ++ttl) {
    ASSERT_EQ(cache_set(c, "k", 1, "v", 1, ttl), CACHE_OK);
    int64_t left = -12345;
    const int rc = cache_ttl(c, "k", 1, &left);
    if (rc == CACHE_OK) {
      EXPECT_GE(left, 0) << "ttl " << ttl << ": a TTL entry reported " << left << " ms left";
      EXPECT_LE(left, ttl);
    } else {
      EXPECT_EQ(rc, CACHE_NOT_FOUND);
    }
  }
  cache_close(c);
}

}  // namespace
