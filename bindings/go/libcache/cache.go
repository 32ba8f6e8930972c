package libcache

/*
#include "lcgo.h"
*/
import "C"

import (
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/libcache/libcache/bindings/go/internal/bridge"
)

// Cache is an open cache: a handle to the engine's thread-safe cache_t.
// Every method may be called from any number of goroutines at once, Close
// included: a call that starts after Close began returns ErrClosed (Get and
// Has report a miss), and Close waits for the calls in flight before it
// frees the cache. Create one with New; the zero Cache is closed.
type Cache struct {
	s       *state
	cleanup runtime.Cleanup
}

// state is what the cleanup of a forgotten Cache needs: it must not reach
// the Cache itself.
type state struct {
	g      guard
	handle *C.cache_t
	clock  *ManualClock // read by the engine: kept alive with the cache

	closeMu sync.Mutex // serializes Close; held while it waits for calls
	closed  bool       // guarded by closeMu: cache_close has run

	flights flightGroup // GetOrLoad's single flight

	// sizeHint is Get's guess of the next value's size: the last size that
	// did not fit the guess (or fell under a quarter of it). Written only
	// when sizes change, so its cache line stays shared between cores.
	sizeHint atomic.Uint32
}

// New opens a cache. Invalid options (a negative bound, a shard count that
// is not a power of two up to 1024, no bound at all, bounds too small for
// one entry per shard, an unknown policy) give an error that errors.Is
// ErrInvalid, saying which option was wrong.
func New(opts Options) (*Cache, error) {
	const op = "New"
	setMax := C.int(1)
	var maxBytes uint64
	switch {
	case opts.MaxBytes == 0:
		maxBytes = DefaultMaxBytes
	case opts.MaxBytes == NoLimit:
		maxBytes = 0
	case opts.MaxBytes < 0:
		return nil, invalidf(op, "MaxBytes is %d: give a positive byte bound, 0 for the default (64 MiB) or NoLimit for none", opts.MaxBytes)
	default:
		maxBytes = uint64(opts.MaxBytes)
	}
	if opts.MaxEntries < 0 {
		return nil, invalidf(op, "MaxEntries is %d: give a positive entry bound, or 0 for none", opts.MaxEntries)
	}
	if opts.TTL < 0 {
		return nil, invalidf(op, "TTL is %v: give a positive default TTL, or 0 for none", opts.TTL)
	}
	ttlMs := ttlToMs(opts.TTL)
	if opts.TTL == NoExpiry {
		ttlMs = 0
	}
	if opts.Shards < 0 || opts.Shards > 1024 || opts.Shards&(opts.Shards-1) != 0 {
		return nil, invalidf(op, "Shards is %d: give a power of two up to 1024, or 0 for automatic", opts.Shards)
	}
	if opts.Policy != PolicyClock && opts.Policy != PolicyAdaptive {
		return nil, invalidf(op, "unknown Policy %d: use PolicyClock or PolicyAdaptive", int(opts.Policy))
	}
	var clock *C.uint64_t
	if opts.Clock != nil {
		clock = opts.Clock.ms
	}
	r := C.lcgo_open(setMax, C.uint64_t(maxBytes), C.uint64_t(opts.MaxEntries), C.uint64_t(ttlMs),
		C.uint32_t(opts.Shards), C.int(opts.Policy), clock)
	runtime.KeepAlive(opts.Clock)
	if r.rc != C.CACHE_OK {
		return nil, openError(r, opts, maxBytes)
	}
	s := &state{handle: r.cache, clock: opts.Clock}
	s.g.init()
	c := &Cache{s: s}
	c.cleanup = runtime.AddCleanup(c, (*state).closeForgotten, s)
	return c, nil
}

