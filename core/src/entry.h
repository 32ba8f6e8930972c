// An entry: one allocation holding a 24-byte header, the key and the value.
//
//   byte  0        4        8                16       20     22  23  24
//         +--------+--------+----------------+--------+------+---+---+--------------+
//         | refs   | vlen   | deadline_ms    |ring_pos| klen |ref|knd| key | value   |
//         +--------+--------+----------------+--------+------+---+---+--------------+
//
// refs      atomic count of owners: 1 for the table while the entry is indexed,
//           +1 per pinned cache_value_t. The last owner frees the block.
// vlen      value length (values are below 4 GiB; larger writes get kTooLarge).
// deadline  absolute expiry on the cache's clock in ms; 0 = never expires.
// ring_pos  slot index in the shard's CLOCK ring (valid while indexed).
// klen      key length (keys are at most 65535 bytes).
// ref       the CLOCK reference bit.
// knd       kBytesEntry, or kObjectEntry: the value is an ObjectPayload (a
//           language object held by reference, core/src/object.h), whose
//           release is deferred to outside every lock when the last owner
//           drops it.
//
// Invariants: key and value bytes never change after the entry is published
// (which is what makes pinned values safe to read without a lock). refs and
// ref are atomic: pins are released without a lock, and readers holding only
// their stripe of the shard lock set ref concurrently. Every other header
// field is written only with the whole shard lock held.

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
  std::atomic<uint32_t> refs;
  uint32_t vlen;
  uint64_t deadline_ms;
  uint32_t ring_pos;
  uint16_t klen;
  std::atomic<uint8_t> referenced;  // relaxed: a hint, set by concurrent readers
  uint8_t kind;                     // kBytesEntry or kObjectEntry; fixed once published

  static constexpr uint8_t kBytesEntry = 0;
  static constexpr uint8_t kObjectEntry = 1;
  bool is_object() const { return kind == kObjectEntry; }
  ObjectPayload object() const {
    ObjectPayload p;
    std::memcpy(&p, value_data(), sizeof p);
    return p;
  }

  char *key_data() { return reinterpret_cast<char *>(this + 1); }
  const char *key_data() const { return reinterpret_cast<const char *>(this + 1); }
  const char *value_data() const { return key_data() + klen; }
  std::string_view key() const { return {key_data(), klen}; }
  bool KeyEquals(std::string_view k) const {
    return k.size() == klen && BytesEqual(key_data(), k.data(), klen);
  }
  bool ExpiredAt(uint64_t now_ms) const { return deadline_ms != 0 && now_ms >= deadline_ms; }

  static constexpr size_t SizeFor(size_t klen, size_t vlen) { return sizeof(Entry) + klen + vlen; }

  // Allocates and fills an entry owned `owners` times (by the caller, later
  // the table; a write-behind link's queue takes one more: core/src/link.h),
  // its value the parts back to back (vlen their total). nullptr when out of
  // memory. REQUIRES: key.size() <= 65535, vlen < 4 GiB.
  static Entry *Create(const Allocator &a, std::string_view key, const std::string_view *parts,
                       size_t nparts, size_t vlen, uint64_t deadline_ms, uint32_t owners = 1) {
    void *mem = AllocateBlock(a, SizeFor(key.size(), vlen));
    if (mem == nullptr) return nullptr;
    Entry *e = new (mem) Entry;
    e->refs.store(owners, std::memory_order_relaxed);  // published later under the shard lock
    e->vlen = static_cast<uint32_t>(vlen);
    e->deadline_ms = deadline_ms;
    e->ring_pos = 0;
    e->klen = static_cast<uint16_t>(key.size());
    e->referenced.store(0, std::memory_order_relaxed);
    e->kind = kBytesEntry;
    if (!key.empty()) std::memcpy(e->key_data(), key.data(), key.size());
    char *out = e->key_data() + key.size();
    for (size_t i = 0; i < nparts; ++i) {
      if (parts[i].empty()) continue;  // an empty part may have a null data()
      std::memcpy(out, parts[i].data(), parts[i].size());
      out += parts[i].size();
    }
    return e;
  }

  // An object entry (kObjectEntry) holding obj by reference, owned `owners`
  // times. nullptr when out of memory.
  static Entry *CreateObject(const Allocator &a, std::string_view key, const ObjectPayload &p,
                             uint32_t owners = 1) {
    const std::string_view part(reinterpret_cast<const char *>(&p), sizeof p);
    Entry *e = Create(a, key, &part, 1, sizeof p, 0, owners);
    if (e != nullptr) e->kind = kObjectEntry;
    return e;
  }
  // Frees an object entry that was never published, without releasing its
  // object (the writer keeps its reference). REQUIRES: the only owner.
  void DiscardUnpublished(const Allocator &a) {
    kind = kBytesEntry;
    Unref(a);
  }

  // Drops one owner; the last one frees the block (an object entry's is
  // freed later, with its object released, outside every lock: object.h).
  void Unref(const Allocator &a) {
    // acq_rel: the freeing thread must see every other owner's reads finished.
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      if (__builtin_expect(kind != kBytesEntry, 0)) {
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
