//! Redis as the shared tier behind a cache (`<libcache/cache_redis.h>`,
//! feature `redis`): write-behind, read-through and near-cache coherence.

use std::ffi::{CStr, CString};
use std::fmt;
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::Duration;

use libcache_sys as sys;

use crate::cache::{Cache, Expiry, Inner};
use crate::error::{check, Error};

/// What a full write-behind queue does to a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFull {
    /// Wait up to the timeout for room, then fail with [`Error::Full`].
    Block(Duration),
    /// Fail with [`Error::Full`] at once.
    Fail,
}

/// How a [`RedisStore`] is attached. Defaults are the C ABI's: no prefix,
/// 1 s connect and command timeouts, coherence on (health checks every
/// 100 ms), writes flushed within 5 ms, a queue of 64 MiB / 1M operations
/// that blocks writes up to 1 s when full, read-through on with 100 ms per
/// load. Values are checked by [`RedisStore::attach`].
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct RedisOptions {
    prefix: Vec<u8>,
    timeouts: Option<(Duration, Duration)>,
    coherence: Option<(bool, Duration)>,
    flush_interval: Option<Duration>,
    max_queue: Option<(u64, u64)>,
    on_full: Option<OnFull>,
    read_through: Option<(bool, Duration)>,
}

/// Milliseconds for the C ABI, saturated (a timeout is never negative here).
fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl RedisOptions {
    /// The defaults.
    pub fn new() -> RedisOptions {
        RedisOptions::default()
    }

    /// Prepended to every key in Redis (`app:` makes `k` `app:k`).
    pub fn prefix(mut self, prefix: impl AsRef<[u8]>) -> RedisOptions {
        self.prefix = prefix.as_ref().to_vec();
        self
    }

    /// Connect and per-command timeouts (each at least 1 ms).
    pub fn timeouts(mut self, connect: Duration, command: Duration) -> RedisOptions {
        self.timeouts = Some((connect, command));
        self
    }

    /// Near-cache coherence on (the default) or off, and how often its
    /// invalidation path is health-checked.
    pub fn coherence(mut self, on: bool, health_interval: Duration) -> RedisOptions {
        self.coherence = Some((on, health_interval));
        self
    }

    /// How long a write may wait before the flusher sends it.
    pub fn flush_interval(mut self, interval: Duration) -> RedisOptions {
        self.flush_interval = Some(interval);
        self
    }

    /// The write-behind queue's bounds: bytes and operations.
    pub fn max_queue(mut self, max_bytes: u64, max_ops: u64) -> RedisOptions {
        self.max_queue = Some((max_bytes, max_ops));
        self
    }

    /// What a write does when the queue is full.
    pub fn on_full(mut self, policy: OnFull) -> RedisOptions {
        self.on_full = Some(policy);
        self
    }

    /// Read-through on a local miss on (the default) or off, and how long a
    /// load may take before the read is a miss.
    pub fn read_through(mut self, on: bool, timeout: Duration) -> RedisOptions {
        self.read_through = Some((on, timeout));
        self
    }

    /// Fills a cache_redis_options_t with url and these options.
    unsafe fn apply(&self, o: *mut sys::cache_redis_options_t, url: &CString) -> Result<(), Error> {
        // SAFETY (whole body): o is a live options object of the caller's.
        unsafe {
            check(sys::cache_redis_options_set_url(o, url.as_ptr()))?;
            check(sys::cache_redis_options_set_prefix(
                o,
                self.prefix.as_ptr().cast(),
                self.prefix.len(),
            ))?;
            if let Some((c, m)) = self.timeouts {
                check(sys::cache_redis_options_set_timeouts(o, ms(c), ms(m)))?;
            }
            if let Some((on, h)) = self.coherence {
                check(sys::cache_redis_options_set_coherence(o, on as i32, ms(h)))?;
            }
            let so = sys::cache_redis_options_store_options(o);
            if let Some(i) = self.flush_interval {
                check(sys::cache_store_options_set_flush_interval_ms(so, ms(i) as u64))?;
            }
            if let Some((b, n)) = self.max_queue {
                check(sys::cache_store_options_set_max_queue(so, b, n))?;
            }
            match self.on_full {
                Some(OnFull::Block(t)) => check(sys::cache_store_options_set_on_full(
                    so,
                    sys::CACHE_STORE_ON_FULL_BLOCK,
                    ms(t),
                ))?,
                Some(OnFull::Fail) => check(sys::cache_store_options_set_on_full(
                    so,
                    sys::CACHE_STORE_ON_FULL_FAIL,
                    0,
                ))?,
                None => {}
            }
            if let Some((on, t)) = self.read_through {
                check(sys::cache_store_options_set_read_through(so, on as i32, ms(t)))?;
            }
        }
        Ok(())
    }
}

