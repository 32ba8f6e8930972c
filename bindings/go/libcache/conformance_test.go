package libcache_test

// The language-neutral conformance suite (tests/conformance/cases.json, its
// format in tests/conformance/README.md) against this package: one subtest
// per case, each step mapped to the Go idiom (a false found for "missing",
// ErrExists / ErrNotFound from Add / Replace, NoExpiry for "none", errors by
// errors.Is against the sentinels). Values are raw bytes.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/libcache/libcache/bindings/go/libcache"
)

var casesFile = filepath.Join("..", "..", "..", "tests", "conformance", "cases.json")

const manualClockStart = 1_000_000 * time.Millisecond

// knownBindingBugs: cases this binding fails today (name -> the bug). Such a
// case must fail; when it passes, remove it. Never change a case instead.
var knownBindingBugs = map[string]string{}

type confCase struct {
	Name      string           `json:"name"`
	About     string           `json:"about"`
	Open      map[string]any   `json:"open"`
	OpenError string           `json:"open_error"`
	Steps     []map[string]any `json:"steps"`
}

func loadCases(t *testing.T) []confCase {
	t.Helper()
	data, err := os.ReadFile(casesFile)
	if err != nil {
		t.Fatalf("reading the conformance cases: %v", err)
	}
	var doc struct {
		Version int        `json:"version"`
		Cases   []confCase `json:"cases"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", casesFile, err)
	}
	if doc.Version != 1 {
		t.Fatalf("%s: unknown format version %d", casesFile, doc.Version)
	}
	return doc.Cases
}

func TestConformance(t *testing.T) {
	cases := loadCases(t)
	if len(cases) == 0 {
		t.Fatalf("no cases in %s", casesFile)
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.Name] {
			t.Fatalf("case name %q is not unique", c.Name)
		}
		seen[c.Name] = true
	}
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			failure := runCase(c)
			bug, known := knownBindingBugs[c.Name]
			switch {
			case known && failure == "":
				t.Fatalf("%s passes now: remove it from knownBindingBugs (%s)", c.Name, bug)
			case !known && failure != "":
				t.Fatal(failure)
			}
		})
	}
}

func num(v any) int64 {
	n, err := v.(json.Number).Int64()
	if err != nil {
		panic(err)
	}
	return n
}

// specBytes decodes a BYTES value: a string, {"hex": ...} or {"repeat", "times"}.
func specBytes(v any) []byte {
	switch s := v.(type) {
	case string:
		return []byte(s)
	case map[string]any:
		if h, ok := s["hex"].(string); ok {
			b, err := hex.DecodeString(h)
			if err != nil {
				panic(err)
			}
			return b
		}
		if r, ok := s["repeat"].(string); ok {
			return []byte(strings.Repeat(r, int(num(s["times"]))))
		}
	}
	panic(fmt.Sprintf("not a BYTES value: %v", v))
}

var errorNames = []struct {
	err  error
	name string
}{
	{libcache.ErrNotFound, "not_found"}, {libcache.ErrExists, "exists"},
	{libcache.ErrInvalid, "invalid"}, {libcache.ErrNoMemory, "no_mem"},
	{libcache.ErrTooLarge, "too_large"}, {libcache.ErrBufferTooSmall, "buffer_too_small"},
	{libcache.ErrIO, "io"}, {libcache.ErrFull, "full"}, {libcache.ErrTimeout, "timeout"},
	{libcache.ErrClosed, "closed"}, {libcache.ErrInternal, "internal"},
	{libcache.ErrWrongKind, "wrong_kind"},
}

// errorName is the suite's NAME of a libcache error, or the error's text
// for anything else (which then never matches).
func errorName(err error) string {
	for _, e := range errorNames {
		if errors.Is(err, e.err) {
			return e.name
		}
	}
	return "unexpected error: " + err.Error()
}

func openCase(o map[string]any) (*libcache.Cache, *libcache.ManualClock, error) {
	var opts libcache.Options
	if v, ok := o["max_bytes"]; ok {
		opts.MaxBytes = num(v)
		if opts.MaxBytes == 0 {
			opts.MaxBytes = libcache.NoLimit // the suite's 0 is "no byte bound"
		}
	}
	if v, ok := o["max_entries"]; ok {
		opts.MaxEntries = num(v)
	}
	if v, ok := o["shards"]; ok {
		opts.Shards = int(num(v))
	}
	if v, ok := o["default_ttl_ms"]; ok {
		opts.TTL = time.Duration(num(v)) * time.Millisecond
	}
	if v, ok := o["policy"]; ok {
		switch v {
		case "clock":
			opts.Policy = libcache.PolicyClock
		case "adaptive":
			opts.Policy = libcache.PolicyAdaptive
		default:
			opts.Policy = libcache.Policy(-1) // a policy this binding does not know
		}
	}
	var clock *libcache.ManualClock
	if o["clock"] == "manual" {
		clock = libcache.NewManualClock(manualClockStart)
		opts.Clock = clock
	}
	c, err := libcache.New(opts)
	return c, clock, err
}

func ttlOf(step map[string]any) time.Duration {
	v, ok := step["ttl_ms"]
	if !ok {
		return libcache.DefaultTTL
	}
	return time.Duration(num(v)) * time.Millisecond
}

func okOrError(err error) any {
	if err != nil {
		return map[string]any{"error": errorName(err)}
	}
	return "ok"
}

func valueOrMissing(v []byte, found bool, err error) any {
	if err != nil {
		return map[string]any{"error": errorName(err)}
	}
	if !found {
		return "missing"
	}
	return map[string]any{"value": v}
}

func boolOrError(b bool, err error) any {
	if err != nil {
		return map[string]any{"error": errorName(err)}
	}
	return b
}

// runStep performs one step and returns its outcome in the suite's terms
// (with values as []byte).
func runStep(c *libcache.Cache, clock *libcache.ManualClock, step map[string]any) any {
	var key []byte
	if k, ok := step["key"]; ok {
		key = specBytes(k)
	}
	switch step["op"] {
	case "set":
		return okOrError(c.SetWithTTL(key, specBytes(step["value"]), ttlOf(step)))
	case "add":
		return okOrError(c.Add(key, specBytes(step["value"]), ttlOf(step)))
	case "replace":
		return okOrError(c.Replace(key, specBytes(step["value"]), ttlOf(step)))
	case "get":
		v, found := c.Get(key)
		return valueOrMissing(v, found, nil)
	case "has":
		return c.Has(key)
	case "delete":
		return boolOrError(c.Delete(key))
	case "take":
		return valueOrMissing(c.Take(key))
	case "touch":
		return boolOrError(c.Touch(key, ttlOf(step)))
	case "ttl":
		left, found, err := c.TTL(key)
		switch {
		case err != nil:
			return map[string]any{"error": errorName(err)}
		case !found:
			return "missing"
		case left == libcache.NoExpiry:
			return "none"
		}
		return map[string]any{"ms": int64(left / time.Millisecond)}
	case "clear":
		return okOrError(c.Clear())
	case "purge_expired":
		n, err := c.PurgeExpired()
		if err != nil {
			return map[string]any{"error": errorName(err)}
		}
		return map[string]any{"count": int64(n)}
	case "advance":
		if clock == nil {
			panic("advance needs a case with the manual clock")
		}
		clock.Advance(time.Duration(num(step["ms"])) * time.Millisecond)
		return nil
	case "stats":
		s, err := c.Stats()
		if err != nil {
			return map[string]any{"error": errorName(err)}
		}
		fields := map[string]uint64{
			"hits": s.Hits, "misses": s.Misses, "sets": s.Sets, "deletes": s.Deletes,
			"evictions": s.Evictions, "expirations": s.Expirations, "entries": s.Entries,
		}
		got := map[string]any{}
		for name, want := range step["expect"].(map[string]any) {
			if name == "bytes_at_most" {
				if limit := num(want); s.Bytes <= uint64(limit) {
					got[name] = limit
				} else {
					got[name] = int64(s.Bytes)
				}
				continue
			}
			v, ok := fields[name]
			if !ok {
				panic("unknown stats field " + name)
			}
			got[name] = int64(v)
		}
		return got
	}
	panic(fmt.Sprintf("unknown op %v", step["op"]))
}

// expected turns a step's expect into runStep's terms: BYTES into []byte,
// numbers into int64.
func expected(e any) any {
	switch v := e.(type) {
	case json.Number:
		return num(v)
	case map[string]any:
		out := map[string]any{}
		for k, x := range v {
			if k == "value" {
				out[k] = specBytes(x)
			} else {
				out[k] = expected(x)
			}
		}
		return out
	}
	return e
}

func describe(v any) string {
	if m, ok := v.(map[string]any); ok {
		if b, ok := m["value"].([]byte); ok {
			h := hex.EncodeToString(b)
			if len(h) > 40 {
				h = h[:40] + "..."
			}
			return fmt.Sprintf("{value: <%d bytes %s>}", len(b), h)
		}
	}
	s := fmt.Sprint(v)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// runCase replays c and returns "" or what failed.
func runCase(c confCase) (failure string) {
	cache, clock, err := openCase(c.Open)
	if c.OpenError != "" {
		if err == nil {
			cache.Close()
			return fmt.Sprintf("case %s: New should fail with %s, but it succeeded", c.Name, c.OpenError)
		}
		if got := errorName(err); got != c.OpenError {
			return fmt.Sprintf("case %s: New failed with %s (%v), want %s", c.Name, got, err, c.OpenError)
		}
		return ""
	}
	if err != nil {
		return fmt.Sprintf("case %s: New: %v", c.Name, err)
	}
	defer cache.Close()
	for i, step := range c.Steps {
		got := runStep(cache, clock, step)
		if step["op"] == "advance" {
			continue
		}
		want := expected(step["expect"])
		if !reflect.DeepEqual(got, want) {
			args := map[string]any{}
			for k, v := range step {
				if k != "expect" {
					args[k] = v
				}
			}
			return fmt.Sprintf("case %s, step %d (%v %v): expected %s, got %s",
				c.Name, i, step["op"], describe(args), describe(want), describe(got))
		}
	}
	return ""
}
