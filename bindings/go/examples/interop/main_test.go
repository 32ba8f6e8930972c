package main

import (
	"strings"
	"testing"

	"github.com/libcache/libcache/bindings/go/internal/redistest"
	"github.com/libcache/libcache/bindings/go/libcache/tagged"
)

// The agent against itself: what write stores, read accepts; what another
// writer got wrong, read reports.
func TestWriteThenRead(t *testing.T) {
	srv := redistest.Start(t)
	if err := write(srv.URL(), "go"); err != nil {
		t.Fatal(err)
	}
	// Redis holds the tagged values under the prefix.
	if got, err := srv.Do("GET", "interop:go:str"); err != nil || got != string(tagged.String("héllo from go ✓")) {
		t.Fatalf("GET interop:go:str = %q, %v", got, err)
	}
	diffs, err := read(srv.URL(), "go")
	if err != nil || len(diffs) != 0 {
		t.Fatalf("read = %v, %v", diffs, err)
	}

	// A writer that stored the string as bytes, a wrong JSON and no bytes key.
	srv.Do("SET", "interop:bad:str", string(tagged.Bytes([]byte("héllo from bad ✓"))))
	srv.Do("SET", "interop:bad:json", string(tagged.RawJSON([]byte(`{"list":[1,2.5,null,false],"s":"x"}`))))
	diffs, err = read(srv.URL(), "bad")
	if err != nil || len(diffs) != 3 {
		t.Fatalf("read of a bad writer = %v, %v; want 3 differences", diffs, err)
	}
	all := strings.Join(diffs, "\n")
	for _, want := range []string{"bad:bytes: missing", "bad:str: got []uint8", "bad:json"} {
		if !strings.Contains(all, want) {
			t.Fatalf("differences %q lack %q", all, want)
		}
	}
}