func openError(r C.lcgo_opened, opts Options, maxBytes uint64) error {
	e := &Error{Op: "New", Code: int(r.rc)}
	switch r.step {
	case 1:
		e.Detail = "MaxBytes " + itoa(opts.MaxBytes) + " refused"
	case 2:
		e.Detail = "MaxEntries " + itoa(opts.MaxEntries) + " refused"
	case 3:
		e.Detail = "TTL " + opts.TTL.String() + " refused (at most 2^62 ms)"
	case 4:
		e.Detail = "Shards " + itoa(int64(opts.Shards)) + " refused"
	case 5:
		e.Detail = "Policy " + opts.Policy.String() + " refused"
	case 7:
		if r.rc == C.CACHE_E_INVALID {
			if maxBytes == 0 && opts.MaxEntries == 0 {
				e.Detail = "no bound: MaxBytes is NoLimit and MaxEntries is 0; set either"
			} else {
				e.Detail = "the bounds do not split into the shards: too small for one entry per shard " +
					"(raise MaxBytes or MaxEntries, or use fewer Shards), or 2^32 entries or more per shard"
			}
		}
	}
	return e
}

// Close frees the cache and every entry not pinned by a Value (Values stay
// valid until released). It waits for calls in flight on other goroutines;
// calls after it return ErrClosed. Closing a cache with a Redis adapter
// closes the adapter without waiting for its queue: Flush or close the
// adapter first. Close is idempotent and always returns nil.
func (c *Cache) Close() error {
	if c == nil || c.s == nil {
		return nil
	}
	c.cleanup.Stop()
	c.s.close()
	return nil
}

// closeForgotten is the safety net: a Cache that became unreachable without
// Close is closed by the garbage collector's cleanup.
func (s *state) closeForgotten() {
	forgottenCloses.Add(1)
	s.close()
}

// forgottenCloses counts closeForgotten calls (for tests).
var forgottenCloses atomic.Int64

func (s *state) close() {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return
	}
	s.g.close()
	C.cache_close(s.handle)
	s.handle = nil
	s.closed = true
}

// enter begins a C call on the cache (see guard): the handle, valid until
// exit, or ok == false when the cache is closed.
func (c *Cache) enter() (h *C.cache_t, token uint32, ok bool) {
	if c == nil || c.s == nil {
		return nil, 0, false
	}
	token, ok = c.s.g.enter()
	if !ok {
		return nil, 0, false
	}
	return c.s.handle, token, true
}

func (c *Cache) exit(token uint32) { c.s.g.exit(token) }

// ---- TTLs -----------------------------------------------------------------

// ttlToMs converts a positive TTL to whole ms, never to 0 (which would mean
// no expiry): a TTL under a millisecond is one millisecond.
func ttlToMs(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	ms := int64(d / time.Millisecond)
	if ms == 0 {
		return 1
	}
	return ms
}

// ttlArg maps a TTL argument to the C ABI's: DefaultTTL, 0 and NoExpiry
// (never), > 0 (whole ms, at least 1); anything negative is ErrInvalid.
func ttlArg(op string, ttl time.Duration) (C.int64_t, error) {
	switch {
	case ttl == DefaultTTL:
		return C.CACHE_TTL_DEFAULT, nil
	case ttl == 0 || ttl == NoExpiry:
		return C.CACHE_TTL_NONE, nil
	case ttl < 0:
		return 0, invalidf(op, "the TTL is %v: pass a positive duration, 0 or NoExpiry for none, or DefaultTTL", ttl)
	}
	return C.int64_t(ttlToMs(ttl)), nil
}

// ---- Writes -----------------------------------------------------------------

// Set stores a copy of value under key with the cache's default TTL
// (Options.TTL), replacing any entry for key and evicting others as the
// bounds require. ErrTooLarge for a key over MaxKeySize or an entry that can
// never fit (the previous value stays); ErrClosed.
func (c *Cache) Set(key, value []byte) error {
	return c.write("Set", key, value, DefaultTTL, C.CACHE_WRITE_SET)
}

// SetWithTTL is Set with a TTL: > 0 (whole milliseconds; under 1 ms counts
// as 1 ms), 0 or NoExpiry (never expires), DefaultTTL; a negative TTL is
// ErrInvalid.
func (c *Cache) SetWithTTL(key, value []byte, ttl time.Duration) error {
	return c.write("SetWithTTL", key, value, ttl, C.CACHE_WRITE_SET)
}

