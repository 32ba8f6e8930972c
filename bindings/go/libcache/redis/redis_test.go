package redis_test

import (
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libcache/libcache/bindings/go/internal/redistest"
	"github.com/libcache/libcache/bindings/go/libcache"
	"github.com/libcache/libcache/bindings/go/libcache/redis"
)

func newCache(t *testing.T) *libcache.Cache {
	t.Helper()
	c, err := libcache.New(libcache.Options{MaxBytes: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func attach(t *testing.T, c *libcache.Cache, url string, opts redis.Options) *redis.Store {
	t.Helper()
	s, err := redis.Attach(c, url, opts)
	if err != nil {
		t.Fatalf("Attach(%s): %v", url, err)
	}
	return s
}

// Write-behind from one cache, then read-through from a second one.
func TestWriteBehindThenReadThrough(t *testing.T) {
	srv := redistest.Start(t)
	writer := newCache(t)
	w := attach(t, writer, srv.URL(), redis.Options{Prefix: "t:"})
	if err := writer.Set([]byte("k1"), []byte("v1")); err != nil {
		t.Fatal(err)
	}
	if err := writer.SetWithTTL([]byte("k2"), []byte("v2"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := writer.Set([]byte("gone"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Delete([]byte("gone")); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(5 * time.Second); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	// Redis holds the writes under the prefix, with the TTL.
	for key, want := range map[string]string{"t:k1": "v1", "t:k2": "v2", "t:gone": "(nil)", "k1": "(nil)"} {
		if got, err := srv.Do("GET", key); err != nil || got != want {
			t.Fatalf("GET %s = %q, %v; want %q", key, got, err, want)
		}
	}
	pttl, _ := srv.Do("PTTL", "t:k2")
	if n, _ := strconv.Atoi(pttl); n <= 0 || n > 60000 {
		t.Fatalf("PTTL t:k2 = %s", pttl)
	}
	st, err := w.Stats()
	if err != nil || st.FlushedOps < 3 || st.QueuedOps != 0 || st.Connects == 0 {
		t.Fatalf("writer Stats = %+v, %v", st, err)
	}

	// A second cache: a local miss reads through, with the remaining TTL.
	reader := newCache(t)
	r := attach(t, reader, srv.URL(), redis.Options{Prefix: "t:"})
	if v, ok := reader.Get([]byte("k1")); !ok || string(v) != "v1" {
		t.Fatalf("read-through Get(k1) = %q, %v", v, ok)
	}
	if v, ok := reader.Get([]byte("k2")); !ok || string(v) != "v2" {
		t.Fatalf("read-through Get(k2) = %q, %v", v, ok)
	}
	// Filled locally with its remaining TTL.
	if d, ok, err := reader.TTL([]byte("k2")); err != nil || !ok || d <= 0 || d > time.Minute {
		t.Fatalf("TTL(k2) after read-through = %v, %v, %v", d, ok, err)
	}
	if _, ok := reader.Get([]byte("gone")); ok {
		t.Fatal("a deleted key read through")
	}
	rs, err := r.Stats()
	if err != nil || rs.ReadHits < 2 || rs.ReadMisses < 1 {
		t.Fatalf("reader Stats = %+v, %v", rs, err)
	}

	// Write-through and delete-through.
	if err := r.SetSync([]byte("sync"), []byte("s"), libcache.DefaultTTL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, _ := srv.Do("GET", "t:sync"); got != "s" {
		t.Fatalf("after SetSync Redis holds %q", got)
	}
	if err := r.DeleteSync([]byte("sync"), 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, _ := srv.Do("GET", "t:sync"); got != "(nil)" {
		t.Fatalf("after DeleteSync Redis holds %q", got)
	}
	if err := r.SetSync([]byte("x"), nil, -time.Second, time.Second); !errors.Is(err, libcache.ErrInvalid) {
		t.Fatalf("SetSync(negative TTL) = %v", err)
	}
}

func TestCloseAndOwnership(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t)
	s := attach(t, c, srv.URL(), redis.Options{Prefix: "o:"})
	if _, err := redis.Attach(c, srv.URL(), redis.Options{}); !errors.Is(err, libcache.ErrExists) {
		t.Fatalf("a second Attach = %v, want ErrExists", err)
	}
	c.Set([]byte("k"), []byte("v"))
	unflushed, err := s.Close(5 * time.Second)
	if err != nil || unflushed != 0 {
		t.Fatalf("Close = %d, %v", unflushed, err)
	}
	if got, _ := srv.Do("GET", "o:k"); got != "v" {
		t.Fatalf("Close did not flush: Redis holds %q", got)
	}
	if err := s.Flush(time.Second); !errors.Is(err, libcache.ErrClosed) {
		t.Fatalf("Flush after Close = %v", err)
	}
	if _, err := s.Stats(); !errors.Is(err, libcache.ErrClosed) {
		t.Fatalf("Stats after Close = %v", err)
	}
	if n, err := s.Close(time.Second); n != 0 || err != nil {
		t.Fatalf("second Close = %d, %v", n, err)
	}
	// The cache goes on without Redis, and may attach again.
	c.Set([]byte("local"), []byte("only"))
	if got, _ := srv.Do("GET", "o:local"); got != "(nil)" {
		t.Fatalf("a write after Close reached Redis: %q", got)
	}
	s2 := attach(t, c, srv.URL(), redis.Options{Prefix: "o:"})
	// Closing the cache closes the adapter.
	c.Close()
	if err := s2.Flush(time.Second); !errors.Is(err, libcache.ErrClosed) {
		t.Fatalf("Flush after Cache.Close = %v", err)
	}
	if _, err := s2.Stats(); !errors.Is(err, libcache.ErrClosed) {
		t.Fatalf("Stats after Cache.Close = %v", err)
	}
	if n, err := s2.Close(time.Second); n != 0 || err != nil {
		t.Fatalf("Close after Cache.Close = %d, %v", n, err)
	}
	if _, err := redis.Attach(c, srv.URL(), redis.Options{}); !errors.Is(err, libcache.ErrClosed) {
		t.Fatalf("Attach to a closed cache = %v", err)
	}
}

func TestAttachErrors(t *testing.T) {
	c := newCache(t)
	_, err := redis.Attach(c, "http://example.com", redis.Options{})
	if !errors.Is(err, libcache.ErrInvalid) || !strings.Contains(err.Error(), "URL") {
		t.Fatalf("Attach(bad URL) = %v", err)
	}
	_, err = redis.Attach(c, "redis://u:s3cret@127.0.0.1:1/0", redis.Options{ConnectTimeout: 200 * time.Millisecond})
	if !errors.Is(err, libcache.ErrIO) || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("Attach(nothing listening) = %v, want ErrIO without the password", err)
	}
	_, err = redis.Attach(c, "redis://127.0.0.1:1/0", redis.Options{CommandTimeout: -time.Second})
	if !errors.Is(err, libcache.ErrInvalid) || !strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("Attach(negative timeout) = %v", err)
	}
	_, err = redis.Attach(c, "redis://127.0.0.1:1/0", redis.Options{MaxQueueOps: -1})
	if !errors.Is(err, libcache.ErrInvalid) || !strings.Contains(err.Error(), "MaxQueue") {
		t.Fatalf("Attach(negative queue bound) = %v", err)
	}
}

// Redis killed for real: writes are still served locally and queued, Flush
// times out, a miss is a miss (after the read timeout, never a hang), and
// Close reports what never reached Redis.
func TestRedisDown(t *testing.T) {
	srv := redistest.Start(t)
	c := newCache(t)
	s := attach(t, c, srv.URL(), redis.Options{Prefix: "d:", ConnectTimeout: 200 * time.Millisecond,
		CommandTimeout: 200 * time.Millisecond, ReadTimeout: 50 * time.Millisecond})
	if err := c.Set([]byte("before"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	srv.Kill()

	if err := c.Set([]byte("after"), []byte("2")); err != nil {
		t.Fatalf("Set with Redis down = %v (should queue)", err)
	}
	if v, ok := c.Get([]byte("after")); !ok || string(v) != "2" {
		t.Fatalf("local read of a queued write = %q, %v", v, ok)
	}
	if _, ok := c.Get([]byte("never-written")); ok {
		t.Fatal("a miss with Redis down hit")
	}
	if err := s.Flush(300 * time.Millisecond); !errors.Is(err, libcache.ErrTimeout) {
		t.Fatalf("Flush with Redis down = %v, want ErrTimeout", err)
	}
	st, err := s.Stats()
	if err != nil || st.QueuedOps == 0 || st.ReadErrors == 0 {
		t.Fatalf("Stats with Redis down = %+v, %v", st, err)
	}
	if s.LastError() == "" {
		t.Fatal("LastError is empty with Redis down")
	}
	if err := s.SetSync([]byte("sync"), []byte("x"), 0, 300*time.Millisecond); err == nil {
		t.Fatal("SetSync with Redis down succeeded")
	}
	unflushed, err := s.Close(100 * time.Millisecond)
	if unflushed == 0 || !errors.Is(err, libcache.ErrTimeout) {
		t.Fatalf("Close with Redis down = %d, %v", unflushed, err)
	}
}

// Store calls racing Store.Close and Cache.Close: no crash, ErrClosed.
func TestCloseRacesStoreCalls(t *testing.T) {
	srv := redistest.Start(t)
	for round := range 3 {
		c, err := libcache.New(libcache.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s := attach(t, c, srv.URL(), redis.Options{Prefix: "r" + strconv.Itoa(round) + ":"})
		var wg, started sync.WaitGroup
		calls := []func() error{
			func() error { return s.Flush(time.Second) },
			func() error { _, err := s.Stats(); return err },
			func() error { return c.Set([]byte("k"), []byte("v")) },
			func() error { return s.SetSync([]byte("s"), []byte("v"), 0, time.Second) },
			func() error { s.LastError(); _, err := c.Stats(); return err },
		}
		for _, call := range calls {
			wg.Add(1)
			started.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					if n == 10 {
						started.Done()
					}
					if err := call(); errors.Is(err, libcache.ErrClosed) {
						if n < 10 {
							started.Done()
						}
						return
					} else if err != nil {
						t.Errorf("call: %v", err)
						return
					}
				}
			}()
		}
		started.Wait()
		if round%2 == 0 {
			s.Close(time.Second)
		}
		c.Close()
		wg.Wait()
	}
}