/// Why [`RedisStore::attach`] failed: the status and, in words, the reason
/// the adapter gave (`cache_redis_errmsg`; never with credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachError {
    /// The status: [`Error::Io`] (Redis unreachable, AUTH/SELECT/ACL
    /// refused), [`Error::InvalidArgument`] (a malformed URL, an option out
    /// of range), [`Error::Exists`] (the cache has a store already),
    /// [`Error::NoMemory`].
    pub error: Error,
    /// What went wrong, in words ("" when the adapter gave no reason).
    pub reason: String,
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot attach Redis: {}", self.error)?;
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}

impl std::error::Error for AttachError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

impl From<AttachError> for Error {
    fn from(e: AttachError) -> Error {
        e.error
    }
}

/// The adapter's counters (`cache_redis_stats_t`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedisStats {
    /// Writes waiting or in flight.
    pub queued_ops: u64,
    /// Their bytes, as counted against the queue's bound.
    pub queued_bytes: u64,
    /// Writes Redis applied.
    pub flushed_ops: u64,
    /// Pipelined batches sent.
    pub batches: u64,
    /// Writes sent again (unknown outcome or rejected).
    pub retries: u64,
    /// Batches that failed (I/O, timeout).
    pub store_errors: u64,
    /// Writes given up after retries.
    pub dead_letters: u64,
    /// Writes refused because the queue was full.
    pub refused_full: u64,
    /// Waiting writes replaced by newer writes of their key.
    pub coalesced: u64,
    /// Read-through loads that found the key.
    pub read_hits: u64,
    /// Loads that did not.
    pub read_misses: u64,
    /// Loads that failed or timed out (answered as misses).
    pub read_errors: u64,
    /// Local copies dropped because another client changed their key.
    pub invalidated: u64,
    /// Successful connections.
    pub connects: u64,
    /// Failed connection attempts.
    pub connect_errors: u64,
    /// Whether coherence is on.
    pub coherence: bool,
    /// Whether tracking is established and checked (coherence on).
    pub tracking: bool,
    /// Times tracking was lost and local copies dropped.
    pub tracking_resets: u64,
    /// Invalidation messages received.
    pub invalidation_messages: u64,
}

/// Redis attached to a [`Cache`] as its shared tier (`cache_redis_t`).
///
/// Once attached, every successful write of the cache (insert, replace,
/// remove, take, touch) is queued and written behind to Redis by a
/// background thread, in pipelined batches, in per-key order, as
/// `SET <prefix><key> <value> PXAT <deadline>`; a local miss reads through
/// to Redis (`GET` + `PTTL`, single-flight per key, within the read
/// timeout); and with coherence on, a key changed in Redis by another client
/// stops being served from the local copy. No acknowledged write is lost
/// while the process lives (the C tier retries across reconnects).
///
/// Ownership: the cache owns the adapter. A `RedisStore` keeps its cache's
/// engine open (the engine closes when the [`Cache`] and its `RedisStore`
/// are both dropped); dropping the handle does not detach Redis (the cache's
/// close does); [`close`](Self::close) detaches it now.
///
/// ```no_run
/// use libcache::{Cache, RedisOptions, RedisStore};
/// use std::time::Duration;
///
/// let cache = Cache::builder().max_bytes(64 << 20).build()?;
/// let redis = RedisStore::attach(&cache, "redis://127.0.0.1:6379/0", &RedisOptions::new().prefix("app:"))?;
/// cache.insert_with_ttl(b"k", b"v", Duration::from_secs(60))?; // local now, in Redis within ms
/// redis.flush(Duration::from_secs(1))?;                         // wait until Redis has it
/// let unflushed = redis.close(Duration::from_secs(1));          // or let the cache's drop close it
/// assert_eq!(unflushed, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RedisStore {
    r: NonNull<sys::cache_redis_t>,
    // Keeps the engine, which owns the adapter, open while this handle lives.
    _inner: Arc<Inner>,
}

// SAFETY: the adapter's calls are thread-safe (cache_redis.h), except that
// cache_redis_stats must not race cache_redis_close: close takes self by
// value, so no other call on this handle can be running.
unsafe impl Send for RedisStore {}
unsafe impl Sync for RedisStore {}

