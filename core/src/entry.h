// An entry: one allocation holding a 24-byte header, the key and the value.
//
//   byte 0      4      8         12     14     16          20     22   23   24
//        +------+------+---------+------+------+-----------+------+----+----+-----+-------+
//        | refs | vlen | deadline (48)  | klen |ring_pos:30|  hash (24)|ref | key | value |
//        |  +k  |      |   lo    |  hi  |      | segment:2 |  lo  | hi |    |     |       |
//        +------+------+---------+------+------+-----------+------+----+----+-----+-------+
//
// refs      atomic: bits 0..30 count the owners (1 for the table while the
//           entry is indexed, +1 per pinned cache_value_t; the last owner
//           frees the block); bit 31 is the kind, fixed at creation: set for
//           an object entry (the value is an ObjectPayload, a language object
//           held by reference, core/src/object.h, whose release is deferred
//           to outside every lock when the last owner drops it).
// vlen      value length (values are below 4 GiB; larger writes get kTooLarge).
// deadline  expiry, 48 bits relative to the cache's open time; 0 = never
//           (core/src/expiry.h holds every rule about it).
// klen      key length (keys are at most 65535 bytes).
// ring_pos  slot index in the policy ring that holds the entry, and segment,
//           which ring that is (core/src/policy.h; valid while indexed).
// hash      the low 24 bits of the key's hash: the table finds, moves and
//           evicts the entry without hashing its key again (tables of up to
//           2^24 slots per shard; a larger one hashes the key), and the
//           adaptive policy counts its frequency from them.
// ref       the CLOCK reference bit.
//
// Invariants: key and value bytes, klen, vlen, hash and the kind never change
// after the entry is published (which is what makes pinned values safe to read
// and release without a lock). refs and ref are atomic: pins are released
// without a lock, and readers holding only their stripe of the shard lock set
// ref concurrently. Every other header field is written only with the whole
// shard lock held, and read only with some of it held.

#ifndef LIBCACHE_CORE_SRC_ENTRY_H_
#define LIBCACHE_CORE_SRC_ENTRY_H_

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>

#include "core/src/alloc.h"
#include "core/src/object.h"

