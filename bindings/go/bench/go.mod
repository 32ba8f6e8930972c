module github.com/libcache/libcache/bindings/go/bench

go 1.24.0

replace github.com/libcache/libcache/bindings/go => ../

require (
	github.com/dgraph-io/ristretto/v2 v2.4.2
	github.com/libcache/libcache/bindings/go v0.0.0
	github.com/maypok86/otter/v2 v2.4.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	golang.org/x/sys v0.36.0 // indirect
)
