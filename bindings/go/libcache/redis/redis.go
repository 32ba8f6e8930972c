// Package redis attaches Redis to a libcache.Cache as its shared tier
// (<libcache/cache_redis.h>): every write to the cache is queued and sent to
// Redis in ordered batches a few milliseconds later (write-behind), and a
// local miss loads the key from Redis with its remaining TTL (read-through);
// with coherence on (the default), a key another process changes in Redis
// stops being served from this cache's local copy. All of that is the C
// tier's (libcache_redis); this package only wraps its calls.
//
// It is its own package so that a program using only the cache needs
// neither libcache_redis nor hiredis: this one is built with
// `pkg-config libcache-redis` (which needs hiredis's .pc file present, on
// Debian libhiredis-dev).
//
// Values written by this package are the caches' values as they are: to
// share them with the Python and Node.js bindings, write them in the shared
// value format (package libcache/tagged).
//
// Ownership. The Cache owns the adapter: Cache.Close closes it (without
// waiting for its queue: call Flush or Store.Close first). A Store's
// methods return libcache.ErrClosed once either is closed. Every method may
// be called from any goroutine, also racing Store.Close and Cache.Close; a
// Flush in progress makes Cache.Close wait for it.
package redis

/*
#cgo pkg-config: libcache-redis
#cgo noescape lcgo_redis_attach
#cgo nocallback lcgo_redis_attach
#cgo nocallback cache_store_flush
#cgo noescape cache_store_set_sync
#cgo nocallback cache_store_set_sync
#cgo noescape cache_store_delete_sync
#cgo nocallback cache_store_delete_sync
#cgo noescape cache_redis_stats
#cgo nocallback cache_redis_stats
#cgo noescape lcgo_redis_close
#cgo nocallback lcgo_redis_close
#cgo noescape cache_redis_last_error
#cgo nocallback cache_redis_last_error
#include <stdlib.h>
#include <string.h>
#include <libcache/cache_redis.h>

typedef struct {
	int rc;
	int step;
	cache_redis_t *r;
	cache_link_t *link;
} lcgo_attached;

// Copies the calling thread's cache_redis_errmsg (thread-local: it must be
// read in the same C call as the failure).
static inline void lcgo_errmsg(char *buf, size_t size) {
	const char *m = cache_redis_errmsg();
	size_t n = m ? strlen(m) : 0;
	if (size == 0) return;
	if (n >= size) n = size - 1;
	if (n) memcpy(buf, m, n);
	buf[n] = 0;
}

// Sets every option and attaches; step says which setter failed (1 URL,
// 2 prefix, 3 timeouts, 4 coherence, 5 flush interval, 6 queue, 7 on full,
// 8 read-through, 9 attach, 0 allocating the options).
static inline lcgo_attached lcgo_redis_attach(cache_t *c, const char *url, const void *prefix,
		size_t plen, int64_t connect_ms, int64_t command_ms, int coherence, int64_t health_ms,
		uint64_t flush_ms, uint64_t qbytes, uint64_t qops, int on_full, int64_t block_ms,
		int read_through, int64_t read_ms, char *err, size_t errlen) {
	lcgo_attached a = {CACHE_E_NOMEM, 0, NULL, NULL};
	cache_redis_options_t *o = cache_redis_options_new();
	if (o == NULL) return a;
	cache_store_options_t *so = cache_redis_options_store_options(o);
	if ((a.rc = cache_redis_options_set_url(o, url)) != CACHE_OK) a.step = 1;
	else if ((a.rc = cache_redis_options_set_prefix(o, prefix, plen)) != CACHE_OK) a.step = 2;
	else if ((a.rc = cache_redis_options_set_timeouts(o, connect_ms, command_ms)) != CACHE_OK) a.step = 3;
	else if ((a.rc = cache_redis_options_set_coherence(o, coherence, health_ms)) != CACHE_OK) a.step = 4;
	else if ((a.rc = cache_store_options_set_flush_interval_ms(so, flush_ms)) != CACHE_OK) a.step = 5;
	else if ((a.rc = cache_store_options_set_max_queue(so, qbytes, qops)) != CACHE_OK) a.step = 6;
	else if ((a.rc = cache_store_options_set_on_full(so, on_full, block_ms)) != CACHE_OK) a.step = 7;
	else if ((a.rc = cache_store_options_set_read_through(so, read_through, read_ms)) != CACHE_OK) a.step = 8;
	else if ((a.rc = cache_redis_attach(c, o, &a.r)) != CACHE_OK) a.step = 9;
	if (a.rc != CACHE_OK) lcgo_errmsg(err, errlen);
	else a.link = cache_redis_link(a.r);
	cache_redis_options_free(o);
	return a;
}

typedef struct {
	int rc;
	uint64_t unflushed;
} lcgo_closed;

static inline lcgo_closed lcgo_redis_close(cache_redis_t *r, int64_t timeout_ms) {
	lcgo_closed c = {0, 0};
	c.rc = cache_redis_close(r, timeout_ms, &c.unflushed);
	return c;
}
*/
import "C"

