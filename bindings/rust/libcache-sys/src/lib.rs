//! Raw declarations of libcache's stable C ABI.
//!
//! One item per declaration of `<libcache/cache.h>` (all of it),
//! `<libcache/cache_experimental.h>` (all of it), `<libcache/cache_store.h>`
//! (all of it) and, with the `redis` feature, `<libcache/cache_redis.h>`
//! (all of it), written by hand with the C names and types. The test
//! `tests/header_sync.rs` keeps them in sync with the installed headers: it
//! compiles the headers together with C prototypes, typedefs and
//! `_Static_assert`s generated from this file, so a changed signature, struct
//! layout or constant fails to compile, and it compares the lists of
//! functions and constants both ways. `<libcache/cache_object.h>` (language
//! objects held by reference) is not declared: Rust values are bytes.
//!
//! Use the safe crate, `libcache`, unless you need the C calls themselves.
//! Every function documents its contract in the C header; the thread-safety
//! rules are the header's (every call may race any other on one cache except
//! `cache_close`).
//!
//! Linking: `pkg-config libcache` (and `libcache-redis` with `redis`) finds
//! the library; `libcache.so.1` by default, `libcache.a` with `static`.
//! `static` and `redis` cannot be combined: `libcache_redis.so.1` exists only
//! as a shared library linked against `libcache.so.1`, so a program linking
//! `libcache.a` too would hold two copies of the engine, and a `cache_t` made
//! by one would be used by the other.
#![no_std]
#![allow(non_camel_case_types)]

#[cfg(all(feature = "static", feature = "redis"))]
compile_error!(
    "libcache-sys: the `static` and `redis` features cannot be combined: libcache_redis is \
     only a shared library, linked to libcache.so.1, and would load a second copy of the \
     engine next to the static one. Use `redis` with dynamic linking."
);

use core::ffi::{c_char, c_int, c_uint, c_void};

// ---- cache.h: version --------------------------------------------------------

pub const CACHE_VERSION_MAJOR: c_int = 1;
pub const CACHE_VERSION_MINOR: c_int = 6;
pub const CACHE_VERSION_PATCH: c_int = 0;
/// `CACHE_VERSION_NUMBER` of the header these declarations follow.
pub const CACHE_VERSION_NUMBER: c_uint = 10600;

// ---- cache.h: statuses (pinned forever) ---------------------------------------

pub const CACHE_OK: c_int = 0;
pub const CACHE_NOT_FOUND: c_int = 1;
pub const CACHE_EXISTS: c_int = 2;
pub const CACHE_E_INVALID: c_int = -1;
pub const CACHE_E_NOMEM: c_int = -2;
pub const CACHE_E_TOO_LARGE: c_int = -3;
pub const CACHE_E_BUFFER_TOO_SMALL: c_int = -4;
pub const CACHE_E_IO: c_int = -5;
pub const CACHE_E_FULL: c_int = -6;
pub const CACHE_E_TIMEOUT: c_int = -7;
pub const CACHE_E_CLOSED: c_int = -8;
pub const CACHE_E_INTERNAL: c_int = -9;
pub const CACHE_E_WRONG_KIND: c_int = -10;

// ---- cache.h: limits, TTLs, policies, write modes -----------------------------

pub const CACHE_MAX_KEY_SIZE: c_uint = 65535;
pub const CACHE_TTL_DEFAULT: i64 = -1;
pub const CACHE_TTL_NONE: i64 = 0;
pub const CACHE_POLICY_CLOCK: c_int = 0;
pub const CACHE_POLICY_ADAPTIVE: c_int = 1;
pub const CACHE_WRITE_SET: c_int = 0;
pub const CACHE_WRITE_ADD: c_int = 1;
pub const CACHE_WRITE_REPLACE: c_int = 2;

// ---- cache.h: types ---------------------------------------------------------

/// Opaque options (`cache_options_new`).
#[repr(C)]
pub struct cache_options_t {
    _opaque: [u8; 0],
}

