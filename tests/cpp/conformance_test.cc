// The language-neutral conformance suite (tests/conformance/cases.json, its
// format in tests/conformance/README.md) through <libcache/cache.hpp>: one
// GoogleTest test per case, named after it. The C++ API is the thinnest
// layer over the C ABI, so this runner is also what checks that every case
// says what the C ABI does. Errors come from the error_code overloads, so a
// case's {"error": NAME} is compared with the code's errc name.
#include <gtest/gtest.h>
#include <libcache/cache.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#ifndef LIBCACHE_CONFORMANCE_CASES
#error "LIBCACHE_CONFORMANCE_CASES must name tests/conformance/cases.json"
#endif

namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr uint64_t kManualClockStartMs = 1'000'000;

const std::vector<json> &Cases() {
  static const std::vector<json> cases = [] {
    std::ifstream in(LIBCACHE_CONFORMANCE_CASES);
    if (!in) throw std::runtime_error("cannot read " LIBCACHE_CONFORMANCE_CASES);
    json doc = json::parse(in);
    if (doc.at("version") != 1) throw std::runtime_error("cases.json: unknown version");
    return doc.at("cases").get<std::vector<json>>();
  }();
  return cases;
}

// BYTES: a string (its UTF-8), {"hex": ...} or {"repeat": s, "times": n}.
std::string Bytes(const json &spec) {
  if (spec.is_string()) return spec.get<std::string>();
  if (spec.contains("hex")) {
    const std::string hex = spec.at("hex").get<std::string>();
    std::string out;
    for (size_t i = 0; i + 1 < hex.size(); i += 2) {
      out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    return out;
  }
  const std::string unit = spec.at("repeat").get<std::string>();
  const int64_t times = spec.at("times").get<int64_t>();
  std::string out;
  out.reserve(unit.size() * static_cast<size_t>(times));
  for (int64_t i = 0; i < times; ++i) out += unit;
  return out;
}

// The C ABI's error name: CACHE_E_* (or a result) without the prefix, lower case.
std::string ErrorName(const std::error_code &ec) {
  if (ec.category() != libcache::error_category()) return "foreign:" + ec.message();
  switch (static_cast<libcache::errc>(ec.value())) {
    case libcache::errc::not_found: return "not_found";
    case libcache::errc::exists: return "exists";
    case libcache::errc::invalid: return "invalid";
    case libcache::errc::no_mem: return "no_mem";
    case libcache::errc::too_large: return "too_large";
    case libcache::errc::buffer_too_small: return "buffer_too_small";
    case libcache::errc::io: return "io";
    case libcache::errc::full: return "full";
    case libcache::errc::timeout: return "timeout";
    case libcache::errc::closed: return "closed";
    case libcache::errc::internal: return "internal";
    case libcache::errc::wrong_kind: return "wrong_kind";
  }
  return "unknown:" + std::to_string(ec.value());
}

json Error(const std::error_code &ec) { return json{{"error", ErrorName(ec)}}; }

// A readable, short rendering for failure messages.
std::string Describe(const json &j) {
  std::string s = j.dump();
  if (s.size() > 200) s = s.substr(0, 200) + "... (" + std::to_string(s.size()) + " characters)";
  return s;
}

struct ManualClock {
  std::atomic<uint64_t> ms{kManualClockStartMs};
  static uint64_t Read(void *ctx) {
    return static_cast<ManualClock *>(ctx)->ms.load(std::memory_order_relaxed);
  }
};

libcache::Options OptionsOf(const json &open, ManualClock *clock) {
  libcache::Options opts;
  if (open.contains("max_bytes")) opts.max_bytes(open["max_bytes"].get<uint64_t>());
  if (open.contains("max_entries")) opts.max_entries(open["max_entries"].get<uint64_t>());
  if (open.contains("shards")) opts.shards(open["shards"].get<uint32_t>());
  if (open.contains("default_ttl_ms")) {
    opts.default_ttl(milliseconds(open["default_ttl_ms"].get<int64_t>()));
  }
  if (open.contains("policy")) {
    const std::string p = open["policy"].get<std::string>();
    if (p == "clock") {
      opts.policy(libcache::Policy::kClock);
    } else if (p == "adaptive") {
      opts.policy(libcache::Policy::kAdaptive);
    } else {
      // An unknown name reaches the C ABI as an unknown policy number.
      opts.policy(static_cast<libcache::Policy>(1000));
    }
  }
  if (open.value("clock", "") == "manual") opts.experimental_clock(&ManualClock::Read, clock);
  return opts;
}

libcache::Cache::Ttl TtlOf(const json &step) {
  if (!step.contains("ttl_ms")) return std::nullopt;
  const int64_t ms = step["ttl_ms"].get<int64_t>();
  return milliseconds(ms);  // 0 = never expires; negative is refused by the header
}

json ValueOrMissing(const std::optional<std::string> &v) {
  if (!v) return "missing";
  return json{{"value", json::binary_t(std::vector<uint8_t>(v->begin(), v->end()))}};
}

// Performs one step; returns its outcome in the format's EXPECT form (values
// as json binaries, so that bytes that are not UTF-8 compare exactly).
json RunStep(libcache::Cache &cache, ManualClock &clock, const json &step) {
  const std::string op = step.at("op").get<std::string>();
  const std::string key = step.contains("key") ? Bytes(step["key"]) : std::string();
  std::error_code ec;
  if (op == "set" || op == "add" || op == "replace") {
    const std::string value = Bytes(step.at("value"));
    const libcache::Cache::Ttl ttl = TtlOf(step);
    if (op == "set") {
      cache.set(key, value, ttl, ec);
      return ec ? Error(ec) : json("ok");
    }
    if (op == "add") {
      const bool stored = cache.add(key, value, ttl, ec);
      if (ec) return Error(ec);
      return stored ? json("ok") : Error(libcache::errc::exists);
    }
    const bool replaced = cache.replace(key, value, ttl, ec);
    if (ec) return Error(ec);
    return replaced ? json("ok") : Error(libcache::errc::not_found);
  }
  if (op == "get") {
    std::optional<std::string> v = cache.get(key, ec);
    return ec ? Error(ec) : ValueOrMissing(v);
  }
  if (op == "has") {
    const bool has = cache.contains(key, ec);
    return ec ? Error(ec) : json(has);
  }
  if (op == "delete") {
    const bool erased = cache.erase(key, ec);
    return ec ? Error(ec) : json(erased);
  }
  if (op == "take") {
    std::optional<libcache::Value> v = cache.take(key, ec);
    if (ec) return Error(ec);
    return ValueOrMissing(v ? std::optional<std::string>(v->str()) : std::nullopt);
  }
  if (op == "touch") {
    const bool touched = cache.touch(key, TtlOf(step), ec);
    return ec ? Error(ec) : json(touched);
  }
  if (op == "ttl") {
    std::optional<milliseconds> left = cache.ttl(key, ec);
    if (ec) return Error(ec);
    if (!left) return "missing";
    if (*left == libcache::kNoExpiry) return "none";
    return json{{"ms", left->count()}};
  }
  if (op == "clear") {
    cache.clear(ec);
    return ec ? Error(ec) : json("ok");
  }
  if (op == "purge_expired") {
    const uint64_t n = cache.purge_expired(ec);
    return ec ? Error(ec) : json{{"count", n}};
  }
  if (op == "advance") {
    clock.ms.fetch_add(step.at("ms").get<uint64_t>(), std::memory_order_relaxed);
    return nullptr;
  }
  if (op == "stats") {
    const libcache::Stats s = cache.stats(ec);
    if (ec) return Error(ec);
    const std::map<std::string, uint64_t> all = {
        {"hits", s.hits},         {"misses", s.misses},       {"sets", s.sets},
        {"deletes", s.deletes},   {"evictions", s.evictions}, {"expirations", s.expirations},
        {"entries", s.entries}};
    json got = json::object();
    for (const auto &[name, want] : step.at("expect").items()) {
      if (name == "bytes_at_most") {
        got[name] = s.bytes <= want.get<uint64_t>() ? want.get<uint64_t>() : s.bytes;
      } else {
        got[name] = all.at(name);
      }
    }
    return got;
  }
  ADD_FAILURE() << "unknown op " << op;
  return nullptr;
}

json Expected(const json &step) {
  const json &expect = step.at("expect");
  if (expect.is_object() && expect.contains("value")) {
    const std::string v = Bytes(expect["value"]);
    return json{{"value", json::binary_t(std::vector<uint8_t>(v.begin(), v.end()))}};
  }
  return expect;
}

class Conformance : public testing::TestWithParam<size_t> {};

TEST_P(Conformance, Case) {
  const json &c = Cases().at(GetParam());
  const std::string name = c.at("name").get<std::string>();
  const json open = c.value("open", json::object());
  ManualClock clock;
  std::error_code ec;
  libcache::Cache cache = libcache::Cache::Open(OptionsOf(open, &clock), ec);
  if (c.contains("open_error")) {
    ASSERT_TRUE(ec) << "case " << name << ": the open succeeded";
    EXPECT_EQ(ErrorName(ec), c["open_error"].get<std::string>()) << "case " << name;
    return;
  }
  ASSERT_FALSE(ec) << "case " << name << ": open failed: " << ec.message();
  const json &steps = c.at("steps");
  for (size_t i = 0; i < steps.size(); ++i) {
    const json &step = steps[i];
    const json got = RunStep(cache, clock, step);
    if (step.at("op") == "advance") continue;
    const json want = Expected(step);
    json shown = step;
    shown.erase("expect");
    ASSERT_EQ(got, want) << "case " << name << ", step " << i << " (" << Describe(shown)
                         << "): expected " << Describe(want) << ", got " << Describe(got);
  }
}

std::vector<size_t> Indexes() {
  std::vector<size_t> out(Cases().size());
  for (size_t i = 0; i < out.size(); ++i) out[i] = i;
  return out;
}

INSTANTIATE_TEST_SUITE_P(Cases, Conformance, testing::ValuesIn(Indexes()),
                         [](const testing::TestParamInfo<size_t> &info) {
                           return Cases().at(info.param).at("name").get<std::string>();
                         });

}  // namespace
