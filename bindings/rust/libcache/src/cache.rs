//! `Cache`, its `Builder`, TTLs (`Expiry`), `Policy` and `Stats`.

use std::collections::HashMap;
use std::ffi::c_void;
use std::fmt;
use std::ptr::{self, NonNull};
use std::str::FromStr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::{self, ThreadId};
use std::time::Duration;

use libcache_sys as sys;

use crate::error::{check, Error};
use crate::experimental::ManualClock;
use crate::value::Value;

/// The longest key, in bytes: writes with a longer key fail with
/// [`Error::TooLarge`]; reads and other calls simply find nothing.
pub const MAX_KEY_SIZE: usize = sys::CACHE_MAX_KEY_SIZE as usize;

/// The longest TTL the engine accepts: 2^62 milliseconds.
pub const MAX_TTL: Duration = Duration::from_millis(1 << 62);

/// Which entries leave when a write would exceed a bound
/// (`cache_options_set_policy`). Both keep every other promise (bounds, TTLs,
/// statistics).
///
/// Parses from `"clock"` and `"adaptive"`:
/// ```
/// use libcache::{Error, Policy};
/// assert_eq!("adaptive".parse::<Policy>(), Ok(Policy::Adaptive));
/// assert_eq!("lru".parse::<Policy>(), Err(Error::InvalidArgument));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Policy {
    /// One CLOCK ring per shard, second chance; the default.
    #[default]
    Clock,
    /// Frequency-aware: a window TinyLFU over three CLOCK rings that tunes its
    /// window to the workload. Writes cost a little more.
    Adaptive,
}

impl Policy {
    fn raw(self) -> i32 {
        match self {
            Policy::Clock => sys::CACHE_POLICY_CLOCK,
            Policy::Adaptive => sys::CACHE_POLICY_ADAPTIVE,
        }
    }
}

impl FromStr for Policy {
    type Err = Error;
    fn from_str(s: &str) -> Result<Policy, Error> {
        match s {
            "clock" => Ok(Policy::Clock),
            "adaptive" => Ok(Policy::Adaptive),
            _ => Err(Error::InvalidArgument),
        }
    }
}

/// When an entry expires: the TTL argument of writes and [`Cache::touch`],
/// and what [`Cache::ttl`] reports. A `Duration` converts into
/// [`Expiry::After`].
///
/// TTLs are whole milliseconds on the engine's monotonic clock: `After(d)`
/// is `d` rounded down to the millisecond, at least 1 ms (so a sub-millisecond
/// or zero TTL expires at once rather than never), at most [`MAX_TTL`]
/// (2^62 ms; longer is [`Error::InvalidArgument`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// The cache's default TTL ([`Builder::ttl`]; never, if none was set).
    Default,
    /// Never expires.
    Never,
    /// Expires this long after the write (or touch).
    After(Duration),
}

impl From<Duration> for Expiry {
    fn from(d: Duration) -> Expiry {
        Expiry::After(d)
    }
}

impl Expiry {
    /// The C ABI's convention for a TTL in signed milliseconds: 0 is
    /// [`Expiry::Never`], a positive count [`Expiry::After`] it, and a
    /// negative one [`Error::InvalidArgument`] (for TTLs read from
    /// configuration or another language).
    ///
    /// ```
    /// use libcache::{Error, Expiry};
    /// use std::time::Duration;
    /// assert_eq!(Expiry::from_millis(0), Ok(Expiry::Never));
    /// assert_eq!(Expiry::from_millis(250), Ok(Expiry::After(Duration::from_millis(250))));
    /// assert_eq!(Expiry::from_millis(-5), Err(Error::InvalidArgument));
    /// ```
    pub fn from_millis(ms: i64) -> Result<Expiry, Error> {
        match ms {
            0 => Ok(Expiry::Never),
            ms if ms > 0 => Ok(Expiry::After(Duration::from_millis(ms as u64))),
            _ => Err(Error::InvalidArgument),
        }
    }

