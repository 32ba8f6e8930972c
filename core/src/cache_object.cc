// Cache: objects held by reference (<libcache/cache_object.h>; the entry side
// is core/src/object.h).

#include <cstddef>
#include <limits>
#include <string_view>

#include "core/cache.h"
#include "core/src/alloc.h"
#include "core/src/entry.h"
#include "core/src/link.h"
#include "core/src/object.h"
#include "core/src/shard.h"

namespace libcache {

using detail::Entry;
using detail::HashTable;

namespace detail {

thread_local Entry *t_released_objects __attribute__((tls_model("initial-exec"))) = nullptr;

namespace {

// The list's links live in the header's last 8 bytes (ring position, hash
// and reference bit), which nothing reads once the entry has no owner and
// which freeing the block does not need (klen and vlen are elsewhere).
constexpr size_t kLinkOffset = offsetof(Entry, ring_pos_segment);
static_assert(kLinkOffset + sizeof(Entry *) == sizeof(Entry));

Entry *NextReleased(const Entry *e) {
  Entry *next;
  std::memcpy(&next, reinterpret_cast<const char *>(e) + kLinkOffset, sizeof next);
  return next;
}

}  // namespace

void DeferObjectRelease(Entry *e) {
  std::memcpy(reinterpret_cast<char *>(e) + kLinkOffset, &t_released_objects, sizeof(Entry *));
  t_released_objects = e;
}

void RunDeferredReleases() {
  // One block at a time: a release hook that calls the cache may push more,
  // which this loop (or the nested call's own scope) then drains.
  while (Entry *e = t_released_objects) {
    t_released_objects = NextReleased(e);
    const ObjectPayload p = e->object();
    const size_t n = Entry::SizeFor(e->klen, e->vlen);
    e->~Entry();
    ReleaseBlock(*p.owner->alloc, e, n);
    p.owner->hooks.release(p.owner->hooks.ctx, p.obj);
  }
}

}  // namespace detail

Status Cache::SetObject(std::string_view key, void *obj, uint64_t charge,
                        const std::string_view *encoded, int64_t ttl_ms, WriteMode mode) {
  detail::ReleaseScope release_after;  // object releases, once the locks are gone
  uint64_t ttl;
  if (objects_ == nullptr || obj == nullptr || !ResolveTtl(ttl_ms, &ttl)) return Status::kInvalid;
  if (key.size() > kMaxKeySize || charge >= detail::kMaxObjectCharge) return Status::kTooLarge;
  constexpr size_t kPayload = sizeof(detail::ObjectPayload);
  if (Entry::SizeFor(key.size(), kPayload) + charge > max_bytes_) return Status::kTooLarge;
  detail::Link *link = link_.load(std::memory_order_acquire);
  if (link != nullptr && encoded == nullptr) {
    // A store needs the encoded form; one being closed takes nothing more
    // (the write is local only, as every write racing a close).
    if (!link->closing()) return Status::kInvalid;
    link = nullptr;
  }
  if (encoded != nullptr && encoded->size() > std::numeric_limits<uint32_t>::max()) {
    return Status::kTooLarge;
  }
  const uint64_t h = Hash(key);
  Entry *e = nullptr;
  if (NewObjectEntry(key, h, obj, charge, &e) != Status::kOk) return Status::kNoMem;
  Status st = Status::kClosed;
  if (__builtin_expect(link != nullptr, 0)) {
    // The table gets the object, the queue its encoded form.
    st = WriteLinked(link, key, encoded, 1, encoded->size(), h, ttl, mode, e);
  }
  if (st == Status::kClosed) {  // no link, or it is closing: write locally
    st = InsertAndBalance(ShardFor(h), e, h, mode, ttl, nullptr);
  }
  if (st != Status::kOk) e->DiscardUnpublished(*alloc_);
  return st;
}

Status Cache::NewObjectEntry(std::string_view key, uint64_t hash, void *obj, uint64_t charge, Entry **out) {
  Entry *e = Entry::CreateObject(*alloc_, key, hash, detail::ObjectPayload{obj, objects_, charge});
  if (e == nullptr) return Status::kNoMem;
  if (!HashTable::Encodable(e)) {
    e->DiscardUnpublished(*alloc_);
    return Status::kNoMem;
  }
  *out = e;
  return Status::kOk;
}

Status Cache::GetObject(std::string_view key, void **obj, const Value **bytes, bool local_only) {
  *obj = nullptr;
  if (bytes != nullptr) *bytes = nullptr;
  const uint64_t h = Hash(key);
  const Entry *pinned = nullptr;
  const Status st = ShardFor(h).GetObject(key, h, obj, bytes != nullptr ? &pinned : nullptr);
  if (st == Status::kOk && pinned != nullptr) *bytes = reinterpret_cast<const Value *>(pinned);
  if (__builtin_expect(st != Status::kNotFound, 1)) return st;
  // Only a miss drops entries (as in Get).
  detail::ReleaseScope release_after;
  if (local_only) return st;
  Entry *e = MissThrough(key, h);  // pinned for us
  if (e == nullptr) return st;
  if (e->is_object()) {  // a local write of an object came during the load
    if (objects_ != nullptr) {
      const detail::ObjectPayload p = e->object();
      objects_->hooks.retain(objects_->hooks.ctx, p.obj);  // our pin keeps it alive
      *obj = p.obj;
    }
    e->Unref(*alloc_);
    return Status::kOk;
  }
  if (bytes == nullptr) {
    e->Unref(*alloc_);
    return Status::kWrongKind;
  }
  *bytes = reinterpret_cast<const Value *>(e);
  return Status::kOk;
}

Status Cache::UpgradeObject(std::string_view key, const Value *seen, void *obj, uint64_t charge) {
  detail::ReleaseScope release_after;
  if (objects_ == nullptr || obj == nullptr || seen == nullptr) return Status::kInvalid;
  if (key.size() > kMaxKeySize) return Status::kExists;  // never kept
  if (charge >= detail::kMaxObjectCharge) return Status::kTooLarge;
  const uint64_t h = Hash(key);
  Entry *e = nullptr;
  if (NewObjectEntry(key, h, obj, charge, &e) != Status::kOk) return Status::kNoMem;
  const Status st = ShardFor(h).Upgrade(key, h, reinterpret_cast<const Entry *>(seen), e);
  if (st != Status::kOk) e->DiscardUnpublished(*alloc_);
  return st;
}

Status Cache::TakeObject(std::string_view key, void **obj, const Value **bytes) {
  detail::ReleaseScope release_after;
  *obj = nullptr;
  *bytes = nullptr;
  const Entry *e = nullptr;
  const Status st = TakeEntry(key, &e, /*bytes_only=*/false);
  if (st != Status::kOk || e == nullptr) return st;
  if (!e->is_object()) {
    *bytes = reinterpret_cast<const Value *>(e);
    return st;
  }
  // A reference for the caller (with no lock held: the taken entry is ours),
  // then the cache's is released, as for any entry that leaves. Handing the
  // cache's own reference over instead would race with a pin still held
  // elsewhere (a read-through reader of the same entry).
  const detail::ObjectPayload p = e->object();
  objects_->hooks.retain(objects_->hooks.ctx, p.obj);
  *obj = p.obj;
  const_cast<Entry *>(e)->Unref(*alloc_);
  return st;
}

int Cache::VisitObjects(int (*fn)(void *ctx, void *obj), void *ctx) const {
  if (objects_ == nullptr) return 0;
  for (uint32_t i = 0; i <= shard_mask_; ++i) {
    if (const int rc = shards_.get()[i].VisitObjects(fn, ctx); rc != 0) return rc;
  }
  return 0;
}

}  // namespace libcache
