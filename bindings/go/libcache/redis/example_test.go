package redis_test

import (
	"fmt"
	"time"

	"github.com/libcache/libcache/bindings/go/libcache"
	"github.com/libcache/libcache/bindings/go/libcache/redis"
	"github.com/libcache/libcache/bindings/go/libcache/tagged"
)

// A near cache in front of Redis: writes go to Redis behind the caller's
// back, misses read through, and values in the shared format are readable
// by the Python and Node.js bindings. (Compiled, not run: it needs a
// redis-server.)
func Example() {
	cache, err := libcache.New(libcache.Options{MaxBytes: 64 << 20})
	if err != nil {
		panic(err)
	}
	defer cache.Close()
	store, err := redis.Attach(cache, "redis://127.0.0.1:6379/0", redis.Options{Prefix: "app:"})
	if err != nil {
		panic(err) // errors.Is(err, libcache.ErrIO): Redis unreachable
	}
	cache.SetWithTTL([]byte("greeting"), tagged.String("hello"), time.Minute) // local now, Redis within ms
	if err := store.Flush(time.Second); err != nil {                          // wait until Redis has it
		panic(err)
	}
	if unflushed, err := store.Close(time.Second); err != nil {
		fmt.Println(unflushed, "writes never reached Redis:", err)
	}
}