    /// The `ttl_ms` argument of the C ABI.
    pub(crate) fn to_c(self) -> Result<i64, Error> {
        match self {
            Expiry::Default => Ok(sys::CACHE_TTL_DEFAULT),
            Expiry::Never => Ok(sys::CACHE_TTL_NONE),
            Expiry::After(d) => ttl_millis(d).map(|ms| ms as i64),
        }
    }
}

/// A TTL as whole milliseconds, at least 1, at most 2^62.
fn ttl_millis(d: Duration) -> Result<u64, Error> {
    let ms = d.as_millis();
    if ms > MAX_TTL.as_millis() {
        return Err(Error::InvalidArgument);
    }
    Ok((ms as u64).max(1))
}

/// Counters since the cache was opened (`cache_stats_t`). Summed shard by
/// shard without a global lock, so approximate under concurrent writes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Reads that found a live entry.
    pub hits: u64,
    /// Reads that found none.
    pub misses: u64,
    /// Successful writes (insert, insert_if_absent, replace).
    pub sets: u64,
    /// Successful removes and takes.
    pub deletes: u64,
    /// Live entries removed to make room.
    pub evictions: u64,
    /// Expired entries reclaimed (on access, by the eviction hand, by purge).
    pub expirations: u64,
    /// Entries held now (expired ones not yet reclaimed included).
    pub entries: u64,
    /// Bytes charged now: entries plus the engine's table and ring memory.
    pub bytes: u64,
}

impl Stats {
    /// hits / (hits + misses); 0 before any read.
    pub fn hit_ratio(&self) -> f64 {
        let reads = self.hits + self.misses;
        if reads == 0 {
            0.0
        } else {
            self.hits as f64 / reads as f64
        }
    }
}

/// The configuration of a [`Cache`]; see [`Cache::builder`].
///
/// Defaults: `max_bytes` 64 MiB, no entry bound, no default TTL, shards
/// chosen by the engine, [`Policy::Clock`]. Values are checked by
/// [`build`](Builder::build), which reports the first one the engine refuses.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Builder {
    max_bytes: Option<u64>,
    max_entries: Option<u64>,
    ttl: Option<Duration>,
    shards: Option<u32>,
    policy: Option<Policy>,
    clock: Option<ManualClock>,
    hash_seed: Option<u64>,
}

impl Builder {
    /// Bound on the memory the entries hold, the engine's own overhead
    /// included (0: no byte bound; then `max_entries` must be set).
    pub fn max_bytes(mut self, bytes: u64) -> Builder {
        self.max_bytes = Some(bytes);
        self
    }

    /// Bound on the number of entries (0: none, the default).
    pub fn max_entries(mut self, entries: u64) -> Builder {
        self.max_entries = Some(entries);
        self
    }

    /// The TTL of writes that pass [`Expiry::Default`] ([`Cache::insert`]):
    /// whole milliseconds, at least 1, at most [`MAX_TTL`].
    pub fn ttl(mut self, ttl: Duration) -> Builder {
        self.ttl = Some(ttl);
        self
    }

    /// Lock shards: a power of two up to 1024, or 0 for automatic. Bounds
    /// are split across shards.
    pub fn shards(mut self, shards: u32) -> Builder {
        self.shards = Some(shards);
        self
    }

    /// The eviction policy.
    pub fn policy(mut self, policy: Policy) -> Builder {
        self.policy = Some(policy);
        self
    }

    /// Experimental: the engine reads `clock` instead of its monotonic clock
    /// (for deterministic TTL tests). The cache keeps a clone of it.
    pub fn manual_clock(mut self, clock: &ManualClock) -> Builder {
        self.clock = Some(clock.clone());
        self
    }

    /// Experimental: a fixed hash seed instead of a random one per cache.
    pub fn hash_seed(mut self, seed: u64) -> Builder {
        self.hash_seed = Some(seed);
        self
    }

