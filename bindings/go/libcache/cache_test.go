package libcache_test

import (
	"bytes"
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/libcache/libcache/bindings/go/libcache"
)

func mustNew(t testing.TB, opts libcache.Options) *libcache.Cache {
	t.Helper()
	c, err := libcache.New(opts)
	if err != nil {
		t.Fatalf("New(%+v): %v", opts, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantValue(t *testing.T, c *libcache.Cache, key, want string) {
	t.Helper()
	got, ok := c.Get([]byte(key))
	if !ok || string(got) != want {
		t.Fatalf("Get(%q) = %q, %v; want %q, true", key, got, ok, want)
	}
}

func wantMissing(t *testing.T, c *libcache.Cache, key []byte) {
	t.Helper()
	if got, ok := c.Get(key); ok {
		t.Fatalf("Get(%.20q) = %q, true; want a miss", key, got)
	}
}

func TestSetGetVariants(t *testing.T) {
	c := mustNew(t, libcache.Options{})
	if err := c.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	wantValue(t, c, "k", "v")
	if v, ok := c.GetString("k"); !ok || string(v) != "v" {
		t.Fatalf("GetString = %q, %v", v, ok)
	}
	if err := c.SetString("s", []byte("str")); err != nil {
		t.Fatal(err)
	}
	wantValue(t, c, "s", "str")

	// The value returned is the caller's copy.
	v, _ := c.Get([]byte("k"))
	v[0] = 'X'
	wantValue(t, c, "k", "v")

	// Empty key and empty value are ordinary.
	if err := c.Set(nil, nil); err != nil {
		t.Fatal(err)
	}
	if v, ok := c.Get([]byte{}); !ok || v == nil || len(v) != 0 {
		t.Fatalf("Get(empty key) = %v, %v; want an empty non-nil slice, true", v, ok)
	}
	if !c.Has(nil) {
		t.Fatal("Has(empty key) = false")
	}
	wantMissing(t, c, []byte("absent"))
	if c.Has([]byte("absent")) {
		t.Fatal("Has(absent) = true")
	}
}

func TestGetAppend(t *testing.T) {
	c := mustNew(t, libcache.Options{})
	big := bytes.Repeat([]byte("0123456789"), 100)
	if err := c.Set([]byte("big"), big); err != nil {
		t.Fatal(err)
	}
	// With room: copied in place, the prefix kept.
	buf := make([]byte, 3, 2048)
	copy(buf, "pre")
	got, ok := c.GetAppend(buf, []byte("big"))
	if !ok || !bytes.Equal(got[:3], []byte("pre")) || !bytes.Equal(got[3:], big) {
		t.Fatalf("GetAppend with room: %v, %d bytes", ok, len(got))
	}
	if &got[0] != &buf[0] {
		t.Fatal("GetAppend with room reallocated")
	}
	// Without room: grown as append grows.
	small := []byte("pre")
	got, ok = c.GetAppend(small[:3:3], []byte("big"))
	if !ok || !bytes.Equal(got[3:], big) || string(got[:3]) != "pre" {
		t.Fatalf("GetAppend without room: %v, %d bytes", ok, len(got))
	}
	// A miss leaves dst as it was.
	got, ok = c.GetAppend(small, []byte("nope"))
	if ok || string(got) != "pre" {
		t.Fatalf("GetAppend miss = %q, %v", got, ok)
	}
}

func TestAddReplaceErrors(t *testing.T) {
	c := mustNew(t, libcache.Options{})
	k := []byte("k")
	if err := c.Replace(k, []byte("x"), libcache.DefaultTTL); !errors.Is(err, libcache.ErrNotFound) {
		t.Fatalf("Replace(absent) = %v, want ErrNotFound", err)
	}
	if err := c.Add(k, []byte("1"), libcache.DefaultTTL); err != nil {
		t.Fatal(err)
	}
	err := c.Add(k, []byte("2"), libcache.DefaultTTL)
	if !errors.Is(err, libcache.ErrExists) || errors.Is(err, libcache.ErrNotFound) {
		t.Fatalf("Add(live) = %v, want ErrExists", err)
	}
	wantValue(t, c, "k", "1")
	if err := c.Replace(k, []byte("3"), libcache.NoExpiry); err != nil {
		t.Fatal(err)
	}
	wantValue(t, c, "k", "3")
}

func TestErrorsAreComparable(t *testing.T) {
	c := mustNew(t, libcache.Options{})
	err := c.Set(make([]byte, libcache.MaxKeySize+1), []byte("v"))
	if !errors.Is(err, libcache.ErrTooLarge) {
		t.Fatalf("Set(65536-byte key) = %v, want ErrTooLarge", err)
	}
	for _, other := range []error{libcache.ErrInvalid, libcache.ErrClosed, libcache.ErrNotFound} {
		if errors.Is(err, other) {
			t.Fatalf("errors.Is(%v, %v) = true", err, other)
		}
	}
	var e *libcache.Error
	if !errors.As(err, &e) || e.Op != "Set" || e.Code != libcache.ErrTooLarge.Code {
		t.Fatalf("errors.As: %#v", e)
	}
	// The text: the call, cache_strerror's description, and the detail.
	msg := err.Error()
	if !strings.HasPrefix(msg, "libcache: Set: ") || !strings.Contains(msg, libcache.StatusText(e.Code)) ||
		!strings.Contains(msg, "65536 bytes") {
		t.Fatalf("error text %q", msg)
	}
	if libcache.StatusText(12345) != "unknown libcache status" {
		t.Fatalf("StatusText(12345) = %q", libcache.StatusText(12345))
	}
	// A sentinel is not Is-equal to another code, and wrapping keeps Is.
	wrapped := errors.Join(errors.New("context"), err)
	if !errors.Is(wrapped, libcache.ErrTooLarge) {
		t.Fatal("errors.Is through a wrapper")
	}
}

func TestHostileKeysAndValues(t *testing.T) {
	c := mustNew(t, libcache.Options{MaxBytes: 1 << 20, Shards: 1})
	long := bytes.Repeat([]byte("k"), libcache.MaxKeySize+1)
	maxKey := long[:libcache.MaxKeySize]
	for name, err := range map[string]error{
		"Set":     c.Set(long, []byte("v")),
		"Add":     c.Add(long, []byte("v"), libcache.DefaultTTL),
		"Replace": c.Replace(long, []byte("v"), libcache.DefaultTTL),
	} {
		if !errors.Is(err, libcache.ErrTooLarge) {
			t.Errorf("%s(65536-byte key) = %v, want ErrTooLarge", name, err)
		}
	}
	wantMissing(t, c, long)
	if c.Has(long) {
		t.Fatal("Has(long key)")
	}
	if ok, err := c.Delete(long); ok || err != nil {
		t.Fatalf("Delete(long key) = %v, %v", ok, err)
	}
	if _, ok, err := c.Take(long); ok || err != nil {
		t.Fatalf("Take(long key) = %v, %v", ok, err)
	}
	if ok, err := c.Touch(long, time.Second); ok || err != nil {
		t.Fatalf("Touch(long key) = %v, %v", ok, err)
	}
	// The longest key is an ordinary key.
	if err := c.Set(maxKey, []byte("v")); err != nil {
		t.Fatalf("Set(65535-byte key): %v", err)
	}
	wantValue(t, c, string(maxKey), "v")

	// A value over the byte bound: ErrTooLarge, the previous value stays.
	if err := c.Set([]byte("k"), []byte("old")); err != nil {
		t.Fatal(err)
	}
	err := c.Set([]byte("k"), make([]byte, 2<<20))
	if !errors.Is(err, libcache.ErrTooLarge) || !strings.Contains(err.Error(), "MaxBytes") {
		t.Fatalf("Set(2 MiB value in a 1 MiB cache) = %v", err)
	}
	wantValue(t, c, "k", "old")
}

func TestBadOptions(t *testing.T) {
	for name, opts := range map[string]libcache.Options{
		"negative MaxBytes":        {MaxBytes: -5},
		"negative MaxEntries":      {MaxEntries: -1},
		"negative TTL":             {TTL: -time.Second},
		"negative Shards":          {Shards: -2},
		"Shards not a power of 2":  {Shards: 3},
		"too many Shards":          {Shards: 2048},
		"huge Shards":              {Shards: math.MaxInt},
		"unknown Policy":           {Policy: 7},
		"no bound":                 {MaxBytes: libcache.NoLimit},
		"MaxBytes too small":       {MaxBytes: 1},
		"MaxBytes too small/shard": {MaxBytes: 4096, Shards: 1024},
		"MaxEntries huge":          {MaxEntries: 1 << 40, Shards: 1},
		"MaxEntries MaxInt64":      {MaxBytes: libcache.NoLimit, MaxEntries: math.MaxInt64},
	} {
		c, err := libcache.New(opts)
		if !errors.Is(err, libcache.ErrInvalid) || c != nil {
			t.Errorf("%s: New(%+v) = %v, %v; want nil, ErrInvalid", name, opts, c, err)
			continue
		}
		var e *libcache.Error
		if !errors.As(err, &e) || e.Detail == "" {
			t.Errorf("%s: %v has no detail saying what was wrong", name, err)
		}
	}
	// Huge but valid bounds open (nothing is allocated up front).
	for _, opts := range []libcache.Options{
		{MaxBytes: math.MaxInt64},
		{MaxBytes: libcache.NoLimit, MaxEntries: 1 << 30},
		{TTL: libcache.NoExpiry},
		{TTL: 100 * 365 * 24 * time.Hour},
	} {
		c, err := libcache.New(opts)
		if err != nil {
			t.Errorf("New(%+v): %v", opts, err)
			continue
		}
		if err := c.Set([]byte("k"), []byte("v")); err != nil {
			t.Errorf("Set in New(%+v): %v", opts, err)
		}
		c.Close()
	}
}

func TestTTLConventions(t *testing.T) {
	clock := libcache.NewManualClock(time.Hour)
	c := mustNew(t, libcache.Options{Clock: clock, TTL: 2 * time.Second})
	set := func(key string, ttl time.Duration) {
		t.Helper()
		if err := c.SetWithTTL([]byte(key), []byte("v"), ttl); err != nil {
			t.Fatalf("SetWithTTL(%s, %v): %v", key, ttl, err)
		}
	}
	ttl := func(key string) time.Duration {
		t.Helper()
		d, ok, err := c.TTL([]byte(key))
		if err != nil || !ok {
			t.Fatalf("TTL(%s) = %v, %v, %v", key, d, ok, err)
		}
		return d
	}
	set("default", libcache.DefaultTTL)
	set("none", 0)
	set("noexpiry", libcache.NoExpiry)
	set("ms", 1500*time.Millisecond)
	set("sub-ms", time.Nanosecond) // never turned into "no expiry"
	set("rounded", 1999*time.Microsecond)
	if err := c.Set([]byte("plain"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]time.Duration{
		"default": 2 * time.Second, "plain": 2 * time.Second, "none": libcache.NoExpiry,
		"noexpiry": libcache.NoExpiry, "ms": 1500 * time.Millisecond,
		"sub-ms": time.Millisecond, "rounded": time.Millisecond,
	} {
		if got := ttl(key); got != want {
			t.Errorf("TTL(%s) = %v, want %v", key, got, want)
		}
	}
	for _, bad := range []time.Duration{-time.Nanosecond, -5 * time.Millisecond, math.MinInt64 + 1} {
		err := c.SetWithTTL([]byte("bad"), []byte("v"), bad)
		if !errors.Is(err, libcache.ErrInvalid) || !strings.Contains(err.Error(), "TTL") {
			t.Errorf("SetWithTTL(ttl %v) = %v, want ErrInvalid", bad, err)
		}
		if _, err := c.Touch([]byte("ms"), bad); !errors.Is(err, libcache.ErrInvalid) {
			t.Errorf("Touch(ttl %v) = %v, want ErrInvalid", bad, err)
		}
	}
	wantMissing(t, c, []byte("bad"))

	clock.Advance(time.Millisecond)
	wantMissing(t, c, []byte("sub-ms"))
	clock.Advance(1499 * time.Millisecond)
	wantMissing(t, c, []byte("ms"))
	wantValue(t, c, "default", "v")
	if ok, err := c.Touch([]byte("default"), 10*time.Second); !ok || err != nil {
		t.Fatalf("Touch = %v, %v", ok, err)
	}
	clock.Advance(time.Second)
	wantValue(t, c, "default", "v")
	wantMissing(t, c, []byte("plain"))
	wantValue(t, c, "none", "v")
	if _, ok, _ := c.TTL([]byte("plain")); ok {
		t.Fatal("TTL of an expired entry found it")
	}
	if ok, err := c.Touch([]byte("plain"), time.Second); ok || err != nil {
		t.Fatalf("Touch(expired) = %v, %v", ok, err)
	}
	if clock.Now() != time.Hour+2500*time.Millisecond {
		t.Fatalf("clock.Now() = %v", clock.Now())
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Advance(negative) did not panic")
		}
	}()
	clock.Advance(-time.Millisecond)
}

func TestDeleteTakeClearPurgeStats(t *testing.T) {
	clock := libcache.NewManualClock(0)
	c := mustNew(t, libcache.Options{Clock: clock})
	for _, k := range []string{"a", "b", "c"} {
		if err := c.Set([]byte(k), []byte("v"+k)); err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := c.Delete([]byte("a")); !ok || err != nil {
		t.Fatalf("Delete(a) = %v, %v", ok, err)
	}
	if ok, err := c.Delete([]byte("a")); ok || err != nil {
		t.Fatalf("Delete(a) again = %v, %v", ok, err)
	}
	v, ok, err := c.Take([]byte("b"))
	if !ok || err != nil || string(v) != "vb" {
		t.Fatalf("Take(b) = %q, %v, %v", v, ok, err)
	}
	wantMissing(t, c, []byte("b"))
	if _, ok, err := c.Take([]byte("b")); ok || err != nil {
		t.Fatalf("Take(b) again = %v, %v", ok, err)
	}
	s, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	// 3 sets; Delete and Take count deletes; the one Get of b missed.
	if s.Sets != 3 || s.Deletes != 2 || s.Misses != 1 || s.Entries != 1 || s.Bytes == 0 {
		t.Fatalf("Stats = %+v", s)
	}
	for i := range 5 {
		if err := c.SetWithTTL([]byte{'t', byte(i)}, []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	clock.Advance(time.Second)
	if n, err := c.PurgeExpired(); n != 5 || err != nil {
		t.Fatalf("PurgeExpired = %d, %v", n, err)
	}
	if err := c.Clear(); err != nil {
		t.Fatal(err)
	}
	if s, _ := c.Stats(); s.Entries != 0 || s.Expirations != 5 {
		t.Fatalf("Stats after Clear = %+v", s)
	}
}

func TestValue(t *testing.T) {
	c, err := libcache.New(libcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("pinned"), 1000)
	if err := c.Set([]byte("k"), want); err != nil {
		t.Fatal(err)
	}
	v, found, err := c.GetValue([]byte("k"))
	if !found || err != nil || !bytes.Equal(v.Bytes(), want) || v.Len() != len(want) {
		t.Fatalf("GetValue = %v, %v", found, err)
	}
	v2, _, _ := c.GetValue([]byte("k"))
	if &v.Bytes()[0] != &v2.Bytes()[0] {
		t.Fatal("two GetValue of one entry are not the same bytes (zero-copy)")
	}
	v2.Release()
	// The bytes outlive a replace, a delete and the cache itself.
	if err := c.Set([]byte("k"), []byte("new")); err != nil {
		t.Fatal(err)
	}
	c.Delete([]byte("k"))
	c.Close()
	runtime.GC()
	if !bytes.Equal(v.Bytes(), want) {
		t.Fatal("a Value changed after its entry was replaced and the cache closed")
	}
	cp := v.Copy()
	v.Release()
	v.Release() // a second Release does nothing
	if v.Bytes() != nil || v.Len() != 0 || v.Copy() != nil {
		t.Fatal("Bytes after Release")
	}
	if !bytes.Equal(cp, want) {
		t.Fatal("Copy")
	}
	var nilValue *libcache.Value
	nilValue.Release()
	if nilValue.Bytes() != nil {
		t.Fatal("nil Value")
	}

	c2 := mustNew(t, libcache.Options{})
	c2.Set([]byte("empty"), nil)
	e, found, err := c2.GetValue([]byte("empty"))
	if !found || err != nil || e.Bytes() == nil || len(e.Bytes()) != 0 {
		t.Fatalf("GetValue(empty value) = %v, %v, %v", e.Bytes(), found, err)
	}
	e.Release()
	if v, found, err := c2.GetValue([]byte("absent")); v != nil || found || err != nil {
		t.Fatalf("GetValue(absent) = %v, %v, %v", v, found, err)
	}
}

func TestClosed(t *testing.T) {
	c, err := libcache.New(libcache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k := []byte("k")
	c.Set(k, []byte("v"))
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	checkClosed(t, c)
	checkClosed(t, &libcache.Cache{}) // the zero Cache is closed
}

func checkClosed(t *testing.T, c *libcache.Cache) {
	t.Helper()
	k := []byte("k")
	closed := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, libcache.ErrClosed) {
			t.Errorf("%s on a closed cache = %v, want ErrClosed", name, err)
		}
	}
	closed("Set", c.Set(k, k))
	closed("SetWithTTL", c.SetWithTTL(k, k, time.Second))
	closed("Add", c.Add(k, k, 0))
	closed("Replace", c.Replace(k, k, 0))
	_, err := c.Delete(k)
	closed("Delete", err)
	_, _, err = c.Take(k)
	closed("Take", err)
	_, err = c.Touch(k, 0)
	closed("Touch", err)
	_, _, err = c.TTL(k)
	closed("TTL", err)
	closed("Clear", c.Clear())
	_, err = c.PurgeExpired()
	closed("PurgeExpired", err)
	_, err = c.Stats()
	closed("Stats", err)
	_, _, err = c.GetValue(k)
	closed("GetValue", err)
	_, err = c.GetOrLoad(k, func() ([]byte, error) {
		t.Error("GetOrLoad on a closed cache called its loader")
		return nil, nil
	})
	closed("GetOrLoad", err)
	if _, ok := c.Get(k); ok {
		t.Error("Get on a closed cache hit")
	}
	if c.Has(k) {
		t.Error("Has on a closed cache")
	}
	if dst, ok := c.GetAppend([]byte("x"), k); ok || string(dst) != "x" {
		t.Error("GetAppend on a closed cache")
	}
}

func TestForgottenCacheIsClosed(t *testing.T) {
	before := libcache.ForgottenCloses()
	func() {
		c, err := libcache.New(libcache.Options{MaxBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		c.Set([]byte("k"), []byte("v"))
	}()
	for i := 0; i < 100 && libcache.ForgottenCloses() == before; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if libcache.ForgottenCloses() == before {
		t.Fatal("an unreachable Cache was never closed by its cleanup")
	}
	// An explicit Close stops the cleanup.
	c, _ := libcache.New(libcache.Options{})
	c.Close()
	c = nil
	now := libcache.ForgottenCloses()
	for range 5 {
		runtime.GC()
	}
	if libcache.ForgottenCloses() != now {
		t.Fatal("the cleanup ran for a Cache closed explicitly")
	}
}

func TestVersion(t *testing.T) {
	n, s := libcache.LibraryVersion()
	if n/10000 != libcache.HeaderVersion/10000 || n < libcache.HeaderVersion || s == "" {
		t.Fatalf("library %d (%s), header %d", n, s, libcache.HeaderVersion)
	}
}

func TestPolicyString(t *testing.T) {
	if libcache.PolicyAdaptive.String() != "adaptive" || libcache.Policy(9).String() != "Policy(9)" {
		t.Fatal(libcache.Policy(9).String())
	}
}

// Get guesses the next value's size from the last ones: values that grow,
// shrink and exceed the guess's cap all come back whole, in slices without
// a large excess, and each Get counts one hit.
func TestGetVaryingSizes(t *testing.T) {
	c := mustNew(t, libcache.Options{})
	sizes := []int{100, 100, 5000, 3, 3, 0, 100, 40000, 40000, 7, 20000, 100, 1}
	for i, n := range sizes {
		want := bytes.Repeat([]byte{byte('a' + i)}, n)
		if err := c.Set([]byte("k"), want); err != nil {
			t.Fatal(err)
		}
		got, ok := c.Get([]byte("k"))
		if !ok || !bytes.Equal(got, want) || got == nil {
			t.Fatalf("value %d (%d bytes): got %d bytes, %v", i, n, len(got), ok)
		}
		if cap(got) > 4*n+64 {
			t.Fatalf("value %d (%d bytes) came back with capacity %d", i, n, cap(got))
		}
		buf, ok := c.GetAppend(make([]byte, 2, 10), []byte("k"))
		if !ok || !bytes.Equal(buf[2:], want) {
			t.Fatalf("GetAppend of value %d (%d bytes)", i, n)
		}
	}
	s, err := c.Stats()
	if err != nil || s.Hits != uint64(2*len(sizes)) || s.Misses != 0 {
		t.Fatalf("Stats = %+v, %v; want %d hits", s, err, 2*len(sizes))
	}
}
