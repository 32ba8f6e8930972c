package libcache_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libcache/libcache/bindings/go/libcache"
)

// Many goroutines read, write, delete, take and load a small key space of a
// small cache (evicting all the time); every value read must be one written
// for its key, whole.
func TestHammer(t *testing.T) {
	c := mustNew(t, libcache.Options{MaxBytes: 16 << 10, Shards: 4})
	const goroutines, ops, keys = 8, 4000, 256
	valueFor := func(k, n int) []byte {
		return []byte(fmt.Sprintf("key%d:%d:%s", k, n, bytes.Repeat([]byte{'x'}, n%200)))
	}
	check := func(k int, v []byte) error {
		var kk, n int
		if _, err := fmt.Sscanf(string(v), "key%d:%d:", &kk, &n); err != nil || kk != k ||
			!bytes.Equal(v, valueFor(k, n)) {
			return fmt.Errorf("key %d holds %.40q", k, v)
		}
		return nil
	}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			buf := make([]byte, 0, 64)
			for i := range ops {
				k := r.IntN(keys)
				key := []byte(fmt.Sprintf("key%d", k))
				var v []byte
				var err error
				found := false
				switch r.IntN(8) {
				case 0, 1:
					err = c.Set(key, valueFor(k, g*ops+i))
				case 2:
					v, found = c.Get(key)
				case 3:
					buf, found = c.GetAppend(buf[:0], key)
					v = buf
				case 4:
					_, err = c.Delete(key)
				case 5:
					v, found, err = c.Take(key)
				case 6:
					v, err = c.GetOrLoad(key, func() ([]byte, error) { return valueFor(k, i), nil })
					found = err == nil
				case 7:
					var pv *libcache.Value
					pv, found, err = c.GetValue(key)
					if found {
						v = pv.Copy()
						pv.Release()
					}
				}
				if err == nil && found {
					err = check(k, v)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s, err := c.Stats(); err != nil || s.Evictions == 0 {
		t.Fatalf("Stats = %+v, %v: the test meant to evict", s, err)
	}
}

// Close racing every operation: no crash, no race, and every call that
// starts after Close returns ErrClosed (a miss for Get and Has).
func TestCloseRacesEveryOperation(t *testing.T) {
	for round := range 10 {
		c, err := libcache.New(libcache.Options{MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		ops := []func(k []byte) error{
			func(k []byte) error { return c.Set(k, k) },
			func(k []byte) error { return c.Add(k, k, time.Minute) },
			func(k []byte) error { return c.Replace(k, k, 0) },
			func(k []byte) error { _, err := c.Delete(k); return err },
			func(k []byte) error { _, _, err := c.Take(k); return err },
			func(k []byte) error { _, err := c.Touch(k, time.Minute); return err },
			func(k []byte) error { _, _, err := c.TTL(k); return err },
			func(k []byte) error { _, err := c.Stats(); return err },
			func(k []byte) error { _, err := c.PurgeExpired(); return err },
			func(k []byte) error { return c.Clear() },
			func(k []byte) error {
				v, _, err := c.GetValue(k)
				if v != nil {
					_ = v.Bytes()
					v.Release()
				}
				return err
			},
			func(k []byte) error {
				_, err := c.GetOrLoad(k, func() ([]byte, error) { return k, nil })
				return err
			},
			func(k []byte) error { c.Get(k); c.Has(k); c.GetAppend(nil, k); return nil },
		}
		var started sync.WaitGroup
		var done sync.WaitGroup
		errs := make(chan error, len(ops))
		for i, op := range ops {
			started.Add(1)
			done.Add(1)
			go func() {
				defer done.Done()
				key := []byte{byte(i), byte(round)}
				for n := 0; ; n++ {
					if n == 100 {
						started.Done() // each op ran 100 times before Close
					}
					err := op(key)
					if errors.Is(err, libcache.ErrClosed) {
						if n < 100 {
							started.Done()
						}
						return
					}
					if err != nil && !errors.Is(err, libcache.ErrExists) && !errors.Is(err, libcache.ErrNotFound) {
						errs <- fmt.Errorf("op %d: %v", i, err)
						return
					}
					if i == len(ops)-1 && n > 100 {
						if _, serr := c.Stats(); errors.Is(serr, libcache.ErrClosed) {
							return // the op without an error saw the close through Stats
						}
					}
				}
			}()
		}
		started.Wait()
		// Two closers at once: both return, the cache is closed once.
		var closers sync.WaitGroup
		for range 2 {
			closers.Add(1)
			go func() { defer closers.Done(); c.Close() }()
		}
		closers.Wait()
		done.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		checkClosed(t, c)
	}
}

// One loader per key under contention: the waiters share its value.
func TestGetOrLoadSingleFlight(t *testing.T) {
	c := mustNew(t, libcache.Options{})
	const callers = 16
	key := []byte("slow")
	var calls atomic.Int32
	load := func() ([]byte, error) {
		calls.Add(1)
		// Wait until every other caller waits for this load (so the test
		// proves sharing, not luck).
		for libcache.FlightWaiters(c, "slow") < callers-1 {
			runtime.Gosched()
		}
		return []byte("loaded"), nil
	}
	var wg sync.WaitGroup
	results := make([][]byte, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = c.GetOrLoad(key, load)
		}()
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Fatalf("the loader ran %d times, want 1", n)
	}
	for i := range callers {
		if errs[i] != nil || string(results[i]) != "loaded" {
			t.Fatalf("caller %d: %q, %v", i, results[i], errs[i])
		}
	}
	results[0][0] = 'X' // each caller has its own copy
	for i := 1; i < callers; i++ {
		if string(results[i]) != "loaded" {
			t.Fatal("callers share one slice")
		}
	}
	wantValue(t, c, "slow", "loaded")
	// A hit never calls the loader.
	v, err := c.GetOrLoad(key, func() ([]byte, error) { t.Fatal("loader on a hit"); return nil, nil })
	if err != nil || string(v) != "loaded" {
		t.Fatal(v, err)
	}
}

func TestGetOrLoadErrors(t *testing.T) {
	c := mustNew(t, libcache.Options{MaxBytes: 1 << 20, Shards: 1})
	boom := errors.New("boom")
	if _, err := c.GetOrLoad([]byte("k"), func() ([]byte, error) { return nil, boom }); err != boom {
		t.Fatalf("loader error = %v", err)
	}
	wantMissing(t, c, []byte("k"))
	// A value too large to keep is still returned.
	big := make([]byte, 2<<20)
	v, err := c.GetOrLoad([]byte("big"), func() ([]byte, error) { return big, nil })
	if err != nil || len(v) != len(big) {
		t.Fatalf("GetOrLoad(too large) = %d bytes, %v", len(v), err)
	}
	wantMissing(t, c, []byte("big"))
	if _, err := c.GetOrLoad([]byte("k"), nil); !errors.Is(err, libcache.ErrInvalid) {
		t.Fatalf("nil loader: %v", err)
	}
	if _, err := c.GetOrLoadWithTTL([]byte("k"), -time.Second, func() ([]byte, error) { return nil, nil }); !errors.Is(err, libcache.ErrInvalid) {
		t.Fatalf("negative TTL: %v", err)
	}
	v, err = c.GetOrLoadWithTTL([]byte("nil"), time.Minute, func() ([]byte, error) { return nil, nil })
	if err != nil || v == nil || len(v) != 0 {
		t.Fatalf("nil value loaded: %v, %v", v, err)
	}
	if d, ok, _ := c.TTL([]byte("nil")); !ok || d != time.Minute {
		t.Fatalf("TTL of a loaded value = %v, %v", d, ok)
	}
}

// A panicking loader: its caller panics with the value, the waiters get a
// *PanicError, and the key is not wedged.
func TestGetOrLoadPanic(t *testing.T) {
	c := mustNew(t, libcache.Options{})
	const waiters = 4
	key := []byte("p")
	var wg sync.WaitGroup
	waitErrs := make([]error, waiters)
	leaderIn := make(chan struct{})
	leaderPanic := make(chan any, 1)
	go func() {
		defer func() { leaderPanic <- recover() }()
		c.GetOrLoad(key, func() ([]byte, error) {
			close(leaderIn)
			for libcache.FlightWaiters(c, "p") < waiters {
				runtime.Gosched()
			}
			panic("loader exploded")
		})
	}()
	<-leaderIn
	for i := range waiters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, waitErrs[i] = c.GetOrLoad(key, func() ([]byte, error) {
				return nil, errors.New("a waiter ran its own loader")
			})
		}()
	}
	wg.Wait()
	if p := <-leaderPanic; p != "loader exploded" {
		t.Fatalf("the leader's panic = %v", p)
	}
	for i, err := range waitErrs {
		var pe *libcache.PanicError
		if !errors.As(err, &pe) || pe.Value != "loader exploded" || len(pe.Stack) == 0 {
			t.Fatalf("waiter %d: %v, want a *PanicError", i, err)
		}
	}
	v, err := c.GetOrLoad(key, func() ([]byte, error) { return []byte("ok"), nil })
	if err != nil || string(v) != "ok" {
		t.Fatalf("after the panic: %q, %v", v, err)
	}
}

// A loader that calls runtime.Goexit (t.FailNow does) releases its waiters.
func TestGetOrLoadGoexit(t *testing.T) {
	c := mustNew(t, libcache.Options{})
	leaderIn := make(chan struct{})
	leaderGone := make(chan struct{})
	go func() {
		defer close(leaderGone)
		c.GetOrLoad([]byte("g"), func() ([]byte, error) {
			close(leaderIn)
			for libcache.FlightWaiters(c, "g") < 1 {
				runtime.Gosched()
			}
			runtime.Goexit()
			return nil, nil
		})
	}()
	<-leaderIn
	_, err := c.GetOrLoad([]byte("g"), func() ([]byte, error) { return []byte("mine"), nil })
	<-leaderGone
	if err == nil || err.Error() == "" {
		t.Fatalf("waiter of a Goexit loader: %v", err)
	}
}
