package libcache

/*
#include "lcgo.h"
*/
import "C"

import (
	"sync/atomic"
	"unsafe"
)

// Value is a value read without a copy (GetValue): the engine's own bytes,
// pinned (reference-counted) until Release. The bytes stay valid and
// unchanged after the entry is replaced, deleted, evicted or expired, and
// after the Cache is closed, until Release; they do not count against
// MaxBytes meanwhile.
//
// Release every Value: there is no finalizer, on purpose. A finalizer would
// turn a forgotten Release into memory freed under a slice from Bytes that
// the caller still uses (a Value can become unreachable while its bytes are
// in use), where a missing Release only keeps memory longer.
//
// Release may be called more than once and from any goroutine (later calls
// do nothing); Bytes after Release returns nil. A *Value may be shared
// between goroutines, but the caller must not Release it while another
// goroutine still reads its Bytes.
type Value struct {
	h    atomic.Pointer[C.char] // the *cache_value_t (an incomplete C type); nil once released
	data *byte                  // the pinned bytes (C memory); immutable
	size int
}

func newValue(h *C.cache_value_t, data unsafe.Pointer, size C.size_t) *Value {
	v := &Value{data: (*byte)(data), size: int(size)}
	v.h.Store((*C.char)(unsafe.Pointer(h)))
	return v
}

// Bytes returns the pinned bytes, valid until Release; read them, never
// write them. nil after Release.
func (v *Value) Bytes() []byte {
	if v == nil || v.h.Load() == nil {
		return nil
	}
	if v.size == 0 {
		return []byte{}
	}
	return unsafe.Slice(v.data, v.size)
}

// Len is the value's size in bytes (0 after Release).
func (v *Value) Len() int {
	if v == nil || v.h.Load() == nil {
		return 0
	}
	return v.size
}

// Copy returns a copy of the bytes that outlives Release (nil after it).
func (v *Value) Copy() []byte {
	b := v.Bytes()
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// Release drops the pin. The first call frees the bytes (when no cache
// entry or other Value holds them); later calls do nothing.
func (v *Value) Release() {
	if v == nil {
		return
	}
	if h := v.h.Swap(nil); h != nil {
		C.cache_value_release((*C.cache_value_t)(unsafe.Pointer(h)))
	}
}
