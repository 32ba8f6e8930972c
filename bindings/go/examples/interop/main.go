// Command interop is the Go agent of the cross-language interop test: the
// Python, Node.js, Rust and Go agents share its command line, and each reads
// what the others wrote through one Redis, in the shared value format
// (docs/value-format.md).
//
//	interop write <redis-url> <lang>   write <lang>:bytes, <lang>:str, <lang>:json
//	interop read  <redis-url> <lang>   read and check the three keys <lang> wrote
//
// Both attach a cache to Redis with the key prefix "interop:". write waits
// (up to 5 s) until Redis has the values; read uses a fresh cache, so each
// read is a local miss that reads through to Redis. Each prints "ok" and
// exits 0; read prints what differed to stderr and exits 1.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/libcache/libcache/bindings/go/libcache"
	"github.com/libcache/libcache/bindings/go/libcache/redis"
	"github.com/libcache/libcache/bindings/go/libcache/tagged"
)

const prefix = "interop:"

// The JSON value every agent writes.
const jsonDoc = `{"list":[1,2.5,null,true],"s":"x"}`

func expectedBytes(lang string) []byte  { return append([]byte{0x00, 0xff}, lang...) }
func expectedString(lang string) string { return "héllo from " + lang + " ✓" }

func open(url string) (*libcache.Cache, *redis.Store, error) {
	c, err := libcache.New(libcache.Options{MaxBytes: 16 << 20})
	if err != nil {
		return nil, nil, err
	}
	s, err := redis.Attach(c, url, redis.Options{Prefix: prefix, ReadTimeout: 2 * time.Second})
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, s, nil
}

func write(url, lang string) error {
	c, s, err := open(url)
	if err != nil {
		return err
	}
	defer c.Close()
	var doc any
	if err := json.Unmarshal([]byte(jsonDoc), &doc); err != nil {
		return err
	}
	jsonValue, err := tagged.JSON(doc)
	if err != nil {
		return err
	}
	for key, value := range map[string][]byte{
		lang + ":bytes": tagged.Bytes(expectedBytes(lang)),
		lang + ":str":   tagged.String(expectedString(lang)),
		lang + ":json":  jsonValue,
	} {
		if err := c.Set([]byte(key), value); err != nil {
			return fmt.Errorf("set %s: %w", key, err)
		}
	}
	if err := s.Flush(5 * time.Second); err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	if _, err := s.Close(5 * time.Second); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	return nil
}

// read returns what differed (nil when everything matched), or an error.
func read(url, lang string) ([]string, error) {
	c, _, err := open(url)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var diffs []string
	get := func(key string) any {
		raw, ok := c.GetString(key)
		if !ok {
			diffs = append(diffs, key+": missing")
			return nil
		}
		v, err := tagged.Decode(raw)
		if err != nil {
			diffs = append(diffs, fmt.Sprintf("%s: %v (raw %x)", key, err, raw))
			return nil
		}
		return v
	}
	if v := get(lang + ":bytes"); v != nil {
		if b, ok := v.([]byte); !ok || string(b) != string(expectedBytes(lang)) {
			diffs = append(diffs, fmt.Sprintf("%s:bytes: got %T %x, want bytes %x", lang, v, v, expectedBytes(lang)))
		}
	}
	if v := get(lang + ":str"); v != nil {
		if s, ok := v.(string); !ok || s != expectedString(lang) {
			diffs = append(diffs, fmt.Sprintf("%s:str: got %T %q, want string %q", lang, v, v, expectedString(lang)))
		}
	}
	if v := get(lang + ":json"); v != nil {
		var got, want any
		raw, ok := v.(json.RawMessage)
		if !ok || json.Unmarshal(raw, &got) != nil || json.Unmarshal([]byte(jsonDoc), &want) != nil ||
			!reflect.DeepEqual(got, want) {
			diffs = append(diffs, fmt.Sprintf("%s:json: got %T %s, want JSON %s", lang, v, v, jsonDoc))
		}
	}
	return diffs, nil
}

func main() {
	if len(os.Args) != 4 || (os.Args[1] != "write" && os.Args[1] != "read") {
		fmt.Fprintln(os.Stderr, "usage: interop write|read <redis-url> <lang>")
		os.Exit(2)
	}
	url, lang := os.Args[2], os.Args[3]
	if os.Args[1] == "write" {
		if err := write(url, lang); err != nil {
			fmt.Fprintln(os.Stderr, "interop write:", err)
			os.Exit(1)
		}
		fmt.Println("ok")
		return
	}
	diffs, err := read(url, lang)
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop read:", err)
		os.Exit(1)
	}
	if len(diffs) > 0 {
		for _, d := range diffs {
			fmt.Fprintln(os.Stderr, "interop read (go):", d)
		}
		os.Exit(1)
	}
	fmt.Println("ok")
}
