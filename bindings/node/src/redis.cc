// libcache's Node.js addon: the Redis adapter (<libcache/cache_redis.h>).
#include "addon.h"

namespace libcache_node {

Napi::Value NativeCache::AttachRedis(const Napi::CallbackInfo &info) {
  ThrowStatus(info.Env(), CACHE_E_INVALID, "attachRedis: not built with the Redis adapter");
}

void RedisCacheClosing(RedisLink *) {}

void InitRedis(Napi::Env, Napi::Object) {}

}  // namespace libcache_node