namespace libcache::detail {

// memcmp(a, b, n) == 0, inlined for the common 8- to 16-byte keys (two
// overlapping 8-byte loads per side), which saves a call on every probe hit.
inline bool BytesEqual(const char *a, const char *b, size_t n) {
  if (n >= 8 && n <= 16) {
    uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a, 8);
    std::memcpy(&b0, b, 8);
    std::memcpy(&a1, a + n - 8, 8);
    std::memcpy(&b1, b + n - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
  return n == 0 || std::memcmp(a, b, n) == 0;  // memcmp must not see null, even for n == 0
}

struct Entry {
  static constexpr uint32_t kObjectBit = uint32_t{1} << 31;
  static constexpr uint32_t kOwnersMask = kObjectBit - 1;
  static constexpr uint32_t kHashBits = 24;
  static constexpr uint32_t kHashMask = (uint32_t{1} << kHashBits) - 1;
  static constexpr uint32_t kMaxRingPos = (uint32_t{1} << 30) - 1;

  std::atomic<uint32_t> refs;  // owners, and kObjectBit
  uint32_t vlen;
  uint32_t deadline_lo;
  uint16_t deadline_hi;
  uint16_t klen;
  uint32_t ring_pos_segment;  // ring_pos << 2 | segment
  uint16_t hash_lo;
  uint8_t hash_hi;
  std::atomic<uint8_t> referenced;  // relaxed: a hint, set by concurrent readers

  bool is_object() const { return (refs.load(std::memory_order_relaxed) & kObjectBit) != 0; }
  uint32_t owners() const { return refs.load(std::memory_order_relaxed) & kOwnersMask; }
  ObjectPayload object() const {
    ObjectPayload p;
    std::memcpy(&p, value_data(), sizeof p);
    return p;
  }

  uint64_t deadline() const { return deadline_lo | uint64_t{deadline_hi} << 32; }
  void set_deadline(uint64_t d) {
    deadline_lo = static_cast<uint32_t>(d);
    deadline_hi = static_cast<uint16_t>(d >> 32);
  }
  uint32_t ring_pos() const { return ring_pos_segment >> 2; }
  uint32_t segment() const { return ring_pos_segment & 3; }
  void set_ring_pos(uint32_t pos) { ring_pos_segment = pos << 2 | segment(); }
  void set_segment(uint32_t s) { ring_pos_segment = (ring_pos_segment & ~3u) | s; }
  uint32_t hash24() const { return hash_lo | uint32_t{hash_hi} << 16; }

  char *key_data() { return reinterpret_cast<char *>(this + 1); }
  const char *key_data() const { return reinterpret_cast<const char *>(this + 1); }
  const char *value_data() const { return key_data() + klen; }
  std::string_view key() const { return {key_data(), klen}; }
  bool KeyEquals(std::string_view k) const {
    return k.size() == klen && BytesEqual(key_data(), k.data(), klen);
  }

  static constexpr size_t SizeFor(size_t klen, size_t vlen) { return sizeof(Entry) + klen + vlen; }

  // Allocates and fills an entry for the key whose hash is `hash`, owned
  // `owners` times (by the caller, later the table; a write-behind link's
  // queue takes one more: core/src/link.h), its value the parts back to back
  // (vlen their total). No deadline yet (the shard sets it when it indexes the
  // entry). nullptr when out of memory.
  // REQUIRES: key.size() <= 65535, vlen < 4 GiB.
  static Entry *Create(const Allocator &a, std::string_view key, uint64_t hash,
                       const std::string_view *parts, size_t nparts, size_t vlen,
                       uint32_t owners = 1) {
    void *mem = AllocateBlock(a, SizeFor(key.size(), vlen));
    if (mem == nullptr) return nullptr;
    Entry *e = new (mem) Entry;
    e->refs.store(owners, std::memory_order_relaxed);  // published later under the shard lock
    e->vlen = static_cast<uint32_t>(vlen);
    e->set_deadline(0);
    e->klen = static_cast<uint16_t>(key.size());
    e->ring_pos_segment = 0;
    e->hash_lo = static_cast<uint16_t>(hash);
    e->hash_hi = static_cast<uint8_t>(hash >> 16);
    e->referenced.store(0, std::memory_order_relaxed);
    if (!key.empty()) std::memcpy(e->key_data(), key.data(), key.size());
    char *out = e->key_data() + key.size();
    for (size_t i = 0; i < nparts; ++i) {
      if (parts[i].empty()) continue;  // an empty part may have a null data()
      std::memcpy(out, parts[i].data(), parts[i].size());
      out += parts[i].size();
    }
    return e;
  }

  // An object entry holding obj by reference, owned `owners` times. nullptr
  // when out of memory.
  static Entry *CreateObject(const Allocator &a, std::string_view key, uint64_t hash,
                             const ObjectPayload &p, uint32_t owners = 1) {
    const std::string_view part(reinterpret_cast<const char *>(&p), sizeof p);
    Entry *e = Create(a, key, hash, &part, 1, sizeof p, owners | kObjectBit);
    return e;
  }
  // Frees an object entry that was never published, without releasing its
  // object (the writer keeps its reference). REQUIRES: the only owner.
  void DiscardUnpublished(const Allocator &a) {
    refs.store(1, std::memory_order_relaxed);
    Unref(a);
  }

  // Drops one owner; the last one frees the block (an object entry's is
  // freed later, with its object released, outside every lock: object.h).
  void Unref(const Allocator &a) {
    // acq_rel: the freeing thread must see every other owner's reads finished.
    const uint32_t before = refs.fetch_sub(1, std::memory_order_acq_rel);
    if ((before & kOwnersMask) == 1) {
      if (__builtin_expect((before & kObjectBit) != 0, 0)) {
        DeferObjectRelease(this);
        return;
      }
      const size_t n = SizeFor(klen, vlen);
      this->~Entry();
      ReleaseBlock(a, this, n);
    }
  }
};
static_assert(sizeof(Entry) == 24, "entry header layout is documented above");

}  // namespace libcache::detail

#endif  // LIBCACHE_CORE_SRC_ENTRY_H_
