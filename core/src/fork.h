// Fork safety: a child process must get working caches even if another thread
// of the parent held a shard lock when fork() ran. Every open cache registers
// here; pthread_atfork handlers take all shard locks before fork and release
// them in both processes after it, so no lock is copied in a held state.
// This registry is the engine's one piece of process-wide state, by necessity.

#ifndef LIBCACHE_CORE_SRC_FORK_H_
#define LIBCACHE_CORE_SRC_FORK_H_

namespace libcache {
class Cache;
namespace detail {

// False when out of memory (the cache is then not registered).
bool RegisterForFork(Cache *cache);
void UnregisterForFork(Cache *cache);

}  // namespace detail
}  // namespace libcache

#endif  // LIBCACHE_CORE_SRC_FORK_H_
