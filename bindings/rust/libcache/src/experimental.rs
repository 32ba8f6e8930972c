//! Calls of `<libcache/cache_experimental.h>`: they exist for tests,
//! benchmarks and tools, and may change in a minor release.

use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A clock the test moves by hand, for deterministic TTL tests: give it to
/// [`Builder::manual_clock`](crate::Builder::manual_clock) and the engine
/// reads it instead of its monotonic clock (`cache_options_set_clock`).
///
/// It starts at 1,000,000 ms (as the conformance suite's clock does) and only
/// moves forward. Clones share one time; the cache keeps a clone alive as
/// long as it needs it.
///
/// ```
/// use libcache::experimental::ManualClock;
/// use libcache::Cache;
/// use std::time::Duration;
///
/// let clock = ManualClock::new();
/// let cache = Cache::builder().manual_clock(&clock).build()?;
/// cache.insert_with_ttl(b"k", b"v", Duration::from_secs(1))?;
/// clock.advance(Duration::from_millis(999));
/// assert!(cache.contains_key(b"k"));
/// clock.advance(Duration::from_millis(1));
/// assert!(!cache.contains_key(b"k"));
/// # Ok::<(), libcache::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct ManualClock {
    // Relaxed: the engine needs a non-decreasing count, not ordering with
    // other memory; fetch_add keeps it non-decreasing across threads.
    ms: Arc<AtomicU64>,
}

impl ManualClock {
    /// Where a new clock starts, in milliseconds.
    pub const START_MS: u64 = 1_000_000;

    /// A clock at [`START_MS`](Self::START_MS).
    pub fn new() -> ManualClock {
        ManualClock {
            ms: Arc::new(AtomicU64::new(Self::START_MS)),
        }
    }

    /// Moves the clock forward by `d` (whole milliseconds, rounded down).
    pub fn advance(&self, d: Duration) {
        let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        self.ms.fetch_add(ms, Ordering::Relaxed);
    }

    /// The clock's time in milliseconds.
    pub fn now_ms(&self) -> u64 {
        self.ms.load(Ordering::Relaxed)
    }

    pub(crate) fn ctx(&self) -> *mut c_void {
        Arc::as_ptr(&self.ms) as *mut c_void
    }

    pub(crate) unsafe extern "C" fn read(ctx: *mut c_void) -> u64 {
        // SAFETY: ctx is the AtomicU64 of a ManualClock the cache keeps alive.
        unsafe { &*(ctx as *const AtomicU64) }.load(Ordering::Relaxed)
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new()
    }
}