    /// Opens the cache. Errors: [`Error::InvalidArgument`] (no bound at all,
    /// a shard count that is not a power of two up to 1024, bounds too small
    /// for one entry per shard, 2^32 or more entries per shard, a TTL over
    /// [`MAX_TTL`]), [`Error::NoMemory`].
    pub fn build(&self) -> Result<Cache, Error> {
        struct Opts(*mut sys::cache_options_t);
        impl Drop for Opts {
            fn drop(&mut self) {
                // SAFETY: ours, freed once.
                unsafe { sys::cache_options_free(self.0) }
            }
        }
        // SAFETY: every call gets the live options object made here.
        unsafe {
            let opts = Opts(sys::cache_options_new());
            if opts.0.is_null() {
                return Err(Error::NoMemory);
            }
            if let Some(b) = self.max_bytes {
                check(sys::cache_options_set_max_bytes(opts.0, b))?;
            }
            if let Some(e) = self.max_entries {
                check(sys::cache_options_set_max_entries(opts.0, e))?;
            }
            if let Some(t) = self.ttl {
                check(sys::cache_options_set_default_ttl_ms(opts.0, ttl_millis(t)?))?;
            }
            if let Some(s) = self.shards {
                check(sys::cache_options_set_shards(opts.0, s))?;
            }
            if let Some(p) = self.policy {
                check(sys::cache_options_set_policy(opts.0, p.raw()))?;
            }
            if let Some(c) = &self.clock {
                check(sys::cache_options_set_clock(opts.0, Some(ManualClock::read), c.ctx()))?;
            }
            if let Some(seed) = self.hash_seed {
                check(sys::cache_options_set_hash_seed(opts.0, seed))?;
            }
            let mut raw = ptr::null_mut();
            check(sys::cache_open(opts.0, &mut raw))?;
            let raw = NonNull::new(raw).ok_or(Error::Internal)?;
            let inner = Arc::new(Inner {
                raw,
                _clock: self.clock.clone(),
            });
            Ok(Cache {
                raw,
                inner,
                flights: Flights::default(),
            })
        }
    }
}

/// The engine's cache, closed when the last owner drops it: the [`Cache`],
/// and any `RedisStore` attached to it (which must not outlive it).
pub(crate) struct Inner {
    pub(crate) raw: NonNull<sys::cache_t>,
    // Read by the engine through a raw pointer until cache_close returns.
    _clock: Option<ManualClock>,
}

// SAFETY: every cache_* call is thread-safe on one cache, except
// cache_close, which runs in Drop, when no other reference exists.
unsafe impl Send for Inner {}
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: the last owner; pinned values stay valid after this.
        unsafe { sys::cache_close(self.raw.as_ptr()) }
    }
}

/// An embedded, bounded, thread-safe cache from byte-string keys to
/// byte-string values (libcache's engine, through its C ABI).
///
/// Bounded in bytes (`max_bytes` counts what the engine really holds) and/or
/// entries; per-entry TTLs; zero-copy reads ([`Value`]); every method takes
/// `&self` and may be called from any number of threads (`Cache` is `Send +
/// Sync`: share it with `Arc<Cache>`). Dropping the cache closes it; values
/// read from it stay valid.
///
/// ```
/// use libcache::{Cache, Expiry, Policy};
/// use std::time::Duration;
///
/// let cache = Cache::builder()
///     .max_bytes(64 << 20)
///     .max_entries(100_000)
///     .ttl(Duration::from_secs(300)) // what insert() uses
///     .policy(Policy::Adaptive)
///     .build()?;
///
/// cache.insert(b"user:42", br#"{"name":"Ada"}"#)?;
/// cache.insert_with_ttl(b"session:7", b"...", Duration::from_secs(30))?;
/// cache.insert_with_ttl(b"config", b"{}", Expiry::Never)?;
/// assert_eq!(cache.get(b"user:42").as_deref(), Some(&br#"{"name":"Ada"}"#[..]));
/// assert!(cache.get(b"absent").is_none());
/// assert!(!cache.insert_if_absent(b"user:42", b"{}")?); // a live entry exists
/// assert!(cache.remove(b"session:7"));
///
/// // Single flight: concurrent callers of one missing key run one loader.
/// let v = cache.get_or_insert_with(b"user:43", || Ok::<_, std::io::Error>(b"loaded".to_vec()))?;
/// assert_eq!(&*v, b"loaded");
/// assert_eq!(cache.stats().entries, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Cache {
    raw: NonNull<sys::cache_t>,
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) inner: Arc<Inner>,
    flights: Flights,
}