/// Opaque cache (`cache_open`).
#[repr(C)]
pub struct cache_t {
    _opaque: [u8; 0],
}

/// Opaque pinned value (`cache_get_value`, `cache_take`).
#[repr(C)]
pub struct cache_value_t {
    _opaque: [u8; 0],
}

/// One part of a value given in pieces (`cache_setv`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cache_iovec_t {
    pub data: *const c_void,
    pub size: usize,
}

/// Counters since `cache_open`; fields are only ever appended.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct cache_stats_t {
    pub hits: u64,
    pub misses: u64,
    pub sets: u64,
    pub deletes: u64,
    pub evictions: u64,
    pub expirations: u64,
    pub entries: u64,
    pub bytes: u64,
}

/// Receives a value inside `cache_read` (must not unwind).
pub type cache_read_fn = Option<unsafe extern "C" fn(ctx: *mut c_void, val: *const c_void, vlen: usize)>;

// ---- cache_experimental.h ------------------------------------------------------

/// A clock returning monotonic milliseconds (thread-safe, cheap, non-decreasing).
pub type cache_clock_fn = Option<unsafe extern "C" fn(ctx: *mut c_void) -> u64>;

// ---- cache_store.h ------------------------------------------------------------

pub const CACHE_STORE_PUT: c_int = 1;
pub const CACHE_STORE_DELETE: c_int = 2;
pub const CACHE_STORE_EXPIRE: c_int = 3;
pub const CACHE_STORE_REJECTED: c_int = 100;
pub const CACHE_STORE_ON_FULL_BLOCK: c_int = 0;
pub const CACHE_STORE_ON_FULL_FAIL: c_int = 1;

/// One queued operation handed to a store's `write_batch`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cache_store_op_t {
    pub kind: c_int,
    pub key: *const c_void,
    pub klen: usize,
    pub value: *const c_void,
    pub vlen: usize,
    pub expire_at_ms: i64,
    pub status: c_int,
    pub reason: *const c_char,
}

/// Receives the value of a loaded key.
pub type cache_store_value_fn =
    Option<unsafe extern "C" fn(fn_ctx: *mut c_void, value: *const c_void, vlen: usize, ttl_ms: i64)>;

/// A store: a table of callbacks (`struct_size` = `size_of::<cache_store_t>()`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct cache_store_t {
    pub struct_size: usize,
    pub ctx: *mut c_void,
    pub write_batch: Option<unsafe extern "C" fn(ctx: *mut c_void, ops: *mut cache_store_op_t, n: usize) -> c_int>,
    pub load: Option<
        unsafe extern "C" fn(
            ctx: *mut c_void,
            key: *const c_void,
            klen: usize,
            timeout_ms: i64,
            fn_: cache_store_value_fn,
            fn_ctx: *mut c_void,
        ) -> c_int,
    >,
    pub dead_letter: Option<unsafe extern "C" fn(ctx: *mut c_void, op: *const cache_store_op_t, reason: *const c_char)>,
    pub forked: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    pub destroy: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
}

/// Opaque options of a link.
#[repr(C)]
pub struct cache_store_options_t {
    _opaque: [u8; 0],
}

/// Opaque link of a cache to its store.
#[repr(C)]
pub struct cache_link_t {
    _opaque: [u8; 0],
}

/// A link's counters.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct cache_link_stats_t {
    pub queued_ops: u64,
    pub queued_bytes: u64,
    pub flushed_ops: u64,
    pub batches: u64,
    pub retries: u64,
    pub store_errors: u64,
    pub dead_letters: u64,
    pub refused_full: u64,
    pub coalesced: u64,
    pub oldest_pending_ms: u64,
    pub read_hits: u64,
    pub read_misses: u64,
    pub read_errors: u64,
    pub invalidations: u64,
    pub invalidated: u64,
    pub conflicts: u64,
    pub fills_refused: u64,
    pub coherent: u64,
}

