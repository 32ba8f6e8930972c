#include "core/src/stripe_lock.h"

#include <atomic>

namespace libcache::detail {

uint32_t StripeIndex::NextThreadIndex() {
  static std::atomic<uint32_t> next{0};
  // relaxed: any value is correct; distinct values only spread the load.
  return next.fetch_add(1, std::memory_order_relaxed) & (kUnassigned >> 1);
}

}  // namespace libcache::detail
