package libcache

import (
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"
	"unsafe"
)

// guard keeps cache_close from running while a C call on the cache is in
// flight (the C ABI forbids that race), and makes every call that starts
// after Close begins return ErrClosed.
//
// A call enters by incrementing one of several counters (stripes) and then
// reading closed; Close sets closed and then waits until every stripe reads
// zero. Both sides use sequentially consistent atomics (Go's only kind), so
// either the call sees closed (and leaves without touching the handle) or
// Close sees its increment (and waits for it): the Dekker argument.
//
// Why stripes: one shared counter puts a contended read-modify-write on
// every Get, and with goroutines on several cores the counter's cache line
// moves between them on every call. A goroutine picks its stripe from the
// address of its own stack, so a goroutine keeps using one stripe and
// goroutines on different cores mostly use different lines; closed is
// written once, so its line stays shared in every core's cache. The
// benchmark BenchmarkGuard (bench/) compares this with one atomic counter
// and with a sync.RWMutex.
type guard struct {
	closed  atomic.Bool
	_       [cacheLine - 4]byte
	stripes []stripe
	mask    uintptr
}

const cacheLine = 64

type stripe struct {
	n atomic.Int64 // in-flight calls that entered through this stripe
	_ [cacheLine - 8]byte
}

func (g *guard) init() {
	n := 4 * runtime.GOMAXPROCS(0)
	n = 1 << bits.Len(uint(n-1)) // next power of two
	n = min(max(n, 16), 256)
	g.stripes = make([]stripe, n)
	g.mask = uintptr(n - 1)
}

// enter begins a call: false when the guard is closed (nothing to undo).
// Otherwise the caller must call exit with the token.
func (g *guard) enter() (uint32, bool) {
	var probe byte
	// The goroutine's stack address picks the stripe (never dereferenced;
	// converting the address to a number does not make probe escape).
	i := stripeOf(uintptr(unsafe.Pointer(&probe))) & g.mask
	s := &g.stripes[i]
	s.n.Add(1)
	if g.closed.Load() {
		s.n.Add(-1)
		return 0, false
	}
	return uint32(i), true
}

func (g *guard) exit(token uint32) {
	g.stripes[token].n.Add(-1)
}

func stripeOf(addr uintptr) uintptr {
	// Goroutine stacks are at least 2 KiB apart; mix the bits above that.
	return uintptr((uint64(addr>>11) * 0x9e3779b97f4a7c15) >> 56)
}

// close marks the guard closed and waits until no call is in flight. It
// returns false if the guard was closed already (by another close, which may
// still be waiting).
func (g *guard) close() bool {
	if !g.closed.CompareAndSwap(false, true) {
		return false
	}
	for i := range g.stripes {
		wait := time.Microsecond
		for spins := 0; g.stripes[i].n.Load() != 0; spins++ {
			if spins < 64 {
				runtime.Gosched()
				continue
			}
			time.Sleep(wait)
			wait = min(2*wait, time.Millisecond)
		}
	}
	return true
}