import (
	"sync"
	"time"
	"unsafe"

	"github.com/libcache/libcache/bindings/go/internal/bridge"
	"github.com/libcache/libcache/bindings/go/libcache"
)

// Options configures Attach. The zero value takes every default of
// <libcache/cache_redis.h> and <libcache/cache_store.h>.
type Options struct {
	// Prefix is prepended to every key in Redis ("app:"); the caches' keys
	// stay as written.
	Prefix string
	// ConnectTimeout and CommandTimeout bound a connection and each command
	// or batch (0: 1 s each).
	ConnectTimeout, CommandTimeout time.Duration
	// FlushInterval is how long a write may wait before the flusher sends it
	// (0: the default, 5 ms; a positive value under 1 ms: no wait).
	FlushInterval time.Duration
	// MaxQueueBytes and MaxQueueOps bound the write-behind queue (0: 64 MiB
	// and 1M operations).
	MaxQueueBytes, MaxQueueOps int64
	// FailWhenFull makes a write fail at once with libcache.ErrFull when the
	// queue is full; otherwise it waits up to BlockTimeout (0: 1 s), then
	// fails with ErrFull.
	FailWhenFull bool
	BlockTimeout time.Duration
	// DisableReadThrough turns read-through off (a process that only
	// writes); ReadTimeout bounds one load (0: 100 ms): a Redis that does
	// not answer in time gives a miss, never a hang.
	DisableReadThrough bool
	ReadTimeout        time.Duration
	// DisableCoherence turns near-cache coherence off (see the package
	// doc of <libcache/cache_redis.h>); HealthInterval is how often its
	// invalidation path is checked (0: 100 ms).
	DisableCoherence bool
	HealthInterval   time.Duration
}

// Store is a Redis adapter attached to a Cache (cache_redis_t).
type Store struct {
	cache *libcache.Cache
	link  *C.cache_link_t // valid until the cache is closed (read under its guard)

	mu    sync.RWMutex     // Stats (read) against Close (write): the C ABI's rule
	redis *C.cache_redis_t // guarded by mu; nil once Close ran
}

// ms converts a duration option: def for 0, at least 1 ms for a positive
// value, -1 (refused by the C ABI) for a negative one.
func ms(d, def time.Duration) int64 {
	switch {
	case d == 0:
		d = def
	case d < 0:
		return -1
	}
	return max(int64(d/time.Millisecond), 1)
}

func sizeOpt(v, def int64) C.uint64_t {
	if v == 0 {
		return C.uint64_t(def)
	}
	if v < 0 {
		return C.uint64_t(1 << 63) // refused by the C ABI
	}
	return C.uint64_t(v)
}

var attachSteps = [...]string{"", "URL", "Prefix", "ConnectTimeout/CommandTimeout",
	"HealthInterval", "FlushInterval", "MaxQueueBytes/MaxQueueOps", "BlockTimeout", "ReadTimeout", ""}