impl RedisStore {
    /// Connects to `url` (`redis://[[user]:password@]host[:port][/db]` or
    /// `unix://[[user]:password@]/path/to/redis.sock[?db=N]`), checks it,
    /// and links the adapter to `cache`, which from then on writes behind
    /// to Redis and reads through from it. Local copies the cache held are
    /// dropped (they were never tracked).
    pub fn attach(cache: &Cache, url: &str, options: &RedisOptions) -> Result<RedisStore, AttachError> {
        let fail = |error: Error| AttachError {
            error,
            reason: errmsg(),
        };
        let url = CString::new(url).map_err(|_| AttachError {
            error: Error::InvalidArgument,
            reason: "the URL contains a NUL byte".into(),
        })?;
        struct Opts(*mut sys::cache_redis_options_t);
        impl Drop for Opts {
            fn drop(&mut self) {
                // SAFETY: ours, freed once.
                unsafe { sys::cache_redis_options_free(self.0) }
            }
        }
        // SAFETY: a fresh options object, freed by Opts; the cache is live.
        unsafe {
            let o = Opts(sys::cache_redis_options_new());
            if o.0.is_null() {
                return Err(AttachError {
                    error: Error::NoMemory,
                    reason: String::new(),
                });
            }
            options.apply(o.0, &url).map_err(fail)?;
            let mut r = ptr::null_mut();
            check(sys::cache_redis_attach(cache.inner.raw.as_ptr(), o.0, &mut r)).map_err(fail)?;
            let r = NonNull::new(r).ok_or(AttachError {
                error: Error::Internal,
                reason: String::new(),
            })?;
            Ok(RedisStore {
                r,
                _inner: cache.inner.clone(),
            })
        }
    }

    /// Returns once every write made before the call has been answered by
    /// Redis (applied, or given up as a dead letter); [`Error::Timeout`]
    /// after `timeout`.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        // SAFETY: a live adapter (not closed: close consumes self).
        check(unsafe { sys::cache_redis_flush(self.r.as_ptr(), ms(timeout)) })
    }

    /// Write-through: stores `key` = `value` in Redis and, once Redis
    /// applied it, in the cache. On an error the local cache is as it was
    /// ([`Error::Timeout`]: the write may still reach Redis later).
    pub fn insert_sync(
        &self,
        key: &[u8],
        value: &[u8],
        ttl: impl Into<Expiry>,
        timeout: Duration,
    ) -> Result<(), Error> {
        let ttl = ttl.into().to_c()?;
        // SAFETY: a live adapter; key and value valid for the call.
        check(unsafe {
            sys::cache_redis_set_sync(
                self.r.as_ptr(),
                key.as_ptr().cast(),
                key.len(),
                value.as_ptr().cast(),
                value.len(),
                ttl,
                ms(timeout),
            )
        })
    }

    /// Write-through delete: removes `key` from Redis and then locally.
    pub fn remove_sync(&self, key: &[u8], timeout: Duration) -> Result<(), Error> {
        // SAFETY: a live adapter; key valid for the call.
        check(unsafe { sys::cache_redis_delete_sync(self.r.as_ptr(), key.as_ptr().cast(), key.len(), ms(timeout)) })
    }

    /// The adapter's counters.
    pub fn stats(&self) -> RedisStats {
        let mut s = sys::cache_redis_stats_t::default();
        // SAFETY: a live adapter; s has the size given.
        unsafe { sys::cache_redis_stats(self.r.as_ptr(), &mut s, std::mem::size_of::<sys::cache_redis_stats_t>()) };
        RedisStats {
            queued_ops: s.link.queued_ops,
            queued_bytes: s.link.queued_bytes,
            flushed_ops: s.link.flushed_ops,
            batches: s.link.batches,
            retries: s.link.retries,
            store_errors: s.link.store_errors,
            dead_letters: s.link.dead_letters,
            refused_full: s.link.refused_full,
            coalesced: s.link.coalesced,
            read_hits: s.link.read_hits,
            read_misses: s.link.read_misses,
            read_errors: s.link.read_errors,
            invalidated: s.link.invalidated,
            connects: s.connects,
            connect_errors: s.connect_errors,
            coherence: s.coherence != 0,
            tracking: s.tracking != 0,
            tracking_resets: s.tracking_resets,
            invalidation_messages: s.invalidation_messages,
        }
    }

    /// The adapter's last connection or command failure, in words (never
    /// with credentials); `None` if there was none.
    pub fn last_error(&self) -> Option<String> {
        let mut buf = vec![0u8; 512];
        // SAFETY: a live adapter; buf has the size given.
        let n = unsafe { sys::cache_redis_last_error(self.r.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n == 0 {
            return None;
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        Some(String::from_utf8_lossy(&buf[..end]).into_owned())
    }

    /// Flushes for up to `timeout`, then detaches the adapter from the cache
    /// (which goes on without Redis) and frees it. Returns how many writes
    /// never reached Redis (0: everything was flushed).
    pub fn close(self, timeout: Duration) -> u64 {
        let mut unflushed = 0u64;
        // SAFETY: a live adapter, freed here; self is consumed.
        unsafe { sys::cache_redis_close(self.r.as_ptr(), ms(timeout), &mut unflushed) };
        unflushed
    }
}

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisStore").finish_non_exhaustive()
    }
}

/// The calling thread's last adapter failure, in words.
fn errmsg() -> String {
    // SAFETY: a thread-local NUL-terminated string, copied at once.
    let p = unsafe { sys::cache_redis_errmsg() };
    if p.is_null() {
        return String::new();
    }
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

const _: fn() = || {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<RedisStore>();
};
