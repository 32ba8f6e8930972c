package bench

// Run (the numbers in the README come from this, medians of -count runs;
// BENCH_ORDER=sequential reads the keys in the order they were written,
// which keeps much more of every cache's memory in the CPU caches):
//
//	cd bindings/go/bench && go test -run '^$' -bench . -cpu 2 -count 10 | tee new.txt
//	benchstat new.txt
//
// Every benchmark uses 2^16 keys ("key:<n>", 9 to 13 bytes) and 100-byte
// values, read and written in a fixed random order. get-hit reads keys that
// are all present; get-miss reads keys never written; set-evict writes 2^16
// keys into a cache bounded to half of them (by entries, as otter and
// ristretto bound them).
// The Parallel variants run b.RunParallel (one goroutine per P: run with
// -cpu 2 for two). libcache's Get returns a fresh copy; GetAppend copies
// into the caller's buffer; otter and ristretto return the stored slice
// itself (no copy at all).

import (
	"fmt"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/libcache/libcache/bindings/go/libcache"
	"github.com/maypok86/otter/v2"
)

const (
	numKeys = 1 << 16
	mask    = numKeys - 1
	valSize = 100
)

var (
	// order is a fixed random permutation of the key indexes: every loop
	// reads keys[order[i&mask]], so that no cache gets the locality of
	// walking its entries in the order they were allocated.
	order          []int32
	keys, missKeys [][]byte
	strKeys        []string
	strMissKeys    []string
	value          = make([]byte, valSize)
)

func init() {
	for i := range numKeys {
		keys = append(keys, []byte(fmt.Sprintf("key:%d", i)))
		missKeys = append(missKeys, []byte(fmt.Sprintf("miss:%d", i)))
	}
	for i := range numKeys {
		strKeys = append(strKeys, string(keys[i]))
		strMissKeys = append(strMissKeys, string(missKeys[i]))
	}
	for i := range value {
		value[i] = byte(i)
	}
	r := rand.New(rand.NewPCG(1, 2))
	order = make([]int32, numKeys)
	for i, p := range r.Perm(numKeys) {
		order[i] = int32(p)
		if os.Getenv("BENCH_ORDER") == "sequential" {
			order[i] = int32(i) // allocation order: the cache-friendly case
		}
	}
}

