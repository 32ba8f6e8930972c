package libcache

import (
	"bytes"
	"errors"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// flightGroup is GetOrLoad's single flight: at most one loader per key at a
// time; callers that miss while it runs wait for it and share its outcome.
type flightGroup struct {
	mu sync.Mutex
	m  map[string]*flight // guarded by mu: the loads in progress, by key
}

type flight struct {
	done    chan struct{} // closed when val and err are final
	waiters atomic.Int32  // callers waiting on done (for tests)
	val     []byte
	err     error
}

// errGoexit is what waiters get when the loader called runtime.Goexit (as
// t.FailNow does) instead of returning.
var errGoexit = errors.New("libcache: GetOrLoad: the loader did not return (runtime.Goexit)")

// GetOrLoad returns the value for key; on a miss it calls load, stores what
// it returns with the default TTL (Options.TTL) and returns it. Single
// flight: while one call's load runs, other callers that miss on the same
// key wait for it and get its outcome (a copy of the value, or its error)
// instead of loading again; a loader that panics makes its own caller panic
// again and the waiters return a *PanicError. A loader's error is returned
// and nothing is stored.
//
// When the loaded value cannot be stored for its size (ErrTooLarge), it is
// returned anyway with a nil error; any other failure to store it is
// returned together with the value. load must not call GetOrLoad for the
// same key on the same cache (it would wait for itself).
func (c *Cache) GetOrLoad(key []byte, load func() ([]byte, error)) ([]byte, error) {
	return c.GetOrLoadWithTTL(key, DefaultTTL, load)
}

// GetOrLoadWithTTL is GetOrLoad storing the loaded value with ttl (as for
// SetWithTTL).
func (c *Cache) GetOrLoadWithTTL(key []byte, ttl time.Duration, load func() ([]byte, error)) ([]byte, error) {
	const op = "GetOrLoad"
	if _, err := ttlArg(op, ttl); err != nil {
		return nil, err
	}
	if v, ok, err := c.lookup(op, key); ok || err != nil {
		return v, err
	}
	if load == nil {
		return nil, invalidf(op, "the loader is nil and the key is missing")
	}
	g := &c.s.flights
	g.mu.Lock()
	if f, ok := g.m[string(key)]; ok {
		g.mu.Unlock()
		f.waiters.Add(1)
		<-f.done
		if f.val == nil {
			return nil, f.err
		}
		return bytes.Clone(f.val), f.err
	}
	if g.m == nil {
		g.m = make(map[string]*flight)
	}
	f := &flight{done: make(chan struct{})}
	name := string(key)
	g.m[name] = f
	g.mu.Unlock()

	finished := false
	defer func() {
		if finished {
			return
		}
		// load panicked or called runtime.Goexit: the waiters must not wait
		// forever.
		r := recover()
		if r != nil {
			f.err = &PanicError{Value: r, Stack: debug.Stack()}
		} else {
			f.err = errGoexit
		}
		f.val = nil
		g.finish(name, f)
		if r != nil {
			panic(r)
		}
	}()
	// A flight that ended between our miss and our registration stored its
	// value first: look again before loading, so that contention never loads
	// a key twice.
	if v, ok, err := c.lookup(op, key); ok || err != nil {
		f.val, f.err = v, err
	} else if v, err := load(); err != nil {
		f.err = err
	} else {
		if v == nil {
			v = []byte{}
		}
		f.val = v
		if err := c.SetWithTTL(key, v, ttl); err != nil && !errors.Is(err, ErrTooLarge) {
			f.err = err
		}
	}
	finished = true
	g.finish(name, f)
	return f.val, f.err
}

func (g *flightGroup) finish(name string, f *flight) {
	g.mu.Lock()
	delete(g.m, name)
	g.mu.Unlock()
	close(f.done)
}

// lookup is Get telling a closed cache apart: ErrClosed.
func (c *Cache) lookup(op string, key []byte) ([]byte, bool, error) {
	v, found, open := c.getAppend(nil, key)
	if !open {
		return nil, false, closedError(op)
	}
	if found && v == nil {
		v = []byte{}
	}
	return v, found, nil
}

// flightWaiters is how many callers wait for the load of key (tests).
func (c *Cache) flightWaiters(key string) int {
	g := &c.s.flights
	g.mu.Lock()
	defer g.mu.Unlock()
	if f, ok := g.m[key]; ok {
		return int(f.waiters.Load())
	}
	return 0
}
