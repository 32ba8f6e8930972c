// Package libcache is the Go binding of libcache, an embedded, bounded,
// thread-safe in-process cache engine written in C++, used here through its
// stable C ABI (<libcache/cache.h>) with cgo.
//
// A Cache maps byte-string keys (0 to MaxKeySize bytes) to byte-string
// values. It holds at most Options.MaxBytes bytes, where an entry is charged
// for its key, its value and the engine's own memory for it, so the bound
// holds for real memory, and optionally at most Options.MaxEntries entries;
// when a write would exceed a bound, the eviction policy (CLOCK, or the
// frequency-aware PolicyAdaptive) chooses what leaves. Entries may carry a
// time to live, per entry or the cache's default; an expired entry is never
// returned. The values live outside the Go heap: the garbage collector
// neither scans nor moves them.
//
//	cache, err := libcache.New(libcache.Options{MaxBytes: 64 << 20, TTL: time.Minute})
//	if err != nil { ... }
//	defer cache.Close()
//	cache.Set([]byte("user:42"), []byte(`{"name":"Ada"}`))
//	v, ok := cache.Get([]byte("user:42"))
//
// # TTLs
//
// A TTL argument is a time.Duration: > 0 is kept in whole milliseconds
// (anything under a millisecond counts as one, never as "no expiry"); 0 and
// NoExpiry mean the entry never expires; DefaultTTL means the cache's
// default (Options.TTL); any other negative value is ErrInvalid. An entry
// expires exactly at its deadline.
//
// # Results and errors
//
// A miss is a result, not an error: Get returns ok == false, Delete and
// Touch return false, Take, TTL and GetValue return found == false. Every
// error is an *Error comparable with errors.Is against the sentinels
// ErrInvalid, ErrTooLarge, ErrClosed, ErrNoMemory...; conditional writes
// report their condition the same way (Add: ErrExists, Replace:
// ErrNotFound). An error leaves the cache as it was. Hostile input (a key
// over MaxKeySize, a value larger than a shard can hold, negative or huge
// options) gives an error saying what was wrong, never a panic.
//
// # Concurrency and Close
//
// Every method may be called from any number of goroutines, Close
// included. Close waits for the calls in flight and then frees the engine's
// cache; a call that starts after Close began returns ErrClosed (Get, Has
// and GetAppend report a miss). Close is idempotent. A Cache that becomes
// unreachable without Close is closed by a cleanup (runtime.AddCleanup),
// only as a safety net: close caches explicitly, since the garbage collector
// does not see the memory a cache holds.
//
// The guard that makes Close safe costs two atomic additions on a
// per-goroutine counter line per call (see BenchmarkGuard in bench/).
//
// # Reading without a copy
//
// Get returns a copy in a new slice; GetAppend copies into the caller's
// buffer (no allocation when it has room); GetValue pins the engine's own
// bytes in a *Value until Release, with no copy at all, even after the
// entry changes and after Close. A Value must be released: it has no
// finalizer.
//
// # Loading
//
// GetOrLoad is cache-aside with a single flight per key: on a miss one
// caller runs the loader and stores its value; the others wait for it.
//
// # Redis and other languages
//
// Package libcache/redis attaches Redis as a shared tier (write-behind,
// read-through, near-cache coherence) from the C library libcache_redis;
// package libcache/tagged reads and writes the one-byte type tags the
// Python and Node.js bindings put in front of their values, so that the
// three share entries through one Redis.
//
// # Building
//
// The package finds libcache with pkg-config (`#cgo pkg-config: libcache`):
// set PKG_CONFIG_PATH to the directory holding libcache.pc when libcache is
// not installed system-wide, and LD_LIBRARY_PATH (or an rpath) so that the
// program finds libcache.so.1 at run time. Go's build cache does not notice
// a rebuilt libcache: after rebuilding it, rebuild with `go build -a`, or
// change CGO_CFLAGS (scripts/test_go.sh puts a hash of the installed library
// there).
//
// # Costs
//
// Each call crosses cgo (about 40 ns for an empty call on the 2-core test
// machine), so a pure-Go cache such as otter answers a hit faster; libcache
// gives exact byte bounds, a TTL per entry, values outside the Go heap and
// the shared Redis tier in exchange. bindings/go/README.md has the measured
// medians.
package libcache