/// Receives one dead letter.
pub type cache_dead_letter_fn =
    Option<unsafe extern "C" fn(ctx: *mut c_void, op: *const cache_store_op_t, reason: *const c_char)>;

// ---- cache_redis.h ------------------------------------------------------------

#[cfg(feature = "redis")]
pub use redis::*;

#[cfg(feature = "redis")]
mod redis {
    use super::*;

    pub const CACHE_REDIS_ON_FULL_BLOCK: c_int = CACHE_STORE_ON_FULL_BLOCK;
    pub const CACHE_REDIS_ON_FULL_FAIL: c_int = CACHE_STORE_ON_FULL_FAIL;
    pub const CACHE_REDIS_REPLY_STRING: c_int = 1;
    pub const CACHE_REDIS_REPLY_ARRAY: c_int = 2;
    pub const CACHE_REDIS_REPLY_INTEGER: c_int = 3;
    pub const CACHE_REDIS_REPLY_NIL: c_int = 4;
    pub const CACHE_REDIS_REPLY_STATUS: c_int = 5;
    pub const CACHE_REDIS_REPLY_ERROR: c_int = 6;

    /// Opaque options of a Redis adapter.
    #[repr(C)]
    pub struct cache_redis_options_t {
        _opaque: [u8; 0],
    }

    /// Opaque Redis adapter (owned by its cache).
    #[repr(C)]
    pub struct cache_redis_t {
        _opaque: [u8; 0],
    }

    /// The adapter's counters.
    #[repr(C)]
    #[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
    pub struct cache_redis_stats_t {
        pub link: cache_link_stats_t,
        pub connects: u64,
        pub connect_errors: u64,
        pub fenced: u64,
        pub coherence: u64,
        pub tracking: u64,
        pub tracking_resets: u64,
        pub invalidation_messages: u64,
        pub flushall_messages: u64,
        pub health_check_age_ms: i64,
    }

    /// Receives the reply of `cache_redis_command`.
    pub type cache_redis_reply_fn =
        Option<unsafe extern "C" fn(ctx: *mut c_void, type_: c_int, str_: *const c_char, len: usize, integer: i64)>;

    extern "C" {
        pub fn cache_redis_options_new() -> *mut cache_redis_options_t;
        pub fn cache_redis_options_free(opts: *mut cache_redis_options_t);
        pub fn cache_redis_options_set_url(opts: *mut cache_redis_options_t, url: *const c_char) -> c_int;
        pub fn cache_redis_options_set_prefix(
            opts: *mut cache_redis_options_t,
            prefix: *const c_void,
            len: usize,
        ) -> c_int;
        pub fn cache_redis_options_set_timeouts(
            opts: *mut cache_redis_options_t,
            connect_ms: i64,
            command_ms: i64,
        ) -> c_int;
        pub fn cache_redis_options_store_options(opts: *mut cache_redis_options_t) -> *mut cache_store_options_t;
        pub fn cache_redis_options_set_coherence(
            opts: *mut cache_redis_options_t,
            on: c_int,
            health_interval_ms: i64,
        ) -> c_int;
        pub fn cache_redis_attach(
            cache: *mut cache_t,
            opts: *const cache_redis_options_t,
            out: *mut *mut cache_redis_t,
        ) -> c_int;
        pub fn cache_redis_link(r: *mut cache_redis_t) -> *mut cache_link_t;
        pub fn cache_redis_flush(r: *mut cache_redis_t, timeout_ms: i64) -> c_int;
        pub fn cache_redis_set_sync(
            r: *mut cache_redis_t,
            key: *const c_void,
            klen: usize,
            val: *const c_void,
            vlen: usize,
            ttl_ms: i64,
            timeout_ms: i64,
        ) -> c_int;
        pub fn cache_redis_delete_sync(
            r: *mut cache_redis_t,
            key: *const c_void,
            klen: usize,
            timeout_ms: i64,
        ) -> c_int;
        pub fn cache_redis_drain_dead_letters(
            r: *mut cache_redis_t,
            fn_: cache_dead_letter_fn,
            ctx: *mut c_void,
            count: *mut u64,
        ) -> c_int;
        pub fn cache_redis_close(r: *mut cache_redis_t, timeout_ms: i64, unflushed: *mut u64) -> c_int;
        pub fn cache_redis_stats(r: *mut cache_redis_t, out: *mut cache_redis_stats_t, out_size: usize) -> c_int;
        pub fn cache_redis_last_error(r: *mut cache_redis_t, buf: *mut c_char, size: usize) -> usize;
        pub fn cache_redis_errmsg() -> *const c_char;
        pub fn cache_redis_command(
            r: *mut cache_redis_t,
            argc: c_int,
            argv: *const *const c_void,
            argvlen: *const usize,
            timeout_ms: i64,
            fn_: cache_redis_reply_fn,
            ctx: *mut c_void,
        ) -> c_int;
        pub fn cache_redis_store_new(opts: *const cache_redis_options_t, out: *mut cache_store_t) -> c_int;
    }
}

