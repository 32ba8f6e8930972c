//! libcache for Rust: an embedded, bounded, thread-safe cache from byte-string
//! keys to byte-string values, over libcache's stable C ABI (the engine is C++,
//! shared with the Python, Node.js, C++ and Go bindings).
//!
//! - **Bounded** in bytes (`max_bytes` counts what the engine really holds:
//!   entry headers, keys, values, allocator rounding, its tables) and/or in
//!   entries; CLOCK or adaptive (window TinyLFU) eviction.
//! - **TTL per entry** on a monotonic clock ([`Expiry`]); an expired entry
//!   is never returned.
//! - **Zero-copy reads**: [`Cache::get`] returns a pinned [`Value`] that
//!   derefs to `[u8]`, may be sent across threads and outlives the cache.
//! - **Single-flight loads**: [`Cache::get_or_insert_with`].
//! - **Redis as a shared tier** (feature `redis`): `RedisStore` writes behind
//!   to Redis and reads through from it, and keeps near caches coherent.
//! - **One value format** with the other bindings: [`format`](mod@format) encodes and
//!   decodes the one-byte type tags of `docs/value-format.md`.
//!
//! ```
//! use libcache::Cache;
//! use std::time::Duration;
//!
//! let cache = Cache::builder()
//!     .max_bytes(64 << 20)
//!     .ttl(Duration::from_secs(60))
//!     .build()?;
//! cache.insert(b"user:42", br#"{"name":"Ada"}"#)?;
//! match cache.get(b"user:42") {
//!     Some(v) => println!("{}", String::from_utf8_lossy(&v)),
//!     None => println!("miss: load it, then insert it"),
//! }
//! # Ok::<(), libcache::Error>(())
//! ```
//!
//! Errors are [`Error`]s, one variant per C status, displayed with the
//! engine's own text. Bad input (a key over 65535 bytes, a value that can
//! never fit, a zero or huge option) is an `Err`, never a panic, and leaves
//! the cache as it was.
//!
//! Linking: `libcache-sys` finds the library with pkg-config
//! (`PKG_CONFIG_PATH=<prefix>/lib/pkgconfig`); `libcache.so.1` must then be on
//! the loader path, or build with the `static` feature (not with `redis`).
#![warn(missing_docs)]

mod cache;
mod error;
pub mod experimental;
pub mod format;
#[cfg(feature = "redis")]
mod redis;
mod value;

pub use cache::{Builder, Cache, Expiry, Policy, Stats, MAX_KEY_SIZE, MAX_TTL};
pub use error::Error;
#[cfg(feature = "redis")]
pub use redis::{AttachError, OnFull, RedisOptions, RedisStats, RedisStore};
pub use value::Value;

/// The version of the libcache library actually loaded, as
/// `MAJOR * 10000 + MINOR * 100 + PATCH` (`cache_version_number`).
pub fn library_version() -> u32 {
    // SAFETY: no arguments, no state.
    unsafe { libcache_sys::cache_version_number() }
}