// SetString is Set with a string key (its bytes, not copied on the way).
func (c *Cache) SetString(key string, value []byte) error {
	return c.SetWithTTL(unsafe.Slice(unsafe.StringData(key), len(key)), value, DefaultTTL)
}

// Add stores value only when key has no live entry: ErrExists otherwise
// (nothing changes). ttl as for SetWithTTL.
func (c *Cache) Add(key, value []byte, ttl time.Duration) error {
	return c.write("Add", key, value, ttl, C.CACHE_WRITE_ADD)
}

// Replace stores value only when key has a live entry: ErrNotFound
// otherwise (nothing changes). ttl as for SetWithTTL.
func (c *Cache) Replace(key, value []byte, ttl time.Duration) error {
	return c.write("Replace", key, value, ttl, C.CACHE_WRITE_REPLACE)
}

func (c *Cache) write(op string, key, value []byte, ttl time.Duration, mode int) error {
	ms, err := ttlArg(op, ttl)
	if err != nil {
		return err
	}
	h, tok, ok := c.enter()
	if !ok {
		return closedError(op)
	}
	rc := C.lcgo_write(h, C.int(mode), ptr(key), C.size_t(len(key)), ptr(value), C.size_t(len(value)), ms)
	c.exit(tok)
	if rc == C.CACHE_OK {
		return nil
	}
	return writeError(op, rc, key, value)
}

// ---- Reads ------------------------------------------------------------------

// Get returns a copy of the value for key, and whether there was a live
// one. A hit marks the entry recently used. On a closed cache every Get is
// a miss (GetValue tells ErrClosed apart).
func (c *Cache) Get(key []byte) ([]byte, bool) {
	h, tok, ok := c.enter()
	if !ok {
		return nil, false
	}
	// One call into C, and the engine copies straight into the new slice,
	// when the value fits the slice made for it: its size is guessed from
	// the values this cache returned before (sizeHint). Otherwise the value
	// comes back in C memory, and is copied and freed.
	hint := int(c.s.sizeHint.Load())
	buf := make([]byte, hint)
	r := C.lcgo_get_into(h, ptr(key), C.size_t(len(key)), ptr(buf), C.size_t(hint))
	c.exit(tok)
	if r.rc != C.CACHE_OK {
		return nil, false
	}
	n := int(r.size)
	if r.data == nil { // copied into buf
		if n < hint/4 {
			c.s.sizeHint.Store(uint32(n)) // sizes fell: guess smaller
			// Keep no 4x excess alive with the value.
			return append([]byte{}, buf[:n]...), true
		}
		return buf[:n:n], true
	}
	if n <= maxSizeHint {
		c.s.sizeHint.Store(uint32(n)) // sizes grew: guess larger next time
	}
	return takeOut(make([]byte, 0, n), r), true
}

// maxSizeHint caps Get's buffer guess: a larger value is always read
// through C memory (two calls into C, negligible next to copying it).
const maxSizeHint = 16 << 10

// takeOut appends a value that lcgo_get_into could not copy into the
// caller's buffer (pinned, or spilled into C memory), and frees its C side.
func takeOut(dst []byte, r C.lcgo_pin) []byte {
	dst = append(dst, unsafe.Slice((*byte)(r.data), int(r.size))...)
	if r.h != nil {
		C.cache_value_release(r.h)
	} else {
		C.free(unsafe.Pointer(r.data))
	}
	return dst
}

// GetString is Get with a string key (its bytes, not copied on the way).
func (c *Cache) GetString(key string) ([]byte, bool) {
	return c.Get(unsafe.Slice(unsafe.StringData(key), len(key)))
}

// GetAppend appends the value for key to dst, as append does, and returns
// the extended slice and whether there was a live value (dst unchanged on a
// miss). When dst has the room (cap(dst)-len(dst) >= the value's size), the
// engine copies straight into it: one call into C and no allocation, the
// cheapest read, for a caller that reuses a buffer.
func (c *Cache) GetAppend(dst, key []byte) ([]byte, bool) {
	dst, found, _ := c.getAppend(dst, key)
	return dst, found
}

