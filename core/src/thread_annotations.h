// Clang's thread-safety annotations (-Wthread-safety), as macros: what each
// lock guards and which functions need it held, checked at compile time by
// clang and ignored by other compilers. scripts/test.sh builds the library
// with clang -Wthread-safety -Werror.
//
// Meaning, in short (https://clang.llvm.org/docs/ThreadSafetyAnalysis.html):
//   CAPABILITY(name)        the class is a lock
//   SCOPED_CAPABILITY       the class holds a lock for its lifetime (a guard)
//   GUARDED_BY(mu)          a member read only with mu held (shared or
//                           exclusive), written only with mu held exclusively
//   PT_GUARDED_BY(mu)       the same for what a pointer member points to
//   REQUIRES(mu...)         the caller holds mu exclusively
//   REQUIRES_SHARED(mu...)  the caller holds mu, at least shared
//   ACQUIRE / RELEASE       the function takes / drops mu exclusively (no
//                           argument: the object itself, for lock methods)
//   ACQUIRE_SHARED / RELEASE_SHARED   the same, shared
//   EXCLUDES(mu...)         the caller must not hold mu (the function takes it)
//   NO_THREAD_SAFETY_ANALYSIS         the body is not checked; only where the
//                           analysis cannot express what the code does, with a
//                           comment saying why
//
// libstdc++'s std::mutex and std::lock_guard carry no annotations: code that
// the analysis checks uses detail::Mutex and detail::LockGuard
// (core/src/mutex.h).

#ifndef LIBCACHE_CORE_SRC_THREAD_ANNOTATIONS_H_
#define LIBCACHE_CORE_SRC_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define LIBCACHE_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define LIBCACHE_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(name) LIBCACHE_THREAD_ANNOTATION(capability(name))
#define SCOPED_CAPABILITY LIBCACHE_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) LIBCACHE_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) LIBCACHE_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) LIBCACHE_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) LIBCACHE_THREAD_ANNOTATION(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) LIBCACHE_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) LIBCACHE_THREAD_ANNOTATION(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) LIBCACHE_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) LIBCACHE_THREAD_ANNOTATION(release_shared_capability(__VA_ARGS__))
#define EXCLUDES(...) LIBCACHE_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS LIBCACHE_THREAD_ANNOTATION(no_thread_safety_analysis)

#endif  // LIBCACHE_CORE_SRC_THREAD_ANNOTATIONS_H_