// The promises the type makes, checked at compile time.
const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Cache>();
    send_sync::<Value>();
    send_sync::<Builder>();
};

// SAFETY: see Inner.
unsafe impl Send for Cache {}
unsafe impl Sync for Cache {}

type WriteFn = unsafe extern "C" fn(*mut sys::cache_t, *const c_void, usize, *const c_void, usize, i64) -> i32;

impl Cache {
    /// A [`Builder`] with the defaults.
    pub fn builder() -> Builder {
        Builder::default()
    }

    #[inline]
    fn raw(&self) -> *mut sys::cache_t {
        self.raw.as_ptr()
    }

    fn write(&self, f: WriteFn, key: &[u8], value: &[u8], expiry: Expiry) -> i32 {
        let ttl = match expiry.to_c() {
            Ok(ttl) => ttl,
            Err(e) => return e.status(),
        };
        // SAFETY: live cache; key and value are valid for the call.
        unsafe {
            f(
                self.raw(),
                key.as_ptr().cast(),
                key.len(),
                value.as_ptr().cast(),
                value.len(),
                ttl,
            )
        }
    }

    /// Stores a copy of `value` under `key` with the cache's default TTL,
    /// replacing any entry for the key and evicting others as needed.
    /// Errors: [`Error::TooLarge`] (a key over [`MAX_KEY_SIZE`] bytes, or an
    /// entry that can never fit: a previous value stays),
    /// [`Error::NoMemory`]. An error leaves the cache as it was.
    pub fn insert(&self, key: &[u8], value: &[u8]) -> Result<(), Error> {
        check(self.write(sys::cache_set, key, value, Expiry::Default))
    }

    /// [`insert`](Self::insert) with a TTL: a `Duration` or an [`Expiry`].
    /// A TTL over [`MAX_TTL`] is [`Error::InvalidArgument`].
    pub fn insert_with_ttl(&self, key: &[u8], value: &[u8], ttl: impl Into<Expiry>) -> Result<(), Error> {
        check(self.write(sys::cache_set, key, value, ttl.into()))
    }

    /// Stores `value` only when `key` has no live entry: `Ok(true)` if it
    /// did, `Ok(false)` (and nothing changed) if one existed.
    pub fn insert_if_absent(&self, key: &[u8], value: &[u8]) -> Result<bool, Error> {
        self.insert_if_absent_with_ttl(key, value, Expiry::Default)
    }

    /// [`insert_if_absent`](Self::insert_if_absent) with a TTL.
    pub fn insert_if_absent_with_ttl(&self, key: &[u8], value: &[u8], ttl: impl Into<Expiry>) -> Result<bool, Error> {
        match self.write(sys::cache_add, key, value, ttl.into()) {
            sys::CACHE_EXISTS => Ok(false),
            rc => check(rc).map(|()| true),
        }
    }

    /// Stores `value` only when `key` has a live entry: `Ok(true)` if it
    /// did, `Ok(false)` (and nothing changed) if none existed.
    pub fn replace(&self, key: &[u8], value: &[u8]) -> Result<bool, Error> {
        self.replace_with_ttl(key, value, Expiry::Default)
    }

    /// [`replace`](Self::replace) with a TTL.
    pub fn replace_with_ttl(&self, key: &[u8], value: &[u8], ttl: impl Into<Expiry>) -> Result<bool, Error> {
        match self.write(sys::cache_replace, key, value, ttl.into()) {
            sys::CACHE_NOT_FOUND => Ok(false),
            rc => check(rc).map(|()| true),
        }
    }