// getAppend is GetAppend, also telling whether the cache was open.
func (c *Cache) getAppend(dst, key []byte) (_ []byte, found, open bool) {
	h, tok, ok := c.enter()
	if !ok {
		return dst, false, false
	}
	room := dst[len(dst):cap(dst)]
	r := C.lcgo_get_into(h, ptr(key), C.size_t(len(key)), ptr(room), C.size_t(len(room)))
	c.exit(tok)
	if r.rc != C.CACHE_OK {
		return dst, false, true
	}
	if r.data == nil { // copied into room
		return dst[:len(dst)+int(r.size)], true, true
	}
	return takeOut(dst, r), true, true
}

// Has reports whether key has a live entry (counted as a hit or a miss, as a
// read is). False on a closed cache.
func (c *Cache) Has(key []byte) bool {
	h, tok, ok := c.enter()
	if !ok {
		return false
	}
	rc := C.lcgo_has(h, ptr(key), C.size_t(len(key)))
	c.exit(tok)
	return rc == C.CACHE_OK
}

// GetValue returns the value for key without copying it: a Value pinned in
// the engine until Release (see Value). found is false on a miss; err is
// ErrClosed on a closed cache.
func (c *Cache) GetValue(key []byte) (v *Value, found bool, err error) {
	h, tok, ok := c.enter()
	if !ok {
		return nil, false, closedError("GetValue")
	}
	r := C.lcgo_get_value(h, ptr(key), C.size_t(len(key)))
	c.exit(tok)
	return pinned("GetValue", r)
}

func pinned(op string, r C.lcgo_pin) (*Value, bool, error) {
	switch r.rc {
	case C.CACHE_OK:
		return newValue(r.h, r.data, r.size), true, nil
	case C.CACHE_NOT_FOUND:
		return nil, false, nil
	}
	return nil, false, statusError(op, r.rc)
}

// Take removes the live entry for key and returns its value, as one
// operation (no write of the key can land in between); counted as a delete,
// not a read. found is false when there was none.
func (c *Cache) Take(key []byte) (value []byte, found bool, err error) {
	h, tok, ok := c.enter()
	if !ok {
		return nil, false, closedError("Take")
	}
	r := C.lcgo_take(h, ptr(key), C.size_t(len(key)))
	c.exit(tok)
	if r.rc == C.CACHE_NOT_FOUND {
		return nil, false, nil
	}
	if r.rc != C.CACHE_OK {
		return nil, false, statusError("Take", r.rc)
	}
	value = make([]byte, int(r.size))
	copy(value, unsafe.Slice((*byte)(r.data), int(r.size)))
	C.cache_value_release(r.h)
	return value, true, nil
}

// ---- Other operations --------------------------------------------------------

// Delete removes the entry for key and reports whether there was one.
func (c *Cache) Delete(key []byte) (bool, error) {
	h, tok, ok := c.enter()
	if !ok {
		return false, closedError("Delete")
	}
	rc := C.lcgo_delete(h, ptr(key), C.size_t(len(key)))
	c.exit(tok)
	switch rc {
	case C.CACHE_OK:
		return true, nil
	case C.CACHE_NOT_FOUND:
		return false, nil
	}
	return false, statusError("Delete", rc)
}

// Touch resets the TTL of key's live entry to ttl from now (as for
// SetWithTTL: 0 or NoExpiry removes its expiry) and reports whether there
// was one: sliding sessions.
func (c *Cache) Touch(key []byte, ttl time.Duration) (bool, error) {
	ms, err := ttlArg("Touch", ttl)
	if err != nil {
		return false, err
	}
	h, tok, ok := c.enter()
	if !ok {
		return false, closedError("Touch")
	}
	rc := C.lcgo_touch(h, ptr(key), C.size_t(len(key)), ms)
	c.exit(tok)
	switch rc {
	case C.CACHE_OK:
		return true, nil
	case C.CACHE_NOT_FOUND:
		return false, nil
	}
	return false, statusError("Touch", rc)
}

