package libcache

/*
#include "lcgo.h"
*/
import "C"

import (
	"fmt"
)

// Error is every error the package returns for a status of the C ABI: Op
// names the call ("Set", "New", ...), Code is the C status (CACHE_E_*, or
// one of the results CACHE_NOT_FOUND and CACHE_EXISTS), Detail says what was
// wrong in this call when the binding knows more than the status does.
//
// Compare with errors.Is against the sentinels (ErrTooLarge, ErrClosed...),
// which match any *Error of the same Code:
//
//	if errors.Is(err, libcache.ErrTooLarge) { ... }
type Error struct {
	Op     string
	Code   int
	Detail string
}

// Error is "libcache: Op: cache_strerror(Code)[: Detail]".
func (e *Error) Error() string {
	msg := "libcache: "
	if e.Op != "" {
		msg += e.Op + ": "
	}
	msg += StatusText(e.Code)
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// Is reports whether target is a sentinel (an *Error with no Op) of the same
// Code, so that errors.Is(err, ErrClosed) holds for every closed-cache error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Op == "" && t.Detail == "" && t.Code == e.Code
}

// The sentinels, one per status of <libcache/cache.h>; compare with
// errors.Is. Their text is cache_strerror's.
var (
	// ErrNotFound: Replace of a key with no live entry.
	ErrNotFound = &Error{Code: C.CACHE_NOT_FOUND}
	// ErrExists: Add of a key that has a live entry.
	ErrExists = &Error{Code: C.CACHE_EXISTS}
	// ErrInvalid: a bad argument (a negative TTL, bad options).
	ErrInvalid = &Error{Code: C.CACHE_E_INVALID}
	// ErrNoMemory: the engine could not allocate memory.
	ErrNoMemory = &Error{Code: C.CACHE_E_NOMEM}
	// ErrTooLarge: a key over MaxKeySize bytes, or an entry that can never
	// fit in the cache's bounds (the key's previous value is kept).
	ErrTooLarge = &Error{Code: C.CACHE_E_TOO_LARGE}
	// ErrBufferTooSmall is a status of the C ABI's copying read; this
	// package never returns it.
	ErrBufferTooSmall = &Error{Code: C.CACHE_E_BUFFER_TOO_SMALL}
	// ErrIO: an I/O error of an integration (Redis unreachable).
	ErrIO = &Error{Code: C.CACHE_E_IO}
	// ErrFull: the Redis write-behind queue is full.
	ErrFull = &Error{Code: C.CACHE_E_FULL}
	// ErrTimeout: an operation timed out (a Redis flush).
	ErrTimeout = &Error{Code: C.CACHE_E_TIMEOUT}
	// ErrClosed: the cache (or the Redis adapter) was closed.
	ErrClosed = &Error{Code: C.CACHE_E_CLOSED}
	// ErrInternal: a bug of the engine; please report it.
	ErrInternal = &Error{Code: C.CACHE_E_INTERNAL}
	// ErrWrongKind: the entry holds another binding's language object.
	ErrWrongKind = &Error{Code: C.CACHE_E_WRONG_KIND}
)

// StatusText is cache_strerror(code): the C ABI's description of any
// status ("unknown libcache status" for an unknown one).
func StatusText(code int) string {
	return C.GoString(C.cache_strerror(C.int(code)))
}

func statusError(op string, rc C.int) error {
	return &Error{Op: op, Code: int(rc)}
}

func closedError(op string) error {
	return &Error{Op: op, Code: C.CACHE_E_CLOSED}
}

func invalidf(op, format string, args ...any) error {
	return &Error{Op: op, Code: C.CACHE_E_INVALID, Detail: fmt.Sprintf(format, args...)}
}

// PanicError is what GetOrLoad returns to the callers that waited for a
// loader that panicked (the caller that ran the loader panics again with
// Value). Stack is the loader's goroutine stack at the panic.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("libcache: GetOrLoad: the loader panicked: %v", e.Value)
}

// writeError is the error of a failed write, saying what was too large for
// a CACHE_E_TOO_LARGE.
func writeError(op string, rc C.int, key, value []byte) error {
	e := &Error{Op: op, Code: int(rc)}
	if rc == C.CACHE_E_TOO_LARGE {
		if len(key) > MaxKeySize {
			e.Detail = fmt.Sprintf("the key is %d bytes, over the limit of %d", len(key), MaxKeySize)
		} else {
			e.Detail = fmt.Sprintf("a %d-byte value with a %d-byte key does not fit in one shard's share of the byte bound (raise MaxBytes or use fewer Shards)", len(value), len(key))
		}
	}
	return e
}
