// Package bridge lets the libcache/redis package reach a libcache.Cache's C
// handle under the cache's in-flight guard, without exporting either from
// package libcache. Package libcache fills the two functions in its init.
package bridge

import "unsafe"

var (
	// Acquire returns c's cache_t* (a *libcache.Cache given as any) and a
	// token for Release, or an error (ErrClosed) when c is closed. Until
	// Release, Close of c waits, so the handle stays valid.
	Acquire func(c any) (handle unsafe.Pointer, token uint32, err error)
	// Release ends the call that Acquire began.
	Release func(c any, token uint32)
	// ClosedError is libcache.ErrClosed wrapped with the operation's name.
	ClosedError func(op string) error
	// StatusError is a libcache error for a C status, with the operation's
	// name and a detail (empty: cache_strerror's text only).
	StatusError func(op string, status int, detail string) error
)
