package libcache_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/libcache/libcache/bindings/go/libcache"
)

func Example() {
	cache, err := libcache.New(libcache.Options{MaxBytes: 64 << 20, TTL: time.Minute})
	if err != nil {
		panic(err)
	}
	defer cache.Close()

	cache.Set([]byte("user:42"), []byte(`{"name":"Ada"}`))               // the default TTL: 1 min
	cache.SetWithTTL([]byte("session:7"), []byte("..."), 30*time.Minute) // an explicit TTL
	cache.SetWithTTL([]byte("config"), []byte("v1"), libcache.NoExpiry)  // never expires
	if v, ok := cache.GetString("user:42"); ok {
		fmt.Printf("%s\n", v)
	}
	if _, ok := cache.Get([]byte("user:43")); !ok {
		fmt.Println("user:43 missing")
	}
	// Output:
	// {"name":"Ada"}
	// user:43 missing
}

func ExampleCache_GetOrLoad() {
	cache, _ := libcache.New(libcache.Options{})
	defer cache.Close()
	slowLookup := func() ([]byte, error) { return []byte("from the database"), nil }

	// On a miss, one caller runs the loader; the others wait and share it.
	v, err := cache.GetOrLoad([]byte("user:7"), slowLookup)
	fmt.Printf("%s %v\n", v, err)
	v, _ = cache.GetOrLoad([]byte("user:7"), nil) // a hit: the loader is not called
	fmt.Printf("%s\n", v)
	// Output:
	// from the database <nil>
	// from the database
}

func ExampleCache_GetValue() {
	cache, _ := libcache.New(libcache.Options{})
	cache.Set([]byte("blob"), []byte("zero-copy bytes"))

	v, found, err := cache.GetValue([]byte("blob"))
	if err != nil || !found {
		return
	}
	defer v.Release() // the bytes are pinned until Release
	cache.Close()     // ... even after the cache is closed
	fmt.Printf("%s\n", v.Bytes())
	// Output: zero-copy bytes
}

func ExampleCache_GetAppend() {
	cache, _ := libcache.New(libcache.Options{})
	defer cache.Close()
	cache.Set([]byte("a"), []byte("1"))
	cache.Set([]byte("b"), []byte("2"))

	buf := make([]byte, 0, 1024) // reused: no allocation per read
	for _, k := range []string{"a", "b"} {
		buf, _ = cache.GetAppend(buf[:0], []byte(k))
		fmt.Printf("%s=%s\n", k, buf)
	}
	// Output:
	// a=1
	// b=2
}

func ExampleCache_Add() {
	cache, _ := libcache.New(libcache.Options{})
	defer cache.Close()
	cache.Add([]byte("lock"), []byte("owner-1"), 10*time.Second)
	err := cache.Add([]byte("lock"), []byte("owner-2"), 10*time.Second)
	fmt.Println(errors.Is(err, libcache.ErrExists))
	fmt.Println(err)
	// Output:
	// true
	// libcache: Add: exists: a live entry already holds the key
}

func ExampleManualClock() {
	clock := libcache.NewManualClock(0)
	cache, _ := libcache.New(libcache.Options{Clock: clock})
	defer cache.Close()
	cache.SetWithTTL([]byte("k"), []byte("v"), time.Second)

	clock.Advance(999 * time.Millisecond)
	_, ok := cache.Get([]byte("k"))
	fmt.Println("after 999 ms:", ok)
	clock.Advance(time.Millisecond)
	_, ok = cache.Get([]byte("k"))
	fmt.Println("after 1 s:", ok)
	// Output:
	// after 999 ms: true
	// after 1 s: false
}

func ExampleNew_errors() {
	_, err := libcache.New(libcache.Options{Shards: 3})
	fmt.Println(errors.Is(err, libcache.ErrInvalid))
	fmt.Println(err)
	// Output:
	// true
	// libcache: New: invalid argument: Shards is 3: give a power of two up to 1024, or 0 for automatic
}
