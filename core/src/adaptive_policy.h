// placeholder
#ifndef LIBCACHE_CORE_SRC_ADAPTIVE_POLICY_H_
#define LIBCACHE_CORE_SRC_ADAPTIVE_POLICY_H_
#include "core/src/clock_policy.h"
namespace libcache::detail {
class AdaptivePolicy final : public Policy {};
}
#endif
