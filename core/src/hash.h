// Key hashing: XXH3-64 with a per-cache seed (xxHash, inlined from the
// system's header so the hot path pays no call through the PLT).

#ifndef LIBCACHE_CORE_SRC_HASH_H_
#define LIBCACHE_CORE_SRC_HASH_H_

#include <cstdint>
#include <string_view>

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace libcache::detail {

// Bits of the 64-bit hash, split so that no two uses overlap:
//   0..31  home slot in the shard's table (tables stay below 2^32 slots)
//   32..39 the 8-bit tag stored in the slot
//   40..49 the shard index (at most 1024 shards)
// flatten: inline XXH3's short-input paths here (keys are short), which its
// header leaves as a call.
__attribute__((flatten)) inline uint64_t HashKey(std::string_view key, uint64_t seed) {
  return XXH3_64bits_withSeed(key.data(), key.size(), seed);
}

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_HASH_H_
