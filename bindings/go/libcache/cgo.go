package libcache

// The C side: the C ABI of <libcache/cache.h> and a few static helpers that
// make one cgo call of what would otherwise be two or three (a pinned read
// returns its handle, bytes and size at once; New sets every option and
// opens in one call).
//
// Every C function called from Go is marked noescape (it keeps no pointer
// it is given after it returns, so a key on the caller's stack stays there)
// and nocallback (it never calls into Go: the manual clock is C code reading
// C memory), which makes each call cheaper.

/*
#cgo pkg-config: libcache
#cgo noescape cache_clear
#cgo nocallback cache_clear
#cgo noescape cache_stats
#cgo nocallback cache_stats
#cgo noescape cache_value_release
#cgo nocallback cache_value_release
#cgo noescape lcgo_write
#cgo nocallback lcgo_write
#cgo noescape lcgo_delete
#cgo nocallback lcgo_delete
#cgo noescape lcgo_touch
#cgo nocallback lcgo_touch
#cgo noescape lcgo_get_into
#cgo nocallback lcgo_get_into
#cgo noescape lcgo_get_value
#cgo nocallback lcgo_get_value
#cgo noescape lcgo_take
#cgo nocallback lcgo_take
#cgo noescape lcgo_has
#cgo nocallback lcgo_has
#cgo noescape lcgo_ttl
#cgo nocallback lcgo_ttl
#cgo noescape lcgo_purge
#cgo nocallback lcgo_purge
#cgo noescape lcgo_open
#cgo nocallback lcgo_open
#cgo nocallback cache_close

#include "lcgo.h"
*/
import "C"

import "unsafe"

// ptr is b's first byte for C, nil for an empty b (the C ABI takes NULL
// with a zero length; an empty slice's pointer may point just past another
// object, which must not be handed over).
//
// It is a *C.char, not an unsafe.Pointer: cgo then knows that the memory
// holds no Go pointers (the cgo rules allow passing it) and needs no
// run-time check of it.
func ptr(b []byte) *C.char {
	if len(b) == 0 {
		return nil
	}
	return (*C.char)(unsafe.Pointer(unsafe.SliceData(b)))
}
