// Package tagged reads and writes the value format that the libcache
// bindings share (docs/value-format.md): a one-byte type tag in front of
// every value, so that a value written by Python, Node.js or Go through one
// Redis comes back, in any of them, with the type it was written with.
//
//	tag  payload                                 Go (Encode / Decode)
//	b    the bytes                               []byte
//	s    UTF-8 text                              string
//	c    JSON (the codec Python and Node share)  json.RawMessage (any other value is marshalled)
//	i    int64, 8 bytes little-endian            int64 (every Go integer that fits)
//	I    two's complement, little-endian         *big.Int (beyond 64 bits)
//	d    IEEE 754 double, 8 bytes little-endian  float64 (float32 too)
//	T/F  none                                    bool
//	N    none                                    nil
//
// The package is pure Go (no cgo): it builds the []byte a Cache stores and
// reads what a Cache returns.
package tagged

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"unicode/utf8"
)

// The tags.
const (
	TagBytes  = 'b'
	TagString = 's'
	TagJSON   = 'c'
	TagInt    = 'i'
	TagBigInt = 'I'
	TagFloat  = 'd'
	TagTrue   = 'T'
	TagFalse  = 'F'
	TagNull   = 'N'
)

// ErrFormat is returned (wrapped, with what was wrong) for data that no
// libcache binding wrote: empty, an unknown tag, a payload of the wrong size,
// an s payload that is not UTF-8.
var ErrFormat = errors.New("tagged: not a value of the shared format")

func tagged(tag byte, payload []byte) []byte {
	out := make([]byte, 1+len(payload))
	out[0] = tag
	copy(out[1:], payload)
	return out
}

// Bytes is b as a bytes value (tag b): Python reads bytes, Node.js a Buffer.
func Bytes(b []byte) []byte { return tagged(TagBytes, b) }

// String is s as a string value (tag s). s should be UTF-8: Python refuses
// to read anything else.
func String(s string) []byte {
	out := make([]byte, 1+len(s))
	out[0] = TagString
	copy(out[1:], s)
	return out
}

// JSON is v marshalled as compact JSON without HTML escaping (tag c):
// Python with codec="json" and Node.js with codec: "json" read it.
func JSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte(TagJSON)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// RawJSON is data, which must be JSON, as a codec value (tag c).
func RawJSON(data []byte) []byte { return tagged(TagJSON, data) }

// Int is i as an integer value (tag i): Python reads int, Node.js a number
// (or a bigint beyond 2^53).
func Int(i int64) []byte {
	out := make([]byte, 9)
	out[0] = TagInt
	binary.LittleEndian.PutUint64(out[1:], uint64(i))
	return out
}

// BigInt is i as an integer value: tag i when it fits in 64 bits, else tag I
// (two's complement, little-endian, in as many bytes as Python's
// int.to_bytes uses: bit length / 8 + 1).
func BigInt(i *big.Int) []byte {
	if i.IsInt64() {
		return Int(i.Int64())
	}
	n := i.BitLen()/8 + 1
	v := new(big.Int).Set(i)
	if v.Sign() < 0 {
		v.Add(v, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	}
	be := v.FillBytes(make([]byte, n))
	out := make([]byte, 1+n)
	out[0] = TagBigInt
	for j := range be {
		out[1+j] = be[n-1-j]
	}
	return out
}

// Float is f as a float value (tag d).
func Float(f float64) []byte {
	out := make([]byte, 9)
	out[0] = TagFloat
	binary.LittleEndian.PutUint64(out[1:], math.Float64bits(f))
	return out
}

// Bool is b as a boolean value (tag T or F).
func Bool(b bool) []byte {
	if b {
		return []byte{TagTrue}
	}
	return []byte{TagFalse}
}

// Null is the null value (tag N): Python's None, JavaScript's null.
func Null() []byte { return []byte{TagNull} }

// Encode picks the tag from v's type: []byte (b), string (s), the integer
// types (i, or I for a uint64 over 2^63-1 and a *big.Int beyond 64 bits),
// float32 and float64 (d), bool (T/F), nil (N), json.RawMessage (c as is);
// any other value is marshalled to JSON (c).
func Encode(v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return Null(), nil
	case []byte:
		return Bytes(x), nil
	case string:
		return String(x), nil
	case bool:
		return Bool(x), nil
	case int:
		return Int(int64(x)), nil
	case int8:
		return Int(int64(x)), nil
	case int16:
		return Int(int64(x)), nil
	case int32:
		return Int(int64(x)), nil
	case int64:
		return Int(x), nil
	case uint:
		return BigInt(new(big.Int).SetUint64(uint64(x))), nil
	case uint8:
		return Int(int64(x)), nil
	case uint16:
		return Int(int64(x)), nil
	case uint32:
		return Int(int64(x)), nil
	case uint64:
		return BigInt(new(big.Int).SetUint64(x)), nil
	case *big.Int:
		return BigInt(x), nil
	case float32:
		return Float(float64(x)), nil
	case float64:
		return Float(x), nil
	case json.RawMessage:
		if !json.Valid(x) {
			return nil, fmt.Errorf("tagged: Encode: json.RawMessage is not valid JSON")
		}
		return RawJSON(x), nil
	}
	return JSON(v)
}

// Decode returns the value data holds: []byte (b; it aliases data), string
// (s), json.RawMessage (c; aliases data: unmarshal it, or use
// DecodeJSON), int64 (i), *big.Int (I), float64 (d), bool (T/F), nil (N).
// Anything else is an error wrapping ErrFormat.
func Decode(data []byte) (any, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: empty value", ErrFormat)
	}
	tag, p := data[0], data[1:]
	size := func(want int) error {
		if len(p) != want {
			return fmt.Errorf("%w: tag %q wants a %d-byte payload, got %d", ErrFormat, tag, want, len(p))
		}
		return nil
	}
	switch tag {
	case TagBytes:
		return p, nil
	case TagString:
		if !utf8.Valid(p) {
			return nil, fmt.Errorf("%w: tag 's' with a payload that is not UTF-8", ErrFormat)
		}
		return string(p), nil
	case TagJSON:
		return json.RawMessage(p), nil
	case TagInt:
		if err := size(8); err != nil {
			return nil, err
		}
		return int64(binary.LittleEndian.Uint64(p)), nil
	case TagBigInt:
		be := make([]byte, len(p))
		for j := range p {
			be[j] = p[len(p)-1-j]
		}
		v := new(big.Int).SetBytes(be)
		if len(p) > 0 && p[len(p)-1]&0x80 != 0 {
			v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(p))))
		}
		return v, nil
	case TagFloat:
		if err := size(8); err != nil {
			return nil, err
		}
		return math.Float64frombits(binary.LittleEndian.Uint64(p)), nil
	case TagTrue, TagFalse, TagNull:
		if err := size(0); err != nil {
			return nil, err
		}
		switch tag {
		case TagTrue:
			return true, nil
		case TagFalse:
			return false, nil
		}
		return nil, nil
	}
	return nil, fmt.Errorf("%w: unknown tag %q", ErrFormat, tag)
}

// DecodeJSON unmarshals a codec value (tag c) into v; another tag is an
// error wrapping ErrFormat.
func DecodeJSON(data []byte, v any) error {
	if len(data) == 0 || data[0] != TagJSON {
		return fmt.Errorf("%w: not a JSON (tag 'c') value", ErrFormat)
	}
	return json.Unmarshal(data[1:], v)
}
