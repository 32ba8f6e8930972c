package tagged_test

import (
	"fmt"

	"github.com/libcache/libcache/bindings/go/libcache"
	"github.com/libcache/libcache/bindings/go/libcache/tagged"
)

func Example() {
	cache, _ := libcache.New(libcache.Options{})
	defer cache.Close()

	// What Python's cache.set("greeting", "hi") and cache.set("n", 42) store.
	cache.Set([]byte("greeting"), tagged.String("hi"))
	cache.Set([]byte("n"), tagged.Int(42))
	doc, _ := tagged.JSON(map[string]any{"user": 42})
	cache.Set([]byte("doc"), doc)

	for _, k := range []string{"greeting", "n", "doc"} {
		raw, _ := cache.GetString(k)
		v, err := tagged.Decode(raw)
		fmt.Printf("%s: %T %s %v\n", k, v, v, err)
	}
	// Output:
	// greeting: string hi <nil>
	// n: int64 %!s(int64=42) <nil>
	// doc: json.RawMessage {"user":42} <nil>
}
