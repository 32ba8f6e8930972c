#include "core/src/stripe_lock.h"

#include <new>

namespace libcache::detail {

bool StripeLock::Init(uint32_t stripes) {
  stripes_ = new (std::nothrow) ReadStripe[stripes];
  if (stripes_ == nullptr) return false;
  mask_ = stripes - 1;
  return true;
}

uint32_t StripeLock::NextThreadIndex() {
  static std::atomic<uint32_t> next{0};
  // relaxed: any value is correct; distinct values only spread the load.
  return next.fetch_add(1, std::memory_order_relaxed) & (kUnassigned >> 1);
}

}  // namespace libcache::detail
