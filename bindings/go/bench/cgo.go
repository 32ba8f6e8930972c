// Package bench measures the Go binding against the pure-Go caches otter
// and ristretto (bench_test.go), and the floors under it: an empty cgo call,
// and the engine's copying read called straight through cgo, bare and
// behind each in-flight guard a binding could use. It is a module of its
// own so that the binding's module and its tests need neither peer.
package bench

/*
#cgo pkg-config: libcache
#cgo nocallback lcgo_bench_empty
#cgo noescape lcgo_bench_get
#cgo nocallback lcgo_bench_get
#include <libcache/cache.h>

static void lcgo_bench_empty(void) {}

static int lcgo_bench_get(cache_t *c, const void *k, size_t kl, void *buf, size_t cap) {
	size_t n = 0;
	int rc = cache_get(c, k, kl, buf, cap, &n);
	return rc == CACHE_OK ? (int)n : -1;
}

static cache_t *lcgo_bench_open(uint64_t max_bytes) {
	cache_options_t *o = cache_options_new();
	cache_t *c = NULL;
	cache_options_set_max_bytes(o, max_bytes);
	if (cache_open(o, &c) != CACHE_OK) c = NULL;
	cache_options_free(o);
	return c;
}
*/
import "C"

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// EmptyCall is one cgo call of an empty C function (marked nocallback, as
// the binding's calls are): the floor under every libcache call from Go.
func EmptyCall() { C.lcgo_bench_empty() }

// Raw is a cache_t used through cgo directly, with no guard against a
// racing close: what the binding's reads cost without it.
type Raw struct {
	c    *C.cache_t
	one  atomic.Int64
	rw   sync.RWMutex
	gone atomic.Bool
}

// OpenRaw opens a cache bounded to maxBytes, filled with the keys and values.
func OpenRaw(maxBytes uint64, keys, values [][]byte) *Raw {
	r := &Raw{c: C.lcgo_bench_open(C.uint64_t(maxBytes))}
	for i, k := range keys {
		C.cache_set(r.c, unsafe.Pointer(&k[0]), C.size_t(len(k)), unsafe.Pointer(&values[i][0]),
			C.size_t(len(values[i])), C.CACHE_TTL_NONE)
	}
	return r
}

// Close closes the cache.
func (r *Raw) Close() { C.cache_close(r.c) }

// Get copies key's value into buf with cache_get (one cgo call): its size,
// or -1 on a miss.
func (r *Raw) Get(key, buf []byte) int {
	return int(C.lcgo_bench_get(r.c, unsafe.Pointer(unsafe.SliceData(key)), C.size_t(len(key)),
		unsafe.Pointer(unsafe.SliceData(buf)), C.size_t(cap(buf))))
}

// GetOneCounter is Get behind one shared atomic in-flight counter.
func (r *Raw) GetOneCounter(key, buf []byte) int {
	r.one.Add(1)
	if r.gone.Load() {
		r.one.Add(-1)
		return -1
	}
	n := r.Get(key, buf)
	r.one.Add(-1)
	return n
}

// GetRWMutex is Get behind a sync.RWMutex read lock.
func (r *Raw) GetRWMutex(key, buf []byte) int {
	r.rw.RLock()
	defer r.rw.RUnlock()
	if r.gone.Load() {
		return -1
	}
	return r.Get(key, buf)
}