    /// Stores the concatenation of `parts` under `key`, copied once
    /// (`cache_setv`): for a header (a type tag, a version) in front of a
    /// payload the caller already has. Same errors as [`insert`](Self::insert).
    ///
    /// ```
    /// # let cache = libcache::Cache::builder().build()?;
    /// cache.insert_parts(b"k", &[b"s", "héllo".as_bytes()], libcache::Expiry::Default)?;
    /// assert_eq!(&*cache.get(b"k").unwrap(), "shéllo".as_bytes());
    /// # Ok::<(), libcache::Error>(())
    /// ```
    pub fn insert_parts(&self, key: &[u8], parts: &[&[u8]], ttl: impl Into<Expiry>) -> Result<(), Error> {
        let ttl = ttl.into().to_c()?;
        let iov: Vec<sys::cache_iovec_t> = parts
            .iter()
            .map(|p| sys::cache_iovec_t {
                data: p.as_ptr().cast(),
                size: p.len(),
            })
            .collect();
        // SAFETY: live cache; key and the parts are valid for the call.
        check(unsafe {
            sys::cache_setv(
                self.raw(),
                key.as_ptr().cast(),
                key.len(),
                iov.as_ptr(),
                iov.len(),
                ttl,
                sys::CACHE_WRITE_SET,
            )
        })
    }

    /// The live value of `key`, pinned without a copy; `None` on a miss (also
    /// for a key over [`MAX_KEY_SIZE`]). Counts a hit or a miss. With a
    /// Redis store attached, a local miss reads through to Redis.
    #[inline]
    pub fn get(&self, key: &[u8]) -> Option<Value> {
        let mut out = ptr::null_mut();
        // SAFETY: live cache; key valid for the call; out receives a pin we own.
        let rc = unsafe { sys::cache_get_value(self.raw(), key.as_ptr().cast(), key.len(), &mut out) };
        if rc == sys::CACHE_OK {
            // SAFETY: a pin handed to us.
            NonNull::new(out).map(|h| unsafe { Value::from_pinned(h) })
        } else {
            None
        }
    }

    /// Whether `key` has a live entry (counted as a read: a hit or a miss).
    pub fn contains_key(&self, key: &[u8]) -> bool {
        // SAFETY: live cache; a NULL callback tests presence.
        unsafe { sys::cache_read(self.raw(), key.as_ptr().cast(), key.len(), None, ptr::null_mut()) == sys::CACHE_OK }
    }

    /// Removes `key`'s entry: `true` if there was a live one (counted as a
    /// delete).
    pub fn remove(&self, key: &[u8]) -> bool {
        // SAFETY: live cache; key valid for the call.
        unsafe { sys::cache_delete(self.raw(), key.as_ptr().cast(), key.len()) == sys::CACHE_OK }
    }

    /// Removes `key`'s live entry and returns its value, as one operation: no
    /// write of the key by another thread lands between the read and the
    /// removal. `None` if there was none. Counted as a delete, not a read.
    pub fn take(&self, key: &[u8]) -> Option<Value> {
        let mut out = ptr::null_mut();
        // SAFETY: as for get.
        let rc = unsafe { sys::cache_take(self.raw(), key.as_ptr().cast(), key.len(), &mut out) };
        if rc == sys::CACHE_OK {
            // SAFETY: a pin handed to us.
            NonNull::new(out).map(|h| unsafe { Value::from_pinned(h) })
        } else {
            None
        }
    }

    /// Resets `key`'s TTL to `ttl` from now (sliding sessions): `Ok(true)`
    /// if the key had a live entry, `Ok(false)` if not. A TTL over
    /// [`MAX_TTL`] is [`Error::InvalidArgument`].
    pub fn touch(&self, key: &[u8], ttl: impl Into<Expiry>) -> Result<bool, Error> {
        let ttl = ttl.into().to_c()?;
        // SAFETY: live cache; key valid for the call.
        match unsafe { sys::cache_touch(self.raw(), key.as_ptr().cast(), key.len(), ttl) } {
            sys::CACHE_NOT_FOUND => Ok(false),
            rc => check(rc).map(|()| true),
        }
    }