func newLibcache(b *testing.B, entries int64) *libcache.Cache {
	opts := libcache.Options{MaxBytes: 256 << 20}
	if entries > 0 {
		opts = libcache.Options{MaxBytes: libcache.NoLimit, MaxEntries: entries}
	}
	c, err := libcache.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func filledLibcache(b *testing.B) *libcache.Cache {
	c := newLibcache(b, 0)
	for _, k := range keys {
		if err := c.Set(k, value); err != nil {
			b.Fatal(err)
		}
	}
	return c
}

func filledOtter(b *testing.B, size int) *otter.Cache[string, []byte] {
	c := otter.Must(&otter.Options[string, []byte]{MaximumSize: size})
	for _, k := range strKeys {
		c.Set(k, value)
	}
	return c
}

func newRistretto(b *testing.B, size int64) *ristretto.Cache[string, []byte] {
	c, err := ristretto.NewCache(&ristretto.Config[string, []byte]{
		NumCounters: 10 * size, MaxCost: size, BufferItems: 64, IgnoreInternalCost: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c
}

func filledRistretto(b *testing.B) *ristretto.Cache[string, []byte] {
	c := newRistretto(b, 2*numKeys)
	for range 3 { // ristretto's admission drops some first writes
		for _, k := range strKeys {
			c.Set(k, value, 1)
		}
		c.Wait()
	}
	return c
}

// checkHits fails a get-hit benchmark that missed (ristretto may drop sets).
func checkHits(b *testing.B, misses int) {
	if misses > 0 {
		b.Fatalf("%d misses in a get-hit benchmark", misses)
	}
}

// ---- The floor --------------------------------------------------------------

func BenchmarkEmptyCgoCall(b *testing.B) {
	for b.Loop() {
		EmptyCall()
	}
}

// ---- get-hit ------------------------------------------------------------------

func BenchmarkGetHit(b *testing.B) {
	b.Run("libcache/Get", func(b *testing.B) {
		c := filledLibcache(b)
		misses := 0
		i := 0
		for b.Loop() {
			if _, ok := c.Get(keys[order[i&mask]]); !ok {
				misses++
			}
			i++
		}
		checkHits(b, misses)
	})
	b.Run("libcache/GetAppend", func(b *testing.B) {
		c := filledLibcache(b)
		buf := make([]byte, 0, 256)
		misses, i := 0, 0
		var ok bool
		for b.Loop() {
			if buf, ok = c.GetAppend(buf[:0], keys[order[i&mask]]); !ok {
				misses++
			}
			i++
		}
		checkHits(b, misses)
	})
	b.Run("libcache/GetValue", func(b *testing.B) {
		c := filledLibcache(b)
		misses, i := 0, 0
		for b.Loop() {
			v, ok, _ := c.GetValue(keys[order[i&mask]])
			if !ok {
				misses++
			} else {
				v.Release()
			}
			i++
		}
		checkHits(b, misses)
	})
	b.Run("otter", func(b *testing.B) {
		c := filledOtter(b, 2*numKeys)
		misses, i := 0, 0
		for b.Loop() {
			if _, ok := c.GetIfPresent(strKeys[order[i&mask]]); !ok {
				misses++
			}
			i++
		}
		checkHits(b, misses)
	})
	// otter handing out a private copy, as libcache's Get does: what the
	// copy and its garbage cost any cache.
	b.Run("otter/copy", func(b *testing.B) {
		c := filledOtter(b, 2*numKeys)
		misses, i := 0, 0
		for b.Loop() {
			if v, ok := c.GetIfPresent(strKeys[order[i&mask]]); !ok {
				misses++
			} else {
				sink = append([]byte(nil), v...)
			}
			i++
		}
		checkHits(b, misses)
	})
	b.Run("ristretto", func(b *testing.B) {
		c := filledRistretto(b)
		misses, i := 0, 0
		for b.Loop() {
			if _, ok := c.Get(strKeys[order[i&mask]]); !ok {
				misses++
			}
			i++
		}
		checkHits(b, misses)
	})
}

var sink []byte

func BenchmarkGetHitParallel(b *testing.B) {
	b.Run("libcache/Get", func(b *testing.B) {
		c := filledLibcache(b)
		b.RunParallel(func(pb *testing.PB) {
			i := start()
			for pb.Next() {
				c.Get(keys[order[i&mask]])
				i++
			}
		})
	})
	b.Run("libcache/GetAppend", func(b *testing.B) {
		c := filledLibcache(b)
		b.RunParallel(func(pb *testing.PB) {
			buf := make([]byte, 0, 256)
			i := start()
			for pb.Next() {
				buf, _ = c.GetAppend(buf[:0], keys[order[i&mask]])
				i++
			}
		})
	})
	b.Run("otter", func(b *testing.B) {
		c := filledOtter(b, 2*numKeys)
		b.RunParallel(func(pb *testing.PB) {
			i := start()
			for pb.Next() {
				c.GetIfPresent(strKeys[order[i&mask]])
				i++
			}
		})
	})
	b.Run("otter/copy", func(b *testing.B) {
		c := filledOtter(b, 2*numKeys)
		b.RunParallel(func(pb *testing.PB) {
			i, n := start(), 0
			var v []byte
			for pb.Next() {
				if got, ok := c.GetIfPresent(strKeys[order[i&mask]]); ok {
					v = append([]byte(nil), got...)
				}
				i++
				n++
			}
			if n > 0 && len(v) != valSize {
				b.Error("no copy made")
			}
		})
	})
	b.Run("ristretto", func(b *testing.B) {
		c := filledRistretto(b)
		b.RunParallel(func(pb *testing.PB) {
			i := start()
			for pb.Next() {
				c.Get(strKeys[order[i&mask]])
				i++
			}
		})
	})
}

// ---- get-miss -----------------------------------------------------------------

func BenchmarkGetMiss(b *testing.B) {
	b.Run("libcache/Get", func(b *testing.B) {
		c := filledLibcache(b)
		i := 0
		for b.Loop() {
			if _, ok := c.Get(missKeys[order[i&mask]]); ok {
				b.Fatal("hit")
			}
			i++
		}
	})
	b.Run("otter", func(b *testing.B) {
		c := filledOtter(b, 2*numKeys)
		i := 0
		for b.Loop() {
			if _, ok := c.GetIfPresent(strMissKeys[order[i&mask]]); ok {
				b.Fatal("hit")
			}
			i++
		}
	})
	b.Run("ristretto", func(b *testing.B) {
		c := filledRistretto(b)
		i := 0
		for b.Loop() {
			if _, ok := c.Get(strMissKeys[order[i&mask]]); ok {
				b.Fatal("hit")
			}
			i++
		}
	})
}

func BenchmarkGetMissParallel(b *testing.B) {
	b.Run("libcache/Get", func(b *testing.B) {
		c := filledLibcache(b)
		b.RunParallel(func(pb *testing.PB) {
			i := start()
			for pb.Next() {
				c.Get(missKeys[order[i&mask]])
				i++
			}
		})
	})
	b.Run("otter", func(b *testing.B) {
		c := filledOtter(b, 2*numKeys)
		b.RunParallel(func(pb *testing.PB) {
			i := start()
			for pb.Next() {
				c.GetIfPresent(strMissKeys[order[i&mask]])
				i++
			}
		})
	})
	b.Run("ristretto", func(b *testing.B) {
		c := filledRistretto(b)
		b.RunParallel(func(pb *testing.PB) {
			i := start()
			for pb.Next() {
				c.Get(strMissKeys[order[i&mask]])
				i++
			}
		})
	})
}

// ---- set with eviction ----------------------------------------------------------

func BenchmarkSetEvict(b *testing.B) {
	b.Run("libcache", func(b *testing.B) {
		c := newLibcache(b, numKeys/2)
		i := 0
		for b.Loop() {
			if err := c.Set(keys[order[i&mask]], value); err != nil {
				b.Fatal(err)
			}
			i++
		}
		if s, _ := c.Stats(); b.N > numKeys && s.Evictions == 0 {
			b.Fatal("no eviction")
		}
	})
	b.Run("otter", func(b *testing.B) {
		c := otter.Must(&otter.Options[string, []byte]{MaximumSize: numKeys / 2})
		i := 0
		for b.Loop() {
			c.Set(strKeys[order[i&mask]], value)
			i++
		}
	})
	b.Run("ristretto", func(b *testing.B) {
		c := newRistretto(b, numKeys/2)
		i := 0
		for b.Loop() {
			c.Set(strKeys[order[i&mask]], value, 1)
			i++
		}
	})
}

func BenchmarkSetEvictParallel(b *testing.B) {
	b.Run("libcache", func(b *testing.B) {
		c := newLibcache(b, numKeys/2)
		b.RunParallel(func(pb *testing.PB) {
			i := start()
			for pb.Next() {
				c.Set(keys[order[i&mask]], value)
				i++
			}
		})
	})
	b.Run("otter", func(b *testing.B) {
		c := otter.Must(&otter.Options[string, []byte]{MaximumSize: numKeys / 2})
		b.RunParallel(func(pb *testing.PB) {
			i := start()
			for pb.Next() {
				c.Set(strKeys[order[i&mask]], value)
				i++
			}
		})
	})
	b.Run("ristretto", func(b *testing.B) {
		c := newRistretto(b, numKeys/2)
		b.RunParallel(func(pb *testing.PB) {
			i := start()
			for pb.Next() {
				c.Set(strKeys[order[i&mask]], value, 1)
				i++
			}
		})
	})
}

// ---- What the in-flight guard costs ------------------------------------------
//
// The engine's copying read (cache_get into a reused buffer, one cgo call)
// bare, behind one shared atomic counter, behind a sync.RWMutex, and
// libcache.GetAppend (the binding's striped guard, and its one-call
// pinned read).

func BenchmarkGuard(b *testing.B) {
	variants := []struct {
		name string
		get  func(r *Raw, key, buf []byte) int
	}{
		{"none", (*Raw).Get},
		{"one-atomic", (*Raw).GetOneCounter},
		{"rwmutex", (*Raw).GetRWMutex},
	}
	for _, v := range variants {
		for _, par := range []bool{false, true} {
			name := v.name
			if par {
				name += "/parallel"
			}
			b.Run(name, func(b *testing.B) {
				r := OpenRaw(256<<20, keys, repeat(value, numKeys))
				defer r.Close()
				if !par {
					buf := make([]byte, 0, 256)
					i := 0
					for b.Loop() {
						v.get(r, keys[order[i&mask]], buf)
						i++
					}
					return
				}
				b.RunParallel(func(pb *testing.PB) {
					buf := make([]byte, 0, 256)
					i := start()
					for pb.Next() {
						v.get(r, keys[order[i&mask]], buf)
						i++
					}
				})
			})
		}
	}
	for _, par := range []bool{false, true} {
		name := "striped(libcache.GetAppend)"
		if par {
			name += "/parallel"
		}
		b.Run(name, func(b *testing.B) {
			c := filledLibcache(b)
			if !par {
				buf := make([]byte, 0, 256)
				i := 0
				for b.Loop() {
					buf, _ = c.GetAppend(buf[:0], keys[order[i&mask]])
					i++
				}
				return
			}
			b.RunParallel(func(pb *testing.PB) {
				buf := make([]byte, 0, 256)
				i := start()
				for pb.Next() {
					buf, _ = c.GetAppend(buf[:0], keys[order[i&mask]])
					i++
				}
			})
		})
	}
}

var goroutines atomic.Int64

// start is where a parallel goroutine begins in the key table: apart from
// the others, so that they do not read the same entries in lockstep.
func start() int { return int(goroutines.Add(1)*7919) & mask }

func repeat(v []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// The peers are set up as the benchmarks use them.
func TestPeersWork(t *testing.T) {
	o := otter.Must(&otter.Options[string, []byte]{MaximumSize: 10})
	o.Set("k", value)
	if v, ok := o.GetIfPresent("k"); !ok || len(v) != valSize {
		t.Fatal("otter")
	}
	r, err := ristretto.NewCache(&ristretto.Config[string, []byte]{NumCounters: 100, MaxCost: 10, BufferItems: 64, IgnoreInternalCost: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Set("k", value, 1)
	r.Wait()
	if v, ok := r.Get("k"); !ok || len(v) != valSize {
		t.Fatal("ristretto")
	}
	raw := OpenRaw(1<<20, keys[:10], repeat(value, 10))
	defer raw.Close()
	buf := make([]byte, 0, 256)
	if raw.Get(keys[3], buf) != valSize || raw.Get(missKeys[3], buf) != -1 ||
		raw.GetOneCounter(keys[3], buf) != valSize || raw.GetRWMutex(keys[3], buf) != valSize {
		t.Fatal("raw")
	}
	EmptyCall()
}
