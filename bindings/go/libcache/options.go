package libcache

import (
	"math"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
	"unsafe"
)

/*
#include <stdlib.h>
#include <stdint.h>
*/
import "C"

// Policy chooses which entries leave when a write would exceed a bound.
// Both policies keep every other promise (bounds, TTLs, statistics).
type Policy int

const (
	// PolicyClock is one CLOCK ring per shard, second chance (the default).
	PolicyClock Policy = 0
	// PolicyAdaptive is frequency-aware (a window TinyLFU over CLOCK rings):
	// a higher hit ratio on database, search and looping workloads; writes
	// cost a little more.
	PolicyAdaptive Policy = 1
)

func (p Policy) String() string {
	switch p {
	case PolicyClock:
		return "clock"
	case PolicyAdaptive:
		return "adaptive"
	}
	return "Policy(" + strconv.Itoa(int(p)) + ")"
}

// Limits and TTL conventions.
const (
	// MaxKeySize is the longest key, in bytes: writes with a longer key fail
	// with ErrTooLarge, and reads find nothing.
	MaxKeySize = 65535
	// DefaultMaxBytes is the byte bound of Options{} (64 MiB).
	DefaultMaxBytes = 64 << 20
	// NoLimit as Options.MaxBytes opens a cache without a byte bound (then
	// MaxEntries must be set).
	NoLimit = -1
	// NoExpiry as a TTL: the entry never expires (as 0 does). TTL returns it
	// for an entry without expiry.
	NoExpiry time.Duration = math.MaxInt64
	// DefaultTTL as a TTL argument: the cache's default (Options.TTL).
	DefaultTTL time.Duration = math.MinInt64
)

// Options configures New. The zero value is a 64 MiB cache without an entry
// bound or default TTL, with automatic shards and the CLOCK policy.
type Options struct {
	// MaxBytes bounds the memory the entries hold, engine overhead included
	// (0: DefaultMaxBytes; NoLimit: no byte bound, MaxEntries must be set).
	MaxBytes int64
	// MaxEntries bounds the number of entries (0: no entry bound).
	MaxEntries int64
	// TTL is the time to live of writes that pass DefaultTTL (Set, Add,
	// Replace, GetOrLoad), in whole milliseconds (0: never expire).
	TTL time.Duration
	// Shards is the number of lock shards: a power of two up to 1024, or 0
	// to choose from the core count. The largest entry a cache accepts is a
	// little under MaxBytes / Shards.
	Shards int
	// Policy is the eviction policy (PolicyClock unless set).
	Policy Policy
	// Clock, when set, replaces the engine's monotonic clock for this cache
	// (experimental, for deterministic TTL tests; cache_options_set_clock).
	Clock *ManualClock
}

// ManualClock is a clock that moves only when told to (Advance), for tests
// of TTLs: give it to Options.Clock. It is 8 bytes of C memory that the
// engine reads with an atomic load (a C function, no call into Go), freed
// when neither the clock nor a cache using it is reachable. Safe for
// concurrent use.
type ManualClock struct {
	ms *C.uint64_t
}

// NewManualClock returns a clock reading start (rounded down to ms).
func NewManualClock(start time.Duration) *ManualClock {
	p := (*C.uint64_t)(C.malloc(8))
	if p == nil {
		panic("libcache: NewManualClock: out of memory")
	}
	c := &ManualClock{ms: p}
	c.word().Store(uint64(max(start, 0) / time.Millisecond))
	runtime.AddCleanup(c, func(p unsafe.Pointer) { C.free(p) }, unsafe.Pointer(p))
	return c
}

func (c *ManualClock) word() *atomic.Uint64 { return (*atomic.Uint64)(unsafe.Pointer(c.ms)) }

// Advance moves the clock forward by d (rounded down to ms). A negative d
// panics: the engine's clock never goes back.
func (c *ManualClock) Advance(d time.Duration) {
	if d < 0 {
		panic("libcache: ManualClock.Advance: negative duration " + d.String())
	}
	c.word().Add(uint64(d / time.Millisecond))
}

// Now is the clock's reading.
func (c *ManualClock) Now() time.Duration {
	return time.Duration(c.word().Load()) * time.Millisecond
}
