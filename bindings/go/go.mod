module github.com/libcache/libcache/bindings/go

go 1.24
