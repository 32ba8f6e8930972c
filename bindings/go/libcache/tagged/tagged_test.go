package tagged_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"testing"

	"github.com/libcache/libcache/bindings/go/libcache/tagged"
)

// The encodings, byte for byte, as docs/value-format.md and the Python
// binding write them.
func TestEncodeBytes(t *testing.T) {
	big1, _ := new(big.Int).SetString("18446744073709551616", 10) // 2^64
	negBig, _ := new(big.Int).SetString("-18446744073709551617", 10)
	for _, c := range []struct {
		in   any
		want string // hex
	}{
		{[]byte{0, 0xff}, "6200ff"},
		{"h\u00e9", "7368c3a9"},
		{int64(1), "690100000000000000"},
		{-2, "69feffffffffffffff"},
		{1.5, "64000000000000f83f"},
		{true, "54"}, {false, "46"}, {nil, "4e"},
		{big1, "49000000000000000001"}, // (2^64).to_bytes(9, "little", signed=True)
		{negBig, "49fffffffffffffffffe"},
		{uint64(math.MaxUint64), "49ffffffffffffffff00"},
		{map[string]any{"a": []any{1, "<"}}, "63" + hex.EncodeToString([]byte(`{"a":[1,"<"]}`))},
		{json.RawMessage(`[1]`), "635b315d"},
	} {
		got, err := tagged.Encode(c.in)
		if err != nil || hex.EncodeToString(got) != c.want {
			t.Errorf("Encode(%v) = %x, %v; want %s", c.in, got, err, c.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	huge, _ := new(big.Int).SetString("-123456789012345678901234567890", 10)
	for _, v := range []any{[]byte{}, []byte("x\x00y"), "", "héllo ✓", int64(math.MinInt64),
		int64(math.MaxInt64), huge, 2.5, math.Inf(-1), true, false, nil} {
		enc, err := tagged.Encode(v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := tagged.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(%v)): %v", v, err)
		}
		if b, ok := v.(*big.Int); ok {
			if g, ok := got.(*big.Int); !ok || g.Cmp(b) != 0 {
				t.Fatalf("big round trip: %v -> %v", v, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, v) {
			t.Fatalf("round trip: %#v -> %#v", v, got)
		}
	}
	enc, _ := tagged.JSON(map[string]any{"list": []any{1, 2.5, nil, true}, "s": "x"})
	var back map[string]any
	if err := tagged.DecodeJSON(enc, &back); err != nil || back["s"] != "x" || len(back["list"].([]any)) != 4 {
		t.Fatalf("JSON round trip: %v, %v", back, err)
	}
	raw, _ := tagged.Decode(enc)
	if _, ok := raw.(json.RawMessage); !ok {
		t.Fatalf("Decode of a c value = %T", raw)
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, bad := range [][]byte{nil, {}, {'x', 1}, {'i', 1, 2}, {'d'}, {'T', 0}, {'N', 'N'}, {'s', 0xff, 0xfe}} {
		if v, err := tagged.Decode(bad); !errors.Is(err, tagged.ErrFormat) {
			t.Errorf("Decode(%x) = %v, %v; want ErrFormat", bad, v, err)
		}
	}
	if err := tagged.DecodeJSON(tagged.String("x"), new(any)); !errors.Is(err, tagged.ErrFormat) {
		t.Fatal(err)
	}
	if _, err := tagged.Encode(json.RawMessage("{")); err == nil {
		t.Fatal("invalid RawMessage encoded")
	}
	if _, err := tagged.Encode(make(chan int)); err == nil {
		t.Fatal("a channel encoded")
	}
	if !bytes.Equal(tagged.Bytes(nil), []byte("b")) {
		t.Fatal("empty bytes")
	}
}