    /// What is left of `key`'s TTL: `None` if it has no live entry,
    /// `Some(Expiry::Never)` if it never expires, else
    /// `Some(Expiry::After(left))` (never `Expiry::Default`). Counted neither
    /// as a hit nor as a miss.
    pub fn ttl(&self, key: &[u8]) -> Option<Expiry> {
        let mut left = 0i64;
        // SAFETY: live cache; key valid for the call.
        let rc = unsafe { sys::cache_ttl(self.raw(), key.as_ptr().cast(), key.len(), &mut left) };
        if rc != sys::CACHE_OK {
            return None;
        }
        Some(if left < 0 {
            Expiry::Never
        } else {
            Expiry::After(Duration::from_millis(left as u64))
        })
    }

    /// Removes every entry (values read before stay valid); the counters
    /// are kept.
    pub fn clear(&self) {
        // SAFETY: live cache. Its only failure is a NULL cache.
        unsafe { sys::cache_clear(self.raw()) };
    }

    /// Frees every expired entry now and returns how many: for key spaces
    /// that go cold with no write to evict them. One pass over the entries,
    /// one shard lock at a time.
    pub fn purge_expired(&self) -> u64 {
        let mut n = 0u64;
        // SAFETY: live cache.
        unsafe { sys::cache_purge_expired(self.raw(), &mut n) };
        n
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        let mut s = sys::cache_stats_t::default();
        // SAFETY: live cache; s is a cache_stats_t of the size given.
        unsafe { sys::cache_stats(self.raw(), &mut s, std::mem::size_of::<sys::cache_stats_t>()) };
        Stats {
            hits: s.hits,
            misses: s.misses,
            sets: s.sets,
            deletes: s.deletes,
            evictions: s.evictions,
            expirations: s.expirations,
            entries: s.entries,
            bytes: s.bytes,
        }
    }

    /// Experimental: the number of lock shards the engine chose.
    pub fn shard_count(&self) -> u32 {
        // SAFETY: live cache.
        unsafe { sys::cache_shard_count(self.raw()) }
    }

    /// The value of `key`, loaded by `load` on a miss and stored with the
    /// cache's default TTL: see [`get_or_insert_with_ttl`](Self::get_or_insert_with_ttl).
    pub fn get_or_insert_with<E, F>(&self, key: &[u8], load: F) -> Result<Value, E>
    where
        F: FnOnce() -> Result<Vec<u8>, E>,
    {
        self.get_or_insert_with_ttl(key, Expiry::Default, load)
    }

    /// The value of `key`; on a miss, `load` computes it, the cache stores it
    /// with `ttl`, and it is returned. Single flight across threads: while
    /// one caller's loader runs for a key, the other callers of that key wait
    /// and get its value, so one loader runs per key at a time.
    ///
    /// If the loader fails (its error is returned to its own caller) or
    /// panics (the panic goes on in its caller), nothing is stored and one
    /// of the waiting callers runs its own loader instead: a failure never
    /// wedges the waiters, and each error goes to the caller whose loader
    /// made it. A loaded value the cache cannot store (too large, a key over
    /// [`MAX_KEY_SIZE`], a TTL over [`MAX_TTL`], out of memory) is returned
    /// all the same, uncached.
    ///
    /// # Panics
    /// A loader that calls `get_or_insert_with` for the key it is loading, on
    /// its own thread, panics rather than wait for itself forever. (Two
    /// loaders waiting for each other's keys on two threads deadlock: keep
    /// loaders from loading through the cache.)
    ///
    /// ```
    /// use libcache::Cache;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::time::Duration;
    ///
    /// let cache = Cache::builder().build()?;
    /// let calls = AtomicUsize::new(0);
    /// std::thread::scope(|s| {
    ///     for _ in 0..4 {
    ///         s.spawn(|| {
    ///             let v = cache.get_or_insert_with(b"slow", || {
    ///                 calls.fetch_add(1, Ordering::SeqCst);
    ///                 std::thread::sleep(Duration::from_millis(20));
    ///                 Ok::<_, String>(b"answer".to_vec())
    ///             });
    ///             assert_eq!(&*v.unwrap(), b"answer");
    ///         });
    ///     }
    /// });
    /// assert!(calls.load(Ordering::SeqCst) >= 1);
    /// let failed = cache.get_or_insert_with(b"other", || Err("backend down"));
    /// assert_eq!(failed.unwrap_err(), "backend down");
    /// # Ok::<(), libcache::Error>(())
    /// ```
    pub fn get_or_insert_with_ttl<E, F>(&self, key: &[u8], ttl: impl Into<Expiry>, load: F) -> Result<Value, E>
    where
        F: FnOnce() -> Result<Vec<u8>, E>,
    {
        let ttl = ttl.into();
        let mut load = Some(load);
        loop {
            if let Some(v) = self.get(key) {
                return Ok(v);
            }
            let (flight, leader) = self.flights.join(key);
            if !leader {
                match flight.wait() {
                    Some(bytes) => return Ok(Value::from_shared(bytes)),
                    None => continue, // the loader failed, or the value is cached: look again
                }
            }
            let mut lead = Lead {
                flights: &self.flights,
                key,
                flight: &flight,
                done: None,
            };
            // A loader may have finished between our miss and our joining.
            if let Some(v) = self.get(key) {
                return Ok(v);
            }
            let load = load.take().expect("a caller leads at most one load");
            let bytes = load()?;
            // A value that cannot be stored is returned all the same.
            let _ = self.write(sys::cache_set, key, &bytes, ttl);
            let shared: Arc<[u8]> = bytes.into();
            lead.done = Some(shared.clone());
            drop(lead);
            return Ok(Value::from_shared(shared));
        }
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.stats();
        f.debug_struct("Cache")
            .field("entries", &s.entries)
            .field("bytes", &s.bytes)
            .finish_non_exhaustive()
    }
}

