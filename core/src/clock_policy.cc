#include "core/src/clock_policy.h"

namespace libcache::detail {

Entry *ClockPolicy::Evict(const Entry *keep, Expiry::Check &is_expired, bool *expired) {
  for (;;) {
    Entry *e = ring_.Front();
    if (e == nullptr) return nullptr;
    if (e == keep) {  // pass over it; after one lap the others have lost their bits
      if (ring_.size() == 1) return nullptr;
      ring_.MoveFrontToBack();
      continue;
    }
    if (is_expired(e)) {
      ring_.PopFront();
      *expired = true;
      return e;
    }
    if (e->referenced.load(std::memory_order_relaxed) != 0) {
      e->referenced.store(0, std::memory_order_relaxed);
      ring_.MoveFrontToBack();
      continue;
    }
    ring_.PopFront();
    *expired = false;
    return e;
  }
}

}  // namespace libcache::detail
