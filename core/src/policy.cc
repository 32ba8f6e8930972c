#include "core/src/policy.h"

#include <new>

#include "core/src/adaptive_policy.h"
#include "core/src/clock_policy.h"

namespace libcache::detail {

std::unique_ptr<Policy> MakePolicy(PolicyKind kind) {
  switch (kind) {
    case PolicyKind::kAdaptive:
      return std::unique_ptr<Policy>(new (std::nothrow) AdaptivePolicy);
    case PolicyKind::kClock:
      break;
  }
  return std::unique_ptr<Policy>(new (std::nothrow) ClockPolicy);
}

}  // namespace libcache::detail