// ---- Single flight --------------------------------------------------------------
//
// One Flight per key being loaded, in a map taken only on misses. The leader
// (the caller that added the flight) loads; the others wait on the flight's
// condition variable. The leader's `Lead` guard ends the flight on every path
// (value, error, panic): it first removes the flight from the map (after the
// value was stored in the cache, so a new caller either joins the flight or
// finds the value), then publishes the outcome and wakes the waiters.

#[derive(Default)]
struct Flights {
    map: Mutex<HashMap<Box<[u8]>, Arc<Flight>>>,
}

enum Outcome {
    Loading,
    /// The loaded bytes, for the waiters.
    Done(Arc<[u8]>),
    /// No value for the waiters: they look in the cache again (and one of
    /// them may load).
    Retry,
}

struct Flight {
    outcome: Mutex<Outcome>,
    ended: Condvar,
    leader: ThreadId,
}

/// A lock that a panic elsewhere cannot poison for us: the data behind
/// these locks is consistent at every unlock.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Flights {
    /// The flight of `key`, and whether the caller leads it (it was absent).
    fn join(&self, key: &[u8]) -> (Arc<Flight>, bool) {
        let mut map = lock(&self.map);
        if let Some(f) = map.get(key) {
            return (f.clone(), false);
        }
        let f = Arc::new(Flight {
            outcome: Mutex::new(Outcome::Loading),
            ended: Condvar::new(),
            leader: thread::current().id(),
        });
        map.insert(key.into(), f.clone());
        (f, true)
    }
}

impl Flight {
    /// Waits for the flight's end: the loaded bytes, or None (look again).
    fn wait(&self) -> Option<Arc<[u8]>> {
        assert!(
            self.leader != thread::current().id(),
            "libcache: get_or_insert_with called from its own loader for the key it is loading \
             (it would wait for itself forever)"
        );
        let mut o = lock(&self.outcome);
        loop {
            match &*o {
                Outcome::Loading => o = self.ended.wait(o).unwrap_or_else(|e| e.into_inner()),
                Outcome::Done(b) => return Some(b.clone()),
                Outcome::Retry => return None,
            }
        }
    }
}

struct Lead<'a> {
    flights: &'a Flights,
    key: &'a [u8],
    flight: &'a Arc<Flight>,
    done: Option<Arc<[u8]>>,
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        lock(&self.flights.map).remove(self.key);
        *lock(&self.flight.outcome) = match self.done.take() {
            Some(b) => Outcome::Done(b),
            None => Outcome::Retry,
        };
        self.flight.ended.notify_all();
    }
}