// Attach connects to url (redis://[[user]:password@]host[:port][/db] or
// unix://[[user]:password@]/path/to/redis.sock[?db=N]), checks it, and
// links the adapter to cache, which from then on writes behind to Redis and
// reads through from it. Errors (errors.Is): libcache.ErrInvalid (a
// malformed URL, a refused option: the error says which), libcache.ErrIO
// (Redis unreachable, AUTH or SELECT or an ACL refused; the error says why,
// never with the credentials), libcache.ErrExists (the cache has an
// adapter already), libcache.ErrClosed.
func Attach(cache *libcache.Cache, url string, opts Options) (*Store, error) {
	const op = "redis.Attach"
	flush := ms(opts.FlushInterval, 5*time.Millisecond)
	if opts.FlushInterval > 0 && opts.FlushInterval < time.Millisecond {
		flush = 0
	}
	onFull := C.int(C.CACHE_REDIS_ON_FULL_BLOCK)
	if opts.FailWhenFull {
		onFull = C.CACHE_REDIS_ON_FULL_FAIL
	}
	boolInt := func(b bool) C.int {
		if b {
			return 1
		}
		return 0
	}
	curl := C.CString(url)
	defer C.free(unsafe.Pointer(curl))
	var errbuf [256]byte

	h, tok, err := bridge.Acquire(cache)
	if err != nil {
		return nil, bridge.ClosedError(op)
	}
	a := C.lcgo_redis_attach((*C.cache_t)(h), curl, strPtr(opts.Prefix), C.size_t(len(opts.Prefix)),
		C.int64_t(ms(opts.ConnectTimeout, time.Second)), C.int64_t(ms(opts.CommandTimeout, time.Second)),
		boolInt(!opts.DisableCoherence), C.int64_t(ms(opts.HealthInterval, 100*time.Millisecond)),
		C.uint64_t(max(flush, 0)), sizeOpt(opts.MaxQueueBytes, 64<<20), sizeOpt(opts.MaxQueueOps, 1<<20),
		onFull, C.int64_t(ms(opts.BlockTimeout, time.Second)),
		boolInt(!opts.DisableReadThrough), C.int64_t(ms(opts.ReadTimeout, 100*time.Millisecond)),
		(*C.char)(unsafe.Pointer(&errbuf[0])), C.size_t(len(errbuf)))
	bridge.Release(cache, tok)
	if a.rc != C.CACHE_OK {
		detail := C.GoString((*C.char)(unsafe.Pointer(&errbuf[0])))
		if a.step >= 1 && a.step <= 8 { // an option: say which
			if detail == "" {
				detail = "refused"
			}
			detail = attachSteps[a.step] + ": " + detail
		}
		return nil, bridge.StatusError(op, int(a.rc), detail)
	}
	return &Store{cache: cache, link: a.link, redis: a.r}, nil
}

func strPtr(s string) unsafe.Pointer {
	if s == "" {
		return nil
	}
	return unsafe.Pointer(unsafe.StringData(s))
}

func bytesPtr(b []byte) unsafe.Pointer {
	if len(b) == 0 {
		return nil
	}
	return unsafe.Pointer(unsafe.SliceData(b))
}

func timeoutMs(d time.Duration) C.int64_t {
	if d < 0 {
		return -1 // no limit
	}
	return C.int64_t(d / time.Millisecond)
}

func status(op string, rc C.int) error {
	if rc == C.CACHE_OK {
		return nil
	}
	return bridge.StatusError(op, int(rc), "")
}

// Flush returns once every write made before the call has been answered by
// Redis (applied, or given up as a dead letter), or libcache.ErrTimeout
// after timeout (negative: no limit). libcache.ErrClosed once the adapter
// or the cache is closed.
func (s *Store) Flush(timeout time.Duration) error {
	const op = "redis.Flush"
	_, tok, err := bridge.Acquire(s.cache)
	if err != nil {
		return bridge.ClosedError(op)
	}
	rc := C.cache_store_flush(s.link, timeoutMs(timeout))
	bridge.Release(s.cache, tok)
	return status(op, rc)
}

// SetSync writes key = value to Redis and, once Redis applied it, to the
// cache (write-through), ordered after the key's queued writes; ttl as for
// Cache.SetWithTTL. On an error the local cache is as it was:
// libcache.ErrTimeout after timeout (the write may still reach Redis
// later), ErrFull, ErrClosed, or an error of Cache.Set.
func (s *Store) SetSync(key, value []byte, ttl, timeout time.Duration) error {
	const op = "redis.SetSync"
	t, err := ttlArg(op, ttl)
	if err != nil {
		return err
	}
	_, tok, err := bridge.Acquire(s.cache)
	if err != nil {
		return bridge.ClosedError(op)
	}
	rc := C.cache_store_set_sync(s.link, bytesPtr(key), C.size_t(len(key)), bytesPtr(value),
		C.size_t(len(value)), t, timeoutMs(timeout))
	bridge.Release(s.cache, tok)
	return status(op, rc)
}

// DeleteSync deletes key in Redis and then in the cache (absent counts as
// deleted); errors as for SetSync.
func (s *Store) DeleteSync(key []byte, timeout time.Duration) error {
	const op = "redis.DeleteSync"
	_, tok, err := bridge.Acquire(s.cache)
	if err != nil {
		return bridge.ClosedError(op)
	}
	rc := C.cache_store_delete_sync(s.link, bytesPtr(key), C.size_t(len(key)), timeoutMs(timeout))
	bridge.Release(s.cache, tok)
	return status(op, rc)
}