extern "C" {
    // ---- cache.h ----
    pub fn cache_version_number() -> c_uint;
    pub fn cache_version_string() -> *const c_char;
    pub fn cache_strerror(status: c_int) -> *const c_char;

    pub fn cache_options_new() -> *mut cache_options_t;
    pub fn cache_options_free(opts: *mut cache_options_t);
    pub fn cache_options_set_max_bytes(opts: *mut cache_options_t, max_bytes: u64) -> c_int;
    pub fn cache_options_set_max_entries(opts: *mut cache_options_t, max_entries: u64) -> c_int;
    pub fn cache_options_set_default_ttl_ms(opts: *mut cache_options_t, ttl_ms: u64) -> c_int;
    pub fn cache_options_set_shards(opts: *mut cache_options_t, shards: u32) -> c_int;
    pub fn cache_options_set_policy(opts: *mut cache_options_t, policy: c_int) -> c_int;

    pub fn cache_open(opts: *const cache_options_t, out: *mut *mut cache_t) -> c_int;
    pub fn cache_close(cache: *mut cache_t);

    pub fn cache_set(
        cache: *mut cache_t,
        key: *const c_void,
        klen: usize,
        val: *const c_void,
        vlen: usize,
        ttl_ms: i64,
    ) -> c_int;
    pub fn cache_add(
        cache: *mut cache_t,
        key: *const c_void,
        klen: usize,
        val: *const c_void,
        vlen: usize,
        ttl_ms: i64,
    ) -> c_int;
    pub fn cache_replace(
        cache: *mut cache_t,
        key: *const c_void,
        klen: usize,
        val: *const c_void,
        vlen: usize,
        ttl_ms: i64,
    ) -> c_int;
    pub fn cache_setv(
        cache: *mut cache_t,
        key: *const c_void,
        klen: usize,
        parts: *const cache_iovec_t,
        nparts: usize,
        ttl_ms: i64,
        mode: c_int,
    ) -> c_int;

    pub fn cache_get(
        cache: *mut cache_t,
        key: *const c_void,
        klen: usize,
        buf: *mut c_void,
        cap: usize,
        vlen: *mut usize,
    ) -> c_int;
    pub fn cache_read(
        cache: *mut cache_t,
        key: *const c_void,
        klen: usize,
        fn_: cache_read_fn,
        ctx: *mut c_void,
    ) -> c_int;
    pub fn cache_get_value(cache: *mut cache_t, key: *const c_void, klen: usize, out: *mut *mut cache_value_t)
        -> c_int;
    pub fn cache_value_data(value: *const cache_value_t) -> *const c_void;
    pub fn cache_value_size(value: *const cache_value_t) -> usize;
    pub fn cache_value_release(value: *mut cache_value_t);

    pub fn cache_delete(cache: *mut cache_t, key: *const c_void, klen: usize) -> c_int;
    pub fn cache_take(cache: *mut cache_t, key: *const c_void, klen: usize, out: *mut *mut cache_value_t) -> c_int;
    pub fn cache_touch(cache: *mut cache_t, key: *const c_void, klen: usize, ttl_ms: i64) -> c_int;
    pub fn cache_ttl(cache: *mut cache_t, key: *const c_void, klen: usize, remaining_ms: *mut i64) -> c_int;
    pub fn cache_clear(cache: *mut cache_t) -> c_int;
    pub fn cache_purge_expired(cache: *mut cache_t, reclaimed: *mut u64) -> c_int;
    pub fn cache_stats(cache: *mut cache_t, out: *mut cache_stats_t, out_size: usize) -> c_int;

    // ---- cache_experimental.h ----
    pub fn cache_options_set_clock(opts: *mut cache_options_t, fn_: cache_clock_fn, ctx: *mut c_void) -> c_int;
    pub fn cache_options_set_hash_seed(opts: *mut cache_options_t, seed: u64) -> c_int;
    pub fn cache_shard_count(cache: *const cache_t) -> u32;
    pub fn cache_allocator_name() -> *const c_char;
    pub fn cache_check_invariants(cache: *const cache_t, what: *mut *const c_char) -> c_int;

    // ---- cache_store.h ----
    pub fn cache_store_options_new() -> *mut cache_store_options_t;
    pub fn cache_store_options_free(opts: *mut cache_store_options_t);
    pub fn cache_store_options_set_flush_interval_ms(opts: *mut cache_store_options_t, interval_ms: u64) -> c_int;
    pub fn cache_store_options_set_batch(opts: *mut cache_store_options_t, max_ops: u32, max_bytes: u64) -> c_int;
    pub fn cache_store_options_set_max_queue(opts: *mut cache_store_options_t, max_bytes: u64, max_ops: u64) -> c_int;
    pub fn cache_store_options_set_on_full(
        opts: *mut cache_store_options_t,
        policy: c_int,
        block_timeout_ms: i64,
    ) -> c_int;
    pub fn cache_store_options_set_read_through(opts: *mut cache_store_options_t, on: c_int, timeout_ms: i64) -> c_int;
    pub fn cache_store_options_set_max_retries(opts: *mut cache_store_options_t, retries: u32) -> c_int;
    pub fn cache_store_options_set_backoff(opts: *mut cache_store_options_t, min_ms: u64, max_ms: u64) -> c_int;
    pub fn cache_store_attach(
        cache: *mut cache_t,
        store: *const cache_store_t,
        opts: *const cache_store_options_t,
        out: *mut *mut cache_link_t,
    ) -> c_int;
    pub fn cache_store_flush(link: *mut cache_link_t, timeout_ms: i64) -> c_int;
    pub fn cache_store_set_sync(
        link: *mut cache_link_t,
        key: *const c_void,
        klen: usize,
        val: *const c_void,
        vlen: usize,
        ttl_ms: i64,
        timeout_ms: i64,
    ) -> c_int;
    pub fn cache_store_delete_sync(link: *mut cache_link_t, key: *const c_void, klen: usize, timeout_ms: i64) -> c_int;
    pub fn cache_store_stats(link: *mut cache_link_t, out: *mut cache_link_stats_t, out_size: usize) -> c_int;
    pub fn cache_store_drain_dead_letters(
        link: *mut cache_link_t,
        fn_: cache_dead_letter_fn,
        ctx: *mut c_void,
        count: *mut u64,
    ) -> c_int;
    pub fn cache_store_invalidate(link: *mut cache_link_t, key: *const c_void, klen: usize) -> c_int;
    pub fn cache_store_invalidate_all(link: *mut cache_link_t) -> c_int;
    pub fn cache_store_set_coherent(link: *mut cache_link_t, coherent: c_int) -> c_int;
    pub fn cache_store_close(link: *mut cache_link_t, timeout_ms: i64, unflushed: *mut u64) -> c_int;
}