// TTL returns the time left before key's entry expires (whole ms), NoExpiry
// when it never does; found is false when there is no live entry.
func (c *Cache) TTL(key []byte) (remaining time.Duration, found bool, err error) {
	h, tok, ok := c.enter()
	if !ok {
		return 0, false, closedError("TTL")
	}
	r := C.lcgo_ttl(h, ptr(key), C.size_t(len(key)))
	c.exit(tok)
	switch r.rc {
	case C.CACHE_OK:
		if r.ms < 0 {
			return NoExpiry, true, nil
		}
		return time.Duration(r.ms) * time.Millisecond, true, nil
	case C.CACHE_NOT_FOUND:
		return 0, false, nil
	}
	return 0, false, statusError("TTL", r.rc)
}

// Clear removes every entry (Values stay valid).
func (c *Cache) Clear() error {
	h, tok, ok := c.enter()
	if !ok {
		return closedError("Clear")
	}
	rc := C.cache_clear(h)
	c.exit(tok)
	if rc != C.CACHE_OK {
		return statusError("Clear", rc)
	}
	return nil
}

// PurgeExpired frees every expired entry now and returns how many it freed
// (one pass over the entries, a shard lock at a time): for key spaces that
// go cold with no write to evict them.
func (c *Cache) PurgeExpired() (int, error) {
	h, tok, ok := c.enter()
	if !ok {
		return 0, closedError("PurgeExpired")
	}
	r := C.lcgo_purge(h)
	c.exit(tok)
	if r.rc != C.CACHE_OK {
		return 0, statusError("PurgeExpired", r.rc)
	}
	return int(r.ms), nil
}

// Stats are the counters since New (cache_stats_t), summed shard by shard
// without a global lock: approximate under concurrent writes.
type Stats struct {
	Hits        uint64 // reads that found a live entry
	Misses      uint64 // reads that found none
	Sets        uint64 // successful writes (Set, Add, Replace)
	Deletes     uint64 // successful Delete and Take calls
	Evictions   uint64 // live entries removed to make room
	Expirations uint64 // expired entries reclaimed
	Entries     uint64 // entries held now (expired ones not yet reclaimed included)
	Bytes       uint64 // bytes charged now: entries plus table and ring memory
}

// Stats returns the cache's counters.
func (c *Cache) Stats() (Stats, error) {
	h, tok, ok := c.enter()
	if !ok {
		return Stats{}, closedError("Stats")
	}
	var s C.cache_stats_t
	rc := C.cache_stats(h, &s, C.sizeof_cache_stats_t)
	c.exit(tok)
	if rc != C.CACHE_OK {
		return Stats{}, statusError("Stats", rc)
	}
	return Stats{
		Hits: uint64(s.hits), Misses: uint64(s.misses), Sets: uint64(s.sets),
		Deletes: uint64(s.deletes), Evictions: uint64(s.evictions),
		Expirations: uint64(s.expirations), Entries: uint64(s.entries), Bytes: uint64(s.bytes),
	}, nil
}

// ---- Versions -------------------------------------------------------------------

// HeaderVersion is the C ABI version this package was compiled against
// (CACHE_VERSION_NUMBER: major*10000 + minor*100 + patch).
const HeaderVersion = C.CACHE_VERSION_NUMBER

// LibraryVersion is the version of the libcache actually loaded, as
// HeaderVersion computes it, and its string ("1.6.0").
func LibraryVersion() (int, string) {
	return int(C.cache_version_number()), C.GoString(C.cache_version_string())
}

// ---- The bridge for libcache/redis ------------------------------------------------

func init() {
	bridge.Acquire = func(c any) (unsafe.Pointer, uint32, error) {
		h, tok, ok := c.(*Cache).enter()
		if !ok {
			return nil, 0, closedError("")
		}
		return unsafe.Pointer(h), tok, nil
	}
	bridge.Release = func(c any, token uint32) { c.(*Cache).exit(token) }
	bridge.ClosedError = closedError
	bridge.StatusError = func(op string, status int, detail string) error {
		return &Error{Op: op, Code: status, Detail: detail}
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