func ttlArg(op string, ttl time.Duration) (C.int64_t, error) {
	switch {
	case ttl == libcache.DefaultTTL:
		return -1, nil
	case ttl == 0 || ttl == libcache.NoExpiry:
		return 0, nil
	case ttl < 0:
		return 0, bridge.StatusError(op, int(C.CACHE_E_INVALID),
			"the TTL is "+ttl.String()+": pass a positive duration, 0 or NoExpiry for none, or DefaultTTL")
	}
	return C.int64_t(max(int64(ttl/time.Millisecond), 1)), nil
}

// Stats are the adapter's counters (cache_redis_stats_t).
type Stats struct {
	QueuedOps      uint64 // writes waiting or in flight
	QueuedBytes    uint64 // their bytes, as counted against the queue bound
	FlushedOps     uint64 // writes Redis applied
	Batches        uint64 // batches sent
	Retries        uint64 // operations sent again
	StoreErrors    uint64 // batches that failed (I/O, timeout)
	DeadLetters    uint64 // operations given up
	RefusedFull    uint64 // writes refused with ErrFull
	Coalesced      uint64 // waiting writes replaced by newer ones of the key
	OldestPending  time.Duration
	ReadHits       uint64 // read-through loads that found the key
	ReadMisses     uint64 // loads that did not
	ReadErrors     uint64 // loads that failed or timed out (answered as misses)
	Invalidated    uint64 // local copies dropped because Redis changed
	Conflicts      uint64 // invalidations of a key with a local write pending
	Connects       uint64 // successful connections
	ConnectErrors  uint64 // failed connection attempts
	Tracking       bool   // coherence's tracking is established and checked
	TrackingResets uint64 // times tracking was lost and local copies dropped
	Invalidations  uint64 // invalidation messages received
}

// Stats returns the adapter's counters; libcache.ErrClosed once the adapter
// or the cache is closed.
func (s *Store) Stats() (Stats, error) {
	const op = "redis.Stats"
	_, tok, err := bridge.Acquire(s.cache)
	if err != nil {
		return Stats{}, bridge.ClosedError(op)
	}
	defer bridge.Release(s.cache, tok)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.redis == nil {
		return Stats{}, bridge.ClosedError(op)
	}
	var r C.cache_redis_stats_t
	if rc := C.cache_redis_stats(s.redis, &r, C.sizeof_cache_redis_stats_t); rc != C.CACHE_OK {
		return Stats{}, status(op, rc)
	}
	l := r.link
	return Stats{
		QueuedOps: uint64(l.queued_ops), QueuedBytes: uint64(l.queued_bytes),
		FlushedOps: uint64(l.flushed_ops), Batches: uint64(l.batches), Retries: uint64(l.retries),
		StoreErrors: uint64(l.store_errors), DeadLetters: uint64(l.dead_letters),
		RefusedFull: uint64(l.refused_full), Coalesced: uint64(l.coalesced),
		OldestPending: time.Duration(l.oldest_pending_ms) * time.Millisecond,
		ReadHits:      uint64(l.read_hits), ReadMisses: uint64(l.read_misses), ReadErrors: uint64(l.read_errors),
		Invalidated: uint64(l.invalidated), Conflicts: uint64(l.conflicts),
		Connects: uint64(r.connects), ConnectErrors: uint64(r.connect_errors),
		Tracking: r.tracking == 1, TrackingResets: uint64(r.tracking_resets),
		Invalidations: uint64(r.invalidation_messages),
	}, nil
}

// LastError is the adapter's last connection or command failure, as its
// flusher or a load saw it ("" if none, or once closed); never with
// credentials.
func (s *Store) LastError() string {
	_, tok, err := bridge.Acquire(s.cache)
	if err != nil {
		return ""
	}
	defer bridge.Release(s.cache, tok)
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.redis == nil {
		return ""
	}
	var buf [512]byte
	n := C.cache_redis_last_error(s.redis, (*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)))
	return string(buf[:min(int(n), len(buf)-1)])
}

// Close flushes for up to timeout (0: no wait; negative: no limit), then
// stops the adapter and detaches it (the cache goes on without Redis), and
// returns how many writes never reached Redis: with libcache.ErrTimeout
// when that is not 0. Closing an adapter already closed, or whose cache is
// closed, returns 0, nil.
func (s *Store) Close(timeout time.Duration) (unflushed uint64, err error) {
	const op = "redis.Close"
	_, tok, aerr := bridge.Acquire(s.cache)
	if aerr != nil {
		return 0, nil // the cache closed the adapter
	}
	defer bridge.Release(s.cache, tok)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.redis == nil {
		return 0, nil
	}
	c := C.lcgo_redis_close(s.redis, timeoutMs(timeout))
	s.redis = nil
	return uint64(c.unflushed), status(op, c.rc)
}
