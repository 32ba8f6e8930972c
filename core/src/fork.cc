#include "core/src/fork.h"

#include <pthread.h>

#include <algorithm>
#include <mutex>
#include <new>
#include <vector>

#include "core/cache.h"
#include "core/src/mutex.h"
#include "core/src/thread_annotations.h"

namespace libcache::detail {
namespace {

struct Registry {
  Mutex mu;
  std::vector<Cache *> caches GUARDED_BY(mu);
};

// Leaked on purpose: caches may be closed from static destructors.
Registry &TheRegistry() {
  static Registry *registry = new Registry;
  return *registry;
}

// Prepare takes the registry's lock and every shard lock of every cache, and
// Release drops them, in another call: the analysis cannot follow a lock held
// from one function to another, so neither body is checked.
void Prepare() NO_THREAD_SAFETY_ANALYSIS {
  Registry &r = TheRegistry();
  r.mu.lock();
  for (Cache *c : r.caches) c->ForkPrepare();
}

// Run on the forking thread, in the parent and in the child.
void ReleaseParent() NO_THREAD_SAFETY_ANALYSIS {
  Registry &r = TheRegistry();
  for (Cache *c : r.caches) c->ForkParent();
  r.mu.unlock();
}

void ReleaseChild() NO_THREAD_SAFETY_ANALYSIS {
  Registry &r = TheRegistry();
  for (Cache *c : r.caches) c->ForkChild();  // each cache's link goes inert
  r.mu.unlock();
}

}  // namespace

bool RegisterForFork(Cache *cache) {
  static std::once_flag once;
  static bool installed = false;
  std::call_once(once, [] { installed = pthread_atfork(&Prepare, &ReleaseParent, &ReleaseChild) == 0; });
  if (!installed) return false;  // ENOMEM: pthread_atfork's only failure
  try {
    Registry &r = TheRegistry();
    LockGuard<Mutex> lock(r.mu);
    r.caches.push_back(cache);
    return true;
  } catch (const std::bad_alloc &) {
    return false;
  }
}

void UnregisterForFork(Cache *cache) {
  Registry &r = TheRegistry();
  LockGuard<Mutex> lock(r.mu);
  r.caches.erase(std::remove(r.caches.begin(), r.caches.end(), cache), r.caches.end());
}

}  // namespace libcache::detail
